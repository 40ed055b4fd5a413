#!/usr/bin/env bash
# run.sh - training tokens/s: persona's trainer vs PyTorch (torch 1.13 from
# Debian) on the same GPT-2 shape, batch and thread count, alternating in
# the same run (results: bench/RESULTS-train.md).
#
#   bench/train/run.sh [ROUNDS] [THREADS] [STEPS]
#
# Shape: the built-in model (models/persona-small): 4 layers, n_embd 128,
# 4 heads, context 128, vocabulary 8192; batch 16 x 128.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
THREADS=${2:-2}
STEPS=${3:-6}
SHAPE="4 128 4 128 8192 16 128"
BIN=/tmp/persona-bench-train
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread \
   bench/train/bench_train.c build/libpersona.a \
   $(pkg-config --libs jansson libutf8proc sqlite3 libsodium libmicrohttpd 2>/dev/null) \
   $(ls /usr/lib/x86_64-linux-gnu/libfriso* >/dev/null 2>&1 && echo -lfriso) \
   -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm -o "$BIN"
LOG=$(mktemp)
for r in $(seq "$ROUNDS"); do
  "$BIN" $SHAPE "$STEPS" "$THREADS" | tail -1 | tee -a "$LOG"
  OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS /usr/bin/python3 bench/train/torch_train.py \
    $SHAPE "$STEPS" "$THREADS" | tail -1 | tee -a "$LOG"
done
echo "== medians over $ROUNDS rounds ($THREADS threads; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for tool in persona torch; do
  grep "^$tool median" "$LOG" | sed 's/.* \([0-9]*\) tokens\/s.*/\1/' | sort -n |
    awk -v t=$tool '{ a[NR] = $1 } END { printf "%s: %d tokens/s (runs: ", t, a[int((NR + 1) / 2)];
      for (i = 1; i <= NR; i++) printf "%s%d", (i > 1 ? " " : ""), a[i]; print ")" }'
  grep "^$tool median" "$LOG" | sed 's/.*s\/step, \([0-9.]*\) cpu-s.*/\1/' | sort -n |
    awk -v t=$tool '{ a[NR] = $1 } END { printf "%s: %.3f cpu-s/step (runs: ", t, a[int((NR + 1) / 2)];
      for (i = 1; i <= NR; i++) printf "%s%s", (i > 1 ? " " : ""), a[i]; print ")" }'
done
rm -f "$LOG"
