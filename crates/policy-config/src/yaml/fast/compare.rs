//! Both readers' events side by side, with line:column spans: what the tests hold the fast
//! reader to (here, and the property tests in `tests/suite/properties.rs`).

use saphyr_parser::{Event, Parser};

/// One event and its span as `(line, col)` pairs.
pub type Seen<'a> = (Event<'a>, (usize, usize), (usize, usize));

fn seen<'a>(items: impl Iterator<Item = super::ParserItem<'a>>) -> Option<Vec<Seen<'a>>> {
    items
        .map(|i| {
            i.ok()
                .map(|(e, s)| (e, (s.start.line(), s.start.col()), (s.end.line(), s.end.col())))
        })
        .collect()
}

/// The fast reader's events, `None` when it declines the text.
pub fn fast(src: &str) -> Option<Vec<Seen<'_>>> {
    seen(super::events(src)?.into_iter())
}

/// saphyr's events, `None` when it finds an error.
pub fn saphyr(src: &str) -> Option<Vec<Seen<'_>>> {
    seen(Parser::new_from_str(src))
}

#[cfg(test)]
mod tests {
    use super::{fast, saphyr};

    fn same(src: &str) {
        let f = fast(src).unwrap_or_else(|| panic!("the fast reader declined:\n{src}"));
        let s = saphyr(src).expect("saphyr reads it");
        for (a, b) in f.iter().zip(&s) {
            assert_eq!(a, b, "in\n{src}");
        }
        assert_eq!(f.len(), s.len(), "in\n{src}");
    }

    #[test]
    fn matches_saphyr() {
        same("# c\npack:\n  name: x   # trailing\n  version: \"1.0\" # q\nlist:\n  - a\n  - b: 1\n    c: [x, \"y\", {k: v}]\n  - 'single'\nlast: 3\n");
        same("k2:  \n  - x\nk3:\n- a\n- [a, b]   # c\n- { a: 1 , b: \"q\"  , c: [] }\nk4: {}\nk5: \"a\\\\b\\\"c\"\nk6: x y  \n\n# trailing\n");
        same("a: 1");
        same(
            "a: 'it''s'\nb: \"\\u00e9t\\x41\"\nc: é ü: no\n"
                .replace(" ü: no", "")
                .as_str(),
        );
        same("- a\n- b: c\n  d: [1, 2]\n- 'x'\n");
        same("k: https://x.example/a:b\n\"q k\": v\n");
        // `#` without a blank before it, and `:` without one after, are text.
        same("a#b: c#d # note\ne: f:g\nh: i #j\n");
        same("k a#: v\nurl: x:1:2  # c\nb: c #d: e\n");
    }

    #[test]
    fn declines_what_it_does_not_read() {
        for src in [
            "a: &x 1\nb: *x\n",
            "a: |\n  text\n",
            "a:\nb: 1\n",
            "a: b\n  c\n",
            "---\na: 1\n",
            "a:\t1\n",
            "a: [1,\n 2]\n",
            "a: b: c\n",
            "a: x: \n",
            "- - a\n",
            "? a\n: b\n",
            "a: !!str 1\n",
            "a: 1\n--- b: 2\n",
            "a: 1\n...\n",
            "a: x\0y\n",
            "",
        ] {
            assert!(fast(src).is_none(), "{src:?}");
        }
    }
}
