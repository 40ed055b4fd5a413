/*
 * minibatch.c - mini-batch K-means over a row source (memory, or a .npy
 * file streamed from disk), following scikit-learn's MiniBatchKMeans:
 * k-means++ on a 3 x batch_size sample (best of n_init on a validation
 * sample), steps over random batches with per-centre learning rates,
 * random reassignment of starved centres, early stop on the smoothed
 * batch inertia, then one streamed pass for labels and the exact inertia.
 *
 * Memory: a batch (batch_size x d), the centres, and n labels/distances
 * when asked for; the data itself is never held.
 */
#include "persona/kmeans.h"
#include "persona/core.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PASS_ROWS 65536

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Gathers rows idx[0..m) (any order) into dst, reading sorted runs. */
static int gather(const struct ps_row_source *src, const size_t *idx, size_t m, float *dst,
                  size_t *order, struct ps_err *err)
{
    int d = src->d;
    /* order: positions sorted by row so that reads go forward */
    for (size_t q = 0; q < m; q++)
        order[q] = idx[q] * m + q;   /* row-major key; m <= 2^20 keeps this exact */
    qsort(order, m, sizeof *order, cmp_size);
    float *row = ps_xmalloc((size_t)d * sizeof *row);
    for (size_t q = 0; q < m; q++) {
        size_t pos = order[q] % m, r = order[q] / m;
        if (q > 0 && order[q - 1] / m == r) {
            memcpy(dst + pos * d, dst + (order[q - 1] % m) * d, (size_t)d * sizeof *dst);
            continue;
        }
        int rc = src->read(src->ctx, r, 1, row, err);
        if (rc) {
            free(row);
            return rc;
        }
        memcpy(dst + pos * d, row, (size_t)d * sizeof *dst);
    }
    free(row);
    return PS_OK;
}

/* Nearest centre and squared distance for m rows (exact double). */
static void batch_assign(const float *B, size_t m, int d, const double *C, int k, int32_t *lab,
                         double *d2, struct ps_pool *pool)
{
    ps_kmeans_assign(B, m, d, C, k, pool, lab, d2);
}

struct pass_ctx { const struct ps_row_source *src; };

int ps_kmeans_minibatch(const struct ps_row_source *src, const struct ps_kmeans_params *p,
                        struct ps_pool *pool, int want_labels,
                        struct ps_kmeans_result *res, struct ps_err *err)
{
    memset(res, 0, sizeof *res);
    size_t n = src->n;
    int d = src->d, k = p->k, rc;
    struct ps_kmeans_params chk = *p;
    chk.algorithm = PS_KMEANS_MINIBATCH;
    if ((rc = ps_kmeans_check_params(&chk, n, err)))
        return rc;
    size_t bs = p->batch_size < n ? p->batch_size : n;
    if (bs > ((size_t)1 << 20))
        bs = (size_t)1 << 20;
    size_t init_size = 3 * bs;
    if (init_size < (size_t)k)
        init_size = 3 * (size_t)k;
    if (init_size > n)
        init_size = n;
    if (init_size > ((size_t)1 << 20))
        init_size = (size_t)1 << 20;
    struct ps_rng rng;
    ps_rng_seed(&rng, p->seed, 0);
    size_t cap = init_size > bs ? init_size : bs;
    float *buf = ps_xmalloc(cap * (size_t)d * sizeof *buf + 4);
    float *vbuf = ps_xmalloc(init_size * (size_t)d * sizeof *vbuf + 4);
    size_t *idx = ps_xmalloc(cap * sizeof *idx), *order = ps_xmalloc(cap * sizeof *order);
    int32_t *lab = ps_xmalloc(cap * sizeof *lab);
    double *d2 = ps_xmalloc(cap * sizeof *d2);
    double *C = ps_xmalloc((size_t)k * d * sizeof *C), *bestC = ps_xmalloc((size_t)k * d * sizeof *bestC);
    double *wsum = ps_xcalloc((size_t)k, sizeof *wsum);
    double *bsum = ps_xmalloc((size_t)k * d * sizeof *bsum), *bw = ps_xmalloc((size_t)k * sizeof *bw);
    double *oldC = ps_xmalloc((size_t)k * d * sizeof *oldC);

    /* Validation sample, then n_init seedings on fresh samples. */
    for (size_t q = 0; q < init_size; q++)
        idx[q] = (size_t)ps_rng_below(&rng, n);
    if ((rc = gather(src, idx, init_size, vbuf, order, err)))
        goto done;
    double best = INFINITY;
    for (int r = 0; r < p->n_init; r++) {
        for (size_t q = 0; q < init_size; q++)
            idx[q] = (size_t)ps_rng_below(&rng, n);
        if ((rc = gather(src, idx, init_size, buf, order, err)))
            goto done;
        ps_kmeans_plusplus(buf, init_size, d, NULL, k, p->n_local_trials, &rng, pool, C);
        batch_assign(vbuf, init_size, d, C, k, lab, d2, pool);
        double in = 0;
        for (size_t q = 0; q < init_size; q++)
            in += d2[q];
        if (in < best) {
            best = in;
            memcpy(bestC, C, (size_t)k * d * sizeof *C);
        }
    }
    memcpy(C, bestC, (size_t)k * d * sizeof *C);

