//! `classify(old, new)`: the reload plan of a config change, field by field.
//!
//! Owns the comparison of two *effective* configs (typed `Config`s serialised back to JSON, so
//! defaults are filled in and formatting, key order, comments and anchors are gone) and the
//! judgement of each change: its reload class, read from the schema's `x-reload`
//! (`policy_config::schema::reload_class`), and whether it weakens enforcement, read from its
//! `x-enforce` (`policy_config::schema::enforcement`). How lists compare comes from the schema's
//! `x-diff`. `policy diff` renders a [`Plan`]; the gateway's reload uses the same function to
//! decide what it may swap. Nothing here reads files or prints.

#![deny(missing_docs)]

pub mod render;

use policy_config::pointer::{self, child};
use policy_config::schema::{self, ListKind, ReloadClass, Weakens};
use policy_config::Config;
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// What happened at a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Present in the new config only.
    Add,
    /// Present in the old config only.
    Remove,
    /// Present in both, with different values (or, for a list, a different order).
    Change,
}

/// One change between two configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// JSON pointer into the new config. A removed list item has no place there: its pointer
    /// gives its index in the old config (a key removed inside a kept item is still addressed
    /// through the item's new index).
    pub pointer: String,
    /// Whether the value was added, removed or changed there.
    pub op: Op,
    /// When the change can take effect.
    pub class: ReloadClass,
    /// The old value (`null` for `add`: every change in the JSON has both keys).
    pub old: Option<Value>,
    /// The new value (`null` for `remove`).
    pub new: Option<Value>,
    /// Why the change weakens enforcement, when it does: reviewers read these first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weakens: Option<String>,
    /// A note for humans, e.g. "reordered".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The reload plan: every change, and what it means for a running gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Changes in document order (of the new config, removals where they were).
    pub changes: Vec<Change>,
    /// Things a reviewer should know that are not changes (e.g. an unchanged version).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The strongest class among the changes; `None` when nothing changed.
    pub fn class(&self) -> Option<ReloadClass> {
        self.changes.iter().map(|c| c.class).max()
    }

    /// `none`, `hot` or `restart`: the plan's class as the JSON output names it.
    pub fn class_name(&self) -> &'static str {
        self.class().map_or("none", ReloadClass::as_str)
    }

    /// Pointers of the changes that need a restart.
    pub fn restart_required(&self) -> Vec<&str> {
        self.changes
            .iter()
            .filter(|c| c.class == ReloadClass::Restart)
            .map(|c| c.pointer.as_str())
            .collect()
    }

    /// Changes that weaken enforcement.
    pub fn weakening(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.weakens.is_some())
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The plan as an instance that overrides some config values on its command line sees it
    /// (`--listen`, `--admin-listen`; docs/guide/fleet.md): a change at a pointer `overridden`
    /// names changes nothing that instance runs, so it needs no restart there. The gateway plans
    /// its reloads so, and `policy rollout` each gateway's update.
    pub fn for_instance(mut self, overridden: impl Fn(&str) -> bool) -> Plan {
        for c in &mut self.changes {
            if overridden(&c.pointer) {
                c.class = ReloadClass::Hot;
            }
        }
        self
    }
}

/// Compare two configs. Pure and deterministic; `classify(a, a)` is empty.
pub fn classify(old: &Config, new: &Config) -> Plan {
    let a = serde_json::to_value(old).expect("a Config always serialises");
    let b = serde_json::to_value(new).expect("a Config always serialises");
    let mut changes = Vec::new();
    diff_value("", &a, &b, &mut changes);
    for c in &mut changes {
        c.class = schema::reload_class(&c.pointer);
        c.weakens = weakens(c).or_else(|| block_weakens(c, &a, &b));
    }
    let mut warnings = Vec::new();
    if old.pack.version == new.pack.version && !changes.is_empty() {
        warnings.push(format!(
            "the config changed but `pack.version` is still {}: the gateway's reload history and the `x-policy-config-version` header will not tell the two apart; bump it",
            new.pack.version
        ));
    }
    Plan { changes, warnings }
}

