/*
 * pca.h - principal component analysis of a small dense matrix: centred
 * covariance (double accumulators) and its eigenvectors by cyclic Jacobi
 * rotations.  For the report's 2-D scatter: d up to a few hundred.
 *
 * Signs: each component is flipped so that its entry of largest absolute
 * value is positive (scikit-learn's svd_flip makes a different choice;
 * tests compare up to sign).
 */
#ifndef PERSONA_PCA_H
#define PERSONA_PCA_H

#include <stddef.h>
#include "status.h"

struct ps_pca {
    int d, k;
    double *mean;        /* d column means */
    double *components;  /* k x d, unit rows, by decreasing variance */
    double *variance;    /* k eigenvalues (sample variance, n - 1) */
    double total_variance; /* trace of the covariance */
};

/* Fits on X (n x d, row-major, no NaN), keeping k <= d components.
 * PS_ERR_USAGE when n < 2, k < 1 or k > d. */
int ps_pca_fit(struct ps_pca *p, const float *X, size_t n, int d, int k, struct ps_err *err);
/* out (n x k) = (X - mean) components^T. */
void ps_pca_transform(const struct ps_pca *p, const float *X, size_t n, double *out);
void ps_pca_release(struct ps_pca *p);

/* Eigen-decomposition of a symmetric d x d matrix a (destroyed):
 * eigenvalues w (descending) and eigenvectors as rows of v (d x d). */
void ps_sym_eigen(double *a, int d, double *w, double *v);

#endif
