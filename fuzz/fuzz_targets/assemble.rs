//! The `assemble` fuzz target: see [`mova_fuzz::assemble`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::assemble(data));
