/*
 * test_gpt2.c - GPT-2 forward passes against ../shared/lmref (PyTorch
 * reference outputs): last hidden states, mean-pooled vectors and
 * next-token logits within 1e-4, one text at a time and as one padded
 * batch, for the F32, F16 and BF16 checkpoints.  Prints the largest
 * difference per tensor.  Token ids come from the expected files, so the
 * forward pass is tested independently of the tokenizer.
 */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#include "persona/gpt2.h"
#include "persona/lm.h"
#include "persona/pool.h"

#define TOL 1e-4

static json_t *load_expected(const char *name)
{
    char rel[256];
    json_error_t e;
    snprintf(rel, sizeof rel, "lmref/expected/%s.json", name);
    json_t *j = json_load_file(test_shared(rel), 0, &e);
    if (!j)
        fprintf(stderr, "  cannot load %s: %s\n", rel, e.text);
    return j;
}

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
    for (size_t r = 0; r < rows; r++) {
        double d = diff_1d(a + r * cols, json_array_get(arr, r), cols);
        if (!(d <= mx))
            mx = d;
    }
    return mx;
}

static int32_t *ids_of(json_t *item, int *n)
{
    json_t *a = json_object_get(item, "input_ids");
    *n = (int)json_array_size(a);
    int32_t *ids = malloc((size_t)(*n ? *n : 1) * sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return ids;
}

static void run_lmref(const char *name, int n_threads)
{
    char rel[256];
    struct ps_err err = {0};
    struct ps_lm *m = NULL;
    json_t *exp = load_expected(name);
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
    CHECK_INT(c->arch, PS_LM_GPT2);
    CHECK_INT(c->d_model, 64);
    struct ps_pool *pool = n_threads > 1 ? ps_pool_new(n_threads) : NULL;
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 8;
    cp.logits = 1;
    cp.pool = pool;
    struct ps_lm_ctx *ctx = NULL;
    CHECK_INT(ps_lm_ctx_new(&ctx, m, &cp, &err), 0);
    json_t *items = json_object_get(exp, "items");
    size_t n_items = json_array_size(items);
    CHECK_INT(n_items, 8);
    const int C = c->d_model, V = c->n_vocab;
    float *pooled = malloc((size_t)C * sizeof *pooled);
    float *single_logits = malloc(n_items * (size_t)V * sizeof *single_logits);
    double d_hidden = 0, d_mean = 0, d_logits = 0, d_batch = 0;
    int32_t *all = calloc(n_items * 128, sizeof *all);
    int32_t lens[8];

    for (size_t i = 0; i < n_items; i++) {
        json_t *it = json_array_get(items, i);
        int n;
        int32_t *ids = ids_of(it, &n);
        memcpy(all + i * 128, ids, (size_t)n * sizeof *ids);
        lens[i] = n;
        struct ps_lm_batch b = {.n_rows = 1, .stride = n, .ids = ids, .lens = &n};
        CHECK_INT(ps_lm_forward(ctx, &b, &err), 0);
        int nt;
        const float *hs = ps_lm_hidden(ctx, 0, &nt);
        CHECK_INT(nt, n);
        d_hidden = fmax(d_hidden, diff_2d(hs, json_object_get(it, "last_hidden_state"), (size_t)n, (size_t)C));
        ps_lm_pool_rows(hs, nt, C, PS_LM_POOL_MEAN, 0, pooled);
        d_mean = fmax(d_mean, diff_1d(pooled, json_object_get(it, "mean_pooled"), (size_t)C));
        const float *lg = ps_lm_logits(ctx, 0);
        d_logits = fmax(d_logits, diff_1d(lg, json_object_get(it, "next_token_logits"), (size_t)V));
        memcpy(single_logits + i * (size_t)V, lg, (size_t)V * sizeof *lg);
        /* The argmax matches the reference's top-1. */
        int best = 0;
        for (int k = 1; k < V; k++)
            if (lg[k] > lg[best])
                best = k;
        json_t *top = json_array_get(json_array_get(json_object_get(it, "next_token_top5"), 0), 0);
        CHECK_INT(best, json_integer_value(top));
        free(ids);
    }
    /* All texts as one right-padded batch. */
    struct ps_lm_batch b = {.n_rows = (int)n_items, .stride = 128, .ids = all, .lens = lens};
    double d_bhidden = 0, d_blogits = 0;
    CHECK_INT(ps_lm_forward(ctx, &b, &err), 0);
    for (size_t i = 0; i < n_items; i++) {
        json_t *it = json_array_get(items, i);
        int nt;
        const float *hs = ps_lm_hidden(ctx, (int)i, &nt);
        d_bhidden = fmax(d_bhidden, diff_2d(hs, json_object_get(it, "last_hidden_state"), (size_t)nt, (size_t)C));
        const float *lg = ps_lm_logits(ctx, (int)i);
        d_blogits = fmax(d_blogits, diff_1d(lg, json_object_get(it, "next_token_logits"), (size_t)V));
        for (int k = 0; k < V; k++)
            d_batch = fmax(d_batch, fabs(lg[k] - single_logits[i * (size_t)V + (size_t)k]));
    }
    fprintf(stderr, "  %s (%d thread%s): max|diff| hidden %.2e  mean_pooled %.2e  logits %.2e;"
            " padded batch: hidden %.2e  logits %.2e  (batch vs single %.2e)\n",
            name, n_threads, n_threads > 1 ? "s" : "", d_hidden, d_mean, d_logits, d_bhidden,
            d_blogits, d_batch);
    CHECK(d_hidden <= TOL);
    CHECK(d_mean <= TOL);
    CHECK(d_logits <= TOL);
    CHECK(d_bhidden <= TOL);
    CHECK(d_blogits <= TOL);
    CHECK(d_batch <= 1e-5);
    free(all);
    free(pooled);
    free(single_logits);
    ps_lm_ctx_free(ctx);
    ps_pool_free(pool);
    ps_lm_free(m);
    json_decref(exp);
}

TEST(gpt2_lmref_f32)
{
    run_lmref("gpt2-tiny-f32", 1);
}

TEST(gpt2_lmref_f32_threads)
{
    run_lmref("gpt2-tiny-f32", 2);
}

TEST(gpt2_lmref_f16)
{
    run_lmref("gpt2-tiny-f16", 2);
}

TEST(gpt2_lmref_bf16)
{
    run_lmref("gpt2-tiny-bf16", 1);
}

/* The embedding driver: length-sorted batches of 3 give each text's
 * reference mean; truncation to 8 tokens gives the mean of the reference's
 * first 8 hidden states (GPT-2 is causal, so a prefix's states do not
 * depend on what follows); chunking a text of at most 8 tokens is the
 * plain mean; normalisation gives unit rows. */
TEST(gpt2_embed_driver)
{
    struct ps_err err = {0};
    struct ps_lm *m = NULL;
    json_t *exp = load_expected("gpt2-tiny-f32");
    CHECK(exp != NULL);
    CHECK_INT(ps_lm_load(&m, test_shared("lmref/models/gpt2-tiny-f32"), &err), 0);
    if (!exp || !m) {
        json_decref(exp);
        ps_lm_free(m);
        return;
    }
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 3;
    struct ps_lm_ctx *ctx = NULL;
    CHECK_INT(ps_lm_ctx_new(&ctx, m, &cp, &err), 0);
    json_t *items = json_object_get(exp, "items");
    size_t n = json_array_size(items);
    int32_t *ids[8];
    size_t n_ids[8];
    for (size_t i = 0; i < n; i++) {
        int k;
        ids[i] = ids_of(json_array_get(items, i), &k);
        n_ids[i] = (size_t)k;
    }
    float *out = malloc(n * 64 * sizeof *out);
    struct ps_lm_embed_params ep = ps_lm_embed_default_params();
    CHECK_INT(ps_lm_embed_ids(ctx, (const int32_t *const *)ids, n_ids, n, &ep, out, &err), 0);
    double d_mean = 0, d_trunc = 0, d_chunk = 0, d_norm = 0;
    for (size_t i = 0; i < n; i++)
        d_mean = fmax(d_mean, diff_1d(out + i * 64, json_object_get(json_array_get(items, i), "mean_pooled"), 64));
    ep.max_tokens = 8;
    CHECK_INT(ps_lm_embed_ids(ctx, (const int32_t *const *)ids, n_ids, n, &ep, out, &err), 0);
    for (size_t i = 0; i < n; i++) {
        json_t *hs = json_object_get(json_array_get(items, i), "last_hidden_state");
        size_t k = n_ids[i] < 8 ? n_ids[i] : 8;
        for (int c = 0; c < 64; c++) {
            double s = 0;
            for (size_t t = 0; t < k; t++)
                s += json_number_value(json_array_get(json_array_get(hs, t), (size_t)c));
            d_trunc = fmax(d_trunc, fabs(out[i * 64 + (size_t)c] - s / (double)k));
        }
    }
    ep.chunk = 1;
    CHECK_INT(ps_lm_embed_ids(ctx, (const int32_t *const *)ids, n_ids, n, &ep, out, &err), 0);
    /* Text 7 ("refund") has 2 tokens: one window, the plain mean. */
    d_chunk = diff_1d(out + 7 * 64, json_object_get(json_array_get(items, 7), "mean_pooled"), 64);
    ep.chunk = 0;
    ep.max_tokens = 0;
    ep.normalize = 1;
    CHECK_INT(ps_lm_embed_ids(ctx, (const int32_t *const *)ids, n_ids, n, &ep, out, &err), 0);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < 64; c++)
            s += (double)out[i * 64 + (size_t)c] * out[i * 64 + (size_t)c];
        d_norm = fmax(d_norm, fabs(sqrt(s) - 1));
    }
    fprintf(stderr, "  embed driver: mean %.2e  truncated-8 %.2e  chunk %.2e  |norm-1| %.2e\n",
            d_mean, d_trunc, d_chunk, d_norm);
    CHECK(d_mean <= TOL);
    CHECK(d_trunc <= TOL);
    CHECK(d_chunk <= TOL);
    CHECK(d_norm <= 1e-6);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(out);
    ps_lm_ctx_free(ctx);
    ps_lm_free(m);
    json_decref(exp);
}
