#!/usr/bin/env bash
# A throw-away PostgreSQL 15 server on loopback for the upstream tests and benchmarks: initdb into
# a directory, no system service. Runs the server as the `postgres` user when started by root
# (initdb refuses root).
#
#   pg-test-server.sh start DIR [PORT]   initdb (first time) and start; prints the superuser DSN
#   pg-test-server.sh stop DIR [fast|immediate]
#   pg-test-server.sh dsn DIR            prints the superuser DSN of a started server
#
# The superuser is `zg_super`; its password is in DIR/superuser.pass and the DSN names it with
# `passfile`, so no password appears on a command line. Local (UNIX socket, in DIR) connections
# are trusted; TCP connections on 127.0.0.1 need scram-sha-256.
set -euo pipefail

bindir=""
for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [[ -x "$d/pg_ctl" ]]; then bindir="$d"; break; fi
done
if [[ -z "$bindir" ]]; then
  echo "pg-test-server: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2
  exit 2
fi

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd="${1:-}"
dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

dsn() {
  local port
  port="$(cat "$dir/port")"
  echo "host=127.0.0.1 port=${port} dbname=zonegate user=zg_super passfile=${dir}/pgpass sslmode=disable"
}

case "$cmd" in
  start)
    port="${3:-$((20000 + RANDOM % 20000))}"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
      head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/superuser.pass"
      chmod 600 "$dir/superuser.pass"
      [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/superuser.pass"
      as_owner "$bindir/initdb" -D "$dir/data" -U zg_super --pwfile="$dir/superuser.pass" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
      echo "127.0.0.1:*:*:zg_super:$(cat "$dir/superuser.pass")" >"$dir/pgpass"
      chmod 600 "$dir/pgpass"
    fi
    echo "$port" >"$dir/port"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/port"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories='${dir}' -c fsync=on -c max_connections=100" \
      >/dev/null
    if [[ ! -f "$dir/created" ]]; then
      as_owner "$bindir/createdb" -h "$dir" -p "$port" -U zg_super zonegate
      touch "$dir/created"
    fi
    dsn
    ;;
  stop)
    mode="${3:-fast}"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null || true
    ;;
  dsn)
    dsn
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
