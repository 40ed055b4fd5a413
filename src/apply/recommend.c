/*
 * recommend.c - hybrid scoring, filters, MMR re-rank and reasons
 * (formulas in recommend.h), the popularity and random baselines, and
 * batch recommendation over the thread pool.
 *
 * Per user the work is sparse: the user's basket times its items'
 * neighbour lists, plus a fixed pool of segment and global candidates.
 * The scratch holds dense per-item arrays that are reset through the
 * candidate list, so a user costs O(|basket| * neighbours + pool), never
 * O(n_items).  The top n are kept in a min-heap.
 */
#include "apply_internal.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/pool.h"
#include "persona/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ps_rec_params ps_rec_default_params(void)
{
    struct ps_rec_params p;
    memset(&p, 0, sizeof p);
    p.n = 10;
    p.category = -1;
    p.w_event[PS_EV_VIEW] = 1;
    p.w_event[PS_EV_CLICK] = 1;
    p.w_event[PS_EV_FAV] = 2;
    p.w_event[PS_EV_CART] = 3;
    p.w_event[PS_EV_PURCHASE] = 4;
    p.w_event[PS_EV_REVIEW] = 5;
    p.w_cf = 1.0;
    p.w_self = 0.1;
    p.w_segment = 0.6;
    p.w_popular = 0.5;
    p.w_content = 0.5;
    p.neighbors = 50;
    p.cold_items = 2;
    p.pool_size = 200;
    p.before_ts = INT64_MAX;
    return p;
}

int ps_recommender_build(const struct ps_interactions *x, const struct ps_rec_params *p,
                         struct ps_pool *pool, struct ps_recommender **out,
                         struct ps_err *err)
{
    *out = NULL;
    if (p->n < 1 || p->n > 100000)
        return ps_err_set(err, PS_ERR_USAGE, "recommendations per user must be in 1..100000, "
                          "got %d", p->n);
    if (p->neighbors < 1 || p->pool_size < 1)
        return ps_err_set(err, PS_ERR_USAGE, "neighbours and candidate pool must be positive");
    if (p->mmr_lambda < 0 || p->mmr_lambda > 1)
        return ps_err_set(err, PS_ERR_USAGE, "MMR lambda must be in [0, 1], got %g", p->mmr_lambda);
    struct ps_recommender *r = ps_xcalloc(1, sizeof *r);
    r->x = x;
    r->p = *p;
    r->n_users = ps_interactions_n_users(x);
    r->n_items = ps_interactions_n_items(x);
    int rc = ps__rec_build_model(r, pool, err);
    if (rc != PS_OK) {
        ps_recommender_free(r);
        return rc;
    }
    *out = r;
    return PS_OK;
}

void ps_recommender_free(struct ps_recommender *r)
{
    if (!r)
        return;
    free(r->bstart);
    free(r->basket);
    free(r->nstart);
    free(r->nbr);
    free(r->buyers);
    free(r->item_users);
    free(r->seen);
    free(r->pop_rank);
    free(r->segpop);
    free(r->seg_rank);
    free(r->n_seg_rank);
    free(r->segpop_max);
    free(r);
}

size_t ps_recommender_n_train_users(const struct ps_recommender *r) { return r->n_train_users; }
const uint32_t *ps_recommender_item_users(const struct ps_recommender *r) { return r->item_users; }
const uint8_t *ps_recommender_item_seen(const struct ps_recommender *r) { return r->seen; }

double ps_recommender_sim(const struct ps_recommender *r, uint32_t i, uint32_t j)
{
    if (i == j)
        return 1.0;
    for (size_t q = r->nstart[i]; q < r->nstart[i + 1]; q++)
        if (r->nbr[q].item == j)
            return r->nbr[q].sim;
    return 0.0;
}


static int heap_k(const struct ps_recommender *r)
{
    return r->p.mmr_lambda > 0 ? 5 * r->p.n : r->p.n;
}

