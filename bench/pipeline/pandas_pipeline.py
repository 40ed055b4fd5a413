#!/usr/bin/python3
"""pandas baseline for `persona clean --schema events` + `persona features`.

Does the same work on a raw demo events.csv, in memory:
  - reads every field as text (malformed lines with the wrong field count
    are skipped by the parser, as clean quarantines them);
  - removes exact duplicate rows;
  - validates types: required user_id/ts/event, timestamps (Unix seconds or
    milliseconds, ISO-8601 with Z, with +HH:MM or without a zone = UTC),
    event names in the canonical set, numbers in price/quantity/dwell_s;
    bad rows go to a quarantine CSV with their reason;
  - keeps missing optional values empty (NaN);
  - aggregates per user the columns of docs/FEATURES.md (counts, stay time,
    spend, orders, recency, active days, tenure, conversion, cart abandon,
    repeat purchases, top categories and shares, price level, dayparts,
    weekend share) and writes them sorted by user_id.

usage: pandas_pipeline.py EVENTS.csv OUT_FEATURES.csv [--quarantine Q.csv]
                          [--check-ari TRUTH.csv]
--check-ari runs K-means (k = number of personas) on the standardised
numeric features and prints the adjusted Rand index against truth.csv.
"""
import sys

import numpy as np
import pandas as pd

EVENTS = ["view", "search", "click", "cart", "fav", "purchase", "refund"]
DAY = 86400


def parse_ts(s):
    """Unix seconds (int64) of each ts string; NaN where unparsable."""
    out = pd.Series(np.nan, index=s.index)
    num = pd.to_numeric(s, errors="coerce")
    isnum = num.notna()
    n = num[isnum]
    out[isnum] = np.where(n.abs() < 1e11, np.floor(n), np.floor(n / 1000))
    rest = s[~isnum & (s != "")]
    for suffix, fmt in (("Z", "%Y-%m-%dT%H:%M:%SZ"), ("+", "%Y-%m-%dT%H:%M:%S%z"),
                        ("", "%Y-%m-%dT%H:%M:%S")):
        if suffix == "Z":
            part = rest[rest.str.endswith("Z")]
        elif suffix == "+":
            part = rest[rest.str.contains(r"[+-]\d\d:?\d\d$", regex=True)
                        & ~rest.str.endswith("Z")]
        else:
            part = rest[~rest.str.endswith("Z")
                        & ~rest.str.contains(r"[+-]\d\d:?\d\d$", regex=True)]
        if len(part):
            t = pd.to_datetime(part, format=fmt, utc=True, errors="coerce")
            ok = t.notna()
            out[part.index[ok]] = t[ok].astype("int64") // 10**9
    return out


def clean(df):
    n_in = len(df)
    df = df.drop_duplicates()
    n_dup = n_in - len(df)
    reason = pd.Series("", index=df.index)

    def flag(mask, why):
        m = mask & (reason == "")
        reason[m] = why

    for col in ("user_id", "ts", "event"):
        flag(df[col] == "", "missing " + col)
    ts = parse_ts(df["ts"])
    flag(ts.isna(), "bad timestamp")
    flag(~df["event"].isin(EVENTS), "unknown event")
    nums = {}
    for col in ("price", "quantity", "dwell_s"):
        v = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
        flag((df[col] != "") & v.isna(), "bad number in " + col)
        nums[col] = v
    bad = reason != ""
    quarantine = df[bad].assign(reason=reason[bad])
    good = ~bad
    out = pd.DataFrame({
        "user_id": df["user_id"][good],
        "ts": ts[good].astype("int64"),
        "event": df["event"][good],
        "item_id": df["item_id"][good],
        "category": df["category"][good],
        "price": nums["price"][good],
        "quantity": nums["quantity"][good],
        "dwell_s": nums["dwell_s"][good],
        "order_id": df["order_id"][good],
    })
    return out, quarantine, n_in, n_dup


