#!/usr/bin/env bash
# test/build.sh: build es_store with warnings as errors and install it into
# the system PostgreSQL 15 (sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

CFLAGS_STRICT="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wmissing-prototypes"
make -s clean
make -s PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config PG_CFLAGS="$CFLAGS_STRICT ${ES_EXTRA_CFLAGS:-}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO make -s PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config install
