//! Invariants over generated input:
//! - a config built by `valid_config()` lints clean, in flow style (JSON is YAML) and in block
//!   style, and reads back as the same model (serialise -> lint -> parse is the identity);
//! - no byte string makes the linter panic;
//! - generated YAML (every scalar style, quoted keys, 1- to 4-byte characters, empty flow
//!   collections, 2/3/4-space and mixed indentation) reads as the value it was written for,
//!   and every node's span is exactly the text it was written as.

use policy_config::*;
use policy_lint as lint;
use proptest::prelude::*;
use serde_json::Value;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,15}"
}

fn text() -> impl Strategy<Value = String> {
    // Printable text with YAML-significant characters (`: `, `#`, quotes, leading `-`).
    "[ -~]{0,40}".prop_filter("no credential shapes", |s| {
        policy_lint::rules::plaintext_secret::detect(s).is_none()
    })
}

fn pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "(?i)reveal your system prompt",
        "sk-[A-Za-z0-9]{20,}",
        "\\bpassword\\s*[:=]",
        "^ghp_[A-Za-z0-9]{36}$",
        "(foo|bar)+baz?",
        "[^\\n]{200,}",
        "\\d{3}-\\d{2}-\\d{4}",
    ])
    .prop_map(String::from)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Block), Just(Action::Redact), Just(Action::Log)]
}

fn target(id: String) -> impl Strategy<Value = Target> {
    (
        prop_oneof![
            Just(ProviderKind::Openai),
            Just(ProviderKind::Anthropic),
            Just(ProviderKind::Mock)
        ],
        proptest::option::of(name()),
        1u64..600_000,
        proptest::option::of("[A-Z][A-Z0-9_]{0,20}"),
        (0u64..1000, text()),
    )
        .prop_map(move |(provider, model, timeout_ms, env, (latency_ms, reply))| Target {
            id: id.clone(),
            provider,
            model,
            base_url: (provider != ProviderKind::Mock).then(|| "https://api.example.com".to_string()),
            secret_key_ref: env.map(|env| SecretRef { env }),
            timeout_ms,
            mock: (provider == ProviderKind::Mock).then_some(MockSettings { latency_ms, reply }),
        })
}

fn policy_blocks(chain: Vec<PolicyKind>) -> impl Strategy<Value = PolicyBlocks> {
    let has = move |k| chain.contains(&k);
    let rules = prop::collection::vec((pattern(), action(), proptest::option::of(text())), 0..6).prop_map(|rs| {
        rs.into_iter()
            .enumerate()
            .map(|(i, (pattern, action, message))| ContentRule {
                id: format!("rule-{i}"),
                pattern,
                action,
                message,
            })
            .collect::<Vec<_>>()
    });
    (
        proptest::option::of((
            prop_oneof![Just(BlockOrLog::Block), Just(BlockOrLog::Log)],
            text(),
            prop::collection::vec(pattern(), 0..3),
        )),
        proptest::option::of((
            action(),
            prop::sample::subsequence(PiiType::all(), 0..=6),
            prop_oneof![
                Just(MarkerFormat::Label),
                Just(MarkerFormat::Mask),
                Just(MarkerFormat::Hash)
            ],
            any::<bool>(),
        )),
        proptest::option::of(rules),
        proptest::option::of((
            1u32..100_000,
            1u32..10_000,
            prop_oneof![
                Just("client_ip".to_string()),
                Just("target".to_string()),
                Just("header:x-api-key".to_string())
            ],
        )),
        proptest::option::of(("[a-z/._-]{1,30}", 1u32..3650, any::<bool>())),
    )
        .prop_map(move |(pi, pii, cf, rl, al)| PolicyBlocks {
            // Blocks only for kinds in the chain: a block outside it is a (valid) warning.
            prompt_injection: pi.filter(|_| has(PolicyKind::PromptInjection)).map(
                |(action, message, extra_patterns)| PromptInjection {
                    response: InjectionResponse { action, message },
                    extra_patterns,
                },
            ),
            pii_detector: pii.filter(|_| has(PolicyKind::PiiDetector)).map(
                |(action, detect, marker_format, include_metadata)| PiiDetector {
                    action,
                    detect,
                    redaction: Redaction {
                        marker_format,
                        include_metadata,
                    },
                },
            ),
            content_filter: cf
                .filter(|_| has(PolicyKind::ContentFilter))
                .map(|rules| ContentFilter { rules }),
            rate_limit: rl
                .filter(|_| has(PolicyKind::RateLimit))
                .map(|(requests_per_minute, burst, key)| RateLimit {
                    requests_per_minute,
                    burst,
                    key,
                }),
            audit_logger: al
                .filter(|_| has(PolicyKind::AuditLogger))
                .map(|(path, retention_days, include_bodies)| AuditLogger {
                    path,
                    retention_days,
                    on_failure: if include_bodies {
                        AuditFailure::Closed
                    } else {
                        AuditFailure::Open
                    },
                    include_bodies,
                }),
        })
}