def features(e):
    as_of = e["ts"].max()
    users = pd.Index(np.sort(e["user_id"].unique()), name="user_id")
    f = pd.DataFrame(index=users)
    cnt = e.groupby(["user_id", "event"]).size().unstack(fill_value=0)
    cnt = cnt.reindex(index=users, columns=EVENTS, fill_value=0)
    f["browse_count"] = cnt["view"]
    f["search_count"] = cnt["search"]
    f["cart_count"] = cnt["cart"]
    f["fav_count"] = cnt["fav"]
    f["purchase_count"] = cnt["purchase"]
    pur = e[e["event"] == "purchase"]
    with_order = pur[pur["order_id"] != ""]
    oc = with_order.groupby("user_id")["order_id"].nunique()
    oc = oc.add((pur["order_id"] == "").groupby(pur["user_id"]).sum(), fill_value=0)
    f["order_count"] = oc.reindex(users, fill_value=0).astype("int64")
    f["average_stay_time"] = e.groupby("user_id")["dwell_s"].mean()
    amount = e["price"].fillna(0) * e["quantity"].fillna(1)
    spend = amount[e["event"] == "purchase"].groupby(e["user_id"]).sum()
    refund = amount[e["event"] == "refund"].abs().groupby(e["user_id"]).sum()
    f["total_spend"] = spend.reindex(users, fill_value=0) - refund.reindex(users, fill_value=0)
    f["avg_order_value"] = (f["total_spend"] / f["order_count"]).where(f["order_count"] > 0)
    f["recency_days"] = (as_of - pur.groupby("user_id")["ts"].max()) / DAY
    f["frequency"] = f["order_count"]
    f["monetary"] = f["total_spend"]
    day = e["ts"] // DAY
    f["active_days"] = day.groupby(e["user_id"]).nunique()
    f["tenure_days"] = (as_of - e.groupby("user_id")["ts"].min()) / DAY
    f["conversion_rate"] = (f["purchase_count"] / f["browse_count"]).where(f["browse_count"] > 0)
    carted = e[(e["event"] == "cart") & (e["item_id"] != "")][["user_id", "item_id"]]
    carted = carted.drop_duplicates()
    bought = pur[pur["item_id"] != ""][["user_id", "item_id"]].drop_duplicates()
    m = carted.merge(bought, how="left", on=["user_id", "item_id"], indicator=True)
    f["cart_abandon_rate"] = (m["_merge"] == "left_only").groupby(m["user_id"]).mean()
    pi = pur[pur["item_id"] != ""]
    okey = pi["order_id"].where(pi["order_id"] != "", "row" + pi.index.astype(str))
    per_item = okey.groupby([pi["user_id"], pi["item_id"]]).nunique()
    f["repeat_purchase_rate"] = (per_item >= 2).groupby(level=0).mean()
    withcat = e[e["category"] != ""]
    cc = withcat.groupby(["user_id", "category"]).size().rename("n").reset_index()
    tot = cc.groupby("user_id")["n"].transform("sum")
    cc["share"] = cc["n"] / tot
    cc = cc.sort_values(["user_id", "n", "category"], ascending=[True, False, True])
    cc["rank"] = cc.groupby("user_id").cumcount()
    for k in range(3):
        top = cc[cc["rank"] == k].set_index("user_id")
        f["top_category_%d" % (k + 1)] = top["category"]
        f["share_%d" % (k + 1)] = top["share"]
    obs = e[(e["price"] > 0) & (e["item_id"] != "") & (e["category"] != "")]
    item_mean = obs.groupby(["category", "item_id"])["price"].mean()
    med = item_mean.groupby(level=0).median()
    pp = pur[(pur["category"] != "") & (pur["price"] > 0)]
    rel = pp["price"] / pp["category"].map(med)
    f["price_level"] = rel.groupby(pp["user_id"]).mean()
    hour = e["ts"] % DAY // 3600
    part = pd.cut(hour, [-1, 5, 11, 17, 23], labels=["night", "morning", "afternoon", "evening"])
    dp = pd.crosstab(e["user_id"], part, normalize="index")
    for name in ("night", "morning", "afternoon", "evening"):
        f["share_" + name] = dp[name] if name in dp else 0.0
    dow = (day + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sunday
    f["weekend_share"] = dow.isin([0, 6]).groupby(e["user_id"]).mean()
    return f


def check_ari(f, truth_path):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    truth = pd.read_csv(truth_path, dtype=str).set_index("user_id")["persona"]
    num = f.select_dtypes("number")
    num = num.fillna(num.median())
    x = StandardScaler().fit_transform(num.values)
    k = truth.nunique()
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)
    t = truth.reindex(f.index)
    ok = t.notna().values
    ari = adjusted_rand_score(t.values[ok], labels[ok])
    print("kmeans k=%d on %d users, %d standardised columns: ARI %.4f" % (k, ok.sum(), x.shape[1], ari))
    return ari


def main(argv):
    args = argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(args):
        if args[i].startswith("--"):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            pos.append(args[i])
            i += 1
    if len(pos) != 2:
        sys.exit(__doc__)
    df = pd.read_csv(pos[0], dtype=str, keep_default_na=False, na_filter=False,
                     on_bad_lines="skip", encoding_errors="replace", engine="c")
    e, q, n_in, n_dup = clean(df)
    if "--quarantine" in opts:
        q.to_csv(opts["--quarantine"], index=False)
    f = features(e)
    f.to_csv(pos[1], float_format="%.12g")
    print("pandas: %d rows parsed, %d duplicates, %d quarantined, %d clean, %d users"
          % (n_in, n_dup, len(q), len(e), len(f)), file=sys.stderr)
    if "--check-ari" in opts:
        check_ari(f, opts["--check-ari"])


if __name__ == "__main__":
    main(sys.argv)
