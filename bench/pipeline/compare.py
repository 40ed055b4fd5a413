#!/usr/bin/python3
"""compare.py REF.csv OTHER.csv... - per-user feature tables agree?

Prints, for each OTHER, the users it has and the columns where any user's
value differs from REF (numbers: rtol 1e-6; text: exact; empty = NaN).
"""
import sys

import numpy as np
import pandas as pd


def main(argv):
    ref = pd.read_csv(argv[1], index_col=0)
    for other in argv[2:]:
        b = pd.read_csv(other, index_col=0)
        b.columns = ref.columns if len(b.columns) == len(ref.columns) else b.columns
        b = b.reindex(ref.index)
        diff = []
        for c in ref.columns:
            if ref[c].dtype == object or b[c].dtype == object:
                n = int((ref[c].fillna("").astype(str) != b[c].fillna("").astype(str)).sum())
            else:
                x = ref[c].to_numpy(float)
                y = b[c].to_numpy(float)
                same = np.isclose(x, y, rtol=1e-6, atol=1e-9) | (np.isnan(x) & np.isnan(y))
                n = int((~same).sum())
            if n:
                diff.append("%s:%d" % (c, n))
        print("%s vs %s: %d users, differing columns (users): %s"
              % (other, argv[1], len(ref), ", ".join(diff) if diff else "none"))


if __name__ == "__main__":
    main(sys.argv)
