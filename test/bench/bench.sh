#!/usr/bin/env bash
# test/bench/bench.sh: es_store's benchmark, against baselines measured in
# the same run on the same throwaway cluster.
#
#   bash test/bench/bench.sh            # the full run (about 40 minutes)
#   bash test/bench/bench.sh --quick    # a smoke run of a few seconds per scenario
#   bash test/bench/bench.sh --peers    # the full run, then ../shared/peers-bench
#   ES_BENCH_ONLY='^append_uniform' bash test/bench/bench.sh   # only the scenarios
#                                       # (and "lag", "growth") matching a regex
#
# Baselines: for the appends, es_store 0.2.1 built from git beside this
# build (test/bench/base.sh; ES_BENCH_BASE=none leaves it out); and
# (test/bench/baselines.sql) raw.events, a plain INSERT into a
# table shaped like es_store.events (the floor); plstore, a hand-written
# plpgsql store with a heads table and the same checks; for every read,
# single.events, the one table a hand-written store reads (the stream key
# in every row, indexed for the stream read and the feed), and a plain
# SELECT on es_store's own tables; the feed under write load against the
# single table under the same load; snapshots, rehydration, delete and
# forget against the single table and a snapshots table.  --peers (or ES_BENCH_PEERS=1) then
# runs ../shared/peers-bench when it is there: Message DB, Emmett and
# pupsourcing beside es_store (see its README; Emmett needs EMMETT_GIT).  Every figure is the median of
# repeated pgbench runs (prepared statements, fixed seeds); latencies are
# percentiles over all transactions of those runs.
#
# Output (ES_BENCH_OUT, default test/bench/out): results.csv (one row per
# scenario, clients and store), ratios.csv (es_store against each
# baseline), bytes.csv (table and index bytes per event), load.csv (the
# feed under write load), growth.csv, lag.csv, and the same tables on
# stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

MODE=full
PEERS=${ES_BENCH_PEERS:-0}
for arg in "$@"; do
    case $arg in
        --quick) MODE=quick ;;
        --peers) PEERS=1 ;;
        *) echo "usage: $0 [--quick] [--peers]" >&2; exit 2 ;;
    esac
done
if [ "$MODE" = quick ]; then
    DURATION=${ES_BENCH_SECONDS:-1}
    REPEATS=${ES_BENCH_REPEATS:-1}
    APPEND_CLIENTS="1 8"
    OTHER_CLIENTS="1"
    GROWTH=""
    LAG_SECONDS=2
else
    DURATION=${ES_BENCH_SECONDS:-6}
    REPEATS=${ES_BENCH_REPEATS:-5}
    APPEND_CLIENTS="1 8 32"
    OTHER_CLIENTS="1 8"
    GROWTH="100000 1000000 10000000"
    LAG_SECONDS=20
fi
OUT=${ES_BENCH_OUT:-$ROOT/test/bench/out}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/es_store_bench_work.XXXXXX)
chmod 0777 "$WORK"

if [ "${ES_BENCH_NO_BUILD:-0}" != 1 ]; then
    bash test/deps.sh
    bash test/build.sh
fi

export ES_CLUSTER_DIR=/tmp/es_store_bench ES_CLUSTER_PORT=54330
export ES_CLUSTER_CONF="fsync = on
synchronous_commit = on
shared_buffers = 2GB
max_connections = 120
max_wal_size = 8GB
checkpoint_timeout = 30min
track_commit_timestamp = on
log_min_messages = warning"
# shellcheck source=../cluster.sh
source test/cluster.sh start
trap 'bash "$ROOT/test/cluster.sh" stop; rm -rf "$WORK"' EXIT

PSQL="psql -X -q -v ON_ERROR_STOP=1"
$PSQL -c "CREATE EXTENSION es_store" -f test/bench/baselines.sql >/dev/null

# The 0.2.1 build, beside this one, for the appends (test/bench/base.sh):
# es_store as it was before 0.3.0, installed as the extension
# es_store_0_2_1.  ES_BENCH_BASE=none leaves it out; so does a clone
# without that commit (then the appends have no es_store_0.2.1 row).
BASE=""
if [ "${ES_BENCH_BASE:-51a5aa2}" != none ]; then
    if BASE=$(bash test/bench/base.sh "${ES_BENCH_BASE:-51a5aa2}"); then
        $PSQL -c "CREATE EXTENSION $BASE" >/dev/null
    else
        echo "bench: no earlier build to compare the appends with" >&2
        BASE=""
    fi
fi
# base_store LABEL SCRIPT: the arguments of bench for the earlier build
# running SCRIPT with es_store replaced by its name, or none without it
base_store() {
    [ -n "$BASE" ] || return 0
    sed "s/es_store\./$BASE./g" "$2" >"${2%.sql}_base.sql"
    printf '%s\n%s\n' "$1" "${2%.sql}_base.sql"
}

RUN=0
echo "scenario,clients,store,events_per_s,p50_ms,p99_ms" >"$OUT/results.csv"

# median VALUE...
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# want NAME: whether ES_BENCH_ONLY (a regex, default all) selects NAME
want() { [ -z "${ES_BENCH_ONLY:-}" ] || [[ "$1" =~ $ES_BENCH_ONLY ]]; }

