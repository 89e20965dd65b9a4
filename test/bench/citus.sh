#!/usr/bin/env bash
# test/bench/citus.sh: es_store distributed over Citus (a coordinator and two
# workers, on this one machine) against plain es_store on one node, in the
# same run (issue 16).  All four servers share the machine's cores, so the
# figures show the overhead of distribution, not its scale.
#
#   bash test/bench/citus.sh            # the full run (about 10 minutes)
#   bash test/bench/citus.sh --quick    # a smoke run of a few seconds
#
# Needs Citus (bash test/citus_install.sh).  Scenarios (median per second of
# REPEATS alternating pgbench runs, prepared statements):
#   append   append_event of one event to a random one of 100,000
#            aggregates, at 8 and 32 clients: es_store on one node;
#            es_store distributed by the README's recipe, through the
#            coordinator, delegated to the aggregate's worker (a bare call,
#            es_store_3_nodes) and not delegated (a field of the result in
#            the select list: drawn on the coordinator, rows written on the
#            worker by Citus's executor, es_store_3_nodes_undelegated),
#            which together show what delegation costs or saves an append;
#            and the floor on the same three nodes, a plain
#            INSERT of the same row into a table distributed the same way
#            (what the coordinator and the worker cost any write);
#   feed     a feed page of 100 events after a random position among
#            100,000, at 1 and 8 clients: one node against distributed (each
#            distributed read asks both workers what they hold, then reads
#            a statement on each, src/citus_feed.c), and the same page of
#            a plain table distributed the same way, read by Citus
#            (raw_select_3_nodes: no safe bound, so it may skip; what a
#            distributed feed costs without es_store);
#   bound    last_position() alone, at 1 and 8 clients: what asking the
#            workers costs a read (src/remote.c), one node against
#            distributed.
# Output (ES_BENCH_OUT, default test/bench/out): citus.csv, citus_ratios.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

MODE=full
for arg in "$@"; do
    case $arg in
        --quick) MODE=quick ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
if [ "$MODE" = quick ]; then
    DURATION=${ES_BENCH_SECONDS:-1}; REPEATS=${ES_BENCH_REPEATS:-1}
    APPEND_CLIENTS="8"; FEED_CLIENTS="1"; FILL=10000
else
    DURATION=${ES_BENCH_SECONDS:-10}; REPEATS=${ES_BENCH_REPEATS:-3}
    APPEND_CLIENTS="8 32"; FEED_CLIENTS="1 8"; FILL=100000
fi
OUT=${ES_BENCH_OUT:-$ROOT/test/bench/out}
mkdir -p "$OUT"
PG_CONFIG=${PG_CONFIG:-pg_config}
if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    echo "test/bench/citus.sh: Citus is not installed (bash test/citus_install.sh)" >&2
    exit 1
fi
if [ "${ES_BENCH_NO_BUILD:-0}" != 1 ]; then
    bash test/deps.sh
    bash test/build.sh
fi
WORK=$(mktemp -d /tmp/es_store_citus_bench_work.XXXXXX)
chmod 0777 "$WORK"

# The four servers: test/cluster.sh in four directories, on TCP (Citus
# connects between them by host and port).
CONF_COMMON="fsync = on
synchronous_commit = on
shared_buffers = 512MB
max_connections = 150
max_wal_size = 4GB
checkpoint_timeout = 30min
listen_addresses = 'localhost'
log_min_messages = warning"
declare -A PORT=([single]=54351 [coord]=54352 [w1]=54353 [w2]=54354)
start_node() {
    local name=$1 preload=$2
    ES_CLUSTER_DIR=/tmp/es_store_citus_bench_$name ES_CLUSTER_PORT=${PORT[$name]} \
        ES_CLUSTER_CONF="$CONF_COMMON
$preload" bash -c 'source test/cluster.sh start'
}
stop_all() {
    for n in single coord w1 w2; do
        ES_CLUSTER_DIR=/tmp/es_store_citus_bench_$n bash test/cluster.sh stop
    done
    rm -rf "$WORK"
}
trap stop_all EXIT
start_node single ""
for n in coord w1 w2; do
    start_node "$n" "shared_preload_libraries = 'citus'
max_prepared_transactions = 150"
done
psql_on() { local n=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h localhost -p "${PORT[$n]}" -U postgres -d postgres "$@"; }

