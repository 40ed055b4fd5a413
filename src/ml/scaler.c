/*
 * scaler.c - standard / robust / min-max scaling with log1p and median
 * imputation (see scaler.h).  Column statistics in double; one pass per
 * column over a strided view, which is fine for the few dozen feature
 * columns persona deals in.
 */
#include "persona/scaler.h"
#include "persona/core.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *ps_scaler_kind_name(enum ps_scaler_kind kind)
{
    switch (kind) {
    case PS_SCALER_STANDARD: return "standard";
    case PS_SCALER_ROBUST: return "robust";
    case PS_SCALER_MINMAX: return "minmax";
    case PS_SCALER_NONE: return "none";
    }
    return "none";
}

int ps_scaler_kind_parse(const char *name)
{
    static const char *names[] = {"none", "standard", "robust", "minmax"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ps_quantile_sorted_inplace(double *v, size_t n, double q)
{
    PS_ASSERT(n > 0);
    qsort(v, n, sizeof *v, cmp_double);
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo >= n - 1)
        return v[n - 1];
    double t = pos - (double)lo, a = v[lo], b = v[lo + 1];
    /* numpy's _lerp: from the nearer end, so q=1 lands exactly on b. */
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

void ps_scaler_release(struct ps_scaler *s)
{
    free(s->log1p);
    free(s->fill);
    free(s->center);
    free(s->scale);
    memset(s, 0, sizeof *s);
}

/* The value of X[i][j] after log1p, NaN if missing or outside log1p's domain. */
static double pre(const struct ps_scaler *s, int j, float x)
{
    double v = x;
    if (s->log1p[j])
        v = v > -1.0 ? log1p(v) : NAN;
    return v;
}

int ps_scaler_fit(struct ps_scaler *s, enum ps_scaler_kind kind, const float *X,
                  size_t n, int d, const unsigned char *log1p, struct ps_err *err)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->n_features = d;
    s->log1p = ps_xcalloc((size_t)d + 1, 1);
    s->fill = ps_xcalloc((size_t)d + 1, sizeof(double));
    s->center = ps_xcalloc((size_t)d + 1, sizeof(double));
    s->scale = ps_xcalloc((size_t)d + 1, sizeof(double));
    if (log1p)
        memcpy(s->log1p, log1p, (size_t)d);
    double *v = ps_xmalloc((n ? n : 1) * sizeof *v);
    for (int j = 0; j < d; j++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            float x = X[i * (size_t)d + (size_t)j];
            if (isinf(x)) {
                free(v);
                ps_scaler_release(s);
                return ps_err_set(err, PS_ERR_BAD_INPUT, "column %d: row %zu: infinite value", j, i);
            }
            if (s->log1p[j] && !isnan(x) && x <= -1.0f) {
                free(v);
                ps_scaler_release(s);
                return ps_err_set(err, PS_ERR_BAD_INPUT,
                                  "column %d: row %zu: log1p needs values above -1, got %g", j, i, x);
            }
            double y = pre(s, j, x);
            if (!isnan(y))
                v[m++] = y;
        }
        /* Median imputation: fill in the sorted copy, then scale on the
         * imputed column (n values; the missing ones equal the median). */
        double fill = m ? ps_quantile_sorted_inplace(v, m, 0.5) : 0.0;
        s->fill[j] = fill;
        size_t n_miss = n - m;
        double center = 0, scale = 1;
        if (kind == PS_SCALER_STANDARD && n) {
            double sum = 0;
            for (size_t i = 0; i < m; i++)
                sum += v[i];
            sum += (double)n_miss * fill;
            double mean = sum / (double)n, ss = 0;
            for (size_t i = 0; i < m; i++)
                ss += (v[i] - mean) * (v[i] - mean);
            ss += (double)n_miss * (fill - mean) * (fill - mean);
            double var = ss / (double)n;
            /* sklearn's _is_constant_feature: the variance is within the
             * rounding error of its own computation. */
            double eps = DBL_EPSILON, nn = (double)n;
            double bound = nn * eps * var + (nn * mean * eps) * (nn * mean * eps);
            center = mean;
            scale = var <= bound ? 1.0 : sqrt(var);
        } else if (kind == PS_SCALER_ROBUST && n) {
            /* Quantiles of the imputed column: append the fills (v is sorted
             * and the fill is its median, so re-sorting is cheap enough). */
            double *w = ps_xmalloc(n * sizeof *w);
            memcpy(w, v, m * sizeof *w);
            for (size_t i = m; i < n; i++)
                w[i] = fill;
            double q25 = ps_quantile_sorted_inplace(w, n, 0.25);
            double q75 = ps_quantile_sorted_inplace(w, n, 0.75);
            center = ps_quantile_sorted_inplace(w, n, 0.5);
            double iqr = q75 - q25;
            scale = iqr < 10 * DBL_EPSILON ? 1.0 : iqr;
            free(w);
        } else if (kind == PS_SCALER_MINMAX && n) {
            double lo = m ? v[0] : fill, hi = m ? v[m - 1] : fill;
            if (n_miss) {
                lo = fmin(lo, fill);
                hi = fmax(hi, fill);
            }
            center = lo;
            scale = hi - lo < 10 * DBL_EPSILON ? 1.0 : hi - lo;
        }
        s->center[j] = center;
        s->scale[j] = scale;
    }
    free(v);
    return PS_OK;
}

void ps_scaler_transform(const struct ps_scaler *s, const float *in, float *out, size_t n)
{
    int d = s->n_features;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            size_t k = i * (size_t)d + (size_t)j;
            double y = pre(s, j, in[k]);
            if (isnan(y))
                y = s->fill[j];
            out[k] = (float)((y - s->center[j]) / s->scale[j]);
        }
}

void ps_scaler_inverse(const struct ps_scaler *s, const double *in, double *out, size_t n)
{
    int d = s->n_features;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            size_t k = i * (size_t)d + (size_t)j;
            double y = in[k] * s->scale[j] + s->center[j];
            out[k] = s->log1p[j] ? expm1(y) : y;
        }
}
