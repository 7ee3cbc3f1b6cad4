#!/usr/bin/env bash
# Reload safety of five gateways under the same load, measured by `policy replay --live` in
# command mode (docs/design/performance.md publishes the table). Each proxy is started on
# 127.0.0.1 in front of one shared upstream (policy-gateway on the demo config, mock provider),
# with two configs that differ only in an `x-config-version` header (a / b); the harness
# replays fixtures/traffic/chat.jsonl as load and switches between the two with the proxy's
# own reload command, the same number of times for each:
#   nginx              nginx -s reload
#   haproxy            master-worker reload (SIGUSR2 to the master), without expose-fd listeners
#   haproxy seamless   the same with `stats socket ... expose-fd listeners`
#   caddy              caddy reload (a load through its admin API)
#   apache             apachectl -k graceful (apache2 -k graceful)
#   policy-gateway     SIGHUP, the admin API (POST /admin/reload) and a zero-drop restart
# It installs nothing: a proxy that is not installed is skipped, named (Debian packages nginx,
# haproxy, caddy, apache2). Every process it starts listens on 127.0.0.1 only and is stopped by
# its pid at the end. Prints one table.
# Usage: bench/live-proxies.sh   (DURATION=10s RELOADS=20 CONCURRENCY=32 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
RELOADS=${RELOADS:-20}
CONCURRENCY=${CONCURRENCY:-32}
cargo build --release -q --workspace --bins
BIN=$PWD/target/release
TRAFFIC=$PWD/fixtures/traffic/chat.jsonl
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "live-proxies: reports kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "live-proxies: nothing listens on 127.0.0.1:$1; the end of its log:" >&2
    tail -5 "$2" >&2 || true
    return 1
}

# The shared upstream: the demo config with an instant mock, so the proxies' own reload
# behaviour is what the run measures.
sed 's/latency_ms: 20/latency_ms: 0/' fixtures/gateway/demo.yaml >"$WORK/upstream.yaml"
UP=$(port)
UPADMIN=$(port)
"$BIN/policy-gateway" --config "$WORK/upstream.yaml" --listen "127.0.0.1:$UP" --admin-listen "127.0.0.1:$UPADMIN" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
wait_port "$UP" "$WORK/upstream.log"

ROWS=()
# run NAME GATEWAY_URL DIR OLD NEW RELOAD_CMD [extra harness flags...]
run() {
    local name=$1 url=$2 dir=$3 old=$4 new=$5 cmd=$6
    shift 6
    echo "live-proxies: $name" >&2
    "$BIN/policy" replay --live --format json --traffic "$TRAFFIC" --old "$old" --new "$new" \
        --gateway "$url" --config-path "$dir/current" --reload-cmd "$cmd" \
        --duration "$DURATION" --reloads "$RELOADS" --concurrency "$CONCURRENCY" "$@" \
        >"$dir/report.json" || true
    ROWS+=("$name|$dir/report.json")
}
version() { "$@" 2>&1 | head -1 | tr -d '\r'; }

# nginx
if command -v nginx >/dev/null; then
    D=$WORK/nginx; mkdir -p "$D"; P=$(port)
    for v in a b; do
        cat >"$D/$v.conf" <<EOF
