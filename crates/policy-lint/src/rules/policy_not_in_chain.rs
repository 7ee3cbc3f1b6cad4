//! P311 `policy-not-in-chain`: a policy is configured but never runs.

use super::rule::{declare_rule, At, Context, Finding};
use crate::fix::{seq_style, whole_lines, written_span, Fix, SeqStyle};
use policy_config::yaml::Pos;
use policy_config::PolicyKind;

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
    // The whole chain is needed: with an entry misspelt (P301) the block may be meant to run.
    let Some(chain) = ctx.get("/policies/chain", |c| Some(&c.policies.chain)) else {
        return;
    };
    for kind in PolicyKind::ALL {
        if ctx.present(&format!("/policy/{kind}")) && !chain.contains(&kind) {
            out.push(
                Finding::new(
                    format!("/policy/{kind}"),
                    format!("policy `{kind}` is configured but not in `policies.chain`, so it never runs"),
                    "not in the chain",
                    format!("add `{kind}` to `policies.chain`, or remove this block"),
                )
                .at(At::Key)
                .fix(append_to_chain(ctx, chain.len(), kind)),
            );
        }
    }
}

/// Add `kind` at the end of the chain. Unsafe: it switches enforcement on, which the block's
/// presence suggests but does not prove (it may have been left out on purpose).
fn append_to_chain(ctx: &Context<'_>, len: usize, kind: PolicyKind) -> Option<Fix> {
    let pointer = format!("/policies/chain/{}", len.checked_sub(1)?);
    let lines = ctx.lines;
    // Exactly where the last entry is written: a quoted one's span runs on over a comment.
    let written = ctx.doc.value.pointer(&pointer)?.as_str()?;
    let last = written_span(ctx.src, lines, ctx.doc.locate(&pointer).value, written)?;
    let message = format!("add `{kind}` to the end of `policies.chain`");
    let fix = match seq_style(ctx.src, lines, last) {
        (SeqStyle::Flow, _) => Fix::safe(message, last.end.to_span(last.end), format!(", {kind}")),
        (SeqStyle::Block, prefix) => {
            let next_line = Pos {
                line: last.end.line + 1,
                col: 0,
            };
            let at = lines.offset(ctx.src, next_line);
            let newline = if at == ctx.src.len() && !ctx.src.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            whole_lines(ctx.src, lines, last)?;
            Fix::safe(
                message,
                next_line.to_span(next_line),
                format!("{newline}{prefix}{kind}\n"),
            )
        }
    };
    Some(fix.unsafe_())
}
