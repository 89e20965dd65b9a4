#!/usr/bin/env bash
# test/bench/bench.sh: es_store's benchmark, against baselines measured in
# the same run on the same throwaway cluster.
#
#   bash test/bench/bench.sh            # the full run (about 40 minutes)
#   bash test/bench/bench.sh --quick    # a smoke run of a few seconds per scenario
#   ES_BENCH_ONLY='^append_uniform' bash test/bench/bench.sh   # only the scenarios
#                                       # (and "lag", "growth") matching a regex
#
# Baselines (test/bench/baselines.sql): raw.events, a plain INSERT into a
# table shaped like es_store.events (the floor); plstore, a hand-written
# plpgsql store with a heads table and the same checks; and plain indexed
# SELECTs of the same rows for reads.  Every figure is the median of
# repeated pgbench runs (prepared statements, fixed seeds); latencies are
# percentiles over all transactions of those runs.
#
# Output (ES_BENCH_OUT, default test/bench/out): results.csv (one row per
# scenario, clients and store), ratios.csv (es_store against each
# baseline), growth.csv, lag.csv, and the same tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

MODE=full
[ "${1:-}" = "--quick" ] && MODE=quick
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
INSERT INTO raw.events (global_position, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at)
VALUES (nextval('raw.global_position_seq'), :k, :v + 1, gen_random_uuid(), 'Deposited', 1, '{"amount": 1}', '{}', now());
\set i :i + 1
EOF
)
for c in $APPEND_CLIENTS; do
    bench append_uniform "$c" 1 es_store "$A_ES" plpgsql "$A_PL" raw_insert "$A_RAW"
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
INSERT INTO raw.events (global_position, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at)
VALUES (nextval('raw.global_position_seq'), :k, :i * 1000 + :client_id, gen_random_uuid(), 'Deposited', 1, '{"amount": 1}', '{}', now());
\set i :i + 1
EOF
)
if [ "$MODE" = full ]; then
    for c in $APPEND_CLIENTS; do
        bench append_zipf "$c" 1 es_store "$Z_ES" plpgsql "$Z_PL" raw_insert "$Z_RAW"
    done
fi

# ---- batches of 10 and 100 events to one aggregate per client
for n in 10 100; do
    types=$(seq "$n" | awk '{printf "%s'"'"'E'"'"'", (NR>1?", ":"")}')
    payloads=$(seq "$n" | awk '{printf "%s'"'"'{\"amount\": 1}'"'"'", (NR>1?", ":"")}')
    rows=$(seq "$n" | awk '{printf "%s(nextval('"'"'raw.global_position_seq'"'"'), :k, :v + %d, gen_random_uuid(), '"'"'E'"'"', 1, '"'"'{\"amount\": 1}'"'"', '"'"'{}'"'"', now())", (NR>1?",\n":""), NR}')
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
INSERT INTO raw.events (global_position, stream_id, aggregate_version, event_id, event_type, event_version, payload, metadata, created_at) VALUES
$rows;
\set i :i + 1
EOF
)
    for c in $OTHER_CLIENTS; do
        bench "batch$n" "$c" "$n" es_store "$B_ES" plpgsql "$B_PL" raw_insert "$B_RAW"
    done
done

# ---- reads: aggregates of 10 and 1000 events, a feed page of 1000, a consumer
$PSQL -o /dev/null <<'EOF'
SELECT count(*) FROM generate_series(1, 200) k,
	LATERAL es_store.append('bench', 'r10', k::text, 0,
		array_fill('E'::text, ARRAY[10]), array_fill('{"amount": 1}'::jsonb, ARRAY[10]));
SELECT count(*) FROM generate_series(1, 20) k,
	LATERAL es_store.append('bench', 'r1000', k::text, 0,
		array_fill('E'::text, ARRAY[1000]), array_fill('{"amount": 1}'::jsonb, ARRAY[1000]));
