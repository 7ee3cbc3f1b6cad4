//! P303 `duplicate-id`: two targets or two content-filter rules share an id.

use super::rule::{declare_rule, Context, Finding};

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
    let Some(config) = ctx.config else { return };
    let targets = config.providers.targets.iter().map(|t| t.id.as_str());
    duplicates("/providers/targets", "target", targets, out);
    if let Some(cf) = &config.policy.content_filter {
        duplicates(
            "/policy/content-filter/rules",
            "rule",
            cf.rules.iter().map(|r| r.id.as_str()),
            out,
        );
    }
}

fn duplicates<'a>(list: &str, what: &str, ids: impl Iterator<Item = &'a str>, out: &mut Vec<Finding>) {
    let mut seen = std::collections::HashMap::new();
    for (i, id) in ids.enumerate() {
        if let Some(first) = seen.insert(id, i) {
            seen.insert(id, first);
            out.push(
                Finding::new(
                    format!("{list}/{i}/id"),
                    format!("{what} id `{id}` is already used"),
                    "used again here",
                    format!("give every {what} its own id"),
                )
                .related(format!("{list}/{first}/id"), "first used here"),
            );
        }
    }
}
