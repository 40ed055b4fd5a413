#!/usr/bin/env bash
# t50-topics.sh - persona topics fit / infer end to end on a small
# bilingual file with two planted themes (phones in English, hotels in
# Chinese), plus the error paths.
. "$(dirname "$0")/lib.sh"

IN=$TMP/texts.csv
{
  echo "user_id,text,rating"
  for i in $(seq 1 30); do
    u=u$(( (i % 6) + 1 ))
    if [ $((i % 2)) -eq 0 ]; then
      echo "$u,\"The phone battery and the screen are great, charger is fast\",5"
    else
      echo "$u,酒店房间很干净，早餐丰富，前台服务热情,4"
    fi
  done
  echo "u7,,3"
} > "$IN"

OUT=$TMP/topics
expect_ok "fit writes a topic folder" \
  "$PERSONA" topics fit --in "$IN" --text-col text --id-col user_id --k 2 --iters 60 \
  --min-df 1 --max-df 1 --seed 7 --threads 2 --out "$OUT" -q
for f in topics.json topic_word.npy vocab.txt doc_topics.npy doc_topics.ids.txt doc_topics.json \
         user_topics.npy user_topics.ids.txt user_topics.json model.lda; do
  if [ -s "$OUT/$f" ]; then ok "fit wrote $f"; else bad "fit wrote $f"; fi
done
V=$(wc -l < "$OUT/vocab.txt")
expect_grep "topic_word.npy is K x V float32" "'descr': '<f4'.*'shape': \(2, $V\)" <(head -c 128 "$OUT/topic_word.npy")
expect_grep "doc_topics.npy has one row per input row" "'shape': \(31, 2\)" <(head -c 128 "$OUT/doc_topics.npy")
expect_grep "user_topics.npy has one row per user" "'shape': \(7, 2\)" <(head -c 128 "$OUT/user_topics.npy")
expect_eq "user ids in first-seen order" "$(tr '\n' ' ' < "$OUT/user_topics.ids.txt")" "u2 u3 u4 u5 u6 u1 u7 "
expect_grep "sidecar names the ids file" '"ids": "user_topics.ids.txt"' "$OUT/user_topics.json"
expect_grep "vocabulary holds segmented Chinese" '^早餐$' "$OUT/vocab.txt"
expect_grep "vocabulary holds lower-cased English" '^battery$' "$OUT/vocab.txt"
if grep -qE '^(the|and|are|很)$' "$OUT/vocab.txt"; then bad "stopwords removed"; else ok "stopwords removed"; fi
expect_grep "topics.json has top words with weights" '"word": "[^"]+", "weight": 0\.[0-9]+' "$OUT/topics.json"
expect_grep "topics.json has coherence" '"coherence": \{"umass": -?[0-9.]+, "npmi": -?[0-9.]+' "$OUT/topics.json"
# The two themes separate: one topic's top word is English, the other's Chinese.
tops=$(grep -oE '"words": \[\{"word": "[^"]+"' "$OUT/topics.json" | sed 's/.*"word": "//; s/"$//' | tr '\n' ' ')
case "$tops" in
  *[a-z]*" "*[^a-z\ ]*|*[^a-z\ ]*" "*[a-z]*) ok "themes separate ($tops)";;
  *) bad "themes separate ($tops)";;
esac

# Same seed and threads: byte-identical outputs.
expect_ok "second fit" "$PERSONA" topics fit --in "$IN" --text-col text --id-col user_id --k 2 \
  --iters 60 --min-df 1 --max-df 1 --seed 7 --threads 2 --out "$TMP/again" -q
if cmp -s "$OUT/topic_word.npy" "$TMP/again/topic_word.npy" && cmp -s "$OUT/doc_topics.npy" "$TMP/again/doc_topics.npy" \
   && cmp -s "$OUT/model.lda" "$TMP/again/model.lda"; then ok "fit is deterministic"; else bad "fit is deterministic"; fi

# Fold-in.
printf 'id,text\nn1,"battery and screen"\nn2,早餐和房间\nn3,\n' > "$TMP/new.csv"
expect_ok "infer folds new texts in" "$PERSONA" topics infer --model "$OUT" --in "$TMP/new.csv" \
  --text-col text --id-col id --out "$TMP/new.npy" -q
expect_grep "infer output is n x K" "'shape': \(3, 2\)" <(head -c 128 "$TMP/new.npy")
expect_eq "infer ids" "$(tr '\n' ' ' < "$TMP/new.ids.txt")" "n1 n2 n3 "

# Errors.
expect_fail 2 "missing --k is a usage error" "$PERSONA" topics fit --in "$IN" --text-col text --out "$TMP/x"
expect_fail 2 "bad --lang" "$PERSONA" topics fit --in "$IN" --text-col text --k 2 --lang fr --out "$TMP/x"
expect_grep "bad --lang message" "option '--lang' expects auto, zh or en, got \"fr\"" "$TMP/err"
expect_fail 2 "bad --k" "$PERSONA" topics fit --in "$IN" --text-col text --k 0 --out "$TMP/x"
expect_fail 2 "unknown subcommand" "$PERSONA" topics train
expect_fail 2 "unknown column" "$PERSONA" topics fit --in "$IN" --text-col txt --k 2 --out "$TMP/x"
expect_grep "unknown column message" 'texts.csv: no column "txt" \(columns: user_id, text, rating\)' "$TMP/err"
expect_fail 1 "missing input" "$PERSONA" topics fit --in "$TMP/nope.csv" --text-col text --k 2 --out "$TMP/x"
expect_grep "missing input message" "nope.csv" "$TMP/err"
expect_fail 1 "nothing left after pruning" "$PERSONA" topics fit --in "$IN" --text-col text --k 2 --min-df 1000 --out "$TMP/x"
expect_grep "pruning message" "no word is left after vocabulary pruning" "$TMP/err"
expect_fail 1 "infer without a model" "$PERSONA" topics infer --model "$TMP/none" --in "$TMP/new.csv" --text-col text --out "$TMP/y.npy"
expect_grep "infer names the model file" "cannot open '$TMP/none/model.lda'" "$TMP/err"
cp -r "$OUT" "$TMP/broken"
printf 'X' | dd of="$TMP/broken/model.lda" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_fail 1 "infer rejects a corrupt model" "$PERSONA" topics infer --model "$TMP/broken" --in "$TMP/new.csv" --text-col text --out "$TMP/y.npy"
expect_grep "corrupt model message" "model.lda: checksum mismatch" "$TMP/err"

# A bad row (invalid UTF-8) is skipped and counted; --strict stops on it.
{ cat "$IN"; printf 'u8,bad \xff text,1\n'; } > "$TMP/bad.csv"
expect_ok "bad row skipped" "$PERSONA" topics fit --in "$TMP/bad.csv" --text-col text --k 2 --iters 5 \
  --min-df 1 --max-df 1 --out "$TMP/b"
expect_grep "bad row counted" "skipped 1 bad row" "$TMP/err"
expect_fail 1 "--strict stops at the bad row" "$PERSONA" topics fit --in "$TMP/bad.csv" --text-col text --k 2 \
  --iters 5 --min-df 1 --max-df 1 --strict --out "$TMP/b2"
expect_grep "strict message names file and line" "bad.csv:33" "$TMP/err"

done_testing
