//! P101 `yaml-syntax-error`: the file is not valid YAML.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports text the YAML parser cannot read, at the character where reading stopped, with
    /// a help line when the usual cause is known: an unquoted `: ` inside a value, a tab used
    /// for indentation, an unclosed quote or bracket.
    ///
    /// ## Why is this bad?
    /// A gateway cannot load a file it cannot parse. Nothing after the error is checked, so fix
    /// this first.
    ///
    /// ## Example
    /// ```yaml
    /// response:
    ///   message: Request blocked: potential prompt injection
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// response:
    ///   message: "Request blocked: potential prompt injection"
    /// ```
    pub static RULE = { code: "P101", name: "yaml-syntax-error", severity: Error, check: None };
}
