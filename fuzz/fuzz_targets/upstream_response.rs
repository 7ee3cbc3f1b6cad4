//! `cargo fuzz run upstream_response`: the gateway's reading of an upstream's HTTP/1.1
//! response, `gateway/src/upstream/h1.rs`, compiled in here (the gateway is a binary, not a
//! library); see its `check` for what it holds. The gateway's tests replay the corpus.
#![no_main]

#[path = "../../gateway/src/upstream/h1.rs"]
#[allow(dead_code, unused_imports)]
mod h1;

libfuzzer_sys::fuzz_target!(|data: &[u8]| h1::check(data));
