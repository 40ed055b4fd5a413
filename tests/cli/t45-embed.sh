#!/usr/bin/env bash
# t45-embed.sh - `persona embed` and `persona generate` end to end on the
# tiny checkpoints of ../shared/lmref, against the PyTorch reference values
# in tests/fixtures/lm (see make_cli_fixtures.py): pooled vectors within
# 1e-4, per-user means, normalisation, bad rows, resume after an
# interruption, chunking, greedy and sampled generation, and errors.
. "$(dirname "$0")/lib.sh"
FX=tests/fixtures/lm
G=$SHARED/lmref/models/gpt2-tiny-f32
B=$SHARED/lmref/models/bert-tiny-f16

# npy_txt FILE: one row per line (float32 .npy of COLS columns).
npy_txt() {
  local hl cols
  hl=$(od -j 8 -N 2 -An -tu2 "$1" | tr -d ' ')
  cols=$(head -c $((hl + 10)) "$1" | LC_ALL=C tr -c "[:print:]" ' ' |
         LC_ALL=C sed -n "s/.*'shape': ([0-9]*, *\([0-9]*\)).*/\1/p")
  case $cols in ''|*[!0-9]*) echo "bad npy header in $1" >&2; return 1 ;; esac
  od -j $((hl + 10)) -An -f -v -w$((cols * 4)) "$1"
}
# max_diff A B: largest absolute difference between two whitespace matrices.
max_diff() {
  paste -d'|' "$1" "$2" | awk -F'|' '{ n = split($1, a, " "); m = split($2, b, " ");
    if (n != m) { print "shape"; exit } for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d;
    if (d > mx) mx = d } } END { if (NR == 0) print "empty"; else printf "%.3g\n", mx }'
}
within() { awk -v d="$1" -v t="$2" 'BEGIN { exit !(d != "shape" && d != "empty" && d + 0 <= t) }'; }
check_close() { # DESC GOT.npy WANT.txt
  npy_txt "$2" >"$TMP/got.txt"
  local d; d=$(max_diff "$TMP/got.txt" "$3")
  if within "$d" 1e-4; then ok "$1 (max |diff| $d)"; else bad "$1 (max |diff| $d)"; fi
}

expect_ok "gpt2 mean-pooled vectors" $PERSONA embed -q --model "$G" --in $FX/texts.csv \
  --text-col text --id-col user_id --out "$TMP/g.npy"
check_close "gpt2 mean vs reference" "$TMP/g.npy" $FX/gpt2_mean.txt
expect_eq "ids sidecar in row order" "$(tr '\n' ' ' <"$TMP/g.ids.txt")" "u0 u1 u2 u0 u1 u2 u0 u1 "
expect_grep "json sidecar" '"rows": 8' "$TMP/g.json"
expect_grep "json names the ids file" '"ids": "g.ids.txt"' "$TMP/g.json"

expect_ok "gpt2 last-token pooling, batch 3, 2 threads" $PERSONA embed -q --model "$G" \
  --in $FX/texts.csv --text-col text --pool last --batch 3 -t 2 --out "$TMP/gl.npy"
check_close "gpt2 last vs reference" "$TMP/gl.npy" $FX/gpt2_last.txt

expect_ok "bert mean" $PERSONA embed -q --model "$B" --in $FX/texts.csv --text-col text --out "$TMP/b.npy"
check_close "bert mean ([CLS]/[SEP] included) vs reference" "$TMP/b.npy" $FX/bert_mean.txt
expect_ok "bert cls" $PERSONA embed -q --model "$B" --in $FX/texts.csv --text-col text --pool cls --out "$TMP/bc.npy"
check_close "bert cls vs reference" "$TMP/bc.npy" $FX/bert_cls.txt

expect_ok "per-user means" $PERSONA embed -q --model "$G" --in $FX/texts.csv --text-col text \
  --id-col user_id --per-user --out "$TMP/u.npy"
check_close "per-user means vs reference" "$TMP/u.npy" $FX/gpt2_user_mean.txt
expect_eq "per-user ids sorted" "$(tr '\n' ' ' <"$TMP/u.ids.txt")" "u0 u1 u2 "

expect_ok "normalize" $PERSONA embed -q --model "$G" --in $FX/texts.csv --text-col text --normalize --out "$TMP/n.npy"
norms=$(npy_txt "$TMP/n.npy" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i;
  d = sqrt(s) - 1; if (d < 0) d = -d; if (d > mx) mx = d } END { print (mx < 1e-5) ? "unit" : "off " mx }')
expect_eq "normalized rows have unit length" "$norms" "unit"

# Bad rows keep their place as NaN and are counted.
{ head -4 $FX/texts.csv; echo 'u9,"unterminated'; } >"$TMP/bad.csv"
printf 'u7,fine text\n' >>"$TMP/bad.csv"
$PERSONA embed --model "$G" --in "$TMP/bad.csv" --text-col text --out "$TMP/bad.npy" >"$TMP/out" 2>"$TMP/err"
expect_eq "bad row: exit 0" "$?" "0"
expect_grep "bad row counted" "1 bad" "$TMP/err"
expect_grep "bad row warning names the file" "bad.csv:" "$TMP/err"
expect_ok "per-user with a bad row" $PERSONA embed -q --model "$G" --in "$TMP/bad.csv" --text-col text \
  --id-col user_id --per-user --out "$TMP/badu.npy"
