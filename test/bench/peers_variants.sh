#!/usr/bin/env bash
# test/bench/peers_variants.sh: ../shared/peers-bench's read blocks with two
# like-for-like variants of es_store beside the stores it ships.
#
#   bash test/bench/peers_variants.sh              # payloads as jsonb (append_event), as peers-bench fills it
#   PAYLOAD=bytea bash test/bench/peers_variants.sh  # es_store filled through append_event_bytes, the same
#                                                    # JSON text as bytes, as pupsourcing stores its payload
#
# Beside every store peers-bench reads, the feed block also reads
#   es_store_cols:  SELECT of the information Emmett's readMessagesBatch
#                   returns (stream key, versions, position, payload,
#                   metadata, type, id: no timestamp, no correlation ids)
#                   from es_store.read_feed;
#   plain_ref_cols: the same columns from the plain single table.
# So a page can be compared with Emmett's on equal rows: peers-bench's
# es_store row returns 14 columns, Emmett's 9 (and no timestamptz, whose
# output alone is about a tenth of a page's cost).
#
# peers-bench is copied to a temporary folder and the copy changed there; the
# shared folder is left as it is.  Needs ../shared/peers-bench, and for the
# Emmett rows EMMETT_GIT (a fetched github:event-driven-io/emmett git dir).
# Other settings (ROUNDS, SECONDS, READ_CLIENTS, OUT, ...) pass through.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/../shared/peers-bench
[ -f "$SRC/run.sh" ] || { echo "peers_variants: $SRC is not there" >&2; exit 1; }
COPY=$(mktemp -d "${TMPDIR:-/tmp}/es-peers-variants.XXXXXX")
trap 'rm -rf "$COPY"' EXIT
cp -r "$SRC/." "$COPY/"

cat >"$COPY/pgbench/rf_es_cols.sql" <<'EOF'
\set p random(0, :maxp)
SELECT aggregate_type, aggregate_id, aggregate_version, global_position, payload, metadata, event_version, event_type, event_id FROM es_store.read_feed(:p, 1000);
EOF
cat >"$COPY/pgbench/rf_plain_ref_cols.sql" <<'EOF'
\set p random(0, :maxp)
SELECT aggregate_type, aggregate_id, aggregate_version, global_position, payload, metadata, event_type, event_id FROM ref.events WHERE global_position > :p ORDER BY global_position LIMIT 1000;
EOF

# change the copy, and fail loudly when a line to change is not there
edit() {   # edit FILE OLD NEW
    grep -qF -- "$2" "$1" || { echo "peers_variants: '$2' not found in $1" >&2; exit 1; }
    OLD=$2 NEW=$3 perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$1"
}
edit "$COPY/run.sh" 'RF="es_store:rf_es:postgres ' \
    'RF="es_store:rf_es:postgres es_store_cols:rf_es_cols:postgres plain_ref_cols:rf_plain_ref_cols:postgres '
if [ "${PAYLOAD:-jsonb}" = bytea ]; then
    edit "$COPY/run.sh" "PERFORM es_store.append_event('Billing', 'Account', 'acc-' || s, NULL, 'Deposited', \$PAY, \$META)" \
        "PERFORM es_store.append_event_bytes('Billing', 'Account', 'acc-' || s, NULL, 'Deposited', convert_to(\$PAY, 'UTF8'), \$META)"
fi

cd "$ROOT"
# peers-bench's own cluster, whatever PG* variables this shell has
env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
    ONLY="${ONLY:-^r[sf]-c[18]\$}" OUT="${OUT:-${TMPDIR:-/tmp}/es-peers-variants-${PAYLOAD:-jsonb}}" \
    bash "$COPY/run.sh"
