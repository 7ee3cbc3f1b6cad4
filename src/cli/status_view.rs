//! How `policy gateway status` shows a gateway: its JSON (status fields plus
//! `operations_history`) and the human lines, kt-style. Pure rendering of contract types.

use policy_contract::admin::{HistoryEntry, Status};
use serde_json::{Map, Value};

/// The status object (schema/output/gateway-status.schema.json): `version`, `hash`, `pid`,
/// `pending_restart` first, then the rest of the status, then `operations_history` if asked for.
pub fn json(s: &Status, history: Option<&[HistoryEntry]>) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), serde_json::json!(s.version));
    m.insert("hash".into(), serde_json::json!(s.hash));
    m.insert("pid".into(), serde_json::json!(s.pid));
    m.insert("pending_restart".into(), serde_json::json!(s.pending_restart));
    m.insert("pack".into(), serde_json::json!(s.pack));
    m.insert("generation".into(), serde_json::json!(s.generation));
    m.insert("instance".into(), serde_json::json!(s.instance));
    m.insert("uptime_seconds".into(), serde_json::json!(s.uptime_seconds));
    m.insert("config_path".into(), serde_json::json!(s.config_path));
    if let Some(source) = &s.source {
        m.insert("source".into(), serde_json::json!(source));
    }
    m.insert("listen".into(), serde_json::json!(s.listen));
    m.insert("admin_listen".into(), serde_json::json!(s.admin_listen));
    m.insert("revert_to".into(), serde_json::json!(s.revert_to));
    m.insert("state_dir".into(), serde_json::json!(s.state_dir));
    m.insert("requests_served".into(), serde_json::json!(s.requests_served));
    m.insert("in_flight".into(), serde_json::json!(s.in_flight));
    if let Some(h) = history {
        m.insert("operations_history".into(), serde_json::json!(h));
    }
    Value::Object(m)
}

pub fn human(s: &Status, history: Option<&[HistoryEntry]>) -> String {
    let pending = if s.pending_restart.is_empty() {
        "none".to_string()
    } else {
        format!("{} (apply with `policy gateway restart`)", s.pending_restart.join(", "))
    };
    let revert = s
        .revert_to
        .as_ref()
        .map_or("none".to_string(), |i| format!("{} ({})", i.version, i.hash));
    let mut out = String::new();
    for (k, v) in [
        ("pack", s.pack.clone()),
        ("version", s.version.clone()),
        ("hash", s.hash.clone()),
        ("pid", s.pid.to_string()),
        ("uptime", uptime(s.uptime_seconds)),
        ("pending restart", pending),
        ("instance", s.instance.clone()),
        ("revert to", revert),
        ("config", s.config_path.clone()),
        ("serving from", source(s)),
        ("listen", format!("{} (admin {})", s.listen, s.admin_listen)),
    ] {
        out.push_str(&format!("{k:<16} {v}\n"));
    }
    if let Some(h) = history {
        out.push_str(&format!("operations       {}\n", h.len()));
        for e in h {
            let versions = match (&e.from_version, &e.target_version) {
                (Some(f), Some(t)) => format!("{f} -> {t}"),
                (None, Some(t)) => t.clone(),
                (Some(f), None) => format!("{f} -> (refused)"),
                (None, None) => "-".into(),
            };
            out.push_str(&format!(
                "  {}  {:<7} {:<9} {:<7} {versions}  {}  {:.1} ms{}\n",
                e.at,
                e.action.as_str(),
                e.outcome,
                e.trigger.as_str(),
                e.hash.as_deref().unwrap_or("-"),
                e.duration_ms,
                e.error.as_deref().map(|m| format!("  {m}")).unwrap_or_default()
            ));
        }
    }
    out
}

/// Where the active config came from, and a note when that is not the `--config` file, which
/// a SIGHUP or a reload without a body would re-read.
pub fn source(s: &Status) -> String {
    match (&s.source, s.served_from_elsewhere()) {
        (None, _) => "unknown (the gateway predates this field)".into(),
        (Some(origin), None) => origin.to_string(),
        (Some(_), Some(origin)) => format!(
            "{origin} (not the config file: a SIGHUP or a reload without --config re-reads {} instead)",
            s.config_path
        ),
    }
}

/// `3d 4h`, `2h 5m`, `4m 12s`, `12.3s`.
fn uptime(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..60 => format!("{secs:.1}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}
