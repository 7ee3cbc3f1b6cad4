//! Under systemd: the gateway reports READY/RELOADING/STOPPING on `$NOTIFY_SOCKET`, and
//! `deploy/systemd/policy-gateway.service` passes `systemd-analyze verify` without a warning.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{Gateway, Opts};
use policy_replay::process::Signal;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_gateway_notifies_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let path = path.display().to_string();
    let mut gw = Gateway::start_with(
        &mock_config("1.0.0", 0, FULL_CHAIN),
        Opts {
            env: vec![("NOTIFY_SOCKET", &path)],
            ..Opts::default()
        },
    );
    assert_eq!(recv(&socket), format!("READY=1\nMAINPID={}", gw.pid()));
    assert_eq!(gw.admin("POST", "/admin/reload", None, "").status, 200);
    let reloading = recv(&socket);
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    assert_eq!(recv(&socket), "READY=1");
    gw.signal(Signal::TERM);
    assert_eq!(recv(&socket), "STOPPING=1");
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
}

/// `systemd-analyze verify` checks that ExecStart binaries exist: the unit is verified with
/// its `/usr/local/bin` paths pointing at the binaries this build made.
#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let analyze = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("systemd-analyze"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("systemd-analyze is not on PATH: apt-get install systemd (.ci/run does)"));
    let gateway_bin = PathBuf::from(env!("CARGO_BIN_EXE_policy-gateway"));
    let policy_bin = crate::support::policy_bin();
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/policy-gateway.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("/usr/local/bin/policy-gateway ") && text.contains("/usr/local/bin/policy "));
    let text = text
        .replace("/usr/local/bin/policy-gateway ", &format!("{} ", gateway_bin.display()))
        .replace("/usr/local/bin/policy ", &format!("{} ", policy_bin.display()));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("policy-gateway.service");
    std::fs::write(&copy, text).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let about_unit: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.contains("policy-gateway"))
        .collect();
    assert!(
        about_unit.is_empty(),
        "systemd-analyze warns about the unit:\n{}",
        about_unit.join("\n")
    );
}
