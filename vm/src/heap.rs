//! The VM's heap: the strings and arrays a program makes, and the collector that reclaims the
//! ones it can no longer reach.
//!
//! Objects live in a table and a reference ([`Ref`]) is an index into it; a freed entry is reused
//! by a later allocation. The collector is a precise, non-moving mark and sweep: the roots are
//! exactly the references on the reference stack (the VM keeps no others between instructions),
//! marking follows arrays of references with a work list of its own (never recursing in Rust,
//! however deep arrays nest), and sweeping frees every unmarked object. It runs when the bytes
//! allocated since the last collection reach a threshold (twice what survived it, at least
//! [`MIN_THRESHOLD`]), so a program that makes garbage forever runs in memory bounded by about
//! twice what it keeps plus the threshold; and before a state image is taken, so garbage never
//! travels ([`Heap::export`] copies only what the roots reach).
//!
//! Every object is counted for its [`Object::heap_bytes`]; an allocation that would take the count
//! beyond the limit (`mova --max-heap`, [`DEFAULT_MAX_HEAP`] by default) even after a collection
//! is refused, and the VM traps with "out of memory" before anything is allocated: the limit is
//! checked before the allocation is made, so a huge `array(n, v)` never reaches the system
//! allocator.
//!
//! **Invariant:** every [`Ref`] on the reference stack or inside an array of references names a
//! live object of this heap or a string constant of the program. The VM keeps it (an object is
//! freed only once nothing reachable refers to it); [`Image::check`] makes sure a restored state
//! starts with it.
//!
//! [`Image::check`]: mova_lang::image::Image::check

use mova_lang::heap::{Kind, Lookup, Object, Ref, Target};
use std::collections::HashMap;

/// The heap limit when none is given: 1 GiB, the most a VM may have
/// ([`mova_lang::heap::MAX_HEAP`]).
pub const DEFAULT_MAX_HEAP: usize = mova_lang::heap::MAX_HEAP;

/// The least number of bytes allocated between two collections.
pub const MIN_THRESHOLD: usize = 4 << 20;

/// An allocation the heap limit does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    /// The bytes the heap would hold with it.
    pub needed: usize,
    /// The limit.
    pub limit: usize,
}

/// The objects of one kind, as a heap summary counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    /// How many objects.
    pub objects: usize,
    /// The heap bytes they are counted for.
    pub bytes: usize,
}

/// A running program's heap.
#[derive(Debug, Clone)]
pub struct Heap {
    /// The object table: `None` for a free entry.
    slots: Vec<Option<Object>>,
    /// Free entries, reused last freed first.
    free: Vec<u32>,
    /// The heap bytes of the objects in the table.
    bytes: usize,
    /// The most bytes the heap may hold.
    limit: usize,
    /// The byte count at which the next allocation collects first.
    threshold: usize,
    /// How many collections have run.
    collections: u64,
}

impl Heap {
    /// An empty heap that may hold up to `limit` bytes.
    pub fn new(limit: usize) -> Heap {
        Heap {
            slots: Vec::new(),
            free: Vec::new(),
            bytes: 0,
            limit,
            threshold: MIN_THRESHOLD.min(limit),
            collections: 0,
        }
    }

