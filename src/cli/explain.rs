//! `policy explain CODE`: print a diagnostic code's documentation (its rule's doc comment).

use super::common::{print, CliError, Outcome};
use policy_lint::rules::{self, Rule, RULES};

/// Arguments of `policy explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A code (`P304`) or rule name (`invalid-regex`); omit it to list every code.
    pub code: Option<String>,
}

/// Run `policy explain`.
pub fn run(args: ExplainArgs) -> Result<Outcome, CliError> {
    let Some(code) = args.code else {
        let mut s = String::new();
        for r in RULES {
            s.push_str(&format!("{}  {:<32} {}\n", r.code, r.name, r.severity.as_str()));
        }
        return print(&s).map(|_| Outcome::Clean);
    };
    match rules::find(&code) {
        Some(r) => {
            print(&text(r))?;
            Ok(Outcome::Clean)
        }
        None => {
            let names = RULES.iter().map(|r| r.code).chain(RULES.iter().map(|r| r.name));
            let hint = match rules::did_you_mean(&code, names) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => "; `policy explain` lists every code".into(),
            };
            Err(CliError::Usage(format!("unknown diagnostic code `{code}`{hint}")))
        }
    }
}

/// A rule's documentation as `policy explain CODE` prints it (and `policy docs` writes it).
pub fn text(r: &Rule) -> String {
    format!(
        "# {} {} ({})\n\n{}",
        r.code,
        r.name,
        r.severity.as_str(),
        unindent(r.doc)
    )
}

/// Doc comments carry one leading space per line.
fn unindent(doc: &str) -> String {
    doc.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
