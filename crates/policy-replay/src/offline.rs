//! Offline replay: every recorded request evaluated under the old and the new config, and
//! what changed.
//!
//! Each config gets its own engine (its own rate-limit buckets) and sees the requests in
//! file order at their recorded `ts`, so the result is deterministic. The two evaluations run
//! on two threads. Also reported: rules added or changed in the new config that no recorded
//! request exercised — what this replay could not test; what counts as a rule is declared on the
//! config model (`x-enforce.rule`, read through `policy_config::schema::enforcement`).

use super::traffic::Recorded;
use policy_config::schema::{self, RuleUnit};
use policy_config::yaml::{escape, unescape};
use policy_config::{Config, PolicyKind};
use policy_diff::{self as diff, Op};
use policy_engine::{CompileError, Decision, Engine, Unreadable, Verdict};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One side of a changed request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
    /// The deciding rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Text around what decided (PII and rule matches shown as markers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl Side {
    fn of(d: &Decision) -> Side {
        Side {
            verdict: d.verdict,
            policy: d.policy,
            rule: d.rule.clone(),
            excerpt: d.excerpt().map(str::to_string),
        }
    }
}

/// A request whose verdict differs between the configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    /// Request id.
    pub id: String,
    /// Under the old config.
    pub old: Side,
    /// Under the new config.
    pub new: Side,
}

/// A rule added or changed in the new config that no request hit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unexercised {
    /// Where the change is, in the new config.
    pub pointer: String,
    /// The policy.
    pub policy: PolicyKind,
    /// The rule (content rule id, PII type, `extra_patterns/N`), or `*` for the whole policy.
    pub rule: String,
}

/// A recorded request the engine cannot read (docs/guide/enforcement.md): the gateway answers it
/// 400 under either config, so it is left out of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refused {
    /// Request id.
    pub id: String,
    /// Which field is not in the wire format, and how.
    pub reason: String,
}

/// The replay's findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Requests evaluated.
    pub requests: usize,
    /// Requests refused unread (400) under both configs, not counted in `requests`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
    /// Requests whose verdict changed.
    pub changed: usize,
    /// Counts by `old->new` verdict.
    pub transitions: BTreeMap<String, usize>,
    /// Every changed request, in traffic order.
    pub changes: Vec<Changed>,
    /// Verdict counts under each config.
    pub verdicts: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    /// New or changed rules that no request exercised.
    pub unexercised: Vec<Unexercised>,
}

/// A rule a request exercised: its policy and rule id (`*` for a whole policy).
type Exercised = (PolicyKind, String);

