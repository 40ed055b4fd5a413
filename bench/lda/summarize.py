#!/usr/bin/python3
"""Summarises runs.jsonl from run.sh: for each K, the target perplexity is
the best one the faster baseline (gensim or sklearn) reached; the table
gives each library's time to reach it, tokens/s per sweep or pass, and
peak RSS."""
import json, sys
from collections import defaultdict
runs = defaultdict(list)
rss = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("done"):
        rss[(r["lib"], r["k"])] = r["peak_rss_mb"]
    else:
        runs[(r["lib"], r["k"])].append(r)
for K in sorted({k for _, k in runs}):
    base = {lib: rs for (lib, k), rs in runs.items() if k == K and not lib.startswith("persona")}
    best = {lib: min(rs, key=lambda r: r["perplexity"]) for lib, rs in base.items()}
    target_lib = min(best, key=lambda l: best[l]["perplexity"])
    target = best[target_lib]["perplexity"]
    print(f"\n### K = {K}: target perplexity {target:.1f} (best of {target_lib})\n")
    print("| library | time to target (s) | perplexity at end | last eval (s) | tokens/s per sweep | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    times = {}
    for (lib, k), rs in sorted(runs.items()):
        if k != K:
            continue
        hit = next((r for r in rs if r["perplexity"] <= target), None)
        times[lib] = hit["seconds"] if hit else None
        tps = sorted(r["tokens_per_s"] for r in rs)[len(rs) // 2]
        print(f"| {lib} | {hit['seconds'] if hit else 'not reached'} | {rs[-1]['perplexity']:.1f} | "
              f"{rs[-1]['seconds']:.1f} | {tps:,.0f} | {rss.get((lib, k), '?')} |")
    fastest_base = min(t for l, t in times.items() if not l.startswith("persona") and t is not None)
    for l, t in times.items():
        if l.startswith("persona") and t:
            print(f"\n{l}: {fastest_base / t:.0f}x faster than the faster baseline to perplexity {target:.1f}")
