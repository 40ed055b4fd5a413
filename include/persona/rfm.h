/*
 * rfm.h - RFM tiers, lifecycle stages and price sensitivity per user.
 *
 * Three small classifiers over the behaviour features of docs/FEATURES.md
 * (recency_days, frequency, monetary, tenure_days, price_level).  Plain
 * arrays in, plain arrays out; no allocation visible to the caller, no
 * state.  Thresholds and the segment map are documented in docs/tags.md.
 *
 * RFM scoring (ps_rfm_score): among the users who purchased (recency_days
 * not NaN and frequency > 0), each of R, F, M gets a quintile score 1..5
 * exactly as pandas does
 *     pd.qcut(x.rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
 * with recency reversed (labels [5, 4, 3, 2, 1]: the most recent buyers
 * score 5).  rank(method="first") breaks ties by row order, so equal
 * values may straddle a quintile boundary and the scores depend on the
 * order of the rows (features.csv is sorted by user id, which makes them
 * reproducible).  A missing frequency or monetary value of a purchaser
 * scores 1.  With a single purchaser (where qcut fails) it scores 3/3/3.
 * Users who never purchased get scores 0 and the segment "prospect".
 *
 * Segment map: the common R x F map (the F/M axis is F alone, as in the
 * widely used table), with its bottom-left cell split off as "lost":
 *
 *          F=1             F=2            F=3            F=4            F=5
 *   R=5   new_customers   potential_l.   potential_l.   champions      champions
 *   R=4   promising       potential_l.   potential_l.   loyal_cust.    loyal_cust.
 *   R=3   about_to_sleep  about_to_sleep need_attention loyal_cust.    loyal_cust.
 *   R=2   hibernating     hibernating    at_risk        at_risk        cant_lose_them
 *   R=1   lost            hibernating    at_risk        at_risk        cant_lose_them
 *
 * Thread safety: every function here is pure and reentrant.
 */
#ifndef PERSONA_RFM_H
#define PERSONA_RFM_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

enum ps_rfm_segment {
    PS_RFM_PROSPECT = 0,        /* never purchased */
    PS_RFM_CHAMPIONS,
    PS_RFM_LOYAL_CUSTOMERS,
    PS_RFM_POTENTIAL_LOYALISTS,
    PS_RFM_NEW_CUSTOMERS,
    PS_RFM_PROMISING,
    PS_RFM_NEED_ATTENTION,
    PS_RFM_ABOUT_TO_SLEEP,
    PS_RFM_AT_RISK,
    PS_RFM_CANT_LOSE_THEM,
    PS_RFM_HIBERNATING,
    PS_RFM_LOST,
    PS_RFM_N_SEGMENTS
};

/* One user's scores.  r, f, m are 1..5 for purchasers, 0 for prospects. */
struct ps_rfm_score {
    uint8_t r, f, m;            /* quintile scores */
    uint8_t segment;            /* enum ps_rfm_segment */
};

/* Scores n users.  recency_days[i] (days since the last purchase, NaN =
 * never purchased), frequency[i] (orders; <= 0 = never purchased, NaN
 * counts as missing) and monetary[i] (money, may be negative after
 * refunds; NaN = missing) are borrowed; out[0..n) is caller-owned.
 * Returns PS_OK; PS_ERR_USAGE when an array is NULL with n > 0.
 * Allocates O(n) scratch internally. */
int ps_rfm_score(const double *recency_days, const double *frequency,
                 const double *monetary, size_t n, struct ps_rfm_score *out,
                 struct ps_err *err);

/* Segment of an (R, F) pair of scores 1..5 per the map above;
 * PS_RFM_PROSPECT when either is outside 1..5. */
enum ps_rfm_segment ps_rfm_segment_of(int r, int f);

/* Stable snake_case name ("champions", "loyal_customers",
 * "potential_loyalists", "new_customers", "promising", "need_attention",
 * "about_to_sleep", "at_risk", "cant_lose_them", "hibernating", "lost",
 * "prospect"), used in the store and in tags; and an English display
 * label ("Can't Lose Them").  Static strings; NULL when out of range. */
