//! P200 `schema-violation`: a schema constraint without a more specific code.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a value that breaks a constraint of the JSON Schema (`policy schema`) for which
    /// no more specific code exists.
    ///
    /// ## Why is this bad?
    /// The gateway only loads configs the schema accepts.
    ///
    /// ## Example
    /// A value the schema does not describe.
    ///
    /// ## Use instead
    /// Follow the field's description in `policy schema`.
    pub static RULE = { code: "P200", name: "schema-violation", severity: Error, check: None };
}
