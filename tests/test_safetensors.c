/*
 * test_safetensors.c - the safetensors reader and the checkpoint loader:
 * a corpus of hostile files (each with the error it must produce), F16 /
 * BF16 views, sharded checkpoints (index.json) that must give the same
 * outputs as the single file, config.json errors, and the real
 * checkpoints saved by transformers in ../shared/data/hf-checkpoints run
 * against outputs of ../shared/lmref/reference.py
 * (tests/fixtures/lm/hf_checkpoints.json, see make_hf_fixtures.py).
 */
#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "persona/lm.h"
#include "persona/safetensors.h"

/* A safetensors image: 8-byte length, the header text, data_len bytes. */
static unsigned char *image(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = calloc(1, *len + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        b[8 + h + i] = (unsigned char)i;
    return b;
}

static void expect_error(const char *header, size_t data_len, const char *needle)
{
    size_t len;
    unsigned char *b = image(header, data_len, &len);
    struct ps_safetensors *st = NULL;
    struct ps_err err = {0};
    int rc = ps_safetensors_parse(&st, b, len, "bad.safetensors", &err);
    if (rc != PS_ERR_BAD_INPUT)
        fprintf(stderr, "  header %s: rc %d\n", header, rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK(st == NULL);
    CHECK_CONTAINS(err.msg, "bad.safetensors: ");
    CHECK_CONTAINS(err.msg, needle);
    ps_safetensors_close(st);
    free(b);
}

TEST(safetensors_hostile_headers)
{
    expect_error("{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor \"a\": unknown dtype \"F7\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
                 "tensor \"a\": shape [2, 2] x F32 is 16 bytes, data_offsets give 12");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                 "tensor \"a\": data_offsets [0, 8] exceed the 4-byte data area");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 "overlap the previous tensor");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 "leaving a hole after byte 0");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
                 "tensors cover 4 bytes of a 12-byte data area");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 "tensor \"a\": shape[0] is not a non-negative integer");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                 "shape[0] is not a non-negative integer");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", 4, "tensor \"a\": shape overflows");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                 4, "9 dimensions (at most 8)");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                 "data_offsets [4, 0] are not increasing");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                 "\"data_offsets\" must be [begin, end] integers");
    expect_error("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing or non-string \"dtype\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing or non-array \"shape\"");
    expect_error("{\"a\":[1,2]}", 0, "tensor \"a\": entry is not a JSON object");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "malformed header JSON");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 4,
                 "malformed header JSON");
    expect_error("[1, 2]", 0, "header does not start with a JSON object");
    expect_error("{\"__metadata__\":{\"format\":1}}", 0, "\"__metadata__\" value \"format\" is not a string");
    expect_error("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor with an empty name");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}",
                 4, "malformed header JSON"); /* beyond int64: jansson refuses */

    /* Length field problems. */
    struct ps_safetensors *st = NULL;
    struct ps_err err = {0};
    unsigned char tiny[5] = {1, 2, 3, 4, 5};
    CHECK(ps_safetensors_parse(&st, tiny, 5, "t.st", &err) == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "t.st: file is 5 bytes, too short for a header");
    size_t len;
    unsigned char *b = image("{}", 0, &len);
    b[0] = 200; /* claims 200 header bytes in a 10-byte file */
    CHECK(ps_safetensors_parse(&st, b, len, "t.st", &err) == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "header length 200 goes beyond the end of the file (10 bytes)");
    b[7] = 0xff; /* 2^63-ish */
    CHECK(ps_safetensors_parse(&st, b, len, "t.st", &err) == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "over the");
    free(b);
}

