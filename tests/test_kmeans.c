/* test_kmeans.c - K-means against scikit-learn fixtures (tests/fixtures/segment). */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "persona/core.h"
#include "persona/kmeans.h"
#include "persona/pool.h"
#include "persona/rng.h"

#define FX "tests/fixtures/segment/"

/* Shared with the other segmentation tests: reads a CSV matrix (empty
 * field = NaN) or one "key v1 v2 ..." line of a fixture.  Caller frees. */
double *segfx_matrix(const char *name, size_t *rows, size_t *cols);
double *segfx_values(const char *name, const char *key, size_t *n);
float *segfx_f32(const double *v, size_t n);

double *segfx_matrix(const char *name, size_t *rows, size_t *cols)
{
    char path[512];
    snprintf(path, sizeof path, FX "%s", name);
    size_t len;
    char *text = test_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "  missing fixture %s\n", path);
        *rows = *cols = 0;
        return NULL;
    }
    size_t cap = 1024, n = 0, r = 0, c = 0;
    double *v = malloc(cap * sizeof *v);
    char *p = text;
    while (*p) {
        size_t cc = 0;
        for (;;) {
            char *end = p;
            double x = NAN;
            if (*p != ',' && *p != '\n' && *p != '\r' && *p)
                x = strtod(p, &end);
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = x;
            cc++;
            p = end;
            if (*p == ',') {
                p++;
                continue;
            }
            break;
        }
        while (*p == '\n' || *p == '\r')
            p++;
        c = cc;
        r++;
    }
    free(text);
    *rows = r;
    *cols = c;
    return v;
}

double *segfx_values(const char *name, const char *key, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, FX "%s", name);
    char *text = test_read_file(path, NULL);
    *n = 0;
    if (!text) {
        fprintf(stderr, "  missing fixture %s\n", path);
        return NULL;
    }
    size_t kl = strlen(key);
    char *line = text;
    double *v = NULL;
    while (line && *line) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            size_t cap = 64;
            v = malloc(cap * sizeof *v);
            char *p = line + kl, *end;
            for (;;) {
                double x = strtod(p, &end);
                if (end == p)
                    break;
                if (*n == cap)
                    v = realloc(v, (cap *= 2) * sizeof *v);
                v[(*n)++] = x;
                p = end;
            }
            break;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    free(text);
    if (!v)
        fprintf(stderr, "  fixture %s has no key %s\n", name, key);
    return v;
}

