#!/usr/bin/env bash
# t05-demo.sh - `persona demo`: files, determinism, options, usage errors,
# and that `persona clean` quarantines exactly the planted dirt.
. "$(dirname "$0")/lib.sh"

expect_ok "demo writes a small shop" "$PERSONA" demo "$TMP/a" --users 300 --items 200 --seed 7
for f in events.csv texts.csv items.csv users.csv truth.csv manifest.json; do
  if [ -s "$TMP/a/$f" ]; then ok "demo wrote $f"; else bad "demo wrote $f"; fi
done
expect_grep "summary on stderr" "demo: wrote .*: 300 users, [0-9]+ events" "$TMP/err"
expect_eq "events header" "$(head -1 "$TMP/a/events.csv")" \
  "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id"
expect_eq "texts header" "$(head -1 "$TMP/a/texts.csv")" "user_id,text,ts,kind,item_id,rating"
expect_eq "items header" "$(head -1 "$TMP/a/items.csv")" "item_id,title,category,brand,price,description"
expect_eq "users header" "$(head -1 "$TMP/a/users.csv")" "user_id,signup_ts,gender,age,city"
expect_eq "truth rows" "$(wc -l < "$TMP/a/truth.csv")" "301"
expect_eq "six personas" "$(tail -n +2 "$TMP/a/truth.csv" | cut -d, -f2 | sort -u | wc -l)" "6"

expect_ok "same seed again" "$PERSONA" demo "$TMP/b" --users 300 --items 200 --seed 7 -q
same=1
for f in events.csv texts.csv items.csv users.csv truth.csv; do cmp -s "$TMP/a/$f" "$TMP/b/$f" || same=0; done
expect_eq "same seed, identical bytes" "$same" "1"
expect_ok "other seed" "$PERSONA" demo "$TMP/c" --users 300 --items 200 --seed 8 -q
if cmp -s "$TMP/a/events.csv" "$TMP/c/events.csv"; then bad "other seed differs"; else ok "other seed differs"; fi

expect_ok "no dirt" "$PERSONA" demo "$TMP/clean" --users 100 --items 100 --no-dirt -q
expect_grep "manifest says no dirt" '"dirt": false' "$TMP/clean/manifest.json"
expect_eq "no duplicate lines without dirt" \
  "$(tail -n +2 "$TMP/clean/events.csv" | sort | uniq -d | wc -l)" "0"

# Exact duplicates in the file match the manifest.
dups=$(tail -n +2 "$TMP/a/events.csv" | sort | uniq -d -c | awk '{s += $1 - 1} END {print s + 0}')
want=$(grep -o '"events.csv": {"rows": [0-9]*, "dirt": {"duplicate": [0-9]*' "$TMP/a/manifest.json" | grep -o '[0-9]*$')
expect_eq "duplicate lines match manifest" "$dups" "$want"

# persona clean quarantines exactly the planted bad rows, when it is built in.
if "$PERSONA" help clean >/dev/null 2>&1; then
  expect_ok "clean the demo events" "$PERSONA" clean --schema events --in "$TMP/a/events.csv" \
    --out "$TMP/ev.csv" --quarantine "$TMP/q.csv" --summary "$TMP/s.json" -q
  m() { grep -o "\"events.csv\": {[^}]*}" "$TMP/a/manifest.json" | grep -o "\"$1\": [0-9]*" | grep -o '[0-9]*$'; }
  planted=$(( $(m missing_required) + $(m field_count) + $(m bad_number) + $(m bad_timestamp) + $(m unknown_event) ))
  got=$(grep -o '"quarantined": [0-9]*' "$TMP/s.json" | grep -o '[0-9]*$')
  expect_eq "clean quarantines the planted bad rows" "$got" "$planted"
  got=$(grep -o '"exact_duplicates": [0-9]*' "$TMP/s.json" | grep -o '[0-9]*$')
  expect_eq "clean removes the planted duplicates" "$got" "$(m duplicate)"
fi

expect_fail 2 "missing directory" "$PERSONA" demo
expect_grep "names the problem" "missing the output directory" "$TMP/err"
expect_fail 2 "bad --users" "$PERSONA" demo "$TMP/x" --users abc
expect_grep "names the option" "option '--users' expects an integer" "$TMP/err"
expect_fail 2 "--users out of range" "$PERSONA" demo "$TMP/x" --users 0
expect_fail 2 "bad --activity" "$PERSONA" demo "$TMP/x" --activity 0
expect_grep "names the range" "option '--activity' must be in" "$TMP/err"
expect_fail 2 "unknown option" "$PERSONA" demo "$TMP/x" --frobnicate
expect_fail 2 "two directories" "$PERSONA" demo "$TMP/x" "$TMP/y"
touch "$TMP/file"
expect_fail 1 "a file in the way" "$PERSONA" demo "$TMP/file" --users 5
expect_grep "says why" "is not a directory" "$TMP/err"
expect_ok "help demo" "$PERSONA" help demo
expect_grep "usage lists --seed" "--seed S" "$TMP/out"

done_testing
