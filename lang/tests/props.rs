//! Property tests: every instruction round-trips through the binary encoding, and no byte string,
//! however damaged, makes the `.mvb` decoder panic.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

use mova_lang::container::ContainerError;
use mova_lang::isa::Instr;
use mova_lang::mvb::{LoadError, Program};
use mova_lang::strategies::{instr, program, resealed};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    #[test]
    fn instructions_round_trip(instr in instr()) {
        let mut bytes = Vec::new();
        instr.encode_into(&mut bytes);
        prop_assert_eq!(Instr::decode(&bytes), Ok((instr, bytes.len())));
        prop_assert_eq!(Instr::new(instr.opcode(), &instr.operands()), Ok(instr));
    }

    #[test]
    fn programs_round_trip(program in program()) {
        prop_assert_eq!(Program::decode(&program.encode()), Ok(program));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Program::decode(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_signature_never_panic(
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = mova_lang::mvb::SIGNATURE.to_vec();
        bytes.extend_from_slice(&rest);
        let _ = Program::decode(&bytes);
    }

    #[test]
    fn truncations_are_refused(program in program(), cut in any::<prop::sample::Index>()) {
        let bytes = program.encode();
        let len = cut.index(bytes.len());
        let truncated = Program::decode(&bytes[..len]);
        prop_assert!(
            matches!(truncated, Err(LoadError::Container(ContainerError::Truncated { .. }))),
            "cut to {} of {} bytes: {:?}", len, bytes.len(), truncated
        );
    }

    #[test]
    fn flipped_bytes_are_refused(
        program in program(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut bytes = program.encode();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        // The checksum catches every single-byte change in the body; a change to the checksum
        // itself is caught by the body no longer matching it.
        prop_assert!(Program::decode(&bytes).is_err());
    }

    #[test]
    fn resealed_flipped_bytes_decode_or_are_refused_without_panic(
        program in program(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        // With the checksum recomputed the damage reaches the structural checks behind it.
        let mut bytes = program.encode();
        let body = bytes.len() - 4;
        let at = at.index(body);
        bytes[at] ^= mask;
        let bytes = resealed(bytes);
        if let Ok(decoded) = Program::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }
}
