//! P106 `unsupported-yaml`: YAML features a config cannot use.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports tags other than the core ones (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`),
    /// mapping keys that are themselves mappings or sequences, and merge keys (`<<`) whose value
    /// is not a mapping or a list of mappings.
    ///
    /// ## Why is this bad?
    /// A config becomes JSON for validation; custom tags and complex keys have no JSON meaning,
    /// and other tools would read them differently.
    ///
    /// ## Example
    /// ```yaml
    /// pack: !custom {name: a}
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// pack: {name: a, version: 1.0.0}
    /// ```
    pub static RULE = { code: "P106", name: "unsupported-yaml", severity: Error, check: None };
}