# The recipe, as the README shows it.
awk '/^```sql$/ {getline; if ($0 ~ /^-- es_store: distribute over Citus by aggregate id$/) {on = 1}}
     on && /^```$/ {exit} on {print}' README.md >"$WORK/recipe.sql"
grep -q citus_distribute "$WORK/recipe.sql" || { echo "no recipe in README.md" >&2; exit 1; }

for n in coord w1 w2; do psql_on "$n" -c "CREATE EXTENSION citus" >/dev/null; done
psql_on coord >/dev/null <<SQL
SELECT citus_set_coordinator_host('localhost', ${PORT[coord]});
SELECT citus_add_node('localhost', ${PORT[w1]});
SELECT citus_add_node('localhost', ${PORT[w2]});
CREATE EXTENSION es_store;
SQL
psql_on coord -f "$WORK/recipe.sql" >/dev/null
psql_on single -c "CREATE EXTENSION es_store" >/dev/null
# The floor: the same row into a plain table distributed the same way
psql_on coord >/dev/null <<'SQL'
CREATE TABLE raw_events (LIKE es_store.events INCLUDING DEFAULTS);
ALTER TABLE raw_events ADD PRIMARY KEY (global_position, aggregate_id);
CREATE SEQUENCE raw_position_seq;
SELECT create_distributed_table('raw_events', 'aggregate_id');
SQL

# FILL events over 1000 aggregates in both stores and the plain table, for
# the feed reads
psql_on coord >/dev/null <<SQL
INSERT INTO raw_events (global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at, stream_id)
SELECT nextval('raw_position_seq'), 'bench', 'fill', (i / 100 % 1000)::text, i, gen_random_uuid(), 'Filled', 1,
	jsonb_build_object('i', i % 100 + 1), '{}', now(), 0
FROM generate_series(1, $FILL) i;
VACUUM ANALYZE raw_events;
SQL
for n in single coord; do
    psql_on "$n" >/dev/null <<SQL
SELECT count(*) FROM generate_series(1, $FILL / 100) b,
	LATERAL es_store.append('bench', 'fill', (b % 1000)::text, NULL,
		(SELECT array_agg('Filled'::text) FROM generate_series(1, 100)),
		(SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 100) i));
VACUUM ANALYZE es_store.events;
SQL
done

cat >"$WORK/append.sql" <<'SQL'
\set a random(1, 100000)
SELECT global_position FROM es_store.append_event('bench', 'account', :a::text, NULL, 'Deposited', '{"amount": 10}');
SQL
cat >"$WORK/append_undelegated.sql" <<'SQL'
\set a random(1, 100000)
SELECT (es_store.append_event('bench', 'account', :a::text, NULL, 'Deposited', '{"amount": 10}')).global_position;
SQL
cat >"$WORK/raw.sql" <<'SQL'
\set a random(1, 100000)
INSERT INTO raw_events (global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at, stream_id)
VALUES (nextval('raw_position_seq'), 'bench', 'account', :a::text, 1, gen_random_uuid(), 'Deposited', 1, '{"amount": 10}', '{}', now(), 0);
SQL
cat >"$WORK/bound.sql" <<'SQL'
SELECT es_store.last_position();
SQL
cat >"$WORK/feed.sql" <<SQL
\set after random(0, $FILL - 100)
SELECT count(*) FROM es_store.read_feed(:after, 100);
SQL
cat >"$WORK/raw_feed.sql" <<SQL
\set after random(0, $FILL - 100)
SELECT count(*) FROM (SELECT * FROM raw_events WHERE global_position > :after ORDER BY global_position LIMIT 100) p;
SQL

# shellcheck source=lib.sh
source test/bench/lib.sh
CSV=$OUT/citus.csv
echo "scenario,clients,store,per_s" >"$CSV"
declare -A RESULT
# a store is its name's server: es_store_1_node the single one, the others
# the coordinator
store_run() {
    local node=coord
    [ "$1" = es_store_1_node ] && node=single
    PGHOST=localhost PGPORT=${PORT[$node]} PGUSER=postgres PGDATABASE=postgres pgbench_tps "$2" "$3" "$4"
}

for c in $FEED_CLIENTS; do
    bench feed "$c" es_store_1_node "$WORK/feed.sql" es_store_3_nodes "$WORK/feed.sql" \
        raw_select_3_nodes "$WORK/raw_feed.sql"
done
for c in $FEED_CLIENTS; do
    bench bound "$c" es_store_1_node "$WORK/bound.sql" es_store_3_nodes "$WORK/bound.sql"
done
for c in $APPEND_CLIENTS; do
    bench append "$c" es_store_1_node "$WORK/append.sql" es_store_3_nodes "$WORK/append.sql" \
        es_store_3_nodes_undelegated "$WORK/append_undelegated.sql" raw_insert_3_nodes "$WORK/raw.sql"
done

echo "distributed store: $(psql_on coord -Atc "SELECT count(*) FROM es_store.events") events"

{
    echo "scenario,clients,ratio,value"
    for c in $FEED_CLIENTS; do
        for sc in feed bound; do
            awk -v a="${RESULT[$sc,$c,es_store_3_nodes]}" -v b="${RESULT[$sc,$c,es_store_1_node]}" -v c="$c" -v sc="$sc" \
                'BEGIN { printf "%s,%s,es_store_3_nodes/es_store_1_node,%.3f\n", sc, c, a / b }'
        done
        awk -v a="${RESULT[feed,$c,es_store_3_nodes]}" -v r="${RESULT[feed,$c,raw_select_3_nodes]}" -v c="$c" \
            'BEGIN { printf "feed,%s,es_store_3_nodes/raw_select_3_nodes,%.2f\n", c, a / r }'
    done
    for c in $APPEND_CLIENTS; do
        awk -v a="${RESULT[append,$c,es_store_3_nodes]}" -v b="${RESULT[append,$c,es_store_1_node]}" \
            -v r="${RESULT[append,$c,raw_insert_3_nodes]}" -v u="${RESULT[append,$c,es_store_3_nodes_undelegated]}" \
            -v c="$c" 'BEGIN {
            printf "append,%s,es_store_3_nodes/es_store_1_node,%.2f\n", c, a / b
            printf "append,%s,es_store_3_nodes/es_store_3_nodes_undelegated,%.2f\n", c, a / u
            printf "append,%s,es_store_3_nodes/raw_insert_3_nodes,%.2f\n", c, a / r
            printf "append,%s,mean_latency_us_3_nodes_minus_1_node,%.0f\n", c, (1e6 / a - 1e6 / b) * c }'
    done
} >"$OUT/citus_ratios.csv"
column -t -s, "$OUT/citus_ratios.csv"
