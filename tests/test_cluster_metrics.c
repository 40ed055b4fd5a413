/* test_cluster_metrics.c - silhouette, CH, DB and ARI against sklearn.metrics fixtures. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "persona/cluster_metrics.h"
#include "persona/pool.h"

double *segfx_matrix(const char *name, size_t *rows, size_t *cols);
double *segfx_values(const char *name, const char *key, size_t *n);
float *segfx_f32(const double *v, size_t n);

static int32_t *to_labels(const double *v, size_t n)
{
    int32_t *l = malloc((n ? n : 1) * sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = (int32_t)v[i];
    return l;
}

static void check_metrics(const char *lab_key, const char *prefix, int threads)
{
    size_t n, d, nl, one;
    char key[64];
    double *Xd = segfx_matrix("blobs.csv", &n, &d);
    double *L = segfx_values("metrics.txt", lab_key, &nl);
    CHECK(Xd && L && nl == n);
    if (!Xd || !L || nl != n)
        return;
    float *X = segfx_f32(Xd, n * d);
    int32_t *lab = to_labels(L, n);
    struct ps_pool *pool = threads > 1 ? ps_pool_new(threads) : NULL;
    struct ps_err err = {0};
    double s, *samples = malloc(n * sizeof *samples);
    size_t used;
    snprintf(key, sizeof key, "%ssilhouette", prefix);
    double *want = segfx_values("metrics.txt", key, &one);
    CHECK_INT(ps_silhouette(X, n, (int)d, lab, 4, 20000, 1, pool, &s, &used, samples, &err), PS_OK);
    CHECK_REL(s, want[0], 1e-6);
    CHECK_INT(used, n);
    free(want);
    if (!*prefix) {
        want = segfx_values("metrics.txt", "silhouette_samples_first10", &one);
        for (size_t i = 0; i < 10 && i < one; i++)
            CHECK_REL(samples[i], want[i], 1e-6);
        free(want);
    }
    snprintf(key, sizeof key, "%scalinski_harabasz", prefix);
    want = segfx_values("metrics.txt", key, &one);
    CHECK_INT(ps_calinski_harabasz(X, n, (int)d, lab, 4, &s, &err), PS_OK);
    CHECK_REL(s, want[0], 1e-6);
    free(want);
    snprintf(key, sizeof key, "%sdavies_bouldin", prefix);
    want = segfx_values("metrics.txt", key, &one);
    CHECK_INT(ps_davies_bouldin(X, n, (int)d, lab, 4, &s, &err), PS_OK);
    CHECK_REL(s, want[0], 1e-6);
    free(want);
    ps_pool_free(pool);
    free(Xd); free(L); free(X); free(lab); free(samples);
}

TEST(cluster_metrics_match_sklearn)
{
    check_metrics("labels", "", 1);
    check_metrics("noisy_labels", "noisy_", 2);
}

TEST(cluster_metrics_sampled_silhouette_and_errors)
{
    size_t n, d, nl;
    double *Xd = segfx_matrix("blobs.csv", &n, &d);
    double *L = segfx_values("metrics.txt", "labels", &nl);
    if (!Xd || !L) { CHECK(0); return; }
    float *X = segfx_f32(Xd, n * d);
    int32_t *lab = to_labels(L, n);
    struct ps_err err = {0};
    double s1, s2, exact;
    size_t used;
    CHECK_INT(ps_silhouette(X, n, (int)d, lab, 4, 0, 1, NULL, &exact, &used, NULL, &err), PS_OK);
    CHECK_INT(ps_silhouette(X, n, (int)d, lab, 4, 150, 9, NULL, &s1, &used, NULL, &err), PS_OK);
    CHECK_INT(used, 150);
    CHECK_INT(ps_silhouette(X, n, (int)d, lab, 4, 150, 9, NULL, &s2, &used, NULL, &err), PS_OK);
    CHECK(s1 == s2);                       /* seeded */
    CHECK_NEAR(s1, exact, 0.05);           /* a fair sample */
    int32_t one_cluster[300] = {0};
    CHECK_INT(ps_silhouette(X, n, (int)d, one_cluster, 4, 0, 1, NULL, &s1, NULL, NULL, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "2 to n-1 clusters");
    lab[5] = 7;
    CHECK_INT(ps_davies_bouldin(X, n, (int)d, lab, 4, &s1, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "label 7 outside 0..3");
    free(Xd); free(L); free(X); free(lab);
}

TEST(cluster_metrics_adjusted_rand_matches_sklearn)
{
    size_t n, nb, nc, one;
    double *a = segfx_values("ari.txt", "a", &n);
    double *b = segfx_values("ari.txt", "b", &nb);
    double *c = segfx_values("ari.txt", "c", &nc);
    if (!a || !b || !c) { CHECK(0); return; }
    int32_t *la = to_labels(a, n), *lb = to_labels(b, nb), *lc = to_labels(c, nc);
    double *w = segfx_values("ari.txt", "ari_ab", &one);
    CHECK_REL(ps_adjusted_rand(la, lb, n), w[0], 1e-12);
    free(w);
    w = segfx_values("ari.txt", "ari_ac", &one);
    CHECK_REL(ps_adjusted_rand(la, lc, n), w[0], 1e-9);
    free(w);
    int32_t perm[500];
    for (size_t i = 0; i < n; i++)
        perm[i] = (la[i] + 2) % 6;
    CHECK_NEAR(ps_adjusted_rand(la, perm, n), 1.0, 1e-15);
    int32_t zeros[10] = {0}, ids[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_NEAR(ps_adjusted_rand(zeros, zeros, 10), 1.0, 0);
    w = segfx_values("ari.txt", "ari_singletons", &one);
    CHECK_NEAR(ps_adjusted_rand(ids, zeros, 10), w[0], 1e-15);
    free(w);
    free(a); free(b); free(c); free(la); free(lb); free(lc);
}
