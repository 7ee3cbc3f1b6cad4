//! P402 `unused-suppression`: a suppression comment that suppresses nothing.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Warns about each code of a `# policy: ignore[...]` comment that suppressed no finding on
    /// its line or the line below (for `ignore-file`, anywhere in the file), and about codes
    /// that are not codes of `policy lint` at all. `--no-suppress` turns suppressions (and this
    /// check) off to show every finding.
    ///
    /// YAML reading errors (`P1xx`) cannot be suppressed: a file that is not YAML is not
    /// checked any further.
    ///
    /// ## Why is this bad?
    /// A suppression whose finding is gone (the value was fixed, the line moved) would hide the
    /// next, unrelated finding of that code on that line. Removing it keeps suppressions exact.
    ///
    /// ## Example
    /// ```yaml
    /// policies:
    ///   # policy: ignore[P311] audit is switched on next sprint
    ///   chain: [prompt-injection, audit-logger]
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection, audit-logger]
    /// ```
    pub static RULE = { code: "P402", name: "unused-suppression", severity: Warning, check: None };
}
