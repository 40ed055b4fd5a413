#!/usr/bin/python3
"""Planted-cluster float32 matrices for the k-means benchmark.

usage: gen_data.py OUT.npy N D K [SEED]
Centres uniform in [-2, 2]^D, cluster sizes uneven (Dirichlet), per-cluster
spread 0.6..1.6: overlapping enough that k-means needs real iterations.
"""
import sys
import numpy as np

out, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
rng = np.random.default_rng(seed)
centres = rng.uniform(-2, 2, size=(k, d))
sizes = rng.multinomial(n, rng.dirichlet(np.full(k, 5.0)))
spread = rng.uniform(0.6, 1.6, size=k)
X = np.empty((n, d), dtype=np.float32)
pos = 0
for j in range(k):
    X[pos:pos + sizes[j]] = centres[j] + spread[j] * rng.standard_normal((sizes[j], d), dtype=np.float32)
    pos += sizes[j]
X = X[rng.permutation(n)]
np.save(out, X)
