//! The fast reader's scalars and flow collections: one-line quoted scalars (with the escapes
//! of YAML double-quoted strings) and one-line `[...]` / `{...}`, with saphyr's spans.

use super::{plain_start, Found, Reader, Sink};
use saphyr_parser::{Event, ScalarStyle};
use std::borrow::Cow;

impl<'a, S: Sink<'a>> Reader<'a, S> {
    /// The byte length of the one-line quoted scalar starting at `at` (quotes included) and
    /// its value; `None` when it does not close on its line or has an escape this reader does
    /// not know.
    pub(super) fn quoted_at(&self, at: usize) -> Option<(usize, Cow<'a, str>)> {
        let src: &'a str = self.src;
        let quote = self.b[at];
        let body_start = at + 1;
        let rest = &self.b[body_start..];
        let body = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let mut owned: Option<String> = None;
        let mut seg = 0;
        let mut i = 0;
        loop {
            let k = if quote == b'\'' {
                i + memchr::memchr(b'\'', &body[i..])?
            } else {
                i + memchr::memchr2(b'"', b'\\', &body[i..])?
            };
            let piece = &src[body_start + seg..body_start + k];
            if body[k] == quote && !(quote == b'\'' && body.get(k + 1) == Some(&b'\'')) {
                let value = match owned {
                    Some(mut o) => {
                        o.push_str(piece);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(piece),
                };
                return Some((k + 2, value));
            }
            let o = owned.get_or_insert_with(|| String::with_capacity(body.len()));
            o.push_str(piece);
            if quote == b'\'' {
                o.push('\'');
                i = k + 2;
                seg = i;
                continue;
            }
            let (ch, used) = match *body.get(k + 1)? {
                b'\\' => ('\\', 2),
                b'"' => ('"', 2),
                b'/' => ('/', 2),
                b'n' => ('\n', 2),
                b't' => ('\t', 2),
                b'r' => ('\r', 2),
                b'0' => ('\0', 2),
                b'a' => ('\u{7}', 2),
                b'b' => ('\u{8}', 2),
                b'e' => ('\u{1b}', 2),
                b'f' => ('\u{c}', 2),
                b'v' => ('\u{b}', 2),
                b' ' => (' ', 2),
                b'N' => ('\u{85}', 2),
                b'_' => ('\u{a0}', 2),
                b'L' => ('\u{2028}', 2),
                b'P' => ('\u{2029}', 2),
                c @ (b'x' | b'u' | b'U') => {
                    let digits = match c {
                        b'x' => 2,
                        b'u' => 4,
                        _ => 8,
                    };
                    let hex = std::str::from_utf8(body.get(k + 2..k + 2 + digits)?).ok()?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 2 + digits)
                }
                _ => return None,
            };
            o.push(ch);
            i = k + used;
            seg = i;
        }
    }

    /// A one-line single- or double-quoted scalar; its span runs on over what follows it
    /// (see `closing_end`).
    pub(super) fn quoted(&mut self) -> Found {
        let start = self.pos;
        let (len, value) = self.quoted_at(start)?;
        let style = if self.b[start] == b'"' {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::SingleQuoted
        };
        let end = self.closing_end(start + len);
        self.emit(Event::Scalar(value, style, 0, None), start, end);
        self.pos = end;
        Some(())
    }

    /// A flow collection that opens and closes on this line.
    pub(super) fn flow(&mut self) -> Found {
        self.enter()?;
        let start = self.pos;
        let seq = self.peek() == b'[';
        let close = if seq { b']' } else { b'}' };
        self.pos += 1;
        while self.peek() == b' ' {
            self.pos += 1;
        }
        let open = if seq {
            Event::SequenceStart(0, None)
        } else {
            Event::MappingStart(0, None)
        };
        self.emit(open, start, self.pos);
        if self.peek() != close {
            loop {
                if seq {
                    self.flow_node(false)?;
                } else {
                    self.flow_node(true)?;
                    if self.peek() != b':' || self.b.get(self.pos + 1) != Some(&b' ') {
                        return None;
                    }
                    self.pos += 1;
                    while self.peek() == b' ' {
                        self.pos += 1;
                    }
                    self.flow_node(false)?;
                }
                while self.peek() == b' ' {
                    self.pos += 1;
                }
                match self.peek() {
                    b',' => {
                        self.pos += 1;
                        while self.peek() == b' ' {
                            self.pos += 1;
                        }
                        if matches!(self.peek(), b']' | b'}' | b',' | b'\n' | b'#') {
                            return None;
                        }
                    }
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        let at = self.pos;
        let end = self.closing_end(at + 1);
        let event = if seq { Event::SequenceEnd } else { Event::MappingEnd };
        self.emit(event, at, end);
        self.pos = end;
        self.depth -= 1;
        Some(())
    }

    /// An item, key or value inside a flow collection.
    fn flow_node(&mut self, key: bool) -> Found {
        match self.peek() {
            b'"' | b'\'' => self.quoted(),
            b'[' | b'{' if !key => self.flow(),
            _ => {
                let start = self.pos;
                let mut i = start;
                while let Some(&c) = self.b.get(i) {
                    let stop = match c {
                        b',' | b'[' | b']' | b'{' | b'}' | b'\n' => true,
                        b'#' => self.b[i - 1] == b' ',
                        b':' => matches!(self.b.get(i + 1), Some(b' ' | b',' | b']' | b'}' | b'\n') | None),
                        _ => false,
                    };
                    if stop {
                        break;
                    }
                    i += 1;
                }
                if self.b.get(i) == Some(&b':') && !key {
                    return None; // a pair inside a sequence, or `a: b: c`
                }
                let src: &'a str = self.src;
                let text = src[start..i].trim_end_matches(' ');
                if !plain_start(text) {
                    return None;
                }
                self.plain(start, text)
            }
        }
    }
}