/// Evaluate `traffic` under `old` and `new`.
pub fn replay(old: &Config, new: &Config, traffic: &[Recorded]) -> Result<Report, CompileError> {
    let (a, b) = (Engine::compile(old)?, Engine::compile(new)?);
    let run = |engine: &Engine| -> (Vec<Result<Side, Unreadable>>, HashSet<Exercised>) {
        let mut hits = HashSet::new();
        let sides = traffic
            .iter()
            .map(|r| {
                let d = engine.evaluate(&r.request, r.ts)?;
                for h in &d.hits {
                    hits.insert((h.policy, h.rule.clone()));
                }
                if d.verdict == Verdict::RateLimited {
                    hits.insert((PolicyKind::RateLimit, "*".into()));
                }
                Ok(Side::of(&d))
            })
            .collect();
        (sides, hits)
    };
    let ((old_sides, _), (new_sides, new_hits)) = std::thread::scope(|s| {
        let t = s.spawn(|| run(&a));
        let new = run(&b);
        (t.join().expect("replay thread"), new)
    });
    let mut transitions = BTreeMap::new();
    let mut changes = Vec::new();
    let mut verdicts: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut refused = Vec::new();
    for ((r, o), n) in traffic.iter().zip(old_sides).zip(new_sides) {
        let (o, n) = match (o, n) {
            (Ok(o), Ok(n)) => (o, n),
            // Which bodies are unreadable does not depend on the config: both sides refuse.
            (Err(e), _) | (_, Err(e)) => {
                refused.push(Refused {
                    id: r.request.id.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        *verdicts
            .entry("old")
            .or_default()
            .entry(o.verdict.as_str())
            .or_default() += 1;
        *verdicts
            .entry("new")
            .or_default()
            .entry(n.verdict.as_str())
            .or_default() += 1;
        if o.verdict != n.verdict {
            *transitions
                .entry(format!("{}->{}", o.verdict.as_str(), n.verdict.as_str()))
                .or_default() += 1;
            changes.push(Changed {
                id: r.request.id.clone(),
                old: o,
                new: n,
            });
        }
    }
    Ok(Report {
        requests: traffic.len() - refused.len(),
        refused,
        changed: changes.len(),
        transitions,
        changes,
        verdicts,
        unexercised: unexercised(old, new, &new_hits),
    })
}

/// The rules a change of `old -> new` added or modified, minus those hit under `new`. Which
/// rule a change touches is read from the schema's `x-enforce.rule` along its pointer: the
/// innermost list whose items are rules names the rule, else the enclosing policy block is the
/// rule as a whole (`*`).
fn unexercised(old: &Config, new: &Config, hits: &HashSet<(PolicyKind, String)>) -> Vec<Unexercised> {
    let plan = diff::classify(old, new);
    let doc = serde_json::to_value(new).expect("a Config always serialises");
    let exercised = |policy: PolicyKind, rule: &str| match rule {
        "*" => hits.iter().any(|(p, _)| *p == policy),
        _ => hits.contains(&(policy, rule.to_string())),
    };
    let mut out = BTreeSet::new();
    for c in plan.changes.iter().filter(|c| c.op != Op::Remove) {
        let mut add = |policy: PolicyKind, rule: String| {
            if !exercised(policy, &rule) {
                out.insert(Unexercised {
                    pointer: c.pointer.clone(),
                    policy,
                    rule,
                });
            }
        };
        let (block, item) = rule_context(&c.pointer);
        match (item, block) {
            (Some(item), _) if item.unit == RuleUnit::ItemNamesPolicy => {
                let named = doc.pointer(&item.pointer).and_then(Value::as_str).unwrap_or_default();
                let unit = schema::policy_block(named).and_then(|(_, e)| e.rule);
                if let (Some(kind), Some(unit)) = (policy_kind(named), unit) {
                    if unit != RuleUnit::InertPolicy {
                        add(kind, "*".into());
                    }
                }
            }
            (_, Some(block)) if block.unit == RuleUnit::InertPolicy => {}
            (Some(item), Some(block)) => {
                if let Some(rule) = doc
                    .pointer(&item.pointer)
                    .and_then(|v| item_rule(item.unit, v, &item.list_key, &item.index))
                {
                    add(block.kind, rule);
                }
            }
            (None, Some(block)) if block.unit == RuleUnit::PolicyOfItems && block.pointer == c.pointer => {
                for key in schema::allowed_keys(&block.pointer) {
                    let list = format!("{}/{}", block.pointer, escape(key));
                    let Some(unit) = schema::enforcement(&list).and_then(|e| e.rule) else {
                        continue;
                    };
                    let items = doc.pointer(&list).and_then(Value::as_array).into_iter().flatten();
                    for (i, v) in items.enumerate() {
                        if let Some(rule) = item_rule(unit, v, key, &i.to_string()) {
                            add(block.kind, rule);
                        }
                    }
                }
            }
            (None, Some(block)) => add(block.kind, "*".into()),
            (_, None) => {}
        }
    }
    out.into_iter().collect()
}

/// The innermost policy block a pointer passes through (`x-enforce.rule` of a policy block).
struct Block {
    kind: PolicyKind,
    unit: RuleUnit,
    pointer: String,
}

/// The innermost list item a pointer passes through whose list declares its items as rules.
struct Item {
    unit: RuleUnit,
    pointer: String,
    list_key: String,
    index: String,
}

/// Walk `pointer` from the root, keeping the innermost policy block and rule item passed.
fn rule_context(pointer: &str) -> (Option<Block>, Option<Item>) {
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    let (mut block, mut item) = (None, None);
    let mut here = String::new();
    for (d, token) in tokens.iter().enumerate() {
        here.push('/');
        here.push_str(token);
        let Some(unit) = schema::enforcement(&here).and_then(|e| e.rule) else {
            continue;
        };
        let key = unescape(token);
        if unit.is_policy_block() {
            block = policy_kind(&key).map(|kind| Block {
                kind,
                unit,
                pointer: here.clone(),
            });
        } else if let Some(index) = tokens.get(d + 1) {
            item = Some(Item {
                unit,
                pointer: format!("{here}/{index}"),
                list_key: key.into_owned(),
                index: index.to_string(),
            });
        }
    }
    (block, item)
}

/// The name of the rule an item `value` (at `index` of the list `key`) is, by its list's unit.
fn item_rule(unit: RuleUnit, value: &Value, key: &str, index: &str) -> Option<String> {
    match unit {
        RuleUnit::ItemById => value.get("id").and_then(Value::as_str).map(str::to_string),
        RuleUnit::ItemByIndex => Some(format!("{key}/{index}")),
        RuleUnit::ItemByValue => value.as_str().map(str::to_string),
        _ => None,
    }
}

/// The policy kind a YAML name (a block's key, a chain item) stands for.
fn policy_kind(name: &str) -> Option<PolicyKind> {
    PolicyKind::ALL.into_iter().find(|k| k.as_str() == name)
}
