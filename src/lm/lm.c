/*
 * lm.c - the model handle (loading either family from a checkpoint
 * folder), the work context and its arena, batch validation and packing,
 * and the parallel loops the two forward passes share (see lm.h).
 *
 * Loading resolves every tensor the config implies, checks its shape, and
 * then either points into the read-only map (aligned F32) or converts it
 * once into a single float32 allocation (F16, BF16, F64, unaligned F32).
 */
#include "lm_internal.h"
#include "ops.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/pool.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading ------------------------------------------------------------ */

struct want {
    const struct ps_st_tensor *t;
    const float **dst;
};

struct loader {
    struct ps_lm *m;
    const char *dir;
    struct want *w;
    size_t n_w, cap_w;
    struct ps_strmap *used;          /* names consumed */
    const char *prefix;              /* "transformer." or "bert." */
};

static const char *shape_text(char *buf, size_t cap, int nd, const int64_t *s)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < nd && n + 24 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)s[i]);
    snprintf(buf + n, cap - n, "]");
    return buf;
}

static const struct ps_st_tensor *lookup(struct loader *L, const char *name, const char **file,
                                         char *found, size_t cap)
{
    char alt[256];
    const struct ps_st_tensor *t;
    /* Bare name, prefixed name, and BERT's old gamma/beta LayerNorm names. */
    for (int variant = 0; variant < 4; variant++) {
        const char *base = name;
        char renamed[200];
        if (variant >= 2) {
            const char *p = strstr(name, "LayerNorm.");
            if (!p)
                break;
            const char *suf = p + 10;
            const char *rep = strcmp(suf, "weight") == 0 ? "gamma" : strcmp(suf, "bias") == 0 ? "beta" : NULL;
            if (!rep)
                break;
            snprintf(renamed, sizeof renamed, "%.*s%s", (int)(suf - name), name, rep);
            base = renamed;
        }
        if (variant % 2 == 0)
            snprintf(alt, sizeof alt, "%s", base);
        else
            snprintf(alt, sizeof alt, "%s%s", L->prefix, base);
        t = ps_st_checkpoint_find(L->m->ck, alt, file);
        if (t) {
            snprintf(found, cap, "%s", alt);
            return t;
        }
    }
    return NULL;
}

/* Resolves one tensor of shape (d0) or (d0, d1) into *dst.  Missing
 * optional tensors leave *dst NULL. */
static int take(struct loader *L, const char *name, int nd, int64_t d0, int64_t d1,
                const float **dst, int optional, struct ps_err *err)
{
    const char *file = NULL;
    char found[256];
    const struct ps_st_tensor *t = lookup(L, name, &file, found, sizeof found);
    *dst = NULL;
    if (!t) {
        if (optional)
            return PS_OK;
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing tensor \"%s\"", L->dir, name);
    }
    int64_t want[2] = {d0, d1};
    int ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char a[128], b[128];
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": shape %s contradicts config.json (expected %s)", file,
                          found, shape_text(a, sizeof a, t->n_dims, t->shape),
                          shape_text(b, sizeof b, nd, want));
    }
    if (t->dtype != PS_ST_F32 && t->dtype != PS_ST_F16 && t->dtype != PS_ST_BF16 &&
        t->dtype != PS_ST_F64)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": dtype %s is not a floating-point type", file, found,
                          ps_st_dtype_name(t->dtype));
    L->w = ps_xgrow(L->w, &L->cap_w, L->n_w + 1, sizeof *L->w);
    L->w[L->n_w].t = t;
    L->w[L->n_w].dst = dst;
    L->n_w++;
    ps_strmap_intern(L->used, found, strlen(found), NULL);
    return PS_OK;
}

#define TAKE(name, nd, d0, d1, dst) \
    do { if ((rc = take(L, name, nd, d0, d1, dst, 0, err))) return rc; } while (0)

