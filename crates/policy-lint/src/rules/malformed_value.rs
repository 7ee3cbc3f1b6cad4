//! P206 `malformed-value`: a string not of the required form.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a string that does not have the form its field requires: a pack name of
    /// lowercase letters, digits and `-`; a semver version; an environment variable name; a
    /// rate-limit key of `client_ip`, `target` or `header:<name>`.
    ///
    /// ## Why is this bad?
    /// These strings are parsed by the gateway and by tooling (the version is compared across
    /// reloads, the env name is looked up); a malformed one fails later, at a worse time.
    ///
    /// ## Example
    /// ```yaml
    /// pack:
    ///   name: Local_Dev
    ///   version: v1
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// pack:
    ///   name: local-dev
    ///   version: 1.0.0
    /// ```
    pub static RULE = { code: "P206", name: "malformed-value", severity: Error, check: None };
}
