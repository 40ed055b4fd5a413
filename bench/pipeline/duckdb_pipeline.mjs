// duckdb_pipeline.mjs - DuckDB anchor for `persona clean` + `persona features`:
// ONE SQL statement reads the raw demo events.csv, removes exact duplicates,
// validates types (required fields, timestamps in Unix s/ms or ISO-8601 with Z,
// +HH:MM or no zone, canonical event names, numbers), keeps missing optional
// values empty and writes the per-user columns of docs/FEATURES.md.
//
//   node duckdb_pipeline.mjs EVENTS.csv OUT_FEATURES.csv [THREADS]
//
// Needs @duckdb/node-api in bench/pipeline/node_modules (npm install there).
import { DuckDBInstance } from '@duckdb/node-api';

const [events, out, threads] = process.argv.slice(2);
if (!events || !out) {
  console.error('usage: node duckdb_pipeline.mjs EVENTS.csv OUT_FEATURES.csv [THREADS]');
  process.exit(2);
}
const q = (s) => "'" + s.replace(/'/g, "''") + "'";
const opts = threads ? { threads: String(threads) } : {};
const db = await DuckDBInstance.create(':memory:', opts);
const con = await db.connect();

const sql = `
COPY (
WITH raw AS (
  SELECT * FROM read_csv(${q(events)}, header = true, delim = ',', quote = '"', escape = '"',
    ignore_errors = true, null_padding = false,
    columns = {'user_id': 'VARCHAR', 'ts': 'VARCHAR', 'event': 'VARCHAR', 'item_id': 'VARCHAR',
               'category': 'VARCHAR', 'price': 'VARCHAR', 'quantity': 'VARCHAR',
               'dwell_s': 'VARCHAR', 'query': 'VARCHAR', 'order_id': 'VARCHAR'})),
dedup AS (SELECT DISTINCT * FROM raw),
typed AS (
  SELECT user_id, event, item_id, category, order_id, price, quantity, dwell_s,
    CASE WHEN regexp_full_match(ts, '-?[0-9]+') THEN
           CASE WHEN abs(TRY_CAST(ts AS HUGEINT)) < 100000000000 THEN TRY_CAST(ts AS BIGINT)
                ELSE TRY_CAST(ts AS BIGINT) // 1000 END
         ELSE CAST(COALESCE(epoch(try_strptime(ts, '%Y-%m-%dT%H:%M:%SZ')),
                            epoch(try_strptime(ts, '%Y-%m-%dT%H:%M:%S%z')),
                            epoch(try_strptime(ts, '%Y-%m-%dT%H:%M:%S'))) AS BIGINT) END AS t,
    TRY_CAST(price AS DOUBLE) AS p, TRY_CAST(quantity AS DOUBLE) AS qn,
    TRY_CAST(dwell_s AS DOUBLE) AS dw
  FROM dedup),
e AS (
  SELECT * FROM typed
  WHERE user_id IS NOT NULL AND t IS NOT NULL
    AND event IN ('view', 'search', 'click', 'cart', 'fav', 'purchase', 'refund')
    AND (price IS NULL OR p IS NOT NULL) AND (quantity IS NULL OR qn IS NOT NULL)
    AND (dwell_s IS NULL OR dw IS NOT NULL)),
snap AS (SELECT max(t) AS a FROM e),
med AS (
  SELECT category, median(mp) AS m
  FROM (SELECT category, item_id, avg(p) AS mp FROM e
        WHERE p > 0 AND item_id IS NOT NULL AND category IS NOT NULL GROUP BY ALL)
  GROUP BY category),
cat AS (
  SELECT user_id, category, n, n / sum(n) OVER (PARTITION BY user_id) AS share,
         row_number() OVER (PARTITION BY user_id ORDER BY n DESC, category) AS rk
  FROM (SELECT user_id, category, count(*) AS n FROM e WHERE category IS NOT NULL GROUP BY ALL)),
top AS (
  SELECT user_id,
    max(category) FILTER (rk = 1) AS top_category_1, max(share) FILTER (rk = 1) AS share_1,
    max(category) FILTER (rk = 2) AS top_category_2, max(share) FILTER (rk = 2) AS share_2,
    max(category) FILTER (rk = 3) AS top_category_3, max(share) FILTER (rk = 3) AS share_3
  FROM cat WHERE rk <= 3 GROUP BY user_id),
items AS (
  SELECT user_id, item_id, bool_or(event = 'cart') AS carted, bool_or(event = 'purchase') AS bought,
    count(DISTINCT order_id) FILTER (event = 'purchase')
      + count(*) FILTER (event = 'purchase' AND order_id IS NULL) AS n_orders
  FROM e WHERE item_id IS NOT NULL AND event IN ('cart', 'purchase') GROUP BY ALL),
per_item AS (
  SELECT user_id,
    avg(CASE WHEN carted THEN CASE WHEN bought THEN 0 ELSE 1 END END) AS cart_abandon_rate,
    avg(CASE WHEN bought THEN CASE WHEN n_orders >= 2 THEN 1 ELSE 0 END END) AS repeat_purchase_rate
  FROM items GROUP BY user_id),
u AS (
  SELECT user_id,
    count(*) FILTER (event = 'view') AS browse_count,
    count(*) FILTER (event = 'search') AS search_count,
    count(*) FILTER (event = 'cart') AS cart_count,
    count(*) FILTER (event = 'fav') AS fav_count,
    count(*) FILTER (event = 'purchase') AS purchase_count,
    count(DISTINCT order_id) FILTER (event = 'purchase')
      + count(*) FILTER (event = 'purchase' AND order_id IS NULL) AS order_count,
    avg(dw) AS average_stay_time,
    coalesce(sum(coalesce(p, 0) * coalesce(qn, 1)) FILTER (event = 'purchase'), 0)
      - coalesce(sum(abs(coalesce(p, 0) * coalesce(qn, 1))) FILTER (event = 'refund'), 0) AS total_spend,
    max(t) FILTER (event = 'purchase') AS last_purchase,
    min(t) AS first_t,
    count(DISTINCT t // 86400) AS active_days,
    avg(p / m) FILTER (event = 'purchase' AND p > 0 AND m IS NOT NULL) AS price_level,
    avg(CASE WHEN t % 86400 < 21600 THEN 1 ELSE 0 END) AS share_night,
    avg(CASE WHEN t % 86400 >= 21600 AND t % 86400 < 43200 THEN 1 ELSE 0 END) AS share_morning,
    avg(CASE WHEN t % 86400 >= 43200 AND t % 86400 < 64800 THEN 1 ELSE 0 END) AS share_afternoon,
    avg(CASE WHEN t % 86400 >= 64800 THEN 1 ELSE 0 END) AS share_evening,
    avg(CASE WHEN (t // 86400 + 4) % 7 IN (0, 6) THEN 1 ELSE 0 END) AS weekend_share
  FROM e LEFT JOIN med USING (category) GROUP BY user_id)
SELECT u.user_id, browse_count, search_count, cart_count, fav_count, purchase_count, order_count,
  average_stay_time, total_spend,
  CASE WHEN order_count > 0 THEN total_spend / order_count END AS avg_order_value,
  (snap.a - last_purchase) / 86400.0 AS recency_days,
  order_count AS frequency, total_spend AS monetary, active_days,
  (snap.a - first_t) / 86400.0 AS tenure_days,
  CASE WHEN browse_count > 0 THEN purchase_count / browse_count END AS conversion_rate,
  cart_abandon_rate, repeat_purchase_rate,
  top_category_1, share_1, top_category_2, share_2, top_category_3, share_3,
  price_level, share_night, share_morning, share_afternoon, share_evening, weekend_share
FROM u CROSS JOIN snap LEFT JOIN top USING (user_id) LEFT JOIN per_item USING (user_id)
ORDER BY u.user_id
) TO ${q(out)} (HEADER, DELIMITER ',')`;

const t0 = performance.now();
await con.run(sql);
console.error(`duckdb: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
