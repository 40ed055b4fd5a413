#!/usr/bin/env bash
# t20-features.sh - `persona features` end to end: the fixture log, the
# .npy sidecars, --as-of, --tz-offset, determinism, usage and data errors.
. "$(dirname "$0")/lib.sh"
FIX=tests/fixtures/features
EV=$FIX/events.csv

expect_ok "help features" $PERSONA help features
expect_grep "usage names --as-of" "--as-of TS" "$TMP/out"

expect_ok "features on the fixture log" $PERSONA features --events $EV --out "$TMP/f.csv" --npy "$TMP/f.npy"
expect_grep "summary on stderr" "^features: 1758 events, 47 users, as of 2023-12-24T17:09:35Z" "$TMP/err"
expect_eq "one row per user plus header" "$(wc -l < "$TMP/f.csv")" 48
expect_eq "header" "$(head -1 "$TMP/f.csv")" "user_id,browse_count,search_count,cart_count,fav_count,purchase_count,order_count,average_stay_time,total_spend,avg_order_value,recency_days,frequency,monetary,active_days,tenure_days,conversion_rate,cart_abandon_rate,repeat_purchase_rate,top_category_1,share_1,top_category_2,share_2,top_category_3,share_3,price_level,share_night,share_morning,share_afternoon,share_evening,weekend_share"
# Hand-checked rows (see docs/FEATURES.md): ties by byte order, midnight
# and weekend boundaries, refund-only, no views.
expect_grep "tie row" '^x_tie,7,0,0,0,0,0,1,0,,,0,0,1,39.7774884259,0,,,beauty,0.285714285714,books,0.285714285714,toys,0.285714285714,,0,0,0,1,0$' "$TMP/f.csv"
expect_grep "boundary row" '^x_boundary,0,0,0,0,0,0,,0,,,0,0,4,36.715,,,,books,1,,,,,,0.5,0,0,0.5,0.5$' "$TMP/f.csv"
expect_grep "refund-only row" '^x_refundonly,1,0,0,0,0,0,,-51,,,0,-51,1,' "$TMP/f.csv"
expect_grep "no-views row" '^x_noviews,0,0,1,0,3,2,,290,145,39.7844328704,2,290,1,39.7855902778,,1,0.5,electronics,1,' "$TMP/f.csv"
expect_grep "quoted category" ',"home,garden",' "$TMP/f.csv"
expect_eq "rows sorted by user_id" "$(cut -d, -f1 "$TMP/f.csv" | tail -n +2 | LC_ALL=C sort -c && echo sorted)" sorted
expect_eq "npy size (128-byte header + 47 x 26 float32)" "$(stat -c %s "$TMP/f.npy")" $((128 + 47 * 26 * 4))
expect_eq "ids file" "$(wc -l < "$TMP/f.ids.txt") $(head -1 "$TMP/f.ids.txt")" "47 u000"
expect_grep "json sidecar" '^\{"columns": \["browse_count", .*"weekend_share"\], "rows": 47, "ids": "f.ids.txt"\}$' "$TMP/f.json"

expect_ok "threads 1" $PERSONA features -q --events $EV --out "$TMP/t1.csv" --threads 1
expect_ok "threads 2" $PERSONA features -q --events $EV --out "$TMP/t2.csv" -t 2
expect_eq "identical at any thread count" "$(cmp "$TMP/t1.csv" "$TMP/t2.csv" && cmp "$TMP/t1.csv" "$TMP/f.csv" && echo same)" same
expect_ok "csv to stdout" $PERSONA features -q --events $EV --out -
expect_eq "stdout = file" "$(cmp "$TMP/out" "$TMP/f.csv" && echo same)" same
expect_ok "events from stdin" sh -c "$PERSONA features -q --events - --out $TMP/s.csv < $EV"
expect_eq "stdin = file" "$(cmp "$TMP/s.csv" "$TMP/f.csv" && echo same)" same

# JSON Lines with the same keys work too (numbers as JSON numbers, null = missing).
printf '{"user_id":"u1","ts":100,"event":"purchase","price":12.5,"quantity":2,"item_id":"i","category":"c"}\n{"user_id":"u1","ts":200,"event":"view","dwell_s":null}\n' > "$TMP/ev.jsonl"
expect_ok "JSON Lines input" $PERSONA features -q --events "$TMP/ev.jsonl" --out "$TMP/j.csv"
expect_grep "JSON Lines row" '^u1,1,0,0,0,1,1,,25,25,0.00115740740741,1,25,1,0.00115740740741,1,,0,c,1,,,,,1,1,0,0,0,0$' "$TMP/j.csv"

