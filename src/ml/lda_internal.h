/*
 * lda_internal.h - the LDA model struct, shared by lda.c (sampling),
 * lda_io.c (model files) and topic_metrics.c.  Not a public header.
 */
#ifndef PERSONA_LDA_INTERNAL_H
#define PERSONA_LDA_INTERNAL_H

#include <stdint.h>
#include "persona/lda.h"

#define PS_LDA_MAX_K 100000
/* Largest Dirichlet prior accepted (alpha, beta): far above any useful
 * value, and small enough that V * beta and K * alpha stay finite. */
#define PS_LDA_MAX_PRIOR 1e6
/* AUTO picks the alias sampler from this many topics on (see
 * bench/RESULTS-topics.md for the crossover). */
#define PS_LDA_ALIAS_MIN_K 100

struct ps_lda {
    struct ps_lda_params p;     /* as trained (alpha: the initial value) */
    int K;                      /* topics */
    uint32_t V;                 /* vocabulary size */
    double *alpha;              /* K doc-topic priors (optimised if asked) */
    double alpha_sum;           /* sum of alpha */
    double beta;                /* topic-word prior */
    int32_t *nwk;               /* V x K word-topic counts */
    int64_t *nk;                /* K topic totals */
    struct ps_strmap *vocab;    /* id -> word, owned; NULL for numeric corpora */
    int sweeps;                 /* sweeps done */
    uint64_t n_tokens;          /* training tokens */
};

struct ps_lda *ps__lda_new(const struct ps_lda_params *p, uint32_t V);
double ps__digamma(double x);

#endif
