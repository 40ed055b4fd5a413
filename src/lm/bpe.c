/*
 * bpe.c - GPT-2 byte-level BPE: the pre-tokenizer, the byte-to-unicode map,
 * rank-ordered merging, and decoding.
 *
 * Pre-tokenizer.  GPT-2 splits text with the pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * which is implemented by hand below (no regex engine): at each position
 * the alternatives are tried in order, as a backtracking engine would.
 *
 * Merging.  Each pre-token's bytes become one-byte tokens; then the pair
 * with the lowest merge rank is merged, leftmost first, until no pair has
 * a rank.  A linked list of symbols plus a binary heap of (rank, position)
 * candidates with lazy invalidation makes this O(n log n) in the length of
 * the pre-token (a 100 KB word without spaces is fine), where the textbook
 * loop is quadratic.  Hugging Face tokenizers merge the same way; for merge
 * lists produced by BPE training (every merge of a token after the merge
 * that created it) this equals encoder.py's merge-all-occurrences loop.
 * Speed (bench/RESULTS-tokenizer.md): the first round of lookups reads a
 * dense 256 x 256 table of byte-pair merges and the heap is built at once;
 * later lookups probe an array of 32-bit fingerprints before touching the
 * entries; words of at most SMALL_WORD bytes scan for the best pair
 * instead of keeping a heap.
 *
 * Thread safety: encoding reads the tokenizer only; scratch is per call.
 */
#include "lm/tokenizer_impl.h"
#include "lm/unicode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Pre-tokenizer class of every BMP code point (64 KB), filled once by the
 * first tokenizer load; other planes ask utf8proc. */
static unsigned char bmp_class[65536];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void init_bmp_class(void)
{
    for (uint32_t c = 0; c < 65536; c++)
        bmp_class[c] = (unsigned char)ps__uc_class(c);
}

static inline int cls(uint32_t cp)
{
    return cp < 65536 ? bmp_class[cp] : (int)ps__uc_class(cp);
}

/* ---- the byte <-> unicode map ------------------------------------------ */

/* GPT-2 maps the printable bytes ! .. ~, ¡ .. ¬ and ® .. ÿ to themselves and
 * the other 68 bytes, in order, to U+0100 .. U+0143. */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t ps__bpe_byte_cp(unsigned b)
{
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        n += !byte_is_printable(x);
    return 256 + n;
}

static const struct ps__merge *merge_find(const struct ps_tokenizer *t, int32_t a, int32_t b);

void ps__bpe_init_bytes(struct ps_tokenizer *t)
{
    pthread_once(&bmp_once, init_bmp_class);
    int cp_byte[0x144];
    for (int i = 0; i < 0x144; i++)
        cp_byte[i] = -1;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = ps__bpe_byte_cp(b);
        cp_byte[cp] = (int)b;
        char u[4];
        size_t n = ps__utf8_encode(cp, u);
        t->byte_id[b] = ps__tok_find(t, u, n);
    }
    /* Decoded bytes of every token: byte-level characters map back to their
     * byte; added tokens and characters outside the map are kept as UTF-8. */
    size_t total = 0;
    for (int32_t id = 0; id < t->n_ids; id++)
        total += t->tok[id] ? t->tok_len[id] : 0;
    t->bytes = ps_xmalloc(total + 1);
    t->bytes_off = ps_xcalloc((size_t)t->n_ids + 1, sizeof *t->bytes_off);
    t->bytes_len = ps_xcalloc((size_t)t->n_ids + 1, sizeof *t->bytes_len);
    size_t off = 0;
    for (int32_t id = 0; id < t->n_ids; id++) {
        const unsigned char *s = (const unsigned char *)t->tok[id];
        size_t len = s ? t->tok_len[id] : 0;
        t->bytes_off[id] = off;
        if (s && t->is_added[id]) {
            memcpy(t->bytes + off, s, len);
            off += len;
        } else {
            size_t i = 0;
            while (i < len) {
                uint32_t cp;
                size_t n = ps__utf8_decode(s + i, len - i, &cp);
                if (n == 0) /* cannot happen: tokens are validated on load */
                    n = 1, cp = 0xFFFD;
                if (cp < 0x144 && cp_byte[cp] >= 0) {
                    t->bytes[off++] = (char)cp_byte[cp];
                } else {
                    memcpy(t->bytes + off, s + i, n);
                    off += n;
                }
                i += n;
            }
        }
        t->bytes_len[id] = (uint32_t)(off - t->bytes_off[id]);
    }
    t->byte_pairs = ps_xmalloc(65536 * sizeof *t->byte_pairs);
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            const struct ps__merge *m = merge_find(t, t->byte_id[a], t->byte_id[b]);
            t->byte_pairs[a << 8 | b].rank = m ? m->rank : -1;
            t->byte_pairs[a << 8 | b].id = m ? m->id : -1;
        }
}

