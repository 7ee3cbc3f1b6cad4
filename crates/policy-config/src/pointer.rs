//! JSON pointers (RFC 6901): the one place that escapes, unescapes, joins and splits them.
//!
//! Every location the project reports or compares (a YAML span lookup, a schema node, a lint
//! finding, a diff change) is named by a pointer such as `/policy/content-filter/rules/0`.
//! This module only turns tokens into pointers and back; what a pointer designates is for its
//! callers to find (`config::yaml` in the span tree, `schema` in the schema, `diff` in a value).

use std::borrow::Cow;

/// Unescape one pointer token: `~1` is `/`, `~0` is `~` (in that order, so `~01` is `~1`).
pub fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Escape one pointer token: `~` becomes `~0`, `/` becomes `~1`.
pub fn escape(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// The unescaped tokens of `pointer`, root first; none for the root pointer `""`.
pub fn tokens(pointer: &str) -> impl Iterator<Item = Cow<'_, str>> {
    pointer.split('/').skip(1).map(unescape)
}

/// Append `token` (unescaped) to `pointer` as one more level.
pub fn push(pointer: &mut String, token: &str) {
    pointer.push('/');
    pointer.push_str(&escape(token));
}

/// The pointer of `token` (unescaped) under `pointer`.
pub fn child(pointer: &str, token: &str) -> String {
    let mut p = pointer.to_string();
    push(&mut p, token);
    p
}

/// The pointer made of `tokens` (unescaped), root first.
pub fn join<T: AsRef<str>>(tokens: impl IntoIterator<Item = T>) -> String {
    let mut p = String::new();
    for t in tokens {
        push(&mut p, t.as_ref());
    }
    p
}

/// The pointer of where serde stopped (`serde_path_to_error`'s path): sequence indices, keys
/// and enum variants as tokens.
pub fn of_serde_path(path: &serde_path_to_error::Path) -> String {
    join(path.iter().filter_map(|seg| match seg {
        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
        serde_path_to_error::Segment::Unknown => None,
    }))
}

/// `pointer`'s parent and its last token (unescaped); `None` for the root pointer `""`.
pub fn split_last(pointer: &str) -> Option<(&str, Cow<'_, str>)> {
    let i = pointer.rfind('/')?;
    Some((&pointer[..i], unescape(&pointer[i + 1..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_escaping() {
        let keys = ["a/b", "~x", "~1", "", "0"];
        let p = join(keys);
        assert_eq!(p, "/a~1b/~0x/~01//0");
        assert_eq!(tokens(&p).collect::<Vec<_>>(), keys);
        assert_eq!(tokens("").count(), 0);
    }

    #[test]
    fn child_and_split_last_are_inverse() {
        let p = child("/providers/targets", "a/b");
        assert_eq!(p, "/providers/targets/a~1b");
        assert_eq!(split_last(&p), Some(("/providers/targets", Cow::Borrowed("a/b"))));
        assert_eq!(split_last("/pack"), Some(("", Cow::Borrowed("pack"))));
        assert_eq!(split_last(""), None);
    }
}
