#!/usr/bin/python3
"""Splits a prepared corpus (corpus.ldac from `persona topics fit
--export-bow DIR`) into train.ldac and test.ldac: every 10th document
(index % 10 == 9) is held out.  Empty documents stay where they are, so
document indices keep matching the input rows."""
import sys, os
d = sys.argv[1]
lines = open(os.path.join(d, "corpus.ldac")).read().splitlines()
with open(os.path.join(d, "train.ldac"), "w") as tr, open(os.path.join(d, "test.ldac"), "w") as te:
    for i, l in enumerate(lines):
        (te if i % 10 == 9 else tr).write(l + "\n")
print(len(lines), "documents", file=sys.stderr)
