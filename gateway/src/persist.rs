//! What the gateway keeps in `--state-dir` (files and atomic writes: `state_dir.rs`), as the
//! gateway's state sees it: at start, the history to go on from and the revert target
//! ([`restore`]); after an operation, history ([`history_changed`]); after the active config or
//! the revert target changed, both configs' texts ([`configs_changed`]).
//!
//! At start history goes on from the stored operations, and the revert target is the config
//! that was serving before this process's config: the stored active config when the start
//! config differs from it (the file changed while the gateway was down, or a restart applies a
//! new config), else the stored revert target. It is linted and compiled against the start
//! config; if it no longer passes, a warning says so and there is nothing to revert to.
//!
//! What this module does not do: decide anything about reloads (`reload.rs` calls
//! [`history_changed`] and [`configs_changed`] after it has decided), or touch a file itself.

use crate::candidate;
use crate::journal::log;
use crate::state::{Active, Gateway, History, Overrides};
use crate::state_dir::{StateDir, ACTIVE_FILE, HISTORY_FILE, PREVIOUS_FILE};

/// What a start finds in the state dir.
#[derive(Default)]
pub struct Restored {
    /// History to go on from (empty without a readable history file).
    pub history: History,
    /// The revert target, linted and compiled against the start config.
    pub previous: Option<Active>,
}

/// Read what a previous process left in `state`: its history, and the revert target for
/// `first` (the config this process starts with). Problems are logged, never fatal. CPU-bound
/// (compiles the revert target): call before serving.
pub fn restore(state: &StateDir, first: &Active, overrides: &Overrides) -> Restored {
    Restored {
        history: History::resume(state.read_history()),
        previous: revert_target(state, first, overrides),
    }
}

fn revert_target(state: &StateDir, first: &Active, overrides: &Overrides) -> Option<Active> {
    let stored_active = state.read_config(ACTIVE_FILE);
    let (name, text) = match stored_active {
        // The start config is not what was serving: what was serving is the one before it.
        Some(text) if candidate::source_sha(&text) != first.source_sha => (ACTIVE_FILE, text),
        _ => (PREVIOUS_FILE, state.read_config(PREVIOUS_FILE)?),
    };
    if candidate::source_sha(&text) == first.source_sha {
        return None;
    }
    let path = state.dir().join(name);
    let label = path.display().to_string();
    match candidate::prepare(&label, &text, Some(first), overrides, crate::file_origin(&path)) {
        Ok(candidate) => {
            log(
                "INFO",
                &format!(
                    "state dir: revert target {} {} (from {label})",
                    candidate.active.version, candidate.active.hash
                ),
            );
            Some(candidate.active)
        }
        Err(r) => {
            log(
                "WARN",
                &format!(
                    "state dir: the stored revert target {label} no longer passes ({}); nothing to revert to",
                    r.error
                ),
            );
            None
        }
    }
}

/// After an operation was recorded: persist history, when `gw` has a state dir. A failed
/// write is logged; the operation itself stands. Blocks for an fsync (a few milliseconds),
/// once per operation.
pub fn history_changed(gw: &Gateway) {
    if let Some(state) = &gw.state {
        let snapshot = || {
            gw.history
                .lock()
                .expect("history lock")
                .entries
                .iter()
                .cloned()
                .collect()
        };
        if let Err(e) = state.write_history(snapshot) {
            log(
                "ERROR",
                &format!(
                    "state dir: cannot write {}: {e}",
                    state.dir().join(HISTORY_FILE).display()
                ),
            );
        }
    }
}

/// After the active config or the revert target changed (start, applied reload, revert):
/// persist both texts, when `gw` has a state dir. A failed write is logged.
pub fn configs_changed(gw: &Gateway) {
    if let Some(state) = &gw.state {
        let active = gw.active.load_full();
        let previous = gw.previous.lock().expect("previous lock").clone();
        if let Err(e) = state.write_configs(&active.source, previous.as_deref().map(|p| &*p.source)) {
            log(
                "ERROR",
                &format!("state dir: cannot write the configs in {}: {e}", state.dir().display()),
            );
        }
    }
}

/// After the shadow candidate started, changed or stopped: keep its text in the state dir (or
/// remove it), so a process started on the same dir after a crash shadows it again.
pub fn shadow_changed(gw: &Gateway) {
    if let Some(state) = &gw.state {
        if let Err(e) = state.write_shadow(|| gw.shadow.load_full().map(|s| std::sync::Arc::clone(&s.source))) {
            log(
                "ERROR",
                &format!(
                    "state dir: cannot write the shadow candidate in {}: {e}",
                    state.dir().display()
                ),
            );
        }
    }
}
