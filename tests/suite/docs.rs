//! The documentation cannot rot: README.md and `docs/` are held to the code.
//!
//! - the generated reference pages (`docs/reference/codes.md`, `config.md`, `cli.md`) are what
//!   `policy docs` generates today;
//! - every diagnostic code the registry knows has its entry in `codes.md`, and no other code is
//!   named anywhere in the docs;
//! - every relative link (and its `#anchor`) in README.md and `docs/` resolves;
//! - every ```` ```console ```` block runs: each `$ ` line is run in the repository root and
//!   must print what the block shows (`...` stands for any lines, `[..]` for any text within a
//!   line) and exit 0, or the status its `# exits N` comment names;
//! - the example config lints clean, the README stays short, and no file of the repository
//!   refers to a contract document it does not contain.

use crate::util::{policy, root};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// README.md and every Markdown file under `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let pattern = root().join("docs/**/*.md");
    out.extend(glob::glob(pattern.to_str().unwrap()).unwrap().map(Result::unwrap));
    assert!(out.len() > 20, "docs/ holds {} pages", out.len() - 1);
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

#[test]
fn the_generated_reference_pages_are_current() {
    let out = policy(&["docs", "--check"], None);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_code_has_its_reference_entry_and_no_other_code_is_named() {
    let list = policy(&["explain"], None);
    let known: BTreeSet<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(known.len() > 20, "{known:?}");
    let codes = read(&root().join("docs/reference/codes.md"));
    let anchors: BTreeSet<String> = regex::Regex::new(r#"<a id="(p\d{3})"></a>"#)
        .unwrap()
        .captures_iter(&codes)
        .map(|c| c[1].to_uppercase())
        .collect();
    assert_eq!(anchors, known, "codes.md's entries against `policy explain`");
    let code = regex::Regex::new(r"\bP\d{3}\b").unwrap();
    for page in pages() {
        for m in code.find_iter(&read(&page)) {
            assert!(
                known.contains(m.as_str()),
                "{} names {}, which no rule has",
                shown(&page),
                m.as_str()
            );
        }
    }
}

/// The anchor GitHub gives a heading: lower case, spaces to `-`, every character that is not a
/// letter, digit, `-` or `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The text of a page outside fenced code blocks, line by line.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// Every anchor a page defines: its headings' slugs (the second `x` heading is `x-1`) and
/// `<a id="...">`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    let id = regex::Regex::new(r#"<a id="([^"]+)">"#).unwrap();
    for line in prose(text) {
        if let Some(h) = line.strip_prefix('#') {
            let s = slug(h.trim_start_matches('#'));
            let n = seen.entry(s.clone()).or_default();
            out.insert(if *n == 0 { s.clone() } else { format!("{s}-{n}") });
            *n += 1;
        }
        out.extend(id.captures_iter(line).map(|c| c[1].to_string()));
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    // `[text](target)` outside code: inline code spans are removed first.
    let code_span = regex::Regex::new(r"`[^`]*`").unwrap();
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = read(&page);
        for line in prose(&text) {
            let line = code_span.replace_all(line, "");
            for c in link.captures_iter(&line) {
                let target = &c[1];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
                let path = if file.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(file)
                };
                if !path.exists() {
                    broken.push(format!("{}: {target}: no such file", shown(&page)));
                    continue;
                }
                if !anchor.is_empty() && !anchors(&read(&path)).contains(anchor) {
                    broken.push(format!("{}: {target}: no such anchor", shown(&page)));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} links checked");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// One `$ ` command of a console block: the command line, the status it must exit with, and
/// the output it must print.
struct Shown {
    page: String,
    line: usize,
    command: String,
    status: i32,
    output: Vec<String>,
}

fn console_blocks(page: &Path) -> Vec<Shown> {
    let text = read(page);
    let exits = regex::Regex::new(r"#\s*exits\s+(\d+)\s*$").unwrap();
    let mut out: Vec<Shown> = Vec::new();
    let mut in_console = false;
    let mut in_other = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        if in_console {
            if fence {
                in_console = false;
            } else if let Some(cmd) = line.strip_prefix("$ ") {
                out.push(Shown {
                    page: shown(page),
                    line: i + 1,
                    command: cmd.to_string(),
                    status: exits.captures(cmd).map_or(0, |c| c[1].parse().unwrap()),
                    output: Vec::new(),
                });
            } else if let Some(last) = out.last_mut() {
                last.output.push(line.trim_end().to_string());
            }
        } else if in_other {
            in_other = !fence;
        } else if fence {
            in_console = line.trim_start().trim_start_matches('`').trim() == "console";
            in_other = !in_console;
        }
    }
    out
}

/// Whether `line` matches the shown `pattern`, in which `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether `lines` match the shown `pattern` lines, in which a line `...` stands for any number
/// of lines.
fn lines_match(pattern: &[String], lines: &[&str]) -> bool {
    match pattern.split_first() {
        None => lines.is_empty(),
        Some((p, rest)) if p == "..." => (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..])),
        Some((p, rest)) => lines
            .split_first()
            .is_some_and(|(l, more)| line_matches(p, l) && lines_match(rest, more)),
    }
}

#[test]
fn every_console_block_prints_what_it_shows() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_policy"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in pages() {
        for shown in console_blocks(&page) {
            ran += 1;
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("exec 2>&1\n{}", shown.command))
                .current_dir(root())
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env_remove("CLICOLOR_FORCE")
                .output()
                .expect("run sh");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
            while lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
            let mut expected = shown.output.clone();
            while expected.last().is_some_and(String::is_empty) {
                expected.pop();
            }
            let status = out.status.code().unwrap_or(-1);
            if status != shown.status || !lines_match(&expected, &lines) {
                failures.push(format!(
                    "{}:{}: `{}` exited {status} (shown: {}) and printed:\n{text}--- the page shows:\n{}\n",
                    shown.page,
                    shown.line,
                    shown.command,
                    shown.status,
                    expected.join("\n")
                ));
            }
        }
    }
    assert!(ran > 20, "only {ran} commands in console blocks");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_output_matching_of_console_blocks_can_fail() {
    let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&p(&["a [..] c", "..."]), &["a b c", "d", "e"]));
    assert!(lines_match(&p(&["...", "e"]), &["a", "e"]));
    assert!(!lines_match(&p(&["a [..] c"]), &["a b d"]));
    assert!(!lines_match(&p(&["a"]), &["a", "b"]));
    assert!(!lines_match(&p(&["...", "x"]), &["a", "b"]));
    assert!(line_matches("[..]", "anything"));
    assert!(line_matches("p99 [..] ms", "p99 24.5 ms"));
    assert!(!line_matches("p99 [..] ms", "p99 24.5 s"));
}

#[test]
fn the_example_config_lints_clean() {
    let out = policy(&["lint", "--deny-warnings", "docs/examples/policy-config.yaml"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("All checks passed"), "{text}");
}

#[test]
fn the_readme_is_short() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(lines <= 200, "README.md has {lines} lines; the details belong in docs/");
}

#[test]
fn no_file_refers_to_a_document_the_repository_does_not_have() {
    // The working contract the project was built to is not part of it: the docs are.
    let word = concat!("SP", "EC");
    let out = Command::new("git")
        .args(["grep", "-n", "-w", word])
        .current_dir(root())
        .output()
        .expect("run git grep");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.is_empty(), "{text}");
}
