//! The fast path of the YAML reader: the event stream of the plain YAML configs are written in,
//! produced without the general scanner, event for event and span for span what
//! `saphyr-parser` produces for the same text.
//!
//! Accepted: block mappings and sequences (indented or not), `- key: value` items, one-line
//! plain, single- and double-quoted scalars, one-line flow collections, comments and blank
//! lines. Anything else (anchors, aliases, tags, block or multi-line scalars, empty values,
//! `?` keys, document markers, tabs, carriage returns, a byte-order mark, a last line with no
//! newline after it that is indented or a comment, or any syntax error)
//! returns `None`, and the caller reads the file with the general parser, which also words the
//! errors. So this module decides nothing about validity; it only makes the common case cheap.
//! The tests in `compare.rs` and the property tests in `tests/suite/properties.rs` hold it to
//! saphyr's output, spans included (saphyr's quirks too: a quoted scalar or flow bracket ends
//! after the blanks and comment that follow it; an indentless sequence starts at its first
//! item's content).

#[doc(hidden)]
pub mod compare;
mod flow;

use super::builder::{Build, ParserItem};
use super::pipeline::{build_beside, Batches, Piece, MIN_BYTES};
use super::spans::Document;
use saphyr_parser::{Event, Marker, ScalarStyle, Span};
use std::borrow::Cow;

/// Where the events go: straight into the document builder, or (for the tests) a list.
trait Sink<'a> {
    /// Take one event; `false` stops reading (the fast path declines).
    fn take(&mut self, item: ParserItem<'a>) -> bool;
}

impl<'a> Sink<'a> for Vec<ParserItem<'a>> {
    fn take(&mut self, item: ParserItem<'a>) -> bool {
        self.push(item);
        true
    }
}

impl<'a> Sink<'a> for Build {
    fn take(&mut self, item: ParserItem<'a>) -> bool {
        // A builder error (a duplicate key, say) is worded by the general path.
        self.feed(item).is_ok()
    }
}

impl<'a> Sink<'a> for &mut Batches<'a> {
    fn take(&mut self, item: ParserItem<'a>) -> bool {
        // The fast path's scalars have no tag or anchor: all are resolved on this side.
        // `false` means the builder stopped at an error: the fast path has failed. The reader
        // still scans to the end (its result is ignored), as it does on one thread.
        self.send(Piece::resolving(item))
    }
}

/// Read `src` into a document, or `None` when it is not in the accepted subset (or the
/// builder found an error: the general path reports it). Small inputs are read and built on
/// this thread without buffering their events; large ones are read on a second thread while
/// this one builds (`pipeline`).
pub(super) fn read(src: &str) -> Option<Document> {
    if src.len() < MIN_BYTES {
        let build = reader(src, Build::default())?;
        return build.finish().ok();
    }
    build_beside(|sink| reader(src, sink).is_some())?.ok()
}

/// The events of `src`, or `None` when it is not in the accepted subset.
pub(super) fn events(src: &str) -> Option<Vec<ParserItem<'_>>> {
    reader(src, Vec::new())
}

fn reader<'a, S: Sink<'a>>(src: &'a str, sink: S) -> Option<S> {
    if src.starts_with('\u{feff}') || memchr::memchr3(b'\t', b'\r', b'\0', src.as_bytes()).is_some() {
        return None;
    }
    // A last line with no newline after it that is indented or only a comment: saphyr ends
    // the open collections on that line, not at the end of the text (both found by the
    // lint_yaml fuzz target).
    let last = &src[src.rfind('\n').map_or(0, |i| i + 1)..];
    if last.starts_with([' ', '#']) {
        return None;
    }
    let mut r = Reader {
        src,
        b: src.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
        ascii: src.is_ascii(),
        depth: 0,
        out: sink,
        ok: true,
    };
    r.document()?;
    r.ok.then_some(r.out)
}

struct Reader<'a, S> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    ascii: bool,
    /// Collections open: deeper than the builder allows is the general path's to report.
    depth: usize,
    out: S,
    /// Whether the sink took every event.
    ok: bool,
}

type Found<T = ()> = Option<T>;

/// Keys longer than this (bytes) are read by the general path (saphyr's limit is 1024
/// characters).
const MAX_KEY: usize = 1000;

