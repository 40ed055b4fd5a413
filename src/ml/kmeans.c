/*
 * kmeans.c - exact K-means: k-means++ seeding, Lloyd and Hamerly, restarts.
 *
 * Layout of the work: the rows are cut into n_tasks ranges that depend
 * only on (n, k, d); each pool task handles one range in blocks of BLOCK
 * rows and writes its partial sums into its own slot, and the slots are
 * added in task order.  That makes every result independent of the
 * thread count.  See kmeans.h for the semantics matched with sklearn.
 *
 * Legend inside kernels: n rows, d features, k clusters, B rows in a block.
 */
#include "persona/kmeans.h"
#include "persona/core.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/rng.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 256

struct ps_kmeans_params ps_kmeans_default_params(void)
{
    struct ps_kmeans_params p;
    memset(&p, 0, sizeof p);
    p.k = 8;
    p.n_init = 10;
    p.max_iter = 300;
    p.tol = 1e-4;
    p.seed = 42;
    p.algorithm = PS_KMEANS_AUTO;
    p.batch_size = 1024;
    p.max_no_improvement = 10;
    return p;
}

static const char *algo_names[] = {"auto", "lloyd", "elkan", "hamerly", "minibatch"};

const char *ps_kmeans_algorithm_name(enum ps_kmeans_algorithm a)
{
    return (unsigned)a < 5 ? algo_names[a] : "auto";
}

int ps_kmeans_algorithm_parse(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, algo_names[i]) == 0)
            return i;
    return -1;
}

int ps_kmeans_check_params(const struct ps_kmeans_params *p, size_t n, struct ps_err *err)
{
    if (p->k < 1)
        return ps_err_set(err, PS_ERR_USAGE, "k must be at least 1, got %d", p->k);
    if (n < (size_t)p->k)
        return ps_err_set(err, PS_ERR_USAGE, "k (%d) is larger than the number of rows (%zu)",
                          p->k, n);
    if (p->n_init < 1)
        return ps_err_set(err, PS_ERR_USAGE, "n_init must be at least 1, got %d", p->n_init);
    if (p->max_iter < 1)
        return ps_err_set(err, PS_ERR_USAGE, "max_iter must be at least 1, got %d", p->max_iter);
    if (!(p->tol >= 0) || !isfinite(p->tol))
        return ps_err_set(err, PS_ERR_USAGE, "tol must be a number >= 0, got %g", p->tol);
    if ((unsigned)p->algorithm > PS_KMEANS_MINIBATCH)
        return ps_err_set(err, PS_ERR_USAGE, "unknown algorithm %d", (int)p->algorithm);
    if (p->algorithm == PS_KMEANS_MINIBATCH && p->batch_size < 1)
        return ps_err_set(err, PS_ERR_USAGE, "batch_size must be at least 1");
    return PS_OK;
}

void ps_kmeans_result_release(struct ps_kmeans_result *r)
{
    free(r->centers);
    free(r->labels);
    free(r->distance);
    free(r->weight);
    memset(r, 0, sizeof *r);
}

/* ---- shared state of one fit ------------------------------------------ */

struct km {
    const float *X;      /* n x d, centred copy */
    const float *w;      /* n weights or NULL */
    float *xx;           /* n squared row norms (float) */
    size_t n;
    int d, k;
    int n_tasks;
    struct ps_pool *pool;
    int n_workers;
    float **gbuf;        /* per worker: B x k sgemm output */
    double **dbuf;       /* per worker: k doubles */
    float **xbuf;        /* per worker: B x d gathered rows */
    size_t **ibuf;       /* per worker: B row indices */
    /* current centres */
    double *C;           /* k x d */
    float *Cf;           /* k x d, float copy for sgemm */
    float *cc;           /* k squared norms of Cf */
    float cc_max;        /* largest of cc */
    double *cn;          /* k Euclidean norms of C (bound slack for Cf's rounding) */
    /* per-task partials */
    double *psum;        /* n_tasks x k x d */
    double *pw;          /* n_tasks x k */
    long *pchanged;      /* n_tasks */
    double *pval;        /* n_tasks scratch doubles (inertia, potentials) */
};

static size_t pick_tasks(size_t n, int k, int d)
{
    size_t t = (n + 4095) / 4096;
    size_t cap = (size_t)4 << 20;                 /* doubles of partial sums */
    size_t per = (size_t)k * (size_t)d + (size_t)k;
    size_t lim = cap / (per ? per : 1);
    if (t > 64)
        t = 64;
    if (t > lim)
        t = lim;
    return t ? t : 1;
}

