#!/usr/bin/python3
"""NMI between each review's dominant topic and its shop category, for
persona (doc_topics.npy from `persona topics fit`) and for gensim
LdaMulticore trained on the same prepared corpus (corpus.ldac), K = 10.

  nmi.py CSV PERSONA_OUT_DIR BOW_DIR PASSES
Documents left empty by text preparation are excluded for both (counted).
"""
import csv, json, os, sys, time
import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import read_ldac

src, out, bow, passes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(src, encoding="utf-8-sig", newline="") as f:
    cats = [r["cat"] for r in csv.DictReader(f)]
rec = [int(x) for x in open(os.path.join(out, "doc_topics.ids.txt"))]
theta = np.load(os.path.join(out, "doc_topics.npy"))
docs = read_ldac(os.path.join(bow, "corpus.ldac"))
assert len(docs) == len(rec) == theta.shape[0]
keep = [i for i, d in enumerate(docs) if d]
y = [cats[rec[i] - 1] for i in keep]
K = theta.shape[1]
ours = nmi(y, theta[keep].argmax(1))

import logging
from gensim.models import LdaMulticore
logging.disable(logging.CRITICAL)
V = sum(1 for _ in open(os.path.join(bow, "vocab.txt")))
t = time.perf_counter()
m = LdaMulticore(docs, num_topics=K, id2word={i: str(i) for i in range(V)}, workers=2,
                 alpha=np.full(K, 0.1), eta=0.01, random_state=42, passes=passes,
                 iterations=50, eval_every=None, chunksize=2000)
secs = time.perf_counter() - t
dom = []
for i in keep:
    tp = m.get_document_topics(docs[i], minimum_probability=0.0)
    dom.append(max(tp, key=lambda x: x[1])[0])
print(json.dumps({"k": K, "documents": len(keep), "empty_excluded": len(docs) - len(keep),
                  "nmi_persona": round(ours, 4), "nmi_gensim": round(nmi(y, dom), 4),
                  "gensim_passes": passes, "gensim_seconds": round(secs, 1)}))
