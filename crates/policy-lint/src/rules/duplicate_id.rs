//! P303 `duplicate-id`: two targets or two content-filter rules share an id.

use super::rule::{declare_rule, Context, Finding};
use std::borrow::Cow;

declare_rule! {
    /// ## What it does
    /// Reports a provider target id or a content-filter rule id that is already used by an
    /// earlier item of the same list.
    ///
    /// ## Why is this bad?
    /// Ids are how routes, verdicts, audit events and `policy diff` name an item. Two items with
    /// one id make routing ambiguous and the audit trail unreadable.
    ///
    /// ## Example
    /// ```yaml
    /// content-filter:
    ///   rules:
    ///     - {id: secrets, pattern: "sk-[A-Za-z0-9]{20,}", action: redact}
    ///     - {id: secrets, pattern: "AKIA[0-9A-Z]{16}", action: redact}
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// content-filter:
    ///   rules:
    ///     - {id: openai-keys, pattern: "sk-[A-Za-z0-9]{20,}", action: redact}
    ///     - {id: aws-keys, pattern: "AKIA[0-9A-Z]{16}", action: redact}
    /// ```
    pub static RULE = { code: "P303", name: "duplicate-id", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let targets = ctx.indices("/providers/targets").filter_map(|i| {
        let id = ctx.get(format_args!("/providers/targets/{i}/id"), |c| {
            c.providers.targets.get(i).map(|t| &t.id)
        })?;
        Some((i, id))
    });
    duplicates(
        "/providers/targets",
        "target",
        ctx.indices("/providers/targets").len(),
        targets,
        out,
    );
    let rules = ctx.indices("/policy/content-filter/rules").filter_map(|i| {
        let id = ctx.get(format_args!("/policy/content-filter/rules/{i}/id"), |c| {
            c.policy.content_filter.as_ref()?.rules.get(i).map(|r| &r.id)
        })?;
        Some((i, id))
    });
    let n = ctx.indices("/policy/content-filter/rules").len();
    duplicates("/policy/content-filter/rules", "rule", n, rules, out);
}

/// Report every id of `ids` (the sound items, with their index) that an earlier item used.
fn duplicates<'a>(
    list: &str,
    what: &str,
    count: usize,
    ids: impl Iterator<Item = (usize, Cow<'a, String>)>,
    out: &mut Vec<Finding>,
) {
    let mut seen: std::collections::HashMap<Cow<'a, String>, usize> = std::collections::HashMap::with_capacity(count);
    for (i, id) in ids {
        if let Some(&first) = seen.get(&id) {
            out.push(
                Finding::new(
                    format!("{list}/{i}/id"),
                    format!("{what} id `{id}` is already used"),
                    "used again here",
                    format!("give every {what} its own id"),
                )
                .related(format!("{list}/{first}/id"), "first used here"),
            );
        } else {
            seen.insert(id, i);
        }
    }
}