static int plan_gpt2(struct loader *L, struct ps_err *err)
{
    const struct ps_lm_config *c = &L->m->cfg;
    struct ps_gpt2_weights *w = &L->m->gpt2;
    int64_t C = c->d_model, F = c->d_ff, V = c->n_vocab, P = c->n_ctx;
    char n[128];
    int rc;
    L->prefix = "transformer.";
    w->layers = ps_xcalloc((size_t)c->n_layer, sizeof *w->layers);
    TAKE("wte.weight", 2, V, C, &w->wte);
    TAKE("wpe.weight", 2, P, C, &w->wpe);
    TAKE("ln_f.weight", 1, C, 0, &w->lnf_w);
    TAKE("ln_f.bias", 1, C, 0, &w->lnf_b);
    for (int i = 0; i < c->n_layer; i++) {
        struct ps_gpt2_layer *l = &w->layers[i];
#define LT(suffix, nd, d0, d1, dst) \
        do { snprintf(n, sizeof n, "h.%d.%s", i, suffix); TAKE(n, nd, d0, d1, dst); } while (0)
        LT("ln_1.weight", 1, C, 0, &l->ln1_w);
        LT("ln_1.bias", 1, C, 0, &l->ln1_b);
        LT("attn.c_attn.weight", 2, C, 3 * C, &l->attn_w);
        LT("attn.c_attn.bias", 1, 3 * C, 0, &l->attn_b);
        LT("attn.c_proj.weight", 2, C, C, &l->proj_w);
        LT("attn.c_proj.bias", 1, C, 0, &l->proj_b);
        LT("ln_2.weight", 1, C, 0, &l->ln2_w);
        LT("ln_2.bias", 1, C, 0, &l->ln2_b);
        LT("mlp.c_fc.weight", 2, C, F, &l->fc_w);
        LT("mlp.c_fc.bias", 1, F, 0, &l->fc_b);
        LT("mlp.c_proj.weight", 2, F, C, &l->fc2_w);
        LT("mlp.c_proj.bias", 1, C, 0, &l->fc2_b);
#undef LT
    }
    /* GPT2LMHeadModel saved by the Hub may carry lm_head.weight; when it is
     * absent the head is tied to wte. */
    if ((rc = take(L, "lm_head.weight", 2, V, C, &w->lm_head, 1, err)))
        return rc;
    return PS_OK;
}

static int plan_bert(struct loader *L, struct ps_err *err)
{
    const struct ps_lm_config *c = &L->m->cfg;
    struct ps_bert_weights *w = &L->m->bert;
    int64_t C = c->d_model, F = c->d_ff, V = c->n_vocab, P = c->n_ctx, TV = c->n_type_vocab;
    char n[160];
    int rc;
    L->prefix = "bert.";
    w->layers = ps_xcalloc((size_t)c->n_layer, sizeof *w->layers);
    TAKE("embeddings.word_embeddings.weight", 2, V, C, &w->word);
    TAKE("embeddings.position_embeddings.weight", 2, P, C, &w->pos);
    TAKE("embeddings.token_type_embeddings.weight", 2, TV, C, &w->type);
    TAKE("embeddings.LayerNorm.weight", 1, C, 0, &w->ln_w);
    TAKE("embeddings.LayerNorm.bias", 1, C, 0, &w->ln_b);
    for (int i = 0; i < c->n_layer; i++) {
        struct ps_bert_layer *l = &w->layers[i];
#define LT(suffix, nd, d0, d1, dst) \
        do { snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix); TAKE(n, nd, d0, d1, dst); } while (0)
        LT("attention.self.query.weight", 2, C, C, &l->q_w);
        LT("attention.self.query.bias", 1, C, 0, &l->q_b);
        LT("attention.self.key.weight", 2, C, C, &l->k_w);
        LT("attention.self.key.bias", 1, C, 0, &l->k_b);
        LT("attention.self.value.weight", 2, C, C, &l->v_w);
        LT("attention.self.value.bias", 1, C, 0, &l->v_b);
        LT("attention.output.dense.weight", 2, C, C, &l->o_w);
        LT("attention.output.dense.bias", 1, C, 0, &l->o_b);
        LT("attention.output.LayerNorm.weight", 1, C, 0, &l->ln1_w);
        LT("attention.output.LayerNorm.bias", 1, C, 0, &l->ln1_b);
        LT("intermediate.dense.weight", 2, F, C, &l->i_w);
        LT("intermediate.dense.bias", 1, F, 0, &l->i_b);
        LT("output.dense.weight", 2, C, F, &l->out_w);
        LT("output.dense.bias", 1, C, 0, &l->out_b);
        LT("output.LayerNorm.weight", 1, C, 0, &l->ln2_w);
        LT("output.LayerNorm.bias", 1, C, 0, &l->ln2_b);
#undef LT
    }
    if ((rc = take(L, "pooler.dense.weight", 2, C, C, &w->pool_w, 1, err)) ||
        (rc = take(L, "pooler.dense.bias", 1, C, 0, &w->pool_b, 1, err)))
        return rc;
    return PS_OK; /* has_pooler is decided once the views exist */
}

