//! A large input read in two halves at once: this thread reads from the start, a second one
//! from an item of a block sequence near the middle (long configs are long lists of rules),
//! each with its own builder; when this thread reaches that item it takes the second one's
//! items into its sequence and reads on from where that one stopped.
//!
//! Owns choosing the item ([`point`]), reading from it ([`items`]) and joining the halves
//! ([`read`]). The second half's events and spans are the ones one reader would produce:
//! from a dash at a known offset, line and column, reading depends on nothing before it but
//! how deep it is, which is checked when the halves join. Anything the second thread
//! declines or refuses makes the whole fast path decline, as on one thread.

use super::{Build, Reader, Sink};
use crate::config::yaml::builder::Items;
use crate::config::yaml::spans::Document;
use std::thread::ScopedJoinHandle;

/// Where to start looking for the item to split at, in percent of the input: a little before
/// the middle, since this thread also finishes the document (and in the CLI shares its core
/// with building the validator for the first ~4 ms).
const SHARE: usize = 45;

/// How far past that to look for an item to split at.
const LOOK_AHEAD: usize = 64 * 1024;

/// Where the second half stopped: where this thread reads on, and how deep it nested.
pub(super) struct Resume {
    pos: usize,
    line: usize,
    line_start: usize,
    deepest: usize,
}

/// The offset of the first block sequence item (`- ` after blanks at a line start) past
/// [`SHARE`] of `src`, if one is near.
pub(super) fn point(src: &str) -> Option<usize> {
    let b = src.as_bytes();
    let mut at = src.len() * SHARE / 100;
    let end = (at + LOOK_AHEAD).min(b.len());
    while let Some(nl) = memchr::memchr(b'\n', &b[at..end]) {
        let start = at + nl + 1;
        let blanks = b[start..end].iter().take_while(|&&c| c == b' ').count();
        if b[start + blanks..end].starts_with(b"- ") {
            return Some(start + blanks);
        }
        at = start;
    }
    None
}

/// Read `src`, the part from the item at `at` to the end of its sequence on a second thread.
pub(super) fn read(src: &str, at: usize) -> Option<Document> {
    std::thread::scope(|scope| {
        let tail = scope.spawn(move || items(src, at));
        let halves = super::reader(
            src,
            Halves {
                build: Build::default(),
                at,
                tail: Some(tail),
            },
        )?;
        // Declined before this thread reached `at`: the scope joins the second thread here.
        halves.build.finish().ok()
    })
}

/// The items of the block sequence whose item starts at `at`, from that one to the last
/// (the first line after them that is not one of its items), read into a builder of items.
fn items(src: &str, at: usize) -> Option<(Items, Resume)> {
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut r = Reader::new(src, Build::items());
    r.pos = at;
    r.line = 1 + memchr::memchr_iter(b'\n', &src.as_bytes()[..line_start]).count();
    r.line_start = line_start;
    let n = at - line_start;
    loop {
        r.past_dash()?;
        r.item(n)?;
        // Where the sequence ends is this thread's to judge: the other one knows whether it
        // is indentless, and reads on from here.
        if !(r.next_content() == Some(n) && r.dash_here()) {
            break;
        }
    }
    let resume = Resume {
        pos: r.pos,
        line: r.line,
        line_start: r.line_start,
        deepest: r.deepest,
    };
    Some((r.ok.then_some(r.out)?.into_items()?, resume))
}

/// This thread's sink: its builder, and the second thread until its items are taken.
struct Halves<'scope> {
    build: Build,
    at: usize,
    tail: Option<ScopedJoinHandle<'scope, Option<(Items, Resume)>>>,
}

impl<'a> Sink<'a> for Halves<'_> {
    fn take(&mut self, item: super::ParserItem<'a>) -> bool {
        self.build.take(item)
    }

    fn read_beside(&mut self, dash: usize) -> Option<Option<Resume>> {
        if dash != self.at {
            return None;
        }
        let tail = self.tail.take()?;
        let read = tail.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Some(read.and_then(|(items, resume)| self.build.splice(items).then_some(resume)))
    }
}

