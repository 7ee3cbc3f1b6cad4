//! `--state-dir DIR`: what survives the process (docs/operator/state.md) — the operation
//! history and the last known-good configs — so history and `POST /admin/revert` work across a
//! restart, a crash and `kill -9`.
//!
//! ```text
//! DIR/history.json    the operations, oldest first, in the shape of GET /admin/history
//! DIR/active.yaml     the source text of the active config
//! DIR/previous.yaml   the source text of the revert target (absent: nothing to revert to)
//! ```
//!
//! Every file is replaced whole by [`write_atomic`] (temp file in DIR, fsync, rename over,
//! fsync DIR), so a reader — this process after a crash included — finds either the old or
//! the new content, never a mix.
//!
//! This module owns the files and nothing else: it reads and writes operations and config
//! texts as plain data. A file that cannot be read or parsed is a warning naming it, never a
//! failed start. What the texts mean — which stored config is the revert target at start, and
//! when to write (after every recorded operation, and whenever the active config or the revert
//! target changes) — is `persist.rs`'s, which alone knows the gateway's state. It does not
//! coordinate two processes writing the same DIR either. During a zero-drop restart the new
//! process reads history once, at start; an operation the old process records after that is
//! not in the new one's.

use crate::journal::log;
use policy_contract::admin::{self, Operation};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The operations, oldest first.
pub const HISTORY_FILE: &str = "history.json";
/// The active config's source text.
pub const ACTIVE_FILE: &str = "active.yaml";
/// The revert target's source text.
pub const PREVIOUS_FILE: &str = "previous.yaml";
/// The shadow candidate's text, while one runs (`/admin/shadow`).
pub const SHADOW_FILE: &str = "shadow.yaml";

/// Marks this module's temp files (`.NAME.tmp-PID`): a crash can leave one behind, and the
/// next start removes it.
const TMP_MARK: &str = ".tmp-";

/// The state dir this process was started with, set once by [`StateDir::open`].
static PATH: OnceLock<PathBuf> = OnceLock::new();

/// The `--state-dir` this process uses (absolute), if any: what `/admin/status` reports, and
/// what a process that starts a successor (zero-drop restart) passes on with its other
/// arguments.
pub fn path() -> Option<&'static Path> {
    PATH.get().map(PathBuf::as_path)
}

/// Why `--state-dir` cannot be used: a start error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("--state-dir {dir}: {what}: {source}")]
pub struct Unusable {
    /// The directory given.
    pub dir: String,
    /// What failed: creating it, or writing in it.
    pub what: &'static str,
    /// The OS error.
    pub source: io::Error,
}

/// An open, writable state dir.
#[derive(Debug)]
pub struct StateDir {
    /// Absolute path of DIR.
    dir: PathBuf,
    /// One write at a time, so the files always follow the order of the operations.
    writing: Mutex<()>,
}

