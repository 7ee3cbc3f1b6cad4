//! Command mode's switch, for a gateway this project did not write: put the side's file in
//! place of `--config-path` (by rename), run the operator's `--reload-cmd`, and count the
//! switch only once it is observed — a response carrying the side's attribution value, received
//! after the switch began — within `--switch-timeout`. A command that exits non-zero, hangs
//! (it is killed, with its process group), or exits 0 while the side never answers ("accepted
//! but not applied") is a reload failure. The original file is put back by [`Restore`] on every
//! way out of the run.

use super::analysis::ReloadEvent;
use super::load::Sightings;
use super::options::{CommandMode, Via};
use super::plan::Side;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a failed command's stderr the report keeps (its end).
const STDERR_TAIL: usize = 600;

/// The gateway's config file as it was before the run, put back when dropped.
pub(super) struct Restore {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Restore {
    /// Remember `path` as it is now; `None` when there is no `--config-path`.
    pub(super) fn take(mode: &CommandMode) -> Result<Option<Restore>, String> {
        let Some(path) = &mode.config_path else { return Ok(None) };
        let bytes =
            std::fs::read(path).map_err(|e| format!("--config-path {}: cannot read it: {e}", path.display()))?;
        Ok(Some(Restore {
            path: path.clone(),
            bytes,
        }))
    }
}

impl Restore {
    /// Whether the file as it was is not `bytes`.
    pub(super) fn differs_from(&self, bytes: &[u8]) -> bool {
        self.bytes != bytes
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = super::admin::write_atomically(&self.path, &self.bytes) {
            eprintln!(
                "policy replay --live: could not put {} back as it was: {e}",
                self.path.display()
            );
        }
    }
}

/// What the switcher knows of the attribution values: given, or learned as the run goes.
pub(super) struct Observer {
    /// `None`: no attribution header, a switch is done when the command exits 0.
    pub(super) ids: Option<[Option<String>; 2]>,
    pub(super) sightings: Arc<Sightings>,
    /// The side the gateway was last seen to switch to (A before the first switch).
    pub(super) on: usize,
}

impl Observer {
    /// The value that answers now: the one received last. What A's value is learned as, at the
    /// first switch.
    fn current(&self) -> Option<String> {
        self.sightings
            .snapshot()
            .into_iter()
            .max_by_key(|(_, s)| (s.last_us, s.count))
            .map(|(v, _)| v)
    }

