/*
 * rfm.c - RFM quintile scores and segments, lifecycle stages, price
 * sensitivity (rfm.h).  The quintile scoring reproduces pandas'
 * qcut(rank(method="first"), 5) bit for bit, including numpy's linear
 * interpolation of the bin edges; tests/test_rfm.c checks it against a
 * pandas fixture.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/rfm.h"

/* ---- RFM ------------------------------------------------------------- */

struct rank_item {
    double v;
    size_t pos;     /* position among the purchasers: the tie-break */
};

static int rank_item_cmp(const void *a, const void *b)
{
    const struct rank_item *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The upper edge of quintile bin k (1..5) over the ranks 1..n, computed as
 * pandas does: quantiles np.linspace(0, 1, 6) (k * 0.2, last exactly 1),
 * then numpy's "linear" quantile of the sorted ranks with its lerp. */
static double qcut_edge(size_t n, int k)
{
    double q = k == 5 ? 1.0 : (double)k * 0.2;
    double idx = (double)(n - 1) * q;
    double lo = floor(idx);
    double t = idx - lo;
    double a = lo + 1.0;                           /* rank at position lo */
    double b = lo + 1.0 < (double)n ? lo + 2.0 : a; /* rank at lo + 1 */
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* Scores 1..5 for x over the purchaser positions idx[0..m); missing
 * values (NaN) score 1 and take no rank.  reverse: smallest value = 5. */
static void quintiles(const double *x, const size_t *idx, size_t m, int reverse,
                      uint8_t *score /* [m] */, struct rank_item *scratch)
{
    size_t n = 0;
    for (size_t j = 0; j < m; j++) {
        double v = x[idx[j]];
        if (isnan(v)) { score[j] = 1; continue; }
        scratch[n].v = v;
        scratch[n].pos = j;
        n++;
    }
    if (n == 0) return;
    if (n == 1) { score[scratch[0].pos] = 3; return; }
    qsort(scratch, n, sizeof *scratch, rank_item_cmp);
    double edge[6];
    for (int k = 1; k <= 5; k++) edge[k] = qcut_edge(n, k);
    int k = 1;
    for (size_t r = 1; r <= n; r++) {
        while (k < 5 && (double)r > edge[k]) k++;
        score[scratch[r - 1].pos] = (uint8_t)(reverse ? 6 - k : k);
    }
}

enum ps_rfm_segment ps_rfm_segment_of(int r, int f)
{
    static const uint8_t map[5][5] = {
        /* R=1 */ { PS_RFM_LOST, PS_RFM_HIBERNATING, PS_RFM_AT_RISK, PS_RFM_AT_RISK,
                    PS_RFM_CANT_LOSE_THEM },
        /* R=2 */ { PS_RFM_HIBERNATING, PS_RFM_HIBERNATING, PS_RFM_AT_RISK, PS_RFM_AT_RISK,
                    PS_RFM_CANT_LOSE_THEM },
        /* R=3 */ { PS_RFM_ABOUT_TO_SLEEP, PS_RFM_ABOUT_TO_SLEEP, PS_RFM_NEED_ATTENTION,
                    PS_RFM_LOYAL_CUSTOMERS, PS_RFM_LOYAL_CUSTOMERS },
        /* R=4 */ { PS_RFM_PROMISING, PS_RFM_POTENTIAL_LOYALISTS, PS_RFM_POTENTIAL_LOYALISTS,
                    PS_RFM_LOYAL_CUSTOMERS, PS_RFM_LOYAL_CUSTOMERS },
        /* R=5 */ { PS_RFM_NEW_CUSTOMERS, PS_RFM_POTENTIAL_LOYALISTS,
                    PS_RFM_POTENTIAL_LOYALISTS, PS_RFM_CHAMPIONS, PS_RFM_CHAMPIONS },
    };
    if (r < 1 || r > 5 || f < 1 || f > 5) return PS_RFM_PROSPECT;
    return (enum ps_rfm_segment)map[r - 1][f - 1];
}

int ps_rfm_score(const double *recency_days, const double *frequency,
                 const double *monetary, size_t n, struct ps_rfm_score *out,
                 struct ps_err *err)
{
    if (n == 0) return PS_OK;
    if (!recency_days || !frequency || !monetary || !out)
        return ps_err_set(err, PS_ERR_USAGE, "rfm: NULL array for %zu users", n);
    size_t *idx = ps_xmalloc(n * sizeof *idx);
    uint8_t *sc = ps_xmalloc(3 * n);
    struct rank_item *scratch = ps_xmalloc(n * sizeof *scratch);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].segment = PS_RFM_PROSPECT;
        /* A purchaser has a last purchase and at least one order; NaN
         * frequency with a recency still counts (scored 1 on F). */
        if (!isnan(recency_days[i]) && !(frequency[i] <= 0)) idx[m++] = i;
    }
    quintiles(recency_days, idx, m, 1, sc, scratch);
    quintiles(frequency, idx, m, 0, sc + n, scratch);
    quintiles(monetary, idx, m, 0, sc + 2 * n, scratch);
    for (size_t j = 0; j < m; j++) {
        struct ps_rfm_score *o = &out[idx[j]];
        o->r = sc[j];
        o->f = sc[n + j];
        o->m = sc[2 * n + j];
        o->segment = (uint8_t)ps_rfm_segment_of(o->r, o->f);
    }
    free(idx);
    free(sc);
    free(scratch);
    return PS_OK;
}

