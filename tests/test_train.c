/*
 * test_train.c - GPT-2 training: gradients against PyTorch autograd
 * (tests/fixtures/train, made by make_grads.py from lmref's independent
 * PyTorch GPT-2), finite differences, AdamW against torch.optim.AdamW,
 * checkpoints that the engine loads, resume state, determinism.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "persona/lm.h"
#include "persona/pool.h"
#include "persona/train.h"
#include "test.h"

#define TINY "lmref/models/gpt2-tiny-f32"

struct fixture {
    json_t *index;
    int B, T;
    int32_t *inputs, *targets;
    float *grads;  /* loss first */
    size_t n_grads;
    float *adamw;
    size_t n_adamw;
};

static float *read_floats(const char *path, size_t *n)
{
    size_t len = 0;
    char *d = test_read_file(path, &len);
    *n = d ? len / 4 : 0;
    return (float *)d;
}

static int fixture_load(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    json_error_t e;
    f->index = json_load_file("tests/fixtures/train/index.json", 0, &e);
    if (!f->index)
        return -1;
    f->B = (int)json_integer_value(json_object_get(f->index, "B"));
    f->T = (int)json_integer_value(json_object_get(f->index, "T"));
    f->inputs = malloc(sizeof(int32_t) * f->B * f->T);
    f->targets = malloc(sizeof(int32_t) * f->B * f->T);
    json_t *tok = json_object_get(f->index, "tokens");
    for (int b = 0; b < f->B; b++)
        for (int t = 0; t < f->T; t++) {
            json_t *row = json_array_get(tok, (size_t)b);
            f->inputs[b * f->T + t] = (int32_t)json_integer_value(json_array_get(row, (size_t)t));
            f->targets[b * f->T + t] =
                (int32_t)json_integer_value(json_array_get(row, (size_t)t + 1));
        }
    f->grads = read_floats("tests/fixtures/train/grads.bin", &f->n_grads);
    f->adamw = read_floats("tests/fixtures/train/adamw.bin", &f->n_adamw);
    return f->grads && f->adamw ? 0 : -1;
}

static void fixture_release(struct fixture *f)
{
    json_decref(f->index);
    free(f->inputs);
    free(f->targets);
    free(f->grads);
    free(f->adamw);
}

static struct ps_train_model *load_tiny(void)
{
    struct ps_train_model *m = NULL;
    struct ps_err err;
    ps_err_clear(&err);
    if (ps_train_model_load(&m, test_shared(TINY), &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return NULL;
    }
    return m;
}

/* Compares every gradient with the fixture; returns the worst
 * max|a - b| / max|b| over tensors. */
static double compare_grads(struct ps_train_model *m, const struct fixture *f, int verbose)
{
    double worst = 0;
    json_t *tensors = json_object_get(f->index, "tensors");
    CHECK_INT(json_array_size(tensors), ps_train_n_tensors(m));
    for (size_t i = 0; i < ps_train_n_tensors(m); i++) {
        const struct ps_train_tensor *t = ps_train_tensor(m, i);
        json_t *j = json_array_get(tensors, i);
        CHECK_STR(t->name, json_string_value(json_object_get(j, "name")));
        size_t off = (size_t)json_integer_value(json_object_get(j, "offset"));
        if (off + t->n_elems > f->n_grads) {
            CHECK(0);
            continue;
        }
        const float *ref = f->grads + off;
        double md = 0, mr = 0;
        for (size_t k = 0; k < t->n_elems; k++) {
            md = fmax(md, fabs((double)t->grad[k] - ref[k]));
            mr = fmax(mr, fabs((double)ref[k]));
        }
        double rel = md / fmax(mr, 1e-30);
        if (verbose)
            fprintf(stderr, "    %-22s max|diff| %.3e  max|grad| %.3e  rel %.2e\n", t->name, md,
                    mr, rel);
        worst = fmax(worst, rel);
    }
    return worst;
}

static void grads_case(int threads)
{
    if (!test_have_shared())
        return;
    struct fixture f;
    CHECK(fixture_load(&f) == 0);
    struct ps_train_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m || !f.grads) {
        fixture_release(&f);
        return;
    }
    struct ps_pool *pool = threads > 1 ? ps_pool_new(threads) : NULL;
    struct ps_err err;
    ps_err_clear(&err);
    CHECK_INT(ps_train_reserve(m, f.B, f.T, pool, &err), PS_OK);
    float loss = 0;
    ps_train_zero_grad(m);
    CHECK_INT(ps_train_forward(m, f.inputs, f.targets, f.B, f.T, &loss, &err), PS_OK);
    CHECK_REL(loss, f.grads[0], 1e-6);
    ps_train_backward(m, 1.0f);
    double worst = compare_grads(m, &f, threads == 1);
    fprintf(stderr, "    %d thread(s): loss %.7f (torch %.7f), worst gradient rel %.2e\n",
            threads, loss, f.grads[0], worst);
    CHECK(worst <= 1e-4);
    ps_train_model_free(m);
    ps_pool_free(pool);
    fixture_release(&f);
}

