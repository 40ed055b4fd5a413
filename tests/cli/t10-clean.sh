#!/usr/bin/env bash
# t10-clean.sh - `persona clean` end to end: outputs, quarantine, summary
# JSON, strict mode, exit codes (0 ok, 1 data error, 2 usage error) and
# the presets on the real files in ../shared/data.
. "$(dirname "$0")/lib.sh"
FIX=tests/fixtures/clean

# --- a dirty events file (expected rows written out by hand) ---
expect_ok "clean events fixture" \
  $PERSONA clean --schema events --in $FIX/events_dirty.csv --out $TMP/ev.csv \
  --quarantine $TMP/q.csv --summary $TMP/s.json
cp $TMP/err $TMP/clean_err
expect_eq "clean rows" "$(cat $TMP/ev.csv)" "$(cat $FIX/events_dirty.expected.csv)"
expect_eq "quarantine lines" "$(cut -d, -f1 $TMP/q.csv | tr '\n' ' ')" "line 4 5 6 7 8 11 15 "
expect_grep "summary on stderr" '^clean events: 13 rows in, 4 out, 2 exact duplicates, 0 key duplicates, 7 quarantined' $TMP/clean_err
expect_grep "reason counts on stderr" 'quarantined bad_ts:ts +2' $TMP/clean_err
expect_grep "summary json counts" '"rows_in": 13, "rows_out": 4, "exact_duplicates": 2, "key_duplicates": 0, "quarantined": 7' $TMP/s.json
expect_grep "summary json unknown events" '"unknown_events": \{"teleport": 1\}' $TMP/s.json
# identity from the JSON: rows_in == rows_out + duplicates + quarantined
ident=$(sed -E 's/.*"rows_in": ([0-9]+), "rows_out": ([0-9]+), "exact_duplicates": ([0-9]+), "key_duplicates": ([0-9]+), "quarantined": ([0-9]+).*/\1 \2 \3 \4 \5/' $TMP/s.json |
        awk '{print ($1 == $2 + $3 + $4 + $5) ? "holds" : "broken"}')
expect_eq "row-count identity" "$ident" "holds"

# same input, same bytes
$PERSONA clean --schema events --in $FIX/events_dirty.csv --out $TMP/ev2.csv --quarantine $TMP/q2.csv --summary $TMP/s2.json -q
expect_eq "deterministic outputs" "$(cat $TMP/ev.csv $TMP/q.csv $TMP/s.json | md5sum)" "$(cat $TMP/ev2.csv $TMP/q2.csv $TMP/s2.json | md5sum)"

# --- strict mode ---
echo keep > $TMP/strict.csv
expect_fail 1 "strict stops with exit 1" \
  $PERSONA clean --schema events --strict --in $FIX/events_dirty.csv --out $TMP/strict.csv
expect_grep "strict names file, line and column" \
  "^persona: error: $FIX/events_dirty.csv:4: column \"user_id\": missing value\$" $TMP/err
expect_eq "strict leaves the old output" "$(cat $TMP/strict.csv)" "keep"

# --- options ---
printf '7;2021-01-01;buy\n8;2021-01-02;pv\n9;2021-01-03;hop\n' > $TMP/hl.csv
expect_ok "headerless with --columns, --delimiter, --map, --event-map" \
  $PERSONA clean --schema events --in $TMP/hl.csv --columns uid,when,what --delimiter ';' \
  --map ts=when,event=what --event-map hop=click --out $TMP/hl.out --quarantine $TMP/hl.q
expect_eq "headerless rows" "$(tail -n +2 $TMP/hl.out | cut -d, -f1-3 | tr '\n' ' ')" \
  "7,1609459200,purchase 8,1609545600,view 9,1609632000,click "
printf 'user_id,ts,event,price\na,1,view,2\nb,1,view,\nc,1,view,6\nd,1,view,\n' > $TMP/m.csv
expect_ok "median fill from stdin" \
  sh -c "$PERSONA clean --schema events --in - --out $TMP/m.out --quarantine $TMP/m.q --missing price=median < $TMP/m.csv"
expect_eq "median value" "$(cut -d, -f6 $TMP/m.out | tr '\n' ' ')" "price 2 4 6 4 "
expect_grep "fill reported" 'filled price +2 \(with "4"\)' $TMP/err
printf 'user_id,ts,event,item_id\na,1,view,x\na,1,view,x\na,1,cart,x\n' > $TMP/k.csv
expect_ok "key dedup" $PERSONA clean --schema events --in $TMP/k.csv --out $TMP/k.out \
  --quarantine $TMP/k.q --dedup-key user_id,item_id -q
expect_eq "key dedup rows" "$(wc -l < $TMP/k.out)" "2"
printf '{"u":"a","t":"2021-01-01T00:00:00Z","e":"buy"}\n{"u":"b","t":1609459200000,"e":"pv"}\n' > $TMP/j.jsonl
expect_ok "json lines input" $PERSONA clean --schema events --in $TMP/j.jsonl --map user_id=u,ts=t,event=e \
  --out $TMP/j.out --quarantine $TMP/j.q
expect_eq "json lines rows" "$(tail -n +2 $TMP/j.out | cut -d, -f1-3 | tr '\n' ' ')" "a,1609459200,purchase b,1609459200,view "

