//! The rule registry: every diagnostic code, its name, severity and documentation.
//!
//! One file per code. A file declares its rule with `declare_rule!` (in `rule.rs`, with the
//! types every rule works with); the rule's doc comment is its user documentation (`policy
//! explain CODE`) with the headings *What it does*, *Why is this bad?*, *Example* and *Use
//! instead*. Codes are grouped: `P1xx` YAML reading, `P2xx` schema, `P3xx` semantic rules, `P4xx`
//! the linter's own comments (suppressions, emitted by `lint::suppress`), `P5xx` policy test
//! files (emitted by `policy_test::file`).
//! Codes found while reading or validating (P1xx, P2xx, and P301) have no `check`: the reader
//! and the schema mapper emit them and take their code from here. Codes are stable: never
//! reuse or renumber one.

pub(crate) mod rule;
mod similarity;

pub use rule::{did_you_mean, At, Context, Finding, Rule};

pub mod admin_listener_without_token;
pub mod alias_expansion_limit;
pub mod duplicate_chain_entry;
pub mod duplicate_id;
pub mod duplicate_key;
pub mod invalid_base_url;
pub mod invalid_listen_address;
pub mod invalid_regex;
pub mod invalid_test_file;
pub mod malformed_value;
pub mod missing_base_url;
pub mod missing_key;
pub mod mock_settings_on_real_provider;
pub mod multiple_documents;
pub mod nesting_too_deep;
pub mod plaintext_secret;
pub mod policy_not_in_chain;
pub mod schema_violation;
pub mod suppression_without_reason;
pub mod unknown_key;
pub mod unknown_policy_in_chain;
pub mod unknown_target_reference;
pub mod unknown_value;
pub mod unsupported_yaml;
pub mod unused_suppression;
pub mod value_out_of_range;
pub mod wrong_type;
pub mod yaml_syntax_error;

/// Every rule, in code order.
pub static RULES: &[&Rule] = &[
    &yaml_syntax_error::RULE,
    &duplicate_key::RULE,
    &alias_expansion_limit::RULE,
    &nesting_too_deep::RULE,
    &multiple_documents::RULE,
    &unsupported_yaml::RULE,
    &schema_violation::RULE,
    &unknown_key::RULE,
    &missing_key::RULE,
    &wrong_type::RULE,
    &unknown_value::RULE,
    &value_out_of_range::RULE,
    &malformed_value::RULE,
    &unknown_policy_in_chain::RULE,
    &duplicate_chain_entry::RULE,
    &duplicate_id::RULE,
    &invalid_regex::RULE,
    &unknown_target_reference::RULE,
    &invalid_base_url::RULE,
    &missing_base_url::RULE,
    &invalid_listen_address::RULE,
    &admin_listener_without_token::RULE,
    &plaintext_secret::RULE,
    &policy_not_in_chain::RULE,
    &mock_settings_on_real_provider::RULE,
    &suppression_without_reason::RULE,
    &unused_suppression::RULE,
    &invalid_test_file::RULE,
];

/// The rule with `code` (case-insensitive) or `name`.
pub fn find(code_or_name: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.code.eq_ignore_ascii_case(code_or_name) || r.name == code_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_documented() {
        for pair in RULES.windows(2) {
            assert!(pair[0].code < pair[1].code, "{} then {}", pair[0].code, pair[1].code);
        }
        for r in RULES {
            assert!(r.code.len() == 4 && r.code.starts_with('P'), "{}", r.code);
            for heading in ["## What it does", "## Why is this bad?", "## Example"] {
                assert!(r.doc.contains(heading), "{} lacks {heading}", r.code);
            }
            assert!(!r.name.starts_with("no-"), "{}", r.name);
        }
    }
}