VACUUM ANALYZE;
EOF
MAXCP=$($PSQL -Atc "SELECT es_store.last_position() - 1000")
PLAIN_COLS="e.global_position, h.bounded_context, h.aggregate_type, h.aggregate_id, e.aggregate_version, e.event_id, e.event_type, e.event_version, e.payload, e.metadata, e.correlation_id, e.causation_id, e.trace_id, e.created_at"
for n in 10 1000; do
    keys=$([ "$n" = 10 ] && echo 200 || echo 20)
    R_ES=$(script "read${n}_es" <<EOF
\set k random(1, $keys)
SELECT * FROM es_store.read_aggregate('bench', 'r$n', (:k)::text);
EOF
)
    R_PLAIN=$(script "read${n}_plain" <<EOF
\set k random(1, $keys)
SELECT $PLAIN_COLS FROM es_store.aggregate_heads h JOIN es_store.events e ON e.stream_id = h.stream_id
WHERE h.bounded_context = 'bench' AND h.aggregate_type = 'r$n' AND h.aggregate_id = (:k)::text
ORDER BY e.aggregate_version;
EOF
)
    for c in $OTHER_CLIENTS; do
        bench "read_aggregate$n" "$c" "$n" es_store "$R_ES" plain_select "$R_PLAIN"
    done
done
F_ES=$(script feed_es <<EOF
\set cp random(0, $MAXCP)
SELECT * FROM es_store.read_feed(:cp, 1000);
EOF
)
F_PLAIN=$(script feed_plain <<EOF
\set cp random(0, $MAXCP)
SELECT $PLAIN_COLS FROM es_store.events e JOIN es_store.aggregate_heads h ON h.stream_id = e.stream_id
WHERE e.global_position > :cp ORDER BY e.global_position LIMIT 1000;
EOF
)
for c in $OTHER_CLIENTS; do
    bench feed_page1000 "$c" 1000 es_store "$F_ES" plain_select "$F_PLAIN"
done
CPNAME="'bench-' || (:run)::text || '-' || (:client_id)::text || '-' || (:lap)::text"
C_ES=$(script consumer_es <<EOF
BEGIN;
SELECT es_store.get_checkpoint($CPNAME) AS cp \gset
SELECT coalesce(max(global_position), -1) AS last FROM es_store.read_feed(:cp, 100) \gset
\if :last >= 0
SELECT es_store.save_checkpoint($CPNAME, :last);
\else
\set lap :lap + 1
\endif
COMMIT;
EOF
)
C_PLAIN=$(script consumer_plain <<EOF
BEGIN;
SELECT coalesce((SELECT position FROM plstore.checkpoints WHERE name = $CPNAME), 0) AS cp \gset
SELECT coalesce(max(global_position), -1) AS last FROM (
	SELECT $PLAIN_COLS FROM es_store.events e JOIN es_store.aggregate_heads h ON h.stream_id = e.stream_id
	WHERE e.global_position > :cp ORDER BY e.global_position LIMIT 100) s \gset
\if :last >= 0
INSERT INTO plstore.checkpoints VALUES ($CPNAME, :last) ON CONFLICT (name) DO UPDATE SET position = excluded.position;
\else
\set lap :lap + 1
\endif
COMMIT;
EOF
)
bench consumer_page100 1 100 es_store "$C_ES" plain_sql "$C_PLAIN"

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
lag_run() {
    local label=$1
    $PSQL -c "TRUNCATE bench_lag"
    (cd "$WORK" && pgbench -n -M prepared -c 4 -j 2 -R 1000 -T "$LAG_SECONDS" -f "$L_W" >/dev/null 2>&1) &
    local writers=$!
    $PSQL -c "SELECT bench_poll($LAG_SECONDS)" >/dev/null
    wait "$writers"
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
                RETURNING stream_id)
            INSERT INTO es_store.events (global_position, stream_id, aggregate_version, event_id,
                                         event_type, event_version, payload, metadata, created_at)
            SELECT nextval('es_store.global_position_seq'), h.stream_id, v, gen_random_uuid(),
                   'Filled', 1, '{\"amount\": 1}', '{}', now()
            FROM h, generate_series(1, 100) v" -c "VACUUM ANALYZE es_store.events"
        filled=$($PSQL -Atc "SELECT count(*) FROM es_store.events")
    fi
    bench "growth_append_$target" 1 1 es_store "$A_ES" >/dev/null
    bench "growth_read_$target" 1 10 es_store "$WORK/read10_es.sql" >/dev/null
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
            n = split("raw_insert plpgsql plain_select plain_sql", b, " ")
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
