//! P302 `duplicate-chain-entry`: a policy kind listed twice in the chain.

use super::rule::{declare_rule, Context, Finding};
use crate::fix::{seq_style, whole_lines, Fix, SeqStyle};
use policy_config::PolicyKind;

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
    // Entry by entry: an unknown kind elsewhere in the chain (P301) hides no duplicate.
    let mut seen: Vec<(usize, PolicyKind)> = Vec::new();
    for i in ctx.indices("/policies/chain") {
        let entry = ctx.get(format_args!("/policies/chain/{i}"), |c| c.policies.chain.get(i));
        let Some(kind) = entry.map(|k| *k) else { continue };
        if let Some(&(first, _)) = seen.iter().find(|(_, k)| *k == kind) {
            out.push(
                Finding::new(
                    format!("/policies/chain/{i}"),
                    format!("policy `{kind}` is already in the chain"),
                    "listed again here",
                    "remove this entry; each policy runs once, at its first position",
                )
                .related(format!("/policies/chain/{first}"), "first listed here")
                .fix(remove_entry(ctx, i, kind)),
            );
        } else {
            seen.push((i, kind));
        }
    }
}

/// Delete chain entry `i` (never the first): in a block sequence its line, in a flow sequence
/// the entry and the comma before it. Safe: the entry never ran a second time.
fn remove_entry(ctx: &Context<'_>, i: usize, kind: PolicyKind) -> Option<Fix> {
    let lines = ctx.lines;
    let this = ctx.doc.locate(&format!("/policies/chain/{i}")).value;
    let prev = ctx.doc.locate(&format!("/policies/chain/{}", i - 1)).value;
    let message = format!("remove the second `{kind}`");
    match seq_style(ctx.src, lines, this).0 {
        SeqStyle::Block => Some(Fix::safe(message, whole_lines(ctx.src, lines, this)?, "")),
        SeqStyle::Flow => {
            let between = prev.end.to_span(this.start);
            let text = &ctx.src[lines.range(ctx.src, between)];
            let only_comma = text.trim().trim_start_matches(',').trim().is_empty() && text.contains(',');
            only_comma.then(|| Fix::safe(message, prev.end.to_span(this.end), ""))
        }
    }
}
