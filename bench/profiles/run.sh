#!/usr/bin/env bash
# bench/profiles/run.sh - the demo pipeline end to end: `persona demo`
# (20,000 users by default) then `persona run` with its persona.conf,
# REPEAT times from scratch (--force), printing per-stage seconds, the
# whole run's wall time and peak RSS (from the store and /usr/bin/time).
#   bench/profiles/run.sh [USERS] [REPEAT] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-20000}; repeat=${2:-3}; threads=${3:-2}
p=build/persona
out=bench/out/profiles; rm -rf "$out"; mkdir -p "$out"
/usr/bin/time -f '%e s %M KiB' $p demo "$out/raw" --users "$users" -q 2> "$out/demo.time"
echo "demo: $(tail -1 "$out/demo.time")"
for i in $(seq 1 "$repeat"); do
  /usr/bin/time -f 'wall %e s, max RSS %M KiB' $p run "$out/raw/persona.conf" -t "$threads" -q --force \
    > "$out/run$i.out" 2> "$out/run$i.time"
  echo "== run $i: $(tail -1 "$out/run$i.time")"
  cat "$out/run$i.out"
done
# Median per stage over the runs, from the store.
sqlite3 "$out/raw/workspace/persona.db" "
  WITH s AS (SELECT stage, seconds, ROW_NUMBER() OVER (PARTITION BY stage ORDER BY seconds) rn,
                    COUNT(*) OVER (PARTITION BY stage) n FROM run_stages)
  SELECT printf('%-14s median %7.2f s', stage, seconds) FROM s WHERE rn = (n + 1) / 2
  ORDER BY (SELECT MIN(rowid) FROM run_stages r WHERE r.stage = s.stage);"
sqlite3 "$out/raw/workspace/persona.db" "SELECT printf('run %d: %.2f s, peak RSS %.1f MiB', run_id, seconds, peak_rss_bytes / 1048576.0) FROM runs"
