/*
 * als.c - implicit-feedback ALS (recommend.h): alternating exact least
 * squares with confidence weights, and top-n scoring by factor dot
 * products.
 *
 * Half-step for the users (items are symmetric, with roles swapped):
 *   G = Y^T Y                                   (f x f, once per half-step)
 *   A_u = G + sum_{i in basket(u)} (c_ui - 1) y_i y_i^T + reg I
 *   b_u = sum_{i in basket(u)} c_ui y_i          (p_ui = 1 there, 0 elsewhere)
 *   x_u = A_u^{-1} b_u                           (Cholesky, double)
 * Objective, without touching the unobserved pairs:
 *   sum_all (x_u . y_i)^2 = trace((X^T X)(Y^T Y)), so
 *   L = sum_obs [c (1 - s)^2 - s^2] + trace(XtX YtY) + reg (|X|^2 + |Y|^2).
 */
#include "apply_internal.h"
#include "persona/core.h"
#include "persona/pool.h"
#include "persona/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ps_als_params ps_als_default_params(void)
{
    struct ps_als_params p = {16, 8, 0.1, 10.0, 42};
    return p;
}

void ps_als_release(struct ps_als_model *m)
{
    free(m->U);
    free(m->V);
    memset(m, 0, sizeof *m);
}

/* Gram matrix G = F^T F of F [n x f], accumulated in double. */
static void gram(const float *F, size_t n, int f, double *G)
{
    memset(G, 0, (size_t)f * f * sizeof *G);
    for (size_t r = 0; r < n; r++) {
        const float *x = F + r * f;
        for (int a = 0; a < f; a++)
            for (int b = a; b < f; b++)
                G[a * f + b] += (double)x[a] * x[b];
    }
    for (int a = 0; a < f; a++)
        for (int b = 0; b < a; b++)
            G[a * f + b] = G[b * f + a];
}

/* Solves A x = b for symmetric positive definite A (f x f), in place:
 * A is overwritten by its Cholesky factor.  Returns 0, -1 if not SPD. */
static int cholesky_solve(double *A, double *b, int f)
{
    for (int j = 0; j < f; j++) {
        double d = A[j * f + j];
        for (int k = 0; k < j; k++)
            d -= A[j * f + k] * A[j * f + k];
        if (!(d > 0))
            return -1;
        d = sqrt(d);
        A[j * f + j] = d;
        for (int i = j + 1; i < f; i++) {
            double v = A[i * f + j];
            for (int k = 0; k < j; k++)
                v -= A[i * f + k] * A[j * f + k];
            A[i * f + j] = v / d;
        }
    }
    for (int i = 0; i < f; i++) { /* L z = b */
        double v = b[i];
        for (int k = 0; k < i; k++)
            v -= A[i * f + k] * b[k];
        b[i] = v / A[i * f + i];
    }
    for (int i = f - 1; i >= 0; i--) { /* L^T x = z */
        double v = b[i];
        for (int k = i + 1; k < f; k++)
            v -= A[k * f + i] * b[k];
        b[i] = v / A[i * f + i];
    }
    return 0;
}

/* One half-step: rows of X from the fixed factors Y and the CSR
 * (start, idx, w) of each row's observed columns. */
struct half {
    const size_t *start;
    const uint32_t *idx;
    const float *w;
    size_t n_rows;
    const float *Y;
    float *X;
    const double *G;
    int f;
    double reg, alpha;
    double **scratch;          /* per worker: A (f*f) then b (f) */
    int n_tasks;
    int failed;
};

static void half_task(void *ctx, int task, int worker)
{
    struct half *h = ctx;
    int f = h->f;
    double *A = h->scratch[worker], *b = A + (size_t)f * f;
    long lo, hi;
    ps_split_range((long)h->n_rows, h->n_tasks, task, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        memcpy(A, h->G, (size_t)f * f * sizeof *A);
        memset(b, 0, (size_t)f * sizeof *b);
        for (int a = 0; a < f; a++)
            A[a * f + a] += h->reg;
        for (size_t q = h->start[r]; q < h->start[r + 1]; q++) {
            const float *y = h->Y + (size_t)h->idx[q] * f;
            double c = 1 + h->alpha * h->w[q];
            for (int a = 0; a < f; a++) {
                b[a] += c * y[a];
                for (int bb = 0; bb < f; bb++)
                    A[a * f + bb] += (c - 1) * y[a] * y[bb];
            }
        }
        if (cholesky_solve(A, b, f) != 0) {
            h->failed = 1;
            continue;
        }
        for (int a = 0; a < f; a++)
            h->X[(size_t)r * f + a] = (float)b[a];
    }
}

static double objective(const struct ps_recommender *r, const struct ps_als_model *m,
                        const float *bw, double reg, double alpha)
{
    int f = m->f;
    double *GX = ps_xmalloc((size_t)f * f * sizeof *GX), *GY = ps_xmalloc((size_t)f * f * sizeof *GY);
    gram(m->U, m->n_users, f, GX);
    gram(m->V, m->n_items, f, GY);
    double L = 0;
    for (int a = 0; a < f * f; a++)
        L += GX[a] * GY[a]; /* trace(GX GY) for symmetric matrices */
    for (size_t u = 0; u < m->n_users; u++)
        for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++) {
            const float *x = m->U + u * f, *y = m->V + (size_t)r->basket[q].item * f;
            double s = 0;
            for (int a = 0; a < f; a++)
                s += (double)x[a] * y[a];
            double c = 1 + alpha * bw[q];
            L += c * (1 - s) * (1 - s) - s * s;
        }
    double nx = 0, ny = 0;
    for (int a = 0; a < f; a++) {
        nx += GX[a * f + a];
        ny += GY[a * f + a];
    }
    free(GX);
    free(GY);
    return L + reg * (nx + ny);
}

