/* test_pca.c - PCA against numpy (tests/fixtures/profile/make_pca.py). */
#include "test.h"
#include "persona/core.h"
#include "persona/pca.h"

#include <stdlib.h>

static size_t read_doubles(const char *path, double *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (!f)
        return 0;
    while (n < cap && fscanf(f, "%lf", &out[n]) == 1)
        n++;
    fclose(f);
    return n;
}

TEST(pca_matches_numpy)
{
    enum { N = 200, D = 5 };
    static double xd[N * D], comp[D * D], var[D], proj[N * 2];
    CHECK_INT(read_doubles("tests/fixtures/profile/pca_X.txt", xd, N * D), N * D);
    CHECK_INT(read_doubles("tests/fixtures/profile/pca_components.txt", comp, D * D), D * D);
    CHECK_INT(read_doubles("tests/fixtures/profile/pca_variance.txt", var, D), D);
    CHECK_INT(read_doubles("tests/fixtures/profile/pca_proj2.txt", proj, N * 2), N * 2);
    float *X = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++)
        X[i] = (float)xd[i];
    struct ps_pca p;
    struct ps_err err = {0};
    CHECK_INT(ps_pca_fit(&p, X, N, D, D, &err), PS_OK);
    double maxd = 0;
    for (int c = 0; c < D; c++) {
        CHECK_REL(p.variance[c], var[c], 1e-7);
        for (int j = 0; j < D; j++)
            maxd = fmax(maxd, fabs(p.components[c * D + j] - comp[c * D + j]));
    }
    printf("  pca: max |component - numpy| = %.3g\n", maxd);
    CHECK(maxd < 1e-7);
    double tr = 0;
    for (int c = 0; c < D; c++)
        tr += var[c];
    CHECK_REL(p.total_variance, tr, 1e-9);
    ps_pca_release(&p);

    CHECK_INT(ps_pca_fit(&p, X, N, D, 2, &err), PS_OK);
    double *Y = malloc(sizeof(double) * N * 2);
    ps_pca_transform(&p, X, N, Y);
    double maxy = 0;
    for (int i = 0; i < N * 2; i++)
        maxy = fmax(maxy, fabs(Y[i] - proj[i]));
    CHECK(maxy < 1e-5);
    free(Y);
    ps_pca_release(&p);
    free(X);
}

TEST(pca_hand_case_and_errors)
{
    /* Points on the line y = x: one component (1,1)/sqrt2 with variance
     * 2 * var(x) = 2 * 1 (x = -1, 0, 1: sample variance 1), the other 0. */
    float X[6] = {-1, -1, 0, 0, 1, 1};
    struct ps_pca p;
    struct ps_err err = {0};
    CHECK_INT(ps_pca_fit(&p, X, 3, 2, 2, &err), PS_OK);
    CHECK_NEAR(p.variance[0], 2.0, 1e-12);
    CHECK_NEAR(p.variance[1], 0.0, 1e-12);
    CHECK_NEAR(p.components[0], sqrt(0.5), 1e-12);
    CHECK_NEAR(p.components[1], sqrt(0.5), 1e-12);
    ps_pca_release(&p);
    CHECK_INT(ps_pca_fit(&p, X, 1, 2, 2, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "at least 2 rows");
    CHECK_INT(ps_pca_fit(&p, X, 3, 2, 3, &err), PS_ERR_USAGE);
}
