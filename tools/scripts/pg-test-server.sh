#!/usr/bin/env bash
# A throw-away PostgreSQL 15 server on loopback for the upstream tests and benchmarks: initdb into
# a directory, no system service. Runs the server as the `postgres` user when started by root
# (initdb refuses root).
#
#   pg-test-server.sh start DIR [PORT] [--tls [--client-cn ROLE]]
#                                        initdb (first time) and start; prints the superuser DSN
#   pg-test-server.sh stop DIR [fast|immediate]
#   pg-test-server.sh dsn DIR            prints the superuser DSN of a started server
#
# The superuser is `zg_super`; its password is in DIR/superuser.pass and the DSN names it with
# `passfile`, so no password appears on a command line. Local (UNIX socket, in DIR) connections
# are trusted; TCP connections on 127.0.0.1 need scram-sha-256.
#
# --tls (once, then the directory stays TLS-only): openssl makes a throw-away CA, a server
# certificate for 127.0.0.1 and localhost and a client certificate with CN = ROLE (default
# zg_super), all in DIR/tls, and prints their paths before the DSN. TCP then needs TLS
# (hostnossl: reject); ROLE logs in by its certificate (hostssl ... cert), every other role by
# password over TLS (hostssl ... scram-sha-256). The DSN says sslmode=verify-full.
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

usage() { sed -n '2,19p' "$0" >&2; exit 2; }

cmd="${1:-}"
dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || usage
shift 2
arg=""          # start: PORT; stop: the mode
tls=0
client_cn="zg_super"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tls) tls=1 ;;
    --client-cn)
      [[ $# -ge 2 ]] || usage
      client_cn="$2"
      shift
      ;;
    -*) usage ;;
    *)
      [[ -z "$arg" ]] || usage
      arg="$1"
      ;;
  esac
  shift
done
# The CN becomes a role name in pg_hba.conf and a certificate subject: keep it to plain names.
[[ "$client_cn" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { echo "pg-test-server: bad --client-cn '$client_cn'" >&2; exit 2; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
tlsdir="$dir/tls"

dsn() {
  local port
  port="$(cat "$dir/port")"
  if [[ -f "$tlsdir/ca.pem" ]]; then
    local ssl="sslmode=verify-full sslrootcert=${tlsdir}/ca.pem"
    if [[ "$(cat "$tlsdir/client-cn")" == "zg_super" ]]; then
      ssl+=" sslcert=${tlsdir}/client.pem sslkey=${tlsdir}/client.key"
    fi
    echo "host=127.0.0.1 port=${port} dbname=zonegate user=zg_super passfile=${dir}/pgpass ${ssl}"
  else
    echo "host=127.0.0.1 port=${port} dbname=zonegate user=zg_super passfile=${dir}/pgpass sslmode=disable"
  fi
}

# Signs DIR/tls/NAME.csr with the test CA into NAME.pem with the extensions in $2.
sign() {
  printf '%s\n' "$2" >"$tlsdir/$1.ext"
  openssl x509 -req -in "$tlsdir/$1.csr" -CA "$tlsdir/ca.pem" -CAkey "$tlsdir/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$tlsdir/$1.ext" -out "$tlsdir/$1.pem" 2>/dev/null
  rm -f "$tlsdir/$1.csr" "$tlsdir/$1.ext"
}

new_key_and_csr() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
    -keyout "$tlsdir/$1.key" -out "$tlsdir/$1.csr" 2>/dev/null
  chmod 600 "$tlsdir/$1.key"
}

# The CA, the server's and the client's certificates, ssl=on, and a pg_hba.conf that refuses TCP
# without TLS. Run once per directory, after initdb.
setup_tls() {
  mkdir -p "$tlsdir"
  chmod 755 "$tlsdir"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -sha256 \
    -subj "/CN=zonegate throw-away test CA" -keyout "$tlsdir/ca.key" -out "$tlsdir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 600 "$tlsdir/ca.key"
  new_key_and_csr server 127.0.0.1
  sign server "subjectAltName=IP:127.0.0.1,DNS:localhost
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
  new_key_and_csr client "$client_cn"
  sign client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  chmod 644 "$tlsdir/ca.pem" "$tlsdir/server.pem" "$tlsdir/client.pem"
  echo "$client_cn" >"$tlsdir/client-cn"
  # The server reads its key as postgres and refuses one that others can read.
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$tlsdir/server.key" "$tlsdir/server.pem"; fi
  cat >>"$dir/data/postgresql.conf" <<EOF_CONF

# pg-test-server.sh --tls
ssl = on
ssl_cert_file = '${tlsdir}/server.pem'
ssl_key_file = '${tlsdir}/server.key'
ssl_ca_file = '${tlsdir}/ca.pem'
EOF_CONF
  cat >"$dir/data/pg_hba.conf" <<EOF_HBA
# pg-test-server.sh --tls: TCP only over TLS; ${client_cn} by its client certificate (CN = role
# name), every other role by password.
# TYPE     DATABASE  USER           ADDRESS        METHOD
local      all       all                           trust
hostssl    all       ${client_cn}   127.0.0.1/32   cert
hostssl    all       all            127.0.0.1/32   scram-sha-256
hostnossl  all       all            0.0.0.0/0      reject
hostnossl  all       all            ::/0           reject
EOF_HBA
}

case "$cmd" in
  start)
    port="${arg:-$((20000 + RANDOM % 20000))}"
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
    if [[ $tls -eq 1 && ! -f "$tlsdir/ca.pem" ]]; then setup_tls; fi
    echo "$port" >"$dir/port"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/port"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories='${dir}' -c fsync=on -c max_connections=100" \
      >/dev/null
    if [[ ! -f "$dir/created" ]]; then
      as_owner "$bindir/createdb" -h "$dir" -p "$port" -U zg_super zonegate
      touch "$dir/created"
    fi
    if [[ -f "$tlsdir/ca.pem" ]]; then
      echo "ca.pem      $tlsdir/ca.pem"
      echo "client.pem  $tlsdir/client.pem (CN=$(cat "$tlsdir/client-cn"))"
      echo "client.key  $tlsdir/client.key (mode 0600)"
    fi
    dsn
    ;;
  stop)
    mode="${arg:-fast}"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null || true
    ;;
  dsn)
    dsn
    ;;
  *)
    usage
    ;;
esac
