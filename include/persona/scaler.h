/*
 * scaler.h - feature scalers with scikit-learn's semantics.
 *
 * Fit on a float32 row-major matrix (rows x cols), transform in place or
 * into another buffer.  Statistics are computed in double.
 *
 *   standard  (x - mean) / std, population std (ddof 0); a constant column
 *             gets scale 1 (sklearn's _is_constant_feature rule)
 *   robust    (x - median) / IQR, quantiles by linear interpolation
 *             (numpy's default); IQR 0 gets scale 1
 *   minmax    (x - min) / (max - min); a zero range gets scale 1
 *   none      identity (imputation and log1p still apply)
 *
 * Order of operations per column: optional log1p (x must be > -1), then
 * imputation of missing values (NaN) with the median of the column's
 * present values (after log1p; 0 when every value is missing), then
 * scaling.  That is sklearn's Pipeline(FunctionTransformer(np.log1p),
 * SimpleImputer(strategy="median"), Scaler).
 */
#ifndef PERSONA_SCALER_H
#define PERSONA_SCALER_H

#include <stddef.h>
#include <stdio.h>
#include "status.h"

enum ps_scaler_kind {
    PS_SCALER_NONE = 0,
    PS_SCALER_STANDARD = 1,
    PS_SCALER_ROBUST = 2,
    PS_SCALER_MINMAX = 3
};

/* Plain data; owned arrays of length n_features. */
struct ps_scaler {
    enum ps_scaler_kind kind;
    int n_features;
    unsigned char *log1p;   /* 1: apply log1p before everything else */
    double *fill;           /* imputed value (after log1p) for NaN */
    double *center;         /* subtracted: mean / median / min / 0 */
    double *scale;          /* divided by: std / IQR / range / 1 */
};

/* "standard", "robust", "minmax", "none" <-> kind.  Parse returns -1 for
 * an unknown name. */
const char *ps_scaler_kind_name(enum ps_scaler_kind kind);
int ps_scaler_kind_parse(const char *name);

/* Fits on X (n x d).  log1p may be NULL (no column).  Fails with
 * PS_ERR_BAD_INPUT when a log1p column holds a value <= -1 or any value is
 * infinite; the message names the column index (callers prefix names). */
int ps_scaler_fit(struct ps_scaler *s, enum ps_scaler_kind kind, const float *X,
                  size_t n, int d, const unsigned char *log1p, struct ps_err *err);
/* out = transform(in), n x d; in and out may alias.  Values that log1p
 * cannot take (<= -1) are treated as missing. */
void ps_scaler_transform(const struct ps_scaler *s, const float *in, float *out, size_t n);
/* Maps scaled vectors back to original units (undoing log1p): in (n x d)
 * -> out (n x d), double precision. */
void ps_scaler_inverse(const struct ps_scaler *s, const double *in, double *out, size_t n);
/* Frees the arrays; the struct can be fitted again. */
void ps_scaler_release(struct ps_scaler *s);

/* Quantile q in [0,1] of v[0..n) by linear interpolation (numpy's
 * default); sorts v in place.  n must be > 0. */
double ps_quantile_sorted_inplace(double *v, size_t n, double q);

#endif
