#!/usr/bin/env bash
# t70-recommend.sh - `persona recommend` end to end on a small demo shop:
# batch CSV with reasons, one user with --explain, filters, thread-count
# determinism, the workspace layout, and bad input.
. "$(dirname "$0")/lib.sh"
P=$PERSONA
D=$TMP/shop
$P demo "$D" --users 600 --seed 3 -q >/dev/null 2>&1
$P clean --schema events --in "$D/events.csv" --out "$D/ev.csv" --quarantine "$D/evq.csv" -q >/dev/null 2>&1
$P clean --schema items --in "$D/items.csv" --out "$D/it.csv" --quarantine "$D/itq.csv" -q >/dev/null 2>&1
$P features --events "$D/ev.csv" --out "$D/features.csv" -q
$P segment --features "$D/features.csv" --k 4 --out "$D/seg" -q >/dev/null 2>&1
n_users=$(tail -n +2 "$D/ev.csv" | cut -d, -f1 | sort -u | wc -l | tr -d ' ')

expect_ok "recommend --all" $P recommend --events "$D/ev.csv" --items "$D/it.csv" --segments "$D/seg/labels.csv" --all --out "$TMP/recs.csv" -q
expect_eq "header" "$(head -1 "$TMP/recs.csv")" "user_id,rank,item_id,score,reason"
expect_eq "10 per user" "$(tail -n +2 "$TMP/recs.csv" | wc -l | tr -d ' ')" "$((n_users * 10))"
expect_eq "every row has a reason" "$(tail -n +2 "$TMP/recs.csv" | awk -F, '$5 == ""' | wc -l | tr -d ' ')" "0"
expect_grep "basket reasons" ',(bought|carted|viewed|favourited|clicked) I[0-9]+$' "$TMP/recs.csv"
expect_grep "segment reasons carry the segment name" ',popular with [a-z]' "$TMP/recs.csv"
expect_eq "ranks 1..10" "$(cut -d, -f2 "$TMP/recs.csv" | tail -n +2 | sort -un | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 10 "

expect_ok "recommend with 1 thread" $P recommend --events "$D/ev.csv" --items "$D/it.csv" --segments "$D/seg/labels.csv" --all --out "$TMP/recs1.csv" -q -t 1
expect_ok "recommend with 3 threads" $P recommend --events "$D/ev.csv" --items "$D/it.csv" --segments "$D/seg/labels.csv" --all --out "$TMP/recs3.csv" -q -t 3
expect_eq "same output at 1 and 3 threads" "$(cmp "$TMP/recs1.csv" "$TMP/recs3.csv" && echo same)" "same"

u=$(sed -n 2p "$D/ev.csv" | cut -d, -f1)
expect_ok "one user, explained" $P recommend --events "$D/ev.csv" --user "$u" --explain
expect_grep "explain names the user" "^recommendations for $u:" "$TMP/out"
expect_grep "explain gives reasons" "because: " "$TMP/out"
expect_ok "explained with titles" $P recommend --events "$D/ev.csv" --items "$D/it.csv" --user "$u" --explain -q
expect_grep "titles shown" "because: .* \\(.+\\)$" "$TMP/out"

# --exclude-purchased: no recommended (user, item) pair was bought.
expect_ok "exclude purchased" $P recommend --events "$D/ev.csv" --all --exclude-purchased --out "$TMP/rx.csv" -q
bought=$(awk -F, 'NR == FNR { if ($3 == "purchase") b[$1 "," $4] = 1; next }
                  FNR > 1 && (($1 "," $3) in b) { n++ } END { print n + 0 }' "$D/ev.csv" "$TMP/rx.csv")
expect_eq "no bought item recommended" "$bought" "0"
bought_plain=$(awk -F, 'NR == FNR { if ($3 == "purchase") b[$1 "," $4] = 1; next }
                  FNR > 1 && (($1 "," $3) in b) { n++ } END { print n + 0 }' "$D/ev.csv" "$TMP/recs.csv")
if [ "$bought_plain" -gt 0 ]; then ok "without the flag bought items do appear"; else bad "without the flag bought items do appear"; fi

# --category: every item is a phone.
expect_ok "category filter" $P recommend --events "$D/ev.csv" --items "$D/it.csv" --all --category phone --out "$TMP/rc.csv" -q
notphone=$(awk -F, 'NR == FNR { c[$1] = $3; next } FNR > 1 && c[$3] != "phone" { n++ } END { print n + 0 }' "$D/it.csv" "$TMP/rc.csv")
expect_eq "only phones" "$notphone" "0"

# Reviews from the texts table: "reviewed X" reasons.
$P clean --schema texts --in "$D/texts.csv" --out "$D/tx.csv" --quarantine "$D/txq.csv" -q >/dev/null 2>&1
expect_ok "with texts" $P recommend --events "$D/ev.csv" --texts "$D/tx.csv" --all --out "$TMP/rt.csv" -q
expect_grep "reviewed reasons" ',reviewed I[0-9]+$' "$TMP/rt.csv"
printf 'user_id,text,ts,kind,item_id,rating\nA,good,12,review,I1,5\nB,bad,x,review,I2,1\n' > "$TMP/badtx.csv"
expect_fail 1 "bad text timestamp" $P recommend --events "$D/ev.csv" --texts "$TMP/badtx.csv" --all
expect_grep "texts error names file and line" 'badtx.csv:3: column "ts"' "$TMP/err"

# MMR re-rank runs and keeps 10 per user.
expect_ok "mmr" $P recommend --events "$D/ev.csv" --all --mmr 0.5 --out "$TMP/rm.csv" -q
expect_eq "mmr: 10 per user" "$(tail -n +2 "$TMP/rm.csv" | wc -l | tr -d ' ')" "$((n_users * 10))"

# The workspace layout of persona run.
mkdir -p "$TMP/ws/clean" "$TMP/ws/segment"
cp "$D/ev.csv" "$TMP/ws/clean/events.csv"; cp "$D/seg/labels.csv" "$D/seg/segments.csv" "$TMP/ws/segment/"
expect_ok "workspace" $P recommend --workspace "$TMP/ws" --all --out "$TMP/rw.csv" -q
expect_grep "workspace segments and names used" ',popular with [a-z]' "$TMP/rw.csv"

# A user with no events: popularity, with a warning.
expect_ok "unknown user" $P recommend --events "$D/ev.csv" --user nobody --n 3
expect_grep "warns about the cold user" "has no events" "$TMP/err"
expect_grep "popular overall" "^nobody,1,I[0-9]+,.*,popular overall$" "$TMP/out"

# Bad input and usage.
expect_fail 2 "needs --user or --all" $P recommend --events "$D/ev.csv"
expect_fail 2 "not both" $P recommend --events "$D/ev.csv" --all --user "$u"
expect_fail 2 "bad --n" $P recommend --events "$D/ev.csv" --all --n 0
expect_fail 2 "unknown option" $P recommend --events "$D/ev.csv" --all --bogus
expect_fail 1 "unknown category" $P recommend --events "$D/ev.csv" --all --category spaceships
expect_grep "unknown category named" 'unknown category "spaceships"' "$TMP/err"
printf 'user_id,ts,event,item_id\nA,100,view,I1\nB,soon,view,I2\n' > "$TMP/bad.csv"
expect_fail 1 "bad timestamp" $P recommend --events "$TMP/bad.csv" --all
expect_grep "error names file, line and column" 'bad.csv:3: column "ts": expected Unix seconds, got "soon"' "$TMP/err"
expect_fail 1 "missing file" $P recommend --events "$TMP/none.csv" --all
done_testing