int ps_als_fit(const struct ps_recommender *r, const struct ps_als_params *p,
               const float *init_V, struct ps_pool *pool, struct ps_als_model *m, double *loss,
               struct ps_err *err)
{
    memset(m, 0, sizeof *m);
    if (p->factors < 1 || p->factors > 512 || p->iters < 1 || !(p->reg > 0) || !(p->alpha >= 0))
        return ps_err_set(err, PS_ERR_USAGE, "ALS needs factors in 1..512, iters >= 1, reg > 0 "
                          "and alpha >= 0");
    int f = p->factors;
    size_t nu = r->n_users, ni = r->n_items, nb = r->bstart[nu];
    m->f = f;
    m->n_users = nu;
    m->n_items = ni;
    m->U = ps_xcalloc(nu ? nu * f : 1, sizeof *m->U);
    m->V = ps_xmalloc((ni ? ni * f : 1) * sizeof *m->V);
    if (init_V) {
        memcpy(m->V, init_V, ni * f * sizeof *m->V);
    } else {
        struct ps_rng rng;
        ps_rng_seed(&rng, p->seed, 0xA15);
        for (size_t k = 0; k < ni * (size_t)f; k++)
            m->V[k] = (float)(0.1 * ps_rng_normal(&rng));
    }
    /* Row-wise (users) and column-wise (items) views of the baskets. */
    uint32_t *uidx = ps_xmalloc((nb ? nb : 1) * sizeof *uidx);
    float *uw = ps_xmalloc((nb ? nb : 1) * sizeof *uw);
    for (size_t q = 0; q < nb; q++) {
        uidx[q] = r->basket[q].item;
        uw[q] = r->basket[q].w;
    }
    size_t *istart = ps_xcalloc(ni + 1, sizeof *istart);
    for (size_t q = 0; q < nb; q++)
        istart[r->basket[q].item + 1]++;
    for (size_t i = 0; i < ni; i++)
        istart[i + 1] += istart[i];
    size_t *fill = ps_xmalloc((ni + 1) * sizeof *fill);
    memcpy(fill, istart, (ni + 1) * sizeof *fill);
    uint32_t *iidx = ps_xmalloc((nb ? nb : 1) * sizeof *iidx);
    float *iw = ps_xmalloc((nb ? nb : 1) * sizeof *iw);
    for (size_t u = 0; u < nu; u++)
        for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++) {
            size_t at = fill[r->basket[q].item]++;
            iidx[at] = (uint32_t)u;
            iw[at] = r->basket[q].w;
        }
    free(fill);

    int n_threads = pool ? ps_pool_n_threads(pool) : 1;
    double *G = ps_xmalloc((size_t)f * f * sizeof *G);
    double **scratch = ps_xmalloc((size_t)n_threads * sizeof *scratch);
    for (int t = 0; t < n_threads; t++)
        scratch[t] = ps_xmalloc(((size_t)f * f + f) * sizeof(double));
    int rc = PS_OK;
    for (int it = 0; it < p->iters && rc == PS_OK; it++) {
        struct half hu = {r->bstart, uidx, uw, nu, m->V, m->U, G, f, p->reg, p->alpha, scratch,
                          nu < 256 ? 1 : 8 * n_threads, 0};
        gram(m->V, ni, f, G);
        ps_pool_run(pool, hu.n_tasks, half_task, &hu);
        struct half hi = {istart, iidx, iw, ni, m->U, m->V, G, f, p->reg, p->alpha, scratch,
                          ni < 256 ? 1 : 8 * n_threads, 0};
        gram(m->U, nu, f, G);
        ps_pool_run(pool, hi.n_tasks, half_task, &hi);
        if (hu.failed || hi.failed)
            rc = ps_err_set(err, PS_ERR_INTERNAL, "ALS: a normal-equation matrix is not "
                            "positive definite");
        if (loss)
            loss[it] = objective(r, m, uw, p->reg, p->alpha);
    }
    for (int t = 0; t < n_threads; t++)
        free(scratch[t]);
    free(scratch);
    free(G);
    free(uidx);
    free(uw);
    free(istart);
    free(iidx);
    free(iw);
    if (rc != PS_OK)
        ps_als_release(m);
    return rc;
}

int ps_als_recommend(const struct ps_recommender *r, const struct ps_als_model *m, uint32_t u,
                     struct ps_rec_scratch *s, struct ps_rec_item *out)
{
    /* A cold or unknown user has a zero vector: fall back to popularity. */
    if (u >= m->n_users || r->bstart[u] == r->bstart[u + 1])
        return ps_recommend_popular(r, u, out);
    int f = m->f, n = r->p.n;
    const float *x = m->U + (size_t)u * f;
    struct ps_rec_item *heap = ps_xmalloc((size_t)n * sizeof *heap);
    int nh = 0;
    for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++)
        if (r->basket[q].bought)
            s->bought[r->basket[q].item] = 1;
    for (size_t i = 0; i < m->n_items; i++) {
        if (!r->seen[i])
            continue;
        if (r->p.category >= 0 && r->x->item_cat[i] != r->p.category)
            continue;
        if (r->p.exclude_purchased && s->bought[i])
            continue;
        const float *y = m->V + i * f;
        double d = 0;
        for (int a = 0; a < f; a++)
            d += (double)x[a] * y[a];
        struct ps_rec_item it = {(uint32_t)i, (float)d, PS_REASON_POPULAR, 0, 0, -1};
        ps__heap_push(heap, &nh, n, &it);
    }
    for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++)
        s->bought[r->basket[q].item] = 0;
    ps__heap_sort(heap, nh);
    memcpy(out, heap, (size_t)nh * sizeof *out);
    free(heap);
    return nh;
}
