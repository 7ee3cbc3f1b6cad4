//! Append-only JSON Lines files: the audit log and the `--record` traffic file.
//!
//! Owns the writing only, on one thread of its own, so request handlers never wait on a disk.
//! Every event is serialised to one whole line before it is queued; the writer appends whole
//! lines only (one `write_all` per batch of complete lines on a file opened with `O_APPEND`),
//! so lines are never interleaved or cut, even with another process appending to the same file.
//! What is written, and when, is decided by the callers (data plane, reload pipeline).
//!
//! Also the process's operator log (`log`): plain lines on stderr, timestamped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

enum Msg {
    Line(PathBuf, Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// The handle request handlers and the reload pipeline append through.
#[derive(Debug)]
pub struct Journal {
    tx: mpsc::Sender<Msg>,
}

impl Journal {
    /// Start the writer thread. It ends with the process: `flush` at shutdown writes what
    /// is queued.
    pub fn start() -> Journal {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_loop(rx))
            .expect("spawn the journal thread");
        Journal { tx }
    }

    /// Queue one JSON value as one line of `path`.
    pub fn append(&self, path: &std::path::Path, event: &serde_json::Value) {
        let mut line = serde_json::to_vec(event).expect("a JSON value serialises");
        line.push(b'\n');
        // The writer only stops after every handle is dropped, so this cannot fail.
        let _ = self.tx.send(Msg::Line(path.to_path_buf(), line));
    }

    /// Wait until everything queued so far is on disk (tests and shutdown read the files).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Msg>) {
    let mut files: HashMap<PathBuf, File> = HashMap::new();
    let mut batches: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut waiters = Vec::new();
    while let Ok(first) = rx.recv() {
        // Take everything already queued, then write one batch per file.
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(path, line) => match batches.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, buf)) => buf.extend_from_slice(&line),
                    None => batches.push((path, line)),
                },
                Msg::Flush(w) => waiters.push(w),
            }
            next = rx.try_recv().ok();
        }
        for (path, buf) in batches.drain(..) {
            if let Err(e) = append(&mut files, &path, &buf) {
                log("ERROR", &format!("cannot append to {}: {e}", path.display()));
                files.remove(&path);
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

fn append(files: &mut HashMap<PathBuf, File>, path: &PathBuf, buf: &[u8]) -> std::io::Result<()> {
    if !files.contains_key(path) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        files.insert(path.clone(), f);
    }
    files.get_mut(path).expect("just inserted").write_all(buf)
}

/// One operator log line on stderr: `2026-11-22T10:00:00.123Z INFO message`.
pub fn log(level: &str, message: &str) {
    let ts = policy::replay::traffic::format_rfc3339(now_ms());
    eprintln!("{ts} {level:<5} {message}");
}

/// Wall-clock milliseconds since the epoch (the engine's clock and every timestamp written).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