impl StateDir {
    /// Create `dir` if missing, check that files can be written in it, and remove temp files a
    /// crash left behind.
    pub fn open(dir: &Path) -> Result<StateDir, Unusable> {
        let unusable = |what, source| Unusable {
            dir: dir.display().to_string(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| unusable("cannot create it", e))?;
        let dir = std::path::absolute(dir).map_err(|e| unusable("cannot resolve it", e))?;
        let probe = ".probe";
        write_atomic(&dir, probe, b"").map_err(|e| unusable("cannot write in it", e))?;
        std::fs::remove_file(dir.join(probe)).map_err(|e| unusable("cannot write in it", e))?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.contains(TMP_MARK) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = PATH.set(dir.clone());
        Ok(StateDir {
            dir,
            writing: Mutex::new(()),
        })
    }

    /// Absolute path of DIR, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored operations, oldest first: none when there is no history file, or (logged)
    /// when it cannot be read or parsed.
    pub fn read_history(&self) -> Vec<Operation> {
        let path = self.dir.join(HISTORY_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                log(
                    "WARN",
                    &format!(
                        "state dir: cannot read {}: {e}; starting with empty history",
                        path.display()
                    ),
                );
                return Vec::new();
            }
        };
        match serde_json::from_slice::<admin::History>(&text) {
            Ok(h) => h.operations,
            Err(e) => {
                // Kept aside for a post-mortem: the next write would replace it.
                let aside = self.dir.join(format!("{HISTORY_FILE}.corrupt"));
                let kept = match std::fs::rename(&path, &aside) {
                    Ok(()) => format!(" (kept as {})", aside.display()),
                    Err(_) => String::new(),
                };
                log(
                    "WARN",
                    &format!(
                        "state dir: {} is corrupt ({e}){kept}; starting with empty history",
                        path.display()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// The bytes of config file `name`, if it exists and can be read.
    pub fn read_config(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                log("WARN", &format!("state dir: cannot read {}: {e}", path.display()));
                None
            }
        }
    }

    /// Write the history file with the operations `snapshot` returns, oldest first. It is
    /// called under `writing`, so that of two writes the later snapshot lands last.
    pub fn write_history(&self, snapshot: impl FnOnce() -> Vec<Operation>) -> io::Result<()> {
        let _one = self.writing.lock().expect("state dir lock");
        let snapshot = admin::History { operations: snapshot() };
        let mut text = serde_json::to_vec_pretty(&snapshot).map_err(io::Error::other)?;
        text.push(b'\n');
        write_atomic(&self.dir, HISTORY_FILE, &text)
    }

    /// Write the active config's text and the revert target's (or remove it when there is
    /// none). The revert target goes first: after a crash in between, the stored active config
    /// is still the one that was serving.
    pub fn write_configs(&self, active: &[u8], previous: Option<&[u8]>) -> io::Result<()> {
        let _one = self.writing.lock().expect("state dir lock");
        match previous {
            Some(p) => write_atomic(&self.dir, PREVIOUS_FILE, p)?,
            None => match std::fs::remove_file(self.dir.join(PREVIOUS_FILE)) {
                Ok(()) => sync_dir(&self.dir)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
        }
        write_atomic(&self.dir, ACTIVE_FILE, active)
    }

    /// Write the shadow candidate's text, or remove it when none runs. `current` is read under
    /// the lock, so that of two changes racing, the file ends as the later one left it.
    pub fn write_shadow(&self, current: impl FnOnce() -> Option<std::sync::Arc<[u8]>>) -> io::Result<()> {
        let _one = self.writing.lock().expect("state dir lock");
        match current().as_deref() {
            Some(s) => write_atomic(&self.dir, SHADOW_FILE, s),
            None => match std::fs::remove_file(self.dir.join(SHADOW_FILE)) {
                Ok(()) => sync_dir(&self.dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}

/// Replace `dir/name` with `bytes` so that a reader, or the next process after a crash at any
/// point, sees the old content or the new one and nothing else: write a temp file in `dir`,
/// fsync it, rename it over `name`, fsync `dir` (which makes the rename itself durable).
/// On error the temp file is removed and `name` is untouched.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}{TMP_MARK}{}", std::process::id()));
    let written = (|| {
        // Owner-only: a config's text may say more than its operators want to publish.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// fsync a directory: makes the renames and removals in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "f", b"old content").unwrap();
        write_atomic(dir.path(), "f", b"new").unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "f", b"old").unwrap();
        // The rename cannot replace a non-empty directory: the write fails at its last step.
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/x"), b"").unwrap();
        assert!(write_atomic(dir.path(), "d", b"new").is_err());
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["d", "f"]);
    }

    #[test]
    fn a_concurrent_reader_sees_the_old_or_the_new_content_never_a_mix() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (vec![b'a'; 64 << 10], vec![b'b'; 32 << 10]);
        write_atomic(dir.path(), "f", &a).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, stop, a, b) = (dir.path().join("f"), stop.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let got = std::fs::read(&path).unwrap();
                    assert!(got == a || got == b, "a torn read of {} bytes", got.len());
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..50 {
            write_atomic(dir.path(), "f", if i % 2 == 0 { &b } else { &a }).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn open_creates_the_dir_removes_stale_temp_files_and_refuses_an_unusable_path() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".history.json.tmp-123"), b"torn").unwrap();
        let state = StateDir::open(&dir).unwrap();
        assert!(state.dir.is_absolute());
        assert_eq!(path(), Some(state.dir.as_path()));
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        std::fs::write(root.path().join("file"), b"").unwrap();
        let err = StateDir::open(&root.path().join("file/sub")).unwrap_err();
        assert!(err.to_string().starts_with("--state-dir "), "{err}");
        assert!(err.to_string().contains("cannot create it"), "{err}");
    }
}
