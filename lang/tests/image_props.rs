//! Property tests of the `.mvs` state image: valid images round-trip, and no byte string, however
//! damaged, makes the decoder panic; truncated or corrupted images are refused.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::image::{
    END_SEGMENT, IMAGE_SIGNATURE, IP_SEGMENT, Image, ImageError, PROGRAM_HASH_SEGMENT,
    PROGRAM_SEGMENT, SLEEP_SEGMENT, STACK_SEGMENT,
};
use mova_lang::isa::{Instr, Sleeps};
use mova_lang::strategies::{program, resealed};
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

/// Decodes `bytes`, requiring that a success re-encodes to the very same bytes.
fn decodes_canonically_or_is_refused(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(image) = Image::decode(bytes) {
        prop_assert_eq!(image.encode(), bytes);
    }
    Ok(())
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
    fn truncations_are_refused(image in image(), cut in any::<prop::sample::Index>()) {
        let bytes = image.encode();
        let len = cut.index(bytes.len());
        let truncated = Image::decode(&bytes[..len]);
        prop_assert!(
            matches!(truncated, Err(ImageError::Truncated { len: reported, .. }) if reported == len),
            "cut to {} of {} bytes: {:?}", len, bytes.len(), truncated
        );
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
    fn resealed_mutations_decode_or_are_refused_without_panic(
        image in image(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        kind in 0..3u8,
    ) {
        // With the checksum recomputed the damage reaches the checks behind it.
        let mut bytes = image.encode();
        let body = bytes.len() - 4;
        let at = at.index(body);
        match kind {
            0 => bytes[at] ^= byte | 1,
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, byte),
        }
        let bytes = resealed(bytes);
        decodes_canonically_or_is_refused(&bytes)?;
    }
}
