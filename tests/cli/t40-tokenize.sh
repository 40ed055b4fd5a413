#!/usr/bin/env bash
# t40-tokenize.sh - `persona tokenize` end to end: ggml's 100 GPT-2 prompts
# through the command line, lmref's tiny GPT-2 and BERT folders, CSV/JSONL
# input, --count / --max-tokens, and errors.
. "$(dirname "$0")/lib.sh"

G=$SHARED/data/gpt2-tokenizer
L=$SHARED/lmref
if [ ! -d "$L" ] || [ ! -d "$G" ]; then
  echo "skipped: $SHARED not found"
  done_testing
  exit
fi

# ggml's prompts: "text => id,id,..." (the last " => " separates).
sed 's/\(.*\) => .*/\1/' "$G/ggml-gpt-2-prompts.txt" >"$TMP/prompts.txt"
sed 's/.* => //' "$G/ggml-gpt-2-prompts.txt" | tr ',' ' ' >"$TMP/want.txt"
"$PERSONA" tokenize --vocab "$G/encoder.json" --merges "$G/vocab.bpe" --ids <"$TMP/prompts.txt" >"$TMP/got.txt" 2>"$TMP/err"
expect_eq "ggml prompts (--vocab/--merges): exit 0" "$?" "0"
expect_eq "ggml prompts: 100 lines" "$(wc -l <"$TMP/got.txt")" "100"
if cmp -s "$TMP/got.txt" "$TMP/want.txt"; then ok "ggml prompts: all ids equal"
else bad "ggml prompts: ids differ"; diff "$TMP/got.txt" "$TMP/want.txt" | head -5; fi

# A folder with encoder.json + vocab.bpe works with --model too.
mkdir -p "$TMP/gpt2"
ln -s "$(cd "$G" && pwd)/encoder.json" "$TMP/gpt2/encoder.json"
ln -s "$(cd "$G" && pwd)/vocab.bpe" "$TMP/gpt2/vocab.bpe"
printf 'Hello World!\n' | "$PERSONA" tokenize --model "$TMP/gpt2" --ids >"$TMP/out" 2>"$TMP/err"
expect_eq "encoder.json folder" "$(cat "$TMP/out")" "15496 2159 0"
printf "I can't\n" | "$PERSONA" tokenize --model "$TMP/gpt2" >"$TMP/out" 2>"$TMP/err"
expect_eq "tokens in vocabulary form" "$(cat "$TMP/out")" "I Ġcan 't"
printf 'a<|endoftext|>b\n' | "$PERSONA" tokenize --model "$TMP/gpt2" --ids >"$TMP/out" 2>"$TMP/err"
expect_eq "<|endoftext|> is special" "$(cat "$TMP/out")" "64 50256 65"

# lmref tiny models (ids from ../shared/lmref/expected/*.json).
printf 'refund\n' | "$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --ids >"$TMP/out" 2>"$TMP/err"
expect_eq "gpt2-tiny: refund" "$(cat "$TMP/out")" "263 526"
printf 'refund\n' | "$PERSONA" tokenize --model "$L/models/bert-tiny-f32" --ids >"$TMP/out" 2>"$TMP/err"
expect_eq "bert-tiny: [CLS] refund [SEP]" "$(cat "$TMP/out")" "12 204 13"
printf 'refund\n' | "$PERSONA" tokenize --model "$L/models/bert-tiny-f32" >"$TMP/out" 2>"$TMP/err"
expect_eq "bert-tiny tokens" "$(cat "$TMP/out")" "[CLS] refund [SEP]"
printf 'refund\n' | "$PERSONA" tokenize --model "$L/models/bert-tiny-f32/tokenizer.json" --ids >"$TMP/out" 2>"$TMP/err"
expect_eq "tokenizer.json file" "$(cat "$TMP/out")" "12 204 13"

# CSV with quotes and an embedded newline; JSON Lines.
printf 'id,review\n1,refund\n2,"The shoes arrived quickly and fit perfectly."\n3,""\n' >"$TMP/r.csv"
expect_ok "CSV input" "$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --ids --in "$TMP/r.csv" --text-col review
expect_eq "CSV: one line per text" "$(wc -l <"$TMP/out")" "3"
expect_eq "CSV: row 2" "$(sed -n 2p "$TMP/out")" "291 633 596 457 925 278 611 624 310 13"
expect_eq "CSV: empty text, empty line" "$(sed -n 3p "$TMP/out")" ""
printf '{"t": "refund"}\n{"t": "Tr\\u00e8s bon produit, livraison rapide."}\n' >"$TMP/r.jsonl"
expect_ok "JSONL input" "$PERSONA" tokenize --model "$L/models/bert-tiny-f32" --ids --in "$TMP/r.jsonl" --text-col t
expect_eq "JSONL: accents stripped" "$(sed -n 2p "$TMP/out")" "12 528 344 469 26 734 735 474 28 13"

