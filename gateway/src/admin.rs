//! The admin plane, on its own listener: `POST /admin/reload`, `POST /admin/revert`,
//! `POST /admin/restart`, `GET /admin/status`, `GET /admin/history`, `GET /admin/config`,
//! `POST|GET|DELETE /admin/shadow`, `GET /metrics`.
//!
//! Owns authentication (a bearer token from the env var named by `gateway.admin.token_env`,
//! compared in constant time; missing or wrong -> 401 on every endpoint) and the JSON shapes.
//! Reload and revert themselves are `reload.rs`'s; this module only calls them.

use crate::http::{error, full, json_response, method_not_allowed, read_limited, Body};
use crate::reload::{self, Source, Trigger};
use crate::server::Incoming;
use crate::state::Gateway;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use policy_contract::admin::{self, Answer, History, Status};
use serde_json::Map;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Largest YAML body `/admin/reload` accepts: far above any real config (the linter handles
/// 1 MB in ~70 ms), small enough that a stray upload cannot exhaust memory.
const MAX_RELOAD_BODY: usize = 16 << 20;

/// Handle one admin request: authenticate, then route. Every answer, a refusal included,
/// carries this process's `x-policy-instance` (docs/reference/admin-api.md).
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>, _client: Arc<str>) -> Response<Body> {
    let mut resp = match refuse_unauthorized(&gw, &req) {
        Some(refusal) => refusal,
        None => route(&gw, req).await,
    };
    resp.headers_mut().insert(
        hyper::header::HeaderName::from_static(policy_contract::headers::INSTANCE),
        gw.instance_header.clone(),
    );
    resp
}

async fn route(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let gw = Arc::clone(gw);
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::POST, admin::RELOAD) => reload_endpoint(&gw, req).await,
        (Method::POST, admin::RESTART) => restart_endpoint(&gw, req).await,
        (Method::POST, admin::REVERT) => {
            let answer = reload::revert(&gw).await;
            let status = match answer {
                Answer::Applied(_) => StatusCode::OK,
                _ => StatusCode::CONFLICT,
            };
            json_response(status, &answer)
        }
        (Method::GET, admin::STATUS) => json_response(StatusCode::OK, &status(&gw)),
        (Method::POST, admin::SHADOW) => shadow_endpoint(&gw, req).await,
        (Method::GET, admin::SHADOW) => match gw.shadow.load().as_deref() {
            Some(s) => json_response(StatusCode::OK, &s.report(&gw.active.load().hash)),
            None => no_shadow(),
        },
        (Method::DELETE, admin::SHADOW) => match crate::shadow::stop(&gw) {
            Some(report) => json_response(StatusCode::OK, &report),
            None => no_shadow(),
        },
        (Method::GET, admin::CONFIG) => json_response(StatusCode::OK, &gw.active.load().config),
        (Method::GET, admin::HISTORY) => {
            let history = History {
                operations: gw.history.lock().expect("history lock").entries.iter().cloned().collect(),
            };
            json_response(StatusCode::OK, &history)
        }
        (Method::GET, admin::METRICS) => {
            let active = gw.active.load();
            let info = crate::metrics::ActiveInfo {
                version: &active.version,
                hash: &active.hash,
                generation: active.generation,
                pending_restart: active.pending_restart.len(),
                service: &active.config.telemetry.service_name,
            };
            let text = gw.metrics.render(&info, &gw.journal.audit, gw.started.elapsed().as_secs_f64());
            Response::builder()
                .header(hyper::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                .body(full(text))
                .expect("static parts are valid")
        }
        (m, admin::RELOAD | admin::REVERT | admin::RESTART) => method_not_allowed(&m, &path, "POST"),
        (m, admin::STATUS | admin::HISTORY | admin::METRICS | admin::CONFIG) => method_not_allowed(&m, &path, "GET"),
        (m, admin::SHADOW) => method_not_allowed(&m, &path, "POST, GET, DELETE"),
        (m, _) => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            &format!("no admin route for {m} {path}: POST /admin/reload, POST /admin/revert, POST /admin/restart, GET /admin/status, GET /admin/history, GET /admin/config, POST|GET|DELETE /admin/shadow, GET /metrics"),
            Map::new(),
        ),
    }
}

