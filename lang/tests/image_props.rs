//! Property tests of the `.mvs` state image: valid images round-trip, and no byte string, however
//! damaged, makes the decoder panic; truncated or corrupted images are refused; and made-up call
//! frames are judged the same way by every path that checks them.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::container::ContainerError;
use mova_lang::func::Frame;
use mova_lang::image::program_hash;
use mova_lang::image::{
    END_SEGMENT, IMAGE_SIGNATURE, IP_SEGMENT, Image, ImageError, PRODUCER, PRODUCER_SEGMENT,
    PROGRAM_HASH_SEGMENT, PROGRAM_SEGMENT, Provenance, SLEEP_SEGMENT, STACK_SEGMENT,
};
use mova_lang::isa::{Instr, Sleeps};
use mova_lang::strategies::{program, program_with_functions, resealed};
use proptest::prelude::*;

/// A valid image: any program, any IP a run of it can get to, a stack of a height possible there
/// (at most 300 values above the smallest), with or without the program, and a sleep remainder
/// when the IP is on a sleep (half the time the IP is aimed at the program's first reachable sleep,
/// if it has one).
fn image() -> impl Strategy<Value = Image> {
    (
        program(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<i64>(), 300),
        prop::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_filter_map(
            "the state fits the program",
            |(program, at, aim_at_sleep, height, values, sleep, with_program)| {
                let code = program.code();
                let heights = program.stack_heights();
                let reachable: Vec<u32> = (0..=u32::try_from(code.len()).ok()?)
                    .filter(|&ip| heights.at(ip).is_some())
                    .collect();
                let is_sleep = |ip: &&u32| {
                    matches!(
                        code.get(usize::try_from(**ip).unwrap_or(usize::MAX)),
                        Some(instr) if instr.sleeps() != Sleeps::No
                    )
                };
                let first_sleep = reachable.iter().find(is_sleep).filter(|_| aim_at_sleep);
                let ip = *first_sleep.unwrap_or_else(|| &reachable[at.index(reachable.len())]);
                let possible = heights.at(ip)?;
                let (min, max) = (usize::from(possible.min), usize::from(possible.max));
                // A `SLEEPS` that sleeps has its duration on the stack.
                let sleeping_sleeps = sleep.is_some()
                    && matches!(code.get(usize::try_from(ip).ok()?), Some(instr) if instr.sleeps() == Sleeps::ForTop);
                let min = if sleeping_sleeps { min.max(1) } else { min };
                let max = max.min(min + values.len());
                if min > max {
                    return None;
                }
                let height = min + height.index(max - min + 1);
                // Random values on top; below them, in a stack taller than that, zeros.
                let top = height.min(values.len());
                let mut stack = vec![0; height - top];
                stack.extend_from_slice(&values[..top]);
                let duration = match code.get(usize::try_from(ip).ok()?).map(Instr::sleeps) {
                    Some(Sleeps::For(ms)) => u64::try_from(ms).ok(),
                    Some(Sleeps::ForTop) => stack.last().and_then(|&ms| u64::try_from(ms).ok()),
                    Some(Sleeps::No) | None => None,
                };
                let sleep = sleep.and_then(|raw| Some(raw % duration?.checked_add(1)?));
                Image::new(&program, ip, stack, sleep, with_program).ok()
            },
        )
}

/// Decodes `bytes`, requiring that a success re-encodes to an image that decodes the same, and
/// to the very same bytes when they are what this build writes (version 2, this producer, no
/// segment skipped).
fn decodes_canonically_or_is_refused(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((image, provenance)) = Image::decode_file(bytes) {
        let encoded = image.encode();
        let ours = Provenance {
            version: 2,
            min_reader: 2,
            producer: Some(PRODUCER.to_owned()),
            skipped: Vec::new(),
            skipped_unlisted: 0,
        };
        if provenance == ours {
            prop_assert_eq!(&encoded, bytes);
        }
        prop_assert_eq!(Image::decode_file(&encoded), Ok((image, ours)));
    }
    Ok(())
}

/// `image` as the version 1 writer wrote it (the layout of `docs/formats.md`, version 1): a
/// 12-byte header, and the program hash, program and sleep segments without lengths.
fn encode_v1(image: &Image) -> Vec<u8> {
    let mut out = IMAGE_SIGNATURE.to_vec();
    out.extend_from_slice(&[0, 1, 0, 0]);
    out.extend_from_slice(&IP_SEGMENT.to_be_bytes());
    out.extend_from_slice(&image.ip.to_be_bytes());
    out.extend_from_slice(&STACK_SEGMENT.to_be_bytes());
    out.extend_from_slice(&u16::try_from(image.stack.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&8u32.to_be_bytes());
    for value in &image.stack {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&PROGRAM_HASH_SEGMENT.to_be_bytes());
    out.extend_from_slice(&image.program_hash);
    if let Some(program) = &image.program {
        let bytes = program.encode();
        out.extend_from_slice(&PROGRAM_SEGMENT.to_be_bytes());
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    if let Some(left) = image.sleep_left_ms {
        out.extend_from_slice(&SLEEP_SEGMENT.to_be_bytes());
        out.extend_from_slice(&left.to_be_bytes());
    }
    out.extend_from_slice(&END_SEGMENT.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    resealed(out)
}

/// A version 2 framed segment: header, u32 length, payload.
fn framed(header: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = header.to_be_bytes().to_vec();
    bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    #[test]
    fn images_round_trip(image in image()) {
        let bytes = image.encode();
        let decoded = Image::decode(&bytes).unwrap();
        if let Some(program) = decoded.program() {
            prop_assert_eq!(decoded.check(program), Ok(()));
        }
        prop_assert_eq!(decoded, image);
    }

    #[test]
    fn version_1_images_load_as_the_same_state(image in image()) {
        let bytes = encode_v1(&image);
        let (decoded, provenance) = Image::decode_file(&bytes).unwrap();
        prop_assert_eq!(provenance.version, 1);
        prop_assert_eq!(provenance.producer, None);
        prop_assert_eq!(&decoded, &image);
        // Written again, it is a version 2 image of the same state.
        let (again, provenance) = Image::decode_file(&decoded.encode()).unwrap();
        prop_assert_eq!(provenance.version, 2);
        prop_assert_eq!(again, image);
    }

    #[test]
    fn the_oldest_reader_decides_who_loads_an_image(
        image in image(),
        version in 2..12u16,
        min_reader in 0..14u16,
    ) {
        // Version 2's layout under any later version and any oldest reader.
        let mut bytes = image.encode();
        bytes[8..10].copy_from_slice(&version.to_be_bytes());
        bytes[12..14].copy_from_slice(&min_reader.to_be_bytes());
        let decoded = Image::decode_file(&resealed(bytes));
        if min_reader < 2 || min_reader > version {
            prop_assert_eq!(
                decoded,
                Err(ImageError::Container(ContainerError::BadMinReader { version, min_reader }))
            );
        } else if min_reader > 2 {
            prop_assert_eq!(
                decoded,
                Err(ImageError::Container(ContainerError::NeedsNewerReader { version, min_reader }))
            );
        } else {
            let (decoded, provenance) = decoded.unwrap();
            prop_assert_eq!(decoded, image);
            prop_assert_eq!((provenance.version, provenance.min_reader), (version, 2));
        }
    }

    #[test]
    fn version_1_truncations_are_refused(image in image(), cut in any::<prop::sample::Index>()) {
        truncation_is_refused(&encode_v1(&image), cut)?;
    }

    #[test]
    fn unknown_optional_segments_are_skipped_wherever_they_are(
        image in image(),
        low in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 0..32),
        at in any::<prop::sample::Index>(),
    ) {
        // Between any two segments after the seed's two (which lie at fixed places in no
        // format, but the writer puts first).
        let header = 0x8000 | low;
        prop_assume!(header != PRODUCER_SEGMENT);
        let bytes = image.encode();
        let mut starts = vec![];
        let mut pos = 14 + 6 + 8 + 8 * image.stack.len();
        while pos < bytes.len() - 4 {
            starts.push(pos);
            let len = u32::from_be_bytes(bytes[pos + 2..pos + 6].try_into().unwrap());
            pos += 6 + usize::try_from(len).unwrap();
        }
        let at = starts[at.index(starts.len())];
        let mut forged = bytes[..at].to_vec();
        forged.extend_from_slice(&framed(header, &payload));
        forged.extend_from_slice(&bytes[at..]);
        let (decoded, provenance) = Image::decode_file(&resealed(forged)).unwrap();
        prop_assert_eq!(decoded, image);
        prop_assert_eq!(provenance.skipped.len(), 1);
        prop_assert_eq!(provenance.skipped[0].header, header);
        prop_assert_eq!(provenance.skipped[0].offset, at);
    }

    #[test]
    fn unknown_required_segments_are_refused(
        image in image(),
        low in 0..0x8000u16,
        payload in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        prop_assume!(mova_lang::image::Segment::from_header(low).is_none());
        let bytes = image.encode();
        let end = bytes.len() - 10;
        let mut forged = bytes[..end].to_vec();
        forged.extend_from_slice(&framed(low, &payload));
        forged.extend_from_slice(&bytes[end..]);
        prop_assert_eq!(
            Image::decode(&resealed(forged)),
            Err(ImageError::RequiredSegment { header: low, offset: end })
        );
    }

    #[test]
    fn truncations_are_refused(image in image(), cut in any::<prop::sample::Index>()) {
        truncation_is_refused(&image.encode(), cut)?;
    }

    #[test]
    fn flipped_bytes_are_refused(
        image in image(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut bytes = image.encode();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        prop_assert!(Image::decode(&bytes).is_err(), "flipped byte {} with {:#04x}", at, mask);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Image::decode(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_signature_never_panic(
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&rest);
        let _ = Image::decode(&bytes);
        // With a valid version and flags, and sealed, the bytes reach the segment walk.
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0, 1, 0, 0]);
        bytes.extend_from_slice(&rest);
        let bytes = resealed(bytes);
        decodes_canonically_or_is_refused(&bytes)?;
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0, 2, 0, 0, 0, 2]);
        bytes.extend_from_slice(&rest);
        let bytes = resealed(bytes);
        decodes_canonically_or_is_refused(&bytes)?;
    }

    #[test]
    fn random_segments_never_panic(
        segments in prop::collection::vec(
            (
                prop::sample::select(vec![
                    IP_SEGMENT,
                    STACK_SEGMENT,
                    PROGRAM_HASH_SEGMENT,
                    PROGRAM_SEGMENT,
                    SLEEP_SEGMENT,
                ]),
                prop::collection::vec(any::<u8>(), 0..48),
            ),
            0..8,
        ),
    ) {
        // Known headers followed by arbitrary fields, then a sealed end segment.
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0, 1, 0, 0]);
        for (header, fields) in segments {
            bytes.extend_from_slice(&header.to_be_bytes());
            bytes.extend_from_slice(&fields);
        }
        bytes.extend_from_slice(&END_SEGMENT.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let bytes = resealed(bytes);
        decodes_canonically_or_is_refused(&bytes)?;
    }

    #[test]
    fn random_framed_segments_and_forged_lengths_never_panic(
        segments in prop::collection::vec(
            (
                prop::sample::select(vec![
                    IP_SEGMENT,
                    STACK_SEGMENT,
                    PROGRAM_HASH_SEGMENT,
                    PROGRAM_SEGMENT,
                    SLEEP_SEGMENT,
                    PRODUCER_SEGMENT,
                    END_SEGMENT,
                    0x1234,
                    0x9234,
                ]),
                prop::collection::vec(any::<u8>(), 0..48),
                prop::option::of(any::<u32>()),
            ),
            0..8,
        ),
        version in 1..5u16,
        min_reader in 0..4u16,
    ) {
        // Known and unknown headers, each with a length that is its payload's or a forged one,
        // after any version and oldest reader, then a sealed end segment.
        let mut bytes = IMAGE_SIGNATURE.to_vec();
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&min_reader.to_be_bytes());
        for (header, payload, forged) in segments {
            bytes.extend_from_slice(&header.to_be_bytes());
            let len = forged.unwrap_or(u32::try_from(payload.len()).unwrap());
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&payload);
        }
        bytes.extend_from_slice(&framed(END_SEGMENT, &[0; 4]));
        let bytes = resealed(bytes);
        decodes_canonically_or_is_refused(&bytes)?;
    }

    #[test]
    fn resealed_mutations_decode_or_are_refused_without_panic(
        image in image(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        kind in 0..3u8,
    ) {
        // With the checksum recomputed the damage reaches the checks behind it; in the image as
        // this build writes it and as version 1 wrote it.
        for bytes in [image.encode(), encode_v1(&image)] {
            mutated_decodes_or_is_refused(bytes, at, byte, kind)?;
        }
    }
}