TEST(safetensors_valid_views_and_dtypes)
{
    /* F32 [2] = {1, -2}; F16 [2] = {1, 0.5}; BF16 [1] = 3; I64 [1]; an empty tensor. */
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[14,14]},"
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[14,22]}}";
    size_t len;
    unsigned char *buf = image(hdr, 22, &len);
    unsigned char *d = buf + 8 + strlen(hdr);
    float f[2] = {1.0f, -2.0f};
    memcpy(d, f, 8);
    d[8] = 0x00, d[9] = 0x3c, d[10] = 0x00, d[11] = 0x38; /* 1.0, 0.5 */
    d[12] = 0x40, d[13] = 0x40;                           /* bf16 3.0 */
    struct ps_safetensors *st = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_safetensors_parse(&st, buf, len, "ok.st", &err), 0);
    if (!st) {
        free(buf);
        return;
    }
    CHECK_INT(ps_safetensors_n_tensors(st), 5);
    const struct ps_st_tensor *t = ps_safetensors_find(st, "h");
    CHECK(t && t->dtype == PS_ST_F16 && t->n_elems == 2 && t->offset == 8);
    float out[2];
    CHECK_INT(ps_st_tensor_to_f32(t, out), 0);
    CHECK(out[0] == 1.0f && out[1] == 0.5f);
    t = ps_safetensors_find(st, "b");
    CHECK_INT(ps_st_tensor_to_f32(t, out), 0);
    CHECK(out[0] == 3.0f);
    t = ps_safetensors_find(st, "f");
    CHECK_INT(ps_st_tensor_to_f32(t, out), 0);
    CHECK(out[0] == 1.0f && out[1] == -2.0f);
    t = ps_safetensors_find(st, "i");
    CHECK(t && t->n_dims == 0 && t->n_elems == 1);
    CHECK(ps_st_tensor_to_f32(t, out) == PS_ERR_UNSUPPORTED);
    t = ps_safetensors_find(st, "e");
    CHECK(t && t->n_elems == 0 && t->n_bytes == 0);
    CHECK(ps_safetensors_find(st, "nope") == NULL);
    CHECK_STR(ps_st_dtype_name(PS_ST_BF16), "BF16");
    ps_safetensors_close(st);
    free(buf);
}

/* ---- checkpoint folders built from the tiny GPT-2 --------------------- */

static char *slurp(const char *path, size_t *n)
{
    char *s = test_read_file(path, n);
    CHECK(s != NULL);
    return s;
}

static void write_at(const char *dir, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void write_str(const char *dir, const char *name, const char *s)
{
    write_at(dir, name, s, strlen(s));
}

static const char *make_dir(const char *name)
{
    const char *d = test_tmp(name);
    mkdir(d, 0755);
    return d;
}

/* Writes the tensors of src whose index satisfies (i % 2 == part) (part -1
 * = all) as one safetensors file. */
static void write_subset(const struct ps_safetensors *src, const char *dir, const char *name,
                         int part)
{
    json_t *h = json_object();
    size_t off = 0, n = ps_safetensors_n_tensors(src);
    for (size_t i = 0; i < n; i++) {
        if (part >= 0 && (int)(i % 2) != part)
            continue;
        const struct ps_st_tensor *t = ps_safetensors_tensor(src, i);
        json_t *shape = json_array();
        for (int k = 0; k < t->n_dims; k++)
            json_array_append_new(shape, json_integer(t->shape[k]));
        json_object_set_new(h, t->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", ps_st_dtype_name(t->dtype),
                                      "shape", shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + t->n_bytes)));
        off += t->n_bytes;
    }
    char *text = json_dumps(h, JSON_COMPACT);
    size_t hl = strlen(text), total = 8 + hl + off;
    unsigned char *b = malloc(total);
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, text, hl);
    size_t at = 8 + hl;
    for (size_t i = 0; i < n; i++) {
        if (part >= 0 && (int)(i % 2) != part)
            continue;
        const struct ps_st_tensor *t = ps_safetensors_tensor(src, i);
        memcpy(b + at, t->data, t->n_bytes);
        at += t->n_bytes;
    }
    write_at(dir, name, b, total);
    free(b);
    free(text);
    json_decref(h);
}

static float first_logit_run(const char *dir, struct ps_err *err, int *rc)
{
    struct ps_lm *m = NULL;
    *rc = ps_lm_load(&m, dir, err);
    if (*rc)
        return NAN;
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 1;
    cp.logits = 1;
    struct ps_lm_ctx *ctx = NULL;
    ps_lm_ctx_new(&ctx, m, &cp, err);
    int32_t ids[4] = {291, 633, 596, 457}, len = 4;
    struct ps_lm_batch b = {.n_rows = 1, .stride = 4, .ids = ids, .lens = &len};
    ps_lm_forward(ctx, &b, err);
    float v = ps_lm_logits(ctx, 0)[7];
    ps_lm_ctx_free(ctx);
    ps_lm_free(m);
    return v;
}

