/*
 * uplift.h - campaign analysis: treatment against holdout control.
 *
 * For each group (treatment, control): users, conversions, conversion
 * rate, mean spend (over all users of the group, non-converters count 0).
 *
 * Conversion lift: absolute p_t - p_c with a 95% Wald interval on the
 * unpooled standard error sqrt(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c); p-value
 * from the two-proportion z-test with the pooled proportion
 * (z = (p_t - p_c) / sqrt(p(1-p)(1/n_t + 1/n_c)), two-sided).  Relative
 * lift (p_t - p_c) / p_c with a delta-method interval on log(p_t/p_c).
 * Spend lift: difference of means, Welch's t-test (unequal variances,
 * Welch-Satterthwaite degrees of freedom) and its 95% interval from the
 * Student t quantile; the t CDF is the regularized incomplete beta
 * function (continued fraction, Numerical Recipes 6.4).
 *
 * Qini curve for a scored audience (higher score = more likely to be
 * persuaded): users sorted by score, descending; at each cut n,
 * qini(n) = conv_t(n) - conv_c(n) * n_t(n) / n_c(n) (0 while n_c(n) = 0),
 * and uplift@k% = rate_t(top k%) - rate_c(top k%).
 *
 * Everything here is pure and thread-safe.
 */
#ifndef PERSONA_UPLIFT_H
#define PERSONA_UPLIFT_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

/* Standard normal CDF and quantile (p in (0, 1)). */
double ps_normal_cdf(double z);
double ps_normal_quantile(double p);
/* Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1]. */
double ps_betainc(double a, double b, double x);
/* Student t CDF with df > 0 degrees of freedom (df may be fractional),
 * and its quantile (bisection on the CDF, |error| < 1e-12). */
double ps_t_cdf(double t, double df);
double ps_t_quantile(double p, double df);

struct ps_group_stats {
    size_t n;               /* users */
    size_t conversions;     /* users with converted = 1 */
    double rate;            /* conversions / n */
    double spend_mean;      /* mean spend over all users */
    double spend_var;       /* sample variance (n - 1) */
};

struct ps_lift {
    double abs, abs_lo, abs_hi;  /* p_t - p_c and its 95% interval */
    double rel, rel_lo, rel_hi;  /* (p_t - p_c) / p_c and interval (NaN if p_c = 0) */
    double z, p_value;           /* two-proportion z-test, two-sided */
    double spend_diff, spend_lo, spend_hi; /* mean spend difference, 95% Welch interval */
    double t, df, spend_p_value; /* Welch's t-test, two-sided */
};

/* Group statistics from per-user outcomes. */
void ps_group_stats(const uint8_t *converted, const double *spend, size_t n,
                    struct ps_group_stats *out);
/* Lift of treatment t over control c.  Needs n >= 2 in both groups
 * (PS_ERR_BAD_INPUT otherwise).  Undefined statistics (zero variance)
 * are NaN. */
int ps_lift(const struct ps_group_stats *t, const struct ps_group_stats *c, struct ps_lift *out,
            struct ps_err *err);

/* Qini curve: users i with treat[i] (1 = treatment), converted[i] and
 * score[i].  Writes n + 1 points (x = users targeted 0..n, qini) into
 * qini[] (caller-owned, n + 1 doubles) after sorting by score descending
 * (ties by input order).  Returns the area between the curve and the
 * random line, normalised by n (the Qini coefficient, unnormalised by
 * the best curve). */
double ps_qini(const uint8_t *treat, const uint8_t *converted, const double *score, size_t n,
               double *qini);
/* Uplift among the top fraction (0, 1] of users by score: rate_t - rate_c
 * (NaN when a group is empty there). */
double ps_uplift_at(const uint8_t *treat, const uint8_t *converted, const double *score,
                    size_t n, double fraction);

#endif
