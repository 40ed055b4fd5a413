/* test_scaler.c - scalers against scikit-learn fixtures (tests/fixtures/segment). */
#include "test.h"

#include <stdlib.h>

#include "persona/scaler.h"

double *segfx_matrix(const char *name, size_t *rows, size_t *cols);
float *segfx_f32(const double *v, size_t n);

static void check_scaler(enum ps_scaler_kind kind, const char *want_name, const unsigned char *log1p)
{
    size_t n, d, wn, wd;
    double *Sd = segfx_matrix("scaler_in.csv", &n, &d);
    double *W = segfx_matrix(want_name, &wn, &wd);
    CHECK(Sd && W && n == wn && d == wd);
    if (!Sd || !W || n != wn || d != wd)
        return;
    float *S = segfx_f32(Sd, n * d);
    struct ps_scaler s;
    struct ps_err err = {0};
    CHECK_INT(ps_scaler_fit(&s, kind, S, n, (int)d, log1p, &err), PS_OK);
    float *out = malloc(n * d * sizeof *out);
    ps_scaler_transform(&s, S, out, n);
    double maxdiff = 0;
    for (size_t q = 0; q < n * d; q++)
        maxdiff = fmax(maxdiff, fabs(out[q] - W[q]) / fmax(1.0, fabs(W[q])));
    CHECK(maxdiff <= 1e-6);
    if (maxdiff > 1e-6)
        fprintf(stderr, "  %s: max diff %.3g\n", want_name, maxdiff);
    /* Inverse maps back to the imputed input. */
    double *dbl = malloc(n * d * sizeof *dbl), *back = malloc(n * d * sizeof *back);
    for (size_t q = 0; q < n * d; q++)
        dbl[q] = out[q];
    ps_scaler_inverse(&s, dbl, back, n);
    for (size_t q = 0; q < n * d; q++)
        if (!isnan(S[q]))
            CHECK_NEAR(back[q], S[q], 1e-4 * fmax(1, fabs(S[q])));
    ps_scaler_release(&s);
    free(Sd); free(W); free(S); free(out); free(dbl); free(back);
}

TEST(scaler_standard_matches_sklearn) { check_scaler(PS_SCALER_STANDARD, "scaler_standard.csv", NULL); }
TEST(scaler_robust_matches_sklearn) { check_scaler(PS_SCALER_ROBUST, "scaler_robust.csv", NULL); }
TEST(scaler_minmax_matches_sklearn) { check_scaler(PS_SCALER_MINMAX, "scaler_minmax.csv", NULL); }
TEST(scaler_log1p_then_standard_matches_sklearn)
{
    unsigned char lg[4] = {1, 1, 0, 0};
    check_scaler(PS_SCALER_STANDARD, "scaler_log1p_standard.csv", lg);
}

TEST(scaler_hand_cases)
{
    /* Constant column gets scale 1; population std; median fill. */
    float X[] = {1, 5, 2, 5, 3, 5, NAN, 5};
    struct ps_scaler s;
    struct ps_err err = {0};
    CHECK_INT(ps_scaler_fit(&s, PS_SCALER_STANDARD, X, 4, 2, NULL, &err), PS_OK);
    CHECK_NEAR(s.fill[0], 2.0, 0);
    CHECK_NEAR(s.center[0], 2.0, 1e-15);
    CHECK_NEAR(s.scale[0], sqrt(0.5), 1e-15);
    CHECK_NEAR(s.scale[1], 1.0, 0);
    float out[8];
    ps_scaler_transform(&s, X, out, 4);
    CHECK_NEAR(out[6], 0.0, 0);
    CHECK_NEAR(out[1], 0.0, 0);
    ps_scaler_release(&s);
    CHECK_INT(ps_scaler_kind_parse("robust"), PS_SCALER_ROBUST);
    CHECK_INT(ps_scaler_kind_parse("zscore"), -1);
    unsigned char lg[2] = {1, 0};
    float Y[] = {-2, 0, 1, 0};
    CHECK_INT(ps_scaler_fit(&s, PS_SCALER_STANDARD, Y, 2, 2, lg, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "log1p needs values above -1");
    float Z[] = {INFINITY, 1};
    CHECK_INT(ps_scaler_fit(&s, PS_SCALER_MINMAX, Z, 2, 1, NULL, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "infinite");
}