# pgrun CLIENTS RUN SEED SECONDS SCRIPT [LOG_PREFIX]: one pgbench run,
# printing its tps
pgrun() {
    local clients=$1 run=$2 seed=$3 seconds=$4 script=$5 log=${6:-}
    local jobs=$(( clients < 2 ? 1 : 2 )) out
    out=$(cd "$WORK" && pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$seconds" \
        --random-seed="$seed" ${log:+-l --log-prefix="$log"} \
        -D run="$run" -D i=0 -D lap=0 -f "$script" 2>&1) || {
        echo "$out" >&2; return 1; }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'
}

# bench SCENARIO CLIENTS EVENTS_PER_TX STORE SCRIPT [STORE SCRIPT ...]
# Measures the stores side by side: an untimed warm-up of each (so that no
# store pays for a cold cache another one then enjoys), then REPEATS rounds
# in which every store runs once, in alternating order, so that slow drift
# (autovacuum, WAL, table growth) and the cache one run leaves to the next
# fall on all stores alike.  Prints and records one row per
# store: median events/s, and p50/p99 over all its transactions.
bench() {
    local scenario=$1 clients=$2 per_tx=$3
    want "$scenario" || return 0
    shift 3
    local -a stores=() scripts=()
    local -A tps_lists=()
    while [ $# -gt 0 ]; do stores+=("$1"); scripts+=("$2"); shift 2; done
    rm -f "$WORK"/log_*
    for s in "${!stores[@]}"; do
        RUN=$((RUN + 1))
        pgrun "$clients" "$RUN" 999 1 "${scripts[$s]}" >/dev/null || true
    done
    for r in $(seq 1 "$REPEATS"); do
        # alternate the order, so that no store always runs on the cache
        # (or the WAL and autovacuum state) the other one left
        local order=("${!stores[@]}")
        [ $((r % 2)) = 0 ] && mapfile -t order < <(printf '%s\n' "${!stores[@]}" | sort -rn)
        for s in "${order[@]}"; do
            local tps
            RUN=$((RUN + 1))
            tps=$(pgrun "$clients" "$RUN" "$((1000 + r))" "$DURATION" "${scripts[$s]}" "log_${s}_") || {
                echo "pgbench failed: $scenario ${stores[$s]} $clients" >&2; return 1; }
            tps_lists[$s]+=" $tps"
        done
    done
    for s in "${!stores[@]}"; do
        local tps p50 p99 eps
        # shellcheck disable=SC2086
        tps=$(median ${tps_lists[$s]})
        read -r p50 p99 < <(cat "$WORK"/log_"${s}"_* | awk '{print $3}' | sort -n | awk '
            {v[NR]=$1} END {i50=int(NR*0.50); i99=int(NR*0.99); if (i50<1) i50=1; if (i99<1) i99=1;
                            printf "%.3f %.3f\n", v[i50]/1000, v[i99]/1000}')
        eps=$(awk -v t="$tps" -v n="$per_tx" 'BEGIN {printf "%.0f", t*n}')
        echo "$scenario,$clients,${stores[$s]},$eps,$p50,$p99" | tee -a "$OUT/results.csv"
    done
}

script() { cat >"$WORK/$1.sql"; echo "$WORK/$1.sql"; }

# ---- appends: one event with an expected version, uniform over aggregates
# Every store's statement returns the new event's global position: es_store
# as a field of its result row, plstore as its bigint result.
# Each client cycles through 1000 aggregates of its own, so it knows every
# expected version: aggregate k of client c at step i is at version i/1000.
KEY='\set k :run * 1000000000 + :client_id * 1000000 + :i % 1000
\set v :i / 1000'
A_ES=$(script append_es <<EOF
$KEY
SELECT (es_store.append_event('bench', 'acct', (:k)::text, :v, 'Deposited', '{"amount": 1}')).global_position;
\set i :i + 1
EOF
)
A_PL=$(script append_pl <<EOF
$KEY
SELECT plstore.append_event('bench', 'acct', (:k)::text, :v, 'Deposited', '{"amount": 1}');
\set i :i + 1
EOF
)
A_RAW=$(script append_raw <<EOF
$KEY
INSERT INTO raw.events (global_position, bounded_context, aggregate_type, aggregate_id, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at)
VALUES (nextval('raw.global_position_seq'), 'bench', 'acct', (:k)::text, :k, :v + 1, gen_random_uuid(), 'Deposited', 1, '{"amount": 1}', '{}', now());
\set i :i + 1
EOF
)
for c in $APPEND_CLIENTS; do
    mapfile -t base < <(base_store es_store_0.2.1 "$A_ES")
    bench append_uniform "$c" 1 es_store "$A_ES" "${base[@]}" plpgsql "$A_PL" raw_insert "$A_RAW"
done

# ---- appends to Zipf-hot aggregates: writers contend, so "any" version
HOT='\set k :run * 100000 + random_zipfian(1, 10000, 1.1)'
Z_ES=$(script zipf_es <<EOF
$HOT
SELECT (es_store.append_event('bench', 'hot', (:k)::text, NULL, 'Deposited', '{"amount": 1}')).global_position;
EOF
)
Z_PL=$(script zipf_pl <<EOF
$HOT
SELECT plstore.append_event('bench', 'hot', (:k)::text, NULL, 'Deposited', '{"amount": 1}');
EOF
)
Z_RAW=$(script zipf_raw <<EOF
$HOT
INSERT INTO raw.events (global_position, bounded_context, aggregate_type, aggregate_id, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at)
VALUES (nextval('raw.global_position_seq'), 'bench', 'hot', (:k)::text, :k, :i * 1000 + :client_id, gen_random_uuid(), 'Deposited', 1, '{"amount": 1}', '{}', now());
\set i :i + 1
EOF
)
if [ "$MODE" = full ]; then
    for c in $APPEND_CLIENTS; do
        mapfile -t base < <(base_store es_store_0.2.1 "$Z_ES")
        bench append_zipf "$c" 1 es_store "$Z_ES" "${base[@]}" plpgsql "$Z_PL" raw_insert "$Z_RAW"
    done
fi

# ---- batches of 10 and 100 events to one aggregate per client
for n in 10 100; do
    types=$(seq "$n" | awk '{printf "%s'"'"'E'"'"'", (NR>1?", ":"")}')
    payloads=$(seq "$n" | awk '{printf "%s'"'"'{\"amount\": 1}'"'"'", (NR>1?", ":"")}')
    # the rows of a multi-row INSERT; the key and the first version are
    # bound once (pgbench takes at most 255 parameters per statement)
    rows=$(seq "$n" | awk '{printf "%s(nextval('"'"'raw.global_position_seq'"'"'), '"'"'bench'"'"', '"'"'batch'"'"', p.k::text, p.k, p.v + %d, gen_random_uuid(), '"'"'E'"'"', 1, '"'"'{\"amount\": 1}'"'"'::jsonb, '"'"'{}'"'"'::jsonb, now())", (NR>1?",\n":""), NR}')
    BKEY="\\set k :run * 1000000000 + :client_id
\\set v :i * $n"
    B_ES=$(script "batch${n}_es" <<EOF
$BKEY
SELECT count(*) FROM es_store.append('bench', 'batch', (:k)::text, :v, ARRAY[$types], ARRAY[$payloads]::jsonb[]);
\set i :i + 1
EOF
)
    B_PL=$(script "batch${n}_pl" <<EOF
$BKEY
SELECT count(*) FROM plstore.append('bench', 'batch', (:k)::text, :v, ARRAY[$types], ARRAY[$payloads]::jsonb[]);
\set i :i + 1
EOF
)
    B_RAW=$(script "batch${n}_raw" <<EOF
$BKEY
INSERT INTO raw.events (global_position, bounded_context, aggregate_type, aggregate_id, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at)
SELECT r.* FROM (SELECT (:k)::bigint AS k, (:v)::bigint AS v) p, LATERAL (VALUES
$rows) r;
\set i :i + 1
EOF
)
    for c in $OTHER_CLIENTS; do
        mapfile -t base < <(base_store es_store_0.2.1 "$B_ES")
        bench "batch$n" "$c" "$n" es_store "$B_ES" "${base[@]}" plpgsql "$B_PL" raw_insert "$B_RAW"
    done
done

# ---- reads, on two shapes of store, each read by es_store, by the single
# table a hand-written store would have (single.events: the key in every
# row), and by a plain SELECT on es_store's own tables:
#   interleaved: STREAMS aggregates of 10 events, appended one event per
#     aggregate per round, so consecutive positions belong to different
#     aggregates (as in a store many users write to);
#   clustered: aggregates of 1000 events appended 100 at a time, so
#     consecutive positions mostly belong to the same few aggregates.
# Half the aggregates are of type A, half of type B (the filtered feed reads
# type A).  Each shape starts from an empty store.
if [ "$MODE" = quick ]; then STREAMS=10000; CLUSTERED=20; else STREAMS=100000; CLUSTERED=1000; fi
OWN_COLS="e.global_position, e.bounded_context, e.aggregate_type, e.aggregate_id, e.aggregate_version, e.event_id, e.event_type, e.event_version, e.payload, e.metadata, e.correlation_id, e.causation_id, e.trace_id, e.created_at"
PAYLOAD='{"amount": 10, "currency": "EUR"}'
echo "shape,store,events,table_bytes,index_bytes,bytes_per_event" >"$OUT/bytes.csv"

# fresh_store: an empty es_store and single table
fresh_store() {
    $PSQL -c "DROP EXTENSION es_store CASCADE" -c "CREATE EXTENSION es_store" \
          -c "TRUNCATE single.events, single.checkpoints" -c "CHECKPOINT" >/dev/null
}
# copy_to_single: the same events, positions and all, into single.events
copy_to_single() {
    $PSQL -c "INSERT INTO single.events SELECT $OWN_COLS FROM es_store.events e ORDER BY e.global_position" \
          -c "VACUUM ANALYZE" >/dev/null
}
# bytes SHAPE: table and index bytes per event of es_store (events and
# heads), of the single table, and of es_store's event rows as 0.2.1 laid
# them out (no key columns; the same indexes, filled in the same order)
bytes() {
    $PSQL -o /dev/null -c "DROP TABLE IF EXISTS raw.layout_0_2_1" -c "
        CREATE TABLE raw.layout_0_2_1 (
            global_position bigint, stream_id bigint NOT NULL, aggregate_version bigint NOT NULL,
            event_id uuid NOT NULL, event_type text NOT NULL, event_version integer NOT NULL,
            payload jsonb NOT NULL, metadata jsonb NOT NULL, correlation_id text, causation_id text,
            trace_id text, created_at timestamptz NOT NULL,
            PRIMARY KEY (global_position), UNIQUE (stream_id, aggregate_version), UNIQUE (event_id))" -c "
        INSERT INTO raw.layout_0_2_1
        SELECT global_position, stream_id, aggregate_version, event_id, event_type, event_version,
               payload, metadata, correlation_id, causation_id, trace_id, created_at
        FROM es_store.events ORDER BY global_position" -c "VACUUM ANALYZE raw.layout_0_2_1"
    $PSQL -At -F, -c "
        SELECT '$1', s.store, s.n, s.t, s.i, round((s.t + s.i)::numeric / s.n, 1)
        FROM (SELECT 'es_store' AS store, (SELECT count(*) FROM es_store.events) AS n,
                     pg_table_size('es_store.events') + pg_table_size('es_store.aggregate_heads') AS t,
                     pg_indexes_size('es_store.events') + pg_indexes_size('es_store.aggregate_heads') AS i
              UNION ALL
              SELECT 'es_store_0.2.1_layout', (SELECT count(*) FROM raw.layout_0_2_1),
                     pg_table_size('raw.layout_0_2_1') + pg_table_size('es_store.aggregate_heads'),
                     pg_indexes_size('raw.layout_0_2_1') + pg_indexes_size('es_store.aggregate_heads')
              UNION ALL
              SELECT 'single_table', (SELECT count(*) FROM single.events),
                     pg_table_size('single.events'), pg_indexes_size('single.events')) s" | tee -a "$OUT/bytes.csv"
    $PSQL -o /dev/null -c "DROP TABLE raw.layout_0_2_1"
}

# feed_scenarios SHAPE: the feed reads and the consumer loop, at OTHER_CLIENTS
feed_scenarios() {
    local shape=$1 maxcp
    maxcp=$($PSQL -Atc "SELECT es_store.last_position() - 10000")
    local -a names=(page1000 filtered segment up_to)
    local -a es_sql=(
        "SELECT * FROM es_store.read_feed(:cp, 1000);"
        "SELECT * FROM es_store.read_feed(:cp, 1000, aggregate_types => ARRAY['A']);"
        "SELECT * FROM es_store.read_feed(:cp, 1000, segment => 1, segment_count => 4);"
        "SELECT * FROM es_store.read_feed(:cp, 1000, up_to_position => :cp + 1000);")
    local -a single_sql=(
        "SELECT * FROM single.events WHERE global_position > :cp ORDER BY global_position LIMIT 1000;"
        "SELECT * FROM single.events WHERE global_position > :cp AND aggregate_type = ANY (ARRAY['A']) ORDER BY global_position LIMIT 1000;"
        "SELECT * FROM single.events WHERE global_position > :cp AND mod(mod(hashtextextended(length(bounded_context) || ':' || bounded_context || length(aggregate_type) || ':' || aggregate_type || aggregate_id, 0), 4) + 4, 4) = 1 ORDER BY global_position LIMIT 1000;"
        "SELECT * FROM single.events WHERE global_position > :cp AND global_position <= :cp + 1000 ORDER BY global_position LIMIT 1000;")
    local -a own_sql=(
        "SELECT $OWN_COLS FROM es_store.events e WHERE e.global_position > :cp ORDER BY e.global_position LIMIT 1000;"
        "SELECT $OWN_COLS FROM es_store.events e WHERE e.global_position > :cp AND e.aggregate_type = ANY (ARRAY['A']) ORDER BY e.global_position LIMIT 1000;"
        "SELECT $OWN_COLS FROM es_store.events e JOIN es_store.aggregate_heads h ON h.stream_id = e.stream_id WHERE e.global_position > :cp AND mod(mod(h.key_hash, 4) + 4, 4) = 1 ORDER BY e.global_position LIMIT 1000;"
        "SELECT $OWN_COLS FROM es_store.events e WHERE e.global_position > :cp AND e.global_position <= :cp + 1000 ORDER BY e.global_position LIMIT 1000;")
    local i c
    for i in "${!names[@]}"; do
        local es single own
        es=$(printf '\\set cp random(0, %s)\n%s\n' "$maxcp" "${es_sql[$i]}" | script "feed_${names[$i]}_es")
        single=$(printf '\\set cp random(0, %s)\n%s\n' "$maxcp" "${single_sql[$i]}" | script "feed_${names[$i]}_single")
        own=$(printf '\\set cp random(0, %s)\n%s\n' "$maxcp" "${own_sql[$i]}" | script "feed_${names[$i]}_own")
        for c in $OTHER_CLIENTS; do
            bench "feed_${names[$i]}_$shape" "$c" 1000 es_store "$es" single_table "$single" own_tables "$own"
        done
    done
    # the consumer loop: a page of 100 and its checkpoint, in one transaction
    local cpname="'bench-' || (:run)::text || '-' || (:client_id)::text || '-' || (:lap)::text"
    local c_es c_single
    # each takes every row of the page, as a consumer does, and saves the
    # last one's position (pgbench's \aset keeps the last row's values)
    c_es=$(script "consumer_es_$shape" <<SCRIPT
BEGIN;
SELECT es_store.get_checkpoint($cpname) AS cp \gset
\set global_position :cp
SELECT * FROM es_store.read_feed(:cp, 100) \aset
\if :global_position > :cp
SELECT es_store.save_checkpoint($cpname, :global_position);
\else
\set lap :lap + 1
\endif
COMMIT;
SCRIPT
)
    c_single=$(script "consumer_single_$shape" <<SCRIPT
BEGIN;
SELECT coalesce((SELECT position FROM single.checkpoints WHERE name = $cpname), 0) AS cp \gset
\set global_position :cp
SELECT * FROM single.events WHERE global_position > :cp ORDER BY global_position LIMIT 100 \aset
\if :global_position > :cp
INSERT INTO single.checkpoints VALUES ($cpname, :global_position) ON CONFLICT (name) DO UPDATE SET position = excluded.position;
\else
\set lap :lap + 1
\endif
COMMIT;
SCRIPT
)
    for c in $OTHER_CLIENTS; do
        bench "consumer_page100_$shape" "$c" 100 es_store "$c_es" single_table "$c_single"
    done
}

# read_scenario NAME EVENTS KEYS PREFIX: one aggregate's events
read_scenario() {
    local name=$1 events=$2 keys=$3 prefix=$4 es single own c
    local key="CASE WHEN :k % 2 = 0 THEN 'A' ELSE 'B' END"
    es=$(printf '\\set k random(1, %s)\n%s\n' "$keys" \
        "SELECT * FROM es_store.read_aggregate('bench', $key, '$prefix' || :k);" | script "${name}_es")
    single=$(printf '\\set k random(1, %s)\n%s\n' "$keys" \
        "SELECT * FROM single.events WHERE bounded_context = 'bench' AND aggregate_type = $key AND aggregate_id = '$prefix' || :k ORDER BY aggregate_version;" |
        script "${name}_single")
    own=$(printf '\\set k random(1, %s)\n%s\n' "$keys" \
        "SELECT $OWN_COLS FROM es_store.aggregate_heads h JOIN es_store.events e ON e.stream_id = h.stream_id WHERE h.bounded_context = 'bench' AND h.aggregate_type = $key AND h.aggregate_id = '$prefix' || :k ORDER BY e.aggregate_version;" |
        script "${name}_own")
    for c in $OTHER_CLIENTS; do
        bench "$name" "$c" "$events" es_store "$es" single_table "$single" own_tables "$own"
    done
}

READ_SCENARIOS="read_aggregate10 read_aggregate1000"
for shape in interleaved clustered; do
    for f in page1000 filtered segment up_to; do READ_SCENARIOS+=" feed_${f}_$shape"; done
    READ_SCENARIOS+=" consumer_page100_$shape"
done
want_reads=0
for name in $READ_SCENARIOS; do want "$name" && want_reads=1; done
if [ "$want_reads" = 1 ]; then
    fresh_store
    for r in $(seq 1 10); do
        $PSQL -o /dev/null -c "SELECT count(es_store.append_event('bench', CASE WHEN k % 2 = 0 THEN 'A' ELSE 'B' END,
            'acc-' || k, NULL, 'Deposited', '$PAYLOAD', '{\"user\": \"u1\"}')) FROM generate_series(1, $STREAMS) k"
    done
    $PSQL -c "VACUUM ANALYZE" >/dev/null
    copy_to_single
    bytes interleaved
    read_scenario read_aggregate10 10 "$STREAMS" acc-
    feed_scenarios interleaved

    fresh_store
    for r in $(seq 1 10); do
        $PSQL -o /dev/null -c "SELECT count(*) FROM generate_series(1, $CLUSTERED) k,
            LATERAL es_store.append('bench', CASE WHEN k % 2 = 0 THEN 'A' ELSE 'B' END, 'big-' || k, NULL,
                array_fill('Deposited'::text, ARRAY[100]), array_fill('$PAYLOAD'::jsonb, ARRAY[100]),
                array_fill('{\"user\": \"u1\"}'::jsonb, ARRAY[100]))"
    done
    $PSQL -c "VACUUM ANALYZE" >/dev/null
    copy_to_single
    bytes clustered
    read_scenario read_aggregate1000 1000 "$CLUSTERED" big-
    feed_scenarios clustered
