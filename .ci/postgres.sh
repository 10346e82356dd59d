#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the gallery-store tests (Debian's packages, trust auth, 127.0.0.1 only)
# and print the URL to export as FACEID_TEST_POSTGRES. Usage: eval "$(bash .ci/postgres.sh)"
# FACEID_PG_DIR (data folder, default a temp dir) and FACEID_PG_PORT (default a free port) change where it runs;
# stop it with: runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/pg_ctl" -D "$FACEID_PG_DIR" stop
set -euo pipefail
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
dir="${FACEID_PG_DIR:-$(mktemp -d /tmp/faceid-pg.XXXXXX)}"
[ -f "$dir/port" ] && FACEID_PG_PORT="${FACEID_PG_PORT:-$(cat "$dir/port")}"
port="${FACEID_PG_PORT:-$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}"
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$dir"
echo "$port" >"$dir/port"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  run "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
fi
if ! run "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  run "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >&2
fi
psql_() { run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
psql_ -c "SELECT 1 FROM pg_roles WHERE rolname = 'faceid'" | grep -q 1 || psql_ -c "CREATE ROLE faceid LOGIN" >&2
psql_ -c "SELECT 1 FROM pg_database WHERE datname = 'faceid_test'" | grep -q 1 ||
  psql_ -c "CREATE DATABASE faceid_test OWNER faceid" >&2
echo "export FACEID_TEST_POSTGRES=postgresql://faceid@127.0.0.1:$port/faceid_test"
echo "export FACEID_PG_DIR=$dir"
