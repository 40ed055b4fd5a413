#!/usr/bin/env bash
# t60-run.sh - `persona run`: the demo shop end to end from the persona.conf
# that `persona demo` writes; stage keys (skip, partial rerun, resume after
# an interruption), the run record in the store, and config errors.
. "$(dirname "$0")/lib.sh"
have_sqlite=0; command -v sqlite3 >/dev/null && have_sqlite=1
# No built-in model for these runs, whether or not models/persona-small exists.
export PERSONA_MODELS=$TMP/no-models

D=$TMP/shop; W=$D/workspace
expect_ok "demo shop with persona.conf" "$PERSONA" demo "$D" --users 500 -q
expect_grep "persona.conf names the events" "^path = events.csv" "$D/persona.conf"
strip() { grep -vE '^(path|workspace) =|^# ' "$1"; }
expect_eq "examples/demo.conf is the demo's persona.conf (paths aside)" \
  "$(strip examples/demo.conf | md5sum)" "$(strip "$D/persona.conf" | md5sum)"
sed -i 's/^iters = 100/iters = 30/' "$D/persona.conf"   # fewer LDA sweeps: a faster test

expect_ok "run the demo config" "$PERSONA" run "$D/persona.conf" -t 2
cp "$TMP/out" "$TMP/run1.out"; cp "$TMP/err" "$TMP/run1.err"
for f in persona.db report.html features.csv features.npy features.ids.txt segment/model.psm \
         topics/model.lda topics/user_topics.npy clean/events.csv clean/users.csv; do
  if [ -s "$W/$f" ]; then ok "workspace has $f"; else bad "workspace has $f"; fi
done
for s in clean.events clean.texts clean.items clean.users features segment topics profiles evaluate report; do
  expect_grep "first run did $s" "^$s +done " "$TMP/run1.out"
done
expect_grep "no model: vectors stage off with a notice" "vectors .*skipped: no language model" "$TMP/run1.err"
expect_grep "events row counts printed" "^clean.events +done +[0-9.]+ +25545 +25267" "$TMP/run1.out"
expect_grep "features: 500 users" "^features +done +[0-9.]+ +25267 +500" "$TMP/run1.out"
expect_eq "no temporary files left" "$(find "$W" -name '*.tmp.*' | wc -l)" "0"

