//! Append-only JSON Lines files: the audit log and the `--record` traffic file.
//!
//! Owns the writing only, on one thread of its own, so request handlers never wait on a disk.
//! Every event is serialised to one whole line before it is queued; the writer appends whole
//! lines only (one `write_all` per batch of complete lines on a file opened with `O_APPEND`),
//! so lines are never interleaved or cut, even with another process appending to the same file.
//! What is written, and when, is decided by the callers (data plane, reload pipeline).
//!
//! Audit writes are watched ([`AuditState`]): a failed write is counted and marks the audit log
//! not writing until a later write succeeds; the first failure is logged at once, then one
//! summary line per [`SUMMARY_EVERY`] while failures go on (never a line per request), and the
//! recovery once. The data plane reads the state to refuse requests under `on_failure: closed`.
//!
//! Audit logs are rotated by day and kept for `audit-logger.retention_days` ([`Retention`]):
//! the first event of a new UTC day moves the file to `PATH.YYYY-MM-DD` (the day it holds) and
//! deletes the rotated files of days past the retention, so no record older than that stays.
//! A day is read from the event's own time, which the caller passes: the clock is an input.
//!
//! Also the process's operator log (`log`): plain lines on stderr, timestamped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// While audit writes keep failing, one log line per this interval.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

enum Msg {
    /// A line, and for an audit event the day it belongs to and how long it is kept.
    Line(PathBuf, Vec<u8>, Option<Retention>),
    Flush(mpsc::Sender<()>),
}

/// When an audit event happened and how long its log keeps events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The event's UTC day (days since the epoch).
    pub day: i64,
    /// `audit-logger.retention_days`: rotated files of days older than this many are deleted.
    pub keep_days: u32,
}

impl Retention {
    /// The retention of an event at `at_ms` (milliseconds since the epoch) kept `keep_days`.
    pub fn at(at_ms: i64, keep_days: u32) -> Retention {
        Retention {
            day: at_ms.div_euclid(86_400_000),
            keep_days,
        }
    }
}

/// Whether audit events are being written.
#[derive(Debug)]
pub struct AuditState {
    writing: AtomicBool,
    errors: AtomicU64,
    /// The last error, and the logging state: when the last line was logged, and the errors
    /// counted at that time.
    last: Mutex<(Option<String>, Option<Instant>, u64)>,
}

impl Default for AuditState {
    fn default() -> Self {
        AuditState {
            writing: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            last: Mutex::new((None, None, 0)),
        }
    }
}

impl AuditState {
    /// `false` from a failed audit write until one succeeds.
    pub fn writing(&self) -> bool {
        self.writing.load(Ordering::Relaxed)
    }

    /// Audit events that could not be written.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The last write error, while not writing.
    pub fn error(&self) -> Option<String> {
        if self.writing() {
            return None;
        }
        self.last.lock().expect("audit state lock").0.clone()
    }

    /// Count `events` lost to `e` at `now`; the log line to write, if one is due: the first
    /// failure at once, then a summary at most every [`SUMMARY_EVERY`].
    fn failed(&self, path: &std::path::Path, events: u64, e: &std::io::Error, now: Instant) -> Option<String> {
        let total = self.errors.fetch_add(events, Ordering::Relaxed) + events;
        let was_writing = self.writing.swap(false, Ordering::Relaxed);
        let mut last = self.last.lock().expect("audit state lock");
        last.0 = Some(e.to_string());
        let line = if was_writing {
            format!(
                "audit events cannot be written to {}: {e}; counting them in \
                 gateway_audit_write_errors_total (a summary every {} s until writes succeed)",
                path.display(),
                SUMMARY_EVERY.as_secs()
            )
        } else if last.1.is_none_or(|t| now.duration_since(t) >= SUMMARY_EVERY) {
            format!(
                "audit writes to {} still failing: {} more events not written ({total} in all): {e}",
                path.display(),
                total - last.2
            )
        } else {
            return None;
        };
        last.1 = Some(now);
        last.2 = total;
        Some(line)
    }

