/*
 * lda_io.c - LDA model files.
 *
 * Layout (little-endian, no padding):
 *   magic "PSLDA\r\n\x1a" (8)    the \r\n and ^Z catch text-mode mangling
 *   u32 version (1)
 *   u32 K, u32 V, i32 sweeps, i32 sampler, i32 mh_steps, i32 optimize_alpha,
 *   i32 burn_in, u64 seed, u64 n_tokens, f64 beta, f64 alpha (initial)
 *   prep: i32 lang, i32 min_word_len, i32 min_han_len, i32 keep_numbers,
 *         u32 min_df, u32 max_vocab, f64 max_df
 *   f64 alpha[K]                 (optimised values when asked)
 *   u32 has_vocab, u64 vocab_bytes, then V x (u32 len, bytes) if has_vocab
 *   i32 counts[V][K]
 *   u64 checksum                 ps_hash64 of every byte before it
 * Loading trusts nothing: every size is checked against the file length
 * before anything is allocated, and every field against its range.
 */
#include "persona/lda.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "lda_internal.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"

#define MAGIC "PSLDA\r\n\x1a"
#define VERSION 1u
#define CHECK_SEED 0x50534C4441ULL
#define MAX_WORD_BYTES 1024

static void put(struct ps_buf *b, const void *p, size_t n) { ps_buf_append(b, p, n); }
static void put_u32(struct ps_buf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(struct ps_buf *b, int32_t v) { put(b, &v, 4); }
static void put_u64(struct ps_buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f64(struct ps_buf *b, double v) { put(b, &v, 8); }

int ps_lda_save(const struct ps_lda *m, const char *path, struct ps_err *err)
{
    struct ps_buf b;
    ps_buf_init(&b);
    put(&b, MAGIC, 8);
    put_u32(&b, VERSION);
    put_u32(&b, (uint32_t)m->K);
    put_u32(&b, m->V);
    put_i32(&b, m->sweeps);
    put_i32(&b, (int32_t)m->p.sampler);
    put_i32(&b, m->p.mh_steps);
    put_i32(&b, m->p.optimize_alpha);
    put_i32(&b, m->p.burn_in);
    put_u64(&b, m->p.seed);
    put_u64(&b, m->n_tokens);
    put_f64(&b, m->beta);
    put_f64(&b, m->p.alpha);
    put_i32(&b, m->p.prep.lang);
    put_i32(&b, m->p.prep.min_word_len);
    put_i32(&b, m->p.prep.min_han_len);
    put_i32(&b, m->p.prep.keep_numbers);
    put_u32(&b, m->p.prep.min_df);
    put_u32(&b, m->p.prep.max_vocab);
    put_f64(&b, m->p.prep.max_df);
    for (int k = 0; k < m->K; k++)
        put_f64(&b, m->alpha[k]);
    put_u32(&b, m->vocab != NULL);
    uint64_t vbytes = 0;
    if (m->vocab)
        for (uint32_t i = 0; i < m->V; i++) {
            size_t len;
            ps_strmap_key(m->vocab, i, &len);
            vbytes += 4 + len;
        }
    put_u64(&b, vbytes);
    if (m->vocab)
        for (uint32_t i = 0; i < m->V; i++) {
            size_t len;
            const char *w = ps_strmap_key(m->vocab, i, &len);
            put_u32(&b, (uint32_t)len);
            put(&b, w, len);
        }
    put(&b, m->nwk, (size_t)m->V * m->K * sizeof *m->nwk);
    put_u64(&b, ps_hash64(b.data, b.len, CHECK_SEED));

    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc == PS_OK) {
        if (fwrite(b.data, 1, b.len, f.fp) != b.len) {
            ps_afile_abort(&f);
            rc = ps_err_set(err, PS_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        } else {
            rc = ps_afile_commit(&f, err);
        }
    }
    ps_buf_release(&b);
    return rc;
}

/* A bounds-checked cursor over the loaded bytes. */
struct cur {
    const unsigned char *p;
    size_t len, pos;
};

static int take(struct cur *c, void *out, size_t n)
{
    if (n > c->len - c->pos)
        return -1;
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

#define BAD(...) do { rc = ps_err_set(err, PS_ERR_BAD_INPUT, __VA_ARGS__); goto done; } while (0)

int ps_lda_load(struct ps_lda **out, const char *path, struct ps_err *err)
{
    *out = NULL;
    int rc = PS_OK;
    struct ps_lda *m = NULL;
    unsigned char *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ps_err_set(err, PS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "'%s' is not a regular file", path);
    }
    /* Fixed header: 8 + 4 * 8 + 8 * 4 + 4 * 6 + 8 = 104 bytes. */
    const size_t header = 8 + 4 + 4 * 7 + 8 * 2 + 8 * 2 + 4 * 6 + 8;
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        fclose(fp);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: not a persona LDA model (bad magic)", path);
    }
    if (size > ((uint64_t)1 << 37)) {
        fclose(fp);
        return ps_err_set(err, PS_ERR_TOO_BIG, "%s: file is too large for a model (%llu bytes)",
                          path, (unsigned long long)size);
    }
    data = malloc(size);
    if (!data) {
        fclose(fp);
        return ps_err_set(err, PS_ERR_NOMEM, "%s: cannot allocate %llu bytes", path,
                          (unsigned long long)size);
    }
    if (fread(data, 1, size, fp) != size) {
        fclose(fp);
        free(data);
        return ps_err_set(err, PS_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    }
    fclose(fp);

    struct cur c = { data, size, 0 };
    if (memcmp(data, MAGIC, 8) != 0)
        BAD("%s: not a persona LDA model (bad magic)", path);
    c.pos = 8;
    if (size < header + 8)
        BAD("%s: truncated: %llu bytes, the header alone needs %zu", path,
            (unsigned long long)size, header + 8);
    uint32_t version, K, V, has_vocab, min_df, max_vocab;
    int32_t sweeps, sampler, mh, opt, burn, lang, mwl, mhl, keepn;
    uint64_t seed, n_tokens, vbytes;
    double beta, alpha0, max_df;
    take(&c, &version, 4);
    if (version != VERSION)
        BAD("%s: unsupported model version %u (this build reads %u)", path, version, VERSION);
    take(&c, &K, 4); take(&c, &V, 4); take(&c, &sweeps, 4); take(&c, &sampler, 4);
    take(&c, &mh, 4); take(&c, &opt, 4); take(&c, &burn, 4);
    take(&c, &seed, 8); take(&c, &n_tokens, 8); take(&c, &beta, 8); take(&c, &alpha0, 8);
    take(&c, &lang, 4); take(&c, &mwl, 4); take(&c, &mhl, 4); take(&c, &keepn, 4);
    take(&c, &min_df, 4); take(&c, &max_vocab, 4); take(&c, &max_df, 8);
    if (K < 1 || K > PS_LDA_MAX_K)
        BAD("%s: field \"K\": %u is out of range 1..%d", path, K, PS_LDA_MAX_K);
    if (V < 1 || V > (1u << 31))
        BAD("%s: field \"V\": %u is out of range 1..2^31", path, V);
    if ((uint64_t)V * K > ((uint64_t)1 << 34))
        BAD("%s: fields \"V\" x \"K\": %llu counts is more than 2^34", path,
            (unsigned long long)V * K);
    if (sweeps < 0)
        BAD("%s: field \"sweeps\": %d is negative", path, sweeps);
    if (sampler < 0 || sampler > 2)
        BAD("%s: field \"sampler\": %d is not 0, 1 or 2", path, sampler);
    if (mh < 1 || mh > 64)
        BAD("%s: field \"mh_steps\": %d is out of range 1..64", path, mh);
    if (opt != 0 && opt != 1)
        BAD("%s: field \"optimize_alpha\": %d is not 0 or 1", path, opt);
    if (burn < 0)
        BAD("%s: field \"burn_in\": %d is negative", path, burn);
    if (!(beta > 0 && beta <= PS_LDA_MAX_PRIOR))
        BAD("%s: field \"beta\": %g is not a positive number up to %g", path, beta,
            PS_LDA_MAX_PRIOR);
    if (!(alpha0 > 0 && alpha0 <= PS_LDA_MAX_PRIOR))
        BAD("%s: field \"alpha\": %g is not a positive number up to %g", path, alpha0,
            PS_LDA_MAX_PRIOR);
    if (lang < 0 || lang > 2)
        BAD("%s: field \"lang\": %d is not 0, 1 or 2", path, lang);
    if (mwl < 1 || mwl > 1000 || mhl < 1 || mhl > 1000)
        BAD("%s: field \"min_word_len\": %d/%d is out of range 1..1000", path, mwl, mhl);
    if (keepn != 0 && keepn != 1)
        BAD("%s: field \"keep_numbers\": %d is not 0 or 1", path, keepn);
    if (!(max_df > 0 && max_df <= 1))
        BAD("%s: field \"max_df\": %g is not in (0, 1]", path, max_df);
    if (n_tokens >= (uint64_t)INT32_MAX)
        BAD("%s: field \"n_tokens\": %llu is out of range", path, (unsigned long long)n_tokens);

    /* Sizes before any allocation: alpha, vocab header, counts, checksum. */
    uint64_t need = (uint64_t)c.pos + 8ull * K + 4 + 8;
    if (need > size)
        BAD("%s: truncated: %llu bytes, need at least %llu", path, (unsigned long long)size,
            (unsigned long long)need);
    struct ps_lda_params p = ps_lda_default_params();
    p.k = (int)K;
    p.iters = sweeps;
    p.alpha = alpha0;
    p.beta = beta;
    p.seed = seed;
    p.sampler = (enum ps_lda_sampler)sampler;
    p.mh_steps = mh;
    p.optimize_alpha = opt;
    p.burn_in = burn;
    p.prep.lang = lang;
    p.prep.min_word_len = mwl;
    p.prep.min_han_len = mhl;
    p.prep.keep_numbers = keepn;
    p.prep.min_df = min_df;
    p.prep.max_vocab = max_vocab;
    p.prep.max_df = max_df;
    double *alpha = ps_xmalloc((size_t)K * sizeof *alpha);
    double asum = 0;
    for (uint32_t k = 0; k < K; k++) {
        take(&c, &alpha[k], 8);
        if (!(alpha[k] > 0 && alpha[k] <= PS_LDA_MAX_PRIOR)) {
            double bad_a = alpha[k];
            free(alpha);
            BAD("%s: field \"alpha[%u]\": %g is not a positive number up to %g", path, k,
                bad_a, PS_LDA_MAX_PRIOR);
        }
        asum += alpha[k];
    }
    take(&c, &has_vocab, 4);
    take(&c, &vbytes, 8);
    if (has_vocab > 1) {
        free(alpha);
        BAD("%s: field \"has_vocab\": %u is not 0 or 1", path, has_vocab);
    }
    uint64_t counts_bytes = (uint64_t)V * K * 4;
    if (vbytes > size || (uint64_t)c.pos + vbytes + counts_bytes + 8 != size ||
        (has_vocab && vbytes < 5ull * V) || (!has_vocab && vbytes)) {
        free(alpha);
        BAD("%s: size mismatch: %llu bytes, but K = %u, V = %u and %llu vocabulary bytes "
            "need %llu (truncated or corrupt)", path, (unsigned long long)size, K, V,
            (unsigned long long)vbytes,
            (unsigned long long)((uint64_t)c.pos + vbytes + counts_bytes + 8));
    }
    {
        uint64_t stored;
        memcpy(&stored, data + size - 8, 8);
        if (stored != ps_hash64(data, size - 8, CHECK_SEED)) {
            free(alpha);
            BAD("%s: checksum mismatch (the file is corrupt)", path);
        }
    }
    m = ps__lda_new(&p, V);
    free(m->alpha);
    m->alpha = alpha;
    m->alpha_sum = asum;
    m->sweeps = sweeps;
    m->n_tokens = n_tokens;
    if (has_vocab) {
        m->vocab = ps_strmap_new();
        uint64_t end = c.pos + vbytes;
        for (uint32_t i = 0; i < V; i++) {
            uint32_t len;
            if (end - c.pos < 4 || take(&c, &len, 4))
                BAD("%s: vocabulary: word %u runs past the vocabulary block", path, i + 1);
            if (len == 0 || len > MAX_WORD_BYTES || len > end - c.pos)
                BAD("%s: vocabulary: word %u has a bad length %u", path, i + 1, len);
            const char *w = (const char *)data + c.pos;
            if (!valid_utf8(w, len))
                BAD("%s: vocabulary: word %u is not valid UTF-8", path, i + 1);
            for (uint32_t j = 0; j < len; j++)
                if (w[j] == '\n' || w[j] == '\r' || w[j] == '\0')
                    BAD("%s: vocabulary: word %u contains a line break or NUL", path, i + 1);
            int inserted = 0;
            ps_strmap_intern(m->vocab, w, len, &inserted);
            if (!inserted)
                BAD("%s: vocabulary: word %u \"%.*s\" is a duplicate", path, i + 1, (int)len, w);
            c.pos += len;
        }
        if (c.pos != end)
            BAD("%s: vocabulary: %llu bytes left over after %u words", path,
                (unsigned long long)(end - c.pos), V);
    }
    memcpy(m->nwk, data + c.pos, (size_t)counts_bytes);
    uint64_t total = 0;
    for (uint32_t w = 0; w < V; w++)
        for (uint32_t k = 0; k < K; k++) {
            int32_t v = m->nwk[(size_t)w * K + k];
            if (v < 0)
                BAD("%s: counts: negative count %d at word %u, topic %u", path, v, w, k);
            m->nk[k] += v;
            total += (uint64_t)v;
        }
    if (total != n_tokens)
        BAD("%s: counts sum to %llu but the header says %llu tokens", path,
            (unsigned long long)total, (unsigned long long)n_tokens);
done:
    free(data);
    if (rc) {
        ps_lda_free(m);
        return rc;
    }
    *out = m;
    return PS_OK;
}
