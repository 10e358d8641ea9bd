#!/usr/bin/env bash
# A throw-away PostgreSQL server for the cluster tests and benchmark:
#   scripts/pg.sh start DIR PORT [SOCKET_DIR]   # prints the database URL
#                                  # (its local socket in SOCKET_DIR, else DIR)
#   scripts/pg.sh stop DIR
# Debian's `postgresql` package (scripts/setup.sh --test installs it); the
# server listens on 127.0.0.1:PORT only, trusts local connections (nothing
# else can reach it) and keeps everything under DIR. With PG_PASSWORD set,
# it asks for that password instead (SCRAM-SHA-256), and the URL has it. As root, the server
# runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
cmd="${1:?usage: pg.sh start DIR PORT | stop DIR}"
dir="${2:?a directory}"
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")"
[ -x "$bin/initdb" ] || { echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    port="${3:?a port}"
    sockets="${4:-$dir}"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    auth=(-A trust)
    user=wasmjobs
    if [ -n "${PG_PASSWORD:-}" ]; then
      printf '%s\n' "$PG_PASSWORD" > "$dir/pwfile"
      [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pwfile"
      auth=(-A scram-sha-256 --pwfile="$dir/pwfile")
      user="wasmjobs:$PG_PASSWORD"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir/data" "${auth[@]}" -U wasmjobs -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $sockets -c max_connections=300 -c fsync=off -c synchronous_commit=off" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://$user@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "pg.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