static void km_init(struct km *m, const float *X, const float *w, size_t n, int d, int k,
                    struct ps_pool *pool)
{
    memset(m, 0, sizeof *m);
    m->X = X;
    m->w = w;
    m->n = n;
    m->d = d;
    m->k = k;
    m->pool = pool;
    m->n_workers = ps_pool_n_threads(pool);
    m->n_tasks = (int)pick_tasks(n, k, d);
    m->gbuf = ps_xcalloc((size_t)m->n_workers, sizeof *m->gbuf);
    m->dbuf = ps_xcalloc((size_t)m->n_workers, sizeof *m->dbuf);
    m->xbuf = ps_xcalloc((size_t)m->n_workers, sizeof *m->xbuf);
    m->ibuf = ps_xcalloc((size_t)m->n_workers, sizeof *m->ibuf);
    for (int i = 0; i < m->n_workers; i++) {
        m->gbuf[i] = ps_xmalloc((size_t)BLOCK * (size_t)(k > 32 ? k : 32) * sizeof(float));
        m->dbuf[i] = ps_xmalloc((size_t)(k > 32 ? k : 32) * sizeof(double));
        m->xbuf[i] = ps_xmalloc((size_t)BLOCK * (size_t)d * sizeof(float));
        m->ibuf[i] = ps_xmalloc((size_t)BLOCK * sizeof(size_t));
    }
    m->C = ps_xcalloc((size_t)k * (size_t)d, sizeof(double));
    m->Cf = ps_xcalloc((size_t)k * (size_t)d + 1, sizeof(float));
    m->cc = ps_xcalloc((size_t)k + 1, sizeof(float));
    m->cn = ps_xcalloc((size_t)k + 1, sizeof(double));
    m->psum = ps_xmalloc((size_t)m->n_tasks * (size_t)k * (size_t)d * sizeof(double) + 8);
    m->pw = ps_xmalloc((size_t)m->n_tasks * (size_t)k * sizeof(double) + 8);
    m->pchanged = ps_xcalloc((size_t)m->n_tasks, sizeof(long));
    m->pval = ps_xcalloc((size_t)m->n_tasks * 64, sizeof(double));
}

static void km_release(struct km *m)
{
    for (int i = 0; i < m->n_workers; i++) {
        free(m->gbuf[i]);
        free(m->dbuf[i]);
        free(m->xbuf[i]);
        free(m->ibuf[i]);
    }
    free(m->gbuf);
    free(m->dbuf);
    free(m->xbuf);
    free(m->ibuf);
    free(m->C);
    free(m->Cf);
    free(m->cc);
    free(m->cn);
    free(m->psum);
    free(m->pw);
    free(m->pchanged);
    free(m->pval);
}

/* After m->C changes: float copy and norms for the sgemm path. */
static void km_sync_centers(struct km *m)
{
    for (int j = 0; j < m->k; j++) {
        double s = 0, sc = 0;
        for (int t = 0; t < m->d; t++) {
            double c = m->C[(size_t)j * m->d + t];
            float v = (float)c;
            m->Cf[(size_t)j * m->d + t] = v;
            s += (double)v * v;
            sc += c * c;
        }
        m->cc[j] = (float)s;
        m->cn[j] = sqrt(sc);
    }
    m->cc_max = 0;
    for (int j = 0; j < m->k; j++)
        if (m->cc[j] > m->cc_max)
            m->cc_max = m->cc[j];
}

static inline double wt(const struct km *m, size_t i)
{
    return m->w ? (double)m->w[i] : 1.0;
}

/* Exact squared distance, double accumulation.  Four partial sums break
 * the add-latency chain (a fixed order, so still deterministic). */
static inline double dist2_exact(const float *x, const double *c, int d)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int t = 0;
    for (; t + 4 <= d; t += 4) {
        double u0 = (double)x[t] - c[t], u1 = (double)x[t + 1] - c[t + 1];
        double u2 = (double)x[t + 2] - c[t + 2], u3 = (double)x[t + 3] - c[t + 3];
        s0 += u0 * u0;
        s1 += u1 * u1;
        s2 += u2 * u2;
        s3 += u3 * u3;
    }
    for (; t < d; t++) {
        double u = (double)x[t] - c[t];
        s0 += u * u;
    }
    return (s0 + s1) + (s2 + s3);
}

/* Squared distance in float, eight partial sums in a fixed-width loop the
 * compiler turns into SIMD.  Relative error below (d + 8) ulps: callers
 * that need a bound widen it by that much. */
static inline float dist2_f32(const float *x, const float *c, int d)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0;
    int t = 0;
    for (; t + 8 <= d; t += 8)
        for (int q = 0; q < 8; q++) {
            float u = x[t + q] - c[t + q];
            acc[q] += u * u;
        }
    for (; t < d; t++) {
        float u = x[t] - c[t];
        s += u * u;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s;
}

/*
 * Block of B rows starting at row i0: G (B x k) = X_b C_f^T via sgemm, then
 * d2 = |x|^2 - 2 x.c + |c|^2.  Returns nothing; the caller scans G.
 */
static void block_gemm(const struct km *m, size_t i0, int B, const float *Cf, int k, float *G)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, k, m->d, 1.0f,
                m->X + i0 * (size_t)m->d, m->d, Cf, m->d, 0.0f, G, k);
}

/*
 * Nearest centre of row i from its sgemm row g (k dot products): returns
 * the label.  When the best two are closer than the rounding error of the
 * float computation, both are recomputed exactly in double (ties -> lowest
 * index, as sklearn's scan).  d2_best (optional) receives the squared
 * distance to the winner: exact when `exact` is set, otherwise the float
 * estimate plus its error margin (an upper bound, enough for Hamerly).
 * d2_second (optional) receives the second-smallest squared distance (the
 * float estimate unless refined).
 */
