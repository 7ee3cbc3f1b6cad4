//! The Action's download-and-verify step (`action/install.sh`) against release assets served
//! from 127.0.0.1: a good archive installs and runs, a tampered one is refused before anything
//! from it runs, a missing asset names the asset and the release, `latest` follows the release
//! page's redirect. The workflows and the action validate against GitHub's schemas in
//! `action.rs`.

use crate::util::root;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// A static file server on 127.0.0.1 that also redirects `/latest` to `/tag/v<version>`, as
/// GitHub's release pages do; stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, latest: &str) -> Server {
    let script = r#"
import http.server, sys, os
root, latest = sys.argv[1], sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k): super().__init__(*a, directory=root, **k)
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/latest":
            self.send_response(302); self.send_header("Location", "/tag/" + latest); self.end_headers(); return
        if self.path.startswith("/tag/"):
            self.send_response(200); self.end_headers(); self.wfile.write(b"release page"); return
        super().do_GET()
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(latest)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Server {
        child,
        url: format!("http://127.0.0.1:{}", line.trim()),
    }
}

/// A release `v{version}` under `dir` as package.sh makes it, with the test binary inside.
fn release(dir: &Path, version: &str) -> std::path::PathBuf {
    let name = format!("policy-{version}-{TARGET}");
    let stage = dir.join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_policy"), stage.join("policy")).unwrap();
    let assets = dir.join("download").join(format!("v{version}"));
    std::fs::create_dir_all(&assets).unwrap();
    let archive = assets.join(format!("{name}.tar.gz"));
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.join("stage"))
        .arg(&name)
        .status()
        .unwrap();
    assert!(ok.success());
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        assets.join(format!("{name}.tar.gz.sha256")),
        format!("{hex}  {name}.tar.gz\n"),
    )
    .unwrap();
    archive
}

fn install(base: &str, version: &str, dest: &Path) -> Output {
    Command::new("bash")
        .arg(root().join("action/install.sh"))
        .env("BASE_URL", base)
        .env("VERSION", version)
        .env("TARGET", TARGET)
        .env("DEST", dest)
        .env_remove("ACTION_REF")
        .output()
        .expect("bash")
}

#[test]
fn a_verified_release_installs_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path(), "0.1.0");
    let server = serve(dir.path(), "v0.1.0");
    for version in ["0.1.0", "v0.1.0", "latest"] {
        let dest = dir.path().join(format!("dest-{version}"));
        let out = install(&server.url, version, &dest);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let run = Command::new(dest.join("bin/policy")).arg("--version").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            format!("policy {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn a_tampered_archive_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let archive = release(dir.path(), "0.1.0");
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let server = serve(dir.path(), "v0.1.0");
    let dest = dir.path().join("dest");
    let out = install(&server.url, "0.1.0", &dest);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not match its SHA-256") && err.contains("refusing to run it"),
        "{err}"
    );
    assert!(
        !dest.join("bin/policy").exists(),
        "nothing from the archive was installed"
    );
}

#[test]
fn a_missing_asset_names_the_asset_and_the_release() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path(), "0.1.0");
    let server = serve(dir.path(), "v0.1.0");
    let out = install(&server.url, "9.9.9", &dir.path().join("dest"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("release v9.9.9 has no asset policy-9.9.9-x86_64-unknown-linux-gnu.tar.gz"),
        "{err}"
    );
}
