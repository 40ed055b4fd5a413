/*
 * bpe_train.c - byte-level BPE training (GPT-2 format), see bpe_train.h.
 *
 * Data: each distinct pre-token ("word") with its count and its current
 * symbol sequence; a hash table of adjacent pairs with their weighted
 * counts and the words that hold them; a lazy max-heap of (count, pair).
 *
 * One merge of (a, b) -> z visits only the words on (a, b)'s list: it
 * subtracts the word's pairs, merges, adds the new pairs.  A pair that does
 * not contain z existed in the word before, so only pairs with z can gain
 * count or a new word: only those are pushed on the heap and only their
 * word lists grow.  Heap entries whose count is out of date are re-pushed
 * with the current count (if it fell) or dropped (a newer entry exists).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persona/afile.h"
#include "persona/bpe_train.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "unicode.h"

struct ps_bpe_train_params ps_bpe_train_default_params(void)
{
    struct ps_bpe_train_params p = {.vocab_size = 8192, .min_frequency = 2};
    return p;
}

struct pair {
    uint64_t key;        /* a << 32 | b */
    int64_t count;
    int32_t *words;
    int32_t n_words, cap_words;
    int touched;
};

struct heap_ent {
    int64_t count;
    uint64_t key;
};

struct ps_bpe_trainer {
    struct ps_bpe_train_params p;
    struct ps_strmap *wordmap;
    int64_t *word_count;
    size_t cap_count;
    /* after train: symbols of every word */
    int32_t *sym;          /* all words' symbols */
    size_t *word_start;
    int32_t *word_len;
    uint32_t *stamp;
    size_t n_words;
    /* pair table: open addressing on key -> index into pairs */
    struct pair *pairs;
    size_t n_pairs, cap_pairs;
    int32_t *slots;
    size_t n_slots;
    struct heap_ent *heap;
    size_t n_heap, cap_heap;
    /* tokens: bytes of each id */
    struct ps_buf tok_bytes;
    size_t *tok_off;
    uint32_t *tok_len;
    size_t n_tokens;
    int32_t (*merges)[2];
    size_t n_merges;
    unsigned char ascii_class[128];
};

int ps_bpe_trainer_new(struct ps_bpe_trainer **out, const struct ps_bpe_train_params *p,
                       struct ps_err *err)
{
    *out = NULL;
    if (p->vocab_size < 257 || p->vocab_size > 1000000)
        return ps_err_set(err, PS_ERR_USAGE,
                          "vocabulary size %d out of range (257..1000000: 256 bytes, the merges "
                          "and <|endoftext|>)",
                          p->vocab_size);
    struct ps_bpe_trainer *t = ps_xcalloc(1, sizeof *t);
    t->p = *p;
    if (t->p.min_frequency < 1)
        t->p.min_frequency = 1;
    t->wordmap = ps_strmap_new();
    for (int c = 0; c < 128; c++)
        t->ascii_class[c] = (unsigned char)ps__uc_class((uint32_t)c);
    ps_buf_init(&t->tok_bytes);
    *out = t;
    return PS_OK;
}

void ps_bpe_trainer_free(struct ps_bpe_trainer *t)
{
    if (!t)
        return;
    ps_strmap_free(t->wordmap);
    free(t->word_count);
    free(t->sym);
    free(t->word_start);
    free(t->word_len);
    free(t->stamp);
    for (size_t i = 0; i < t->n_pairs; i++)
        free(t->pairs[i].words);
    free(t->pairs);
    free(t->slots);
    free(t->heap);
    ps_buf_release(&t->tok_bytes);
    free(t->tok_off);
    free(t->tok_len);
    free(t->merges);
    free(t);
}

/* ---- pre-tokenizer (GPT-2's pattern) ------------------------------------ */

