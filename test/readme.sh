#!/usr/bin/env bash
# test/readme.sh: the README's "Getting started" SQL, pasted into psql in a
# new database, runs as the README says: every statement succeeds but the
# one the README shows failing with SE001; then its "A consumer loop" runs
# over those events and catches up.  Needs a running server
# (PGHOST/PGPORT/PGUSER as a superuser, as test/check.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/.."
PSQL="psql -X -q"
db=es_readme_$$
sql=$(awk '/^## Getting started/ {on = 1} on && /^```sql/ {grab = 1; next} grab && /^```/ {exit} grab {print}' README.md)
[ -n "$sql" ] || { echo "readme.sh: no SQL under Getting started" >&2; exit 1; }
$PSQL -d postgres -c "CREATE DATABASE $db"
trap '$PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
out=$(printf '%s\n' "$sql" | $PSQL -d "$db" -v VERBOSITY=verbose 2>&1 >/dev/null || true)
errors=$(printf '%s\n' "$out" | grep -c '^ERROR:' || true)
if [ "$errors" != 1 ] || ! printf '%s\n' "$out" | grep -q '^ERROR:  SE001: wrong expected version for stream "shop/order/1001"'; then
    echo "readme.sh: Getting started did not run as the README says:" >&2
    printf '%s\n' "$out" >&2
    exit 1
fi
echo "readme.sh: Getting started ran; the one error is the SE001 the README shows"

# "A consumer loop", as the README has it, over those events: it ends with
# the checkpoint at the last event
loop=$(awk '/^### A consumer loop/ {on = 1} on && /^```sql/ {grab = 1; next} grab && /^```/ {exit} grab {print}' README.md)
[ -n "$loop" ] || { echo "readme.sh: no SQL under A consumer loop" >&2; exit 1; }
printf '%s\n' "$loop" | $PSQL -d "$db" -v ON_ERROR_STOP=1 >/dev/null
caught_up=$($PSQL -d "$db" -Atc "SELECT es_store.get_checkpoint('orders-view') = (SELECT max(global_position) FROM es_store.read_feed(0, 100000))")
[ "$caught_up" = t ] || { echo "readme.sh: the consumer loop did not catch up" >&2; exit 1; }
echo "readme.sh: the consumer loop ran and caught up"

# "Dynamic Consistency Boundary": the course subscription answers as the
# README says
dcb=$(awk '/^## Dynamic Consistency Boundary/ {on = 1} on && /^```sql/ {grab = 1; next} grab && /^```/ {exit} grab {print}' README.md)
[ -n "$dcb" ] || { echo "readme.sh: no SQL under Dynamic Consistency Boundary" >&2; exit 1; }
answers=$(printf '%s\n' "$dcb" | $PSQL -d "$db" -At -v ON_ERROR_STOP=1 | grep -v '^1$' | grep -v '^CREATE FUNCTION$' || true)
want=$(printf '%s\n' 's1 subscribed to c1' 's2 subscribed to c1' 'course c1 is full' 's1 subscribed to c2' 'student s1 has 2 courses already')
if [ "$answers" != "$want" ]; then
    echo "readme.sh: the course subscription did not answer as the README says:" >&2
    printf '%s\n' "$answers" >&2
    exit 1
fi
echo "readme.sh: the course subscription of Dynamic Consistency Boundary answered as the README says"

# "Monitoring and alerting": its alert queries run as written
alerts=$(awk '/^## Monitoring and alerting/ {on = 1; next} on && /^## / {exit} on && /^```sql/ {grab = 1; next} grab && /^```/ {grab = 0; next} grab {print}' README.md)
[ -n "$alerts" ] || { echo "readme.sh: no SQL under Monitoring and alerting" >&2; exit 1; }
printf '%s\n' "$alerts" | $PSQL -d "$db" -v ON_ERROR_STOP=1 >/dev/null
echo "readme.sh: the alert queries of Monitoring and alerting ran"
