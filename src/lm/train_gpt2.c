/*
 * train_gpt2.c - GPT-2 training forward and backward passes (after llm.c's
 * train_gpt2.c), kept in Hugging Face's Conv1D layout (W is [in, out]).
 *
 * Legend: B rows, T positions, C channels, NH heads, hs = C / NH, F = 4C,
 * V vocabulary, L layers, BT = B * T.
 *
 * Threads: matrix products go to OpenBLAS; LayerNorm, gelu_new, the
 * cross-entropy rows and attention (one task per row and head) run on the
 * borrowed pool in fixed ranges; every reduction over rows (bias and
 * LayerNorm parameter gradients, embedding scatter) is serial, so a run is
 * bit-identical for a given thread count.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/gpt2.h"
#include "persona/lm.h"
#include "persona/pool.h"
#include "persona/rng.h"
#include "persona/train.h"
#include "train_internal.h"

/* ---- parameter table ----------------------------------------------------- */

enum { LN1W, LN1B, QKVW, QKVB, PROJW, PROJB, LN2W, LN2B, FCW, FCB, FC2W, FC2B, N_PER_LAYER };

static const char *const layer_names[N_PER_LAYER] = {
    "ln_1.weight",       "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
    "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
};

static void add_tensor(struct ps_train_model *m, const char *name, int n_dims, int64_t d0,
                       int64_t d1, int decay, size_t *off)
{
    struct ps_train_tensor *t = &m->tensors[m->n_tensors++];
    t->name = ps_xstrdup(name);
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = n_dims == 2 ? d1 : 0;
    t->n_elems = (size_t)d0 * (size_t)(n_dims == 2 ? d1 : 1);
    t->decay = decay;
    t->param = (float *)(uintptr_t)*off; /* fixed up once the block exists */
    *off += t->n_elems;
}

static int check_config(const struct ps_train_config *c, struct ps_err *err)
{
    if (c->n_layer < 1 || c->n_layer > 256 || c->n_head < 1 || c->n_embd < 1 ||
        c->n_embd > 65536 || c->n_embd % c->n_head || c->n_ctx < 2 || c->n_ctx > 65536 ||
        c->n_vocab < 2 || c->n_vocab > 10000000)
        return ps_err_set(err, PS_ERR_USAGE,
                          "bad model shape: n_layer=%d n_head=%d n_embd=%d n_ctx=%d vocab=%d "
                          "(n_embd must be a multiple of n_head)",
                          c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->n_vocab);
    return PS_OK;
}

static int model_alloc(struct ps_train_model **out, const struct ps_train_config *cfg,
                       struct ps_err *err)
{
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc)
        return rc;
    struct ps_train_model *m = ps_xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    if (!(m->cfg.ln_eps > 0))
        m->cfg.ln_eps = 1e-5f;
    int L = cfg->n_layer, C = cfg->n_embd;
    m->tensors = ps_xcalloc((size_t)(2 + L * N_PER_LAYER + 2), sizeof *m->tensors);
    size_t off = 0;
    add_tensor(m, "wte.weight", 2, cfg->n_vocab, C, 1, &off);
    add_tensor(m, "wpe.weight", 2, cfg->n_ctx, C, 1, &off);
    char name[96];
    for (int l = 0; l < L; l++) {
        static const int is_mat[N_PER_LAYER] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0};
        int64_t d0[N_PER_LAYER] = {C, C, C, 3 * C, C, C, C, C, C, 4 * C, 4 * C, C};
        int64_t d1[N_PER_LAYER] = {0, 0, 3 * C, 0, C, 0, 0, 0, 4 * C, 0, C, 0};
        for (int k = 0; k < N_PER_LAYER; k++) {
            snprintf(name, sizeof name, "h.%d.%s", l, layer_names[k]);
            add_tensor(m, name, is_mat[k] ? 2 : 1, d0[k], d1[k], is_mat[k], &off);
        }
    }
    add_tensor(m, "ln_f.weight", 1, C, 0, 0, &off);
    add_tensor(m, "ln_f.bias", 1, C, 0, 0, &off);
    m->n_params = off;
    m->params = ps_xcalloc(off, sizeof(float));
    m->grads = ps_xcalloc(off, sizeof(float));
    for (size_t i = 0; i < m->n_tensors; i++) {
        size_t o = (size_t)(uintptr_t)m->tensors[i].param;
        m->tensors[i].param = m->params + o;
        m->tensors[i].grad = m->grads + o;
    }
    *out = m;
    return PS_OK;
}

/* Parameter (or gradient, with g = 1) of layer l, kind k. */
static inline float *LP(const struct ps_train_model *m, int l, int k, int g)
{
    const struct ps_train_tensor *t = &m->tensors[2 + l * N_PER_LAYER + k];
    return g ? t->grad : t->param;
}
#define WTE(g) ((g) ? m->tensors[0].grad : m->tensors[0].param)
#define WPE(g) ((g) ? m->tensors[1].grad : m->tensors[1].param)
#define LNFW(g) ((g) ? m->tensors[m->n_tensors - 2].grad : m->tensors[m->n_tensors - 2].param)
#define LNFB(g) ((g) ? m->tensors[m->n_tensors - 1].grad : m->tensors[m->n_tensors - 1].param)