TEST(train_grads_match_torch) { grads_case(1); }
TEST(train_grads_match_torch_threads) { grads_case(2); }

/* Central differences in double-accumulated loss, on the parameters with
 * the largest gradients of a few tensors. */
TEST(train_finite_difference)
{
    if (!test_have_shared())
        return;
    struct fixture f;
    CHECK(fixture_load(&f) == 0);
    struct ps_train_model *m = load_tiny();
    if (!m) {
        CHECK(0);
        fixture_release(&f);
        return;
    }
    struct ps_err err;
    ps_err_clear(&err);
    CHECK_INT(ps_train_reserve(m, f.B, f.T, NULL, &err), PS_OK);
    float loss;
    ps_train_zero_grad(m);
    ps_train_forward(m, f.inputs, f.targets, f.B, f.T, &loss, &err);
    ps_train_backward(m, 1.0f);
    const char *names[] = {"wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.weight",
                           "h.1.attn.c_attn.bias", "h.1.mlp.c_fc.weight", "ln_f.bias"};
    int checked = 0;
    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
        const struct ps_train_tensor *t = NULL;
        for (size_t i = 0; i < ps_train_n_tensors(m); i++)
            if (strcmp(ps_train_tensor(m, i)->name, names[n]) == 0)
                t = ps_train_tensor(m, i);
        CHECK(t != NULL);
        if (!t)
            continue;
        size_t best = 0;
        for (size_t k = 1; k < t->n_elems; k++)
            if (fabsf(t->grad[k]) > fabsf(t->grad[best]))
                best = k;
        float g = t->grad[best], p0 = t->param[best], h = 1e-2f;
        float lp, lm;
        t->param[best] = p0 + h;
        ps_train_forward(m, f.inputs, f.targets, f.B, f.T, &lp, &err);
        t->param[best] = p0 - h;
        ps_train_forward(m, f.inputs, f.targets, f.B, f.T, &lm, &err);
        t->param[best] = p0;
        double fd = ((double)lp - lm) / (2.0 * h);
        fprintf(stderr, "    %-22s [%zu] analytic %.6e  finite diff %.6e\n", t->name, best,
                (double)g, fd);
        CHECK_NEAR(fd, g, 2e-2 * fabs(g) + 2e-5);
        checked++;
    }
    CHECK_INT(checked, 7);
    ps_train_model_free(m);
    fixture_release(&f);
}

TEST(train_adamw_matches_torch)
{
    if (!test_have_shared())
        return;
    struct fixture f;
    CHECK(fixture_load(&f) == 0);
    struct ps_train_model *m = load_tiny();
    if (!m || !f.adamw) {
        CHECK(0);
        ps_train_model_free(m);
        fixture_release(&f);
        return;
    }
    CHECK_INT(f.n_adamw, ps_train_n_params(m));
    struct ps_adamw_params ap = {
        .beta1 = (float)json_real_value(json_object_get(f.index, "beta1")),
        .beta2 = (float)json_real_value(json_object_get(f.index, "beta2")),
        .eps = (float)json_real_value(json_object_get(f.index, "eps")),
        .weight_decay = (float)json_real_value(json_object_get(f.index, "weight_decay")),
    };
    float lr = (float)json_real_value(json_object_get(f.index, "lr"));
    for (int s = 0; s < 2; s++) {
        memcpy(ps_train_grads(m), f.grads + 1, ps_train_n_params(m) * sizeof(float));
        ps_adamw_step(m, &ap, lr);
    }
    CHECK_INT(ps_adamw_t(m), 2);
    const float *p = ps_train_params(m);
    double md = 0;
    for (size_t i = 0; i < ps_train_n_params(m) && i < f.n_adamw; i++)
        md = fmax(md, fabs((double)p[i] - f.adamw[i]));
    fprintf(stderr, "    AdamW 2 steps: max|param - torch| %.3e\n", md);
    CHECK(md <= 2e-6);
    ps_train_model_free(m);
    fixture_release(&f);
}

