#!/usr/bin/env bash
# test/bench/callgrind.sh: instructions per call of es_store's functions,
# counted by valgrind's callgrind in single-user mode (repeatable whatever
# else the machine does), for the installed build, beside the same calls
# with SET search_path = pg_catalog, pg_temp on the functions (what guard.c
# does instead, in C) and beside a trivial statement (the per-statement
# floor of single-user mode).  Each figure is over ES_CG_CALLS statements
# (default 2000), one transaction each, minus the trivial statement's cost.
#
#   bash test/bench/callgrind.sh        # needs valgrind (Debian package valgrind)
set -euo pipefail
cd "$(dirname "$0")/../.."
CALLS=${ES_CG_CALLS:-2000}
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
command -v valgrind >/dev/null || { echo "callgrind.sh: install valgrind" >&2; exit 2; }
WORK=$(mktemp -d /tmp/es_store_callgrind.XXXXXX)
chmod 0777 "$WORK"
trap 'rm -rf "$WORK"' EXIT
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# statements KIND: ES_CG_CALLS statements of one kind
statements() {
    for i in $(seq 1 "$CALLS"); do
        a=$(( (i * 7919) % 1000 + 1 ))
        case $1 in
            append) echo "SELECT (es_store.append_event('b', 'a', '$a', NULL, 'E', '{\"x\": 1}')).global_position;" ;;
            append_3_tags) echo "SELECT (es_store.append_event('b', 'a', '$a', NULL, 'E', '{\"x\": 1}', tags => ARRAY['account:$a', 'branch:$(( a % 100 ))', 'customer:$(( a % 50 ))'])).global_position;" ;;
            condition) echo "SELECT (es_store.append_if('[{\"event_type\": \"E\", \"payload\": 1, \"tags\": [\"scope:$i\"]}]', '{\"items\": [{\"types\": [\"E\"], \"tags\": [\"scope:$i\"]}]}', es_store.last_position())).global_position;" ;;
            read) echo "SELECT count(*) FROM es_store.read_aggregate('b', 'a', '$a', NULL, NULL, 10);" ;;
            version) echo "SELECT es_store.aggregate_version('b', 'a', '$a');" ;;
            floor) echo "SELECT $a;" ;;
        esac
    done
}

# count VARIANT KIND: instructions of ES_CG_CALLS statements
count() {
    local data=$WORK/data_$1
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$1.$2" \
        "$BIN/postgres" --single -D "$data" -c fsync=off postgres <"$WORK/$2.sql" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
export -f count
export WORK BIN

for kind in append read version append_3_tags condition floor; do
    statements "$kind" >"$WORK/$kind.sql"
done
for variant in guard pinned; do
    as_owner "$BIN/initdb" -D "$WORK/data_$variant" -U postgres -A trust --no-sync -E UTF8 --locale=C >/dev/null
    {
        echo "CREATE EXTENSION es_store;"
        echo "SELECT count(*) FROM generate_series(1, 1000) g, es_store.append_event('b', 'a', g::text, 0, 'E', '{}');"
        if [ "$variant" = pinned ]; then
            for f in "append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[])" \
                     "read_aggregate(text, text, text, bigint, bigint, integer)" \
                     "aggregate_version(text, text, text)"; do
                echo "ALTER FUNCTION es_store.$f SET search_path = pg_catalog, pg_temp;"
            done
        fi
    } >"$WORK/setup.sql"
    as_owner "$BIN/postgres" --single -D "$WORK/data_$variant" -c fsync=off postgres <"$WORK/setup.sql" >/dev/null 2>&1
done

floor=$(as_owner bash -c 'count guard floor')
printf '%-20s %14s %14s %8s\n' "call" "guard.c" "SET search_path" "ratio"
# reads before the tagged appends, so that they read what 0.3.0's did
for kind in append read version append_3_tags condition; do
    g=$(as_owner bash -c "count guard $kind")
    p=$(as_owner bash -c "count pinned $kind")
    gi=$(( (g - floor) / CALLS ))
    pi=$(( (p - floor) / CALLS ))
    printf '%-20s %14d %14d %8.3f\n' "$kind" "$gi" "$pi" "$(awk "BEGIN { print $pi / $gi }")"
done
echo "(instructions per call, less $(( floor / CALLS )) for a trivial statement)"
