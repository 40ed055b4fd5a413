/*
 * metrics.c - top-k ranking metrics (definitions in metrics.h).
 *
 * The per-user function checks membership of rec items in rel by a small
 * sorted copy of rel (binary search) and marks the rec positions already
 * counted, so duplicated ids count once.  Lists are short (k <= a few
 * hundred), so the quadratic duplicate check on rec is cheaper than a set.
 */
#include "persona/metrics.h"
#include "persona/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int in_sorted(const uint32_t *s, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && s[lo] == v;
}

int ps_metrics_user(const uint32_t *rec, size_t n_rec, const uint32_t *rel, size_t n_rel,
                    int k, struct ps_rank_metrics *out)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || n_rel < 1)
        return PS_ERR_USAGE;
    uint32_t stack[64];
    uint32_t *s = n_rel <= 64 ? stack : ps_xmalloc(n_rel * sizeof *s);
    memcpy(s, rel, n_rel * sizeof *s);
    qsort(s, n_rel, sizeof *s, cmp_u32);
    size_t m = 0; /* distinct relevant items */
    for (size_t i = 0; i < n_rel; i++)
        if (i == 0 || s[i] != s[m - 1])
            s[m++] = s[i];

    size_t top = n_rec < (size_t)k ? n_rec : (size_t)k;
    double dcg = 0, ap = 0;
    size_t hits = 0;
    for (size_t i = 0; i < top; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = rec[j] == rec[i];
        if (dup || !in_sorted(s, m, rec[i]))
            continue;
        hits++;
        dcg += 1.0 / log2((double)i + 2.0);
        ap += (double)hits / (double)(i + 1);
    }
    size_t ideal = m < (size_t)k ? m : (size_t)k;
    double idcg = 0;
    for (size_t i = 0; i < ideal; i++)
        idcg += 1.0 / log2((double)i + 2.0);
    out->precision = (double)hits / k;
    out->recall = (double)hits / (double)m;
    out->hit = hits > 0;
    out->ndcg = dcg / idcg;
    out->ap = ap / (double)ideal;
    if (s != stack)
        free(s);
    return PS_OK;
}

void ps_metrics_acc_init(struct ps_metrics_acc *a, int k, size_t n_catalogue,
                         const uint32_t *pop, size_t n_pop_users)
{
    memset(a, 0, sizeof *a);
    a->k = k;
    a->n_catalogue = n_catalogue;
    a->pop = pop;
    a->n_pop_users = n_pop_users;
    a->covered = ps_xcalloc(n_catalogue ? n_catalogue : 1, 1);
}

void ps_metrics_acc_release(struct ps_metrics_acc *a)
{
    free(a->covered);
    a->covered = NULL;
}

int ps_metrics_add(struct ps_metrics_acc *a, const uint32_t *rec, size_t n_rec,
                   const uint32_t *rel, size_t n_rel, struct ps_err *err)
{
    struct ps_rank_metrics m;
    size_t top = n_rec < (size_t)a->k ? n_rec : (size_t)a->k;
    for (size_t i = 0; i < top; i++)
        if (rec[i] >= a->n_catalogue)
            return ps_err_set(err, PS_ERR_USAGE, "item %u is outside the catalogue of %zu items",
                              rec[i], a->n_catalogue);
    if (ps_metrics_user(rec, n_rec, rel, n_rel, a->k, &m) != PS_OK)
        return ps_err_set(err, PS_ERR_USAGE, "metrics need k >= 1 and a relevant item, got k %d, "
                          "%zu relevant", a->k, n_rel);
    a->n_users++;
    a->sum.precision += m.precision;
    a->sum.recall += m.recall;
    a->sum.ndcg += m.ndcg;
    a->sum.ap += m.ap;
    a->sum.hit += m.hit;
    for (size_t i = 0; i < top; i++) {
        uint32_t it = rec[i];
        if (!a->covered[it]) {
            a->covered[it] = 1;
            a->n_covered++;
        }
        if (a->pop) {
            double c = a->pop[it] ? (double)a->pop[it] : 1.0;
            a->sum_selfinfo += -log2(c / (double)a->n_pop_users);
        }
        a->n_pairs++;
    }
    return PS_OK;
}

void ps_metrics_acc_result(const struct ps_metrics_acc *a, struct ps_metrics_result *r)
{
    memset(r, 0, sizeof *r);
    r->n_users = a->n_users;
    double n = a->n_users ? (double)a->n_users : NAN;
    r->mean.precision = a->sum.precision / n;
    r->mean.recall = a->sum.recall / n;
    r->mean.ndcg = a->sum.ndcg / n;
    r->mean.ap = a->sum.ap / n;
    r->mean.hit = a->sum.hit / n;
    r->coverage = a->n_catalogue ? (double)a->n_covered / (double)a->n_catalogue : NAN;
    r->novelty = a->pop && a->n_pairs ? a->sum_selfinfo / (double)a->n_pairs : NAN;
}
