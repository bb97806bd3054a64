//! Values that live on the heap — strings and arrays — and the references to them.
//!
//! Mova keeps two operand stacks (DESIGN §8, `docs/vm.md`): the seed's stack of `i64`s, on which
//! every int-only program runs exactly as before, and a **reference stack** of [`Ref`]s, on which
//! the instructions that handle strings and arrays take and leave their operands. Which stack a
//! value is on is fixed by the instruction that pushes it, so a reference can never be made from
//! an int (or read as one), whatever the bytecode: the collector finds every live reference on the
//! reference stack and inside arrays of references, precisely, with no stack maps and no tags on
//! the int stack.
//!
//! A [`Ref`] is a u32: with its top bit clear it is the index of an object on the heap; with it
//! set, the index of one of the program's string constants (the `.mvb` strings section), which
//! are immutable and never on the heap, so a literal costs no allocation. Objects are of three
//! kinds ([`Object`]): a string (UTF-8 bytes), an array of ints and an array of references. An
//! instruction that needs a kind checks it when it runs (a verified program from the compiler
//! always finds the kind it expects; a forged one traps), and every index is checked against the
//! object's length: nothing reaches outside an object.

#![deny(clippy::indexing_slicing)]

use std::fmt::{self, Write as _};

/// The largest heap limit a VM may be given (`mova --max-heap`), 1 GiB: a state image must be
/// able to carry the whole heap, and images are bounded ([`crate::image::MAX_IMAGE_LEN`]).
pub const MAX_HEAP: usize = 1 << 30;

/// The bit of a [`Ref`] that marks a string constant.
pub const CONSTANT_BIT: u32 = 1 << 31;

/// The most objects a heap (and a heap segment) may hold: object indexes must leave
/// [`CONSTANT_BIT`] clear.
pub const MAX_OBJECTS: u32 = CONSTANT_BIT - 1;

/// The most string constants a program may have.
pub const MAX_CONSTANTS: u32 = CONSTANT_BIT - 1;

/// The heap bytes an object is counted for beyond its contents: its slot in the object table and
/// the allocation's bookkeeping (the collector and `--max-heap` count these bytes).
pub const OBJECT_OVERHEAD: usize = 32;

/// A reference: a heap object or a string constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(pub u32);

/// What a [`Ref`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The heap object with this index.
    Object(u32),
    /// The program's string constant with this index.
    Constant(u32),
}

impl Ref {
    /// A reference to heap object `index` (below [`CONSTANT_BIT`]).
    pub const fn object(index: u32) -> Ref {
        Ref(index & !CONSTANT_BIT)
    }

    /// A reference to string constant `index` (below [`CONSTANT_BIT`]).
    pub const fn constant(index: u32) -> Ref {
        Ref(index | CONSTANT_BIT)
    }

    /// What the reference refers to.
    pub const fn target(self) -> Target {
        if self.0 & CONSTANT_BIT == 0 {
            Target::Object(self.0)
        } else {
            Target::Constant(self.0 & !CONSTANT_BIT)
        }
    }
}

impl fmt::Display for Ref {
    /// `#3` for heap object 3, `c#1` for constant 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Target::Object(index) => write!(f, "#{index}"),
            Target::Constant(index) => write!(f, "c#{index}"),
        }
    }
}

/// The kind of an object, as instructions check it and errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A string.
    Str,
    /// An array of ints.
    Ints,
    /// An array of references.
    Refs,
}

impl Kind {
    /// Every kind, in the order of their tags.
    pub const ALL: [Kind; 3] = [Kind::Str, Kind::Ints, Kind::Refs];

    /// The kind's tag byte in the heap segment.
    pub const fn tag(self) -> u8 {
        match self {
            Kind::Str => 1,
            Kind::Ints => 2,
            Kind::Refs => 3,
        }
    }

    /// The kind with this tag.
    pub const fn from_tag(tag: u8) -> Option<Kind> {
        match tag {
            1 => Some(Kind::Str),
            2 => Some(Kind::Ints),
            3 => Some(Kind::Refs),
            _ => None,
        }
    }