# --as-of before the end of the log: later events are ignored.
expect_ok "as-of ISO" $PERSONA features --events $EV --out "$TMP/a.csv" --as-of 2023-11-18T00:00:00Z
expect_grep "later events counted" 'as of 2023-11-18T00:00:00Z \([1-9][0-9]* later events ignored\)' "$TMP/err"
expect_ok "as-of seconds" $PERSONA features -q --events $EV --out "$TMP/b.csv" --as-of 1700265600
expect_eq "same snapshot" "$(cmp "$TMP/a.csv" "$TMP/b.csv" && echo same)" same
expect_grep "boundary user at as-of" '^x_boundary,0,0,0,0,0,0,,0,,,0,0,2,1.15740740741e-05,' "$TMP/a.csv"
expect_ok "tz offset" $PERSONA features -q --events $EV --out "$TMP/z.csv" --tz-offset +08:00
expect_grep "boundary user in +08:00" '^x_boundary,0,0,0,0,0,0,,0,,,0,0,2,36.715,.*,0,1,0,0,0.5$' "$TMP/z.csv"

# Usage errors exit 2.
expect_fail 2 "no --events" $PERSONA features --out "$TMP/x.csv"
expect_fail 2 "no output" $PERSONA features --events $EV
expect_fail 2 "unknown option" $PERSONA features --events $EV --out "$TMP/x.csv" --bogus
expect_grep "names the option" "unknown option '--bogus'" "$TMP/err"
expect_fail 2 "bad --as-of" $PERSONA features --events $EV --out "$TMP/x.csv" --as-of yesterday
expect_fail 2 "--as-of out of range" $PERSONA features --events $EV --out "$TMP/x.csv" --as-of 9999-12-31
expect_grep "as-of range named" "as-of time 253402214400 is out of range" "$TMP/err"
expect_fail 2 "bad --tz-offset" $PERSONA features --events $EV --out "$TMP/x.csv" --tz-offset +25:00
expect_fail 2 "bad --threads" $PERSONA features --events $EV --out "$TMP/x.csv" --threads two
expect_fail 2 "option without value" $PERSONA features --events $EV --out

# Data errors exit 1, name file, line and column, and write nothing.
printf 'user_id,ts,event,price\nu1,100,view,\nu1,200,purchase,1O.5\n' > "$TMP/bad.csv"
expect_fail 1 "bad price" $PERSONA features --events "$TMP/bad.csv" --out "$TMP/bad_out.csv"
expect_grep "error names file:line:column" 'bad.csv:3: column "price": expected a number, got "1O.5"' "$TMP/err"
expect_eq "no output on error" "$(ls "$TMP" | grep -c bad_out)" 0
printf 'user_id,ts,event\nu1,100,like\n' > "$TMP/bad2.csv"
expect_fail 1 "unknown event" $PERSONA features --events "$TMP/bad2.csv" --out "$TMP/x.csv"
expect_grep "event error" 'bad2.csv:2: column "event": expected view, search, click, cart, fav, purchase or refund, got "like"' "$TMP/err"
printf 'user,ts,event\nu1,100,view\n' > "$TMP/bad3.csv"
expect_fail 1 "missing column" $PERSONA features --events "$TMP/bad3.csv" --out "$TMP/x.csv"
expect_grep "missing column error" 'bad3.csv: missing column "user_id"' "$TMP/err"
printf 'user_id,ts,event\nu,1,view\nu,2\n' > "$TMP/short.csv"
expect_fail 1 "short row" $PERSONA features --events "$TMP/short.csv" --out "$TMP/x.csv"
expect_grep "short row error" 'short.csv:3: column "event": missing field' "$TMP/err"
printf 'user_id,ts,event\nu\377,1,view\n' > "$TMP/utf.csv"
expect_fail 1 "invalid UTF-8" $PERSONA features --events "$TMP/utf.csv" --out "$TMP/x.csv"
expect_grep "UTF-8 error" 'utf.csv:2: column "user_id": invalid UTF-8' "$TMP/err"
printf 'user_id,ts,event,dwell_s\nu,1,view,-2\n' > "$TMP/dwell.csv"
expect_fail 1 "negative dwell" $PERSONA features --events "$TMP/dwell.csv" --out "$TMP/x.csv"
expect_grep "dwell error" 'dwell.csv:2: column "dwell_s": expected a non-negative number of seconds, got "-2"' "$TMP/err"
: > "$TMP/empty.csv"
expect_fail 1 "empty file" $PERSONA features --events "$TMP/empty.csv" --out "$TMP/x.csv"
printf 'user_id,ts,event\n' > "$TMP/hdr.csv"
expect_ok "header-only file" $PERSONA features -q --events "$TMP/hdr.csv" --out "$TMP/hdr_out.csv" --npy "$TMP/hdr_out.npy"
expect_eq "header-only output" "$(wc -l < "$TMP/hdr_out.csv") $(stat -c %s "$TMP/hdr_out.npy")" "1 128"
expect_fail 1 "missing file" $PERSONA features --events "$TMP/nope.csv" --out "$TMP/x.csv"
expect_grep "missing file named" 'nope.csv' "$TMP/err"
done_testing