int ps_train_model_init(struct ps_train_model **out, const struct ps_train_config *cfg,
                        uint64_t seed, struct ps_err *err)
{
    int rc = model_alloc(out, cfg, err);
    if (rc)
        return rc;
    struct ps_train_model *m = *out;
    struct ps_rng r;
    ps_rng_seed(&r, seed, 0x9e3779b9u);
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    for (size_t i = 0; i < m->n_tensors; i++) {
        struct ps_train_tensor *t = &m->tensors[i];
        const char *nm = t->name;
        size_t n = strlen(nm);
        int is_ln = strstr(nm, "ln_") != NULL;
        int is_bias = n > 5 && strcmp(nm + n - 5, ".bias") == 0;
        if (is_ln && !is_bias) {
            for (size_t j = 0; j < t->n_elems; j++)
                t->param[j] = 1.0f;
        } else if (!is_bias) {
            float sd = strstr(nm, "c_proj.weight") ? resid_std : 0.02f;
            for (size_t j = 0; j < t->n_elems; j++)
                t->param[j] = (float)(ps_rng_normal(&r) * sd);
        }
    }
    return PS_OK;
}

int ps_train_model_load(struct ps_train_model **out, const char *dir, struct ps_err *err)
{
    *out = NULL;
    struct ps_lm *lm = NULL;
    int rc = ps_lm_load(&lm, dir, err);
    if (rc)
        return rc;
    const struct ps_lm_config *lc = ps_lm_get_config(lm);
    const struct ps_gpt2_weights *w = ps_lm_gpt2_weights(lm);
    if (lc->arch != PS_LM_GPT2 || !w) {
        ps_lm_free(lm);
        return ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: only GPT-2 checkpoints can be trained",
                          dir);
    }
    if (lc->d_ff != 4 * lc->d_model || lc->act != PS_LM_ACT_GELU_TANH || !lc->scale_attn ||
        w->lm_head != w->wte) {
        ps_lm_free(lm);
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: training needs n_inner = 4 n_embd, gelu_new, scaled attention "
                          "and lm_head tied to wte",
                          dir);
    }
    struct ps_train_config cfg = {
        .n_layer = lc->n_layer, .n_head = lc->n_head, .n_embd = lc->d_model,
        .n_ctx = lc->n_ctx, .n_vocab = lc->n_vocab, .ln_eps = lc->ln_eps,
        .scale_by_layer = lc->scale_by_layer, .eos_id = lc->eos_id,
    };
    rc = model_alloc(out, &cfg, err);
    if (rc) {
        ps_lm_free(lm);
        return rc;
    }
    struct ps_train_model *m = *out;
    memcpy(WTE(0), w->wte, m->tensors[0].n_elems * sizeof(float));
    memcpy(WPE(0), w->wpe, m->tensors[1].n_elems * sizeof(float));
    for (int l = 0; l < cfg.n_layer; l++) {
        const struct ps_gpt2_layer *ly = &w->layers[l];
        const float *src[N_PER_LAYER] = {ly->ln1_w, ly->ln1_b, ly->attn_w, ly->attn_b,
                                         ly->proj_w, ly->proj_b, ly->ln2_w, ly->ln2_b,
                                         ly->fc_w,   ly->fc_b,   ly->fc2_w,  ly->fc2_b};
        for (int k = 0; k < N_PER_LAYER; k++)
            memcpy(LP(m, l, k, 0), src[k],
                   m->tensors[2 + l * N_PER_LAYER + k].n_elems * sizeof(float));
    }
    memcpy(LNFW(0), w->lnf_w, (size_t)cfg.n_embd * sizeof(float));
    memcpy(LNFB(0), w->lnf_b, (size_t)cfg.n_embd * sizeof(float));
    ps_lm_free(lm);
    return PS_OK;
}

static void acts_free(struct ps_train_model *m)
{
    free(m->act);
    m->act = NULL;
    m->act_B = m->act_T = 0;
}

void ps_train_model_free(struct ps_train_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_tensors; i++)
        free((char *)m->tensors[i].name);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->inputs);
    free(m->targets);
    free(m->scratch);
    acts_free(m);
    free(m);
}

const struct ps_train_config *ps_train_get_config(const struct ps_train_model *m) { return &m->cfg; }
size_t ps_train_n_params(const struct ps_train_model *m) { return m->n_params; }
size_t ps_train_n_tensors(const struct ps_train_model *m) { return m->n_tensors; }
const struct ps_train_tensor *ps_train_tensor(const struct ps_train_model *m, size_t i)
{
    return i < m->n_tensors ? &m->tensors[i] : NULL;
}
float *ps_train_params(struct ps_train_model *m) { return m->params; }
float *ps_train_grads(struct ps_train_model *m) { return m->grads; }