    /// The kind in words: `a string`, `an array of ints`, `an array of references`.
    pub const fn words(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Ints => "an array of ints",
            Kind::Refs => "an array of references",
        }
    }

    /// The kind as a heap summary names it.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Str => "strings",
            Kind::Ints => "int arrays",
            Kind::Refs => "reference arrays",
        }
    }

    /// The bytes one element of an object of this kind takes in the heap segment.
    pub const fn element_len(self) -> usize {
        match self {
            Kind::Str => 1,
            Kind::Ints => 8,
            Kind::Refs => 4,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// A heap object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Object {
    /// A string: UTF-8 bytes (every instruction that makes one keeps it UTF-8, and an image whose
    /// string is not is refused).
    Str(Box<[u8]>),
    /// An array of ints.
    Ints(Vec<i64>),
    /// An array of references.
    Refs(Vec<Ref>),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Str(_) => Kind::Str,
            Object::Ints(_) => Kind::Ints,
            Object::Refs(_) => Kind::Refs,
        }
    }

    /// Its length: bytes of a string, elements of an array.
    pub fn len(&self) -> usize {
        match self {
            Object::Str(bytes) => bytes.len(),
            Object::Ints(values) => values.len(),
            Object::Refs(refs) => refs.len(),
        }
    }

    /// Whether it has no bytes or elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The heap bytes it is counted for: [`OBJECT_OVERHEAD`] and its contents' capacity.
    pub fn heap_bytes(&self) -> usize {
        OBJECT_OVERHEAD.saturating_add(match self {
            Object::Str(bytes) => bytes.len(),
            Object::Ints(values) => values.capacity().saturating_mul(8),
            Object::Refs(refs) => refs.capacity().saturating_mul(4),
        })
    }

    /// The references it holds (none for a string or an int array).
    pub fn refs(&self) -> &[Ref] {
        match self {
            Object::Refs(refs) => refs,
            Object::Str(_) | Object::Ints(_) => &[],
        }
    }
}

/// The heap bytes an object of `kind` with room for `len` elements is counted for, or `None` if
/// that overflows (no heap can hold it).
pub fn heap_bytes_for(kind: Kind, len: usize) -> Option<usize> {
    len.checked_mul(kind.element_len())?
        .checked_add(OBJECT_OVERHEAD)
}

/// Where objects and constants are looked up when a value is shown.
pub trait Lookup {
    /// The heap object with this index, if there is one.
    fn object(&self, index: u32) -> Option<&Object>;
    /// The string constant with this index, if there is one.
    fn constant(&self, index: u32) -> Option<&[u8]>;
}

/// A string's bytes or an object, as a reference resolves.
enum Resolved<'a> {
    Str(&'a [u8]),
    Ints(&'a [i64]),
    Refs,
    Dangling,
}

fn resolve<L: Lookup + ?Sized>(heap: &L, value: Ref) -> Resolved<'_> {
    match value.target() {
        Target::Constant(index) => heap
            .constant(index)
            .map_or(Resolved::Dangling, Resolved::Str),
        Target::Object(index) => match heap.object(index) {
            Some(Object::Str(bytes)) => Resolved::Str(bytes),
            Some(Object::Ints(values)) => Resolved::Ints(values),
            Some(Object::Refs(_)) => Resolved::Refs,
            None => Resolved::Dangling,
        },
    }
}

/// How much of a value [`show`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of output; beyond it the text ends with `…`.
    pub max_len: usize,
}

impl Limits {
    /// No limit: the whole value, as `print` shows it.
    pub const NONE: Limits = Limits {
        max_len: usize::MAX,
    };
}

/// Shows `value` as `print` does: a string as its text (`quote_strings` false) or quoted with
/// escapes (true, as strings inside arrays are shown), an array as `[1, 2, 3]` with its strings
/// quoted. Appends to `out`, at most `limits.max_len` bytes (then `…`).
///
/// Walks nested arrays with a stack of its own, never recursing in Rust, and shows an array that
/// contains itself (only a forged image can make one) as `[...]` where it recurs, as Python does.
/// A reference to nothing (also only forged) shows as `<dangling #n>`.
pub fn show<L: Lookup + ?Sized>(
    heap: &L,
    value: Ref,
    quote_strings: bool,
    limits: Limits,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let complete = walk(heap, value, quote_strings, &mut |bytes| {
        out.extend_from_slice(bytes);
        out.len().saturating_sub(start) <= limits.max_len
    });
    if !complete {
        out.truncate(start.saturating_add(limits.max_len));
        // Cut at a character boundary, then mark the cut.
        while out.len() > start
            && std::str::from_utf8(out.get(start..).unwrap_or_default()).is_err()
        {
            out.pop();
        }
        out.extend_from_slice("…".as_bytes());
    }
}

