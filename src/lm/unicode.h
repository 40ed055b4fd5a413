/*
 * unicode.h - internal Unicode helpers for the tokenizers (src/lm only).
 *
 * UTF-8 decoding and validation, the character classes the GPT-2
 * pre-tokenizer and BERT's basic tokenizer need, full lower-casing and
 * NFC/NFD normalisation.  Categories and normalisation come from
 * libutf8proc (its Unicode version: see docs/tokenizers.md); the
 * White_Space set and BERT's ASCII punctuation ranges are spelled out here.
 * Everything is pure and thread-safe.
 */
#ifndef PERSONA_LM_UNICODE_H
#define PERSONA_LM_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Growable array of code points (caller-owned; release with free(a->v)). */
struct ps__u32buf {
    uint32_t *v;   /* code points */
    size_t n;      /* used */
    size_t cap;    /* allocated */
};
void ps__u32buf_push(struct ps__u32buf *a, uint32_t cp);

/* Decodes the code point at s (len > 0 bytes available).  Returns its length
 * in bytes (1..4), or 0 if the bytes there are not well-formed UTF-8
 * (truncated, overlong, surrogate, above U+10FFFF, stray continuation). */
size_t ps__utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Offset of the first byte that is not part of well-formed UTF-8, or -1. */
long long ps__utf8_check(const char *s, size_t len);

/* Writes cp (<= U+10FFFF, not a surrogate) as UTF-8; returns 1..4. */
size_t ps__utf8_encode(uint32_t cp, char out[4]);

/* Length of the valid code point at s, trusting s (already validated). */
static inline size_t ps__utf8_len_fast(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Appends s to out, replacing each maximal ill-formed subsequence by
 * U+FFFD as Python's bytes.decode("utf-8", "replace") does. */
struct ps_buf;
void ps__utf8_append_lossy(struct ps_buf *out, const unsigned char *s, size_t len);

/* Classes of the GPT-2 pre-tokenizer pattern: \p{L}, \p{N}, \s
 * (the Unicode White_Space property), everything else. */
enum ps__uclass { PS__UC_OTHER = 0, PS__UC_LETTER, PS__UC_NUMBER, PS__UC_SPACE };
enum ps__uclass ps__uc_class(uint32_t cp);

/* BERT's predicates (transformers' BasicTokenizer). */
int ps__uc_bert_is_control(uint32_t cp);    /* category C*, except \t \n \r */
int ps__uc_bert_is_whitespace(uint32_t cp); /* ' ', \t, \n, \r or Zs */
int ps__uc_bert_is_punct(uint32_t cp);      /* ASCII 33-47 58-64 91-96 123-126, or P* */
int ps__uc_is_cjk(uint32_t cp);             /* CJK unified ideograph blocks */
int ps__uc_py_isspace(uint32_t cp);         /* Python str.isspace() */
int ps__uc_is_mn(uint32_t cp);              /* category Mn (nonspacing mark) */

/* Appends the full lower-case mapping of w[0..n) to out, as Python's
 * str.lower() does: U+0130 becomes "i\u0307" and a capital sigma at the
 * end of a word becomes final sigma. */
void ps__uc_lower(const uint32_t *w, size_t n, struct ps__u32buf *out);

/* Canonical normalisation of w[0..n) into out (replacing its contents):
 * NFD if compose == 0, NFC otherwise.  Returns 0, or -1 on an internal
 * utf8proc error (not expected for valid code points). */
int ps__uc_normalize(const uint32_t *w, size_t n, int compose, struct ps__u32buf *out);

#endif
