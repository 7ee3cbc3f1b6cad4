//! Recorded traffic: the JSON Lines format (docs/reference/traffic-format.md) and HAR 1.2.
//!
//! Owns parsing only. A malformed line (or HAR entry) is reported with its line number (entry
//! number) and left out; the caller decides whether that is fatal (`--strict`). Nothing else
//! in the file is lost: a line that is not UTF-8 is one malformed line, and a byte-order mark
//! is skipped. A HAR file that does not parse as a whole is an error, not an empty run.

use policy_contract::time::parse_rfc3339;
use policy_contract::traffic::Line;
use policy_engine::{Millis, Request};
use serde_json::Value;

/// One recorded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Line (JSONL) or entry (HAR) number, 1-based.
    pub line: usize,
    /// When it was received.
    pub ts: Millis,
    /// HTTP method.
    pub method: String,
    /// The request as the engine sees it.
    pub request: Request,
    /// The status it was answered with when recorded (`expect_status` in JSON Lines, the
    /// response's status in HAR), if the recording says.
    pub expect_status: Option<u16>,
}

/// A line or entry that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrafficError {
    /// 1-based line (JSONL) or entry (HAR) number.
    pub line: usize,
    /// What is wrong.
    pub error: String,
}

/// Why a HAR file could not be read at all (a malformed entry is a [`TrafficError`] instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HarError {
    /// The bytes are not UTF-8.
    #[error("not a HAR file: not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The text is not JSON.
    #[error("not a HAR file: {0}")]
    NotJson(String),
    /// JSON without the entries a HAR file has.
    #[error("not a HAR file: no `log.entries` array")]
    NoEntries,
}

/// Read a traffic file's bytes. HAR when `har` (the file is named `*.har`) or when
/// the text is one JSON object whose first key is `log`; JSON Lines otherwise. A UTF-8
/// byte-order mark is skipped. Malformed lines and entries are returned beside what was read;
/// the error is for a HAR file that cannot be read at all.
pub fn read(bytes: &[u8], har: bool) -> Result<(Vec<Recorded>, Vec<TrafficError>), HarError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if har || looks_like_har(bytes) {
        let text = std::str::from_utf8(bytes).map_err(|e| HarError::NotUtf8(e.valid_up_to()))?;
        return parse_har(text);
    }
    Ok(parse_jsonl(bytes))
}

/// [`read`] for text that is not a file (the demo's bundled traffic, tests): a HAR text that
/// cannot be read is one malformed line.
pub fn parse(text: &str) -> (Vec<Recorded>, Vec<TrafficError>) {
    read(text.as_bytes(), false).unwrap_or_else(|error| {
        let error = error.to_string();
        (Vec::new(), vec![TrafficError { line: 1, error }])
    })
}

fn looks_like_har(bytes: &[u8]) -> bool {
    // A HAR file is one object whose first key is `log`; a JSONL line never has it.
    let head: Vec<u8> = bytes
        .iter()
        .take(200)
        .filter(|b| !b.is_ascii_whitespace())
        .copied()
        .collect();
    head.starts_with(b"{\"log\"")
}

/// Parse JSON Lines: one request a line, blank lines ignored, a line that is not
/// UTF-8 reported like any malformed one.
fn parse_jsonl(bytes: &[u8]) -> (Vec<Recorded>, Vec<TrafficError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                errors.push(TrafficError {
                    line: n,
                    error: format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1),
                });
                continue;
            }
        };
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = match serde_json::from_str(raw) {
            Ok(l) => l,
            Err(e) => {
                errors.push(TrafficError {
                    line: n,
                    error: e.to_string(),
                });
                continue;
            }
        };
        let ts = match parse_rfc3339(&line.ts) {
            Some(t) => t,
            None => {
                errors.push(TrafficError {
                    line: n,
                    error: format!("`ts` is not an RFC 3339 time: {:?}", line.ts),
                });
                continue;
            }
        };
        if !line.body.is_object() {
            errors.push(TrafficError {
                line: n,
                error: "`body` must be a JSON object".into(),
            });
            continue;
        }
        ok.push(Recorded {
            line: n,
            ts,
            method: line.method,
            request: Request {
                id: line.id.unwrap_or_else(|| format!("line-{n}")),
                path: line.path,
                client_ip: line.client_ip,
                headers: line
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
                body: line.body,
            },
            expect_status: line.expect_status,
        });
    }
    (ok, errors)
}

