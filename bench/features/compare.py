#!/usr/bin/python3
"""compare.py A.csv B.csv: two features CSVs agree (same users in the same
order, same top categories, numbers within relative 1e-9, same empties)."""
import sys

import numpy as np
import pandas as pd

def load(p):
    return pd.read_csv(p, dtype=str, keep_default_na=False)

a, b = load(sys.argv[1]), load(sys.argv[2])
assert list(a.columns) == list(b.columns), "columns differ"
assert len(a) == len(b) and (a.user_id.values == b.user_id.values).all(), "users differ"
bad = []
for c in a.columns[1:]:
    if c.startswith("top_category"):
        n = int((a[c] != b[c]).sum())
    else:
        x = pd.to_numeric(a[c].replace("", np.nan))
        y = pd.to_numeric(b[c].replace("", np.nan))
        rel = (x - y).abs() / np.maximum(y.abs(), 1)
        n = int(((x.isna() != y.isna()) | (rel > 1e-9)).sum())
    if n:
        bad.append("%s (%d rows)" % (c, n))
print("%s vs %s: %d users, %s" % (sys.argv[1], sys.argv[2], len(a),
                                   "agree" if not bad else "DIFFER: " + ", ".join(bad)))
sys.exit(1 if bad else 0)
