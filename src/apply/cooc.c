/*
 * cooc.c - builds the recommender's model: user baskets, item-to-item
 * cosine neighbours over weighted baskets, global and per-segment
 * popularity.
 *
 * sim(i, j) = sum_u w_ui w_uj / (||w_.i|| ||w_.j||): the cosine between
 * the item columns of the weighted user x item matrix.  Computed item by
 * item (row i of W^T W through the users of i and their baskets) with a
 * dense accumulator per worker, so the cost is sum over users of
 * |basket|^2 and memory is the neighbour lists plus one n_items array per
 * thread.  Items are split into fixed ranges, so the lists do not depend
 * on the thread count.
 */
#include "apply_internal.h"
#include "persona/core.h"
#include "persona/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct evpair {
    uint32_t item;
    uint8_t kind;
};

static int cmp_evpair(const void *a, const void *b)
{
    const struct evpair *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

struct nbr_job {
    struct ps_recommender *r;
    const size_t *istart;          /* CSC by item: users of item i */
    const uint32_t *iuser;
    const float *iw;
    const double *norm;
    struct ps__nbr *tmp;           /* [n_items x M] */
    int *tmp_n;                    /* [n_items] */
    double **acc;                  /* per worker [n_items] */
    uint32_t **touched;            /* per worker [n_items] */
    struct ps__nbr **cand;         /* per worker [neighbors]: the top-M heap */
    int n_tasks;
};

static int cmp_nbr(const void *a, const void *b)
{
    const struct ps__nbr *x = a, *y = b;
    if (x->sim != y->sim)
        return x->sim > y->sim ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static void nbr_task(void *ctx, int task, int worker)
{
    struct nbr_job *j = ctx;
    struct ps_recommender *r = j->r;
    const int M = r->p.neighbors;
    double *acc = j->acc[worker];
    uint32_t *touched = j->touched[worker];
    struct ps__nbr *cand = j->cand[worker];
    long b, e;
    ps_split_range((long)r->n_items, j->n_tasks, task, &b, &e);
    for (long i = b; i < e; i++) {
        size_t n_t = 0;
        for (size_t a = j->istart[i]; a < j->istart[i + 1]; a++) {
            uint32_t u = j->iuser[a];
            double wi = j->iw[a];
            for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++) {
                uint32_t it = r->basket[q].item;
                if (it == (uint32_t)i)
                    continue;
                if (acc[it] == 0)
                    touched[n_t++] = it;
                acc[it] += wi * r->basket[q].w;
            }
        }
        /* Keep the best M in a min-heap (root = worst kept, by cmp_nbr
         * order), then sort those M: O(touched log M). */
        int n_c = 0;
        for (size_t t = 0; t < n_t; t++) {
            uint32_t it = touched[t];
            struct ps__nbr nb = {it, (float)(acc[it] / (j->norm[i] * j->norm[it]))};
            acc[it] = 0;
            int k;
            if (n_c < M) {
                k = n_c++;
                while (k > 0 && cmp_nbr(&nb, &cand[(k - 1) / 2]) > 0) {
                    cand[k] = cand[(k - 1) / 2];
                    k = (k - 1) / 2;
                }
                cand[k] = nb;
                continue;
            }
            if (cmp_nbr(&nb, &cand[0]) >= 0)
                continue; /* not better than the worst kept */
            k = 0;
            for (;;) {
                int l = 2 * k + 1, m = l;
                if (l >= n_c)
                    break;
                if (l + 1 < n_c && cmp_nbr(&cand[l + 1], &cand[l]) > 0)
                    m = l + 1;
                if (cmp_nbr(&nb, &cand[m]) >= 0)
                    break;
                cand[k] = cand[m];
                k = m;
            }
            cand[k] = nb;
        }
        qsort(cand, (size_t)n_c, sizeof *cand, cmp_nbr);
        memcpy(j->tmp + (size_t)i * M, cand, (size_t)n_c * sizeof *cand);
        j->tmp_n[i] = n_c;
    }
}

static int cmp_pop(const void *a, const void *b, void *ctx)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const struct ps_recommender *r = ctx;
    if (r->buyers[x] != r->buyers[y])
        return r->buyers[x] > r->buyers[y] ? -1 : 1;
    if (r->item_users[x] != r->item_users[y])
        return r->item_users[x] > r->item_users[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static int cmp_segpop(const void *a, const void *b, void *ctx)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const float *segpop_ctx = ctx;
    if (segpop_ctx[x] != segpop_ctx[y])
        return segpop_ctx[x] > segpop_ctx[y] ? -1 : 1;
    return (x > y) - (x < y);
}

int ps__rec_build_model(struct ps_recommender *r, struct ps_pool *pool, struct ps_err *err)
{
    const struct ps_interactions *x = r->x;
    const struct ps_rec_params *p = &r->p;
    size_t nu = r->n_users, ni = r->n_items;
    (void)err;

    /* 1. Baskets: train events grouped by user, then deduplicated by item. */
    size_t *cnt = ps_xcalloc(nu + 1, sizeof *cnt);
    for (size_t e = 0; e < x->n; e++)
        if (x->ts[e] < p->before_ts && p->w_event[x->kind[e]] > 0)
            cnt[x->user[e] + 1]++;
    for (size_t u = 0; u < nu; u++)
        cnt[u + 1] += cnt[u];
    size_t n_ev = cnt[nu];
    r->n_train_events = n_ev;
    struct evpair *ev = ps_xmalloc((n_ev ? n_ev : 1) * sizeof *ev);
    size_t *fill = ps_xmalloc((nu + 1) * sizeof *fill);
    memcpy(fill, cnt, (nu + 1) * sizeof *fill);
    for (size_t e = 0; e < x->n; e++)
        if (x->ts[e] < p->before_ts && p->w_event[x->kind[e]] > 0) {
            struct evpair *q = &ev[fill[x->user[e]]++];
            q->item = x->item[e];
            q->kind = x->kind[e];
        }
    r->bstart = ps_xmalloc((nu + 1) * sizeof *r->bstart);
    r->basket = ps_xmalloc((n_ev ? n_ev : 1) * sizeof *r->basket);
    size_t nb = 0;
    for (size_t u = 0; u < nu; u++) {
        r->bstart[u] = nb;
        size_t b = cnt[u], e = cnt[u + 1];
        qsort(ev + b, e - b, sizeof *ev, cmp_evpair);
        for (size_t k = b; k < e; k++) {
            double w = p->w_event[ev[k].kind];
            if (k == b || ev[k].item != ev[k - 1].item) {
                struct ps__bentry *be = &r->basket[nb++];
                be->item = ev[k].item;
                be->w = (float)w;
                be->kind = ev[k].kind;
                be->bought = ev[k].kind == PS_EV_PURCHASE;
            } else {
                struct ps__bentry *be = &r->basket[nb - 1];
                if (w > be->w) {
                    be->w = (float)w;
                    be->kind = ev[k].kind;
                }
                if (ev[k].kind == PS_EV_PURCHASE)
                    be->bought = 1;
            }
        }
        if (nb > r->bstart[u])
            r->n_train_users++;
    }
    r->bstart[nu] = nb;
    free(ev);
    free(fill);
    free(cnt);

    /* 2. Item columns (CSC) and norms; popularity. */
    size_t *istart = ps_xcalloc(ni + 1, sizeof *istart);
    r->buyers = ps_xcalloc(ni ? ni : 1, sizeof *r->buyers);
    r->item_users = ps_xcalloc(ni ? ni : 1, sizeof *r->item_users);
    r->seen = ps_xcalloc(ni ? ni : 1, 1);
    for (size_t q = 0; q < nb; q++) {
        istart[r->basket[q].item + 1]++;
        r->item_users[r->basket[q].item]++;
        r->buyers[r->basket[q].item] += r->basket[q].bought;
        r->seen[r->basket[q].item] = 1;
    }
    for (size_t i = 0; i < ni; i++)
        istart[i + 1] += istart[i];
    uint32_t *iuser = ps_xmalloc((nb ? nb : 1) * sizeof *iuser);
    float *iw = ps_xmalloc((nb ? nb : 1) * sizeof *iw);
    double *norm = ps_xcalloc(ni ? ni : 1, sizeof *norm);
    size_t *ifill = ps_xmalloc((ni + 1) * sizeof *ifill);
    memcpy(ifill, istart, (ni + 1) * sizeof *ifill);
    for (size_t u = 0; u < nu; u++)
        for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++) {
            uint32_t it = r->basket[q].item;
            iuser[ifill[it]] = (uint32_t)u;
            iw[ifill[it]++] = r->basket[q].w;
            norm[it] += (double)r->basket[q].w * r->basket[q].w;
        }
    for (size_t i = 0; i < ni; i++)
        norm[i] = sqrt(norm[i]);
    free(ifill);

    /* 3. Neighbours. */
    int M = p->neighbors;
    int n_threads = pool ? ps_pool_n_threads(pool) : 1;
    struct nbr_job job = {r, istart, iuser, iw, norm, NULL, NULL, NULL, NULL, NULL, 0};
    job.tmp = ps_xmalloc((ni ? ni : 1) * (size_t)M * sizeof *job.tmp);
    job.tmp_n = ps_xcalloc(ni ? ni : 1, sizeof *job.tmp_n);
    job.acc = ps_xmalloc((size_t)n_threads * sizeof *job.acc);
    job.touched = ps_xmalloc((size_t)n_threads * sizeof *job.touched);
    job.cand = ps_xmalloc((size_t)n_threads * sizeof *job.cand);
    for (int t = 0; t < n_threads; t++) {
        job.acc[t] = ps_xcalloc(ni ? ni : 1, sizeof(double));
        job.touched[t] = ps_xmalloc((ni ? ni : 1) * sizeof(uint32_t));
        job.cand[t] = ps_xmalloc((size_t)M * sizeof(struct ps__nbr));
    }
    job.n_tasks = ni < 64 ? 1 : 64;
    ps_pool_run(pool, job.n_tasks, nbr_task, &job);
    r->nstart = ps_xmalloc((ni + 1) * sizeof *r->nstart);
    size_t nn = 0;
    for (size_t i = 0; i < ni; i++)
        nn += (size_t)job.tmp_n[i];
    r->nbr = ps_xmalloc((nn ? nn : 1) * sizeof *r->nbr);
    nn = 0;
    for (size_t i = 0; i < ni; i++) {
        r->nstart[i] = nn;
        memcpy(r->nbr + nn, job.tmp + i * (size_t)M, (size_t)job.tmp_n[i] * sizeof *r->nbr);
        nn += (size_t)job.tmp_n[i];
    }
    r->nstart[ni] = nn;
    for (int t = 0; t < n_threads; t++) {
        free(job.acc[t]);
        free(job.touched[t]);
        free(job.cand[t]);
    }
    free(job.acc);
    free(job.touched);
    free(job.cand);
    free(job.tmp);
    free(job.tmp_n);
    free(istart);
    free(iuser);
    free(iw);
    free(norm);

    /* 4. Global popularity ranking (items seen in training). */
    r->pop_rank = ps_xmalloc((ni ? ni : 1) * sizeof *r->pop_rank);
    r->n_pop_rank = 0;
    for (size_t i = 0; i < ni; i++)
        if (r->seen[i])
            r->pop_rank[r->n_pop_rank++] = (uint32_t)i;
    qsort_r(r->pop_rank, r->n_pop_rank, sizeof *r->pop_rank, cmp_pop, r);
    r->pop_max = r->n_pop_rank ? r->buyers[r->pop_rank[0]] : 0;

    /* 5. Segment popularity: weighted interactions of the segment's users. */
    r->n_seg = x->user_seg ? x->n_segments : 0;
    if (r->n_seg > 0) {
        int P = p->pool_size;
        r->segpop = ps_xcalloc((size_t)r->n_seg * (ni ? ni : 1), sizeof *r->segpop);
        r->seg_rank = ps_xmalloc((size_t)r->n_seg * (size_t)P * sizeof *r->seg_rank);
        r->n_seg_rank = ps_xcalloc((size_t)r->n_seg, sizeof *r->n_seg_rank);
        r->segpop_max = ps_xcalloc((size_t)r->n_seg, sizeof *r->segpop_max);
        for (size_t u = 0; u < nu && u < x->user_seg_cap; u++) {
            int s = x->user_seg[u];
            if (s < 0)
                continue;
            for (size_t q = r->bstart[u]; q < r->bstart[u + 1]; q++)
                r->segpop[(size_t)s * ni + r->basket[q].item] += r->basket[q].w;
        }
        uint32_t *tmp = ps_xmalloc((ni ? ni : 1) * sizeof *tmp);
        for (int s = 0; s < r->n_seg; s++) {
            const float *sp = r->segpop + (size_t)s * ni;
            size_t m = 0;
            for (size_t i = 0; i < ni; i++)
                if (sp[i] > 0)
                    tmp[m++] = (uint32_t)i;
            qsort_r(tmp, m, sizeof *tmp, cmp_segpop, (void *)sp);
            int k = m < (size_t)P ? (int)m : P;
            memcpy(r->seg_rank + (size_t)s * P, tmp, (size_t)k * sizeof *tmp);
            r->n_seg_rank[s] = k;
            r->segpop_max[s] = m ? sp[tmp[0]] : 0;
        }
        free(tmp);
    }
    return PS_OK;
}
