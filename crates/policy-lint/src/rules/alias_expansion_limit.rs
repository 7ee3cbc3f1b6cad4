//! P103 `alias-expansion-limit`: aliases expand to too much, or name no anchor.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Refuses a document whose aliases (`*name`) would expand to more than 100,000 nodes in all,
    /// or that uses an alias with no matching anchor (`&name`) on a node that ends before it.
    ///
    /// ## Why is this bad?
    /// Nested aliases grow exponentially: ten lines of "billion laughs" expand to 10^9 nodes and
    /// exhaust the memory of whatever loads them, the linter, the CI runner or the gateway. No
    /// real policy config comes close to the limit.
    ///
    /// ## Example
    /// ```yaml
    /// a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    /// b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    /// c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    /// # ... and so on
    /// ```
    ///
    /// ## Use instead
    /// Use aliases for small repeated blocks only, or write the repetition out.
    pub static RULE = { code: "P103", name: "alias-expansion-limit", severity: Error, check: None };
}
