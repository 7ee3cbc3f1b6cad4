//! P203 `wrong-type`: a value of the wrong type.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a value whose type is not the one the field takes, and explains how YAML read it:
    /// an unquoted `1.0` is a number, `yes` is a string in YAML 1.2, an empty value is null.
    ///
    /// ## Why is this bad?
    /// YAML guesses types from unquoted text, so `version: 1.0` is the number 1 to every parser
    /// and `enabled: yes` is not a boolean in YAML 1.2.
    ///
    /// ## Example
    /// ```yaml
    /// pack:
    ///   version: 1.0
    ///   enabled: yes
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// pack:
    ///   version: "1.0.0"
    ///   enabled: true
    /// ```
    pub static RULE = { code: "P203", name: "wrong-type", severity: Error, check: None };
}
