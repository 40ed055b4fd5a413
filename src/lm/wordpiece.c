/*
 * wordpiece.c - BERT's tokenizer: transformers' BasicTokenizer followed by
 * greedy longest-match-first WordPiece.
 *
 * Basic tokenizer, in order (as ../shared/lmref/reference.py and
 * transformers' BertTokenizer):
 *   1. clean: drop U+0000, U+FFFD and control characters (category C*
 *      except \t \n \r); every whitespace character becomes a space;
 *   2. put spaces around CJK ideographs (each becomes its own word);
 *   3. NFC;
 *   4. split on whitespace;
 *   5. per word: lower-case (full mapping), then NFD and drop nonspacing
 *      marks (accent stripping) - as tokenizer_config.json's do_lower_case
 *      and strip_accents say;
 *   6. split off every punctuation character (ASCII symbol ranges or P*).
 * WordPiece: a word longer than max_chars characters is [UNK]; otherwise
 * take the longest vocabulary entry that starts the word, then the longest
 * "##"-prefixed entry that continues it, and so on; if some position has
 * no match the whole word is [UNK].
 *
 * Thread safety: encoding reads the tokenizer only; scratch is per call.
 */
#include "lm/tokenizer_impl.h"
#include "lm/unicode.h"

#include <stdlib.h>
#include <string.h>

struct wp_work {
    struct ps__u32buf a, b, c, d; /* code point scratch */
    char *key;                    /* lookup key: prefix + piece bytes */
    size_t key_cap;
    size_t *off;                  /* byte offset of each character of a piece */
    size_t off_cap;
};

static void wp_release(struct wp_work *w)
{
    free(w->a.v);
    free(w->b.v);
    free(w->c.v);
    free(w->d.v);
    free(w->key);
    free(w->off);
}

/* WordPiece of one piece (no whitespace, no punctuation inside). */
static void wordpiece(const struct ps_tokenizer *t, const uint32_t *p, size_t nc,
                      struct wp_work *w, struct ps__ids *out)
{
    if (nc == 0)
        return;
    if (nc > t->max_chars) {
        ps__ids_push(out, t->unk);
        return;
    }
    /* UTF-8 of the piece after the prefix, with character offsets. */
    size_t need = t->prefix_len + nc * 4;
    if (w->key_cap < need)
        w->key = ps_xgrow(w->key, &w->key_cap, need, 1);
    if (w->off_cap < nc + 1)
        w->off = ps_xgrow(w->off, &w->off_cap, nc + 1, sizeof *w->off);
    memcpy(w->key, t->prefix, t->prefix_len);
    char *body = w->key + t->prefix_len;
    size_t nb = 0;
    for (size_t i = 0; i < nc; i++) {
        w->off[i] = nb;
        nb += ps__utf8_encode(p[i], body + nb);
    }
    w->off[nc] = nb;

    size_t mark = out->n, start = 0;
    while (start < nc) {
        size_t pre = start > 0 ? t->prefix_len : 0;
        size_t end = nc;
        /* No vocabulary entry is longer than max_tok_bytes. */
        while (end > start && pre + w->off[end] - w->off[start] > t->max_tok_bytes)
            end--;
        int32_t id = -1;
        for (; end > start; end--) {
            size_t sb = w->off[start], blen = w->off[end] - sb;
            if (pre) {
                /* Write the prefix right before the substring (the key
                 * buffer starts with prefix_len spare bytes), then restore. */
                char *k = body + sb - pre, save[16];
                memcpy(save, k, pre);
                memcpy(k, t->prefix, pre);
                id = ps__tok_find(t, k, pre + blen);
                memcpy(k, save, pre);
            } else {
                id = ps__tok_find(t, body + sb, blen);
            }
            if (id >= 0)
                break;
        }
        if (id < 0) {
            out->n = mark;
            ps__ids_push(out, t->unk);
            return;
        }
        ps__ids_push(out, id);
        start = end;
    }
}

