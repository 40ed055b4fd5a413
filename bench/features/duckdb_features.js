// duckdb_features.js - DuckDB anchor for `persona features`: one SQL
// statement computing the columns of docs/FEATURES.md from a canonical
// events CSV, written sorted by user_id.
//
// usage: NODE_PATH=bench/pipeline/node_modules node bench/features/duckdb_features.js \
//            EVENTS.csv OUT.csv [THREADS]
// (the @duckdb/node-api package lives in bench/pipeline/node_modules).
const { DuckDBInstance } = require('@duckdb/node-api');

const [events, out, threads] = process.argv.slice(2);
const q = (s) => "'" + s.replace(/'/g, "''") + "'";

const sql = `
COPY (
WITH raw AS (
  SELECT * FROM read_csv(${q(events)}, header = true, delim = ',', quote = '"',
    types = {'user_id': 'VARCHAR', 'ts': 'BIGINT', 'event': 'VARCHAR', 'item_id': 'VARCHAR',
             'category': 'VARCHAR', 'price': 'DOUBLE', 'quantity': 'DOUBLE',
             'dwell_s': 'DOUBLE', 'order_id': 'VARCHAR'})
),
snap AS (SELECT max(ts) AS t FROM raw),
ev AS (
  SELECT r.*, row_number() OVER () AS rn, r.ts // 86400 AS day, r.ts % 86400 AS sod
  FROM raw r, snap WHERE r.ts <= snap.t
),
pur AS (
  SELECT user_id, ts, item_id, category, price, coalesce('o:' || order_id, 'r:' || rn) AS okey
  FROM ev WHERE event = 'purchase'
),
base AS (
  SELECT user_id,
    count(*) FILTER (WHERE event = 'view') AS browse_count,
    count(*) FILTER (WHERE event = 'search') AS search_count,
    count(*) FILTER (WHERE event = 'cart') AS cart_count,
    count(*) FILTER (WHERE event = 'fav') AS fav_count,
    count(*) FILTER (WHERE event = 'purchase') AS purchase_count,
    avg(dwell_s) AS average_stay_time,
    coalesce(sum(CASE WHEN event = 'purchase' THEN price * coalesce(quantity, 1)
                      WHEN event = 'refund' THEN -abs(price) * abs(coalesce(quantity, 1)) END), 0)
      AS total_spend,
    max(ts) FILTER (WHERE event = 'purchase') AS last_purchase,
    min(ts) AS first_ts,
    count(DISTINCT day) AS active_days,
    count(*) AS n,
    count(*) FILTER (WHERE sod < 21600) AS n_night,
    count(*) FILTER (WHERE sod >= 21600 AND sod < 43200) AS n_morning,
    count(*) FILTER (WHERE sod >= 43200 AND sod < 64800) AS n_afternoon,
    count(*) FILTER (WHERE sod >= 64800) AS n_evening,
    count(*) FILTER (WHERE (day + 4) % 7 IN (0, 6)) AS n_weekend
  FROM ev GROUP BY user_id
),
orders AS (SELECT user_id, count(DISTINCT okey) AS order_count FROM pur GROUP BY user_id),
bought AS (SELECT DISTINCT user_id, item_id FROM pur WHERE item_id IS NOT NULL),
carted AS (SELECT DISTINCT user_id, item_id FROM ev WHERE event = 'cart' AND item_id IS NOT NULL),
abandon AS (
  SELECT c.user_id, avg(CASE WHEN b.item_id IS NULL THEN 1.0 ELSE 0.0 END) AS cart_abandon_rate
  FROM carted c LEFT JOIN bought b ON b.user_id = c.user_id AND b.item_id = c.item_id
  GROUP BY c.user_id
),
rep AS (
  SELECT user_id, avg(CASE WHEN n >= 2 THEN 1.0 ELSE 0.0 END) AS repeat_purchase_rate
  FROM (SELECT user_id, item_id, count(DISTINCT okey) AS n FROM pur
        WHERE item_id IS NOT NULL GROUP BY user_id, item_id)
  GROUP BY user_id
),
uc AS (
  SELECT user_id, category, count(*) AS n,
    row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, category) AS rk,
    sum(count(*)) OVER (PARTITION BY user_id) AS tot
  FROM ev WHERE category IS NOT NULL GROUP BY user_id, category
),
top AS (
  SELECT user_id,
    max(category) FILTER (WHERE rk = 1) AS top_category_1, max(n / tot) FILTER (WHERE rk = 1) AS share_1,
    max(category) FILTER (WHERE rk = 2) AS top_category_2, max(n / tot) FILTER (WHERE rk = 2) AS share_2,
    max(category) FILTER (WHERE rk = 3) AS top_category_3, max(n / tot) FILTER (WHERE rk = 3) AS share_3
  FROM uc WHERE rk <= 3 GROUP BY user_id
),
med AS (
  SELECT category, median(p) AS med
  FROM (SELECT category, item_id, avg(price) AS p FROM ev
        WHERE category IS NOT NULL AND item_id IS NOT NULL AND price > 0
        GROUP BY category, item_id)
  GROUP BY category
),
pl AS (
  SELECT p.user_id, avg(p.price / m.med) AS price_level
  FROM pur p JOIN med m ON m.category = p.category WHERE p.price > 0 GROUP BY p.user_id
)
SELECT b.user_id, b.browse_count, b.search_count, b.cart_count, b.fav_count, b.purchase_count,
  coalesce(o.order_count, 0) AS order_count, b.average_stay_time, b.total_spend,
  CASE WHEN o.order_count > 0 THEN b.total_spend / o.order_count END AS avg_order_value,
  (snap.t - b.last_purchase) / 86400.0 AS recency_days,
  coalesce(o.order_count, 0) AS frequency, b.total_spend AS monetary, b.active_days,
  (snap.t - b.first_ts) / 86400.0 AS tenure_days,
  CASE WHEN b.browse_count > 0 THEN b.purchase_count / b.browse_count END AS conversion_rate,
  a.cart_abandon_rate, r.repeat_purchase_rate,
  t.top_category_1, t.share_1, t.top_category_2, t.share_2, t.top_category_3, t.share_3,
  pl.price_level,
  b.n_night / b.n AS share_night, b.n_morning / b.n AS share_morning,
  b.n_afternoon / b.n AS share_afternoon, b.n_evening / b.n AS share_evening,
  b.n_weekend / b.n AS weekend_share
FROM base b CROSS JOIN snap
LEFT JOIN orders o USING (user_id) LEFT JOIN abandon a USING (user_id)
LEFT JOIN rep r USING (user_id) LEFT JOIN top t USING (user_id) LEFT JOIN pl USING (user_id)
ORDER BY b.user_id
) TO ${q(out)} (HEADER, DELIMITER ',')`;

(async () => {
  const db = await DuckDBInstance.create(':memory:', threads ? { threads: String(threads) } : {});
  const con = await db.connect();
  await con.run(sql);
})().catch((e) => { console.error(e.message || e); process.exit(1); });
