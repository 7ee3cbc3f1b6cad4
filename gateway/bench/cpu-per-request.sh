#!/usr/bin/env bash
# CPU time per request of policy-gateway and of nginx, on the set-up of reload-under-load.sh
# (wrk, 2 threads, 32 keep-alive connections, POST /v1/chat/completions, an nginx upstream
# answering a fixed completion; the gateway with `prompt-injection, pii-detector`, nginx with
# one worker process): each process's user + system time over the run, divided by the
# requests it served. Throughput alone depends on how the cores are shared with wrk and the
# upstream; CPU per request says what a request costs. Loopback only; every process started
# here is stopped by its pid at the end.
#
# Needs: wrk and nginx, `cargo build --release -p policy-gateway`.
# Usage: gateway/bench/cpu-per-request.sh   (SECS=8 WT=2 by default: run length, worker_threads)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/policy-gateway}
WT=${WT:-2}
SECS=${SECS:-8}
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh
UP=$(free_port); NGX=$(free_port); GW=$(free_port); ADM=$(free_port)
bench_upstream "$UP"
bench_nginx_proxy "$NGX" "$UP"
NPID=${PIDS[-1]}
cat > "$WORK/a.yaml" <<YAML
pack: { name: bench, version: 1.0.0 }
gateway: { listen: 127.0.0.1:$GW, worker_threads: $WT, ${GW_PIN}admin: { listen: 127.0.0.1:$ADM } }
providers:
  targets:
    - { id: up, provider: openai, base_url: "http://127.0.0.1:$UP" }
policies: { chain: [prompt-injection, pii-detector] }
YAML
$BIN --config "$WORK/a.yaml" 2> "$WORK/gateway.log" & GPID=$!; PIDS+=($GPID)
sleep 1
NW=$(pgrep -P $NPID | head -1)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
measure() { # name pid url
  local a b rps
  a=$(cpu $2)
  rps=$(wrk -t2 -c32 -d${SECS}s -s gateway/bench/post.lua "$3" | awk '/Requests\/sec/ {print $2}')
  b=$(cpu $2)
  python3 -c "import os; t=($b-$a)/os.sysconf('SC_CLK_TCK'); n=$rps*$SECS; print(f'%-10s %8.0f req/s  cpu %.2f s over {$SECS} s = %.1f%% of a core, %.1f us/request' % ('$1', $rps, t, t/$SECS*100, t/n*1e6))"
}
measure gateway $GPID "http://127.0.0.1:$GW/v1/chat/completions"
measure nginx $NW "http://127.0.0.1:$NGX/v1/chat/completions"