static int nearest_from_gemm(const struct km *m, size_t i, const float *g, double *dbuf,
                             double *d2_best, double *d2_second, int exact)
{
    int k = m->k;
    float xx = m->xx[i];
    float b1 = INFINITY, b2 = INFINITY, cmax = m->cc_max;
    int j1 = 0;
    /* Best two of |c|^2 - 2 x.c (|x|^2 is common to all), branch-free:
     * overlapping clusters make the comparisons unpredictable. */
    for (int j = 0; j < k; j++) {
        float v = m->cc[j] - 2.0f * g[j];
        float hi = v > b1 ? v : b1;
        b2 = hi < b2 ? hi : b2;
        j1 = v < b1 ? j : j1;
        b1 = v < b1 ? v : b1;
    }
    b1 += xx;
    b2 += xx;
    /* sgemm's dot products err by at most ~d ulps of |x||c| <= (xx+cc)/2;
     * the two additions add a few more. */
    float margin = (float)(2 * m->d + 8) * FLT_EPSILON * (xx + cmax) + FLT_MIN;
    const float *x = m->X + i * (size_t)m->d;
    if (k > 1 && !(b2 - b1 > margin)) {
        double e1 = INFINITY, e2 = INFINITY;
        for (int j = 0; j < k; j++) {
            double v = dist2_exact(x, m->C + (size_t)j * m->d, m->d);
            dbuf[j] = v;
            if (v < e1) {
                e2 = e1;
                e1 = v;
                j1 = j;
            } else if (v < e2) {
                e2 = v;
            }
        }
        if (d2_best)
            *d2_best = e1;
        if (d2_second)
            *d2_second = e2;
        return j1;
    }
    if (d2_best)
        *d2_best = exact ? dist2_exact(x, m->C + (size_t)j1 * m->d, m->d)
                         : (double)b1 + margin > 0 ? (double)b1 + margin : 0.0;
    if (d2_second)
        *d2_second = b2 > 0 ? (double)b2 : 0.0;
    return j1;
}

/* ---- Lloyd step ------------------------------------------------------- */

struct lloyd_ctx {
    struct km *m;
    int32_t *labels;
    int update;          /* accumulate sums */
};

static void lloyd_task(void *vctx, int task, int worker)
{
    struct lloyd_ctx *c = vctx;
    struct km *m = c->m;
    int k = m->k, d = m->d;
    long b, e;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    double *sum = m->psum + (size_t)task * k * d;
    double *ws = m->pw + (size_t)task * k;
    if (c->update) {
        memset(sum, 0, (size_t)k * d * sizeof *sum);
        memset(ws, 0, (size_t)k * sizeof *ws);
    }
    long changed = 0;
    float *G = m->gbuf[worker];
    for (long i0 = b; i0 < e; i0 += BLOCK) {
        int B = (int)(e - i0 < BLOCK ? e - i0 : BLOCK);
        block_gemm(m, (size_t)i0, B, m->Cf, k, G);
        for (int r = 0; r < B; r++) {
            size_t i = (size_t)i0 + r;
            int j = nearest_from_gemm(m, i, G + (size_t)r * k, m->dbuf[worker], NULL, NULL, 0);
            if (c->labels[i] != j)
                changed++;
            c->labels[i] = j;
            if (c->update) {
                double wi = wt(m, i);
                const float *x = m->X + i * (size_t)d;
                double *s = sum + (size_t)j * d;
                for (int t = 0; t < d; t++)
                    s[t] += wi * x[t];
                ws[j] += wi;
            }
        }
    }
    m->pchanged[task] = changed;
}

/* Adds the per-task partials in task order into sums (k x d) and wsum (k). */
static long reduce_partials(struct km *m, double *sums, double *wsum)
{
    int k = m->k, d = m->d;
    long changed = 0;
    memset(sums, 0, (size_t)k * d * sizeof *sums);
    memset(wsum, 0, (size_t)k * sizeof *wsum);
    for (int t = 0; t < m->n_tasks; t++) {
        const double *s = m->psum + (size_t)t * k * d;
        const double *w = m->pw + (size_t)t * k;
        for (size_t q = 0; q < (size_t)k * d; q++)
            sums[q] += s[q];
        for (int j = 0; j < k; j++)
            wsum[j] += w[j];
        changed += m->pchanged[t];
    }
    return changed;
}

struct far { double dist; size_t i; };