printf 'user_id,ts,event\na,2021-01-01 08:00,view\nb,2021-01-01T08:00:00Z,view\n' > $TMP/tz.csv
expect_ok "--tz for zone-less times" $PERSONA clean --schema events --in $TMP/tz.csv --tz +08:00 \
  --out $TMP/tz.out --quarantine $TMP/tz.q -q
expect_eq "--tz applied to zone-less only" "$(tail -n +2 $TMP/tz.out | cut -d, -f2 | tr '\n' ' ')" "1609459200 1609488000 "
printf 'who,words\nu1,"fine, thanks"\n' > $TMP/t.csv
expect_ok "--set a constant column" $PERSONA clean --schema texts --in $TMP/t.csv --map user_id=who,text=words \
  --set kind=Query --out $TMP/t.out --quarantine $TMP/t.q -q
expect_eq "texts row" "$(tail -n +2 $TMP/t.out)" 'u1,"fine, thanks",,query,,'

# --- usage errors: exit 2 ---
expect_fail 2 "no arguments" $PERSONA clean
expect_fail 2 "unknown option" $PERSONA clean --schema events --in a --out b --quarantine c --frobnicate
expect_grep "unknown option named" "unknown option '--frobnicate'" $TMP/err
expect_fail 2 "unknown schema" $PERSONA clean --schema orders --in a --out b --quarantine c
expect_fail 2 "missing --quarantine" $PERSONA clean --schema events --in a --out b
expect_fail 2 "missing option value" $PERSONA clean --schema events --in a --out b --quarantine
expect_fail 2 "bad missing policy" $PERSONA clean --schema events --in a --out b --quarantine c --missing price=guess
expect_fail 2 "bad fill value" $PERSONA clean --schema events --in a --out b --quarantine c --missing price=fill:cheap
expect_grep "fill value message" 'price: expected a number, got "cheap"' $TMP/err
expect_fail 2 "unknown preset" $PERSONA clean --preset nope --in a --out b --quarantine c
expect_fail 2 "preset without that table" $PERSONA clean --schema events --preset amazon-reviews --in a --out b --quarantine c
expect_fail 2 "unknown event in --event-map" $PERSONA clean --schema events --in a --out b --quarantine c --event-map x=teleport
expect_ok "help" $PERSONA help clean
expect_grep "help lists presets" 'tianchi-mobile' $TMP/out

# --- data errors: exit 1 ---
expect_fail 1 "missing input file" $PERSONA clean --schema events --in $TMP/none.csv --out $TMP/x --quarantine $TMP/y
printf 'who,when\na,1\n' > $TMP/noid.csv
expect_fail 1 "no user_id column" $PERSONA clean --schema events --in $TMP/noid.csv --out $TMP/x --quarantine $TMP/y
expect_grep "hint to map" 'no column for required "user_id".*--map user_id=COLUMN' $TMP/err

# --- presets on the real data (counts verified with pandas, see tests/test_clean.c) ---
if [ -d "$SHARED/data" ]; then
  D=$SHARED/data
  expect_ok "preset taobao" $PERSONA clean --preset taobao --in $D/taobao/UserBehavior.csv \
    --out $TMP/tb.csv --quarantine $TMP/tb.q --summary $TMP/tb.json
  expect_grep "taobao counts" '"rows_in": 4321, "rows_out": 4321, "exact_duplicates": 0, "key_duplicates": 0, "quarantined": 0' $TMP/tb.json
  expect_ok "preset tianchi-mobile" $PERSONA clean --preset tianchi-mobile \
    --in $D/tianchi-mobile/sample_user_behavior.csv --out $TMP/tm.csv --quarantine $TMP/tm.q --summary $TMP/tm.json
  expect_grep "tianchi counts" '"rows_in": 1999, "rows_out": 1857, "exact_duplicates": 142' $TMP/tm.json
  ins=""; for f in $D/online-retail/*.csv; do ins="$ins --in $f"; done
  expect_ok "preset online-retail events" $PERSONA clean --preset online-retail $ins \
    --out $TMP/or.csv --quarantine $TMP/or.q --summary $TMP/or.json
  expect_grep "online-retail counts" '"rows_in": 77628, "rows_out": 48024, "exact_duplicates": 738, "key_duplicates": 0, "quarantined": 28866, "reasons": \{"missing:user_id": 28866\}' $TMP/or.json
  expect_eq "online-retail refunds" "$(grep -c ',refund,' $TMP/or.csv)" "1360"
  expect_ok "preset online-retail items" $PERSONA clean --preset online-retail --schema items $ins \
    --out $TMP/oi.csv --quarantine $TMP/oi.q --summary $TMP/oi.json
  expect_grep "online-retail items counts" '"rows_out": 3051, "exact_duplicates": 68652, "key_duplicates": 5925' $TMP/oi.json
  expect_ok "preset amazon-reviews" $PERSONA clean --preset amazon-reviews \
    --in $D/reviews-en/All_Beauty_5.json --out $TMP/am.csv --quarantine $TMP/am.q --summary $TMP/am.json
  expect_grep "amazon counts" '"rows_in": 5269, "rows_out": 4212, "exact_duplicates": 1052, "key_duplicates": 0, "quarantined": 5' $TMP/am.json
else
  echo "skip: no $SHARED/data"
fi
done_testing