fi

# ---- the stream lifecycle: snapshots, rehydration, delete and forget,
# against what a hand-written store does with its single table and a
# snapshots table beside it (baselines.sql).  LIFE aggregates of 15 events
# with a snapshot at version 5: a rehydration reads the snapshot and the
# 10 events after it.  Delete and forget each run on an aggregate the same
# transaction creates with 10 events (an append of 10, then the delete),
# against a 10-row INSERT and a DELETE of those rows.
if [ "$MODE" = quick ]; then LIFE=2000; else LIFE=20000; fi
LIFE_SCENARIOS="snapshot_save snapshot_load rehydrate_snapshot10 delete_aggregate10 forget_aggregate10"
want_life=0
for name in $LIFE_SCENARIOS; do want "$name" && want_life=1; done
if [ "$want_life" = 1 ]; then
    fresh_store
    $PSQL -c "TRUNCATE single.snapshots" >/dev/null
    $PSQL -o /dev/null -c "SELECT count(*) FROM generate_series(1, $LIFE) k,
        LATERAL es_store.append('bench', 'life', 'l-' || k, 0, array_fill('Deposited'::text, ARRAY[15]),
            array_fill('$PAYLOAD'::jsonb, ARRAY[15]))" \
        -c "SELECT count(*) FROM generate_series(1, $LIFE) k,
            LATERAL es_store.save_snapshot('bench', 'life', 'l-' || k, 5, '{\"balance\": 50}')" \
        -c "VACUUM ANALYZE"
    copy_to_single
    $PSQL -o /dev/null -c "INSERT INTO single.snapshots SELECT 'bench', 'life', 'l-' || k, 5, '{\"balance\": 50}', now()
        FROM generate_series(1, $LIFE) k" -c "VACUUM ANALYZE single.snapshots" \
        -c "SELECT setval('single.global_position_seq', (SELECT max(global_position) FROM single.events))"
    LKEY="\\set k random(1, $LIFE)"
    S_SAVE_ES=$(printf '%s\n%s\n' "$LKEY" \
        "SELECT * FROM es_store.save_snapshot('bench', 'life', 'l-' || :k, 5, '{\"balance\": 50}');" | script snap_save_es)
    S_SAVE_SINGLE=$(printf '%s\n%s\n' "$LKEY" \
        "INSERT INTO single.snapshots AS s VALUES ('bench', 'life', 'l-' || :k, 5, '{\"balance\": 50}', now()) ON CONFLICT (bounded_context, aggregate_type, aggregate_id) DO UPDATE SET aggregate_version = excluded.aggregate_version, payload = excluded.payload, created_at = excluded.created_at WHERE s.aggregate_version <= excluded.aggregate_version;" |
        script snap_save_single)
    S_LOAD_ES=$(printf '%s\n%s\n' "$LKEY" \
        "SELECT * FROM es_store.load_snapshot('bench', 'life', 'l-' || :k);" | script snap_load_es)
    S_LOAD_SINGLE=$(printf '%s\n%s\n' "$LKEY" \
        "SELECT * FROM single.snapshots WHERE bounded_context = 'bench' AND aggregate_type = 'life' AND aggregate_id = 'l-' || :k;" |
        script snap_load_single)
    R_ES=$(printf '%s\n%s\n' "$LKEY" \
        "SELECT * FROM es_store.load_aggregate('bench', 'life', 'l-' || :k);" | script rehydrate_es)
    # a hand-written store's rehydration: the snapshot, then the events
    # after it, in one statement
    R_SINGLE=$(printf '%s\n%s\n' "$LKEY" \
        "WITH s AS (SELECT * FROM single.snapshots WHERE bounded_context = 'bench' AND aggregate_type = 'life' AND aggregate_id = 'l-' || :k) SELECT s.aggregate_version, s.payload, NULL::text AS event_type FROM s UNION ALL (SELECT e.aggregate_version, e.payload, e.event_type FROM single.events e, s WHERE e.bounded_context = 'bench' AND e.aggregate_type = 'life' AND e.aggregate_id = 'l-' || :k AND e.aggregate_version > s.aggregate_version ORDER BY e.aggregate_version);" |
        script rehydrate_single)
    DKEY='\set k :run * 1000000000 + :client_id * 1000000 + :i'
    ten_types=$(seq 10 | awk '{printf "%s'"'"'E'"'"'", (NR>1?", ":"")}')
    ten_payloads=$(seq 10 | awk '{printf "%s'"'"'{\"amount\": 1}'"'"'", (NR>1?", ":"")}')
    ten_rows=$(seq 10 | awk '{printf "%s(nextval('"'"'single.global_position_seq'"'"'), '"'"'bench'"'"', '"'"'gone'"'"', (:k)::text, %d, gen_random_uuid(), '"'"'E'"'"', 1, '"'"'{\"amount\": 1}'"'"', '"'"'{}'"'"', NULL, NULL, NULL, now())", (NR>1?",\n":""), NR}')
    D_ES=$(script delete_es <<SCRIPT
$DKEY
SELECT count(*) FROM es_store.append('bench', 'gone', (:k)::text, 0, ARRAY[$ten_types], ARRAY[$ten_payloads]::jsonb[]);
SELECT * FROM es_store.delete_aggregate('bench', 'gone', (:k)::text, 10);
\set i :i + 1
SCRIPT
)
    F_ES=$(script forget_es <<SCRIPT
$DKEY
SELECT count(*) FROM es_store.append('bench', 'gone', (:k)::text, 0, ARRAY[$ten_types], ARRAY[$ten_payloads]::jsonb[]);
SELECT * FROM es_store.forget_aggregate('bench', 'gone', (:k)::text, 10, false);
\set i :i + 1
SCRIPT
)
    D_SINGLE=$(script delete_single <<SCRIPT
$DKEY
INSERT INTO single.events VALUES
$ten_rows;
DELETE FROM single.events WHERE bounded_context = 'bench' AND aggregate_type = 'gone' AND aggregate_id = (:k)::text;
\set i :i + 1
SCRIPT
)
    for c in $OTHER_CLIENTS; do
        bench snapshot_save "$c" 1 es_store "$S_SAVE_ES" single_table "$S_SAVE_SINGLE"
        bench snapshot_load "$c" 1 es_store "$S_LOAD_ES" single_table "$S_LOAD_SINGLE"
        bench rehydrate_snapshot10 "$c" 11 es_store "$R_ES" single_table "$R_SINGLE"
        bench delete_aggregate10 "$c" 10 es_store "$D_ES" single_table "$D_SINGLE"
        bench forget_aggregate10 "$c" 10 es_store "$F_ES" single_table "$D_SINGLE"
    done