    /// A heap holding `objects` at indexes 0, 1, …, as an image carries them (already checked:
    /// every reference inside them names one of them or a constant), or the bytes it would need
    /// if that is more than `limit`.
    pub fn import(objects: Vec<Object>, limit: usize) -> Result<Heap, OutOfMemory> {
        let bytes = objects
            .iter()
            .map(Object::heap_bytes)
            .fold(0usize, usize::saturating_add);
        if bytes > limit {
            return Err(OutOfMemory {
                needed: bytes,
                limit,
            });
        }
        Ok(Heap {
            slots: objects.into_iter().map(Some).collect(),
            free: Vec::new(),
            bytes,
            limit,
            threshold: bytes.saturating_mul(2).max(MIN_THRESHOLD).min(limit),
            collections: 0,
        })
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The bytes its objects are counted for (garbage not yet collected included).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many collections have run.
    pub fn collections(&self) -> u64 {
        self.collections
    }

    /// The object `value` refers to, if it is a heap object that exists.
    pub fn get(&self, value: Ref) -> Option<&Object> {
        match value.target() {
            Target::Object(index) => self.slots.get(index as usize)?.as_ref(),
            Target::Constant(_) => None,
        }
    }

    /// The object `value` refers to, to change it.
    pub fn get_mut(&mut self, value: Ref) -> Option<&mut Object> {
        match value.target() {
            Target::Object(index) => self.slots.get_mut(index as usize)?.as_mut(),
            Target::Constant(_) => None,
        }
    }

    /// Makes sure `bytes` more fit: collects first if the threshold is reached (with `roots`, the
    /// references the program holds), then refuses if they would still take the heap past its
    /// limit.
    pub fn reserve(&mut self, bytes: usize, roots: &[Ref]) -> Result<(), OutOfMemory> {
        let needed = self.bytes.saturating_add(bytes);
        if needed > self.threshold {
            self.collect(roots);
        }
        let needed = self.bytes.saturating_add(bytes);
        if needed > self.limit {
            return Err(OutOfMemory {
                needed,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Adds `object`, for which [`reserve`](Self::reserve) made room, and returns its reference.
    pub fn insert(&mut self, object: Object) -> Ref {
        self.bytes = self.bytes.saturating_add(object.heap_bytes());
        match self.free.pop() {
            Some(index) => {
                if let Some(slot) = self.slots.get_mut(index as usize) {
                    *slot = Some(object);
                }
                Ref::object(index)
            }
            None => {
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Some(object));
                Ref::object(index)
            }
        }
    }

    /// Whether the object table is full: [`mova_lang::heap::MAX_OBJECTS`] objects, none free.
    pub fn table_full(&self) -> bool {
        self.free.is_empty() && self.slots.len() >= mova_lang::heap::MAX_OBJECTS as usize
    }

    /// Changes the byte count of an object whose contents grew or shrank from `before` to
    /// `after` bytes.
    pub fn resized(&mut self, before: usize, after: usize) {
        self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
    }

    /// Frees every object `roots` do not reach.
    pub fn collect(&mut self, roots: &[Ref]) {
        let marks = self.mark(roots);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let live = marks.get(index).copied().unwrap_or(false);
            if !live && let Some(object) = slot.take() {
                self.bytes = self.bytes.saturating_sub(object.heap_bytes());
                self.free.push(u32::try_from(index).unwrap_or(u32::MAX));
            }
        }
        // The table's free tail is given back, so that a heap that shrank stays small.
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|&index| (index as usize) < len);
        // Reuse low entries first, keeping the table dense.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        self.collections += 1;
        self.threshold = self
            .bytes
            .saturating_mul(2)
            .max(MIN_THRESHOLD)
            .min(self.limit);
    }

    /// Which objects `roots` reach: one flag per entry of the table.
    fn mark(&self, roots: &[Ref]) -> Vec<bool> {
        let mut marks = vec![false; self.slots.len()];
        let mut work: Vec<u32> = Vec::new();
        let visit = |value: &Ref, marks: &mut Vec<bool>, work: &mut Vec<u32>| {
            if let Target::Object(index) = value.target()
                && let Some(mark) = marks.get_mut(index as usize)
                && !*mark
            {
                *mark = true;
                work.push(index);
            }
        };
        for root in roots {
            visit(root, &mut marks, &mut work);
        }
        while let Some(index) = work.pop() {
            if let Some(Some(object)) = self.slots.get(index as usize) {
                for value in object.refs() {
                    visit(value, &mut marks, &mut work);
                }
            }
        }
        marks
    }

    /// The objects `roots` reach, each once, numbered in the order a walk from the roots first
    /// meets them, with every reference inside them and the roots renumbered to match: what a
    /// state image carries. Constants stay constants.
    pub fn export(&self, roots: &[Ref]) -> (Vec<Object>, Vec<Ref>) {
        let mut numbers: HashMap<u32, u32> = HashMap::new();
        let mut order: Vec<u32> = Vec::new();
        let mut number = |value: Ref, order: &mut Vec<u32>| -> Ref {
            match value.target() {
                Target::Constant(_) => value,
                Target::Object(index) => {
                    let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
                    let assigned = *numbers.entry(index).or_insert_with(|| {
                        order.push(index);
                        next
                    });
                    Ref::object(assigned)
                }
            }
        };
        let roots: Vec<Ref> = roots.iter().map(|&root| number(root, &mut order)).collect();
        let mut objects = Vec::new();
        let mut at = 0;
        while let Some(&index) = order.get(at) {
            at += 1;
            let object = match self.slots.get(index as usize) {
                Some(Some(object)) => object,
                // The invariant says every reference names a live object.
                _ => {
                    objects.push(Object::Str(Box::default()));
                    continue;
                }
            };
            objects.push(match object {
                Object::Refs(refs) => Object::Refs(
                    refs.iter()
                        .map(|&value| number(value, &mut order))
                        .collect(),
                ),
                Object::Str(bytes) => Object::Str(bytes.clone()),
                Object::Ints(values) => Object::Ints(values.clone()),
            });
        }
        (objects, roots)
    }

    /// How many objects of each kind it holds and the bytes they are counted for.
    pub fn stats(&self) -> [(Kind, KindStats); 3] {
        let mut stats = Kind::ALL.map(|kind| (kind, KindStats::default()));
        for object in self.slots.iter().flatten() {
            if let Some((_, entry)) = stats.iter_mut().find(|(kind, _)| *kind == object.kind()) {
                entry.objects += 1;
                entry.bytes = entry.bytes.saturating_add(object.heap_bytes());
            }
        }
        stats
    }
}

/// A heap with the program's string constants: where a reference is looked up to show it.
#[derive(Debug)]
pub struct View<'a> {
    pub heap: &'a Heap,
    pub constants: &'a [Box<[u8]>],
}

impl Lookup for View<'_> {
    fn object(&self, index: u32) -> Option<&Object> {
        self.heap.get(Ref::object(index))
    }

