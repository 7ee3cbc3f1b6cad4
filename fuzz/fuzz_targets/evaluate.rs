//! `cargo fuzz run evaluate`: see `policy_fuzz::evaluate` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| policy_fuzz::evaluate(data));
