/* test_segment.c - feature table, model file (round trip and hostile
 * files), fit + assign, names, minibatch.  References: sklearn fixtures in
 * tests/fixtures/segment and hand-made cases. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "persona/cluster_metrics.h"
#include "persona/core.h"
#include "persona/kmeans.h"
#include "persona/segment.h"

#define FX "tests/fixtures/segment/"

static const char *wf(const char *name, const char *text)
{
    return test_write_file(name, text, strlen(text));
}

double *segfx_values(const char *name, const char *key, size_t *n);
double *segfx_matrix(const char *name, size_t *rows, size_t *cols);
float *segfx_f32(const double *v, size_t n);

TEST(segment_table_loads_csv_and_npy)
{
    struct ps_ftable a, b;
    struct ps_err err = {0};
    CHECK_INT(ps_ftable_load(&a, FX "features_small.csv", &err), PS_OK);
    CHECK_INT(ps_ftable_load(&b, FX "features_small.npy", &err), PS_OK);
    CHECK_INT(a.n_rows, 240);
    CHECK_INT(b.n_rows, 240);
    CHECK_INT(a.n_cols, 6);
    CHECK_INT(b.n_cols, 5);
    int cat = ps_ftable_column(&a, "top_category_1");
    CHECK(cat == 5 && a.is_text[cat]);
    CHECK_STR(ps_ftable_user(&a, 7), "u,\"quoted\"");
    CHECK_STR(ps_ftable_user(&b, 7), "u,\"quoted\"");
    /* Same numbers both ways (NaN where recency_days is empty). */
    int same = 1;
    for (size_t i = 0; i < 240; i++)
        for (int j = 0; j < 5; j++) {
            float x = a.num[i * 6 + j], y = b.num[i * 5 + j];
            if (!(x == y || (isnan(x) && isnan(y))))
                same = 0;
        }
    CHECK(same);
    ps_ftable_release(&a);
    ps_ftable_release(&b);
}

