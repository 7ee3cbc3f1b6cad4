//! P205 `value-out-of-range`: a number, length or list size outside its bounds.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports numbers below a minimum or above a maximum, strings that are empty or too long,
    /// and lists with too few items (e.g. no provider target).
    ///
    /// ## Why is this bad?
    /// `worker_threads: 0` starts no worker, `burst: 0` blocks every request, an empty target
    /// list leaves nothing to forward to.
    ///
    /// ## Example
    /// ```yaml
    /// gateway:
    ///   worker_threads: 0
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// gateway:
    ///   worker_threads: 2
    /// ```
    pub static RULE = { code: "P205", name: "value-out-of-range", severity: Error, check: None };
}