/* ---- the merge table --------------------------------------------------- */

static inline uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline uint64_t pair_hash(uint64_t k)
{
    k ^= k >> 29;
    k *= 0xBF58476D1CE4E5B9ULL;
    k ^= k >> 32;
    k *= 0x94D049BB133111EBULL;
    k ^= k >> 31;
    return k;
}

static inline uint32_t pair_fp(uint64_t h)
{
    return (uint32_t)(h >> 32) | 1u;
}

static const struct ps__merge *merge_find(const struct ps_tokenizer *t, int32_t a, int32_t b)
{
    if (!t->merges || a < 0 || b < 0)
        return NULL;
    uint64_t k = pair_key(a, b), h = pair_hash(k);
    uint32_t fp = pair_fp(h);
    size_t j = (size_t)h & t->merge_mask;
    for (uint32_t f; (f = t->merge_fp[j]) != 0; j = (j + 1) & t->merge_mask)
        if (f == fp && t->merges[j].key == k)
            return &t->merges[j];
    return NULL;
}

static void merge_grow(struct ps_tokenizer *t)
{
    size_t n_slots = t->merges ? (t->merge_mask + 1) * 2 : 1024;
    struct ps__merge *m = ps_xmalloc(n_slots * sizeof *m);
    uint32_t *fp = ps_xcalloc(n_slots, sizeof *fp);
    if (t->merges) {
        for (size_t i = 0; i <= t->merge_mask; i++) {
            if (!t->merge_fp[i])
                continue;
            size_t j = (size_t)pair_hash(t->merges[i].key) & (n_slots - 1);
            while (fp[j])
                j = (j + 1) & (n_slots - 1);
            fp[j] = t->merge_fp[i];
            m[j] = t->merges[i];
        }
        free(t->merges);
        free(t->merge_fp);
    }
    t->merges = m;
    t->merge_fp = fp;
    t->merge_mask = n_slots - 1;
}

int ps__bpe_add_merge(struct ps_tokenizer *t, const char *a, size_t alen, const char *b,
                      size_t blen, int32_t rank, const char **missing, size_t *missing_len)
{
    int32_t ia = ps__tok_find(t, a, alen), ib = ps__tok_find(t, b, blen);
    if (ia < 0 || ib < 0) {
        *missing = ia < 0 ? a : b;
        *missing_len = ia < 0 ? alen : blen;
        return -1;
    }
    char stackbuf[256];
    char *ab = alen + blen <= sizeof stackbuf ? stackbuf : ps_xmalloc(alen + blen);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int32_t iab = ps__tok_find(t, ab, alen + blen);
    if (ab != stackbuf)
        free(ab);
    if (iab < 0) {
        *missing = NULL; /* the merged token */
        *missing_len = 0;
        return -1;
    }
    if (!t->merges || (t->n_merges + 1) * 2 > t->merge_mask + 1)
        merge_grow(t);
    uint64_t k = pair_key(ia, ib), h = pair_hash(k);
    size_t j = (size_t)h & t->merge_mask;
    while (t->merge_fp[j] && t->merges[j].key != k)
        j = (j + 1) & t->merge_mask;
    if (!t->merge_fp[j])
        t->n_merges++;
    /* A repeated pair takes its later rank, as in encoder.py and HF. */
    t->merge_fp[j] = pair_fp(h);
    t->merges[j].key = k;
    t->merges[j].rank = rank;
    t->merges[j].id = iab;
    return 0;
}

/* ---- merging one pre-token --------------------------------------------- */

/* Words up to this many bytes merge by scanning instead of a heap. */
#define SMALL_WORD 16

/* Per-call scratch, grown to the longest pre-token seen. */
struct bpe_work {
    int32_t *sym;   /* symbol id at each start position, -2 = merged away */
    int32_t *nxt;   /* next live position, -1 = end */
    int32_t *prv;   /* previous live position, -1 = start */
    int32_t *prank; /* rank of the pair starting here, -1 = none */
    int32_t *pid;   /* id that pair merges into */
    uint64_t *heap; /* (rank << 32 | position), min-heap */
    size_t cap;     /* positions allocated (heap: 3 * cap) */
    size_t n_heap;
};

