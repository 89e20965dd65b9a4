#!/usr/bin/env bash
# test/cluster.sh: a throwaway PostgreSQL 15 cluster on a private socket
# directory, for the demo and the test suites.
#
#   source test/cluster.sh start   # initdb + start; exports PGHOST PGPORT PGUSER PGDATABASE
#   test/cluster.sh stop           # stop it and remove its files
#
# ES_CLUSTER_DIR, ES_CLUSTER_PORT and ES_CLUSTER_CONF (extra postgresql.conf
# lines) override the defaults.
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# "postgres" OS user (created by the Debian package).
set -u

PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
ES_CLUSTER_DIR=${ES_CLUSTER_DIR:-/tmp/es_store_cluster}
ES_CLUSTER_PORT=${ES_CLUSTER_PORT:-54329}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cluster_stop() {
    if [ -f "$ES_CLUSTER_DIR/data/postmaster.pid" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$ES_CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$ES_CLUSTER_DIR"
}

cluster_start() {
    cluster_stop
    mkdir -p "$ES_CLUSTER_DIR/socket"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$ES_CLUSTER_DIR"
    chmod 0755 "$ES_CLUSTER_DIR" "$ES_CLUSTER_DIR/socket"
    as_owner "$PG_BIN/initdb" -D "$ES_CLUSTER_DIR/data" -U postgres -A trust \
        --no-sync -E UTF8 --locale=C >"$ES_CLUSTER_DIR/initdb.log" 2>&1 || {
        cat "$ES_CLUSTER_DIR/initdb.log"; return 1; }
    cat >>"$ES_CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$ES_CLUSTER_DIR/socket'
port = $ES_CLUSTER_PORT
max_prepared_transactions = 10
fsync = off
log_min_messages = warning
CONF
    # extra settings (later lines win), e.g. the benchmark's
    [ -n "${ES_CLUSTER_CONF:-}" ] && printf '%s\n' "$ES_CLUSTER_CONF" >>"$ES_CLUSTER_DIR/data/postgresql.conf"
    as_owner "$PG_BIN/pg_ctl" -D "$ES_CLUSTER_DIR/data" -l "$ES_CLUSTER_DIR/server.log" -w start >/dev/null || {
        cat "$ES_CLUSTER_DIR/server.log"; return 1; }
    export PGHOST="$ES_CLUSTER_DIR/socket" PGPORT="$ES_CLUSTER_PORT" PGUSER=postgres PGDATABASE=postgres
}

case "${1:-}" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    *) echo "usage: test/cluster.sh start|stop" >&2; return 2 2>/dev/null || exit 2 ;;
esac
