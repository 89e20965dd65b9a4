#!/usr/bin/env bash
# test/check.sh: build and install es_store, start a throwaway cluster, and
# run every test suite: pg_regress, isolation, pgTAP, Perl TAP, and a
# smoke run of the benchmark.
# Ends with one line "N passed, N failed", counting test files.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

bash test/deps.sh || exit 1
ES_EXTRA_CFLAGS="-DUSE_ASSERT_CHECKING" bash test/build.sh || exit 1
# shellcheck source=test/cluster.sh
source test/cluster.sh start || exit 1
trap 'bash "$ROOT/test/cluster.sh" stop' EXIT

passed=0
failed=0
tally() {   # tally NAME RC
    if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok      $1"
    else failed=$((failed + 1)); echo "FAILED  $1"; fi
}

echo "== exported symbols (test/symbols.sh)"
bash test/symbols.sh
tally test/symbols.sh $?

echo "== pg_regress and isolation (make installcheck)"
make installcheck >"$ES_CLUSTER_DIR/installcheck.log" 2>&1
rc=$?
grep -E '\.\.\. (ok|FAILED|failed)' "$ES_CLUSTER_DIR/installcheck.log"
passed=$((passed + $(grep -cE '\.\.\. ok' "$ES_CLUSTER_DIR/installcheck.log")))
failed=$((failed + $(grep -cE '\.\.\. (FAILED|failed)' "$ES_CLUSTER_DIR/installcheck.log")))
if [ "$rc" != 0 ]; then
    tail -n 20 "$ES_CLUSTER_DIR/installcheck.log"
    for d in regression.diffs output_iso/regression.diffs; do
        [ -f "$d" ] && { echo "---- $d"; cat "$d"; }
    done
    grep -qE '\.\.\. (FAILED|failed)' "$ES_CLUSTER_DIR/installcheck.log" || failed=$((failed + 1))
fi

