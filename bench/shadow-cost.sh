#!/usr/bin/env bash
# What shadow evaluation costs the gateway (docs/design/performance.md): wrk against
# policy-gateway (release build, the demo config with an instant mock, the policy chain on),
# POST /v1/chat/completions cycling through requests of fixtures/traffic/chat.jsonl, with no
# shadow and with demo-next.yaml shadowed, interleaved ROUNDS times in the same run; prints the
# medians and the ratios (throughput and p99, shadow on against off). Loopback only; the gateway
# it starts is stopped by its pid. With taskset (util-linux) the gateway runs on the last core
# and wrk on the others, so the two do not take turns on one. Each round runs off then on; the
# ratios are taken per round (paired), then their median. Needs wrk (Debian package wrk);
# installs nothing.
# Usage: bench/shadow-cost.sh   (ROUNDS=5 SECONDS_EACH=5 CONNECTIONS=32 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-5}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "shadow-cost: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q --workspace --bins
BIN=$PWD/target/release
WORK=$(mktemp -d)
GW=""
cleanup() {
    [ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port)
A=$(port)
sed 's/latency_ms: 20/latency_ms: 0/' fixtures/gateway/demo.yaml >"$WORK/a.yaml"
sed 's/latency_ms: 20/latency_ms: 0/' fixtures/gateway/demo-next.yaml >"$WORK/b.yaml"
# The first 50 recorded chat requests, as a Lua table wrk cycles through.
python3 - "$WORK/requests.lua" <<'PY'
import json, sys
bodies = []
for line in open("fixtures/traffic/chat.jsonl"):
    r = json.loads(line)
    if r["path"] == "/v1/chat/completions":
        bodies.append(json.dumps(r["body"]))
    if len(bodies) == 50:
        break
with open(sys.argv[1], "w") as f:
    f.write("local bodies = {\n")
    for b in bodies:
        f.write("  " + json.dumps(b) + ",\n")
    f.write("}\nlocal i = 0\nwrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n")
    f.write("request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, '/v1/chat/completions', nil, bodies[i])\nend\n")
PY
GWCPU=() WRKCPU=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    last=$(($(nproc) - 1))
    GWCPU=(taskset -c "$last")
    WRKCPU=(taskset -c "0-$((last - 1))")
fi
"${GWCPU[@]}" "$BIN/policy-gateway" --config "$WORK/a.yaml" --listen "127.0.0.1:$P" --admin-listen "127.0.0.1:$A" >"$WORK/gw.log" 2>&1 &
GW=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$P/health" >/dev/null && break; sleep 0.05; done
run() {
    "${WRKCPU[@]}" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$WORK/requests.lua" "http://127.0.0.1:$P" 2>&1 |
        awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p=$2} END {print rps, p}'
}
ms() { python3 -c "import sys; v=sys.argv[1]; print(float(v[:-2]) if v.endswith('ms') else float(v[:-2])/1000 if v.endswith('us') else float(v[:-1])*1000)" "$1"; }
: >"$WORK/off"; : >"$WORK/on"
for r in $(seq 1 "$ROUNDS"); do
    read -r rps p99 < <(run)
    echo "$rps $(ms "$p99")" >>"$WORK/off"
    curl -sf -o /dev/null -X POST --data-binary @"$WORK/b.yaml" "http://127.0.0.1:$A/admin/shadow"
    read -r rps p99 < <(run)
    echo "$rps $(ms "$p99")" >>"$WORK/on"
    curl -sf -o "$WORK/shadow-$r.json" -X DELETE "http://127.0.0.1:$A/admin/shadow"
    echo "shadow-cost: round $r of $ROUNDS done" >&2
done
python3 - "$WORK" "$ROUNDS" "$SECONDS_EACH" "$CONNECTIONS" <<'PY'
import json, statistics, sys
work, rounds, secs, conns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def rows(name):
    return [tuple(map(float, l.split())) for l in open(f"{work}/{name}") if l.strip()]
offs, ons = rows("off"), rows("on")
off = statistics.median(r[0] for r in offs), statistics.median(r[1] for r in offs)
on = statistics.median(r[0] for r in ons), statistics.median(r[1] for r in ons)
# Paired: each round's on against the same round's off, then the median of those ratios.
rps_ratio = statistics.median(b[0] / a[0] for a, b in zip(offs, ons))
p99_ratio = statistics.median(b[1] / a[1] for a, b in zip(offs, ons))
shadowed = sum(json.load(open(f"{work}/shadow-{r}.json"))["requests"] for r in range(1, int(rounds) + 1))
print(f"wrk, {conns} connections, {rounds} interleaved rounds of {secs} s each way (medians)")
print(f"| | req/s | p99 ms |")
print(f"|---|---|---|")
print(f"| shadow off | {off[0]:.0f} | {off[1]:.2f} |")
print(f"| shadow on (demo-next.yaml) | {on[0]:.0f} | {on[1]:.2f} |")
print(f"| on / off (median of the rounds' ratios) | {rps_ratio:.3f} | {p99_ratio:.3f} |")
print(f"requests the shadow evaluated: {shadowed}")
PY
