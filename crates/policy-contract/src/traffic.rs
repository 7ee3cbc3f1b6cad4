//! One line of recorded traffic (JSON Lines), as `policy-gateway --record` writes it and as
//! `policy replay` and `policy test --record-from` read it: the format is defined here only.
//! Reading whole files (HAR, malformed lines, byte-order marks) is `policy_replay::traffic`'s.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One line of recorded traffic (docs/reference/traffic-format.md), as read and as written
/// (`policy-gateway --record`): the format is defined here only.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Line {
    /// Request id; optional. A number is read as its decimal text.
    #[serde(default, deserialize_with = "id_text", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Receive time, RFC 3339.
    pub ts: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Client address; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Request headers, lower-case names; optional (`null` is none).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, String>,
    /// The JSON body.
    pub body: Value,
    /// The HTTP status the request was answered with when it was recorded; optional. The live
    /// harness counts an answer with another status as `status_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
}

/// An optional id: a string, or a number read as its decimal text.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    }))
}

/// Optional headers: `null` is the same as none.
fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}
