#!/usr/bin/env bash
# t62-report.sh - report.html: self-contained (no script, no external
# asset), every section present, and rendered by headless Chromium without
# console errors into a screenshot that is not blank.
#
# "Not blank" without an image library: a uniform page compresses to a
# tiny PNG, so the report's screenshot must be several times larger than
# that of an empty page rendered at the same size in the same run (the
# control), and the rendered DOM must hold the scatter's points.  The
# console check is validated the same way: a page with a failing script
# must produce the error line we look for.
. "$(dirname "$0")/lib.sh"
export PERSONA_MODELS=$TMP/no-models   # the tests do not depend on the built-in model

D=$TMP/shop; W=$D/workspace; R=$W/report.html
"$PERSONA" demo "$D" --users 500 -q
sed -i 's/^iters = 100/iters = 30/' "$D/persona.conf"   # fewer LDA sweeps: a faster test
"$PERSONA" run "$D/persona.conf" -q -t 2 > /dev/null || bad "run"
if [ -s "$R" ]; then ok "report written"; else bad "report written"; fi

for id in overview personas heatmap scatter topics drift recommendations; do
  expect_grep "section $id" "<section id=\"$id\">" "$R"
done
expect_eq "six persona cards" "$(grep -o '<div class="card"' "$R" | wc -l)" "6"
expect_eq "500 scatter points" "$(grep -o '<circle ' "$R" | wc -l)" "500"
expect_eq "heatmap cells: 6 segments x 26 features" "$(grep -o '<rect x="[0-9]*" y="[0-9]*" width="34"' "$R" | wc -l)" "156"
expect_eq "no script" "$(grep -ci '<script' "$R")" "0"
expect_eq "no external reference" "$(grep -Eci '(src|href)=|url\(|@import' "$R")" "0"
expect_grep "first snapshot: no drift yet" "first snapshot in this workspace" "$R"
if command -v sqlite3 > /dev/null; then
  expect_eq "topic shares sum to 1" "$(sqlite3 "$W/persona.db" 'select round(sum(share), 6) from topics where run_id = 1')" "1.0"
fi
expect_grep "topic words listed" "<tr><td>0</td><td>[0-9.]+%</td><td>[^<]+ · " "$R"
expect_grep "recommendations: NDCG@10 of the recommender and popularity" \
  '<p class="kv">NDCG@10: recommender [0-9.]+, popularity [0-9.]+' "$R"
expect_eq "recommendations: 3 methods x 7 metrics x 3 cutoffs" \
  "$(sed -n 's/.*<section id="recommendations">//p' "$R" | grep -o '<td class="num">' | wc -l | tr -d ' ')" "63"
expect_eq "no audiences yet: no section" "$(grep -c '<section id="audiences">' "$R")" "0"

# An audience stored in the workspace shows in the next run's report.
"$PERSONA" audience create --workspace "$W" --name spring --where 'frequency >= 1' \
  --stratify segment --holdout 20% --out "$TMP/aud.csv" -q || bad "audience create"
n_aud=$(tail -n +2 "$TMP/aud.csv" | wc -l | tr -d ' ')
n_ctl=$(grep -c ',control,' "$TMP/aud.csv")

# Drift after a second snapshot.
sed -i 's/^# as_of = 2026-04-01 .*/as_of = 2026-03-09/' "$D/persona.conf"
"$PERSONA" run "$D/persona.conf" -q -t 2 > /dev/null || bad "second run"
expect_grep "drift section compares snapshots" "Snapshot 2 against 1: [0-9]+ users in both" "$R"
expect_grep "drift lists lifecycle changes" "<b>Lifecycle changes:</b> " "$R"
expect_grep "audiences section" '<section id="audiences"><h2>Audiences</h2>' "$R"
expect_grep "audience row with the CSV's sizes" \
  "<b>spring</b></td><td><code>frequency &gt;= 1</code></td><td>1</td><td class=\"num\">$n_aud</td><td class=\"num\">$((n_aud - n_ctl))</td><td class=\"num\">$n_ctl \\(20%, by segment\\)" "$R"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    > /dev/null 2>&1 || true
  CHROME=$(command -v chromium || true)
fi
if [ -z "$CHROME" ]; then
  ok "SKIP: chromium is not installed and could not be installed (scripts/install-deps.sh)"
  done_testing; exit $?
fi

shot() { # shot URL PNG LOG SIZE PROFILE-OPTION
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars "$5" \
    --window-size="$4" --screenshot="$2" --enable-logging=stderr --v=0 "$1" \
    > /dev/null 2> "$3"
}
png_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
png_wh() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%d x %d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }

printf '<!DOCTYPE html><html><body></body></html>' > "$TMP/blank.html"
printf '<!DOCTYPE html><html><body><p>x</p><script>not_defined();</script></body></html>' > "$TMP/bad.html"
# The three renders run side by side (separate profiles), then are checked.
shot "file://$TMP/blank.html" "$TMP/blank.png" "$TMP/blank.log" 1280,2400 --user-data-dir="$TMP/c1" &
shot "file://$TMP/bad.html" "$TMP/bad.png" "$TMP/bad.log" 400,300 --user-data-dir="$TMP/c2" &
shot "file://$R" "$TMP/report.png" "$TMP/report.log" 1280,2400 --user-data-dir="$TMP/c3"
wait
expect_grep "console check sees a script error (control)" "CONSOLE.*not_defined" "$TMP/bad.log"
if [ -s "$TMP/report.png" ]; then ok "screenshot saved"; else bad "screenshot saved"; fi
expect_eq "screenshot size" "$(png_wh "$TMP/report.png")" "1280 x 2400"
if grep -q 'CONSOLE' "$TMP/report.log"; then bad "no console messages"; grep CONSOLE "$TMP/report.log" | head -5
else ok "no console messages"; fi
if grep -qiE 'Failed to load|ERR_FILE_NOT_FOUND|net::ERR' "$TMP/report.log"; then bad "no failed loads"
else ok "no failed loads"; fi
b=$(png_size "$TMP/blank.png"); r=$(png_size "$TMP/report.png")
if [ "$b" -gt 0 ] && [ "$r" -gt $((4 * b)) ]; then ok "screenshot not blank ($r bytes vs $b blank)"
else bad "screenshot not blank ($r bytes vs $b blank)"; fi
# Keep the screenshot when asked (CI artifacts, docs).
if [ -n "${PERSONA_ARTIFACTS:-}" ]; then mkdir -p "$PERSONA_ARTIFACTS" && cp "$TMP/report.png" "$PERSONA_ARTIFACTS/"; fi
done_testing