static inline uint32_t dec(const unsigned char *p, size_t *n)
{
    unsigned c = p[0];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c < 0xE0) {
        *n = 2;
        return (uint32_t)(c & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (c < 0xF0) {
        *n = 3;
        return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    *n = 4;
    return (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
           (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

static inline int cls_at(const struct ps_bpe_trainer *t, const unsigned char *s, size_t *n)
{
    if (s[0] < 0x80) {
        *n = 1;
        return t->ascii_class[s[0]];
    }
    return (int)ps__uc_class(dec(s, n));
}

static size_t run_end(const struct ps_bpe_trainer *t, const unsigned char *s, size_t j,
                      size_t len, int k)
{
    while (j < len) {
        size_t n;
        if (cls_at(t, s + j, &n) != k)
            break;
        j += n;
    }
    return j;
}

static size_t contraction(const unsigned char *s, size_t i, size_t len)
{
    if (s[i] != '\'' || i + 1 >= len)
        return 0;
    unsigned char c1 = s[i + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (i + 2 < len) {
        unsigned char c2 = s[i + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
            return 3;
    }
    return 0;
}

static size_t next_pretoken(const struct ps_bpe_trainer *t, const unsigned char *s, size_t i,
                            size_t len)
{
    size_t c = contraction(s, i, len);
    if (c)
        return c;
    size_t n0;
    int k0 = cls_at(t, s + i, &n0);
    if (s[i] == ' ' && i + 1 < len) {
        size_t n1;
        int k1 = cls_at(t, s + i + 1, &n1);
        if (k1 != PS__UC_SPACE)
            return run_end(t, s, i + 1 + n1, len, k1) - i;
    }
    if (k0 != PS__UC_SPACE)
        return run_end(t, s, i + n0, len, k0) - i;
    size_t j = i + n0, last = i;
    while (j < len) {
        size_t n;
        if (cls_at(t, s + j, &n) != PS__UC_SPACE)
            break;
        last = j;
        j += n;
    }
    if (j == len || last == i)
        return j - i;
    return last - i;
}

int ps_bpe_trainer_add(struct ps_bpe_trainer *t, const char *text, size_t len,
                       struct ps_err *err)
{
    long long bad = ps__utf8_check(text, len);
    if (bad >= 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "invalid UTF-8 at byte %lld", bad);
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t n = next_pretoken(t, s, i, len);
        uint32_t id = ps_strmap_intern(t->wordmap, text + i, n, NULL);
        if (id >= t->cap_count) {
            size_t nc = t->cap_count ? t->cap_count * 2 : 4096;
            t->word_count = ps_xrealloc(t->word_count, nc * sizeof *t->word_count);
            memset(t->word_count + t->cap_count, 0, (nc - t->cap_count) * sizeof *t->word_count);
            t->cap_count = nc;
        }
        t->word_count[id]++;
        i += n;
    }
    return PS_OK;
}

size_t ps_bpe_trainer_n_words(const struct ps_bpe_trainer *t)
{
    return ps_strmap_count(t->wordmap);
}

/* ---- pairs and heap ------------------------------------------------------ */

static inline uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static void slots_rehash(struct ps_bpe_trainer *t)
{
    size_t ns = t->n_slots ? t->n_slots * 2 : 1 << 16;
    free(t->slots);
    t->slots = ps_xmalloc(ns * sizeof *t->slots);
    memset(t->slots, 0xff, ns * sizeof *t->slots);
    t->n_slots = ns;
    for (size_t i = 0; i < t->n_pairs; i++) {
        size_t h = mix(t->pairs[i].key) & (ns - 1);
        while (t->slots[h] >= 0)
            h = (h + 1) & (ns - 1);
        t->slots[h] = (int32_t)i;
    }
}

/* Index of the pair, inserting it (count 0) if absent. */
static int32_t pair_get(struct ps_bpe_trainer *t, uint64_t key)
{
    if ((t->n_pairs + 1) * 2 > t->n_slots)
        slots_rehash(t);
    size_t h = mix(key) & (t->n_slots - 1);
    while (t->slots[h] >= 0) {
        if (t->pairs[t->slots[h]].key == key)
            return t->slots[h];
        h = (h + 1) & (t->n_slots - 1);
    }
    if (t->n_pairs == t->cap_pairs) {
        t->cap_pairs = t->cap_pairs ? t->cap_pairs * 2 : 1 << 15;
        t->pairs = ps_xrealloc(t->pairs, t->cap_pairs * sizeof *t->pairs);
    }
    struct pair *p = &t->pairs[t->n_pairs];
    memset(p, 0, sizeof *p);
    p->key = key;
    t->slots[h] = (int32_t)t->n_pairs;
    return (int32_t)t->n_pairs++;
}

static void pair_add_word(struct pair *p, int32_t w)
{
    if (p->n_words && p->words[p->n_words - 1] == w)
        return;
    if (p->n_words == p->cap_words) {
        p->cap_words = p->cap_words ? p->cap_words * 2 : 4;
        p->words = ps_xrealloc(p->words, (size_t)p->cap_words * sizeof *p->words);
    }
    p->words[p->n_words++] = w;
}

static inline int heap_before(const struct heap_ent *x, const struct heap_ent *y)
{
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static void heap_push(struct ps_bpe_trainer *t, int64_t count, uint64_t key)
{
    if (t->n_heap == t->cap_heap) {
        t->cap_heap = t->cap_heap ? t->cap_heap * 2 : 1 << 16;
        t->heap = ps_xrealloc(t->heap, t->cap_heap * sizeof *t->heap);
    }
    size_t i = t->n_heap++;
    struct heap_ent e = {count, key};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_before(&e, &t->heap[up]))
            break;
        t->heap[i] = t->heap[up];
        i = up;
    }
    t->heap[i] = e;
}

static struct heap_ent heap_pop(struct ps_bpe_trainer *t)
{
    struct heap_ent top = t->heap[0];
    struct heap_ent e = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!heap_before(&t->heap[c], &e))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n)
        t->heap[i] = e;
    return top;
}

/* ---- training --------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode order: the printable bytes first, then the rest. */
static void byte_order(int order[256], uint32_t cp_of[256])
{
    int n = 0, seen[256] = {0};
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            order[n++] = b;
            seen[b] = 1;
            cp_of[b] = (uint32_t)b;
        }
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!seen[b]) {
            order[n++] = b;
            cp_of[b] = (uint32_t)(256 + extra++);
        }
}

static void tok_push(struct ps_bpe_trainer *t, const void *bytes, size_t n)
{
    if ((t->n_tokens & (t->n_tokens - 1)) == 0) {
        size_t c = t->n_tokens ? t->n_tokens * 2 : 512;
        t->tok_off = ps_xrealloc(t->tok_off, c * sizeof *t->tok_off);
        t->tok_len = ps_xrealloc(t->tok_len, c * sizeof *t->tok_len);
    }
    t->tok_off[t->n_tokens] = t->tok_bytes.len;
    t->tok_len[t->n_tokens] = (uint32_t)n;
    ps_buf_append(&t->tok_bytes, bytes, n);
    t->n_tokens++;
}

int ps_bpe_trainer_train(struct ps_bpe_trainer *t, struct ps_err *err)
{
    if (t->sym)
        return ps_err_set(err, PS_ERR_USAGE, "the trainer has already been trained");
    int order[256];
    uint32_t cp_of[256];
    byte_order(order, cp_of);
    int32_t id_of_byte[256];
    for (int i = 0; i < 256; i++) {
        unsigned char b = (unsigned char)order[i];
        id_of_byte[b] = i;
        tok_push(t, &b, 1);
    }
    t->n_words = ps_strmap_count(t->wordmap);
    size_t total = 0;
    for (uint32_t w = 0; w < t->n_words; w++) {
        size_t n;
        ps_strmap_key(t->wordmap, w, &n);
        total += n;
    }
    t->sym = ps_xmalloc((total + 1) * sizeof *t->sym);
    t->word_start = ps_xmalloc((t->n_words + 1) * sizeof *t->word_start);
    t->word_len = ps_xmalloc((t->n_words + 1) * sizeof *t->word_len);
    t->stamp = ps_xcalloc(t->n_words + 1, sizeof *t->stamp);
    size_t off = 0;
    for (uint32_t w = 0; w < t->n_words; w++) {
        size_t n;
        const unsigned char *k = (const unsigned char *)ps_strmap_key(t->wordmap, w, &n);
        t->word_start[w] = off;
        t->word_len[w] = (int32_t)n;
        for (size_t i = 0; i < n; i++)
            t->sym[off + i] = id_of_byte[k[i]];
        int64_t c = t->word_count[w];
        for (size_t i = 0; i + 1 < n; i++) {
            uint64_t key = (uint64_t)(uint32_t)t->sym[off + i] << 32 | (uint32_t)t->sym[off + i + 1];
            int32_t q = pair_get(t, key);
            struct pair *p = &t->pairs[q];
            p->count += c;
            pair_add_word(p, (int32_t)w);
        }
        off += n;
    }
    for (size_t i = 0; i < t->n_pairs; i++)
        heap_push(t, t->pairs[i].count, t->pairs[i].key);

    size_t want = (size_t)t->p.vocab_size - 257;
    t->merges = ps_xmalloc((want + 1) * sizeof *t->merges);
    int32_t *touched = NULL;
    size_t n_touched = 0, cap_touched = 0;
    while (t->n_merges < want && t->n_heap > 0) {
        struct heap_ent e = heap_pop(t);
        int32_t pi = pair_get(t, e.key);
        int64_t cur = t->pairs[pi].count;
        if (cur != e.count) {
            if (cur < e.count && cur > 0)
                heap_push(t, cur, e.key);
            continue;
        }
        if (cur < t->p.min_frequency || cur <= 0)
            break;
        int32_t a = (int32_t)(e.key >> 32), b = (int32_t)(e.key & 0xffffffffu);
        int32_t z = (int32_t)t->n_tokens;
        t->merges[t->n_merges][0] = a;
        t->merges[t->n_merges][1] = b;
        t->n_merges++;
        {
            size_t la = t->tok_len[a], lb = t->tok_len[b];
            char *tmp = ps_xmalloc(la + lb);
            memcpy(tmp, t->tok_bytes.data + t->tok_off[a], la);
            memcpy(tmp + la, t->tok_bytes.data + t->tok_off[b], lb);
            tok_push(t, tmp, la + lb);
            free(tmp);
        }
        /* the word list of (a, b) does not grow during this merge */
        int32_t *words = t->pairs[pi].words;
        int32_t n_words = t->pairs[pi].n_words;
        t->pairs[pi].words = NULL;
        t->pairs[pi].n_words = t->pairs[pi].cap_words = 0;
        for (int32_t wi = 0; wi < n_words; wi++) {
            int32_t w = words[wi];
            if (t->stamp[w] == (uint32_t)z)
                continue;
            t->stamp[w] = (uint32_t)z;
            int32_t *s = t->sym + t->word_start[w];
            int32_t n = t->word_len[w];
            int has = 0;
            for (int32_t i = 0; i + 1 < n; i++)
                if (s[i] == a && s[i + 1] == b) {
                    has = 1;
                    break;
                }
            if (!has)
                continue;
            int64_t c = t->word_count[w];
            for (int32_t i = 0; i + 1 < n; i++) {
                uint64_t key = (uint64_t)(uint32_t)s[i] << 32 | (uint32_t)s[i + 1];
                int32_t q = pair_get(t, key);
                t->pairs[q].count -= c;
            }
            int32_t j = 0;
            for (int32_t i = 0; i < n;) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                    s[j++] = z;
                    i += 2;
                } else {
                    s[j++] = s[i++];
                }
            }
            n = t->word_len[w] = j;
            for (int32_t i = 0; i + 1 < n; i++) {
                uint64_t key = (uint64_t)(uint32_t)s[i] << 32 | (uint32_t)s[i + 1];
                int32_t q = pair_get(t, key);
                struct pair *p = &t->pairs[q];
                p->count += c;
                if (s[i] == z || s[i + 1] == z) {
                    pair_add_word(p, w);
                    if (!p->touched) {
                        p->touched = 1;
                        if (n_touched == cap_touched) {
                            cap_touched = cap_touched ? cap_touched * 2 : 256;
                            touched = ps_xrealloc(touched, cap_touched * sizeof *touched);
                        }
                        touched[n_touched++] = q;
                    }
                }
            }
        }
        free(words);
        for (size_t k = 0; k < n_touched; k++) {
            struct pair *p = &t->pairs[touched[k]];
            p->touched = 0;
            if (p->count > 0)
                heap_push(t, p->count, p->key);
        }
        n_touched = 0;
    }
    free(touched);
    return PS_OK;
}

