#!/usr/bin/env bash
# t71-evaluate.sh - `persona evaluate recommend` (holdout metrics for the
# hybrid, popularity and random methods; the hybrid must beat popularity on
# NDCG@10 on the demo shop) and `persona evaluate uplift`.
. "$(dirname "$0")/lib.sh"
P=$PERSONA
D=$TMP/shop
$P demo "$D" --users 600 --seed 3 -q >/dev/null 2>&1
$P clean --schema events --in "$D/events.csv" --out "$D/ev.csv" --quarantine "$D/evq.csv" -q >/dev/null 2>&1
$P features --events "$D/ev.csv" --out "$D/features.csv" -q
$P segment --features "$D/features.csv" --k 4 --out "$D/seg" -q >/dev/null 2>&1

expect_ok "evaluate table" $P evaluate recommend --events "$D/ev.csv" --segments "$D/seg/labels.csv" --split-at 2026-03-01 --k 5,10,20
for m in hybrid popular random; do
  for k in 5 10 20; do expect_grep "row $m@$k" "^$m +$k " "$TMP/out"; done
done
expect_grep "split summary" "^train: [0-9]+ events before 1772323200" "$TMP/out"

expect_ok "evaluate json" $P evaluate recommend --events "$D/ev.csv" --segments "$D/seg/labels.csv" --split-at 1772323200 --k 10 --json
cp "$TMP/out" "$TMP/eval.json"
for key in precision recall ndcg map hit_rate coverage novelty; do
  expect_grep "json has $key@10" "\"$key@10\": [0-9.]+" "$TMP/eval.json"
done
ndcg() { grep "\"$1\":" "$TMP/eval.json" | sed -E 's/.*"ndcg@10": ([0-9.]+).*/\1/'; }
h=$(ndcg hybrid); p=$(ndcg popular); r=$(ndcg random)
echo "    ndcg@10 hybrid $h popular $p random $r"
if awk -v h="$h" -v p="$p" 'BEGIN { exit !(h > p) }'; then ok "hybrid beats popularity on NDCG@10"; else bad "hybrid beats popularity on NDCG@10 ($h vs $p)"; fi
if awk -v p="$p" -v r="$r" 'BEGIN { exit !(p > r) }'; then ok "popularity beats random"; else bad "popularity beats random"; fi
expect_ok "json twice" $P evaluate recommend --events "$D/ev.csv" --segments "$D/seg/labels.csv" --split-at 1772323200 --k 10 --json -t 1
expect_eq "metrics identical at 1 thread" "$(grep -v seconds "$TMP/out" | md5sum)" "$(grep -v seconds "$TMP/eval.json" | md5sum)"

expect_ok "with ALS" $P evaluate recommend --events "$D/ev.csv" --split-at 2026-03-01 --k 10 --als --als-iters 3 --json
expect_grep "als method in the json" '"als": \{"precision@10": [0-9.]+' "$TMP/out"
expect_fail 2 "bad ALS factors" $P evaluate recommend --events "$D/ev.csv" --split-at 2026-03-01 --als-factors 0
# Segments as of the split from the saved model (no leak of the test period).
expect_ok "segment model as of the split" $P evaluate recommend --events "$D/ev.csv" --segment-model "$D/seg/model.psm" --split-at 2026-03-01 --k 10
expect_grep "hybrid row" "^hybrid +10 " "$TMP/out"
cp "$TMP/out" "$TMP/asof.txt"
expect_ok "labels from all events" $P evaluate recommend --events "$D/ev.csv" --segments "$D/seg/labels.csv" --split-at 2026-03-01 --k 10
if cmp -s "$TMP/out" "$TMP/asof.txt"; then bad "as-of labels differ from full-period labels"; else ok "as-of labels differ from full-period labels"; fi
expect_fail 2 "labels or model, not both" $P evaluate recommend --events "$D/ev.csv" --segments "$D/seg/labels.csv" --segment-model "$D/seg/model.psm" --split-at 2026-03-01
expect_fail 1 "bad model file" $P evaluate recommend --events "$D/ev.csv" --segment-model "$D/ev.csv" --split-at 2026-03-01
expect_fail 2 "split required" $P evaluate recommend --events "$D/ev.csv"
expect_fail 2 "bad split" $P evaluate recommend --events "$D/ev.csv" --split-at tomorrow
expect_fail 2 "bad k" $P evaluate recommend --events "$D/ev.csv" --split-at 2026-03-01 --k 5,0
expect_fail 1 "split after every event" $P evaluate recommend --events "$D/ev.csv" --split-at 2030-01-01
expect_grep "says why" "0 test purchases; pick a time between" "$TMP/err"
expect_fail 2 "unknown subcommand" $P evaluate frobnicate