static void work_reserve(struct bpe_work *w, size_t n)
{
    if (n <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n)
        cap *= 2;
    free(w->sym);
    free(w->nxt);
    free(w->prv);
    free(w->prank);
    free(w->pid);
    free(w->heap);
    w->sym = ps_xmalloc(cap * sizeof *w->sym);
    w->nxt = ps_xmalloc(cap * sizeof *w->nxt);
    w->prv = ps_xmalloc(cap * sizeof *w->prv);
    w->prank = ps_xmalloc(cap * sizeof *w->prank);
    w->pid = ps_xmalloc(cap * sizeof *w->pid);
    w->heap = ps_xmalloc(3 * cap * sizeof *w->heap);
    w->cap = cap;
}

static void work_release(struct bpe_work *w)
{
    free(w->prank);
    free(w->pid);
    free(w->sym);
    free(w->nxt);
    free(w->prv);
    free(w->heap);
}

static void heap_push(struct bpe_work *w, uint64_t v)
{
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p] <= v)
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = v;
}

/* Moves v down from slot i of a heap of n entries. */
static void sift_down(uint64_t *heap, size_t n, size_t i, uint64_t v)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap[c + 1] < heap[c])
            c++;
        if (v <= heap[c])
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = v;
}

static uint64_t heap_pop(struct bpe_work *w)
{
    uint64_t top = w->heap[0], v = w->heap[--w->n_heap];
    if (w->n_heap)
        sift_down(w->heap, w->n_heap, 0, v);
    return top;
}

/* Looks up the pair starting at pos, remembers its rank and result, and
 * queues it.  A pair never recurs at a position once it changed (symbols
 * only grow), so a queued entry is current iff its rank equals prank. */
static int set_pair(const struct ps_tokenizer *t, struct bpe_work *w, int32_t pos)
{
    int32_t q = w->nxt[pos];
    const struct ps__merge *m = q >= 0 ? merge_find(t, w->sym[pos], w->sym[q]) : NULL;
    if (!m) {
        w->prank[pos] = -1;
        return 0;
    }
    w->prank[pos] = m->rank;
    w->pid[pos] = m->id;
    return 1;
}

static void push_pair(const struct ps_tokenizer *t, struct bpe_work *w, int32_t pos)
{
    if (set_pair(t, w, pos))
        heap_push(w, (uint64_t)(uint32_t)w->prank[pos] << 32 | (uint32_t)pos);
}

static int emit_symbol(const struct ps_tokenizer *t, int32_t id, unsigned char byte,
                       struct ps__ids *out, struct ps_err *err)
{
    if (id >= 0) {
        ps__ids_push(out, id);
        return PS_OK;
    }
    if (t->unk >= 0) {
        ps__ids_push(out, t->unk);
        return PS_OK;
    }
    return ps_err_set(err, PS_ERR_UNSUPPORTED,
                      "byte 0x%02x has no token in the vocabulary and there is no unknown token",
                      byte);
}