/// What a running gateway applies of `proposed`: `proposed` with every restart-class change of
/// `plan` (= `classify(running, proposed)`) undone, i.e. the value `running` has at that pointer
/// put back (or the key removed when `running` has none). The gateway's reload and the live
/// replay's expected hashes both come from here.
pub fn hold_restart_fields(running: &Config, proposed: &Config, plan: &Plan) -> Config {
    let restart: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.class == ReloadClass::Restart)
        .map(|c| c.pointer.as_str())
        .collect();
    if restart.is_empty() {
        return proposed.clone();
    }
    let old = serde_json::to_value(running).expect("a Config always serialises");
    let mut new = serde_json::to_value(proposed).expect("a Config always serialises");
    for pointer in restart {
        match old.pointer(pointer) {
            Some(v) => set_pointer(&mut new, pointer, v.clone()),
            None => remove_pointer(&mut new, pointer),
        }
    }
    // Both halves were valid configs and restart-class fields are independent of the rest
    // (the schema has no cross-field constraint on them), so this cannot fail; if it ever did,
    // running the old values entirely is the safe answer.
    serde_json::from_value(new).unwrap_or_else(|_| running.clone())
}

fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let toks: Vec<String> = pointer::tokens(pointer).map(Cow::into_owned).collect();
    let Some((last, parents)) = toks.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for t in parents {
        if !cur.is_object() && !cur.is_array() {
            *cur = Value::Object(Map::new());
        }
        cur = match cur {
            Value::Object(m) => m.entry(t.clone()).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        other => {
            let mut m = Map::new();
            m.insert(last.clone(), value);
            *other = Value::Object(m);
        }
    }
}

fn remove_pointer(root: &mut Value, pointer: &str) {
    let toks: Vec<String> = pointer::tokens(pointer).map(Cow::into_owned).collect();
    let Some((last, parents)) = toks.split_last() else {
        return;
    };
    let mut cur = root;
    for t in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = cur {
        m.shift_remove(last);
    }
}

fn change(pointer: String, op: Op, old: Option<&Value>, new: Option<&Value>) -> Change {
    Change {
        pointer,
        op,
        class: ReloadClass::Hot,
        old: old.cloned(),
        new: new.cloned(),
        weakens: None,
        note: None,
    }
}

fn diff_value(pointer: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => diff_object(pointer, x, y, out),
        (Value::Array(x), Value::Array(y)) => match schema::list_kind(pointer) {
            ListKind::Positional => diff_positional(pointer, x, y, out),
            ListKind::ById => diff_by_id(pointer, x, y, out),
            ListKind::Set => diff_set(pointer, x, y, false, out),
            ListKind::OrderedSet => diff_set(pointer, x, y, true, out),
        },
        _ => out.push(change(pointer.to_string(), Op::Change, Some(a), Some(b))),
    }
}

fn diff_object(pointer: &str, a: &Map<String, Value>, b: &Map<String, Value>, out: &mut Vec<Change>) {
    for (k, vb) in b {
        match a.get(k) {
            Some(va) => diff_value(&child(pointer, k), va, vb, out),
            None => out.push(change(child(pointer, k), Op::Add, None, Some(vb))),
        }
    }
    for (k, va) in a {
        if !b.contains_key(k) {
            out.push(change(child(pointer, k), Op::Remove, Some(va), None));
        }
    }
}

fn diff_positional(pointer: &str, a: &[Value], b: &[Value], out: &mut Vec<Change>) {
    for i in 0..a.len().max(b.len()) {
        let p = child(pointer, &i.to_string());
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => diff_value(&p, x, y, out),
            (None, Some(y)) => out.push(change(p, Op::Add, None, Some(y))),
            (Some(x), None) => out.push(change(p, Op::Remove, Some(x), None)),
            (None, None) => {}
        }
    }
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