fi

# ---- the feed under write load: one consumer catching up on a store of
# LOAD_EVENTS events, LOAD_PAGES pages of 1000 from position 0 (less than
# the store holds, so that every page is full), while 8 writers append for
# longer than that takes; against the single table under the same load (8
# writers inserting).
if [ "$MODE" = quick ]; then LOAD_EVENTS=200000; LOAD_PAGES=50; LOAD_SECONDS=3
else LOAD_EVENTS=10000000; LOAD_PAGES=3000; LOAD_SECONDS=30; fi
echo "store,stored_events,writers,consumer_events_per_s,writer_events_per_s" >"$OUT/load.csv"
if want load; then
    fresh_store
    # pre-fill directly (the extension owner may INSERT): aggregates of 100 events
    $PSQL -o /dev/null -c "
        WITH h AS (
            INSERT INTO es_store.aggregate_heads (bounded_context, aggregate_type, aggregate_id, version, key_hash)
            SELECT 'fill', 'acct', g::text, 100, hashtextextended('4:fill4:acct' || g::text, 0)
            FROM generate_series(1, $LOAD_EVENTS / 100) g
            RETURNING stream_id, bounded_context, aggregate_type, aggregate_id)
        INSERT INTO es_store.events
        SELECT nextval('es_store.global_position_seq'), h.bounded_context, h.aggregate_type, h.aggregate_id,
               v, gen_random_uuid(), 'Filled', 1, '$PAYLOAD', '{}', NULL, NULL, NULL, now(), NULL, h.stream_id
        FROM h, generate_series(1, 100) v ORDER BY h.stream_id, v"
    $PSQL -o /dev/null -c "VACUUM ANALYZE"
    copy_to_single
    $PSQL -o /dev/null -c "SELECT setval('single.global_position_seq', (SELECT max(global_position) FROM single.events))"
    L_ES_W=$(script load_es_writer <<'SCRIPT'
\set k random(1, 100000)
SELECT (es_store.append_event('bench', 'load', (:k)::text, NULL, 'E', '{"amount": 1}')).global_position;
SCRIPT
)
    L_SINGLE_W=$(script load_single_writer <<'SCRIPT'
\set k random(1, 100000)
\set v :run * 1000000000000 + :client_id * 1000000000 + :i
INSERT INTO single.events VALUES (nextval('single.global_position_seq'), 'bench', 'load', (:k)::text,
    :v, gen_random_uuid(), 'E', 1, '{"amount": 1}', '{}', NULL, NULL, NULL, now());
\set i :i + 1
SCRIPT
)
    # the reader takes every row of the page, as a consumer does, and goes
    # on from the last one's position
    L_ES_R=$(script load_es_reader <<'SCRIPT'
SELECT * FROM es_store.read_feed(:cp, 1000) \aset
\set cp :global_position
SCRIPT
)
    L_SINGLE_R=$(script load_single_reader <<'SCRIPT'
SELECT * FROM single.events WHERE global_position > :cp ORDER BY global_position LIMIT 1000 \aset
\set cp :global_position
SCRIPT
)
    # load_run STORE WRITER READER: the consumer's and the writers' events/s
    load_run() {
        local store=$1 writer=$2 reader=$3 wout rout
        RUN=$((RUN + 1))
        (cd "$WORK" && pgbench -n -M prepared -c 8 -j 2 -T "$LOAD_SECONDS" -D run="$RUN" -D i=0 -f "$writer" >"$WORK/load_w.out" 2>&1) &
        local writers=$!
        sleep 1
        (cd "$WORK" && pgbench -n -M prepared -c 1 -t "$LOAD_PAGES" -D cp=0 -D global_position=0 -f "$reader" >"$WORK/load_r.out" 2>&1) ||
            { cat "$WORK/load_r.out" >&2; return 1; }
        wait "$writers" || { cat "$WORK/load_w.out" >&2; return 1; }
        rout=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/load_r.out")
        wout=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/load_w.out")
        echo "$store,$LOAD_EVENTS,8,$(awk -v t="$rout" 'BEGIN {printf "%.0f", t * 1000}'),$(awk -v t="$wout" 'BEGIN {printf "%.0f", t}')" | tee -a "$OUT/load.csv"
    }
    for r in $(seq 1 "$REPEATS"); do
        load_run es_store "$L_ES_W" "$L_ES_R"
        load_run single_table "$L_SINGLE_W" "$L_SINGLE_R"
    done