float *segfx_f32(const double *v, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

/* Runs one fixture case: data blobs.csv, init from init_name. */
static void check_case(const char *fixture, enum ps_kmeans_algorithm algo, const char *init_name,
                       double tol, int max_iter, int weighted, int n_threads)
{
    size_t n, d, ki, kd, nl, nc, one;
    double *Xd = segfx_matrix("blobs.csv", &n, &d);
    double *Id = segfx_matrix(init_name, &ki, &kd);
    double *want_labels = segfx_values(fixture, "labels", &nl);
    double *want_centers = segfx_values(fixture, "centers", &nc);
    double *want_inertia = segfx_values(fixture, "inertia", &one);
    double *want_iter = segfx_values(fixture, "n_iter", &one);
    CHECK(Xd && Id && want_labels && want_centers && want_inertia && want_iter);
    if (!(Xd && Id && want_labels && want_centers && want_inertia && want_iter))
        return;
    float *X = segfx_f32(Xd, n * d), *init = segfx_f32(Id, ki * kd), *w = NULL;
    if (weighted) {
        size_t wr, wc;
        double *Wd = segfx_matrix("blobs_weights.csv", &wr, &wc);
        w = segfx_f32(Wd, wr);
        free(Wd);
    }
    struct ps_kmeans_params p = ps_kmeans_default_params();
    p.k = (int)ki;
    p.init = init;
    p.algorithm = algo;
    p.tol = tol;
    p.max_iter = max_iter;
    struct ps_pool *pool = n_threads > 1 ? ps_pool_new(n_threads) : NULL;
    struct ps_kmeans_result r;
    struct ps_err err = {0};
    CHECK_INT(ps_kmeans_fit(X, n, (int)d, w, &p, pool, &r, &err), PS_OK);
    CHECK_INT(nl, n);
    size_t mismatch = 0;
    for (size_t i = 0; i < n && i < nl; i++)
        mismatch += r.labels[i] != (int32_t)want_labels[i];
    CHECK_INT(mismatch, 0);
    CHECK_REL(r.inertia, want_inertia[0], 1e-5);
    CHECK_INT(r.n_iter, (int)want_iter[0]);
    double maxdiff = 0;
    for (size_t q = 0; q < nc && q < ki * kd; q++)
        maxdiff = fmax(maxdiff, fabs(r.centers[q] - want_centers[q]));
    CHECK(maxdiff < 1e-5);
    if (test_failures)
        fprintf(stderr, "  %s: inertia %.10g vs %.10g, n_iter %d vs %g, max centre diff %.3g\n",
                fixture, r.inertia, want_inertia[0], r.n_iter, want_iter[0], maxdiff);
    ps_kmeans_result_release(&r);
    ps_pool_free(pool);
    free(Xd); free(Id); free(want_labels); free(want_centers); free(want_inertia); free(want_iter);
    free(X); free(init); free(w);
}

TEST(kmeans_lloyd_matches_sklearn)
{
    check_case("km_lloyd.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 1e-4, 300, 0, 1);
    check_case("km_lloyd_tol0.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 0, 300, 0, 1);
    check_case("km_lloyd_tol05.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 0.05, 300, 0, 1);
    check_case("km_lloyd_iter2.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 1e-4, 2, 0, 1);
}

TEST(kmeans_lloyd_weighted_and_empty_cluster_match_sklearn)
{
    check_case("km_lloyd_weighted.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 1e-4, 300, 1, 1);
    check_case("km_lloyd_empty.txt", PS_KMEANS_LLOYD, "blobs_init_far.csv", 1e-4, 300, 0, 1);
}

TEST(kmeans_hamerly_matches_sklearn_elkan)
{
    check_case("km_elkan.txt", PS_KMEANS_HAMERLY, "blobs_init.csv", 1e-4, 300, 0, 1);
    check_case("km_elkan_tol0.txt", PS_KMEANS_ELKAN, "blobs_init.csv", 0, 300, 0, 1);
    check_case("km_elkan_tol05.txt", PS_KMEANS_HAMERLY, "blobs_init.csv", 0.05, 300, 0, 1);
    check_case("km_elkan_iter2.txt", PS_KMEANS_HAMERLY, "blobs_init.csv", 1e-4, 2, 0, 1);
    check_case("km_elkan_weighted.txt", PS_KMEANS_HAMERLY, "blobs_init.csv", 1e-4, 300, 1, 1);
    check_case("km_elkan_empty.txt", PS_KMEANS_AUTO, "blobs_init_far.csv", 1e-4, 300, 0, 1);
}

TEST(kmeans_threads_give_the_same_result)
{
    check_case("km_lloyd.txt", PS_KMEANS_LLOYD, "blobs_init.csv", 1e-4, 300, 0, 3);
    check_case("km_elkan_weighted.txt", PS_KMEANS_HAMERLY, "blobs_init.csv", 1e-4, 300, 1, 2);
}

/* k-means++ with 10 restarts lands within 0.5% of sklearn's inertia. */
TEST(kmeans_plusplus_ninit10_near_sklearn)
{
    size_t n, d, one;
    double *Pd = segfx_matrix("planted.csv", &n, &d);
    double *want = segfx_values("planted_kmeanspp.txt", "inertia", &one);
    CHECK(Pd && want);
    if (!Pd || !want)
        return;
    float *P = segfx_f32(Pd, n * d);
    enum ps_kmeans_algorithm algos[] = {PS_KMEANS_LLOYD, PS_KMEANS_HAMERLY};
    for (int a = 0; a < 2; a++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            struct ps_kmeans_params p = ps_kmeans_default_params();
            p.k = 6;
            p.n_init = 10;
            p.seed = seed;
            p.algorithm = algos[a];
            struct ps_kmeans_result r;
            struct ps_err err = {0};
            CHECK_INT(ps_kmeans_fit(P, n, (int)d, NULL, &p, NULL, &r, &err), PS_OK);
            CHECK(r.inertia <= want[0] * 1.005);
            if (r.inertia > want[0] * 1.005)
                fprintf(stderr, "  seed %d: inertia %.8g vs sklearn %.8g\n", (int)seed, r.inertia, want[0]);
            ps_kmeans_result_release(&r);
        }
    free(Pd); free(want); free(P);
}

/* Same seed -> same result; a pool of 2 or 3 threads -> the same too. */
TEST(kmeans_deterministic_across_threads)
{
    size_t n, d;
    double *Pd = segfx_matrix("planted.csv", &n, &d);
    if (!Pd) { CHECK(0); return; }
    float *P = segfx_f32(Pd, n * d);
    struct ps_kmeans_params p = ps_kmeans_default_params();
    p.k = 6;
    p.n_init = 3;
    struct ps_kmeans_result r1, r2;
    struct ps_err err = {0};
    struct ps_pool *pool = ps_pool_new(3);
    CHECK_INT(ps_kmeans_fit(P, n, (int)d, NULL, &p, NULL, &r1, &err), PS_OK);
    CHECK_INT(ps_kmeans_fit(P, n, (int)d, NULL, &p, pool, &r2, &err), PS_OK);
    CHECK(r1.inertia == r2.inertia);
    CHECK(memcmp(r1.labels, r2.labels, n * sizeof *r1.labels) == 0);
    CHECK(memcmp(r1.centers, r2.centers, 6 * d * sizeof *r1.centers) == 0);
    ps_kmeans_result_release(&r1);
    ps_kmeans_result_release(&r2);
    ps_pool_free(pool);
    free(Pd); free(P);
}

/* Hand-computed: two points per cluster on a line. */
TEST(kmeans_hand_case_and_assign)
{
    float X[] = {0, 1, 10, 11, 20, 21};
    float init[] = {0, 10, 20};
    struct ps_kmeans_params p = ps_kmeans_default_params();
    p.k = 3;
    p.init = init;
    struct ps_kmeans_result r;
    struct ps_err err = {0};
    CHECK_INT(ps_kmeans_fit(X, 6, 1, NULL, &p, NULL, &r, &err), PS_OK);
    CHECK_NEAR(r.inertia, 6 * 0.25, 1e-12);
    CHECK_NEAR(r.centers[0], 0.5, 1e-12);
    CHECK_NEAR(r.centers[1], 10.5, 1e-12);
    CHECK_NEAR(r.centers[2], 20.5, 1e-12);
    CHECK_NEAR(r.distance[5], 0.5, 1e-7);
    CHECK_INT(r.labels[3], 1);
    int32_t lab[2];
    double d2[2];
    float q[] = {5.4f, 16};
    ps_kmeans_assign(q, 2, 1, r.centers, 3, NULL, lab, d2);
    CHECK_INT(lab[0], 0);
    CHECK_INT(lab[1], 2);
    CHECK_NEAR(d2[1], 4.5 * 4.5, 1e-9);
    ps_kmeans_result_release(&r);
}

TEST(kmeans_rejects_bad_input)
{
    float X[] = {0, 1, NAN, 3};
    struct ps_kmeans_params p = ps_kmeans_default_params();
    struct ps_kmeans_result r;
    struct ps_err err = {0};
    p.k = 5;
    CHECK_INT(ps_kmeans_fit(X, 4, 1, NULL, &p, NULL, &r, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "larger than the number of rows");
    p.k = 2;
    CHECK_INT(ps_kmeans_fit(X, 4, 1, NULL, &p, NULL, &r, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "row 2");
    float Y[] = {0, 1, 2, 3}, w[] = {1, -1, 1, 1};
    CHECK_INT(ps_kmeans_fit(Y, 4, 1, w, &p, NULL, &r, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "sample weight");
    p.tol = -1;
    CHECK_INT(ps_kmeans_fit(Y, 4, 1, NULL, &p, NULL, &r, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "tol");
}

/* Plain double-precision Lloyd written out here as an independent scalar
 * reference (sklearn's loop: assign, update, strict or tol convergence,
 * final relabel), no empty clusters by construction of the data. */
static double ref_lloyd(const float *X, size_t n, int d, const float *init, int k, double tol_rel,
                        int max_iter, int32_t *lab, int *n_iter)
{
    if (k < 1 || k > 64 || d < 1 || d > 64)
        return NAN;
    double *C = malloc((size_t)k * d * sizeof *C), *S = malloc((size_t)k * d * sizeof *S);
    double *W = malloc((size_t)k * sizeof *W), mu[64] = {0}, var = 0;
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++)
            mu[t] += X[i * d + t] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++)
            var += (X[i * d + t] - mu[t]) * (X[i * d + t] - mu[t]) / (double)n;
    double tol = var / d * tol_rel;
    for (int q = 0; q < k * d; q++)
        C[q] = init[q];
    for (size_t i = 0; i < n; i++)
        lab[i] = -1;
    int it, strict = 0;
    for (it = 0; it < max_iter; it++) {
        long changed = 0;
        memset(S, 0, (size_t)k * d * sizeof *S);
        memset(W, 0, (size_t)k * sizeof *W);
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            double bd = INFINITY;
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int t = 0; t < d; t++)
                    s += (X[i * d + t] - C[j * d + t]) * (X[i * d + t] - C[j * d + t]);
                if (s < bd) {
                    bd = s;
                    best = j;
                }
            }
            changed += lab[i] != best;
            lab[i] = best;
            for (int t = 0; t < d; t++)
                S[best * d + t] += X[i * d + t];
            W[best] += 1;
        }
        double shift = 0;
        for (int j = 0; j < k; j++)
            for (int t = 0; t < d; t++) {
                double v = W[j] > 0 ? S[j * d + t] / W[j] : C[j * d + t];
                shift += (v - C[j * d + t]) * (v - C[j * d + t]);
                C[j * d + t] = v;
            }
        if (!changed) {
            strict = 1;
            break;
        }
        if (shift <= tol)
            break;
    }
    double inertia = 0;
    for (size_t i = 0; i < n; i++) {
        int best = lab[i];
        double bd = INFINITY;
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (int t = 0; t < d; t++)
                s += (X[i * d + t] - C[j * d + t]) * (X[i * d + t] - C[j * d + t]);
            if (!strict && s < bd) {
                bd = s;
                best = j;
            }
        }
        lab[i] = best;
        double s = 0;
        for (int t = 0; t < d; t++)
            s += (X[i * d + t] - C[best * d + t]) * (X[i * d + t] - C[best * d + t]);
        inertia += s;
    }
    *n_iter = it < max_iter ? it + 1 : max_iter;
    free(C); free(S); free(W);
    return inertia;
}

/* Lloyd and Hamerly against the scalar reference on random blob data of
 * several shapes (including k = 1 and far-from-origin data). */
TEST(kmeans_fast_paths_match_scalar_reference)
{
    struct { size_t n; int d, k; float offset; } cases[] = {
        {500, 2, 3, 0}, {700, 5, 7, 0}, {400, 17, 4, 1000}, {300, 33, 9, 0}, {200, 3, 1, 0},
    };
    struct ps_rng rng;
    ps_rng_seed(&rng, 11, 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c].n;
        int d = cases[c].d, k = cases[c].k;
        float *X = malloc(n * d * sizeof *X), *init = malloc((size_t)k * d * sizeof *init);
        float *cent = malloc((size_t)k * d * sizeof *cent);
        for (int q = 0; q < k * d; q++)
            cent[q] = (float)(6 * ps_rng_uniform(&rng));
        for (size_t i = 0; i < n; i++) {
            int j = (int)(i % (size_t)k);
            for (int t = 0; t < d; t++)
                X[i * d + t] = cases[c].offset + cent[j * d + t] + (float)ps_rng_normal(&rng);
        }
        for (int j = 0; j < k; j++)
            for (int t = 0; t < d; t++)
                init[j * d + t] = X[(size_t)j * d + t];   /* rows 0..k-1: one per blob */
        int32_t *want = malloc(n * sizeof *want);
        int ref_iter = 0;
        double ref = ref_lloyd(X, n, d, init, k, 1e-4, 300, want, &ref_iter);
        enum ps_kmeans_algorithm algos[] = {PS_KMEANS_LLOYD, PS_KMEANS_HAMERLY};
        for (int a = 0; a < 2; a++) {
            struct ps_kmeans_params p = ps_kmeans_default_params();
            p.k = k;
            p.init = init;
            p.algorithm = algos[a];
            struct ps_kmeans_result r;
            struct ps_err err = {0};
            CHECK_INT(ps_kmeans_fit(X, n, d, NULL, &p, NULL, &r, &err), PS_OK);
            size_t diff = 0;
            for (size_t i = 0; i < n; i++)
                diff += r.labels[i] != want[i];
            CHECK_INT(diff, 0);
            CHECK_REL(r.inertia, ref, 1e-6);
            CHECK_INT(r.n_iter, ref_iter);
            if (test_failures)
                fprintf(stderr, "  case %zu algo %d: inertia %.10g vs %.10g, iter %d vs %d\n", c, a,
                        r.inertia, ref, r.n_iter, ref_iter);
            ps_kmeans_result_release(&r);
        }
        free(X); free(init); free(cent); free(want);
    }
}
