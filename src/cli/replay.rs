//! `policy replay --traffic T --old A --new B`: offline verdict diff of two configs on
//! recorded traffic.

use super::common::{load_all, print, print_refused, read_traffic, CliError, Loaded, Outcome};
use super::live::{self, Input, LiveArgs};
use policy_contract::Verdict;
use policy_lint as lint;
use policy_replay::offline::{self, Report};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Arguments of `policy replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Recorded traffic: JSON Lines or a HAR 1.2 file.
    #[arg(long, value_name = "FILE")]
    pub traffic: PathBuf,
    /// The config in force now.
    #[arg(long, value_name = "FILE")]
    pub old: PathBuf,
    /// The config about to roll out.
    #[arg(long, value_name = "FILE")]
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when any verdict changed (offline only).
    #[arg(long, conflicts_with = "live")]
    pub fail_on_change: bool,
    /// Allowed transitions, one `old->new` a line (`#` comments); exit 1 on any other
    /// (offline only).
    #[arg(long, value_name = "FILE", conflicts_with = "live")]
    pub expect: Option<PathBuf>,
    /// Treat a malformed traffic line as fatal (exit 2) instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Live mode: replay the traffic as load against a gateway while it is switched between
    /// OLD and NEW, and check that nothing was dropped and every response came from one of them.
    #[arg(long)]
    pub live: bool,
    /// The flags of live mode (each requires --live).
    #[command(flatten)]
    pub live_args: LiveArgs,
    /// How many changed requests the human format lists (offline only).
    #[arg(long, default_value_t = 20, value_name = "N", conflicts_with = "live")]
    pub show: usize,
}

/// Output formats of `policy replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary and the first changed requests.
    Human,
    /// One JSON object: changes and transitions, plus `verdicts`, `unexercised`, `skipped`.
    Json,
}

/// Run `policy replay`.
pub fn run(args: ReplayArgs) -> Result<Outcome, CliError> {
    if args.live && args.live_args.reload_cmd.is_some() {
        return run_command_mode(&args);
    }
    let loaded = load_all([lint::load_config(&args.old), lint::load_config(&args.new)])?;
    let (old, new) = match loaded {
        Loaded::Valid(mut both) => {
            let new = both.pop().expect("two configs");
            (both.pop().expect("two configs"), new)
        }
        Loaded::Invalid(invalid) => return print_refused(args.format == Format::Json, &invalid),
    };
    let (requests, skipped) = traffic(&args)?;
    if args.live {
        let input = |path: &std::path::Path, (config, report): (policy_config::Config, lint::FileReport)| Input {
            name: path.display().to_string(),
            config,
            text: report.source.to_string(),
        };
        let (a, b) = (input(&args.old, old), input(&args.new, new));
        return live::run(&args.live_args, a, b, &requests, args.format == Format::Json);
    }
    let (old, new) = (old.0, new.0);
    let allowed = match &args.expect {
        Some(path) => Some(read_expect(path)?),
        None => None,
    };
    let report = offline::replay(&old, &new, &requests)?;
    let unexpected: Vec<&String> = match &allowed {
        Some(allowed) => report.transitions.keys().filter(|t| !allowed.contains(*t)).collect(),
        None => Vec::new(),
    };
    let out = match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&report).expect("report serialises");
            v["skipped"] = serde_json::to_value(&skipped).expect("errors serialise");
            if allowed.is_some() {
                v["unexpected_transitions"] = serde_json::to_value(&unexpected).expect("strings");
            }
            format!("{v}\n")
        }
        Format::Human => human(&report, &args, skipped.len(), &unexpected),
    };
    print(&out)?;
    let fail = (args.fail_on_change && report.changed > 0) || !unexpected.is_empty();
    Ok(if fail { Outcome::Findings } else { Outcome::Clean })
}

