#!/usr/bin/env bash
# Prints a Postgres base URL (no database name) that answers, starting one if needed:
#   1. $DATABASE_URL when set (its database part is dropped);
#   2. a local server on 127.0.0.1:5432 that lets user `postgres` in;
#   3. a private cluster under data/postgres on port 54329, made with the system's initdb/pg_ctl.
# `scripts/postgres.sh create-db URL` creates URL's database when it does not exist.
# `scripts/postgres.sh drop-test-dbs BASE` drops databases left by earlier test runs.
set -euo pipefail
cd "$(dirname "$0")/.."

find_pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && echo "$found"
}

need() {
  local bin
  bin=$(find_pg_bin "$1") || true
  if [ -z "$bin" ]; then
    echo "error: '$1' not found. Install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql;" >&2
    echo "       macOS: brew install postgresql) or set DATABASE_URL to a server you have." >&2
    exit 1
  fi
  echo "$bin"
}

base_of() { # postgres://user@host:port/db?x → postgres://user@host:port
  echo "$1" | sed -E 's#^(postgres(ql)?://[^/]+).*#\1#'
}

case "${1:-base}" in
  create-db)
    url=$2; base=$(base_of "$url"); db=$(echo "$url" | sed -E 's#^postgres(ql)?://[^/]+/([^?]+).*#\2#')
    psql=$(need psql)
    if ! "$psql" "$base/postgres" -Atqc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
      "$psql" "$base/postgres" -qc "create database \"$db\"" >/dev/null
    fi
    exit 0 ;;
  drop-test-dbs)
    psql=$(need psql)
    for db in $("$psql" "$2/postgres" -Atqc "select datname from pg_database where datname like 'veza_test_%'"); do
      "$psql" "$2/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null || true
    done
    exit 0 ;;
esac

if [ -n "${DATABASE_URL:-}" ]; then
  base_of "$DATABASE_URL"; exit 0
fi

pg_isready=$(find_pg_bin pg_isready || true)
psql=$(find_pg_bin psql || true)
if [ -n "$psql" ] && "$psql" "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3" -Atqc 'select 1' >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:5432"; exit 0
fi

# A private cluster. initdb refuses to run as root, so as root it runs as user `postgres`.
initdb=$(need initdb); pg_ctl=$(need pg_ctl)
dir="$PWD/data/postgres"; port=54329
as_owner=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_owner=(runuser -u postgres --)
fi
if [ ! -s "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir" && chmod 700 "$dir"
  echo "starting a private Postgres cluster in $dir (port $port)" >&2
  "${as_owner[@]}" "$initdb" -D "$dir" -U postgres -A trust --no-sync >/dev/null
fi
if ! "${as_owner[@]}" "$pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  "${as_owner[@]}" "$pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$port"
