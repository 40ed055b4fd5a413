/*
 * cluster_metrics.c - silhouette, Calinski-Harabasz, Davies-Bouldin and
 * the adjusted Rand index, following sklearn.metrics line by line where
 * the degenerate cases are concerned (see cluster_metrics.h).
 */
#include "persona/cluster_metrics.h"
#include "persona/core.h"
#include "persona/pool.h"
#include "persona/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIL_BLOCK 64

static int count_labels(const int32_t *labels, size_t n, int k, size_t *cnt, struct ps_err *err)
{
    memset(cnt, 0, (size_t)k * sizeof *cnt);
    int used = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return ps_err_set(err, PS_ERR_USAGE, "row %zu: label %d outside 0..%d", i,
                              (int)labels[i], k - 1);
        if (cnt[labels[i]]++ == 0)
            used++;
    }
    return used;
}

struct sil_ctx {
    const double *Z;       /* m x d centred rows */
    const double *zz;      /* m squared norms */
    const int32_t *lab;    /* m labels */
    const size_t *cnt;     /* k counts */
    size_t m;
    int d, k, n_blocks;
    double **G;            /* per worker: SIL_BLOCK x m */
    double **csum;         /* per worker: k */
    double *s;             /* m coefficients */
};

static void sil_task(void *vctx, int task, int worker)
{
    struct sil_ctx *c = vctx;
    size_t i0 = (size_t)task * SIL_BLOCK;
    int B = (int)(c->m - i0 < SIL_BLOCK ? c->m - i0 : SIL_BLOCK);
    double *G = c->G[worker], *cs = c->csum[worker];
    /* G = Z_b Z^T; d(i,j)^2 = |zi|^2 + |zj|^2 - 2 zi.zj on centred rows. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)c->m, c->d, 1.0,
                c->Z + i0 * c->d, c->d, c->Z, c->d, 0.0, G, (int)c->m);
    for (int r = 0; r < B; r++) {
        size_t i = i0 + r;
        const double *g = G + (size_t)r * c->m;
        memset(cs, 0, (size_t)c->k * sizeof *cs);
        for (size_t j = 0; j < c->m; j++) {
            double v = c->zz[i] + c->zz[j] - 2 * g[j];
            cs[c->lab[j]] += j == i || v <= 0 ? 0.0 : sqrt(v);
        }
        int a_lab = c->lab[i];
        if (c->cnt[a_lab] <= 1) {
            c->s[i] = 0;          /* sklearn: singleton clusters score 0 */
            continue;
        }
        double a = cs[a_lab] / (double)(c->cnt[a_lab] - 1), b = INFINITY;
        for (int q = 0; q < c->k; q++)
            if (q != a_lab && c->cnt[q] > 0 && cs[q] / (double)c->cnt[q] < b)
                b = cs[q] / (double)c->cnt[q];
        double mx = a > b ? a : b;
        c->s[i] = mx > 0 ? (b - a) / mx : 0.0;
    }
}