/* Splits punctuation off a word and runs WordPiece on the pieces. */
static void split_punct(const struct ps_tokenizer *t, const uint32_t *p, size_t n,
                        struct wp_work *w, struct ps__ids *out)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (ps__uc_bert_is_punct(p[i])) {
            wordpiece(t, p + s, i - s, w, out);
            wordpiece(t, p + i, 1, w, out);
            s = i + 1;
        }
    }
    wordpiece(t, p + s, n - s, w, out);
}

static int has_non_ascii(const uint32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 0x80)
            return 1;
    return 0;
}

/* Lower-casing and accent stripping of one word, then the rest. */
static int word(const struct ps_tokenizer *t, const uint32_t *p, size_t n, struct wp_work *w,
                struct ps__ids *out, struct ps_err *err)
{
    int strip = t->strip_accents < 0 ? t->lower : t->strip_accents;
    if (t->lower) {
        w->c.n = 0;
        ps__uc_lower(p, n, &w->c);
        p = w->c.v;
        n = w->c.n;
    }
    if (strip && has_non_ascii(p, n)) {
        if (ps__uc_normalize(p, n, 0, &w->d))
            return ps_err_set(err, PS_ERR_INTERNAL, "unicode normalisation failed");
        size_t k = 0;
        for (size_t i = 0; i < w->d.n; i++)
            if (!ps__uc_is_mn(w->d.v[i]))
                w->d.v[k++] = w->d.v[i];
        w->d.n = k;
        p = w->d.v;
        n = k;
    }
    split_punct(t, p, n, w, out);
    return PS_OK;
}

int ps__wp_encode(const struct ps_tokenizer *t, const char *text, size_t len, size_t limit,
                  struct ps__ids *out, struct ps_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    struct wp_work w = {0};
    int rc = PS_OK;
    /* 1-2: clean and space out CJK ideographs. */
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ps__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* the caller validated the text */
            n = 1;
            cp = 0xFFFD;
        }
        i += n;
        if (t->clean) {
            if (cp == 0 || cp == 0xFFFD || ps__uc_bert_is_control(cp))
                continue;
            if (ps__uc_bert_is_whitespace(cp))
                cp = ' ';
        }
        if (t->cjk && ps__uc_is_cjk(cp)) {
            ps__u32buf_push(&w.a, ' ');
            ps__u32buf_push(&w.a, cp);
            ps__u32buf_push(&w.a, ' ');
        } else {
            ps__u32buf_push(&w.a, cp);
        }
    }
    /* 3: NFC. */
    const uint32_t *p = w.a.v;
    size_t n = w.a.n;
    if (has_non_ascii(p, n)) {
        if (ps__uc_normalize(p, n, 1, &w.b)) {
            rc = ps_err_set(err, PS_ERR_INTERNAL, "unicode normalisation failed");
            goto done;
        }
        p = w.b.v;
        n = w.b.n;
    }
    /* 4-6: words. */
    size_t ws = 0;
    for (size_t k = 0; k <= n && rc == PS_OK && !(limit && out->n >= limit); k++) {
        if (k == n || ps__uc_py_isspace(p[k])) {
            if (k > ws)
                rc = word(t, p + ws, k - ws, &w, out, err);
            ws = k + 1;
        }
    }
done:
    wp_release(&w);
    return rc;
}

int ps__wp_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n, struct ps_buf *out,
                  struct ps_err *err)
{
    /* Tokens joined by spaces, "##" continuations glued to their left. */
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->tok[id])
            return ps_err_set(err, PS_ERR_BAD_INPUT, "unknown token id %d at position %zu",
                              (int)id, i);
        const char *tok = t->tok[id];
        size_t len = t->tok_len[id];
        if (i > 0 && t->prefix_len && len >= t->prefix_len &&
            memcmp(tok, t->prefix, t->prefix_len) == 0) {
            tok += t->prefix_len;
            len -= t->prefix_len;
        } else if (i > 0) {
            ps_buf_putc(out, ' ');
        }
        ps_buf_append(out, tok, len);
    }
    return PS_OK;
}
