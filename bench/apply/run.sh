#!/usr/bin/env bash
# bench/apply/run.sh - cost of `persona recommend --all` (10 items for every
# user of the default demo shop, 20,000 users) and of `persona evaluate
# recommend` on the same data.  Medians of REPS runs; prints a Markdown
# table.  Usage: bash bench/apply/run.sh [USERS] [REPS]
set -eu
cd "$(dirname "$0")/../.."
P=$PWD/build/persona
USERS=${1:-20000}
REPS=${2:-3}
W=$(mktemp -d /tmp/persona-bench-apply-XXXXXX)
trap 'rm -rf "$W"' EXIT
$P demo "$W/shop" --users "$USERS" -q >/dev/null 2>&1
$P clean --schema events --in "$W/shop/events.csv" --out "$W/ev.csv" --quarantine "$W/q.csv" -q >/dev/null 2>&1
$P clean --schema items --in "$W/shop/items.csv" --out "$W/it.csv" --quarantine "$W/qi.csv" -q >/dev/null 2>&1
$P features --events "$W/ev.csv" --out "$W/f.csv" -q
$P segment --features "$W/f.csv" --k 6 --out "$W/seg" -q >/dev/null 2>&1
events=$(($(wc -l < "$W/ev.csv") - 1))

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# run FIELD CMD...: one run; prints wall, CPU (user + sys) and peak RSS (MB)
run() { /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" >/dev/null 2>&1
        awk '{ printf "%s %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$W/time"; }
row() { # row LABEL THREADS CMD...
  local label=$1 t=$2; shift 2
  for r in $(seq "$REPS"); do run "$@"; done > "$W/runs"
  local w c m; w=$(cut -d' ' -f1 "$W/runs" | median); c=$(cut -d' ' -f2 "$W/runs" | median)
  m=$(cut -d' ' -f3 "$W/runs" | median)
  echo "| $label | $t | $w | $c | $(echo "$USERS / $w" | bc) | $(echo "$USERS / $c" | bc) | $m |"
}
echo "| step | threads | median wall s | median CPU s | users/s (wall) | users/s (CPU) | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for t in 1 2; do
  row "recommend --all (load, model, recommend, write CSV)" $t $P recommend --events "$W/ev.csv" --items "$W/it.csv" --segments "$W/seg/labels.csv" --all --n 10 -t $t --out "$W/recs.csv"
done
# The command's own split of the time (last run, 2 threads).
$P recommend --events "$W/ev.csv" --items "$W/it.csv" --segments "$W/seg/labels.csv" --all --n 10 -t 2 --out "$W/recs.csv" 2>&1 | sed 's/^/    /'
for t in 1 2; do
  row "evaluate recommend (3 methods x k 5,10,20)" $t $P evaluate recommend --events "$W/ev.csv" --segments "$W/seg/labels.csv" --split-at 2026-03-01 --k 5,10,20 -t $t
done
echo
echo "data: $USERS users, $events clean events; recommendations: $(($(wc -l < "$W/recs.csv") - 1)) rows"
$P evaluate recommend --events "$W/ev.csv" --segments "$W/seg/labels.csv" --split-at 2026-03-01 --k 5,10,20 -t 2
