/* test_lda.c - LDA: planted-topic recovery (both samplers), determinism,
 * perplexity and coherence on hand-computed cases, vocabulary pruning,
 * LDA-C files, fold-in, model save/load and hostile model files. */
#include "test.h"

#include <stdlib.h>

#include "persona/core.h"
#include "persona/hash.h"
#include "persona/lda.h"
#include "persona/pool.h"
#include "persona/rng.h"

/* ---- planted corpus: phi_k ~ Dir(0.05) over V, theta_d ~ Dir(0.1),
 * tokens drawn from the mixture; everything from one seeded stream. ---- */

struct planted {
    int K;
    uint32_t V;
    double *phi;     /* K x V */
    struct ps_corpus c;
};

static void dirichlet(struct ps_rng *r, double a, int n, double *out)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        out[i] = ps_rng_gamma(r, a) + 1e-300;
        s += out[i];
    }
    for (int i = 0; i < n; i++)
        out[i] /= s;
}

static int draw(struct ps_rng *r, const double *p, int n)
{
    double u = ps_rng_uniform(r), c = 0;
    for (int i = 0; i < n - 1; i++) {
        c += p[i];
        if (u < c)
            return i;
    }
    return n - 1;
}

static void make_planted(struct planted *pl, int K, uint32_t V, uint32_t D, int L, uint64_t seed)
{
    struct ps_rng r;
    ps_rng_seed(&r, seed, 99);
    pl->K = K;
    pl->V = V;
    pl->phi = ps_xmalloc((size_t)K * V * sizeof *pl->phi);
    for (int k = 0; k < K; k++)
        dirichlet(&r, 0.05, (int)V, pl->phi + (size_t)k * V);
    memset(&pl->c, 0, sizeof pl->c);
    pl->c.n_docs = D;
    pl->c.n_words = V;
    pl->c.n_tokens = (uint64_t)D * L;
    pl->c.doc_off = ps_xmalloc((D + 1) * sizeof *pl->c.doc_off);
    pl->c.words = ps_xmalloc(pl->c.n_tokens * sizeof *pl->c.words);
    double *theta = ps_xmalloc((size_t)K * sizeof *theta);
    for (uint32_t d = 0; d <= D; d++)
        pl->c.doc_off[d] = (uint64_t)d * L;
    for (uint32_t d = 0; d < D; d++) {
        dirichlet(&r, 0.1, K, theta);
        for (int i = 0; i < L; i++) {
            int k = draw(&r, theta, K);
            pl->c.words[(size_t)d * L + i] = (uint32_t)draw(&r, pl->phi + (size_t)k * V, (int)V);
        }
    }
    free(theta);
}

static void free_planted(struct planted *pl)
{
    free(pl->phi);
    ps_corpus_release(&pl->c);
}

/* Mean over planted topics of the best cosine with any learned topic. */
static double best_match_cosine(const struct planted *pl, const float *phi, int K)
{
    double total = 0;
    for (int a = 0; a < pl->K; a++) {
        const double *x = pl->phi + (size_t)a * pl->V;
        double best = -1;
        for (int b = 0; b < K; b++) {
            const float *y = phi + (size_t)b * pl->V;
            double xy = 0, xx = 0, yy = 0;
            for (uint32_t w = 0; w < pl->V; w++) {
                xy += x[w] * y[w];
                xx += x[w] * x[w];
                yy += (double)y[w] * y[w];
            }
            double cs = xy / sqrt(xx * yy);
            if (cs > best)
                best = cs;
        }
        total += best;
    }
    return total / pl->K;
}