fi

# ---- feed lag: commit (track_commit_timestamp) to first read by a poller
echo "case,events,p50_ms,p99_ms" >"$OUT/lag.csv"
want lag || LAG_SECONDS=0
[ "$LAG_SECONDS" -gt 0 ] && $PSQL <<'EOF'
CREATE TABLE bench_other (id int);
CREATE TABLE bench_lag (global_position bigint PRIMARY KEY, seen_at timestamptz NOT NULL);
CREATE FUNCTION bench_poll(seconds float8) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	cp bigint := es_store.last_position();
	stop_at timestamptz := clock_timestamp() + make_interval(secs => seconds);
	got bigint;
	n bigint := 0;
BEGIN
	WHILE clock_timestamp() < stop_at LOOP
		got := NULL;
		INSERT INTO bench_lag
		SELECT global_position, clock_timestamp() FROM es_store.read_feed(cp, 1000);
		SELECT max(global_position) INTO got FROM bench_lag WHERE global_position > cp;
		IF got IS NULL THEN
			PERFORM pg_sleep(0.001);
		ELSE
			cp := got;
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END $$;
EOF
L_W=$(script lag_writer <<'EOF'
\set k random(1, 10000)
SELECT (es_store.append_event('bench', 'lag', (:k)::text, NULL, 'E', '{}')).global_position;
EOF
)
# lag_run LABEL [WRITERS [RATE]]: WRITERS clients (4) appending RATE events/s (1000) in all
lag_run() {
    local label=$1 writers=${2:-4} rate=${3:-1000}
    $PSQL -c "TRUNCATE bench_lag"
    (cd "$WORK" && pgbench -n -M prepared -c "$writers" -j 2 -R "$rate" -T "$LAG_SECONDS" -f "$L_W" >"$WORK/lag_w.out" 2>&1) &
    local writers=$!
    $PSQL -c "SELECT bench_poll($LAG_SECONDS)" >/dev/null
    wait "$writers" || { echo "bench: lag writers failed ($label):" >&2; cat "$WORK/lag_w.out" >&2; return 1; }
    $PSQL -At -F, -c "
        SELECT '$label', count(*),
               round((percentile_cont(0.5) WITHIN GROUP (ORDER BY lag))::numeric, 3),
               round((percentile_cont(0.99) WITHIN GROUP (ORDER BY lag))::numeric, 3)
        FROM (SELECT extract(epoch FROM l.seen_at - pg_xact_commit_timestamp(e.xmin)) * 1000 AS lag
              FROM bench_lag l JOIN es_store.events e USING (global_position)) s" | tee -a "$OUT/lag.csv"
}
if [ "$LAG_SECONDS" -gt 0 ]; then
    lag_run no_open_transaction
    # an unrelated transaction with an xid stays open for the whole run
    $PSQL -c "BEGIN; INSERT INTO bench_other VALUES (1); SELECT pg_sleep($LAG_SECONDS + 3); COMMIT;" >/dev/null &
    OTHER=$!
    sleep 1
    lag_run unrelated_open_transaction
    wait "$OTHER"
    # 32 writers at once, as many as they can (pgbench's rate is a target)
    lag_run 32_writers 32 20000
