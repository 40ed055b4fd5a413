#!/usr/bin/env bash
# The main job on the built-in demo shop, as the README runs it: install
# dependencies, build, generate the demo shop (which also writes its
# persona.conf), then run the whole pipeline -- clean, features, segments,
# topics, text vectors (when the built-in model is installed), profiles
# and the report -- into one workspace.
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

step() { printf '\n== %s\n' "$*"; }
step "generate the demo shop ($users users) in $raw"
$p demo "$raw" --users "$users" --seed 42

step "persona run $raw/persona.conf --workspace $ws"
$p run "$raw/persona.conf" --workspace "$ws"

step "one profile"
first=$(sed -n 2p "$ws/features.csv" | cut -d, -f1)
$p profile show "$first" --workspace "$ws" | head -n 16

step "done"
echo "report:   $ws/report.html  (open it in a browser)"
echo "profiles: $p profile export --format csv --workspace $ws"
echo "store:    $ws/persona.db   (SQLite; schema in docs/store.md)"
