/*
 * uplift.c - conversion and spend lift with intervals and tests, the
 * Student t distribution from the incomplete beta function, and the Qini
 * curve (definitions in uplift.h).
 */
#include "persona/uplift.h"
#include "persona/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ps_normal_cdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

double ps_normal_quantile(double p)
{
    /* Bisection on erfc: slow but exact to the double, and called rarely. */
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (ps_normal_cdf(mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Continued fraction for I_x(a, b) by the modified Lentz method
 * (Numerical Recipes, 2nd ed., betacf). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-16;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

double ps_betainc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double bt = exp(lbt);
    /* The fraction converges fast for x < (a + 1) / (a + b + 2); use the
     * symmetry I_x(a, b) = 1 - I_{1-x}(b, a) otherwise. */
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

double ps_t_cdf(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return NAN;
    if (isinf(t))
        return t > 0 ? 1 : 0;
    /* P(T <= t) = 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2 for t > 0. */
    double x = df / (df + t * t);
    double tail = 0.5 * ps_betainc(df / 2, 0.5, x);
    return t > 0 ? 1 - tail : tail;
}

double ps_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1) || !(df > 0))
        return NAN;
    double lo = -1e6, hi = 1e6;
    for (int i = 0; i < 300 && hi - lo > 1e-13 * (1 + fabs(lo)); i++) {
        double mid = 0.5 * (lo + hi);
        if (ps_t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

void ps_group_stats(const uint8_t *converted, const double *spend, size_t n,
                    struct ps_group_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        out->conversions += converted[i] != 0;
        sum += spend[i];
    }
    out->rate = n ? (double)out->conversions / (double)n : NAN;
    out->spend_mean = n ? sum / (double)n : NAN;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (spend[i] - out->spend_mean) * (spend[i] - out->spend_mean);
    out->spend_var = n > 1 ? ss / (double)(n - 1) : NAN;
}

int ps_lift(const struct ps_group_stats *t, const struct ps_group_stats *c, struct ps_lift *out,
            struct ps_err *err)
{
    memset(out, 0, sizeof *out);
    if (t->n < 2 || c->n < 2)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "lift needs at least 2 users in each group, got "
                          "%zu treatment and %zu control", t->n, c->n);
    double nt = (double)t->n, nc = (double)c->n, pt = t->rate, pc = c->rate;
    double z95 = ps_normal_quantile(0.975);
    out->abs = pt - pc;
    double se = sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc);
    out->abs_lo = out->abs - z95 * se;
    out->abs_hi = out->abs + z95 * se;
    double pp = (double)(t->conversions + c->conversions) / (nt + nc);
    double se0 = sqrt(pp * (1 - pp) * (1 / nt + 1 / nc));
    out->z = se0 > 0 ? out->abs / se0 : NAN;
    out->p_value = se0 > 0 ? 2 * ps_normal_cdf(-fabs(out->z)) : NAN;
    if (pc > 0 && pt > 0) {
        /* Delta method on the log of the risk ratio. */
        double rr = pt / pc;
        double sl = sqrt((1 - pt) / (nt * pt) + (1 - pc) / (nc * pc));
        out->rel = rr - 1;
        out->rel_lo = rr * exp(-z95 * sl) - 1;
        out->rel_hi = rr * exp(z95 * sl) - 1;
    } else {
        out->rel = pc > 0 ? -1 : NAN;
        out->rel_lo = out->rel_hi = NAN;
    }
    double vt = t->spend_var / nt, vc = c->spend_var / nc;
    out->spend_diff = t->spend_mean - c->spend_mean;
    if (vt + vc > 0) {
        double s = sqrt(vt + vc);
        out->t = out->spend_diff / s;
        out->df = (vt + vc) * (vt + vc) / (vt * vt / (nt - 1) + vc * vc / (nc - 1));
        out->spend_p_value = 2 * ps_t_cdf(-fabs(out->t), out->df);
        double q = ps_t_quantile(0.975, out->df);
        out->spend_lo = out->spend_diff - q * s;
        out->spend_hi = out->spend_diff + q * s;
    } else {
        out->t = out->df = out->spend_p_value = out->spend_lo = out->spend_hi = NAN;
    }
    return PS_OK;
}

struct scored {
    double score;
    size_t i;
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static struct scored *sort_by_score(const double *score, size_t n)
{
    struct scored *s = ps_xmalloc((n ? n : 1) * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].score = score[i];
        s[i].i = i;
    }
    qsort(s, n, sizeof *s, cmp_scored);
    return s;
}

double ps_qini(const uint8_t *treat, const uint8_t *converted, const double *score, size_t n,
               double *qini)
{
    struct scored *s = sort_by_score(score, n);
    double nt = 0, nc = 0, yt = 0, yc = 0, area = 0;
    qini[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = s[k].i;
        if (treat[i]) {
            nt++;
            yt += converted[i] != 0;
        } else {
            nc++;
            yc += converted[i] != 0;
        }
        qini[k + 1] = nc > 0 ? yt - yc * nt / nc : yt;
    }
    /* Area between the curve and the straight line to its end point
     * (trapezoids), per user. */
    double end = n ? qini[n] : 0;
    for (size_t k = 1; k <= n; k++) {
        double line0 = end * (double)(k - 1) / (double)n, line1 = end * (double)k / (double)n;
        area += 0.5 * ((qini[k - 1] - line0) + (qini[k] - line1));
    }
    free(s);
    return n ? area / (double)n : NAN;
}

double ps_uplift_at(const uint8_t *treat, const uint8_t *converted, const double *score,
                    size_t n, double fraction)
{
    struct scored *s = sort_by_score(score, n);
    size_t top = (size_t)ceil(fraction * (double)n);
    if (top > n)
        top = n;
    double nt = 0, nc = 0, yt = 0, yc = 0;
    for (size_t k = 0; k < top; k++) {
        size_t i = s[k].i;
        if (treat[i]) {
            nt++;
            yt += converted[i] != 0;
        } else {
            nc++;
            yc += converted[i] != 0;
        }
    }
    free(s);
    return nt > 0 && nc > 0 ? yt / nt - yc / nc : NAN;
}