# The evaluate stage: split_at = auto leaves the last 20% of purchases as
# the test set, and the stored metric table is what `persona evaluate
# recommend --json` prints for the same split.
expect_grep "evaluate stage note" "evaluate +done .*split [0-9T:-]+Z \(auto\): NDCG@10 hybrid" "$TMP/run1.err"
if [ $have_sqlite = 1 ]; then
  split=$(sqlite3 "$W/persona.db" "SELECT split_at FROM evaluations WHERE run_id = 1")
  share=$(awk -F, -v s="$split" 'NR > 1 && $3 == "purchase" { n++; if ($2 >= s) t++; else if ($2 > last) last = $2 }
    END { printf "%d %d", (t >= 0.2 * n && t - 1 < 0.2 * n + 1), (last < s) }' "$W/clean/events.csv")
  expect_eq "auto split: the last 20% of purchases are the test set" "$share" "1 1"
  expect_ok "evaluate recommend --json at the stored split" "$PERSONA" evaluate recommend \
    --workspace "$W" --split-at "$split" --k 5,10,20 --json -t 2
  tr -d '\n' < "$TMP/out" | sed 's/.*"methods": {//' | grep -oE '"[a-z_]+": \{[^}]*\}' |
    awk '{ m = $1; gsub(/[":]/, "", m); sub(/^[^{]*\{/, ""); sub(/\}.*/, ""); n = split($0, kv, ", ");
           for (i = 1; i <= n; i++) { split(kv[i], p, ": "); gsub(/"/, "", p[1]); print m "," p[1] "," p[2] } }' |
    LC_ALL=C sort > "$TMP/cli.metrics"
  sqlite3 "$W/persona.db" "SELECT method || ',' || metric || ',' || COALESCE(printf('%.9f', value), 'null')
    FROM eval_metrics WHERE run_id = 1" | LC_ALL=C sort > "$TMP/db.metrics"
  expect_eq "21 metrics for each of 3 methods" "$(wc -l < "$TMP/db.metrics" | tr -d ' ')" "63"
  diffs=$(join -t, -j1 <(awk -F, '{ print $1 ":" $2 "," $3 }' "$TMP/cli.metrics") \
                       <(awk -F, '{ print $1 ":" $2 "," $3 }' "$TMP/db.metrics") |
    awk -F, '{ if ($2 == "null" || $3 == "null") { if ($2 != $3) bad++ }
               else { d = $2 - $3; if (d < 0) d = -d; if (d > 1.5e-6) bad++ } n++ }
             END { print n + 0, bad + 0 }')
  expect_eq "stored metrics = evaluate recommend --json (63 compared, 0 differ)" "$diffs" "63 0"
  expect_eq "report: Recommendations section" "$(grep -c '<section id="recommendations"><h2>Recommendations</h2>' "$W/report.html")" "1"
  expect_grep "report: NDCG@10 row highlighted" '<tr class="hl"><td>ndcg@10</td>' "$W/report.html"
  expect_grep "report: recommender against both baselines" '<th>recommender \(hybrid\)</th><th>popularity</th><th>random</th>' "$W/report.html"
fi

# The planted personas come back: majority persona of each segment covers
# most users (purity, from the exported profiles and the answer key).
"$PERSONA" profile export --format csv --workspace "$W" > "$TMP/p.csv"
purity=$(awk -F, 'NR==FNR { if (FNR > 1) truth[$1] = $2; next }
  FNR > 1 { n[$2 "," truth[$1]]++; tot++ }
  END { for (k in n) { split(k, a, ","); if (n[k] > best[a[1]]) best[a[1]] = n[k] }
        for (s in best) sum += best[s]; printf "%d", 100 * sum / tot }' "$D/truth.csv" "$TMP/p.csv")
if [ "$purity" -ge 85 ]; then ok "segments recover the personas (purity $purity%)"
else bad "segments recover the personas (purity $purity% < 85%)"; fi

expect_ok "rerun" "$PERSONA" run "$D/persona.conf" -t 2
expect_eq "rerun skips every stage" "$(grep -cE '^[a-z.]+ +skipped ' "$TMP/out")" "10"
expect_grep "rerun keeps the snapshot" "^run 2: snapshot 1," "$TMP/out"

# Change one segmentation option: only segment and what follows rerun.
sed -i 's/^n_init = 4/n_init = 3/' "$D/persona.conf"
expect_ok "rerun after a segment option changed" "$PERSONA" run "$D/persona.conf" -t 2
expect_grep "clean skipped" "^clean.events +skipped" "$TMP/out"
expect_grep "features skipped" "^features +skipped" "$TMP/out"
expect_grep "topics skipped" "^topics +skipped" "$TMP/out"
expect_grep "segment redone" "^segment +done" "$TMP/out"
expect_grep "profiles redone: new snapshot" "^run 3: snapshot 3," "$TMP/out"

# A changed input file (size/mtime) reruns its clean stage and what depends on it.
echo "U000001,2026-03-30T10:00:00Z,view,I00001,phone,3409.00,,30,," >> "$D/events.csv"
expect_fail 1 "interrupted after features" "$PERSONA" run "$D/persona.conf" -t 2 --stop-after features
expect_grep "says where it stopped" "stopped after stage features" "$TMP/err"
expect_ok "resume" "$PERSONA" run "$D/persona.conf" -t 2
expect_grep "resume skips clean.events" "^clean.events +skipped" "$TMP/out"
expect_grep "resume skips features" "^features +skipped" "$TMP/out"
expect_grep "resume redoes segment" "^segment +done" "$TMP/out"
expect_grep "resume: one more event" "^features +skipped +[0-9.]+ +25268 " "$TMP/out"

# A real kill (SIGKILL, no cleanup) in the middle of a run: the next run
# removes the temporary files it left and finishes; no final file is ever
# half-written (they appear by rename).
"$PERSONA" run "$D/persona.conf" -t 2 --force -q > /dev/null 2>&1 &
pid=$!; sleep 0.4; kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
expect_ok "run after a SIGKILL" "$PERSONA" run "$D/persona.conf" -t 2
expect_eq "no temporary files after the rerun" "$(find "$W" -name '*.tmp.*' | wc -l)" "0"
expect_grep "report after the kill" "^report +(done|skipped)" "$TMP/out"
# One run per workspace at a time.
if command -v flock > /dev/null; then
  flock "$W/.lock" sleep 3 & lk=$!; sleep 0.3
  expect_fail 1 "workspace locked by another run" "$PERSONA" run "$D/persona.conf" -q
  expect_grep "lock message" "is in use by another persona run" "$TMP/err"
  wait $lk
fi

if [ $have_sqlite = 1 ]; then
  # 5 finished runs, plus the killed one: 'running', or 'ok' when it was
  # done before the kill arrived (a fast machine).
  expect_eq "runs recorded" "$(sqlite3 "$W/persona.db" "select count(*) from runs where status in ('ok', 'running')")" "6"
  expect_eq "a killed run stays 'running'" "$(sqlite3 "$W/persona.db" "select count(*) <= 1 from runs where status = 'running'")" "1"
  expect_eq "failed run recorded" "$(sqlite3 "$W/persona.db" "select status from runs where run_id=4")" "failed"
  expect_eq "stage rows recorded" \
    "$(sqlite3 "$W/persona.db" "select rows_in || '/' || rows_out from run_stages where run_id=1 and stage='features'")" "25267/500"
  expect_eq "journal is WAL" "$(sqlite3 "$W/persona.db" 'pragma journal_mode')" "wal"
  expect_eq "profiles per snapshot" "$(sqlite3 "$W/persona.db" 'select count(*) from profiles where run_id=1')" "500"
else
  ok "sqlite3 shell not installed: store checks SKIP"
fi

# --workspace overrides the config's folder.
expect_fail 1 "--workspace (stopped early to keep the test fast)" "$PERSONA" run "$D/persona.conf" \
  --workspace "$TMP/ws2" -q --stop-after clean.events
if [ -s "$TMP/ws2/clean/events.csv" ] && [ -s "$TMP/ws2/persona.db" ]; then ok "--workspace used"
else bad "--workspace used"; fi

# Config errors name file, line and key.
C=$TMP/bad.conf
printf '[run]\nworkspace = w\n[input.events]\npath = %s/events.csv\n[segment]\nkk = 3\n' "$D" > "$C"
expect_fail 1 "unknown key" "$PERSONA" run "$C"
expect_grep "unknown key message" "bad.conf:6: unknown key \"kk\" in section \[segment\]" "$TMP/err"
printf '[run]\n[input.events]\npath = nothere*.csv\n' > "$C"
expect_fail 1 "missing input" "$PERSONA" run "$C"
expect_grep "missing input message" "bad.conf:3: \[input.events\] path: no file matches" "$TMP/err"
printf '[input.events]\npath = %s/events.csv\n[segment]\nk = 1\n' "$D" > "$C"
expect_fail 1 "bad k" "$PERSONA" run "$C"
expect_grep "bad k message" "bad.conf:4: \[segment\] k: k must be 0" "$TMP/err"
printf '[input.texts]\npath = %s/texts.csv\n' "$D" > "$C"
expect_fail 1 "no events table" "$PERSONA" run "$C"
expect_grep "no events message" "no \[input.events\] section" "$TMP/err"
printf '[input.events]\npath = %s/events.csv\n[topics]\nenabled = true\n' "$D" > "$C"
expect_fail 1 "topics without texts" "$PERSONA" run "$C"
expect_grep "topics message" "topics need a texts table" "$TMP/err"
printf '[input.events]\npath = %s/events.csv\n[evaluate]\nk = 5,0\n' "$D" > "$C"
expect_fail 1 "bad evaluate k" "$PERSONA" run "$C"
expect_grep "bad evaluate k message" 'bad.conf:4: \[evaluate\] k: expected up to 8 cutoffs in 1..1000 like 5,10,20, got "5,0"' "$TMP/err"
printf '[input.events]\npath = %s/events.csv\n[evaluate]\nsplit_at = soon\n' "$D" > "$C"
expect_fail 1 "bad evaluate split_at" "$PERSONA" run "$C"
expect_grep "bad split_at message" 'bad.conf:4: \[evaluate\] split_at: expected auto, Unix seconds or an ISO-8601 time, got "soon"' "$TMP/err"
printf '[input.events]\npath = %s/events.csv\n[evaluate]\nsplit_at = 2030-01-01\n' "$D" > "$C"
expect_fail 1 "split after every purchase" "$PERSONA" run "$C" -q
expect_grep "split error names the stage" "stage evaluate: split at [0-9]+ leaves" "$TMP/err"
expect_fail 2 "no config" "$PERSONA" run
expect_fail 2 "unknown option" "$PERSONA" run "$C" --bogus
expect_fail 1 "config not found" "$PERSONA" run "$TMP/none.conf"
expect_grep "not found message" "cannot open" "$TMP/err"

# Text vectors from a real checkpoint (the tiny GPT-2 of ../shared/lmref):
# per-user means of mean-pooled vectors against PyTorch's values
# (tests/fixtures/profile/lm/make.py).
F=$PWD/tests/fixtures/profile/lm; G=$PWD/$SHARED/lmref/models/gpt2-tiny-f32
if [ -d "$G" ]; then
  printf '[run]\nworkspace = lmws\n[input.events]\npath = %s/events.csv\n[input.texts]\npath = %s/texts.csv\n[segment]\nk = 2\nn_init = 1\n[topics]\nenabled = false\n[embed]\nmodel = %s\n' "$F" "$F" "$G" > "$TMP/lm.conf"
  expect_ok "run with a language model" "$PERSONA" run "$TMP/lm.conf" -t 2
  expect_grep "vectors stage ran" "^vectors +done +[0-9.]+ +8 +3" "$TMP/out"
  expect_eq "vector ids" "$(paste -sd, "$TMP/lmws/vectors.ids.txt")" "u1,u2,u3"
  npy=$TMP/lmws/vectors.npy
  hlen=$(od -An -tu2 -j8 -N2 "$npy" | tr -d ' ')
  od -An -v -tf4 -w256 -j $((10 + hlen)) "$npy" > "$TMP/vec.txt"
  maxd=$(awk 'NR==FNR { for (i = 1; i <= NF; i++) got[FNR, i] = $i; next }
    { for (i = 2; i <= NF; i++) { d = got[FNR, i - 1] - $i; if (d < 0) d = -d; if (d > m) m = d } }
    END { printf "%.3g", m + 0 }' "$TMP/vec.txt" "$F/expected_vectors.txt")
  if awk -v m="$maxd" 'BEGIN { exit !(m < 1e-5) }'; then ok "vectors match PyTorch (max diff $maxd)"
  else bad "vectors match PyTorch (max diff $maxd)"; fi
  "$PERSONA" profile show u2 --json --workspace "$TMP/lmws" > "$TMP/u2.json"
  expect_grep "profile points at the vector row" '"text_vector":\{"file":"vectors.npy","row":1\}' "$TMP/u2.json"
  expect_ok "rerun with a model" "$PERSONA" run "$TMP/lm.conf" -t 2
  expect_grep "vectors skipped when unchanged" "^vectors +skipped" "$TMP/out"
  # model = auto finds the built-in model (here a stand-in) through $PERSONA_MODELS.
  mkdir -p "$TMP/models" && ln -s "$G" "$TMP/models/persona-small"
  sed 's|^model = .*|model = auto|' "$TMP/lm.conf" > "$TMP/lm3.conf"
  expect_ok "model = auto with a built-in model" env PERSONA_MODELS="$TMP/models" "$PERSONA" run "$TMP/lm3.conf" -t 2 --force
  expect_grep "auto: vectors from the built-in model" "^vectors +done +[0-9.]+ +8 +3" "$TMP/out"
  printf '[input.events]\npath = %s/events.csv\n[input.texts]\npath = %s/texts.csv\n[embed]\nmodel = /nonexistent/model\n' "$F" "$F" > "$TMP/lm2.conf"
  expect_fail 1 "missing model folder" "$PERSONA" run "$TMP/lm2.conf"
  expect_grep "missing model message" "lm2.conf:6: \[embed\] model: no checkpoint at \"/nonexistent/model\"" "$TMP/err"
else
  ok "SKIP: ../shared/lmref not present"
fi

# The built-in model, when it is in the tree: the demo gets text vectors.
if [ -s models/persona-small/config.json ]; then
  expect_ok "demo with the built-in model" env PERSONA_MODELS="$PWD/models" "$PERSONA" run \
    "$D/persona.conf" -t 2 --workspace "$TMP/wsvec"
  expect_grep "built-in model: vectors done" "^vectors +done +[0-9.]+ +[0-9]+ +[0-9]+" "$TMP/out"
  # Users with texts = the topics stage's output rows (same clean table).
  expect_eq "one vector row per user with texts" "$(wc -l < "$TMP/wsvec/vectors.ids.txt")" \
    "$(awk '$1 == "topics" { print $5 }' "$TMP/out")"
  "$PERSONA" profile show U000001 --json --workspace "$TMP/wsvec" > "$TMP/v.json"
  expect_grep "profile references its vector" '"text_vector":\{"file":"vectors.npy","row":[0-9]+\}' "$TMP/v.json"
else
  ok "SKIP: models/persona-small not in the tree"
fi

# Real data: examples/online-retail.conf (UCI Online Retail + Amazon reviews).
if [ -d "$SHARED/data/online-retail" ] && [ "$SHARED" = "../shared" ]; then
  expect_ok "real data: online-retail.conf" "$PERSONA" run examples/online-retail.conf \
    --workspace "$TMP/retail" -t 2
  expect_grep "retail: 44 files, 77628 rows" "^clean.events +done +[0-9.]+ +77628 +48024" "$TMP/out"
  expect_grep "retail: 1369 customers" "^features +done +[0-9.]+ +48024 +1369" "$TMP/out"
  expect_grep "retail: topics on the reviews" "^topics +done +[0-9.]+ +4212 " "$TMP/out"
  expect_grep "retail: profiles" "^profiles +done +[0-9.]+ +1369 +1369" "$TMP/out"
  "$PERSONA" profile export --format csv --workspace "$TMP/retail" > "$TMP/r.csv"
  expect_eq "retail: export rows" "$(tail -n +2 "$TMP/r.csv" | wc -l)" "1369"
  expect_eq "retail: customer ids as in the data" "$(sed -n 2p "$TMP/r.csv" | cut -d, -f1)" "12346"
  # Amazon reviews as both purchases and texts: topics attach to the users.
  expect_ok "real data: amazon-beauty.conf" "$PERSONA" run examples/amazon-beauty.conf \
    --workspace "$TMP/beauty" -t 2
  expect_grep "beauty: reviews as events" "^clean.events +done +[0-9.]+ +5269 +4161" "$TMP/out"
  expect_grep "beauty: 991 reviewers" "^features +done +[0-9.]+ +4161 +991" "$TMP/out"
  expect_grep "beauty: topic mixes for 990 users" "^topics +done +[0-9.]+ +4212 +990" "$TMP/out"
  "$PERSONA" profile show A3CIUOJXQ5VDQ2 --json --workspace "$TMP/beauty" > "$TMP/b.json"
  expect_grep "beauty: a reviewer's topics" '"topics":\[\{"topic":[0-9]+,"weight":' "$TMP/b.json"
else
  ok "SKIP: ../shared/data not present"
fi
done_testing
