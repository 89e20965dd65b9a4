#!/usr/bin/env bash
# test/symbols.sh: the installed library exports exactly what PostgreSQL
# looks up by name (Makefile, src/exports.map): the magic block, _PG_init,
# and each C function an install or upgrade script names, with its info
# record.  Anything more could interpose on, or be interposed by, a symbol
# of the same name in another loaded library.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/es_store.so
expected=$( { printf '%s\n' Pg_magic_func _PG_init
              grep -ho "'MODULE_PATHNAME', *'[a-z_0-9]*'" src/sql/*.sql | sed "s/.*, *'\(.*\)'/\1/" |
                  sort -u | while read -r f; do printf '%s\npg_finfo_%s\n' "$f" "$f"; done; } | sort -u)
actual=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort -u)
if [ "$expected" != "$actual" ]; then
    echo "symbols.sh: $LIB exports other symbols than expected (< expected, > exported):"
    diff <(echo "$expected") <(echo "$actual") || true
    exit 1
fi
echo "symbols.sh: $(echo "$actual" | wc -l) symbols exported, as expected"
