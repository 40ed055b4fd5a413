#!/usr/bin/env bash
# t55-lm-train.sh - `persona lm tokenizer` and `persona lm train` end to
# end: merges equal to the naive Python trainer's (tests/fixtures/train/
# bpe_ref.py), a model trained from scratch that `persona generate` and
# `persona embed` load, identical loss curves across runs, a resumed run
# identical to a straight one, --init from lmref's tiny GPT-2, and errors.
. "$(dirname "$0")/lib.sh"
FX=tests/fixtures/train
G=$SHARED/lmref/models/gpt2-tiny-f32
TOK="$TMP/tok"
CFG=n_layer=1,n_embd=32,n_head=2,n_ctx=32
TRAIN=(lm train -q --corpus $FX/bpe_corpus.csv --text-col text --tokenizer "$TOK"
       --config $CFG --batch 2 --seq 16 --steps 6 --eval-every 3 --val-frac 0.1
       --val-batches 2 --lr 3e-3 --warmup 2 --threads 2)

expect_ok "lm tokenizer" $PERSONA lm tokenizer -q --corpus $FX/bpe_corpus.csv --text-col text \
  --vocab-size 700 --out "$TOK"
expect_ok "merges equal the naive trainer's" cmp "$TOK/merges.txt" $FX/bpe_expected_merges.txt
expect_grep "vocab.json ends with <|endoftext|>" '"<\|endoftext\|>":699\}$' "$TOK/vocab.json"
expect_ok "tokenize with the trained files" $PERSONA tokenize --model "$TOK" --ids \
  --in $FX/bpe_corpus.csv --text-col text
# ids from lmref's tokenizer on the same files (bpe_expected_ids.json, case 1)
printf 'text\n很快，好吃，味道足，量大\n' >"$TMP/zh.csv"
$PERSONA tokenize --model "$TOK" --ids --in "$TMP/zh.csv" --text-col text >"$TMP/ids.txt" 2>"$TMP/err"
expect_eq "ids of a Chinese review as lmref's tokenizer" "$(cat "$TMP/ids.txt")" "391 260 526 260 410 385 111 260 588 394"

expect_ok "lm train from scratch" $PERSONA "${TRAIN[@]}" --out "$TMP/m1"
for f in config.json model.safetensors vocab.json merges.txt tokenizer_config.json \
         trainer_state.bin train_log.csv; do
  expect_ok "checkpoint has $f" test -s "$TMP/m1/$f"
done
expect_grep "config.json is a GPT2Config" '"model_type": "gpt2"' "$TMP/m1/config.json"
expect_grep "config vocab = tokenizer vocab" '"vocab_size": 700' "$TMP/m1/config.json"
expect_grep "transformers tensor names" 'transformer.h.0.attn.c_attn.weight' "$TMP/m1/model.safetensors"
expect_eq "log has 6 steps" "$(tail -n +2 "$TMP/m1/train_log.csv" | wc -l)" 6
expect_eq "validation at steps 3 and 6" \
  "$(awk -F, 'NR > 1 && $5 != "" { printf "%s ", $1 }' "$TMP/m1/train_log.csv")" "3 6 "
expect_ok "generate loads the checkpoint" $PERSONA generate --model "$TMP/m1" --prompt "很快" \
  --max-new 5 --seed 1
printf 'text\n很好吃\nworks great\n' >"$TMP/e.csv"
expect_ok "embed loads the checkpoint" $PERSONA embed -q --model "$TMP/m1" --in "$TMP/e.csv" \
  --text-col text --out "$TMP/e.npy"

expect_ok "second run (with log lines)" $PERSONA "${TRAIN[@]/-q/--log-every=1}" --out "$TMP/m2"
expect_grep "unigram baseline logged" '^unigram baseline: val loss [0-9.]+, perplexity [0-9.]+' "$TMP/err"
expect_grep "validation logged" '^step 3/6: val loss [0-9.]+, perplexity' "$TMP/err"
expect_grep "progress lines" '^step 2/6: loss [0-9.]+, lr .*tokens/s' "$TMP/err"
expect_ok "same seed and threads: identical loss curve" cmp "$TMP/m1/train_log.csv" "$TMP/m2/train_log.csv"
expect_ok "run stopped at step 3" $PERSONA "${TRAIN[@]}" --out "$TMP/m3" --stop-at 3
expect_eq "stopped log has 3 steps" "$(tail -n +2 "$TMP/m3/train_log.csv" | wc -l)" 3
expect_ok "resume" $PERSONA lm train -q --corpus $FX/bpe_corpus.csv --text-col text \
  --resume "$TMP/m3" --out "$TMP/m3" --steps 6 --threads 2
expect_ok "resumed run equals the straight run" cmp "$TMP/m1/train_log.csv" "$TMP/m3/train_log.csv"
expect_ok "resumed weights equal the straight run's" cmp "$TMP/m1/model.safetensors" "$TMP/m3/model.safetensors"

