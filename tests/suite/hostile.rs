//! Hostile YAML is refused with one clear diagnostic (time and memory are measured in the
//! closing note and the bench, not asserted here).

use policy::lint;

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