/* Buffers and heads a checkpoint may carry that an encoder/decoder for
 * embeddings and generation does not use. */
static int known_unused(const char *name)
{
    size_t n = strlen(name);
#define ENDS(s) (n >= sizeof(s) - 1 && strcmp(name + n - (sizeof(s) - 1), s) == 0)
    if (ENDS(".attn.bias") || ENDS(".attn.masked_bias") || ENDS("position_ids"))
        return 1;
#undef ENDS
    return strncmp(name, "cls.", 4) == 0 || strncmp(name, "lm_head.", 8) == 0;
}

static int materialise(struct loader *L, struct ps_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < L->n_w; i++) {
        const struct ps_st_tensor *t = L->w[i].t;
        if (!(t->dtype == PS_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0))
            total += t->n_elems;
    }
    if (total) {
        L->m->converted = aligned_alloc(64, ((total * sizeof(float)) + 63) & ~(size_t)63);
        if (!L->m->converted)
            return ps_err_set(err, PS_ERR_NOMEM, "cannot allocate %zu bytes for converted weights",
                              total * sizeof(float));
        L->m->converted_bytes = total * sizeof(float);
    }
    float *p = L->m->converted;
    for (size_t i = 0; i < L->n_w; i++) {
        const struct ps_st_tensor *t = L->w[i].t;
        if (t->dtype == PS_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
            *L->w[i].dst = t->data;
        } else {
            PS_ASSERT(ps_st_tensor_to_f32(t, p) == PS_OK);
            *L->w[i].dst = p;
            p += t->n_elems;
        }
    }
    return PS_OK;
}

int ps_lm_load(struct ps_lm **out, const char *dir, struct ps_err *err)
{
    struct ps_lm *m = ps_xcalloc(1, sizeof *m);
    struct loader L = {.m = m, .dir = dir, .used = ps_strmap_new()};
    size_t plen = strlen(dir) + 16;
    char *cfg_path = ps_xmalloc(plen);
    int rc;
    *out = NULL;
    snprintf(cfg_path, plen, "%s/config.json", dir);
    rc = ps_lm_config_load(&m->cfg, cfg_path, err);
    free(cfg_path);
    if (rc)
        goto done;
    if ((rc = ps_st_checkpoint_open(&m->ck, dir, err)))
        goto done;
    rc = m->cfg.arch == PS_LM_GPT2 ? plan_gpt2(&L, err) : plan_bert(&L, err);
    if (rc)
        goto done;
    if ((rc = materialise(&L, err)))
        goto done;
    if (m->cfg.arch == PS_LM_GPT2 && !m->gpt2.lm_head)
        m->gpt2.lm_head = m->gpt2.wte;
    m->has_pooler = m->cfg.arch == PS_LM_BERT && m->bert.pool_w && m->bert.pool_b;
    size_t n_unknown = 0;
    const char *first = NULL;
    for (size_t i = 0; i < ps_st_checkpoint_n_tensors(m->ck); i++) {
        const struct ps_st_tensor *t = ps_st_checkpoint_tensor(m->ck, i, NULL);
        if (ps_strmap_find(L.used, t->name, strlen(t->name)) >= 0 || known_unused(t->name))
            continue;
        if (!n_unknown++)
            first = t->name;
    }
    if (n_unknown)
        ps_log(PS_LOG_WARN, "%s: ignoring %zu tensor%s the model does not use, first \"%s\"", dir,
               n_unknown, n_unknown == 1 ? "" : "s", first);
    ps_ops_isa(); /* detect once, before any threads run kernels */
done:
    free(L.w);
    ps_strmap_free(L.used);
    if (rc) {
        ps_lm_free(m);
        return rc;
    }
    *out = m;
    return PS_OK;
}

