/*
 * lda.h - latent Dirichlet allocation by collapsed Gibbs sampling, with
 * the corpus it trains on, held-out perplexity, topic coherence, fold-in
 * inference and model files.
 *
 * Samplers (docs/topics.md has the benchmark that picked the default):
 *   DENSE  the textbook collapsed Gibbs step, O(K) per token; the scalar
 *          reference the tests compare the fast sampler against;
 *   ALIAS  AliasLDA (Li, Ahmed, Ravi, Smola, KDD 2014): the conditional's
 *          document-sparse part n_dk (n_wk + b) / (n_k + V b) is computed
 *          exactly over the document's nonzero topics, the dense part
 *          alpha_k (n_wk + b) / (n_k + V b) is drawn from per-word Walker
 *          alias tables rebuilt each sweep, and a Metropolis-Hastings test
 *          (with the reverse proposal of the token's own move) corrects
 *          them: O(K_d) per token instead of O(K).  Like every stale-table
 *          sampler (AliasLDA, LightLDA) it keeps a bias of order 1/N_w
 *          from the sweep's earlier moves, negligible on real corpora.
 *
 * Threads: documents are split into one contiguous block per thread; each
 * thread samples against its own copy of the word-topic counts, and after
 * every sweep the copies' changes are added back in thread order (AD-LDA,
 * Newman et al. 2009).  Each (seed, sweep, thread) has its own random
 * stream, so a seed and a thread count give the same model bit for bit.
 *
 * Memory: counts are int32 V x K (dense), one copy per thread plus the
 * frozen one; tokens cost 8 bytes each (word id and topic).
 */
#ifndef PERSONA_LDA_H
#define PERSONA_LDA_H

#include <stddef.h>
#include <stdint.h>
#include "pool.h"
#include "status.h"

struct ps_strmap;

/* ---- corpus ---------------------------------------------------------- */

/* Documents as token lists, doc-major.  Word ids index vocab. */
struct ps_corpus {
    uint32_t n_docs;
    uint32_t n_words;           /* vocabulary size V */
    uint64_t n_tokens;
    uint64_t *doc_off;          /* n_docs + 1 offsets into words, owned */
    uint32_t *words;            /* n_tokens word ids in [0, V), owned */
    struct ps_strmap *vocab;    /* id -> word, owned; NULL for numeric corpora */
};

void ps_corpus_release(struct ps_corpus *c);

/* Vocabulary pruning: a word stays if it occurs in at least min_df
 * documents and in at most max_df of them (a fraction of all documents);
 * then only the max_vocab with the highest document frequency are kept
 * (ties: first seen first).  Kept words keep their first-seen order. */
struct ps_vocab_params {
    uint32_t min_df;            /* default 5 */
    double max_df;              /* fraction in (0, 1], default 0.5 */
    uint32_t max_vocab;         /* default 50000, 0 = no cap */
};
struct ps_vocab_params ps_vocab_default_params(void);

/* Collects documents word by word, then prunes the vocabulary. */
struct ps_corpus_builder;
struct ps_corpus_builder *ps_corpus_builder_new(void);
void ps_corpus_builder_free(struct ps_corpus_builder *b);
/* Appends a word to the current document. */
void ps_corpus_builder_add(struct ps_corpus_builder *b, const char *word, size_t len);
/* Closes the current document (possibly empty). */
void ps_corpus_builder_end_doc(struct ps_corpus_builder *b);
/* Prunes and fills out (the builder can be freed afterwards).  An empty
 * vocabulary after pruning is PS_ERR_BAD_INPUT with a hint. */
int ps_corpus_builder_finish(struct ps_corpus_builder *b, const struct ps_vocab_params *p,
                             struct ps_corpus *out, struct ps_err *err);

/* Bag-of-words text files in LDA-C format: one document per line,
 * "N id:count id:count ..." with N the number of pairs; and vocab files,
 * one word per line.  Tokens of a line are expanded in the order given. */
int ps_corpus_write_ldac(const struct ps_corpus *c, const char *path, struct ps_err *err);
int ps_corpus_read_ldac(struct ps_corpus *c, const char *path, uint32_t n_words,
                        struct ps_err *err);
int ps_corpus_write_vocab(const struct ps_corpus *c, const char *path, struct ps_err *err);

/* ---- model ------------------------------------------------------------ */

enum ps_lda_sampler { PS_LDA_SAMPLER_AUTO = 0, PS_LDA_SAMPLER_DENSE = 1, PS_LDA_SAMPLER_ALIAS = 2 };

/* How the texts were prepared; stored in the model so infer repeats it. */
struct ps_lda_prep {
    int32_t lang;               /* enum ps_lang */
    int32_t min_word_len, min_han_len, keep_numbers;
    uint32_t min_df, max_vocab;
    double max_df;
};

struct ps_lda_params {
    int k;                      /* topics, >= 1 */
    int iters;                  /* Gibbs sweeps (default 200) */
    double alpha;               /* symmetric doc-topic prior, > 0 (default 0.1) */
    double beta;                /* topic-word prior (default 0.01) */
    uint64_t seed;              /* default 42 */
    int n_threads;              /* sampling blocks; 0 = the pool's thread count */
    enum ps_lda_sampler sampler;/* AUTO = ALIAS for K >= 100, DENSE below (bench/RESULTS-topics.md) */
    int mh_steps;               /* reserved (stored in model files): the alias kernel makes
                                   one Metropolis-Hastings test per token; must be 1..64 */
    int optimize_alpha;         /* Minka fixed-point asymmetric alpha every 10 sweeps after burn_in */
    int burn_in;                /* sweeps before alpha optimisation (default 50) */
    struct ps_lda_prep prep;    /* recorded in the model file only */
};
struct ps_lda_params ps_lda_default_params(void);
/* Checks ranges; message names the parameter. */
int ps_lda_check_params(const struct ps_lda_params *p, struct ps_err *err);

