#!/usr/bin/python3
"""gensim LdaMulticore and scikit-learn LatentDirichletAllocation on the
prepared corpus (train.ldac / test.ldac from split.py), one pass at a time:
after each pass (timed) the held-out perplexity is computed (not timed)
with common.perplexity.  Prints JSON lines like bench_lda.

  bench_py.py DIR LIB(gensim|sklearn) K MAX_PASSES MAX_SECONDS
Priors: alpha 0.1 (symmetric), beta/eta 0.01, as for persona.
"""
import json, os, resource, sys, time
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import read_ldac, perplexity

d, lib, K, max_passes, max_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
V = sum(1 for _ in open(os.path.join(d, "vocab.txt")))
train = read_ldac(os.path.join(d, "train.ldac"))
test = read_ldac(os.path.join(d, "test.ldac"))
n_tok = sum(c for doc in train for _, c in doc)
elapsed = 0.0

def report(p, phi):
    ppl = perplexity(phi, 0.1, test)
    print(json.dumps({"lib": lib, "k": K, "pass": p, "seconds": round(elapsed, 3),
                      "perplexity": round(ppl, 3), "tokens_per_s": round(n_tok * p / elapsed)}), flush=True)

if lib == "gensim":
    import logging
    from gensim.models import LdaMulticore
    logging.disable(logging.CRITICAL)
    t = time.perf_counter()
    m = LdaMulticore(num_topics=K, id2word={i: str(i) for i in range(V)}, workers=2,
                     alpha=np.full(K, 0.1), eta=0.01, random_state=42, passes=1,
                     iterations=50, eval_every=None, chunksize=2000)
    elapsed += time.perf_counter() - t
    for p in range(1, max_passes + 1):
        t = time.perf_counter()
        m.update(train)
        elapsed += time.perf_counter() - t
        report(p, m.get_topics())
        if elapsed > max_s:
            break
else:
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import LatentDirichletAllocation
    rows, cols, vals = [], [], []
    for i, doc in enumerate(train):
        for w, c in doc:
            rows.append(i); cols.append(w); vals.append(c)
    X = csr_matrix((vals, (rows, cols)), shape=(len(train), V), dtype=np.float64)
    m = LatentDirichletAllocation(n_components=K, doc_topic_prior=0.1, topic_word_prior=0.01,
                                  learning_method="online", batch_size=2048, total_samples=X.shape[0],
                                  random_state=42, n_jobs=1)
    for p in range(1, max_passes + 1):
        t = time.perf_counter()
        for s in range(0, X.shape[0], 2048):
            m.partial_fit(X[s:s + 2048])
        elapsed += time.perf_counter() - t
        comp = m.components_
        report(p, comp / comp.sum(1, keepdims=True))
        if elapsed > max_s:
            break
print(json.dumps({"lib": lib, "k": K, "done": True,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}), flush=True)
