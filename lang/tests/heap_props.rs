//! Property tests of the heap in the `.mvs` state image: random heaps (sharing, nesting, cycles,
//! empty arrays, long strings, string constants) round-trip through an image, and forged
//! reference stack and heap segments (dangling references, wrong kinds, huge counts, truncations,
//! flipped and mutated bytes) are refused without a panic.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::container::ContainerError;
use mova_lang::heap::{self, Object, Ref, Target};
use mova_lang::image::{
    END_SEGMENT, HEAP_SEGMENT, IMAGE_HEADER_LEN, Image, ImageError, REFS_SEGMENT, RefPlace, State,
};
use mova_lang::isa::Instr;
use mova_lang::mvb::{Program, Section};
use mova_lang::strategies::{cases, resealed};
use proptest::prelude::*;

/// A program of `constants` that pushes `height` of them on the reference stack and halts: at
/// its `HALT` (IP `height`) the reference stack holds exactly `height` references.
fn pushes(constants: &[Vec<u8>], height: usize) -> Program {
    let count = u32::try_from(constants.len()).unwrap();
    let code = (0..height)
        .map(|at| Instr::Const(u32::try_from(at).unwrap() % count))
        .chain([Instr::Halt])
        .collect();
    let section = Section {
        kind: heap::STRINGS,
        payload: heap::encode_strings(constants),
    };
    Program::with_sections(code, vec![section]).unwrap()
}

/// A string: usually short, sometimes long, any UTF-8 (escapes and multi-byte characters).
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "\\PC{0,12}",
        1 => "[a-zé\\n\"\\\\]{200,3000}",
    ]
    .prop_map(String::into_bytes)
}

/// A reference drawn from raw numbers: an object among `objects` or a constant among
/// `constants`.
fn pick(raw: u32, objects: usize, constants: usize) -> Ref {
    let objects = u32::try_from(objects).unwrap();
    let constants = u32::try_from(constants).unwrap();
    if raw.is_multiple_of(4) || objects == 0 {
        Ref::constant((raw / 4) % constants)
    } else {
        Ref::object((raw / 4) % objects)
    }
}

/// An object made up: a kind chooser, and the contents of each kind.
type RawObject = (u8, Vec<u8>, Vec<i64>, Vec<u32>);

/// Objects made up, with references among themselves (sharing, self-references and cycles), and
/// roots into them; then numbered from the roots as `Vm::save` numbers them, dropping those no
/// root reaches.
fn live_heap(raw: Vec<RawObject>, roots: Vec<u32>, constants: usize) -> (Vec<Ref>, Vec<Object>) {
    let made = raw.len();
    let objects: Vec<Object> = raw
        .into_iter()
        .map(|(kind, text, ints, refs)| match kind % 3 {
            0 => Object::Str(text.into()),
            1 => Object::Ints(ints),
            _ => Object::Refs(
                refs.into_iter()
                    .map(|raw| pick(raw, made, constants))
                    .collect(),
            ),
        })
        .collect();
    let roots: Vec<Ref> = roots
        .into_iter()
        .map(|raw| pick(raw, made, constants))
        .collect();
    // Renumber in the order a walk from the roots meets the objects.
    let mut numbers = std::collections::HashMap::new();
    let mut order = Vec::new();
    let mut number = |value: Ref, order: &mut Vec<u32>| match value.target() {
        Target::Constant(_) => value,
        Target::Object(index) => {
            let next = u32::try_from(numbers.len()).unwrap();
            Ref::object(*numbers.entry(index).or_insert_with(|| {
                order.push(index);
                next
            }))
        }
    };
    let roots: Vec<Ref> = roots.into_iter().map(|r| number(r, &mut order)).collect();
    let mut heap = Vec::new();
    let mut at = 0;
    while let Some(&index) = order.get(at) {
        at += 1;
        heap.push(match &objects[index as usize] {
            Object::Refs(refs) => {
                Object::Refs(refs.iter().map(|&r| number(r, &mut order)).collect())
            }
            other => other.clone(),
        });
    }
    (roots, heap)
}

/// A valid image with references: a program of 1 to 4 string constants pushing 0 to 6 of them,
/// stopped at its `HALT` with a reference stack of that height into a random live heap, with
/// or without the program embedded.
fn heap_image() -> impl Strategy<Value = (Program, Image)> {
    (
        prop::collection::vec(text(), 1..4),
        0usize..7,
        prop::collection::vec(
            (
                any::<u8>(),
                text(),
                prop::collection::vec(any::<i64>(), 0..6),
                prop::collection::vec(any::<u32>(), 0..6),
            ),
            0..12,
        ),
        prop::collection::vec(any::<u32>(), 6),
        any::<bool>(),
    )
        .prop_map(|(constants, height, raw, roots, with_program)| {
            let program = pushes(&constants, height);
            let roots = roots[..height].to_vec();
            let (refs, heap) = live_heap(raw, roots, constants.len());
            let state = State {
                ip: u32::try_from(height).unwrap(),
                refs,
                heap,
                ..State::default()
            };
            let image = Image::of_state(&program, state, with_program).unwrap();
            (program, image)
        })
}

