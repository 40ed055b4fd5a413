#!/usr/bin/env bash
# t61-profile.sh - `persona profile show|diff|export` over a workspace with
# two snapshots (the second one computed as of an earlier date).
. "$(dirname "$0")/lib.sh"

D=$TMP/shop; W=$D/workspace
"$PERSONA" demo "$D" --users 500 -q
"$PERSONA" run "$D/persona.conf" -q -t 2 > /dev/null || bad "first run"

expect_ok "show (text)" "$PERSONA" profile show U000001 --workspace "$W"
expect_grep "show: segment line" "^segment: [0-5] \".+\" \(distance [0-9.]+\)" "$TMP/out"
expect_grep "show: attributes from users.csv" "^attribute gender: F" "$TMP/out"
expect_grep "show: city" "^attribute city: 重庆" "$TMP/out"
expect_grep "show: rfm" "^rfm: [a-z_]+ \(R [0-5], F [0-5], M [0-5]\)" "$TMP/out"
expect_grep "show: lifecycle" "^lifecycle: (prospect|new|active|dormant|churned)" "$TMP/out"
expect_grep "show: topics with words" "^topic [0-9]+ \(0\.[0-9]+\): " "$TMP/out"
expect_grep "show: interest tags" "^tags: .*category:clothing" "$TMP/out"
# The feature values are the features table's.
want=$(awk -F, '$1 == "U000001" { print $2 }' "$W/features.csv")
expect_grep "show: browse_count as in features.csv" "^feature browse_count: $want\$" "$TMP/out"

expect_ok "show --json" "$PERSONA" profile show U000001 --json --workspace "$W"
expect_grep "json document" '^\{"user_id":"U000001","run":1,"attributes":\{' "$TMP/out"
expect_grep "json has segment, topics, text_vector" '"segment":\{"id":[0-9]+,"name":.*"topics":\[.*"text_vector":null' "$TMP/out"

expect_fail 1 "unknown user" "$PERSONA" profile show NOBODY --workspace "$W"
expect_grep "unknown user message" "no profile for user \"NOBODY\" in snapshot 1" "$TMP/err"
expect_fail 1 "no store" "$PERSONA" profile show U000001 --workspace "$TMP/empty"
expect_grep "no store message" "no store at \".*/empty/persona.db\"" "$TMP/err"

expect_ok "export csv" "$PERSONA" profile export --format csv --workspace "$W" --out "$TMP/p.csv"
expect_eq "csv: user_id and segment first" "$(head -1 "$TMP/p.csv" | cut -d, -f1-2)" "user_id,segment"
expect_eq "csv: one row per user" "$(tail -n +2 "$TMP/p.csv" | wc -l)" "500"
expect_ok "export jsonl" "$PERSONA" profile export --format jsonl --workspace "$W"
expect_eq "jsonl: one line per user" "$(wc -l < "$TMP/out")" "500"
# Segment sizes in the export match the store's segment table.
n0=$(awk -F, 'NR > 1 && $2 == 0' "$TMP/p.csv" | wc -l)
if command -v sqlite3 > /dev/null; then
  expect_eq "segment 0 size" "$n0" "$(sqlite3 "$W/persona.db" 'select size from segments where run_id=1 and segment=0')"
fi

# A second snapshot as of 30 days earlier: users go from dormant to active etc.
sed -i 's/^# as_of = 2026-04-01 .*/as_of = 2026-03-09/' "$D/persona.conf"
grep -q '^as_of = 2026-03-09' "$D/persona.conf" || bad "as_of set in persona.conf"
"$PERSONA" run "$D/persona.conf" -q -t 2 > "$TMP/run2.out" || bad "second run"
expect_grep "second snapshot" "^run 2: snapshot 2," "$TMP/run2.out"
expect_ok "diff" "$PERSONA" profile diff --from 1 --to 2 --workspace "$W"
expect_grep "diff header" "^snapshots 1 -> 2: 500 users before, [0-9]+ after" "$TMP/out"
expect_grep "diff: lifecycle changes" "^lifecycle changes: [1-9][0-9]* transitions" "$TMP/out"
expect_grep "diff: tags gained" "^tags gained: [1-9]" "$TMP/out"
expect_ok "diff --json" "$PERSONA" profile diff --from 1 --to 2 --json --workspace "$W"
expect_grep "diff json" '"segment_matrix":\[\[' "$TMP/out"
# Lifecycle transitions agree with the two exports.
"$PERSONA" profile export --format csv --run 1 --workspace "$W" > "$TMP/a.csv"
"$PERSONA" profile export --format csv --run 2 --workspace "$W" > "$TMP/b.csv"
changed=$(awk -F, 'NR==FNR { if (FNR > 1) l[$1] = $5; next } FNR > 1 && ($1 in l) && l[$1] != $5 { n++ } END { print n + 0 }' "$TMP/a.csv" "$TMP/b.csv")
json_sum=$(grep -o '"lifecycle_changes":\[.*\]' "$TMP/out" | grep -oE ',[0-9]+\]' | tr -dc '0-9\n' | awk '{ s += $1 } END { print s + 0 }')
expect_eq "lifecycle changes match the exports" "$json_sum" "$changed"

expect_fail 2 "diff needs --from" "$PERSONA" profile diff --to 2 --workspace "$W"
expect_fail 1 "diff unknown run" "$PERSONA" profile diff --from 1 --to 99 --workspace "$W"
expect_grep "unknown run message" "no finished run 99" "$TMP/err"
expect_fail 2 "export needs --format" "$PERSONA" profile export --workspace "$W"
expect_fail 2 "export bad format" "$PERSONA" profile export --format xml --workspace "$W"
expect_fail 2 "unknown subcommand" "$PERSONA" profile frobnicate
expect_fail 2 "show without user" "$PERSONA" profile show --workspace "$W"
done_testing