    /* Steps. */
    size_t n_steps = (size_t)p->max_iter * n / bs;
    double ewa = 0, ewa_min = INFINITY;
    int no_improve = 0;
    size_t since_reassign = 0, step;
    for (step = 0; step < n_steps; step++) {
        for (size_t q = 0; q < bs; q++)
            idx[q] = (size_t)ps_rng_below(&rng, n);
        if ((rc = gather(src, idx, bs, buf, order, err)))
            goto done;
        batch_assign(buf, bs, d, C, k, lab, d2, pool);
        double binertia = 0;
        memset(bsum, 0, (size_t)k * d * sizeof *bsum);
        memset(bw, 0, (size_t)k * sizeof *bw);
        for (size_t q = 0; q < bs; q++) {
            binertia += d2[q];
            bw[lab[q]] += 1;
            for (int t = 0; t < d; t++)
                bsum[(size_t)lab[q] * d + t] += buf[q * d + t];
        }
        memcpy(oldC, C, (size_t)k * d * sizeof *C);
        /* Per-centre learning rate: the running mean of its points. */
        for (int j = 0; j < k; j++) {
            if (bw[j] == 0)
                continue;
            double w0 = wsum[j], w1 = w0 + bw[j];
            for (int t = 0; t < d; t++) {
                size_t q = (size_t)j * d + t;
                C[q] = (C[q] * w0 + bsum[q]) / w1;
            }
            wsum[j] = w1;
        }
        /* Random reassignment of starved centres (sklearn: ratio 0.01,
         * every 10 k rows seen or when a centre has no weight). */
        since_reassign += bs;
        int any_zero = 0;
        double wmax = 0;
        for (int j = 0; j < k; j++) {
            any_zero |= wsum[j] == 0;
            if (wsum[j] > wmax)
                wmax = wsum[j];
        }
        if (any_zero || since_reassign >= 10 * (size_t)k) {
            since_reassign = 0;
            for (int j = 0; j < k; j++)
                if (wsum[j] < 0.01 * wmax) {
                    size_t q = (size_t)ps_rng_below(&rng, bs);
                    for (int t = 0; t < d; t++)
                        C[(size_t)j * d + t] = buf[q * d + t];
                    /* sklearn resets the count to the smallest kept count */
                    double mn = INFINITY;
                    for (int jj = 0; jj < k; jj++)
                        if (wsum[jj] >= 0.01 * wmax && wsum[jj] < mn)
                            mn = wsum[jj];
                    wsum[j] = isfinite(mn) ? mn : 1;
                }
        }
        /* Early stopping on the smoothed mean batch inertia. */
        if (step == 0)
            continue;
        double bi = binertia / (double)bs;
        double alpha = 2.0 * (double)bs / ((double)n + 1);
        if (alpha > 1)
            alpha = 1;
        ewa = step == 1 ? bi : ewa * (1 - alpha) + bi * alpha;
        if (p->tol > 0) {
            double shift = 0;
            for (size_t q = 0; q < (size_t)k * d; q++)
                shift += (C[q] - oldC[q]) * (C[q] - oldC[q]);
            if (shift <= p->tol)
                break;
        }
        if (ewa < ewa_min) {
            no_improve = 0;
            ewa_min = ewa;
        } else if (++no_improve >= p->max_no_improvement && p->max_no_improvement > 0) {
            break;
        }
    }
    res->n_iter = (int)(step < n_steps ? step + 1 : n_steps);

    /* Final streamed pass: labels, distances, exact inertia, weights. */
    res->k = k;
    res->d = d;
    res->n = n;
    res->weight = ps_xcalloc((size_t)k, sizeof *res->weight);
    if (want_labels) {
        res->labels = ps_xmalloc(n * sizeof *res->labels + 4);
        res->distance = ps_xmalloc(n * sizeof *res->distance + 4);
    }
    {
        float *pb = ps_xmalloc((size_t)PASS_ROWS * d * sizeof *pb);
        int32_t *pl = ps_xmalloc(PASS_ROWS * sizeof *pl);
        double *pd = ps_xmalloc(PASS_ROWS * sizeof *pd);
        double inertia = 0;
        for (size_t first = 0; first < n; first += PASS_ROWS) {
            size_t m = n - first < PASS_ROWS ? n - first : PASS_ROWS;
            if ((rc = src->read(src->ctx, first, m, pb, err)))
                break;
            batch_assign(pb, m, d, C, k, pl, pd, pool);
            for (size_t q = 0; q < m; q++) {
                inertia += pd[q];
                res->weight[pl[q]] += 1;
                if (want_labels) {
                    res->labels[first + q] = pl[q];
                    res->distance[first + q] = (float)sqrt(pd[q]);
                }
            }
        }
        res->inertia = inertia;
        free(pb);
        free(pl);
        free(pd);
    }
    if (!rc) {
        res->centers = C;
        C = NULL;
    }
done:
    free(buf);
    free(vbuf);
    free(idx);
    free(order);
    free(lab);
    free(d2);
    free(C);
    free(bestC);
    free(wsum);
    free(bsum);
    free(bw);
    free(oldC);
    if (rc)
        ps_kmeans_result_release(res);
    return rc;
}