fi

# ---- growth: append and read latency as the store grows, from an empty
# store (the scenarios above wrote millions of events)
echo "stored_events,append_p50_ms,append_p99_ms,read_p50_ms,read_p99_ms" >"$OUT/growth.csv"
want growth || GROWTH=""
if [ -n "$GROWTH" ]; then
    $PSQL -c "DROP EXTENSION es_store CASCADE" -c "CREATE EXTENSION es_store" -c "CHECKPOINT"
    $PSQL -o /dev/null <<'EOF'
SELECT count(*) FROM generate_series(1, 200) k,
	LATERAL es_store.append('bench', 'r10', k::text, 0,
		array_fill('E'::text, ARRAY[10]), array_fill('{"amount": 1}'::jsonb, ARRAY[10]));
EOF
fi
G_READ=$(script growth_read <<'EOF'
\set k random(1, 200)
SELECT * FROM es_store.read_aggregate('bench', 'r10', (:k)::text);
EOF
)
filled=$($PSQL -Atc "SELECT count(*) FROM es_store.events")
for target in $GROWTH; do
    if [ "$filled" -lt "$target" ]; then
        # pre-fill directly (the extension owner may INSERT): aggregates of 100 events
        $PSQL -c "
            WITH h AS (
                INSERT INTO es_store.aggregate_heads (bounded_context, aggregate_type, aggregate_id, version, key_hash)
                SELECT 'fill', 'acct', g::text, 100,
                       hashtextextended('4:fill4:acct' || g::text, 0)
                FROM generate_series($filled / 100, ($target - 1) / 100) g
                ON CONFLICT DO NOTHING
                RETURNING stream_id, aggregate_id)
            INSERT INTO es_store.events (global_position, bounded_context, aggregate_type, aggregate_id,
                                         stream_id, aggregate_version, event_id,
                                         event_type, event_version, payload, metadata, created_at)
            SELECT nextval('es_store.global_position_seq'), 'fill', 'acct', h.aggregate_id, h.stream_id, v,
                   gen_random_uuid(), 'Filled', 1, '{\"amount\": 1}', '{}', now()
            FROM h, generate_series(1, 100) v" -c "VACUUM ANALYZE es_store.events"
        filled=$($PSQL -Atc "SELECT count(*) FROM es_store.events")
    fi
    bench "growth_append_$target" 1 1 es_store "$A_ES" >/dev/null
    bench "growth_read_$target" 1 10 es_store "$G_READ" >/dev/null
    a=$(grep "^growth_append_$target," "$OUT/results.csv" | cut -d, -f5,6)
    r=$(grep "^growth_read_$target," "$OUT/results.csv" | cut -d, -f5,6)
    echo "$filled,$a,$r" | tee -a "$OUT/growth.csv"
