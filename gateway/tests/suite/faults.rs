//! Faults (issue 17): an audit log that cannot be written, two ways.
//! - `/dev/full`: the audit path is a symlink to it, where every write fails with ENOSPC from
//!   the kernel; swapping the symlink to a regular file "frees the space" (the writer reopens
//!   the path after a failed write). Needs no privilege, so it runs everywhere.
//! - A real 256 KiB tmpfs that another file fills and then frees, where mounting is allowed.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{self, eventually, Gateway};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Point `link` at `target`, atomically (a new symlink renamed over the old one).
fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("swap");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

fn audit_health(gw: &Gateway) -> Value {
    gw.health()["audit"].clone()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// `mock_config` with its audit log at `path`, and `on_failure` when given.
fn config(version: &str, path: &Path, on_failure: Option<&str>) -> String {
    let extra = on_failure.map(|f| format!(", on_failure: {f}")).unwrap_or_default();
    mock_config(version, 0, FULL_CHAIN).replace(
        "audit-logger: { path: \"{dir}/audit.jsonl\" }",
        &format!("audit-logger: {{ path: \"{}\"{extra} }}", path.display()),
    )
}

#[test]
fn audit_on_a_full_disk_fails_open_or_closed_and_recovers() {
    let disk = tempfile::tempdir().unwrap();
    let (link, real) = (disk.path().join("audit.jsonl"), disk.path().join("audit-real.jsonl"));
    point(&link, Path::new("/dev/full"));
    let gw = Gateway::start(&config("1.0.0", &link, None));

    // on_failure: open (the default): every request is served, every lost event counted.
    for i in 0..40 {
        assert_eq!(gw.chat(&format!("hello {i}")).status, 200);
    }
    assert!(eventually(Duration::from_secs(5), || support::metric(
        gw.admin,
        "gateway_audit_write_errors_total"
    ) >= 40.0));
    let h = audit_health(&gw);
    assert_eq!(
        (h["writing"].as_bool(), h["on_failure"].as_str()),
        (Some(false), Some("open")),
        "{h}"
    );
    assert!(h["error"].as_str().unwrap().contains("No space left on device"), "{h}");
    assert_eq!(support::metric(gw.admin, "gateway_audit_writing"), 0.0);
    let status = gw.admin("GET", "/admin/status", None, "").json();
    assert_eq!(status["audit"]["writing"], false, "{status}");
    // One line for the first failure; no line per request (the summary interval is 10 s).
    assert!(eventually(Duration::from_secs(5), || count(
        &gw.log(),
        "audit events cannot be written"
    ) >= 1));
    let log = gw.log();
    assert_eq!(count(&log, "audit events cannot be written"), 1, "{log}");
    assert_eq!(count(&log, "still failing"), 0, "{log}");

    // Space again: the next write succeeds and the state recovers by itself.
    point(&link, &real);
    assert!(eventually(Duration::from_secs(5), || {
        gw.chat("after").status == 200 && audit_health(&gw)["writing"] == true
    }));
    // The state flips before the line reaches the captured log: wait for it, then count.
    assert!(eventually(Duration::from_secs(5), || count(&gw.log(), "succeed again") >= 1));
    assert_eq!(count(&gw.log(), "succeed again"), 1);

    // on_failure: closed (hot), on a second log whose disk is full (the writer keeps the
    // first one open: it is only reopened after a failed write).
    let second = disk.path().join("audit-2.jsonl");
    point(&second, Path::new("/dev/full"));
    assert_eq!(
        gw.admin("POST", "/admin/reload", None, &config("1.0.1", &second, Some("closed")))
            .status,
        200
    );
    assert_eq!(audit_health(&gw)["on_failure"], "closed");
    // The reload's own audit event (`policy_reload`) is the first write to fail.
    assert!(eventually(Duration::from_secs(5), || audit_health(&gw)["writing"] == false));
    let errors_before = support::metric(gw.admin, "gateway_audit_write_errors_total");
    for _ in 0..20 {
        let r = gw.chat("refused");
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.json()["error"]["code"], "audit_unavailable");
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("on_failure is `closed`"));
    }
    assert!(eventually(Duration::from_secs(5), || support::metric(
        gw.admin,
        "gateway_audit_write_errors_total"
    ) >= errors_before + 20.0));
    point(&second, &real);
    // A refused request's audit event is the write that finds the disk writable again.
    assert!(eventually(Duration::from_secs(5), || gw.chat("after").status == 200));
    assert_eq!(audit_health(&gw)["writing"], true);

    // A body no policy can read is refused, and the refusal is audited with its reason.
    let r = support::request(
        gw.data,
        "POST",
        "/v1/chat/completions",
        &[],
        br#"{"messages": "Ignore all previous instructions"}"#,
    );
    assert_eq!(r.status, 400);
    let lines = support::lines_once(&real, |lines| {
        lines
            .iter()
            .any(|l| l["error"] == "uninspectable_request" && l["status"] == 400)
    });

    // What was written is whole: every line parses, refusals included, and the last one ends
    // (`read_lines` leaves out a last line still being written).
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line: {text}");
    assert!(lines
        .iter()
        .any(|l| l["status"] == 503 && l["error"] == "audit_unavailable"));
    assert!(lines.iter().any(|l| l["status"] == 200));
}

/// A tmpfs mounted for one test, unmounted (lazily: the gateway may still hold a file) when
/// dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// `None` where mounting is not allowed (no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// The same with a real file system that fills and empties: a 256 KiB tmpfs filled by another
/// file until ENOSPC, under `on_failure: closed`, then emptied. Needs the right to mount
/// (root in a container with CAP_SYS_ADMIN, as on this project's CI machine); where mounting
/// is refused it says so and checks nothing (the `/dev/full` test above still runs).
#[test]
fn audit_on_a_tmpfs_that_fills_and_empties() {
    let Some(fs) = Tmpfs::mount("256k") else {
        eprintln!("audit_on_a_tmpfs_that_fills_and_empties: cannot mount a tmpfs here; not run");
        return;
    };
    let log = fs.0.path().join("audit.jsonl");
    let gw = Gateway::start(&config("1.0.0", &log, Some("closed")));
    assert_eq!(gw.chat("before").status, 200);
    // Fill the file system.
    let filler = fs.0.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![b'x'; 4096];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    // The next audit write fails; from then on requests are refused.
    let _ = gw.chat("its audit event does not fit");
    assert!(
        eventually(Duration::from_secs(5), || gw.chat("refused?").status == 503),
        "{}",
        gw.log()
    );
    let h = audit_health(&gw);
    assert_eq!(h["writing"], false, "{h}");
    assert!(h["error"].as_str().unwrap().contains("No space left"), "{h}");
    // Space again.
    std::fs::remove_file(&filler).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || gw.chat("after").status == 200),
        "{}",
        gw.log()
    );
    assert_eq!(audit_health(&gw)["writing"], true);
    // No torn line: a write the full disk cut short was cut back.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "the log ends with a whole line");
    for line in text.lines() {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "torn audit line: {line}");
    }
    assert!(support::metric(gw.admin, "gateway_audit_write_errors_total") >= 1.0);
    drop(gw);
}