/* ---- activations --------------------------------------------------------- */

/* Sizes (floats) of the activation arrays for B, T. */
enum {
    A_ENC, A_LN1, A_LN1M, A_LN1R, A_QKV, A_ATT, A_ATTY, A_RES2, A_LN2, A_LN2M, A_LN2R, A_FCH,
    A_FCG, A_RES3, A_LNF, A_LNFM, A_LNFR, A_PROBS, A_LOSS,
    /* backward scratch */
    A_DRES, A_DQKV, A_DATT, A_DFCH, A_DLN,
    N_ACTS
};

int ps_train_reserve(struct ps_train_model *m, int B, int T, struct ps_pool *pool,
                     struct ps_err *err)
{
    m->pool = pool;
    m->n_workers = pool ? ps_pool_n_threads(pool) : 1;
    if (B < 1 || T < 1 || T > m->cfg.n_ctx)
        return ps_err_set(err, PS_ERR_USAGE, "batch %d x %d does not fit the context of %d",
                          B, T, m->cfg.n_ctx);
    if (m->act && B * T <= m->act_B * m->act_T && B <= m->act_B && T <= m->act_T)
        return PS_OK;
    acts_free(m);
    size_t L = (size_t)m->cfg.n_layer, C = (size_t)m->cfg.n_embd, NH = (size_t)m->cfg.n_head;
    size_t V = (size_t)m->cfg.n_vocab, BT = (size_t)B * (size_t)T;
    size_t sz[N_ACTS] = {
        [A_ENC] = BT * C,          [A_LN1] = L * BT * C,     [A_LN1M] = L * BT,
        [A_LN1R] = L * BT,         [A_QKV] = L * BT * 3 * C, [A_ATT] = L * B * NH * T * T,
        [A_ATTY] = L * BT * C,     [A_RES2] = L * BT * C,    [A_LN2] = L * BT * C,
        [A_LN2M] = L * BT,         [A_LN2R] = L * BT,        [A_FCH] = L * BT * 4 * C,
        [A_FCG] = L * BT * 4 * C,  [A_RES3] = L * BT * C,    [A_LNF] = BT * C,
        [A_LNFM] = BT,             [A_LNFR] = BT,            [A_PROBS] = BT * V,
        [A_LOSS] = BT,             [A_DRES] = BT * C,
        [A_DQKV] = BT * 3 * C,     [A_DATT] = BT * C,        [A_DFCH] = BT * 4 * C,
        [A_DLN] = BT * C,
    };
    size_t total = 0;
    for (int i = 0; i < N_ACTS; i++)
        total += (sz[i] + 15) & ~(size_t)15;
    m->act = malloc(total * sizeof(float));
    if (!m->act)
        return ps_err_set(err, PS_ERR_NOMEM, "out of memory for the activations of %d x %d "
                          "(%zu MiB); try a smaller --batch", B, T, total * 4 >> 20);
    float *p = m->act;
    for (int i = 0; i < N_ACTS; i++) {
        m->a[i] = p;
        p += (sz[i] + 15) & ~(size_t)15;
    }
    m->act_B = B;
    m->act_T = T;
    free(m->scratch);
    m->scratch = ps_xmalloc((size_t)m->n_workers * 2 * (size_t)T * sizeof(float));
    free(m->inputs);
    free(m->targets);
    m->inputs = ps_xmalloc(BT * sizeof(int32_t));
    m->targets = ps_xmalloc(BT * sizeof(int32_t));
    return PS_OK;
}

/* ---- kernels --------------------------------------------------------------- */

struct par {
    struct ps_train_model *m;
    long n;                         /* rows */
    int n_tasks;
    void (*row_fn)(struct par *p, long r, int worker);
    /* arguments */
    float *out, *mean, *rstd;
    const float *inp, *w, *b, *dout;
    float *dinp;
    int C;
    int l;
    float dscale;
};

static void par_task(void *ctx, int task, int worker)
{
    struct par *p = ctx;
    long b, e;
    ps_split_range(p->n, p->n_tasks, task, &b, &e);
    for (long r = b; r < e; r++)
        p->row_fn(p, r, worker);
}

static void par_run(struct par *p, long n, void (*fn)(struct par *, long, int))
{
    p->n = n;
    p->row_fn = fn;
    int nw = p->m->n_workers;
    p->n_tasks = nw > 1 ? (int)(n < nw * 4 ? n : nw * 4) : 1;
    if (p->n_tasks < 1)
        p->n_tasks = 1;
    ps_pool_run(nw > 1 ? p->m->pool : NULL, p->n_tasks, par_task, p);
}

