#!/usr/bin/env bash
# test/deps.sh: install the Debian 12 packages es_store needs to build and
# test, when any is missing.  Uses sudo when not run as root.
set -euo pipefail

# bsdextrautils: column(1), which the benchmark report uses;
# postgresql-15-pgaudit: the auditing TAP test (test/t/013_pgaudit.pl);
# python3-psycopg: the Python client helper's test (test/clients/python).
PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap pgtap
postgresql-15-pgaudit libipc-run-perl build-essential bsdextrautils
python3-psycopg ca-certificates"

missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# Node.js, npm and node-postgres (the Node.js client helper's test), from
# Debian unless the machine has Node.js and npm already (from nodesource,
# say, whose nodejs carries npm and conflicts with Debian's npm package).
# The test takes pg from the npm registry when it can reach it, else
# Debian's node-pg.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm node-pg"
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
