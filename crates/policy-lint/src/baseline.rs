//! Baselines (docs/reference/baseline-format.md): today's findings recorded so only new ones fail.
//!
//! An entry is keyed by file, code, JSON pointer and a fingerprint of the offending value,
//! never by line: edits elsewhere in the file leave it matching. Matching is two-pass: exact
//! (code, pointer, value) first, then (code, pointer with its sequence indices ignored, value),
//! so an entry still matches when an item was inserted above its rule in a list. Values are
//! recorded as a SHA-256 prefix, never as text: a baselined plaintext secret must not be copied
//! into the baseline. The file is JSON, sorted by path, code and pointer, so it diffs well in
//! review. Owns the file format, writing and matching; the CLI decides when to write or load.

use super::diagnostic::Diagnostic;
use super::FileReport;
use policy_config::pointer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The format version written and understood.
const VERSION: u32 = 1;

/// A baseline file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Format version (1).
    pub version: u32,
    /// Accepted findings by file path, relative to the baseline file's folder.
    pub files: BTreeMap<String, Vec<Entry>>,
    /// The baseline file's folder, canonical: what the paths are relative to, so the same
    /// baseline matches whichever folder `policy lint` runs from.
    #[serde(skip)]
    base: Option<std::path::PathBuf>,
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The diagnostic code.
    pub code: String,
    /// JSON pointer of the offending node.
    pub pointer: String,
    /// Fingerprint of the offending value (`sha256:` and 16 hex digits).
    pub value: String,
    /// The message when it was recorded, for the reviewer; not matched.
    pub message: String,
}

/// Why a baseline file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Unreadable.
    #[error("cannot read baseline {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a baseline.
    #[error("{path} is not a policy lint baseline: {why}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        why: String,
    },
}

/// The key of a path with no baseline folder to be relative to (a file outside it): as given,
/// without a leading `./`; an absolute path inside the working directory is made relative to
/// it, so `cfg.yaml`, `./cfg.yaml` and `$PWD/cfg.yaml` share their entries.
fn cwd_key(path: &str) -> String {
    let relative = std::env::current_dir().ok().and_then(|cwd| {
        std::path::Path::new(path)
            .strip_prefix(cwd)
            .ok()
            .map(|p| p.display().to_string())
    });
    let mut p = relative.as_deref().unwrap_or(path);
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p.to_string()
}

impl Baseline {
    /// An empty baseline to be written at `path`.
    pub fn at(path: &std::path::Path) -> Baseline {
        Baseline {
            version: VERSION,
            files: BTreeMap::new(),
            base: folder_of(path),
        }
    }

    /// The key `path` (a file as linted) is recorded under: relative to the baseline file's
    /// folder when it is inside it, with `/` between components.
    pub fn key(&self, path: &str) -> String {
        let inside = self.base.as_ref().and_then(|base| {
            let file = std::fs::canonicalize(path).ok()?;
            let rel = file.strip_prefix(base).ok()?;
            let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            Some(parts.join("/"))
        });
        inside.unwrap_or_else(|| cwd_key(path))
    }