size_t ps_bpe_trainer_n_merges(const struct ps_bpe_trainer *t) { return t->n_merges; }

void ps_bpe_trainer_merge(const struct ps_bpe_trainer *t, size_t i, const char **a, size_t *alen,
                          const char **b, size_t *blen)
{
    int32_t x = t->merges[i][0], y = t->merges[i][1];
    *a = t->tok_bytes.data + t->tok_off[x];
    *alen = t->tok_len[x];
    *b = t->tok_bytes.data + t->tok_off[y];
    *blen = t->tok_len[y];
}

/* ---- saving ------------------------------------------------------------------ */

static void put_unicode(struct ps_buf *out, const char *bytes, size_t n, const uint32_t cp_of[256])
{
    for (size_t i = 0; i < n; i++) {
        char u[4];
        size_t k = ps__utf8_encode(cp_of[(unsigned char)bytes[i]], u);
        ps_buf_append(out, u, k);
    }
}

static int write_text(const char *dir, const char *name, const struct ps_buf *b,
                      struct ps_err *err)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = ps_xmalloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc == PS_OK) {
        if (fwrite(b->data, 1, b->len, f.fp) != b->len) {
            ps_afile_abort(&f);
            rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", path, strerror(errno));
        } else {
            rc = ps_afile_commit(&f, err);
        }
    }
    free(path);
    return rc;
}

