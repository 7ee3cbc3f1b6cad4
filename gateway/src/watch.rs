//! `--watch`: reload when the config file changes on disk.
//!
//! Watches the file's directory, not the file: editors save by writing a temp file and
//! renaming it over the original, and Kubernetes updates a mounted ConfigMap by swapping a
//! `..data` symlink, and both replace the inode a file watch would follow. Only create, modify
//! and remove events count (not reads or metadata-only access); a burst of them is debounced
//! into one reload, and the pipeline skips bytes identical to the active config's source.

use crate::journal::log;
use crate::reload::{self, Source, Trigger};
use crate::state::Gateway;
use notify::{EventKind, RecursiveMode, Watcher};
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last event before reloading: an editor's save (write temp, fsync,
/// rename) or a ConfigMap swap completes well within it, and a human does not notice it.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Start watching; the returned watcher must live as long as watching should.
pub fn start(gw: Arc<Gateway>) -> notify::Result<notify::RecommendedWatcher> {
    let path = std::path::absolute(&gw.config_path).unwrap_or_else(|_| gw.config_path.clone());
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
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
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: wait until no event arrived for DEBOUNCE.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            if !gw.config_path.exists() {
                log(
                    "WARN",
                    &format!(
                        "watch: {} is gone; still serving the active config",
                        gw.config_path.display()
                    ),
                );
                continue;
            }
            reload::reload(&gw, Source::File, Trigger::Watch).await;
        }
    });
    log("INFO", &format!("watching {} for changes", dir.display()));
    Ok(watcher)
}
