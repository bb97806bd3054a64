//! The `frame` fuzz target: see [`mova_fuzz::frame`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::frame(data));
