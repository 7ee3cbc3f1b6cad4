//! `--watch` under the kubelet's atomic-writer layout for a ConfigMap volume: the file is a
//! symlink through `..data`, itself a symlink to a timestamped directory; an update writes a
//! new directory, points `..data_tmp` at it and renames that over `..data` in one step, then
//! removes the old directory. Each swap is served; a swap to identical content is skipped.

use crate::configs::mock_config;
use crate::support::{self, eventually};
use policy::process::Launch;
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

/// Publish `text` the way kubelet's atomic writer does, as payload `n`.
fn publish(dir: &Path, n: u32, text: &str) {
    let stamp = format!("..2026_11_25_10_00_{n:02}.{:09}", 123_456_789 + n);
    let fresh = dir.join(&stamp);
    std::fs::create_dir(&fresh).unwrap();
    std::fs::write(fresh.join("policy-config.yaml"), text).unwrap();
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    symlink(&stamp, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if !dir.join("policy-config.yaml").exists() {
        symlink("..data/policy-config.yaml", dir.join("policy-config.yaml")).unwrap();
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    }
}

fn health(data: std::net::SocketAddr) -> Value {
    support::request(data, "GET", "/health", &[], b"").json()
}

#[test]
fn watch_follows_the_kubelet_atomic_writer() {
    let volume = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = |version: &str| {
        mock_config(version, 0, "prompt-injection").replace("{dir}", &work.path().display().to_string())
    };
    publish(volume.path(), 1, &config("1.0.0"));
    let file = volume.path().join("policy-config.yaml");
    assert!(std::fs::symlink_metadata(&file).unwrap().file_type().is_symlink());
    let gw = Launch::new(env!("CARGO_BIN_EXE_policy-gateway"), &file)
        .args(["--watch"])
        .current_dir(work.path())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let (data, admin) = (gw.serving().data, gw.serving().admin);
    assert_eq!(health(data)["config_version"], "1.0.0");
    for (n, version) in [(2, "2.0.0"), (3, "3.0.0")] {
        publish(volume.path(), n, &config(version));
        assert!(
            eventually(Duration::from_secs(10), || health(data)["config_version"] == version),
            "the swap to {version} was not picked up:\n{}",
            gw.log()
        );
    }
    let history = |()| {
        support::request(admin, "GET", "/admin/history", &[], b"").json()["operations"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = history(());
    // The same content again, as kubelet republishes on a resync: skipped, no new operation.
    publish(volume.path(), 4, &config("3.0.0"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(health(data)["config_version"], "3.0.0");
    assert_eq!(history(()), before, "identical bytes are skipped:\n{}", gw.log());
}
