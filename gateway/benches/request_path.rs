//! The request path, end to end: one `POST /v1/chat/completions` through a running
//! `policy-gateway` (release build, the instant mock provider) on one keep-alive connection,
//! request written and response read whole, over loopback. With the policy chain
//! (`prompt-injection, pii-detector`) and with an empty chain, so the difference is what the
//! chain costs on the path, and the rest is the HTTP server, routing, headers and the mock.
//!
//! `cargo bench -p policy-gateway --bench request_path`. Throughput under concurrent load, and
//! the ratio to nginx, come from `gateway/bench/reload-under-load.sh`.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use policy_replay::process::{GatewayProcess, Launch};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France? Reply in one word, and mail it to me."}]}"#;

/// A gateway on loopback with `chain`, and the file its config is in.
fn gateway(chain: &str) -> (GatewayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bench.yaml");
    std::fs::write(
        &config,
        format!(
            "pack: {{ name: bench, version: 1.0.0 }}\n\
             gateway: {{ listen: 127.0.0.1:0, worker_threads: 1, admin: {{ listen: 127.0.0.1:0 }} }}\n\
             providers: {{ targets: [{{ id: m, provider: mock, mock: {{ latency_ms: 0 }} }}] }}\n\
             policies: {{ chain: [{chain}] }}\n"
        ),
    )
    .unwrap();
    let gw = Launch::new(env!("CARGO_BIN_EXE_policy-gateway"), &config)
        .current_dir(dir.path())
        .spawn()
        .expect("the gateway starts");
    (gw, dir)
}

/// One request on `conn`, its response read to the end of its body.
fn round_trip(conn: &mut BufReader<TcpStream>, request: &[u8]) -> usize {
    conn.get_mut().write_all(request).unwrap();
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).unwrap();
    assert!(body.starts_with(b"{\"id\""), "{}", String::from_utf8_lossy(&body));
    length
}

fn bench(c: &mut Criterion) {
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut g = c.benchmark_group("request_path");
    for (name, chain) in [
        ("chat_with_chain", "prompt-injection, pii-detector"),
        ("chat_empty_chain", ""),
    ] {
        let (gw, _dir) = gateway(chain);
        let mut conn = BufReader::new(TcpStream::connect(gw.serving().data).unwrap());
        conn.get_ref().set_nodelay(true).unwrap();
        g.bench_function(name, |b| b.iter(|| round_trip(&mut conn, request.as_bytes())));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