TEST(train_lr_schedule)
{
    /* warmup: lr (s+1)/w; cosine from lr to min_lr */
    CHECK_NEAR(ps_train_lr(0, 100, 10, 1e-3f, 1e-4f), 1e-4, 1e-9);
    CHECK_NEAR(ps_train_lr(9, 100, 10, 1e-3f, 1e-4f), 1e-3, 1e-9);
    CHECK_NEAR(ps_train_lr(10, 100, 10, 1e-3f, 1e-4f), 1e-3, 1e-9);
    CHECK_NEAR(ps_train_lr(55, 100, 10, 1e-3f, 1e-4f), 5.5e-4, 1e-9);
    CHECK_NEAR(ps_train_lr(100, 100, 10, 1e-3f, 1e-4f), 1e-4, 1e-9);
}

TEST(train_clip_grad_norm)
{
    struct ps_train_config c = {.n_layer = 1, .n_head = 1, .n_embd = 2, .n_ctx = 2, .n_vocab = 2};
    struct ps_train_model *m = NULL;
    struct ps_err err;
    ps_err_clear(&err);
    CHECK_INT(ps_train_model_init(&m, &c, 1, &err), PS_OK);
    float *g = ps_train_grads(m);
    ps_train_zero_grad(m);
    g[0] = 3;
    g[1] = 4;
    CHECK_NEAR(ps_train_clip_grad_norm(m, 1.0), 5.0, 1e-12);
    CHECK_NEAR(g[0], 0.6, 1e-6);
    CHECK_NEAR(g[1], 0.8, 1e-6);
    CHECK_NEAR(ps_train_clip_grad_norm(m, 0), 1.0, 1e-6);
    ps_train_model_free(m);
}

/* A synthetic token stream for the loop tests. */
static void make_data(struct ps_train_data *d, int V)
{
    memset(d, 0, sizeof *d);
    d->n_train = 3000;
    d->n_val = 400;
    d->train = malloc(d->n_train * sizeof(int32_t));
    d->val = malloc(d->n_val * sizeof(int32_t));
    uint32_t x = 7;
    for (size_t i = 0; i < d->n_train + d->n_val; i++) {
        x = x * 1103515245u + 12345u;
        int32_t t = (int32_t)((i % 7 == 0) ? (x >> 16) % (uint32_t)V : (i * 13) % (size_t)V);
        if (i < d->n_train)
            d->train[i] = t;
        else
            d->val[i - d->n_train] = t;
    }
}

static char *read_log(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/train_log.csv", dir);
    return test_read_file(path, NULL);
}

TEST(train_loop_deterministic_and_resume)
{
    if (!test_have_shared())
        return;
    struct ps_train_data d;
    make_data(&d, 1000);
    struct ps_train_params p = ps_train_default_params();
    p.n_steps = 6;
    p.batch = 2;
    p.seq = 16;
    p.grad_accum = 2;
    p.lr = 1e-3f;
    p.warmup = 2;
    p.eval_every = 3;
    p.val_batches = 2;
    struct ps_pool *pool = ps_pool_new(2);
    struct ps_err err;
    ps_err_clear(&err);
    char dirs[3][1024];
    for (int r = 0; r < 2; r++) {
        snprintf(dirs[r], sizeof dirs[r], "%s/run%d", test_tmpdir(), r);
        struct ps_train_model *m = load_tiny();
        p.out_dir = dirs[r];
        p.tokenizer_dir = test_shared(TINY);
        CHECK_INT(ps_train_run(m, &d, &p, NULL, pool, NULL, NULL, &err), PS_OK);
        ps_train_model_free(m);
    }
    char *l0 = read_log(dirs[0]), *l1 = read_log(dirs[1]);
    CHECK(l0 && l1 && strcmp(l0, l1) == 0);
    /* the validation loss goes down on this repetitive stream */
    if (l0) {
        double vals[8];
        int nv = 0;
        for (const char *q = strchr(l0, '\n'); q && q[1] && nv < 8; q = strchr(q + 1, '\n')) {
            const char *c = q + 1;
            for (int k = 0; k < 4 && c; k++)
                c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
            if (c && *c != '\n')
                vals[nv++] = strtod(c, NULL);
        }
        CHECK_INT(nv, 2);
        CHECK(nv == 2 && vals[1] < vals[0]);
    }
    /* stop after 3 steps (6-step schedule), resume from the checkpoint:
     * the same log as the straight run */
    snprintf(dirs[2], sizeof dirs[2], "%s/run2", test_tmpdir());
    struct ps_train_model *m = load_tiny();
    p.out_dir = dirs[2];
    p.stop_at = 3;
    CHECK_INT(ps_train_run(m, &d, &p, NULL, pool, NULL, NULL, &err), PS_OK);
    ps_train_model_free(m);
    m = NULL;
    CHECK_INT(ps_train_model_load(&m, dirs[2], &err), PS_OK);
    struct ps_train_state st;
    CHECK_INT(ps_train_state_load(m, &st, dirs[2], &err), PS_OK);
    CHECK_INT(st.step, 3);
    CHECK_INT(ps_adamw_t(m), 3);
    p.stop_at = 0;
    p.batch = 99; /* ignored: the state's settings win */
    CHECK_INT(ps_train_run(m, &d, &p, &st, pool, NULL, NULL, &err), PS_OK);
    ps_train_model_free(m);
    char *l2 = read_log(dirs[2]);
    CHECK(l0 && l2 && strcmp(l0, l2) == 0);
    if (l0 && l2 && strcmp(l0, l2))
        fprintf(stderr, "straight:\n%s\nresumed:\n%s\n", l0, l2);
    free(l2);
    free(l0);
    free(l1);
    ps_pool_free(pool);
    ps_train_data_release(&d);
}

