#!/usr/bin/env bash
# t61-profile.sh - `persona profile show|diff|export` over a workspace with
# two snapshots (the second one computed as of an earlier date).
. "$(dirname "$0")/lib.sh"
export PERSONA_MODELS=$TMP/no-models   # the tests do not depend on the built-in model

D=$TMP/shop; W=$D/workspace
"$PERSONA" demo "$D" --users 500 -q
sed -i 's/^iters = 100/iters = 30/' "$D/persona.conf"   # fewer LDA sweeps: a faster test
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

# Tag rules in [tags]: counts against awk over features.csv and users.csv.
sed '/^\[tags\]/,$d' "$D/persona.conf" > "$D/rules.conf"   # our own rules instead of the demo's
cat >> "$D/rules.conf" <<'EOR'

[tags]
churn_risk  = recency_days > 60 and frequency >= 3
phone_fan   = top_category_1 in ("phone", "tablet")
night_owl   = (share_night > 0.3
               or share_night > 2 * share_morning)
young_city  = age < 30 and city in ("上海", "北京")
EOR
expect_ok "run with tag rules" "$PERSONA" run "$D/rules.conf" -q -t 2
snap=$(sed -n 's/^run [0-9]*: snapshot \([0-9]*\),.*/\1/p' "$TMP/out")
"$PERSONA" profile export --format csv --workspace "$W" > "$TMP/t.csv"
col() { head -1 "$W/features.csv" | tr , '\n' | grep -nx "$1" | cut -d: -f1; }
rd=$(col recency_days); fq=$(col frequency); tc=$(col top_category_1); sn=$(col share_night); sm=$(col share_morning)
want_churn=$(awk -F, -v a=$rd -v b=$fq 'NR > 1 && $a != "" && $a > 60 && $b >= 3' "$W/features.csv" | wc -l)
want_phone=$(awk -F, -v a=$tc 'NR > 1 && ($a == "phone" || $a == "tablet")' "$W/features.csv" | wc -l)
want_night=$(awk -F, -v a=$sn -v b=$sm 'NR > 1 && $a != "" && ($a > 0.3 || ($b != "" && $a > 2 * $b))' "$W/features.csv" | wc -l)
want_young=$(awk -F, 'NR == FNR { if (FNR > 1 && $4 != "" && $4 < 30 && ($5 == "上海" || $5 == "北京")) y[$1] = 1; next }
  FNR > 1 && ($1 in y)' "$W/clean/users.csv" "$W/features.csv" | wc -l)
has() { awk -F, -v t="$1" 'NR > 1 { n = split($7, a, ";"); for (i = 1; i <= n; i++) if (a[i] == t) c++ } END { print c + 0 }' "$TMP/t.csv"; }
expect_eq "churn_risk users" "$(has churn_risk)" "$want_churn"
expect_eq "phone_fan users" "$(has phone_fan)" "$want_phone"
expect_eq "night_owl users" "$(has night_owl)" "$want_night"
expect_eq "young_city users (users table attributes)" "$(has young_city)" "$want_young"
if [ "$want_phone" -gt 0 ] && [ "$want_night" -gt 0 ] && [ "$want_young" -gt 0 ]; then ok "rules select someone"; else bad "rules select someone"; fi
printf '[input.events]\npath = %s/events.csv\n[input.users]\npath = %s/users.csv\n[tags]\nok = age > 3\nx = recency > 3\n' "$D" "$D" > "$TMP/r1.conf"
expect_fail 1 "unknown field in a rule" "$PERSONA" run "$TMP/r1.conf"
expect_grep "rule error points at config line and column" 'r1.conf:7:5: unknown field "recency" in rule "x"; did you mean "recency_days"' "$TMP/err"
if grep -q '^run: features' "$TMP/err"; then bad "unknown field found before the features stage"
else ok "unknown field found before the features stage"; fi
mkdir -p "$TMP/r2"
printf '[input.events]\npath = %s/events.csv\n[tags]\n\nx = recency_days >> 3\n' "$D" > "$TMP/r2/r2.conf"
expect_fail 1 "rule syntax error" "$PERSONA" run "$TMP/r2/r2.conf" -q
expect_grep "syntax error before any work" "^persona: error: .*r2.conf:5:19: expected an expression" "$TMP/err"
if [ -e "$TMP/r2/workspace" ]; then bad "syntax error wrote nothing"; else ok "syntax error wrote nothing"; fi

# Chinese persona cards and segment names.
sed -e 's/^lang = en  .*# persona card wording.*/lang = zh/' -e 's/^lang = en  .*# segment names.*/lang = zh/' \
  "$D/persona.conf" > "$D/zh.conf"
expect_eq "zh.conf sets both languages" "$(grep -c '^lang = zh$' "$D/zh.conf")" "2"
expect_ok "run with Chinese cards" "$PERSONA" run "$D/zh.conf" -q -t 2 --workspace "$TMP/zhws"
if command -v sqlite3 > /dev/null; then
  sqlite3 "$TMP/zhws/persona.db" 'select card from segments' > "$TMP/cards.txt"
  expect_grep "zh card wording" "^.+：[0-9]+ 位用户（占 [0-9.]+%）。与全体相比：" "$TMP/cards.txt"
  expect_grep "zh categories" "。主要品类：[a-z]+ [0-9]+%，" "$TMP/cards.txt"
fi

expect_fail 1 "an interrupted run" "$PERSONA" run "$D/persona.conf" -q --force --stop-after clean.events
expect_ok "runs" "$PERSONA" profile runs --workspace "$W"
expect_grep "runs: header" "^run +status +snapshot" "$TMP/out"
expect_grep "runs: first run" "^1 +ok +1 +[0-9T:Z-]+ +[0-9.]+ +500 " "$TMP/out"
expect_grep "runs: failed run without snapshot" "^[0-9]+ +failed +- " "$TMP/out"

expect_fail 2 "diff needs --from" "$PERSONA" profile diff --to 2 --workspace "$W"
expect_fail 1 "diff unknown run" "$PERSONA" profile diff --from 1 --to 99 --workspace "$W"
expect_grep "unknown run message" "no finished run 99" "$TMP/err"
expect_fail 2 "export needs --format" "$PERSONA" profile export --workspace "$W"
expect_fail 2 "export bad format" "$PERSONA" profile export --format xml --workspace "$W"
expect_fail 2 "unknown subcommand" "$PERSONA" profile frobnicate
expect_fail 2 "show without user" "$PERSONA" profile show --workspace "$W"
done_testing