int ps_silhouette(const float *X, size_t n, int d, const int32_t *labels, int k,
                  size_t max_exact, uint64_t seed, struct ps_pool *pool,
                  double *score, size_t *n_used, double *samples, struct ps_err *err)
{
    size_t *cnt = ps_xcalloc((size_t)k + 1, sizeof *cnt);
    int used = count_labels(labels, n, k, cnt, err);
    if (used < 0) {
        free(cnt);
        return used;
    }
    size_t m = n;
    size_t *idx = NULL;
    if (max_exact && n > max_exact) {
        /* Seeded partial Fisher-Yates: a uniform sample without repeats. */
        m = max_exact;
        idx = ps_xmalloc(n * sizeof *idx);
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        struct ps_rng rng;
        ps_rng_seed(&rng, seed, 0x5117);
        for (size_t i = 0; i < m; i++) {
            size_t j = i + (size_t)ps_rng_below(&rng, n - i);
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        samples = NULL;
    }
    int32_t *lab = ps_xmalloc(m * sizeof *lab + 4);
    for (size_t i = 0; i < m; i++)
        lab[i] = labels[idx ? idx[i] : i];
    used = count_labels(lab, m, k, cnt, err);
    if (used < 2 || (size_t)used > m - 1) {
        free(cnt);
        free(idx);
        free(lab);
        return ps_err_set(err, PS_ERR_USAGE,
                          "silhouette needs 2 to n-1 clusters, got %d cluster(s) for %zu rows", used, m);
    }
    double *mu = ps_xcalloc((size_t)d, sizeof *mu);
    double *Z = ps_xmalloc(m * (size_t)d * sizeof *Z);
    double *zz = ps_xmalloc(m * sizeof *zz);
    for (size_t i = 0; i < m; i++)
        for (int t = 0; t < d; t++)
            mu[t] += X[(idx ? idx[i] : i) * d + t];
    for (int t = 0; t < d; t++)
        mu[t] /= (double)m;
    for (size_t i = 0; i < m; i++) {
        double s = 0;
        for (int t = 0; t < d; t++) {
            double v = X[(idx ? idx[i] : i) * d + t] - mu[t];
            Z[i * d + t] = v;
            s += v * v;
        }
        zz[i] = s;
    }
    int nw = ps_pool_n_threads(pool);
    struct sil_ctx c = {Z, zz, lab, cnt, m, d, k, (int)((m + SIL_BLOCK - 1) / SIL_BLOCK),
                        ps_xcalloc((size_t)nw, sizeof(double *)),
                        ps_xcalloc((size_t)nw, sizeof(double *)), ps_xmalloc(m * sizeof(double))};
    for (int w = 0; w < nw; w++) {
        c.G[w] = ps_xmalloc((size_t)SIL_BLOCK * m * sizeof(double));
        c.csum[w] = ps_xmalloc((size_t)k * sizeof(double));
    }
    /* dgemm runs inside our workers: keep OpenBLAS to one thread there. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    ps_pool_run(pool, c.n_blocks, sil_task, &c);
    openblas_set_num_threads(blas_threads);
    double tot = 0;
    for (size_t i = 0; i < m; i++)
        tot += c.s[i];
    *score = tot / (double)m;
    if (n_used)
        *n_used = m;
    if (samples)
        memcpy(samples, c.s, m * sizeof *samples);
    for (int w = 0; w < nw; w++) {
        free(c.G[w]);
        free(c.csum[w]);
    }
    free(c.G);
    free(c.csum);
    free(c.s);
    free(Z);
    free(zz);
    free(mu);
    free(lab);
    free(idx);
    free(cnt);
    return PS_OK;
}

/* Per-cluster means (k x d) and counts; returns the number of non-empty clusters. */
static int cluster_means(const float *X, size_t n, int d, const int32_t *labels, int k,
                         double *means, size_t *cnt, struct ps_err *err)
{
    int used = count_labels(labels, n, k, cnt, err);
    if (used < 0)
        return used;
    memset(means, 0, (size_t)k * d * sizeof *means);
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++)
            means[(size_t)labels[i] * d + t] += X[i * d + t];
    for (int j = 0; j < k; j++)
        for (int t = 0; t < d; t++)
            if (cnt[j])
                means[(size_t)j * d + t] /= (double)cnt[j];
    return used;
}

int ps_calinski_harabasz(const float *X, size_t n, int d, const int32_t *labels, int k,
                         double *score, struct ps_err *err)
{
    double *means = ps_xmalloc((size_t)k * d * sizeof *means + 8);
    double *mu = ps_xcalloc((size_t)d, sizeof *mu);
    size_t *cnt = ps_xcalloc((size_t)k + 1, sizeof *cnt);
    int used = cluster_means(X, n, d, labels, k, means, cnt, err);
    int rc = PS_OK;
    if (used < 0) {
        rc = used;
        goto done;
    }
    if (used < 2 || (size_t)used > n - 1) {
        rc = ps_err_set(err, PS_ERR_USAGE,
                        "Calinski-Harabasz needs 2 to n-1 clusters, got %d for %zu rows", used, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++)
            mu[t] += X[i * d + t];
    for (int t = 0; t < d; t++)
        mu[t] /= (double)n;
    double extra = 0, intra = 0;
    for (int j = 0; j < k; j++)
        for (int t = 0; t < d; t++) {
            double u = means[(size_t)j * d + t] - mu[t];
            extra += (double)cnt[j] * u * u;
        }
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++) {
            double u = X[i * d + t] - means[(size_t)labels[i] * d + t];
            intra += u * u;
        }
    *score = intra == 0 ? 1.0 : extra * (double)(n - (size_t)used) / (intra * (used - 1.0));
done:
    free(means);
    free(mu);
    free(cnt);
    return rc;
}

int ps_davies_bouldin(const float *X, size_t n, int d, const int32_t *labels, int k,
                      double *score, struct ps_err *err)
{
    double *means = ps_xmalloc((size_t)k * d * sizeof *means + 8);
    double *intra = ps_xcalloc((size_t)k + 1, sizeof *intra);
    size_t *cnt = ps_xcalloc((size_t)k + 1, sizeof *cnt);
    int *ids = ps_xmalloc(((size_t)k + 1) * sizeof *ids);
    int used = cluster_means(X, n, d, labels, k, means, cnt, err);
    int rc = PS_OK;
    if (used < 0) {
        rc = used;
        goto done;
    }
    if (used < 2 || (size_t)used > n - 1) {
        rc = ps_err_set(err, PS_ERR_USAGE,
                        "Davies-Bouldin needs 2 to n-1 clusters, got %d for %zu rows", used, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int t = 0; t < d; t++) {
            double u = X[i * d + t] - means[(size_t)labels[i] * d + t];
            s += u * u;
        }
        intra[labels[i]] += sqrt(s);
    }
    int m = 0;
    for (int j = 0; j < k; j++)
        if (cnt[j]) {
            intra[j] /= (double)cnt[j];
            ids[m++] = j;
        }
    /* sklearn: 0 when all intra distances or all centroid distances are
     * ~0 (np.allclose with atol 1e-8). */
    int intra_zero = 1, cent_zero = 1;
    for (int a = 0; a < m; a++)
        if (fabs(intra[ids[a]]) > 1e-8)
            intra_zero = 0;
    double tot = 0;
    for (int a = 0; a < m; a++) {
        double best = 0;
        for (int b = 0; b < m; b++) {
            if (a == b)
                continue;
            double s = 0;
            for (int t = 0; t < d; t++) {
                double u = means[(size_t)ids[a] * d + t] - means[(size_t)ids[b] * d + t];
                s += u * u;
            }
            double cd = sqrt(s);
            if (cd > 1e-8)
                cent_zero = 0;
            double r = cd == 0 ? 0.0 : (intra[ids[a]] + intra[ids[b]]) / cd;
            if (r > best)
                best = r;
        }
        tot += best;
    }
    *score = intra_zero || cent_zero ? 0.0 : tot / m;
done:
    free(means);
    free(intra);
    free(cnt);
    free(ids);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sum over groups of count^2, groups given as sorted keys. */
static double sum_sq_runs(const uint64_t *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] == v[i])
            j++;
        s += (double)(j - i) * (double)(j - i);
        i = j;
    }
    return s;
}

double ps_adjusted_rand(const int32_t *a, const int32_t *b, size_t n)
{
    if (n == 0)
        return 1.0;
    uint64_t *v = ps_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = ((uint64_t)(uint32_t)a[i] << 32) | (uint32_t)b[i];
    qsort(v, n, sizeof *v, cmp_u64);
    double sum_sq = sum_sq_runs(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)a[i];
    qsort(v, n, sizeof *v, cmp_u64);
    double sa = sum_sq_runs(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)b[i];
    qsort(v, n, sizeof *v, cmp_u64);
    double sb = sum_sq_runs(v, n);
    free(v);
    /* sklearn's pair_confusion_matrix (counts are exact integers in double
     * up to 2^53, i.e. n up to ~9.5e7). */
    double nn = (double)n;
    double tp = sum_sq - nn;
    double fp = sb - sum_sq;      /* contingency.dot(n_k).sum() - sum_squares */
    double fn = sa - sum_sq;
    double tn = nn * nn - fp - fn - sum_sq;
    if (fn == 0 && fp == 0)
        return 1.0;
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
}