static int cmp_far(const void *a, const void *b)
{
    const struct far *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/*
 * sklearn's _relocate_empty_clusters_dense: every zero-weight cluster takes
 * one of the points farthest from their (old) centre, which leaves its old
 * cluster.  Works on the weighted sums, before averaging.  Labels stay.
 */
static void relocate_empty(struct km *m, const int32_t *labels, const double *old_C,
                           double *sums, double *wsum)
{
    int k = m->k, d = m->d, n_empty = 0;
    for (int j = 0; j < k; j++)
        n_empty += wsum[j] == 0;
    if (!n_empty)
        return;
    /* Keep the n_empty largest distances (a small sorted list). */
    struct far *top = ps_xcalloc((size_t)n_empty + 1, sizeof *top);
    int n_top = 0;
    for (size_t i = 0; i < m->n; i++) {
        double v = dist2_exact(m->X + i * d, old_C + (size_t)labels[i] * d, d);
        if (n_top == n_empty && !(v > top[n_top - 1].dist))
            continue;
        int p = n_top < n_empty ? n_top++ : n_empty - 1;
        while (p > 0 && top[p - 1].dist < v) {
            top[p] = top[p - 1];
            p--;
        }
        top[p].dist = v;
        top[p].i = i;
    }
    qsort(top, (size_t)n_top, sizeof *top, cmp_far);
    int idx = 0;
    for (int j = 0; j < k && idx < n_top; j++) {
        if (wsum[j] != 0)
            continue;
        size_t i = top[idx++].i;
        double wi = wt(m, i);
        int old = labels[i];
        const float *x = m->X + i * d;
        for (int t = 0; t < d; t++) {
            sums[(size_t)old * d + t] -= (double)x[t] * wi;
            sums[(size_t)j * d + t] = (double)x[t] * wi;
        }
        wsum[j] = wi;
        wsum[old] -= wi;
    }
    free(top);
}

/* New centres from sums; returns the summed squared shift.  shift (k) gets
 * each centre's Euclidean shift when not NULL. */
static double update_centers(struct km *m, const double *sums, const double *wsum,
                             double *shift)
{
    int k = m->k, d = m->d;
    double tot = 0;
    for (int j = 0; j < k; j++) {
        double s2 = 0;
        for (int t = 0; t < d; t++) {
            size_t q = (size_t)j * d + t;
            /* sklearn leaves a zero-weight centre at its sums (zero). */
            double v = wsum[j] > 0 ? sums[q] / wsum[j] : sums[q];
            double u = v - m->C[q];
            s2 += u * u;
            m->C[q] = v;
        }
        if (shift)
            shift[j] = sqrt(s2);
        tot += s2;
    }
    km_sync_centers(m);
    return tot;
}

static int run_lloyd(struct km *m, int max_iter, double tol, int32_t *labels)
{
    int k = m->k, d = m->d, it, strict = 0;
    double *sums = ps_xmalloc((size_t)k * d * sizeof *sums);
    double *wsum = ps_xmalloc((size_t)k * sizeof *wsum);
    double *old_C = ps_xmalloc((size_t)k * d * sizeof *old_C);
    struct lloyd_ctx c = {m, labels, 1};
    for (size_t i = 0; i < m->n; i++)
        labels[i] = -1;
    km_sync_centers(m);
    for (it = 0; it < max_iter; it++) {
        c.update = 1;
        ps_pool_run(m->pool, m->n_tasks, lloyd_task, &c);
        long changed = reduce_partials(m, sums, wsum);
        memcpy(old_C, m->C, (size_t)k * d * sizeof *old_C);
        relocate_empty(m, labels, old_C, sums, wsum);
        double shift = update_centers(m, sums, wsum, NULL);
        if (changed == 0) {
            strict = 1;
            break;
        }
        if (shift <= tol)
            break;
    }
    if (!strict) {
        c.update = 0;
        ps_pool_run(m->pool, m->n_tasks, lloyd_task, &c);
    }
    free(sums);
    free(wsum);
    free(old_C);
    return it < max_iter ? it + 1 : max_iter;
}

/* ---- Hamerly ---------------------------------------------------------- */

struct ham_ctx {
    struct km *m;
    int32_t *labels;
    double *upper, *lower;     /* n bounds on Euclidean distances */
    const double *s;           /* k: half the distance to the nearest other centre */
    const double *shift;       /* k: last centre shifts (NULL on the first pass) */
    double p1, p2;             /* largest and second-largest shift */
    int j1;                    /* owner of p1 */
    int full;                  /* first pass: scan everything */
    int update;
};

/*
 * One Hamerly pass over a task's rows.  The first pass labels every row
 * through the sgemm path (upper bound = exact distance, lower bound = the
 * second-best distance less sgemm's error margin) and accumulates full
 * sums; later passes move the bounds by the centre shifts, rescan only
 * rows whose bounds overlap, and accumulate the sums' *changes* (a row
 * leaving cluster a for j moves w x from a to j).
 */
static void ham_task(void *vctx, int task, int worker)
{
    struct ham_ctx *c = vctx;
    struct km *m = c->m;
    int k = m->k, d = m->d;
    long b, e;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    double *sum = m->psum + (size_t)task * k * d;
    double *ws = m->pw + (size_t)task * k;
    memset(sum, 0, (size_t)k * d * sizeof *sum);
    memset(ws, 0, (size_t)k * sizeof *ws);
    long changed = 0;
    if (c->full) {
        float *G = m->gbuf[worker];
        for (long i0 = b; i0 < e; i0 += BLOCK) {
            int B = (int)(e - i0 < BLOCK ? e - i0 : BLOCK);
            block_gemm(m, (size_t)i0, B, m->Cf, k, G);
            for (int r = 0; r < B; r++) {
                size_t i = (size_t)i0 + r;
                double d1, d2;
                int j = nearest_from_gemm(m, i, G + (size_t)r * k, m->dbuf[worker], &d1, &d2, 0);
                float margin = (float)(2 * d + 8) * FLT_EPSILON * (m->xx[i] + m->cc_max);
                c->upper[i] = sqrt(d1);
                c->lower[i] = d2 - margin > 0 ? sqrt(d2 - margin) : 0.0;
                changed++;
                c->labels[i] = j;
                double wi = wt(m, i);
                const float *x = m->X + i * d;
                double *s = sum + (size_t)j * d;
                for (int t = 0; t < d; t++)
                    s[t] += wi * x[t];
                ws[j] += wi;
            }
        }
        m->pchanged[task] = changed;
        return;
    }
    /* Rows whose bounds do not settle them are gathered and rescanned a
     * block at a time through sgemm. */
    float *xb = m->xbuf[worker], *G = m->gbuf[worker];
    size_t *ib = m->ibuf[worker];
    int nb = 0;
    for (long ii = b; ii <= e; ii++) {
        if (ii < e) {
            size_t i = (size_t)ii;
            const float *x = m->X + i * d;
            int a = c->labels[i];
            /* Move the bounds by the centre shifts of the last update.  A
             * relative slack of a few ulps keeps them valid under rounding. */
            double u = c->upper[i] + c->shift[a];
            double l = c->lower[i] - (a == c->j1 ? c->p2 : c->p1);
            u += 4 * DBL_EPSILON * u;
            l -= 4 * DBL_EPSILON * fabs(l);
            double bound = c->s[a] > l ? c->s[a] : l;
            if (u > bound) {
                /* Tighten u with a float distance to the float centre,
                 * widened by its rounding error so it stays an upper bound. */
                u = sqrt((double)dist2_f32(x, m->Cf + (size_t)a * d, d));
                u += (d + 8) * FLT_EPSILON * u + 2 * FLT_EPSILON * m->cn[a];
                if (u > bound) {
                    memcpy(xb + (size_t)nb * d, x, (size_t)d * sizeof *xb);
                    ib[nb++] = i;
                }
            }
            c->upper[i] = u;
            c->lower[i] = l;
            if (nb < BLOCK)
                continue;
        }
        if (nb == 0)
            continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, k, d, 1.0f, xb, d, m->Cf, d,
                    0.0f, G, k);
        for (int r = 0; r < nb; r++) {
            size_t i = ib[r];
            double d1, d2;
            int j = nearest_from_gemm(m, i, G + (size_t)r * k, m->dbuf[worker], &d1, &d2, 0);
            float margin = (float)(2 * d + 8) * FLT_EPSILON * (m->xx[i] + m->cc_max);
            c->upper[i] = sqrt(d1);
            c->lower[i] = d2 - margin > 0 ? sqrt(d2 - margin) : 0.0;
            int a = c->labels[i];
            if (j != a) {
                changed++;
                if (c->update) {
                    const float *x = m->X + i * d;
                    double wi = wt(m, i);
                    double *sa = sum + (size_t)a * d, *sj = sum + (size_t)j * d;
                    for (int t = 0; t < d; t++) {
                        sa[t] -= wi * x[t];
                        sj[t] += wi * x[t];
                    }
                    ws[a] -= wi;
                    ws[j] += wi;
                }
                c->labels[i] = j;
            }
        }
        nb = 0;
    }
    m->pchanged[task] = changed;
}

