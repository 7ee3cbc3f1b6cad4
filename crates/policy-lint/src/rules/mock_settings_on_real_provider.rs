//! P312 `mock-settings-on-real-provider`: `mock` settings on a target that is not a mock.

use super::rule::{declare_rule, At, Context, Finding};
use policy_config::ProviderKind;

declare_rule! {
    /// ## What it does
    /// Warns about a `mock:` block on a target whose `provider` is not `mock`.
    ///
    /// ## Why is this bad?
    /// The block has no effect there. It usually means the provider was switched from `mock`
    /// to a real one (or the reverse was intended) and the config says two things.
    ///
    /// ## Example
    /// ```yaml
    /// - id: primary
    ///   provider: openai
    ///   base_url: https://api.openai.com
    ///   mock: { latency_ms: 20 }
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// - id: primary
    ///   provider: openai
    ///   base_url: https://api.openai.com
    /// ```
    pub static RULE = { code: "P312", name: "mock-settings-on-real-provider", severity: Warning, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for i in ctx.indices("/providers/targets") {
        let Some(t) = ctx.get(format_args!("/providers/targets/{i}"), |c| c.providers.targets.get(i)) else {
            continue;
        };
        if t.mock.is_some() && t.provider != ProviderKind::Mock {
            out.push(
                Finding::new(
                    format!("/providers/targets/{i}/mock"),
                    format!("target `{}` has `mock` settings but its provider is not `mock`", t.id),
                    "ignored",
                    "remove the `mock` block, or set `provider: mock`",
                )
                .at(At::Key),
            );
        }
    }
}