/// `bytes` with one byte changed, removed or inserted at `at`, resealed, decode canonically or
/// are refused.
fn mutated_decodes_or_is_refused(
    mut bytes: Vec<u8>,
    at: prop::sample::Index,
    byte: u8,
    kind: u8,
) -> Result<(), TestCaseError> {
    let body = bytes.len() - 4;
    let at = at.index(body);
    match kind {
        0 => bytes[at] ^= byte | 1,
        1 => {
            bytes.remove(at);
        }
        _ => bytes.insert(at, byte),
    }
    decodes_canonically_or_is_refused(&resealed(bytes))
}

/// An image cut short anywhere is refused as truncated, at the length it was cut to.
fn truncation_is_refused(bytes: &[u8], cut: prop::sample::Index) -> Result<(), TestCaseError> {
    let len = cut.index(bytes.len());
    let truncated = Image::decode(&bytes[..len]);
    prop_assert!(
        matches!(
            truncated,
            Err(ImageError::Container(ContainerError::Truncated { len: reported, .. }))
                if reported == len
        ),
        "cut to {} of {} bytes: {:?}",
        len,
        bytes.len(),
        truncated
    );
    Ok(())
}

/// Frames made up: any function number up to two past the program's last, any return IP up to
/// two past the end of the code, any base up to two past the stack's top.
fn forged_state() -> impl Strategy<Value = (mova_lang::mvb::Program, u32, Vec<i64>, Vec<Frame>)> {
    (
        program_with_functions(),
        any::<u32>(),
        0usize..8,
        prop::collection::vec((any::<u16>(), any::<u32>(), any::<u32>()), 0..4),
    )
        .prop_map(|(program, ip, height, raw)| {
            let len = program.code().len() as u32;
            let functions = program.functions().len() as u32;
            let frames = raw
                .into_iter()
                .map(|(function, return_ip, base)| Frame {
                    function: (u32::from(function) % (functions + 2)) as u16,
                    return_ip: return_ip % (len + 2),
                    base: base % (height as u32 + 2),
                    ref_base: 0,
                })
                .collect();
            let ip = ip % (len + 1);
            (program, ip, vec![1; height], frames)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    /// Made-up frames are accepted or refused — never a panic — and consistently: with or
    /// without the program embedded, by `check` and by decoding the image's bytes, and an
    /// accepted image round-trips.
    #[test]
    fn forged_frames_are_judged_consistently((program, ip, stack, frames) in forged_state()) {
        let bare = Image::with_frames(&program, ip, stack.clone(), frames.clone(), None, false);
        let embedded = Image::with_frames(&program, ip, stack.clone(), frames.clone(), None, true);
        prop_assert_eq!(bare.as_ref().err(), embedded.as_ref().err());
        // The same state written without any check, as a forger would: decoding it (which checks
        // the state against the embedded program) says what `check` says.
        let forged = Image {
            ip,
            stack,
            program_hash: program_hash(&program),
            program: Some(program.clone()),
            sleep_left_ms: None,
            frames,
            heap: Vec::new(),
            refs: Vec::new(),
        };
        let decoded = Image::decode(&forged.encode());
        prop_assert_eq!(decoded.as_ref().err(), bare.as_ref().err());
        if let Ok(image) = embedded {
            prop_assert_eq!(decoded.as_ref().ok(), Some(&image));
            prop_assert!(image.check(&program).is_ok());
            let again = Image::decode(&image.encode()).unwrap();
            prop_assert_eq!(again, image);
        }
    }
}