static void half_min_center_dist(const struct km *m, double *s)
{
    int k = m->k, d = m->d;
    for (int j = 0; j < k; j++)
        s[j] = INFINITY;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            double v = 0;
            for (int t = 0; t < d; t++) {
                double u = m->C[(size_t)a * d + t] - m->C[(size_t)b * d + t];
                v += u * u;
            }
            v = 0.5 * sqrt(v);
            if (v < s[a])
                s[a] = v;
            if (v < s[b])
                s[b] = v;
        }
    for (int j = 0; j < k; j++)       /* shrink a hair for rounding safety */
        s[j] *= 1 - 8 * DBL_EPSILON;
}

static void max2_shift(const double *shift, int k, struct ham_ctx *c)
{
    c->p1 = 0;
    c->p2 = 0;
    c->j1 = -1;
    for (int j = 0; j < k; j++) {
        if (shift[j] > c->p1) {
            c->p2 = c->p1;
            c->p1 = shift[j];
            c->j1 = j;
        } else if (shift[j] > c->p2) {
            c->p2 = shift[j];
        }
    }
}

static int run_hamerly(struct km *m, int max_iter, double tol, int32_t *labels)
{
    int k = m->k, d = m->d, it, strict = 0;
    size_t kd = (size_t)k * d;
    double *S = ps_xcalloc(kd, sizeof *S);        /* sums consistent with labels */
    double *W = ps_xcalloc((size_t)k, sizeof *W);
    double *sums = ps_xmalloc(kd * sizeof *sums);
    double *wsum = ps_xmalloc((size_t)k * sizeof *wsum);
    double *old_C = ps_xmalloc(kd * sizeof *old_C);
    double *s = ps_xmalloc((size_t)k * sizeof *s);
    double *shift = ps_xcalloc((size_t)k, sizeof *shift);
    double *upper = ps_xmalloc(m->n * sizeof *upper);
    double *lower = ps_xmalloc(m->n * sizeof *lower);
    struct ham_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.labels = labels;
    c.upper = upper;
    c.lower = lower;
    c.s = s;
    c.shift = shift;
    km_sync_centers(m);
    c.full = 1;
    for (it = 0; it < max_iter; it++) {
        c.update = 1;
        half_min_center_dist(m, s);
        ps_pool_run(m->pool, m->n_tasks, ham_task, &c);
        c.full = 0;
        /* partials are full sums on the first pass, changes afterwards */
        long changed = reduce_partials(m, sums, wsum);
        for (size_t q = 0; q < kd; q++)
            S[q] += sums[q];
        for (int j = 0; j < k; j++)
            W[j] += wsum[j];
        /* relocation edits a copy: the labels (and so S) stay */
        memcpy(sums, S, kd * sizeof *sums);
        memcpy(wsum, W, (size_t)k * sizeof *wsum);
        memcpy(old_C, m->C, kd * sizeof *old_C);
        relocate_empty(m, labels, old_C, sums, wsum);
        double tot = update_centers(m, sums, wsum, shift);
        max2_shift(shift, k, &c);
        if (changed == 0) {
            strict = 1;
            break;
        }
        if (tot <= tol)
            break;
    }
    if (!strict) {
        c.update = 0;
        half_min_center_dist(m, s);
        ps_pool_run(m->pool, m->n_tasks, ham_task, &c);
    }
    free(S);
    free(W);
    free(sums);
    free(wsum);
    free(old_C);
    free(s);
    free(shift);
    free(upper);
    free(lower);
    return it < max_iter ? it + 1 : max_iter;
}