/* LayerNorm of one row, keeping mean and 1/std. */
static void ln_fwd_row(struct par *p, long r, int worker)
{
    (void)worker;
    int C = p->C;
    const float *x = p->inp + (size_t)r * C;
    float *o = p->out + (size_t)r * C;
    double s = 0;
    for (int i = 0; i < C; i++)
        s += x[i];
    float mean = (float)(s / C);
    double v = 0;
    for (int i = 0; i < C; i++) {
        float d = x[i] - mean;
        v += (double)d * d;
    }
    float rstd = (float)(1.0 / sqrt(v / C + p->m->cfg.ln_eps));
    for (int i = 0; i < C; i++)
        o[i] = (x[i] - mean) * rstd * p->w[i] + p->b[i];
    p->mean[r] = mean;
    p->rstd[r] = rstd;
}

/* dinp of one LayerNorm row (weight/bias gradients are reduced serially). */
static void ln_bwd_row(struct par *p, long r, int worker)
{
    (void)worker;
    int C = p->C;
    const float *x = p->inp + (size_t)r * C, *dout = p->dout + (size_t)r * C;
    float *dx = p->dinp + (size_t)r * C;
    float mean = p->mean[r], rstd = p->rstd[r];
    double dnm = 0, dnnm = 0;
    for (int i = 0; i < C; i++) {
        float norm = (x[i] - mean) * rstd;
        float dn = p->w[i] * dout[i];
        dnm += dn;
        dnnm += (double)dn * norm;
    }
    float a = (float)(dnm / C), bb = (float)(dnnm / C);
    for (int i = 0; i < C; i++) {
        float norm = (x[i] - mean) * rstd;
        float dn = p->w[i] * dout[i];
        dx[i] += (dn - a - norm * bb) * rstd;
    }
}

static void layernorm_forward(struct ps_train_model *m, float *out, float *mean, float *rstd,
                              const float *inp, const float *w, const float *b, long BT, int C)
{
    struct par p = {.m = m, .out = out, .mean = mean, .rstd = rstd, .inp = inp, .w = w,
                    .b = b, .C = C};
    par_run(&p, BT, ln_fwd_row);
}

static void layernorm_backward(struct ps_train_model *m, float *dinp, float *dw, float *db,
                               const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, long BT, int C)
{
    struct par p = {.m = m, .dinp = dinp, .dout = dout, .inp = inp, .w = w,
                    .mean = (float *)mean, .rstd = (float *)rstd, .C = C};
    par_run(&p, BT, ln_bwd_row);
    for (long r = 0; r < BT; r++) {
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - mean[r]) * rstd[r];
            db[i] += d[i];
            dw[i] += norm * d[i];
        }
    }
}

/* out (BT, OC) = inp (BT, IC) . W (IC, OC) + bias */
static void matmul_forward(float *out, const float *inp, const float *W, const float *bias,
                           long BT, int IC, int OC)
{
    for (long r = 0; r < BT; r++)
        memcpy(out + (size_t)r * OC, bias, (size_t)OC * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, OC, IC, 1.0f, inp, IC, W, OC,
                1.0f, out, OC);
}

/* dinp = dout . W^T (every caller starts from a zero dinp);
 * dW += inp^T . dout;  dbias += column sums of dout */
static void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout,
                            const float *inp, const float *W, long BT, int IC, int OC)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, IC, OC, 1.0f, dout, OC, W, OC,
                0.0f, dinp, IC);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, IC, OC, (int)BT, 1.0f, inp, IC, dout, OC,
                1.0f, dW, OC);
    if (dbias)
        for (long r = 0; r < BT; r++) {
            const float *d = dout + (size_t)r * OC;
            for (int o = 0; o < OC; o++)
                dbias[o] += d[o];
        }
}

#define GELU_S 0.7978845608028654f /* sqrt(2 / pi) */

static void gelu_fwd_row(struct par *p, long r, int worker)
{
    (void)worker;
    const float *x = p->inp + (size_t)r * p->C;
    float *o = p->out + (size_t)r * p->C;
    /* 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)): exact algebra, and expf is
     * several times cheaper than tanhf */
    for (int i = 0; i < p->C; i++) {
        float v = x[i];
        float u = GELU_S * (v + 0.044715f * v * v * v);
        o[i] = v / (1.0f + expf(-2.0f * u));
    }
}

static void gelu_bwd_row(struct par *p, long r, int worker)
{
    (void)worker;
    const float *x = p->inp + (size_t)r * p->C, *d = p->dout + (size_t)r * p->C;
    float *dx = p->dinp + (size_t)r * p->C;
    for (int i = 0; i < p->C; i++) {
        float v = x[i];
        float u = GELU_S * (v + 0.044715f * v * v * v);
        /* s = 0.5 (1 + tanh u);  d/dx [x s] = s + x s (1 - s) 2 du/dx */
        float sg = 1.0f / (1.0f + expf(-2.0f * u));
        float g = sg + v * sg * (1.0f - sg) * 2.0f * GELU_S * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = g * d[i];
    }
}

