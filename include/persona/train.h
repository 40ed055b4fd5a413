/*
 * train.h - training GPT-2 models on the CPU (after llm.c's train_gpt2.c).
 *
 * The trainer keeps its own float32 copy of every parameter in one block
 * (Hugging Face tensor order and Conv1D layout [in, out], so a checkpoint is
 * a straight copy), one block of gradients, and the AdamW moments.  A
 * training forward keeps every activation the backward pass needs; the
 * backward pass covers every operation of the GPT-2 forward: token and
 * position embeddings, LayerNorm, Conv1D products (OpenBLAS sgemm), causal
 * attention, gelu_new, residual adds, the tied lm_head and the mean
 * next-token cross-entropy.
 *
 *   struct ps_train_model *m;
 *   ps_train_model_load(&m, "models/tiny", &err);       (or _init)
 *   ps_train_reserve(m, B, T, pool, &err);
 *   ps_train_zero_grad(m);
 *   ps_train_forward(m, inputs, targets, B, T, &loss, &err);
 *   ps_train_backward(m, 1.0f);
 *   ps_train_clip_grad_norm(m, 1.0);  ps_adamw_step(m, &hp, lr);
 *
 * Legend: B rows, T positions, C channels, NH heads, V vocabulary, L layers.
 * Determinism: for a fixed thread count every result is bit-identical from
 * run to run (fixed task boundaries, serial reductions).
 * A model belongs to one thread at a time.
 */
#ifndef PERSONA_TRAIN_H
#define PERSONA_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_pool;

/* The shape of a GPT-2 to train (config.json keys in comments). */
struct ps_train_config {
    int n_layer;             /* n_layer */
    int n_head;              /* n_head */
    int n_embd;              /* n_embd (multiple of n_head) */
    int n_ctx;               /* n_positions */
    int n_vocab;             /* vocab_size */
    float ln_eps;            /* layer_norm_epsilon (1e-5) */
    int scale_by_layer;      /* scale_attn_by_inverse_layer_idx */
    int32_t eos_id;          /* eos_token_id / bos_token_id, -1 if none */
};

struct ps_train_model;

/* A fresh model, GPT-2's initialisation: weights N(0, 0.02), the two
 * residual projections of each layer N(0, 0.02 / sqrt(2 L)), biases 0,
 * LayerNorm weights 1. */
int ps_train_model_init(struct ps_train_model **out, const struct ps_train_config *cfg,
                        uint64_t seed, struct ps_err *err);
/* Loads the weights of a GPT-2 checkpoint folder (ps_lm_load). */
int ps_train_model_load(struct ps_train_model **out, const char *dir, struct ps_err *err);
void ps_train_model_free(struct ps_train_model *m);

const struct ps_train_config *ps_train_get_config(const struct ps_train_model *m);
size_t ps_train_n_params(const struct ps_train_model *m);

/* The parameter tensors in Hugging Face order and names (GPT2Model names:
 * "wte.weight", "h.0.attn.c_attn.weight", ...).  shape has n_dims entries;
 * param and grad are borrowed views into the model's blocks. */
struct ps_train_tensor {
    const char *name;
    int n_dims;
    int64_t shape[2];
    size_t n_elems;
    float *param;
    float *grad;
    int decay;               /* 1: weight decay applies (matrices, embeddings) */
};
size_t ps_train_n_tensors(const struct ps_train_model *m);
const struct ps_train_tensor *ps_train_tensor(const struct ps_train_model *m, size_t i);
/* All parameters / gradients as one block of ps_train_n_params floats. */
float *ps_train_params(struct ps_train_model *m);
float *ps_train_grads(struct ps_train_model *m);

/* Sizes the activation buffers for up to B x T tokens and borrows pool
 * (NULL = serial) for the hand-written kernels.  Call before forward. */
int ps_train_reserve(struct ps_train_model *m, int B, int T, struct ps_pool *pool,
                     struct ps_err *err);

/* Training forward over inputs (B, T); *loss = mean cross-entropy of
 * targets (B, T) (every target in [0, V)).  Keeps the activations. */
int ps_train_forward(struct ps_train_model *m, const int32_t *inputs, const int32_t *targets,
                     int B, int T, float *loss, struct ps_err *err);
/* Adds scale * d(mean loss of the last forward) / d(params) to the
 * gradients (scale = 1 / grad_accum for accumulation). */
void ps_train_backward(struct ps_train_model *m, float scale);
void ps_train_zero_grad(struct ps_train_model *m);
/* Next-token probabilities of the last forward, (B * T, V) row-major;
 * borrowed, overwritten by ps_train_backward. */
const float *ps_train_probs(const struct ps_train_model *m);
/* Global L2 norm of the gradients (double accumulation, fixed order); if
 * max_norm > 0 and the norm exceeds it, scales the gradients by
 * max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_).  Returns the
 * norm before clipping. */
double ps_train_clip_grad_norm(struct ps_train_model *m, double max_norm);

/* ---- AdamW (torch.optim.AdamW semantics) -------------------------------- */

struct ps_adamw_params {
    float beta1, beta2, eps;  /* 0.9, 0.95, 1e-8 */
    float weight_decay;       /* decoupled: p -= lr * wd * p, decay tensors only */
};
struct ps_adamw_params ps_adamw_default_params(void);

/* One step with learning rate lr; the first call is step 1.  Moments are
 * allocated on first use. */