expect_eq "bad row's unknown id is not a user" "$(tr '\n' ' ' <"$TMP/badu.ids.txt")" "u0 u1 u2 "

# Resume: an interrupted run continues and gives the same bytes.
for i in $(seq 1 40); do tail -n +2 $FX/texts.csv; done | sed '1i user_id,text' >"$TMP/big.csv"
expect_ok "uninterrupted run" $PERSONA embed -q --model "$G" --in "$TMP/big.csv" --text-col text \
  --id-col user_id --batch 4 --out "$TMP/full.npy"
PERSONA_EMBED_INTERRUPT_AFTER=100 $PERSONA embed -q --model "$G" --in "$TMP/big.csv" --text-col text \
  --id-col user_id --batch 4 --out "$TMP/part.npy" >"$TMP/out" 2>"$TMP/err"
expect_eq "interrupted run exits 1" "$?" "1"
expect_grep "interruption message" "interrupted after [0-9]+ rows; run the same command again" "$TMP/err"
expect_eq "checkpoint kept" "$(test -f "$TMP/part.npy.resume.json" && echo yes)" "yes"
$PERSONA embed --model "$G" --in "$TMP/big.csv" --text-col text --id-col user_id --batch 4 \
  --out "$TMP/part.npy" >"$TMP/out" 2>"$TMP/err"
expect_eq "resumed run exits 0" "$?" "0"
expect_grep "resume announced" "resuming after [0-9]+ rows" "$TMP/err"
expect_eq "resumed output identical" "$(cmp "$TMP/full.npy" "$TMP/part.npy" && cmp "$TMP/full.ids.txt" "$TMP/part.ids.txt" && echo same)" "same"
expect_eq "checkpoint removed" "$(ls "$TMP" | grep -c 'part.npy.resume\|part.npy.partial')" "0"

# Chunked long texts: windows of 8 tokens averaged (differs from truncation).
expect_ok "chunk" $PERSONA embed -q --model "$G" --in $FX/texts.csv --text-col text --max-tokens 8 --chunk --out "$TMP/c.npy"
expect_ok "truncate" $PERSONA embed -q --model "$G" --in $FX/texts.csv --text-col text --max-tokens 8 --out "$TMP/t.npy"
expect_eq "chunking differs from truncation" "$(cmp -s "$TMP/c.npy" "$TMP/t.npy" || echo differ)" "differ"

# Errors.
expect_fail 2 "missing column" $PERSONA embed --model "$G" --in $FX/texts.csv --text-col body --out "$TMP/x.npy"
expect_grep "missing column named" 'no column "body"' "$TMP/err"
expect_fail 2 "per-user without id" $PERSONA embed --model "$G" --in $FX/texts.csv --text-col text --per-user --out "$TMP/x.npy"
expect_fail 2 "bad pool" $PERSONA embed --model "$G" --in $FX/texts.csv --text-col text --pool max --out "$TMP/x.npy"
expect_fail 1 "missing model" $PERSONA embed --model "$TMP/nope" --in $FX/texts.csv --text-col text --out "$TMP/x.npy"
expect_grep "missing model named" "nope/config.json" "$TMP/err"

# Generation: greedy and the reproducible sampler give the reference's ids.
expect_ok "greedy generation" $PERSONA generate -q --model "$G" --prompt "The shoes arrived quickly and fit perfectly." --max-new 20 --jsonl
expect_grep "greedy ids = reference" '"new_ids": \[268, 467, 467, 726, 198, 467, 467, 467, 467, 467, 726, 198, 467, 467, 467, 467, 467, 726, 198, 5\]' "$TMP/out"
expect_ok "sampled generation" $PERSONA generate -q --model "$G" --prompt "The shoes arrived quickly and fit perfectly." \
  --max-new 20 --temperature 0.8 --top-k 40 --seed 1234 --jsonl
expect_grep "sampled ids = reference" '"new_ids": \[326, 995, 268, 697, 375, 467, 726, 467, 467, 269, 467, 467, 963, 467, 963, 697, 368, 657, 657, 239\]' "$TMP/out"
expect_ok "stop string" $PERSONA generate -q --model "$G" --prompt "The shoes arrived quickly and fit perfectly." --max-new 20 --stop Qual
expect_eq "text cut before the stop string" "$(cat "$TMP/out")" "or color color"
printf 'The shoes arrived quickly and fit perfectly.\nrefund\n' >"$TMP/prompts.txt"
expect_ok "prompts file" $PERSONA generate -q --model "$G" --prompts "$TMP/prompts.txt" --max-new 5 --jsonl
expect_eq "one line per prompt" "$(wc -l <"$TMP/out" | tr -d ' ')" "2"
expect_fail 2 "generate with bert" $PERSONA generate --model "$B" --prompt hi
expect_fail 2 "prompt too long for the context" $PERSONA generate --model "$G" --prompt hi --max-new 500
done_testing
