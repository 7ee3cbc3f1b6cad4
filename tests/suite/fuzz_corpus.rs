//! The fuzz corpora, replayed on stable Rust: every file under `fuzz/corpus/<target>/` goes
//! through the same function its `cargo fuzz` target calls (`fuzz/src/lib.rs`, included here
//! as a module), so an input a fuzzer once found stays a regression test without nightly.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, missing_docs)]
pub(crate) mod bodies;

use crate::util::root;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = root().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let name = f.display().to_string();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {name} breaks an invariant (see the panic above)");
        }
    }
}

#[test]
fn the_lint_yaml_corpus_holds() {
    replay("lint_yaml", bodies::lint_yaml);
}

#[test]
fn the_traffic_corpus_holds() {
    replay("traffic", bodies::traffic);
}

#[test]
fn the_evaluate_corpus_holds() {
    replay("evaluate", bodies::evaluate);
}