/// Shows `value` as [`show`] does, whole, handing the text to `sink` piece by piece (so a huge
/// array is never one buffer); `sink` returns whether to go on. Returns whether it showed all.
pub fn walk<L: Lookup + ?Sized>(
    heap: &L,
    value: Ref,
    quote_strings: bool,
    sink: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    // Arrays being shown, outermost first, each with the next element to show; and the set of
    // them, to tell a cycle in constant time.
    let mut open: Vec<(u32, usize)> = Vec::new();
    let mut opened: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut piece: Vec<u8> = Vec::new();
    let mut next = Some(value);
    loop {
        piece.clear();
        if let Some(value) = next.take() {
            let quote = quote_strings || !open.is_empty();
            match resolve(heap, value) {
                Resolved::Str(bytes) if quote => quote_into(bytes, &mut piece),
                Resolved::Str(bytes) => {
                    if !sink(bytes) {
                        return false;
                    }
                }
                Resolved::Ints(values) => {
                    piece.push(b'[');
                    for (at, v) in values.iter().enumerate() {
                        if at > 0 {
                            piece.extend_from_slice(b", ");
                        }
                        let _ = write!(ByteWriter(&mut piece), "{v}");
                        // Handed on in pieces of about 64 KiB.
                        if piece.len() >= 1 << 16 {
                            if !sink(&piece) {
                                return false;
                            }
                            piece.clear();
                        }
                    }
                    piece.push(b']');
                }
                Resolved::Refs => {
                    if let Target::Object(index) = value.target() {
                        if opened.contains(&index) {
                            piece.extend_from_slice(b"[...]");
                        } else {
                            piece.push(b'[');
                            open.push((index, 0));
                            opened.insert(index);
                        }
                    }
                }
                Resolved::Dangling => {
                    let _ = write!(ByteWriter(&mut piece), "<dangling {value}>");
                }
            }
            if !piece.is_empty() && !sink(&piece) {
                return false;
            }
            continue;
        }
        let Some((index, at)) = open.last_mut() else {
            return true;
        };
        let refs = heap.object(*index).map(Object::refs).unwrap_or_default();
        match refs.get(*at) {
            Some(element) => {
                if *at > 0 && !sink(b", ") {
                    return false;
                }
                *at += 1;
                next = Some(*element);
            }
            None => {
                opened.remove(index);
                open.pop();
                if !sink(b"]") {
                    return false;
                }
            }
        }
    }
}

