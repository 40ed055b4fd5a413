/*
 * lda_corpus.c - the token-list corpus LDA trains on: building it word by
 * word with vocabulary pruning, and LDA-C bag-of-words files (the format
 * the benchmarks hand to gensim and scikit-learn, so every library sees the
 * same prepared corpus).
 */
#include "persona/lda.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"

void ps_corpus_release(struct ps_corpus *c)
{
    if (!c)
        return;
    free(c->doc_off);
    free(c->words);
    ps_strmap_free(c->vocab);
    memset(c, 0, sizeof *c);
}

struct ps_vocab_params ps_vocab_default_params(void)
{
    struct ps_vocab_params p = { 5, 0.5, 50000 };
    return p;
}

struct ps_corpus_builder {
    struct ps_strmap *raw;      /* every word seen */
    uint32_t *toks;             /* raw ids, all documents */
    size_t n_toks, toks_cap;
    uint64_t *doc_off;          /* n_docs + 1 */
    size_t n_docs, off_cap;
    uint32_t *df;               /* per raw id: documents containing it */
    uint32_t *last_doc;         /* per raw id: last document seen + 1 */
    size_t df_cap;
};

struct ps_corpus_builder *ps_corpus_builder_new(void)
{
    struct ps_corpus_builder *b = ps_xcalloc(1, sizeof *b);
    b->raw = ps_strmap_new();
    b->doc_off = ps_xgrow(NULL, &b->off_cap, 1, sizeof *b->doc_off);
    b->doc_off[0] = 0;
    return b;
}

void ps_corpus_builder_free(struct ps_corpus_builder *b)
{
    if (!b)
        return;
    ps_strmap_free(b->raw);
    free(b->toks);
    free(b->doc_off);
    free(b->df);
    free(b->last_doc);
    free(b);
}

void ps_corpus_builder_add(struct ps_corpus_builder *b, const char *word, size_t len)
{
    int inserted = 0;
    uint32_t id = ps_strmap_intern(b->raw, word, len, &inserted);
    if (inserted) {
        size_t cap = b->df_cap;
        b->df = ps_xgrow(b->df, &cap, (size_t)id + 1, sizeof *b->df);
        b->last_doc = ps_xgrow(b->last_doc, &b->df_cap, (size_t)id + 1, sizeof *b->last_doc);
        b->df[id] = 0;
        b->last_doc[id] = 0;
    }
    if (b->last_doc[id] != b->n_docs + 1) {
        b->last_doc[id] = (uint32_t)(b->n_docs + 1);
        b->df[id]++;
    }
    b->toks = ps_xgrow(b->toks, &b->toks_cap, b->n_toks + 1, sizeof *b->toks);
    b->toks[b->n_toks++] = id;
}

void ps_corpus_builder_end_doc(struct ps_corpus_builder *b)
{
    PS_ASSERT(b->n_docs < UINT32_MAX - 1);
    b->doc_off = ps_xgrow(b->doc_off, &b->off_cap, b->n_docs + 2, sizeof *b->doc_off);
    b->doc_off[++b->n_docs] = b->n_toks;
}

static const uint32_t *sort_df;  /* qsort context (single-threaded use) */

static int by_df_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sort_df[x] != sort_df[y])
        return sort_df[x] > sort_df[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ps_corpus_builder_finish(struct ps_corpus_builder *b, const struct ps_vocab_params *p,
                             struct ps_corpus *out, struct ps_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(p->max_df > 0 && p->max_df <= 1))
        return ps_err_set(err, PS_ERR_USAGE, "max document fraction must be in (0, 1], got %g",
                          p->max_df);
    uint32_t n_raw = ps_strmap_count(b->raw);
    double max_docs = p->max_df * (double)b->n_docs;
    uint32_t *keep = ps_xmalloc(((size_t)n_raw + 1) * sizeof *keep);
    uint32_t n_keep = 0;
    for (uint32_t i = 0; i < n_raw; i++)
        if (b->df[i] >= p->min_df && (double)b->df[i] <= max_docs)
            keep[n_keep++] = i;
    if (p->max_vocab && n_keep > p->max_vocab) {
        sort_df = b->df;
        qsort(keep, n_keep, sizeof *keep, by_df_desc);
        n_keep = p->max_vocab;
        qsort(keep, n_keep, sizeof *keep, by_id);
    }
    if (n_keep == 0) {
        free(keep);
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "no word is left after vocabulary pruning (%u distinct words in %zu "
                          "documents, min_df %u, max_df %g)\n"
                          "hint: try a smaller --min-df or a larger --max-df", n_raw, b->n_docs,
                          p->min_df, p->max_df);
    }
    uint32_t *map = ps_xmalloc(((size_t)n_raw + 1) * sizeof *map);
    for (uint32_t i = 0; i < n_raw; i++)
        map[i] = UINT32_MAX;
    out->vocab = ps_strmap_new();
    for (uint32_t j = 0; j < n_keep; j++) {
        size_t len;
        const char *w = ps_strmap_key(b->raw, keep[j], &len);
        map[keep[j]] = ps_strmap_intern(out->vocab, w, len, NULL);
    }
    out->n_docs = (uint32_t)b->n_docs;
    out->n_words = n_keep;
    out->doc_off = ps_xmalloc((b->n_docs + 1) * sizeof *out->doc_off);
    size_t n = 0;
    for (size_t i = 0; i < b->n_toks; i++)
        n += map[b->toks[i]] != UINT32_MAX;
    out->words = ps_xmalloc((n ? n : 1) * sizeof *out->words);
    n = 0;
    out->doc_off[0] = 0;
    for (size_t d = 0; d < b->n_docs; d++) {
        for (uint64_t i = b->doc_off[d]; i < b->doc_off[d + 1]; i++)
            if (map[b->toks[i]] != UINT32_MAX)
                out->words[n++] = map[b->toks[i]];
        out->doc_off[d + 1] = n;
    }
    out->n_tokens = n;
    free(map);
    free(keep);
    return PS_OK;
}