static double planted_run(enum ps_lda_sampler s, int iters, int threads)
{
    struct planted pl;
    make_planted(&pl, 20, 400, 1000, 60, 7);
    struct ps_lda_params p = ps_lda_default_params();
    p.k = 20;
    p.iters = iters;
    p.alpha = 0.1;
    p.beta = 0.01;
    p.sampler = s;
    p.n_threads = threads;
    struct ps_pool *pool = threads > 1 ? ps_pool_new(threads) : NULL;
    struct ps_lda *m;
    struct ps_err err = {0};
    CHECK_INT(ps_lda_fit(&m, &pl.c, &p, pool, NULL, NULL, NULL, &err), PS_OK);
    float *phi = ps_xmalloc((size_t)20 * 400 * sizeof *phi);
    ps_lda_topic_word(m, phi);
    /* Rows of phi sum to 1. */
    for (int k = 0; k < 20; k++) {
        double s_ = 0;
        for (int w = 0; w < 400; w++)
            s_ += phi[k * 400 + w];
        CHECK_NEAR(s_, 1.0, 1e-5);
    }
    double cs = best_match_cosine(&pl, phi, 20);
    free(phi);
    ps_lda_free(m);
    ps_pool_free(pool);
    free_planted(&pl);
    return cs;
}

TEST(lda_planted_topics_dense)
{
    double cs = planted_run(PS_LDA_SAMPLER_DENSE, 150, 1);
    fprintf(stderr, "  dense sampler: mean best-match cosine %.4f\n", cs);
    CHECK(cs >= 0.9);
}

TEST(lda_planted_topics_alias)
{
    double cs = planted_run(PS_LDA_SAMPLER_ALIAS, 150, 1);
    fprintf(stderr, "  alias sampler: mean best-match cosine %.4f\n", cs);
    CHECK(cs >= 0.9);
    cs = planted_run(PS_LDA_SAMPLER_ALIAS, 150, 3);
    fprintf(stderr, "  alias sampler, 3 threads: mean best-match cosine %.4f\n", cs);
    CHECK(cs >= 0.9);
}

/* Same seed and thread count: identical counts; another seed differs. */
static uint64_t fit_hash(int threads, uint64_t seed, enum ps_lda_sampler s)
{
    struct planted pl;
    make_planted(&pl, 5, 100, 200, 30, 3);
    struct ps_lda_params p = ps_lda_default_params();
    p.k = 5;
    p.iters = 20;
    p.seed = seed;
    p.sampler = s;
    p.n_threads = threads;
    p.optimize_alpha = 1;
    p.burn_in = 10;
    struct ps_pool *pool = ps_pool_new(threads);
    struct ps_lda *m;
    struct ps_err err = {0};
    float *theta = ps_xmalloc(200 * 5 * sizeof *theta);
    CHECK_INT(ps_lda_fit(&m, &pl.c, &p, pool, NULL, NULL, theta, &err), PS_OK);
    uint64_t h = ps_hash64(theta, 200 * 5 * sizeof *theta, 1);
    for (uint32_t w = 0; w < 100; w++)
        for (int k = 0; k < 5; k++) {
            int32_t v = ps_lda_count(m, w, k);
            h = ps_hash64(&v, sizeof v, h);
        }
    h = ps_hash64(ps_lda_alpha(m), 5 * sizeof(double), h);
    free(theta);
    ps_lda_free(m);
    ps_pool_free(pool);
    free_planted(&pl);
    return h;
}

TEST(lda_deterministic_for_seed_and_threads)
{
    for (int s = 1; s <= 2; s++) {
        CHECK(fit_hash(2, 5, s) == fit_hash(2, 5, s));
        CHECK(fit_hash(1, 5, s) == fit_hash(1, 5, s));
        CHECK(fit_hash(2, 5, s) != fit_hash(2, 6, s));
    }
}

/* Document completion on a hand-checked case: K = 2, V = 3, one document
 * [0 1 2 0]; observed 0, 2; scored 1, 0.  With one EM step theta =
 * (0.508333, 0.491667), p(1) = 0.2016667, p(0) = 0.3033333, perplexity =
 * exp(-(ln p(1) + ln p(0)) / 2) = 4.0431781 (numpy gives the same). */
