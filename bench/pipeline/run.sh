#!/usr/bin/env bash
# bench/pipeline/run.sh - clean + features on the demo shop's raw events:
# persona (clean then features) vs pandas vs DuckDB, same data, same run.
#
#   bench/pipeline/run.sh [SMALL_USERS] [LARGE_USERS] [REPS]
#
# Defaults: 20000 users (~1M events) and 100000 users (~5.2M events), 3
# repetitions (then persona alone on 20000 users with ACTIVITY=5 times the
# events, to separate memory per user from memory per event), run in rounds (persona, pandas, duckdb, then again) so that
# load drift on a shared machine hits all three alike.  Reports the median
# wall time, events/s (raw events.csv rows / median time) and the median of
# the peak resident set sizes (GNU time -v; for persona the larger of its
# two processes).  Data and outputs go to bench/out/pipeline/ (git-ignored);
# the table is printed and written to bench/out/pipeline/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SMALL=${1:-20000}
LARGE=${2:-100000}
REPS=${3:-3}
OUT=bench/out/pipeline
PY=/usr/bin/python3
mkdir -p "$OUT"

make -s -j2 build/persona
[ -x /usr/bin/time ] || scripts/install-deps.sh --bench
[ -d bench/pipeline/node_modules/@duckdb/node-api ] ||
  (cd bench/pipeline && npm install --no-audit --no-fund --silent)

# measure NAME CMD... : appends "wall_s peak_kb" of one run to $OUT/NAME.runs
measure() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$OUT/time.txt" "$@" >"$OUT/$name.log" 2>&1 ||
    { echo "FAILED: $*" >&2; cat "$OUT/$name.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  local kb
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time.txt")
  awk -v a="$t0" -v b="$t1" -v k="$kb" 'BEGIN {printf "%.3f %d\n", b - a, k}' >>"$OUT/$name.runs"
}

# persona's two stages: the wall times add, the peak is the larger one.
measure_persona() {
  local tag=$1 data=$2
  measure "$tag.clean" build/persona clean --schema events --in "$data/events.csv" \
    --out "$OUT/$tag.clean.csv" --quarantine "$OUT/$tag.quarantine.csv" -q
  measure "$tag.features" build/persona features --events "$OUT/$tag.clean.csv" \
    --out "$OUT/$tag.persona.features.csv" -q
  local c f
  c=$(tail -n 1 "$OUT/$tag.clean.runs"); f=$(tail -n 1 "$OUT/$tag.features.runs")
  echo "$c $f" | awk '{printf "%.3f %d\n", $1 + $3, ($2 > $4 ? $2 : $4)}' >>"$OUT/$tag.persona.runs"
}

summary() { # median wall, median peak of a .runs file
  sort -n "$1" | awk '{w[NR] = $1} END {print w[int((NR + 1) / 2)]}'
}
summary_kb() {
  sort -n -k2 "$1" | awk '{k[NR] = $2} END {print k[int((NR + 1) / 2)]}'
}

echo "| size | events (raw rows) | users | tool | wall s (median of $REPS) | events/s | peak RSS MB |" >"$OUT/results.md"
echo "|---|---|---|---|---|---|---|" >>"$OUT/results.md"

for users in "$SMALL" "$LARGE"; do
  tag=u$users
  data=$OUT/demo-$users
  if [ ! -s "$data/manifest.json" ]; then
    echo "generating $data ..." >&2
    build/persona demo "$data" --users "$users" --seed 42 -q
  fi
  rows=$(grep -o '"events.csv": {"rows": [0-9]*' "$data/manifest.json" | grep -o '[0-9]*$')
  rm -f "$OUT/$tag".*.runs
  for rep in $(seq "$REPS"); do
    echo "size $users, round $rep ..." >&2
    measure_persona "$tag" "$data"
    measure "$tag.pandas" "$PY" bench/pipeline/pandas_pipeline.py "$data/events.csv" \
      "$OUT/$tag.pandas.features.csv" --quarantine "$OUT/$tag.pandas.quarantine.csv"
    measure "$tag.duckdb" node bench/pipeline/duckdb_pipeline.mjs "$data/events.csv" \
      "$OUT/$tag.duckdb.features.csv"
  done
  for tool in persona clean features pandas duckdb; do
    w=$(summary "$OUT/$tag.$tool.runs"); k=$(summary_kb "$OUT/$tag.$tool.runs")
    label=$tool
    case $tool in clean|features) label="(persona $tool)";; esac
    echo "| $users users | $rows | $users | $label | $w | $(awk -v r="$rows" -v w="$w" 'BEGIN {printf "%.0f", r / w}') | $((k / 1024)) |" >>"$OUT/results.md"
  done
  # The three must agree (pandas differs only where its parser pads short rows).
  "$PY" bench/pipeline/compare.py "$OUT/$tag.persona.features.csv" \
    "$OUT/$tag.duckdb.features.csv" "$OUT/$tag.pandas.features.csv" | tee "$OUT/$tag.compare.txt" >&2
done
# Memory per user or per event: the small user count with ACTIVITY times
# the events (persona only; compare its peak with the small and large runs).
ACTIVITY=${ACTIVITY:-5}
data=$OUT/demo-$SMALL-x$ACTIVITY
tag=u$SMALL-x$ACTIVITY
if [ ! -s "$data/manifest.json" ]; then
  echo "generating $data ..." >&2
  build/persona demo "$data" --users "$SMALL" --activity "$ACTIVITY" --seed 42 -q
fi
rows=$(grep -o '"events.csv": {"rows": [0-9]*' "$data/manifest.json" | grep -o '[0-9]*$')
rm -f "$OUT/$tag".*.runs
for rep in $(seq "$REPS"); do
  echo "size $SMALL x $ACTIVITY, round $rep ..." >&2
  measure_persona "$tag" "$data"
done
for tool in persona clean features; do
  w=$(summary "$OUT/$tag.$tool.runs"); k=$(summary_kb "$OUT/$tag.$tool.runs")
  label=$tool
  case $tool in clean|features) label="(persona $tool)";; esac
  echo "| $SMALL users, activity x$ACTIVITY | $rows | $SMALL | $label | $w | $(awk -v r="$rows" -v w="$w" 'BEGIN {printf "%.0f", r / w}') | $((k / 1024)) |" >>"$OUT/results.md"
done
cat "$OUT/results.md"