const char *ps_rfm_segment_name(int segment);
const char *ps_rfm_segment_label(int segment);
/* Parses a snake_case name; -1 when unknown. */
int ps_rfm_segment_parse(const char *name);

/* ---- lifecycle stage ---------------------------------------------------- */

enum ps_lifecycle {
    PS_LIFECYCLE_PROSPECT = 0,  /* never purchased */
    PS_LIFECYCLE_NEW,           /* first seen recently and bought recently */
    PS_LIFECYCLE_ACTIVE,        /* bought recently */
    PS_LIFECYCLE_DORMANT,       /* no purchase for a while */
    PS_LIFECYCLE_CHURNED,       /* no purchase for long */
    PS_LIFECYCLE_N
};

/* Stage rules, in this order, for a user with recency_days r, frequency f
 * and tenure_days t:
 *   r NaN or f <= 0                      -> prospect (f NaN: still a buyer)
 *   r > dormant_max_recency_days         -> churned
 *   r > active_max_recency_days          -> dormant
 *   t <= new_max_tenure_days (t not NaN) -> new
 *   otherwise                            -> active
 * Boundaries are inclusive on the "more engaged" side (r = 30 is active). */
struct ps_lifecycle_params {
    double active_max_recency_days;  /* days since last purchase still "active" (default 30) */
    double dormant_max_recency_days; /* beyond this a buyer is "churned" (default 90) */
    double new_max_tenure_days;      /* first seen at most this long ago = "new" (default 30) */
};

struct ps_lifecycle_params ps_lifecycle_default_params(void);
/* PS_OK, or PS_ERR_USAGE with a message when a threshold is negative or
 * not finite or active_max_recency_days > dormant_max_recency_days. */
int ps_lifecycle_check_params(const struct ps_lifecycle_params *p, struct ps_err *err);
/* Stage of one user (NaN = missing for any argument). */
enum ps_lifecycle ps_lifecycle_stage(const struct ps_lifecycle_params *p,
                                     double recency_days, double frequency,
                                     double tenure_days);
/* "prospect", "new", "active", "dormant", "churned"; NULL out of range. */
const char *ps_lifecycle_name(int stage);
int ps_lifecycle_parse(const char *name);

/* ---- price sensitivity -------------------------------------------------- */

enum ps_price_sensitivity {
    PS_PRICE_UNKNOWN = 0,       /* no price_level (no priced purchase) */
    PS_PRICE_LOW,               /* buys above the category median */
    PS_PRICE_MEDIUM,
    PS_PRICE_HIGH,              /* buys below the category median */
    PS_PRICE_N
};

/* price_level is the mean of price / category median over a user's
 * purchases (1 = typical).  Base level:
 *   price_level <  high_below_level  -> high
 *   price_level >  low_above_level   -> low
 *   otherwise                        -> medium
 * then each optional signal at or above its threshold moves the level one
 * step towards high (capped at high): discount_share (share of purchases
 * made at a discount, 0..1) >= discount_share_high, and refund_rate
 * (refunds / purchases) >= refund_rate_high.  A NaN signal is ignored.
 * A NaN price_level gives unknown whatever the signals say. */
struct ps_price_params {
    double high_below_level;    /* default 0.8 */
    double low_above_level;     /* default 1.25 */
    double discount_share_high; /* default 0.5 */
    double refund_rate_high;    /* default 0.3 */
};

struct ps_price_params ps_price_default_params(void);
/* PS_OK, or PS_ERR_USAGE when a threshold is not finite, a level is not
 * positive or high_below_level > low_above_level. */
int ps_price_check_params(const struct ps_price_params *p, struct ps_err *err);
enum ps_price_sensitivity ps_price_sensitivity(const struct ps_price_params *p,
                                               double price_level, double discount_share,
                                               double refund_rate);
/* "unknown", "low", "medium", "high"; NULL out of range. */
const char *ps_price_sensitivity_name(int level);
int ps_price_sensitivity_parse(const char *name);

#endif
