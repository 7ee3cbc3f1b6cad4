//! Turning a config's patterns into regexes: [`compile_regex`], [`compile_set`] and the
//! [`CompileError`] they report, located by the config's JSON pointer.
//!
//! A pattern (or list of patterns) that an engine still in memory compiled before is not
//! compiled again: the engines share that one compiled regex. A reload that changes a few rules
//! compiles only what changed (and the gate), a revert or a flip back to a config that is still
//! held (the revert target, a shadow candidate) compiles nothing, and a shared regex keeps the
//! automata it has built on each thread, so requests after the swap run warm. Nothing is kept
//! for its own sake: an entry lives as long as some engine holds its regex.
//!
//! Owns the one mapping from the regex crate's errors to `CompileError`, shared by the engine's
//! gate and every stage, and that sharing. It knows nothing of policies or the chain: which
//! patterns to compile, and when, is the stages' business (`injection.rs`, `pii.rs`,
//! `content.rs`) and `mod.rs`'s.

use regex::{Regex, RegexSet};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Compiled regexes, by pattern, while an engine holds them.
static REGEXES: Mutex<Option<HashMap<String, Weak<Regex>>>> = Mutex::new(None);
/// Compiled sets, by their patterns in order, while an engine holds them.
static SETS: Mutex<Option<HashMap<Vec<String>, Weak<RegexSet>>>> = Mutex::new(None);
/// Entries past which a cache sheds those no engine holds any more.
const SHED_AT: usize = 256;

/// The compiled value of `key` in `cache`, shared with the engines that hold it, or compiled
/// now by `compile` (and shared from now on).
fn shared<K, T, E>(
    cache: &Mutex<Option<HashMap<K, Weak<T>>>>,
    key: K,
    compile: impl FnOnce() -> Result<T, E>,
) -> Result<Arc<T>, E>
where
    K: std::hash::Hash + Eq,
{
    // Compiling holds the lock: two reloads never run at once, and compiling a pattern twice
    // at the same moment would only waste the second.
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    if let Some(held) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(held);
    }
    let compiled = Arc::new(compile()?);
    if map.len() >= SHED_AT {
        map.retain(|_, w| w.strong_count() > 0);
    }
    map.insert(key, Arc::downgrade(&compiled));
    Ok(compiled)
}

/// `pattern` compiled, or shared with an engine that compiled it; the regex crate's error when
/// it does not compile (the caller reports where).
pub(super) fn regex(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    shared(&REGEXES, pattern.to_string(), || Regex::new(pattern))
}

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

/// Compile `pattern`, found at `pointer` in the config (or share it: [`regex`]).
pub(super) fn compile_regex(pointer: String, pattern: &str) -> Result<Arc<Regex>, CompileError> {
    regex(pattern).map_err(|e| CompileError::Regex {
        pointer,
        message: e.to_string(),
    })
}

/// Compile `patterns` into one set, reported at `pointer` (the list's) when any fails (or
/// share it, as [`regex`] does).
pub(super) fn compile_set(pointer: &str, patterns: &[&str]) -> Result<Arc<RegexSet>, CompileError> {
    let key = patterns.iter().map(|p| p.to_string()).collect();
    shared(&SETS, key, || RegexSet::new(patterns)).map_err(|e| CompileError::Regex {
        pointer: pointer.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_pattern_is_shared_and_a_dropped_one_compiled_again() {
        let a = compile_set("/p", &["shared-test-a", "shared-test-b"]).unwrap();
        let b = compile_set("/p", &["shared-test-a", "shared-test-b"]).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same list, still held: one set");
        let other = compile_set("/p", &["shared-test-b", "shared-test-a"]).unwrap();
        assert!(
            !Arc::ptr_eq(&a, &other),
            "another order is another set (its indexes differ)"
        );
        let r = compile_regex("/r".into(), "shared-test-(x|y)").unwrap();
        assert!(Arc::ptr_eq(&r, &regex("shared-test-(x|y)").unwrap()));
        let weak = Arc::downgrade(&r);
        drop(r);
        assert!(weak.upgrade().is_none(), "the cache holds no regex by itself");
        assert!(compile_regex("/r".into(), "shared-test-(").is_err());
    }
}
