#!/usr/bin/env bash
# run.sh - `persona features` vs pandas vs DuckDB on canonical event logs.
#
#   bench/features/run.sh [SIZES]      SIZES like "1000000:20000 5000000:100000"
#                                      (events:users; default these two and
#                                      5000000:20000, the memory check)
# Prints one markdown row per tool and size: wall seconds (median of
# RUNS for persona, one run for the others), CPU seconds (user + sys),
# events/s by wall time, peak RSS.  Checks that the three outputs agree
# (bench/features/compare.py, relative 1e-9 on the 12-digit CSV).
# Needs /usr/bin/python3 with pandas and numpy, node with @duckdb/node-api
# in bench/pipeline/node_modules.  Data goes to ${BENCH_TMP:-/tmp/persona-bench-features}.
set -eu
cd "$(dirname "$0")/../.."
SIZES=${1:-"1000000:20000 5000000:100000 5000000:20000"}
RUNS=${RUNS:-3}
DIR=${BENCH_TMP:-/tmp/persona-bench-features}
PERSONA=${PERSONA:-build/persona}
mkdir -p "$DIR"

# measure NAME CMD... : runs CMD under /usr/bin/time, prints "wall cpu rss_mb"
measure() {
  /usr/bin/time -f "%e %U %S %M" -o "$DIR/time" "$@" >/dev/null 2>"$DIR/stderr" || {
    cat "$DIR/stderr" >&2; exit 1; }
  awk '{printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024}' "$DIR/time"
}

echo "| events | users | tool | wall s | CPU s | events/s | peak RSS MB |"
echo "|---:|---:|---|---:|---:|---:|---:|"
for size in $SIZES; do
  n=${size%%:*}; users=${size##*:}
  ev="$DIR/events-$n-$users.csv"
  [ -s "$ev" ] || /usr/bin/python3 bench/features/gen_events.py "$n" "$users" "$ev"
  # persona: median wall of RUNS runs, on all cores and on one thread
  for t in 0 1; do
    for i in $(seq "$RUNS"); do
      measure $PERSONA features -q -t $t --events "$ev" --out "$DIR/persona-$n-$users-t$t.csv" \
        --npy "$DIR/persona-$n-$users.npy"
    done | sort -n | awk -v n="$n" -v u="$users" -v runs="$RUNS" -v t="$t" \
      'NR == int((runs + 1) / 2) {printf "| %d | %d | persona features (%s) | %.2f | %.2f | %.0f | %d |\n",
                                  n, u, t ? "1 thread" : "all cores", $1, $2, n / $1, $3}'
  done
  cmp "$DIR/persona-$n-$users-t0.csv" "$DIR/persona-$n-$users-t1.csv" >&2
  cp "$DIR/persona-$n-$users-t0.csv" "$DIR/persona-$n-$users.csv"
  read -r w c m < <(measure /usr/bin/python3 tests/fixtures/features/make_expected.py "$ev" "$DIR/pandas-$n-$users.csv")
  printf "| %d | %d | pandas | %.2f | %.2f | %.0f | %d |\n" "$n" "$users" "$w" "$c" "$(echo "$n / $w" | bc)" "$m"
  read -r w c m < <(NODE_PATH=bench/pipeline/node_modules measure node bench/features/duckdb_features.js "$ev" "$DIR/duckdb-$n-$users.csv")
  printf "| %d | %d | DuckDB (all cores) | %.2f | %.2f | %.0f | %d |\n" "$n" "$users" "$w" "$c" "$(echo "$n / $w" | bc)" "$m"
  /usr/bin/python3 bench/features/compare.py "$DIR/persona-$n-$users.csv" "$DIR/pandas-$n-$users.csv" >&2
  /usr/bin/python3 bench/features/compare.py "$DIR/persona-$n-$users.csv" "$DIR/duckdb-$n-$users.csv" >&2
done
