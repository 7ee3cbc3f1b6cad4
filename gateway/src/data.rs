//! The data plane: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /health`
//! (liveness: 200 while the process serves) and `GET /health/ready` (readiness: 200 when a
//! target is reachable, else 503; reachability is `probe.rs`'s, read here, never probed here).
//!
//! Phases of one request, in order (each named after what it does, as pingora's hooks are):
//! `admit` (pin the active config: one `ArcSwap` load, held to the end), `read_body` (size and
//! time limits), `record` (`--record`), `decide` (the shared engine), `respond` (403/429, or
//! `upstream::send`), `audit`. Every response, errors included, leaves through `stamp`, which
//! adds the response headers (docs/reference/headers.md) of the pinned config. This module never
//! changes the active config.

use crate::http::{error, json_response, method_not_allowed, read_limited, Body};
use crate::journal::now_ms;
use crate::metrics::Metrics;
use crate::server::Incoming;
use crate::state::{Active, Gateway};
use crate::upstream::{self, Outbound};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use policy_config::{AuditFailure, PolicyKind};
use policy_contract::{admin, headers};
use policy_contract::{time, traffic};
use policy_engine::{self as engine, Decision, Verdict};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest client-supplied `x-request-id` kept; longer ones are replaced by the gateway's own.
const MAX_REQUEST_ID: usize = 128;

/// One request in the in-flight gauge, taken out however it ends (including a client hang-up
/// that drops the handler's future). A request holds one until its response head is sent; a
/// streamed response holds another until its body ends, so open streams are counted too.
struct InFlight(&'static Metrics);

impl InFlight {
    fn begin(metrics: &'static Metrics) -> InFlight {
        metrics.in_flight_add(1);
        InFlight(metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight_add(-1);
    }
}

/// Handle one data-plane request: admit, route, count, stamp. `gw` is the process's for its
/// whole life (`main.rs`), so a request borrows it without touching a reference count both
/// data threads would write to.
pub async fn handle(gw: &'static Gateway, req: Request<Incoming>, client: Arc<str>) -> Response<Body> {
    // admit: everything below uses this config, whatever reloads happen meanwhile.
    let active = gw.active.load_full();
    let _in_flight = InFlight::begin(&gw.metrics);
    // Kept as the header value it is answered with: the client's is shared, not copied.
    let id = client_request_id(req.headers()).unwrap_or_else(|| gw.request_id());
    let (verdict, resp) = route(gw, &active, req, client, id.to_str().unwrap_or_default()).await;
    gw.metrics.count(verdict, resp.status().is_server_error());
    stamp(resp, &active, headers::verdict_value(verdict), id, &gw.instance_header)
}

/// The client's `x-request-id`, when it is one the gateway keeps: 1 to [`MAX_REQUEST_ID`]
/// visible ASCII characters.
fn client_request_id(sent: &HeaderMap) -> Option<HeaderValue> {
    let v = sent.get(headers::REQUEST_ID)?;
    let b = v.as_bytes();
    let ok = !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(|b| b.is_ascii_graphic());
    ok.then(|| v.clone())
}

/// Add the response headers (docs/reference/headers.md).
fn stamp(
    mut resp: Response<Body>,
    active: &Active,
    verdict: &'static str,
    id: HeaderValue,
    instance: &HeaderValue,
) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(
        HeaderName::from_static(headers::VERDICT),
        HeaderValue::from_static(verdict),
    );
    if let Some(v) = &active.headers.version {
        h.insert(HeaderName::from_static(headers::CONFIG_VERSION), v.clone());
    }
    if let Some(v) = &active.headers.hash {
        h.insert(HeaderName::from_static(headers::CONFIG_HASH), v.clone());
    }
    h.insert(HeaderName::from_static(headers::REQUEST_ID), id);
    h.insert(HeaderName::from_static(headers::INSTANCE), instance.clone());
    resp
}

async fn route(
    gw: &'static Gateway,
    active: &Arc<Active>,
    req: Request<Incoming>,
    client: Arc<str>,
    id: &str,
) -> (Option<Verdict>, Response<Body>) {
    let path = req.uri().path();
    match (req.method(), path) {
        // HEAD as GET (load balancers probe with it); hyper sends no body for a HEAD.
        (&Method::GET | &Method::HEAD, admin::HEALTH) => (None, health(gw, active, false)),
        (&Method::GET | &Method::HEAD, admin::HEALTH_READY) => (None, health(gw, active, true)),
        (&Method::POST, "/v1/chat/completions" | "/v1/completions") => completion(gw, active, req, client, id).await,
        (_, admin::HEALTH | admin::HEALTH_READY | "/v1/chat/completions" | "/v1/completions") => {
            let allow = if path.starts_with(admin::HEALTH) { "GET, HEAD" } else { "POST" };
            (None, method_not_allowed(req.method(), path, allow))
        }
        _ => (
            None,
            error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "unknown_url",
                &format!("no route for {} {path}: this gateway serves POST /v1/chat/completions, POST /v1/completions, GET /health and GET /health/ready", req.method()),
                Map::new(),
            ),
        ),
    }
}

