#!/usr/bin/env bash
# Installs and runs Tollgate on this machine: checks for Rust and PostgreSQL (installing
# PostgreSQL when it is missing and we may), builds the release binaries, and starts
# tollgate-server in the background with its private PostgreSQL cluster in ./data.
# Safe to re-run: it rebuilds, restarts the server, and keeps all data.
#
# Environment: TOLLGATE_DATA_DIR (default ./data), TOLLGATE_LISTEN (default 127.0.0.1:8001),
# TOLLGATE_ADMIN_EMAIL / TOLLGATE_ADMIN_PASSWORD (first start only), DATABASE_URL (use an
# existing database instead of the private cluster).
set -euo pipefail
cd "$(dirname "$0")"

DATA_DIR=${TOLLGATE_DATA_DIR:-$PWD/data}
LISTEN=${TOLLGATE_LISTEN:-127.0.0.1:8001}
ADMIN_EMAIL=${TOLLGATE_ADMIN_EMAIL:-admin@localhost}
BIN=target/release/tollgate-server
PIDFILE=$DATA_DIR/tollgate-server.pid
LOG=$DATA_DIR/tollgate-server.log

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
cargo build --release --locked -p tollgate-server -p tollgate-proxy

mkdir -p "$DATA_DIR"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  say "stopping the running server (pid $(cat "$PIDFILE"))"
  kill -TERM "$(cat "$PIDFILE")"
  for _ in $(seq 60); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null && die "the running server did not stop; stop it and run ./install.sh again"
fi

# The password applies only if this start creates the admin; the server says so in its log.
ADMIN_PASSWORD=${TOLLGATE_ADMIN_PASSWORD:-$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)}
log_start=$( [ -f "$LOG" ] && wc -c <"$LOG" || echo 0 )

say "starting tollgate-server on $LISTEN (log: $LOG)"
TOLLGATE_DATA_DIR="$DATA_DIR" TOLLGATE_LISTEN="$LISTEN" TOLLGATE_ADMIN_EMAIL="$ADMIN_EMAIL" \
  TOLLGATE_ADMIN_PASSWORD="$ADMIN_PASSWORD" nohup "$BIN" >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 240); do
  curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "tollgate-server stopped; see $LOG"; }
  sleep 0.5
done
curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 || { tail -n 30 "$LOG" >&2; die "tollgate-server did not become ready; see $LOG"; }

echo
echo "  Tollgate is running."
echo "    console:   http://$LISTEN/"
echo "    API docs:  http://$LISTEN/api/docs"
if tail -c +"$((log_start + 1))" "$LOG" | grep -q "created the platform admin"; then
  echo "    admin:     $ADMIN_EMAIL"
  echo "    password:  $ADMIN_PASSWORD"
  echo "  Keep the password now: it is not shown again."
else
  echo "    admin:     the account created at first install (its password was shown then)"
fi
echo "  Stop:  kill \$(cat $PIDFILE)"
