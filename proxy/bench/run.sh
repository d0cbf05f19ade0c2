#!/usr/bin/env bash
# Benchmarks tollgate-proxy against calling the upstream directly and against nginx as a plain
# reverse proxy, in one run on this machine. Prints a Markdown table for README.
#
#   ./proxy/bench/run.sh            # 3 rounds of 5 s per measurement; each row is the medians
#   DURATION=10 ROUNDS=5 ./proxy/bench/run.sh
#   PERF_OUT=/tmp/proxy.perf ./proxy/bench/run.sh   # also profile the proxy (perf record), a file per row
#   PERF_CALLS=dwarf PERF_OUT=… ./proxy/bench/run.sh  # with call graphs (dwarf, or fp for a frame-pointer build)
#   SECTIONS=rest ./proxy/bench/run.sh                # some of: rest chat messages mcp chunks limits
#   SECTIONS=instructions ./proxy/bench/run.sh        # instructions per request (valgrind; not in the default)
#   SECTIONS=split ./proxy/bench/run.sh               # where the machine's CPU goes (not in the default)
#   CALLGRIND_OUT=/tmp/cg SECTIONS=instructions …     # also keep the callgrind files there (callgrind_annotate)
#   HOLD=/tmp/bench.env ./proxy/bench/run.sh          # start everything, write the addresses, wait
#
# Upstream: nginx answering 200 "ok" (1 worker). nginx proxy: proxy_pass with keep-alive to the
# upstream. tollgate-proxy: one route with API-key auth, a requests-per-minute limit (set high
# enough never to trigger) and usage recording, configured by a tollgate-server with its own
# private PostgreSQL. Load: wrk at 1 and 64 connections. CPU per request is the proxy's own
# CPU time (user + system, from /proc) divided by the requests it served. A section's rows are
# measured in turn, ROUNDS times over (so a slow minute of the machine hits every row alike),
# and each column printed is the median of its rounds. The run ends with a table of where
# issue 12's goals stand, computed from those medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SECTIONS=" ${SECTIONS:-rest chat messages mcp chunks limits} "
section() { [[ "$SECTIONS" == *" $1 "* ]]; }
WORK=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk; then
  echo "installing nginx and wrk (apt)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq nginx-light wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM_PORT=$(free_port); NGINX_PORT=$(free_port); SERVER_PORT=$(free_port)
PROXY_PORT=$(free_port); METRICS_PORT=$(free_port)

echo "building release binaries" >&2
cargo build --release --locked -q -p tollgate-server -p tollgate-proxy
cargo build --release --locked -q -p tollgate-proxy --example bare_proxy --example mock_mcp --example chunk_latency

