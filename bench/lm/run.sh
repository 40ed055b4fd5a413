#!/usr/bin/env bash
# run.sh - persona's transformer vs PyTorch on a GPT-2-124M-shaped random
# checkpoint, same weights, same thread count, same run.
#
#   bench/lm/run.sh [THREADS] [ROUNDS]        (from the repository root, after `make`)
#
# Writes the checkpoint once with ../shared/lmref/make_tiny.py into
# bench/out/ (ignored by git, 548 MB), builds bench/out/bench_lm against
# build/libpersona.a, then alternates persona and PyTorch ROUNDS times so
# both see the same machine load; prints every figure and the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
ROUNDS=${2:-3}
OUT=bench/out
MODEL=$OUT/gpt2-124m-random
SHARED=${PERSONA_SHARED:-../shared}
mkdir -p "$OUT"
if [ ! -f "$MODEL/model.safetensors" ]; then
  /usr/bin/python3 "$SHARED/lmref/make_tiny.py" --out "$OUT" --only-big \
    --gpt2-vocab-dir "$SHARED/data/gpt2-tokenizer"
fi
make -s build/libpersona.a
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  bench/lm/bench_lm.c build/libpersona.a -o "$OUT/bench_lm" \
  $(pkg-config --libs jansson libutf8proc libsodium sqlite3 2>/dev/null) \
  -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm
log=$OUT/bench_lm.log
: >"$log"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: persona" | tee -a "$log"
  "$OUT/bench_lm" "$MODEL" "$THREADS" 5 | sed 's/^/persona /' | tee -a "$log"
  echo "== round $r: torch" | tee -a "$log"
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/lm/bench_torch.py "$MODEL" "$THREADS" 5 \
    | sed 's/^/torch /' | tee -a "$log"
done
echo "== medians over $ROUNDS rounds ($THREADS threads; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
grep -E '^(persona|torch) [a-z_0-9]+ [0-9.]+$' "$log" | awk '{ print $1 " " $2 }' | sort -u |
while read -r who key; do
  vals=$(grep -E "^$who $key " "$log" | awk '{ print $3 }' | sort -g)
  n=$(echo "$vals" | wc -l)
  med=$(echo "$vals" | awk -v n="$n" '{ a[NR] = $1 } END { print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }')
  printf '%-8s %-32s %12s   (%s)\n' "$who" "$key" "$med" "$(echo $vals)"
done