void ps_lm_free(struct ps_lm *m)
{
    if (!m)
        return;
    free(m->gpt2.layers);
    free(m->bert.layers);
    free(m->converted);
    ps_st_checkpoint_close(m->ck);
    free(m);
}

const struct ps_lm_config *ps_lm_get_config(const struct ps_lm *m)
{
    return &m->cfg;
}

int ps_lm_has_pooler(const struct ps_lm *m)
{
    return m->has_pooler;
}

size_t ps_lm_checkpoint_bytes(const struct ps_lm *m)
{
    return ps_st_checkpoint_bytes(m->ck);
}

size_t ps_lm_converted_bytes(const struct ps_lm *m)
{
    return m->converted_bytes;
}

const struct ps_gpt2_weights *ps_lm_gpt2_weights(const struct ps_lm *m)
{
    return m->cfg.arch == PS_LM_GPT2 ? &m->gpt2 : NULL;
}

const struct ps_bert_weights *ps_lm_bert_weights(const struct ps_lm *m)
{
    return m->cfg.arch == PS_LM_BERT ? &m->bert : NULL;
}

/* ---- context ------------------------------------------------------------ */

struct ps_lm_ctx_params ps_lm_ctx_default_params(void)
{
    struct ps_lm_ctx_params p = {.max_batch = 16, .max_tokens = 0, .max_packed = 0,
                                 .kv_cache = 0, .logits = 0, .pool = NULL};
    return p;
}

static size_t carve(size_t *at, size_t n_floats)
{
    size_t here = *at;
    *at += (n_floats + 15) & ~(size_t)15; /* 64-byte aligned pieces */
    return here;
}

