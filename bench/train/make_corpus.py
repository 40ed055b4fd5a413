#!/usr/bin/python3
"""Builds the training corpus of the built-in model (models/persona-small).

Usage: /usr/bin/python3 bench/train/make_corpus.py DEMO_DIR OUT_DIR
  DEMO_DIR  output of `build/persona demo DEMO_DIR` (texts.csv, items.csv)
  OUT_DIR   gets corpus.csv (one column "text") and heldout_shopping.csv
            (cat,review: 300 reviews per category of online_shopping_10_cats,
            never trained on; used by knn_eval.py)

Sources (../shared/data): reviews-zh/{ChnSentiCorp_htl_all,waimai_10k,
online_shopping_10_cats}.csv "review", reviews-en/*.json "reviewText",
demo texts.csv "text", items.csv "title" and "description".  Only the
standard library; deterministic (random.Random(2026)).
"""
import csv, glob, json, os, random, sys

demo, out = sys.argv[1], sys.argv[2]
shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data")
os.makedirs(out, exist_ok=True)
rng = random.Random(2026)
texts = []

def clean(s):
    s = (s or "").replace("\ufeff", "").strip()
    return s

for name in ("ChnSentiCorp_htl_all.csv", "waimai_10k.csv"):
    with open(os.path.join(shared, "reviews-zh", name), newline="", encoding="utf-8") as f:
        texts += [clean(r["review"]) for r in csv.DictReader(f)]
with open(os.path.join(shared, "reviews-zh", "online_shopping_10_cats.csv"), newline="",
          encoding="utf-8") as f:
    shop = [(r["cat"], clean(r["review"])) for r in csv.DictReader(f)]
by_cat = {}
for i, (c, t) in enumerate(shop):
    if t:
        by_cat.setdefault(c, []).append(i)
held = set()
for c in sorted(by_cat):
    held.update(rng.sample(by_cat[c], 300))
heldout = [shop[i] for i in sorted(held)]
rng.shuffle(heldout)
texts += [t for i, (c, t) in enumerate(shop) if i not in held]
for path in sorted(glob.glob(os.path.join(shared, "reviews-en", "*.json"))):
    with open(path, encoding="utf-8") as f:
        for line in f:
            texts.append(clean(json.loads(line).get("reviewText")))
# the demo plants dirt (invalid UTF-8 among it): such texts are dropped
with open(os.path.join(demo, "texts.csv"), newline="", encoding="utf-8",
          errors="surrogateescape") as f:
    texts += [clean(r["text"]) for r in csv.DictReader(f)]
with open(os.path.join(demo, "items.csv"), newline="", encoding="utf-8",
          errors="surrogateescape") as f:
    for r in csv.DictReader(f):
        texts += [clean(r["title"]), clean(r["description"])]
def valid(t):
    try:
        t.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
texts = [t for t in texts if t and valid(t)]
# dedupe exact repeats (the demo repeats templated texts), keep first
seen, uniq = set(), []
for t in texts:
    if t not in seen:
        seen.add(t)
        uniq.append(t)
rng.shuffle(uniq)
with open(os.path.join(out, "corpus.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["text"])
    w.writerows([t] for t in uniq)
with open(os.path.join(out, "heldout_shopping.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["cat", "review"])
    w.writerows(heldout)
print("corpus: %d texts (%d before dedup), %d bytes; heldout: %d reviews"
      % (len(uniq), len(texts), sum(len(t.encode()) for t in uniq), len(heldout)))
