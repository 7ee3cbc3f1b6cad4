//! `policy lsp` driven over stdio as an editor drives it, with a small JSON-RPC client of the
//! test's own: initialize, didOpen, didChange, hover, completion, codeAction, shutdown, exit.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: mpsc::Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_policy"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("policy lsp");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut len = 0usize;
            loop {
                let mut header = String::new();
                if stdout.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim();
                if header.is_empty() {
                    break;
                }
                if let Some(n) = header.strip_prefix("Content-Length: ") {
                    len = n.parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            if stdout.read_exact(&mut body).is_err() {
                return;
            }
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        });
        Client {
            child,
            stdin,
            incoming,
            next_id: 1,
        }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.incoming.recv_timeout(Duration::from_secs(20)).expect("an answer");
            if msg["id"] == id {
                return msg["result"].clone();
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let msg = self
                .incoming
                .recv_timeout(Duration::from_secs(20))
                .expect("diagnostics");
            if msg["method"] == "textDocument/publishDiagnostics" && msg["params"]["uri"] == uri {
                return msg["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const URI: &str = "file:///tmp/policy-config.yaml";

/// Three problems: an unknown enum value (line 9), a regex that does not compile (line 12), a
/// policy block no chain entry runs (line 14).
const THREE: &str = "pack: { name: lsp, version: 1.0.0 }
providers: { targets: [{ id: m, provider: mock }] }
policies:
  chain: [content-filter]
policy:
  content-filter:
    rules:
      - id: keys
        action: redcat
        pattern: \"sk-[A-Za-z0-9]{20,}\"
      - id: cards
        pattern: \"4[0-9{12}\"
        action: block
  audit-logger:
    path: ./audit.jsonl
    retention_days: 30
";

fn codes(d: &[Value]) -> Vec<(String, u64, u64)> {
    let mut v: Vec<_> = d
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["range"]["start"]["character"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn an_editor_session() {
    let mut c = Client::start();
    let init = c.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
    c.notify("initialized", json!({}));

    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": THREE}}),
    );
    let d = c.diagnostics(URI);
    // Exactly the three problems, at the ranges `policy lint --format json` gives (0-based).
    assert_eq!(
        codes(&d),
        [("P204".into(), 8, 16), ("P304".into(), 11, 19), ("P311".into(), 13, 2)],
        "{d:?}"
    );
    let lint = crate::util::policy(&["lint", "--format", "json", "-"], Some(THREE));
    let lint: Value = serde_json::from_slice(&lint.stdout).unwrap();
    for (got, want) in d.iter().zip(lint["files"][0]["diagnostics"].as_array().unwrap()) {
        assert_eq!(got["message"], want["message"]);
        assert_eq!(
            got["range"]["start"]["line"].as_u64().unwrap() + 1,
            want["line"].as_u64().unwrap()
        );
        assert_eq!(
            got["range"]["end"]["character"].as_u64().unwrap() + 1,
            want["end_column"].as_u64().unwrap()
        );
    }

    // The fix of the enum value, as a code action.
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": {"line": 8, "character": 16}, "end": {"line": 8, "character": 22}}, "context": {"diagnostics": []}}),
    );
    let a = &actions[0];
    assert_eq!(a["title"], "replace `redcat` with `redact`", "{actions}");
    assert_eq!(a["edit"]["changes"][URI][0]["newText"], "redact");
    assert_eq!(
        a["edit"]["changes"][URI][0]["range"]["start"],
        json!({"line": 8, "character": 16})
    );

    // didChange fixes the regex: two remain.
    let fixed = THREE.replace("4[0-9{12}", "4[0-9]{12}");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    let d = c.diagnostics(URI);
    assert_eq!(codes(&d), [("P204".into(), 8, 16), ("P311".into(), 13, 2)]);

    // Hover on `retention_days`: its description from the schema.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 15, "character": 6}}),
    );
    let text = h["contents"]["value"].as_str().unwrap_or_default();
    assert!(text.contains("retention_days") && text.contains("Reload:"), "{h}");
    let doc = policy_config::schema::property("/policy/audit-logger", "retention_days").unwrap()["description"]
        .as_str()
        .unwrap();
    assert!(text.contains(doc), "{text}");

    // Completion after `action: `: exactly the allowed values.
    let with_blank = fixed.replace("        action: block\n", "        action: \n");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": with_blank}]}),
    );
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": {"line": 12, "character": 16}}),
    );
    let mut labels: Vec<&str> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["block", "log", "redact"], "{items}");

    // What the server does not offer is an error, not a silent null.
    let id = c.next_id;
    c.next_id += 1;
    c.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/formatting", "params": {"textDocument": {"uri": URI}, "options": {}}}));
    loop {
        let msg = c.incoming.recv_timeout(Duration::from_secs(20)).expect("an answer");
        if msg["id"] == id {
            assert_eq!(msg["error"]["code"], -32601, "{msg}");
            break;
        }
    }

    assert_eq!(c.request("shutdown", Value::Null), Value::Null);
    c.notify("exit", Value::Null);
    let status = c.child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn a_large_file_gets_its_first_diagnostics_fast() {
    let mut big = String::from(
        "pack: { name: big, version: 1.0.0 }\nproviders: { targets: [{ id: m, provider: mock }] }\npolicies:\n  chain: [content-filter]\npolicy:\n  content-filter:\n    rules:\n",
    );
    for i in 0..10_000 {
        big.push_str(&format!(
            "      - id: rule-{i:05}\n        pattern: \"(?i)\\\\bword{i}[0-9]{{2,8}}\\\\b\"\n        action: block\n        message: \"blocked by content-filter rule {i} of pack\"\n"
        ));
    }
    big.push_str("      - id: rule-00001\n        pattern: \"x\"\n        action: block\n");
    let mut c = Client::start();
    c.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    c.notify("initialized", json!({}));
    let t = Instant::now();
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": big}}),
    );
    // Hover answers while the large file is linted on the worker.
    let h = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 0, "character": 1}}),
    );
    assert!(
        h["contents"]["value"].as_str().unwrap_or_default().contains("pack"),
        "{h}"
    );
    let d = c.diagnostics(URI);
    let took = t.elapsed();
    assert_eq!(codes(&d), [("P303".into(), 40007, 12)]);
    eprintln!("first diagnostics of a {} byte file after {took:?}", big.len());
}