TEST(lda_perplexity_document_completion)
{
    float phi[6] = { 0.5f, 0.3f, 0.2f, 0.1f, 0.1f, 0.8f };
    double alpha[2] = { 1, 1 };
    uint64_t off[3] = { 0, 4, 5 };
    uint32_t words[5] = { 0, 1, 2, 0, 1 };   /* second doc has 1 token: skipped */
    struct ps_corpus c = { 2, 3, 5, off, words, NULL };
    uint64_t n;
    CHECK_NEAR(ps_lda_perplexity(phi, alpha, 2, 3, &c, 1, &n), 4.043178090878733, 1e-6);
    CHECK_INT(n, 2);
    CHECK_NEAR(ps_lda_perplexity(phi, alpha, 2, 3, &c, 50, NULL), 4.026641926921747, 1e-6);
}

/* Coherence on a hand-checked case: documents {0,1} {0,1,2} {2} {0} {3}. */
TEST(lda_coherence_umass_npmi)
{
    uint64_t off[6] = { 0, 2, 5, 6, 7, 8 };
    uint32_t words[8] = { 0, 1, 0, 1, 2, 2, 0, 3 };
    struct ps_corpus c = { 5, 4, 8, off, words, NULL };
    uint32_t top[6] = { 0, 1, 2, 1, 3, 0 };
    double um[2], np[2];
    ps_topic_coherence(&c, top, 2, 3, um, np);
    /* UMass topic 0: [log(3/3) + log(2/3) + log(2/2)] / 3 */
    CHECK_NEAR(um[0], -0.1351550360360548, 1e-12);
    CHECK_NEAR(np[0], 0.1942856939813585, 1e-12);
    /* Topic 1 has a pair (1, 3) that never co-occurs: NPMI -1 for it. */
    CHECK_NEAR(um[1], -0.09589402415059363, 1e-12);
    CHECK_NEAR(np[1], -0.4808356831165866, 1e-12);

    float phi[8] = { 0.1f, 0.4f, 0.4f, 0.1f, 0.7f, 0.1f, 0.05f, 0.15f };
    uint32_t t2[4];
    float wt[4];
    ps_lda_top_words(phi, 2, 4, 2, t2, wt);
    /* Ties break by the smaller id. */
    CHECK_INT(t2[0], 1); CHECK_INT(t2[1], 2); CHECK_INT(t2[2], 0); CHECK_INT(t2[3], 3);
    CHECK_NEAR(wt[2], 0.7, 1e-6);
}

static void add_doc(struct ps_corpus_builder *b, const char *words)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", words);
    for (char *s = strtok(buf, " "); s; s = strtok(NULL, " "))
        ps_corpus_builder_add(b, s, strlen(s));
    ps_corpus_builder_end_doc(b);
}