int ps_bpe_trainer_save(const struct ps_bpe_trainer *t, const char *dir, struct ps_err *err)
{
    if (!t->sym)
        return ps_err_set(err, PS_ERR_USAGE, "the trainer has not been trained");
    if (mkdir(dir, 0777) && errno != EEXIST)
        return ps_err_set(err, PS_ERR_IO, "cannot create \"%s\": %s", dir, strerror(errno));
    int order[256];
    uint32_t cp_of[256];
    byte_order(order, cp_of);
    struct ps_buf b, tok;
    ps_buf_init(&b);
    ps_buf_init(&tok);
    ps_buf_putc(&b, '{');
    for (size_t i = 0; i < t->n_tokens; i++) {
        ps_buf_reset(&tok);
        put_unicode(&tok, t->tok_bytes.data + t->tok_off[i], t->tok_len[i], cp_of);
        if (i)
            ps_buf_putc(&b, ',');
        ps_buf_json_str(&b, tok.data, tok.len);
        ps_buf_printf(&b, ":%zu", i);
    }
    ps_buf_printf(&b, ",\"<|endoftext|>\":%zu}", t->n_tokens);
    int rc = write_text(dir, "vocab.json", &b, err);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "#version: 0.2\n");
    for (size_t i = 0; i < t->n_merges; i++) {
        int32_t x = t->merges[i][0], y = t->merges[i][1];
        put_unicode(&b, t->tok_bytes.data + t->tok_off[x], t->tok_len[x], cp_of);
        ps_buf_putc(&b, ' ');
        put_unicode(&b, t->tok_bytes.data + t->tok_off[y], t->tok_len[y], cp_of);
        ps_buf_putc(&b, '\n');
    }
    if (rc == PS_OK)
        rc = write_text(dir, "merges.txt", &b, err);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "{\n  \"add_prefix_space\": false,\n  \"bos_token\": \"<|endoftext|>\",\n"
                      "  \"eos_token\": \"<|endoftext|>\",\n  \"model_max_length\": 1024,\n"
                      "  \"tokenizer_class\": \"GPT2Tokenizer\",\n"
                      "  \"unk_token\": \"<|endoftext|>\"\n}\n");
    if (rc == PS_OK)
        rc = write_text(dir, "tokenizer_config.json", &b, err);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "{\n  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
                      "  \"unk_token\": \"<|endoftext|>\"\n}\n");
    if (rc == PS_OK)
        rc = write_text(dir, "special_tokens_map.json", &b, err);
    ps_buf_release(&b);
    ps_buf_release(&tok);
    return rc;
}
