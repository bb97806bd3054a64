//! The `mvb_load` fuzz target: see [`mova_fuzz::mvb_load`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::mvb_load(data));