/* Attention, one task per (b, h).  qkv (B, T, 3C); att (B, NH, T, T)
 * softmax rows (zero above the diagonal); out (B, T, C). */
struct attn_job {
    struct ps_train_model *m;
    int B, T, C, NH;
    float scale;
    const float *qkv;
    float *att, *out;
    const float *dout;
    float *dqkv;
};

/* 4-float vectors (GCC/clang vector extensions, SSE on the x86-64
 * baseline); head sizes that are a multiple of 8 take the vector path (two
 * accumulators), others the scalar loops. */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static inline float dotf(const float *a, const float *b, int n)
{
    if ((n & 7) == 0) {
        v4f s0 = {0}, s1 = {0};
        for (int i = 0; i < n; i += 8) {
            s0 += ld4(a + i) * ld4(b + i);
            s1 += ld4(a + i + 4) * ld4(b + i + 4);
        }
        s0 += s1;
        return (s0[0] + s0[2]) + (s0[1] + s0[3]);
    }
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y += a x */
static inline void axpyf(float *y, float a, const float *x, int n)
{
    if ((n & 7) == 0) {
        v4f av = {a, a, a, a};
        for (int i = 0; i < n; i += 8) {
            st4(y + i, ld4(y + i) + av * ld4(x + i));
            st4(y + i + 4, ld4(y + i + 4) + av * ld4(x + i + 4));
        }
        return;
    }
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void attn_fwd_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct attn_job *j = ctx;
    int T = j->T, C = j->C, NH = j->NH, hs = C / NH, C3 = 3 * C;
    int b = task / NH, h = task % NH;
    const float *base = j->qkv + (size_t)b * T * C3;
    for (int t = 0; t < T; t++) {
        const float *q = base + (size_t)t * C3 + h * hs;
        float *row = j->att + (((size_t)b * NH + h) * T + t) * T;
        float mx = -INFINITY;
        for (int t2 = 0; t2 <= t; t2++) {
            float s = dotf(q, base + (size_t)t2 * C3 + C + h * hs, hs) * j->scale;
            row[t2] = s;
            if (s > mx)
                mx = s;
        }
        float sum = 0;
        for (int t2 = 0; t2 <= t; t2++) {
            float e = expf(row[t2] - mx);
            row[t2] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int t2 = 0; t2 <= t; t2++)
            row[t2] *= inv;
        for (int t2 = t + 1; t2 < T; t2++)
            row[t2] = 0;
        float *o = j->out + ((size_t)b * T + t) * C + h * hs;
        for (int i = 0; i < hs; i++)
            o[i] = 0;
        for (int t2 = 0; t2 <= t; t2++)
            axpyf(o, row[t2], base + (size_t)t2 * C3 + 2 * C + h * hs, hs);
    }
}

static void attn_bwd_task(void *ctx, int task, int worker)
{
    struct attn_job *j = ctx;
    int T = j->T, C = j->C, NH = j->NH, hs = C / NH, C3 = 3 * C;
    int b = task / NH, h = task % NH;
    const float *base = j->qkv + (size_t)b * T * C3;
    float *dbase = j->dqkv + (size_t)b * T * C3;
    float *datt = j->m->scratch + (size_t)worker * 2 * T;
    for (int t = 0; t < T; t++) {
        const float *row = j->att + (((size_t)b * NH + h) * T + t) * T;
        const float *d = j->dout + ((size_t)b * T + t) * C + h * hs;
        /* out = sum att[t2] v[t2] */
        double acc = 0;
        for (int t2 = 0; t2 <= t; t2++) {
            const float *v = base + (size_t)t2 * C3 + 2 * C + h * hs;
            float *dv = dbase + (size_t)t2 * C3 + 2 * C + h * hs;
            datt[t2] = dotf(d, v, hs);
            float a = row[t2];
            axpyf(dv, a, d, hs);
            acc += (double)a * datt[t2];
        }
        /* softmax: dpre = att * (datt - sum att datt) */
        float s = (float)acc;
        const float *q = base + (size_t)t * C3 + h * hs;
        float *dq = dbase + (size_t)t * C3 + h * hs;
        for (int t2 = 0; t2 <= t; t2++) {
            float dp = row[t2] * (datt[t2] - s) * j->scale;
            const float *k = base + (size_t)t2 * C3 + C + h * hs;
            float *dk = dbase + (size_t)t2 * C3 + C + h * hs;
            axpyf(dq, dp, k, hs);
            axpyf(dk, dp, q, hs);
        }
    }
}

/* Cross-entropy rows: probs in place of logits; loss per row. */
struct ce_job {
    float *probs;
    float *losses;
    const int32_t *targets;
    int V;
    float dscale;     /* backward: dlogits = (p - 1[target]) * dscale */
    long n;
    int n_tasks;
};

static void ce_fwd_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct ce_job *j = ctx;
    long b, e;
    ps_split_range(j->n, j->n_tasks, task, &b, &e);
    for (long r = b; r < e; r++) {
        float *p = j->probs + (size_t)r * j->V;
        float m0 = p[0], m1 = p[0], m2 = p[0], m3 = p[0];
        int i = 0;
        for (; i + 4 <= j->V; i += 4) {
            m0 = p[i] > m0 ? p[i] : m0;
            m1 = p[i + 1] > m1 ? p[i + 1] : m1;
            m2 = p[i + 2] > m2 ? p[i + 2] : m2;
            m3 = p[i + 3] > m3 ? p[i + 3] : m3;
        }
        for (; i < j->V; i++)
            m0 = p[i] > m0 ? p[i] : m0;
        float mx = fmaxf(fmaxf(m0, m1), fmaxf(m2, m3));
        double sum = 0;
        for (i = 0; i < j->V; i++) {
            p[i] = expf(p[i] - mx);
            sum += p[i];
        }
        float inv = (float)(1.0 / sum);
        for (i = 0; i < j->V; i++)
            p[i] *= inv;
        if (j->targets)
            j->losses[r] = -logf(fmaxf(p[j->targets[r]], 1e-30f));
    }
}

