//! `policy ci --comment`: the one sticky comment on the pull request. Owns its body (the hidden
//! marker that finds it again, one lead line, then each section of the job summary in a
//! collapsible block, cut under GitHub's limit), which pull request and repository the run is
//! for (from GitHub's environment), and the decision to create or update it. The
//! HTTP exchange is `github`'s; a comment that cannot be posted is a warning, never a failed
//! step.

use super::github::{Api, ApiError};

/// The hidden line every comment of `policy ci` starts with: how the next run finds it.
pub const MARKER: &str = "<!-- policy-ci -->";

/// GitHub refuses a comment body over 65,536 characters; the body stays under this many bytes
/// (so under as many characters), with room for the note saying it was cut.
pub const LIMIT: usize = 65_000;

/// A section of the report: a title and its Markdown.
pub struct Section {
    /// Shown as the collapsible block's summary.
    pub title: String,
    /// Markdown.
    pub body: String,
}

/// The comment: the marker, `lead`, then every section collapsed. When the whole would pass
/// [`LIMIT`], sections are cut at a line and a note says so and where everything is (`full`:
/// the job's URL, when known).
pub fn body(lead: &str, sections: &[Section], full: Option<&str>) -> String {
    let mut out = format!("{MARKER}\n{lead}\n\n");
    let blocks: Vec<String> = sections
        .iter()
        .map(|s| {
            format!(
                "<details><summary>{}</summary>\n\n{}\n</details>\n\n",
                s.title,
                s.body.trim_end()
            )
        })
        .collect();
    if out.len() + blocks.iter().map(String::len).sum::<usize>() <= LIMIT {
        blocks.iter().for_each(|b| out.push_str(b));
        return out;
    }
    let note = format!(
        "\n**Cut:** this comment stays under GitHub's 65,536-character limit; {}.\n",
        match full {
            Some(url) => format!("the [job summary]({url}) has the whole report"),
            None => "the job summary has the whole report".to_string(),
        }
    );
    const CLOSE: &str = "\n\n*(cut)*\n</details>\n\n";
    let room = LIMIT - note.len() - CLOSE.len();
    for b in &blocks {
        if out.len() + b.len() <= room {
            out.push_str(b);
            continue;
        }
        // The first block that does not fit is cut at a line; the rest are left out.
        let left = room.saturating_sub(out.len());
        let mut cut = 0;
        for (i, _) in b.match_indices('\n') {
            if i + 1 > left {
                break;
            }
            cut = i + 1;
        }
        if cut > 0 {
            out.push_str(&b[..cut]);
            out.push_str(CLOSE);
        }
        break;
    }
    out.push_str(&note);
    out
}

/// What became of the comment.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// A new comment, with its id.
    Created(u64),
    /// The earlier comment of `policy ci`, updated in place.
    Updated(u64),
}

/// Create the sticky comment on pull request `number` of `repo` (`owner/name`), or update the
/// one an earlier run left (the first comment carrying [`MARKER`]).
pub fn post(api: &Api, repo: &str, number: u64, body: &str) -> Result<Posted, ApiError> {
    match api.find_comment(repo, number, MARKER)? {
        Some(id) => api.update_comment(repo, id, body).map(|()| Posted::Updated(id)),
        None => api.create_comment(repo, number, body).map(Posted::Created),
    }
}

/// Post or update the sticky comment; any failure is a warning (an annotation with
/// `--format github`), never the step's result.
pub fn on_pull_request(lead: &str, sections: &[Section], format: super::super::lint::Format) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let run_url = match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID")) {
        (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
        _ => None,
    };
    let body = body(lead, sections, run_url.as_deref());
    let result = (|| -> Result<Posted, String> {
        let token = env("GITHUB_TOKEN").ok_or(
            "$GITHUB_TOKEN is not set (the action passes the workflow's token; give the job `pull-requests: write`)",
        )?;
        let repo = env("GITHUB_REPOSITORY").ok_or("$GITHUB_REPOSITORY (owner/name) is not set")?;
        let number = pull_request_number().ok_or(
            "this run is not for a pull request ($GITHUB_EVENT_PATH has no pull_request, $GITHUB_REF is not refs/pull/N/...)",
        )?;
        let base = env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        let api = Api::new(&base, &token)?;
        post(&api, &repo, number, &body).map_err(|e| e.to_string())
    })();
    match result {
        Ok(Posted::Created(id)) => eprintln!("policy ci: commented on the pull request (comment {id})"),
        Ok(Posted::Updated(id)) => {
            eprintln!("policy ci: updated its comment on the pull request (comment {id})")
        }
        Err(why) => {
            let message = format!("could not comment on the pull request: {why}");
            if format == super::super::lint::Format::Github {
                println!(
                    "::warning title=policy ci::{}",
                    message.replace('%', "%25").replace('\n', "%0A")
                );
            }
            eprintln!("policy ci: warning: {message}");
        }
    }
}

/// The pull request this run is for: the event payload's `pull_request.number`, else
/// `refs/pull/N/...` in `$GITHUB_REF`.
fn pull_request_number() -> Option<u64> {
    let from_event = std::env::var_os("GITHUB_EVENT_PATH")
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|e| e["pull_request"]["number"].as_u64());
    from_event.or_else(|| {
        std::env::var("GITHUB_REF")
            .ok()?
            .strip_prefix("refs/pull/")?
            .split('/')
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(n: usize, lines: usize) -> Section {
        Section {
            title: format!("part {n}"),
            body: (0..lines).map(|i| format!("| row {i} | ✅ |\n")).collect(),
        }
    }

    #[test]
    fn a_short_report_is_whole() {
        let b = body("lead", &[section(1, 3), section(2, 3)], None);
        assert!(b.starts_with(MARKER));
        assert_eq!(b.matches("<details>").count(), 2);
        assert!(!b.contains("**Cut:**"));
    }

    #[test]
    fn a_long_report_is_cut_under_the_limit_at_a_line_and_says_so() {
        let sections = [section(1, 500), section(2, 5_000), section(3, 10)];
        let b = body("lead", &sections, Some("https://github.com/o/r/actions/runs/1"));
        assert!(b.len() <= LIMIT, "{}", b.len());
        assert!(b.contains("**Cut:**") && b.contains("actions/runs/1"));
        assert!(b.contains("part 1") && b.contains("part 2") && !b.contains("part 3"));
        // Cut at a line: every table row that is there is whole.
        for line in b.lines().filter(|l| l.starts_with("| row")) {
            assert!(line.ends_with("| ✅ |"), "{line}");
        }
        assert_eq!(b.matches("<details>").count(), b.matches("</details>").count());
    }
}