/// `/health` (`readiness: false`): always 200 while serving. `/health/ready`: 200 when a
/// config is loaded (always, once this process serves) and at least one target is reachable,
/// else 503; the same body either way.
fn health(gw: &Gateway, active: &Active, readiness: bool) -> Response<Body> {
    let targets = gw.probes.health(&active.config.providers.targets);
    let ready = targets.iter().any(|t| t.reachable);
    let status = if readiness && !ready {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json_response(
        status,
        &admin::Health {
            status: "ok".into(),
            config_version: active.version.clone(),
            config_hash: active.hash.clone(),
            generation: active.generation,
            pending_restart: active.pending_restart.clone(),
            uptime_seconds: gw.started.elapsed().as_secs_f64(),
            requests_served: gw.metrics.served(),
            ready,
            targets,
            audit: active.audit_health(&gw.journal.audit),
        },
    )
}

async fn completion(
    gw: &'static Gateway,
    active: &Arc<Active>,
    req: Request<Incoming>,
    client: Arc<str>,
    id: &str,
) -> (Option<Verdict>, Response<Body>) {
    let started = Instant::now();
    let received = now_ms();
    let (parts, body) = req.into_parts();
    if let Some(refused) = audit_closed(gw, active, parts.uri.path(), &client, id) {
        return (None, refused);
    }
    let body = match read_body(active, &parts.headers, body).await {
        Ok(b) => b,
        Err(resp) => return (None, resp),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return (None, bad_request("the request body must be a JSON object")),
        Err(e) => return (None, bad_request(&format!("the request body is not valid JSON: {e}"))),
    };
    // The shadow candidate this request is evaluated by, if one runs: read once, so the same
    // one decides which headers are kept and evaluates. A guard, not an `Arc` clone: no
    // reference count touched on every request, and dropped before the upstream call.
    let shadow = gw.shadow.load();
    // The headers the engine sees: all of them when they are recorded or a shadow candidate
    // (whose rate-limit may read another) runs; else only the one the active config's
    // rate-limit reads, if any, as no other policy reads headers. An SDK sends a dozen.
    let all = gw.record.is_some() || shadow.is_some();
    let read = active.engine.header_read();
    let sent: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(k, _)| all || read == Some(k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = engine::Request {
        id: id.to_string(),
        path: parts.uri.path().to_string(),
        client_ip: Some(client.to_string()),
        headers: sent,
        body: value,
    };
    if let Some(file) = &gw.record {
        let line = traffic::Line {
            id: Some(request.id.clone()),
            ts: time::format_rfc3339(received),
            method: parts.method.to_string(),
            path: request.path.clone(),
            client_ip: request.client_ip.clone(),
            headers: request
                .headers
                .iter()
                .filter(|(k, _)| !headers::is_credential(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: request.body.clone(),
            // Written as the request arrives, before it is answered.
            expect_status: None,
        };
        gw.journal
            .append(file, &serde_json::to_value(&line).expect("a traffic line serialises"));
    }
    // The texts are read once: the active engine decides on them, and a shadow candidate, if
    // one runs, is evaluated on a copy and only counted, taking the active engine's matches
    // where its patterns are the same.
    let decision = match engine::read_texts(&request) {
        Ok(texts) => {
            let for_shadow = shadow.as_ref().map(|_| texts.clone());
            let mut shared = match for_shadow {
                Some(_) => engine::Shared::new(),
                None => engine::Shared::off(),
            };
            let d = active
                .engine
                .evaluate_shared(&request, texts, received, true, &mut shared);
            if let (Some(s), Some(texts)) = (shadow.as_deref(), for_shadow) {
                s.observe(&gw.metrics, &request, texts, received, &mut shared, &(&d).into());
            }
            d
        }
        // Fail closed: text no policy could read is never forwarded.
        Err(e) => {
            let message = format!(
                "the request cannot be inspected: {e}; the gateway forwards only requests whose \
                 texts are where the OpenAI wire format puts them"
            );
            let resp = error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "uninspectable_request",
                &message,
                Map::new(),
            );
            // A smuggling attempt is what an auditor most wants to see.
            if let Some(file) = active.audit_path() {
                let ip = request.client_ip.as_deref().unwrap_or_default();
                let mut event = refusal_event(active, id, &request.path, ip, 400, "uninspectable_request");
                event["reason"] = json!(e.to_string());
                gw.journal.audit(file, active.audit_keep_days(), &event);
            }
            return (None, resp);
        }
    };
    drop(shadow);
    let mut resp = respond(gw, active, &request, &decision, &parts.headers, id).await;
    if let Some(listed) = redaction_metadata(active, &decision) {
        resp.headers_mut()
            .insert(HeaderName::from_static(headers::REDACTIONS), listed);
    }
    // Every request is audited when `audit-logger` is in the chain, wherever it stands:
    // a request that an earlier policy blocked is the one an auditor most wants to see.
    audit(gw, active, &request, &decision, resp.status(), started, received);
    (Some(decision.verdict), resp)
}

/// [`headers::REDACTIONS`] for `d`: `pii-detector`'s redactions by type and count, when its
/// `redaction.include_metadata` is on (the default) and it redacted anything.
fn redaction_metadata(active: &Active, d: &Decision) -> Option<HeaderValue> {
    let on = active
        .config
        .policy
        .pii_detector
        .as_ref()
        .is_none_or(|p| p.redaction.include_metadata);
    if !on {
        return None;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in d.redactions.iter().filter(|r| r.policy == PolicyKind::PiiDetector) {
        *counts.entry(r.kind.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return None;
    }
    let listed: Vec<String> = counts.iter().map(|(kind, n)| format!("{kind}={n}")).collect();
    HeaderValue::from_str(&listed.join(", ")).ok()
}

fn bad_request(message: &str) -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_json",
        message,
        Map::new(),
    )
}

/// Read the whole body within `max_body_bytes` and `request_timeout_ms`.
async fn read_body(active: &Active, headers: &HeaderMap, body: Incoming) -> Result<bytes::Bytes, Response<Body>> {
    let limits = &active.config.gateway.limits;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            &format!(
                "the request body is larger than gateway.limits.max_body_bytes ({} bytes)",
                limits.max_body_bytes
            ),
            Map::new(),
        )
    };
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(too_large());
    }
    let limit = usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX);
    let read = read_limited(body, limit);
    match tokio::time::timeout(Duration::from_millis(limits.request_timeout_ms), read).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            &format!(
                "the request body did not arrive within gateway.limits.request_timeout_ms ({} ms)",
                limits.request_timeout_ms
            ),
            Map::new(),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(bad_request(&format!("the request body could not be read: {e}"))),
    }
}

