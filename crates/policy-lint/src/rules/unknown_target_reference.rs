//! P305 `unknown-target-reference`: a reference to a target id that does not exist.

use super::rule::{declare_rule, did_you_mean, Context, Finding};

declare_rule! {
    /// ## What it does
    /// Reports `providers.default` or a `routes[].target` that names no target of
    /// `providers.targets`, with the closest id as a suggestion.
    ///
    /// ## Why is this bad?
    /// A request routed to a target that does not exist cannot be forwarded: the gateway would
    /// refuse the config.
    ///
    /// ## Example
    /// ```yaml
    /// providers:
    ///   targets:
    ///     - {id: openai-primary, provider: openai, base_url: "https://api.openai.com"}
    ///   default: openai-primary2
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    ///   default: openai-primary
    /// ```
    pub static RULE = { code: "P305", name: "unknown-target-reference", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Every target's id is needed: with one broken, a reference to it is not dangling.
    let ids: Option<Vec<_>> = ctx
        .indices("/providers/targets")
        .map(|i| {
            ctx.get(format_args!("/providers/targets/{i}/id"), |c| {
                c.providers.targets.get(i).map(|t| &t.id)
            })
        })
        .collect();
    let Some(ids) = ids else { return };
    let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    let mut refs = Vec::new();
    if let Some(d) = ctx.get("/providers/default", |c| c.providers.default.as_ref()) {
        refs.push(("/providers/default".to_string(), d));
    }
    for i in ctx.indices("/routes") {
        let pointer = format!("/routes/{i}/target");
        if let Some(target) = ctx.get(&pointer, |c| c.routes.get(i).map(|r| &r.target)) {
            refs.push((pointer, target));
        }
    }
    for (pointer, id) in refs {
        let id = id.as_str();
        if ids.contains(&id) {
            continue;
        }
        let (label, help) = match did_you_mean(id, ids.iter().copied()) {
            Some(s) => (
                format!("did you mean `{s}`?"),
                format!("did you mean `{s}`? Targets: {}", ids.join(", ")),
            ),
            None => (
                "no such target".to_string(),
                format!("name one of the targets: {}", ids.join(", ")),
            ),
        };
        out.push(Finding::new(
            pointer,
            format!("target `{id}` is not defined in `providers.targets`"),
            label,
            help,
        ));
    }
}
