//! Invariants over generated input:
//! - a config built by `valid_config()` lints clean, in flow style (JSON is YAML) and in block
//!   style, and reads back as the same model (serialise -> lint -> parse is the identity);
//! - no byte string makes the linter panic.

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

/// A YAML tree with its formatting choices: what the fast reader must read exactly as saphyr.
#[derive(Debug, Clone)]
enum Yamlish {
    Scalar(String, u8),
    Map(Vec<(String, Yamlish)>, bool),
    Seq(Vec<Yamlish>, bool),
}

fn yamlish() -> impl Strategy<Value = Yamlish> {
    let scalar = ("[ -~é]{0,12}", 0u8..4).prop_map(|(s, q)| Yamlish::Scalar(s, q));
    scalar.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (
                prop::collection::vec(("[a-z][a-z_ -]{0,6}", inner.clone()), 1..5),
                any::<bool>()
            )
                .prop_map(|(v, flow)| Yamlish::Map(v, flow)),
            (prop::collection::vec(inner, 1..5), any::<bool>()).prop_map(|(v, flow)| Yamlish::Seq(v, flow)),
        ]
    })
}

fn scalar_text(s: &str, q: u8) -> String {
    match q {
        0 => s.to_string(),
        1 => format!("'{}'", s.replace('\'', "''")),
        2 => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        _ => format!("\"{}\\u00e9\\x41\" ", s.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

fn flow_text(y: &Yamlish) -> String {
    match y {
        Yamlish::Scalar(s, q) => scalar_text(s, *q),
        Yamlish::Map(v, _) => format!(
            "{{{}}}",
            v.iter()
                .map(|(k, x)| format!("{k}: {}", flow_text(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Yamlish::Seq(v, _) => format!("[ {} ]", v.iter().map(flow_text).collect::<Vec<_>>().join(" , ")),
    }
}

fn block_text(y: &Yamlish, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Yamlish::Map(v, _) => {
            for (i, (k, x)) in v.iter().enumerate() {
                out.push_str(&format!("{pad}{k}:"));
                value_text(x, indent, i % 2 == 0, out);
            }
        }
        Yamlish::Seq(v, _) => {
            for (i, x) in v.iter().enumerate() {
                match x {
                    Yamlish::Map(m, false) if i % 2 == 1 => {
                        // `- key: value` with the rest of the mapping below it.
                        let mut inner = String::new();
                        block_text(&Yamlish::Map(m.clone(), false), indent + 2, &mut inner);
                        out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                    }
                    _ => {
                        out.push_str(&format!("{pad}-"));
                        value_text(x, indent, false, out);
                    }
                }
            }
        }
        Yamlish::Scalar(..) => out.push_str(&format!("{pad}{}\n", flow_text(y))),
    }
}

fn value_text(x: &Yamlish, indent: usize, comment: bool, out: &mut String) {
    match x {
        Yamlish::Scalar(..) | Yamlish::Map(_, true) | Yamlish::Seq(_, true) => {
            out.push_str(&format!(" {}", flow_text(x)));
            out.push_str(if comment { "   # note\n" } else { "\n" });
        }
        Yamlish::Seq(_, false) if comment => {
            out.push('\n');
            block_text(x, indent, out); // indentless
        }
        _ => {
            out.push_str(if comment { "  # below\n\n" } else { "\n" });
            block_text(x, indent + 2, out);
        }
    }
}

fn agrees(src: &str) -> Result<(), TestCaseError> {
    use policy_config::yaml::fast_compare::{fast, saphyr};
    if let Some(f) = fast(src) {
        prop_assert_eq!(Some(f), saphyr(src), "{}", src);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_fast_yaml_reader_agrees_with_saphyr_on_noise(text in "[a-z:\\- \\n\\[\\]{},'\"#0-9.\\\\]{0,120}") {
        agrees(&text)?;
    }
}

/// Wherever the fast reader accepts a generated document, it reads the events and spans saphyr
/// reads; and it accepts most of them (the test would be empty otherwise).
#[test]
fn the_fast_yaml_reader_agrees_with_saphyr() {
    use policy_config::yaml::fast_compare::fast;
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut taken, mut total) = (0, 0);
    for _ in 0..1500 {
        let y = yamlish().new_tree(&mut runner).unwrap().current();
        let mut src = String::new();
        match &y {
            Yamlish::Scalar(..) => src.push_str(&format!("k: {}\n", flow_text(&y))),
            _ => block_text(&y, 0, &mut src),
        }
        for text in [src.as_str(), src.trim_end()] {
            total += 1;
            taken += usize::from(fast(text).is_some());
            agrees(text).unwrap();
        }
    }
    assert!(
        taken * 3 >= total,
        "the fast reader took only {taken} of {total} documents"
    );
}

#[test]
fn every_fixture_the_fast_reader_takes_reads_as_saphyr_reads_it() {
    use crate::util::{root, yaml_files};
    use policy_config::yaml::fast_compare::{fast, saphyr};
    let mut taken = 0;
    let files: Vec<_> = ["fixtures", "deploy", "../shared/seed-configs"]
        .iter()
        .map(|d| root().join(d))
        .filter(|d| d.is_dir())
        .flat_map(|d| yaml_files(&d))
        .collect();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        if let Some(f) = fast(&src) {
            taken += 1;
            assert_eq!(Some(f), saphyr(&src), "{}", file.display());
        }
    }
    // The fixtures are plain configs: nearly all of them take the fast path.
    assert!(
        taken * 4 >= files.len() * 3,
        "only {taken} of {} files took the fast path",
        files.len()
    );
}