    fn constant(&self, index: u32) -> Option<&[u8]> {
        self.constants.get(index as usize).map(|bytes| &**bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> Object {
        Object::Str(text.as_bytes().into())
    }

    #[test]
    fn unreachable_objects_are_freed_and_their_entries_reused() {
        let mut heap = Heap::new(DEFAULT_MAX_HEAP);
        let a = heap.insert(string("a"));
        let b = heap.insert(Object::Refs(vec![a]));
        let c = heap.insert(string("garbage"));
        assert_eq!(heap.bytes(), 3 * 32 + 1 + 4 + 7);
        heap.collect(&[b]);
        assert!(heap.get(a).is_some() && heap.get(b).is_some());
        assert!(heap.get(c).is_none());
        assert_eq!(heap.bytes(), 2 * 32 + 1 + 4);
        let d = heap.insert(string("d"));
        assert_eq!(d, c, "the freed entry is reused");
        heap.collect(&[]);
        assert_eq!(heap.bytes(), 0);
        assert_eq!(
            heap.stats().iter().map(|(_, s)| s.objects).sum::<usize>(),
            0
        );
    }

    #[test]
    fn cycles_and_deep_nesting_are_marked_without_recursion() {
        let mut heap = Heap::new(DEFAULT_MAX_HEAP);
        let mut inner = heap.insert(Object::Ints(vec![1]));
        for _ in 0..200_000 {
            inner = heap.insert(Object::Refs(vec![inner]));
        }
        // A cycle (only a forged image makes one, but the collector must not care).
        let cycle = heap.insert(Object::Refs(vec![]));
        if let Some(Object::Refs(refs)) = heap.get_mut(cycle) {
            refs.push(cycle);
            refs.push(inner);
        }
        heap.collect(&[cycle]);
        assert_eq!(heap.stats()[2].1.objects, 200_001);
        heap.collect(&[]);
        assert_eq!(heap.bytes(), 0);
    }

    #[test]
    fn the_limit_refuses_before_allocating() {
        let mut heap = Heap::new(1000);
        assert_eq!(
            heap.reserve(2000, &[]),
            Err(OutOfMemory {
                needed: 2000,
                limit: 1000
            })
        );
        heap.reserve(900, &[]).unwrap();
        let kept = heap.insert(Object::Ints(Vec::with_capacity(100)));
        assert_eq!(heap.bytes(), 832);
        // Garbage is collected to make room; what is kept is not.
        let garbage = heap.insert(string("x"));
        assert!(heap.reserve(500, &[kept]).is_err());
        assert!(heap.get(garbage).is_none(), "it collected first");
        assert!(heap.reserve(100, &[kept]).is_ok());
    }

    #[test]
    fn export_numbers_reachable_objects_once_in_walk_order() {
        let mut heap = Heap::new(DEFAULT_MAX_HEAP);
        let _garbage = heap.insert(string("garbage"));
        let s = heap.insert(string("s"));
        let shared = heap.insert(Object::Ints(vec![7]));
        let outer = heap.insert(Object::Refs(vec![shared, s, shared, Ref::constant(2)]));
        let (objects, roots) = heap.export(&[outer, shared, Ref::constant(0)]);
        assert_eq!(roots, [Ref::object(0), Ref::object(1), Ref::constant(0)]);
        assert_eq!(
            objects,
            [
                Object::Refs(vec![
                    Ref::object(1),
                    Ref::object(2),
                    Ref::object(1),
                    Ref::constant(2)
                ]),
                Object::Ints(vec![7]),
                string("s"),
            ]
        );
        let imported = Heap::import(objects.clone(), DEFAULT_MAX_HEAP).unwrap();
        assert_eq!(imported.export(&roots), (objects, roots));
        assert!(Heap::import(vec![string("too big")], 10).is_err());
    }
}
