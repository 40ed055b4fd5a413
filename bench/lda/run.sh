#!/usr/bin/env bash
# bench/lda/run.sh - the topic-model benchmark behind bench/RESULTS-topics.md.
#   bash bench/lda/run.sh [WORKDIR]      (default /tmp/persona-lda-bench)
# 1. prepares the 62,774 Chinese reviews once with persona (friso + stopwords
#    + pruning) and exports the bag of words every library reads;
# 2. NMI of dominant topic vs category at K = 10, persona vs gensim;
# 3. K = 20 and K = 100: persona (dense and alias samplers, 2 threads),
#    gensim LdaMulticore (workers = 2) and sklearn (online) on the same
#    train/test split, held-out perplexity by the same estimator.
# Short runs by design (a shared 2-core machine); see the results file.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/persona-lda-bench}
PERSONA=${PERSONA:-build/persona}
PY=/usr/bin/python3
CSV=../shared/data/reviews-zh/online_shopping_10_cats.csv
mkdir -p "$W"
gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o "$W/bench_lda" bench/lda/bench_lda.c build/libpersona.a \
    $(pkg-config --libs libutf8proc friso) -lpthread -lm
echo "== prepare + fit K=10 (persona topics fit)"
/usr/bin/time -f "persona fit K=10: %e s wall, %M KB peak RSS" \
  "$PERSONA" topics fit --in "$CSV" --text-col review --k 10 --iters 200 --threads 2 \
  --out "$W/k10" --export-bow "$W/bow" 2>&1 | tail -14
$PY bench/lda/split.py "$W/bow"
V=$(wc -l < "$W/bow/vocab.txt")
echo "== NMI K=10"
$PY bench/lda/nmi.py "$CSV" "$W/k10" "$W/bow" ${NMI_PASSES:-5} | tee "$W/nmi.json"
for K in 20 100; do
  for S in dense alias; do
    echo "== persona $S K=$K"
    "$W/bench_lda" "$W/bow/train.ldac" "$W/bow/test.ldac" "$V" "$K" ${SWEEPS:-100} "$S" 2 5 \
      | sed "s/^{/{\"lib\": \"persona-$S\", \"k\": $K, /" | tee -a "$W/runs.jsonl"
  done
  for L in sklearn gensim; do
    echo "== $L K=$K"
    $PY bench/lda/bench_py.py "$W/bow" "$L" "$K" 20 ${PY_SECONDS:-150} | tee -a "$W/runs.jsonl"
  done
done
$PY bench/lda/summarize.py "$W/runs.jsonl" | tee "$W/summary.md"
