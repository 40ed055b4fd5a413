/*
 * test_bert.c - BERT forward passes against ../shared/lmref (PyTorch
 * reference outputs): last hidden states, mean-pooled vectors ([CLS] and
 * [SEP] included), CLS vectors and pooler outputs within 1e-4, one text
 * at a time and as one padded batch, for the F32 (BertModel), F16
 * (BertForPreTraining: "bert." prefix, cls.* heads) and BF16 checkpoints.
 */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#include "persona/bert.h"
#include "persona/gpt2.h"
#include "persona/lm.h"
#include "persona/pool.h"

#define TOL 1e-4

static double diff_1d(const float *a, json_t *arr, size_t n)
{
    double mx = 0;
    if (json_array_size(arr) != n)
        return 1e9;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - json_number_value(json_array_get(arr, i)));
        if (!(d <= mx))
            mx = d;
    }
    return mx;
}

static double diff_2d(const float *a, json_t *arr, size_t rows, size_t cols)
{
    double mx = 0;
    if (json_array_size(arr) != rows)
        return 1e9;
    for (size_t r = 0; r < rows; r++)
        mx = fmax(mx, diff_1d(a + r * cols, json_array_get(arr, r), cols));
    return mx;
}

static void run_bert(const char *name, int n_threads)
{
    char rel[256];
    struct ps_err err = {0};
    struct ps_lm *m = NULL;
    json_error_t je;
    snprintf(rel, sizeof rel, "lmref/expected/%s.json", name);
    json_t *exp = json_load_file(test_shared(rel), 0, &je);
    CHECK(exp != NULL);
    if (!exp)
        return;
    snprintf(rel, sizeof rel, "lmref/models/%s", name);
    int rc = ps_lm_load(&m, test_shared(rel), &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        json_decref(exp);
        return;
    }
    const struct ps_lm_config *c = ps_lm_get_config(m);
    CHECK_INT(c->arch, PS_LM_BERT);
    CHECK(ps_lm_has_pooler(m));
    CHECK(ps_lm_bert_weights(m) != NULL);
    CHECK(ps_lm_gpt2_weights(m) == NULL);
    struct ps_pool *pool = n_threads > 1 ? ps_pool_new(n_threads) : NULL;
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 8;
    cp.pool = pool;
    struct ps_lm_ctx *ctx = NULL;
    CHECK_INT(ps_lm_ctx_new(&ctx, m, &cp, &err), 0);
    json_t *items = json_object_get(exp, "items");
    size_t n_items = json_array_size(items);
    CHECK_INT(n_items, 8);
    const int C = c->d_model;
    float pooled[64];
    double d_hidden = 0, d_mean = 0, d_cls = 0, d_pool = 0, d_bhidden = 0, d_bmean = 0, d_bpool = 0;
    int32_t *all = calloc(n_items * 128, sizeof *all);
    int32_t lens[8];
    for (size_t i = 0; i < n_items; i++) {
        json_t *it = json_array_get(items, i);
        json_t *ja = json_object_get(it, "input_ids");
        int n = (int)json_array_size(ja);
        for (int k = 0; k < n; k++)
            all[i * 128 + (size_t)k] = (int32_t)json_integer_value(json_array_get(ja, (size_t)k));
        lens[i] = n;
        struct ps_lm_batch b = {.n_rows = 1, .stride = n, .ids = all + i * 128, .lens = &n};
        CHECK_INT(ps_lm_forward(ctx, &b, &err), 0);
        int nt;
        const float *hs = ps_lm_hidden(ctx, 0, &nt);
        d_hidden = fmax(d_hidden, diff_2d(hs, json_object_get(it, "last_hidden_state"), (size_t)nt, (size_t)C));
        ps_lm_pool_rows(hs, nt, C, PS_LM_POOL_MEAN, 0, pooled);
        d_mean = fmax(d_mean, diff_1d(pooled, json_object_get(it, "mean_pooled"), (size_t)C));
        ps_lm_pool_rows(hs, nt, C, PS_LM_POOL_CLS, 0, pooled);
        d_cls = fmax(d_cls, diff_1d(pooled, json_object_get(it, "cls"), (size_t)C));
        d_pool = fmax(d_pool, diff_1d(ps_lm_pooler(ctx, 0), json_object_get(it, "pooler_output"), (size_t)C));
    }
    struct ps_lm_batch b = {.n_rows = (int)n_items, .stride = 128, .ids = all, .lens = lens};
    CHECK_INT(ps_lm_forward(ctx, &b, &err), 0);
    for (size_t i = 0; i < n_items; i++) {
        json_t *it = json_array_get(items, i);
        int nt;
        const float *hs = ps_lm_hidden(ctx, (int)i, &nt);
        d_bhidden = fmax(d_bhidden, diff_2d(hs, json_object_get(it, "last_hidden_state"), (size_t)nt, (size_t)C));
        ps_lm_pool_rows(hs, nt, C, PS_LM_POOL_MEAN, 0, pooled);
        d_bmean = fmax(d_bmean, diff_1d(pooled, json_object_get(it, "mean_pooled"), (size_t)C));
        d_bpool = fmax(d_bpool, diff_1d(ps_lm_pooler(ctx, (int)i), json_object_get(it, "pooler_output"), (size_t)C));
    }
    fprintf(stderr, "  %s (%d thread%s): max|diff| hidden %.2e  mean_pooled %.2e  cls %.2e  pooler %.2e;"
            " padded batch: hidden %.2e  mean %.2e  pooler %.2e\n", name, n_threads,
            n_threads > 1 ? "s" : "", d_hidden, d_mean, d_cls, d_pool, d_bhidden, d_bmean, d_bpool);
    CHECK(d_hidden <= TOL);
    CHECK(d_mean <= TOL);
    CHECK(d_cls <= TOL);
    CHECK(d_pool <= TOL);
    CHECK(d_bhidden <= TOL);
    CHECK(d_bmean <= TOL);
    CHECK(d_bpool <= TOL);
    free(all);
    ps_lm_ctx_free(ctx);
    ps_pool_free(pool);
    ps_lm_free(m);
    json_decref(exp);
}

TEST(bert_lmref_f32)
{
    run_bert("bert-tiny-f32", 1);
}

TEST(bert_lmref_f16)
{
    run_bert("bert-tiny-f16", 2);
}

TEST(bert_lmref_bf16)
{
    run_bert("bert-tiny-bf16", 2);
}