static int bpe_word(const struct ps_tokenizer *t, const unsigned char *s, size_t n,
                    struct bpe_work *w, struct ps__ids *out, struct ps_err *err)
{
    if (n == 1)
        return emit_symbol(t, t->byte_id[s[0]], s[0], out, err);
    work_reserve(w, n);
    for (size_t i = 0; i < n; i++) {
        w->sym[i] = t->byte_id[s[i]];
        w->prv[i] = (int32_t)i - 1;
        w->nxt[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    /* First round: every adjacent byte pair, from the dense table (the
     * lookups are independent, so they overlap), then one heapify. */
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        struct ps__bpair bp = t->byte_pairs[(unsigned)s[i] << 8 | s[i + 1]];
        w->prank[i] = bp.rank;
        w->pid[i] = bp.id;
        if (bp.rank >= 0)
            w->heap[nh++] = (uint64_t)(uint32_t)bp.rank << 32 | (uint32_t)i;
    }
    w->prank[n - 1] = -1;
    if (n <= SMALL_WORD) {
        /* Short words (most English ones): scanning for the leftmost lowest
         * rank beats heap upkeep; the order of merges is the same. */
        for (;;) {
            int32_t best = -1, best_rank = INT32_MAX;
            for (int32_t i = 0; i >= 0; i = w->nxt[i])
                if (w->prank[i] >= 0 && w->prank[i] < best_rank) {
                    best_rank = w->prank[i];
                    best = i;
                }
            if (best < 0)
                break;
            int32_t q = w->nxt[best];
            w->sym[best] = w->pid[best];
            w->sym[q] = -2;
            w->nxt[best] = w->nxt[q];
            if (w->nxt[q] >= 0)
                w->prv[w->nxt[q]] = best;
            if (w->prv[best] >= 0)
                set_pair(t, w, w->prv[best]);
            set_pair(t, w, best);
        }
        goto emit;
    }
    for (size_t i = nh / 2; i-- > 0;)
        sift_down(w->heap, nh, i, w->heap[i]);
    w->n_heap = nh;
    while (w->n_heap) {
        uint64_t top = heap_pop(w);
        int32_t rank = (int32_t)(top >> 32), pos = (int32_t)(uint32_t)top;
        if (w->sym[pos] < 0 || w->prank[pos] != rank)
            continue; /* merged away, or the pair at pos changed since */
        int32_t q = w->nxt[pos];
        w->sym[pos] = w->pid[pos];
        w->sym[q] = -2;
        w->nxt[pos] = w->nxt[q];
        if (w->nxt[q] >= 0)
            w->prv[w->nxt[q]] = pos;
        if (w->prv[pos] >= 0)
            push_pair(t, w, w->prv[pos]);
        push_pair(t, w, pos);
    }
emit:
    for (int32_t i = 0; i >= 0; i = w->nxt[i]) {
        int rc = emit_symbol(t, w->sym[i], s[i], out, err);
        if (rc)
            return rc;
    }
    return PS_OK;
}

/* ---- the pre-tokenizer ------------------------------------------------- */

/* Decodes a code point of already validated UTF-8. */
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

/* End of the run of code points of class k starting at byte j. */
static size_t run_end(const unsigned char *s, size_t j, size_t len, int k)
{
    while (j < len) {
        if (s[j] < 0x80) {
            if (bmp_class[s[j]] != k)
                break;
            j++;
            continue;
        }
        size_t n;
        uint32_t cp = dec(s + j, &n);
        if (cls(cp) != k)
            break;
        j += n;
    }
    return j;
}

/* Length of the contraction ('s 't 're 've 'm 'll 'd) at s[i], or 0. */
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

/* Byte length of the next pre-token starting at s[i] (i < len). */
static size_t next_pretoken(const unsigned char *s, size_t i, size_t len)
{
    size_t c = contraction(s, i, len);
    if (c)
        return c;
    size_t n0;
    uint32_t c0 = dec(s + i, &n0);
    int k0 = cls(c0);
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": a single space joins
     * the run that follows it. */
    if (c0 == ' ' && i + 1 < len) {
        size_t n1;
        int k1 = cls(dec(s + i + 1, &n1));
        if (k1 != PS__UC_SPACE)
            return run_end(s, i + 1 + n1, len, k1) - i;
    }
    if (k0 != PS__UC_SPACE)
        return run_end(s, i + n0, len, k0) - i;
    /* Whitespace: "\s+(?!\S)" takes the run but leaves its last character
     * to the token that follows; a single whitespace character before a
     * non-space falls through to "\s+". */
    size_t j = i + n0, last = i;
    while (j < len) {
        size_t n;
        uint32_t cp = dec(s + j, &n);
        if (cls(cp) != PS__UC_SPACE)
            break;
        last = j;
        j += n;
    }
    if (j == len || last == i)
        return j - i;
    return last - i;
}

int ps__bpe_encode(const struct ps_tokenizer *t, const char *text, size_t len, size_t limit,
                   struct ps__ids *out, struct ps_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    struct bpe_work w = {0};
    int rc = PS_OK;
    char *tmp = NULL;
    if (t->add_prefix_space && len > 0 && s[0] != ' ') {
        tmp = ps_xmalloc(len + 1);
        tmp[0] = ' ';
        memcpy(tmp + 1, text, len);
        s = (const unsigned char *)tmp;
        len++;
    }
    size_t i = 0;
    while (i < len && rc == PS_OK && !(limit && out->n >= limit)) {
        size_t n = next_pretoken(s, i, len);
        rc = bpe_word(t, s + i, n, &w, out, err);
        i += n;
    }
    work_release(&w);
    free(tmp);
    return rc;
}

int ps__bpe_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n, struct ps_buf *out,
                   struct ps_err *err)
{
    struct ps_buf raw;
    ps_buf_init(&raw);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->tok[id]) {
            ps_buf_release(&raw);
            return ps_err_set(err, PS_ERR_BAD_INPUT, "unknown token id %d at position %zu",
                              (int)id, i);
        }
        ps_buf_append(&raw, t->bytes + t->bytes_off[id], t->bytes_len[id]);
    }
    ps__utf8_append_lossy(out, (const unsigned char *)raw.data, raw.len);
    ps_buf_release(&raw);
    return PS_OK;
}
