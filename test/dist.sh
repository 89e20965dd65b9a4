#!/usr/bin/env bash
# test/dist.sh: the source tarball (make dist) builds, installs and passes
# the pg_regress, isolation and pgTAP suites on its own, against the running
# cluster (PGHOST/PGPORT, as test/check.sh sets them); its version agrees
# with es_store.control, META.json and CHANGELOG.md; and, in a git work
# tree, it holds exactly the tracked files.  Installs the tarball's build.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
v=$(sed -n "s/^default_version = '\(.*\)'/\1/p" es_store.control)

fail() { echo "dist.sh: $*" >&2; exit 1; }
grep -q "^   \"version\": \"$v\"," META.json || fail "META.json's version is not $v"
grep -q "\"file\": \"src/sql/es_store--$v.sql\"" META.json || fail "META.json does not provide es_store--$v.sql"
grep -q "^## $v" CHANGELOG.md || fail "CHANGELOG.md has no section for $v"
[ -f "src/sql/es_store--$v.sql" ] || fail "no install script for $v"

work=$(mktemp -d /tmp/es_store_dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
make -s dist PG_CONFIG="$PG_CONFIG"
mv "es_store-$v.tar.gz" "$work/"
tar -xzf "$work/es_store-$v.tar.gz" -C "$work"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # the tree as it is here: tracked files, and new ones not ignored
    diff <(cd "$work/es_store-$v" && find . -type f | sed 's,^\./,,' | sort) \
         <(git ls-files --cached --others --exclude-standard | sort -u) \
        || fail "the tarball's files are not the tree's (< tarball, > git)"
fi
echo "dist.sh: es_store-$v.tar.gz has $(tar -tzf "$work/es_store-$v.tar.gz" | grep -vc '/$') files"

cd "$work/es_store-$v"
make -s PG_CONFIG="$PG_CONFIG" PG_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wmissing-prototypes"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO make -s PG_CONFIG="$PG_CONFIG" install
if ! make -s PG_CONFIG="$PG_CONFIG" installcheck >"$work/installcheck.log" 2>&1; then
    tail -n 30 "$work/installcheck.log"
    fail "the tarball's tests failed"
fi
grep -E 'tests passed' "$work/installcheck.log"
if command -v pg_prove >/dev/null 2>&1; then
    psql -Xq -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS es_store_dist_pgtap" -c "CREATE DATABASE es_store_dist_pgtap"
    PGDATABASE=es_store_dist_pgtap make -s PG_CONFIG="$PG_CONFIG" pgtap >"$work/pgtap.log" 2>&1 \
        || { tail -n 20 "$work/pgtap.log"; fail "the tarball's pgTAP tests failed"; }
    psql -Xq -d postgres -c "DROP DATABASE es_store_dist_pgtap"
    grep -E '^Result' "$work/pgtap.log"
fi