/// Parse HAR 1.2: `log.entries[].request` with `postData.text` as the JSON body. Entries are
/// numbered from 1 and get ids `entry-N`; an entry that cannot be used is reported by that
/// number. A text that is not HAR at all is the error.
fn parse_har(text: &str) -> Result<(Vec<Recorded>, Vec<TrafficError>), HarError> {
    let har: Value = serde_json::from_str(text).map_err(|e| HarError::NotJson(e.to_string()))?;
    let Some(entries) = har.pointer("/log/entries").and_then(Value::as_array) else {
        return Err(HarError::NoEntries);
    };
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let req = &entry["request"];
        let body = req
            .pointer("/postData/text")
            .and_then(Value::as_str)
            .map(serde_json::from_str::<Value>);
        let body = match body {
            Some(Ok(v)) if v.is_object() => v,
            Some(Ok(_)) => {
                errors.push(TrafficError {
                    line: n,
                    error: "entry's postData.text is not a JSON object".into(),
                });
                continue;
            }
            Some(Err(e)) => {
                errors.push(TrafficError {
                    line: n,
                    error: format!("entry's postData.text is not JSON: {e}"),
                });
                continue;
            }
            None => {
                errors.push(TrafficError {
                    line: n,
                    error: "entry has no request.postData.text".into(),
                });
                continue;
            }
        };
        let url = req["url"].as_str().unwrap_or("/");
        let path = url
            .split("://")
            .nth(1)
            .map_or(url, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
        let path = path.split('?').next().unwrap_or("/").to_string();
        let headers = req["headers"]
            .as_array()
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        Some((
                            h["name"].as_str()?.to_ascii_lowercase(),
                            h["value"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ts = entry["startedDateTime"].as_str().and_then(parse_rfc3339).unwrap_or(0);
        ok.push(Recorded {
            line: n,
            ts,
            method: req["method"].as_str().unwrap_or("POST").to_string(),
            request: Request {
                id: format!("entry-{n}"),
                path,
                client_ip: None,
                headers,
                body,
            },
            expect_status: entry
                .pointer("/response/status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (100..600).contains(s)),
        });
    }
    Ok((ok, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let text = "{\"ts\":\"2026-11-21T10:00:00Z\",\"method\":\"POST\",\"path\":\"/v1/completions\",\"body\":{\"prompt\":\"hi\"}}\n{oops\n\n{\"ts\":\"2026-11-21T10:00:00Z\",\"method\":\"POST\",\"path\":\"/\"}\n";
        let (ok, errors) = parse(text);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].request.id, "line-1");
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4]);
    }

    const LINE: &str = "{\"ts\":\"2026-11-21T10:00:00Z\",\"method\":\"POST\",\"path\":\"/v1/completions\",\"body\":{\"prompt\":\"hi\"}}";

    #[test]
    fn a_line_that_is_not_utf8_is_one_malformed_line() {
        let mut bytes = format!("{LINE}\n").into_bytes();
        bytes.extend_from_slice(b"{\"ts\":\"caf\xe9\"}\r\n");
        bytes.extend_from_slice(format!("{LINE}\r\n").as_bytes());
        let (ok, errors) = read(&bytes, false).unwrap();
        assert_eq!(ok.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].error.contains("not UTF-8"), "{}", errors[0].error);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let (ok, errors) = read(format!("\u{feff}{LINE}\n").as_bytes(), false).unwrap();
        assert_eq!((ok.len(), errors.len()), (1, 0));
        let har = "\u{feff}{\"log\":{\"entries\":[{\"request\":{\"method\":\"POST\",\"url\":\"http://x/v1/chat/completions\",\"postData\":{\"text\":\"{}\"}}}]}}";
        let (ok, errors) = read(har.as_bytes(), false).unwrap();
        assert_eq!((ok.len(), errors.len()), (1, 0));
    }

    #[test]
    fn an_unreadable_har_file_is_an_error_not_an_empty_run() {
        let err = read(b"{\"log\":{\"entries\":[", false).unwrap_err();
        assert!(
            matches!(err, HarError::NotJson(_)) && err.to_string().starts_with("not a HAR file"),
            "{err}"
        );
        // Named `.har`, it is read as HAR whatever its first key.
        let err = read(b"{}", true).unwrap_err();
        assert_eq!(err, HarError::NoEntries);
        assert!(err.to_string().contains("log.entries"), "{err}");
    }

    #[test]
    fn optional_fields_may_be_null_and_ids_numbers() {
        let line = LINE.replace("\"ts\"", "\"id\":17,\"headers\":null,\"client_ip\":null,\"ts\"");
        let (ok, errors) = parse(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ok[0].request.id, "17");
        assert!(ok[0].request.headers.is_empty());
    }
}