done

# ---- ratios: es_store against each baseline, same scenario and clients
awk -F, '
    NR == 1 { next }
    { key = $1 "," $2; eps[key "," $3] = $4; keys[key] = 1 }
    END {
        for (k in keys) {
            es = eps[k ",es_store"]
            if (es == "") continue
            n = split("es_store_0.2.1 raw_insert plpgsql single_table own_tables", b, " ")
            for (i = 1; i <= n; i++) {
                v = eps[k "," b[i]]
                if (v != "" && v > 0) printf "%s,%s,%s,%s,%.2f\n", k, es, b[i], v, es / v
            }
        }
    }' "$OUT/results.csv" | sort -t, -k1,1 -k2,2n >"$WORK/ratios.body"
{ echo "scenario,clients,es_store_events_per_s,baseline,baseline_events_per_s,ratio"; cat "$WORK/ratios.body"; } >"$OUT/ratios.csv"
echo
echo "== es_store against the baselines (events/s ratio, same run)"
column -s, -t "$OUT/ratios.csv"
echo
echo "bench: $(($(wc -l <"$OUT/results.csv") - 1)) measurements written to $OUT"

# ---- the peers, in their own run and cluster (../shared/peers-bench)
if [ "$PEERS" = 1 ]; then
    if [ -f "$ROOT/../shared/peers-bench/run.sh" ]; then
        bash test/cluster.sh stop
        # its own cluster: without the connection settings of this one
        env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE OUT="$OUT/peers" STOP=1 \
            bash "$ROOT/../shared/peers-bench/run.sh"
    else
        echo "bench: ../shared/peers-bench is not there; the peers were not run" >&2
    fi
fi