/* ---- LDA-C files ------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ps_corpus_write_ldac(const struct ps_corpus *c, const char *path, struct ps_err *err)
{
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    uint32_t *tmp = NULL;
    size_t cap = 0;
    for (uint32_t d = 0; d < c->n_docs; d++) {
        size_t L = (size_t)(c->doc_off[d + 1] - c->doc_off[d]);
        tmp = ps_xgrow(tmp, &cap, L + 1, sizeof *tmp);
        memcpy(tmp, c->words + c->doc_off[d], L * sizeof *tmp);
        qsort(tmp, L, sizeof *tmp, cmp_u32);
        size_t n_unique = 0;
        for (size_t i = 0; i < L; i++)
            n_unique += i == 0 || tmp[i] != tmp[i - 1];
        fprintf(f.fp, "%zu", n_unique);
        for (size_t i = 0; i < L;) {
            size_t j = i;
            while (j < L && tmp[j] == tmp[i])
                j++;
            fprintf(f.fp, " %u:%zu", tmp[i], j - i);
            i = j;
        }
        fputc('\n', f.fp);
    }
    free(tmp);
    return ps_afile_commit(&f, err);
}

int ps_corpus_write_vocab(const struct ps_corpus *c, const char *path, struct ps_err *err)
{
    if (!c->vocab)
        return ps_err_set(err, PS_ERR_USAGE, "corpus has no vocabulary");
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < c->n_words; i++)
        fprintf(f.fp, "%s\n", ps_strmap_key(c->vocab, i, NULL));
    return ps_afile_commit(&f, err);
}

int ps_corpus_read_ldac(struct ps_corpus *c, const char *path, uint32_t n_words,
                        struct ps_err *err)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    /* Counts expand into tokens, so a tiny hostile file could ask for
     * gigabytes: cap the total at 1,000 tokens per byte of file (real
     * bag-of-words files hold a few bytes per token). */
    struct stat st;
    size_t max_tok = (size_t)1 << 20;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0)
        max_tok += (size_t)st.st_size * 1000;
    size_t off_cap = 0, w_cap = 0, n_docs = 0, n_tok = 0;
    uint64_t *off = ps_xgrow(NULL, &off_cap, 1, sizeof *off);
    uint32_t *words = NULL;
    off[0] = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = PS_OK;
    while ((got = getline(&line, &line_cap, f)) > 0) {
        lineno++;
        char *s = line, *end;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (end == s || errno) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: expected a pair count", path, lineno);
            break;
        }
        s = end;
        for (unsigned long i = 0; i < n && rc == PS_OK; i++) {
            unsigned long id = strtoul(s, &end, 10);
            if (end == s || *end != ':' || id >= n_words) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: bad pair %lu (ids must be < %u)",
                                path, lineno, i + 1, n_words);
                break;
            }
            s = end + 1;
            unsigned long cnt = strtoul(s, &end, 10);
            if (end == s || cnt > 1000000) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: bad count in pair %lu", path,
                                lineno, i + 1);
                break;
            }
            s = end;
            if (cnt > max_tok - n_tok) {
                rc = ps_err_set(err, PS_ERR_TOO_BIG,
                                "%s:%ld: more than %zu tokens in a %lld-byte file", path,
                                lineno, max_tok, (long long)st.st_size);
                break;
            }
            words = ps_xgrow(words, &w_cap, n_tok + cnt + 1, sizeof *words);
            for (unsigned long k = 0; k < cnt; k++)
                words[n_tok++] = (uint32_t)id;
        }
        if (rc)
            break;
        off = ps_xgrow(off, &off_cap, n_docs + 2, sizeof *off);
        off[++n_docs] = n_tok;
    }
    free(line);
    fclose(f);
    if (rc) {
        free(off);
        free(words);
        return rc;
    }
    c->n_docs = (uint32_t)n_docs;
    c->n_words = n_words;
    c->n_tokens = n_tok;
    c->doc_off = off;
    c->words = words ? words : ps_xmalloc(sizeof *words);
    return PS_OK;
}
