//! The admin plane: with `token_env` set, every admin route wants the bearer token, and a
//! missing variable locks everyone out rather than opening the plane.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{Gateway, Opts};

#[test]
fn the_admin_plane_wants_the_bearer_token() {
    let config = mock_config("1.0.0", 0, FULL_CHAIN).replace(
        "admin: { listen: 127.0.0.1:0 }",
        "admin: { listen: 127.0.0.1:0, token_env: POLICY_ADMIN_TOKEN }",
    );
    let gw = Gateway::start_with(
        &config,
        Opts {
            env: vec![("POLICY_ADMIN_TOKEN", "correct-horse")],
            ..Opts::default()
        },
    );
    for path in ["/admin/status", "/admin/history", "/metrics"] {
        assert_eq!(gw.admin("GET", path, None, "").status, 401, "{path}");
        assert_eq!(gw.admin("GET", path, Some("wrong"), "").status, 401, "{path}");
        assert_eq!(gw.admin("GET", path, Some("correct-horse"), "").status, 200, "{path}");
    }
    let r = gw.admin("POST", "/admin/reload", Some("correct-hors"), "");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    // Every admin answer, a refusal included, says which process gave it (`x-policy-instance`).
    let instance = gw.chat("Hello").header("x-policy-instance").unwrap().to_string();
    assert_eq!(r.header("x-policy-instance"), Some(instance.as_str()));
    let ok = gw.admin("GET", "/admin/status", Some("correct-horse"), "");
    assert_eq!(ok.header("x-policy-instance"), Some(instance.as_str()));
    // The scheme is case-insensitive (RFC 9110).
    let lower = crate::support::request(
        gw.admin,
        "GET",
        "/admin/status",
        &[("authorization", "bearer correct-horse")],
        b"",
    );
    assert_eq!(lower.status, 200);
    assert_eq!(gw.admin("POST", "/admin/reload", Some("correct-horse"), "").status, 200);
    assert_eq!(
        gw.admin("GET", "/admin/history", Some("correct-horse"), "").json()["operations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // token_env set but the variable missing: nothing gets in.
    let gw = Gateway::start(&config);
    assert_eq!(gw.admin("GET", "/admin/status", Some(""), "").status, 401);
    assert!(gw.log().contains("POLICY_ADMIN_TOKEN, which is not set"));
}

/// Every answer of the admin API and of the health endpoints matches its schema under
/// `schema/output/`, generated from the contract's types: a field the gateway adds, renames or
/// drops without the contract fails here.
#[test]
fn every_admin_answer_matches_its_schema() {
    use crate::output_schemas::assert_valid;
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    let answer = |what: &str, method: &str, path: &str, body: &str, status: u16| {
        let r = gw.admin(method, path, None, body);
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_valid("admin-answer", what, &r.json());
    };
    answer("a refused revert (nothing to revert)", "POST", "/admin/revert", "", 409);
    answer(
        "an applied reload",
        "POST",
        "/admin/reload",
        &mock_config("1.0.1", 0, FULL_CHAIN),
        200,
    );
    answer(
        "an unchanged reload",
        "POST",
        "/admin/reload",
        &mock_config("1.0.1", 0, FULL_CHAIN),
        200,
    );
    answer(
        "a reload refused by lint",
        "POST",
        "/admin/reload",
        "pack: [broken",
        422,
    );
    answer("an applied revert", "POST", "/admin/revert", "", 200);
    assert_valid(
        "admin-status",
        "GET /admin/status",
        &gw.admin("GET", "/admin/status", None, "").json(),
    );
    assert_valid(
        "admin-history",
        "GET /admin/history",
        &gw.admin("GET", "/admin/history", None, "").json(),
    );
    for path in ["/health", "/health/ready"] {
        let r = gw.get(path);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
        assert_valid("health", path, &body);
    }
}
