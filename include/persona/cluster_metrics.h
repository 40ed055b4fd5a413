/*
 * cluster_metrics.h - internal and external clustering scores with
 * scikit-learn's definitions (sklearn.metrics), for choosing K and for
 * checking segments against a known truth.
 *
 * Labels are cluster indices in [0, k); clusters without members are
 * ignored, as sklearn label-encodes first.  All sums are double.
 */
#ifndef PERSONA_CLUSTER_METRICS_H
#define PERSONA_CLUSTER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_pool;

/*
 * Mean silhouette coefficient (Euclidean).  Exact when n <= max_exact
 * (0 = always exact); otherwise computed exactly on a seeded uniform
 * sample of max_exact rows (sklearn's sample_size), and *n_used says how
 * many rows were scored.  samples (optional, n doubles) receives the
 * per-row coefficients in the exact case.  Needs 2 <= clusters <= n - 1
 * (PS_ERR_USAGE otherwise).  O(m^2 d) with m = rows used; double
 * precision via dgemm over blocks of rows.
 */
int ps_silhouette(const float *X, size_t n, int d, const int32_t *labels, int k,
                  size_t max_exact, uint64_t seed, struct ps_pool *pool,
                  double *score, size_t *n_used, double *samples, struct ps_err *err);

/* Calinski-Harabasz index (variance ratio); 1.0 when within dispersion is 0. */
int ps_calinski_harabasz(const float *X, size_t n, int d, const int32_t *labels, int k,
                         double *score, struct ps_err *err);

/* Davies-Bouldin index (lower is better); 0 in sklearn's degenerate cases. */
int ps_davies_bouldin(const float *X, size_t n, int d, const int32_t *labels, int k,
                      double *score, struct ps_err *err);

/* Adjusted Rand index between two labellings (any non-negative ints). */
double ps_adjusted_rand(const int32_t *a, const int32_t *b, size_t n);

#endif
