//! Property tests of the control protocol's frame decoder: whatever bytes a client sends, reading
//! a request gives a request or a clean error — never a panic, never an allocation beyond the bytes
//! that arrived, never a read past the frame.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_vm::protocol::{
    FrameError, MAX_FRAME, MAX_HELLO_FRAME, MIGRATION_ID_LEN, MigrationId, Request, Response,
};
use proptest::prelude::*;

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(version, nonce)| Request::Hello { version, nonce }),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Request::Proof),
        Just(Request::Interrupt),
        Just(Request::Resume),
        any::<bool>().prop_map(|with_program| Request::Save { with_program }),
        (migration(), prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(migration, image)| Request::Restore { migration, image }),
        Just(Request::Info),
        (migration(), any::<u32>(), "[0-9.:]{0,24}").prop_map(|(migration, to_pid, to_addr)| {
            Request::Hold {
                migration,
                to_pid,
                to_addr,
            }
        }),
        (migration(), any::<bool>())
            .prop_map(|(migration, run)| Request::Commit { migration, run }),
        (migration(), any::<bool>())
            .prop_map(|(migration, abort)| Request::Outcome { migration, abort }),
        (migration(), any::<bool>()).prop_map(|(migration, committed)| Request::Settle {
            migration,
            committed
        }),
        "[a-z ]{0,20}".prop_map(|reason| Request::Stop { reason }),
    ]
}

fn migration() -> impl Strategy<Value = MigrationId> {
    any::<[u8; MIGRATION_ID_LEN]>().prop_map(MigrationId)
}

fn encode(request: &Request) -> Vec<u8> {
    let mut bytes = Vec::new();
    request.write(&mut bytes).unwrap();
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    #[test]
    fn requests_round_trip(request in request()) {
        let bytes = encode(&request);
        prop_assert_eq!(Request::read(&mut bytes.as_slice(), MAX_FRAME).unwrap(), request);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Request::read(&mut bytes.as_slice(), MAX_FRAME);
        let _ = Request::read(&mut bytes.as_slice(), MAX_HELLO_FRAME);
        let _ = Response::read(&mut bytes.as_slice());
    }

    #[test]
    fn truncated_frames_are_refused(request in request(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&request);
        let len = cut.index(bytes.len());
        let result = Request::read(&mut &bytes[..len], MAX_FRAME);
        prop_assert!(
            matches!(result, Err(FrameError::Closed | FrameError::Malformed(_))),
            "{} of {} bytes: {:?}", len, bytes.len(), result
        );
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading(len in (MAX_HELLO_FRAME as u32 + 1)..=u32::MAX) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.push(0x01);
        let result = Request::read(&mut bytes.as_slice(), MAX_HELLO_FRAME);
        prop_assert!(matches!(result, Err(FrameError::TooLarge { .. })), "{:?}", result);
    }

    #[test]
    fn a_huge_declared_length_allocates_only_what_arrives(len in 1_000_000u32..=u32::MAX, tail in prop::collection::vec(any::<u8>(), 0..64)) {
        // Under the limit but far more than arrives: the read fails as cut short, having grown
        // its buffer only to the bytes that came.
        let limit = usize::MAX;
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let result = Request::read(&mut bytes.as_slice(), limit);
        prop_assert!(matches!(result, Err(FrameError::Malformed(_))), "{:?}", result);
    }

    #[test]
    fn every_byte_after_a_valid_header_is_handled(kind in any::<u8>(), payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = u32::try_from(payload.len() + 1).unwrap().to_be_bytes().to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&payload);
        match Request::read(&mut bytes.as_slice(), MAX_FRAME) {
            Ok(request) => prop_assert_eq!(encode(&request), bytes),
            Err(FrameError::Malformed(_)) => {}
            Err(other) => prop_assert!(false, "{:?}", other),
        }
    }
}
