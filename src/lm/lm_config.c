/*
 * lm_config.c - config.json for GPT-2 (GPT2Config) and BERT (BertConfig)
 * checkpoints (see lm.h).
 *
 * Only the keys that shape the network are read; everything else
 * (dropouts, task heads, tokenizer hints) is ignored, as transformers does
 * at inference.  Values are range-checked so that later size arithmetic
 * cannot overflow: a config that claims 10^12 layers is bad input, not an
 * out-of-memory crash.
 */
#include "persona/lm.h"
#include "persona/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

/* Generous caps: GPT-2 XL has 48 layers, 1600 channels, 50257 tokens. */
#define MAX_LAYERS 1024
#define MAX_DIM (1 << 16)
#define MAX_CTX (1 << 20)
#define MAX_VOCAB (1 << 24)

static int get_int(json_t *root, const char *file, const char *key, int required, long lo,
                   long hi, int *out, struct ps_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing key \"%s\"", file, key);
        return 1; /* absent: keep the default */
    }
    if (!json_is_integer(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": expected an integer", file, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": %lld is outside %ld..%ld", file,
                          key, (long long)x, lo, hi);
    *out = (int)x;
    return PS_OK;
}

static int get_real(json_t *root, const char *file, const char *key, float *out,
                    struct ps_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return PS_OK;
    if (!json_is_number(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": expected a number", file, key);
    double x = json_number_value(v);
    if (!(x > 0 && x < 1))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": %g is outside (0, 1)", file, key,
                          x);
    *out = (float)x;
    return PS_OK;
}