int ps_lm_ctx_new(struct ps_lm_ctx **out, const struct ps_lm *m,
                  const struct ps_lm_ctx_params *params, struct ps_err *err)
{
    const struct ps_lm_config *c = &m->cfg;
    struct ps_lm_ctx_params p = *params;
    *out = NULL;
    if (p.max_tokens <= 0)
        p.max_tokens = c->n_ctx;
    if (p.max_batch < 1 || p.max_batch > (1 << 16))
        return ps_err_set(err, PS_ERR_USAGE, "batch size %d is outside 1..65536", p.max_batch);
    if (p.max_tokens > c->n_ctx)
        return ps_err_set(err, PS_ERR_USAGE,
                          "%d tokens per text exceed the model's context of %d positions",
                          p.max_tokens, c->n_ctx);
    long long full = (long long)p.max_batch * p.max_tokens;
    if (p.max_packed <= 0 || p.max_packed > full)
        p.max_packed = full > INT32_MAX / 4 ? INT32_MAX / 4 : (int)full;
    if (c->arch == PS_LM_BERT)
        p.kv_cache = 0, p.logits = 0;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->n_vocab;
    size_t M = (size_t)p.max_packed, B = (size_t)p.max_batch, T = (size_t)p.max_tokens;
    int nt = ps_pool_n_threads(p.pool);
    struct ps_lm_ctx *ctx = ps_xcalloc(1, sizeof *ctx);
    ctx->m = m;
    ctx->p = p;
    ctx->n_threads = nt;
    /* Without a cache, attention reads K and V straight from qkv. */
    ctx->kv_layers = p.kv_cache ? c->n_layer : 0;
    size_t at = 0, o_x = carve(&at, M * C), o_h = carve(&at, M * C), o_qkv = carve(&at, M * 3 * C),
           o_att = carve(&at, M * C), o_ff = carve(&at, M * F),
           o_sc = carve(&at, (size_t)nt * T),
           o_kv = carve(&at, (size_t)ctx->kv_layers * B * 2 * T * C), o_last = carve(&at, B * C),
           o_lg = carve(&at, p.logits ? B * V : 0), o_pool = carve(&at, B * C);
    ctx->arena_bytes = at * sizeof(float);
    ctx->arena = aligned_alloc(64, ctx->arena_bytes ? ctx->arena_bytes : 64);
    if (!ctx->arena) {
        free(ctx);
        return ps_err_set(err, PS_ERR_NOMEM, "cannot allocate a %zu-byte work arena",
                          at * sizeof(float));
    }
    float *a = ctx->arena;
    ctx->x = a + o_x, ctx->h = a + o_h, ctx->qkv = a + o_qkv, ctx->att = a + o_att;
    ctx->ff = a + o_ff, ctx->scores = a + o_sc, ctx->kv = a + o_kv, ctx->last = a + o_last;
    ctx->logits = a + o_lg, ctx->pooler = a + o_pool;
    ctx->off = ps_xcalloc(B + 1, sizeof *ctx->off);
    ctx->len = ps_xcalloc(B, sizeof *ctx->len);
    ctx->start = ps_xcalloc(B, sizeof *ctx->start);
    ctx->ids = ps_xcalloc(M, sizeof *ctx->ids);
    ctx->pos = ps_xcalloc(M, sizeof *ctx->pos);
    ctx->types = ps_xcalloc(M, sizeof *ctx->types);
    ctx->row_of = ps_xcalloc(M, sizeof *ctx->row_of);
    ps_set_blas_threads(nt);
    *out = ctx;
    return PS_OK;
}

void ps_lm_ctx_free(struct ps_lm_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->arena);
    free(ctx->off);
    free(ctx->len);
    free(ctx->start);
    free(ctx->ids);
    free(ctx->pos);
    free(ctx->types);
    free(ctx->row_of);
    free(ctx);
}

size_t ps_lm_ctx_bytes(const struct ps_lm_ctx *ctx)
{
    return ctx->arena_bytes;
}

float *ps__kv_slot(const struct ps_lm_ctx *ctx, int layer, int row, int which)
{
    size_t T = (size_t)ctx->p.max_tokens, C = (size_t)ctx->m->cfg.d_model;
    size_t li = (size_t)layer;
    return ctx->kv + (((li * (size_t)ctx->p.max_batch + (size_t)row) * 2 + (size_t)which) * T) * C;
}

/* ---- forward entry ------------------------------------------------------- */