/// `value` shown as [`show`] shows it, as text (lossily, for a forged string that is not UTF-8).
pub fn show_string<L: Lookup + ?Sized>(
    heap: &L,
    value: Ref,
    quote_strings: bool,
    limits: Limits,
) -> String {
    let mut out = Vec::new();
    show(heap, value, quote_strings, limits, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `bytes` quoted, with the language's escapes: `\n \t \r \0 \\ \"`, and `\u{…}` for the
/// other control characters.
pub fn quote_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\0' => out.extend_from_slice(b"\\0"),
            '\\' => out.extend_from_slice(b"\\\\"),
            '"' => out.extend_from_slice(b"\\\""),
            c if c.is_control() => {
                let _ = write!(ByteWriter(out), "\\u{{{:x}}}", u32::from(c));
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// A `fmt::Write` over a byte vector.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The `.mvb` section kind of a program's string constants (required: `CONST` names them).
///
/// Payload (big-endian): a u32 count, then per string a u32 length and that many bytes of UTF-8.
pub const STRINGS: u16 = 0x0003;

/// Why a strings section does not hold string constants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StringsError {
    /// The payload ends inside a length or a string, or goes on after the last string.
    #[error("the payload is {len} bytes long, but its fields need {needed}")]
    Length {
        /// The payload's length.
        len: usize,
        /// The bytes its fields need (at least).
        needed: usize,
    },
    /// A string is not UTF-8.
    #[error("string constant {index} is not valid UTF-8")]
    NotUtf8 {
        /// The string's number.
        index: u32,
    },
    /// More strings than [`MAX_CONSTANTS`].
    #[error("it declares {count} strings, at most {MAX_CONSTANTS} are allowed")]
    TooMany {
        /// The declared count.
        count: u32,
    },
}

/// Encodes string constants as a strings section's payload.
pub fn encode_strings<S: AsRef<[u8]>>(strings: &[S]) -> Vec<u8> {
    let total: usize = strings.iter().map(|s| 4 + s.as_ref().len()).sum();
    let mut out = Vec::with_capacity(4 + total);
    let count = u32::try_from(strings.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for string in strings.iter().take(crate::bytes::to_usize(count)) {
        let bytes = string.as_ref();
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes.get(..crate::bytes::to_usize(len)).unwrap_or(bytes));
    }
    out
}

/// Decodes and checks a strings section's payload.
pub fn decode_strings(payload: &[u8]) -> Result<Vec<Box<[u8]>>, StringsError> {
    let short = |needed: usize| StringsError::Length {
        len: payload.len(),
        needed,
    };
    let mut cursor = crate::bytes::Cursor::new(payload, 0);
    let count = u32::from_be_bytes(cursor.array().map_err(|_| short(4))?);
    if count > MAX_CONSTANTS {
        return Err(StringsError::TooMany { count });
    }
    // Every string takes at least its 4-byte length, so this reserves no more than the payload
    // can hold.
    let mut strings = Vec::with_capacity(crate::bytes::to_usize(count).min(payload.len() / 4));
    for index in 0..count {
        let at = cursor.pos();
        let len = u32::from_be_bytes(cursor.array().map_err(|_| short(at + 4))?);
        let len = crate::bytes::to_usize(len);
        let bytes = cursor
            .take(len)
            .map_err(|_| short(cursor.pos().saturating_add(len)))?;
        if std::str::from_utf8(bytes).is_err() {
            return Err(StringsError::NotUtf8 { index });
        }
        strings.push(bytes.into());
    }
    if cursor.pos() != payload.len() {
        return Err(short(cursor.pos()));
    }
    Ok(strings)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;

    struct Heap {
        objects: Vec<Object>,
        constants: Vec<Vec<u8>>,
    }

    impl Lookup for Heap {
        fn object(&self, index: u32) -> Option<&Object> {
            self.objects.get(index as usize)
        }
        fn constant(&self, index: u32) -> Option<&[u8]> {
            self.constants.get(index as usize).map(Vec::as_slice)
        }
    }

    #[test]
    fn refs_tell_objects_from_constants() {
        assert_eq!(Ref::object(5).target(), Target::Object(5));
        assert_eq!(Ref::constant(5).target(), Target::Constant(5));
        assert_eq!(Ref::constant(0).0, CONSTANT_BIT);
        assert_eq!(
            Ref::object(MAX_OBJECTS).target(),
            Target::Object(MAX_OBJECTS)
        );
        assert_eq!(Ref::constant(3).to_string(), "c#3");
        for kind in Kind::ALL {
            assert_eq!(Kind::from_tag(kind.tag()), Some(kind));
        }
        assert_eq!(Kind::from_tag(0), None);
    }

    #[test]
    fn values_show_as_print_shows_them() {
        let heap = Heap {
            objects: vec![
                Object::Str(b"a\"b\n".to_vec().into()),
                Object::Ints(vec![1, -2, 3]),
                Object::Refs(vec![Ref::object(0), Ref::constant(0), Ref::object(1)]),
                Object::Refs(vec![]),
                Object::Refs(vec![Ref::object(4), Ref::object(9)]),
            ],
            constants: vec![b"hi".to_vec()],
        };
        let show = |value, quote| show_string(&heap, value, quote, Limits::NONE);
        assert_eq!(show(Ref::object(0), false), "a\"b\n");
        assert_eq!(show(Ref::object(0), true), "\"a\\\"b\\n\"");
        assert_eq!(show(Ref::constant(0), false), "hi");
        assert_eq!(show(Ref::object(1), false), "[1, -2, 3]");
        assert_eq!(
            show(Ref::object(2), false),
            "[\"a\\\"b\\n\", \"hi\", [1, -2, 3]]"
        );
        assert_eq!(show(Ref::object(3), false), "[]");
        // A forged cycle and a dangling reference.
        assert_eq!(show(Ref::object(4), false), "[[...], <dangling #9>]");
        assert_eq!(show(Ref::constant(7), false), "<dangling c#7>");
        // Abbreviated.
        let limits = Limits { max_len: 5 };
        assert_eq!(show_string(&heap, Ref::object(1), false, limits), "[1, -…");
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 200_000;
        let mut objects = vec![Object::Ints(vec![])];
        for at in 0..depth {
            objects.push(Object::Refs(vec![Ref::object(at)]));
        }
        let heap = Heap {
            objects,
            constants: vec![],
        };
        let text = show_string(&heap, Ref::object(depth), false, Limits::NONE);
        assert_eq!(text.len(), 2 * (depth as usize + 1));
    }

    #[test]
    fn strings_sections_round_trip_and_bad_ones_are_refused() {
        let strings = ["", "héllo", "a\"b"];
        let payload = encode_strings(&strings);
        let decoded = decode_strings(&payload).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(&*decoded[1], "héllo".as_bytes());
        for cut in 0..payload.len() {
            assert!(decode_strings(&payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = payload.clone();
        long.push(0);
        assert!(decode_strings(&long).is_err());
        assert_eq!(
            decode_strings(&encode_strings(&[&[0xFF_u8][..]])).unwrap_err(),
            StringsError::NotUtf8 { index: 0 }
        );
        // A huge count is refused without reserving for it.
        assert!(decode_strings(&[0x7F, 0xFF, 0xFF, 0xFE]).is_err());
        assert!(decode_strings(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn heap_bytes_overflow_is_none() {
        assert_eq!(heap_bytes_for(Kind::Ints, 2), Some(OBJECT_OVERHEAD + 16));
        assert_eq!(heap_bytes_for(Kind::Ints, usize::MAX), None);
    }
}