/// Where the segment with `header` starts in `bytes`, if the image has it.
fn segment_at(bytes: &[u8], header: u16) -> Option<usize> {
    let count = usize::from(u16::from_be_bytes(
        bytes[IMAGE_HEADER_LEN + 8..IMAGE_HEADER_LEN + 10]
            .try_into()
            .unwrap(),
    ));
    let mut pos = IMAGE_HEADER_LEN + 6 + 8 + 8 * count;
    loop {
        let found = u16::from_be_bytes(bytes[pos..pos + 2].try_into().unwrap());
        if found == header {
            return Some(pos);
        }
        if found == END_SEGMENT {
            return None;
        }
        let len = u32::from_be_bytes(bytes[pos + 2..pos + 6].try_into().unwrap());
        pos += 6 + len as usize;
    }
}

/// `bytes` with the payload of the segment at `at` replaced by `payload`, resealed.
fn with_payload(bytes: &[u8], at: usize, payload: &[u8]) -> Vec<u8> {
    let header = &bytes[at..at + 2];
    let len = u32::from_be_bytes(bytes[at + 2..at + 6].try_into().unwrap()) as usize;
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&bytes[at + 6 + len..]);
    resealed(out)
}

/// What decoding says, with anything accepted re-checked: it round-trips and fits `program`.
fn judged(bytes: &[u8], program: &Program) -> Result<Result<Image, ImageError>, TestCaseError> {
    let decoded = Image::decode(bytes);
    if let Ok(image) = &decoded {
        let again = Image::decode(&image.encode());
        prop_assert_eq!(again.as_ref(), Ok(image));
        prop_assert!(image.check_heap().is_ok());
        if image.program().is_some() {
            prop_assert_eq!(image.check(program), Ok(()));
        }
    }
    Ok(decoded)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn heaps_round_trip((program, image) in heap_image()) {
        let bytes = image.encode();
        let decoded = Image::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.check(&program), Ok(()));
        prop_assert_eq!(&decoded, &image);
        prop_assert_eq!(&decoded.encode(), &bytes);
        // The segments are there exactly when there is something to carry.
        prop_assert_eq!(segment_at(&bytes, REFS_SEGMENT).is_some(), !image.refs.is_empty());
        prop_assert_eq!(segment_at(&bytes, HEAP_SEGMENT).is_some(), !image.heap.is_empty());
    }

    #[test]
    fn every_truncation_is_refused((_program, image) in heap_image()) {
        let bytes = image.encode();
        // Long strings make long images: every cut up to 600 bytes, then every 7th.
        for len in (0..bytes.len()).filter(|len| *len < 600 || len % 7 == 0) {
            let decoded = Image::decode(&bytes[..len]);
            prop_assert!(
                matches!(
                    decoded,
                    Err(ImageError::Container(ContainerError::Truncated { len: reported, .. }))
                        if reported == len
                ),
                "cut to {} of {}: {:?}", len, bytes.len(), decoded
            );
        }
    }

    #[test]
    fn flipped_bytes_are_refused(
        (_program, image) in heap_image(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut bytes = image.encode();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        prop_assert!(Image::decode(&bytes).is_err());
    }

    #[test]
    fn resealed_mutations_of_the_references_are_judged_without_panic(
        (program, image) in heap_image(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        kind in 0..3u8,
    ) {
        // Damage aimed at the reference stack and heap segments, past the checksum.
        let mut bytes = image.encode();
        let start = segment_at(&bytes, REFS_SEGMENT)
            .or_else(|| segment_at(&bytes, HEAP_SEGMENT))
            .unwrap_or(IMAGE_HEADER_LEN);
        let body = bytes.len() - 4;
        let at = start + at.index(body - start);
        match kind {
            0 => bytes[at] ^= byte | 1,
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, byte),
        }
        let _judged = judged(&resealed(bytes), &program)?;
    }

    #[test]
    fn forged_heap_payloads_are_judged_without_panic(
        (program, image) in heap_image(),
        objects in prop::collection::vec(
            (0..5u8, prop::option::of(any::<u32>()), prop::collection::vec(any::<u8>(), 0..24)),
            0..6,
        ),
        count in prop::option::of(any::<u32>()),
        tail in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        // Any kind tags (0 and 4 are none), lengths that are the contents' or forged, any
        // count, any trailing bytes.
        let bytes = image.encode();
        let Some(at) = segment_at(&bytes, HEAP_SEGMENT) else {
            return Ok(());
        };
        let mut payload = count
            .unwrap_or(u32::try_from(objects.len()).unwrap())
            .to_be_bytes()
            .to_vec();
        for (tag, len, contents) in &objects {
            payload.push(*tag);
            let element = match tag {
                2 => 8,
                3 => 4,
                _ => 1,
            };
            let natural = u32::try_from(contents.len() / element).unwrap();
            payload.extend_from_slice(&len.unwrap_or(natural).to_be_bytes());
            payload.extend_from_slice(contents);
        }
        payload.extend_from_slice(&tail);
        let _judged = judged(&with_payload(&bytes, at, &payload), &program)?;
    }

    #[test]
    fn dangling_references_are_refused(
        (program, image) in heap_image(),
        which in any::<prop::sample::Index>(),
        beyond in 0..1000u32,
        constant in any::<bool>(),
    ) {
        // Every reference, on the stack or in an array, with where it is.
        let mut places: Vec<RefPlace> = (0..image.refs.len()).map(RefPlace::Stack).collect();
        for (object, item) in image.heap.iter().enumerate() {
            places.extend((0..item.refs().len()).map(|index| RefPlace::Element { object, index }));
        }
        prop_assume!(!places.is_empty());
        let place = places[which.index(places.len())];
        let (objects, constants) = (image.heap.len(), program.constants().len());
        let forged_ref = if constant {
            Ref::constant(u32::try_from(constants).unwrap() + beyond)
        } else {
            Ref::object(u32::try_from(objects).unwrap() + beyond)
        };
        let mut forged = image.clone();
        match place {
            RefPlace::Stack(slot) => forged.refs[slot] = forged_ref,
            RefPlace::Element { object, index } => match &mut forged.heap[object] {
                Object::Refs(refs) => refs[index] = forged_ref,
                _ => unreachable!(),
            },
        }
        let error = forged.check(&program).unwrap_err();
        // The first bad reference is the forged one, unless the forgery left an object
        // unreached (it was the only way to it).
        match &error {
            ImageError::DanglingObject { place: found, .. } => {
                prop_assert!(!constant);
                prop_assert_eq!(*found, place);
            }
            ImageError::DanglingConstant { place: found, .. } => {
                prop_assert!(constant);
                prop_assert_eq!(*found, place);
            }
            ImageError::UnreachableObject { .. } => prop_assert!(constant),
            other => prop_assert!(false, "{}", other),
        }
        // Decoding the bytes refuses it too, with the program embedded; without, only the
        // object references can be checked.
        let bare = Image { program: None, ..forged.clone() };
        let embedded = Image { program: Some(program.clone()), ..forged };
        prop_assert_eq!(Image::decode(&embedded.encode()), Err(error.clone()));
        prop_assert_eq!(
            Image::decode(&bare.encode()).is_err(),
            !matches!(error, ImageError::DanglingConstant { .. })
        );
    }

    #[test]
    fn garbage_and_bad_strings_are_refused(
        (program, image) in heap_image(),
        garbage in text(),
        bad in prop::collection::vec(any::<u8>(), 1..8),
        which in any::<prop::sample::Index>(),
    ) {
        let mut with_garbage = image.clone();
        with_garbage.heap.push(Object::Str(garbage.into()));
        prop_assert_eq!(
            with_garbage.check(&program),
            Err(ImageError::UnreachableObject { object: image.heap.len() })
        );
        prop_assert!(Image::decode(&with_garbage.encode()).is_err());
        let strings: Vec<usize> = image
            .heap
            .iter()
            .enumerate()
            .filter(|(_, object)| matches!(object, Object::Str(_)))
            .map(|(at, _)| at)
            .collect();
        prop_assume!(!strings.is_empty());
        let object = strings[which.index(strings.len())];
        let mut invalid = image.clone();
        let mut bytes = vec![0xFF];
        bytes.extend_from_slice(&bad);
        invalid.heap[object] = Object::Str(bytes.into());
        prop_assert_eq!(
            invalid.check(&program),
            Err(ImageError::InvalidString { object, valid_up_to: 0 })
        );
        prop_assert!(Image::decode(&invalid.encode()).is_err());
    }

    #[test]
    fn huge_counts_are_refused_before_any_allocation(
        (program, image) in heap_image(),
        count in 1u32 << 20..,
    ) {
        let bytes = image.encode();
        for header in [HEAP_SEGMENT, REFS_SEGMENT] {
            let Some(at) = segment_at(&bytes, header) else { continue };
            let mut forged = bytes.clone();
            forged[at + 6..at + 10].copy_from_slice(&count.to_be_bytes());
            let decoded = judged(&resealed(forged), &program)?;
            prop_assert!(
                matches!(decoded, Err(ImageError::BadHeap { .. } | ImageError::RefsLength { .. })),
                "{:?}", decoded
            );
        }
    }
}