/// Command mode: OLD and NEW are the gateway's own files. Policy configs (a YAML mapping with
/// `pack:`) are linted as everywhere else — errors are printed and the run refused — and, when
/// both are, the verdict checks run; any other file is taken as it is.
fn run_command_mode(args: &ReplayArgs) -> Result<Outcome, CliError> {
    let mut inputs = Vec::new();
    let mut invalid = Vec::new();
    for path in [&args.old, &args.new] {
        let bytes = std::fs::read(path).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let config = if looks_like_policy_config(&bytes) {
            match lint::load_config(path) {
                Ok((config, _)) => Some(config),
                Err(lint::LoadError::Invalid { report, .. }) => {
                    invalid.push(*report);
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        inputs.push(live::CommandInput {
            name: path.display().to_string(),
            bytes,
            config,
        });
    }
    if !invalid.is_empty() {
        return print_refused(args.format == Format::Json, &invalid);
    }
    let (requests, _) = traffic(args)?;
    let b = inputs.pop().expect("two inputs");
    let a = inputs.pop().expect("two inputs");
    live::run_command(&args.live_args, a, b, &requests, args.format == Format::Json)
}

/// The recorded traffic, and the lines that could not be read (already reported); with
/// `--strict` any such line ends the command.
fn traffic(
    args: &ReplayArgs,
) -> Result<
    (
        Vec<policy_replay::traffic::Recorded>,
        Vec<policy_replay::traffic::TrafficError>,
    ),
    CliError,
> {
    let (requests, skipped) = read_traffic(&args.traffic)?;
    if args.strict && !skipped.is_empty() {
        return Err(CliError::Traffic {
            path: args.traffic.display().to_string(),
            count: skipped.len(),
        });
    }
    Ok((requests, skipped))
}

/// Whether a file is meant as a policy config: YAML whose top level is a mapping with `pack`.
fn looks_like_policy_config(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| policy_config::yaml::parse(text).ok())
        .is_some_and(|doc| doc.value.get("pack").is_some())
}

/// Read an `--expect` file: one `old->new` transition a line, `#` comments.
pub fn read_expect(path: &std::path::Path) -> Result<BTreeSet<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut set = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let norm: String = line.split_whitespace().collect();
        let ok = norm
            .split_once("->")
            .is_some_and(|(a, b)| a.parse::<Verdict>().is_ok() && b.parse::<Verdict>().is_ok());
        if !ok {
            let all: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
            return Err(CliError::Usage(format!(
                "{}:{}: `{line}` is not a transition like `allow->redact` (verdicts: {})",
                path.display(),
                i + 1,
                all.join(", ")
            )));
        }
        set.insert(norm);
    }
    Ok(set)
}

fn human(r: &Report, args: &ReplayArgs, skipped: usize, unexpected: &[&String]) -> String {
    let mut out = format!(
        "policy replay: {} requests from {}\n  old {}\n  new {}\n\n",
        r.requests,
        args.traffic.display(),
        args.old.display(),
        args.new.display()
    );
    out.push_str("Verdicts          old      new\n");
    for v in Verdict::ALL.map(Verdict::as_str) {
        let count = |side: &str| r.verdicts.get(side).and_then(|m| m.get(v)).copied().unwrap_or(0);
        let (o, n) = (count("old"), count("new"));
        if o + n > 0 {
            out.push_str(&format!("  {v:<14} {o:>6}   {n:>6}\n"));
        }
    }
    out.push('\n');
    if r.changed == 0 {
        out.push_str("No verdict changed.\n");
    } else {
        out.push_str(&format!("Changed: {} of {} requests\n", r.changed, r.requests));
        for (t, n) in &r.transitions {
            let mark = if unexpected.contains(&t) {
                "  (not expected)"
            } else {
                ""
            };
            out.push_str(&format!("  {t:<22} {n:>6}{mark}\n"));
        }
        out.push('\n');
        for c in r.changes.iter().take(args.show) {
            let why = |s: &offline::Side| match (&s.policy, &s.rule) {
                (Some(p), Some(rule)) => format!(" ({p}/{rule})"),
                (Some(p), None) => format!(" ({p})"),
                _ => String::new(),
            };
            let excerpt = c
                .new
                .excerpt
                .as_deref()
                .or(c.old.excerpt.as_deref())
                .map(|e| format!("  \"{e}\""))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {:<8} {}{} -> {}{}{excerpt}\n",
                c.id,
                c.old.verdict.as_str(),
                why(&c.old),
                c.new.verdict.as_str(),
                why(&c.new)
            ));
        }
        if r.changes.len() > args.show {
            out.push_str(&format!(
                "  … and {} more (--show N, or --format json for all)\n",
                r.changes.len() - args.show
            ));
        }
    }
    if !r.unexercised.is_empty() {
        out.push_str(&format!(
            "\nNot exercised by this traffic ({} new or changed rules no request hit):\n",
            r.unexercised.len()
        ));
        for u in &r.unexercised {
            let what = if u.rule == "*" {
                format!("policy `{}`", u.policy)
            } else {
                format!("{} `{}`", u.policy, u.rule)
            };
            out.push_str(&format!("  {}  {what}\n", u.pointer));
        }
    }
    if let Some(first) = r.refused.first() {
        out.push_str(&format!(
            "\n{} not in the OpenAI wire format: the gateway answers {} 400 under either config \
             (first: {}: {}).\n",
            lint::render::plural(r.refused.len(), "request"),
            if r.refused.len() == 1 { "it" } else { "them" },
            first.id,
            first.reason
        ));
    }
    if skipped > 0 {
        out.push_str(&format!(
            "\n{skipped} malformed traffic line(s) skipped (listed on stderr).\n"
        ));
    }
    out
}
