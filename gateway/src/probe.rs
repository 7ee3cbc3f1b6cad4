//! Each target's reachability, for `/health` and `/health/ready`: a background task that every
//! [`INTERVAL`] TCP-connects to each non-mock target's `base_url` host and port, within
//! [`TIMEOUT`], and keeps the last result per target ([`Probes`]).
//!
//! Owns the probing and its results. It never runs on the request path (a request reads the
//! last results, it never waits for a probe), sends no byte (a connect, then a close: no HTTP,
//! no credentials), and does not decide what "ready" means (`data.rs` does). A reload or revert
//! that changes the targets wakes it at once ([`Probes::targets_changed`]), so a new target is
//! not reported for longer than a probe takes as "not probed yet".
//!
//! It knows nothing of the gateway's shared state: `state.rs` holds the [`Probes`], and `main`
//! starts [`run`] with a function that reads the active config's targets.

use crate::journal::now_ms;
use policy_config::{ProviderKind, Target};
use policy_contract::admin::TargetHealth;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// Between two rounds: often enough that a readiness probe (Kubernetes checks every 10 s by
/// default) sees an upstream that went away within one period, rare enough that a fleet's
/// probes are noise to the upstream (one SYN per target per 5 s per gateway).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// One probe, name resolution included: a reachable API answers a SYN in milliseconds even
/// across regions; past a second it is black-holed or too far to serve well.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The last probe of one target.
#[derive(Debug, Clone)]
struct Probe {
    /// The `base_url` probed: a result only counts for the target while its URL is the same.
    base_url: String,
    /// Why the connect failed, if it did.
    error: Option<String>,
    /// When it finished (RFC 3339, UTC).
    checked_at: String,
}

/// The probe's results and its wake-up call; one per process, in `Gateway::probes`.
#[derive(Default)]
pub struct Probes {
    /// The last round's results, by target id (targets no longer configured are dropped at
    /// the next round).
    results: Mutex<HashMap<String, Probe>>,
    /// Woken when the targets change, to probe now rather than at the next interval.
    wake: Notify,
}

impl Probes {
    /// After a config with targets `from` was replaced by one with targets `to`: probe at once
    /// when they differ.
    pub fn targets_changed(&self, from: &[Target], to: &[Target]) {
        if from != to {
            self.wake.notify_one();
        }
    }

    /// The reachability of each of `targets`, in their order: a mock is always reachable; a
    /// target with no result for its current `base_url` is not (yet).
    pub fn health(&self, targets: &[Target]) -> Vec<TargetHealth> {
        let results = self.results.lock().expect("probe results lock");
        targets
            .iter()
            .map(|t| {
                let mut h = TargetHealth {
                    id: t.id.clone(),
                    provider: provider_name(t.provider).into(),
                    reachable: t.provider == ProviderKind::Mock,
                    checked_at: None,
                    error: None,
                };
                if t.provider != ProviderKind::Mock {
                    match results.get(&t.id).filter(|p| Some(&p.base_url) == t.base_url.as_ref()) {
                        Some(p) => {
                            h.reachable = p.error.is_none();
                            h.error = p.error.clone();
                            h.checked_at = Some(p.checked_at.clone());
                        }
                        None => h.error = Some("not probed yet".into()),
                    }
                }
                h
            })
            .collect()
    }
}

fn provider_name(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Mock => "mock",
    }
}

/// Probe the targets `active_targets` returns (the active config's) now and every
/// [`INTERVAL`] (or at once when woken), keeping the results in `probes`, for the life of the
/// process.
pub async fn run(probes: &Probes, active_targets: impl Fn() -> Vec<Target>) {
    loop {
        let targets: Vec<(String, String)> = active_targets()
            .iter()
            .filter(|t| t.provider != ProviderKind::Mock)
            .map(|t| (t.id.clone(), t.base_url.clone().unwrap_or_default()))
            .collect();
        let mut round = tokio::task::JoinSet::new();
        for (id, base_url) in targets {
            round.spawn(async move {
                let error = probe(&base_url).await.err();
                let checked_at = policy_contract::time::format_rfc3339(now_ms());
                (
                    id,
                    Probe {
                        base_url,
                        error,
                        checked_at,
                    },
                )
            });
        }
        let mut results = HashMap::new();
        while let Some(done) = round.join_next().await {
            if let Ok((id, probe)) = done {
                results.insert(id, probe);
            }
        }
        *probes.results.lock().expect("probe results lock") = results;
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = probes.wake.notified() => {}
        }
    }
}

/// Connect to `base_url`'s host and port within [`TIMEOUT`]: `Ok` when a connection opened.
async fn probe(base_url: &str) -> Result<(), String> {
    let (host, port) = host_port(base_url)?;
    match tokio::time::timeout(TIMEOUT, connect(host, port)).await {
        Ok(done) => done,
        Err(_) => Err(format!("no connection within {} ms", TIMEOUT.as_millis())),
    }
}

/// The host and port a `base_url` connects to (the scheme's port when it names none).
fn host_port(base_url: &str) -> Result<(String, u16), String> {
    let uri: hyper::Uri = base_url.parse().map_err(|e| format!("base_url is not a URL: {e}"))?;
    let host = uri.host().ok_or("base_url has no host")?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_string(), port))
}

async fn connect(host: String, port: u16) -> Result<(), String> {
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve(host.clone(), port).await?,
    };
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Resolve `host` on a thread of its own, not on the runtime's blocking pool: that pool has one
/// thread, the reload pipeline's, and a slow resolver must not hold a reload up. A lookup
/// still running when [`TIMEOUT`] ends its probe finishes (and its thread ends) unheard.
async fn resolve(host: String, port: u16) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = host.clone();
    std::thread::Builder::new()
        .name("policy-probe-dns".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Iterator::collect));
        })
        .map_err(|e| format!("cannot start a resolver thread: {e}"))?;
    match rx.await {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!("cannot resolve {host}: the resolver thread ended")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_connects_to_its_port_or_the_schemes() {
        assert_eq!(
            host_port("https://api.openai.com/v1").unwrap(),
            ("api.openai.com".into(), 443)
        );
        assert_eq!(host_port("http://127.0.0.1:8080").unwrap(), ("127.0.0.1".into(), 8080));
        assert_eq!(host_port("http://[::1]:9").unwrap(), ("::1".into(), 9));
        assert_eq!(host_port("http://upstream").unwrap(), ("upstream".into(), 80));
        assert!(host_port("not a url").is_err());
    }

    #[tokio::test]
    async fn a_listener_is_reachable_and_a_closed_port_is_not() {
        let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = open.local_addr().unwrap();
        assert_eq!(probe(&format!("http://{addr}")).await, Ok(()));
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let refused = probe(&format!("http://{closed}")).await.unwrap_err();
        assert!(refused.contains("cannot connect"), "{refused}");
        assert!(probe("http://localhost:1").await.is_err());
    }
}
