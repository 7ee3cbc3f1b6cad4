//! Hostile YAML is refused with one clear diagnostic (time and memory are measured in the
//! closing note and the bench, not asserted here).

use policy_lint as lint;

fn codes(src: &str) -> Vec<&'static str> {
    lint::lint_source("hostile.yaml", src)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn billion_laughs_is_refused() {
    let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (i, c) in "bcdefghi".chars().enumerate() {
        let p = (b'a' + i as u8) as char;
        s.push_str(&format!("{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"));
    }
    assert_eq!(codes(&s), ["P103"]);
}

#[test]
fn deep_nesting_is_refused() {
    let flow = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(codes(&flow), ["P104"]);
    let block: String = (0..10_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    assert_eq!(codes(&block), ["P104"]);
    let seqs: String = (0..10_000).map(|_| "- ").collect::<String>() + "x\n";
    assert_eq!(codes(&seqs), ["P104"]);
}

#[test]
fn wide_mapping_with_unknown_keys_stays_linear() {
    // 20,000 unknown keys in one mapping: each is located through the key index, not a scan.
    let mut s = String::from("pack:\n  name: a\n  version: 1.0.0\n");
    for i in 0..20_000 {
        s.push_str(&format!("k{i}: 1\n"));
    }
    let report = lint::lint_source("wide.yaml", s);
    assert!(report.diagnostics.iter().filter(|d| d.code == "P201").count() == 20_000);
}

/// JSON Schema counts `100.0` as an integer and the schema bounds no integer by its Rust type:
/// the typed read's refusal is located at the value and worded as the user's error, not
/// reported as an internal error at the whole file.
#[test]
fn a_whole_number_written_as_a_fraction_or_past_its_range_is_located() {
    for (value, code) in [
        ("100.0", "P203"),
        ("3e4", "P203"),
        ("4294967296", "P205"),
        ("18446744073709551616", "P205"),
    ] {
        let src = format!(
            "pack: {{ name: p, version: 1.0.0 }}\nproviders:\n  targets: [{{ id: m, provider: mock }}]\npolicies:\n  chain: [rate-limit]\npolicy:\n  rate-limit:\n    burst: {value}\n"
        );
        let report = lint::lint_source("n.yaml", src);
        let d = &report.diagnostics;
        assert_eq!(d.len(), 1, "{value}: {d:?}");
        assert_eq!(
            (d[0].code, d[0].pointer.as_str()),
            (code, "/policy/rate-limit/burst"),
            "{value}"
        );
        assert_eq!((d[0].span.start.line, d[0].span.start.col), (8, 11), "{value}");
        assert!(!d[0].message.contains("internal"), "{}", d[0].message);
    }
}