/// Items matched by `id`: one `add` for an inserted rule, not a cascade of changes. Indexed
/// by id, so a 10,000-rule list costs linear time.
fn diff_by_id(pointer: &str, a: &[Value], b: &[Value], out: &mut Vec<Change>) {
    let index = |list: &[Value]| -> HashMap<String, usize> {
        list.iter()
            .enumerate()
            .filter_map(|(i, v)| id_of(v).map(|id| (id.to_string(), i)))
            .collect()
    };
    let (in_a, in_b) = (index(a), index(b));
    for (j, y) in b.iter().enumerate() {
        let p = child(pointer, &j.to_string());
        match id_of(y).and_then(|id| in_a.get(id)) {
            Some(&i) => diff_value(&p, &a[i], y, out),
            None => out.push(change(p, Op::Add, None, Some(y))),
        }
    }
    for (i, x) in a.iter().enumerate() {
        if id_of(x).is_none_or(|id| !in_b.contains_key(id)) {
            out.push(change(child(pointer, &i.to_string()), Op::Remove, Some(x), None));
        }
    }
    let common_a: Vec<&str> = a.iter().filter_map(id_of).filter(|id| in_b.contains_key(*id)).collect();
    let common_b: Vec<&str> = b.iter().filter_map(id_of).filter(|id| in_a.contains_key(*id)).collect();
    if common_a != common_b {
        let mut c = change(
            pointer.to_string(),
            Op::Change,
            Some(&ids(&common_a)),
            Some(&ids(&common_b)),
        );
        c.note = Some("reordered".into());
        out.push(c);
    }
}

fn ids(list: &[&str]) -> Value {
    Value::Array(list.iter().map(|s| Value::String(s.to_string())).collect())
}

/// Items matched by value (hashed through their JSON text). With `ordered`, a different
/// relative order of the common items is one `change` of the whole list, noted "reordered".
fn diff_set(pointer: &str, a: &[Value], b: &[Value], ordered: bool, out: &mut Vec<Change>) {
    let keys = |list: &[Value]| -> HashSet<String> { list.iter().map(Value::to_string).collect() };
    let (in_a, in_b) = (keys(a), keys(b));
    for (j, y) in b.iter().enumerate() {
        if !in_a.contains(&y.to_string()) {
            out.push(change(child(pointer, &j.to_string()), Op::Add, None, Some(y)));
        }
    }
    for (i, x) in a.iter().enumerate() {
        if !in_b.contains(&x.to_string()) {
            out.push(change(child(pointer, &i.to_string()), Op::Remove, Some(x), None));
        }
    }
    if ordered {
        let common_a: Vec<Value> = a.iter().filter(|x| in_b.contains(&x.to_string())).cloned().collect();
        let common_b: Vec<Value> = b.iter().filter(|y| in_a.contains(&y.to_string())).cloned().collect();
        if common_a != common_b {
            let mut c = change(
                pointer.to_string(),
                Op::Change,
                Some(&Value::Array(common_a)),
                Some(&Value::Array(common_b)),
            );
            c.note = Some("reordered".into());
            out.push(c);
        }
    }
}

/// Why `c` weakens enforcement, if it does: the schema's `x-enforce` of the field changed (of
/// the list, for a removed item) says how a change weakens and in which words.
fn weakens(c: &Change) -> Option<String> {
    let (old, new) = (c.old.as_ref(), c.new.as_ref());
    let weakened = match c.op {
        Op::Add => None,
        Op::Remove => {
            let removes_items = |e: &schema::Enforcement| e.weakens == Some(Weakens::RemoveItem);
            // The list itself is gone (its key deleted, or its last item removed, and the
            // field's default is empty): each item it held no longer applies.
            if let (Some(e), Some(Value::Array(items))) = (schema::enforcement(&c.pointer).filter(removes_items), old) {
                let said: Vec<String> = items.iter().filter_map(|item| e.wording(Some(item), None)).collect();
                return (!said.is_empty()).then(|| said.join("; "));
            }
            let (list, index) = c.pointer.rsplit_once('/')?;
            index.parse::<usize>().ok()?;
            schema::enforcement(list).filter(removes_items)
        }
        Op::Change => schema::enforcement(&c.pointer).filter(|e| match e.weakens {
            Some(Weakens::LowerAction) => {
                // Enums that rank list the strongest first; a value outside it ranks weakest.
                let rank = |v: &Value| schema::enum_rank(&c.pointer, v).unwrap_or(usize::MAX);
                matches!((old, new), (Some(o), Some(n)) if rank(n) > rank(o))
            }
            Some(Weakens::SwitchOff) => new == Some(&Value::Bool(false)),
            Some(Weakens::RaiseLimit) => {
                matches!((old.and_then(Value::as_f64), new.and_then(Value::as_f64)), (Some(o), Some(n)) if n > o)
            }
            Some(Weakens::RemoveItem | Weakens::Never) | None => false,
        }),
    };
    weakened?.wording(old, new)
}

