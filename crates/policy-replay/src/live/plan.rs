//! The plan of a live run, computed before the first request: the two configs as the gateway
//! will run them (with the hash it will report for each), how responses are attributed to
//! them, and every recorded request prepared for sending, with the verdict the offline engine
//! predicts for it under A and under B. In command mode the two sides may be files of any
//! format (a proxy's own config): then there is nothing to predict, and only the checks that
//! need no engine run.

use super::options::{Attribution, LiveError, Via};
use crate::traffic::Recorded;
use bytes::Bytes;
use policy_config::{Config, PolicyKind};
use policy_contract::{headers, Verdict};
use policy_diff as diff;
use policy_engine::{config_hash, Engine};
use std::sync::Arc;

/// One of the two configs.
#[derive(Debug, Clone)]
pub struct Side {
    /// `A` or `B`.
    pub label: &'static str,
    /// Where it came from (for people).
    pub name: String,
    /// The text sent or written when switching to it.
    pub text: String,
    /// The bytes command mode writes to `--config-path` (the file as given).
    pub bytes: Vec<u8>,
    /// The config as the gateway will run it; `None` for a file that is not a policy config
    /// (command mode).
    pub config: Option<Config>,
    /// `sha256:…` the gateway will report for it (empty when `config` is `None`).
    pub hash: String,
}

/// A recorded request ready to send: credentials and hop-by-hop headers left out.
pub(super) struct Prepared {
    /// The recorded id, for examples in findings.
    pub(super) id: String,
    /// Request path (`/v1/chat/completions`).
    pub(super) path: String,
    /// Headers replayed as recorded.
    pub(super) headers: Vec<(String, String)>,
    /// The JSON body, serialised once.
    pub(super) body: Bytes,
    /// The verdict each side's engine predicts (rate limits aside); `None` for a body it
    /// refuses unread (400), and when the sides are not policy configs.
    pub(super) expect: [Option<Verdict>; 2],
    /// The status the recording says it was answered with.
    pub(super) expect_status: Option<u16>,
}

/// Everything the run needs, computed before the first request.
pub struct Plan {
    /// A, then B as the gateway will run it.
    pub(super) sides: [Side; 2],
    /// Shared with the load tasks as is.
    pub(super) requests: Arc<Vec<Prepared>>,
    /// How responses are attributed (`None`: they are not; command mode without a header
    /// on configs that are not policy configs).
    pub(super) attribution: Option<Attribution>,
    /// Whether the verdict checks run: both sides are policy configs.
    pub(super) checks: bool,
}

impl Plan {
    /// Build the plan for hot reloads: configs `a` and `b` (as loaded), and the traffic to
    /// cycle through. B runs with A's restart-class fields (a reload holds them).
    pub fn new(
        a: (String, String, Config),
        b: (String, String, Config),
        traffic: &[Recorded],
    ) -> Result<Plan, LiveError> {
        Plan::build(a, b, traffic, false)
    }

    /// The plan for `via`: restarts run B in full, reloads hold its restart-class fields.
    pub fn for_via(
        a: (String, String, Config),
        b: (String, String, Config),
        traffic: &[Recorded],
        via: Via,
    ) -> Result<Plan, LiveError> {
        Plan::build(a, b, traffic, via == Via::Restart)
    }

    fn build(
        a: (String, String, Config),
        b: (String, String, Config),
        traffic: &[Recorded],
        in_full: bool,
    ) -> Result<Plan, LiveError> {
        if traffic.is_empty() {
            return Err(LiveError::Setup("the traffic file has no usable request".into()));
        }
        let b_runs = if in_full {
            b.2.clone()
        } else {
            diff::hold_restart_fields(&a.2, &b.2, &diff::classify(&a.2, &b.2))
        };
        let side = |label, (name, text, config): (String, String, Config)| Side {
            label,
            name,
            bytes: text.clone().into_bytes(),
            text,
            hash: config_hash(&config),
            config: Some(config),
        };
        let sides = [side("A", a), side("B", (b.0, b.1, b_runs))];
        Plan::with_sides(sides, traffic, None)
    }