# nginx: the upstream (1 worker) and a plain reverse proxy in front of it (auto workers).
nginx_conf() { # name workers server-block
  cat >"$WORK/$1.conf" <<CONF
worker_processes $2;
pid $WORK/$1.pid;
error_log $WORK/$1.error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1-body; proxy_temp_path $WORK/$1-proxy;
  fastcgi_temp_path $WORK/$1-fcgi; uwsgi_temp_path $WORK/$1-uwsgi; scgi_temp_path $WORK/$1-scgi;
  $3
}
CONF
}
nginx_conf upstream 1 "keepalive_requests 1000000; server { listen 127.0.0.1:$UPSTREAM_PORT; location / { return 200 'ok'; } }"
# A fast mock AI provider: fixed chat completion answers (JSON, and SSE for streams), with usage.
COMPLETION='{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
CHUNK='data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"}}]}'
USAGE='data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
# In an nginx double-quoted string: \n is a newline, and inner double quotes are escaped.
SSE=$(printf '%s\\n\\n%s\\n\\n%s\\n\\ndata: [DONE]\\n\\n' "$CHUNK" "$CHUNK" "$USAGE")
SSE=${SSE//\"/\\\"}
# The same answers as Anthropic's Messages API writes them.
MESSAGE='{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":7}}'
anthropic_event() { printf 'event: %s\\ndata: %s\\n\\n' "$1" "$2"; }
MESSAGE_SSE=$(
  anthropic_event message_start '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}'
  anthropic_event content_block_start '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
  anthropic_event content_block_delta '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}'
  anthropic_event content_block_delta '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}'
  anthropic_event content_block_stop '{"type":"content_block_stop","index":0}'
  anthropic_event message_delta '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}'
  anthropic_event message_stop '{"type":"message_stop"}')
MESSAGE_SSE=${MESSAGE_SSE//\"/\\\"}
MOCK_PORT=$(free_port)
nginx_conf mockai 1 "keepalive_requests 1000000; server { listen 127.0.0.1:$MOCK_PORT;
  location = /v1/chat/completions { default_type application/json; return 200 '$COMPLETION'; }
  location = /v1/stream/chat/completions { default_type text/event-stream; return 200 \"$SSE\"; }
  location = /anthropic/v1/messages { default_type application/json; return 200 '$MESSAGE'; }
  location = /anthropic-stream/v1/messages { default_type text/event-stream; return 200 \"$MESSAGE_SSE\"; } }"
nginx_conf nginxproxy auto "upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
  server { listen 127.0.0.1:$NGINX_PORT; keepalive_requests 1000000; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
# nginx relaying the mock AI provider's bytes: the baseline for the AI rows' CPU.
NGINX_AI_PORT=$(free_port)
nginx_conf nginxai auto "upstream mockai { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server { listen 127.0.0.1:$NGINX_AI_PORT; keepalive_requests 1000000; location / { proxy_pass http://mockai; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; } }"
# A mock provider that timestamps its chunks (proxy/examples/chunk_latency.rs), for the
# per-chunk delay of streams, and nginx relaying it: what one more hop costs on this machine.
TS_PORT=$(free_port); NGINX_TS_PORT=$(free_port)
nginx_conf nginxts auto "upstream tsmock { server 127.0.0.1:$TS_PORT; keepalive 16; }
  server { listen 127.0.0.1:$NGINX_TS_PORT; location / { proxy_pass http://tsmock; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; } }"
target/release/examples/chunk_latency serve "127.0.0.1:$TS_PORT" & pids+=($!)
"$NGINX" -c "$WORK/nginxts.conf" & pids+=($!)
"$NGINX" -c "$WORK/upstream.conf" & UPSTREAM_PID=$!; pids+=($UPSTREAM_PID)
"$NGINX" -c "$WORK/nginxproxy.conf" & NGINX_PID=$!; pids+=($NGINX_PID)
"$NGINX" -c "$WORK/mockai.conf" & MOCK_PID=$!; pids+=($MOCK_PID)
"$NGINX" -c "$WORK/nginxai.conf" & NGINX_AI_PID=$!; pids+=($NGINX_AI_PID)
# A fast MCP server (proxy/examples/mock_mcp.rs) for tool calls.
MCP_PORT=$(free_port)
target/release/examples/mock_mcp "127.0.0.1:$MCP_PORT" & MCP_PID=$!; pids+=($MCP_PID)
# The engine's floor: hyper forwarding with nothing else (proxy/examples/bare_proxy.rs).
BARE_PORT=$(free_port)
target/release/examples/bare_proxy "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UPSTREAM_PORT" & BARE_PID=$!; pids+=($BARE_PID)

# tollgate-server with its private PostgreSQL, then the proxy.
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOLLGATE_ADMIN_PASSWORD=bench-password-1 TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn \
  ${SERVER_NICE:+nice -n 19} target/release/tollgate-server --data-dir "$WORK/server" --listen "127.0.0.1:$SERVER_PORT" \
  >"$WORK/server.log" 2>&1 & SERVER_PID=$!; pids+=($SERVER_PID)
for _ in $(seq 120); do curl -fs "http://127.0.0.1:$SERVER_PORT/readyz" >/dev/null && break; sleep 0.5; done
API="http://127.0.0.1:$SERVER_PORT/api/v1"
curl -fs -c "$WORK/cookies" -H 'content-type: application/json' \
  -d '{"email": "admin@localhost", "password": "bench-password-1"}' "$API/auth/login" >/dev/null
# The upstreams run on this machine: let tenants reach loopback (refused by default).
curl -fs -b "$WORK/cookies" -X PUT -H 'content-type: application/json' \
  -d '{"allow": ["127.0.0.1/32"]}' "$API/settings/egress" >/dev/null
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
  -d "{\"name\": \"bench\", \"path\": \"/\", \"targets\": [{\"url\": \"http://127.0.0.1:$UPSTREAM_PORT\"}]}" \
  "$API/tenants/default/routes" >/dev/null
for name in mock:v1 mockstream:v1/stream; do
  curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
    -d "{\"name\": \"${name%%:*}\", \"kind\": \"openai_compatible\", \"base_url\": \"http://127.0.0.1:$MOCK_PORT/${name#*:}\"}" \
    "$API/tenants/default/providers" >/dev/null
done
for name in claude:anthropic claudestream:anthropic-stream; do
  curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
    -d "{\"name\": \"${name%%:*}\", \"kind\": \"anthropic\", \"api_key\": \"sk-bench\", \"base_url\": \"http://127.0.0.1:$MOCK_PORT/${name#*:}\"}" \
    "$API/tenants/default/providers" >/dev/null
  curl -fs -b "$WORK/cookies" -H 'content-type: application/json' -d "{\"name\": \"${name%%:*}\", \"deployments\": [{\"provider\": \"${name%%:*}\", \"model\": \"m\"}],
    \"prices\": {\"input_per_mtok\": \"1\", \"output_per_mtok\": \"5\"}}" "$API/tenants/default/models" >/dev/null
done
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
  -d "{\"name\": \"tsmock\", \"kind\": \"openai_compatible\", \"base_url\": \"http://127.0.0.1:$TS_PORT/v1\"}" \
  "$API/tenants/default/providers" >/dev/null
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' -d '{"name": "chat-ts", "deployments": [{"provider": "tsmock", "model": "m"}],
  "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}' "$API/tenants/default/models" >/dev/null
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' -d '{"name": "chat", "deployments": [{"provider": "mock", "model": "m"}],
  "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}' "$API/tenants/default/models" >/dev/null
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' -d '{"name": "chat-stream", "deployments": [{"provider": "mockstream", "model": "m"}],
  "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}' "$API/tenants/default/models" >/dev/null
curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
  -d "{\"name\": \"bench\", \"url\": \"http://127.0.0.1:$MCP_PORT/mcp\"}" \
  "$API/tenants/default/mcp-servers" >/dev/null
KEY=$(curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
  -d '{"name": "bench", "limits": {"requests_per_minute": 2000000000}}' "$API/tenants/default/keys" \
  | sed -E 's/.*"secret":"([^"]+)".*/\1/')
TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn "${PROXY_BIN:-target/release/tollgate-proxy}" \
  --server-url "http://127.0.0.1:$SERVER_PORT" --listen "127.0.0.1:$PROXY_PORT" \
  --metrics-listen "127.0.0.1:$METRICS_PORT" --data-dir "$WORK/proxy" >"$WORK/proxy.log" 2>&1 & PROXY_PID=$!
pids+=($PROXY_PID)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PROXY_PORT/" | grep -q ok || {
  echo "the proxy does not serve the route" >&2; cat "$WORK/proxy.log" >&2; exit 1; }

# The server's PostgreSQL brought to its steady state first, as in an install that has run a
# while: 30 s of load, then a checkpoint, after which WAL segments are reused. On a fresh
# cluster every segment is new and written full of zeros first (a fifth of PostgreSQL's CPU).
if command -v psql >/dev/null; then
  echo "warming up the usage pipeline (30 s)" >&2
  wrk -t2 -c64 -d30s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PROXY_PORT/" >/dev/null
  PGPASSWORD=$(cat "$WORK/server/postgres.password") psql -h 127.0.0.1 \
    -p "$(sed -n 4p "$WORK/server/postgres/postmaster.pid")" -U tollgate -d tollgate -qc CHECKPOINT
fi

if [ -n "${HOLD:-}" ]; then  # keep everything running for ad-hoc measurements until interrupted
  printf 'KEY=%s\nPROXY=http://127.0.0.1:%s\nBARE=http://127.0.0.1:%s\nNGINX=http://127.0.0.1:%s\nUPSTREAM=http://127.0.0.1:%s\nMOCK=http://127.0.0.1:%s\nNGINX_AI=http://127.0.0.1:%s\nPROXY_PID=%s\nBARE_PID=%s\n' \
    "$KEY" "$PROXY_PORT" "$BARE_PORT" "$NGINX_PORT" "$UPSTREAM_PORT" "$MOCK_PORT" "$NGINX_AI_PORT" "$PROXY_PID" "$BARE_PID" >"$HOLD"
  echo "running; the addresses are in $HOLD" >&2
  wait
fi

cpu_ticks() { # total user+system clock ticks of the given pids
  local total=0 pid
  for pid in "$@"; do
    read -r -a f <"/proc/$pid/stat"
    total=$((total + f[13] + f[14]))
  done
  echo "$total"
}
# An nginx master and its workers.
with_children() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }
TICKS=$(getconf CLK_TCK)

# wrk's durations in µs: 26.00us -> 26, 1.46ms -> 1460, 1.20s -> 1200000.
micros() { sed -E 's/us$/ 1/; s/ms$/ 1000/; s/s$/ 1000000/' | awk '{printf "%.0f", $1 * $2}'; }
# µs as README writes them: 26 µs, 1.46 ms.
duration() { awk '{ if ($1 < 1000) printf "%d µs", $1; else printf "%.2f ms", $1 / 1000 }'; }
ROWS="$WORK/rows"
mkdir -p "$ROWS"

# The proxy's peak memory in a section: VmHWM read, then reset to the current RSS (clear_refs
# 5) for the next section; the run's peak is the largest.
section_peak() { # section
  section "$1" || return 0
  awk -v s="$1" '/^VmHWM/ {print s, $2}' "/proc/$PROXY_PID/status" >>"$WORK/peaks"
  echo 5 >"/proc/$PROXY_PID/clear_refs" 2>/dev/null || true
}

# measure <label> <url> <connections> <pids-to-charge...>: one round of a row, kept for rows_table.
measure() {
  local label=$1 url=$2 conns=$3; shift 3
  local threads=$(( conns < 2 ? 1 : 2 ))
  local before after out
  local script=()
  [ -n "${LUA:-}" ] && script=(-s "$LUA")
  wrk -t"$threads" -c"$conns" -d2s "${script[@]}" -H "Authorization: Bearer $KEY" "$url" >/dev/null  # warm up
  before=$(cpu_ticks "$@")
  local perf_pid=""
  if [ -n "${PERF_OUT:-}" ] && [[ "$label" == tollgate* ]]; then
    local out_file="$PERF_OUT.$conns.$(echo "$label" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-')"
    if [ -n "${PERF_SCHED:-}" ]; then  # scheduler events, machine-wide: `perf sched timehist`
      perf sched record -a -o "$out_file" >/dev/null 2>&1 & perf_pid=$!
    else
      perf record -e cpu-clock -F 1999 ${PERF_CALLS:+--call-graph $PERF_CALLS} -p "$1" -o "$out_file" >/dev/null 2>&1 & perf_pid=$!
    fi
  fi
  out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "${script[@]}" -H "Authorization: Bearer $KEY" "$url")
  after=$(cpu_ticks "$@")
  [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
  local requests rps p50 p99 cpu_us row
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}' | micros)
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}' | micros)
  cpu_us=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  row=$(printf '%s|%s' "$label" "$conns" | md5sum | cut -c1-16)
  [ -f "$ROWS/$row" ] || printf '%s|%s|%s\n' "$row" "$label" "$conns" >>"$ROWS/order"
  echo "$rps $p50 $p99 $cpu_us" >>"$ROWS/$row"
}

# The median of the numbers on standard input, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Prints the rows measured since the last call, in the order first measured: each column the
# median of the row's rounds.
rows_table() {
  [ -f "$ROWS/order" ] || return 0
  local row label conns rps p50 p99 cpu
  while IFS='|' read -r row label conns; do
    rps=$(cut -d' ' -f1 "$ROWS/$row" | median); p50=$(cut -d' ' -f2 "$ROWS/$row" | median)
    p99=$(cut -d' ' -f3 "$ROWS/$row" | median); cpu=$(cut -d' ' -f4 "$ROWS/$row" | median)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$rps" "$(echo "$p50" | duration)" \
      "$(echo "$p99" | duration)" "$cpu"
    printf '%s|%s|%s|%s|%s|%s\n' "$label" "$conns" "$rps" "$p50" "$p99" "$cpu" >>"$WORK/medians"
  done <"$ROWS/order"
  rm -f "$ROWS"/*
}

echo
echo "Machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo); ${DURATION} s per row and round, medians of ${ROUNDS} rounds; wrk; $(date -u +%Y-%m-%d)"
echo
echo "| path | connections | requests/s | p50 | p99 | CPU µs/request (proxy's own) |"
echo "|---|---|---|---|---|---|"
section rest && for _ in $(seq "$ROUNDS"); do for conns in 1 64; do
  measure "upstream direct" "http://127.0.0.1:$UPSTREAM_PORT/" "$conns" $(with_children $UPSTREAM_PID)
  measure "nginx proxy" "http://127.0.0.1:$NGINX_PORT/" "$conns" $(with_children $NGINX_PID)
  measure "bare hyper proxy (forwarding only: the engine's floor)" "http://127.0.0.1:$BARE_PORT/" "$conns" "$BARE_PID"
  measure "tollgate-proxy (key auth, rate limit, usage)" "http://127.0.0.1:$PROXY_PORT/" "$conns" "$PROXY_PID"
done; done
rows_table
if section rest; then
  # wrk's percentiles are corrected for coordinated omission (a stall also counts the requests
  # it kept wrk from sending); this probe times each request as it happened.
  probe_row() { # label url key
    local p50 p99 p999
    read -r p50 p99 p999 < <(python3 proxy/bench/latency.py "$2" "$3" 30000)
    printf '%s|%s|%s\n' "$1" "$p50" "$p99" >>"$WORK/probes"
    printf '| %s | %s µs | %s µs | %s µs |\n' "$1" "$p50" "$p99" "$p999"
  }
  REST_PROBES=$(
    echo
    echo "| one connection, request by request (Python client, no correction) | p50 | p99 | p99.9 |"
    echo "|---|---|---|---|"
    probe_row "nginx proxy" "http://127.0.0.1:$NGINX_PORT/" ""
    probe_row "bare hyper proxy" "http://127.0.0.1:$BARE_PORT/" ""
    probe_row "tollgate-proxy (key auth, rate limit, usage)" "http://127.0.0.1:$PROXY_PORT/" "$KEY")
fi
section_peak rest
# Chat completions: a small request body, POSTed.
chat_lua() { # model stream
  cat >"$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": "$1", "stream": $2, "messages": [{"role": "user", "content": "Say hello"}]}'
LUA
  echo "$WORK/$1.lua"
}
section chat && for _ in $(seq "$ROUNDS"); do for conns in 1 64; do
  LUA=$(chat_lua chat false) measure "mock AI provider direct (chat)" "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" "$conns" $(with_children $MOCK_PID)
  LUA=$(chat_lua chat false) measure "nginx proxy (chat, bytes relayed)" "http://127.0.0.1:$NGINX_AI_PORT/v1/chat/completions" "$conns" $(with_children $NGINX_AI_PID)
  LUA=$(chat_lua chat false) measure "tollgate-proxy /v1/chat/completions" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$conns" "$PROXY_PID"
  LUA=$(chat_lua chat-stream true) measure "mock AI provider direct (stream)" "http://127.0.0.1:$MOCK_PORT/v1/stream/chat/completions" "$conns" $(with_children $MOCK_PID)
  LUA=$(chat_lua chat-stream true) measure "nginx proxy (stream, bytes relayed)" "http://127.0.0.1:$NGINX_AI_PORT/v1/stream/chat/completions" "$conns" $(with_children $NGINX_AI_PID)
  LUA=$(chat_lua chat-stream true) measure "tollgate-proxy /v1/chat/completions, stream" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$conns" "$PROXY_PID"
done; done
rows_table
section_peak chat
# Anthropic's Messages API, relayed to an Anthropic provider.
messages_lua() { # model stream
  cat >"$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model": "$1", "max_tokens": 100, "stream": $2, "messages": [{"role": "user", "content": "Say hello"}]}'
LUA
  echo "$WORK/$1.lua"
}
section messages && for _ in $(seq "$ROUNDS"); do for conns in 1 64; do
  LUA=$(messages_lua claude false) measure "mock Anthropic direct (messages)" "http://127.0.0.1:$MOCK_PORT/anthropic/v1/messages" "$conns" $(with_children $MOCK_PID)
  LUA=$(messages_lua claude false) measure "tollgate-proxy /v1/messages" "http://127.0.0.1:$PROXY_PORT/v1/messages" "$conns" "$PROXY_PID"
  LUA=$(messages_lua claudestream true) measure "mock Anthropic direct (messages, stream)" "http://127.0.0.1:$MOCK_PORT/anthropic-stream/v1/messages" "$conns" $(with_children $MOCK_PID)
  LUA=$(messages_lua claudestream true) measure "tollgate-proxy /v1/messages, stream" "http://127.0.0.1:$PROXY_PORT/v1/messages" "$conns" "$PROXY_PID"
done; done
rows_table
section_peak messages
# MCP tool calls: one tools/call per request (a client without a session; the proxy keeps its
# own session with the server).
mcp_lua() {
  cat >"$WORK/mcp.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}'
LUA
  echo "$WORK/mcp.lua"
}
section mcp && for _ in $(seq "$ROUNDS"); do for conns in 1 64; do
  LUA=$(mcp_lua) measure "mock MCP server direct (tools/call)" "http://127.0.0.1:$MCP_PORT/mcp" "$conns" "$MCP_PID"
  LUA=$(mcp_lua) measure "tollgate-proxy /mcp/bench tools/call" "http://127.0.0.1:$PROXY_PORT/mcp/bench" "$conns" "$PROXY_PID"
done; done
rows_table
section_peak mcp
[ -n "${REST_PROBES:-}" ] && echo "$REST_PROBES"
if section chunks; then
  # Each chunk's delay from being written by the provider to being read by the client, over
  # 5 streams of 200 chunks (one every 2 ms), directly, through nginx and through the proxy.
  chunk_row() { # label url key
    local delays=() p50s=() p99s=()
    for _ in 1 2 3 4 5; do
      read -r p50 p99 _ < <(target/release/examples/chunk_latency read "$2" "$3" chat-ts)
      p50s+=("$p50"); p99s+=("$p99")
    done
    local p50 p99
    p50=$(printf '%s\n' "${p50s[@]}" | sort -n | sed -n 3p); p99=$(printf '%s\n' "${p99s[@]}" | sort -n | sed -n 3p)
    printf '%s|%s\n' "$1" "$p50" >>"$WORK/chunks"
    printf '| %s | %s µs | %s µs |\n' "$1" "$p50" "$p99"
  }
  echo
  echo "| stream chunk delay (provider write → client read; median of 5 streams) | p50 | p99 |"
  echo "|---|---|---|"
  chunk_row "mock provider direct" "http://127.0.0.1:$TS_PORT/v1/chat/completions" ""
  chunk_row "nginx proxy (bytes relayed)" "http://127.0.0.1:$NGINX_TS_PORT/v1/chat/completions" ""
  chunk_row "tollgate-proxy /v1/chat/completions, stream" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$KEY"
fi
section_peak chunks
if section limits; then
  # Limits counted across proxies through Redis: what each mode costs per request, and how
  # closely two proxies under full load hold one key's limit between them.
  need redis-server || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq redis-server >/dev/null; }
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" >/dev/null & REDIS_PID=$!
  pids+=($REDIS_PID)
  for _ in $(seq 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  start_proxy() { # name mode -> "port pid" (run in a subshell: the caller adds the pid to pids)
    local port metrics
    port=$(free_port); metrics=$(free_port)
    TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn TOLLGATE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" TOLLGATE_LIMITS_MODE=$2 \
      "${PROXY_BIN:-target/release/tollgate-proxy}" --server-url "http://127.0.0.1:$SERVER_PORT" \
      --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics" --data-dir "$WORK/proxy-$1" \
      >"$WORK/proxy-$1.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$metrics/metrics" | grep -q '^tollgate_proxy_shared_limits_up 1' && break; sleep 0.2; done
    echo "$port $pid"
  }
  read -r SYNC_PORT SYNC_PID < <(start_proxy sync sync)
  read -r SYNC2_PORT SYNC2_PID < <(start_proxy sync2 sync)
  read -r STRICT_PORT STRICT_PID < <(start_proxy strict strict)
  read -r STRICT2_PORT STRICT2_PID < <(start_proxy strict2 strict)
  pids+=("$SYNC_PID" "$SYNC2_PID" "$STRICT_PID" "$STRICT2_PID")
  # A key with a budget: each call reserves its worst case in Redis and settles when it ends.
  BUDGET_KEY=$(curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
    -d '{"name": "bench-budget", "limits": {"requests_per_minute": 2000000000}, "budget": {"amount_usd": "1000000", "period": "total"}}' \
    "$API/tenants/default/keys" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
  sleep 1.5  # the proxies learn the key
  echo
  echo "| shared limits (Redis on this machine) | connections | requests/s | p50 | p99 | CPU µs/request (proxy + Redis) |"
  echo "|---|---|---|---|---|---|"
  for _ in $(seq "$ROUNDS"); do for conns in 1 64; do
    measure "tollgate-proxy, limits counted alone" "http://127.0.0.1:$PROXY_PORT/" "$conns" "$PROXY_PID"
    measure "tollgate-proxy, shared: sync mode" "http://127.0.0.1:$SYNC_PORT/" "$conns" "$SYNC_PID" "$REDIS_PID"
    measure "tollgate-proxy, shared: strict mode" "http://127.0.0.1:$STRICT_PORT/" "$conns" "$STRICT_PID" "$REDIS_PID"
    LUA=$(chat_lua chat false) measure "chat, limits counted alone" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$conns" "$PROXY_PID"
    LUA=$(chat_lua chat false) measure "chat, shared: sync mode" "http://127.0.0.1:$SYNC_PORT/v1/chat/completions" "$conns" "$SYNC_PID" "$REDIS_PID"
    LUA=$(chat_lua chat false) measure "chat, shared: strict mode" "http://127.0.0.1:$STRICT_PORT/v1/chat/completions" "$conns" "$STRICT_PID" "$REDIS_PID"
    KEY=$BUDGET_KEY LUA=$(chat_lua chat false) measure "chat, budget held in Redis (sync mode)" "http://127.0.0.1:$SYNC_PORT/v1/chat/completions" "$conns" "$SYNC_PID" "$REDIS_PID"
  done; done
  rows_table
  # Accuracy: two proxies, 32 connections each, 5 s, one key allowed 6,000 a minute (all of it
  # within the run, which is shorter than the window).
  accuracy() { # label port-a port-b
    local key out_a out_b total refused
    key=$(curl -fs -b "$WORK/cookies" -H 'content-type: application/json' \
      -d "{\"name\": \"acc-$RANDOM\", \"limits\": {\"requests_per_minute\": 6000}}" "$API/tenants/default/keys" \
      | sed -E 's/.*"secret":"([^"]+)".*/\1/')
    sleep 1.5  # the proxies learn the key
    # Limits count per sliding minute: 5 s that straddle two minutes would see the first
    # minute's weight fade (and admit more). Start with the minute's most part ahead.
    local second; second=$(date +%S); second=${second#0}
    [ "$second" -gt 50 ] && sleep $((61 - second))
    wrk -t1 -c32 -d5s -H "Authorization: Bearer $key" "http://127.0.0.1:$2/" >"$WORK/acc-a" & local wa=$!
    wrk -t1 -c32 -d5s -H "Authorization: Bearer $key" "http://127.0.0.1:$3/" >"$WORK/acc-b"
    wait "$wa"
    total=$(cat "$WORK/acc-a" "$WORK/acc-b" | awk '/requests in/ {s += $1} END {print s}')
    refused=$(cat "$WORK/acc-a" "$WORK/acc-b" | awk '/Non-2xx/ {s += $NF} END {print s + 0}')
    printf '| %s | %s | %s |\n' "$1" "$((total - refused))" "$total"
  }
  echo
  echo "| two proxies, one key allowed 6,000 a minute, 5 s of load | admitted | requests |"
  echo "|---|---|---|"
  accuracy "shared: sync mode (every 100 ms)" "$SYNC_PORT" "$SYNC2_PORT"
  accuracy "shared: strict mode" "$STRICT_PORT" "$STRICT2_PORT"
fi
section_peak limits
if section split; then
  # Where the whole machine's CPU goes per REST request at 64 connections, by process: through
  # nginx, everything is wrk, the upstream and nginx; through the proxy, the server and
  # PostgreSQL storing each usage event share the cores too. The machine's figure is all busy
  # time in /proc/stat over the requests served, so requests/s on these cores is about
  # 2 s / (machine µs per request).
  busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
  split_round() { # label url proxy-pids...
    local label=$1 url=$2 pg_pids before after out requests; shift 2
    pg_pids="$(sed -n 1p "$WORK/server/postgres/postmaster.pid")"
    pg_pids="$pg_pids $(pgrep -P "$pg_pids" | tr '\n' ' ')"
    wrk -t2 -c64 -d2s -H "Authorization: Bearer $KEY" "$url" >/dev/null
    before="$(cpu_ticks "$@") $(cpu_ticks "$SERVER_PID") $(cpu_ticks $pg_pids) $(busy_ticks)"
    out=$(wrk -t2 -c64 -d"${DURATION}s" -H "Authorization: Bearer $KEY" "$url")
    after="$(cpu_ticks "$@") $(cpu_ticks "$SERVER_PID") $(cpu_ticks $pg_pids) $(busy_ticks)"
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$before $after" | awk -v n="$requests" -v hz="$TICKS" -v d="$DURATION" -v l="$label" '{
      f = 1e6 / hz / n
      printf "%s|%.0f|%.1f|%.1f|%.1f|%.1f\n", l, n / d, ($5 - $1) * f, ($6 - $2) * f, ($7 - $3) * f, ($8 - $4) * f }'
  }
  for _ in $(seq "$ROUNDS"); do
    split_round "nginx proxy" "http://127.0.0.1:$NGINX_PORT/" $(with_children $NGINX_PID)
    split_round "tollgate-proxy (key auth, rate limit, usage)" "http://127.0.0.1:$PROXY_PORT/" "$PROXY_PID"
  done >"$WORK/split"
  echo
  echo "| CPU µs per request at 64 connections, by process (medians of $ROUNDS rounds) | requests/s | the proxy | tollgate-server | PostgreSQL | whole machine |"
  echo "|---|---|---|---|---|---|"
  for label in "nginx proxy" "tollgate-proxy (key auth, rate limit, usage)"; do
    row="| $label |"
    for column in 2 3 4 5 6; do
      row="$row $(awk -F'|' -v l="$label" -v c="$column" '$1 == l {print $c}' "$WORK/split" | median) |"
    done
    echo "$row"
  done
fi
if section instructions; then
  # User-space instructions per request, counted by valgrind's callgrind: exact and repeatable
  # where CPU time on a shared machine moves by 10-30% between minutes, so it judges a change
  # to the request path (not the kernel's part, nor wake-ups). A second proxy and a second bare
  # proxy run under callgrind; counting starts after a warm-up and covers 20 s of REST load at
  # 8 connections; the figure is everything the process ran, divided by the requests served.
  if ! need valgrind; then
    echo "installing valgrind (apt)" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -qq valgrind >/dev/null
  fi
  count_instructions() { # label url key command...
    local label=$1 url=$2 key=$3; shift 3
    local out="$WORK/callgrind.$RANDOM"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$out.log" 2>&1 & local vpid=$!
    for _ in $(seq 240); do
      curl -fs ${key:+-H "Authorization: Bearer $key"} ${BODY:+-H "Content-Type: application/json" -d "$BODY"} \
        "$url" >/dev/null 2>&1 && break; sleep 0.5
    done
    local script=()
    [ -n "${LUA:-}" ] && script=(-s "$LUA")
    wrk -t1 -c8 -d5s "${script[@]}" ${key:+-H "Authorization: Bearer $key"} "$url" >/dev/null
    callgrind_control -z "$vpid" >/dev/null 2>&1
    local requests
    requests=$(wrk -t1 -c8 -d20s "${script[@]}" ${key:+-H "Authorization: Bearer $key"} "$url" | awk '/requests in/ {print $1}')
    callgrind_control -d "$vpid" >/dev/null 2>&1
    kill "$vpid"; wait "$vpid" 2>/dev/null || true
    local total
    total=$(awk '/^totals:/ {print $2}' "$out".* | tail -1)
    if [ -n "${CALLGRIND_OUT:-}" ]; then
      mkdir -p "$CALLGRIND_OUT"
      local file
      for file in "$out".*; do cp "$file" "$CALLGRIND_OUT/${label%% *}.${file##*.}.$requests"; done
    fi
    printf '| %s | %s |\n' "$label" "$(awk -v t="$total" -v n="$requests" 'BEGIN { printf "%.1fk", t / n / 1000 }')"
  }
  CG_BARE_PORT=$(free_port); CG_PROXY_PORT=$(free_port); CG_METRICS_PORT=$(free_port)
  echo
  echo "| user-space instructions per request (callgrind, 8 connections) | instructions |"
  echo "|---|---|"
  count_instructions "bare hyper proxy" "http://127.0.0.1:$CG_BARE_PORT/" "" \
    target/release/examples/bare_proxy "127.0.0.1:$CG_BARE_PORT" "http://127.0.0.1:$UPSTREAM_PORT"
  TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn count_instructions "tollgate-proxy (key auth, rate limit, usage)" \
    "http://127.0.0.1:$CG_PROXY_PORT/" "$KEY" "${PROXY_BIN:-target/release/tollgate-proxy}" \
    --server-url "http://127.0.0.1:$SERVER_PORT" --listen "127.0.0.1:$CG_PROXY_PORT" \
    --metrics-listen "127.0.0.1:$CG_METRICS_PORT" --data-dir "$WORK/proxy-callgrind"
  LUA=$(chat_lua chat false) BODY='{"model": "chat", "messages": [{"role": "user", "content": "Say hello"}]}' \
    TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn count_instructions \
    "tollgate-proxy /v1/chat/completions (chat)" "http://127.0.0.1:$CG_PROXY_PORT/v1/chat/completions" "$KEY" \
    "${PROXY_BIN:-target/release/tollgate-proxy}" \
    --server-url "http://127.0.0.1:$SERVER_PORT" --listen "127.0.0.1:$CG_PROXY_PORT" \
    --metrics-listen "127.0.0.1:$CG_METRICS_PORT" --data-dir "$WORK/proxy-callgrind"
  LUA=$(chat_lua chat-stream true) BODY='{"model": "chat-stream", "stream": true, "messages": [{"role": "user", "content": "Say hello"}]}' \
    TOLLGATE_PROXY_TOKEN=$TOKEN RUST_LOG=warn count_instructions \
    "tollgate-proxy /v1/chat/completions, stream (stream)" "http://127.0.0.1:$CG_PROXY_PORT/v1/chat/completions" "$KEY" \
    "${PROXY_BIN:-target/release/tollgate-proxy}" \
    --server-url "http://127.0.0.1:$SERVER_PORT" --listen "127.0.0.1:$CG_PROXY_PORT" \
    --metrics-listen "127.0.0.1:$CG_METRICS_PORT" --data-dir "$WORK/proxy-callgrind"
fi
dropped=$(curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^tollgate_proxy_usage_dropped_events_total/ {print $2}')
echo
echo "Usage events dropped by the proxy during the run: ${dropped:-0}"
awk '/^VmHWM/ {print "end", $2}' "/proc/$PROXY_PID/status" >>"$WORK/peaks"
PEAK_MIB=$(awk '$2 > max {max = $2} END {printf "%.1f", max / 1024}' "$WORK/peaks")
echo "tollgate-proxy peak memory (VmHWM) over the run: $PEAK_MIB MiB ($(awk '$1 != "end" {printf "%s%s %.1f", sep, $1, $2 / 1024; sep = ", "}' "$WORK/peaks"))"
# Where issue 12's goals stand in this run, from the medians printed above (a goal whose rows
# this run's sections did not measure is left out).
files=(); for f in medians probes chunks; do [ -f "$WORK/$f" ] && files+=("$WORK/$f"); done
[ "${#files[@]}" -gt 0 ] && awk -F'|' -v peak="$PEAK_MIB" '
  FILENAME ~ /medians$/ { k = $1 "|" $2; rps[k] = $3; p50[k] = $4; p99[k] = $5; cpu[k] = $6; next }
  FILENAME ~ /probes$/ { probe99[$1] = $3; next }
  FILENAME ~ /chunks$/ { chunk[$1] = $2; next }
  function row(goal, value, met) { printf "| %s | %s | %s |\n", goal, value, met ? "met" : "not met" }
  function cpu_goal(what, proxy, nginx, conns, limit,   r) {
    if (!((proxy "|" conns) in cpu) || !((nginx "|" conns) in cpu)) return
    r = cpu[proxy "|" conns] / cpu[nginx "|" conns]
    row(sprintf("%s CPU per request, %s connection%s: ≤ %.1f× nginx", what, conns == 1 ? "one" : conns, conns == 1 ? "" : "s", limit),
      sprintf("%.2f× (%s against %s µs)", r, cpu[proxy "|" conns], cpu[nginx "|" conns]), r <= limit)
  }
  END {
    print ""; print "| goal (issue 12) | this run | |"; print "|---|---|---|"
    n = "nginx proxy"; t = "tollgate-proxy (key auth, rate limit, usage)"
    cpu_goal("REST", t, n, 64, 1.3)
    if ((t "|64") in rps && (n "|64") in rps) {
      r = rps[t "|64"] / rps[n "|64"]
      row("REST requests/s, 64 connections: ≥ 0.9× nginx", sprintf("%.2f×", r), r >= 0.9)
    }
    if ((t "|1") in p50 && (n "|1") in p50) {
      d = p50[t "|1"] - p50[n "|1"]
      row("REST p50, one connection: ≤ 30 µs over nginx", sprintf("%+d µs (%d against %d µs)", d, p50[t "|1"], p50[n "|1"]), d <= 30)
      r = p99[t "|1"] / p99[n "|1"]
      row("REST p99, one connection (wrk): ≤ 2× nginx", sprintf("%.2f× (%d against %d µs)", r, p99[t "|1"], p99[n "|1"]), r <= 2)
    }
    if ((t in probe99) && (n in probe99)) {
      r = probe99[t] / probe99[n]
      row("REST p99, one connection (request by request): ≤ 2× nginx", sprintf("%.2f× (%d against %d µs)", r, probe99[t], probe99[n]), r <= 2)
    }
    chat = "tollgate-proxy /v1/chat/completions"; nginx_chat = "nginx proxy (chat, bytes relayed)"
    stream = "tollgate-proxy /v1/chat/completions, stream"; nginx_stream = "nginx proxy (stream, bytes relayed)"
    cpu_goal("Chat", chat, nginx_chat, 64, 1.5); cpu_goal("Chat", chat, nginx_chat, 1, 1.5)
    cpu_goal("Stream", stream, nginx_stream, 64, 2); cpu_goal("Stream", stream, nginx_stream, 1, 2)
    d0 = "mock provider direct"; dp = "tollgate-proxy /v1/chat/completions, stream"; dn = "nginx proxy (bytes relayed)"
    if ((d0 in chunk) && (dp in chunk)) {
      d = chunk[dp] - chunk[d0]
      row("Stream chunk delay p50: ≤ 50 µs over the provider direct", sprintf("+%d µs (nginx: +%d µs)", d, chunk[dn] - chunk[d0]), d <= 50)
    }
    row("Proxy peak memory over the run: ≤ 64 MiB", peak " MiB", peak <= 64)
  }' "${files[@]}"