int ps_lm_forward(struct ps_lm_ctx *ctx, const struct ps_lm_batch *b, struct ps_err *err)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    const struct ps_lm_ctx_params *p = &ctx->p;
    if (b->n_rows < 1 || b->n_rows > p->max_batch)
        return ps_err_set(err, PS_ERR_USAGE, "batch of %d rows (context holds 1..%d)", b->n_rows,
                          p->max_batch);
    long packed = 0;
    for (int r = 0; r < b->n_rows; r++) {
        int len = b->lens[r], st = b->start ? b->start[r] : 0;
        if (len < 1 || len > b->stride)
            return ps_err_set(err, PS_ERR_USAGE, "row %d: %d tokens (stride %d)", r, len, b->stride);
        if (st < 0 || (st > 0 && !p->kv_cache))
            return ps_err_set(err, PS_ERR_USAGE,
                              "row %d: start position %d needs a context with a KV cache", r, st);
        if ((long)st + len > p->max_tokens)
            return ps_err_set(err, PS_ERR_USAGE,
                              "row %d: %d tokens from position %d exceed the limit of %d", r, len,
                              st, p->max_tokens);
        packed += len;
    }
    if (packed > p->max_packed)
        return ps_err_set(err, PS_ERR_USAGE, "batch of %ld tokens exceeds the context's %d",
                          packed, p->max_packed);
    int m = 0;
    for (int r = 0; r < b->n_rows; r++) {
        int len = b->lens[r], st = b->start ? b->start[r] : 0;
        const int32_t *ids = b->ids + (size_t)r * (size_t)b->stride;
        const int32_t *tt = b->token_types ? b->token_types + (size_t)r * (size_t)b->stride : NULL;
        ctx->off[r] = m;
        ctx->len[r] = len;
        ctx->start[r] = st;
        for (int t = 0; t < len; t++, m++) {
            if (ids[t] < 0 || ids[t] >= c->n_vocab)
                return ps_err_set(err, PS_ERR_BAD_INPUT,
                                  "row %d: token id %d is outside the vocabulary (0..%d)", r,
                                  ids[t], c->n_vocab - 1);
            int type = tt ? tt[t] : 0;
            if (type < 0 || (c->arch == PS_LM_BERT && type >= c->n_type_vocab))
                return ps_err_set(err, PS_ERR_BAD_INPUT, "row %d: token type %d is out of range",
                                  r, type);
            ctx->ids[m] = ids[t];
            ctx->pos[m] = st + t;
            ctx->types[m] = type;
            ctx->row_of[m] = r;
        }
    }
    ctx->off[b->n_rows] = m;
    ctx->n_rows = b->n_rows;
    ctx->n_packed = m;
    ctx->have_logits = ctx->have_pooler = 0;
    if (c->arch == PS_LM_GPT2)
        ps__gpt2_forward(ctx);
    else
        ps__bert_forward(ctx);
    return PS_OK;
}

const float *ps_lm_hidden(const struct ps_lm_ctx *ctx, int row, int *n_tokens)
{
    if (row < 0 || row >= ctx->n_rows)
        return NULL;
    if (n_tokens)
        *n_tokens = ctx->len[row];
    return ctx->hidden + (size_t)ctx->off[row] * (size_t)ctx->m->cfg.d_model;
}

const float *ps_lm_logits(const struct ps_lm_ctx *ctx, int row)
{
    if (!ctx->have_logits || row < 0 || row >= ctx->n_rows)
        return NULL;
    return ctx->logits + (size_t)row * (size_t)ctx->m->cfg.n_vocab;
}

const float *ps_lm_pooler(const struct ps_lm_ctx *ctx, int row)
{
    if (!ctx->have_pooler || row < 0 || row >= ctx->n_rows)
        return NULL;
    return ctx->pooler + (size_t)row * (size_t)ctx->m->cfg.d_model;
}

/* ---- parallel loops ------------------------------------------------------ */

/* Below this many floats of work a loop runs on the caller: waking the
 * pool costs more than it saves. */
#define PAR_MIN_WORK 16384

struct ln_job {
    float *out, *in;
    const float *w, *b, *add;
    int M, C, n_tasks;
    float eps;
};

static void ln_task(void *arg, int task, int worker)
{
    const struct ln_job *j = arg;
    long lo, hi;
    (void)worker;
    ps_split_range(j->M, j->n_tasks, task, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        float *x = j->in + r * j->C;
        if (j->add)
            for (int i = 0; i < j->C; i++)
                x[i] += j->add[i];
        ps_layernorm(j->out + r * j->C, x, j->w, j->b, j->C, j->eps);
    }
}

void ps__par_layernorm(struct ps_lm_ctx *ctx, float *out, const float *in, const float *w,
                       const float *b, int M, int C, float eps)
{
    ps__par_add_layernorm(ctx, out, (float *)in, NULL, w, b, M, C, eps);
}

void ps__par_add_layernorm(struct ps_lm_ctx *ctx, float *out, float *in, const float *add,
                           const float *w, const float *b, int M, int C, float eps)
{
    struct ln_job j = {out, in, w, b, add, M, C, ctx->n_threads, eps};
    if ((long)M * C < PAR_MIN_WORK || ctx->n_threads == 1) {
        j.n_tasks = 1;
        ln_task(&j, 0, 0);
        return;
    }
    ps_pool_run(ctx->p.pool, j.n_tasks, ln_task, &j);
}

