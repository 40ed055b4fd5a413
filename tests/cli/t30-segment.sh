#!/usr/bin/env bash
# t30-segment.sh - `persona segment` and `persona segment assign` end to end
# on the small planted features table (tests/fixtures/segment).
. "$(dirname "$0")/lib.sh"
FX=tests/fixtures/segment
P=$PERSONA

expect_ok "segment csv k=3" $P segment --features $FX/features_small.csv --k 3 --out "$TMP/s1" -q --truth $FX/features_small_truth.csv
expect_grep "ARI 1 against the planted groups" "adjusted Rand index .*: 1.0000" "$TMP/out"
for f in labels.csv centroids.csv centroids_scaled.csv model.psm segments.json segments.csv k_selection.csv run.json; do
  if [ -s "$TMP/s1/$f" ]; then ok "wrote $f"; else bad "wrote $f"; fi
done
expect_eq "labels header" "$(head -1 "$TMP/s1/labels.csv")" "user_id,segment,distance"
expect_eq "one label per user" "$(tail -n +2 "$TMP/s1/labels.csv" | wc -l | tr -d ' ')" "240"
expect_grep "quoted user id kept" '^"u,""quoted""",' "$TMP/s1/labels.csv"
expect_grep "model magic" "^PERSONA-SEGMENT-MODEL$" "$TMP/s1/model.psm"
expect_grep "model keeps hyperparameters" "^n_init 10$" "$TMP/s1/model.psm"
expect_grep "english name" "high-spend · heavy-browsing · electronics" "$TMP/s1/segments.json"
expect_grep "run summary has inertia" '"inertia": 70\.61' "$TMP/s1/run.json"

# Same seed and input -> byte-identical outputs, whatever the thread count.
expect_ok "segment again with 1 thread" $P segment --features $FX/features_small.csv --k 3 --out "$TMP/s2" -q -t 1
expect_ok "segment again with 3 threads" $P segment --features $FX/features_small.csv --k 3 --out "$TMP/s3" -q -t 3
expect_eq "labels identical (1 thread)" "$(cmp "$TMP/s1/labels.csv" "$TMP/s2/labels.csv" && echo same)" "same"
expect_eq "labels identical (3 threads)" "$(cmp "$TMP/s2/labels.csv" "$TMP/s3/labels.csv" && echo same)" "same"

expect_ok "segment npy, k auto, zh" $P segment --features $FX/features_small.npy --k auto --k-range 2..6 --lang zh --out "$TMP/s4"
expect_grep "auto table printed" "<- chosen" "$TMP/out"
expect_grep "auto picks 3" '^3,' "$TMP/s4/k_selection.csv"
expect_grep "k auto chose 3" '"k": 3' "$TMP/s4/run.json"
expect_grep "chinese name" "高消费·爱逛" "$TMP/s4/segments.json"

expect_ok "assign with the model" $P segment assign --model "$TMP/s1/model.psm" --features $FX/features_small.csv --out "$TMP/a.csv"
expect_eq "assign header" "$(head -1 "$TMP/a.csv")" "user_id,segment,distance,emerging"
expect_eq "assign reproduces training labels" "$(cut -d, -f2 "$TMP/a.csv" | tail -n +2 | md5sum)" "$(cut -d, -f2 "$TMP/s1/labels.csv" | tail -n +2 | md5sum)"
printf 'user_id,browse_count,purchase_count,average_stay_time\nwhale,9000,400,5000\nbookworm,40,1,20\n' > "$TMP/new.csv"
expect_ok "assign new users" $P segment assign --model "$TMP/s1/model.psm" --features "$TMP/new.csv" --out "$TMP/a2.csv"
expect_grep "far user is emerging" "^whale,[0-9]+,[0-9.e+]+,1$" "$TMP/a2.csv"
expect_grep "typical user is not" "^bookworm,0,[0-9.e+-]+,0$" "$TMP/a2.csv"

