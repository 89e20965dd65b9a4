#!/usr/bin/env bash
# test/bench/callgrind_feed.sh: server instructions per feed page of 1000
# events, counted by callgrind in every backend of a throwaway cluster (so
# that the rows' output to the client is counted, as a real read pays it),
# for es_store's read_feed beside the plain single-table SELECT a user
# would write instead, once with jsonb payloads and once with bytea
# payloads (pupsourcing's type; es_store's payload_bytes, appended with
# append_event_bytes).  Repeatable whatever else the machine does, unlike
# events/s on a shared two-core VM.
#
#   bash test/bench/callgrind_feed.sh   # needs valgrind; ES_CGF_PAGES (default 100)
#
# Each store's figure is (instructions of a backend that read 2P pages -
# those of one that read P pages) / P, so connection start-up cancels out.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAGES=${ES_CGF_PAGES:-100}
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
command -v valgrind >/dev/null || { echo "callgrind_feed.sh: install valgrind" >&2; exit 2; }
WORK=$(mktemp -d /tmp/es_store_cgfeed.XXXXXX)
chmod 0777 "$WORK"
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PORT=${ES_CGF_PORT:-54377}
stop() { as_owner "$BIN/pg_ctl" -D "$WORK/data" stop -m fast -w >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$WORK"' EXIT
OPTS="-k $WORK -p $PORT -c listen_addresses= -c autovacuum=off -c shared_buffers=256MB"
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d postgres)

as_owner "$BIN/initdb" -D "$WORK/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >/dev/null
as_owner "$BIN/pg_ctl" -D "$WORK/data" -o "$OPTS" -w start -l "$WORK/fill.log" >/dev/null
# 100,000 events over 10,000 aggregates, interleaved (consecutive
# positions belong to different aggregates), the same rows in each store
"${PSQL[@]}" <<'SQL'
CREATE EXTENSION es_store;
CREATE PROCEDURE public.fill() LANGUAGE plpgsql AS $$
BEGIN
	FOR v IN 1 .. 10 LOOP
		PERFORM es_store.append_event('Billing', 'Account', 'acc-' || s, NULL, 'Deposited',
									  '{"amount": 10, "currency": "EUR"}', '{"user": "u1"}')
		FROM generate_series(0, 9999) s;
		COMMIT;
	END LOOP;
END $$;
CALL public.fill();
CREATE DATABASE bytes;
\c bytes
CREATE EXTENSION es_store;
-- the same events with the payload's JSON text as bytes
CREATE PROCEDURE public.fill() LANGUAGE plpgsql AS $$
BEGIN
	FOR v IN 1 .. 10 LOOP
		PERFORM es_store.append_event_bytes('Billing', 'Account', 'acc-' || s, NULL, 'Deposited',
			pg_catalog.convert_to('{"amount": 10, "currency": "EUR"}', 'UTF8'), '{"user": "u1"}')
		FROM generate_series(0, 9999) s;
		COMMIT;
	END LOOP;
END $$;
CALL public.fill();
VACUUM ANALYZE;
\c postgres
-- the columns a hand-written store would have: es_store.event's but payload_bytes
CREATE TABLE public.single_jsonb AS
SELECT global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
	   event_id, event_type, event_version, payload, metadata, correlation_id,
	   causation_id, trace_id, created_at
FROM es_store.read_feed(0, 100000);
ALTER TABLE public.single_jsonb ADD PRIMARY KEY (global_position);
CREATE UNIQUE INDEX ON public.single_jsonb (bounded_context, aggregate_type, aggregate_id, aggregate_version);
CREATE TABLE public.single_bytea AS SELECT * FROM public.single_jsonb ORDER BY global_position;
ALTER TABLE public.single_bytea ALTER COLUMN payload TYPE bytea
	USING pg_catalog.convert_to(payload::text, 'UTF8');
ALTER TABLE public.single_bytea ADD PRIMARY KEY (global_position);
CREATE UNIQUE INDEX ON public.single_bytea (bounded_context, aggregate_type, aggregate_id, aggregate_version);
VACUUM ANALYZE;
CHECKPOINT;
SQL
stop

feed='\set p random(0, 99000)'
printf '%s\nSELECT * FROM es_store.read_feed(:p, 1000);\n' "$feed" >"$WORK/es_store.sql"
cp "$WORK/es_store.sql" "$WORK/es_store_bytes.sql"
for t in single_jsonb single_bytea; do
    printf '%s\nSELECT * FROM public.%s WHERE global_position > :p ORDER BY global_position LIMIT 1000;\n' \
        "$feed" "$t" >"$WORK/$t.sql"
done

as_owner bash -c "valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file=$WORK/cg.%p $BIN/postgres -D $WORK/data $OPTS >$WORK/server.log 2>&1 &"
for _ in $(seq 1 120); do "${PSQL[@]}" -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done

# backend NAME PAGES: instructions of the backend that ran PAGES pages
backend() {
    local before after db=postgres
    [ "$1" = es_store_bytes ] && db=bytes
    before=$(ls "$WORK"/cg.* 2>/dev/null | sort || true)
    "$BIN/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -M prepared --random-seed=1 \
        -c 1 -t "$2" -f "$WORK/$1.sql" "$db" >/dev/null 2>&1
    # a backend writes its profile when it exits: wait until no more come
    local n=-1 m
    for _ in $(seq 1 60); do
        sleep 2
        m=$(ls "$WORK"/cg.* | wc -l)
        [ "$m" = "$n" ] && break
        n=$m
    done
    after=$(comm -13 <(echo "$before") <(ls "$WORK"/cg.* | sort))
    # the pgbench run's own backend is the largest new profile
    for f in $after; do sed -n 's/^summary: //p' "$f"; done | sort -n | tail -1
}

STORES="es_store single_jsonb es_store_bytes single_bytea"
printf '%-15s %14s %12s\n' store instructions "es/single"
declare -A per
for s in $STORES; do
    one=$(backend "$s" "$PAGES")
    two=$(backend "$s" $((2 * PAGES)))
    per[$s]=$(( (two - one) / PAGES ))
done
# each es_store beside the single table with its payload type
ratio() { awk "BEGIN { printf \"%.3f\", $1 / $2 }"; }
printf '%-15s %14d %12s\n' es_store "${per[es_store]}" "$(ratio "${per[es_store]}" "${per[single_jsonb]}")"
printf '%-15s %14d %12s\n' single_jsonb "${per[single_jsonb]}" 1.000
printf '%-15s %14d %12s\n' es_store_bytes "${per[es_store_bytes]}" "$(ratio "${per[es_store_bytes]}" "${per[single_bytea]}")"
printf '%-15s %14d %12s\n' single_bytea "${per[single_bytea]}" 1.000
echo "(server instructions per page of 1000 events, output to the client included; lower is faster;"
echo " es/single: es_store over the single table with the same payload type)"
