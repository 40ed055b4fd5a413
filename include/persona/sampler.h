/*
 * sampler.h - choosing the next token from logits: greedy, temperature,
 * top-k, top-p and repetition penalty, reproducibly.
 *
 * The random draw follows ../shared/lmref's protocol so runs can be
 * checked against the PyTorch reference: candidates ordered by logit
 * descending (ties by id ascending), keep top-k, then the smallest prefix
 * whose probability reaches top-p; probabilities in double from logit / T;
 * u = (mix64(seed + (step + 1) * 0x9E3779B97F4A7C15) >> 11) / 2^53, and the
 * pick is the first candidate whose cumulative probability exceeds
 * u * total.  The draw depends only on (seed, step), never on call
 * history, so a run can be resumed or replayed step by step.
 *
 * The repetition penalty (CTRL / Hugging Face): a logit of a token already
 * in the history is divided by the penalty if positive, multiplied if
 * negative, before temperature.
 */
#ifndef PERSONA_SAMPLER_H
#define PERSONA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_sampler_params {
    double temperature;        /* 0 = greedy (argmax, lowest id on ties) */
    int top_k;                 /* 0 = all tokens */
    double top_p;              /* 1 = no nucleus cut; in (0, 1] */
    double repetition_penalty; /* 1 = off; > 0 */
    uint64_t seed;             /* default 42 */
};

struct ps_sampler_params ps_sampler_default_params(void);
/* PS_ERR_USAGE with a message naming the bad field. */
int ps_sampler_check(const struct ps_sampler_params *p, struct ps_err *err);

/* Scratch for one vocabulary size; plain struct owned by the caller. */
struct ps_sampler {
    struct ps_sampler_params p;
    int n_vocab;
    int32_t *order;   /* (n_vocab) candidate ids */
    double *prob;     /* (n_vocab) */
    float *work;      /* (n_vocab) penalised logits */
    unsigned char *seen; /* (n_vocab) penalty applied this step */
};

void ps_sampler_init(struct ps_sampler *s, const struct ps_sampler_params *p, int n_vocab);
void ps_sampler_release(struct ps_sampler *s);

/* The uniform draw of step (>= 0) for seed, in [0, 1). */
double ps_sampler_uniform(uint64_t seed, uint64_t step);

/* Picks the token of generation step `step` from logits (n_vocab, not
 * modified).  history (n_hist ids: prompt + generated) feeds the
 * repetition penalty.  Thread safety: one sampler per thread. */
int32_t ps_sampler_pick(struct ps_sampler *s, const float *logits, const int32_t *history,
                        size_t n_hist, uint64_t step);

#endif
