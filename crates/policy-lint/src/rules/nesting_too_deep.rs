//! P104 `nesting-too-deep`: mappings and sequences nested beyond the limit.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Refuses a document nested more than 64 levels deep, as soon as the reader gets there.
    ///
    /// ## Why is this bad?
    /// The deepest valid config path has 6 levels. Deeper input is a mistake or an attack: tens
    /// of thousands of levels overflow the stack of recursive YAML loaders.
    ///
    /// ## Example
    /// ```yaml
    /// a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    /// ```
    ///
    /// ## Use instead
    /// Follow the structure of `policy schema`.
    pub static RULE = { code: "P104", name: "nesting-too-deep", severity: Error, check: None };
}