static void ce_bwd_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct ce_job *j = ctx;
    long b, e;
    ps_split_range(j->n, j->n_tasks, task, &b, &e);
    for (long r = b; r < e; r++) {
        float *p = j->probs + (size_t)r * j->V;
        for (int i = 0; i < j->V; i++)
            p[i] *= j->dscale;
        p[j->targets[r]] -= j->dscale;
    }
}

static int n_tasks_for(const struct ps_train_model *m, long n)
{
    int nw = m->n_workers;
    long t = nw > 1 ? nw * 4 : 1;
    return (int)(t < n ? t : n);
}

/* ---- forward / backward ----------------------------------------------------- */

int ps_train_forward(struct ps_train_model *m, const int32_t *inputs, const int32_t *targets,
                     int B, int T, float *loss, struct ps_err *err)
{
    if (!m->act || B * T > m->act_B * m->act_T || T > m->act_T || B > m->act_B)
        return ps_err_set(err, PS_ERR_USAGE, "ps_train_reserve was not called for %d x %d", B, T);
    int L = m->cfg.n_layer, C = m->cfg.n_embd, NH = m->cfg.n_head, V = m->cfg.n_vocab;
    long BT = (long)B * T;
    for (long i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= V || (targets && (targets[i] < 0 || targets[i] >= V)))
            return ps_err_set(err, PS_ERR_BAD_INPUT, "token id %d outside the vocabulary of %d",
                              inputs[i] < 0 || inputs[i] >= V ? inputs[i] : targets[i], V);
    }
    m->B = B;
    m->T = T;
    memcpy(m->inputs, inputs, (size_t)BT * sizeof(int32_t));
    m->has_targets = targets != NULL;
    if (targets)
        memcpy(m->targets, targets, (size_t)BT * sizeof(int32_t));

    /* embeddings */
    float *x = m->a[A_ENC];
    const float *wte = WTE(0), *wpe = WPE(0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = x + ((size_t)b * T + t) * C;
            const float *we = wte + (size_t)inputs[b * T + t] * C, *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++)
                o[i] = we[i] + pe[i];
        }
    size_t BTC = (size_t)BT * C;
    const float *res = x;
    for (int l = 0; l < L; l++) {
        float *ln1 = m->a[A_LN1] + l * BTC, *qkv = m->a[A_QKV] + l * BTC * 3;
        float *att = m->a[A_ATT] + (size_t)l * B * NH * T * T, *atty = m->a[A_ATTY] + l * BTC;
        float *res2 = m->a[A_RES2] + l * BTC, *ln2 = m->a[A_LN2] + l * BTC;
        float *fch = m->a[A_FCH] + l * BTC * 4, *fcg = m->a[A_FCG] + l * BTC * 4;
        float *res3 = m->a[A_RES3] + l * BTC;
        layernorm_forward(m, ln1, m->a[A_LN1M] + l * BT, m->a[A_LN1R] + l * BT, res,
                          LP(m, l, LN1W, 0), LP(m, l, LN1B, 0), BT, C);
        matmul_forward(qkv, ln1, LP(m, l, QKVW, 0), LP(m, l, QKVB, 0), BT, C, 3 * C);
        struct attn_job aj = {.m = m, .B = B, .T = T, .C = C, .NH = NH, .qkv = qkv, .att = att,
                              .out = atty};
        aj.scale = 1.0f / sqrtf((float)(C / NH));
        if (m->cfg.scale_by_layer)
            aj.scale /= (float)(l + 1);
        ps_pool_run(m->n_workers > 1 ? m->pool : NULL, B * NH, attn_fwd_task, &aj);
        matmul_forward(res2, atty, LP(m, l, PROJW, 0), LP(m, l, PROJB, 0), BT, C, C);
        for (size_t i = 0; i < BTC; i++)
            res2[i] += res[i];
        layernorm_forward(m, ln2, m->a[A_LN2M] + l * BT, m->a[A_LN2R] + l * BT, res2,
                          LP(m, l, LN2W, 0), LP(m, l, LN2B, 0), BT, C);
        matmul_forward(fch, ln2, LP(m, l, FCW, 0), LP(m, l, FCB, 0), BT, C, 4 * C);
        struct par gp = {.m = m, .inp = fch, .out = fcg, .C = 4 * C};
        par_run(&gp, BT, gelu_fwd_row);
        matmul_forward(res3, fcg, LP(m, l, FC2W, 0), LP(m, l, FC2B, 0), BT, 4 * C, C);
        for (size_t i = 0; i < BTC; i++)
            res3[i] += res2[i];
        res = res3;
    }
    layernorm_forward(m, m->a[A_LNF], m->a[A_LNFM], m->a[A_LNFR], res, LNFW(0), LNFB(0), BT, C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, V, C, 1.0f, m->a[A_LNF], C,
                wte, C, 0.0f, m->a[A_PROBS], V);
    struct ce_job cj = {.probs = m->a[A_PROBS], .losses = m->a[A_LOSS],
                        .targets = targets ? m->targets : NULL, .V = V, .n = BT,
                        .n_tasks = n_tasks_for(m, BT)};
    ps_pool_run(m->n_workers > 1 ? m->pool : NULL, cj.n_tasks, ce_fwd_task, &cj);
    if (targets) {
        double s = 0;
        for (long i = 0; i < BT; i++)
            s += m->a[A_LOSS][i];
        m->mean_loss = (float)(s / (double)BT);
        if (loss)
            *loss = m->mean_loss;
    }
    m->have_forward = 1;
    return PS_OK;
}

