#!/usr/bin/env bash
# test/bench/dcb.sh: the Dynamic Consistency Boundary benchmark, against
# baselines run in the same run on the same throwaway cluster.
#
#   bash test/bench/dcb.sh            # the full run (about 15 minutes)
#   bash test/bench/dcb.sh --quick    # a smoke run of a few seconds per scenario
#
# Scenarios (median events/s of REPEATS alternating pgbench runs):
#   condition   a single-event conditional append (one item: one type, one
#               tag; each client its own scopes, so they are disjoint), with
#               after = the safe position at the call: es_store's append_if
#               with the condition, append_if without it (the unconditional
#               append of the same event), and pgdcb.append_if
#               (test/bench/dcb_baseline.sql: a plpgsql store with sorted
#               advisory locks per type and tag, the style of the fastest
#               published PostgreSQL DCB stores), at 1, 8 and 32 clients;
#   tags        append_event to random aggregates with 3 tags and without,
#               and beside them the same rows inserted into a plain table
#               with 3 GIN-indexed tags and without (what PostgreSQL itself
#               charges for indexed tags);
#   query       a read of the 100 events with one tag among EVENTS events,
#               es_store's read_query against the plain table with the same
#               rows and a GIN index on its tags (the peers' schema).
# Output (ES_BENCH_OUT, default test/bench/out): dcb.csv and dcb_ratios.csv.
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
    CLIENTS="1 8"; EVENTS=20000
else
    DURATION=${ES_BENCH_SECONDS:-8}; REPEATS=${ES_BENCH_REPEATS:-3}
    CLIENTS="1 8 32"; EVENTS=1000000
fi
OUT=${ES_BENCH_OUT:-$ROOT/test/bench/out}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/es_store_dcb_bench_work.XXXXXX)
chmod 0777 "$WORK"

if [ "${ES_BENCH_NO_BUILD:-0}" != 1 ]; then
    bash test/deps.sh
    bash test/build.sh
fi

export ES_CLUSTER_DIR=/tmp/es_store_dcb_bench ES_CLUSTER_PORT=54332
export ES_CLUSTER_CONF="fsync = on
synchronous_commit = on
shared_buffers = 1GB
max_connections = 120
max_wal_size = 8GB
checkpoint_timeout = 30min
log_min_messages = warning"
# shellcheck source=../cluster.sh
source test/cluster.sh start
trap 'bash "$ROOT/test/cluster.sh" stop; rm -rf "$WORK"' EXIT

PSQL="psql -X -q -v ON_ERROR_STOP=1"
$PSQL -c "CREATE EXTENSION es_store" -f test/bench/dcb_baseline.sql >/dev/null

# shellcheck source=lib.sh
source test/bench/lib.sh
CSV=$OUT/dcb.csv
echo "scenario,clients,store,per_s" >"$CSV"
declare -A RESULT
# every store here is in the one cluster PG* names
store_run() { pgbench_tps "$2" "$3" "$4"; }

# The conditional append: each client has 10^12 scopes of its own (a
# client that met one of its scopes again while the feed is held below its
# last event would fail its condition, by design).
SCOPE=":sc::bigint"
cat >"$WORK/cond.sql" <<SQL
\set sc :client_id * 1000000000000 + random(1, 1000000000000)
SELECT count(*) FROM es_store.append_if(jsonb_build_array(jsonb_build_object('event_type', 'Claimed', 'payload', jsonb_build_object('s', $SCOPE), 'tags', jsonb_build_array('scope:' || $SCOPE))), jsonb_build_object('items', jsonb_build_array(jsonb_build_object('types', jsonb_build_array('Claimed'), 'tags', jsonb_build_array('scope:' || $SCOPE)))), es_store.last_position());
SQL
cat >"$WORK/uncond.sql" <<SQL
\set sc :client_id * 1000000000000 + random(1, 1000000000000)
SELECT count(*) FROM es_store.append_if(jsonb_build_array(jsonb_build_object('event_type', 'Claimed', 'payload', jsonb_build_object('s', $SCOPE), 'tags', jsonb_build_array('scope:' || $SCOPE))));
SQL
cat >"$WORK/peer.sql" <<SQL
\set sc :client_id * 1000000000000 + random(1, 1000000000000)
SELECT pgdcb.append_if('Claimed', ARRAY['scope:' || $SCOPE], jsonb_build_object('s', $SCOPE), ARRAY['Claimed'], ARRAY['scope:' || $SCOPE], pgdcb.last_position());
SQL
for c in $CLIENTS; do
    bench condition "$c" es_store_condition "$WORK/cond.sql" es_store_no_condition "$WORK/uncond.sql" \
        pgdcb_advisory_locks "$WORK/peer.sql"
done

