#!/usr/bin/python3
"""Canonical events CSV for the features benchmark (seeded, numpy).

Usage: gen_events.py N_EVENTS N_USERS OUT.csv
Columns as `persona clean` writes them; ~60% views, prices on most rows,
order ids on purchases, dwell on ~70%, 60 categories, 20k items.
"""
import sys

import numpy as np
import pandas as pd

n, n_users, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(42)
users = rng.integers(0, n_users, n)
ts = 1700000000 + rng.integers(0, 60 * 86400, n)
ev_names = np.array(["view", "search", "click", "cart", "fav", "purchase", "refund"])
ev = rng.choice(7, n, p=[0.6, 0.08, 0.15, 0.07, 0.04, 0.05, 0.01])
items = rng.zipf(1.3, n) % 20000
cats = items % 60
base = np.round(np.exp(rng.normal(3.5, 1.0, 20000)), 2)
price = np.round(base[items] * rng.choice([1.0, 1.0, 0.9, 1.1], n), 2)
qty = rng.integers(1, 4, n)
dwell = np.round(rng.gamma(2.0, 30.0, n), 1)
df = pd.DataFrame({
    "user_id": np.char.add("u", users.astype(str)),
    "ts": ts,
    "event": ev_names[ev],
    "item_id": np.char.add("i", items.astype(str)),
    "category": np.char.add("c", cats.astype(str)),
    "price": price,
    "quantity": qty,
    "dwell_s": dwell,
    "query": "",
    "order_id": np.char.add(np.char.add("o", users.astype(str)), np.char.add("-", (ts // 86400).astype(str))),
})
search = ev == 1
df.loc[search, ["item_id", "category"]] = ""
df.loc[search, "query"] = "q"
df.loc[ev != 5, "order_id"] = ""
df["price"] = df["price"].astype(str)
df["quantity"] = df["quantity"].astype(str)
df["dwell_s"] = df["dwell_s"].astype(str)
df.loc[search | (rng.random(n) < 0.1), "price"] = ""
df.loc[~np.isin(ev, [3, 5, 6]), "quantity"] = ""
df.loc[rng.random(n) < 0.3, "dwell_s"] = ""
df.to_csv(out, index=False, lineterminator="\n")
