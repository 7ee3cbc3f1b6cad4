//! P302 `duplicate-chain-entry`: a policy kind listed twice in the chain.

use super::rule::{declare_rule, Context, Finding};

declare_rule! {
    /// ## What it does
    /// Reports a policy kind that appears more than once in `policies.chain`, at the second
    /// occurrence.
    ///
    /// ## Why is this bad?
    /// Each kind has one settings block, so running it twice only doubles the cost (and, for
    /// `rate-limit`, takes two tokens per request); it usually means an edit went wrong.
    ///
    /// ## Example
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection, pii-detector, prompt-injection]
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection, pii-detector]
    /// ```
    pub static RULE = { code: "P302", name: "duplicate-chain-entry", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(config) = ctx.config else { return };
    let chain = &config.policies.chain;
    for (i, kind) in chain.iter().enumerate() {
        if let Some(first) = chain[..i].iter().position(|k| k == kind) {
            out.push(
                Finding::new(
                    format!("/policies/chain/{i}"),
                    format!("policy `{kind}` is already in the chain"),
                    "listed again here",
                    "remove this entry; each policy runs once, at its first position",
                )
                .related(format!("/policies/chain/{first}"), "first listed here"),
            );
        }
    }
}