const float *ps_train_probs(const struct ps_train_model *m)
{
    return m->act ? m->a[A_PROBS] : NULL;
}

void ps_train_zero_grad(struct ps_train_model *m)
{
    memset(m->grads, 0, m->n_params * sizeof(float));
}

void ps_train_backward(struct ps_train_model *m, float scale)
{
    PS_ASSERT(m->have_forward && m->has_targets);
    m->have_forward = 0; /* the probabilities become dlogits below */
    int B = m->B, T = m->T, L = m->cfg.n_layer, C = m->cfg.n_embd, NH = m->cfg.n_head;
    int V = m->cfg.n_vocab;
    long BT = (long)B * T;
    size_t BTC = (size_t)BT * C;
    struct pool_sel { struct ps_pool *p; } ps = {m->n_workers > 1 ? m->pool : NULL};

    struct ce_job cj = {.probs = m->a[A_PROBS], .targets = m->targets, .V = V, .n = BT,
                        .dscale = scale / (float)BT, .n_tasks = n_tasks_for(m, BT)};
    ps_pool_run(ps.p, cj.n_tasks, ce_bwd_task, &cj);
    const float *dlogits = m->a[A_PROBS];
    /* lm_head tied to wte */
    float *dlnf = m->a[A_DLN];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, C, V, 1.0f, dlogits, V,
                WTE(0), C, 0.0f, dlnf, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, (int)BT, 1.0f, dlogits, V,
                m->a[A_LNF], C, 1.0f, WTE(1), C);
    float *dres = m->a[A_DRES];
    memset(dres, 0, BTC * sizeof(float));
    const float *last = L > 0 ? m->a[A_RES3] + (size_t)(L - 1) * BTC : m->a[A_ENC];
    layernorm_backward(m, dres, LNFW(1), LNFB(1), dlnf, last, LNFW(0), m->a[A_LNFM],
                       m->a[A_LNFR], BT, C);

    float *dqkv = m->a[A_DQKV], *datty = m->a[A_DATT], *dfch = m->a[A_DFCH];
    float *dln = m->a[A_DLN];
    for (int l = L - 1; l >= 0; l--) {
        const float *res = l == 0 ? m->a[A_ENC] : m->a[A_RES3] + (size_t)(l - 1) * BTC;
        float *ln1 = m->a[A_LN1] + l * BTC, *qkv = m->a[A_QKV] + l * BTC * 3;
        float *att = m->a[A_ATT] + (size_t)l * B * NH * T * T, *atty = m->a[A_ATTY] + l * BTC;
        float *res2 = m->a[A_RES2] + l * BTC, *ln2 = m->a[A_LN2] + l * BTC;
        float *fch = m->a[A_FCH] + l * BTC * 4, *fcg = m->a[A_FCG] + l * BTC * 4;
        /* dres is d(res3); res3 = res2 + fc2(gelu(fc(ln2(res2)))) */
        matmul_backward(dfch, LP(m, l, FC2W, 1), LP(m, l, FC2B, 1), dres, fcg, LP(m, l, FC2W, 0),
                        BT, 4 * C, C);
        struct par gp = {.m = m, .inp = fch, .dout = dfch, .dinp = dfch, .C = 4 * C};
        par_run(&gp, BT, gelu_bwd_row);
        matmul_backward(dln, LP(m, l, FCW, 1), LP(m, l, FCB, 1), dfch, ln2, LP(m, l, FCW, 0), BT,
                        C, 4 * C);
        /* dres accumulates d(res2) = d(res3) + LN2 backward */
        layernorm_backward(m, dres, LP(m, l, LN2W, 1), LP(m, l, LN2B, 1), dln, res2,
                           LP(m, l, LN2W, 0), m->a[A_LN2M] + l * BT, m->a[A_LN2R] + l * BT, BT,
                           C);
        /* res2 = res + proj(attn(qkv(ln1(res)))) */
        matmul_backward(datty, LP(m, l, PROJW, 1), LP(m, l, PROJB, 1), dres, atty,
                        LP(m, l, PROJW, 0), BT, C, C);
        memset(dqkv, 0, BTC * 3 * sizeof(float));
        struct attn_job aj = {.m = m, .B = B, .T = T, .C = C, .NH = NH, .qkv = qkv, .att = att,
                              .dout = datty, .dqkv = dqkv};
        aj.scale = 1.0f / sqrtf((float)(C / NH));
        if (m->cfg.scale_by_layer)
            aj.scale /= (float)(l + 1);
        ps_pool_run(ps.p, B * NH, attn_bwd_task, &aj);
        matmul_backward(dln, LP(m, l, QKVW, 1), LP(m, l, QKVB, 1), dqkv, ln1, LP(m, l, QKVW, 0),
                        BT, C, 3 * C);
        layernorm_backward(m, dres, LP(m, l, LN1W, 1), LP(m, l, LN1B, 1), dln, res,
                           LP(m, l, LN1W, 0), m->a[A_LN1M] + l * BT, m->a[A_LN1R] + l * BT, BT,
                           C);
    }
    /* embeddings */
    float *dwte = WTE(1), *dwpe = WPE(1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dres + ((size_t)b * T + t) * C;
            float *we = dwte + (size_t)m->inputs[b * T + t] * C, *pe = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                we[i] += d[i];
                pe[i] += d[i];
            }
        }
}

