//! The `deep` fuzz target: see [`mova_fuzz::deep`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mova_fuzz::deep(data));
