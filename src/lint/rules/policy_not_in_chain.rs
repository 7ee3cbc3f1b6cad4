//! P311 `policy-not-in-chain`: a policy is configured but never runs.

use super::rule::{declare_rule, At, Context, Finding};
use crate::config::PolicyKind;

declare_rule! {
    /// ## What it does
    /// Warns about a block under `policy` whose kind is not listed in `policies.chain`.
    ///
    /// ## Why is this bad?
    /// Only policies in the chain run. A configured policy left out of the chain looks active
    /// to a reviewer but enforces nothing — often the chain entry was forgotten.
    ///
    /// ## Example
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection]
    /// policy:
    ///   pii-detector:
    ///     action: redact
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection, pii-detector]
    /// ```
    pub static RULE = { code: "P311", name: "policy-not-in-chain", severity: Warning, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(config) = ctx.config else { return };
    for kind in PolicyKind::ALL {
        if config.policy.is_configured(kind) && !config.policies.chain.contains(&kind) {
            out.push(
                Finding::new(
                    format!("/policy/{kind}"),
                    format!("policy `{kind}` is configured but not in `policies.chain`, so it never runs"),
                    "not in the chain",
                    format!("add `{kind}` to `policies.chain`, or remove this block"),
                )
                .at(At::Key),
            );
        }
    }
}
