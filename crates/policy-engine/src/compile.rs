//! Turning a config's patterns into regexes: [`compile_regex`], [`compile_set`] and the
//! [`CompileError`] they report, located by the config's JSON pointer.
//!
//! Owns the one mapping from the regex crate's errors to `CompileError`, shared by the engine's
//! gate and every stage. It knows nothing of policies or the chain: which patterns to compile,
//! and when, is the stages' business (`injection.rs`, `pii.rs`, `content.rs`) and `mod.rs`'s.

use regex::{Regex, RegexSet};

/// Why a config cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A pattern does not compile (syntax is checked by lint; size limits only here).
    #[error("{pointer}: pattern does not compile: {message}")]
    Regex {
        /// JSON pointer of the failing pattern (or pattern list) in the config.
        pointer: String,
        /// The regex crate's message.
        message: String,
    },
}

/// Compile `pattern`, found at `pointer` in the config.
pub(super) fn compile_regex(pointer: String, pattern: &str) -> Result<Regex, CompileError> {
    Regex::new(pattern).map_err(|e| CompileError::Regex {
        pointer,
        message: e.to_string(),
    })
}

/// Compile `patterns` into one set, reported at `pointer` (the list's) when any fails.
pub(super) fn compile_set(pointer: &str, patterns: &[&str]) -> Result<RegexSet, CompileError> {
    RegexSet::new(patterns).map_err(|e| CompileError::Regex {
        pointer: pointer.to_string(),
        message: e.to_string(),
    })
}
