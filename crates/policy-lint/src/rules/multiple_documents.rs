//! P105 `multiple-documents`: more than one YAML document in one config file.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a second document (after `---`) in a config file.
    ///
    /// ## Why is this bad?
    /// A config file is exactly one document. Tools disagree on which document of a stream they
    /// load, so the second one is either ignored or replaces the first.
    ///
    /// ## Example
    /// ```yaml
    /// pack: {name: a, version: 1.0.0}
    /// ---
    /// pack: {name: b, version: 1.0.0}
    /// ```
    ///
    /// ## Use instead
    /// One config per file.
    pub static RULE = { code: "P105", name: "multiple-documents", severity: Error, check: None };
}
