//! `cargo fuzz run request_head`: the gateway's parsing of a client's HTTP/1.1 request head,
//! `gateway/src/server/head.rs`, compiled in here with the body framing it names
//! (`gateway/src/upstream/h1.rs`); see its `check` for what it holds.
#![no_main]

#[path = "../../gateway/src/upstream/h1.rs"]
#[allow(dead_code, unused_imports)]
mod h1;

use h1::{chunked_last, declared_length, keeps_alive, lists, Framing};

#[path = "../../gateway/src/server/head.rs"]
#[allow(dead_code, unused_imports)]
mod head;

libfuzzer_sys::fuzz_target!(|data: &[u8]| head::check(data));