struct ps_rec_scratch *ps_rec_scratch_new(const struct ps_recommender *r)
{
    size_t ni = r->n_items ? r->n_items : 1;
    struct ps_rec_scratch *s = ps_xcalloc(1, sizeof *s);
    s->cf = ps_xcalloc(ni, sizeof *s->cf);
    s->best = ps_xcalloc(ni, sizeof *s->best);
    s->from = ps_xcalloc(ni, sizeof *s->from);
    s->mark = ps_xcalloc(ni, 1);
    s->bought = ps_xcalloc(ni, 1);
    s->cand = ps_xmalloc(ni * sizeof *s->cand);
    s->heap = ps_xmalloc((size_t)heap_k(r) * sizeof *s->heap);
    s->top = ps_xmalloc((size_t)heap_k(r) * sizeof *s->top);
    s->uv = ps_xcalloc(r->x->dim > 0 ? (size_t)r->x->dim : 1, sizeof *s->uv);
    return s;
}

void ps_rec_scratch_free(struct ps_rec_scratch *s)
{
    if (!s)
        return;
    free(s->cf);
    free(s->best);
    free(s->from);
    free(s->mark);
    free(s->bought);
    free(s->cand);
    free(s->heap);
    free(s->top);
    free(s->uv);
    free(s);
}

/* a ranks above b: higher score, then lower item index. */
static int better(const struct ps_rec_item *a, const struct ps_rec_item *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->item < b->item;
}

