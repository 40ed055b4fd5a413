/*
 * lm.h - transformer language models from Hugging Face checkpoint folders:
 * GPT-2 (decoder, text generation, embeddings) and BERT (encoder,
 * embeddings).  One handle type loads either family from config.json and
 * the safetensors weights; a separate work context holds every buffer a
 * forward pass needs, sized up front, so no allocation happens per token.
 *
 *   struct ps_lm *m;            ps_lm_load(&m, "models/gpt2", &err);
 *   struct ps_lm_ctx *ctx;      ps_lm_ctx_new(&ctx, m, &params, &err);
 *   ps_lm_forward(ctx, &batch, &err);
 *   ps_lm_hidden(ctx, row, &n);   ps_lm_logits(ctx, row);
 *
 * Numerics: float32 compute; F16/BF16/F64 weights are converted to float32
 * once at load (sgemm needs float32 operands, and converting per call would
 * redo the work on every batch); F32 weights are used in place from the
 * read-only map.  Matrix products go through ps_sgemm (OpenBLAS).
 *
 * Thread safety: a loaded model is read-only and may be shared; a context
 * belongs to one thread at a time (it borrows a pool for its workers).
 */
#ifndef PERSONA_LM_H
#define PERSONA_LM_H

#include <stddef.h>
#include <stdint.h>
#include "sampler.h"
#include "status.h"

struct ps_pool;

enum ps_lm_arch { PS_LM_GPT2, PS_LM_BERT };
enum ps_lm_act { PS_LM_ACT_GELU_TANH, PS_LM_ACT_GELU_ERF, PS_LM_ACT_RELU };

/* The hyperparameters that shape the network (config.json). */
struct ps_lm_config {
    enum ps_lm_arch arch;
    int n_layer;          /* GPT-2 n_layer, BERT num_hidden_layers */
    int n_head;           /* attention heads */
    int d_model;          /* n_embd / hidden_size (multiple of n_head) */
    int d_ff;             /* n_inner (null = 4 d_model) / intermediate_size */
    int n_ctx;            /* n_positions / max_position_embeddings */
    int n_vocab;          /* vocab_size */
    int n_type_vocab;     /* BERT type_vocab_size (0 for GPT-2) */
    float ln_eps;         /* layer_norm_epsilon / layer_norm_eps */
    enum ps_lm_act act;   /* activation_function / hidden_act */
    int scale_attn;       /* GPT-2 scale_attn_weights (1/sqrt(head_dim)) */
    int scale_by_layer;   /* GPT-2 scale_attn_by_inverse_layer_idx */
    int32_t eos_id;       /* eos_token_id, -1 if absent */
    int32_t pad_id;       /* pad_token_id, -1 if absent */
};

/* Parses config.json text (display_name for messages).  Validates types,
 * ranges and consistency (d_model % n_head == 0, ...); unsupported
 * variants (relative position embeddings, ...) are PS_ERR_UNSUPPORTED. */
int ps_lm_config_parse(struct ps_lm_config *cfg, const char *json, size_t len,
                       const char *display_name, struct ps_err *err);
int ps_lm_config_load(struct ps_lm_config *cfg, const char *path, struct ps_err *err);

/* ---- model ------------------------------------------------------------ */

struct ps_lm;

/* Loads dir/config.json and the weights (model.safetensors or a sharded
 * model.safetensors.index.json).  Tensor names with or without the
 * "transformer." / "bert." prefix; GPT-2 lm_head tied to wte unless the
 * file has its own; causal-mask buffers, position_ids and cls.* heads are
 * skipped.  Every tensor's shape is checked against config.json. */
int ps_lm_load(struct ps_lm **out, const char *dir, struct ps_err *err);
void ps_lm_free(struct ps_lm *m);

const struct ps_lm_config *ps_lm_get_config(const struct ps_lm *m);
/* 1 if the BERT checkpoint has pooler.dense (pooler output available). */
int ps_lm_has_pooler(const struct ps_lm *m);
/* Bytes of the checkpoint's data areas. */
size_t ps_lm_checkpoint_bytes(const struct ps_lm *m);
/* Bytes of weights converted to float32 and held in memory (0 for an
 * aligned F32 checkpoint, which is used in place). */
size_t ps_lm_converted_bytes(const struct ps_lm *m);

/* ---- work context ------------------------------------------------------ */

struct ps_lm_ctx_params {
    int max_batch;        /* rows per forward call */
    int max_tokens;       /* positions per row, prompt + generated (<= n_ctx; 0 = n_ctx) */
    int max_packed;       /* total real tokens per call (0 = max_batch * max_tokens) */
    int kv_cache;         /* 1: keep K/V of every layer for incremental decoding */
    int logits;           /* 1: compute next-token logits at each row's last token (GPT-2) */
    struct ps_pool *pool; /* borrowed; NULL = run on the caller only */
};
struct ps_lm_ctx_params ps_lm_ctx_default_params(void);

struct ps_lm_ctx;

int ps_lm_ctx_new(struct ps_lm_ctx **out, const struct ps_lm *m,
                  const struct ps_lm_ctx_params *p, struct ps_err *err);
