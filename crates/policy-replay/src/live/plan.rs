//! The plan of a live run, computed before the first request: the two configs as the gateway
//! will run them (with the hash it will report for each), and every recorded request prepared
//! for sending, with the verdict the offline engine predicts for it under A and under B.

use super::options::{LiveError, Via};
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
    /// The config as the gateway will run it.
    pub config: Config,
    /// `sha256:…` the gateway will report for it.
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
    /// Expected verdict under A and under B (rate limits aside).
    /// The verdict each side's engine predicts; `None` for a body it refuses unread (400).
    pub(super) expect: [Option<Verdict>; 2],
}

/// Everything the run needs, computed before the first request.
pub struct Plan {
    /// A, then B as the gateway will run it.
    pub(super) sides: [Side; 2],
    /// Shared with the load tasks as is.
    pub(super) requests: Arc<Vec<Prepared>>,
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
        let sides = [
            Side {
                label: "A",
                name: a.0,
                text: a.1,
                hash: config_hash(&a.2),
                config: a.2,
            },
            Side {
                label: "B",
                name: b.0,
                text: b.1,
                hash: config_hash(&b_runs),
                config: b_runs,
            },
        ];
        if sides[0].hash == sides[1].hash {
            return Err(LiveError::Setup(format!(
                "{} and {} run as the same config ({}): responses could not be attributed; pick two configs that differ in a hot-reloadable field (or, with restarts, in any field)",
                sides[0].name, sides[1].name, sides[0].hash
            )));
        }
        // Rate limits depend on timing the harness does not control: they are counted apart,
        // and predictions are made without them.
        let engine = |c: &Config| {
            let mut c = c.clone();
            c.policies.chain.retain(|k| *k != PolicyKind::RateLimit);
            Engine::compile(&c).map_err(|e| LiveError::Setup(e.to_string()))
        };
        let engines = [engine(&sides[0].config)?, engine(&sides[1].config)?];
        let requests = traffic
            .iter()
            .map(|r| {
                let predict = |e: &Engine| e.evaluate(&r.request, r.ts).ok().map(|d| d.verdict);
                let (path, headers, body) = wire(r);
                Prepared {
                    id: r.request.id.clone(),
                    path,
                    headers,
                    body,
                    expect: [predict(&engines[0]), predict(&engines[1])],
                }
            })
            .collect();
        Ok(Plan {
            sides,
            requests: Arc::new(requests),
        })
    }

    /// The two configs.
    pub fn sides(&self) -> &[Side; 2] {
        &self.sides
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