/// Configs that are valid by construction.
pub fn valid_config() -> impl Strategy<Value = Config> {
    let chain = prop::sample::subsequence(PolicyKind::ALL.to_vec(), 0..=5).prop_shuffle();
    let targets =
        prop::collection::btree_set(name(), 1..4).prop_flat_map(|ids| ids.into_iter().map(target).collect::<Vec<_>>());
    (
        (name(), (0u32..20, 0u32..20, 0u32..20), any::<bool>(), proptest::option::of(text())),
        (1u32..64, 1u16..65535, 1u16..65535, proptest::option::of("[A-Z_]{1,12}"), 1u64..100_000_000, 1u64..600_000),
        targets,
        chain,
        name(),
    )
        .prop_flat_map(|(pack, gw, targets, chain, service_name)| {
            let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
            let routes = prop::collection::vec(("[a-z0-9*?.-]{1,12}", prop::sample::select(ids.clone())), 0..3)
                .prop_map(|rs| rs.into_iter().map(|(model, target)| Route { match_: RouteMatch { model }, target }).collect::<Vec<_>>());
            let default = proptest::option::of(prop::sample::select(ids));
            (Just((pack, gw, targets, chain.clone(), service_name)), routes, default, policy_blocks(chain))
        })
        .prop_map(|((pack, gw, targets, chain, service_name), routes, default, policy)| {
            let ((name, (ma, mi, pa), enabled, description), (threads, port, admin_port, token_env, max_body, timeout)) = (pack, gw);
            Config {
                pack: Pack { name, version: format!("{ma}.{mi}.{pa}"), enabled, description },
                gateway: Gateway {
                    listen: format!("0.0.0.0:{port}"),
                    worker_threads: threads,
                    pin_workers: threads % 2 == 0,
                    admin: Admin { listen: format!("127.0.0.1:{}", if admin_port == port { port.wrapping_add(1).max(1) } else { admin_port }), token_env },
                    limits: Limits { max_body_bytes: max_body, request_timeout_ms: timeout, drain_timeout_ms: timeout * 2 },
                },
                providers: Providers { targets, default },
                routes,
                policies: Policies { chain },
                policy,
                telemetry: Telemetry { service_name },
            }
        })
}

