//! Compatibility: the official OpenAI Python client (`tests/openai_client.py`) completes,
//! streams and sees a policy block as `PermissionDeniedError` through the gateway.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::Gateway;
use serde_json::Value;

/// The official client, installed by `.ci/run` (`pip install openai`). Outside CI a
/// machine without it skips with a note; in CI its absence fails.
#[test]
fn the_official_python_client_works_through_the_gateway() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the openai package: pip install openai"
        );
        eprintln!("SKIPPED: python3 with the openai package is not installed (pip install openai)");
        return;
    }
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://{}/v1", gw.data))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["completion"], "Hello from the mock.");
    assert_eq!(result["stream"], "Hello from the mock.");
    assert_eq!(result["blocked"]["status"], 403);
    assert_eq!(result["blocked"]["error"], "PermissionDeniedError");
    assert_eq!(result["blocked"]["policy"], "prompt-injection");
}
