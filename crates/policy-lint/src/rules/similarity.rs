//! Jaro-Winkler similarity of two words: how "did you mean" decides that an unknown key or
//! name is a likely typo of a known one.
//!
//! Written here rather than taken from a crate because the gateway links the linter and keeps
//! its dependency tree to what it runs; the result is the textbook measure (and `strsim`'s,
//! which a test holds it to), so a suggestion reads the same in every tool.

/// Jaro similarity over characters: 1.0 for equal words, 0.0 for nothing in common.
fn jaro(a: &[char], b: &[char]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    // Characters match when equal and no further apart than half the longer word, less one.
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_matched = vec![false; a.len()];
    let mut b_matched = vec![false; b.len()];
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_matched[j] && b[j] == *ca {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Half the matched characters that stand in a different order.
    let a_order = a.iter().zip(&a_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let b_order = b.iter().zip(&b_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let transpositions = a_order.zip(b_order).filter(|(x, y)| x != y).count() / 2;
    let m = matches as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (matches - transpositions) as f64 / m) / 3.0
}

/// Jaro-Winkler similarity: Jaro, raised for a common prefix of up to four characters when
/// the words are already close (above 0.7).
pub(crate) fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let sim = jaro(&a, &b);
    if sim <= 0.7 {
        return sim;
    }
    let prefix = a.iter().zip(&b).take(4).take_while(|(x, y)| x == y).count();
    sim + 0.1 * prefix as f64 * (1.0 - sim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("abc", ""), 0.0);
        assert!((jaro_winkler("martha", "marhta") - 0.9611).abs() < 1e-4);
        assert!((jaro_winkler("dixon", "dicksonx") - 0.8133).abs() < 1e-4);
    }

    proptest! {
        /// The same number as the reference implementation, to the last bit.
        #[test]
        fn matches_strsim(a in "[a-e_é-]{0,12}", b in "[a-e_é-]{0,12}") {
            prop_assert_eq!(jaro_winkler(&a, &b).to_bits(), strsim::jaro_winkler(&a, &b).to_bits());
        }
    }
}
