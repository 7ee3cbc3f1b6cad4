//! `policy-gateway --check --config FILE`: would this file start (or reload) the gateway? Like
//! `nginx -t`: the same validation and compilation as a reload (`candidate::prepare`), then a
//! verdict and an exit code, with nothing bound and nothing started. With `--admin-listen`,
//! the address this instance would bind is checked too (an open admin plane needs a token).
//!
//! Exit codes: 0 valid (one line `FILE: ok (pack NAME VERSION, hash sha256:…)` on stdout,
//! lint warnings on stderr), 1 errors (the diagnostics on stderr, as a failed start prints
//! them), 2 unreadable, or a target's key variable (`secret_key_ref.env`) unset or empty in
//! this environment. It does not compare against a running gateway: restart-class changes
//! are `policy diff`'s question.

use crate::candidate;
use crate::state::Overrides;
use std::path::Path;
use std::process::ExitCode;

/// Check `config` and say so; the exit code is the verdict.
pub fn run(config: &Path, overrides: &Overrides) -> ExitCode {
    let bytes = match std::fs::read(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("policy-gateway: cannot read {}: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    let label = config.display().to_string();
    match candidate::prepare(&label, &bytes, None, overrides, crate::file_origin(config)) {
        Ok(candidate) => {
            for w in &candidate.warnings {
                if let Some(m) = w.get("message").and_then(|m| m.as_str()) {
                    eprintln!("warning: {m}");
                }
            }
            let active = &candidate.active;
            println!(
                "{label}: ok (pack {} {}, hash {})",
                active.config.pack.name, active.version, active.hash
            );
            ExitCode::SUCCESS
        }
        Err(r) => {
            eprintln!("{}\npolicy-gateway: check failed: {}", r.rendered.trim_end(), r.error);
            ExitCode::from(r.exit_code())
        }
    }
}
