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
static REGEXES: Mutex<Cache<String, Regex>> = Mutex::new(Cache::new());
/// Compiled sets, by their patterns in order, while an engine holds them.
static SETS: Mutex<Cache<Vec<String>, RegexSet>> = Mutex::new(Cache::new());
/// Entries a cache holds before it first sheds those no engine holds any more.
const SHED_AT: usize = 256;

/// One kind of compiled value, by what it was compiled from.
struct Cache<K, T> {
    held: Option<HashMap<K, Weak<T>>>,
    /// The size at which the next shedding runs: twice what the last one kept, so shedding
    /// costs a constant per insertion however many rules a config compiles lazily.
    shed_at: usize,
}

impl<K, T> Cache<K, T> {
    const fn new() -> Self {
        Cache {
            held: None,
            shed_at: SHED_AT,
        }
    }
}

/// The compiled value of `key` in `cache`, shared with the engines that hold it, or compiled
/// now by `compile` (and shared from now on). The lock is not held while compiling: a content
/// rule compiled on its first use, on a request's thread, never waits for a reload's compile.
fn shared<K, T, E>(cache: &Mutex<Cache<K, T>>, key: K, compile: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E>
where
    K: std::hash::Hash + Eq,
{
    let lock = || cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(held) = lock().held.as_ref().and_then(|m| m.get(&key)).and_then(Weak::upgrade) {
        return Ok(held);
    }
    let compiled = Arc::new(compile()?);
    let mut cache = lock();
    let shed_at = cache.shed_at;
    let map = cache.held.get_or_insert_with(HashMap::new);
    // Compiled meanwhile by another thread: one copy is shared, the other dropped.
    if let Some(held) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(held);
    }
    map.insert(key, Arc::downgrade(&compiled));
    if map.len() >= shed_at {
        map.retain(|_, w| w.strong_count() > 0);
        let kept = map.len();
        cache.shed_at = (kept * 2).max(SHED_AT);
    }
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

    #[test]
    fn regexes_no_engine_holds_are_shed() {
        for i in 0..1000 {
            drop(regex(&format!("shed-test-{i}")).unwrap());
        }
        let cache = REGEXES.lock().unwrap();
        let left = cache
            .held
            .as_ref()
            .map_or(0, |m| m.keys().filter(|k| k.starts_with("shed-test-")).count());
        assert!(left < 1000, "{left} of 1,000 dropped regexes are still listed");
    }
}
