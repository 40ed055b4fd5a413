#!/usr/bin/python3
"""scikit-learn side of the k-means benchmark: same data, k, n_init,
max_iter, tol.  Prints one line: tool algorithm wall_s cpu_s inertia n_iter rss_mb exact_inertia

usage: sklearn_kmeans.py X.npy K N_INIT MAX_ITER TOL SEED lloyd|elkan|minibatch [BATCH]
"""
import resource
import sys
import time
import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

path, k, n_init, max_iter, tol, seed, algo = sys.argv[1:8]
k, n_init, max_iter, tol, seed = int(k), int(n_init), int(max_iter), float(tol), int(seed)
X = np.load(path)
t0 = time.perf_counter()
c0 = time.process_time()
if algo == "minibatch":
    batch = int(sys.argv[8]) if len(sys.argv) > 8 else 1024
    m = MiniBatchKMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, batch_size=batch,
                        random_state=seed).fit(X)
else:
    m = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, tol=tol, random_state=seed,
               algorithm=algo).fit(X)
dt = time.perf_counter() - t0
cpu = time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# sklearn accumulates a float32 input's inertia in float32; recompute the
# inertia of its labels and centres exactly (float64, untimed) for the table.
C = m.cluster_centers_.astype(np.float64)
exact = 0.0
for i0 in range(0, X.shape[0], 65536):
    xb = X[i0:i0 + 65536].astype(np.float64)
    exact += ((xb - C[m.labels_[i0:i0 + 65536]]) ** 2).sum()
print(f"sklearn {algo} {dt:.3f} {cpu:.3f} {m.inertia_:.10g} {m.n_iter_} {rss:.0f} {exact:.10g}")