TEST(safetensors_sharded_and_broken_checkpoints)
{
    const char *src_dir = test_shared("lmref/models/gpt2-tiny-f32");
    char path[512];
    size_t cfg_len;
    snprintf(path, sizeof path, "%s/config.json", src_dir);
    char *cfg = slurp(path, &cfg_len);
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    struct ps_safetensors *src = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_safetensors_open(&src, path, NULL, &err), 0);
    if (!src || !cfg) {
        free(cfg);
        return;
    }
    int rc;
    float want = first_logit_run(src_dir, &err, &rc);
    CHECK_INT(rc, 0);

    /* Two shards + index: same logits. */
    const char *sh = make_dir("sharded");
    write_at(sh, "config.json", cfg, cfg_len);
    write_subset(src, sh, "model-00001-of-00002.safetensors", 0);
    write_subset(src, sh, "model-00002-of-00002.safetensors", 1);
    json_t *idx = json_object(), *wm = json_object();
    for (size_t i = 0; i < ps_safetensors_n_tensors(src); i++)
        json_object_set_new(wm, ps_safetensors_tensor(src, i)->name,
                            json_string(i % 2 ? "model-00002-of-00002.safetensors"
                                              : "model-00001-of-00002.safetensors"));
    json_object_set_new(idx, "metadata", json_pack("{s:i}", "total_size", 1));
    json_object_set(idx, "weight_map", wm);
    char *txt = json_dumps(idx, 0);
    write_at(sh, "model.safetensors.index.json", txt, strlen(txt));
    free(txt);
    float got = first_logit_run(sh, &err, &rc);
    CHECK_INT(rc, 0);
    CHECK(got == want);

    /* The index maps a tensor to the wrong shard. */
    json_object_set_new(wm, "wte.weight", json_string("model-00002-of-00002.safetensors"));
    txt = json_dumps(idx, 0);
    write_at(sh, "model.safetensors.index.json", txt, strlen(txt));
    free(txt);
    first_logit_run(sh, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "tensor \"wte.weight\" is mapped to \"model-00002-of-00002.safetensors\"");
    /* A shard path that leaves the folder. */
    json_object_set_new(wm, "wte.weight", json_string("../model.safetensors"));
    txt = json_dumps(idx, 0);
    write_at(sh, "model.safetensors.index.json", txt, strlen(txt));
    free(txt);
    first_logit_run(sh, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "is not a file name in the folder");
    json_decref(wm);
    json_decref(idx);

    /* A missing tensor (h.1.ln_2.bias dropped): named in the error. */
    const char *miss = make_dir("missing");
    write_at(miss, "config.json", cfg, cfg_len);
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    size_t n;
    char *raw = slurp(path, &n);
    char *hit = memmem(raw, n, "\"h.1.ln_2.bias\"", 15);
    CHECK(hit != NULL);
    if (hit)
        memcpy(hit + 1, "X", 1);
    write_at(miss, "model.safetensors", raw, n);
    first_logit_run(miss, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "missing tensor \"h.1.ln_2.bias\"");
    /* Shapes that contradict config.json: n_positions 64 vs wpe [128, 64]. */
    const char *shp = make_dir("shape");
    char *cfg2 = malloc(cfg_len + 1);
    memcpy(cfg2, cfg, cfg_len);
    cfg2[cfg_len] = 0;
    char *np = strstr(cfg2, "\"n_positions\": 128");
    CHECK(np != NULL);
    if (np)
        memcpy(np, "\"n_positions\":  64", 18);
    write_at(shp, "config.json", cfg2, cfg_len);
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    write_at(shp, "model.safetensors", raw, n);
    first_logit_run(shp, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "model.safetensors: tensor \"wpe.weight\": shape [128, 64] contradicts config.json (expected [64, 64])");
    /* Truncated weights file: the header now points past the end. */
    write_at(shp, "config.json", cfg, cfg_len);
    write_at(shp, "model.safetensors", raw, n - 100);
    first_logit_run(shp, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "model.safetensors: tensor \"");
    CHECK_CONTAINS(err.msg, "exceed the");
    /* Config problems. */
    write_at(shp, "model.safetensors", raw, n);
    write_str(shp, "config.json", "{\"model_type\": \"gpt2\", \"n_layer\": 2}");
    first_logit_run(shp, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "config.json: missing key \"n_head\"");
    write_str(shp, "config.json", "{\"model_type\": \"t5\"}");
    first_logit_run(shp, &err, &rc);
    CHECK(rc == PS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "model_type \"t5\" is not supported");
    write_str(shp, "config.json", "{\"model_type\": \"gpt2\", ");
    first_logit_run(shp, &err, &rc);
    CHECK(rc == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "malformed JSON");
    struct ps_lm_config c;
    const char *j = "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_head\":3,\"n_embd\":64,\"vocab_size\":10,\"n_positions\":8}";
    CHECK(ps_lm_config_parse(&c, j, strlen(j), "c.json", &err) == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "c.json: hidden size 64 is not a multiple of 3 heads");
    j = "{\"model_type\":\"gpt2\",\"n_layer\":-2,\"n_head\":4,\"n_embd\":64,\"vocab_size\":10,\"n_positions\":8}";
    CHECK(ps_lm_config_parse(&c, j, strlen(j), "c.json", &err) == PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "key \"n_layer\": -2 is outside 1..1024");
    j = "{\"model_type\":\"bert\",\"num_hidden_layers\":2,\"num_attention_heads\":4,\"hidden_size\":64,"
        "\"intermediate_size\":8,\"max_position_embeddings\":8,\"vocab_size\":10,"
        "\"position_embedding_type\":\"relative_key\"}";
    CHECK(ps_lm_config_parse(&c, j, strlen(j), "c.json", &err) == PS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "only \"absolute\"");
    /* No weights at all. */
    const char *empty = make_dir("noweights");
    write_at(empty, "config.json", cfg, cfg_len);
    first_logit_run(empty, &err, &rc);
    CHECK(rc == PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "no \"model.safetensors\"");
    free(cfg2);
    free(raw);
    free(cfg);
    ps_safetensors_close(src);
}