echo "== pgTAP (pg_prove)"
psql -Xq -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS es_store_pgtap" -c "CREATE DATABASE es_store_pgtap"
for f in test/pgtap/*.sql; do
    PGDATABASE=es_store_pgtap pg_prove -q "$f" >"$ES_CLUSTER_DIR/pgtap.log" 2>&1
    rc=$?
    [ "$rc" = 0 ] || cat "$ES_CLUSTER_DIR/pgtap.log"
    tally "$f" "$rc"
done

echo "== Perl TAP (make prove_installcheck)"
if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    echo "Citus is installed: the Citus suites (test/t/018_citus.pl to 022_citus_delegation.pl) run"
elif [ "${ES_REQUIRE_CITUS:-0}" = 1 ]; then
    echo "Citus is not installed and ES_REQUIRE_CITUS=1: the Citus suites (test/t/018 to 022) fail"
else
    echo "SKIPPED: the Citus suites (test/t/018_citus.pl to 022_citus_delegation.pl): Citus is not installed (bash test/citus_install.sh builds it)"
fi
# PostgreSQL::Test::Cluster runs initdb, which refuses root: run as postgres
# from a copy of the tree it can write to.
tapdir=$ROOT
run_tap() { make -s -C "$tapdir" prove_installcheck PROVE_TESTS="$1"; }
if [ "$(id -u)" = 0 ]; then
    tapdir=$(mktemp -d /tmp/es_store_tap.XXXXXX)
    cp -r "$ROOT/." "$tapdir/"
    chown -R postgres:postgres "$tapdir"
    run_tap() { runuser -u postgres -- make -s -C "$tapdir" prove_installcheck PROVE_TESTS="$1"; }
fi
for f in test/t/*.pl; do
    run_tap "$f" >"$ES_CLUSTER_DIR/tap.log" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then
        cat "$ES_CLUSTER_DIR/tap.log"
        cat "$tapdir"/tmp_check/log/regress_log_* 2>/dev/null | tail -n 50
    fi
    tally "$f" "$rc"
    # the figures the README's Reliability section reports
    grep -hE '^\[[^]]*\]\([^)]*\) (# (faults injected|fuzz seed|fuzz outcomes|raised|seed)|ok [0-9]+ - ([0-9]+ (matrix cases|fuzz calls)|.*acknowledged appends survived|the writers stored|the consumer, resumed|.*every row of .* is back|every stored event is decoded|every synchronously acknowledged|[0-9]+ conditional appends were stored|the check without the wait|es_store: no stored conditional|the load appended events|the consumer applied every committed|the feed.s safe position stays below))' \
        "$tapdir/tmp_check/log/regress_log_$(basename "$f" .pl)" 2>/dev/null | sed 's/^\[[^]]*\]([^)]*) /          /'
done
[ "$tapdir" != "$ROOT" ] && rm -rf "$tapdir"

echo "== benchmark smoke runs (test/bench/bench.sh --quick, test/bench/dcb.sh --quick, test/bench/citus.sh --quick)"
ES_BENCH_NO_BUILD=1 ES_BENCH_OUT="$ES_CLUSTER_DIR/bench" bash test/bench/bench.sh --quick \
    >"$ES_CLUSTER_DIR/bench.log" 2>&1
rc=$?
[ "$rc" = 0 ] || tail -n 40 "$ES_CLUSTER_DIR/bench.log"
tally "test/bench/bench.sh --quick" "$rc"
ES_BENCH_NO_BUILD=1 ES_BENCH_OUT="$ES_CLUSTER_DIR/bench" bash test/bench/dcb.sh --quick \
    >"$ES_CLUSTER_DIR/bench_dcb.log" 2>&1
rc=$?
[ "$rc" = 0 ] || tail -n 40 "$ES_CLUSTER_DIR/bench_dcb.log"
tally "test/bench/dcb.sh --quick" "$rc"
if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    ES_BENCH_NO_BUILD=1 ES_BENCH_OUT="$ES_CLUSTER_DIR/bench" bash test/bench/citus.sh --quick \
        >"$ES_CLUSTER_DIR/bench_citus.log" 2>&1
    rc=$?
    [ "$rc" = 0 ] || tail -n 40 "$ES_CLUSTER_DIR/bench_citus.log"
    tally "test/bench/citus.sh --quick" "$rc"
elif [ "${ES_REQUIRE_CITUS:-0}" = 1 ]; then
    tally "test/bench/citus.sh --quick (Citus is not installed)" 1
else
    echo "SKIPPED: test/bench/citus.sh --quick: Citus is not installed"
fi

echo "== the README's Getting started, pasted (test/readme.sh)"
bash test/readme.sh
tally test/readme.sh $?

echo "== client helpers (test/clients)"
PGDATABASE=postgres /usr/bin/python3 test/clients/python/test_bank.py >"$ES_CLUSTER_DIR/clients_python.log" 2>&1
rc=$?
tail -n 1 "$ES_CLUSTER_DIR/clients_python.log"
[ "$rc" = 0 ] || cat "$ES_CLUSTER_DIR/clients_python.log"
tally test/clients/python/test_bank.py "$rc"
# pg from the npm registry, as the helper's lockfile pins it; where the
# registry cannot be reached (no network, or a TLS proxy this machine does
# not trust), Debian's node-pg, which the test says it used
cas=/etc/ssl/certs/ca-certificates.crt
if (cd src/clients/node && NODE_EXTRA_CA_CERTS=$([ -f "$cas" ] && echo "$cas") \
        npm ci --no-audit --no-fund) >"$ES_CLUSTER_DIR/npm.log" 2>&1; then
    echo "client helper (Node.js): pg from the npm registry (npm ci)"
else
    echo "client helper (Node.js): npm ci failed ($(grep -m1 -o 'code [A-Z_]*' "$ES_CLUSTER_DIR/npm.log" || echo 'see npm.log')): Debian's node-pg instead"
    rm -rf src/clients/node/node_modules
fi
node test/clients/node/test_bank.js >"$ES_CLUSTER_DIR/clients_node.log" 2>&1
rc=$?
tail -n 1 "$ES_CLUSTER_DIR/clients_node.log"
[ "$rc" = 0 ] || cat "$ES_CLUSTER_DIR/clients_node.log"
tally test/clients/node/test_bank.js "$rc"

echo "== the source tarball on its own (test/dist.sh)"
bash test/dist.sh >"$ES_CLUSTER_DIR/dist.log" 2>&1
rc=$?
tail -n 3 "$ES_CLUSTER_DIR/dist.log"
tally test/dist.sh "$rc"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