/* ---- k-means++ -------------------------------------------------------- */

struct pp_ctx {
    struct km *m;
    double *closest;        /* n current squared distances */
    const float *cand;      /* T x d candidate rows */
    float *cand_cc;         /* T norms */
    int T;
    double *pot;            /* n_tasks x T partial potentials */
    int commit;             /* >= 0: store min with candidate `commit` */
    float *cand_dist;       /* n x T: min(closest, candidate distance), or NULL */
    int best;               /* commit_task: candidate to keep */
};

static void pp_task(void *vctx, int task, int worker)
{
    struct pp_ctx *c = vctx;
    struct km *m = c->m;
    int T = c->T;
    long b, e;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    double *pot = c->pot + (size_t)task * T;
    for (int t = 0; t < T; t++)
        pot[t] = 0;
    float *G = m->gbuf[worker];
    for (long i0 = b; i0 < e; i0 += BLOCK) {
        int B = (int)(e - i0 < BLOCK ? e - i0 : BLOCK);
        block_gemm(m, (size_t)i0, B, c->cand, T, G);
        for (int r = 0; r < B; r++) {
            size_t i = (size_t)i0 + r;
            double wi = wt(m, i), cl = c->closest[i];
            for (int t = 0; t < T; t++) {
                double v = (double)m->xx[i] - 2.0 * G[(size_t)r * T + t] + c->cand_cc[t];
                if (v < 0)
                    v = 0;
                if (v > cl)
                    v = cl;
                if (c->commit == t)
                    c->closest[i] = v;
                else if (c->cand_dist)
                    c->cand_dist[i * (size_t)T + t] = (float)v;
                pot[t] += wi * v;
            }
        }
    }
}

/* Keeps candidate c->best from the stored distances: no pass over X. */
static void pp_commit_task(void *vctx, int task, int worker)
{
    struct pp_ctx *c = vctx;
    struct km *m = c->m;
    long b, e;
    (void)worker;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    double s = 0;
    for (long i = b; i < e; i++) {
        double v = c->cand_dist[(size_t)i * c->T + c->best];
        c->closest[i] = v;
        s += wt(m, (size_t)i) * v;
    }
    m->pval[task] = s;
}

struct cum_ctx { struct km *m; double *closest; };

static void cum_task(void *vctx, int task, int worker)
{
    struct cum_ctx *c = vctx;
    long b, e;
    (void)worker;
    ps_split_range((long)c->m->n, c->m->n_tasks, task, &b, &e);
    double s = 0;
    for (long i = b; i < e; i++)
        s += wt(c->m, (size_t)i) * c->closest[i];
    c->m->pval[task] = s;
}

/* Smallest i with cumsum(w * closest)[i] > target (searchsorted), clipped. */
static size_t pp_search(struct km *m, const double *closest, double target)
{
    double acc = 0;
    for (int t = 0; t < m->n_tasks; t++) {
        long b, e;
        ps_split_range((long)m->n, m->n_tasks, t, &b, &e);
        if (acc + m->pval[t] < target && t < m->n_tasks - 1) {
            acc += m->pval[t];
            continue;
        }
        for (long i = b; i < e; i++) {
            acc += wt(m, (size_t)i) * closest[i];
            if (acc >= target)
                return (size_t)i;
        }
        if (t == m->n_tasks - 1)
            return m->n - 1;
    }
    return m->n - 1;
}