TEST(segment_table_bad_input_messages)
{
    struct ps_ftable t;
    struct ps_err err = {0};
    const char *p = wf("f1.csv", "user_id,a,b\nu1,1,x\nu2,zz,y\n");
    CHECK_INT(ps_ftable_load(&t, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "f1.csv:3: column \"a\": expected a number, got \"zz\"");
    p = wf("f2.csv", "id,a\nu1,1\n");
    CHECK_INT(ps_ftable_load(&t, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "first column must be \"user_id\"");
    p = wf("f3.csv", "user_id,a\nu1,1\nu1,2\n");
    CHECK_INT(ps_ftable_load(&t, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "f3.csv:3: duplicate user id \"u1\"");
    CHECK(ps_ftable_load(&t, test_tmp("missing.csv"), &err) != PS_OK);
    /* A text column whose first value comes late: earlier rows missing. */
    p = wf("f4.csv", "user_id,c\nu1,\nu2,books\n");
    CHECK_INT(ps_ftable_load(&t, p, &err), PS_OK);
    CHECK(t.is_text[0] && t.text[0][0] == -1 && t.text[0][1] == 0);
    ps_ftable_release(&t);
}

static int fit_small(struct ps_ftable *t, struct ps_segment_result *r, const char *lang)
{
    struct ps_err err = {0};
    struct ps_segment_params p = ps_segment_default_params();
    p.k = 3;
    p.lang = lang;
    if (ps_ftable_load(t, FX "features_small.csv", &err))
        return -1;
    return ps_segment_fit(t, &p, NULL, r, &err);
}

/* The seed design (StandardScaler on three columns, k-means k=3) matches
 * sklearn: same partition, same inertia. */
TEST(segment_fit_matches_sklearn_pipeline)
{
    struct ps_ftable t;
    struct ps_segment_result r;
    size_t n, one;
    CHECK_INT(fit_small(&t, &r, "en"), PS_OK);
    double *want = segfx_values("features_small_sklearn.txt", "labels", &n);
    double *inertia = segfx_values("features_small_sklearn.txt", "inertia", &one);
    CHECK(want && inertia && n == t.n_rows);
    if (!want || !inertia)
        return;
    int32_t *wl = malloc(n * sizeof *wl);
    for (size_t i = 0; i < n; i++)
        wl[i] = (int32_t)want[i];
    CHECK_NEAR(ps_adjusted_rand(r.labels, wl, n), 1.0, 1e-12);
    CHECK_REL(r.model.inertia, inertia[0], 1e-5);
    /* Summaries: sizes add up, shares, z of the planted high spenders. */
    size_t tot = 0;
    for (int j = 0; j < r.model.k; j++)
        tot += r.seg[j].size;
    CHECK_INT(tot, 240);
    CHECK_NEAR(r.seg[0].share, 1.0 / 3, 1e-12);
    int found = 0;
    for (int j = 0; j < 3; j++)
        if (strstr(r.seg[j].name, "high-spend") && strstr(r.seg[j].name, "electronics"))
            found = 1;
    CHECK(found);
    free(wl);
    free(want);
    free(inertia);
    ps_segment_result_release(&r);
    ps_ftable_release(&t);
}

TEST(segment_names_in_chinese)
{
    struct ps_ftable t;
    struct ps_segment_result r;
    CHECK_INT(fit_small(&t, &r, "zh"), PS_OK);
    int found = 0;
    for (int j = 0; j < 3; j++)
        if (strcmp(r.seg[j].name, "高消费·爱逛·数码") == 0)
            found = 1;
    CHECK(found);
    if (!found)
        for (int j = 0; j < 3; j++)
            fprintf(stderr, "  name %d: %s\n", j, r.seg[j].name);
    ps_segment_result_release(&r);
    ps_ftable_release(&t);
}

TEST(segment_model_roundtrip_and_assign_emerging)
{
    struct ps_ftable t;
    struct ps_segment_result r;
    struct ps_err err = {0};
    CHECK_INT(fit_small(&t, &r, "en"), PS_OK);
    const char *path = test_tmp("model.psm");
    CHECK_INT(ps_segment_model_save(&r.model, path, &err), PS_OK);
    struct ps_segment_model m;
    CHECK_INT(ps_segment_model_load(&m, path, &err), PS_OK);
    CHECK_INT(m.k, 3);
    CHECK_INT(m.d, 3);
    CHECK_STR(m.columns[2], "average_stay_time");
    CHECK(memcmp(m.centers, r.model.centers, 9 * sizeof(double)) == 0);
    CHECK(memcmp(m.scaler.scale, r.model.scaler.scale, 3 * sizeof(double)) == 0);
    CHECK_STR(m.names[0], r.model.names[0]);
    int32_t *lab = malloc(t.n_rows * sizeof *lab);
    float *dist = malloc(t.n_rows * sizeof *dist);
    unsigned char *em = malloc(t.n_rows);
    CHECK_INT(ps_segment_assign(&m, &t, NULL, lab, dist, em, &err), PS_OK);
    size_t same = 0, n_em = 0;
    for (size_t i = 0; i < t.n_rows; i++) {
        same += lab[i] == r.labels[i];
        n_em += em[i];
    }
    CHECK_INT(same, t.n_rows);
    /* 99th percentile: at most ~1% of the training users lie beyond. */
    CHECK(n_em <= 3 + t.n_rows / 100);
    /* A user far from everything is emerging. */
    const char *far = wf("far.csv", "user_id,browse_count,purchase_count,average_stay_time\nnew1,5000,300,9000\nnew2,40,1,20\n");
    struct ps_ftable t2;
    CHECK_INT(ps_ftable_load(&t2, far, &err), PS_OK);
    CHECK_INT(ps_segment_assign(&m, &t2, NULL, lab, dist, em, &err), PS_OK);
    CHECK_INT(em[0], 1);
    CHECK_INT(em[1], 0);
    ps_ftable_release(&t2);
    /* Missing model column. */
    const char *lack = wf("lack.csv", "user_id,browse_count\nx,1\n");
    CHECK_INT(ps_ftable_load(&t2, lack, &err), PS_OK);
    CHECK_INT(ps_segment_assign(&m, &t2, NULL, lab, dist, em, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "lack the model's column \"purchase_count\"");
    ps_ftable_release(&t2);
    free(lab);
    free(dist);
    free(em);
    ps_segment_model_release(&m);
    ps_segment_result_release(&r);
    ps_ftable_release(&t);
}

/* Truncated, edited and hostile model files: a clear error, never a crash. */
TEST(segment_model_rejects_damaged_files)
{
    struct ps_ftable t;
    struct ps_segment_result r;
    struct ps_err err = {0};
    CHECK_INT(fit_small(&t, &r, "en"), PS_OK);
    const char *path = test_tmp("good.psm");
    CHECK_INT(ps_segment_model_save(&r.model, path, &err), PS_OK);
    size_t len;
    char *good = test_read_file(path, &len);
    struct ps_segment_model m;
    /* every truncation */
    int failures = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        const char *p = test_write_file("cut.psm", good, cut);
        if (ps_segment_model_load(&m, p, &err) == PS_OK) {
            failures++;
            ps_segment_model_release(&m);
        }
    }
    CHECK_INT(failures, 0);
    const char *p = test_write_file("cut.psm", good, len / 2);
    CHECK_INT(ps_segment_model_load(&m, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "truncated model");
    /* one flipped digit */
    char *bad = malloc(len + 1);
    memcpy(bad, good, len);
    char *c = strstr(bad, "centroid 1 ");
    c[12] = c[12] == '3' ? '4' : '3';
    p = test_write_file("flip.psm", bad, len);
    CHECK_INT(ps_segment_model_load(&m, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "checksum mismatch");
    /* wrong magic */
    p = wf("magic.psm", "GIF89a\n");
    CHECK_INT(ps_segment_model_load(&m, p, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "not a persona segment model");
    free(bad);
    free(good);
    ps_segment_result_release(&r);
    ps_ftable_release(&t);
}

/* Hostile but correctly check-summed files: counts and values validated. */
static const char *with_checksum(const char *name, const char *body);
uint64_t ps_hash64(const void *data, size_t len, uint64_t seed);

static const char *with_checksum(const char *name, const char *body)
{
    static char buf[4096];
    size_t n = strlen(body);
    snprintf(buf, sizeof buf, "%schecksum %016llx\n", body,
             (unsigned long long)ps_hash64(body, n, 0));
    return test_write_file(name, buf, strlen(buf));
}

TEST(segment_model_rejects_hostile_values)
{
    struct ps_segment_model m;
    struct ps_err err = {0};
    const char *head = "PERSONA-SEGMENT-MODEL\nversion 1\n";
    char body[2048];
    snprintf(body, sizeof body, "%sk 99999999999\nd 1\n", head);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h1.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "\"k\" must be an integer in 1..100000");
    snprintf(body, sizeof body, "PERSONA-SEGMENT-MODEL\nversion 7\n");
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h2.psm", body), &err), PS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "model version 7");
    const char *mid = "k 1\nd 1\nalgorithm lloyd\nn_init 1\nmax_iter 10\ntol 0\nseed 1\n"
                      "n_local_trials 0\nbatch_size 10\nmax_no_improvement 10\nn_train 5\n"
                      "inertia 1\nn_iter 1\nscale standard\ncolumn a\nlog1p 0\nfill 0\ncenter 0\n";
    snprintf(body, sizeof body, "%s%sscale_by 0\ncentroid 0 1\nradius99 1\nname 0 x\n", head, mid);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h3.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "scale of column 1 must be > 0");
    snprintf(body, sizeof body, "%s%sscale_by 1\ncentroid 0 nan\nradius99 1\nname 0 x\n", head, mid);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h4.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "not a finite number");
    snprintf(body, sizeof body, "%s%sscale_by 1\ncentroid 0 1 2\nradius99 1\nname 0 x\n", head, mid);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h5.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "more than 1 values");
    snprintf(body, sizeof body, "%s%sscale_by 1\ncentroid 0 1\nradius99 1\nname 0 x\n", head, mid);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h6.psm", body), &err), PS_OK);
    CHECK_STR(m.names[0], "x");
    ps_segment_model_release(&m);
    snprintf(body, sizeof body, "%s%sscale_by 1\ncentroid 0 1\nradius99 1\nname 0 x\nextra\n", head, mid);
    CHECK_INT(ps_segment_model_load(&m, with_checksum("h7.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "unexpected line");
}

/* Mini-batch on the planted clusters: near the exact optimum (sklearn's
 * MiniBatchKMeans is typically within a few percent too). */
TEST(segment_minibatch_near_exact)
{
    size_t n, d, one;
    double *Pd = segfx_matrix("planted.csv", &n, &d);
    double *want = segfx_values("planted_kmeanspp.txt", "inertia", &one);
    if (!Pd || !want) { CHECK(0); return; }
    float *P = segfx_f32(Pd, n * d);
    struct mem { const float *X; int d; } mem = {P, (int)d};
    struct ps_row_source src;
    src.n = n;
    src.d = (int)d;
    src.ctx = &mem;
    int read_mem(void *ctx, size_t first, size_t count, float *dst, struct ps_err *e);
    src.read = read_mem;
    struct ps_kmeans_params p = ps_kmeans_default_params();
    p.k = 6;
    p.n_init = 3;
    p.batch_size = 256;
    struct ps_kmeans_result r;
    struct ps_err err = {0};
    CHECK_INT(ps_kmeans_minibatch(&src, &p, NULL, 1, &r, &err), PS_OK);
    CHECK(r.inertia <= want[0] * 1.05);
    if (r.inertia > want[0] * 1.05)
        fprintf(stderr, "  minibatch inertia %.6g vs exact k-means++ (sklearn) %.6g\n", r.inertia, want[0]);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)r.distance[i] * r.distance[i];
    CHECK_REL(s, r.inertia, 1e-5);
    ps_kmeans_result_release(&r);
    free(Pd); free(want); free(P);
}

int read_mem(void *ctx, size_t first, size_t count, float *dst, struct ps_err *e)
{
    struct mem { const float *X; int d; } *m = ctx;
    (void)e;
    memcpy(dst, m->X + first * m->d, count * m->d * sizeof *dst);
    return 0;
}
