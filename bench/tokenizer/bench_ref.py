#!/usr/bin/python3
"""bench_ref.py - ../shared/lmref/reference.py's tokenizers (Python + regex)
on the same review texts, for bench/tokenizer/run.sh (not a test).

  bench_ref.py gpt2|bert CSV COLUMN [EVERY] [RUNS]

Uses every EVERY-th text (default 1).  Prints the same fields as
bench_tokenizer.  The GPT-2 word cache is cleared between runs.
"""
import csv
import os
import sys
import time

SHARED = os.environ.get("PERSONA_SHARED", "../shared")
sys.path.insert(0, os.path.join(SHARED, "lmref"))
kind, path, col = sys.argv[1], sys.argv[2], sys.argv[3]
every = int(sys.argv[4]) if len(sys.argv) > 4 else 1
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 3
sys.argv = [sys.argv[0]]
import reference as R  # noqa: E402

with open(path, encoding="utf-8", newline="") as f:
    r = csv.reader(f)
    header = next(r)
    ci = header.index(col)
    texts = [row[ci] if len(row) > ci else "" for i, row in enumerate(r) if i % every == 0]
if kind == "gpt2":
    g = os.path.join(SHARED, "data/gpt2-tokenizer")
    tok = R.GPT2Tokenizer(os.path.join(g, "encoder.json"), os.path.join(g, "vocab.bpe"))
else:
    tok = R.BertTokenizer(os.path.join(SHARED, "data/hf-checkpoints/bert_tiniest/vocab.txt"))
nbytes = sum(len(t.encode("utf-8")) for t in texts)
times = []
for _ in range(runs):
    if kind == "gpt2":
        tok.cache = {}
    t0 = time.perf_counter()
    n = sum(len(tok.encode(t)) for t in texts)
    times.append(time.perf_counter() - t0)
med = sorted(times)[runs // 2]
print("tool=reference.py-%s texts=%d bytes=%d tokens=%d runs_s=%s median_s=%.3f MB_per_s=%.2f tokens_per_s=%.0f"
      % (kind, len(texts), nbytes, n, ",".join("%.3f" % x for x in times), med, nbytes / med / 1e6, n / med))