impl<S> Reader<'_, S> {
    /// Go on reading where the second thread stopped, unless the two halves together nest
    /// deeper than the builder allows.
    pub(super) fn resume(&mut self, r: Resume) -> Option<()> {
        (self.depth + r.deepest <= crate::config::yaml::MAX_DEPTH).then_some(())?;
        self.pos = r.pos;
        self.line = r.line;
        self.line_start = r.line_start;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of `src` as the split point reads to what one thread reads.
    fn same_at_every_item(src: &str) {
        let one = super::super::reader(src, Build::default()).and_then(|b| b.finish().ok());
        let mut items = 0;
        for (at, _) in src.match_indices("- ") {
            if !src[..at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.bytes().all(|c| c == b' '))
            {
                continue; // not at a line's start
            }
            items += 1;
            let two = read(src, at);
            match (&one, &two) {
                (Some(a), Some(b)) => {
                    assert_eq!(a.value, b.value, "split at {at} in\n{src}");
                    assert_eq!(
                        format!("{:?}", a.root),
                        format!("{:?}", b.root),
                        "split at {at} in\n{src}"
                    );
                }
                (None, None) => {}
                _ => panic!(
                    "split at {at}: one thread {}, two {}\n{src}",
                    one.is_some(),
                    two.is_some()
                ),
            }
        }
        assert!(items > 0, "no item to split at in\n{src}");
    }

    #[test]
    fn every_split_point_reads_what_one_thread_reads() {
        same_at_every_item("rules:\n  - id: a\n    pattern: \"x\"   # c\n  - id: b\n    tags: [1, 2]\n\n  - plain\n  - 'q'\nafter: 1\n");
        // Indentless, nested, and a sequence that ends before more keys at its own column.
        same_at_every_item("a:\n- x: 1\n  y:\n  - p\n  - q\n- z\nb: 2\nc:\n  - - no\n");
        same_at_every_item("a:\n- x: 1\n  y:\n  - p\n  - q\n- z\nb: 2\n");
        same_at_every_item("- 1\n- k: v\n  l:\n    - m\n    - n: [o]\n- é: ü\n  - bad\n");
        same_at_every_item("- 1\n- k: v\n  l:\n    - m\n    - n: [o]\n- é: ü\n");
        // The second half declines (an anchor) or refuses (a duplicate key): so does the whole.
        same_at_every_item("- a: 1\n- b: &x 2\n- c: 3\n");
        same_at_every_item("- a: 1\n- b: 2\n  b: 3\n- c: 4\n");
    }

    #[test]
    fn the_halves_together_may_not_nest_past_the_limit() {
        // `top` mappings, a sequence, and in its second item `below` mappings more.
        let deep = |top: usize, below: usize| {
            let mut s = String::new();
            for d in 0..top {
                s += &format!("{}k{d}:\n", " ".repeat(d * 2));
            }
            let n = top * 2;
            s += &format!("{}- a\n{}- k0:", " ".repeat(n), " ".repeat(n));
            for d in 1..below {
                s += &format!("\n{}k{d}:", " ".repeat(n + 2 + d * 2));
            }
            s + " end\n"
        };
        let limit = crate::config::yaml::MAX_DEPTH;
        let (top, below) = (limit / 2, limit / 2 - 1);
        let second = |src: &str| src.find("- k0").expect("a second item");
        assert!(read(&deep(top, below), second(&deep(top, below))).is_some());
        same_at_every_item(&deep(top, below));
        // Each half alone is within the limit; together they are one level past it.
        assert!(read(&deep(top, below + 1), second(&deep(top, below + 1))).is_none());
        same_at_every_item(&deep(top, below + 1));
    }

    #[test]
    fn the_split_point_is_an_item_at_a_line_start() {
        let src = format!("a:\n  - one\n{}  - two\n", "  # pad\n".repeat(10));
        let at = point(&src).expect("an item past the share");
        assert!(src[at..].starts_with("- two"));
        assert_eq!(point("a: [1, 2]\nb: - x\n"), None);
    }
}
