#!/usr/bin/env bash
# test/demo.sh: from a fresh Debian 12 machine, install what es_store needs,
# build and install it, start a throwaway cluster, and run the tour in
# test/demo.sql.  ES_KEEP_CLUSTER=1 leaves the cluster running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash test/deps.sh
bash test/build.sh
# shellcheck source=test/cluster.sh
source test/cluster.sh start
if [ "${ES_KEEP_CLUSTER:-0}" != 1 ]; then
    trap 'bash "$ROOT/test/cluster.sh" stop' EXIT
fi

psql -X -v ON_ERROR_STOP=1 -f test/demo.sql

if [ "${ES_KEEP_CLUSTER:-0}" = 1 ]; then
    echo
    echo "The cluster is still running; connect with:"
    echo "  psql -h $PGHOST -p $PGPORT -U postgres"
    echo "Stop it with: bash test/cluster.sh stop"
fi
