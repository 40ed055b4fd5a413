/*
 * bench_lda.c - times persona's LDA on a prepared bag-of-words corpus
 * (LDA-C files written by `persona topics fit --export-bow` and split by
 * bench/lda/split.py), the same files gensim and scikit-learn read.
 *
 *   bench_lda TRAIN.ldac TEST.ldac V K SWEEPS SAMPLER THREADS EVAL_EVERY [SEED [MH_STEPS]]
 *
 * Prints one JSON line per evaluation: sweep, sampling seconds so far
 * (evaluation time excluded), held-out perplexity (document completion,
 * lda.h; the same estimator as common.py), tokens/s of the last sweeps,
 * and peak RSS at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persona/core.h"
#include "persona/lda.h"
#include "persona/pool.h"

struct state {
    const struct ps_corpus *train, *test;
    int every;
    double t_start, t_eval, last_t;
    double cpu_eval;
    int last_sweep;
    float *phi;
};

static int on_sweep(const struct ps_lda *m, int sweep, void *ud)
{
    struct state *s = ud;
    if ((sweep + 1) % s->every != 0)
        return 0;
    double t = ps_now(), c0 = (double)clock() / CLOCKS_PER_SEC;
    double elapsed = t - s->t_start - s->t_eval;
    double tps = (double)s->train->n_tokens * (sweep + 1 - s->last_sweep) / (elapsed - s->last_t);
    ps_lda_topic_word(m, s->phi);
    uint64_t n;
    double ppl = ps_lda_perplexity(s->phi, ps_lda_alpha(m), ps_lda_k(m), ps_lda_n_words(m),
                                   s->test, 50, &n);
    printf("{\"sweep\": %d, \"seconds\": %.4f, \"cpu_seconds\": %.4f, \"perplexity\": %.3f, "
           "\"tokens_per_s\": %.0f}\n", sweep + 1, elapsed, c0 - s->cpu_eval, ppl, tps);
    fflush(stdout);
    s->last_t = elapsed;
    s->last_sweep = sweep + 1;
    s->t_eval += ps_now() - t;
    s->cpu_eval += (double)clock() / CLOCKS_PER_SEC - c0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: bench_lda TRAIN TEST V K SWEEPS SAMPLER(dense|alias) THREADS EVAL_EVERY [SEED [MH_STEPS]]\n");
        return 2;
    }
    struct ps_err err = {0};
    struct ps_corpus train, test;
    uint32_t V = (uint32_t)atol(argv[3]);
    if (ps_corpus_read_ldac(&train, argv[1], V, &err) || ps_corpus_read_ldac(&test, argv[2], V, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct ps_lda_params p = ps_lda_default_params();
    p.k = atoi(argv[4]);
    p.iters = atoi(argv[5]);
    p.sampler = strcmp(argv[6], "alias") == 0 ? PS_LDA_SAMPLER_ALIAS : PS_LDA_SAMPLER_DENSE;
    p.n_threads = atoi(argv[7]);
    p.seed = argc > 9 ? (uint64_t)atoll(argv[9]) : 42;
    if (argc > 10)
        p.mh_steps = atoi(argv[10]);
    struct state s = { &train, &test, atoi(argv[8]), 0, 0, 0, 0, 0, NULL };
    s.phi = malloc((size_t)p.k * V * sizeof *s.phi);
    struct ps_pool *pool = ps_pool_new(p.n_threads);
    struct ps_lda *m;
    s.t_start = ps_now();
    s.cpu_eval = (double)clock() / CLOCKS_PER_SEC;   /* loading is not sampling */
    if (ps_lda_fit(&m, &train, &p, pool, on_sweep, &s, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("{\"done\": true, \"peak_rss_mb\": %.1f, \"train_tokens\": %llu}\n",
           ps_peak_rss() / 1048576.0, (unsigned long long)train.n_tokens);
    ps_lda_free(m);
    ps_pool_free(pool);
    free(s.phi);
    ps_corpus_release(&train);
    ps_corpus_release(&test);
    return 0;
}
