#!/usr/bin/env bash
# The main job on the built-in demo shop, as the README runs it:
# install dependencies, build, generate the demo shop, clean it, compute
# per-user features, segment users and find topics in their reviews.
#   scripts/demo.sh [DIR] [--users N]     (default DIR=demo, 20,000 users)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-demo}; shift || true
users=20000
if [ "${1:-}" = "--users" ]; then users=$2; fi

scripts/install-deps.sh
make -s -j"$(nproc)" build/persona
p=build/persona
raw=$dir/raw; ws=$dir/workspace
mkdir -p "$raw" "$ws"

step() { printf '\n== %s\n' "$*"; }
step "generate the demo shop ($users users) in $raw"
$p demo "$raw" --users "$users" --seed 42

for t in events texts items users; do
  step "clean $t"
  $p clean --schema "$t" --in "$raw/$t.csv" --out "$ws/$t.csv" \
     --quarantine "$ws/$t.quarantine.csv" --summary "$ws/$t.summary.json"
done

step "per-user features"
$p features --events "$ws/events.csv" --out "$ws/features.csv" --npy "$ws/features.npy"
head -n 3 "$ws/features.csv" | cut -c1-200

if $p help segment >/dev/null 2>&1; then
  step "segments"
  $p segment --features "$ws/features.csv" --k auto --out "$ws/segments"
fi
if $p help topics >/dev/null 2>&1; then
  step "topics"
  $p topics fit --in "$ws/texts.csv" --text-col text --id-col user_id --k 12 --out "$ws/topics"
fi
step "done: results in $ws"
