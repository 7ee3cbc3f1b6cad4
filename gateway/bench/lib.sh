# Shared by the gateway's bench scripts (sourced, not run): a scratch folder ($WORK) for
# configs and logs, the pids of what they start (PIDS, stopped by `stop_started` at exit),
# free loopback ports, and the two nginx processes they measure against: the upstream
# answering a fixed OpenAI-style completion, and nginx as a plain proxy of it.
#
# PIN (1 by default) pins the proxies' threads to CPUs, each with its own setting: the
# gateway's `gateway.pin_workers: true` (GW_PIN, for the configs the scripts write) and
# nginx's `worker_cpu_affinity auto`. PIN=0 runs both unpinned.
PIN=${PIN:-1}
if [ "$PIN" = 1 ]; then GW_PIN="pin_workers: true, "; NGX_PIN="worker_cpu_affinity auto; "; else GW_PIN=""; NGX_PIN=""; fi

WORK=$(mktemp -d)
PIDS=()
# Stop every process this script started, by its pid. A script that starts more (the
# restarts' successors) sets its own trap and calls this from it.
stop_started() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_started EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_upstream PORT: nginx answering every request with a fixed chat completion.
bench_upstream() {
  cat > "$WORK/upstream.conf" <<NGINX
worker_processes 1; daemon off; pid $WORK/upstream.pid; error_log $WORK/upstream.err;
events { worker_connections 4096; }
http { access_log off;
  server { listen 127.0.0.1:$1; keepalive_requests 1000000;
    location / { default_type application/json;
      return 200 '{"id":"up","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}]}'; } } }
NGINX
  nginx -c "$WORK/upstream.conf" -p "$WORK" & PIDS+=($!)
}

# bench_nginx_proxy PORT UPSTREAM_PORT: nginx proxying to the upstream, one worker process
# (pinned unless PIN=0), upstream keep-alive. Its master's pid is the last of PIDS.
bench_nginx_proxy() {
  cat > "$WORK/proxy.conf" <<NGINX
worker_processes 1; ${NGX_PIN}daemon off; pid $WORK/proxy.pid; error_log $WORK/proxy.err;
events { worker_connections 4096; }
http { access_log off; upstream up { server 127.0.0.1:$2; keepalive 64; }
  server { listen 127.0.0.1:$1; keepalive_requests 1000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
  nginx -c "$WORK/proxy.conf" -p "$WORK" & PIDS+=($!)
}