/* A checkpoint written by ps_train_save_hf loads in the inference engine
 * (ps_lm_load) and gives the trainer's next-token distribution. */
static void checkpoint_case(int f16, double tol)
{
    struct ps_train_model *m = load_tiny();
    if (!m) {
        CHECK(0);
        return;
    }
    struct ps_err err;
    ps_err_clear(&err);
    /* move the weights off the reference checkpoint first */
    struct ps_train_config c = *ps_train_get_config(m);
    ps_train_model_free(m);
    CHECK_INT(ps_train_model_init(&m, &c, 99, &err), PS_OK);
    const char *dir = test_tmp(f16 ? "ckpt16" : "ckpt32");
    CHECK_INT(ps_train_save_hf(m, dir, test_shared(TINY), f16, &err), PS_OK);
    int32_t ids[2][10] = {{5, 17, 300, 999, 2, 40, 41, 42, 7, 1},
                          {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}};
    CHECK_INT(ps_train_reserve(m, 2, 10, NULL, &err), PS_OK);
    float loss;
    CHECK_INT(ps_train_forward(m, &ids[0][0], &ids[0][0], 2, 10, &loss, &err), PS_OK);
    const float *probs = ps_train_probs(m);
    struct ps_lm *lm = NULL;
    CHECK_INT(ps_lm_load(&lm, dir, &err), PS_OK);
    if (!lm) {
        fprintf(stderr, "  %s\n", err.msg);
        ps_train_model_free(m);
        return;
    }
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 2;
    cp.max_tokens = 10;
    cp.logits = 1;
    struct ps_lm_ctx *ctx = NULL;
    CHECK_INT(ps_lm_ctx_new(&ctx, lm, &cp, &err), PS_OK);
    int32_t lens[2] = {10, 10};
    struct ps_lm_batch b = {.n_rows = 2, .stride = 10, .ids = &ids[0][0], .lens = lens};
    CHECK_INT(ps_lm_forward(ctx, &b, &err), PS_OK);
    int V = c.n_vocab;
    double md = 0;
    for (int r = 0; r < 2; r++) {
        const float *lg = ps_lm_logits(ctx, r);
        double mx = lg[0], sum = 0;
        for (int i = 1; i < V; i++)
            mx = fmax(mx, lg[i]);
        for (int i = 0; i < V; i++)
            sum += exp(lg[i] - mx);
        const float *p = probs + ((size_t)r * 10 + 9) * V;
        for (int i = 0; i < V; i++)
            md = fmax(md, fabs(exp(lg[i] - mx) / sum - p[i]) / fmax(p[i], 1e-3));
    }
    fprintf(stderr, "    %s checkpoint: max relative probability difference %.2e\n",
            f16 ? "F16" : "F32", md);
    CHECK(md <= tol);
    ps_lm_ctx_free(ctx);
    ps_lm_free(lm);
    ps_train_model_free(m);
}

