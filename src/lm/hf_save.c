/*
 * hf_save.c - writing a trained GPT-2 as a Hugging Face checkpoint folder,
 * and the trainer's resume state.
 *
 * model.safetensors follows what transformers' save_pretrained writes for
 * GPT2LMHeadModel: names with the "transformer." prefix, the tied
 * lm_head.weight left out, {"format": "pt"} metadata, the header padded
 * with spaces to a multiple of 8 so every tensor is 8-byte aligned.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/train.h"
#include "train_internal.h"

static int make_dir(const char *dir, struct ps_err *err)
{
    char *p = ps_xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            int e = errno;
            free(p);
            return ps_err_set(err, PS_ERR_IO, "cannot create \"%s\": %s", dir, strerror(e));
        }
        *s = '/';
    }
    free(p);
    if (mkdir(dir, 0777) && errno != EEXIST)
        return ps_err_set(err, PS_ERR_IO, "cannot create \"%s\": %s", dir, strerror(errno));
    return PS_OK;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = ps_xmalloc(a + b + 2);
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

static int write_file(const char *path, const void *data, size_t n, struct ps_err *err)
{
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        ps_afile_abort(&f);
        return ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", path, strerror(errno));
    }
    return ps_afile_commit(&f, err);
}

static int read_file(const char *path, char **data, size_t *n, struct ps_err *err)
{
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ps_err_set(err, errno == ENOENT ? PS_ERR_BAD_INPUT : PS_ERR_IO,
                          "cannot open \"%s\": %s", path, strerror(errno));
    struct ps_buf b;
    ps_buf_init(&b);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, fp)) > 0)
        ps_buf_append(&b, tmp, k);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        ps_buf_release(&b);
        return ps_err_set(err, PS_ERR_IO, "cannot read \"%s\"", path);
    }
    *data = b.data;
    *n = b.len;
    return PS_OK;
}

/* float32 -> IEEE half, round to nearest even (NaN stays NaN). */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* subnormal half (or zero) */
        float a;
        memcpy(&a, &ax, 4);
        /* a * 2^24 rounded to nearest even is the subnormal mantissa */
        float r = nearbyintf(a * 16777216.0f);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t mant = ax & 0x7fffffu;
    uint32_t exp = (ax >> 23) - 127 + 15;
    uint32_t h = exp << 10 | mant >> 13;
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

static int save_config(const struct ps_train_model *m, const char *dir, int f16,
                       struct ps_err *err)
{
    const struct ps_train_config *c = &m->cfg;
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b,
                  "{\n"
                  "  \"activation_function\": \"gelu_new\",\n"
                  "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
                  "  \"attn_pdrop\": 0.0,\n");
    if (c->eos_id >= 0)
        ps_buf_printf(&b, "  \"bos_token_id\": %d,\n", c->eos_id);
    ps_buf_printf(&b, "  \"embd_pdrop\": 0.0,\n");
    if (c->eos_id >= 0)
        ps_buf_printf(&b, "  \"eos_token_id\": %d,\n", c->eos_id);
    ps_buf_printf(&b,
                  "  \"initializer_range\": 0.02,\n"
                  "  \"layer_norm_epsilon\": %.9g,\n"
                  "  \"model_type\": \"gpt2\",\n"
                  "  \"n_ctx\": %d,\n"
                  "  \"n_embd\": %d,\n"
                  "  \"n_head\": %d,\n"
                  "  \"n_inner\": null,\n"
                  "  \"n_layer\": %d,\n"
                  "  \"n_positions\": %d,\n"
                  "  \"reorder_and_upcast_attn\": false,\n"
                  "  \"resid_pdrop\": 0.0,\n"
                  "  \"scale_attn_by_inverse_layer_idx\": %s,\n"
                  "  \"scale_attn_weights\": true,\n"
                  "  \"summary_activation\": null,\n"
                  "  \"summary_first_dropout\": 0.0,\n"
                  "  \"summary_proj_to_labels\": true,\n"
                  "  \"summary_type\": \"cls_index\",\n"
                  "  \"summary_use_proj\": true,\n"
                  "  \"tie_word_embeddings\": true,\n"
                  "  \"torch_dtype\": \"%s\",\n"
                  "  \"use_cache\": true,\n"
                  "  \"vocab_size\": %d\n"
                  "}\n",
                  (double)c->ln_eps, c->n_ctx, c->n_embd, c->n_head, c->n_layer, c->n_ctx,
                  c->scale_by_layer ? "true" : "false", f16 ? "float16" : "float32",
                  c->n_vocab);
    char *path = join(dir, "config.json");
    int rc = write_file(path, b.data, b.len, err);
    free(path);
    ps_buf_release(&b);
    return rc;
}