# Real data: UCI Online Retail (44 days of invoices, ../shared/data), split
# mid-January 2011.  The hybrid beats popularity there too.
if [ -d "$SHARED/data/online-retail" ]; then
  ins=(); for f in "$SHARED"/data/online-retail/*.csv; do ins+=(--in "$f"); done
  $P clean --preset online-retail --schema events "${ins[@]}" --out "$TMP/or.csv" --quarantine "$TMP/orq.csv" -q >/dev/null 2>&1
  expect_ok "evaluate on Online Retail" $P evaluate recommend --events "$TMP/or.csv" --split-at 2011-01-15 --k 10 --json
  cp "$TMP/out" "$TMP/or.json"
  h=$(grep '"hybrid":' "$TMP/or.json" | sed -E 's/.*"ndcg@10": ([0-9.]+).*/\1/')
  p=$(grep '"popular":' "$TMP/or.json" | sed -E 's/.*"ndcg@10": ([0-9.]+).*/\1/')
  echo "    Online Retail ndcg@10 hybrid $h popular $p"
  if awk -v h="$h" -v p="$p" 'BEGIN { exit !(h > p) }'; then ok "Online Retail: hybrid beats popularity"; else bad "Online Retail: hybrid beats popularity ($h vs $p)"; fi
else
  echo "skip: no $SHARED/data/online-retail"
fi

# Uplift on a simulated campaign.
expect_ok "audience" $P audience create --profiles "$D/features.csv" --name t71 --holdout 30% --stratify top_category_1 --score recency_days --out "$TMP/aud.csv" -q
expect_ok "simulate" $P audience simulate --audience "$TMP/aud.csv" --uplift 0.05 --base 0.10 --seed 9 --out "$TMP/outc.csv"
expect_ok "uplift table" $P evaluate uplift --audience "$TMP/aud.csv" --outcomes "$TMP/outc.csv" --qini "$TMP/qini.csv"
expect_grep "overall row" "^all +[0-9]+ +[0-9]+ " "$TMP/out"
expect_grep "relative lift" "relative lift" "$TMP/out"
expect_grep "per-stratum rows" "^(clothing|food|books|baby|phone|beauty|computer|tablet) " "$TMP/out"
expect_grep "qini summary" "^qini coefficient" "$TMP/out"
expect_eq "qini curve rows" "$(wc -l < "$TMP/qini.csv" | tr -d ' ')" "$(( $(wc -l < "$TMP/aud.csv") + 1 ))"
expect_ok "uplift json" $P evaluate uplift --audience "$TMP/aud.csv" --outcomes "$TMP/outc.csv" --json
expect_grep "json lift interval" '"all": \{"n_treatment": [0-9]+, "n_control": [0-9]+.*"lift_lo": ' "$TMP/out"
printf 'user_id,converted,spend\nU000001,2,0\n' > "$TMP/bad_out.csv"
expect_fail 1 "bad outcome" $P evaluate uplift --audience "$TMP/aud.csv" --outcomes "$TMP/bad_out.csv"
expect_grep "bad outcome named" 'bad_out.csv:2: column "converted": expected 0 or 1, got "2"' "$TMP/err"
printf 'user_id,group\nA,treatment\nB,placebo\n' > "$TMP/bad_aud.csv"
expect_fail 1 "bad group" $P evaluate uplift --audience "$TMP/bad_aud.csv" --outcomes "$TMP/outc.csv"
expect_grep "bad group named" 'bad_aud.csv:3: column "group": expected treatment or control, got "placebo"' "$TMP/err"
expect_fail 2 "uplift needs both files" $P evaluate uplift --audience "$TMP/aud.csv"
done_testing
