#!/usr/bin/env bash
# Heap allocations per proxied request of policy-gateway, on the set-up of
# reload-under-load.sh (POST /v1/chat/completions through `prompt-injection, pii-detector` to
# an nginx upstream answering a fixed completion): uprobes on the allocator's entry points
# (mimalloc's `mi_malloc_aligned`, `mi_realloc_aligned`, `mi_free`, which every Rust
# allocation and free goes through), counted by `perf stat` over a light wrk run and divided
# by the requests wrk completed. A uprobe costs a trap, so the run is slow; only the counts
# mean anything. Loopback only; every process and probe started here is removed at the end.
#
# Needs: perf with uprobe permission (root, or perf_event_paranoid and tracefs access), wrk,
# nginx, `cargo build --release -p policy-gateway`.
# Usage: gateway/bench/allocs-per-request.sh   (SECS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${BIN:-target/release/policy-gateway}")
SECS=${SECS:-3}
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh
PROBES=(mi_malloc_aligned mi_realloc_aligned mi_free)
remove_probes() { for f in "${PROBES[@]}"; do perf probe -q -d "gateway_alloc:$f" 2>/dev/null || true; done; }
trap 'stop_started; remove_probes' EXIT
remove_probes
for f in "${PROBES[@]}"; do perf probe -q -x "$BIN" --add "gateway_alloc:$f=$f"; done
UP=$(free_port); GW=$(free_port); ADM=$(free_port)
bench_upstream "$UP"
cat > "$WORK/a.yaml" <<YAML
pack: { name: bench, version: 1.0.0 }
gateway: { listen: 127.0.0.1:$GW, worker_threads: 2, admin: { listen: 127.0.0.1:$ADM } }
providers:
  targets:
    - { id: up, provider: openai, base_url: "http://127.0.0.1:$UP" }
policies: { chain: [prompt-injection, pii-detector] }
YAML
"$BIN" --config "$WORK/a.yaml" 2> "$WORK/gateway.log" & GPID=$!; PIDS+=($GPID)
# Serving once its first request is answered: connections and caches are warm after this.
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW/health" >/dev/null && break; sleep 0.1; done
wrk -t1 -c4 -d1s -s gateway/bench/post.lua "http://127.0.0.1:$GW/v1/chat/completions" >/dev/null
# The count spans the whole wrk run (a little before and after it, when the gateway is idle).
perf stat -x, -o "$WORK/probes.txt" -e 'gateway_alloc:*' -p "$GPID" -- sleep "$((SECS + 1))" & PP=$!
sleep 0.5
wrk -t1 -c4 -d"${SECS}s" -s gateway/bench/post.lua "http://127.0.0.1:$GW/v1/chat/completions" > "$WORK/wrk.txt"
wait $PP
REQ=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
echo "requests: $REQ"
awk -F, -v n="$REQ" '/gateway_alloc/ {sub("gateway_alloc:", "", $3); printf "%-20s %6.2f per request\n", $3, $1/n}' "$WORK/probes.txt"
