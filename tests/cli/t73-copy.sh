#!/usr/bin/env bash
# t73-copy.sh - `persona copy` end to end on a 300-user demo workspace:
# no users-table value in any prompt, determinism (seed, threads, order,
# one user vs the batch), greedy copy == `persona generate`, control group
# skipped, and refused templates / bad input.
. "$(dirname "$0")/lib.sh"
P=$PERSONA
D=$TMP/shop
W=$TMP/ws
$P demo "$D" --users 300 -q >/dev/null 2>&1
$P run "$D/persona.conf" --workspace "$W" -q >/dev/null 2>&1
$P audience create --profiles "$W/features.csv" --name copytest --holdout 20% --out "$TMP/aud.csv" -q
n_aud=$(tail -n +2 "$TMP/aud.csv" | wc -l | tr -d ' ')
n_users=$(tail -n +2 "$W/clean/users.csv" | wc -l | tr -d ' ')
# A smaller audience (its first 60 users) for the runs that compare outputs.
head -61 "$TMP/aud.csv" > "$TMP/aud60.csv"
n_treat=$(grep -c ',treatment,' "$TMP/aud60.csv")

# Every allowed field, each between delimiters "|name=<value>".
printf 'Shop news|segment_name=<{segment_name}>|top_category=<{top_category}>|top_categories=<{top_categories}>|recommended_items=<{recommended_items}>|top_item=<{top_item}>|rfm_tier=<{rfm_tier}>|lifecycle=<{lifecycle}>|price_sensitivity=<{price_sensitivity}>|topic_words=<{topic_words}>|\n' > "$TMP/all.tmpl"

expect_ok "copy over an audience (all fields, model)" $P copy --workspace "$W" --audience "$TMP/aud.csv" --include-control --template "$TMP/all.tmpl" --max-new 1 -t 1 --out "$TMP/all.jsonl"
expect_eq "one line per audience user" "$(wc -l < "$TMP/all.jsonl" | tr -d ' ')" "$n_aud"
expect_grep "fields filled" '"prompt": "Shop news\|segment_name=<[^>]+>\|top_category=<[a-z]+>' "$TMP/all.jsonl"
expect_grep "recommended titles filled" 'recommended_items=<[^>]+; [^>]+>' "$TMP/all.jsonl"

# PII scan: every prompt against every value of the users table.  Values
# of 3+ bytes (ids, signup times, cities) must not occur anywhere in a
# prompt; short ones (gender, age) must not be any field's value.
scan() { awk -F, '
  FNR == 1 && FILENAME ~ /users.csv$/ { next }
  FILENAME ~ /users.csv$/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "") continue
      if (length($i) >= 3) long[$i] = 1; else short[$i] = 1
    }
    n_users++; next
  }
  {
    s = index($0, "\"prompt\": \""); e = index($0, "\", \"message\": ")
    if (!s || !e) { bad++; print "unparsed: " $0; next }
    p = substr($0, s + 11, e - s - 11); n_prompts++
    for (v in long) if (index(p, v)) { bad++; print "value \"" v "\" in prompt: " p }
    n = split(p, parts, "|")
    for (k = 2; k <= n; k++) {
      f = parts[k]; sub(/^[a-z_]+=</, "", f); sub(/>$/, "", f)
      if (f in short) { bad++; print "value \"" f "\" is a field: " p }
    }
  }
  END { printf "%d users, %d prompts, %d leaks\n", n_users, n_prompts, bad + 0 }
' "$W/clean/users.csv" "$1"; }
scan "$TMP/all.jsonl" > "$TMP/scan.txt"
expect_eq "no users-table value in any prompt" "$(tail -1 "$TMP/scan.txt")" "$n_users users, $n_aud prompts, 0 leaks"
grep -v 'leaks$' "$TMP/scan.txt" | head -3
# The scan itself finds planted leaks (an id, a city, a gender as a field).
{ head -2 "$TMP/all.jsonl"
  printf '{"user_id": "x", "prompt": "a U000007 b|c=<%s>|d=<%s>|", "message": ""}\n' \
    "$(awk -F, 'NR == 2 { print $5 }' "$W/clean/users.csv")" \
    "$(awk -F, 'NR == 2 { print $3 }' "$W/clean/users.csv")"; } > "$TMP/planted.jsonl"
expect_eq "scan finds planted leaks" "$(scan "$TMP/planted.jsonl" | tail -1)" "$n_users users, 3 prompts, 3 leaks"

T=examples/copy.tmpl
expect_ok "example template" $P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 12 -t 1 --out "$TMP/a.csv"
expect_grep "control skipped" "$((60 - n_treat)) control users skipped" "$TMP/err"
expect_eq "header" "$(head -1 "$TMP/a.csv")" "user_id,prompt,message"
expect_ok "same seed, other thread count" $P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 12 -t 3 -q --out "$TMP/b.csv"
expect_eq "same seed, same file" "$(cmp "$TMP/a.csv" "$TMP/b.csv" && echo same)" "same"
expect_ok "other seed" $P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 12 --seed 7 -q --out "$TMP/c.csv"
if cmp -s "$TMP/a.csv" "$TMP/c.csv"; then bad "other seed, other messages"; else ok "other seed, other messages"; fi

