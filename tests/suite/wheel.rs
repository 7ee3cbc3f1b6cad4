//! Installed in seconds: the CLI's wheel (maturin, `bindings = "bin"`, built by `.ci/test` into
//! `target/wheels`) installs with pip into a fresh virtualenv and runs; the pre-commit hooks
//! (`language: python`) install it through `pre-commit try-repo` with pip pointed at that folder
//! instead of PyPI and no `cargo` on PATH; the versions of the crate, the wheel and the
//! pre-commit shim agree; `cargo binstall`'s metadata names the archives the release packs.

use crate::action::tool;
use crate::util::{git, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The wheel `.ci/test` built for this version, if any.
fn wheel() -> Option<PathBuf> {
    let dir = root().join("target/wheels");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("policy_cli-{VERSION}-")) && name.ends_with(".whl")
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the wheel in {} (.ci/test builds it with maturin)",
            dir.display()
        );
        eprintln!(
            "SKIPPED: no policy-cli {VERSION} wheel in {} (.ci/test builds it)",
            dir.display()
        );
    }
    found
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PATH with the project's Python tools and the system's, and no `cargo`.
fn path_without_cargo() -> String {
    let venv = root().join("target/tools/venv/bin");
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", venv.display());
    for dir in path.split(':') {
        assert!(!Path::new(dir).join("cargo").exists(), "cargo is in {dir}");
    }
    path
}

#[test]
fn the_wheel_installs_in_a_fresh_virtualenv_and_runs() {
    let Some(wheel) = wheel() else { return };
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    ok(
        &Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .unwrap(),
        "venv",
    );
    let started = Instant::now();
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--no-index", "--disable-pip-version-check"])
        .arg(&wheel)
        .output()
        .unwrap();
    ok(&out, "pip install");
    eprintln!(
        "pip install of {} took {:.1} s",
        wheel.display(),
        started.elapsed().as_secs_f64()
    );
    let policy = venv.join("bin/policy");
    let out = Command::new(&policy).arg("--version").output().unwrap();
    ok(&out, "policy --version");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("policy {VERSION}"));
    let out = Command::new(&policy)
        .arg("lint")
        .arg(root().join("fixtures/gateway/demo.yaml"))
        .output()
        .unwrap();
    ok(&out, "policy lint on a good config");
    let broken = dir.path().join("broken.policy.yaml");
    std::fs::write(&broken, "pack: { name: b, version: 1.0 }\nproviders: { targets: [] }\n").unwrap();
    let out = Command::new(&policy).arg("lint").arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a broken config: exit 1");
}

