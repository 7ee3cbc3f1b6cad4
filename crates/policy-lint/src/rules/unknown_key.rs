//! P201 `unknown-key`: a key the schema does not define at that place.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a mapping key that the config format does not define at that place, pointing at
    /// the key, with the closest allowed key as a suggestion.
    ///
    /// ## Why is this bad?
    /// An unknown key is almost always a typo or a setting at the wrong level, and it is
    /// silently ignored by lenient loaders: the setting you meant never takes effect.
    ///
    /// ## Example
    /// ```yaml
    /// audit-logger:
    ///   retention_day: 30
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// audit-logger:
    ///   retention_days: 30
    /// ```
    pub static RULE = { code: "P201", name: "unknown-key", severity: Error, check: None };
}