# Order does not matter: the reversed audience gives the same rows.
{ head -1 "$TMP/aud60.csv"; tail -n +2 "$TMP/aud60.csv" | tac; } > "$TMP/rev.csv"
$P copy --workspace "$W" --audience "$TMP/rev.csv" --template $T --max-new 12 --format jsonl -q --out "$TMP/rev.jsonl"
$P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 12 --format jsonl -q --out "$TMP/fwd.jsonl"
expect_eq "reversed audience, same rows" "$(sort "$TMP/rev.jsonl" | md5sum)" "$(sort "$TMP/fwd.jsonl" | md5sum)"
u=$(sed -n 2p "$TMP/fwd.jsonl" | sed 's/^{"user_id": "\([^"]*\)".*/\1/')
$P copy --workspace "$W" --user "$u" --template $T --max-new 12 --format jsonl -q > "$TMP/one.jsonl"
expect_eq "one user = its batch row" "$(cat "$TMP/one.jsonl")" "$(sed -n 2p "$TMP/fwd.jsonl")"

# Greedy copy is `persona generate` greedy on the same prompt.
$P copy --workspace "$W" --user "$u" --template $T --max-new 16 --temperature 0 --repetition-penalty 1 --dry-run -q --out "$TMP/p.csv"
prompt=$(tail -n +2 "$TMP/p.csv" | sed 's/^[^,]*,"\(.*\)",$/\1/; s/""/"/g')
$P generate --model models/persona-small --prompt "$prompt" --max-new 16 --jsonl -q > "$TMP/gen.jsonl"
$P copy --workspace "$W" --user "$u" --template $T --max-new 16 --temperature 0 --repetition-penalty 1 --format jsonl -q > "$TMP/greedy.jsonl"
gen_text=$(sed 's/.*"text": \(".*"\), "new_ids".*/\1/' "$TMP/gen.jsonl")
copy_text=$(sed 's/.*"message": \(".*"\)}$/\1/' "$TMP/greedy.jsonl")
expect_eq "greedy copy = persona generate" "$copy_text" "$gen_text"
expect_grep "dry run leaves the message empty" '",$' "$TMP/p.csv"

# --stop: messages end before the first newline.
expect_ok "stop at newline" $P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 24 --stop $'\n' --format jsonl -q --out "$TMP/stop.jsonl"
expect_eq "no newline in any message" "$(grep -c '"message": ".*\\n' "$TMP/stop.jsonl")" "0"
$P copy --workspace "$W" --audience "$TMP/aud60.csv" --template $T --max-new 24 --format jsonl -q --out "$TMP/nostop.jsonl"
expect_grep "multi-line messages without --stop" '"message": ".*\\n' "$TMP/nostop.jsonl"

# A plain list of users (no group column) and an explicit run.
{ echo user_id; tail -n +2 "$TMP/aud60.csv" | head -5 | cut -d, -f1; } > "$TMP/list.csv"
expect_ok "plain user list, --run 1" $P copy --workspace "$W" --audience "$TMP/list.csv" --run 1 --template $T --max-new 4 -q --out "$TMP/list.out.csv"
expect_eq "every listed user" "$(tail -n +2 "$TMP/list.out.csv" | cut -d, -f1 | tr '\n' ' ')" "$(tail -n +2 "$TMP/list.csv" | tr '\n' ' ')"
expect_fail 1 "unknown run" $P copy --workspace "$W" --user "$u" --run 99 --template $T
expect_grep "unknown run named" 'no run 99 with profiles' "$TMP/err"

# Refusals and bad input.
printf 'Hello from {city}!\n' > "$TMP/pii.tmpl"
expect_fail 1 "personal field refused" $P copy --workspace "$W" --user "$u" --template "$TMP/pii.tmpl" --out "$TMP/x.csv"
expect_grep "refusal names file:line:col" "^persona: error: $TMP/pii.tmpl:1:12: field \"city\" is personal data and never enters a prompt$" "$TMP/err"
if [ -e "$TMP/x.csv" ]; then bad "no output for a refused template"; else ok "no output for a refused template"; fi
printf 'Dear customer,\nyour id is {user_id}\n' > "$TMP/id.tmpl"
expect_fail 1 "user_id refused" $P copy --workspace "$W" --user "$u" --template "$TMP/id.tmpl"
expect_grep "user_id refusal position" ":2:12: field \"user_id\" is personal data" "$TMP/err"
printf 'Hi {segmentname}\n' > "$TMP/typo.tmpl"
expect_fail 1 "unknown field refused" $P copy --workspace "$W" --user "$u" --template "$TMP/typo.tmpl"
expect_grep "allowed list shown" 'unknown field "segmentname" \(allowed: segment_name, ' "$TMP/err"
expect_fail 1 "unknown user" $P copy --workspace "$W" --user NOBODY --template $T
expect_grep "unknown user named" 'no profile for user "NOBODY" in snapshot [0-9]+' "$TMP/err"
printf 'id,group\nU000001,treatment\n' > "$TMP/noid.csv"
expect_fail 1 "audience without user_id" $P copy --workspace "$W" --audience "$TMP/noid.csv" --template $T
expect_grep "missing column named" 'no "user_id" column' "$TMP/err"
expect_fail 2 "BERT refused" $P copy --workspace "$W" --user "$u" --template $T --model "$SHARED/lmref/models/bert-tiny-f32"
expect_grep "BERT message" 'copy needs a GPT-2 checkpoint' "$TMP/err"
expect_fail 1 "missing workspace store" $P copy --workspace "$TMP/none" --user "$u" --template $T
expect_fail 2 "user and audience" $P copy --workspace "$W" --user "$u" --audience "$TMP/aud.csv" --template $T
expect_fail 2 "no template" $P copy --workspace "$W" --user "$u"
expect_fail 2 "bad format" $P copy --workspace "$W" --user "$u" --template $T --format xml
expect_fail 2 "bad seed" $P copy --workspace "$W" --user "$u" --template $T --seed -1
expect_fail 2 "unknown option" $P copy --workspace "$W" --user "$u" --template $T --bogus
done_testing
