#!/usr/bin/env bash
# Runs Tollgate's test suite against real PostgreSQL.
# Uses DATABASE_URL when it is set (a role that may create databases); otherwise starts a
# private, throw-away PostgreSQL cluster from the installed binaries for this run (as the
# 'postgres' user when run as root, since PostgreSQL refuses root) and removes it afterwards.
# Installs what the tests need when missing: the OpenAI Python SDK (in target/test-python),
# Debian's chromium + chromium-driver for the console's browser test, redis-server, and the
# oidc-provider npm package (in target/test-node) for the single sign-on tests.
# Extra arguments go to `cargo nextest run` (or `cargo test`), e.g. ./test.sh -p tollgate-server keys
set -euo pipefail
cd "$(dirname "$0")"

find_pg_bin() {
  local candidates=()
  command -v initdb >/dev/null 2>&1 && candidates+=("$(dirname "$(command -v initdb)")")
  command -v pg_config >/dev/null 2>&1 && candidates+=("$(pg_config --bindir)")
  candidates+=($(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV))
  local dir
  for dir in "${candidates[@]}"; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

if [ -z "${DATABASE_URL:-}" ]; then
  bin=$(find_pg_bin) || {
    echo "test.sh: PostgreSQL binaries (initdb, pg_ctl) not found. Install PostgreSQL" \
         "(apt-get install postgresql) or set DATABASE_URL." >&2
    exit 1
  }
  pgdir=$(mktemp -d /tmp/tollgate-test-pg.XXXXXX)
  chmod 755 "$pgdir"
  as_owner=()
  if [ "$(id -u)" = 0 ]; then
    owner=postgres
    id -u postgres >/dev/null 2>&1 || owner=nobody
    chown "$owner" "$pgdir"
    as_owner=(runuser -u "$owner" --)
  fi
  cleanup() {
    "${as_owner[@]}" "$bin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$pgdir"
  }
  trap cleanup EXIT
  "${as_owner[@]}" "$bin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
  started=""
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    if "${as_owner[@]}" "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
         -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 -c fsync=off" \
         start >/dev/null; then
      started=1; break
    fi
  done
  [ -n "$started" ] || { cat "$pgdir/server.log" >&2; echo "test.sh: PostgreSQL did not start" >&2; exit 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "test.sh: private PostgreSQL on 127.0.0.1:$port"
fi

# The official OpenAI and Anthropic Python SDKs, used as unmodified clients against the proxy,
# jsonschema, which checks documents against the published configuration schema, and the MCP
# SDK, whose servers play remote MCP servers.
if [ -z "${TOLLGATE_TEST_PYTHON:-}" ]; then
  venv=target/test-python
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openai, anthropic, jsonschema, mcp' 2>/dev/null; then
    echo "test.sh: installing the OpenAI, Anthropic and MCP Python SDKs into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'openai>=1.40,<3' 'anthropic>=0.40,<1' 'jsonschema>=4.18,<5' 'mcp>=1.9,<2'
  fi
  export TOLLGATE_TEST_PYTHON="$PWD/$venv/bin/python"
fi

# Headless Chromium and its WebDriver for the console's browser test.
if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver for the browser test"
    "${as_root[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "test.sh: the browser test needs Chromium and chromedriver on PATH; install them" >&2
    exit 1
  fi
fi

# Node.js and the certified `oidc-provider` package: a real OpenID Provider for the single
# sign-on and JWT tests.
if [ -z "${TOLLGATE_TEST_NODE_DIR:-}" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    as_root=()
    [ "$(id -u)" = 0 ] || as_root=(sudo)
    if command -v apt-get >/dev/null 2>&1; then
      echo "test.sh: installing Node.js for the OpenID Provider"
      "${as_root[@]}" apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "test.sh: the SSO tests need Node.js and npm on PATH; install them" >&2
      exit 1
    fi
  fi
  nodedir=target/test-node
  if [ ! -f "$nodedir/node_modules/oidc-provider/package.json" ]; then
    echo "test.sh: installing oidc-provider into $nodedir"
    mkdir -p "$nodedir"
    (cd "$nodedir" && npm install --no-audit --no-fund --silent oidc-provider@8.8.1 >/dev/null)
  fi
  export TOLLGATE_TEST_NODE_DIR="$PWD/$nodedir"
fi

# Redis 7 for the limits shared across proxies.
if ! command -v redis-server >/dev/null 2>&1; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing redis-server for the shared-limits tests"
    "${as_root[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server >/dev/null
  else
    echo "test.sh: the shared-limits tests need redis-server on PATH; install it" >&2
    exit 1
  fi
fi

# cargo-nextest runs every test in its own process, across all test binaries at once; plain
# `cargo test` runs the binaries one after another.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked "$@"
fi