/* ---- real checkpoints saved by transformers ---------------------------- */

TEST(safetensors_hf_checkpoints_run)
{
    json_error_t je;
    json_t *fx = json_load_file("tests/fixtures/lm/hf_checkpoints.json", 0, &je);
    CHECK(fx != NULL);
    if (!fx)
        return;
    const char *names[] = {"fake_gpt2", "tiny_gpt2", "bert_tiniest"};
    for (int k = 0; k < 3; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "data/hf-checkpoints/%s", names[k]);
        struct ps_lm *m = NULL;
        struct ps_err err = {0};
        int rc = ps_lm_load(&m, test_shared(rel), &err);
        CHECK_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "  %s\n", err.msg);
            continue;
        }
        const struct ps_lm_config *c = ps_lm_get_config(m);
        struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
        cp.max_batch = 2;
        cp.max_tokens = 16;
        cp.logits = 1;
        struct ps_lm_ctx *ctx = NULL;
        CHECK_INT(ps_lm_ctx_new(&ctx, m, &cp, &err), 0);
        json_t *items = json_object_get(fx, names[k]);
        double dh = 0, dl = 0;
        int32_t ids[2][16], lens[2];
        for (size_t i = 0; i < 2; i++) {
            json_t *a = json_object_get(json_array_get(items, i), "input_ids");
            lens[i] = (int32_t)json_array_size(a);
            for (int t = 0; t < lens[i]; t++)
                ids[i][t] = (int32_t)json_integer_value(json_array_get(a, (size_t)t));
        }
        struct ps_lm_batch b = {.n_rows = 2, .stride = 16, .ids = &ids[0][0], .lens = lens};
        CHECK_INT(ps_lm_forward(ctx, &b, &err), 0);
        for (int i = 0; i < 2; i++) {
            json_t *it = json_array_get(items, (size_t)i);
            json_t *hs = json_object_get(it, "last_hidden_state");
            int nt;
            const float *h = ps_lm_hidden(ctx, i, &nt);
            for (int t = 0; t < nt; t++)
                for (int d = 0; d < c->d_model; d++)
                    dh = fmax(dh, fabs(h[t * c->d_model + d] -
                                       json_number_value(json_array_get(json_array_get(hs, (size_t)t), (size_t)d))));
            if (c->arch == PS_LM_GPT2) {
                const float *lg = ps_lm_logits(ctx, i);
                json_t *head = json_object_get(it, "logits_head");
                for (size_t v = 0; v < json_array_size(head); v++)
                    dl = fmax(dl, fabs(lg[v] - json_number_value(json_array_get(head, v))));
            }
        }
        fprintf(stderr, "  %s: max|diff| hidden %.2e  logits %.2e\n", names[k], dh, dl);
        CHECK(dh <= 1e-4);
        CHECK(dl <= 1e-4);
        ps_lm_ctx_free(ctx);
        ps_lm_free(m);
    }
    json_decref(fx);
}