/// Block-style YAML with every string double-quoted (JSON string syntax is valid YAML).
pub fn to_block_yaml(v: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => serde_json::to_string(v).unwrap(),
            Value::Array(a) if a.is_empty() => "[]".into(),
            Value::Object(o) if o.is_empty() => "{}".into(),
            _ => unreachable!(),
        }
    }
    fn simple(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => true,
        }
    }
    fn emit(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    if simple(x) {
                        out.push_str(&format!("{pad}{}: {}\n", serde_json::to_string(k).unwrap(), scalar(x)));
                    } else {
                        out.push_str(&format!("{pad}{}:\n", serde_json::to_string(k).unwrap()));
                        emit(x, indent + 2, out);
                    }
                }
            }
            Value::Array(items) => {
                for x in items {
                    if simple(x) {
                        out.push_str(&format!("{pad}- {}\n", scalar(x)));
                    } else {
                        out.push_str(&format!("{pad}-\n"));
                        emit(x, indent + 2, out);
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }
    let mut out = String::from("# generated\n");
    emit(v, 0, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_configs_lint_clean_and_round_trip(config in valid_config()) {
        let value = serde_json::to_value(&config).unwrap();
        for (style, text) in [("flow", serde_json::to_string_pretty(&value).unwrap()), ("block", to_block_yaml(&value))] {
            let report = lint::lint_source("gen.yaml", text.as_str());
            prop_assert!(report.diagnostics.is_empty(), "{style}: {:#?}\n{text}", report.diagnostics);
            prop_assert_eq!(report.config.as_ref(), Some(&config), "{} style did not round-trip", style);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = lint::lint_source("fuzz.yaml", text.as_ref());
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "[a-z:\\- \\n\\[\\]{},&*!|>'\"#%@`0-9.~<]{0,200}") {
        let report = lint::lint_source("fuzz.yaml", text.as_str());
        for d in &report.diagnostics {
            prop_assert!(d.line() >= 1 && d.column() >= 1);
        }
    }
}

/// A YAML tree with its formatting choices, and the value each part must read as.
#[derive(Debug, Clone)]
enum Yamlish {
    /// The source text of a scalar and the value it reads as.
    Scalar(String, Value),
    /// Keys as written (plain or quoted) with the key they read as; flow or block.
    Map(Vec<(String, String, Yamlish)>, bool),
    /// Items; flow or block.
    Seq(Vec<Yamlish>, bool),
}

/// Characters of one, two, three and four bytes, in keys and in every scalar style.
const WIDE: &str = "é€中😀𝄞";

fn word() -> impl Strategy<Value = String> {
    // Starts with a letter, so it reads as a string in the core schema whatever follows.
    (
        r"[a-zA-Z]",
        prop::collection::vec(
            prop_oneof![
                r"[a-z0-9_./-]",
                prop::sample::select(WIDE.chars().collect::<Vec<_>>()).prop_map(String::from)
            ],
            0..8,
        ),
    )
        .prop_map(|(first, rest)| format!("s{first}{}", rest.concat()))
}

fn scalar() -> impl Strategy<Value = Yamlish> {
    let free = prop::collection::vec(
        prop_oneof![
            r"[ -~]",
            prop::sample::select(WIDE.chars().collect::<Vec<_>>()).prop_map(String::from)
        ],
        0..10,
    )
    .prop_map(|v| v.concat());
    prop_oneof![
        (word(), prop::option::of(word())).prop_map(|(a, b)| {
            let s = b.map_or(a.clone(), |b| format!("{a} {b}"));
            Yamlish::Scalar(s.clone(), Value::String(s))
        }),
        free.clone()
            .prop_map(|s| Yamlish::Scalar(format!("'{}'", s.replace('\'', "''")), Value::String(s))),
        free.prop_map(|s| Yamlish::Scalar(
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Value::String(s)
        )),
        any::<i32>().prop_map(|n| Yamlish::Scalar(n.to_string(), Value::from(n))),
        Just(Yamlish::Scalar("[]".into(), Value::Array(vec![]))),
        Just(Yamlish::Scalar("{}".into(), Value::Object(Default::default()))),
    ]
}

fn key() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        word().prop_map(|k| (k.clone(), k)),
        word().prop_map(|k| (format!("'{k} x'"), format!("{k} x"))),
        word().prop_map(|k| (format!("\"{k}: y\""), format!("{k}: y"))),
    ]
}

fn yamlish() -> impl Strategy<Value = Yamlish> {
    scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (prop::collection::vec((key(), inner.clone()), 1..5), any::<bool>()).prop_map(|(v, flow)| {
                // Keys are unique within a mapping (a duplicate is an error, not a value).
                let mut seen = std::collections::HashSet::new();
                let v = v.into_iter().filter(|((_, k), _)| seen.insert(k.clone()));
                Yamlish::Map(v.map(|((src, k), x)| (src, k, x)).collect(), flow)
            }),
            (prop::collection::vec(inner, 1..5), any::<bool>()).prop_map(|(v, flow)| Yamlish::Seq(v, flow)),
        ]
    })
}

impl Yamlish {
    fn value(&self) -> Value {
        match self {
            Yamlish::Scalar(_, v) => v.clone(),
            Yamlish::Map(v, _) => Value::Object(v.iter().map(|(_, k, x)| (k.clone(), x.value())).collect()),
            Yamlish::Seq(v, _) => Value::Array(v.iter().map(Yamlish::value).collect()),
        }
    }

