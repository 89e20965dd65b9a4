# test/bench/lib.sh: the measuring loop test/bench/dcb.sh and citus.sh share
# (sourced).  The caller sets WORK (pgbench's working directory), DURATION,
# REPEATS and CSV (the file rows go to), declares the associative array
# RESULT, and defines store_run STORE CLIENTS SEED SCRIPT, which runs one
# pgbench run of STORE (pgbench_tps, with the store's connection) and
# prints its tps.

# median VALUE...
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# pgbench_tps CLIENTS SEED SCRIPT: one pgbench run of DURATION seconds
# (prepared statements; the connection from PG* variables), printing its tps
pgbench_tps() {
    local clients=$1 seed=$2 script=$3 jobs out
    jobs=$(( clients < 2 ? 1 : 2 ))
    out=$(cd "$WORK" && pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$DURATION" \
        --random-seed="$seed" -f "$script" 2>&1) || { echo "$out" >&2; return 1; }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p'
}

# bench SCENARIO CLIENTS STORE SCRIPT [STORE SCRIPT ...]: each store warmed
# up once, then REPEATS rounds in alternating order (so that no store
# always runs on the cache, WAL and autovacuum state another left); the
# median of each store goes to RESULT[SCENARIO,CLIENTS,STORE], to CSV and
# to stdout
bench() {
    local scenario=$1 clients=$2
    shift 2
    local -a stores=() scripts=()
    local -A lists=()
    while [ $# -gt 0 ]; do stores+=("$1"); scripts+=("$2"); shift 2; done
    for i in "${!stores[@]}"; do store_run "${stores[$i]}" "$clients" 1 "${scripts[$i]}" >/dev/null; done
    for r in $(seq 1 "$REPEATS"); do
        local order
        order=$(seq 0 $(( ${#stores[@]} - 1 )))
        [ $(( r % 2 )) = 0 ] && order=$(echo "$order" | tac)
        for i in $order; do
            lists[$i]="${lists[$i]:-} $(store_run "${stores[$i]}" "$clients" "$r" "${scripts[$i]}")"
        done
    done
    for i in "${!stores[@]}"; do
        local m
        # shellcheck disable=SC2086
        m=$(median ${lists[$i]})
        RESULT["$scenario,$clients,${stores[$i]}"]=$m
        echo "$scenario,$clients,${stores[$i]},$m" >>"$CSV"
        printf '%-10s %3s clients  %-22s %10.0f /s\n' "$scenario" "$clients" "${stores[$i]}" "$m"
    done
}