static int get_bool(json_t *root, const char *file, const char *key, int *out,
                    struct ps_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return PS_OK;
    if (!json_is_boolean(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": expected true or false", file, key);
    *out = json_is_true(v);
    return PS_OK;
}

static int get_act(json_t *root, const char *file, const char *key, enum ps_lm_act *out,
                   struct ps_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return PS_OK;
    if (!json_is_string(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: key \"%s\": expected a string", file, key);
    const char *s = json_string_value(v);
    if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast"))
        *out = PS_LM_ACT_GELU_TANH;
    else if (!strcmp(s, "gelu"))
        *out = PS_LM_ACT_GELU_ERF;
    else if (!strcmp(s, "relu"))
        *out = PS_LM_ACT_RELU;
    else
        return ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: key \"%s\": unsupported activation \"%s\"",
                          file, key, s);
    return PS_OK;
}

/* get_int returns 1 for "absent, default kept": fold that into OK. */
#define TRY(call) do { int rc_ = (call); if (rc_ < 0) { rc = rc_; goto done; } } while (0)

int ps_lm_config_parse(struct ps_lm_config *cfg, const char *text, size_t len,
                       const char *display_name, struct ps_err *err)
{
    const char *file = display_name ? display_name : "config.json";
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = PS_OK;
    memset(cfg, 0, sizeof *cfg);
    cfg->eos_id = cfg->pad_id = -1;
    if (!root)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: malformed JSON: %s", file, jerr.line,
                          jerr.text);
    if (!json_is_object(root)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: not a JSON object", file);
        goto done;
    }
    json_t *mt = json_object_get(root, "model_type");
    if (!json_is_string(mt)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing key \"model_type\"", file);
        goto done;
    }
    const char *type = json_string_value(mt);
    if (strcmp(type, "gpt2") == 0) {
        cfg->arch = PS_LM_GPT2;
        cfg->act = PS_LM_ACT_GELU_TANH;
        cfg->ln_eps = 1e-5f;
        cfg->scale_attn = 1;
        TRY(get_int(root, file, "n_layer", 1, 1, MAX_LAYERS, &cfg->n_layer, err));
        TRY(get_int(root, file, "n_head", 1, 1, MAX_DIM, &cfg->n_head, err));
        TRY(get_int(root, file, "n_embd", 1, 1, MAX_DIM, &cfg->d_model, err));
        TRY(get_int(root, file, "vocab_size", 1, 1, MAX_VOCAB, &cfg->n_vocab, err));
        int r = get_int(root, file, "n_positions", 0, 1, MAX_CTX, &cfg->n_ctx, err);
        TRY(r);
        if (r == 1)
            TRY(get_int(root, file, "n_ctx", 1, 1, MAX_CTX, &cfg->n_ctx, err));
        cfg->d_ff = 4 * cfg->d_model;
        TRY(get_int(root, file, "n_inner", 0, 1, 4 * MAX_DIM, &cfg->d_ff, err));
        TRY(get_real(root, file, "layer_norm_epsilon", &cfg->ln_eps, err));
        TRY(get_act(root, file, "activation_function", &cfg->act, err));
        TRY(get_bool(root, file, "scale_attn_weights", &cfg->scale_attn, err));
        TRY(get_bool(root, file, "scale_attn_by_inverse_layer_idx", &cfg->scale_by_layer, err));
        TRY(get_int(root, file, "eos_token_id", 0, 0, MAX_VOCAB, &cfg->eos_id, err));
    } else if (strcmp(type, "bert") == 0) {
        cfg->arch = PS_LM_BERT;
        cfg->act = PS_LM_ACT_GELU_ERF;
        cfg->ln_eps = 1e-12f;
        cfg->n_type_vocab = 2;
        TRY(get_int(root, file, "num_hidden_layers", 1, 1, MAX_LAYERS, &cfg->n_layer, err));
        TRY(get_int(root, file, "num_attention_heads", 1, 1, MAX_DIM, &cfg->n_head, err));
        TRY(get_int(root, file, "hidden_size", 1, 1, MAX_DIM, &cfg->d_model, err));
        TRY(get_int(root, file, "intermediate_size", 1, 1, 4 * MAX_DIM, &cfg->d_ff, err));
        TRY(get_int(root, file, "max_position_embeddings", 1, 1, MAX_CTX, &cfg->n_ctx, err));
        TRY(get_int(root, file, "vocab_size", 1, 1, MAX_VOCAB, &cfg->n_vocab, err));
        TRY(get_int(root, file, "type_vocab_size", 0, 1, 1024, &cfg->n_type_vocab, err));
        TRY(get_real(root, file, "layer_norm_eps", &cfg->ln_eps, err));
        TRY(get_act(root, file, "hidden_act", &cfg->act, err));
        TRY(get_int(root, file, "pad_token_id", 0, 0, MAX_VOCAB, &cfg->pad_id, err));
        json_t *pe = json_object_get(root, "position_embedding_type");
        if (pe && !json_is_null(pe) &&
            (!json_is_string(pe) || strcmp(json_string_value(pe), "absolute") != 0)) {
            rc = ps_err_set(err, PS_ERR_UNSUPPORTED,
                            "%s: key \"position_embedding_type\": only \"absolute\" is supported",
                            file);
            goto done;
        }
    } else {
        rc = ps_err_set(err, PS_ERR_UNSUPPORTED,
                        "%s: model_type \"%s\" is not supported (gpt2 or bert)", file, type);
        goto done;
    }
    if (cfg->d_model % cfg->n_head != 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: hidden size %d is not a multiple of %d heads",
                        file, cfg->d_model, cfg->n_head);
        goto done;
    }
    if (cfg->eos_id >= cfg->n_vocab)
        cfg->eos_id = -1;
    if (cfg->pad_id >= cfg->n_vocab)
        cfg->pad_id = -1;
done:
    json_decref(root);
    return rc;
}

int ps_lm_config_load(struct ps_lm_config *cfg, const char *path, struct ps_err *err)
{
    /* id2label maps can make a config large; 16 MiB is still a cap. */
    const size_t cap = 16u << 20;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
    size_t len = 0, alloc = 1 << 16;
    char *buf = ps_xmalloc(alloc);
    for (;;) {
        size_t n = fread(buf + len, 1, alloc - len, f);
        len += n;
        if (len < alloc)
            break;
        if (alloc >= cap) {
            fclose(f);
            free(buf);
            return ps_err_set(err, PS_ERR_TOO_BIG, "%s: larger than %zu bytes", path, cap);
        }
        alloc *= 2;
        buf = ps_xrealloc(buf, alloc);
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? ps_err_set(err, PS_ERR_IO, "cannot read \"%s\"", path)
                 : ps_lm_config_parse(cfg, buf, len, path, err);
    free(buf);
    return rc;
}
