/*
 * vectors.c - text vectors per user for `persona run` (vectors.h).
 * Streams the texts table in blocks: tokenise, ps_lm_embed_ids, add each
 * vector to its user's double sum; at the end writes the means.  Memory:
 * users x d_model doubles plus one block of texts.
 */
#include "vectors.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/npy.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512

int ps__vectors_run(const struct ps__vectors_params *p, struct ps_pool *pool, long *n_texts,
                    long *n_users, long *n_bad, int *dim, struct ps_err *err)
{
    struct ps_lm *m = NULL;
    struct ps_tokenizer *tok = NULL;
    struct ps_lm_ctx *ctx = NULL;
    struct ps_reader *r = NULL;
    struct ps_strmap *users = ps_strmap_new();
    double *sum = NULL;
    long *count = NULL;
    size_t cap_u = 0, cap_c = 0;
    int32_t *ids[BLOCK];
    size_t n_ids[BLOCK];
    uint32_t owner[BLOCK];
    float *vec = NULL, *row = NULL;
    size_t nb = 0;
    *n_texts = *n_users = *n_bad = 0;
    int rc = ps_lm_load(&m, p->model_dir, err);
    if (!rc)
        rc = ps_tokenizer_load(&tok, p->model_dir, err);
    if (rc)
        goto done;
    const struct ps_lm_config *cfg = ps_lm_get_config(m);
    const int C = cfg->d_model;
    *dim = C;
    int max_tokens = p->max_tokens > 0 && p->max_tokens < cfg->n_ctx ? p->max_tokens : cfg->n_ctx;
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = p->batch > 0 ? p->batch : 16;
    cp.max_tokens = max_tokens;
    long packed = (long)cp.max_batch * max_tokens;
    cp.max_packed = (int)(packed < 4096 ? packed : (max_tokens > 4096 ? max_tokens : 4096));
    cp.pool = pool;
    if ((rc = ps_lm_ctx_new(&ctx, m, &cp, err)))
        goto done;
    struct ps_lm_embed_params ep = ps_lm_embed_default_params();
    ep.pool = p->pool;
    ep.normalize = p->normalize;
    ep.max_tokens = max_tokens;
    struct ps_reader_params rp = ps_reader_default_params();
    if ((rc = ps_reader_open(&r, p->texts_csv, &rp, err)))
        goto done;
    int ucol = ps_reader_column_index(r, "user_id"), tcol = ps_reader_column_index(r, "text");
    if (ucol < 0 || tcol < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: needs columns user_id and text", p->texts_csv);
        goto done;
    }
    vec = ps_xmalloc((size_t)BLOCK * C * sizeof *vec);
    int eof = 0;
    while (!rc && !eof) {
        nb = 0;
        while (nb < BLOCK) {
            int s = ps_reader_next(r);
            if (s == PS_DONE) {
                eof = 1;
                break;
            }
            if (s != PS_OK) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
                break;
            }
            size_t ul, tl;
            const char *u = ps_reader_field(r, ucol, &ul), *t = ps_reader_field(r, tcol, &tl);
            if (!u || !t)
                continue;
            struct ps_err e2 = {0};
            ids[nb] = NULL;
            n_ids[nb] = 0;
            if (ps_tokenizer_encode(tok, t, tl, (size_t)max_tokens, &ids[nb], &n_ids[nb], &e2) != PS_OK ||
                n_ids[nb] == 0) {
                free(ids[nb]);
                (*n_bad)++;
                continue;
            }
            int inserted;
            uint32_t id = ps_strmap_intern(users, u, ul, &inserted);
            if (inserted) {
                sum = ps_xgrow(sum, &cap_u, ((size_t)id + 1) * (size_t)C, sizeof *sum);
                memset(sum + (size_t)id * C, 0, (size_t)C * sizeof *sum);
                count = ps_xgrow(count, &cap_c, (size_t)id + 1, sizeof *count);
                count[id] = 0;
            }
            owner[nb++] = id;
        }
        if (rc || nb == 0)
            break;
        rc = ps_lm_embed_ids(ctx, (const int32_t *const *)ids, n_ids, nb, &ep, vec, err);
        for (size_t i = 0; !rc && i < nb; i++) {
            uint32_t u = owner[i];
            for (int c = 0; c < C; c++)
                sum[(size_t)u * C + c] += vec[i * C + c];
            count[u]++;
            (*n_texts)++;
        }
        for (size_t i = 0; i < nb; i++)
            free(ids[i]);
        nb = 0;
    }
    for (size_t i = 0; i < nb; i++)
        free(ids[i]);
    if (rc)
        goto done;

    /* Means, then the sidecars, then the matrix (its presence = complete). */
    uint32_t nu = ps_strmap_count(users);
    *n_users = (long)nu;
    row = ps_xmalloc(((size_t)nu ? nu : 1) * (size_t)C * sizeof *row);
    for (uint32_t u = 0; u < nu; u++) {
        for (int c = 0; c < C; c++)
            row[(size_t)u * C + c] = (float)(sum[(size_t)u * C + c] / (double)count[u]);
        if (p->normalize)
            ps_lm_pool_rows(row + (size_t)u * C, 1, C, PS_LM_POOL_MEAN, 1, row + (size_t)u * C);
    }
    size_t l = strlen(p->out_npy);
    struct ps_buf path;
    ps_buf_init(&path);
    ps_buf_printf(&path, "%.*s.ids.txt", (int)(l - 4), p->out_npy);
    struct ps_afile f;
    rc = ps_afile_open(&f, path.data, err);
    if (!rc) {
        for (uint32_t u = 0; u < nu; u++)
            fprintf(f.fp, "%s\n", ps_strmap_key(users, u, NULL));
        rc = ps_afile_commit(&f, err);
    }
    if (!rc) {
        ps_buf_reset(&path);
        ps_buf_printf(&path, "%.*s.json", (int)(l - 4), p->out_npy);
        rc = ps_afile_open(&f, path.data, err);
    }
    if (!rc) {
        const char *base = strrchr(p->out_npy, '/');
        base = base ? base + 1 : p->out_npy;
        fputs("{\"columns\": [", f.fp);
        for (int c = 0; c < C; c++)
            fprintf(f.fp, "%s\"dim_%d\"", c ? ", " : "", c);
        fprintf(f.fp, "], \"rows\": %u, \"ids\": \"%.*s.ids.txt\", \"model\": ", nu,
                (int)(strlen(base) - 4), base);
        struct ps_buf js;
        ps_buf_init(&js);
        ps_buf_json_str(&js, p->model_dir, strlen(p->model_dir));
        fprintf(f.fp, "%s, \"pool\": \"%s\", \"normalize\": %s}\n", js.data,
                ps_lm_pool_name(p->pool), p->normalize ? "true" : "false");
        ps_buf_release(&js);
        rc = ps_afile_commit(&f, err);
    }
    ps_buf_release(&path);
    if (!rc)
        rc = ps_npy_write_f32(p->out_npy, row, nu, (size_t)C, err);
done:
    if (r)
        ps_reader_close(r);
    ps_lm_ctx_free(ctx);
    ps_tokenizer_free(tok);
    ps_lm_free(m);
    ps_strmap_free(users);
    free(sum);
    free(count);
    free(vec);
    free(row);
    return rc;
}
