#!/usr/bin/env bash
# test/bench/report.sh OUT_DIR: render a bench.sh run (results.csv,
# ratios.csv, lag.csv, growth.csv) as the Markdown tables of README.md's
# Performance section.
set -euo pipefail
out=$1

echo "| Scenario | Clients | es_store events/s | p50 / p99 ms | Baseline | Baseline events/s | p50 / p99 ms | Ratio |"
echo "|---|---:|---:|---:|---|---:|---:|---:|"
awk -F, '
    FNR == 1 { next }
    FILENAME ~ /results\.csv$/ { lat[$1 "," $2 "," $3] = $5 " / " $6; next }
    { printf "| %s | %s | %s | %s | %s | %s | %s | **%.2f** |\n",
             $1, $2, $3, lat[$1 "," $2 ",es_store"], $4, $5, lat[$1 "," $2 "," $4], $6 }
' "$out/results.csv" "$out/ratios.csv"
echo
echo "| Feed lag (commit to first read) | Events | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
awk -F, 'NR > 1 { gsub("_", " ", $1); printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$out/lag.csv"
echo
echo "| Stored events | Append p50 / p99 ms | Read (10 events) p50 / p99 ms |"
echo "|---:|---:|---:|"
awk -F, 'NR > 1 { printf "| %d | %s / %s | %s / %s |\n", $1, $2, $3, $4, $5 }' "$out/growth.csv"