static const char *const rfm_names[PS_RFM_N_SEGMENTS] = {
    "prospect", "champions", "loyal_customers", "potential_loyalists", "new_customers",
    "promising", "need_attention", "about_to_sleep", "at_risk", "cant_lose_them",
    "hibernating", "lost",
};
static const char *const rfm_labels[PS_RFM_N_SEGMENTS] = {
    "Prospect", "Champions", "Loyal Customers", "Potential Loyalists", "New Customers",
    "Promising", "Need Attention", "About To Sleep", "At Risk", "Can't Lose Them",
    "Hibernating", "Lost",
};

static int parse_name(const char *const *names, int n, const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *ps_rfm_segment_name(int segment)
{
    return segment >= 0 && segment < PS_RFM_N_SEGMENTS ? rfm_names[segment] : NULL;
}

const char *ps_rfm_segment_label(int segment)
{
    return segment >= 0 && segment < PS_RFM_N_SEGMENTS ? rfm_labels[segment] : NULL;
}

int ps_rfm_segment_parse(const char *name)
{
    return parse_name(rfm_names, PS_RFM_N_SEGMENTS, name);
}

/* ---- lifecycle ---------------------------------------------------------- */

struct ps_lifecycle_params ps_lifecycle_default_params(void)
{
    struct ps_lifecycle_params p = {
        .active_max_recency_days = 30.0,
        .dormant_max_recency_days = 90.0,
        .new_max_tenure_days = 30.0,
    };
    return p;
}

int ps_lifecycle_check_params(const struct ps_lifecycle_params *p, struct ps_err *err)
{
    const struct { const char *name; double v; } f[] = {
        { "active_max_recency_days", p->active_max_recency_days },
        { "dormant_max_recency_days", p->dormant_max_recency_days },
        { "new_max_tenure_days", p->new_max_tenure_days },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isfinite(f[i].v) || f[i].v < 0)
            return ps_err_set(err, PS_ERR_USAGE,
                              "lifecycle: \"%s\" must be a finite number >= 0, got %g",
                              f[i].name, f[i].v);
    if (p->active_max_recency_days > p->dormant_max_recency_days)
        return ps_err_set(err, PS_ERR_USAGE,
                          "lifecycle: \"active_max_recency_days\" (%g) exceeds "
                          "\"dormant_max_recency_days\" (%g)",
                          p->active_max_recency_days, p->dormant_max_recency_days);
    return PS_OK;
}

enum ps_lifecycle ps_lifecycle_stage(const struct ps_lifecycle_params *p,
                                     double recency_days, double frequency,
                                     double tenure_days)
{
    /* Same purchaser test as ps_rfm_score: a last purchase and not a zero
     * order count (a missing count does not undo the purchase). */
    if (isnan(recency_days) || frequency <= 0) return PS_LIFECYCLE_PROSPECT;
    if (recency_days > p->dormant_max_recency_days) return PS_LIFECYCLE_CHURNED;
    if (recency_days > p->active_max_recency_days) return PS_LIFECYCLE_DORMANT;
    if (tenure_days <= p->new_max_tenure_days) return PS_LIFECYCLE_NEW; /* NaN: false */
    return PS_LIFECYCLE_ACTIVE;
}

static const char *const lc_names[PS_LIFECYCLE_N] = {
    "prospect", "new", "active", "dormant", "churned",
};

const char *ps_lifecycle_name(int stage)
{
    return stage >= 0 && stage < PS_LIFECYCLE_N ? lc_names[stage] : NULL;
}

int ps_lifecycle_parse(const char *name)
{
    return parse_name(lc_names, PS_LIFECYCLE_N, name);
}

/* ---- price sensitivity -------------------------------------------------- */

struct ps_price_params ps_price_default_params(void)
{
    struct ps_price_params p = {
        .high_below_level = 0.8,
        .low_above_level = 1.25,
        .discount_share_high = 0.5,
        .refund_rate_high = 0.3,
    };
    return p;
}

int ps_price_check_params(const struct ps_price_params *p, struct ps_err *err)
{
    const struct { const char *name; double v; } f[] = {
        { "high_below_level", p->high_below_level },
        { "low_above_level", p->low_above_level },
        { "discount_share_high", p->discount_share_high },
        { "refund_rate_high", p->refund_rate_high },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isfinite(f[i].v) || (i < 2 ? f[i].v <= 0 : f[i].v < 0))
            return ps_err_set(err, PS_ERR_USAGE,
                              "price sensitivity: \"%s\" must be a finite number %s, got %g",
                              f[i].name, i < 2 ? "> 0" : ">= 0", f[i].v);
    if (p->high_below_level > p->low_above_level)
        return ps_err_set(err, PS_ERR_USAGE,
                          "price sensitivity: \"high_below_level\" (%g) exceeds "
                          "\"low_above_level\" (%g)",
                          p->high_below_level, p->low_above_level);
    return PS_OK;
}

enum ps_price_sensitivity ps_price_sensitivity(const struct ps_price_params *p,
                                               double price_level, double discount_share,
                                               double refund_rate)
{
    if (isnan(price_level)) return PS_PRICE_UNKNOWN;
    int level = price_level < p->high_below_level ? PS_PRICE_HIGH
              : price_level > p->low_above_level ? PS_PRICE_LOW
              : PS_PRICE_MEDIUM;
    if (discount_share >= p->discount_share_high) level++; /* NaN: false */
    if (refund_rate >= p->refund_rate_high) level++;
    if (level > PS_PRICE_HIGH) level = PS_PRICE_HIGH;
    return (enum ps_price_sensitivity)level;
}

static const char *const price_names[PS_PRICE_N] = { "unknown", "low", "medium", "high" };

const char *ps_price_sensitivity_name(int level)
{
    return level >= 0 && level < PS_PRICE_N ? price_names[level] : NULL;
}

int ps_price_sensitivity_parse(const char *name)
{
    return parse_name(price_names, PS_PRICE_N, name);
}
