/*
 * kmeans.h - K-means clustering with scikit-learn's semantics.
 *
 * Exact algorithms: Lloyd and Hamerly (Hamerly 2010: one upper and one
 * lower bound per point, so memory stays O(n) beyond the data; it
 * returns the same labels as Lloyd, only skipping distance computations
 * the triangle inequality proves useless).  "elkan" is accepted and runs
 * Hamerly: the same exact result, without Elkan's n x k bound matrix.
 *
 * What matches scikit-learn's KMeans (1.2):
 *   - greedy k-means++: 2 + floor(ln k) candidates per step, the one that
 *     lowers the potential most is kept (weights used as sklearn >= 1.3);
 *   - n_init restarts, keeping the strictly lowest inertia;
 *   - tol is relative: the run stops when the squared centre shift summed
 *     over clusters is <= tol * mean(per-feature variance of X), or when
 *     no label changed ("strict convergence"); n_iter counts iterations,
 *     and without strict convergence a last assignment pass relabels the
 *     points against the final centres;
 *   - empty clusters (zero weight) are reseeded with the points farthest
 *     from their current centre, taken out of their old cluster;
 *   - sample weights multiply each point's contribution.
 *
 * Numerics: the data is centred once (a float32 copy, as sklearn's
 * copy_x), distances come from sgemm over blocks of rows (no n x k matrix
 * beyond a block), and a point whose best and second-best distance are
 * within sgemm's rounding error is re-assigned with exact double
 * arithmetic.  Centres, sums and inertia are double.
 *
 * Threads: work is split into tasks whose boundaries depend only on n, k
 * and d, and partial sums are reduced in task order, so the result is
 * the same for any thread count (and, a fortiori, for a given one).
 */
#ifndef PERSONA_KMEANS_H
#define PERSONA_KMEANS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_pool;
struct ps_rng;

enum ps_kmeans_algorithm {
    PS_KMEANS_AUTO = 0,     /* Hamerly */
    PS_KMEANS_LLOYD,
    PS_KMEANS_ELKAN,        /* runs Hamerly (see above) */
    PS_KMEANS_HAMERLY,
    PS_KMEANS_MINIBATCH
};

struct ps_kmeans_params {
    int k;                     /* number of clusters */
    int n_init;                /* k-means++ restarts (1 when init is given) */
    int max_iter;              /* iterations per run (minibatch: epochs) */
    double tol;                /* relative tolerance (see above) */
    uint64_t seed;             /* k-means++ and minibatch sampling */
    enum ps_kmeans_algorithm algorithm;
    const float *init;         /* k x d starting centres, or NULL for k-means++; borrowed */
    int n_local_trials;        /* k-means++ candidates per step; 0 = 2 + floor(ln k) */
    size_t batch_size;         /* minibatch rows per step */
    int max_no_improvement;    /* minibatch early stop (steps without a better smoothed inertia) */
};

struct ps_kmeans_params ps_kmeans_default_params(void);
/* Checks the parameters against a data size; message names the field. */
int ps_kmeans_check_params(const struct ps_kmeans_params *p, size_t n, struct ps_err *err);
const char *ps_kmeans_algorithm_name(enum ps_kmeans_algorithm a);
/* "auto", "lloyd", "elkan", "hamerly", "minibatch"; -1 if unknown. */
int ps_kmeans_algorithm_parse(const char *name);

struct ps_kmeans_result {
    int k, d;
    double *centers;        /* k x d, in X's units; owned */
    int32_t *labels;        /* n cluster indices; owned */
    float *distance;        /* n Euclidean distances to the own centre; owned */
    double *weight;         /* k total sample weight per cluster; owned */
    double inertia;         /* sum of weight * squared distance */
    int n_iter;             /* iterations of the best run (minibatch: steps) */
    int best_init;          /* which restart won (0-based) */
    size_t n;               /* rows */
};

/*
 * Clusters X (n x d, row-major float32, no NaN) with optional per-row
 * weights (NULL = all 1).  pool may be NULL (one thread).  On success res
 * holds owned arrays (release with ps_kmeans_result_release).  Errors:
 * PS_ERR_USAGE for bad parameters (k > n, ...), PS_ERR_BAD_INPUT for
 * NaN/infinite data or negative weights.
 */
int ps_kmeans_fit(const float *X, size_t n, int d, const float *weights,
                  const struct ps_kmeans_params *p, struct ps_pool *pool,
                  struct ps_kmeans_result *res, struct ps_err *err);
void ps_kmeans_result_release(struct ps_kmeans_result *r);

/*
 * Greedy k-means++ seeding on X (n x d), writing k x d centres (double) to
 * centers.  Exposed for tests and the minibatch driver.
 */
void ps_kmeans_plusplus(const float *X, size_t n, int d, const float *weights, int k,
                        int n_local_trials, struct ps_rng *rng, struct ps_pool *pool,
                        double *centers);

/*
 * Nearest centre for each row: labels[i] and dist2[i] (squared distance,
 * may be NULL).  Exact: ties go to the lowest index.  centers k x d.
 */
void ps_kmeans_assign(const float *X, size_t n, int d, const double *centers, int k,
                      struct ps_pool *pool, int32_t *labels, double *dist2);

/* Rows from anywhere (memory, a .npy file, through a scaler), for the
 * streaming minibatch algorithm. */
struct ps_row_source {
    size_t n;                   /* rows */
    int d;                      /* columns */
    /* Reads rows [first, first + count) into dst (count x d floats). */
    int (*read)(void *ctx, size_t first, size_t count, float *dst, struct ps_err *err);
    void *ctx;
};

/*
 * Mini-batch K-means (Sculley 2010, as sklearn's MiniBatchKMeans): seeded
 * with k-means++ on a random sample of 3 x batch_size rows (best of n_init
 * seedings on that sample), then steps over random batches with per-centre
 * learning rates 1/count, stopping after max_iter epochs or when the
 * smoothed batch inertia has not improved for max_no_improvement steps.
 * Memory: O(batch_size x d + k x d), plus n labels when labels are
 * wanted.  The final pass streams every row once to label it and compute
 * the exact inertia; res->labels and res->distance are filled only when
 * want_labels is set.
 */
int ps_kmeans_minibatch(const struct ps_row_source *src, const struct ps_kmeans_params *p,
                        struct ps_pool *pool, int want_labels,
                        struct ps_kmeans_result *res, struct ps_err *err);

#endif
