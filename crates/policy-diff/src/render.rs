//! Renderings of a reload plan: `human` (a terraform-plan-like listing), `json`
//! (schema/output/diff.schema.json), `markdown` (a pull-request comment or `$GITHUB_STEP_SUMMARY`),
//! `github` (annotations on the new file). Changes that weaken enforcement come first wherever
//! order is free.

use super::{Change, Op, Plan};
use policy_config::schema::ReloadClass;
use policy_config::yaml::Document;
use policy_lint::render::github::{data, property};
use serde_json::{json, Value};

/// What the renderers need besides the plan: the two inputs as users named them, and the new
/// document (for annotation positions).
pub struct Inputs<'a> {
    /// How the old config is named (a path, or `REV:path`).
    pub old_name: &'a str,
    /// The new config's path.
    pub new_name: &'a str,
    /// The new config as read, to locate changes.
    pub new_doc: Option<&'a Document>,
}

/// The `json` rendering (schema/output/diff.schema.json): the plan, plus `warnings`, and
/// `weakens`/`note` on changes where they apply.
pub fn to_json(plan: &Plan) -> Value {
    let mut changes = serde_json::to_value(&plan.changes).expect("changes serialise");
    for change in changes.as_array_mut().into_iter().flatten() {
        for side in ["old", "new"] {
            if let Some(v) = change.get_mut(side) {
                mask(v);
            }
        }
    }
    json!({
        "class": plan.class_name(),
        "changes": changes,
        "restart_required": plan.restart_required(),
        "warnings": plan.warnings,
    })
}

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const BOLD_RED: &str = "1;31";
const DIM: &str = "2";

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Every string in `v` with a credential in it, the credential replaced by what it is: a key
/// pasted into a config is not repeated by a diff of it (lint's P310 flags it).
fn mask(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(m) = policy_lint::rules::plaintext_secret::masked(s) {
                *s = m;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::Object(map) => map.values_mut().for_each(mask),
        _ => {}
    }
}

/// A value on one line, cut to a readable length, credentials masked.
pub fn short(v: Option<&Value>) -> String {
    let s = v
        .map(|v| {
            let mut v = v.clone();
            mask(&mut v);
            v.to_string()
        })
        .unwrap_or_default();
    if s.chars().count() > 72 {
        format!("{}…", s.chars().take(71).collect::<String>())
    } else {
        s
    }
}

fn sigil(op: Op) -> &'static str {
    match op {
        Op::Add => "+",
        Op::Remove => "-",
        Op::Change => "~",
    }
}

fn line(c: &Change, colour: bool) -> String {
    let (s, code) = match c.op {
        Op::Add => ("+", GREEN),
        Op::Remove => ("-", RED),
        Op::Change => ("~", YELLOW),
    };
    let values = match c.op {
        Op::Add => short(c.new.as_ref()),
        Op::Remove => short(c.old.as_ref()),
        Op::Change => format!("{} -> {}", short(c.old.as_ref()), short(c.new.as_ref())),
    };
    let class = match c.class {
        ReloadClass::Restart => paint(colour, BOLD_RED, "[restart]"),
        ReloadClass::Hot => paint(colour, DIM, "[hot]"),
    };
    let note = c.note.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
    let weak = c
        .weakens
        .as_deref()
        .map(|w| format!("\n      {} {w}", paint(colour, YELLOW, "weakens enforcement:")))
        .unwrap_or_default();
    format!(
        "  {} {}  {values}  {class}{note}{weak}\n",
        paint(colour, code, s),
        c.pointer
    )
}

/// The terraform-plan-like listing.
pub fn human(plan: &Plan, inputs: &Inputs<'_>, colour: bool) -> String {
    let mut out = format!("policy diff: {} -> {}\n\n", inputs.old_name, inputs.new_name);
    if plan.is_empty() {
        out.push_str("No changes: the effective configs are identical.\n");
        return out;
    }
    let weakening: Vec<&Change> = plan.weakening().collect();
    if !weakening.is_empty() {
        out.push_str(&paint(colour, YELLOW, "Weakens enforcement (review first):\n"));
        for c in &weakening {
            out.push_str(&line(c, colour));
        }
        out.push('\n');
    }
    let rest: Vec<&Change> = plan.changes.iter().filter(|c| c.weakens.is_none()).collect();
    if !rest.is_empty() {
        out.push_str("Changes:\n");
        for c in rest {
            out.push_str(&line(c, colour));
        }
        out.push('\n');
    }
    for w in &plan.warnings {
        out.push_str(&format!("{} {w}\n", paint(colour, YELLOW, "warning:")));
    }
    if !plan.warnings.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary(plan, colour));
    out.push('\n');
    out
}

