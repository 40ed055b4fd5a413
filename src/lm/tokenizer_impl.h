/*
 * tokenizer_impl.h - the insides of struct ps_tokenizer, shared by
 * tokenizer.c (loading, special tokens, dispatch), bpe.c and wordpiece.c.
 * Internal to src/lm.
 */
#ifndef PERSONA_LM_TOKENIZER_IMPL_H
#define PERSONA_LM_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "persona/core.h"
#include "persona/tokenizer.h"

/* Caps on what files may make us allocate. */
#define PS__TOK_MAX_FILE   ((size_t)512 << 20)  /* bytes of one tokenizer file */
#define PS__TOK_MAX_ID     (1 << 24)            /* ids are below 16.7 M */
#define PS__TOK_MAX_TEXT   ((size_t)INT32_MAX)  /* bytes of one text to encode */

/* A token the text is scanned for before any other processing
 * (Hugging Face's "added tokens": <|endoftext|>, [CLS], ...). */
struct ps__added {
    char *content;   /* owned, NUL-terminated */
    size_t len;      /* bytes */
    int32_t id;
};

/* One entry of the merge table: the pair (a, b) becomes `id` at `rank`. */
struct ps__merge {
    uint64_t key;    /* (uint64_t)a << 32 | b */
    int32_t rank;    /* lower merges first */
    int32_t id;      /* id of the merged token */
};

struct ps__vslot {
    uint32_t hash;   /* high bits of the string's hash */
    uint32_t e1;     /* entry + 1, 0 = empty */
};

struct ps_tokenizer {
    enum ps_tokenizer_kind kind;

    /* Vocabulary: token string <-> id.  Ids may have holes.  Strings live
     * in one arena; an open-addressing table maps them to entries. */
    char *arena;               /* entry strings, each NUL-terminated */
    size_t arena_len, arena_cap;
    size_t *e_off;             /* entry -> offset in arena */
    uint32_t *e_len;           /* entry -> bytes */
    int32_t *e_id;             /* entry -> id (the first one for a repeated string) */
    size_t n_e, e_cap, e_len_cap, e_id_cap;
    struct ps__vslot *slots;   /* hash table over entries */
    size_t slot_mask;
    int32_t *id_index;         /* id -> entry, -1 = hole */
    size_t id_index_cap;
    int32_t n_ids;             /* largest id + 1 */
    const char **tok;          /* id -> token string (in arena), NULL = hole;
                                  built when loading is complete */
    uint32_t *tok_len;         /* id -> bytes */

    /* Added tokens, longest first so that a scan takes the longest match. */
    struct ps__added *added;
    size_t n_added;
    uint8_t added_first[256];  /* 1 if some added token starts with this byte */
    uint8_t *is_added;         /* id -> 1 if an added token (decoded verbatim) */

    int32_t eos, cls, sep, pad, unk, mask;

    /* Byte-level BPE. */
    int32_t byte_id[256];      /* id of the one-byte token of each byte, -1 if none */
    uint32_t *merge_fp;        /* open addressing, power-of-two size: a 32-bit
                                  fingerprint per slot (0 = empty), probed
                                  alone so that misses touch 4 bytes a slot */
    struct ps__merge *merges;  /* the entries, parallel to merge_fp */
    struct ps__bpair { int32_t rank, id; } *byte_pairs;
                               /* [256 * a + b]: the merge of the one-byte tokens
                                  of bytes a and b (rank -1 = none); the first
                                  round of lookups, dense for cache locality */
    size_t merge_mask;
    size_t n_merges;
    char *bytes;               /* decoded bytes of every token, concatenated */
    size_t *bytes_off;         /* id -> offset into bytes */
    uint32_t *bytes_len;       /* id -> length */
    int add_prefix_space;      /* ByteLevel add_prefix_space */

    /* WordPiece. */
    int lower;                 /* lower-case words */
    int strip_accents;         /* -1 = follow `lower`, 0 = never, 1 = always */
    int cjk;                   /* put spaces around CJK ideographs */
    int clean;                 /* drop control characters, map whitespace to ' ' */
    size_t max_chars;          /* longer words become [UNK] (100) */
    char prefix[16];           /* continuation prefix ("##") */
    size_t prefix_len;
    size_t max_tok_bytes;      /* longest vocabulary entry, bytes */
};

/* Growable id array used while encoding. */
struct ps__ids {
    int32_t *v;
    size_t n, cap;
};
static inline void ps__ids_push(struct ps__ids *a, int32_t id)
{
    if (a->n == a->cap)
        a->v = ps_xgrow(a->v, &a->cap, a->n + 1, sizeof *a->v);
    a->v[a->n++] = id;
}

/* Vocabulary lookup: id of the token string, or -1. */
int32_t ps__tok_find(const struct ps_tokenizer *t, const char *s, size_t len);

/* bpe.c: builds byte_id and the decoded-bytes table after the vocabulary is
 * complete; adds one merge (fails if a part or the result is missing). */
void ps__bpe_init_bytes(struct ps_tokenizer *t);
int ps__bpe_add_merge(struct ps_tokenizer *t, const char *a, size_t alen, const char *b,
                      size_t blen, int32_t rank, const char **missing, size_t *missing_len);
/* Encodes one stretch of text without added tokens (valid UTF-8),
 * appending to out; may stop once out->n >= limit (0 = no limit). */
int ps__bpe_encode(const struct ps_tokenizer *t, const char *s, size_t len, size_t limit,
                   struct ps__ids *out, struct ps_err *err);
int ps__bpe_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n, struct ps_buf *out,
                   struct ps_err *err);
/* The byte-to-unicode map of GPT-2 (byte -> code point). */
uint32_t ps__bpe_byte_cp(unsigned b);

/* wordpiece.c */
int ps__wp_encode(const struct ps_tokenizer *t, const char *s, size_t len, size_t limit,
                  struct ps__ids *out, struct ps_err *err);
int ps__wp_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n, struct ps_buf *out,
                  struct ps_err *err);

#endif
