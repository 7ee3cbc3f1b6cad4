//! A candidate config: lint and compile a config's text into the `Active` it would run as,
//! against the running one ([`prepare`]), as every reload, revert target, start and
//! `--check` does.
//!
//! Owns the decisions about one text: lint errors refuse it, restart-class changes are held at
//! their running values and listed as pending restart (the plan's classes come from the
//! schema's `x-reload`, so a new restart-class field needs no code here), and an address this
//! instance overrides (`--listen`, `--admin-listen`: [`Overrides`]) is not restart-class here:
//! the file's value is taken as it is (the config, and its hash, stay the file's) and nothing
//! is pending, because this instance binds the override whatever the file says. It changes
//! nothing: swapping a candidate in and recording it is `reload.rs`'s job.

use crate::metrics::ReloadError;
use crate::state::{Active, Overrides};
use policy_config::address::{is_loopback, parse as parse_listen};
use policy_config::ProviderKind;
use policy_contract::admin::Origin;
use policy_diff::{classify, Plan};
use policy_engine::Engine;
use policy_lint::{self as lint, FileReport};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A config that passed lint and compiled, not yet active.
pub struct Candidate {
    /// The config as it will run (restart-class fields held at their running values).
    pub active: Active,
    /// Hot changes against the active config.
    pub plan: Plan,
    /// Warnings from lint, rendered.
    pub warnings: Vec<Value>,
}

/// Why a candidate was refused.
pub struct Rejection {
    /// Which kind of failure, for `gateway_config_reload_errors_total`.
    pub kind: ReloadError,
    /// One line for logs and history.
    pub error: String,
    /// Lint diagnostics (the lint JSON shape), when lint refused it.
    pub diagnostics: Box<Value>,
    /// The diagnostics rendered for a terminal (the log).
    pub rendered: String,
}

