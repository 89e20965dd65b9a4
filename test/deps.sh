#!/usr/bin/env bash
# test/deps.sh: install the Debian 12 packages es_store needs to build and
# test, when any is missing.  Uses sudo when not run as root.
set -euo pipefail

PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap pgtap
libipc-run-perl build-essential"

missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