    /// The plan of command mode: `a` and `b` are the gateway's own config files (name, bytes,
    /// and the policy config they are, if they are one). Responses are attributed by
    /// `attribution`; without it, policy configs are attributed by their hash, and other files
    /// not at all. The verdict checks run when both are policy configs.
    pub fn for_command(
        a: (String, Vec<u8>, Option<Config>),
        b: (String, Vec<u8>, Option<Config>),
        traffic: &[Recorded],
        attribution: Option<Attribution>,
    ) -> Result<Plan, LiveError> {
        if traffic.is_empty() {
            return Err(LiveError::Setup("the traffic file has no usable request".into()));
        }
        if a.1 == b.1 {
            return Err(LiveError::Setup(format!(
                "{} and {} are the same bytes: switching between them proves nothing",
                a.0, b.0
            )));
        }
        let b_runs = match (&a.2, &b.2) {
            (Some(ca), Some(cb)) => Some(diff::hold_restart_fields(ca, cb, &diff::classify(ca, cb))),
            _ => None,
        };
        let both = a.2.is_some() && b_runs.is_some();
        let side = |label, (name, bytes, config): (String, Vec<u8>, Option<Config>)| Side {
            label,
            name,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            hash: config.as_ref().filter(|_| both).map(config_hash).unwrap_or_default(),
            config: config.filter(|_| both),
        };
        let sides = [side("A", a), side("B", (b.0, b.1, b_runs))];
        Plan::with_sides(sides, traffic, attribution)
    }

    /// The plan once the sides are known: the default attribution (by config hash) for policy
    /// configs, the engines' predictions where there are engines.
    fn with_sides(sides: [Side; 2], traffic: &[Recorded], attribution: Option<Attribution>) -> Result<Plan, LiveError> {
        let checks = sides.iter().all(|s| s.config.is_some());
        if checks && sides[0].hash == sides[1].hash {
            return Err(LiveError::Setup(format!(
                "{} and {} run as the same config ({}): responses could not be attributed; pick two configs that differ in a hot-reloadable field (or, with restarts, in any field)",
                sides[0].name, sides[1].name, sides[0].hash
            )));
        }
        let by_hash = || Attribution {
            header: headers::CONFIG_HASH.to_string(),
            ids: [Some(sides[0].hash.clone()), Some(sides[1].hash.clone())],
        };
        let attribution = match attribution {
            // The policy gateway's own header: its values are known in advance.
            Some(a) if checks && a.header == headers::CONFIG_HASH && a.ids == [None, None] => Some(by_hash()),
            Some(a) => Some(a),
            None if checks => Some(by_hash()),
            None => None,
        };
        // Rate limits depend on timing the harness does not control: they are counted apart,
        // and predictions are made without them.
        let engine = |c: &Option<Config>| -> Result<Option<Engine>, LiveError> {
            let Some(c) = c else { return Ok(None) };
            let mut c = c.clone();
            c.policies.chain.retain(|k| *k != PolicyKind::RateLimit);
            Engine::compile(&c)
                .map(Some)
                .map_err(|e| LiveError::Setup(e.to_string()))
        };
        let engines = [engine(&sides[0].config)?, engine(&sides[1].config)?];
        let requests = traffic
            .iter()
            .map(|r| {
                let predict = |e: &Option<Engine>| {
                    e.as_ref()
                        .and_then(|e| e.evaluate(&r.request, r.ts).ok().map(|d| d.verdict))
                };
                let (path, headers, body) = wire(r);
                Prepared {
                    id: r.request.id.clone(),
                    path,
                    headers,
                    body,
                    expect: [predict(&engines[0]), predict(&engines[1])],
                    expect_status: r.expect_status,
                }
            })
            .collect();
        Ok(Plan {
            sides,
            requests: Arc::new(requests),
            attribution,
            checks,
        })
    }

    /// The two configs.
    pub fn sides(&self) -> &[Side; 2] {
        &self.sides
    }

    /// Whether the verdict checks run (both sides are policy configs).
    pub fn checks(&self) -> bool {
        self.checks
    }
}

/// A recorded request as it is sent: its path, the headers replayed (credentials and
/// hop-by-hop headers left out) and the body serialised once.
pub(super) fn wire(r: &Recorded) -> (String, Vec<(String, String)>, Bytes) {
    let replayed = r
        .request
        .headers
        .iter()
        .filter(|(k, _)| {
            !headers::is_credential(k)
                && !matches!(
                    k.as_str(),
                    "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
                )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = Bytes::from(serde_json::to_vec(&r.request.body).expect("JSON serialises"));
    (r.request.path.clone(), replayed, body)
}