static void km_plusplus(struct km *m, int n_trials, struct ps_rng *rng, double *centers)
{
    size_t n = m->n;
    int d = m->d, k = m->k;
    if (n_trials <= 0)
        n_trials = 2 + (int)log((double)k);
    double *closest = ps_xmalloc(n * sizeof *closest);
    float *cand = ps_xmalloc((size_t)n_trials * d * sizeof *cand);
    float *cand_cc = ps_xmalloc((size_t)n_trials * sizeof *cand_cc);
    size_t *ids = ps_xmalloc((size_t)n_trials * sizeof *ids);
    double *pot = ps_xmalloc((size_t)m->n_tasks * n_trials * sizeof *pot);
    double *tot = ps_xmalloc((size_t)n_trials * sizeof *tot);
    struct pp_ctx c = {m, closest, cand, cand_cc, 1, pot, 0, NULL, 0};
    /* Candidate distances are kept (n x trials floats, a few per row) so
     * keeping the winner needs no second pass over X; skipped when huge. */
    float *cand_dist = (size_t)n_trials * n <= ((size_t)1 << 28)
                           ? ps_xmalloc((size_t)n_trials * n * sizeof *cand_dist) : NULL;
    struct cum_ctx cc = {m, closest};

    /* First centre: drawn with probability proportional to the weight. */
    size_t first;
    for (size_t i = 0; i < n; i++)
        closest[i] = 1.0;
    ps_pool_run(m->pool, m->n_tasks, cum_task, &cc);
    double wtot = 0;
    for (int t = 0; t < m->n_tasks; t++)
        wtot += m->pval[t];
    first = m->w ? pp_search(m, closest, ps_rng_uniform(rng) * wtot)
                 : (size_t)ps_rng_below(rng, n);
    for (size_t i = 0; i < n; i++)
        closest[i] = INFINITY;
    size_t chosen = first;
    for (int c_i = 0; c_i < k; c_i++) {
        if (c_i > 0) {
            /* Candidates by D^2 sampling, each scored by the potential it
             * would leave; the best one is kept.  m->pval holds the
             * per-task potentials left by the last commit. */
            double cur = 0;
            for (int t = 0; t < m->n_tasks; t++)
                cur += m->pval[t];
            for (int t = 0; t < n_trials; t++)
                ids[t] = pp_search(m, closest, ps_rng_uniform(rng) * cur);
            for (int t = 0; t < n_trials; t++) {
                memcpy(cand + (size_t)t * d, m->X + ids[t] * d, (size_t)d * sizeof *cand);
                cand_cc[t] = m->xx[ids[t]];
            }
            c.T = n_trials;
            c.commit = -1;
            c.cand_dist = cand_dist;
            ps_pool_run(m->pool, m->n_tasks, pp_task, &c);
            for (int t = 0; t < n_trials; t++)
                tot[t] = 0;
            for (int task = 0; task < m->n_tasks; task++)
                for (int t = 0; t < n_trials; t++)
                    tot[t] += pot[(size_t)task * n_trials + t];
            int best = 0;
            for (int t = 1; t < n_trials; t++)
                if (tot[t] < tot[best])
                    best = t;
            chosen = ids[best];
            if (cand_dist) {
                for (int t = 0; t < d; t++)
                    centers[(size_t)c_i * d + t] = m->X[chosen * d + t];
                c.best = best;
                ps_pool_run(m->pool, m->n_tasks, pp_commit_task, &c);
                continue;
            }
        }
        for (int t = 0; t < d; t++)
            centers[(size_t)c_i * d + t] = m->X[chosen * d + t];
        /* Commit: closest = min(closest, distance to the chosen point). */
        memcpy(cand, m->X + chosen * d, (size_t)d * sizeof *cand);
        cand_cc[0] = m->xx[chosen];
        c.T = 1;
        c.commit = 0;
        c.cand_dist = NULL;
        ps_pool_run(m->pool, m->n_tasks, pp_task, &c);
        for (int t = 0; t < m->n_tasks; t++)
            m->pval[t] = pot[t];
    }
    free(cand_dist);
    free(closest);
    free(cand);
    free(cand_cc);
    free(ids);
    free(pot);
    free(tot);
}

/* ---- driver ----------------------------------------------------------- */

struct norm_ctx { struct km *m; };

static void norm_task(void *vctx, int task, int worker)
{
    struct km *m = ((struct norm_ctx *)vctx)->m;
    long b, e;
    (void)worker;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    for (long i = b; i < e; i++) {
        const float *x = m->X + (size_t)i * m->d;
        double s = 0;
        for (int t = 0; t < m->d; t++)
            s += (double)x[t] * x[t];
        m->xx[i] = (float)s;
    }
}

struct inertia_ctx { struct km *m; const int32_t *labels; float *dist; };

static void inertia_task(void *vctx, int task, int worker)
{
    struct inertia_ctx *c = vctx;
    struct km *m = c->m;
    long b, e;
    (void)worker;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    double s = 0;
    for (long i = b; i < e; i++) {
        double v = dist2_exact(m->X + (size_t)i * m->d, m->C + (size_t)c->labels[i] * m->d, m->d);
        if (c->dist)
            c->dist[i] = (float)sqrt(v);
        s += wt(m, (size_t)i) * v;
    }
    m->pval[task] = s;
}

static double km_inertia(struct km *m, const int32_t *labels, float *dist)
{
    struct inertia_ctx c = {m, labels, dist};
    ps_pool_run(m->pool, m->n_tasks, inertia_task, &c);
    double s = 0;
    for (int t = 0; t < m->n_tasks; t++)
        s += m->pval[t];
    return s;
}

void ps_kmeans_plusplus(const float *X, size_t n, int d, const float *weights, int k,
                        int n_local_trials, struct ps_rng *rng, struct ps_pool *pool,
                        double *centers)
{
    struct km m;
    km_init(&m, X, weights, n, d, k, pool);
    m.xx = ps_xmalloc(n * sizeof *m.xx + 4);
    struct norm_ctx nc = {&m};
    ps_pool_run(pool, m.n_tasks, norm_task, &nc);
    km_plusplus(&m, n_local_trials, rng, centers);
    free(m.xx);
    km_release(&m);
}

struct assign_ctx { struct km *m; int32_t *labels; double *dist2; };

static void assign_task(void *vctx, int task, int worker)
{
    struct assign_ctx *c = vctx;
    struct km *m = c->m;
    long b, e;
    ps_split_range((long)m->n, m->n_tasks, task, &b, &e);
    float *G = m->gbuf[worker];
    for (long i0 = b; i0 < e; i0 += BLOCK) {
        int B = (int)(e - i0 < BLOCK ? e - i0 : BLOCK);
        block_gemm(m, (size_t)i0, B, m->Cf, m->k, G);
        for (int r = 0; r < B; r++) {
            double d2;
            size_t i = (size_t)i0 + r;
            c->labels[i] = nearest_from_gemm(m, i, G + (size_t)r * m->k, m->dbuf[worker], &d2, NULL, 1);
            if (c->dist2)
                c->dist2[i] = d2;
        }
    }
}

