//! Test harness: the real `policy-gateway` binary as a child process on free 127.0.0.1 ports
//! (started and stopped by `policy_replay::process`, the library's one way of doing it), a real HTTP
//! upstream on loopback, and a small HTTP/1.1 client over plain sockets.
//!
//! Everything binds 127.0.0.1 and is bounded in time; a gateway is stopped (SIGTERM, then
//! SIGKILL, by its own pid) when its handle is dropped.

#![allow(dead_code)]

use policy_replay::process::{GatewayProcess, Launch, Signal};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running gateway. The process is declared first, so it is stopped before its directory
/// goes.
pub struct Gateway {
    /// The child process.
    pub process: GatewayProcess,
    /// Its bound data-plane address.
    pub data: SocketAddr,
    /// Its bound admin-plane address.
    pub admin: SocketAddr,
    /// Its working directory, holding its config (and relative audit logs).
    pub dir: tempfile::TempDir,
    /// The config file it was started with.
    pub config: PathBuf,
}

/// Options for [`Gateway::start_with`].
#[derive(Default)]
pub struct Opts<'a> {
    pub env: Vec<(&'a str, &'a str)>,
    pub args: Vec<String>,
}

impl Gateway {
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with(config, Opts::default())
    }

    /// Write `config` (with `{dir}` replaced by the temp dir) and start the binary on it.
    pub fn start_with(config: &str, opts: Opts<'_>) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("policy-config.yaml");
        std::fs::write(&path, config.replace("{dir}", &dir.path().display().to_string())).unwrap();
        let mut launch = Launch::new(env!("CARGO_BIN_EXE_policy-gateway"), &path)
            .args(opts.args.iter().cloned())
            .current_dir(dir.path())
            .env_remove("POLICY_ADMIN_TOKEN")
            // The key `configs::upstream_config` names: a gateway refuses to start with a
            // target whose key variable is unset. A test's own `env` comes after and wins.
            .env("TEST_UPSTREAM_KEY", "test-upstream-key");
        for (k, v) in &opts.env {
            launch = launch.env(k, v);
        }
        let process = launch.spawn().unwrap_or_else(|e| panic!("{e}"));
        let serving = process.serving().clone();
        Gateway {
            process,
            data: serving.data,
            admin: serving.admin,
            dir,
            config: path,
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn pid(&self) -> i32 {
        self.process.pid() as i32
    }

    pub fn signal(&self, sig: Signal) {
        self.process.signal(sig).expect("the gateway is running");
    }

    /// Replace the config file the way editors do: write a temp file, rename it over.
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join(".policy-config.yaml.tmp");
        std::fs::write(&tmp, text.replace("{dir}", &self.dir.path().display().to_string())).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.data, "GET", path, &[], b"")
    }

    pub fn chat(&self, content: &str) -> Resp {
        let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]});
        request(
            self.data,
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn admin(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        request(self.admin, method, path, &headers, body.as_bytes())
    }

    pub fn health(&self) -> serde_json::Value {
        self.get("/health").json()
    }

    /// Wait for the child to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.process.wait_exit(limit)
    }

    /// Resident set size of the child, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// The value of the sample `name` (with its labels, e.g. `m{k="v"}`) in `/metrics` at `admin`.
pub fn metric(admin: SocketAddr, name: &str) -> f64 {
    let text = request(admin, "GET", "/metrics", &[], b"").body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// The `policy` binary beside `policy-gateway`, where `cargo test --workspace` builds both.
pub fn policy_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_policy-gateway")).with_file_name("policy");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (cargo test --workspace builds both binaries)",
        bin.display()
    );
    bin
}

/// Poll `f` until it returns true, at most `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        // The poll interval of a wait with a deadline: what ends the wait is `f`, not the clock.
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Wait for `ready` to hold, at most `limit`; fail naming `what` (what the test waited for)
/// when it does not. Tests wait for something the gateway reports, never for a while.
pub fn wait_until(limit: Duration, what: &str, ready: impl FnMut() -> bool) {
    assert!(eventually(limit, ready), "timed out after {limit:?} waiting for {what}");
}

/// Completions answered so far, from a `/metrics` text: `gateway_requests_total` over every
/// verdict but `none` (which counts `/health` and requests refused before the chain ran), so
/// a test's own probes do not count as load.
pub fn completions(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("gateway_requests_total{verdict=\""))
        .filter(|l| !l.starts_with("none\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The TCP connections (not listeners) `pid` holds a descriptor of, as `local -> remote`
/// in the kernel's hexadecimal notation: its sockets looked up in `/proc/PID/net/tcp{,6}`.
pub fn tcp_connections(pid: u32) -> Vec<String> {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut open = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            // Fields: sl, local, remote, state (0A: listening), queues, timer, retransmits,
            // uid, timeout, inode.
            if f.len() > 9 && f[3] != "0A" && sockets.iter().any(|s| s == f[9]) {
                open.push(format!("{} -> {} (state {})", f[1], f[2], f[3]));
            }
        }
    }
    open
}

