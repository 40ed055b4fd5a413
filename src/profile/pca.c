/*
 * pca.c - principal components by the covariance matrix and cyclic Jacobi
 * rotations (pca.h).  O(n d^2) for the covariance, O(d^3) per sweep; fine
 * for the few dozen feature columns of a report.
 */
#include "persona/pca.h"
#include "persona/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_sym_eigen(double *a, int d, double *w, double *v)
{
    /* v = I; rotate a to diagonal, accumulating the rotations in v's rows. */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            v[i * d + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < d; i++) {
            diag += a[i * d + i] * a[i * d + i];
            for (int j = i + 1; j < d; j++)
                off += a[i * d + j] * a[i * d + j];
        }
        if (off <= 1e-30 * (diag > 0 ? diag : 1))
            break;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (apq == 0)
                    continue;
                /* Classical Jacobi rotation zeroing a[p][q]. */
                double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < d; k++) {
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) {
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < d; k++) {
                    double vpk = v[p * d + k], vqk = v[q * d + k];
                    v[p * d + k] = c * vpk - s * vqk;
                    v[q * d + k] = s * vpk + c * vqk;
                }
            }
    }
    for (int i = 0; i < d; i++)
        w[i] = a[i * d + i];
    /* Selection sort by decreasing eigenvalue (d is small). */
    for (int i = 0; i < d; i++) {
        int best = i;
        for (int j = i + 1; j < d; j++)
            if (w[j] > w[best])
                best = j;
        if (best != i) {
            double tw = w[i];
            w[i] = w[best];
            w[best] = tw;
            for (int k = 0; k < d; k++) {
                double tv = v[i * d + k];
                v[i * d + k] = v[best * d + k];
                v[best * d + k] = tv;
            }
        }
    }
}

int ps_pca_fit(struct ps_pca *p, const float *X, size_t n, int d, int k, struct ps_err *err)
{
    memset(p, 0, sizeof *p);
    if (n < 2 || d < 1 || k < 1 || k > d)
        return ps_err_set(err, PS_ERR_USAGE, "pca needs at least 2 rows and 1 <= k <= d "
                          "(got %zu rows, d = %d, k = %d)", n, d, k);
    double *mean = ps_xcalloc((size_t)d, sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            mean[j] += X[i * d + j];
    for (int j = 0; j < d; j++)
        mean[j] /= (double)n;
    double *cov = ps_xcalloc((size_t)d * d, sizeof *cov), *row = ps_xmalloc((size_t)d * sizeof *row);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            row[j] = X[i * d + j] - mean[j];
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++)
                cov[a * d + b] += row[a] * row[b];
    }
    double tr = 0;
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            cov[a * d + b] /= (double)(n - 1);
            cov[b * d + a] = cov[a * d + b];
            if (a == b)
                tr += cov[a * d + a];
        }
    double *w = ps_xmalloc((size_t)d * sizeof *w), *v = ps_xmalloc((size_t)d * d * sizeof *v);
    ps_sym_eigen(cov, d, w, v);
    p->d = d;
    p->k = k;
    p->mean = mean;
    p->components = ps_xmalloc((size_t)k * d * sizeof *p->components);
    p->variance = ps_xmalloc((size_t)k * sizeof *p->variance);
    p->total_variance = tr;
    for (int c = 0; c < k; c++) {
        int big = 0;
        for (int j = 1; j < d; j++)
            if (fabs(v[c * d + j]) > fabs(v[c * d + big]))
                big = j;
        double sign = v[c * d + big] < 0 ? -1 : 1;
        for (int j = 0; j < d; j++)
            p->components[c * d + j] = sign * v[c * d + j];
        p->variance[c] = w[c] > 0 ? w[c] : 0;
    }
    free(cov);
    free(row);
    free(w);
    free(v);
    return PS_OK;
}

void ps_pca_transform(const struct ps_pca *p, const float *X, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < p->k; c++) {
            double s = 0;
            for (int j = 0; j < p->d; j++)
                s += (X[i * p->d + j] - p->mean[j]) * p->components[c * p->d + j];
            out[i * p->k + c] = s;
        }
}

void ps_pca_release(struct ps_pca *p)
{
    free(p->mean);
    free(p->components);
    free(p->variance);
    memset(p, 0, sizeof *p);
}