static int save_weights(const struct ps_train_model *m, const char *dir, int f16,
                        struct ps_err *err)
{
    size_t es = f16 ? 2 : 4;
    struct ps_buf h;
    ps_buf_init(&h);
    ps_buf_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct ps_train_tensor *t = &m->tensors[i];
        ps_buf_printf(&h, ",\"transformer.%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                      f16 ? "F16" : "F32");
        for (int d = 0; d < t->n_dims; d++)
            ps_buf_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        ps_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t->n_elems * es);
        off += t->n_elems * es;
    }
    ps_buf_putc(&h, '}');
    while (h.len % 8)
        ps_buf_putc(&h, ' ');
    char *path = join(dir, "model.safetensors");
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc) {
        free(path);
        ps_buf_release(&h);
        return rc;
    }
    uint64_t hl = h.len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hl >> (8 * i));
    int bad = fwrite(le, 1, 8, f.fp) != 8 || fwrite(h.data, 1, h.len, f.fp) != h.len;
    uint16_t *tmp = f16 ? ps_xmalloc(65536 * sizeof(uint16_t)) : NULL;
    for (size_t i = 0; i < m->n_tensors && !bad; i++) {
        const struct ps_train_tensor *t = &m->tensors[i];
        if (!f16) {
            bad = fwrite(t->param, 4, t->n_elems, f.fp) != t->n_elems;
            continue;
        }
        for (size_t j = 0; j < t->n_elems && !bad; j += 65536) {
            size_t n = t->n_elems - j < 65536 ? t->n_elems - j : 65536;
            for (size_t k = 0; k < n; k++)
                tmp[k] = f32_to_f16(t->param[j + k]);
            bad = fwrite(tmp, 2, n, f.fp) != n;
        }
    }
    free(tmp);
    ps_buf_release(&h);
    if (bad) {
        ps_afile_abort(&f);
        rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", path, strerror(errno));
    } else {
        rc = ps_afile_commit(&f, err);
    }
    free(path);
    return rc;
}

int ps_train_save_hf(const struct ps_train_model *m, const char *dir, const char *tokenizer_dir,
                     int f16, struct ps_err *err)
{
    int rc = make_dir(dir, err);
    if (rc == PS_OK)
        rc = save_config(m, dir, f16, err);
    if (rc == PS_OK)
        rc = save_weights(m, dir, f16, err);
    static const char *const tok_files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                            "special_tokens_map.json"};
    for (size_t i = 0; tokenizer_dir && rc == PS_OK && i < 4; i++) {
        char *src = join(tokenizer_dir, tok_files[i]), *dst = join(dir, tok_files[i]);
        struct stat st;
        if (strcmp(src, dst) != 0 && stat(src, &st) == 0) {
            char *data;
            size_t n;
            rc = read_file(src, &data, &n, err);
            if (rc == PS_OK)
                rc = write_file(dst, data, n, err);
            free(data);
        } else if (i < 2 && strcmp(src, dst) != 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "tokenizer folder \"%s\" has no %s",
                            tokenizer_dir, tok_files[i]);
        }
        free(src);
        free(dst);
    }
    return rc;
}

/* ---- trainer state -------------------------------------------------------- */

#define STATE_MAGIC "PSTRAIN"  /* 8 bytes with the NUL */
#define STATE_VERSION 1u
#define STATE_FILE "trainer_state.bin"

struct state_header {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    int32_t n_layer, n_head, n_embd, n_ctx, n_vocab, scale_by_layer;
    uint64_t n_params;
    int64_t step, n_steps, warmup, adam_t;
    uint64_t seed;
    int32_t batch, seq, grad_accum, pad0;
    float lr, min_lr, weight_decay, grad_clip, val_frac, pad1;
    uint64_t data_hash, n_train_tokens;
    int64_t eval_every;
    int32_t val_batches, pad2;
};