/// Wait (5 s at most) until `pid` holds no TCP connection: one a client just closed stays
/// open on the gateway's side until the gateway has read the end of it.
pub fn connections_closed(pid: u32) {
    let mut open = Vec::new();
    let closed = eventually(Duration::from_secs(5), || {
        open = tcp_connections(pid);
        open.is_empty()
    });
    assert!(closed, "pid {pid} still holds TCP connections after 5 s: {open:?}");
}

/// Open descriptors of `pid` once it holds no TCP connection (a connection the test just
/// closed would count).
pub fn settled_fds(pid: u32) -> usize {
    connections_closed(pid);
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Send one request on a fresh connection (`connection: close`) and read the whole response.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_request(addr, method, path, headers, body).expect("request")
}

/// [`request`], with connection errors returned (chaos tests count them).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    if raw.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without a response",
        ));
    }
    Ok(parse_response(&raw))
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// A keep-alive connection for load: requests with content-length bodies, responses read
/// by their content-length (every gateway response but a stream has one).
pub struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(KeepAlive {
            addr,
            reader: BufReader::new(s),
        })
    }

    /// POST `body` to `path`; the status and the `x-policy-config-version` header.
    pub fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut len, mut version) = (0usize, String::new());
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "x-policy-config-version" => version = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok((status, version))
    }
}

/// What the loopback upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which connection it came on: the upstream's count of accepted connections, from 1.
    pub conn: usize,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A real HTTP/1.1 upstream on 127.0.0.1 speaking the OpenAI format. A body containing
/// `__slow__` is answered after 2 s; `__close__`, with `connection: close` and the connection
/// closed; `"stream":true` gets three server-sent events 300 ms
/// apart, chunked.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().map_while(Result::ok).enumerate() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve_upstream(n + 1, stream, log));
            }
        });
        Upstream { addr, seen }
    }

    /// How many connections the requests seen so far came on.
    pub fn connections(&self) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|s| s.conn)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream saw a request")
    }
}

fn serve_upstream(conn: usize, stream: TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let mut headers = Vec::new();
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "content-length" {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).to_string();
        log.lock().unwrap().push(Seen {
            conn,
            path: path.clone(),
            headers,
            body: body.clone(),
        });
        if body.contains("__slow__") {
            // Slow on purpose: the request must stay in flight (a timeout, a drain) for a while.
            std::thread::sleep(Duration::from_secs(2));
        }
        let s = reader.get_mut();
        if body.contains("\"stream\":true") {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
            for (i, word) in ["Hello", " from", " upstream"].iter().enumerate() {
                let event = format!(
                    "data: {{\"id\":\"up\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"finish_reason\":null}}]}}\n\n"
                );
                let _ = write!(s, "{:x}\r\n{event}\r\n", event.len());
                let _ = s.flush();
                if i < 2 {
                    // Paced on purpose: the stream stays open between events (drain, in flight).
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
            let done = "data: [DONE]\n\n";
            let _ = write!(s, "{:x}\r\n{done}\r\n0\r\n\r\n", done.len());
            continue;
        }
        if path == "/v1/messages" {
            // The Anthropic Messages API.
            let reply = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","stop_reason":"end_turn","content":[{"type":"text","text":"from anthropic"}],"usage":{"input_tokens":4,"output_tokens":2}}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            );
            continue;
        }
        let reply = r#"{"id":"up-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"from upstream"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let close = body.contains("__close__");
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-upstream: yes\r\n{}content-length: {}\r\n\r\n{reply}",
            if close { "connection: close\r\n" } else { "" },
            reply.len()
        );
        if close {
            return;
        }
    }
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The finished lines of a JSON Lines file, parsed (a last line the writer has not ended with
/// its newline yet is left out, so tests may poll a file being appended to; a torn line
/// anywhere else fails the test).
pub fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text[..text.rfind('\n').map_or(0, |i| i + 1)]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line ({e}): {l}")))
        .collect()
}

/// The finished lines of the JSON Lines file at `path` once `ready` holds for them. The
/// gateway writes its audit and record files on a thread of its own, behind the responses, so
/// a test waits for the lines it expects (up to 5 s) before it reads them; after that it fails
/// showing what the file held.
pub fn lines_once(path: &Path, ready: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    let done = eventually(Duration::from_secs(5), || {
        lines = read_lines(path);
        ready(&lines)
    });
    assert!(done, "{}: {lines:#?}", path.display());
    lines
}
