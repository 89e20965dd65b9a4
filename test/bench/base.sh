#!/usr/bin/env bash
# test/bench/base.sh: build and install an earlier es_store as the
# extension es_store_0_2_1 (or ES_BENCH_BASE_NAME), so that the benchmark
# can run it beside the current build in the same cluster and the same run.
#
#   bash test/bench/base.sh [COMMIT]    # default: the last commit of 0.2.1
#
# The earlier sources come from git (COMMIT's src/, Makefile and control
# file), unchanged except for one mechanical rename: every "es_store" in a
# file name or a file becomes the new name (extension, schema, library, C
# symbols, GUCs, messages).  The code that runs is the earlier code.
# Prints the new name; exits 3, installing nothing, when COMMIT is not in
# this clone (a shallow clone, say).
set -euo pipefail
cd "$(dirname "$0")/../.."
COMMIT=${1:-51a5aa2}
NAME=${ES_BENCH_BASE_NAME:-es_store_0_2_1}
if ! git cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "base.sh: commit $COMMIT is not in this clone" >&2
    exit 3
fi
DIR=$(mktemp -d /tmp/es_store_base.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
git archive "$COMMIT" src Makefile es_store.control | tar -x -C "$DIR"
(
    cd "$DIR"
    # rename files first (deepest paths last does not matter: only names change)
    find . -depth -name '*es_store*' | while read -r f; do
        mv "$f" "$(dirname "$f")/$(basename "$f" | sed "s/es_store/$NAME/g")"
    done
    grep -rl es_store . | xargs sed -i "s/es_store/$NAME/g"
    # -Bsymbolic: its functions call each other, never a function of the
    # same name in a library loaded before it (the current es_store)
    make -s -j2 LDFLAGS_SL=-Wl,-Bsymbolic >/dev/null
    make -s install >/dev/null
)
echo "$NAME"