# Ctrl-C: the step finishes, a checkpoint is saved, exit 1; resuming gives
# the straight run (if the run ends before the signal the check is trivial)
LONG=(lm train -q --corpus $FX/bpe_corpus.csv --text-col text --tokenizer "$TOK"
      --config $CFG --batch 2 --seq 16 --steps 600 --eval-every 200 --val-frac 0.1
      --val-batches 2 --lr 3e-3 --warmup 2 --threads 2)
expect_ok "straight 600-step run" $PERSONA "${LONG[@]}" --out "$TMP/s600"
$PERSONA "${LONG[@]}" --out "$TMP/i600" 2>"$TMP/err" & pid=$!
sleep 0.3; kill -INT $pid 2>/dev/null; wait $pid; rc=$?
if [ $rc -eq 1 ] || [ $rc -eq 0 ]; then ok "interrupted run exits 1 (or finished: $rc)"; else bad "interrupted run exit $rc"; fi
[ $rc -eq 1 ] && expect_grep "says how to continue" 'interrupted; continue with: persona lm train --resume' "$TMP/err"
expect_ok "resume after Ctrl-C" $PERSONA lm train -q --corpus $FX/bpe_corpus.csv --text-col text \
  --resume "$TMP/i600" --out "$TMP/i600" --threads 2
expect_ok "interrupted + resumed log equals the straight run" cmp "$TMP/s600/train_log.csv" "$TMP/i600/train_log.csv"
expect_ok "interrupted + resumed weights equal the straight run's" cmp "$TMP/s600/model.safetensors" "$TMP/i600/model.safetensors"

expect_ok "--init from lmref tiny, F16 output" $PERSONA lm train -q --corpus $FX/bpe_corpus.csv \
  --text-col text --init "$G" --out "$TMP/m4" --steps 2 --batch 2 --seq 16 --f16 --threads 1
expect_grep "F16 weights" '"dtype":"F16"' "$TMP/m4/model.safetensors"
expect_ok "F16 checkpoint generates" $PERSONA generate --model "$TMP/m4" --prompt "hi" --max-new 3

# errors
expect_fail 2 "no subcommand" $PERSONA lm
expect_fail 2 "unknown subcommand" $PERSONA lm fly
expect_fail 2 "missing --corpus" $PERSONA lm train --text-col text --config $CFG --tokenizer "$TOK" --out "$TMP/x"
expect_fail 2 "--init and --config together" $PERSONA lm train --corpus $FX/bpe_corpus.csv \
  --text-col text --init "$G" --config $CFG --out "$TMP/x"
expect_fail 2 "bad --config key" $PERSONA lm train --corpus $FX/bpe_corpus.csv --text-col text \
  --tokenizer "$TOK" --config n_layer=1,n_embd=32,n_head=2,n_ctx=32,depth=3 --out "$TMP/x"
expect_grep "names the key" 'unknown key "depth"' "$TMP/err"
expect_fail 2 "bad --lr" $PERSONA lm train --corpus $FX/bpe_corpus.csv --text-col text \
  --tokenizer "$TOK" --config $CFG --lr fast --out "$TMP/x"
expect_fail 1 "missing text column" $PERSONA lm train --corpus $FX/bpe_corpus.csv --text-col body \
  --tokenizer "$TOK" --config $CFG --out "$TMP/x"
expect_grep "names file and column" 'bpe_corpus.csv: no column "body"' "$TMP/err"
expect_fail 1 "tokenizer larger than the model" $PERSONA lm train --corpus $FX/bpe_corpus.csv \
  --text-col text --tokenizer "$G" --config $CFG,vocab_size=500 --out "$TMP/x" --steps 1
expect_grep "says why" 'the tokenizer has 1000 ids, the model only 500' "$TMP/err"
printf 'garbage' >"$TMP/m3/trainer_state.bin"
expect_fail 1 "corrupt trainer state" $PERSONA lm train --corpus $FX/bpe_corpus.csv --text-col text \
  --resume "$TMP/m3" --out "$TMP/x"
expect_grep "names the state file" 'trainer_state.bin: not a persona trainer state' "$TMP/err"
printf 'text\nok\n\xff\xfe broken\n' >"$TMP/bad.csv"
expect_fail 2 "tokenizer: vocab too small" $PERSONA lm tokenizer --corpus "$TMP/bad.csv" --text-col text \
  --vocab-size 100 --out "$TMP/t2"
expect_ok "tokenizer: invalid UTF-8 row skipped" $PERSONA lm tokenizer --corpus "$TMP/bad.csv" \
  --text-col text --vocab-size 300 --out "$TMP/t2"
expect_grep "warning names file and line" 'bad.csv:3: column "text": invalid UTF-8' "$TMP/err"
done_testing