# Tags on an ordinary append.
cat >"$WORK/tags0.sql" <<'SQL'
\set a random(1, 100000)
SELECT count(*) FROM es_store.append_event('bank', 'account', :a::text, NULL, 'Deposited', '{"amount": 10}');
SQL
cat >"$WORK/tags3.sql" <<'SQL'
\set a random(1, 100000)
SELECT count(*) FROM es_store.append_event('bank', 'account', :a::text, NULL, 'Deposited', '{"amount": 10}', tags => ARRAY['account:' || :a::int, 'branch:' || :a::int % 100, 'customer:' || :a::int % 5000]);
SQL
# The same rows into a plain table, with three GIN-indexed tags and without
cat >"$WORK/plain0.sql" <<'SQL'
\set a random(1, 100000)
INSERT INTO pgdcb.plain (stream, type, data) VALUES (:a, 'Deposited', '{"amount": 10}');
SQL
cat >"$WORK/plain3.sql" <<'SQL'
\set a random(1, 100000)
INSERT INTO pgdcb.plain_tagged (stream, type, data, tags) VALUES (:a, 'Deposited', '{"amount": 10}', ARRAY['account:' || :a::int, 'branch:' || :a::int % 100, 'customer:' || :a::int % 5000]);
SQL
for c in $CLIENTS; do
    bench tags "$c" es_store_3_tags "$WORK/tags3.sql" es_store_no_tags "$WORK/tags0.sql" \
        plain_gin_3_tags "$WORK/plain3.sql" plain_no_tags "$WORK/plain0.sql"
done

# A query read of 100 events among EVENTS: the events carry one tag of
# 10,000 each, and every (EVENTS / 100)-th also the tag "needle".
$PSQL -c "TRUNCATE pgdcb.single" >/dev/null
$PSQL >/dev/null <<SQL
DO \$\$
BEGIN
	FOR b IN 0 .. $EVENTS / 1000 - 1 LOOP
		PERFORM es_store.append_if((
			SELECT jsonb_agg(jsonb_build_object('event_type', 'Filler',
				'payload', jsonb_build_object('i', b * 1000 + i),
				'tags', CASE WHEN (b * 1000 + i) % ($EVENTS / 100) = 0
							 THEN jsonb_build_array('hay:' || (b * 1000 + i) % 10000, 'needle')
							 ELSE jsonb_build_array('hay:' || (b * 1000 + i) % 10000) END) ORDER BY i)
			FROM generate_series(1, 1000) i));
	END LOOP;
END \$\$;
INSERT INTO pgdcb.single SELECT global_position, event_type, tags, payload, created_at
FROM es_store.events WHERE tags IS NOT NULL;
VACUUM ANALYZE es_store.events;
VACUUM ANALYZE es_store.event_tags;
VACUUM ANALYZE pgdcb.single;
SQL
echo '\set x 1
SELECT * FROM es_store.read_query('"'"'{"items": [{"tags": ["needle"]}]}'"'"');' >"$WORK/query_es.sql"
echo '\set x 1
SELECT position, type, tags, data, created_at FROM pgdcb.single WHERE tags @> ARRAY['"'"'needle'"'"'] ORDER BY position;' >"$WORK/query_single.sql"
rows=$($PSQL -Atc "SELECT count(*) FROM es_store.read_query('{\"items\": [{\"tags\": [\"needle\"]}]}')")
echo "query: $rows matching events among $($PSQL -Atc 'SELECT count(*) FROM es_store.events')"
for c in 1 8; do
    bench query "$c" es_store_read_query "$WORK/query_es.sql" single_table_gin "$WORK/query_single.sql"
done

# The ratios the README reports.
{
    echo "scenario,clients,ratio,value"
    for c in $CLIENTS; do
        awk -v a="${RESULT[condition,$c,es_store_condition]}" -v b="${RESULT[condition,$c,es_store_no_condition]}" \
            -v p="${RESULT[condition,$c,pgdcb_advisory_locks]}" -v c="$c" 'BEGIN {
            printf "condition,%s,es_store_condition/es_store_no_condition,%.2f\n", c, a / b
            printf "condition,%s,es_store_condition/pgdcb_advisory_locks,%.2f\n", c, a / p }'
        awk -v a="${RESULT[tags,$c,es_store_3_tags]}" -v b="${RESULT[tags,$c,es_store_no_tags]}" -v c="$c" \
            'BEGIN { printf "tags,%s,es_store_3_tags/es_store_no_tags,%.2f\n", c, a / b }'
        awk -v a="${RESULT[tags,$c,plain_gin_3_tags]}" -v b="${RESULT[tags,$c,plain_no_tags]}" -v c="$c" \
            'BEGIN { printf "tags,%s,plain_gin_3_tags/plain_no_tags,%.2f\n", c, a / b }'
    done
    for c in 1 8; do
        awk -v a="${RESULT[query,$c,es_store_read_query]}" -v b="${RESULT[query,$c,single_table_gin]}" -v c="$c" \
            'BEGIN { printf "query,%s,es_store_read_query/single_table_gin,%.2f\n", c, a / b }'
    done
} >"$OUT/dcb_ratios.csv"
column -t -s, "$OUT/dcb_ratios.csv"