void ps_kmeans_assign(const float *X, size_t n, int d, const double *centers, int k,
                      struct ps_pool *pool, int32_t *labels, double *dist2)
{
    if (n == 0)
        return;
    struct km m;
    km_init(&m, X, NULL, n, d, k, pool);
    m.xx = ps_xmalloc(n * sizeof *m.xx);
    struct norm_ctx nc = {&m};
    ps_pool_run(pool, m.n_tasks, norm_task, &nc);
    memcpy(m.C, centers, (size_t)k * d * sizeof *m.C);
    km_sync_centers(&m);
    struct assign_ctx c = {&m, labels, dist2};
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    ps_pool_run(pool, m.n_tasks, assign_task, &c);
    openblas_set_num_threads(blas_threads);
    free(m.xx);
    km_release(&m);
}

int ps_kmeans_fit(const float *X, size_t n, int d, const float *weights,
                  const struct ps_kmeans_params *p, struct ps_pool *pool,
                  struct ps_kmeans_result *res, struct ps_err *err)
{
    memset(res, 0, sizeof *res);
    int rc = ps_kmeans_check_params(p, n, err);
    if (rc)
        return rc;
    if (d < 1)
        return ps_err_set(err, PS_ERR_USAGE, "no feature columns to cluster on");
    if (p->algorithm == PS_KMEANS_MINIBATCH)
        return ps_err_set(err, PS_ERR_USAGE, "use ps_kmeans_minibatch for the minibatch algorithm");
    int k = p->k;
    size_t nd = n * (size_t)d;
    /* Our workers call sgemm on small blocks: BLAS threads would only
     * oversubscribe the cores. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    /* Column means (double) and validation. */
    double *mu = ps_xcalloc((size_t)d, sizeof *mu);
    double *var = ps_xcalloc((size_t)d, sizeof *var);
    for (size_t i = 0; i < n; i++) {
        if (weights && !(weights[i] >= 0 && isfinite(weights[i]))) {
            free(mu);
            free(var);
            return ps_err_set(err, PS_ERR_BAD_INPUT, "row %zu: sample weight must be finite and >= 0", i);
        }
        for (int t = 0; t < d; t++) {
            float v = X[i * d + t];
            if (!isfinite(v)) {
                free(mu);
                free(var);
                return ps_err_set(err, PS_ERR_BAD_INPUT, "row %zu: column %d: value is not finite", i, t);
            }
            mu[t] += v;
        }
    }
    for (int t = 0; t < d; t++)
        mu[t] /= (double)n;
    float *Xc = ps_xmalloc(nd * sizeof *Xc + 4);
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++) {
            double u = (double)X[i * d + t] - mu[t];
            var[t] += u * u;
            Xc[i * d + t] = (float)u;
        }
    double tol = 0;
    if (p->tol > 0) {
        for (int t = 0; t < d; t++)
            tol += var[t] / (double)n;
        tol = tol / d * p->tol;
    }
    free(var);

    struct km m;
    km_init(&m, Xc, weights, n, d, k, pool);
    m.xx = ps_xmalloc(n * sizeof *m.xx + 4);
    struct norm_ctx nc = {&m};
    ps_pool_run(pool, m.n_tasks, norm_task, &nc);

    int n_init = p->init ? 1 : p->n_init;
    int32_t *labels = ps_xmalloc(n * sizeof *labels + 4);
    int32_t *best_labels = ps_xmalloc(n * sizeof *best_labels + 4);
    double *best_C = ps_xmalloc((size_t)k * d * sizeof *best_C);
    double best_inertia = INFINITY;
    int best_iter = 0, best_run = 0;
    struct ps_rng rng;
    ps_rng_seed(&rng, p->seed, 0);
    for (int r = 0; r < n_init; r++) {
        if (p->init) {
            for (size_t q = 0; q < (size_t)k * d; q++)
                m.C[q] = (double)p->init[q] - mu[q % (size_t)d];
        } else {
            km_plusplus(&m, p->n_local_trials, &rng, m.C);
        }
        int it = p->algorithm == PS_KMEANS_LLOYD ? run_lloyd(&m, p->max_iter, tol, labels)
                                                 : run_hamerly(&m, p->max_iter, tol, labels);
        double inertia = km_inertia(&m, labels, NULL);
        ps_log(PS_LOG_DEBUG, "kmeans: init %d: %d iterations, inertia %.10g", r, it, inertia);
        if (inertia < best_inertia) {
            best_inertia = inertia;
            best_iter = it;
            best_run = r;
            memcpy(best_C, m.C, (size_t)k * d * sizeof *best_C);
            int32_t *tmp = best_labels;
            best_labels = labels;
            labels = tmp;
        }
    }
    /* Distances and cluster weights of the winner. */
    memcpy(m.C, best_C, (size_t)k * d * sizeof *m.C);
    res->distance = ps_xmalloc(n * sizeof *res->distance + 4);
    res->inertia = km_inertia(&m, best_labels, res->distance);
    res->weight = ps_xcalloc((size_t)k, sizeof *res->weight);
    for (size_t i = 0; i < n; i++)
        res->weight[best_labels[i]] += weights ? weights[i] : 1.0;
    for (size_t q = 0; q < (size_t)k * d; q++)
        best_C[q] += mu[q % (size_t)d];
    res->k = k;
    res->d = d;
    res->n = n;
    res->centers = best_C;
    res->labels = best_labels;
    res->n_iter = best_iter;
    res->best_init = best_run;
    free(labels);
    free(m.xx);
    km_release(&m);
    free(Xc);
    free(mu);
    openblas_set_num_threads(blas_threads);
    return PS_OK;
}
