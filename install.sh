#!/usr/bin/env bash
# Installs and runs Tollgate on this machine: checks for Rust and PostgreSQL (installing
# PostgreSQL when it is missing and we may), builds the release binaries, and starts
# tollgate-server (with its private PostgreSQL cluster in ./data) and tollgate-proxy in the
# background. Safe to re-run: it rebuilds, restarts both, and keeps all data.
#
# Environment: TOLLGATE_DATA_DIR (default ./data), TOLLGATE_LISTEN (server, default
# 127.0.0.1:8001), TOLLGATE_PROXY_LISTEN (proxy, default 0.0.0.0:8000), TOLLGATE_ADMIN_EMAIL /
# TOLLGATE_ADMIN_PASSWORD (first start only), DATABASE_URL (use an existing database instead of
# the private cluster).
set -euo pipefail
cd "$(dirname "$0")"

DATA_DIR=${TOLLGATE_DATA_DIR:-$PWD/data}
LISTEN=${TOLLGATE_LISTEN:-127.0.0.1:8001}
ADMIN_EMAIL=${TOLLGATE_ADMIN_EMAIL:-admin@localhost}
PROXY_LISTEN=${TOLLGATE_PROXY_LISTEN:-0.0.0.0:8000}
METRICS_LISTEN=${TOLLGATE_METRICS_LISTEN:-127.0.0.1:9000}
BIN=target/release/tollgate-server
PIDFILE=$DATA_DIR/tollgate-server.pid
LOG=$DATA_DIR/tollgate-server.log
PROXY_PIDFILE=$DATA_DIR/tollgate-proxy.pid
PROXY_LOG=$DATA_DIR/tollgate-proxy.log
TOKEN_FILE=$DATA_DIR/proxy-token

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

have_postgres() {
  command -v initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

install_postgres() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "PostgreSQL is missing and there is no sudo: install PostgreSQL, or set DATABASE_URL"
    sudo=sudo
  fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $sudo dnf install -y -q postgresql-server
  elif command -v brew >/dev/null 2>&1; then
    brew install postgresql@16 && brew link --force postgresql@16
  else
    die "PostgreSQL is missing and no apt-get, dnf or brew was found: install PostgreSQL, or set DATABASE_URL"
  fi
}

command -v cargo >/dev/null 2>&1 || die "cargo was not found: install Rust (https://rustup.rs) and run ./install.sh again"

if [ -z "${DATABASE_URL:-}" ] && ! have_postgres; then
  say "PostgreSQL was not found; installing it"
  install_postgres
  have_postgres || die "PostgreSQL was installed but initdb is still not found; set DATABASE_URL instead"
fi

say "building Tollgate (release; the first build takes several minutes)"
cargo build --release --locked -p tollgate-server -p tollgate-proxy -p tollgate-cli

mkdir -p "$DATA_DIR"
stop_running() { # name pidfile
  if [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
    say "stopping the running $1 (pid $(cat "$2"))"
    kill -TERM "$(cat "$2")"
    for _ in $(seq 60); do kill -0 "$(cat "$2")" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$(cat "$2")" 2>/dev/null; then
      die "the running $1 did not stop; stop it and run ./install.sh again"
    fi
  fi
}
stop_running proxy "$PROXY_PIDFILE"
stop_running server "$PIDFILE"

# The token proxies present to the server: made once, readable by this user only.
if [ -n "${TOLLGATE_PROXY_TOKEN:-}" ]; then
  PROXY_TOKEN=$TOLLGATE_PROXY_TOKEN
else
  if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077; tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$TOKEN_FILE" || true)
  fi
  PROXY_TOKEN=$(cat "$TOKEN_FILE")
fi

# The password applies only if this start creates the admin; the server says so in its log.
ADMIN_PASSWORD=${TOLLGATE_ADMIN_PASSWORD:-$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)}
log_start=$( [ -f "$LOG" ] && wc -c <"$LOG" || echo 0 )

say "starting tollgate-server on $LISTEN (log: $LOG)"
TOLLGATE_DATA_DIR="$DATA_DIR" TOLLGATE_LISTEN="$LISTEN" TOLLGATE_ADMIN_EMAIL="$ADMIN_EMAIL" \
  TOLLGATE_ADMIN_PASSWORD="$ADMIN_PASSWORD" TOLLGATE_PROXY_TOKEN="$PROXY_TOKEN" \
  nohup "$BIN" >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 240); do
  curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "tollgate-server stopped; see $LOG"; }
  sleep 0.5
done
curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 || { tail -n 30 "$LOG" >&2; die "tollgate-server did not become ready; see $LOG"; }

say "starting tollgate-proxy on $PROXY_LISTEN (log: $PROXY_LOG)"
TOLLGATE_SERVER_URL="http://$LISTEN" TOLLGATE_PROXY_LISTEN="$PROXY_LISTEN" \
  TOLLGATE_METRICS_LISTEN="$METRICS_LISTEN" TOLLGATE_PROXY_DATA_DIR="$DATA_DIR/proxy" \
  TOLLGATE_PROXY_TOKEN="$PROXY_TOKEN" nohup target/release/tollgate-proxy >>"$PROXY_LOG" 2>&1 </dev/null &
echo $! >"$PROXY_PIDFILE"
for _ in $(seq 60); do
  curl -fsS "http://$METRICS_LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$PROXY_PIDFILE")" 2>/dev/null || { tail -n 30 "$PROXY_LOG" >&2; die "tollgate-proxy stopped; see $PROXY_LOG"; }
  sleep 0.5
done

echo
echo "  Tollgate is running."
echo "    console:   http://$LISTEN/"
echo "    API docs:  http://$LISTEN/api/docs"
echo "    proxy:     http://$PROXY_LISTEN/  (metrics: http://$METRICS_LISTEN/metrics)"
if tail -c +"$((log_start + 1))" "$LOG" | grep -q "created the platform admin"; then
  echo "    admin:     $ADMIN_EMAIL"
  echo "    password:  $ADMIN_PASSWORD"
  echo "  Keep the password now: it is not shown again."
else
  echo "    admin:     the account created at first install (its password was shown then)"
fi
echo "  Upstreams on this machine (127.0.0.1) are refused until a platform admin allows them:"
echo "    PUT /api/v1/settings/egress {\"allow\": [\"127.0.0.1/32\"]}  (see README, Security model)"
echo "  Stop:  kill \$(cat $PROXY_PIDFILE) \$(cat $PIDFILE)"
