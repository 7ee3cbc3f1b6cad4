//! `--watch` under the kubelet's atomic-writer layout for a ConfigMap volume: the file is a
//! symlink through `..data`, itself a symlink to a timestamped directory; an update writes a
//! new directory, points `..data_tmp` at it and renames that over `..data` in one step, then
//! removes the old directory. Each swap is served; a swap to identical content is skipped.

use crate::configs::mock_config;
use crate::support::{self, eventually};
use policy_replay::process::Launch;
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

/// `policy-gateway --watch` on `file`, in `work`.
fn watching(file: &Path, work: &Path) -> policy_replay::process::GatewayProcess {
    Launch::new(env!("CARGO_BIN_EXE_policy-gateway"), file)
        .args(["--watch"])
        .current_dir(work)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"))
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
    let gw = watching(&file, work.path());
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
    // The same content again, as kubelet republishes on a resync: seen and skipped (counted),
    // no new operation.
    let skipped = || support::metric(admin, "gateway_config_watch_skipped_total");
    let skips = skipped();
    publish(volume.path(), 4, &config("3.0.0"));
    assert!(
        eventually(Duration::from_secs(10), || skipped() > skips),
        "the identical swap was not seen:\n{}",
        gw.log()
    );
    assert_eq!(health(data)["config_version"], "3.0.0");
    assert_eq!(history(()), before, "identical bytes are skipped:\n{}", gw.log());
}

/// Issue 17: the folder holding the config disappears (a volume unmounted, a deploy that
/// replaces it) and comes back: the gateway keeps serving, `gateway_config_watcher_running`
/// is 0 meanwhile and an `io` error is counted; once the folder is back the file is reloaded
/// and later changes are seen again.
#[test]
fn watch_survives_its_folder_disappearing_and_coming_back() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let folder = root.path().join("conf");
    let config = |version: &str| {
        mock_config(version, 0, "prompt-injection").replace("{dir}", &work.path().display().to_string())
    };
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("policy-config.yaml");
    std::fs::write(&file, config("1.0.0")).unwrap();
    let gw = watching(&file, work.path());
    let (data, admin) = (gw.serving().data, gw.serving().admin);
    assert_eq!(support::metric(admin, "gateway_config_watcher_running"), 1.0);
    let io = "gateway_config_reload_errors_total{error_type=\"io\"}";
    assert_eq!(support::metric(admin, io), 0.0);

    std::fs::remove_dir_all(&folder).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || support::metric(
            admin,
            "gateway_config_watcher_running"
        ) == 0.0),
        "{}",
        gw.log()
    );
    assert!(support::metric(admin, io) >= 1.0);
    assert_eq!(health(data)["config_version"], "1.0.0", "still serving");
    assert_eq!(
        support::request(
            data,
            "POST",
            "/v1/chat/completions",
            &[],
            br#"{"messages":[{"role":"user","content":"hi"}]}"#
        )
        .status,
        200
    );

    // Back, with a new config written while nothing watched.
    let staging = root.path().join("conf.new");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("policy-config.yaml"), config("2.0.0")).unwrap();
    std::fs::rename(&staging, &folder).unwrap();
    // The reload may come first: the removal's own events can find the file back after their
    // quiet time, before the supervisor's next check re-arms the watch.
    assert!(
        eventually(Duration::from_secs(10), || health(data)["config_version"] == "2.0.0"
            && support::metric(admin, "gateway_config_watcher_running") == 1.0),
        "{}",
        gw.log()
    );
    // And the new folder is really watched.
    std::fs::write(&file, config("3.0.0")).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || health(data)["config_version"] == "3.0.0"),
        "{}",
        gw.log()
    );
    let errors = |t: &str| {
        support::metric(
            admin,
            &format!("gateway_config_reload_errors_total{{error_type=\"{t}\"}}"),
        )
    };
    std::fs::write(&file, "pack: [not, a, config]\n").unwrap();
    assert!(
        eventually(Duration::from_secs(10), || errors("lint") == 1.0),
        "{}",
        gw.log()
    );
    assert_eq!(health(data)["config_version"], "3.0.0");
    assert_eq!((errors("read"), errors("compile")), (0.0, 0.0));
}
