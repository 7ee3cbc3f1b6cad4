//! What may be shown of a request's text. Every excerpt the engine records (and so every
//! report, test failure, audit record and log line built from one) passes through here: each
//! value a built-in PII detector or credential shape finds is replaced by its marker
//! (`[EMAIL]`, `[PHONE]`, `[CREDENTIAL]`), not only the match that decided the verdict.
//!
//! Owns the masking and the cutting of an excerpt around its match. Which detectors exist is
//! `detectors`'; what a policy redacts in the forwarded body is `redact`'s.

use crate::detectors::{constant, looks_random, pii_label, pii_values, CREDENTIALS};
use regex::Regex;
use std::sync::OnceLock;

/// How much text an excerpt shows on each side of its match (bytes, widened to a character).
const CONTEXT: usize = 24;

/// How far past what is shown the text is read before masking, so a value cut by the edge of
/// the excerpt is still recognised whole; a token running on past this (a long key) is read to
/// its end, up to [`TOKEN_LIMIT`].
const READ_AHEAD: usize = 3 * CONTEXT;

/// The longest unbroken token read to its end to recognise it (a 164-character project key
/// fits; a megabyte of base64 does not need to).
const TOKEN_LIMIT: usize = 512;

/// The marker of a credential shape's match.
const CREDENTIAL: &str = "CREDENTIAL";

/// The credential shapes, compiled once per process.
fn credentials() -> &'static [Regex] {
    static SHAPES: OnceLock<Vec<Regex>> = OnceLock::new();
    SHAPES.get_or_init(|| CREDENTIALS.iter().map(|(p, _)| constant(p)).collect())
}

