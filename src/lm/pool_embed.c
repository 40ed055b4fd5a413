/*
 * pool_embed.c - pooling hidden states into one vector per text, and the
 * batched embedding driver (see lm.h).
 *
 * Mean pooling is the seed design's method (mean over the text's own
 * tokens; for BERT [CLS] and [SEP] included, the sentence-transformers
 * convention).  Long texts are truncated to the window, or with chunking
 * cut into consecutive windows whose pooled vectors are averaged (each
 * window weighted equally), and only then normalised.
 */
#include "lm_internal.h"
#include "persona/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ps_lm_pool_parse(const char *s)
{
    if (strcmp(s, "mean") == 0)
        return PS_LM_POOL_MEAN;
    if (strcmp(s, "cls") == 0)
        return PS_LM_POOL_CLS;
    if (strcmp(s, "last") == 0)
        return PS_LM_POOL_LAST;
    return -1;
}

const char *ps_lm_pool_name(enum ps_lm_pool p)
{
    return p == PS_LM_POOL_CLS ? "cls" : p == PS_LM_POOL_LAST ? "last" : "mean";
}

static void normalize(float *v, int C)
{
    double s = 0;
    for (int i = 0; i < C; i++)
        s += (double)v[i] * v[i];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (int i = 0; i < C; i++)
            v[i] *= inv;
    }
}

void ps_lm_pool_rows(const float *hidden, int n, int C, enum ps_lm_pool pool, int norm,
                     float *out)
{
    if (n <= 0) {
        memset(out, 0, (size_t)C * sizeof *out);
        return;
    }
    if (pool == PS_LM_POOL_CLS) {
        memcpy(out, hidden, (size_t)C * sizeof *out);
    } else if (pool == PS_LM_POOL_LAST) {
        memcpy(out, hidden + (size_t)(n - 1) * (size_t)C, (size_t)C * sizeof *out);
    } else {
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int t = 0; t < n; t++)
                s += hidden[(size_t)t * (size_t)C + (size_t)i];
            out[i] = (float)(s / n);
        }
    }
    if (norm)
        normalize(out, C);
}

struct ps_lm_embed_params ps_lm_embed_default_params(void)
{
    struct ps_lm_embed_params p = {PS_LM_POOL_MEAN, 0, 0, 0};
    return p;
}

/* One window of one text. */
struct window {
    size_t text;       /* index of the text */
    size_t begin;      /* first content token */
    int n_content;     /* content tokens */
};

static int cmp_window_len(const void *a, const void *b)
{
    const struct window *x = a, *y = b;
    if (x->n_content != y->n_content)
        return x->n_content < y->n_content ? -1 : 1;
    return x->text < y->text ? -1 : x->text > y->text;
}

int ps_lm_embed_ids(struct ps_lm_ctx *ctx, const int32_t *const *ids, const size_t *n_ids,
                    size_t n, const struct ps_lm_embed_params *p, float *out,
                    struct ps_err *err)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    const int C = c->d_model, bert = c->arch == PS_LM_BERT;
    const int special = bert ? 2 : 0; /* [CLS] and [SEP] around each window */
    int win = p->max_tokens > 0 ? p->max_tokens : ctx->p.max_tokens;
    if (win > ctx->p.max_tokens)
        win = ctx->p.max_tokens;
    if (win <= special)
        return ps_err_set(err, PS_ERR_USAGE, "window of %d tokens is too small", win);
    const int content_max = win - special;
    int rc = PS_OK;

    /* Plan the windows. */
    size_t n_win = 0, cap = n + 1;
    struct window *w = ps_xmalloc(cap * sizeof *w);
    int *n_per_text = ps_xcalloc(n ? n : 1, sizeof *n_per_text);
    for (size_t i = 0; i < n; i++) {
        if (bert && (n_ids[i] < 2))
            { rc = ps_err_set(err, PS_ERR_USAGE, "text %zu: BERT ids must hold [CLS] and [SEP]", i); goto done; }
        size_t content = n_ids[i] - (size_t)special;
        size_t first = bert ? 1 : 0;
        if (content == 0 && !bert)
            continue; /* empty GPT-2 text: zero vector */
        size_t n_chunks = p->chunk ? (content + (size_t)content_max - 1) / (size_t)content_max : 1;
        if (n_chunks == 0)
            n_chunks = 1; /* BERT [CLS][SEP] only */
        for (size_t k = 0; k < n_chunks; k++) {
            w = ps_xgrow(w, &cap, n_win + 1, sizeof *w);
            size_t b = k * (size_t)content_max;
            size_t len = content - b < (size_t)content_max ? content - b : (size_t)content_max;
            w[n_win].text = i;
            w[n_win].begin = first + b;
            w[n_win].n_content = (int)len;
            n_win++;
        }
        n_per_text[i] = (int)n_chunks;
    }
    qsort(w, n_win, sizeof *w, cmp_window_len);
    memset(out, 0, n * (size_t)C * sizeof *out);

    /* Batches of similar length. */
    int B = ctx->p.max_batch;
    int32_t *bids = ps_xmalloc((size_t)B * (size_t)win * sizeof *bids);
    int32_t *lens = ps_xmalloc((size_t)B * sizeof *lens);
    float *vec = ps_xmalloc((size_t)C * sizeof *vec);
    for (size_t at = 0; at < n_win && !rc;) {
        int nb = 0;
        long packed = 0;
        while (at + (size_t)nb < n_win && nb < B) {
            int len = w[at + nb].n_content + special;
            if (packed + len > ctx->p.max_packed)
                break;
            packed += len;
            nb++;
        }
        if (nb == 0)
            { rc = ps_err_set(err, PS_ERR_USAGE, "a window does not fit the context"); break; }
        for (int r = 0; r < nb; r++) {
            const struct window *wr = &w[at + (size_t)r];
            const int32_t *src = ids[wr->text];
            int32_t *dst = bids + (size_t)r * (size_t)win;
            int k = 0;
            if (bert)
                dst[k++] = src[0];
            memcpy(dst + k, src + wr->begin, (size_t)wr->n_content * sizeof *dst);
            k += wr->n_content;
            if (bert)
                dst[k++] = src[n_ids[wr->text] - 1];
            lens[r] = k;
        }
        struct ps_lm_batch batch = {.n_rows = nb, .stride = win, .ids = bids, .lens = lens};
        if ((rc = ps_lm_forward(ctx, &batch, err)))
            break;
        for (int r = 0; r < nb; r++) {
            const struct window *wr = &w[at + (size_t)r];
            int nt;
            const float *hs = ps_lm_hidden(ctx, r, &nt);
            ps_lm_pool_rows(hs, nt, C, p->pool, 0, vec);
            float *o = out + wr->text * (size_t)C;
            float wt = 1.0f / (float)n_per_text[wr->text];
            for (int i = 0; i < C; i++)
                o[i] += n_per_text[wr->text] == 1 ? vec[i] : wt * vec[i];
        }
        at += (size_t)nb;
    }
    if (!rc && p->normalize)
        for (size_t i = 0; i < n; i++)
            normalize(out + i * (size_t)C, C);
    free(bids);
    free(lens);
    free(vec);
done:
    free(w);
    free(n_per_text);
    return rc;
}