daemon off;
worker_processes 2;
pid $D/nginx.pid;
error_log $D/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $D/body;
  proxy_temp_path $D/proxy;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$P;
    keepalive_requests 100000;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header x-config-version $v always;
    }
  }
}
EOF
    done
    cp "$D/a.conf" "$D/current"
    nginx -p "$D" -c "$D/current" 2>>"$D/error.log" &
    PIDS+=($!)
    wait_port "$P" "$D/error.log" &&
    run "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')|nginx -s reload" "http://127.0.0.1:$P" "$D" "$D/a.conf" "$D/b.conf" \
        "nginx -p $D -c $D/current -s reload" --attribute-header x-config-version
    if command -v wrk >/dev/null; then
        # The same load and switches with wrk, which counts errors but cannot say which
        # request failed, how, or whether the new config ever served.
        printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
            "'{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'" >"$D/post.lua"
        secs=${DURATION%s}
        (for i in $(seq 1 "$RELOADS"); do
            sleep "$(python3 -c "print($secs/($RELOADS+1))")"
            if [ $((i % 2)) = 1 ]; then cp "$D/b.conf" "$D/current"; else cp "$D/a.conf" "$D/current"; fi
            nginx -p "$D" -c "$D/current" -s reload 2>/dev/null
        done) &
        switcher=$!
        WRK=$(wrk -t2 -c"$CONCURRENCY" -d"$DURATION" -s "$D/post.lua" "http://127.0.0.1:$P/v1/chat/completions" 2>&1 |
            awk '/requests in/ {r=$1} /Socket errors/ {e=$0} END {print r " requests; " (e ? e : "Socket errors: none")}')
        wait "$switcher" || true
        cp "$D/a.conf" "$D/current"
    fi
else
    echo "live-proxies: nginx is not installed: skipped" >&2
fi

# HAProxy, master-worker, without and with expose-fd listeners
if command -v haproxy >/dev/null; then
    HV=$(haproxy -v | head -1 | awk '{print $3}')
    for mode in plain seamless; do
        D=$WORK/haproxy-$mode; mkdir -p "$D"; P=$(port)
        sock=""
        [ "$mode" = seamless ] && sock="  stats socket $D/admin.sock mode 600 level admin expose-fd listeners"
        for v in a b; do
            cat >"$D/$v.conf" <<EOF
global
  maxconn 4096
$sock
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend f
  bind 127.0.0.1:$P
  http-response set-header x-config-version $v
  default_backend b
backend b
  server up 127.0.0.1:$UP
EOF
        done
        cp "$D/a.conf" "$D/current"
        haproxy -W -db -f "$D/current" >"$D/haproxy.log" 2>&1 &
        master=$!
        PIDS+=("$master")
        wait_port "$P" "$D/haproxy.log" || continue
        label="haproxy $HV|SIGUSR2 to the master"
        [ "$mode" = seamless ] && label="haproxy $HV, expose-fd listeners|SIGUSR2 to the master"
        run "$label" "http://127.0.0.1:$P" "$D" "$D/a.conf" "$D/b.conf" "kill -USR2 $master" \
            --attribute-header x-config-version
    done
else
    echo "live-proxies: haproxy is not installed: skipped" >&2
fi

# Caddy
if command -v caddy >/dev/null; then
    D=$WORK/caddy; mkdir -p "$D"; P=$(port); A=$(port)
    for v in a b; do
        cat >"$D/$v.conf" <<EOF
{
  admin 127.0.0.1:$A
  auto_https off
}
http://127.0.0.1:$P {
  header x-config-version $v
  reverse_proxy 127.0.0.1:$UP
}
EOF
    done
    cp "$D/a.conf" "$D/current"
    HOME=$D XDG_DATA_HOME=$D XDG_CONFIG_HOME=$D caddy run --config "$D/current" --adapter caddyfile >"$D/caddy.log" 2>&1 &
    PIDS+=($!)
    wait_port "$P" "$D/caddy.log" &&
    run "caddy $(caddy version | awk '{print $1}')|caddy reload" "http://127.0.0.1:$P" "$D" "$D/a.conf" "$D/b.conf" \
        "HOME=$D caddy reload --config $D/current --adapter caddyfile --address 127.0.0.1:$A" \
        --attribute-header x-config-version
else
    echo "live-proxies: caddy is not installed: skipped" >&2
fi

# Apache httpd
if command -v apache2 >/dev/null; then
    D=$WORK/apache; mkdir -p "$D"; P=$(port)
    M=/usr/lib/apache2/modules
    user=""
    [ "$(id -u)" = 0 ] && user="User www-data
Group www-data"
    for v in a b; do
        cat >"$D/$v.conf" <<EOF
