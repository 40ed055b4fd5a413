/*
 * evaluate.c - time-based holdout evaluation of the recommender against
 * the popularity and random baselines (`persona evaluate recommend`).
 *
 * Train: every event with ts < split_at.  Test: the distinct items each
 * user purchased at ts >= split_at; users without such a purchase are not
 * evaluated.  All methods see the same training data and the same filters
 * (rec params), and are measured by the same accumulators (metrics.h) at
 * every k; the catalogue for coverage is every known item, the popularity
 * for novelty is the items' share of training users.
 */
#include "apply_internal.h"
#include "persona/core.h"
#include "persona/pool.h"

#include <stdlib.h>
#include <string.h>

const char *ps_eval_method_name(int method)
{
    static const char *const names[PS_EVAL_N_METHODS] = {"hybrid", "popular", "random", "als"};
    return method >= 0 && method < PS_EVAL_N_METHODS ? names[method] : "?";
}

struct upair {
    uint32_t user, item;
};

static int cmp_upair(const void *a, const void *b)
{
    const struct upair *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

int ps_evaluate_recommend(const struct ps_interactions *x, const struct ps_eval_params *p,
                          struct ps_pool *pool, struct ps_eval_result *res, struct ps_err *err)
{
    memset(res, 0, sizeof *res);
    if (p->n_ks < 1 || p->n_ks > PS_EVAL_MAX_K)
        return ps_err_set(err, PS_ERR_USAGE, "give 1..%d cutoffs k", PS_EVAL_MAX_K);
    int kmax = 0;
    for (int i = 0; i < p->n_ks; i++) {
        if (p->ks[i] < 1 || p->ks[i] > 1000)
            return ps_err_set(err, PS_ERR_USAGE, "cutoff k must be in 1..1000, got %d", p->ks[i]);
        if (p->ks[i] > kmax)
            kmax = p->ks[i];
    }
    /* Test set: (user, item) purchases at or after the split, deduplicated. */
    size_t n_test = 0, cap = 0;
    struct upair *tp = NULL;
    for (size_t e = 0; e < x->n; e++)
        if (x->ts[e] >= p->split_at && x->kind[e] == PS_EV_PURCHASE) {
            tp = ps_xgrow(tp, &cap, n_test + 1, sizeof *tp);
            tp[n_test].user = x->user[e];
            tp[n_test++].item = x->item[e];
        }
    for (size_t e = 0; e < x->n; e++)
        if (x->ts[e] < p->split_at)
            res->n_train_events++;
    if (x->n == 0) {
        free(tp);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "the log has no events with an item to "
                          "evaluate on");
    }
    if (res->n_train_events == 0 || n_test == 0) {
        free(tp);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "split at %lld leaves %zu training events and "
                          "%zu test purchases; pick a time between %lld and %lld",
                          (long long)p->split_at, res->n_train_events, n_test,
                          (long long)x->ts_min, (long long)x->ts_max);
    }
    qsort(tp, n_test, sizeof *tp, cmp_upair);
    size_t m = 0;
    for (size_t i = 0; i < n_test; i++)
        if (i == 0 || tp[i].user != tp[m - 1].user || tp[i].item != tp[m - 1].item)
            tp[m++] = tp[i];
    n_test = m;
    res->n_test_purchases = n_test;
    uint32_t *users = ps_xmalloc(n_test * sizeof *users);
    size_t *ustart = ps_xmalloc((n_test + 1) * sizeof *ustart);
    size_t nu = 0;
    for (size_t i = 0; i < n_test; i++)
        if (i == 0 || tp[i].user != tp[i - 1].user) {
            users[nu] = tp[i].user;
            ustart[nu++] = i;
        }
    ustart[nu] = n_test;
    uint32_t *rel = ps_xmalloc(n_test * sizeof *rel);
    for (size_t i = 0; i < n_test; i++)
        rel[i] = tp[i].item;
    free(tp);
    res->n_test_users = nu;

    struct ps_rec_params rp = p->rec;
    rp.n = kmax;
    rp.before_ts = p->split_at;
    struct ps_recommender *r = NULL;
    double t0 = ps_now();
    int rc = ps_recommender_build(x, &rp, pool, &r, err);
    if (rc != PS_OK) {
        free(users);
        free(ustart);
        free(rel);
        return rc;
    }
    res->seconds_build = ps_now() - t0;
    res->n_train_users = r->n_train_users;
    res->n_catalogue = r->n_items;
    res->n_methods = p->als ? PS_EVAL_N_METHODS : PS_EVAL_ALS;
    struct ps_als_model als;
    memset(&als, 0, sizeof als);
    if (p->als) {
        t0 = ps_now();
        rc = ps_als_fit(r, &p->als_params, NULL, pool, &als, NULL, err);
        if (rc != PS_OK) {
            ps_recommender_free(r);
            free(users);
            free(ustart);
            free(rel);
            return rc;
        }
        res->seconds_als = ps_now() - t0;
    }

    t0 = ps_now();
    struct ps_rec_item *lists = ps_xmalloc(nu * (size_t)kmax * sizeof *lists);
    int *counts = ps_xmalloc(nu * sizeof *counts);
    struct ps_rec_item *one = ps_xmalloc((size_t)kmax * sizeof *one);
    uint32_t *ids = ps_xmalloc((size_t)kmax * sizeof *ids);
    struct ps_rec_scratch *s = ps_rec_scratch_new(r);
    struct ps_metrics_acc acc[PS_EVAL_MAX_K];
    for (int method = 0; method < res->n_methods; method++) {
        if (method == PS_EVAL_HYBRID)
            ps_recommend_batch(r, users, nu, pool, lists, counts);
        for (int ki = 0; ki < p->n_ks; ki++)
            ps_metrics_acc_init(&acc[ki], p->ks[ki], r->n_items, r->item_users,
                                r->n_train_users ? r->n_train_users : 1);
        for (size_t i = 0; i < nu; i++) {
            const struct ps_rec_item *list;
            int n;
            if (method == PS_EVAL_HYBRID) {
                list = lists + i * (size_t)kmax;
                n = counts[i];
            } else if (method == PS_EVAL_POPULAR) {
                n = ps_recommend_popular(r, users[i], one);
                list = one;
            } else if (method == PS_EVAL_RANDOM) {
                n = ps_recommend_random(r, users[i], p->seed, s, one);
                list = one;
            } else {
                n = ps_als_recommend(r, &als, users[i], s, one);
                list = one;
            }
            for (int k = 0; k < n; k++)
                ids[k] = list[k].item;
            for (int ki = 0; ki < p->n_ks; ki++)
                ps_metrics_add(&acc[ki], ids, (size_t)n, rel + ustart[i],
                               ustart[i + 1] - ustart[i], NULL);
        }
        for (int ki = 0; ki < p->n_ks; ki++) {
            ps_metrics_acc_result(&acc[ki], &res->m[method][ki]);
            ps_metrics_acc_release(&acc[ki]);
        }
    }
    res->seconds_recommend = ps_now() - t0;
    ps_als_release(&als);
    ps_rec_scratch_free(s);
    free(lists);
    free(counts);
    free(one);
    free(ids);
    free(users);
    free(ustart);
    free(rel);
    ps_recommender_free(r);
    return PS_OK;
}
