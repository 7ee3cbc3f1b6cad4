//! `cargo fuzz run lint_yaml`: see `policy_fuzz::lint_yaml` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| policy_fuzz::lint_yaml(data));
