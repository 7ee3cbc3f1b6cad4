//! A mapping's entries while the builder reads it: keys and values in order, looked up by a
//! scan while the mapping is narrow and through a key index once it is wide.
//!
//! The `serde_json::Map` is made once, when the mapping ends, at its final size: growing an
//! `IndexMap` entry by entry rehashes a four-key rule twice, and each lookup hashes the key
//! again. Spans are not kept here (`builder` keeps the entries' nodes beside these, index for
//! index), nor is anything about duplicates decided (that is the builder's too).

use super::spans::{KeyIndex, WIDE_MAP};
use serde_json::{Map, Value};

/// The keys and values of a mapping being read.
#[derive(Default)]
pub(super) struct Pairs {
    pairs: Vec<(String, Value)>,
    /// Key -> position, once the mapping is wider than [`WIDE_MAP`] (the span tree keeps it).
    index: Option<KeyIndex>,
}

impl Pairs {
    /// Where `key` is so far.
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.pairs.iter().position(|(k, _)| k == key),
        }
    }

    /// Append a key that is not here yet.
    pub(super) fn add(&mut self, key: String, value: Value) {
        match &mut self.index {
            Some(index) => {
                index.insert(key.clone(), self.pairs.len());
            }
            None if self.pairs.len() == WIDE_MAP => {
                let mut wide: KeyIndex = self
                    .pairs
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect();
                wide.insert(key.clone(), self.pairs.len());
                self.index = Some(wide);
            }
            None => {}
        }
        self.pairs.push((key, value));
    }

    /// Replace the value at position `i`, keeping the key where it was first written.
    pub(super) fn replace(&mut self, i: usize, value: Value) {
        self.pairs[i].1 = value;
    }

    /// The finished map, and its key index when it is wide.
    pub(super) fn finish(self) -> (Map<String, Value>, Option<KeyIndex>) {
        (self.pairs.into_iter().collect(), self.index)
    }
}