async fn respond(
    gw: &'static Gateway,
    active: &Active,
    request: &engine::Request,
    d: &Decision,
    headers: &HeaderMap,
    id: &str,
) -> Response<Body> {
    // The error body's extra fields, built only for an error.
    let extra = || {
        let mut extra = Map::new();
        extra.insert("policy".into(), json!(d.policy.map(|p| p.as_str())));
        extra.insert("rule".into(), json!(d.rule));
        extra.insert("request_id".into(), json!(id));
        extra
    };
    match d.verdict {
        Verdict::Block => {
            let policy = d.policy.map_or("policy", |p| p.as_str());
            let rule = d.rule.as_deref().map(|r| format!(" (rule {r})")).unwrap_or_default();
            let why = d.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            error(
                StatusCode::FORBIDDEN,
                "policy_violation",
                "policy_blocked",
                &format!("request blocked by {policy}{rule}{why}"),
                extra(),
            )
        }
        Verdict::RateLimited => {
            let ms = d.retry_after_ms.unwrap_or(1000);
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "rate_limit_exceeded",
                &format!("rate limit exceeded; retry after {ms} ms"),
                extra(),
            );
            let h = resp.headers_mut();
            h.insert(hyper::header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000).max(1)));
            h.insert(HeaderName::from_static("retry-after-ms"), HeaderValue::from(ms));
            resp
        }
        Verdict::Allow | Verdict::Redact => {
            let Some(target) = active.config.providers.targets.get(d.target) else {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "no_target",
                    "the config has no target for this request",
                    extra(),
                );
            };
            let out = Outbound {
                target,
                path: &request.path,
                // Borrowed: serialised once on its way out, never copied.
                body: std::borrow::Cow::Borrowed(d.body.as_ref().unwrap_or(&request.body)),
                headers,
                request_id: id,
            };
            // A drain that runs out before the upstream answers ends the request with a 503
            // that says so (a stream already started ends with its `error` event instead),
            // never a connection closed without a response.
            // This thread's copy, off the worker threads the process's own.
            let mut expired = crate::workers::drain_expired().unwrap_or_else(|| gw.drain_expired.subscribe());
            let drain_over = async move {
                if expired.wait_for(|e| *e).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let sent = tokio::select! {
                sent = upstream::send(out) => sent,
                () = drain_over => {
                    let ms = active.config.gateway.limits.drain_timeout_ms;
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_error",
                        "gateway_shutdown",
                        &format!("the gateway is shutting down: gateway.limits.drain_timeout_ms ({ms} ms) ran out before the upstream answered; retry"),
                        extra(),
                    );
                }
            };
            match sent {
                Ok(resp) if is_event_stream(&resp) => {
                    let (drain_ms, id) = (active.config.gateway.limits.drain_timeout_ms, id.to_string());
                    let closing = move || drain_event(drain_ms, &id);
                    let streaming = InFlight::begin(&gw.metrics);
                    resp.map(|body| crate::http::until_expired(body, gw.drain_expired.subscribe(), closing, streaming))
                }
                Ok(resp) => resp,
                Err(e) => {
                    if !matches!(e, upstream::UpstreamError::Unsupported(_)) {
                        gw.metrics.upstream_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut extra = extra();
                    extra.insert("target".into(), json!(target.id));
                    error(e.status(), e.kind(), e.kind(), &e.to_string(), extra)
                }
            }
        }
    }
}

