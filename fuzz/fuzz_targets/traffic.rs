//! `cargo fuzz run traffic`: see `policy_fuzz::traffic` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| policy_fuzz::traffic(data));
