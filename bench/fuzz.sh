#!/usr/bin/env bash
# Run each cargo-fuzz target for a bounded time, starting from the committed corpus.
#
#   bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s; lint_yaml traffic evaluate upstream_response)
#
# cargo-fuzz needs nightly compiler flags; with no nightly toolchain the stable one is used
# with RUSTC_BOOTSTRAP=1. The run reads fuzz/corpus/<target>/ and writes the inputs it finds
# to a scratch copy, deleted afterwards (the committed corpus stays small); a failing input goes
# to fuzz/artifacts/<target>/. Commit it under fuzz/corpus/<target>/ once fixed:
# tests/suite/fuzz_corpus.rs replays every corpus file on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lint_yaml traffic evaluate upstream_response)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
toolchain=()
rustup toolchain list 2>/dev/null | grep -q nightly && toolchain=(+nightly) || export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  log="$(mktemp)"
  # Fuzz into a scratch copy of the corpus; -max_len keeps YAML and JSON inputs small.
  scratch="$(mktemp -d)"
  cp fuzz/corpus/"$t"/* "$scratch"/
  if cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz "$t" "$scratch" fuzz/corpus/"$t" -- \
      -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    echo "   no failure"
  else
    echo "   FAILED: see fuzz/artifacts/$t/"; tail -40 "$log"
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added|cov:" "$log" | tail -3 | sed 's/^/   /'
  rm -rf "$scratch" "$log"
done
