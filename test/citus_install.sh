#!/usr/bin/env bash
# test/citus_install.sh: build and install Citus (a test dependency of the
# Citus suite, test/t/018_citus.pl) from its unmodified source tarball,
# when it is not installed yet.  Citus is not a Debian package; the
# tarball is not part of this tree (AGPL-3.0, never copied in): it is
# looked for at ES_CITUS_TARBALL, else ../shared/vendor/citus-13.2.2.tar.gz
# beside the tree.
#
#   bash test/citus_install.sh     # exit 0: installed (or already there);
#                                  # exit 3: no tarball, nothing done
# Uses sudo when not run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
VERSION=13.2.2
SHA256=c8fc76dc8294636a52b1a0dd75a20d8b4a36937df6443e30ca84d8d0464a6bb9
TARBALL=${ES_CITUS_TARBALL:-$(pwd)/../shared/vendor/citus-$VERSION.tar.gz}

if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] &&
        grep -q "^default_version = '13.2-" "$("$PG_CONFIG" --sharedir)/extension/citus.control" 2>/dev/null; then
    echo "citus_install.sh: Citus $VERSION is installed"
    exit 0
fi
if [ ! -f "$TARBALL" ]; then
    echo "citus_install.sh: no Citus source at $TARBALL; not installed"
    exit 3
fi
echo "$SHA256  $TARBALL" | sha256sum -c --quiet - || {
    echo "citus_install.sh: $TARBALL is not the Citus $VERSION source (sha256)" >&2; exit 1; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
# what Citus's configure asks for on Debian 12
PACKAGES="build-essential postgresql-server-dev-15 libcurl4-openssl-dev liblz4-dev libzstd-dev
libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev libicu-dev"
missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "citus_install.sh: installing:$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d /tmp/es_store_citus_build.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xzf "$TARBALL" -C "$work"
# PostgreSQL 15.14 and later export have_createdb_privilege(), which Citus
# 13.2.2's compatibility header still defines for versions before 16 as a
# static function: the two clash.  Rename Citus's copy in this throwaway
# build tree, so that its callers use the server's.
if grep -q "^extern bool have_createdb_privilege" "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h"; then
    sed -i 's/^have_createdb_privilege(void)$/citus_unused_have_createdb_privilege(void)/' \
        "$work/citus-$VERSION/src/include/pg_version_compat.h"
fi
start=$(date +%s)
(
    cd "$work/citus-$VERSION"
    ./configure PG_CONFIG="$PG_CONFIG" >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log"; exit 1; }
    make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 30 "$work/make.log"; exit 1; }
    $SUDO make install >"$work/install.log" 2>&1 || { tail -n 30 "$work/install.log"; exit 1; }
)
echo "citus_install.sh: Citus $VERSION built and installed in $(( $(date +%s) - start )) s"
