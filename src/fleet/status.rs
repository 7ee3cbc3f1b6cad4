//! What one gateway says about itself — `/admin/status`, its data plane's health, its
//! counters — read for every gateway of a group at once, each bounded by its own timeout, and
//! whether the group has drifted (serves more than one config).

use super::inventory::{GatewayEntry, Group};
use super::metrics::Counters;
use policy_contract::admin::{self, Health, Status};
use policy_replay::admin_client::{AdminClient, ClientError};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one gateway may take to answer a status round: a healthy one answers in
/// milliseconds; one that takes longer is reported as not reachable rather than holding up the
/// whole group.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// One gateway as read now.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayState {
    /// Its inventory name.
    pub name: String,
    /// Its admin URL as the inventory gives it.
    pub admin: String,
    /// Whether its admin plane answered as policy-gateway does.
    pub reachable: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether its data plane says it is ready (config loaded, a target reachable).
    pub healthy: bool,
    /// `pack.version` it serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The hash it serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Restart-class fields changed but not applied.
    pub pending_restart: Vec<String>,
    /// Its `x-policy-instance` (the process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Its pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its counters (not printed).
    #[serde(skip)]
    pub counters: Option<Counters>,
    /// Its full status (not printed).
    #[serde(skip)]
    pub status: Option<Status>,
}

/// Where a gateway's data plane is, from its status: the bound address, with an unspecified
/// IP (`0.0.0.0`) replaced by the host its admin plane was reached at.
pub fn data_address(status: &Status, admin: SocketAddr) -> Option<SocketAddr> {
    let mut data: SocketAddr = status.listen.parse().ok()?;
    if data.ip().is_unspecified() {
        data.set_ip(admin.ip());
    }
    Some(data)
}

/// What one gateway says about itself now.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Its `/admin/status`.
    pub status: Status,
    /// Its counters from `/metrics`.
    pub counters: Counters,
    /// Whether its data plane says it is ready.
    pub ready: bool,
}

/// Ask `client`'s gateway for its status, its counters and its readiness (`/health/ready`, or
/// `/health` on a gateway that predates readiness). Shared by `fleet status` and the rollout's
/// bake readings.
pub async fn observe(client: &AdminClient) -> Result<Observed, ClientError> {
    let status = client.status().await?;
    let metrics = client.metrics().await?;
    let ready = match data_address(&status, client.admin) {
        Some(data) => match client.data_get::<Health>(data, admin::HEALTH_READY).await {
            Ok((code, _)) if code != 404 => code == 200,
            _ => matches!(client.data_get::<Health>(data, admin::HEALTH).await, Ok((200, _))),
        },
        None => false,
    };
    Ok(Observed {
        status,
        counters: Counters::parse(&metrics),
        ready,
    })
}

/// Read one gateway: status, health (readiness), counters.
pub async fn read(entry: &GatewayEntry) -> GatewayState {
    let mut state = GatewayState {
        name: entry.name.clone(),
        admin: entry.admin.clone(),
        reachable: false,
        error: None,
        healthy: false,
        version: None,
        hash: None,
        pending_restart: Vec::new(),
        instance: None,
        pid: None,
        counters: None,
        status: None,
    };
    let (admin, token) = match entry.endpoint() {
        Ok(e) => e,
        Err(e) => {
            state.error = Some(e.to_string());
            return state;
        }
    };
    let mut client = AdminClient::new(admin, token);
    client.timeout = GATEWAY_TIMEOUT;
    match tokio::time::timeout(GATEWAY_TIMEOUT * 3, observe(&client)).await {
        Ok(Ok(Observed {
            status,
            counters,
            ready,
        })) => {
            state.reachable = true;
            state.healthy = ready;
            state.version = Some(status.version.clone());
            state.hash = Some(status.hash.clone());
            state.pending_restart = status.pending_restart.clone();
            state.instance = Some(status.instance.clone());
            state.pid = Some(status.pid);
            state.counters = Some(counters);
            state.status = Some(status);
        }
        Ok(Err(e)) => state.error = Some(e.to_string()),
        Err(_) => state.error = Some(format!("no answer within {:?}", GATEWAY_TIMEOUT * 3)),
    }
    state
}

/// Read every gateway of `entries` concurrently, in inventory order.
pub async fn read_all(entries: &[GatewayEntry]) -> Vec<GatewayState> {
    let tasks: Vec<_> = entries
        .iter()
        .cloned()
        .map(|e| tokio::spawn(async move { read(&e).await }))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            out.push(s);
        }
    }
    out
}

/// A group as read now (`policy fleet status --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    /// The group's name.
    pub group: String,
    /// Every gateway, in inventory order.
    pub gateways: Vec<GatewayState>,
    /// The distinct hashes served, in order of first appearance.
    pub hashes: Vec<String>,
    /// More than one hash is served.
    pub drift: bool,
    /// Every gateway is reachable and healthy.
    pub healthy: bool,
}

/// Read the group.
pub async fn group_status(name: &str, group: &Group) -> GroupStatus {
    let gateways = read_all(&group.gateways).await;
    let mut hashes: Vec<String> = Vec::new();
    for h in gateways.iter().filter_map(|g| g.hash.clone()) {
        if !hashes.contains(&h) {
            hashes.push(h);
        }
    }
    GroupStatus {
        group: name.to_string(),
        drift: hashes.len() > 1,
        healthy: gateways.iter().all(|g| g.reachable && g.healthy),
        hashes,
        gateways,
    }
}