void ps__fill_bias(float *y, int ldy, const float *bias, int M, int N)
{
    for (int r = 0; r < M; r++)
        memcpy(y + (size_t)r * (size_t)ldy, bias, (size_t)N * sizeof *y);
}

struct act_job {
    float *y;
    const float *bias;
    int ldy, M, N, act, n_tasks;
};

static void act_task(void *arg, int task, int worker)
{
    const struct act_job *j = arg;
    long lo, hi;
    (void)worker;
    ps_split_range(j->M, j->n_tasks, task, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        float *y = j->y + r * j->ldy;
        if (j->bias)
            for (int i = 0; i < j->N; i++)
                y[i] += j->bias[i];
        switch (j->act) {
        case PS_LM_ACT_GELU_TANH: ps_gelu_tanh(y, (size_t)j->N); break;
        case PS_LM_ACT_GELU_ERF: ps_gelu_erf(y, (size_t)j->N); break;
        case PS_LM_ACT_RELU:
            for (int i = 0; i < j->N; i++)
                y[i] = y[i] > 0 ? y[i] : 0;
            break;
        default: break;
        }
    }
}

void ps__par_bias_act(struct ps_lm_ctx *ctx, float *y, int ldy, const float *bias, int M, int N,
                      int act)
{
    struct act_job j = {y, bias, ldy, M, N, act, ctx->n_threads};
    if ((long)M * N < PAR_MIN_WORK || ctx->n_threads == 1) {
        j.n_tasks = 1;
        act_task(&j, 0, 0);
        return;
    }
    ps_pool_run(ctx->p.pool, j.n_tasks, act_task, &j);
}

struct att_job {
    struct ps_lm_ctx *ctx;
    int layer, causal;
    float scale;
};

static void att_task(void *arg, int task, int worker)
{
    const struct att_job *j = arg;
    struct ps_lm_ctx *ctx = j->ctx;
    const struct ps_lm_config *c = &ctx->m->cfg;
    int H = c->n_head, C = c->d_model, hd = C / H;
    int r = task / H, h = task % H;
    float *scores = ctx->scores + (size_t)worker * (size_t)ctx->p.max_tokens;
    const float *k, *v;
    size_t ld;
    if (ctx->p.kv_cache) {
        k = ps__kv_slot(ctx, j->layer, r, 0) + h * hd;
        v = ps__kv_slot(ctx, j->layer, r, 1) + h * hd;
        ld = (size_t)C;
    } else {
        k = ctx->qkv + (size_t)ctx->off[r] * 3 * C + C + h * hd;
        v = k + C;
        ld = (size_t)3 * C;
    }
    for (int t = 0; t < ctx->len[r]; t++) {
        size_t m = (size_t)ctx->off[r] + (size_t)t;
        int n_keys = j->causal ? ctx->start[r] + t + 1 : ctx->len[r];
        ps_attend(ctx->att + m * C + h * hd, ctx->qkv + m * 3 * C + h * hd, k, ld, v, ld, n_keys,
                  hd, j->scale, scores);
    }
}

void ps__par_attention(struct ps_lm_ctx *ctx, int layer, int causal)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    int hd = c->d_model / c->n_head;
    struct att_job j = {ctx, layer, causal, 1.0f};
    if (c->arch == PS_LM_BERT || c->scale_attn)
        j.scale = 1.0f / sqrtf((float)hd);
    if (c->arch == PS_LM_GPT2 && c->scale_by_layer)
        j.scale /= (float)(layer + 1);
    int n_tasks = ctx->n_rows * c->n_head;
    if (ctx->n_threads == 1 || ctx->n_packed * c->d_model < PAR_MIN_WORK / 8) {
        for (int t = 0; t < n_tasks; t++)
            att_task(&j, t, 0);
        return;
    }
    ps_pool_run(ctx->p.pool, n_tasks, att_task, &j);
}
