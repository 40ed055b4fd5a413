/*
 * lda.c - collapsed Gibbs sampling for LDA: the dense reference sampler,
 * the alias/Metropolis-Hastings sampler (AliasLDA, Li et al. 2014),
 * AD-LDA threading, Minka's asymmetric alpha, and fold-in inference.
 *
 * Notation (kernel legend): K topics, V words, d a document of length L,
 * z_i the topic of token i, n_dk / n_wk / n_k the usual counts, a_k the
 * doc-topic prior (sum A), b the topic-word prior.  The collapsed
 * conditional for token i of word w in document d is
 *     p(k) ∝ (n_dk + a_k) (n_wk + b) / (n_k + V b)
 * with token i's own assignment removed from the counts.
 */
#include "persona/lda.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lda_internal.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/rng.h"

struct ps_lda_params ps_lda_default_params(void)
{
    struct ps_lda_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    p.iters = 200;
    p.alpha = 0.1;
    p.beta = 0.01;
    p.seed = 42;
    p.n_threads = 0;
    p.sampler = PS_LDA_SAMPLER_AUTO;
    p.mh_steps = 1;
    p.optimize_alpha = 0;
    p.burn_in = 50;
    p.prep.min_df = 5;
    p.prep.max_df = 0.5;
    p.prep.max_vocab = 50000;
    p.prep.min_word_len = 2;
    p.prep.min_han_len = 1;
    return p;
}

int ps_lda_check_params(const struct ps_lda_params *p, struct ps_err *err)
{
    if (p->k < 1 || p->k > PS_LDA_MAX_K)
        return ps_err_set(err, PS_ERR_USAGE, "number of topics must be in 1..%d, got %d",
                          PS_LDA_MAX_K, p->k);
    if (p->iters < 0 || p->iters > 1000000)
        return ps_err_set(err, PS_ERR_USAGE, "iterations must be in 0..1000000, got %d", p->iters);
    if (!(p->alpha > 0 && p->alpha <= PS_LDA_MAX_PRIOR))
        return ps_err_set(err, PS_ERR_USAGE, "alpha must be a positive number up to %g, got %g",
                          PS_LDA_MAX_PRIOR, p->alpha);
    if (!(p->beta > 0 && p->beta <= PS_LDA_MAX_PRIOR))
        return ps_err_set(err, PS_ERR_USAGE, "beta must be a positive number up to %g, got %g",
                          PS_LDA_MAX_PRIOR, p->beta);
    if (p->mh_steps < 1 || p->mh_steps > 64)
        return ps_err_set(err, PS_ERR_USAGE, "mh steps must be in 1..64, got %d", p->mh_steps);
    if (p->n_threads < 0 || p->n_threads > 1024)
        return ps_err_set(err, PS_ERR_USAGE, "threads must be in 0..1024, got %d", p->n_threads);
    if (p->sampler < PS_LDA_SAMPLER_AUTO || p->sampler > PS_LDA_SAMPLER_ALIAS)
        return ps_err_set(err, PS_ERR_USAGE, "unknown sampler %d", (int)p->sampler);
    return PS_OK;
}

/* ---- the model ------------------------------------------------------- */

struct ps_lda *ps__lda_new(const struct ps_lda_params *p, uint32_t V)
{
    struct ps_lda *m = ps_xcalloc(1, sizeof *m);
    m->p = *p;
    m->K = p->k;
    m->V = V;
    m->beta = p->beta;
    m->alpha = ps_xmalloc((size_t)m->K * sizeof *m->alpha);
    for (int k = 0; k < m->K; k++)
        m->alpha[k] = p->alpha;
    m->alpha_sum = p->alpha * m->K;
    m->nwk = ps_xcalloc((size_t)V * (size_t)m->K, sizeof *m->nwk);
    m->nk = ps_xcalloc((size_t)m->K, sizeof *m->nk);
    return m;
}

void ps_lda_free(struct ps_lda *m)
{
    if (!m)
        return;
    free(m->alpha);
    free(m->nwk);
    free(m->nk);
    ps_strmap_free(m->vocab);
    free(m);
}

int ps_lda_k(const struct ps_lda *m) { return m->K; }
uint32_t ps_lda_n_words(const struct ps_lda *m) { return m->V; }
const double *ps_lda_alpha(const struct ps_lda *m) { return m->alpha; }
double ps_lda_beta(const struct ps_lda *m) { return m->beta; }
const struct ps_lda_params *ps_lda_params(const struct ps_lda *m) { return &m->p; }
int ps_lda_sweeps(const struct ps_lda *m) { return m->sweeps; }
uint64_t ps_lda_n_tokens(const struct ps_lda *m) { return m->n_tokens; }

