#!/usr/bin/env bash
# test/bench/chart.sh RESULTS_CSV PNG: plot single-event append throughput
# against clients for es_store and the baselines, from bench.sh's
# results.csv.  Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
csv=$1
png=$2
command -v gnuplot >/dev/null || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for store in es_store plpgsql raw_insert; do
    awk -F, -v s="$store" '$1 == "append_uniform" && $3 == s {print $2, $4}' "$csv" | sort -n >"$tmp/$store.dat"
done
gnuplot <<GP
set terminal pngcairo noenhanced size 800,480 font "sans,11"
set output "$png"
set title "Single-event appends with an expected version (uniform over aggregates)"
set xlabel "pgbench clients"
set ylabel "events per second"
set logscale x 2
set xtics (1, 8, 32)
set key top left
set grid ytics
set yrange [0:*]
plot "$tmp/es_store.dat" using 1:2 with linespoints lw 2 pt 7 title "es_store", \
     "$tmp/plpgsql.dat" using 1:2 with linespoints lw 2 pt 5 title "hand-written plpgsql store", \
     "$tmp/raw_insert.dat" using 1:2 with linespoints lw 2 pt 9 title "raw INSERT (floor)"
GP
echo "wrote $png"