    /// Written on one line (a block collection inside flow is written as flow).
    fn flow(&self) -> String {
        match self {
            Yamlish::Scalar(s, _) => s.clone(),
            Yamlish::Map(v, _) => format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, _, x)| format!("{k}: {}", x.flow()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Yamlish::Seq(v, _) => format!("[ {} ]", v.iter().map(Yamlish::flow).collect::<Vec<_>>().join(" , ")),
        }
    }

    fn is_block(&self) -> bool {
        matches!(self, Yamlish::Map(_, false) | Yamlish::Seq(_, false))
    }

    /// Written in block style at `indent`, each nesting level indented by the next of
    /// `steps` (2, 3 or 4 spaces: one document mixes them).
    fn block(&self, indent: usize, steps: &[usize], out: &mut String) {
        let pad = " ".repeat(indent);
        let step = steps[indent % steps.len()];
        match self {
            Yamlish::Map(v, false) => {
                for (k, _, x) in v {
                    out.push_str(&format!("{pad}{k}:"));
                    if x.is_block() {
                        out.push('\n');
                        x.block(indent + step, steps, out);
                    } else {
                        out.push_str(&format!(" {}   # note\n", x.flow()));
                    }
                }
            }
            Yamlish::Seq(v, false) => {
                for x in v {
                    out.push_str(&format!("{pad}-"));
                    if x.is_block() {
                        out.push('\n');
                        x.block(indent + step, steps, out);
                    } else {
                        out.push_str(&format!(" {}\n", x.flow()));
                    }
                }
            }
            _ => out.push_str(&format!("{pad}{}\n", self.flow())),
        }
    }

    /// Each part's span covers exactly the text it was written as.
    fn check(&self, src: &str, node: &policy_config::yaml::Node) -> Result<(), TestCaseError> {
        use crate::fuzz_corpus::bodies::slice;
        use policy_config::yaml::NodeKind;
        match (self, &node.kind) {
            (Yamlish::Scalar(text, _), _) => prop_assert_eq!(slice(src, node.span), text.as_str()),
            (Yamlish::Map(v, flow), NodeKind::Map(entries, _)) => {
                if *flow {
                    prop_assert_eq!(slice(src, node.span), self.flow());
                }
                for ((k, _, x), e) in v.iter().zip(entries) {
                    prop_assert_eq!(slice(src, e.key_span), k.as_str());
                    x.check(src, &e.value)?;
                }
            }
            (Yamlish::Seq(v, flow), NodeKind::Seq(items)) => {
                if *flow {
                    prop_assert_eq!(slice(src, node.span), self.flow());
                }
                for (x, n) in v.iter().zip(items) {
                    x.check(src, n)?;
                }
            }
            _ => prop_assert!(false, "{:?} read as {:?}", self, node.kind),
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Generated documents — every scalar style, keys plain and quoted, characters of up to
    /// four bytes, empty flow collections, 2-, 3- and 4-space and mixed indentation — read
    /// as the value they were written for, every part's span is exactly its text, and the
    /// invariants the fuzz target checks on any input hold.
    #[test]
    fn the_span_tree_holds_to_the_source(y in yamlish(), steps in prop::collection::vec(2usize..=4, 1..4)) {
        let mut src = String::new();
        match &y {
            y if y.is_block() => y.block(0, &steps, &mut src),
            y => src.push_str(&format!("k: {}\n", y.flow())),
        }
        let expected = if y.is_block() { y.value() } else { serde_json::json!({ "k": y.value() }) };
        for text in [src.as_str(), src.trim_end()] {
            let doc = policy_config::yaml::parse(text).map_err(|e| TestCaseError::fail(format!("{e:?} in {text:?}")))?;
            prop_assert_eq!(&doc.value, &expected, "{}", text);
            if y.is_block() {
                y.check(text, &doc.root)?;
            } else if let policy_config::yaml::NodeKind::Map(entries, _) = &doc.root.kind {
                y.check(text, &entries[0].value)?;
            }
            crate::fuzz_corpus::bodies::yaml_spans(text);
        }
    }

    /// Noise that is nearly YAML holds to the fuzz target's invariants too.
    #[test]
    fn the_span_tree_holds_on_noise(text in "[a-z:\\- \\n\\[\\]{},'\"#0-9.\\\\é€😀]{0,120}") {
        crate::fuzz_corpus::bodies::yaml_spans(&text);
    }
}