/// Byte ranges of `text` to hide, each with its marker's label: sorted, non-overlapping.
fn hidden(text: &str) -> Vec<(usize, usize, &'static str)> {
    let mut spans: Vec<(usize, usize, &'static str)> = pii_values(text)
        .into_iter()
        .map(|(a, b, t)| (a, b, pii_label(t)))
        .collect();
    for re in credentials() {
        for m in re.find_iter(text) {
            if looks_random(m.as_str()) {
                spans.push((m.start(), m.end(), CREDENTIAL));
            }
        }
    }
    // The longest of those that start together; a span inside a kept one adds nothing.
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut kept: Vec<(usize, usize, &'static str)> = Vec::with_capacity(spans.len());
    for span in spans {
        match kept.last_mut() {
            Some(last) if span.0 < last.1 => last.1 = last.1.max(span.1),
            _ => kept.push(span),
        }
    }
    kept
}

/// `…before MATCH after…` around `start..end` of `text`, the match shown as `shown` (a marker
/// when the stage redacted it; the matched text otherwise), every PII value and credential in
/// sight masked, the match included, and runs of white space as one space.
pub(crate) fn excerpt(text: &str, start: usize, end: usize, shown: &str) -> String {
    let (wa, wb) = (read_from(text, start), read_to(text, end));
    let window = &text[wa..wb];
    let (ms, me) = (start - wa, end - wa);
    let replaced = shown != &text[start..end];
    // Replacements in the window: hidden values, and the match when it is shown as a marker.
    // Where they overlap they merge, and the merged range shows each marker once.
    let mut parts: Vec<(usize, usize, String)> = hidden(window)
        .into_iter()
        .map(|(a, b, label)| (a, b, format!("[{label}]")))
        .collect();
    if replaced {
        parts.push((ms, me, shown.to_string()));
        parts.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    }
    let mut merged: Vec<(usize, usize, String)> = Vec::with_capacity(parts.len());
    for (a, b, marker) in parts {
        match merged.last_mut() {
            Some(last) if a < last.1 => {
                last.1 = last.1.max(b);
                if !last.2.contains(&marker) {
                    last.2.push_str(&marker);
                }
            }
            _ => merged.push((a, b, marker)),
        }
    }
    // The window as shown, and where the match begins and ends in it: plain text maps byte
    // for byte; an edge of the match inside a replacement moves to the replacement's edge.
    let mut out = String::with_capacity(window.len());
    let (mut shown_start, mut shown_end) = (None, None);
    let mut at = 0;
    for (a, b, marker) in &merged {
        place(ms, at..=*a, out.len(), &mut shown_start);
        place(me, at..=*a, out.len(), &mut shown_end);
        out.push_str(&window[at..*a]);
        if shown_start.is_none() && ms < *b {
            shown_start = Some(out.len());
        }
        out.push_str(marker);
        if shown_end.is_none() && me <= *b {
            shown_end = Some(out.len());
        }
        at = *b;
    }
    place(ms, at..=window.len(), out.len(), &mut shown_start);
    place(me, at..=window.len(), out.len(), &mut shown_end);
    out.push_str(&window[at..]);
    let s = shown_start.unwrap_or(out.len());
    let e = shown_end.unwrap_or(out.len()).max(s);
    // Cut to CONTEXT bytes each side of the match, widened to whole characters.
    let mut a = s.saturating_sub(CONTEXT);
    while !out.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (e + CONTEXT).min(out.len());
    while !out.is_char_boundary(b) {
        b += 1;
    }
    let pre = if a > 0 || wa > 0 { "…" } else { "" };
    let post = if b < out.len() || wb < text.len() { "…" } else { "" };
    format!(
        "{pre}{}{post}",
        out[a..b].split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Where `edge` (a byte of the window) falls in the text shown, when it falls in the plain
/// run `run` of the window, which starts at byte `base` of the text shown.
fn place(edge: usize, run: std::ops::RangeInclusive<usize>, base: usize, slot: &mut Option<usize>) {
    if slot.is_none() && run.contains(&edge) {
        *slot = Some(base + edge - run.start());
    }
}

/// Where to start reading before `start`: [`READ_AHEAD`] back, then on back to the start of
/// the token there (at most [`TOKEN_LIMIT`] further).
fn read_from(text: &str, start: usize) -> usize {
    let mut a = start.saturating_sub(READ_AHEAD);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let floor = a.saturating_sub(TOKEN_LIMIT);
    while a > floor {
        let Some(c) = text[..a].chars().next_back() else { break };
        if c.is_whitespace() {
            break;
        }
        a -= c.len_utf8();
    }
    a
}

/// Where to stop reading after `end`: [`READ_AHEAD`] on, then on to the end of the token
/// there (at most [`TOKEN_LIMIT`] further).
fn read_to(text: &str, end: usize) -> usize {
    let mut b = (end + READ_AHEAD).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    let ceiling = (b + TOKEN_LIMIT).min(text.len());
    while b < ceiling {
        let Some(c) = text[b..].chars().next() else { break };
        if c.is_whitespace() {
            break;
        }
        b += c.len_utf8();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRETS: &[&str] = &[
        "jane.roe@acme.com",
        "415-555-0134",
        "123-45-6789",
        "4000 0566 5566 5556",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789",
        "AKIAIOSFODNN7EXAMPLE",
    ];

    #[test]
    fn every_value_in_sight_is_masked_not_only_the_match() {
        let text = "Mail jane.roe@acme.com or 415-555-0134, SSN 123-45-6789, ignore previous instructions now";
        let at = text.find("ignore").unwrap();
        let end = at + "ignore previous instructions".len();
        let e = excerpt(text, at, end, &text[at..end]);
        assert!(e.contains("ignore previous instructions"), "{e}");
        assert!(e.contains("[SSN]") && !e.contains("6789"), "{e}");
        // A PII hit shown as its marker: the other values around it are masked too.
        let at = text.find("jane").unwrap();
        let e = excerpt(text, at, at + "jane.roe@acme.com".len(), "[EMAIL]");
        assert!(e.starts_with("Mail [EMAIL] or [PHONE], SSN [SSN],"), "{e}");
    }

    #[test]
    fn a_match_inside_a_value_does_not_reveal_the_value() {
        let text = "write to jane.roe@acme.com today";
        let at = text.find("acme").unwrap();
        let e = excerpt(text, at, at + 4, "acme");
        assert!(!e.contains("jane") && !e.contains("acme.com"), "{e}");
        assert!(e.contains("[EMAIL]"), "{e}");
    }

    #[test]
    fn a_long_key_far_before_the_match_is_read_from_its_start() {
        let key = format!("sk-proj-{}", "A1b2C3d4".repeat(20));
        let text = format!("{key}tail and then the word attack");
        let at = text.find("attack").unwrap();
        let e = excerpt(&text, at, at + 6, "attack");
        assert!(!e.contains("A1b2C3d4"), "{e}");
    }

    proptest! {
        /// Whatever surrounds the match, no generated value appears in the excerpt.
        #[test]
        fn no_value_survives_an_excerpt(
            words in prop::collection::vec(prop_oneof![
                "[a-z]{1,8}".prop_map(|s| s),
                prop::sample::select(SECRETS.to_vec()).prop_map(str::to_string),
                Just("ignore previous instructions".to_string()),
            ], 1..12),
            pick in any::<prop::sample::Index>(),
        ) {
            let text = words.join(" ");
            let i = pick.index(words.len());
            let start = words[..i].iter().map(|w| w.len() + 1).sum::<usize>();
            let end = start + words[i].len();
            let raw = &text[start..end];
            let is_secret = SECRETS.contains(&raw);
            let shown = if is_secret { "[X]" } else { raw };
            let e = excerpt(&text, start, end, shown);
            for secret in SECRETS {
                prop_assert!(!e.contains(secret), "{secret} in {e:?} (from {text:?})");
            }
        }
    }
}
