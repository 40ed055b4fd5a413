/*
 * lm_internal.h - the model and context structs shared by lm.c, gpt2.c,
 * bert.c and generate.c (not a public header).
 *
 * Packed layout: a forward call's real tokens are stored row after row
 * without padding ("packed row" m = off[b] + t), so matrix products never
 * touch padding and attention reads each text's own keys.
 */
#ifndef PERSONA_LM_INTERNAL_H
#define PERSONA_LM_INTERNAL_H

#include "persona/bert.h"
#include "persona/gpt2.h"
#include "persona/lm.h"
#include "persona/safetensors.h"

struct ps_lm {
    struct ps_lm_config cfg;
    struct ps_st_checkpoint *ck;     /* owns the maps the weights point into */
    float *converted;                /* weights converted to float32, owned */
    size_t converted_bytes;
    struct ps_gpt2_weights gpt2;
    struct ps_bert_weights bert;
    int has_pooler;
};

struct ps_lm_ctx {
    const struct ps_lm *m;
    struct ps_lm_ctx_params p;       /* max_tokens, max_packed resolved */
    int n_threads;
    float *arena;                    /* one allocation, carved below */
    size_t arena_bytes;
    /* Activations, packed rows (M = n_packed <= max_packed). */
    float *x;                        /* (M, C) residual stream */
    float *h;                        /* (M, C) LayerNorm output / scratch */
    float *qkv;                      /* (M, 3C) */
    float *att;                      /* (M, C) attention output */
    float *ff;                       /* (M, F) */
    float *scores;                   /* (n_threads, max_tokens) */
    float *kv;                       /* (kv_layers, max_batch, 2, max_tokens, C); kv_layers 0 without a cache */
    int kv_layers;
    float *last;                     /* (max_batch, C) gathered rows */
    float *logits;                   /* (max_batch, V) */
    float *pooler;                   /* (max_batch, C) */
    /* Batch metadata of the current call. */
    int n_rows, n_packed;
    int32_t *off;                    /* (max_batch + 1) first packed row of each row */
    int32_t *len;                    /* (max_batch) */
    int32_t *start;                  /* (max_batch) first position */
    int32_t *ids;                    /* (max_packed) token ids */
    int32_t *pos;                    /* (max_packed) positions */
    int32_t *types;                  /* (max_packed) token types */
    int32_t *row_of;                 /* (max_packed) batch row of each packed row */
    const float *hidden;             /* (M, C) result: h or x */
    int have_logits, have_pooler;
};

/* Family forward passes over the metadata ps_lm_forward validated. */
void ps__gpt2_forward(struct ps_lm_ctx *ctx);
void ps__bert_forward(struct ps_lm_ctx *ctx);

/* Parallel helpers over the context's pool (lm.c). */
void ps__par_layernorm(struct ps_lm_ctx *ctx, float *out, const float *in, const float *w,
                       const float *b, int M, int C, float eps);
/* in[r] += add (if not NULL), then out[r] = LayerNorm(in[r]): a pending
 * bias folded into the pass that reads the residual stream anyway. */
void ps__par_add_layernorm(struct ps_lm_ctx *ctx, float *out, float *in, const float *add,
                           const float *w, const float *b, int M, int C, float eps);
/* Copies bias into each of M rows of y (row stride ldy), so a product can
 * accumulate onto it (beta = 1) instead of a separate bias pass. */
void ps__fill_bias(float *y, int ldy, const float *bias, int M, int N);
void ps__par_bias_act(struct ps_lm_ctx *ctx, float *y, int ldy, const float *bias, int M, int N,
                      int act);  /* act: -1 none, else enum ps_lm_act */
/* Runs attention for every (row, head): causal (GPT-2, keys from the
 * cache) or bidirectional (BERT, keys from qkv). */
void ps__par_attention(struct ps_lm_ctx *ctx, int layer, int causal);
float *ps__kv_slot(const struct ps_lm_ctx *ctx, int layer, int row, int which);

#endif
