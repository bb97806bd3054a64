//! The `mvs_decode_check` fuzz target: see [`mova_fuzz::mvs_decode_check`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::mvs_decode_check(data));