int ps_train_state_save(const struct ps_train_model *m, const struct ps_train_state *s,
                        const char *dir, struct ps_err *err)
{
    int rc = make_dir(dir, err);
    if (rc)
        return rc;
    struct state_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STATE_MAGIC, 8);
    h.version = STATE_VERSION;
    h.header_bytes = sizeof h;
    h.n_layer = m->cfg.n_layer;
    h.n_head = m->cfg.n_head;
    h.n_embd = m->cfg.n_embd;
    h.n_ctx = m->cfg.n_ctx;
    h.n_vocab = m->cfg.n_vocab;
    h.scale_by_layer = m->cfg.scale_by_layer;
    h.n_params = m->n_params;
    h.step = s->step;
    h.n_steps = s->n_steps;
    h.warmup = s->warmup;
    h.adam_t = m->adam_t;
    h.seed = s->seed;
    h.batch = s->batch;
    h.seq = s->seq;
    h.grad_accum = s->grad_accum;
    h.lr = s->lr;
    h.min_lr = s->min_lr;
    h.weight_decay = s->weight_decay;
    h.grad_clip = s->grad_clip;
    h.val_frac = s->val_frac;
    h.data_hash = s->data_hash;
    h.n_train_tokens = s->n_train_tokens;
    h.eval_every = s->eval_every;
    h.val_batches = s->val_batches;
    size_t nb = m->n_params * sizeof(float);
    size_t total = sizeof h + 3 * nb + 8;
    unsigned char *buf = ps_xmalloc(total);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, m->params, nb);
    if (m->adam_m) {
        memcpy(buf + sizeof h + nb, m->adam_m, nb);
        memcpy(buf + sizeof h + 2 * nb, m->adam_v, nb);
    } else {
        memset(buf + sizeof h + nb, 0, 2 * nb);
    }
    uint64_t sum = ps_hash64(buf, total - 8, 0x5053545241494eull);
    memcpy(buf + total - 8, &sum, 8);
    char *path = join(dir, STATE_FILE);
    rc = write_file(path, buf, total, err);
    free(path);
    free(buf);
    return rc;
}

int ps_train_state_load(struct ps_train_model *m, struct ps_train_state *s, const char *dir,
                        struct ps_err *err)
{
    char *path = join(dir, STATE_FILE);
    char *data = NULL;
    size_t n = 0;
    int rc = read_file(path, &data, &n, err);
    if (rc)
        goto done;
    struct state_header h;
    if (n < sizeof h || memcmp(data, STATE_MAGIC, 8) != 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: not a persona trainer state (bad magic)",
                        path);
        goto done;
    }
    memcpy(&h, data, sizeof h);
    if (h.version != STATE_VERSION) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                        "%s: trainer state version %u is not supported (expected %u)", path,
                        h.version, STATE_VERSION);
        goto done;
    }
    if (h.header_bytes != sizeof h) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: header of %u bytes, expected %zu", path,
                        h.header_bytes, sizeof h);
        goto done;
    }
    if (h.n_layer != m->cfg.n_layer || h.n_head != m->cfg.n_head || h.n_embd != m->cfg.n_embd ||
        h.n_ctx != m->cfg.n_ctx || h.n_vocab != m->cfg.n_vocab || h.n_params != m->n_params) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                        "%s: state is for n_layer=%d n_head=%d n_embd=%d n_ctx=%d vocab=%d, "
                        "config.json says n_layer=%d n_head=%d n_embd=%d n_ctx=%d vocab=%d",
                        path, h.n_layer, h.n_head, h.n_embd, h.n_ctx, h.n_vocab,
                        m->cfg.n_layer, m->cfg.n_head, m->cfg.n_embd, m->cfg.n_ctx,
                        m->cfg.n_vocab);
        goto done;
    }
    size_t nb = m->n_params * sizeof(float);
    if (n != sizeof h + 3 * nb + 8) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %zu bytes, expected %zu (truncated?)", path,
                        n, sizeof h + 3 * nb + 8);
        goto done;
    }
    uint64_t sum;
    memcpy(&sum, data + n - 8, 8);
    if (sum != ps_hash64(data, n - 8, 0x5053545241494eull)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: checksum mismatch (file corrupted)", path);
        goto done;
    }
    if (h.step < 0 || h.adam_t < 0 || h.batch < 1 || h.seq < 1 || h.grad_accum < 1 ||
        h.seq > m->cfg.n_ctx || !(h.lr >= 0) || h.warmup < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: settings out of range", path);
        goto done;
    }
    memcpy(m->params, data + sizeof h, nb);
    ps_adamw_prepare(m, (long)h.adam_t);
    memcpy(m->adam_m, data + sizeof h + nb, nb);
    memcpy(m->adam_v, data + sizeof h + 2 * nb, nb);
    memset(s, 0, sizeof *s);
    s->step = (long)h.step;
    s->n_steps = (long)h.n_steps;
    s->warmup = (long)h.warmup;
    s->seed = h.seed;
    s->batch = h.batch;
    s->seq = h.seq;
    s->grad_accum = h.grad_accum;
    s->lr = h.lr;
    s->min_lr = h.min_lr;
    s->weight_decay = h.weight_decay;
    s->grad_clip = h.grad_clip;
    s->val_frac = h.val_frac;
    s->data_hash = h.data_hash;
    s->n_train_tokens = h.n_train_tokens;
    s->eval_every = (long)h.eval_every;
    s->val_batches = h.val_batches;
done:
    free(data);
    free(path);
    return rc;
}
