#!/usr/bin/python3
"""Do the built-in model's mean-pooled embeddings carry meaning?

k-nearest-neighbour category accuracy on held-out online_shopping_10_cats
reviews (heldout_shopping.csv from make_corpus.py: 300 per category, never
trained on), against bag-of-words baselines in the same run.

  knn_eval.py HELDOUT.csv MODEL_DIR [MODEL_DIR...]

Split: the first 2000 reviews are the labelled reference set, the last 1000
the queries.  kNN: cosine similarity, k = 10, majority vote (ties: nearest).
Embeddings: `build/persona embed --pool mean` (raw, and centred by the
reference mean).  Baselines: TF-IDF of character 1-2-grams, and TF-IDF of
jieba words.
"""
import collections, os, subprocess, sys, tempfile
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

held, models = sys.argv[1], sys.argv[2:]
df = pd.read_csv(held)
cats = df["cat"].tolist()
n_ref = 2000
y = np.array(cats)
K = 10


def knn_acc(X):
    X = normalize(np.asarray(X, dtype=np.float64))
    R, Q = X[:n_ref], X[n_ref:]
    sims = Q @ R.T
    idx = np.argsort(-sims, axis=1)[:, :K]
    correct = 0
    for qi, row in enumerate(idx):
        votes = collections.Counter(y[row])
        best = max(votes.values())
        pick = next(y[j] for j in row if votes[y[j]] == best)
        correct += pick == y[n_ref + qi]
    return correct / len(Q)


rows = []
tf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
Xc = tf.fit_transform(df["review"].astype(str))
rows.append(("bag of words: TF-IDF char 1-2-grams", Xc.shape[1], knn_acc(Xc.toarray())))
try:
    import jieba
    jieba.setLogLevel(60)
    tw = TfidfVectorizer(tokenizer=lambda s: jieba.lcut(s), token_pattern=None, min_df=2,
                         sublinear_tf=True)
    Xw = tw.fit_transform(df["review"].astype(str))
    rows.append(("bag of words: TF-IDF jieba words", Xw.shape[1], knn_acc(Xw.toarray())))
except ImportError:
    pass
with tempfile.TemporaryDirectory() as d:
    for m in models:
        out = os.path.join(d, "e.npy")
        subprocess.run(["build/persona", "embed", "-q", "--model", m, "--in", held,
                        "--text-col", "review", "--out", out], check=True)
        E = np.load(out).astype(np.float64)
        E = np.nan_to_num(E)
        rows.append(("%s mean-pooled" % m, E.shape[1], knn_acc(E)))
        rows.append(("%s mean-pooled, centred" % m, E.shape[1], knn_acc(E - E[:n_ref].mean(0))))
print("| features | dims | 10-NN accuracy (1000 queries, 10 classes) |")
print("|---|---:|---:|")
for name, dim, acc in rows:
    print("| %s | %d | %.3f |" % (name, dim, acc))
print("(chance: %.3f)" % (1 / len(set(cats))))