void ps_adamw_step(struct ps_train_model *m, const struct ps_adamw_params *p, float lr);
/* Steps taken and the moment blocks (NULL before the first step). */
long ps_adamw_t(const struct ps_train_model *m);
float *ps_adamw_m(struct ps_train_model *m);
float *ps_adamw_v(struct ps_train_model *m);
/* Sets the step count and allocates zeroed moments (for loading state). */
void ps_adamw_prepare(struct ps_train_model *m, long t);

/* Warmup then cosine decay: lr * (step + 1) / warmup for step < warmup,
 * then from lr down to min_lr over the remaining steps. */
float ps_train_lr(long step, long n_steps, long warmup, float lr, float min_lr);

/* ---- checkpoints -------------------------------------------------------- */

/* Writes dir/config.json (GPT2Config, GPT2LMHeadModel), dir/model.safetensors
 * (transformers' names with the "transformer." prefix, lm_head tied and not
 * stored, as save_pretrained writes it) in F32 or F16, and copies the
 * tokenizer files (vocab.json, merges.txt, tokenizer_config.json,
 * special_tokens_map.json when present) from tokenizer_dir (NULL = none).
 * Creates dir; files are written atomically. */
int ps_train_save_hf(const struct ps_train_model *m, const char *dir, const char *tokenizer_dir,
                     int f16, struct ps_err *err);

/* The run's bookkeeping saved beside the weights for resuming. */
struct ps_train_state {
    long step;                /* optimizer steps done */
    long n_steps;             /* planned total */
    uint64_t seed;
    int batch, seq, grad_accum;
    float lr, min_lr, weight_decay, grad_clip;
    long warmup;
    float val_frac;
    uint64_t data_hash;       /* fingerprint of the tokenised corpus */
    uint64_t n_train_tokens;
    long eval_every;
    int val_batches;
};

/* dir/trainer_state.bin: magic "PSTRAIN\0", version, the state, the model
 * shape, then params, m and v as float32 and a 64-bit checksum.  Load
 * validates everything (magic, version, shape vs the model, exact size,
 * checksum) and restores params and moments into m. */
int ps_train_state_save(const struct ps_train_model *m, const struct ps_train_state *s,
                        const char *dir, struct ps_err *err);
int ps_train_state_load(struct ps_train_model *m, struct ps_train_state *s, const char *dir,
                        struct ps_err *err);

/* ---- the training loop -------------------------------------------------- */

struct ps_train_params {
    long n_steps;             /* optimizer steps in total (default 1000; 0 when
                                 resuming = the checkpoint's plan) */
    int batch, seq;           /* B and T per micro-batch (8, n_ctx) */
    int grad_accum;           /* micro-batches per step (1) */
    float lr, min_lr;         /* peak and final learning rate (6e-4, lr / 10) */
    long warmup;              /* warmup steps (n_steps / 20) */
    float weight_decay;       /* 0.1 */
    float grad_clip;          /* 1.0; 0 = none */
    float val_frac;           /* share of texts held out (0.05) */
    int val_batches;          /* batches per validation (8) */
    long eval_every;          /* steps between validations (0 = n_steps / 10) */
    long log_every;           /* steps between log lines (10) */
    long save_every;          /* steps between checkpoints (0 = only at the end) */
    uint64_t seed;            /* 1 */
    int save_f16;             /* weights of the checkpoint in F16 */
    const char *out_dir;      /* checkpoint folder */
    const char *tokenizer_dir;/* copied into each checkpoint */
    long stop_at;             /* > 0: stop (with a checkpoint) after this step,
                                 keeping the schedule of n_steps */
    const volatile sig_atomic_t *interrupt; /* set (by a signal handler): finish
                                 the step, save a checkpoint, return PS_DONE */
};
struct ps_train_params ps_train_default_params(void);

/* Token stream of a corpus: texts tokenised, joined by the eos token, and
 * split by text into train and validation (hash of the text index and the
 * seed, so the split does not depend on the order of tokenisation). */
struct ps_train_data {
    int32_t *train; size_t n_train;
    int32_t *val;   size_t n_val;
    size_t n_texts, n_val_texts;
};
void ps_train_data_release(struct ps_train_data *d);

/* Runs training: per step grad_accum micro-batches of B windows of T + 1
 * tokens drawn from the train stream (rng seeded by seed and the micro-batch
 * index, so a resumed run sees the same batches), clipping, AdamW,
 * schedule; validation loss and perplexity every eval_every steps; a line
 * every log_every steps; checkpoints.  resume (NULL = fresh) is the state
 * loaded from the checkpoint the run continues.  log_fn receives each line
 * (NULL = none).  Also writes out_dir/train_log.csv
 * (step,loss,lr,grad_norm,val_loss).  Returns PS_OK, PS_DONE when
 * stopped through p->interrupt (checkpoint saved), or an error. */
typedef void (*ps_train_log_fn)(const char *line, void *ud);
int ps_train_run(struct ps_train_model *m, const struct ps_train_data *data,
                 const struct ps_train_params *p, const struct ps_train_state *resume,
                 struct ps_pool *pool, ps_train_log_fn log_fn, void *ud, struct ps_err *err);

/* Mean loss over up to n_batches sequential (B, T) windows of tokens. */
int ps_train_eval(struct ps_train_model *m, const int32_t *tokens, size_t n_tokens, int B, int T,
                  int n_batches, double *loss, struct ps_err *err);

#endif