double ps_train_clip_grad_norm(struct ps_train_model *m, double max_norm)
{
    double s = 0;
    for (size_t i = 0; i < m->n_params; i++)
        s += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(s);
    if (max_norm > 0 && norm > max_norm) {
        float c = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < m->n_params; i++)
            m->grads[i] *= c;
    }
    return norm;
}

float ps_train_lr(long step, long n_steps, long warmup, float lr, float min_lr)
{
    if (step < warmup)
        return lr * (float)(step + 1) / (float)warmup;
    if (step >= n_steps || n_steps <= warmup)
        return min_lr;
    double ratio = (double)(step - warmup) / (double)(n_steps - warmup);
    double coeff = 0.5 * (1.0 + cos(3.14159265358979323846 * ratio));
    return (float)(min_lr + coeff * (lr - min_lr));
}

int ps_train_eval(struct ps_train_model *m, const int32_t *tokens, size_t n_tokens, int B, int T,
                  int n_batches, double *loss, struct ps_err *err)
{
    size_t per = (size_t)B * T + 1;
    *loss = NAN;
    if (n_tokens < (size_t)T + 1)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%zu validation tokens are too few for one window of %d", n_tokens,
                          T + 1);
    /* windows of T + 1 tokens, stepping T, B per batch */
    size_t n_win = (n_tokens - 1) / (size_t)T;
    size_t n_b = n_win / (size_t)B;
    int rows = B;
    if (n_b == 0) {
        n_b = 1;
        rows = (int)n_win;
    }
    if ((size_t)n_batches < n_b)
        n_b = (size_t)n_batches;
    (void)per;
    int32_t *in = ps_xmalloc((size_t)B * T * sizeof(int32_t));
    int32_t *tg = ps_xmalloc((size_t)B * T * sizeof(int32_t));
    double s = 0;
    int rc = PS_OK;
    for (size_t k = 0; k < n_b && rc == PS_OK; k++) {
        for (int b = 0; b < rows; b++) {
            const int32_t *src = tokens + (k * (size_t)B + (size_t)b) * T;
            memcpy(in + (size_t)b * T, src, (size_t)T * sizeof(int32_t));
            memcpy(tg + (size_t)b * T, src + 1, (size_t)T * sizeof(int32_t));
        }
        float l;
        rc = ps_train_forward(m, in, tg, rows, T, &l, err);
        s += l;
    }
    m->have_forward = 0;
    free(in);
    free(tg);
    if (rc == PS_OK)
        *loss = s / (double)n_b;
    return rc;
}