int32_t ps_lda_count(const struct ps_lda *m, uint32_t word, int topic)
{
    PS_ASSERT(word < m->V && topic >= 0 && topic < m->K);
    return m->nwk[(size_t)word * m->K + topic];
}

const char *ps_lda_word(const struct ps_lda *m, uint32_t id)
{
    if (!m->vocab || id >= m->V)
        return NULL;
    return ps_strmap_key(m->vocab, id, NULL);
}

int64_t ps_lda_word_id(const struct ps_lda *m, const char *word, size_t len)
{
    return m->vocab ? ps_strmap_find(m->vocab, word, len) : -1;
}

void ps_lda_topic_word(const struct ps_lda *m, float *phi)
{
    /* phi (K, V), row k = (n_wk + b) / (n_k + V b); normalised in double. */
    int K = m->K;
    for (int k = 0; k < K; k++) {
        double inv = 1.0 / ((double)m->nk[k] + m->V * m->beta);
        for (uint32_t w = 0; w < m->V; w++)
            phi[(size_t)k * m->V + w] = (float)((m->nwk[(size_t)w * K + k] + m->beta) * inv);
    }
}

/* ---- random numbers: 53-bit uniforms straight from xoshiro ------------- */

static inline double unif(struct ps_rng *r)
{
    return (double)(ps_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* ---- fitting state ------------------------------------------------------ */

/* Tokens ahead whose memory the kernels prefetch. */
#define PREFETCH 4

/* One slot of a word's alias table, kept together so a draw costs one
 * cache miss: keep `topic` with probability prob, else take `alias`. */
struct alias_entry {
    float prob;
    int32_t topic, alias;
};

struct fit {
    struct ps_lda *m;               /* the model: global (frozen during a sweep) counts */
    const struct ps_corpus *c;
    enum ps_lda_sampler sampler;
    int T;                          /* sampling blocks (= threads) */
    uint32_t *block;                /* T + 1 document boundaries */
    int32_t *z;                     /* n_tokens topics */
    int32_t **work_nwk;             /* T copies of V x K */
    int64_t **work_nk;              /* T copies of K */
    int32_t **ndk;                  /* T scratch rows of K (all zero between documents) */
    double **scratch;               /* T scratch rows of K doubles */
    int sweep;
    /* alias tables of the word proposal q_w(k) ∝ (n_wk + b) / (n_k + V b),
     * split into the sparse part n_wk / (n_k + V b) (one table per word,
     * over the word's nonzero topics) and the dense part b / (n_k + V b)
     * (one table shared by all words). */
    double *inv_nk;                 /* K: 1 / (n_k + V b), frozen */
    uint64_t *wa_off;               /* V + 1 */
    struct alias_entry *wa;         /* nnz entries, word by word */
    double *wa_mass;                /* V: sum of the sparse part */
    size_t wa_cap;
    float *da_prob;                 /* K */
    int32_t *da_alias;              /* K */
    double da_mass;
    int32_t **pos;                  /* T x K: index of topic k in the doc's list, -1 */
    int32_t **list;                 /* T x K: the doc's nonzero topics */
    double **invw;                  /* T x K: 1 / (n_k + V b) of the working counts */
    int32_t **vose_small, **vose_large; /* per worker scratch of K */
    float **vose_prob;              /* per worker scratch of K */
    int32_t **vose_alias;           /* per worker scratch of K */
};

/* Walker/Vose alias table over weights w[0, n) (total `total`):
 * prob[j] and alias[j] so that "pick j uniformly, keep j with prob[j],
 * else take alias[j]" draws index j with probability w[j] / total.
 * w is scratch: it is overwritten. */
static void build_alias(double *w, int n, double total, float *prob, int32_t *alias,
                        int32_t *small, int32_t *large)
{
    int ns = 0, nl = 0;
    double *scaled = w;
    for (int j = 0; j < n; j++) {
        scaled[j] = w[j] * n / total;
        alias[j] = j;
        if (scaled[j] < 1.0)
            small[ns++] = j;
        else
            large[nl++] = j;
    }
    while (ns && nl) {
        int s = small[--ns], l = large[nl - 1];
        prob[s] = (float)scaled[s];
        alias[s] = l;
        scaled[l] -= 1.0 - scaled[s];
        if (scaled[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl)
        prob[large[--nl]] = 1.0f;
    while (ns)
        prob[small[--ns]] = 1.0f;   /* rounding leftovers */
}

/* Pool task: alias tables for words of block `task` of V. */
struct alias_job {
    struct fit *f;
    int n_tasks;
};

static void alias_task(void *ctx, int task, int worker)
{
    struct alias_job *j = ctx;
    struct fit *f = j->f;
    const struct ps_lda *m = f->m;
    int K = m->K;
    long lo, hi;
    ps_split_range((long)m->V, j->n_tasks, task, &lo, &hi);
    double *w = f->scratch[worker];
    int32_t *topics = f->ndk[worker];   /* borrowed as scratch; restored to zero */
    for (long v = lo; v < hi; v++) {
        const int32_t *row = m->nwk + (size_t)v * K;
        uint64_t o = f->wa_off[v];
        int n = 0;
        double mass = 0;
        for (int k = 0; k < K; k++)
            if (row[k] > 0) {
                w[n] = m->alpha[k] * row[k] * f->inv_nk[k];
                mass += w[n];
                topics[n++] = k;
            }
        f->wa_mass[v] = mass;
        if (n == 0)
            continue;
        float *prob = f->vose_prob[worker];
        int32_t *alias = f->vose_alias[worker];
        build_alias(w, n, mass, prob, alias, f->vose_small[worker], f->vose_large[worker]);
        for (int t = 0; t < n; t++) {
            f->wa[o + t].prob = prob[t];
            f->wa[o + t].topic = topics[t];
            f->wa[o + t].alias = topics[alias[t]];
        }
        memset(topics, 0, (size_t)n * sizeof *topics);
    }
}

static void count_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct alias_job *j = ctx;
    struct fit *f = j->f;
    const struct ps_lda *m = f->m;
    int K = m->K;
    long lo, hi;
    ps_split_range((long)m->V, j->n_tasks, task, &lo, &hi);
    for (long v = lo; v < hi; v++) {
        const int32_t *row = m->nwk + (size_t)v * K;
        uint64_t n = 0;
        for (int k = 0; k < K; k++)
            n += row[k] > 0;
        f->wa_off[v + 1] = n;   /* prefix-summed afterwards */
    }
}

static void build_word_proposals(struct fit *f, struct ps_pool *pool)
{
    struct ps_lda *m = f->m;
    int K = m->K;
    for (int k = 0; k < K; k++)
        f->inv_nk[k] = 1.0 / ((double)m->nk[k] + m->V * m->beta);
    int n_tasks = pool ? ps_pool_n_threads(pool) * 4 : 1;
    struct alias_job job = { f, n_tasks };
    ps_pool_run(pool, n_tasks, count_task, &job);
    f->wa_off[0] = 0;
    for (uint32_t v = 0; v < m->V; v++)
        f->wa_off[v + 1] += f->wa_off[v];
    size_t nnz = f->wa_off[m->V];
    if (nnz > f->wa_cap) {
        f->wa_cap = nnz + nnz / 4;
        free(f->wa);
        f->wa = ps_xmalloc(f->wa_cap * sizeof *f->wa);
    }
    ps_pool_run(pool, n_tasks, alias_task, &job);
    double *w = f->scratch[0];
    f->da_mass = 0;
    for (int k = 0; k < K; k++) {
        w[k] = m->alpha[k] * m->beta * f->inv_nk[k];
        f->da_mass += w[k];
    }
    build_alias(w, K, f->da_mass, f->da_prob, f->da_alias, f->vose_small[0], f->vose_large[0]);
}

/* Draws from the stale word proposal of w, given u uniform in
 * [0, wa_mass[w] + da_mass).  One 64-bit draw picks the slot (high 32
 * bits, by multiply-shift) and the coin (low 32 bits). */
static inline int draw_word(const struct fit *f, uint32_t w, double u, struct ps_rng *r)
{
    uint64_t x = ps_rng_u64(r);
    float coin = (float)(x & 0xFFFFFFu) * 0x1.0p-24f;
    if (u < f->wa_mass[w]) {
        uint64_t o = f->wa_off[w], n = f->wa_off[w + 1] - o;
        const struct alias_entry *e = f->wa + o + (((x >> 32) * n) >> 32);
        return coin < e->prob ? e->topic : e->alias;
    }
    uint64_t j = ((x >> 32) * (uint64_t)f->m->K) >> 32;
    return coin < f->da_prob[j] ? (int)j : f->da_alias[j];
}

/*
 * One document, the alias/MH kernel (AliasLDA, Li et al. KDD 2014).  The
 * conditional splits into a document-sparse part and a dense part:
 *     p(k) ∝ n_dk phi(k) + a_k phi(k),  phi(k) = (n_wk + b) / (n_k + V b)
 * The proposal keeps the first part exact (a loop over the document's
 * nonzero topics only, O(K_d)) and replaces phi in the second by the
 * frozen phi~ of the alias tables, drawn in O(1):
 *     q(k) ∝ n_dk phi(k) + a_k phi~(k)
 * One Metropolis-Hastings test per token (accept t over s0 with probability
 * p(t) q(s0 | t) / (p(s0) q(t | s0))) makes the chain exact; q is close to
 * p, so almost every draw is kept.
 * ndk holds the document's counts and list/pos its nonzero topics, on
 * entry and exit; nwk/nk/invw are this block's working counts.
 */
static void sample_doc_alias(struct fit *f, int task, uint64_t lo, uint64_t hi, int32_t *ndk,
                             int32_t *nwk, int64_t *nk, struct ps_rng *r)
{
    const struct ps_lda *m = f->m;
    const int K = m->K;
    const double b = m->beta, Vb = m->V * m->beta;
    const double *a = m->alpha;
    const double *finv = f->inv_nk;     /* frozen 1 / (n_k + V b) */
    const int32_t *fnwk = m->nwk;       /* frozen counts behind the alias tables */
    const uint32_t *words = f->c->words;
    int32_t *z = f->z;
    int32_t *pos = f->pos[task], *list = f->list[task];
    double *invw = f->invw[task], *cum = f->scratch[task];
    int n_list = 0;
    for (uint64_t i = lo; i < hi; i++)
        if (pos[z[i]] < 0) {
            pos[z[i]] = n_list;
            list[n_list++] = z[i];
        }
    for (uint64_t i = lo; i < hi; i++) {
        const uint32_t w = words[i];
        const int s0 = z[i];
        int32_t *row = nwk + (size_t)w * K;
        const int32_t *frow = fnwk + (size_t)w * K;
        /* The counts are far bigger than the caches and every token lands
         * on a random row: fetch the rows of a token two ahead now (the
         * words and topics of the block are contiguous, so its word and
         * current topic are known). */
        if (i + PREFETCH < f->c->n_tokens) {
            uint32_t w2 = words[i + PREFETCH];
            const int32_t *r2 = nwk + (size_t)w2 * K, *f2 = fnwk + (size_t)w2 * K;
            for (int k = 0; k < K; k += 16) {
                __builtin_prefetch(r2 + k, 1);
                __builtin_prefetch(f2 + k, 0);
            }
            __builtin_prefetch(f->wa_off + w2, 0);
            __builtin_prefetch(f->wa_mass + w2, 0);
            __builtin_prefetch(f->wa + f->wa_off[w2], 0);
        }
        /* Remove token i. */
        if (--ndk[s0] == 0) {
            int j = pos[s0], last = list[--n_list];
            list[j] = last;
            pos[last] = j;
            pos[s0] = -1;
        }
        row[s0]--;
        nk[s0]--;
        invw[s0] = 1.0 / (nk[s0] + Vb);
        /* Exact document part. */
        double P = 0;
        for (int j = 0; j < n_list; j++) {
            int k = list[j];
            P += ndk[k] * (row[k] + b) * invw[k];
            cum[j] = P;
        }
        /* One Metropolis-Hastings step.  The alias tables were built from
         * counts that include token i at s0, so the proposal depends on
         * the state: q(x | y) uses frozen counts with the token moved to
         * y.  Only topics s0 and y differ, so the reverse proposal
         * q(s0 | t) and its normaliser are O(1) corrections:
         *   g_y(k) = a_k (f_wk - [k = s0] + [k = y] + b)
         *               / (F_k - [k = s0] + [k = y] + V b),  Q(y) = sum_k g_y(k). */
        const double Q = f->wa_mass[w] + f->da_mass;   /* Q(s0) */
        double u = unif(r) * (P + Q);
        int t;
        if (u < P) {
            int j = 0;
            while (j < n_list - 1 && cum[j] <= u)
                j++;
            t = list[j];
        } else {
            t = draw_word(f, w, u - P, r);
        }
        int s = s0;
        if (t != s0) {
            double phs = (row[s0] + b) * invw[s0], pht = (row[t] + b) * invw[t];
            double ps = (ndk[s0] + a[s0]) * phs, pt = (ndk[t] + a[t]) * pht;
            double g0s = a[s0] * (frow[s0] + b) * finv[s0];        /* g_s0(s0) */
            double g0t = a[t] * (frow[t] + b) * finv[t];           /* g_s0(t) */
            double gts = a[s0] * (frow[s0] - 1 + b) / (1.0 / finv[s0] - 1);  /* g_t(s0) */
            double gtt = a[t] * (frow[t] + 1 + b) / (1.0 / finv[t] + 1);     /* g_t(t) */
            double Qt = Q - g0s - g0t + gts + gtt;
            double q_t_given_s = (ndk[t] * pht + g0t) / (P + Q);
            double q_s_given_t = (ndk[s0] * phs + gts) / (P + Qt);
            if (unif(r) * ps * q_t_given_s < pt * q_s_given_t)
                s = t;
        }
        /* Add it back with its new topic. */
        z[i] = s;
        if (ndk[s]++ == 0) {
            pos[s] = n_list;
            list[n_list++] = s;
        }
        row[s]++;
        nk[s]++;
        invw[s] = 1.0 / (nk[s] + Vb);
    }
    for (int j = 0; j < n_list; j++)
        pos[list[j]] = -1;
}

/* One document, the dense reference kernel: exact O(K) draw. */
static void sample_doc_dense(struct fit *f, int task, uint64_t lo, uint64_t hi, int32_t *ndk,
                             int32_t *nwk, int64_t *nk, struct ps_rng *r)
{
    double *cum = f->scratch[task], *invw = f->invw[task];
    const struct ps_lda *m = f->m;
    const int K = m->K;
    const double b = m->beta, Vb = m->V * m->beta;
    const double *a = m->alpha;
    const uint32_t *words = f->c->words;
    int32_t *z = f->z;
    for (uint64_t i = lo; i < hi; i++) {
        const uint32_t w = words[i];
        int s = z[i];
        int32_t *row = nwk + (size_t)w * K;
        if (i + PREFETCH < f->c->n_tokens) {
            const int32_t *next = nwk + (size_t)words[i + PREFETCH] * K;
            for (int k = 0; k < K; k += 16)
                __builtin_prefetch(next + k, 1);
        }
        ndk[s]--;
        row[s]--;
        nk[s]--;
        invw[s] = 1.0 / (nk[s] + Vb);
        double tot = 0;
        for (int k = 0; k < K; k++) {
            tot += (ndk[k] + a[k]) * (row[k] + b) * invw[k];
            cum[k] = tot;
        }
        double u = unif(r) * tot;
        int lo_k = 0, hi_k = K - 1;
        while (lo_k < hi_k) {
            int mid = (lo_k + hi_k) / 2;
            if (cum[mid] > u)
                hi_k = mid;
            else
                lo_k = mid + 1;
        }
        s = lo_k;
        z[i] = s;
        ndk[s]++;
        row[s]++;
        nk[s]++;
        invw[s] = 1.0 / (nk[s] + Vb);
    }
}

static void sweep_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct fit *f = ctx;
    struct ps_lda *m = f->m;
    const int K = m->K;
    int32_t *nwk = f->work_nwk[task];
    int64_t *nk = f->work_nk[task];
    memcpy(nwk, m->nwk, (size_t)m->V * K * sizeof *nwk);
    memcpy(nk, m->nk, (size_t)K * sizeof *nk);
    for (int k = 0; k < K; k++)
        f->invw[task][k] = 1.0 / ((double)nk[k] + m->V * m->beta);
    int32_t *ndk = f->ndk[task];
    struct ps_rng r;
    ps_rng_seed(&r, m->p.seed, ((uint64_t)(f->sweep + 1) << 20) | (uint64_t)task);
    const uint64_t *off = f->c->doc_off;
    for (uint32_t d = f->block[task]; d < f->block[task + 1]; d++) {
        uint64_t lo = off[d], hi = off[d + 1];
        if (lo == hi)
            continue;
        for (uint64_t i = lo; i < hi; i++)
            ndk[f->z[i]]++;
        if (f->sampler == PS_LDA_SAMPLER_ALIAS)
            sample_doc_alias(f, task, lo, hi, ndk, nwk, nk, &r);
        else
            sample_doc_dense(f, task, lo, hi, ndk, nwk, nk, &r);
        for (uint64_t i = lo; i < hi; i++)
            ndk[f->z[i]] = 0;
    }
}

/* Adds every block's changes to the global counts: new = old + sum_t
 * (work_t - old), over a range of the V x K array per task. */
struct merge_job {
    struct fit *f;
    int n_tasks;
};

static void merge_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct merge_job *j = ctx;
    struct fit *f = j->f;
    size_t n = (size_t)f->m->V * f->m->K;
    long lo, hi;
    ps_split_range((long)n, j->n_tasks, task, &lo, &hi);
    int32_t *g = f->m->nwk;
    if (f->T == 1) {
        memcpy(g + lo, f->work_nwk[0] + lo, (size_t)(hi - lo) * sizeof *g);
        return;
    }
    for (long i = lo; i < hi; i++) {
        int32_t old = g[i], acc = old;
        for (int t = 0; t < f->T; t++)
            acc += f->work_nwk[t][i] - old;
        g[i] = acc;
    }
}

static void merge_counts(struct fit *f, struct ps_pool *pool)
{
    int n_tasks = pool ? ps_pool_n_threads(pool) * 2 : 1;
    struct merge_job j = { f, n_tasks };
    ps_pool_run(pool, n_tasks, merge_task, &j);
    for (int k = 0; k < f->m->K; k++) {
        int64_t old = f->m->nk[k], acc = old;
        for (int t = 0; t < f->T; t++)
            acc += f->work_nk[t][k] - old;
        f->m->nk[k] = acc;
    }
}

/* ---- asymmetric alpha (Minka's fixed point, as in Wallach 2008) -------- */

double ps__digamma(double x)
{
    double r = 0;
    while (x < 6) {
        r -= 1 / x;
        x += 1;
    }
    double f = 1 / (x * x);
    return r + log(x) - 0.5 / x -
           f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

/* One fixed-point step:
 *   a_k <- a_k * sum_d [psi(n_dk + a_k) - psi(a_k)] / sum_d [psi(L_d + A) - psi(A)]
 * Serial over documents (exact, order fixed); called every 10 sweeps. */
static void optimize_alpha(struct fit *f)
{
    struct ps_lda *m = f->m;
    int K = m->K;
    double *num = ps_xcalloc((size_t)K, sizeof *num);
    int32_t *ndk = f->ndk[0];
    double den = 0, A = m->alpha_sum;
    const uint64_t *off = f->c->doc_off;
    for (uint32_t d = 0; d < f->c->n_docs; d++) {
        uint64_t lo = off[d], hi = off[d + 1];
        if (lo == hi)
            continue;
        den += ps__digamma((double)(hi - lo) + A) - ps__digamma(A);
        for (uint64_t i = lo; i < hi; i++)
            ndk[f->z[i]]++;
        for (uint64_t i = lo; i < hi; i++) {
            int k = f->z[i];
            if (ndk[k]) {
                num[k] += ps__digamma(ndk[k] + m->alpha[k]) - ps__digamma(m->alpha[k]);
                ndk[k] = 0;
            }
        }
    }
    if (den > 0) {
        double sum = 0;
        for (int k = 0; k < K; k++) {
            double a = m->alpha[k] * num[k] / den;
            m->alpha[k] = a < 1e-5 ? 1e-5 : a > 100 ? 100 : a;
            sum += m->alpha[k];
        }
        m->alpha_sum = sum;
    }
    free(num);
}

/* ---- fit ------------------------------------------------------------------ */

int ps_lda_fit(struct ps_lda **out, const struct ps_corpus *c, const struct ps_lda_params *p,
               struct ps_pool *pool, ps_lda_sweep_fn cb, void *ud, float *doc_topics,
               struct ps_err *err)
{
    *out = NULL;
    int rc = ps_lda_check_params(p, err);
    if (rc)
        return rc;
    if (c->n_words == 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "the corpus has an empty vocabulary");
    if ((uint64_t)c->n_words * (uint64_t)p->k > ((uint64_t)1 << 34))
        return ps_err_set(err, PS_ERR_TOO_BIG, "%u words x %d topics is too many counts "
                          "(cap 2^34)\nhint: lower --max-vocab or --k", c->n_words, p->k);
    if (c->n_tokens >= (uint64_t)INT32_MAX)
        return ps_err_set(err, PS_ERR_TOO_BIG, "corpus has %llu tokens (cap 2^31 - 1)",
                          (unsigned long long)c->n_tokens);
    struct ps_lda *m = ps__lda_new(p, c->n_words);
    m->n_tokens = c->n_tokens;
    if (c->vocab) {
        m->vocab = ps_strmap_new();
        for (uint32_t i = 0; i < c->n_words; i++) {
            size_t len;
            const char *w = ps_strmap_key(c->vocab, i, &len);
            ps_strmap_intern(m->vocab, w, len, NULL);
        }
    }
    const int K = m->K;
    struct fit f;
    memset(&f, 0, sizeof f);
    f.m = m;
    f.c = c;
    f.sampler = p->sampler;
    if (f.sampler == PS_LDA_SAMPLER_AUTO)
        f.sampler = K >= PS_LDA_ALIAS_MIN_K ? PS_LDA_SAMPLER_ALIAS : PS_LDA_SAMPLER_DENSE;
    f.T = p->n_threads > 0 ? p->n_threads : (pool ? ps_pool_n_threads(pool) : 1);
    if ((uint32_t)f.T > c->n_docs)
        f.T = c->n_docs > 0 ? (int)c->n_docs : 1;
    /* Blocks of nearly equal token counts. */
    f.block = ps_xmalloc(((size_t)f.T + 1) * sizeof *f.block);
    f.block[0] = 0;
    for (int t = 1; t < f.T; t++) {
        uint64_t target = c->n_tokens * (uint64_t)t / (uint64_t)f.T;
        uint32_t d = f.block[t - 1];
        while (d < c->n_docs && c->doc_off[d] < target)
            d++;
        f.block[t] = d;
    }
    f.block[f.T] = c->n_docs;
    f.z = ps_xmalloc((c->n_tokens ? c->n_tokens : 1) * sizeof *f.z);
    f.work_nwk = ps_xcalloc((size_t)f.T, sizeof *f.work_nwk);
    f.work_nk = ps_xcalloc((size_t)f.T, sizeof *f.work_nk);
    int n_scratch = f.T;
    if (pool && ps_pool_n_threads(pool) > n_scratch)
        n_scratch = ps_pool_n_threads(pool);
    f.ndk = ps_xcalloc((size_t)n_scratch, sizeof *f.ndk);
    f.scratch = ps_xcalloc((size_t)n_scratch, sizeof *f.scratch);
    f.vose_small = ps_xcalloc((size_t)n_scratch, sizeof *f.vose_small);
    f.vose_large = ps_xcalloc((size_t)n_scratch, sizeof *f.vose_large);
    f.vose_prob = ps_xcalloc((size_t)n_scratch, sizeof *f.vose_prob);
    f.vose_alias = ps_xcalloc((size_t)n_scratch, sizeof *f.vose_alias);
    for (int t = 0; t < n_scratch; t++) {
        f.ndk[t] = ps_xcalloc((size_t)K, sizeof **f.ndk);
        f.scratch[t] = ps_xmalloc((size_t)K * sizeof **f.scratch);
        f.vose_small[t] = ps_xmalloc((size_t)K * sizeof **f.vose_small);
        f.vose_large[t] = ps_xmalloc((size_t)K * sizeof **f.vose_large);
        f.vose_prob[t] = ps_xmalloc((size_t)K * sizeof **f.vose_prob);
        f.vose_alias[t] = ps_xmalloc((size_t)K * sizeof **f.vose_alias);
    }
    for (int t = 0; t < f.T; t++) {
        f.work_nwk[t] = ps_xmalloc((size_t)m->V * K * sizeof **f.work_nwk);
        f.work_nk[t] = ps_xmalloc((size_t)K * sizeof **f.work_nk);
    }
    f.pos = ps_xcalloc((size_t)f.T, sizeof *f.pos);
    f.list = ps_xcalloc((size_t)f.T, sizeof *f.list);
    f.invw = ps_xcalloc((size_t)f.T, sizeof *f.invw);
    for (int t = 0; t < f.T; t++) {
        f.pos[t] = ps_xmalloc((size_t)K * sizeof **f.pos);
        for (int k = 0; k < K; k++)
            f.pos[t][k] = -1;
        f.list[t] = ps_xmalloc((size_t)K * sizeof **f.list);
        f.invw[t] = ps_xmalloc((size_t)K * sizeof **f.invw);
    }
    if (f.sampler == PS_LDA_SAMPLER_ALIAS) {
        f.inv_nk = ps_xmalloc((size_t)K * sizeof *f.inv_nk);
        f.wa_off = ps_xcalloc((size_t)m->V + 1, sizeof *f.wa_off);
        f.wa_mass = ps_xmalloc((size_t)m->V * sizeof *f.wa_mass);
        f.da_prob = ps_xmalloc((size_t)K * sizeof *f.da_prob);
        f.da_alias = ps_xmalloc((size_t)K * sizeof *f.da_alias);
    }

    /* Random initial topics, one stream for the whole corpus. */
    struct ps_rng r;
    ps_rng_seed(&r, p->seed, 0);
    for (uint64_t i = 0; i < c->n_tokens; i++) {
        int k = (int)ps_rng_below(&r, (uint64_t)K);
        f.z[i] = k;
        m->nwk[(size_t)c->words[i] * K + k]++;
        m->nk[k]++;
    }

    for (f.sweep = 0; f.sweep < p->iters; f.sweep++) {
        if (f.sampler == PS_LDA_SAMPLER_ALIAS)
            build_word_proposals(&f, pool);
        ps_pool_run(f.T > 1 ? pool : NULL, f.T, sweep_task, &f);
        merge_counts(&f, pool);
        m->sweeps = f.sweep + 1;
        if (p->optimize_alpha && f.sweep + 1 >= p->burn_in && (f.sweep + 1) % 10 == 0) {
            optimize_alpha(&f);
        }
        if (cb && cb(m, f.sweep, ud))
            break;
    }

    if (doc_topics) {
        int32_t *ndk = f.ndk[0];
        for (uint32_t d = 0; d < c->n_docs; d++) {
            uint64_t lo = c->doc_off[d], hi = c->doc_off[d + 1];
            for (uint64_t i = lo; i < hi; i++)
                ndk[f.z[i]]++;
            double den = (double)(hi - lo) + m->alpha_sum;
            for (int k = 0; k < K; k++) {
                doc_topics[(size_t)d * K + k] = (float)((ndk[k] + m->alpha[k]) / den);
                ndk[k] = 0;
            }
        }
    }

    for (int t = 0; t < f.T; t++) {
        free(f.work_nwk[t]);
        free(f.work_nk[t]);
        free(f.pos[t]);
        free(f.list[t]);
        free(f.invw[t]);
    }
    free(f.pos); free(f.list); free(f.invw);
    for (int t = 0; t < n_scratch; t++) {
        free(f.ndk[t]);
        free(f.scratch[t]);
        free(f.vose_small[t]);
        free(f.vose_large[t]);
        free(f.vose_prob[t]);
        free(f.vose_alias[t]);
    }
    free(f.work_nwk); free(f.work_nk); free(f.ndk); free(f.scratch);
    free(f.vose_small); free(f.vose_large); free(f.vose_prob); free(f.vose_alias);
    free(f.block); free(f.z);
    free(f.inv_nk); free(f.wa_off); free(f.wa_mass); free(f.wa);
    free(f.da_prob); free(f.da_alias);
    *out = m;
    return PS_OK;
}

/* ---- fold-in ------------------------------------------------------------- */

void ps_lda_infer(const struct ps_lda *m, const uint32_t *words, size_t n, int iters,
                  uint64_t seed, float *theta)
{
    const int K = m->K;
    if (n == 0 || iters <= 0) {
        for (int k = 0; k < K; k++)
            theta[k] = (float)(m->alpha[k] / m->alpha_sum);
        return;
    }
    /* phi_k,w for the document's words is looked up on the fly; the model
     * counts are fixed, so only n_dk moves. */
    struct ps_rng r;
    uint64_t h = ps_hash64(words, n * sizeof *words, seed);
    ps_rng_seed(&r, seed, h);
    int32_t *z = ps_xmalloc(n * sizeof *z);
    int32_t *ndk = ps_xcalloc((size_t)K, sizeof *ndk);
    double *acc = ps_xcalloc((size_t)K, sizeof *acc);
    double *cum = ps_xmalloc((size_t)K * sizeof *cum);
    double *inv = ps_xmalloc((size_t)K * sizeof *inv);
    for (int k = 0; k < K; k++)
        inv[k] = 1.0 / ((double)m->nk[k] + m->V * m->beta);
    for (size_t i = 0; i < n; i++) {
        z[i] = (int32_t)ps_rng_below(&r, (uint64_t)K);
        ndk[z[i]]++;
    }
    int kept = 0;
    for (int it = 0; it < iters; it++) {
        for (size_t i = 0; i < n; i++) {
            const int32_t *row = m->nwk + (size_t)words[i] * K;
            ndk[z[i]]--;
            double tot = 0;
            for (int k = 0; k < K; k++) {
                tot += (ndk[k] + m->alpha[k]) * (row[k] + m->beta) * inv[k];
                cum[k] = tot;
            }
            double u = unif(&r) * tot;
            int lo = 0, hi = K - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            z[i] = lo;
            ndk[lo]++;
        }
        if (it >= iters / 2) {
            for (int k = 0; k < K; k++)
                acc[k] += (ndk[k] + m->alpha[k]) / ((double)n + m->alpha_sum);
            kept++;
        }
    }
    for (int k = 0; k < K; k++)
        theta[k] = (float)(acc[k] / kept);
    free(z);
    free(ndk);
    free(acc);
    free(cum);
    free(inv);
}