struct ps_lda;

/* Called after every sweep with the current model (counts of that sweep);
 * return nonzero to stop early.  May be NULL. */
typedef int (*ps_lda_sweep_fn)(const struct ps_lda *m, int sweep, void *ud);

/*
 * Trains on corpus c (vocabulary copied into the model when c->vocab is
 * set).  doc_topics, if not NULL, receives n_docs x K theta rows
 * ((n_dk + alpha_k) / (L_d + sum alpha)) from the last sweep; empty
 * documents get the normalised prior.  pool may be NULL (one thread).
 */
int ps_lda_fit(struct ps_lda **out, const struct ps_corpus *c, const struct ps_lda_params *p,
               struct ps_pool *pool, ps_lda_sweep_fn cb, void *ud, float *doc_topics,
               struct ps_err *err);
void ps_lda_free(struct ps_lda *m);

int ps_lda_k(const struct ps_lda *m);
uint32_t ps_lda_n_words(const struct ps_lda *m);
/* Word of an id (borrowed), NULL without a vocabulary or out of range. */
const char *ps_lda_word(const struct ps_lda *m, uint32_t id);
/* Word id or -1. */
int64_t ps_lda_word_id(const struct ps_lda *m, const char *word, size_t len);
const double *ps_lda_alpha(const struct ps_lda *m);  /* K values, borrowed */
double ps_lda_beta(const struct ps_lda *m);
const struct ps_lda_params *ps_lda_params(const struct ps_lda *m);
/* Sweeps done and tokens the model was trained on. */
int ps_lda_sweeps(const struct ps_lda *m);
uint64_t ps_lda_n_tokens(const struct ps_lda *m);
/* Word-topic count (for tests). */
int32_t ps_lda_count(const struct ps_lda *m, uint32_t word, int topic);

/* phi (K x V): (n_wk + beta) / (n_k + V beta); each row sums to 1. */
void ps_lda_topic_word(const struct ps_lda *m, float *phi);

/* Fold-in: Gibbs-samples the topics of one new document with the
 * model's counts fixed, iters sweeps, and averages theta over the second
 * half.  Deterministic in (seed, words).  theta: K floats.  n == 0 gives
 * the normalised prior.  Thread-safe (read-only model). */
void ps_lda_infer(const struct ps_lda *m, const uint32_t *words, size_t n, int iters,
                  uint64_t seed, float *theta);

/*
 * Model file: magic "PSLDA\r\n\x1a", u32 version (1), every hyperparameter
 * and the text preparation, the vocabulary, int32 counts V x K, and a
 * 64-bit checksum of everything before it.  Loading validates all of it
 * (sizes against the file length, ranges, UTF-8 and unique words, count
 * sums, checksum) and names the file and field in the error.
 */
int ps_lda_save(const struct ps_lda *m, const char *path, struct ps_err *err);
int ps_lda_load(struct ps_lda **out, const char *path, struct ps_err *err);

/* ---- metrics (topic_metrics.c) ---------------------------------------- */

/*
 * Held-out perplexity by document completion (Wallach et al. 2009, sec.
 * 4.3): each held-out document's tokens, in stored order, alternate between
 * an observed half (even positions) and a scored half (odd positions).
 * theta is estimated from the observed half with phi fixed, by `iters`
 * fixed-point (EM) steps from the uniform start:
 *     r_ik  = theta_k phi_k,w_i / sum_j theta_j phi_j,w_i
 *     theta_k = (alpha_k + sum_i r_ik) / (n_observed + sum alpha)
 * and the scored half gives log p = sum_i log sum_k theta_k phi_k,w_i.
 * Returns exp(-log p / n_scored); *n_scored receives the count (may be
 * NULL).  The same estimator is in bench/lda/common.py, so every library's
 * phi is scored identically.  phi: K x V.
 */
double ps_lda_perplexity(const float *phi, const double *alpha, int K, uint32_t V,
                         const struct ps_corpus *heldout, int iters, uint64_t *n_scored);

/* Top M word ids per topic by phi (descending, ties by smaller id).
 * top: K x M ids; weight (may be NULL): K x M phi values. */
void ps_lda_top_words(const float *phi, int K, uint32_t V, int M, uint32_t *top, float *weight);

/*
 * Coherence of each topic's top M words over the documents of ref
 * (document co-occurrence, Mimno et al. 2011; Bouma 2009), averaged over
 * the M(M-1)/2 pairs, words in rank order:
 *   UMass  mean over i > j of log((D(w_i, w_j) + 1) / D(w_j))
 *   NPMI   mean over pairs of log(P(w_i, w_j) / (P(w_i) P(w_j))) / -log P(w_i, w_j),
 *          P = D / n_docs; -1 when the pair never co-occurs, and pairs with
 *          P(w_i, w_j) = 1 count as 1.
 * A word with D = 0 makes UMass's term 0 (skipped from the sum but counted).
 * umass, npmi: K values each (either may be NULL).
 */
void ps_topic_coherence(const struct ps_corpus *ref, const uint32_t *top, int K, int M,
                        double *umass, double *npmi);

#endif