/// A policy block written or deleted whole, for a kind the chain runs before and after: the
/// kind's defaults run in its place (or ran before it), so the change weakens enforcement when
/// the defaults are weaker than the block deleted, or the block written is weaker than them.
/// (Deleting the `rate-limit` block raises the limits to the defaults; deleting the
/// `content-filter` block deletes every rule.)
fn block_weakens(c: &Change, a: &Value, b: &Value) -> Option<String> {
    let kind = c
        .pointer
        .strip_prefix("/policy/")
        .filter(|k| !k.is_empty() && !k.contains('/'))?;
    let runs = |config: &Value| {
        config
            .pointer("/policies/chain")
            .and_then(Value::as_array)
            .is_some_and(|chain| chain.iter().any(|k| k.as_str() == Some(kind)))
    };
    if !(runs(a) && runs(b)) {
        return None;
    }
    let blocks: policy_config::model::PolicyBlocks = serde_json::from_value(serde_json::json!({ kind: {} })).ok()?;
    let defaults = serde_json::to_value(blocks).ok()?.get(kind).cloned()?;
    let (old, new) = match c.op {
        Op::Remove => (c.old.as_ref()?, &defaults),
        Op::Add => (&defaults, c.new.as_ref()?),
        Op::Change => return None,
    };
    let mut inner = Vec::new();
    diff_value(&c.pointer, old, new, &mut inner);
    let first = inner.iter().find_map(weakens)?;
    Some(match c.op {
        Op::Remove => format!("the block is deleted, so {kind} runs with its defaults: {first}"),
        _ => format!("the block is weaker than {kind}'s defaults it replaces: {first}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_lint::load_config_str;

    fn config(src: &str) -> Config {
        load_config_str("t.yaml", src)
            .map(|(c, _)| c)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const BASE: &str = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets: [{id: m, provider: mock}]\npolicies:\n  chain: [prompt-injection, pii-detector]\npolicy:\n  content-filter:\n    rules:\n      - {id: r1, pattern: a, action: block}\n      - {id: r2, pattern: b, action: block}\n";

    #[test]
    fn inserting_a_rule_is_one_add() {
        let new = BASE.replace(
            "      - {id: r1",
            "      - {id: r0, pattern: z, action: log}\n      - {id: r1",
        );
        let plan = classify(&config(BASE), &config(&new));
        let ops: Vec<(&str, Op)> = plan.changes.iter().map(|c| (c.pointer.as_str(), c.op)).collect();
        assert_eq!(ops, [("/policy/content-filter/rules/0", Op::Add)]);
    }

    #[test]
    fn chain_reorder_is_reported_as_such() {
        let new = BASE.replace("[prompt-injection, pii-detector]", "[pii-detector, prompt-injection]");
        let plan = classify(&config(BASE), &config(&new));
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].pointer, "/policies/chain");
        assert_eq!(plan.changes[0].note.as_deref(), Some("reordered"));
    }

    /// Every `remove-item` field of the schema, removed whole (its key deleted, or emptied):
    /// a weakening whenever that loses an item, the field's default included. (Removing the
    /// only item of `extra_patterns` used to be a plain `-` change.)
    #[test]
    fn removing_an_enforcement_list_whole_weakens() {
        let full = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets: [{id: m, provider: mock}]\npolicies:\n  chain: [prompt-injection, pii-detector, content-filter]\npolicy:\n  prompt-injection:\n    extra_patterns: ['(?i)secret plan']\n  pii-detector:\n    detect: [email]\n  content-filter:\n    rules:\n      - {id: r1, pattern: a, action: block}\n";
        let base = config(full);
        let base_json = serde_json::to_value(&base).unwrap();
        let fields: Vec<String> = schema::properties()
            .into_iter()
            .map(|(pointer, ..)| pointer)
            .filter(|p| schema::enforcement(p).is_some_and(|e| e.weakens == Some(Weakens::RemoveItem)))
            .collect();
        assert!(fields.len() >= 4, "{fields:?}");
        for pointer in &fields {
            let set = base_json.pointer(pointer).and_then(Value::as_array);
            assert!(
                set.is_some_and(|l| !l.is_empty()),
                "{pointer}: the base config must set it"
            );
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            for emptied in [None, Some(Value::Array(Vec::new()))] {
                let mut v = base_json.clone();
                let map = v.pointer_mut(parent).and_then(Value::as_object_mut).unwrap();
                match &emptied {
                    None => map.shift_remove(key),
                    Some(empty) => map.insert(key.to_string(), empty.clone()),
                };
                let changed: Config = serde_json::from_value(v).unwrap();
                // Deleted, the field takes its default: a weakening when that loses an item
                // (`detect`'s default is every type, so deleting it strengthens).
                let after = serde_json::to_value(&changed).unwrap();
                let after = after
                    .pointer(pointer)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let lost = set.unwrap().iter().any(|item| !after.contains(item));
                let plan = classify(&base, &changed);
                assert_eq!(
                    plan.weakening().any(|c| c.pointer.starts_with(pointer.as_str())),
                    lost,
                    "{pointer} {}: {plan:#?}",
                    if emptied.is_some() { "emptied" } else { "deleted" }
                );
            }
        }
    }

    #[test]
    fn weakening_is_marked() {
        let new = BASE
            .replace("[prompt-injection, pii-detector]", "[prompt-injection]")
            .replace("pattern: b, action: block", "pattern: b, action: log");
        let plan = classify(&config(BASE), &config(&new));
        assert_eq!(plan.weakening().count(), 2, "{plan:#?}");
        assert_eq!(plan.warnings.len(), 1, "version not bumped");
    }

    #[test]
    fn deleting_a_block_the_chain_still_runs_weakens_when_its_defaults_are_weaker() {
        let head = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets: [{id: m, provider: mock}]\npolicies:\n  chain: [prompt-injection, content-filter, rate-limit]\npolicy:\n";
        let rules = "  content-filter:\n    rules:\n      - {id: r1, pattern: a, action: block}\n";
        let limits = "  rate-limit: {requests_per_minute: 60, burst: 10}\n";
        let limited = format!("{head}{rules}{limits}");
        let weakened = |from: &str, to: &str| -> Vec<String> {
            classify(&config(from), &config(to))
                .weakening()
                .map(|c| format!("{} {}", c.pointer, c.weakens.as_deref().unwrap_or_default()))
                .collect()
        };
        // The content-filter block deleted: every rule goes.
        let w = weakened(&limited, &format!("{head}{limits}"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("/policy/content-filter the block is deleted, so content-filter runs with its defaults"),
            "{w:?}"
        );
        // The rate-limit block deleted: the limits rise to the defaults.
        let default_limits = format!("{head}{rules}");
        let w = weakened(&limited, &default_limits);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("/policy/rate-limit the block is deleted"), "{w:?}");
        // Written back: stronger than the defaults, not a weakening; a block for a kind the
        // chain does not run is inert either way.
        assert!(weakened(&default_limits, &limited).is_empty());
        let inert = &BASE[..BASE.find("policy:\n").unwrap()];
        assert!(
            weakened(BASE, inert).is_empty(),
            "content-filter is not in BASE's chain"
        );
    }
}
