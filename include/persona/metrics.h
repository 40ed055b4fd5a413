/*
 * metrics.h - offline evaluation metrics for ranked recommendations.
 *
 * Top-k ranking metrics with binary relevance, as in the recommender
 * literature (and `persona evaluate recommend`).  For one user with a
 * ranked list rec[0..n_rec) and a set of relevant items rel[0..n_rel)
 * (the items the user bought in the test period), with hits counted in
 * the first min(k, n_rec) positions:
 *
 *   precision@k = hits / k                      (k, not n_rec: a short list
 *                                                is not rewarded)
 *   recall@k    = hits / n_rel
 *   hit@k       = 1 if hits > 0 else 0
 *   NDCG@k      = DCG / IDCG, DCG = sum over hit positions i (0-based) of
 *                 1 / log2(i + 2), IDCG = sum_{i < min(n_rel, k)} 1 / log2(i + 2)
 *   AP@k        = (sum over hit positions i of precision@(i+1)) / min(n_rel, k)
 *
 * A user with n_rel = 0 has no defined recall/NDCG/AP: such users must not
 * be added (ps_metrics_add refuses them).  Duplicates in rec count once (at
 * their first position); duplicates in rel count once.
 *
 * Over all users, the accumulator averages the per-user values (macro
 * average, MAP@k = mean AP@k) and measures
 *
 *   coverage@k  = distinct items in any top-k list / n_catalogue
 *   novelty@k   = mean over every recommended (user, item) pair in the top-k
 *                 of -log2 p(item), p(item) = max(n_users_with(item), 1) / n_pop_users
 *                 (the item's popularity among training users; the max()
 *                 keeps an unseen item finite: it counts as seen once)
 *
 * Item ids are dense uint32 indices below n_catalogue.  Thread safety: an
 * accumulator belongs to one thread; the per-user function is pure.
 */
#ifndef PERSONA_METRICS_H
#define PERSONA_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_rank_metrics {
    double precision;   /* precision@k */
    double recall;      /* recall@k */
    double ndcg;        /* NDCG@k */
    double ap;          /* AP@k (MAP@k once averaged) */
    double hit;         /* hit rate@k (0 or 1 for one user) */
};

/* One user's metrics at cutoff k (k >= 1, n_rel >= 1).  rel need not be
 * sorted.  Returns PS_OK, or PS_ERR_USAGE for k < 1 or n_rel < 1. */
int ps_metrics_user(const uint32_t *rec, size_t n_rec, const uint32_t *rel, size_t n_rel,
                    int k, struct ps_rank_metrics *out);

/* Running totals over users for one method and one k. */
struct ps_metrics_acc {
    int k;                     /* cutoff */
    size_t n_catalogue;        /* items that could be recommended */
    const uint32_t *pop;       /* [n_catalogue] users with the item in training; borrowed */
    size_t n_pop_users;        /* training users (denominator of p(item)) */
    size_t n_users;            /* users added */
    struct ps_rank_metrics sum;/* sums of per-user metrics */
    double sum_selfinfo;       /* sum of -log2 p over recommended pairs (bits) */
    size_t n_pairs;            /* recommended (user, item) pairs in the top-k */
    uint8_t *covered;          /* [n_catalogue] 1 once recommended; owned */
    size_t n_covered;          /* distinct items recommended */
};

struct ps_metrics_result {
    size_t n_users;            /* users evaluated */
    struct ps_rank_metrics mean; /* precision, recall, NDCG, MAP, hit rate */
    double coverage;           /* catalogue coverage@k, 0..1 */
    double novelty;            /* mean self-information@k, bits; NaN with no pairs */
};

/* pop may be NULL (novelty is then NaN).  n_pop_users must be >= 1 when
 * pop is given.  Release with ps_metrics_acc_release. */
void ps_metrics_acc_init(struct ps_metrics_acc *a, int k, size_t n_catalogue,
                         const uint32_t *pop, size_t n_pop_users);
void ps_metrics_acc_release(struct ps_metrics_acc *a);

/* Adds one user.  Items >= n_catalogue in rec are a usage error.  Returns
 * PS_OK or PS_ERR_USAGE (n_rel = 0, k < 1, item out of range). */
int ps_metrics_add(struct ps_metrics_acc *a, const uint32_t *rec, size_t n_rec,
                   const uint32_t *rel, size_t n_rel, struct ps_err *err);

void ps_metrics_acc_result(const struct ps_metrics_acc *a, struct ps_metrics_result *r);

#endif
