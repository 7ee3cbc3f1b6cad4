#!/usr/bin/env bash
# Zero-drop restarts under wrk: 32 keep-alive connections while the gateway is restarted 10
# times (POST /admin/restart, alternating A and B, where B changes worker_threads, telemetry
# and the admin listener), against the same run with 10 hot reloads for comparison. The
# upstream is nginx answering a fixed completion. Loopback only; every process started here —
# and the gateway processes the restarts started — is stopped by its pid at the end.
#
# Needs: wrk and nginx (Debian: apt-get install wrk nginx-light), a release build
# (cargo build --release --workspace). Usage: gateway/bench/restart-under-load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=32
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh
UP=$(free_port); GW=$(free_port); ADM_A=$(free_port); ADM_B=$(free_port)
ADMIN="127.0.0.1:$ADM_A"
current_pid() { curl -s "http://$ADMIN/admin/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null || true; }
cleanup() {
  local p; p=$(current_pid); [ -n "$p" ] && kill "$p" 2>/dev/null || true
  stop_started
}
trap cleanup EXIT

bench_upstream "$UP"

config() { # version, admin port, extra gateway keys, telemetry service name
cat <<YAML
pack: { name: bench, version: $1 }
gateway: { listen: 127.0.0.1:$GW, worker_threads: $3, admin: { listen: 127.0.0.1:$2 } }
telemetry: { service_name: $4 }
providers:
  targets:
    - { id: up, provider: openai, base_url: "http://127.0.0.1:$UP" }
policies: { chain: [prompt-injection, pii-detector] }
YAML
}
config 1.0.0 "$ADM_A" 2 bench-a > "$WORK/a.yaml"
config 2.0.0 "$ADM_B" 1 bench-b > "$WORK/b.yaml"
# Hot-reload pair: same restart-class fields, different version.
config 1.0.0 "$ADM_A" 2 bench-a > "$WORK/hot-a.yaml"
sed 's/version: 1.0.0/version: 3.0.0/' "$WORK/hot-a.yaml" > "$WORK/hot-b.yaml"
cp "$WORK/a.yaml" "$WORK/policy-config.yaml"
target/release/policy-gateway --config "$WORK/policy-config.yaml" 2> "$WORK/gateway.log" & PIDS+=($!)
sleep 1

run() { # name, action-or-empty
  local out="$WORK/$1.wrk"
  wrk -t2 -c$CONNS -d${SECS}s --latency -s gateway/bench/post.lua "http://127.0.0.1:$GW/v1/chat/completions" > "$out" &
  local wpid=$!
  if [ -n "$2" ]; then
    for i in $(seq 1 10); do sleep "$(python3 -c "print($SECS*0.9/10)")"; $2 "$i"; done
  fi
  wait $wpid
  local rps p99 errs non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  errs=$(grep -o 'Socket errors:.*' "$out" || echo "Socket errors: none")
  non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$out" || echo "Non-2xx or 3xx responses: 0")
  printf '%-26s %10s req/s  p99 %8s  %s; %s\n' "$1" "$rps" "$p99" "$errs" "$non2xx"
}

restart() {
  local src=a; [ $(($1 % 2)) -eq 1 ] && src=b
  local answer
  answer=$(curl -s -XPOST --data-binary @"$WORK/$src.yaml" "http://$ADMIN/admin/restart")
  ADMIN=$(echo "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_listen"])')
  echo "$answer" | python3 -c 'import json,sys; a=json.load(sys.stdin); print("  restart: pid %s serves %s, %.0f ms" % (a["pid"], a["version"], a["duration_ms"]), file=sys.stderr)'
}
reload() {
  local src=hot-a; [ $(($1 % 2)) -eq 1 ] && src=hot-b
  curl -s -o /dev/null -XPOST --data-binary @"$WORK/$src.yaml" "http://$ADMIN/admin/reload"
}

echo "# $CONNS keep-alive connections, ${SECS}s each, $(nproc) cores, $(date -u +%FT%TZ)"
run "gateway" ""
run "gateway + 10 hot reloads" reload
run "gateway + 10 restarts" restart
sleep 0.5
echo "final: $(curl -s "http://127.0.0.1:$GW/health" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["config_version"], "pending", h["pending_restart"])') (last written: 1.0.0), pid $(current_pid)"
echo "restarts in history: $(curl -s "http://$ADMIN/admin/history" | python3 -c 'import json,sys; print(sum(1 for o in json.load(sys.stdin)["operations"] if o["op"]=="restart" and o["outcome"]=="applied"))')"