TEST(train_checkpoint_loads_in_engine)
{
    if (!test_have_shared())
        return;
    checkpoint_case(0, 1e-4);
    checkpoint_case(1, 2e-2);
}

TEST(train_state_validation)
{
    if (!test_have_shared())
        return;
    struct ps_train_model *m = load_tiny();
    if (!m) {
        CHECK(0);
        return;
    }
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_train_state st = {.step = 7, .n_steps = 10, .seed = 3, .batch = 2, .seq = 8,
                                .grad_accum = 1, .lr = 1e-3f, .warmup = 1};
    ps_adamw_prepare(m, 7);
    ps_adamw_m(m)[5] = 0.25f;
    const char *dir = test_tmp("state");
    CHECK_INT(ps_train_state_save(m, &st, dir, &err), PS_OK);
    struct ps_train_state back;
    ps_train_params(m)[3] = 42.0f;
    CHECK_INT(ps_train_state_load(m, &back, dir, &err), PS_OK);
    CHECK_INT(back.step, 7);
    CHECK_INT(back.seed, 3);
    CHECK_INT(ps_adamw_t(m), 7);
    CHECK(ps_adamw_m(m)[5] == 0.25f);
    CHECK(ps_train_params(m)[3] != 42.0f);
    char path[1100];
    snprintf(path, sizeof path, "%s/trainer_state.bin", dir);
    size_t len = 0;
    char *data = test_read_file(path, &len);
    CHECK(data && len > 100);
    if (!data) {
        ps_train_model_free(m);
        return;
    }
    struct { const char *what; size_t at; int truncate; const char *msg; } cases[] = {
        {"flipped byte", 1000, 0, "checksum mismatch"},
        {"magic", 0, 0, "bad magic"},
        {"version", 8, 0, "version"},
        {"truncated", 0, 1, "truncated"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *bad = malloc(len);
        memcpy(bad, data, len);
        size_t n = len;
        if (cases[k].truncate)
            n = len - 4;
        else
            bad[cases[k].at] ^= 0x40;
        FILE *f = fopen(path, "wb");
        fwrite(bad, 1, n, f);
        fclose(f);
        CHECK_INT(ps_train_state_load(m, &back, dir, &err), PS_ERR_BAD_INPUT);
        CHECK_CONTAINS(err.msg, cases[k].msg);
        CHECK_CONTAINS(err.msg, "trainer_state.bin");
        free(bad);
    }
    /* a state of another shape */
    struct ps_train_config c = *ps_train_get_config(m);
    c.n_embd = 32;
    struct ps_train_model *m2 = NULL;
    CHECK_INT(ps_train_model_init(&m2, &c, 1, &err), PS_OK);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    CHECK_INT(ps_train_state_load(m2, &back, dir, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "n_embd=64");
    ps_train_model_free(m2);
    free(data);
    ps_train_model_free(m);
}

TEST(train_bad_input)
{
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_train_config c = {.n_layer = 1, .n_head = 3, .n_embd = 8, .n_ctx = 4, .n_vocab = 5};
    struct ps_train_model *m = NULL;
    CHECK_INT(ps_train_model_init(&m, &c, 1, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "multiple of n_head");
    c.n_head = 2;
    CHECK_INT(ps_train_model_init(&m, &c, 1, &err), PS_OK);
    CHECK_INT(ps_train_reserve(m, 1, 5, NULL, &err), PS_ERR_USAGE);
    CHECK_INT(ps_train_reserve(m, 1, 4, NULL, &err), PS_OK);
    int32_t in[4] = {0, 1, 2, 5}, tg[4] = {1, 2, 3, 4};
    float loss;
    CHECK_INT(ps_train_forward(m, in, tg, 1, 4, &loss, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "token id 5 outside the vocabulary of 5");
    /* too little data for one window */
    struct ps_train_data d = {0};
    int32_t toks[3] = {1, 2, 3};
    d.train = toks;
    d.n_train = 3;
    struct ps_train_params p = ps_train_default_params();
    p.n_steps = 1;
    p.batch = 1;
    CHECK_INT(ps_train_run(m, &d, &p, NULL, NULL, NULL, NULL, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "too few for windows of 5");
    ps_train_model_free(m);
    struct ps_train_model *m3 = NULL;
    CHECK_INT(ps_train_model_load(&m3, test_tmp("no-such-model"), &err) != PS_OK, 1);
    CHECK(m3 == NULL);
}