/// Check the bearer token when the active config names a `token_env`: the 401 to send, if any.
fn refuse_unauthorized(gw: &Gateway, req: &Request<Incoming>) -> Option<Response<Body>> {
    let active = gw.active.load();
    let name = active.config.gateway.admin.token_env.as_deref()?;
    let unauthorized = |message: String| {
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "unauthorized",
            &message,
            Map::new(),
        );
        resp.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"policy-gateway admin\""),
        );
        resp
    };
    let expected = std::env::var(name).unwrap_or_default();
    if expected.is_empty() {
        return Some(unauthorized(format!(
            "the admin token variable {name} is not set in the gateway's environment; every admin request is refused"
        )));
    }
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .unwrap_or_default();
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        None
    } else {
        Some(unauthorized(format!(
            "missing or wrong bearer token (send `Authorization: Bearer ${name}`)"
        )))
    }
}

/// Equality whose time does not depend on where the inputs differ, nor on their lengths:
/// both sides are hashed to 32 bytes first, then every byte is compared.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// The body of a reload or restart request: empty (re-read the file) or a config's text.
async fn config_source(req: Request<Incoming>) -> Result<Source, Response<Body>> {
    let body = read_limited(req.into_body(), MAX_RELOAD_BODY).await.map_err(|e| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            &format!("cannot read the request body (at most {MAX_RELOAD_BODY} bytes): {e}"),
            Map::new(),
        )
    })?;
    Ok(if body.iter().all(u8::is_ascii_whitespace) {
        Source::File
    } else {
        Source::Text(body.to_vec())
    })
}

async fn reload_endpoint(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let source = match config_source(req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let answer = reload::reload(gw, source, Trigger::Admin).await;
    let status = match answer {
        Answer::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    json_response(status, &answer)
}

/// `POST /admin/shadow`: 200 with the candidate's hash once it is evaluated beside the active
/// config; 422 with the diagnostics when it does not lint or compile (nothing changes).
async fn shadow_endpoint(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let bytes = match config_source(req).await {
        Ok(Source::Text(bytes)) => bytes,
        Ok(Source::File) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "empty_body",
                "POST /admin/shadow takes the candidate config's YAML as its body",
                Map::new(),
            )
        }
        Err(resp) => return resp,
    };
    match crate::shadow::start(gw, &bytes) {
        Ok(started) => json_response(StatusCode::OK, &started),
        Err(r) => {
            let refused = admin::Rejected {
                error: r.error,
                diagnostics: Some(*r.diagnostics).filter(|d| !d.is_null()),
                active: Some(gw.active.load().identity()),
                operation: None,
            };
            // The shape of a refused reload (`"status": "rejected"`), nothing attempted.
            json_response(StatusCode::UNPROCESSABLE_ENTITY, &Answer::Rejected(Box::new(refused)))
        }
    }
}

fn no_shadow() -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no_shadow",
        "no shadow candidate runs: POST /admin/shadow with a candidate config starts one",
        Map::new(),
    )
}

/// `POST /admin/restart`: 200 once the new process serves, 422 for an invalid config, 409
/// while another restart runs, 500 when the new process did not start (this one serves on).
async fn restart_endpoint(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let source = match config_source(req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (code, answer) = crate::restart::restart(gw, source, Trigger::Admin).await;
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &answer,
    )
}

fn status(gw: &Gateway) -> Status {
    let active = gw.active.load_full();
    let last_reload = gw.history.lock().expect("history lock").last_reload().cloned();
    let revert_to = gw
        .previous
        .lock()
        .expect("previous lock")
        .as_ref()
        .map(|p| p.identity());
    Status {
        status: "serving".into(),
        pack: active.config.pack.name.clone(),
        version: active.version.clone(),
        hash: active.hash.clone(),
        generation: active.generation,
        source_sha256: active.source_sha.clone(),
        config_path: std::path::absolute(&gw.config_path)
            .unwrap_or_else(|_| gw.config_path.clone())
            .display()
            .to_string(),
        source: Some(active.origin.clone()),
        pid: std::process::id(),
        pending_restart: active.pending_restart.clone(),
        last_reload,
        revert_to,
        uptime_seconds: gw.started.elapsed().as_secs_f64(),
        requests_served: gw.metrics.served(),
        in_flight: gw.metrics.in_flight(),
        listen: gw.listen.to_string(),
        admin_listen: gw.admin_listen.to_string(),
        overridden: gw.overrides.pointers().map(String::from).collect(),
        instance: gw.instance.clone(),
        state_dir: crate::state_dir::path().map(|p| p.display().to_string()),
        audit: active.audit_health(&gw.journal.audit),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret-longer", b"s3cret"));
    }
}