    fn succeeded(&self, path: &std::path::Path) {
        if !self.writing.swap(true, Ordering::Relaxed) {
            log(
                "INFO",
                &format!(
                    "audit writes to {} succeed again ({} events were not written)",
                    path.display(),
                    self.errors()
                ),
            );
        }
    }
}

/// The handle request handlers and the reload pipeline append through.
#[derive(Debug)]
pub struct Journal {
    tx: mpsc::Sender<Msg>,
    /// The audit log's write state.
    pub audit: Arc<AuditState>,
}

impl Journal {
    /// Start the writer thread. It ends with the process: `flush` at shutdown writes what
    /// is queued.
    pub fn start() -> Journal {
        let (tx, rx) = mpsc::channel::<Msg>();
        let audit = Arc::new(AuditState::default());
        let state = Arc::clone(&audit);
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_loop(rx, &state))
            .expect("spawn the journal thread");
        Journal { tx, audit }
    }

    /// Queue one JSON value as one line of `path` (the `--record` file).
    pub fn append(&self, path: &std::path::Path, event: &serde_json::Value) {
        self.queue(path, event, None);
    }

    /// Queue one audit event, happening now, as one line of `path`, whose events are kept
    /// `keep_days`; its outcome moves [`Journal::audit`].
    pub fn audit(&self, path: &std::path::Path, keep_days: u32, event: &serde_json::Value) {
        self.audit_at(path, Retention::at(now_ms(), keep_days), event);
    }

    /// [`Journal::audit`] for an event of a given day (the tests' clock).
    pub fn audit_at(&self, path: &std::path::Path, retention: Retention, event: &serde_json::Value) {
        self.queue(path, event, Some(retention));
    }

    fn queue(&self, path: &std::path::Path, event: &serde_json::Value, retention: Option<Retention>) {
        let mut line = serde_json::to_vec(event).expect("a JSON value serialises");
        line.push(b'\n');
        // The writer only stops after every handle is dropped, so this cannot fail.
        let _ = self.tx.send(Msg::Line(path.to_path_buf(), line, retention));
    }

    /// Wait until everything queued so far is on disk (tests and shutdown read the files).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Msg>, audit: &AuditState) {
    let mut files: HashMap<PathBuf, File> = HashMap::new();
    // The day each audit file holds, once known.
    let mut days: HashMap<PathBuf, i64> = HashMap::new();
    let mut batches: Vec<(PathBuf, Vec<u8>, Option<Retention>)> = Vec::new();
    let mut waiters = Vec::new();
    while let Ok(first) = rx.recv() {
        // Take everything already queued, then write one batch per file (and day).
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(path, line, retention) => {
                    let same = |(p, _, r): &&mut (PathBuf, Vec<u8>, Option<Retention>)| {
                        *p == path && r.map(|r| r.day) == retention.map(|r| r.day)
                    };
                    match batches.iter_mut().rev().find(same) {
                        Some((_, buf, _)) => buf.extend_from_slice(&line),
                        None => batches.push((path, line, retention)),
                    }
                }
                Msg::Flush(w) => waiters.push(w),
            }
            next = rx.try_recv().ok();
        }
        for (path, buf, retention) in batches.drain(..) {
            let is_audit = retention.is_some();
            if let Some(r) = retention {
                if let Err(e) = rotate(&mut files, &mut days, &path, r) {
                    log("WARN", &format!("cannot rotate the audit log {}: {e}", path.display()));
                }
            }
            match append(&mut files, &path, &buf) {
                Ok(()) if is_audit => audit.succeeded(&path),
                Ok(()) => {}
                Err(e) => {
                    // Reopened on the next write: the file may have been replaced meanwhile.
                    files.remove(&path);
                    if is_audit {
                        let events = buf.iter().filter(|b| **b == b'\n').count() as u64;
                        if let Some(line) = audit.failed(&path, events, &e, Instant::now()) {
                            log("ERROR", &line);
                        }
                    } else {
                        log("ERROR", &format!("cannot append to {}: {e}", path.display()));
                    }
                }
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Before an event of `r.day` is appended to `path`: when the file holds an earlier day, move
/// it to `PATH.YYYY-MM-DD` (that day) and delete rotated files older than `r.keep_days`. The
/// day a file holds is its first event's, read once from the file (a restart continues it).
fn rotate(
    files: &mut HashMap<PathBuf, File>,
    days: &mut HashMap<PathBuf, i64>,
    path: &PathBuf,
    r: Retention,
) -> std::io::Result<()> {
    // Only a plain file is rotated: a symlink (to /dev/full, to a file another tool rotates),
    // a pipe or a device is the operator's arrangement, and renaming it would undo it.
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Ok(()),
        _ => {}
    }
    let held = match days.get(path) {
        Some(day) => *day,
        None => match first_day(path) {
            Some(day) => day,
            None => {
                days.insert(path.clone(), r.day);
                return Ok(());
            }
        },
    };
    if r.day <= held {
        // The same day, or an event stamped earlier (a clock stepped back): append.
        days.insert(path.clone(), held);
        return Ok(());
    }
    files.remove(path);
    let rotated = rotated_name(path, held);
    if rotated.exists() {
        // That day was rotated already (a clock stepped back and forth): add to it.
        let text = std::fs::read(path)?;
        OpenOptions::new().append(true).open(&rotated)?.write_all(&text)?;
        std::fs::remove_file(path)?;
    } else {
        std::fs::rename(path, &rotated)?;
    }
    days.insert(path.clone(), r.day);
    prune(path, r)
}

/// Delete `path`'s rotated files of days before `r.day - r.keep_days`.
fn prune(path: &std::path::Path, r: Retention) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(());
    };
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{name}.");
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file = entry.file_name();
        let Some(date) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(day) = policy_contract::time::parse_rfc3339(&format!("{date}T00:00:00Z")) else {
            continue;
        };
        if day.div_euclid(86_400_000) < r.day - i64::from(r.keep_days) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// `PATH.YYYY-MM-DD` for `day`.