expect_ok "minibatch from npy" $P segment --features $FX/features_small.npy --algorithm minibatch --k 3 --batch-size 64 --out "$TMP/s5" -q
expect_eq "minibatch labels" "$(tail -n +2 "$TMP/s5/labels.csv" | wc -l | tr -d ' ')" "240"
expect_grep "minibatch summaries" "\"segments\": \[" "$TMP/s5/segments.json"
expect_ok "one-hot text column with log1p" $P segment --features $FX/features_small.csv --columns top_category_1,total_spend --log1p total_spend --k 3 --out "$TMP/s6" -q
expect_grep "one-hot columns in the model" "^column top_category_1=books$" "$TMP/s6/model.psm"

expect_ok "sample weights from a column" $P segment --features $FX/features_small.csv --k 3 --weight-column purchase_count --out "$TMP/s7" -q
expect_grep "weighted: heaviest segment first" "^segment 0 .*electronics" "$TMP/out"
expect_fail 2 "text weight column" $P segment --features $FX/features_small.csv --k 3 --weight-column top_category_1 --out "$TMP/x"

# Bad input and usage errors.
expect_fail 2 "missing --out" $P segment --features $FX/features_small.csv
expect_fail 2 "bad --k" $P segment --features $FX/features_small.csv --k x --out "$TMP/x"
expect_fail 2 "bad --scale" $P segment --features $FX/features_small.csv --scale zscore --out "$TMP/x"
expect_fail 2 "unknown option" $P segment --features $FX/features_small.csv --bogus --out "$TMP/x"
expect_fail 2 "unknown column" $P segment --features $FX/features_small.csv --columns nope --out "$TMP/x"
expect_grep "names the column" 'unknown feature column "nope"' "$TMP/err"
printf 'user_id,a\nu1,1\nu2,abc\n' > "$TMP/bad.csv"
expect_fail 1 "non-numeric value" $P segment --features "$TMP/bad.csv" --k 1 --out "$TMP/x"
expect_grep "error names file, line, column" 'bad.csv:3: column "a": expected a number, got "abc"' "$TMP/err"
head -c 300 "$TMP/s1/model.psm" > "$TMP/trunc.psm"
expect_fail 1 "truncated model" $P segment assign --model "$TMP/trunc.psm" --features $FX/features_small.csv --out "$TMP/x.csv"
expect_grep "truncation reported" "truncated model" "$TMP/err"
cp $FX/features_small.npy "$TMP/nosidecar.npy"
expect_fail 1 "npy without its sidecar" $P segment --features "$TMP/nosidecar.npy" --out "$TMP/x"
expect_grep "names the sidecar" "nosidecar.json: unable to open" "$TMP/err"
expect_fail 2 "minibatch with --k auto" $P segment --features $FX/features_small.npy --algorithm minibatch --k auto --out "$TMP/x"
expect_fail 2 "minibatch needs npy" $P segment --features $FX/features_small.csv --algorithm minibatch --out "$TMP/x"

# Issue point 7 on a small demo shop: the planted personas come back
# (adjusted Rand index >= 0.8) with behaviour + rhythm features, standard scaling.
if $P help clean >/dev/null 2>&1 && $P help features >/dev/null 2>&1; then
  D=$TMP/demo
  expect_ok "demo shop" $P demo "$D/raw" --users 3000 --seed 7
  expect_ok "clean events" $P clean --schema events --in "$D/raw/events.csv" --out "$D/events.csv" --quarantine "$D/q.csv"
  expect_ok "features" $P features --events "$D/events.csv" --out "$D/features.csv"
  C=browse_count,purchase_count,average_stay_time,total_spend,recency_days,conversion_rate,price_level
  C=$C,share_night,share_morning,share_afternoon,share_evening,weekend_share,avg_order_value
  expect_ok "segment the demo shop" $P segment --features "$D/features.csv" --k 6 --columns "$C" --out "$D/seg" -q --truth "$D/raw/truth.csv"
  ari=$(sed -n 's/^adjusted Rand index .*: \([0-9.]*\) .*/\1/p' "$TMP/out")
  expect_eq "ARI >= 0.8 against truth.csv (got $ari)" "$(awk -v a="${ari:-0}" 'BEGIN{print (a >= 0.8) ? "yes" : "no"}')" "yes"
else
  echo "skip demo-shop ARI check: clean/features commands not built"
fi
done_testing