#[test]
fn the_pre_commit_hooks_install_the_wheel_without_cargo() {
    let Some(wheel) = wheel() else { return };
    if tool("pre-commit", &["--version"]).is_none() {
        return;
    }
    let wheelhouse = root().join("target/tools/wheelhouse");
    let repo = tempfile::tempdir().unwrap();
    let d = repo.path();
    git(d, &["init", "-q"]);
    std::fs::copy(root().join("fixtures/gateway/demo.yaml"), d.join("good.policy.yaml")).unwrap();
    std::fs::write(
        d.join("bad.policy.yaml"),
        "pack: { name: b, version: 1.0 }\nproviders: { targets: [] }\n",
    )
    .unwrap();
    git(d, &["add", "."]);
    let home = tempfile::tempdir().unwrap();
    let try_repo = |files: &[&str]| {
        Command::new("pre-commit")
            .arg("try-repo")
            .arg(root())
            .arg("policy-lint")
            .arg("--files")
            .args(files)
            .current_dir(d)
            .env("PATH", path_without_cargo())
            .env("PRE_COMMIT_HOME", home.path())
            // The local folders stand in for PyPI: nothing comes from an index.
            .env(
                "PIP_FIND_LINKS",
                format!("{} {}", wheel.parent().unwrap().display(), wheelhouse.display()),
            )
            .env("PIP_NO_INDEX", "1")
            .env_remove("CARGO_HOME")
            .env_remove("RUSTUP_HOME")
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let good = try_repo(&["good.policy.yaml"]);
    let first = started.elapsed();
    ok(&good, "pre-commit try-repo on a good config (installs the hook)");
    eprintln!(
        "pre-commit try-repo policy-lint, install and run, no cargo on PATH: {:.1} s",
        first.as_secs_f64()
    );
    let bad = try_repo(&["bad.policy.yaml"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "a bad config fails the hook\n{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("P2"),
        "the findings are shown"
    );
    // try-repo installs into a store of its own each time: the second run installed it again.
    for out in [&good, &bad] {
        assert!(String::from_utf8_lossy(&out.stdout).contains("Installing environment"));
    }
}

#[test]
fn the_crate_the_wheel_and_the_pre_commit_shim_have_one_version() {
    let shim = std::fs::read_to_string(root().join("pyproject.toml")).unwrap();
    assert!(
        shim.contains(&format!("version = \"{VERSION}\"")),
        "pyproject.toml's version"
    );
    assert!(
        shim.contains(&format!("\"policy-cli=={VERSION}\"")),
        "pyproject.toml depends on this version's wheel"
    );
    let wheel = std::fs::read_to_string(root().join("packaging/pypi/pyproject.toml")).unwrap();
    assert!(
        wheel.contains("dynamic = [\"version\"]"),
        "the wheel takes the crate's version"
    );
    assert!(wheel.contains("bindings = \"bin\""));
    // Every python hook has a -src twin that builds from source.
    let hooks = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let python: Vec<&str> = hooks
        .split("\n- id: ")
        .filter(|h| h.contains("language: python"))
        .map(|h| h.lines().next().unwrap())
        .collect();
    assert_eq!(python, ["policy-lint", "policy-test"]);
    for id in python {
        let src = format!("\n- id: {id}-src\n");
        assert!(hooks.contains(&src), "{id} has a -src hook");
    }
}

#[test]
fn cargo_binstall_finds_the_archives_the_release_packs() {
    // The metadata's templates, rendered for a Linux target as cargo-binstall renders them.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let field = |key: &str| {
        manifest
            .lines()
            .skip_while(|l| *l != "[package.metadata.binstall]")
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap_or_else(|| panic!("no {key} in [package.metadata.binstall]"))
    };
    let target = "x86_64-unknown-linux-gnu";
    let render = |t: String| {
        t.replace("{ repo }", "https://github.com/policy-dev/policy")
            .replace("{ name }", "policy")
            .replace("{ version }", VERSION)
            .replace("{ target }", target)
            .replace("{ bin }", "policy")
            .replace("{ binary-ext }", "")
    };
    let url = render(field("pkg-url"));
    let bin_dir = render(field("bin-dir"));
    // Pack a release the way release.yml does, with a stand-in binary.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = d.join(format!("target/{target}/release"));
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(release.join("policy"), "#!/bin/sh\n").unwrap();
    for keep in ["README.md", "docs", "schema"] {
        let out = Command::new("cp")
            .arg("-R")
            .arg(root().join(keep))
            .arg(d)
            .output()
            .unwrap();
        ok(&out, "cp");
    }
    let out = Command::new("bash")
        .arg(root().join(".github/release/package.sh"))
        .args([target, &format!("v{VERSION}")])
        .current_dir(d)
        .output()
        .unwrap();
    ok(&out, "package.sh");
    let archive = format!("policy-{VERSION}-{target}.tar.gz");
    assert!(d.join("dist").join(&archive).exists());
    assert!(
        url.ends_with(&format!("/releases/download/v{VERSION}/{archive}")),
        "{url}"
    );
    let listing = Command::new("tar")
        .args(["-tzf", &format!("dist/{archive}")])
        .current_dir(d)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l == bin_dir), "{bin_dir} in\n{listing}");
}
