//! Scalar spans made exact: saphyr's span of a quoted scalar runs on to the next token (over
//! spaces and a comment: `'a'   # note` spans all of it), and an implicit null (`{a}`, `a:`
//! before `}`) spans the token after it. Diagnostics underline a node's span and fixes
//! replace it, so both must cover exactly what was written.
//!
//! Owns [`Exact`], which walks the source beside the event stream (events come in source
//! order, so the walk is one pass over the text) and corrects those two kinds of span. Every
//! other event passes through untouched.

use super::builder::ParserItem;
use saphyr_parser::{Event, Marker, ScalarStyle, Span};

/// The source and a cursor into it: the byte offset of a line/column already passed.
pub(super) struct Exact<'a> {
    src: &'a str,
    line: usize,
    col: usize,
    byte: usize,
}

impl<'a> Exact<'a> {
    pub(super) fn new(src: &'a str) -> Exact<'a> {
        Exact {
            src,
            line: 1,
            col: 0,
            byte: 0,
        }
    }

    /// `item`, with a quoted scalar's span ending at its closing quote and an implicit null's
    /// span empty.
    pub(super) fn correct(&mut self, item: ParserItem<'a>) -> ParserItem<'a> {
        let Ok((Event::Scalar(text, style, anchor, tag), span)) = item else {
            return item;
        };
        let span = match style {
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => self.quoted(span, style),
            ScalarStyle::Plain if text == "~" && span.end != span.start => self.null(span),
            _ => span,
        };
        Ok((Event::Scalar(text, style, anchor, tag), span))
    }

    /// The byte offset of `m`, moving the cursor there (never backwards: an earlier place is
    /// found again from the start of its line).
    fn offset(&mut self, m: Marker) -> Option<usize> {
        if m.line() < self.line || (m.line() == self.line && m.col() < self.col) {
            // Out of order (not seen from saphyr): start the walk again.
            (self.line, self.col, self.byte) = (1, 0, 0);
        }
        while self.line < m.line() {
            self.byte += memchr::memchr(b'\n', &self.src.as_bytes()[self.byte..])? + 1;
            self.line += 1;
            self.col = 0;
        }
        let rest = &self.src[self.byte..];
        let ahead = m.col() - self.col;
        let step = rest.char_indices().nth(ahead).map_or(rest.len(), |(i, _)| i);
        self.byte += step;
        self.col = m.col();
        Some(self.byte)
    }

    fn quoted(&mut self, span: Span, style: ScalarStyle) -> Span {
        let Some(start) = self.offset(span.start) else {
            return span;
        };
        let bytes = self.src.as_bytes();
        let (quote, escape) = match style {
            ScalarStyle::SingleQuoted => (b'\'', None),
            _ => (b'"', Some(b'\\')),
        };
        let mut i = start + 1;
        let close = loop {
            let Some(at) = bytes
                .get(i..)
                .and_then(|b| b.iter().position(|&c| c == quote || Some(c) == escape))
            else {
                return span;
            };
            i += at;
            if Some(bytes[i]) == escape {
                i += 2;
            } else if escape.is_none() && bytes.get(i + 1) == Some(&b'\'') {
                i += 2; // `''` is one quote inside a single-quoted scalar
            } else {
                break i;
            }
        };
        let written = &self.src[start..=close];
        let newlines = memchr::memchr_iter(b'\n', written.as_bytes()).count();
        let (line, col) = match written.rfind('\n') {
            Some(nl) => (span.start.line() + newlines, written[nl + 1..].chars().count()),
            None => (span.start.line(), span.start.col() + written.chars().count()),
        };
        let chars = written.chars().count();
        Span::new(span.start, Marker::new(span.start.index() + chars, line, col))
    }

    fn null(&mut self, span: Span) -> Span {
        match self.offset(span.start).map(|at| self.src.as_bytes()[at..].first()) {
            Some(Some(b'~')) => span,
            _ => Span::new(span.start, span.start),
        }
    }
}