void ps_lm_ctx_free(struct ps_lm_ctx *ctx);
/* Bytes of the context's arena. */
size_t ps_lm_ctx_bytes(const struct ps_lm_ctx *ctx);

/*
 * One forward call over a right-padded batch.  Row b holds lens[b] real
 * tokens ids[b * stride .. + lens[b]) at positions start[b] ..; the rest of
 * the row is padding and never read (the lengths are the attention mask).
 * Internally real tokens are packed, so padding costs nothing and a row's
 * result does not depend on the other rows.  With a KV cache, start[b] is
 * the number of tokens of row b already cached (row b uses cache slot b);
 * start NULL = all zero.  token_types (BERT) NULL = all type 0.
 */
struct ps_lm_batch {
    int n_rows;                  /* B <= max_batch */
    int stride;                  /* row stride of ids / token_types */
    const int32_t *ids;          /* (B, stride) token ids */
    const int32_t *lens;         /* (B) real tokens per row, >= 1 */
    const int32_t *start;        /* (B) first position per row, or NULL */
    const int32_t *token_types;  /* (B, stride) or NULL */
};

/* Errors: ids outside the vocabulary, rows longer than the context or the
 * context's capacity, empty rows. */
int ps_lm_forward(struct ps_lm_ctx *ctx, const struct ps_lm_batch *b, struct ps_err *err);

/* Results of the last forward call; borrowed, valid until the next call.
 * Last hidden state of row b: (lens[b], d_model), GPT-2 after ln_f. */
const float *ps_lm_hidden(const struct ps_lm_ctx *ctx, int row, int *n_tokens);
/* Next-token logits (n_vocab) at row b's last token (ctx with logits). */
const float *ps_lm_logits(const struct ps_lm_ctx *ctx, int row);
/* BERT pooler output tanh(W cls + b) (d_model), NULL without a pooler. */
const float *ps_lm_pooler(const struct ps_lm_ctx *ctx, int row);

/* ---- pooling and embeddings --------------------------------------------- */

enum ps_lm_pool { PS_LM_POOL_MEAN, PS_LM_POOL_CLS, PS_LM_POOL_LAST };

/* Parses "mean" / "cls" / "last"; -1 if unknown. */
int ps_lm_pool_parse(const char *s);
const char *ps_lm_pool_name(enum ps_lm_pool p);

/* Pools hidden (n, C) into out (C): mean over the n rows (double
 * accumulators), the first row (CLS) or the last; normalize = L2 unit
 * length (a zero vector stays zero). */
void ps_lm_pool_rows(const float *hidden, int n, int C, enum ps_lm_pool pool,
                     int normalize, float *out);

/* Embedding a list of tokenised texts (ids as the tokenizer returns them:
 * BERT ids start with [CLS] and end with [SEP]). */
struct ps_lm_embed_params {
    enum ps_lm_pool pool;  /* default mean */
    int normalize;         /* L2-normalise each output vector */
    int max_tokens;        /* tokens per window (0 = the context's max_tokens) */
    int chunk;             /* 0: truncate to max_tokens; 1: split into windows
                              of max_tokens and average their vectors */
};
struct ps_lm_embed_params ps_lm_embed_default_params(void);

/*
 * Embeds n texts into out (n, d_model), row i = text i.  Texts are sorted
 * by length internally and run in batches of the context's size, so
 * similar lengths share a batch; each text's result is independent of its
 * batch.  BERT windows keep [CLS] first and [SEP] last.  A text with no
 * tokens (GPT-2 empty string) gets a zero vector.
 */
int ps_lm_embed_ids(struct ps_lm_ctx *ctx, const int32_t *const *ids, const size_t *n_ids,
                    size_t n, const struct ps_lm_embed_params *p, float *out,
                    struct ps_err *err);

/* ---- generation ---------------------------------------------------------- */

struct ps_lm_gen_params {
    int max_new;                      /* tokens to generate at most */
    struct ps_sampler_params sampler; /* temperature 0 = greedy */
    int stop_at_eos;                  /* stop after emitting config eos_id */
};
struct ps_lm_gen_params ps_lm_gen_default_params(void);

/* Called after each new token with all new ids so far; return nonzero to
 * stop (stop strings live in the caller, which owns the tokenizer). */
typedef int (*ps_lm_token_fn)(const int32_t *new_ids, size_t n_new, void *ud);

/*
 * Generates up to max_new tokens after prompt (GPT-2, batch 1, cache slot
 * 0).  ctx needs kv_cache and logits, max_batch >= 1 and max_tokens >=
 * n_prompt + max_new (else PS_ERR_USAGE).  The prompt is run once, then
 * each step feeds one token through the KV cache.  *new_ids (malloc'ed,
 * caller frees) receives the new tokens; *margins (optional, n floats)
 * the top-1 minus top-2 logit gap of each step.  Same seed, same ids.
 */
int ps_lm_generate(struct ps_lm_ctx *ctx, const int32_t *prompt, size_t n_prompt,
                   const struct ps_lm_gen_params *p, ps_lm_token_fn on_token, void *ud,
                   int32_t **new_ids, size_t *n_new, float **margins, struct ps_err *err);

#endif