/* Min-heap on "better": the root is the worst kept item. */
void ps__heap_push(struct ps_rec_item *h, int *n, int cap, const struct ps_rec_item *it)
{
    int i;
    if (*n < cap) {
        i = (*n)++;
        while (i > 0 && better(&h[(i - 1) / 2], it)) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = *it;
        return;
    }
    if (!better(it, &h[0]))
        return;
    i = 0;
    for (;;) {
        int l = 2 * i + 1, m = l;
        if (l >= *n)
            break;
        if (l + 1 < *n && better(&h[l], &h[l + 1]))
            m = l + 1;
        if (!better(it, &h[m]))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = *it;
}

static int cmp_item_desc(const void *a, const void *b)
{
    const struct ps_rec_item *x = a, *y = b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

void ps__heap_sort(struct ps_rec_item *h, int n)
{
    qsort(h, (size_t)n, sizeof *h, cmp_item_desc);
}

static int passes(const struct ps_recommender *r, const struct ps_rec_scratch *s, uint32_t it)
{
    if (r->p.category >= 0 && r->x->item_cat[it] != r->p.category)
        return 0;
    if (r->p.exclude_purchased && s && s->bought[it])
        return 0;
    return 1;
}

static double pair_sim(const struct ps_recommender *r, uint32_t a, uint32_t b)
{
    if (r->x->item_vec && a < r->x->n_vec_items && b < r->x->n_vec_items) {
        const float *va = r->x->item_vec + (size_t)a * r->x->dim;
        const float *vb = r->x->item_vec + (size_t)b * r->x->dim;
        double d = 0;
        for (int c = 0; c < r->x->dim; c++)
            d += (double)va[c] * vb[c];
        return d;
    }
    double s1 = ps_recommender_sim(r, a, b), s2 = ps_recommender_sim(r, b, a);
    return s1 > s2 ? s1 : s2;
}

static void add_cand(struct ps_rec_scratch *s, size_t *n_cand, uint32_t it)
{
    if (!(s->mark[it] & 1)) {
        s->mark[it] |= 1;
        s->cand[(*n_cand)++] = it;
    }
}

int ps_recommend_user(const struct ps_recommender *r, uint32_t u, struct ps_rec_scratch *s,
                      struct ps_rec_item *out)
{
    const struct ps_rec_params *p = &r->p;
    const struct ps_interactions *x = r->x;
    size_t b0 = 0, b1 = 0, n_cand = 0;
    if (u < r->n_users) {
        b0 = r->bstart[u];
        b1 = r->bstart[u + 1];
    }
    int cold = b1 - b0 < (size_t)p->cold_items;
    for (size_t q = b0; q < b1; q++)
        if (r->basket[q].bought)
            s->bought[r->basket[q].item] = 1;

    /* Collaborative part: the basket itself (sim 1) and its neighbours. */
    double cf_max = 0;
    if (!cold) {
        for (size_t q = b0; q < b1; q++) {
            const struct ps__bentry *be = &r->basket[q];
            double w = be->w, ws = w * p->w_self;
            add_cand(s, &n_cand, be->item);
            s->cf[be->item] += ws;
            if (ws > s->best[be->item]) {
                s->best[be->item] = (float)ws;
                s->from[be->item] = (uint32_t)q;
            }
            for (size_t k = r->nstart[be->item]; k < r->nstart[be->item + 1]; k++) {
                uint32_t it = r->nbr[k].item;
                double c = w * r->nbr[k].sim;
                add_cand(s, &n_cand, it);
                s->cf[it] += c;
                if (c > s->best[it]) {
                    s->best[it] = (float)c;
                    s->from[it] = (uint32_t)q;
                }
            }
        }
        for (size_t c = 0; c < n_cand; c++)
            if (s->cf[s->cand[c]] > cf_max)
                cf_max = s->cf[s->cand[c]];
    }
    int seg = -1;
    if (x->user_seg && u < x->user_seg_cap && x->user_seg[u] >= 0 && x->user_seg[u] < r->n_seg)
        seg = x->user_seg[u];
    if (seg >= 0)
        for (int k = 0; k < r->n_seg_rank[seg]; k++)
            add_cand(s, &n_cand, r->seg_rank[(size_t)seg * p->pool_size + k]);
    for (size_t k = 0; k < r->n_pop_rank && k < (size_t)p->pool_size; k++)
        add_cand(s, &n_cand, r->pop_rank[k]);
    /* With a category filter the pools may hold none of its items: add
     * the category's items by popularity. */
    if (p->category >= 0)
        for (size_t k = 0, taken = 0; k < r->n_pop_rank && taken < (size_t)p->pool_size; k++)
            if (x->item_cat[r->pop_rank[k]] == p->category) {
                add_cand(s, &n_cand, r->pop_rank[k]);
                taken++;
            }

    /* Content: the basket's weighted mean item vector. */
    int use_content = x->item_vec && p->w_content > 0 && b1 > b0;
    if (use_content) {
        int D = x->dim;
        memset(s->uv, 0, (size_t)D * sizeof *s->uv);
        double nn = 0;
        for (size_t q = b0; q < b1; q++) {
            if (r->basket[q].item >= x->n_vec_items)
                continue;
            const float *v = x->item_vec + (size_t)r->basket[q].item * D;
            for (int c = 0; c < D; c++)
                s->uv[c] += r->basket[q].w * v[c];
        }
        for (int c = 0; c < D; c++)
            nn += (double)s->uv[c] * s->uv[c];
        nn = sqrt(nn);
        if (nn > 0)
            for (int c = 0; c < D; c++)
                s->uv[c] = (float)(s->uv[c] / nn);
        else
            use_content = 0;
    }
    /* Content makes every item with a vector a candidate. */
    if (use_content)
        for (size_t it = 0; it < x->n_vec_items && it < r->n_items; it++)
            add_cand(s, &n_cand, (uint32_t)it);

    int cap = heap_k(r), nh = 0;
    for (size_t c = 0; c < n_cand; c++) {
        uint32_t it = s->cand[c];
        if (!passes(r, s, it))
            continue;
        double t[4] = {0, 0, 0, 0};
        if (cf_max > 0)
            t[0] = p->w_cf * s->cf[it] / cf_max;
        if (seg >= 0 && r->segpop_max[seg] > 0)
            t[1] = p->w_segment * r->segpop[(size_t)seg * r->n_items + it] / r->segpop_max[seg];
        if (r->pop_max > 0)
            t[2] = p->w_popular * r->buyers[it] / r->pop_max;
        else if (r->n_pop_rank > 0 && r->item_users[r->pop_rank[0]] > 0)
            /* A log without purchases: popularity by users who touched it. */
            t[2] = p->w_popular * r->item_users[it] / r->item_users[r->pop_rank[0]];
        if (use_content && it < x->n_vec_items) {
            const float *v = x->item_vec + (size_t)it * x->dim;
            double d = 0;
            for (int k = 0; k < x->dim; k++)
                d += (double)s->uv[k] * v[k];
            t[3] = d > 0 ? p->w_content * d : 0;
        }
        int arg = 0;
        for (int k = 1; k < 4; k++)
            if (t[k] > t[arg])
                arg = k;
        double score = t[0] + t[1] + t[2] + t[3];
        if (!(score > 0))
            continue; /* no evidence at all: not a recommendation */
        struct ps_rec_item ri = {it, (float)score, 0, 0, 0, -1};
        if (arg == 0 && t[0] > 0) {
            const struct ps__bentry *be = &r->basket[s->from[it]];
            ri.reason = PS_REASON_BASKET;
            ri.reason_item = be->item;
            ri.reason_kind = be->kind;
        } else if (arg == 1) {
            ri.reason = PS_REASON_SEGMENT;
            ri.reason_segment = seg;
        } else if (arg == 3) {
            ri.reason = PS_REASON_CONTENT;
        } else {
            ri.reason = PS_REASON_POPULAR;
        }
        ps__heap_push(s->heap, &nh, cap, &ri);
    }
    /* Reset the scratch through the candidate list and the basket. */
    for (size_t c = 0; c < n_cand; c++) {
        uint32_t it = s->cand[c];
        s->cf[it] = 0;
        s->best[it] = 0;
        s->mark[it] = 0;
    }
    for (size_t q = b0; q < b1; q++)
        s->bought[r->basket[q].item] = 0;

    qsort(s->heap, (size_t)nh, sizeof *s->heap, cmp_item_desc);
    if (p->mmr_lambda <= 0 || nh <= 1) {
        int n = nh < p->n ? nh : p->n;
        memcpy(out, s->heap, (size_t)n * sizeof *out);
        return n;
    }
    /* MMR: greedily pick the candidate with the best trade-off between its
     * (top-normalised) score and its largest similarity to those chosen. */
    double top = s->heap[0].score > 0 ? s->heap[0].score : 1;
    int n_out = 0, n_left = nh;
    memcpy(s->top, s->heap, (size_t)nh * sizeof *s->top);
    while (n_out < p->n && n_left > 0) {
        int arg = 0;
        double best = -INFINITY;
        for (int c = 0; c < n_left; c++) {
            double red = 0;
            for (int k = 0; k < n_out; k++) {
                double sim = pair_sim(r, s->top[c].item, out[k].item);
                if (sim > red)
                    red = sim;
            }
            double v = p->mmr_lambda * s->top[c].score / top - (1 - p->mmr_lambda) * red;
            if (v > best) {
                best = v;
                arg = c;
            }
        }
        out[n_out++] = s->top[arg];
        memmove(s->top + arg, s->top + arg + 1, (size_t)(n_left - arg - 1) * sizeof *s->top);
        n_left--;
    }
    return n_out;
}

int ps_recommend_popular(const struct ps_recommender *r, uint32_t u, struct ps_rec_item *out)
{
    int n = 0;
    size_t b0 = u < r->n_users ? r->bstart[u] : 0, b1 = u < r->n_users ? r->bstart[u + 1] : 0;
    for (size_t k = 0; k < r->n_pop_rank && n < r->p.n; k++) {
        uint32_t it = r->pop_rank[k];
        if (r->p.category >= 0 && r->x->item_cat[it] != r->p.category)
            continue;
        if (r->p.exclude_purchased) {
            int bought = 0;
            for (size_t q = b0; q < b1 && !bought; q++)
                bought = r->basket[q].item == it && r->basket[q].bought;
            if (bought)
                continue;
        }
        struct ps_rec_item ri = {it, (float)r->buyers[it], PS_REASON_POPULAR, 0, 0, -1};
        out[n++] = ri;
    }
    return n;
}

int ps_recommend_random(const struct ps_recommender *r, uint32_t u, uint64_t seed,
                        struct ps_rec_scratch *s, struct ps_rec_item *out)
{
    struct ps_rng rng;
    ps_rng_seed(&rng, seed, u);
    size_t b0 = u < r->n_users ? r->bstart[u] : 0, b1 = u < r->n_users ? r->bstart[u + 1] : 0;
    for (size_t q = b0; q < b1; q++)
        if (r->basket[q].bought)
            s->bought[r->basket[q].item] = 1;
    int n = 0;
    size_t m = r->n_pop_rank;
    /* Rejection sampling without replacement; a bounded number of tries,
     * then a scan, so a tight filter still ends. */
    for (long tries = 0; n < r->p.n && m > 0 && tries < 50L * r->p.n; tries++) {
        uint32_t it = r->pop_rank[ps_rng_below(&rng, m)];
        if (s->mark[it] || !passes(r, s, it))
            continue;
        s->mark[it] = 1;
        struct ps_rec_item ri = {it, 0, PS_REASON_RANDOM, 0, 0, -1};
        out[n++] = ri;
    }
    for (size_t k = 0; k < m && n < r->p.n; k++) {
        uint32_t it = r->pop_rank[k];
        if (s->mark[it] || !passes(r, s, it))
            continue;
        s->mark[it] = 1;
        struct ps_rec_item ri = {it, 0, PS_REASON_RANDOM, 0, 0, -1};
        out[n++] = ri;
    }
    for (int k = 0; k < n; k++)
        s->mark[out[k].item] = 0;
    for (size_t q = b0; q < b1; q++)
        s->bought[r->basket[q].item] = 0;
    return n;
}

struct batch_job {
    const struct ps_recommender *r;
    const uint32_t *users;
    size_t n_users;
    struct ps_rec_item *out;
    int *counts;
    struct ps_rec_scratch **scratch;
    int n_tasks;
};

static void batch_task(void *ctx, int task, int worker)
{
    struct batch_job *j = ctx;
    long b, e;
    ps_split_range((long)j->n_users, j->n_tasks, task, &b, &e);
    for (long i = b; i < e; i++)
        j->counts[i] = ps_recommend_user(j->r, j->users[i], j->scratch[worker],
                                         j->out + (size_t)i * j->r->p.n);
}

void ps_recommend_batch(const struct ps_recommender *r, const uint32_t *users, size_t n_users,
                        struct ps_pool *pool, struct ps_rec_item *out, int *counts)
{
    int n_threads = pool ? ps_pool_n_threads(pool) : 1;
    struct batch_job j = {r, users, n_users, out, counts, NULL, 0};
    j.scratch = ps_xmalloc((size_t)n_threads * sizeof *j.scratch);
    for (int t = 0; t < n_threads; t++)
        j.scratch[t] = ps_rec_scratch_new(r);
    j.n_tasks = n_users < 1024 ? 1 : 8 * n_threads;
    ps_pool_run(pool, j.n_tasks, batch_task, &j);
    for (int t = 0; t < n_threads; t++)
        ps_rec_scratch_free(j.scratch[t]);
    free(j.scratch);
}

void ps_rec_reason_text(const struct ps_recommender *r, const struct ps_rec_item *it,
                        char *buf, size_t size)
{
    static const char *const verbs[PS_EV_N] = {
        "viewed", "searched", "clicked", "carted", "favourited", "bought", "returned", "reviewed"
    };
    switch (it->reason) {
    case PS_REASON_BASKET: {
        size_t len;
        const char *id = ps_strmap_key(r->x->items, it->reason_item, &len);
        snprintf(buf, size, "%s %.*s", verbs[it->reason_kind < PS_EV_N ? it->reason_kind : 0],
                 (int)len, id);
        break;
    }
    case PS_REASON_SEGMENT: {
        int s = it->reason_segment;
        if (s >= 0 && s < r->x->n_segments && r->x->seg_names && r->x->seg_names[s])
            snprintf(buf, size, "popular with %s", r->x->seg_names[s]);
        else
            snprintf(buf, size, "popular with segment %d", s);
        break;
    }
    case PS_REASON_CONTENT:
        snprintf(buf, size, "similar to your interests");
        break;
    case PS_REASON_RANDOM:
        snprintf(buf, size, "random pick");
        break;
    default:
        snprintf(buf, size, "popular overall");
        break;
    }
}
