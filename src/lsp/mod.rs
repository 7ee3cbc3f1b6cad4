//! `policy lsp`: a language server over stdio for policy config files.
//!
//! ```text
//! mod.rs       the server: the message loop, the open documents, the lint worker
//! position.rs  our positions <-> LSP's (0-based, UTF-16), parents by indentation
//! features.rs  diagnostics, hover, completion, code actions
//! ```
//!
//! Built on `lsp-server` (the framing and stdio threads rust-analyzer uses, synchronous, no
//! runtime) with the few LSP messages written as JSON here. Linting runs on one worker thread:
//! a change is queued, the worker waits until edits pause (a debounce), lints the newest
//! text of each document and publishes its diagnostics, so a large file never blocks hover or
//! completion on the message loop. Diagnostics are exactly `policy lint`'s (same codes,
//! messages and ranges, converted to LSP positions).

mod features;
pub mod position;

use lsp_server::{Connection, Message, Notification, Request, Response};
use policy_lint::{self as lint, FileReport};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long edits must pause before a document is linted again.
const DEBOUNCE: Duration = Duration::from_millis(120);

/// An open document: its text and version, and the report of the text last linted.
#[derive(Default)]
struct Open {
    text: String,
    version: Option<i64>,
    /// The text that `report` belongs to, and its report.
    linted: Option<(String, Arc<FileReport>)>,
}

type Docs = Arc<Mutex<HashMap<String, Open>>>;

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The client broke the protocol or the pipe.
    #[error("language server: {0}")]
    Protocol(String),
}

fn capabilities() -> Value {
    json!({
        "positionEncoding": "utf-16",
        "textDocumentSync": {"openClose": true, "change": 1},
        "hoverProvider": true,
        "completionProvider": {"triggerCharacters": [":", " ", "-"]},
        "codeActionProvider": {"codeActionKinds": ["quickfix"]},
    })
}

/// Serve over stdin/stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), LspError> {
    let (connection, io_threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io_threads.join().map_err(|e| LspError::Protocol(e.to_string()))
}

/// Serve one connection (stdio, or an in-memory one in tests).
pub fn serve(connection: &Connection) -> Result<(), LspError> {
    let init =
        json!({"capabilities": capabilities(), "serverInfo": {"name": "policy", "version": env!("CARGO_PKG_VERSION")}});
    let (id, _params) = connection
        .initialize_start()
        .map_err(|e| LspError::Protocol(e.to_string()))?;
    connection
        .initialize_finish(id, init)
        .map_err(|e| LspError::Protocol(e.to_string()))?;
    let docs: Docs = Arc::default();
    let (queue, pending) = mpsc::channel::<String>();
    let worker = {
        let docs = Arc::clone(&docs);
        let sender = connection.sender.clone();
        std::thread::spawn(move || lint_worker(&pending, &docs, &sender))
    };
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| LspError::Protocol(e.to_string()))?
                {
                    break;
                }
                let response = match req.method.as_str() {
                    "textDocument/hover" | "textDocument/completion" | "textDocument/codeAction" => {
                        Response::new_ok(req.id.clone(), answer(&req, &docs))
                    }
                    // What this server does not offer (pull diagnostics, formatting, …).
                    other => Response::new_err(
                        req.id.clone(),
                        lsp_server::ErrorCode::MethodNotFound as i32,
                        format!("policy lsp does not offer {other}"),
                    ),
                };
                let _ = connection.sender.send(Message::Response(response));
            }
            Message::Notification(n) => {
                if let Some(uri) = update(&n, &docs) {
                    let _ = queue.send(uri);
                }
            }
            Message::Response(_) => {}
        }
    }
    drop(queue);
    let _ = worker.join();
    Ok(())
}

/// Apply an open/change/close notification; the URI to lint again, if any.
fn update(n: &Notification, docs: &Docs) -> Option<String> {
    let uri = n.params["textDocument"]["uri"].as_str()?.to_string();
    let version = n.params["textDocument"]["version"].as_i64();
    let mut docs = docs.lock().ok()?;
    match n.method.as_str() {
        "textDocument/didOpen" => {
            let text = n.params["textDocument"]["text"].as_str()?.to_string();
            docs.insert(
                uri.clone(),
                Open {
                    text,
                    version,
                    linted: None,
                },
            );
            Some(uri)
        }
        "textDocument/didChange" => {
            // Full sync: the last change holds the whole text.
            let text = n.params["contentChanges"].as_array()?.last()?["text"]
                .as_str()?
                .to_string();
            let doc = docs.entry(uri.clone()).or_default();
            doc.text = text;
            doc.version = version;
            Some(uri)
        }
        "textDocument/didClose" => {
            docs.remove(&uri);
            None
        }
        _ => None,
    }
}

/// Lint what changed, once edits pause; publish the diagnostics.
fn lint_worker(pending: &mpsc::Receiver<String>, docs: &Docs, sender: &crossbeam_channel::Sender<Message>) {
    while let Ok(first) = pending.recv() {
        let mut uris = vec![first];
        while let Ok(more) = pending.recv_timeout(DEBOUNCE) {
            if !uris.contains(&more) {
                uris.push(more);
            }
        }
        for uri in uris {
            let Some((text, version)) = docs
                .lock()
                .ok()
                .and_then(|d| d.get(&uri).map(|o| (o.text.clone(), o.version)))
            else {
                continue;
            };
            let path = uri.rsplit('/').next().unwrap_or(&uri).to_string();
            let report = Arc::new(lint::lint_source(&path, text.as_str()));
            let params = features::diagnostics(&uri, version, &text, &report);
            if let Ok(mut d) = docs.lock() {
                if let Some(open) = d.get_mut(&uri) {
                    open.linted = Some((text, Arc::clone(&report)));
                }
            }
            let _ = sender.send(Message::Notification(Notification::new(
                "textDocument/publishDiagnostics".into(),
                params,
            )));
        }
    }
}

/// The result of a request.
fn answer(req: &Request, docs: &Docs) -> Value {
    let uri = req.params["textDocument"]["uri"].as_str().unwrap_or_default();
    let Some((text, linted)) = docs
        .lock()
        .ok()
        .and_then(|d| d.get(uri).map(|o| (o.text.clone(), o.linted.clone())))
    else {
        return Value::Null;
    };
    match req.method.as_str() {
        "textDocument/hover" => features::hover(&text, &req.params["position"]),
        "textDocument/completion" => features::completion(&text, &req.params["position"]),
        "textDocument/codeAction" => {
            // Fixes are spans of the text they were computed on: a newer text gets a lint of
            // its own first (cheap next to an editor's round trip).
            let report = match linted {
                Some((t, r)) if t == text => r,
                _ => {
                    let path = uri.rsplit('/').next().unwrap_or(uri);
                    Arc::new(lint::lint_source(path, text.as_str()))
                }
            };
            features::code_actions(uri, &text, &report, &req.params["range"])
        }
        _ => Value::Null,
    }
}