impl<'a, S: Sink<'a>> Reader<'a, S> {
    fn marker(&self, pos: usize) -> Marker {
        let col = if self.ascii {
            pos - self.line_start
        } else {
            self.src[self.line_start..pos].chars().count()
        };
        Marker::new(pos, self.line, col)
    }

    fn enter(&mut self) -> Found {
        self.depth += 1;
        (self.depth <= super::MAX_DEPTH).then_some(())
    }

    fn emit(&mut self, event: Event<'a>, start: usize, end: usize) {
        let span = Span::new(self.marker(start), self.marker(end));
        self.ok = self.ok && self.out.take(Ok((event, span)));
    }

    fn emit_at(&mut self, event: Event<'a>, at: Marker) {
        self.ok = self.ok && self.out.take(Ok((event, Span::new(at, at))));
    }

    fn peek(&self) -> u8 {
        self.b.get(self.pos).copied().unwrap_or(b'\n')
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// Where saphyr puts the end of the stream: column 0 of the line after the last one
    /// (called once everything was read, so `line` is the last line).
    fn eof_marker(&self) -> Marker {
        let line = self.line + usize::from(!self.src.ends_with('\n'));
        Marker::new(self.b.len(), line, 0)
    }

    /// Move to the first content character at or after `pos`, past blanks, comments and line
    /// ends. Returns its column (`None` at the end of the text).
    fn next_content(&mut self) -> Option<usize> {
        loop {
            while self.peek() == b' ' {
                self.pos += 1;
            }
            if self.at_eof() {
                return None;
            }
            match self.peek() {
                b'#' => {
                    self.pos = memchr::memchr(b'\n', &self.b[self.pos..]).map_or(self.b.len(), |i| self.pos + i);
                }
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                // A document marker (`---`, `...`) at a line start: the general path's.
                b'-' | b'.' if self.pos == self.line_start && self.marker_line() => {
                    self.ok = false;
                    self.pos = self.b.len();
                    return None;
                }
                _ => return Some(self.marker(self.pos).col()),
            }
        }
    }

    /// Whether the line at `pos` starts with `---` or `...` followed by a blank or its end.
    fn marker_line(&self) -> bool {
        let rest = &self.b[self.pos..];
        (rest.starts_with(b"---") || rest.starts_with(b"...")) && matches!(rest.get(3), None | Some(b' ') | Some(b'\n'))
    }

    /// The rest of the line must be blanks and an optional comment; stop before its newline.
    fn end_of_line(&mut self) -> Found {
        while self.peek() == b' ' {
            self.pos += 1;
        }
        match self.peek() {
            b'\n' => Some(()),
            b'#' if self.b[self.pos - 1] == b' ' => {
                self.pos = memchr::memchr(b'\n', &self.b[self.pos..]).map_or(self.b.len(), |i| self.pos + i);
                Some(())
            }
            _ => None,
        }
    }

    /// After a closing quote or bracket, saphyr's token runs on over the blanks and the
    /// comment that follow on the line; return where it ends.
    fn closing_end(&self, mut end: usize) -> usize {
        while self.b.get(end) == Some(&b' ') {
            end += 1;
        }
        if self.b.get(end) == Some(&b'#') && self.b[end - 1] == b' ' {
            end = memchr::memchr(b'\n', &self.b[end..]).map_or(self.b.len(), |i| end + i);
        }
        end
    }

    fn document(&mut self) -> Found {
        self.emit_at(Event::StreamStart, Marker::new(0, 1, 0));
        let col = self.next_content()?;
        let start = self.marker(self.pos);
        self.emit_at(Event::DocumentStart(false), start);
        if self.b[self.pos..].starts_with(b"---") || self.peek() == b'%' {
            return None;
        }
        self.block_node(col)?;
        if self.next_content().is_some() {
            return None;
        }
        let end = self.eof_marker();
        self.emit_at(Event::DocumentEnd, end);
        self.emit_at(Event::StreamEnd, end);
        Some(())
    }

    /// The end marker of a block collection: the next token, or the end of the stream.
    fn block_end(&mut self, event: Event<'a>) {
        let at = if self.at_eof() {
            self.eof_marker()
        } else {
            self.marker(self.pos)
        };
        self.emit_at(event, at);
    }

    fn dash_here(&self) -> bool {
        self.peek() == b'-' && matches!(self.b.get(self.pos + 1), Some(b' ') | Some(b'\n') | None)
    }

    /// Emit the plain scalar `text` written at `start`, and move past it.
    fn plain(&mut self, start: usize, text: &'a str) -> Found {
        self.pos = start + text.len();
        self.emit(
            Event::Scalar(Cow::Borrowed(text), ScalarStyle::Plain, 0, None),
            start,
            self.pos,
        );
        Some(())
    }

    /// A block collection starting at the current content (column `col`).
    fn block_node(&mut self, col: usize) -> Found {
        if self.dash_here() {
            self.block_sequence(col, false)
        } else if self.key_here() {
            self.block_mapping(col)
        } else {
            None
        }
    }

    /// Whether the content here is a mapping key: a scalar followed by `: ` or `:` at the end
    /// of the line, before any comment.
    fn key_here(&self) -> bool {
        let rest = &self.b[self.pos..];
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        match line.first() {
            Some(b'"') | Some(b'\'') => self.quoted_at(self.pos).is_some_and(|(len, _)| {
                let after = &line[len..];
                let colon = after.iter().position(|&c| c != b' ');
                colon.is_some_and(|c| after[c] == b':' && matches!(after.get(c + 1), Some(b' ') | None))
            }),
            Some(b'[') | Some(b'{') | None => false,
            _ => {
                for i in memchr::memchr2_iter(b':', b'#', line) {
                    match line[i] {
                        b':' if matches!(line.get(i + 1), Some(b' ') | None) => return true,
                        b'#' if i > 0 && line[i - 1] == b' ' => return false,
                        _ => {}
                    }
                }
                false
            }
        }
    }

    fn block_mapping(&mut self, n: usize) -> Found {
        self.enter()?;
        self.emit_at(Event::MappingStart(0, None), self.marker(self.pos));
        loop {
            self.key()?;
            // `: ` or `:` at the end of the line.
            if self.peek() != b':' {
                return None;
            }
            self.pos += 1;
            while self.peek() == b' ' {
                self.pos += 1;
            }
            if matches!(self.peek(), b'\n' | b'#') {
                if self.peek() == b'#' && self.b[self.pos - 1] != b' ' {
                    return None;
                }
                // The value is on the next lines: a nested collection, or an indentless
                // sequence at this indentation.
                let c = self.next_content()?;
                if c > n {
                    self.block_node(c)?;
                } else if c == n && self.dash_here() {
                    self.block_sequence(n, true)?;
                } else {
                    return None; // an empty value: the general parser's business
                }
            } else {
                self.inline_value()?;
                self.end_of_line()?;
                if self.next_content().is_some_and(|c| c > n) {
                    return None; // a continuation line of a plain scalar, or an error
                }
            }
            match self.next_content() {
                Some(c) if c == n && !self.dash_here() => continue,
                Some(c) if c < n => break,
                None => break,
                _ => return None,
            }
        }
        self.block_end(Event::MappingEnd);
        self.depth -= 1;
        Some(())
    }

    fn block_sequence(&mut self, n: usize, indentless: bool) -> Found {
        self.enter()?;
        let mut first = true;
        loop {
            let dash = self.pos;
            self.pos += 1;
            if self.peek() != b' ' {
                return None; // `-` alone: an empty item or one on the next lines
            }
            while self.peek() == b' ' {
                self.pos += 1;
            }
            if matches!(self.peek(), b'\n' | b'#') {
                return None;
            }
            if first {
                let at = self.marker(if indentless { self.pos } else { dash });
                self.emit_at(Event::SequenceStart(0, None), at);
                first = false;
            }
            let m = self.marker(self.pos).col();
            if self.dash_here() {
                return None; // `- - x`
            }
            if self.key_here() {
                self.block_mapping(m)?;
            } else {
                self.inline_value()?;
                self.end_of_line()?;
                if self.next_content().is_some_and(|c| c > n) {
                    return None;
                }
            }
            match self.next_content() {
                Some(c) if c == n && self.dash_here() => continue,
                Some(c) if c < n || (indentless && c == n) => break,
                None => break,
                _ => return None,
            }
        }
        self.block_end(Event::SequenceEnd);
        self.depth -= 1;
        Some(())
    }

    /// A key: a one-line plain or quoted scalar directly before `:`.
    fn key(&mut self) -> Found {
        match self.peek() {
            // saphyr refuses a key longer than 1024 characters; leave those to it.
            b'"' | b'\'' if self.quoted_at(self.pos).is_some_and(|(len, _)| len > MAX_KEY) => None,
            b'"' | b'\'' => self.quoted(),
            _ => {
                let start = self.pos;
                let rest = &self.b[start..];
                let line_len = memchr::memchr(b'\n', rest).unwrap_or(rest.len()).min(MAX_KEY);
                let colon = memchr::memchr_iter(b':', &rest[..line_len])
                    .find(|&i| matches!(rest.get(i + 1), Some(b' ') | Some(b'\n') | None))?;
                let src: &'a str = self.src;
                let text = &src[start..start + colon];
                if !plain_start(text) || text.ends_with(' ') || comment_at(text.as_bytes()).is_some() {
                    return None;
                }
                self.plain(start, text)
            }
        }
    }

    /// A value on the key's or dash's line: a scalar or a one-line flow collection.
    fn inline_value(&mut self) -> Found {
        match self.peek() {
            b'"' | b'\'' => self.quoted(),
            b'[' | b'{' => self.flow(),
            _ => {
                let start = self.pos;
                let rest = &self.b[start..];
                let mut end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                if let Some(h) = comment_at(&rest[..end]) {
                    end = h;
                }
                let src: &'a str = self.src;
                let text = src[start..start + end].trim_end_matches(' ');
                if !plain_start(text) || colon_space(text.as_bytes()) || text.ends_with(':') {
                    return None;
                }
                self.plain(start, text)
            }
        }
    }
}

/// Where ` #` (a comment after a plain scalar) first occurs in `line`. Searched by its rarer
/// byte: `str::contains` compares every blank-led candidate, and blanks are everywhere.
fn comment_at(line: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'#', line)
        .find(|&i| i > 0 && line[i - 1] == b' ')
        .map(|i| i - 1)
}

/// Whether `text` holds `: ` (which would make a plain scalar a mapping).
fn colon_space(text: &[u8]) -> bool {
    memchr::memchr_iter(b':', text).any(|i| text.get(i + 1) == Some(&b' '))
}

/// Whether `text` may be a plain scalar as written (not empty, not starting with an indicator).
fn plain_start(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        None => false,
        Some('-' | '?' | ':') => chars.next().is_some_and(|c| c != ' '),
        Some(c) => !"[]{},#&*!|>'\"%@`".contains(c),
    }
}