    /// Read a baseline file.
    pub fn load(path: &std::path::Path) -> Result<Baseline, BaselineError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Io {
            path: shown.clone(),
            source,
        })?;
        let mut b: Baseline = serde_json::from_str(&text).map_err(|e| BaselineError::Format {
            path: shown.clone(),
            why: format!("{e} (line {}, column {})", e.line(), e.column()),
        })?;
        if b.version != VERSION {
            return Err(BaselineError::Format {
                path: shown,
                why: format!(
                    "version {} is not supported (this policy writes version {VERSION})",
                    b.version
                ),
            });
        }
        b.base = folder_of(path);
        Ok(b)
    }

    /// Record every finding of `reports` (replacing what an older baseline held for those
    /// files, keeping its other files). YAML reading errors are not recorded: they cannot be
    /// accepted (see `suppress`).
    pub fn record(mut self, reports: &[FileReport]) -> Baseline {
        self.version = VERSION;
        for r in reports {
            if r.diagnostics.iter().any(|d| d.code.starts_with("P1")) {
                // Not readable today: nothing was checked, so what it accepted stays.
                continue;
            }
            let mut entries: Vec<Entry> = r
                .diagnostics
                .iter()
                .chain(&r.baselined)
                .filter(|d| !d.code.starts_with("P1"))
                .map(|d| entry(r, d))
                .collect();
            // Sorted, repeats kept: two identical findings need two entries.
            entries.sort();
            if entries.is_empty() {
                let k = self.key(&r.path);
                self.files.remove(&k);
            } else {
                let k = self.key(&r.path);
                self.files.insert(k, entries);
            }
        }
        self
    }

    /// The baseline as written: pretty JSON with a final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Move the findings of `report` that the baseline accepts into `report.baselined`, and
    /// this file's entries that matched nothing into `report.stale`.
    pub fn apply(&self, report: &mut FileReport) {
        let Some(entries) = self.files.get(&self.key(&report.path)) else {
            return;
        };
        let mut open: Vec<Option<&Entry>> = entries.iter().map(Some).collect();
        let found: Vec<Entry> = report.diagnostics.iter().map(|d| entry(report, d)).collect();
        let mut accepted = vec![false; found.len()];
        let passes: [fn(&Entry, &Entry) -> bool; 2] = [
            |a, b| a == b,
            |a, b| a.code == b.code && a.value == b.value && shape(&a.pointer) == shape(&b.pointer),
        ];
        for same in passes {
            for (i, f) in found.iter().enumerate() {
                if accepted[i] || f.code.starts_with("P1") {
                    continue;
                }
                if let Some(slot) = open.iter_mut().find(|e| e.is_some_and(|e| same(e, f))) {
                    *slot = None;
                    accepted[i] = true;
                }
            }
        }
        let all = std::mem::take(&mut report.diagnostics);
        for (d, ok) in all.into_iter().zip(accepted) {
            if ok {
                report.baselined.push(d);
            } else {
                report.diagnostics.push(d);
            }
        }
        // A file whose YAML could not be read was not checked at all: its entries matched
        // nothing because nothing ran, not because the problems are gone.
        if report.document.is_some() {
            report.stale = open.into_iter().flatten().cloned().collect();
        }
    }
}

/// The canonical folder of the file at `path` (which may not exist yet).
fn folder_of(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::canonicalize(parent).ok()
}

/// The entry a diagnostic of `report` would be recorded as.
fn entry(report: &FileReport, d: &Diagnostic) -> Entry {
    let value = report
        .document
        .as_ref()
        .and_then(|doc| doc.value.pointer(&d.pointer))
        .map_or(Value::Null, fingerprint_source);
    let digest = Sha256::digest(value.to_string().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Entry {
        code: d.code.to_string(),
        pointer: d.pointer.clone(),
        value: format!("sha256:{hex}"),
        message: d.message.clone(),
    }
}

/// What of a node identifies the finding: a scalar itself; for a list item or block, its `id`
/// when it has one (editing a target's other fields is not a new finding), else its shape.
fn fingerprint_source(v: &Value) -> Value {
    match v {
        Value::Object(m) => m.get("id").cloned().unwrap_or_else(|| Value::String("{}".into())),
        Value::Array(_) => Value::String("[]".into()),
        other => other.clone(),
    }
}

/// `pointer` with its sequence indices replaced by `*`.
fn shape(p: &str) -> String {
    let tokens = pointer::tokens(p).map(|t| if t.parse::<usize>().is_ok() { "*".into() } else { t });
    pointer::join(tokens.collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_ignore_indices_only() {
        assert_eq!(
            shape("/policy/content-filter/rules/12/pattern"),
            "/policy/content-filter/rules/*/pattern"
        );
        assert_eq!(shape("/a~1b/3"), "/a~1b/*");
        assert_eq!(cwd_key("././cfg.yaml"), "cfg.yaml");
    }
}
