#!/usr/bin/env bash
# Throughput and p99 of policy-gateway under wrk, without and with 20 reloads (alternating two
# configs, half by SIGHUP, half by POST /admin/reload), and of nginx proxying the same upstream
# with 20 `nginx -s reload`s, in the same run; then the ratios, gateway to nginx. The steady
# load runs ROUNDS times for each (3 by default), the two taking turns so that the machine's
# drift hits both alike, and the ratios are of the medians. Both pin
# their threads to CPUs (`pin_workers`, `worker_cpu_affinity auto`; PIN=0: neither, see
# lib.sh). Loopback only; every process started here is stopped by its pid at the end.
#
# Needs: wrk and nginx (Debian: apt-get install wrk nginx), a release build
# (cargo build --release -p policy-gateway). Usage: gateway/bench/reload-under-load.sh [seconds]
# (BIN=path: another build of the gateway; ROUNDS=n: steady rounds each)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-target/release/policy-gateway}
CONNS=32
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh
UP=$(free_port); NGX=$(free_port); GW=$(free_port); ADM=$(free_port)

# The upstream, and nginx as the proxy under test, for scale.
bench_upstream "$UP"
bench_nginx_proxy "$NGX" "$UP"

config() { # version, chain
cat <<YAML
pack: { name: bench, version: $1 }
gateway: { listen: 127.0.0.1:$GW, worker_threads: 2, ${GW_PIN}admin: { listen: 127.0.0.1:$ADM } }
providers:
  targets:
    - { id: up, provider: openai, base_url: "http://127.0.0.1:$UP" }
policies: { chain: [$2] }
YAML
}
config 1.0.0 "prompt-injection, pii-detector" > "$WORK/a.yaml"
config 2.0.0 "prompt-injection, pii-detector, content-filter" > "$WORK/b.yaml"
cp "$WORK/a.yaml" "$WORK/policy-config.yaml"
$BIN --config "$WORK/policy-config.yaml" 2> "$WORK/gateway.log" & GPID=$!; PIDS+=($GPID)
sleep 1

run() { # name, url, reload-command-or-empty, [what it is a round of]
  local out="$WORK/${1// /-}.wrk"
  wrk -t2 -c$CONNS -d${SECS}s --latency -s gateway/bench/post.lua "$2" > "$out" &
  local wpid=$!
  if [ -n "$3" ]; then
    for i in $(seq 1 20); do sleep "$(python3 -c "print($SECS*0.9/20)")"; eval "$3 $i"; done
  fi
  wait $wpid
  local rps p99 errs non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  errs=$(grep -o 'Socket errors:.*' "$out" || echo "Socket errors: none")
  non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$out" || echo "Non-2xx or 3xx responses: 0")
  printf '%-28s %10s req/s  p99 %8s  %s; %s\n' "$1" "$rps" "$p99" "$errs" "$non2xx"
  echo "${4:-$1}|$rps|$p99" >> "$WORK/results"
}

gateway_reload() {
  if [ $(($1 % 2)) -eq 1 ]; then src=b; else src=a; fi
  if [ $((($1 - 1) % 4)) -lt 2 ]; then
    cp "$WORK/$src.yaml" "$WORK/policy-config.yaml.tmp" && mv "$WORK/policy-config.yaml.tmp" "$WORK/policy-config.yaml"
    kill -HUP $GPID
  else
    curl -s -o /dev/null -XPOST --data-binary @"$WORK/$src.yaml" "http://127.0.0.1:$ADM/admin/reload"
  fi
}
nginx_reload() { nginx -c "$WORK/proxy.conf" -p "$WORK" -s reload 2>/dev/null; }

echo "# $CONNS keep-alive connections, ${SECS}s each, $(nproc) cores, $(date -u +%FT%TZ)"
for r in $(seq 1 "$ROUNDS"); do
  run "gateway, round $r" "http://127.0.0.1:$GW/v1/chat/completions" "" "gateway"
  run "nginx proxy, round $r" "http://127.0.0.1:$NGX/v1/chat/completions" "" "nginx proxy"
done
run "gateway + 20 reloads" "http://127.0.0.1:$GW/v1/chat/completions" gateway_reload
run "nginx proxy + 20 reloads" "http://127.0.0.1:$NGX/v1/chat/completions" nginx_reload
python3 - "$WORK/results" <<'PY'
import statistics, sys
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
runs = {}
for line in open(sys.argv[1]):
    name, rps, p99 = line.strip().split("|")
    runs.setdefault(name, []).append((float(rps), ms(p99)))
# The median of each measure over its rounds (a single run is its own median).
r = {name: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for name, v in runs.items()}
for what, g, n in [("steady", "gateway", "nginx proxy"), ("20 reloads", "gateway + 20 reloads", "nginx proxy + 20 reloads")]:
    rounds = f" (medians of {len(runs[g])} rounds: {r[g][0]:.0f} / {r[n][0]:.0f} req/s, p99 {r[g][1]:.2f} / {r[n][1]:.2f} ms)" if len(runs[g]) > 1 else ""
    print(f"ratio {what:<11} gateway / nginx: throughput {r[g][0] / r[n][0]:.3f}, p99 {r[g][1] / r[n][1]:.3f}{rounds}")
PY
sleep 0.5
echo "gateway final version: $(curl -s http://127.0.0.1:$GW/health | python3 -c 'import json,sys; print(json.load(sys.stdin)["config_version"])') (last written: 1.0.0)"
echo "gateway reloads: $(curl -s http://127.0.0.1:$ADM/metrics | grep '^gateway_config_reload_total' | tr '\n' ' ')"
