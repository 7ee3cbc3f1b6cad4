//! P307 `missing-base-url`: a non-mock target without `base_url`.

use super::rule::{declare_rule, At, Context, Finding};
use policy_config::ProviderKind;

declare_rule! {
    /// ## What it does
    /// Reports an `openai` or `anthropic` target that has no `base_url`.
    ///
    /// ## Why is this bad?
    /// Without a base URL the gateway does not know where to forward requests. Only the local
    /// `mock` provider needs none.
    ///
    /// ## Example
    /// ```yaml
    /// targets:
    ///   - id: openai-primary
    ///     provider: openai
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// targets:
    ///   - id: openai-primary
    ///     provider: openai
    ///     base_url: https://api.openai.com
    /// ```
    pub static RULE = { code: "P307", name: "missing-base-url", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for i in ctx.indices("/providers/targets") {
        let Some(t) = ctx.get(format_args!("/providers/targets/{i}"), |c| c.providers.targets.get(i)) else {
            continue;
        };
        if t.base_url.is_none() && t.provider != ProviderKind::Mock {
            let example = match t.provider {
                ProviderKind::Anthropic => "https://api.anthropic.com",
                _ => "https://api.openai.com",
            };
            out.push(
                Finding::new(
                    format!("/providers/targets/{i}"),
                    format!("target `{}` has no `base_url`", t.id),
                    "`base_url` is missing here",
                    format!("add `base_url: {example}` (only `provider: mock` needs none)"),
                )
                .at(At::Head),
            );
        }
    }
}
