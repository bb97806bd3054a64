//! The `compile` fuzz target: see [`mova_fuzz::compile`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::compile(data));