    /// Whether side `to` has answered since `since_us`: its value received after it; a side
    /// whose value is not known yet takes the first value other than the other side's first
    /// received after it (and learns it).
    fn observed(&mut self, to: usize, since_us: u64) -> Option<u64> {
        let ids = self.ids.as_mut()?;
        let seen = self.sightings.snapshot();
        // `since_mark`: the first sighting after the switch began (marked then).
        let after = |s: &super::load::Seen| s.since_mark.filter(|&t| t >= since_us);
        match &ids[to] {
            Some(id) => seen.iter().find(|(v, _)| v == id).and_then(|(_, s)| after(s)),
            None => {
                // A's value must be known before B's can be told from it.
                let other = ids[1 - to].clone()?;
                let (v, at) = seen
                    .into_iter()
                    .filter(|(v, _)| *v != other)
                    .filter_map(|(v, s)| Some((v, after(&s)?)))
                    .min_by_key(|(_, at)| *at)?;
                ids[to] = Some(v);
                Some(at)
            }
        }
    }
}

/// Switch to `sides[to]`: write its file, run the command, wait to observe it. `n` is the
/// switch's number (from 1), `start` the run's start, `stop` the run's end (Ctrl-C).
pub(super) async fn switch(
    mode: &CommandMode,
    sides: &[Side; 2],
    to: usize,
    observer: &mut Observer,
    start: Instant,
    stop: &AtomicBool,
) -> ReloadEvent {
    let side = &sides[to];
    let began = start.elapsed();
    let mut ev = ReloadEvent::begun(side.label, began.as_secs_f64(), Via::Command);
    if to == 1 && observer.ids.as_ref().is_some_and(|ids| ids[0].is_none()) {
        let current = observer.current();
        if let Some(ids) = observer.ids.as_mut() {
            ids[0] = current;
        }
    }
    observer.sightings.mark();
    let result = async {
        if let Some(path) = &mode.config_path {
            super::admin::write_atomically(path, &side.bytes)
                .map_err(|e| format!("cannot write {} to {}: {e}", side.name, path.display()))?;
        }
        let (exit, stderr) = run(mode, if to == 0 { "old" } else { "new" }, mode.switch_timeout).await;
        ev.command_exit = exit;
        let ran = start.elapsed() - began;
        match exit {
            Some(0) => {}
            Some(code) => return Err(format!("the reload command exited {code}{}", tail(&stderr))),
            None => {
                return Err(format!(
                    "the reload command did not finish within {:?} and was killed{}",
                    mode.switch_timeout,
                    tail(&stderr)
                ))
            }
        }
        ev.duration_ms = Some(ran.as_secs_f64() * 1000.0);
        if observer.ids.is_none() {
            ev.observed_ms = ev.duration_ms;
            observer.on = to;
            return Ok(());
        }
        if observer.on == to {
            // The switch away from this side never took effect: the gateway still answers as
            // this side, so this switch cannot be told from one that does nothing.
            return Err(format!(
                "not observed: the gateway never left {} (the previous switch did not take effect), so a switch back to it cannot be told from a reload that does nothing",
                side.label
            ));
        }
        let since = began.as_micros() as u64;
        let deadline = began + mode.switch_timeout;
        loop {
            if let Some(at_us) = observer.observed(to, since) {
                ev.observed_ms = Some((at_us.saturating_sub(since)) as f64 / 1000.0);
                observer.on = to;
                return Ok(());
            }
            let ended = stop.load(Ordering::Relaxed);
            if start.elapsed() >= deadline || ended {
                let ids = observer.ids.as_ref().expect("attribution");
                let value = ids[to].as_deref().map_or("a new value".to_string(), |v| format!("\"{v}\""));
                let within = if ended {
                    format!("before the run ended, {:.0} ms after the switch", (start.elapsed() - began).as_secs_f64() * 1000.0)
                } else {
                    format!("within {:?} of the switch", mode.switch_timeout)
                };
                return Err(format!(
                    "accepted but not applied: the reload command exited 0, but no response carried {value} for {} {within}",
                    side.label
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    .await;
    ev.done_s = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => ev.ok = true,
        Err(e) => ev.error = Some(e),
    }
    ev
}

/// ` (stderr: …)` with the end of a command's stderr, or nothing when it wrote none.
fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        return String::new();
    }
    let cut = t.len().saturating_sub(STDERR_TAIL);
    let start = (cut..=t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(t.len());
    format!(" (stderr: {}{})", if start > 0 { "…" } else { "" }, &t[start..])
}

/// Run the reload command with `POLICY_SIDE=side` (`old`, `new`, or `original` for the reload
/// onto the file put back at the end): its exit status (`None` when it was killed at `limit`)
/// and its stderr.
pub(super) async fn run(mode: &CommandMode, side: &'static str, limit: Duration) -> (Option<i32>, String) {
    let cmd = mode.cmd.clone();
    let path = mode.config_path.clone();
    tokio::task::spawn_blocking(move || run_blocking(&cmd, side, path.as_deref(), limit))
        .await
        .unwrap_or_else(|e| (Some(-1), format!("the reload command's runner failed: {e}")))
}

fn run_blocking(cmd: &str, side: &str, path: Option<&Path>, limit: Duration) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("POLICY_SIDE", side)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so that a command that hangs is killed with its children.
        .process_group(0);
    if let Some(p) = path {
        command.env("POLICY_CONFIG_PATH", p);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return (Some(-1), format!("cannot run sh: {e}")),
    };
    let mut pipe = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(p) = pipe.as_mut() {
            let _ = p.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let group = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw);
                if let Some(g) = group {
                    let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break None,
        }
    };
    // Its stderr ends with it, unless something it started in the background holds it open:
    // then what was written so far is not waited for.
    let stderr = rx.recv_timeout(Duration::from_millis(500)).unwrap_or_default();
    (status.map(|s| s.code().unwrap_or(-1)), stderr)
}