fn rotated_name(path: &std::path::Path, day: i64) -> PathBuf {
    let date = policy_contract::time::format_rfc3339(day * 86_400_000);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}", &date[..10]));
    PathBuf::from(name)
}

/// The UTC day of the first event in `path` (its `ts`), if the file has one.
fn first_day(path: &std::path::Path) -> Option<i64> {
    use std::io::{BufRead, Read};
    let mut line = String::new();
    // One line, and no more than an event can be: a file with no line break reads no further.
    std::io::BufReader::new(File::open(path).ok()?.take(1 << 20))
        .read_line(&mut line)
        .ok()?;
    let event: serde_json::Value = serde_json::from_str(&line).ok()?;
    let at = policy_contract::time::parse_rfc3339(event.get("ts")?.as_str()?)?;
    Some(at.div_euclid(86_400_000))
}

fn append(files: &mut HashMap<PathBuf, File>, path: &PathBuf, buf: &[u8]) -> std::io::Result<()> {
    if !files.contains_key(path) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        files.insert(path.clone(), f);
    }
    let f = files.get_mut(path).expect("just inserted");
    let mut written = 0;
    while written < buf.len() {
        match f.write(&buf[written..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // A write cut short (a disk that filled midway) must not leave half a line: cut
                // back what this batch wrote. Only when the file ends where our write ended:
                // another process appending to the same file (a restart's handover) may have
                // written after it, and its lines are not ours to cut.
                let end = f.stream_position().ok();
                let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                if let (Some(end), Some(len)) = (end, len) {
                    if written > 0 && end == len {
                        let _ = f.set_len(end - written as u64);
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// One operator log line on stderr: `2026-11-22T10:00:00.123Z INFO message`.
pub fn log(level: &str, message: &str) {
    let ts = policy_contract::time::format_rfc3339(now_ms());
    eprintln!("{ts} {level:<5} {message}");
}

/// Wall-clock milliseconds since the epoch (the engine's clock and every timestamp written).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forty days of events, kept thirty: the file holds today's, each of the thirty days
    /// before has its rotated file, older ones are gone; a new writer (a restart) continues
    /// the same file, reading the day it holds from its first event.
    #[test]
    fn audit_logs_rotate_by_day_and_keep_retention_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let first = 20_400; // 2025-11-08
        let event = |day: i64| {
            let ts = policy_contract::time::format_rfc3339(day * 86_400_000 + 3_600_000);
            serde_json::json!({"event": "request", "ts": ts})
        };
        let journal = Journal::start();
        for day in first..first + 20 {
            journal.audit_at(&path, Retention { day, keep_days: 30 }, &event(day));
            journal.flush();
        }
        drop(journal);
        let journal = Journal::start();
        for day in first + 20..first + 40 {
            journal.audit_at(&path, Retention { day, keep_days: 30 }, &event(day));
            journal.audit_at(&path, Retention { day, keep_days: 30 }, &event(day));
            journal.flush();
        }
        let last = first + 39;
        let today = std::fs::read_to_string(&path).unwrap();
        assert_eq!(today.lines().count(), 2, "{today}");
        for day in first..last {
            let rotated = rotated_name(&path, day);
            assert_eq!(rotated.exists(), day >= last - 30, "{}", rotated.display());
        }
        let kept = std::fs::read_to_string(rotated_name(&path, last - 1)).unwrap();
        assert!(!kept.is_empty());
        assert!(kept
            .lines()
            .all(|l| l.contains(&policy_contract::time::format_rfc3339((last - 1) * 86_400_000)[..10])));
    }

    /// `audit-logger.retention_days` as a config sets it is what the rotation keeps.
    #[test]
    fn the_configs_retention_days_is_what_rotation_keeps() {
        let config = "pack: {name: a, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicies: {chain: [audit-logger]}\npolicy: {audit-logger: {retention_days: 2}}\n";
        let origin = policy_contract::admin::Origin::file("a.yaml", String::new());
        let overrides = crate::state::Overrides::default();
        let active = crate::candidate::prepare("a.yaml", config.as_bytes(), None, &overrides, origin)
            .ok()
            .expect("the config loads")
            .active;
        assert_eq!(active.audit_keep_days(), 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let journal = Journal::start();
        let first = 20_400;
        for day in first..first + 6 {
            let ts = policy_contract::time::format_rfc3339(day * 86_400_000);
            let retention = Retention {
                day,
                keep_days: active.audit_keep_days(),
            };
            journal.audit_at(&path, retention, &serde_json::json!({"event": "request", "ts": ts}));
            journal.flush();
        }
        let rotated: Vec<i64> = (first..first + 5)
            .filter(|d| rotated_name(&path, *d).exists())
            .collect();
        assert_eq!(rotated, [first + 3, first + 4], "two days kept besides today");
    }

    /// One line for the first failure, none per later failure within the interval, one
    /// summary per interval after it, and the count of every lost event.
    #[test]
    fn audit_failures_are_logged_once_then_once_per_interval() {
        let state = AuditState::default();
        let (path, full) = (std::path::Path::new("a.jsonl"), std::io::Error::from_raw_os_error(28));
        let t0 = Instant::now();
        let first = state.failed(path, 3, &full, t0).expect("the first failure is logged");
        assert!(first.contains("cannot be written to a.jsonl"), "{first}");
        for i in 1..1000 {
            assert_eq!(state.failed(path, 1, &full, t0 + Duration::from_millis(i * 9)), None);
        }
        let summary = state
            .failed(path, 1, &full, t0 + SUMMARY_EVERY)
            .expect("a summary per interval");
        assert!(
            summary.contains("1000 more events not written (1003 in all)"),
            "{summary}"
        );
        assert_eq!(
            state.failed(path, 1, &full, t0 + SUMMARY_EVERY + Duration::from_secs(1)),
            None
        );
        assert_eq!((state.writing(), state.errors()), (false, 1004));
        state.succeeded(path);
        assert!(state.writing() && state.error().is_none());
    }
}
