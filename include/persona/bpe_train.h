/*
 * bpe_train.h - training a byte-level BPE tokenizer in GPT-2's format.
 *
 * Texts are split by GPT-2's pre-tokenizer ('s|'t|'re|'ve|'m|'ll|'d|
 * ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+) and counted; merges
 * never cross a pre-token.  Training starts from the 256 byte symbols and
 * repeatedly merges the most frequent adjacent pair (ties: the pair of lower
 * ids, i.e. of older tokens), updating pair counts
 * incrementally: only the words holding the merged pair are revisited, and a
 * lazy max-heap picks the next pair.  A Chinese clause is one pre-token, so
 * after the byte pairs of common characters the trainer merges common
 * multi-character words (酒店, 不错, ...).
 *
 *   ps_bpe_trainer_new(&t, &params);
 *   ps_bpe_trainer_add(t, text, len);   ... for every text
 *   ps_bpe_trainer_train(t, &err);
 *   ps_bpe_trainer_save(t, "tok/", &err);   vocab.json, merges.txt,
 *                                           tokenizer_config.json,
 *                                           special_tokens_map.json
 * The files load with ps_tokenizer_load (and with transformers'
 * GPT2Tokenizer): ids 0..255 are the bytes in GPT-2's byte-to-unicode
 * order, then one id per merge, then "<|endoftext|>" last.
 */
#ifndef PERSONA_BPE_TRAIN_H
#define PERSONA_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_bpe_train_params {
    int vocab_size;        /* total ids including the 256 bytes and <|endoftext|> */
    long min_frequency;    /* stop when the best pair occurs fewer times (2) */
};
struct ps_bpe_train_params ps_bpe_train_default_params(void);

struct ps_bpe_trainer;

int ps_bpe_trainer_new(struct ps_bpe_trainer **out, const struct ps_bpe_train_params *p,
                       struct ps_err *err);
void ps_bpe_trainer_free(struct ps_bpe_trainer *t);
/* Pre-tokenises text (valid UTF-8; invalid input is PS_ERR_BAD_INPUT) and
 * counts its words. */
int ps_bpe_trainer_add(struct ps_bpe_trainer *t, const char *text, size_t len,
                       struct ps_err *err);
/* Distinct words counted so far. */
size_t ps_bpe_trainer_n_words(const struct ps_bpe_trainer *t);
int ps_bpe_trainer_train(struct ps_bpe_trainer *t, struct ps_err *err);
/* Merges learnt, and merge i as its two parts (raw bytes, borrowed). */
size_t ps_bpe_trainer_n_merges(const struct ps_bpe_trainer *t);
void ps_bpe_trainer_merge(const struct ps_bpe_trainer *t, size_t i, const char **a, size_t *alen,
                          const char **b, size_t *blen);
/* Writes the GPT-2 files into dir (created if needed). */
int ps_bpe_trainer_save(const struct ps_bpe_trainer *t, const char *dir, struct ps_err *err);

#endif
