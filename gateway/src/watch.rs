//! `--watch`: reload when the config file changes on disk, and keep watching whatever happens
//! to the folder.
//!
//! Watches the file's directory, not the file: editors save by writing a temp file and
//! renaming it over the original, and Kubernetes updates a mounted ConfigMap by swapping a
//! `..data` symlink, and both replace the inode a file watch would follow. Only create, modify
//! and remove events count (not reads or metadata-only access); a burst of them is debounced
//! into one reload, and the pipeline skips bytes identical to the active config's source
//! (counted as `gateway_config_watch_skipped_total`, so a skip is seen, not inferred from
//! silence).
//!
//! A watch dies with its directory (a ConfigMap volume remounted, a deploy that replaces the
//! folder). A supervisor checks the directory's identity every [`CHECK_EVERY`]: while it is
//! gone, `gateway_config_watcher_running` is 0 and the active config keeps serving; when a
//! directory is back at that path, the watch is set up again and the file reloaded. Watch
//! errors count as `gateway_config_reload_errors_total{error_type="io"}`.

use crate::journal::log;
use crate::metrics::{ReloadError, WatchState};
use crate::reload::{self, Source, Trigger};
use crate::state::Gateway;
use notify::{EventKind, RecursiveMode, Watcher};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Quiet time after the last event before reloading: an editor's save (write temp, fsync,
/// rename) or a ConfigMap swap completes well within it, and a human does not notice it.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// How often the supervisor checks that the watched directory is still the one watched.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// What reaches the reload loop.
enum Event {
    /// The file (or a `..data` swap) changed.
    Changed,
    /// The watch reported an error.
    Failed(String),
}

/// Start watching (before the serving line: a change written after it is never missed). The
/// watch lives in a task for the life of the process.
pub fn start(gw: Arc<Gateway>) -> notify::Result<()> {
    let path = std::path::absolute(&gw.config_path).unwrap_or_else(|_| gw.config_path.clone());
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| ".".into());
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    // Set by the watch when the directory itself is removed: a directory recreated between
    // two checks can get the same device and inode numbers back.
    let lost = Arc::new(AtomicBool::new(false));
    let mut watcher = Some(watch(&dir, name.clone(), tx.clone(), Arc::clone(&lost))?);
    let mut watched = identity(&dir);
    gw.metrics.set_watcher(WatchState::Running);
    log("INFO", &format!("watching {} for changes", dir.display()));

    let reloader = Arc::clone(&gw);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut failed = matches!(first, Event::Failed(_)).then_some(first);
            // Debounce: wait until no event arrived for DEBOUNCE.
            while let Ok(Some(e)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                if let Event::Failed(_) = e {
                    failed = Some(e);
                }
            }
            if let Some(Event::Failed(e)) = failed {
                reloader.metrics.reload_error(ReloadError::Io);
                log("WARN", &format!("watch: {e}"));
            }
            if !reloader.config_path.exists() {
                log(
                    "WARN",
                    &format!(
                        "watch: {} is gone; still serving the active config",
                        reloader.config_path.display()
                    ),
                );
                continue;
            }
            reload::reload(&reloader, Source::File, Trigger::Watch).await;
        }
    });

    // The supervisor: re-arm the watch when the directory is replaced or comes back.
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        // A failing re-arm is logged and counted once, not every check.
        let mut failing = false;
        loop {
            ticks.tick().await;
            let now = identity(&dir);
            if now == watched && watcher.is_some() && !lost.swap(false, Ordering::Relaxed) {
                continue;
            }
            watcher = None;
            let Some(id) = now else {
                if gw.metrics.set_watcher(WatchState::Stopped) == WatchState::Running {
                    gw.metrics.reload_error(ReloadError::Io);
                    log(
                        "WARN",
                        &format!(
                            "watch: {} is gone; still serving the active config, watching for it to come back",
                            dir.display()
                        ),
                    );
                }
                watched = None;
                continue;
            };
            match watch(&dir, name.clone(), tx.clone(), Arc::clone(&lost)) {
                Ok(w) => {
                    watcher = Some(w);
                    watched = Some(id);
                    failing = false;
                    gw.metrics.set_watcher(WatchState::Running);
                    log("INFO", &format!("watch: {} is back; watching it again", dir.display()));
                    // What changed while nothing watched.
                    let _ = tx.send(Event::Changed);
                }
                Err(e) => {
                    gw.metrics.set_watcher(WatchState::Stopped);
                    if !std::mem::replace(&mut failing, true) {
                        gw.metrics.reload_error(ReloadError::Io);
                        log("WARN", &format!("watch: cannot watch {}: {e}; retrying", dir.display()));
                    }
                }
            }
        }
    });
    Ok(())
}

/// The directory's device and inode: a new directory at the same path has a new one.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

/// A watch on `dir` that sends [`Event::Changed`] for `name` (or a `..data`-style swap).
fn watch(
    dir: &Path,
    name: std::ffi::OsString,
    tx: UnboundedSender<Event>,
    lost: Arc<AtomicBool>,
) -> notify::Result<notify::RecommendedWatcher> {
    let watched = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Event::Failed(e.to_string()));
                return;
            }
        };
        if matches!(event.kind, EventKind::Remove(_)) && event.paths.contains(&watched) {
            lost.store(true, Ordering::Relaxed);
        }
        let relevant_kind = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) && !matches!(event.kind, EventKind::Modify(notify::event::ModifyKind::Metadata(_)));
        // The file itself, or a Kubernetes `..data`-style swap that replaces it.
        let relevant_path = event.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| n == name || n.to_string_lossy().starts_with(".."))
        });
        if relevant_kind && relevant_path {
            let _ = tx.send(Event::Changed);
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