TEST(lda_vocabulary_pruning_and_ldac)
{
    struct ps_corpus_builder *b = ps_corpus_builder_new();
    add_doc(b, "apple pear the the");
    add_doc(b, "the pear plum");
    add_doc(b, "the apple kiwi kiwi");
    add_doc(b, "");
    add_doc(b, "the pear apple fig");
    /* df: apple 3, pear 3, the 4, plum 1, kiwi 1, fig 1.  min_df 2 drops
     * plum, kiwi, fig; max_df 0.7 of 5 docs = 3.5 drops "the". */
    struct ps_vocab_params vp = { 2, 0.7, 0 };
    struct ps_corpus c;
    struct ps_err err = {0};
    CHECK_INT(ps_corpus_builder_finish(b, &vp, &c, &err), PS_OK);
    CHECK_INT(c.n_docs, 5);
    CHECK_INT(c.n_words, 2);
    CHECK_STR(ps_strmap_key(c.vocab, 0, NULL), "apple");
    CHECK_STR(ps_strmap_key(c.vocab, 1, NULL), "pear");
    CHECK_INT(c.n_tokens, 6);
    CHECK_INT(c.doc_off[3], c.doc_off[4]);   /* empty doc stays */
    /* max_vocab 1 keeps the most frequent (tie -> first seen: apple). */
    struct ps_corpus c1;
    vp.max_vocab = 1;
    CHECK_INT(ps_corpus_builder_finish(b, &vp, &c1, &err), PS_OK);
    CHECK_INT(c1.n_words, 1);
    CHECK_STR(ps_strmap_key(c1.vocab, 0, NULL), "apple");
    ps_corpus_release(&c1);
    /* Nothing left: error with a hint. */
    vp.min_df = 10;
    CHECK_INT(ps_corpus_builder_finish(b, &vp, &c1, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "no word is left after vocabulary pruning");
    ps_corpus_builder_free(b);

    const char *path = test_tmp("c.ldac");
    CHECK_INT(ps_corpus_write_ldac(&c, path, &err), PS_OK);
    size_t len;
    char *txt = test_read_file(path, &len);
    CHECK_STR(txt, "2 0:1 1:1\n1 1:1\n1 0:1\n0\n2 0:1 1:1\n");
    free(txt);
    struct ps_corpus r;
    CHECK_INT(ps_corpus_read_ldac(&r, path, 2, &err), PS_OK);
    CHECK_INT(r.n_docs, 5);
    CHECK_INT(r.n_tokens, 6);
    ps_corpus_release(&r);
    CHECK_INT(ps_corpus_read_ldac(&r, path, 1, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "c.ldac:1: bad pair 2 (ids must be < 1)");
    ps_corpus_release(&c);
}

/* A small model with a vocabulary, for the file tests. */
static struct ps_lda *small_model(void)
{
    struct ps_corpus_builder *b = ps_corpus_builder_new();
    for (int i = 0; i < 30; i++)
        add_doc(b, i % 2 ? "book story author book" : "手机 屏幕 电池 手机");
    struct ps_vocab_params vp = { 1, 1.0, 0 };
    struct ps_corpus c;
    struct ps_err err = {0};
    CHECK_INT(ps_corpus_builder_finish(b, &vp, &c, &err), PS_OK);
    ps_corpus_builder_free(b);
    struct ps_lda_params p = ps_lda_default_params();
    p.k = 2;
    p.iters = 30;
    p.optimize_alpha = 1;
    p.burn_in = 10;
    p.prep.lang = 1;
    struct ps_lda *m = NULL;
    CHECK_INT(ps_lda_fit(&m, &c, &p, NULL, NULL, NULL, NULL, &err), PS_OK);
    ps_corpus_release(&c);
    return m;
}

TEST(lda_save_load_roundtrip_and_infer)
{
    struct ps_lda *m = small_model();
    struct ps_err err = {0};
    const char *path = test_tmp("m.lda");
    CHECK_INT(ps_lda_save(m, path, &err), PS_OK);
    struct ps_lda *l;
    CHECK_INT(ps_lda_load(&l, path, &err), PS_OK);
    CHECK_INT(ps_lda_k(l), 2);
    CHECK_INT(ps_lda_n_words(l), 6);
    CHECK_STR(ps_lda_word(l, 0), "手机");
    CHECK_INT(ps_lda_word_id(l, "author", 6), 6 - 1);
    CHECK_INT(ps_lda_params(l)->prep.lang, 1);
    CHECK_INT(ps_lda_sweeps(l), 30);
    CHECK_INT(ps_lda_n_tokens(l), 120);
    for (int k = 0; k < 2; k++)
        CHECK(ps_lda_alpha(l)[k] == ps_lda_alpha(m)[k]);
    for (uint32_t w = 0; w < 6; w++)
        for (int k = 0; k < 2; k++)
            CHECK_INT(ps_lda_count(l, w, k), ps_lda_count(m, w, k));
    /* Two clean topics: a phone document folds into the phone topic. */
    uint32_t phone[4] = { 0, 1, 2, 0 };
    float th[2], th2[2];
    ps_lda_infer(l, phone, 4, 40, 42, th);
    ps_lda_infer(l, phone, 4, 40, 42, th2);
    CHECK(th[0] == th2[0] && th[1] == th2[1]);
    int kp = ps_lda_count(l, 0, 0) > ps_lda_count(l, 0, 1) ? 0 : 1;
    CHECK(th[kp] > 0.8);
    CHECK_NEAR(th[0] + th[1], 1.0, 1e-5);
    ps_lda_infer(l, phone, 0, 40, 42, th);
    CHECK_NEAR(th[0], ps_lda_alpha(l)[0] / (ps_lda_alpha(l)[0] + ps_lda_alpha(l)[1]), 1e-6);
    ps_lda_free(l);
    ps_lda_free(m);
}

/* Rewrites the trailing checksum so a crafted field reaches validation. */
static void reseal(char *data, size_t len)
{
    uint64_t h = ps_hash64(data, len - 8, 0x50534C4441ULL);
    memcpy(data + len - 8, &h, 8);
}

static const char *load_err(const char *name, const char *data, size_t len)
{
    static struct ps_err err;
    const char *path = test_write_file(name, data, len);
    struct ps_lda *l = NULL;
    int rc = ps_lda_load(&l, path, &err);
    CHECK(rc != PS_OK);
    CHECK(l == NULL);
    ps_lda_free(l);
    return err.msg;
}

TEST(lda_load_rejects_hostile_files)
{
    struct ps_lda *m = small_model();
    struct ps_err err = {0};
    const char *path = test_tmp("good.lda");
    CHECK_INT(ps_lda_save(m, path, &err), PS_OK);
    ps_lda_free(m);
    size_t len;
    char *good = test_read_file(path, &len);
    char *bad = ps_xmalloc(len);

    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < len; n++) {
        const char *msg = load_err("trunc.lda", good, n);
        CHECK(msg[0] != '\0');
    }
    CHECK_CONTAINS(load_err("t.lda", good, 50), "truncated");
    /* Wrong magic, wrong version. */
    memcpy(bad, good, len);
    bad[0] = 'X';
    CHECK_CONTAINS(load_err("magic.lda", bad, len), "not a persona LDA model (bad magic)");
    memcpy(bad, good, len);
    bad[8] = 7;
    CHECK_CONTAINS(load_err("ver.lda", bad, len), "unsupported model version 7");
    /* One flipped count byte: checksum. */
    memcpy(bad, good, len);
    bad[len - 10] ^= 1;
    CHECK_CONTAINS(load_err("flip.lda", bad, len), "checksum mismatch");
    /* Crafted, resealed fields. */
    uint32_t k0 = 0, kbig = 1u << 30;
    memcpy(bad, good, len);
    memcpy(bad + 12, &k0, 4);
    reseal(bad, len);
    CHECK_CONTAINS(load_err("k0.lda", bad, len), "field \"K\": 0 is out of range");
    memcpy(bad, good, len);
    memcpy(bad + 12, &kbig, 4);
    reseal(bad, len);
    CHECK_CONTAINS(load_err("kbig.lda", bad, len), "field \"K\"");
    double nb = -1;
    memcpy(bad, good, len);
    memcpy(bad + 56, &nb, 8);   /* beta */
    reseal(bad, len);
    CHECK_CONTAINS(load_err("beta.lda", bad, len), "field \"beta\"");
    /* A negative count (keeps the total: -1 and +1 elsewhere). */
    memcpy(bad, good, len);
    int32_t c0, c1;
    memcpy(&c0, bad + len - 8 - 4 * 12, 4);
    memcpy(&c1, bad + len - 8 - 4 * 11, 4);
    c1 += c0 + 1;
    c0 = -1;
    memcpy(bad + len - 8 - 4 * 12, &c0, 4);
    memcpy(bad + len - 8 - 4 * 11, &c1, 4);
    reseal(bad, len);
    CHECK_CONTAINS(load_err("neg.lda", bad, len), "negative count -1");
    /* Duplicate vocabulary word: the first word is 手机 (6 bytes), the
     * second 屏幕; overwrite the second with the first. */
    memcpy(bad, good, len);
    size_t vstart = 104 + 2 * 8 + 4 + 8;
    memcpy(bad + vstart + 4 + 6 + 4, bad + vstart + 4, 6);
    reseal(bad, len);
    CHECK_CONTAINS(load_err("dup.lda", bad, len), "is a duplicate");
    /* Invalid UTF-8 in a word. */
    memcpy(bad, good, len);
    bad[vstart + 4] = (char)0xFF;
    reseal(bad, len);
    CHECK_CONTAINS(load_err("utf8.lda", bad, len), "word 1 is not valid UTF-8");
    /* Total tokens disagree with the counts. */
    memcpy(bad, good, len);
    uint64_t nt = 121;
    memcpy(bad + 48, &nt, 8);
    reseal(bad, len);
    CHECK_CONTAINS(load_err("total.lda", bad, len), "counts sum to 120 but the header says 121");
    /* Missing file. */
    struct ps_lda *l;
    CHECK_INT(ps_lda_load(&l, "/nonexistent/m.lda", &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot open '/nonexistent/m.lda'");
    free(bad);
    free(good);
}

TEST(lda_params_checked)
{
    struct ps_lda_params p = ps_lda_default_params();
    struct ps_err err = {0};
    p.k = 0;
    CHECK_INT(ps_lda_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "number of topics must be in 1..");
    p = ps_lda_default_params();
    p.beta = 0;
    CHECK_INT(ps_lda_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "beta must be a positive number");
}

#include "ml/lda_internal.h"

TEST(lda_digamma_and_alpha_optimisation)
{
    /* psi(1) = -gamma, psi(0.5) = -gamma - 2 ln 2, psi(10) (DLMF 5.4). */
    CHECK_NEAR(ps__digamma(1.0), -0.5772156649015329, 1e-10);
    CHECK_NEAR(ps__digamma(0.5), -1.9635100260214235, 1e-10);
    CHECK_NEAR(ps__digamma(10.0), 2.251752589066721, 1e-10);
    CHECK_NEAR(ps__digamma(0.01), -100.56088545786867, 1e-8);
    /* Planted theta ~ Dir(0.1): starting from alpha = 1, Minka's fixed
     * point moves every alpha_k down towards the truth. */
    struct planted pl;
    make_planted(&pl, 10, 300, 600, 40, 11);
    struct ps_lda_params p = ps_lda_default_params();
    p.k = 10;
    p.iters = 80;
    p.alpha = 1.0;
    p.optimize_alpha = 1;
    p.burn_in = 20;
    struct ps_lda *m;
    struct ps_err err = {0};
    CHECK_INT(ps_lda_fit(&m, &pl.c, &p, NULL, NULL, NULL, NULL, &err), PS_OK);
    double mean = 0;
    for (int k = 0; k < 10; k++)
        mean += ps_lda_alpha(m)[k] / 10;
    fprintf(stderr, "  optimised alpha mean %.4f (planted 0.1)\n", mean);
    CHECK(mean > 0.03 && mean < 0.3);
    ps_lda_free(m);
    free_planted(&pl);
}

/* ---- both kernels sample the exact collapsed posterior ----------------
 * A corpus small enough to enumerate: 2 topics, 8 tokens, 2^8 topic
 * assignments.  The collapsed joint is
 *   p(z) ∝ prod_d [prod_k G(n_dk + a) / G(L_d + K a)]
 *          prod_k [prod_w G(n_wk + b) / G(n_k + V b)]
 * and the label-invariant statistics S1 = sum_wk n_wk^2, S2 = sum_k n_k^2
 * have exact expectations; long runs of either sampler (one thread) must
 * average to them.  This compares the fast kernel with the reference one
 * through an independent exact answer. */
static const uint32_t tiny_words[8] = { 0, 0, 1, 2, 1, 2, 3, 3 };
static const uint64_t tiny_off[4] = { 0, 3, 6, 8 };

struct tiny_acc {
    double s1, s2;
    long n;
};

static int tiny_cb(const struct ps_lda *m, int sweep, void *ud)
{
    struct tiny_acc *a = ud;
    if (sweep < 100)
        return 0;   /* burn-in */
    double s1 = 0, nk[2] = { 0, 0 };
    for (uint32_t w = 0; w < 4; w++)
        for (int k = 0; k < 2; k++) {
            double c = ps_lda_count(m, w, k);
            s1 += c * c;
            nk[k] += c;
        }
    a->s1 += s1;
    a->s2 += nk[0] * nk[0] + nk[1] * nk[1];
    a->n++;
    return 0;
}

TEST(lda_kernels_sample_exact_posterior)
{
    const double a = 0.3, b = 0.2;
    const int K = 2, V = 4;
    double Z = 0, e1 = 0, e2 = 0;
    for (int z = 0; z < 256; z++) {
        int ndk[3][2] = {{0}}, nwk[4][2] = {{0}}, nk[2] = {0};
        for (int i = 0; i < 8; i++) {
            int k = (z >> i) & 1, d = i < 3 ? 0 : i < 6 ? 1 : 2;
            ndk[d][k]++;
            nwk[tiny_words[i]][k]++;
            nk[k]++;
        }
        double lp = 0, s1 = 0;
        for (int d = 0; d < 3; d++)
            for (int k = 0; k < K; k++)
                lp += lgamma(ndk[d][k] + a);
        for (int k = 0; k < K; k++) {
            for (int w = 0; w < V; w++) {
                lp += lgamma(nwk[w][k] + b);
                s1 += nwk[w][k] * nwk[w][k];
            }
            lp -= lgamma(nk[k] + V * b);
        }
        double p = exp(lp);
        Z += p;
        e1 += p * s1;
        e2 += p * (nk[0] * nk[0] + nk[1] * nk[1]);
    }
    e1 /= Z;
    e2 /= Z;
    struct ps_corpus c = { 3, 4, 8, (uint64_t *)tiny_off, (uint32_t *)tiny_words, NULL };
    for (int s = PS_LDA_SAMPLER_DENSE; s <= PS_LDA_SAMPLER_ALIAS; s++) {
        struct ps_lda_params p = ps_lda_default_params();
        p.k = K;
        p.alpha = a;
        p.beta = b;
        p.iters = 60100;
        p.sampler = (enum ps_lda_sampler)s;
        p.n_threads = 1;
        struct tiny_acc acc = { 0, 0, 0 };
        struct ps_lda *m;
        struct ps_err err = {0};
        CHECK_INT(ps_lda_fit(&m, &c, &p, NULL, tiny_cb, &acc, NULL, &err), PS_OK);
        fprintf(stderr, "  %s: E[S1] %.4f (exact %.4f), E[S2] %.4f (exact %.4f)\n",
                s == PS_LDA_SAMPLER_DENSE ? "dense" : "alias", acc.s1 / acc.n, e1, acc.s2 / acc.n, e2);
        /* The dense kernel is exact.  The alias kernel's tables are frozen
         * at the start of a sweep, so its proposal also depends on the
         * sweep's earlier moves: a bias of order 1/(tokens per word),
         * visible only on a corpus this small (docs/topics.md). */
        double tol = s == PS_LDA_SAMPLER_DENSE ? 0.004 : 0.01;
        CHECK_REL(acc.s1 / acc.n, e1, tol);
        CHECK_REL(acc.s2 / acc.n, e2, tol);
        ps_lda_free(m);
    }
}