ServerRoot $D
ServerName localhost
DefaultRuntimeDir $D
PidFile $D/httpd.pid
ErrorLog $D/error.log
Mutex file:$D default
$user
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_http_module $M/mod_proxy_http.so
LoadModule headers_module $M/mod_headers.so
Listen 127.0.0.1:$P
KeepAlive On
MaxKeepAliveRequests 0
ProxyPass / http://127.0.0.1:$UP/
Header always set x-config-version $v
EOF
    done
    cp "$D/a.conf" "$D/current"
    chmod 755 "$D"
    apache2 -f "$D/current" -DFOREGROUND >"$D/apache.log" 2>&1 &
    PIDS+=($!)
    wait_port "$P" "$D/apache.log" &&
    run "apache $(apache2 -v | head -1 | sed 's/.*Apache\///; s/ .*//')|apache2 -k graceful" "http://127.0.0.1:$P" "$D" "$D/a.conf" "$D/b.conf" \
        "apache2 -f $D/current -k graceful" --attribute-header x-config-version
else
    echo "live-proxies: apache2 is not installed: skipped" >&2
fi

# policy-gateway: SIGHUP, the admin API, a zero-drop restart (attributed by its config hash).
for how in sighup admin restart; do
    D=$WORK/policy-$how; mkdir -p "$D"; P=$(port); A=$(port)
    cp "$WORK/upstream.yaml" "$D/a.conf"
    sed 's/version: 1.0.0/version: 1.0.1/' "$WORK/upstream.yaml" >"$D/b.conf"
    cp "$D/a.conf" "$D/current"
    "$BIN/policy-gateway" --config "$D/current" --listen "127.0.0.1:$P" --admin-listen "127.0.0.1:$A" >"$D/gw.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$P" "$D/gw.log" || continue
    case $how in
        sighup) cmd="kill -HUP $pid"; label="SIGHUP" ;;
        admin) cmd="curl -sf -o /dev/null -X POST --data-binary @\"\$POLICY_CONFIG_PATH\" http://127.0.0.1:$A/admin/reload"; label="POST /admin/reload" ;;
        restart) cmd="curl -sf -o /dev/null -X POST http://127.0.0.1:$A/admin/restart"; label="zero-drop restart" ;;
    esac
    run "policy-gateway $("$BIN/policy-gateway" --version | awk '{print $2}')|$label" "http://127.0.0.1:$P" "$D" "$D/a.conf" "$D/b.conf" "$cmd"
done

echo
[ -n "${WRK:-}" ] && echo "wrk on the same nginx, load and switches: $WRK"
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $DURATION of load on $CONCURRENCY keep-alive connections, $RELOADS switches each, closed loop"
python3 - "${ROWS[@]}" <<'PY'
import json, sys
head = ["gateway", "reload", "requests", "dropped", "by kind", "unattributed", "reload failures",
        "switch ms p50/p99", "p99 ms steady / near switches"]
rows = []
for arg in sys.argv[1:]:
    name, reload, path = arg.split("|")
    try:
        r = json.load(open(path))
    except Exception as e:
        rows.append([name, reload, "run failed: " + str(e)] + [""] * 6)
        continue
    kinds = ", ".join(f"{k} {n}" for k, n in r["dropped_by_kind"].items() if n) or "-"
    obs = sorted(s["observed_ms"] for s in r.get("switches", []) if s["observed_ms"] is not None)
    q = lambda p: obs[min(len(obs) - 1, max(0, int(-(-len(obs) * p // 1)) - 1))]
    sw = f"{q(0.5):.0f} / {q(0.99):.0f}" if obs else "-"
    rows.append([name, reload, str(r["requests"]), str(r["dropped"]), kinds, str(r["unattributed"]),
                 str(r["reload_failures"]), sw,
                 f"{r['latency_steady_ms']['p99']:.1f} / {r['latency_near_reload_ms']['p99']:.1f}"])
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for row in rows:
    print("| " + " | ".join(row) + " |")
PY