fn counts(plan: &Plan) -> (usize, usize) {
    let restart = plan.restart_required().len();
    (plan.changes.len() - restart, restart)
}

fn summary(plan: &Plan, colour: bool) -> String {
    let (hot, restart) = counts(plan);
    let n = plan.changes.len();
    let changes = if n == 1 {
        "1 change".to_string()
    } else {
        format!("{n} changes")
    };
    let weak = plan.weakening().count();
    let weak = if weak > 0 {
        format!(", {weak} weakening enforcement")
    } else {
        String::new()
    };
    if restart > 0 {
        format!(
            "Plan: {changes} ({hot} hot, {restart} restart{weak}). {} {}",
            paint(colour, BOLD_RED, "Restart required for:"),
            plan.restart_required().join(", ")
        )
    } else {
        format!("Plan: {changes} ({hot} hot{weak}). The gateway can hot-reload this change.")
    }
}

/// A table for a pull request: weakening first, then restart, then hot.
pub fn markdown(plan: &Plan, inputs: &Inputs<'_>) -> String {
    let verdict = match plan.class() {
        None => "no changes",
        Some(ReloadClass::Hot) => "hot-reloadable",
        Some(ReloadClass::Restart) => "**restart required**",
    };
    let mut out = format!("### policy diff: `{}` — {verdict}\n\n", inputs.new_name);
    if plan.is_empty() {
        out.push_str("The effective configs are identical.\n");
        return out;
    }
    out.push_str(&format!("{}\n\n", summary(plan, false)));
    out.push_str("| | Path | Change | Reload | Impact |\n|---|---|---|---|---|\n");
    let mut rows: Vec<&Change> = plan.changes.iter().collect();
    rows.sort_by_key(|c| (c.weakens.is_none(), c.class != ReloadClass::Restart));
    for c in rows {
        let what = match c.op {
            Op::Add => format!("added `{}`", cell(&short(c.new.as_ref()))),
            Op::Remove => format!("removed `{}`", cell(&short(c.old.as_ref()))),
            Op::Change => format!(
                "`{}` → `{}`",
                cell(&short(c.old.as_ref())),
                cell(&short(c.new.as_ref()))
            ),
        };
        let what = match &c.note {
            Some(n) => format!("{what} ({n})"),
            None => what,
        };
        let class = match c.class {
            ReloadClass::Restart => "**restart**",
            ReloadClass::Hot => "hot",
        };
        let (icon, impact) = match &c.weakens {
            Some(w) => ("⚠️", format!("weakens enforcement: {}", cell(w))),
            None => (sigil(c.op), String::new()),
        };
        out.push_str(&format!("| {icon} | `{}` | {what} | {class} | {impact} |\n", c.pointer));
    }
    for w in &plan.warnings {
        out.push_str(&format!("\n> **Warning:** {}\n", cell(w)));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

/// One workflow command per change, on the new file: `warning` for restart and weakening
/// changes, `notice` for the rest.
pub fn github(plan: &Plan, inputs: &Inputs<'_>) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let (line, col) = match inputs.new_doc {
            Some(doc) => {
                let l = doc.locate(&c.pointer);
                let s = l.key.unwrap_or(l.value);
                (s.start.line.max(1), s.start.col + 1)
            }
            None => (1, 1),
        };
        let (level, title) = match (&c.weakens, c.class) {
            (Some(_), _) => ("warning", "weakens enforcement"),
            (None, ReloadClass::Restart) => ("warning", "restart required"),
            (None, ReloadClass::Hot) => ("notice", "hot-reloadable"),
        };
        let values = match c.op {
            Op::Add => format!("+ {} {}", c.pointer, short(c.new.as_ref())),
            Op::Remove => format!("- {} {}", c.pointer, short(c.old.as_ref())),
            Op::Change => format!("~ {} {} -> {}", c.pointer, short(c.old.as_ref()), short(c.new.as_ref())),
        };
        let why = c.weakens.as_deref().map(|w| format!(" — {w}")).unwrap_or_default();
        out.push_str(&format!(
            "::{level} file={},line={line},col={col},title={}::{}\n",
            property(inputs.new_name),
            property(&format!("policy diff: {title}")),
            data(&format!("{values} [{}]{why}", c.class.as_str()))
        ));
    }
    for w in &plan.warnings {
        out.push_str(&format!(
            "::warning file={},title=policy diff::{}\n",
            property(inputs.new_name),
            data(w)
        ));
    }
    out
}
