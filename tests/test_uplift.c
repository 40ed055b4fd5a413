/*
 * test_uplift.c - uplift statistics against scipy (tests/fixtures/apply/
 * uplift_ref.py: scipy.stats.ttest_ind, t.cdf, t.ppf, norm, special.betainc)
 * and hand-computed cases.
 */
#include "test.h"
#include "persona/uplift.h"

#include <stdlib.h>

static char *exp_text;

static double want(const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", key);
    const char *p = strstr(exp_text, pat);
    if (!p && strncmp(exp_text, pat + 1, strlen(pat + 1)) == 0)
        p = exp_text - 1;
    if (!p) {
        fprintf(stderr, "  missing expected value %s\n", key);
        test_failures++;
        return NAN;
    }
    return strtod(p + strlen(pat), NULL);
}

TEST(uplift_hand_computed)
{
    /* Treatment 30/100 converted, control 20/100.
     *   abs = 0.10; SE = sqrt(.3*.7/100 + .2*.8/100) = sqrt(.0037) = 0.060827625
     *   CI = 0.10 -+ 1.959963985 * 0.060827625 = [-0.019220, 0.219220]
     *   pooled p = 0.25; SE0 = sqrt(.25*.75*(2/100)) = 0.061237244; z = 1.632993162
     *   p-value = 2 * Phi(-1.632993162) = 0.102470434 */
    struct ps_group_stats t = {100, 30, 0.30, 0, 0}, c = {100, 20, 0.20, 0, 0};
    struct ps_lift l;
    CHECK_INT(ps_lift(&t, &c, &l, NULL), PS_OK);
    CHECK_NEAR(l.abs, 0.10, 1e-12);
    CHECK_NEAR(l.abs_lo, -0.0192204, 1e-6);
    CHECK_NEAR(l.abs_hi, 0.2192204, 1e-6);
    CHECK_NEAR(l.z, 1.632993162, 1e-8);
    CHECK_NEAR(l.p_value, 0.102470434, 1e-8);
    CHECK_NEAR(l.rel, 0.5, 1e-12);
    /* t with 1 degree of freedom is Cauchy: CDF(1) = 1/2 + atan(1)/pi = 0.75. */
    CHECK_NEAR(ps_t_cdf(1.0, 1.0), 0.75, 1e-12);
    CHECK_NEAR(ps_t_cdf(0.0, 5.0), 0.5, 1e-15);
    /* I_x(1, 1) = x. */
    CHECK_NEAR(ps_betainc(1, 1, 0.37), 0.37, 1e-14);
    struct ps_group_stats one = {1, 0, 0, 0, NAN};
    struct ps_err err = {0};
    CHECK_INT(ps_lift(&one, &c, &l, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "at least 2 users");
}

TEST(uplift_matches_scipy)
{
    exp_text = test_read_file("tests/fixtures/apply/uplift_expected.txt", NULL);
    FILE *f = fopen("tests/fixtures/apply/uplift_users.csv", "r");
    CHECK(exp_text && f);
    if (!exp_text || !f) {
        free(exp_text);
        if (f)
            fclose(f);
        return;
    }
    enum { N = 400 };
    uint8_t treat[N], conv[N], ct[N], cc[N];
    double spend[N], score[N], st[N], sc[N];
    char line[256];
    size_t n = 0, nt = 0, nc = 0;
    fgets(line, sizeof line, f);
    while (n < N && fgets(line, sizeof line, f)) {
        char g[32];
        int cv;
        CHECK_INT(sscanf(line, "%31[^,],%d,%lf,%lf", g, &cv, &spend[n], &score[n]), 4);
        treat[n] = strcmp(g, "treatment") == 0;
        conv[n] = (uint8_t)cv;
        if (treat[n]) {
            ct[nt] = conv[n];
            st[nt++] = spend[n];
        } else {
            cc[nc] = conv[n];
            sc[nc++] = spend[n];
        }
        n++;
    }
    fclose(f);
    CHECK_INT(n, N);
    struct ps_group_stats gt, gc;
    ps_group_stats(ct, st, nt, &gt);
    ps_group_stats(cc, sc, nc, &gc);
    CHECK_INT(gt.n, (long)want("n_t"));
    CHECK_INT(gc.n, (long)want("n_c"));
    CHECK_NEAR(gt.rate, want("rate_t"), 1e-14);
    CHECK_NEAR(gc.rate, want("rate_c"), 1e-14);
    CHECK_NEAR(gt.spend_mean, want("spend_mean_t"), 1e-10);
    CHECK_NEAR(gc.spend_mean, want("spend_mean_c"), 1e-10);
    struct ps_lift l;
    CHECK_INT(ps_lift(&gt, &gc, &l, NULL), PS_OK);
    static const char *const keys[] = {"abs", "abs_lo", "abs_hi", "z", "p_value", "rel", "rel_lo",
                                       "rel_hi", "t", "spend_p_value", "df", "spend_diff",
                                       "spend_lo", "spend_hi"};
    double got[] = {l.abs, l.abs_lo, l.abs_hi, l.z, l.p_value, l.rel, l.rel_lo, l.rel_hi, l.t,
                    l.spend_p_value, l.df, l.spend_diff, l.spend_lo, l.spend_hi};
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++) {
        double w = want(keys[i]);
        if (!(fabs(got[i] - w) <= 1e-9 * fmax(1, fabs(w)))) {
            fprintf(stderr, "  %s: got %.12g, scipy %.12g\n", keys[i], got[i], w);
            test_failures++;
        }
    }
    char k[64];
    for (int i = 0; i < 6; i++) {
        snprintf(k, sizeof k, "tcdf_%d_t", i);
        double tv = want(k);
        snprintf(k, sizeof k, "tcdf_%d_df", i);
        double df = want(k);
        snprintf(k, sizeof k, "tcdf_%d", i);
        CHECK_REL(ps_t_cdf(tv, df), want(k), 1e-10);
    }
    for (int i = 0; i < 4; i++) {
        double a, b, x;
        snprintf(k, sizeof k, "beta_%d_a", i);
        a = want(k);
        snprintf(k, sizeof k, "beta_%d_b", i);
        b = want(k);
        snprintf(k, sizeof k, "beta_%d_x", i);
        x = want(k);
        snprintf(k, sizeof k, "beta_%d", i);
        CHECK_REL(ps_betainc(a, b, x), want(k), 1e-10);
    }
    CHECK_NEAR(ps_t_quantile(0.975, 9), want("tq_975_df9"), 1e-10);
    double *q = malloc((N + 1) * sizeof *q);
    double coef = ps_qini(treat, conv, score, n, q);
    CHECK_NEAR(q[1], want("qini_1"), 1e-10);
    CHECK_NEAR(q[50], want("qini_50"), 1e-10);
    CHECK_NEAR(q[100], want("qini_100"), 1e-10);
    CHECK_NEAR(q[200], want("qini_200"), 1e-10);
    CHECK_NEAR(q[400], want("qini_400"), 1e-10);
    CHECK_NEAR(coef, want("qini_coef"), 1e-10);
    CHECK_NEAR(ps_uplift_at(treat, conv, score, n, 0.1), want("uplift_at_0.1"), 1e-12);
    CHECK_NEAR(ps_uplift_at(treat, conv, score, n, 0.3), want("uplift_at_0.3"), 1e-12);
    CHECK_NEAR(ps_uplift_at(treat, conv, score, n, 1.0), want("uplift_at_1"), 1e-12);
    free(q);
    free(exp_text);
    exp_text = NULL;
}