/// SHA-256 hex of a config's bytes.
pub fn source_sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Lint and compile `bytes` (read from `origin`) into a candidate against `running` (`None`
/// at startup), for an instance with `overrides`. CPU-bound: call from a blocking thread.
pub fn prepare(
    label: &str,
    bytes: &[u8],
    running: Option<&Active>,
    overrides: &Overrides,
    origin: Origin,
) -> Result<Candidate, Rejection> {
    let sha = source_sha(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let error = format!("{label} is not UTF-8 text (invalid byte at offset {})", e.valid_up_to());
            return Err(Rejection::new(ReloadError::Read, error));
        }
    };
    let report = lint::lint_source(label, text);
    let errors = report.count(lint::Severity::Error);
    let Some(config) = report.config.clone().filter(|_| errors == 0) else {
        return Err(rejected_by_lint(&report, errors));
    };
    let warnings = lint_json(&report);
    if let Some(error) = open_admin_without_token(&config, overrides) {
        return Err(Rejection::new(ReloadError::Lint, format!("{label}: {error}")));
    }
    let (config, pending, plan) = match running {
        None => (config, Vec::new(), Plan::default()),
        Some(run) => {
            let proposed = classify(&run.config, &config).for_instance(|p| overrides.covers(p));
            let pending: Vec<String> = proposed.restart_required().into_iter().map(String::from).collect();
            let effective = policy_diff::hold_restart_fields(&run.config, &config, &proposed);
            let plan = classify(&run.config, &effective).for_instance(|p| overrides.covers(p));
            (effective, pending, plan)
        }
    };
    if let Some(error) = missing_key(&config) {
        return Err(Rejection::new(ReloadError::Environment, format!("{label}: {error}")));
    }
    let engine = match running {
        // Nothing the engine sees changed: keep it, and its rate-limit state.
        Some(run) if plan.is_empty() => Arc::clone(&run.engine),
        // Compiled after the running engine: its rate-limit buckets carry over when the
        // limits are unchanged.
        _ => Arc::new(
            Engine::compile_after(&config, running.map(|r| &*r.engine))
                .map_err(|e| Rejection::new(ReloadError::Compile, format!("{label}: {e}")))?,
        ),
    };
    let active = Active {
        headers: crate::state::ConfigHeaders::of(&config.pack.version, engine.hash()),
        audit: Active::audit_target(&config),
        version: config.pack.version.clone(),
        hash: engine.hash().to_string(),
        source_sha: sha,
        source: Arc::from(bytes),
        origin,
        pending_restart: pending,
        generation: running.map_or(1, |r| r.generation + 1),
        engine,
        config,
    };
    Ok(Candidate {
        active,
        plan,
        warnings: warnings
            .get("diagnostics")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

/// P309 (`admin-listener-without-token`) for the address this instance really binds: lint
/// sees only the file's `gateway.admin.listen`, so an `--admin-listen` open to the network is
/// checked here, at start and on every reload (a reload may drop `token_env`).
fn open_admin_without_token(config: &policy_config::Config, overrides: &Overrides) -> Option<String> {
    let addr = overrides.admin_listen.as_deref()?;
    let host = parse_listen(addr).ok()?;
    (config.gateway.admin.token_env.is_none() && !is_loopback(host)).then(|| {
        format!(
            "the admin plane listens on non-loopback `{addr}` (--admin-listen) without a token: set `gateway.admin.token_env`, or listen on 127.0.0.1"
        )
    })
}

/// A target that would be called without its key: `secret_key_ref` names a variable that is
/// unset or empty in this process's environment. Lint cannot know the environment the gateway
/// runs in, so this is checked where a config is loaded (start, reload, restart, `--check`);
/// a refused reload leaves the running config serving. A target with no `secret_key_ref` says
/// it needs no key (an internal endpoint), and a mock target calls nothing.
fn missing_key(config: &policy_config::Config) -> Option<String> {
    config.providers.targets.iter().find_map(|t| {
        let name = &t.secret_key_ref.as_ref()?.env;
        if t.provider == ProviderKind::Mock || crate::upstream::secret(t).is_some() {
            return None;
        }
        Some(format!(
            "target `{}` takes its key from ${name}, which is not set (or is empty) in the gateway's environment: it would call {} without its key; set {name}, or remove `secret_key_ref` if the upstream needs no key",
            t.id,
            t.base_url.as_deref().unwrap_or("its provider")
        ))
    })
}

fn rejected_by_lint(report: &FileReport, errors: usize) -> Rejection {
    let first = report
        .diagnostics
        .iter()
        .find(|d| d.severity == lint::Severity::Error)
        .map(|d| format!(": {} {} at line {}", d.code, d.message, d.line()))
        .unwrap_or_default();
    Rejection {
        kind: ReloadError::Lint,
        error: format!("{} has {errors} error(s){first}", report.path),
        diagnostics: Box::new(lint_json(report).get("diagnostics").cloned().unwrap_or(Value::Null)),
        rendered: lint::render::human::render(std::slice::from_ref(report), lint::render::human::Style::Plain),
    }
}

/// One file's diagnostics as `policy lint --format json` writes them.
fn lint_json(report: &FileReport) -> Value {
    let all = lint::render::json::to_value(std::slice::from_ref(report));
    all.pointer("/files/0").cloned().unwrap_or(Value::Null)
}

impl Rejection {
    /// The exit code of a start or `--check` this refused: 2 when the environment, not the
    /// file, is at fault (a key variable unset), 1 for the file's errors.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ReloadError::Environment => 2,
            _ => 1,
        }
    }

    /// A rejection with no lint diagnostics.
    pub fn new(kind: ReloadError, error: String) -> Rejection {
        Rejection {
            kind,
            rendered: error.clone(),
            error,
            diagnostics: Box::new(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::file("test.yaml", String::new())
    }
    use policy_config::Config;

    fn config(text: &str) -> Config {
        lint::load_config_str("t.yaml", text).expect("valid").0
    }

    const BASE: &str = "pack: { name: p, version: 1.0.0 }\nproviders: { targets: [ { id: m, provider: mock } ] }\n";

    #[test]
    fn restart_fields_keep_their_running_values_and_hot_ones_apply() {
        let running = config(&format!(
            "{BASE}gateway: {{ listen: 127.0.0.1:1 }}\ntelemetry: {{ service_name: a }}\n"
        ));
        let proposed = config(&format!(
            "{BASE}gateway: {{ listen: 127.0.0.1:2, worker_threads: 8, limits: {{ max_body_bytes: 10 }} }}\n"
        ));
        let plan = classify(&running, &proposed);
        let held = policy_diff::hold_restart_fields(&running, &proposed, &plan);
        assert_eq!(held.gateway.listen, "127.0.0.1:1");
        assert_eq!(held.gateway.worker_threads, running.gateway.worker_threads);
        assert_eq!(
            held.telemetry, running.telemetry,
            "a removed restart section is put back"
        );
        assert_eq!(held.gateway.limits.max_body_bytes, 10, "hot changes apply");
        let left = classify(&running, &held);
        assert!(left.restart_required().is_empty(), "{left:?}");
        assert_eq!(left.changes.len(), 1);
    }

    #[test]
    fn prepare_reports_pending_restart_and_rejects_errors() {
        let none = Overrides::default();
        let running = prepare("a.yaml", BASE.as_bytes(), None, &none, origin())
            .ok()
            .unwrap()
            .active;
        let next = format!("{BASE}gateway: {{ admin: {{ listen: 127.0.0.1:9 }} }}\n");
        let c = prepare("b.yaml", next.as_bytes(), Some(&running), &none, origin())
            .ok()
            .unwrap();
        assert_eq!(c.active.pending_restart, ["/gateway/admin/listen"]);
        assert!(c.plan.is_empty());
        assert!(
            Arc::ptr_eq(&c.active.engine, &running.engine),
            "nothing the engine sees changed"
        );
        assert_eq!(c.active.hash, running.hash);
        let bad = prepare("c.yaml", b"pack: {}\n", Some(&running), &none, origin())
            .err()
            .unwrap();
        assert!(bad.error.contains("c.yaml has"), "{}", bad.error);
        assert!(bad.diagnostics.as_array().is_some_and(|d| !d.is_empty()));
        let not_utf8 = prepare("d.yaml", b"pack: \xff\n", Some(&running), &none, origin())
            .err()
            .unwrap();
        assert!(not_utf8.error.contains("not UTF-8"));
    }

    #[test]
    fn an_overridden_address_is_the_files_and_never_pending() {
        let instance = Overrides {
            listen: Some("127.0.0.1:7".into()),
            admin_listen: None,
        };
        let first = prepare("a.yaml", BASE.as_bytes(), None, &instance, origin())
            .ok()
            .unwrap()
            .active;
        let plain = prepare("a.yaml", BASE.as_bytes(), None, &Overrides::default(), origin())
            .ok()
            .unwrap()
            .active;
        assert_eq!(
            first.hash, plain.hash,
            "the hash is the file's, whatever the instance binds"
        );
        let moved = format!("{BASE}gateway: {{ listen: 127.0.0.1:9, admin: {{ listen: 127.0.0.1:8 }} }}\n");
        let c = prepare("b.yaml", moved.as_bytes(), Some(&first), &instance, origin())
            .ok()
            .unwrap();
        assert_eq!(
            c.active.pending_restart,
            ["/gateway/admin/listen"],
            "only the address not overridden"
        );
        assert_eq!(
            c.active.config.gateway.listen, "127.0.0.1:9",
            "the file's value, as the file says"
        );
        let file = prepare("b.yaml", moved.as_bytes(), None, &Overrides::default(), origin())
            .ok()
            .unwrap()
            .active;
        let held = format!("{BASE}gateway: {{ listen: 127.0.0.1:9 }}\n");
        let expected = prepare("c.yaml", held.as_bytes(), None, &Overrides::default(), origin())
            .ok()
            .unwrap()
            .active;
        assert_ne!(c.active.hash, file.hash, "the admin address is held");
        assert_eq!(c.active.hash, expected.hash);
    }

    #[test]
    fn an_open_admin_override_needs_a_token() {
        let open = Overrides {
            listen: None,
            admin_listen: Some("0.0.0.0:41003".into()),
        };
        let refused = prepare("a.yaml", BASE.as_bytes(), None, &open, origin()).err().unwrap();
        assert!(refused.error.contains("--admin-listen"), "{}", refused.error);
        let with_token = format!("{BASE}gateway: {{ admin: {{ token_env: POLICY_ADMIN_TOKEN }} }}\n");
        assert!(prepare("b.yaml", with_token.as_bytes(), None, &open, origin()).is_ok());
    }
}