# --count and --max-tokens.
printf 'The shoes arrived quickly and fit perfectly.\n\n' | "$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --count >"$TMP/out" 2>"$TMP/err"
expect_eq "--count" "$(tr '\n' ' ' <"$TMP/out")" "10 0 "
printf 'The shoes arrived quickly and fit perfectly.\n' | "$PERSONA" tokenize --model "$L/models/bert-tiny-f32" --ids --max-tokens 4 >"$TMP/out" 2>"$TMP/err"
expect_eq "--max-tokens keeps [SEP]" "$(cat "$TMP/out")" "12 241 231 13"
printf 'The shoes arrived quickly and fit perfectly.\n' | "$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --ids --max-tokens 3 >"$TMP/out" 2>"$TMP/err"
expect_eq "--max-tokens GPT-2" "$(cat "$TMP/out")" "291 633 596"

# Invalid UTF-8 on stdin: skipped with a warning, or fatal with --strict.
printf 'ok\n\xff\xfe bad\nfine\n' >"$TMP/bad.txt"
"$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --ids <"$TMP/bad.txt" >"$TMP/out" 2>"$TMP/err"
expect_eq "bad line skipped: exit 0" "$?" "0"
expect_eq "bad line skipped: 2 lines" "$(wc -l <"$TMP/out")" "2"
expect_grep "bad line: warning names the line" "<stdin>:2: invalid UTF-8 at byte 0" "$TMP/err"
"$PERSONA" tokenize --model "$L/models/gpt2-tiny-f32" --strict <"$TMP/bad.txt" >"$TMP/out" 2>"$TMP/err"
expect_eq "--strict: exit 1" "$?" "1"
expect_grep "--strict: message" "^persona: error: <stdin>:2: invalid UTF-8" "$TMP/err"

# Usage errors (exit 2) and data errors (exit 1).
expect_fail 2 "no model" "$PERSONA" tokenize --ids
expect_fail 2 "unknown option" "$PERSONA" tokenize --model "$TMP/gpt2" --bogus
expect_fail 2 "--in without --text-col" "$PERSONA" tokenize --model "$TMP/gpt2" --in "$TMP/r.csv"
expect_fail 2 "bad --max-tokens" "$PERSONA" tokenize --model "$TMP/gpt2" --max-tokens -1
expect_fail 2 "--ids with --count" "$PERSONA" tokenize --model "$TMP/gpt2" --ids --count
expect_fail 2 "missing column" "$PERSONA" tokenize --model "$TMP/gpt2" --in "$TMP/r.csv" --text-col nope
expect_grep "missing column: lists columns" 'no column "nope" \(columns: id, review\)' "$TMP/err"
expect_fail 1 "missing folder" "$PERSONA" tokenize --model "$TMP/nowhere"
expect_grep "missing folder: message" "cannot open '.*nowhere'" "$TMP/err"
mkdir -p "$TMP/empty"
expect_fail 1 "folder without tokenizer" "$PERSONA" tokenize --model "$TMP/empty"
expect_grep "folder without tokenizer: message" "no tokenizer in" "$TMP/err"
mkdir -p "$TMP/broken"
printf '{"a": 0,\n "b": x}\n' >"$TMP/broken/vocab.json"
printf '#version: 0.2\n' >"$TMP/broken/merges.txt"
expect_fail 1 "malformed vocab.json" "$PERSONA" tokenize --model "$TMP/broken"
expect_grep "malformed vocab.json: file and line" "broken/vocab.json:2:7: token \"b\": expected a non-negative integer id" "$TMP/err"
printf '{"a": 0, "b": 1}\n' >"$TMP/broken/vocab.json"
printf '#version: 0.2\na b\na c\n' >"$TMP/broken/merges.txt"
expect_fail 1 "malformed merges.txt" "$PERSONA" tokenize --model "$TMP/broken"
expect_grep "malformed merges.txt: file and line" "broken/merges.txt:2: merged token \"ab\" is not in the vocabulary" "$TMP/err"

done_testing