/// The audit event of a request refused before any policy decided it (`verdict: null`).
fn refusal_event(active: &Active, id: &str, path: &str, client_ip: &str, status: u16, code: &str) -> Value {
    json!({
        "event": "request",
        "ts": time::format_rfc3339(now_ms()),
        "id": id,
        "path": path,
        "client_ip": client_ip,
        "verdict": null,
        "status": status,
        "error": code,
        "config_version": active.version,
        "config_hash": active.hash,
        "service": active.config.telemetry.service_name,
    })
}

fn is_event_stream(resp: &Response<Body>) -> bool {
    resp.headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The SSE event a stream still open at the end of a drain ends with: an OpenAI-style error
/// object, so clients that read `error` events (the official SDKs do) raise it.
fn drain_event(drain_timeout_ms: u64, id: &str) -> bytes::Bytes {
    let error = json!({"error": {
        "message": format!(
            "the gateway is shutting down and this stream did not finish within \
             gateway.limits.drain_timeout_ms ({drain_timeout_ms} ms); retry the request"
        ),
        "type": "server_error",
        "code": "gateway_shutdown",
        "param": null,
        "request_id": id,
    }});
    bytes::Bytes::from(format!("event: error\ndata: {error}\n\n"))
}

fn audit(
    gw: &Gateway,
    active: &Active,
    request: &engine::Request,
    d: &Decision,
    status: StatusCode,
    started: Instant,
    received: i64,
) {
    let Some(path) = active.audit_path() else {
        return;
    };
    let mut event = json!({
        "event": "request",
        "ts": time::format_rfc3339(received),
        "id": request.id,
        "path": request.path,
        "client_ip": request.client_ip,
        "verdict": d.verdict.as_str(),
        "policy": d.policy.map(|p| p.as_str()),
        "rule": d.rule,
        "status": status.as_u16(),
        "target": active.engine.target_id(d.target),
        "latency_ms": crate::state::millis(started.elapsed()),
        "config_version": active.version,
        "config_hash": active.hash,
        "service": active.config.telemetry.service_name,
        "findings": d.hits.len(),
        "redactions": d.redactions.len(),
    });
    if active.audit_bodies() {
        // The body as it left the gateway: redacted text stays redacted in the log.
        event["body"] = d.body.clone().unwrap_or_else(|| request.body.clone());
    }
    let retention = crate::journal::Retention::at(received, active.audit_keep_days());
    gw.journal.audit_at(path, retention, &event);
}

/// Under `audit-logger.on_failure: closed`, while audit writes fail: the 503 to answer. The
/// refusal is itself audited, and that write is what tells when the log is writable again.
fn audit_closed(gw: &Gateway, active: &Active, path: &str, client_ip: &str, id: &str) -> Option<Response<Body>> {
    let file = active.audit_path()?;
    if active.audit_on_failure() != AuditFailure::Closed || gw.journal.audit.writing() {
        return None;
    }
    let event = refusal_event(active, id, path, client_ip, 503, "audit_unavailable");
    gw.journal.audit(file, active.audit_keep_days(), &event);
    let why = gw.journal.audit.error().unwrap_or_else(|| "write failed".into());
    Some(error(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        "audit_unavailable",
        &format!(
            "the audit log cannot be written ({}: {why}) and audit-logger.on_failure is `closed`: \
             no request is served unaudited; retry later",
            file.display()
        ),
        Map::new(),
    ))
}
