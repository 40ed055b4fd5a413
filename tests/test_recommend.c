/*
 * test_recommend.c - the recommender on a hand-computed log: cosine
 * neighbours, scores, reasons, filters, cold start, and the same output
 * at any thread count.
 */
#include "test.h"
#include "persona/core.h"
#include "persona/pool.h"
#include "persona/recommend.h"
#include "persona/hash.h"
#include "persona/rng.h"
#include "persona/npy.h"

#include <stdlib.h>

/* Users A: view i0, view i1; B: purchase i0, view i1; C: view i1, cart i2;
 * D: search only (cold).  Weights view 1, cart 3, purchase 4. */
static const char LOG[] =
    "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
    "A,100,view,i0,phone,,,,,\n"
    "A,101,view,i1,phone,,,,,\n"
    "B,102,purchase,i0,phone,,,,,\n"
    "B,103,view,i1,phone,,,,,\n"
    "C,104,view,i1,phone,,,,,\n"
    "C,105,cart,i2,books,,,,,\n"
    "D,106,search,,,,,,phone,\n";

TEST(recommend_hand_computed)
{
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    const char *path = test_write_file("rec_log.csv", LOG, sizeof LOG - 1);
    CHECK_INT(ps_interactions_load_events(&x, path, &err), PS_OK);
    CHECK_INT(x.n, 6);
    CHECK_INT(x.n_skipped, 1);
    struct ps_rec_params p = ps_rec_default_params();
    p.n = 3;
    p.w_cf = 1.0;       /* the weights the arithmetic below uses */
    p.w_self = 0.1;
    p.w_popular = 0.1;
    struct ps_recommender *r;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r, &err), PS_OK);
    /* Item columns: i0 = (A 1, B 4), i1 = (A 1, B 1, C 1), i2 = (C 3).
     * sim(i0, i1) = (1*1 + 4*1) / (sqrt(17) sqrt(3)) = 5 / 7.141428 = 0.700140
     * sim(i1, i2) = (1*3) / (sqrt(3) * 3) = 0.577350;  sim(i0, i2) = 0 */
    CHECK_NEAR(ps_recommender_sim(r, 0, 1), 0.700140, 1e-6);
    CHECK_NEAR(ps_recommender_sim(r, 1, 0), 0.700140, 1e-6);
    CHECK_NEAR(ps_recommender_sim(r, 1, 2), 0.577350, 1e-6);
    CHECK_NEAR(ps_recommender_sim(r, 0, 2), 0.0, 0);
    /* User A, basket {i0 w1, i1 w1}, w_self 0.1:
     *   cf(i0) = 0.1 + 0.700140 = 0.800140 (best contribution: i1)
     *   cf(i1) = 0.1 + 0.700140 = 0.800140 (best: i0)
     *   cf(i2) = 0.577350 (from i1)
     * Popularity (buyers): i0 1, others 0 -> + 0.1 for i0.
     * Scores: i0 1.0 + 0.1 = 1.1, i1 1.0, i2 0.577350 / 0.800140 = 0.721562 */
    struct ps_rec_scratch *s = ps_rec_scratch_new(r);
    struct ps_rec_item out[3];
    char why[128];
    CHECK_INT(ps_recommend_user(r, 0, s, out), 3);
    CHECK_INT(out[0].item, 0);
    CHECK_INT(out[1].item, 1);
    CHECK_INT(out[2].item, 2);
    CHECK_NEAR(out[0].score, 1.1, 1e-6);
    CHECK_NEAR(out[1].score, 1.0, 1e-6);
    CHECK_NEAR(out[2].score, 0.721562, 1e-6);
    ps_rec_reason_text(r, &out[0], why, sizeof why);
    CHECK_STR(why, "viewed i1");
    ps_rec_reason_text(r, &out[2], why, sizeof why);
    CHECK_STR(why, "viewed i1");
    /* D is cold: popularity only; i0 first, "popular overall". */
    CHECK(ps_recommend_user(r, 3, s, out) >= 1);
    CHECK_INT(out[0].item, 0);
    ps_rec_reason_text(r, &out[0], why, sizeof why);
    CHECK_STR(why, "popular overall");
    ps_recommender_free(r);
    ps_rec_scratch_free(s);

    /* B with exclude_purchased never gets i0; category filter "books". */
    p.exclude_purchased = 1;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r, &err), PS_OK);
    s = ps_rec_scratch_new(r);
    int n = ps_recommend_user(r, 1, s, out);
    for (int i = 0; i < n; i++)
        CHECK(out[i].item != 0);
    ps_rec_scratch_free(s);
    ps_recommender_free(r);
    p.exclude_purchased = 0;
    p.category = (int32_t)ps_strmap_find(x.cats, "books", 5);
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r, &err), PS_OK);
    s = ps_rec_scratch_new(r);
    n = ps_recommend_user(r, 0, s, out);
    CHECK_INT(n, 1);
    CHECK_INT(out[0].item, 2);
    ps_rec_scratch_free(s);
    ps_recommender_free(r);
    ps_interactions_release(&x);
}

TEST(recommend_bad_input)
{
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    const char bad_ts[] = "user_id,ts,event,item_id\nA,12x,view,i0\n";
    const char *p1 = test_write_file("rec_bad_ts.csv", bad_ts, sizeof bad_ts - 1);
    CHECK_INT(ps_interactions_load_events(&x, p1, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "rec_bad_ts.csv:2: column \"ts\": expected Unix seconds, got \"12x\"");
    const char bad_ev[] = "user_id,ts,event,item_id\nA,1,teleport,i0\n";
    const char *p2 = test_write_file("rec_bad_ev.csv", bad_ev, sizeof bad_ev - 1);
    CHECK_INT(ps_interactions_load_events(&x, p2, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "column \"event\": unknown event \"teleport\"");
    const char no_col[] = "user_id,ts,item_id\nA,1,i0\n";
    const char *p3 = test_write_file("rec_no_col.csv", no_col, sizeof no_col - 1);
    CHECK_INT(ps_interactions_load_events(&x, p3, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "missing column \"event\"");
    ps_interactions_release(&x);
}

TEST(recommend_same_at_any_thread_count)
{
    /* A random log: 300 users, 120 items, 4000 events. */
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "user_id,ts,event,item_id\n");
    struct ps_rng rng;
    ps_rng_seed(&rng, 5, 0);
    static const char *const ev[] = {"view", "view", "view", "cart", "fav", "purchase"};
    for (int i = 0; i < 4000; i++) {
        int u = (int)ps_rng_below(&rng, 300);
        int it = (int)((u % 7) * 15 + ps_rng_below(&rng, 30)) % 120;
        ps_buf_printf(&b, "u%d,%d,%s,i%d\n", u, i, ev[ps_rng_below(&rng, 6)], it);
    }
    const char *path = test_write_file("rec_rand.csv", b.data, b.len);
    ps_buf_release(&b);
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    CHECK_INT(ps_interactions_load_events(&x, path, &err), PS_OK);
    struct ps_rec_params p = ps_rec_default_params();
    p.mmr_lambda = 0.7;
    size_t nu = ps_interactions_n_users(&x);
    uint32_t *users = malloc(nu * sizeof *users);
    for (size_t i = 0; i < nu; i++)
        users[i] = (uint32_t)i;
    struct ps_rec_item *o1 = calloc(nu * 10, sizeof *o1), *o3 = calloc(nu * 10, sizeof *o3);
    int *c1 = calloc(nu, sizeof *c1), *c3 = calloc(nu, sizeof *c3);
    struct ps_recommender *r1, *r3;
    struct ps_pool *pool = ps_pool_new(3);
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r1, &err), PS_OK);
    CHECK_INT(ps_recommender_build(&x, &p, pool, &r3, &err), PS_OK);
    ps_recommend_batch(r1, users, nu, NULL, o1, c1);
    ps_recommend_batch(r3, users, nu, pool, o3, c3);
    CHECK(memcmp(c1, c3, nu * sizeof *c1) == 0);
    /* Field by field: the struct has padding bytes. */
    int same = 1;
    for (size_t i = 0; i < nu * 10; i++)
        same &= o1[i].item == o3[i].item && o1[i].score == o3[i].score &&
                o1[i].reason == o3[i].reason && o1[i].reason_item == o3[i].reason_item;
    CHECK(same);
    CHECK_INT(c1[0], 10);
    ps_recommender_free(r1);
    ps_recommender_free(r3);
    ps_pool_free(pool);
    free(users);
    free(o1);
    free(o3);
    free(c1);
    free(c3);
    ps_interactions_release(&x);
}

TEST(recommend_content_vectors)
{
    /* The hand log plus item i3 that nobody touched.  Vectors (normalised
     * on load): i0 (1, 0), i1 (1, 0.1), i2 (0, 1), i3 (1, 0.05).
     * User A's basket {i0 w1, i1 w1}: user vector = i0n + i1n =
     * (1 + 1/sqrt(1.01), 0.1/sqrt(1.01)), normalised; cos with i3 =
     * u . (1, 0.05)/sqrt(1.0025) = 0.9999999923 (written out below).  i3 has no
     * cf, segment or popularity term, so its score is w_content * cos =
     * 0.5 * cos and its reason is content. */
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    const char *path = test_write_file("rec_log2.csv", LOG, sizeof LOG - 1);
    const char items[] = "item_id,title,category\ni3,new phone,phone\n";
    const char *ipath = test_write_file("rec_items2.csv", items, sizeof items - 1);
    float vec[8] = {1, 0, 1, 0.1f, 0, 1, 1, 0.05f};
    CHECK_INT(ps_npy_write_f32(test_tmp("iv.npy"), vec, 4, 2, &err), PS_OK);
    const char ids[] = "i0\ni1\ni2\ni3\n";
    test_write_file("iv.ids.txt", ids, sizeof ids - 1);
    CHECK_INT(ps_interactions_load_events(&x, path, &err), PS_OK);
    CHECK_INT(ps_interactions_load_items(&x, ipath, &err), PS_OK);
    CHECK_INT(ps_interactions_load_item_vectors(&x, test_tmp("iv.npy"), &err), PS_OK);
    struct ps_rec_params p = ps_rec_default_params();
    p.n = 4;
    struct ps_recommender *r;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r, &err), PS_OK);
    struct ps_rec_scratch *s = ps_rec_scratch_new(r);
    struct ps_rec_item out[4];
    int n = ps_recommend_user(r, 0, s, out);
    CHECK_INT(n, 4);
    double n1 = sqrt(1 + 0.01), n3 = sqrt(1 + 0.0025);
    double ux = 1 + 1 / n1, uy = 0.1 / n1, un = sqrt(ux * ux + uy * uy);
    double cos3 = (ux / un) * (1 / n3) + (uy / un) * (0.05 / n3);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (out[i].item == 3) {
            found = 1;
            CHECK_NEAR(out[i].score, 0.5 * cos3, 1e-5);
            CHECK_INT(out[i].reason, PS_REASON_CONTENT);
            char why[64];
            ps_rec_reason_text(r, &out[i], why, sizeof why);
            CHECK_STR(why, "similar to your interests");
        }
    CHECK(found);
    ps_rec_scratch_free(s);
    ps_recommender_free(r);
    /* A vectors file whose ids do not match its rows. */
    test_write_file("iv.ids.txt", "i0\ni1\n", 6);
    CHECK_INT(ps_interactions_load_item_vectors(&x, test_tmp("iv.npy"), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "2 ids for the 4 rows");
    ps_interactions_release(&x);
}

/* Mean pairwise neighbour similarity within each user's list. */
static double mean_list_sim(const struct ps_recommender *r, const struct ps_rec_item *o,
                            const int *c, size_t nu, int n)
{
    double sum = 0;
    long pairs = 0;
    for (size_t u = 0; u < nu; u++)
        for (int a = 0; a < c[u]; a++)
            for (int b = a + 1; b < c[u]; b++) {
                sum += ps_recommender_sim(r, o[u * n + a].item, o[u * n + b].item);
                pairs++;
            }
    return pairs ? sum / pairs : 0;
}

TEST(recommend_mmr_diversifies)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "user_id,ts,event,item_id\n");
    struct ps_rng rng;
    ps_rng_seed(&rng, 9, 0);
    for (int i = 0; i < 3000; i++) {
        int u = (int)ps_rng_below(&rng, 200);
        int it = (int)((u % 5) * 20 + ps_rng_below(&rng, 40)) % 100;
        ps_buf_printf(&b, "u%d,%d,view,i%d\n", u, i, it);
    }
    const char *path = test_write_file("rec_mmr.csv", b.data, b.len);
    ps_buf_release(&b);
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    CHECK_INT(ps_interactions_load_events(&x, path, &err), PS_OK);
    size_t nu = ps_interactions_n_users(&x);
    uint32_t *users = malloc(nu * sizeof *users);
    for (size_t i = 0; i < nu; i++)
        users[i] = (uint32_t)i;
    struct ps_rec_item *o0 = calloc(nu * 10, sizeof *o0), *o1 = calloc(nu * 10, sizeof *o1);
    int *c0 = calloc(nu, sizeof *c0), *c1 = calloc(nu, sizeof *c1);
    struct ps_rec_params p = ps_rec_default_params();
    struct ps_recommender *r0, *r1;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r0, &err), PS_OK);
    p.mmr_lambda = 0.3;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r1, &err), PS_OK);
    ps_recommend_batch(r0, users, nu, NULL, o0, c0);
    ps_recommend_batch(r1, users, nu, NULL, o1, c1);
    double s0 = mean_list_sim(r0, o0, c0, nu, 10), s1 = mean_list_sim(r0, o1, c1, nu, 10);
    CHECK(s1 < s0);
    if (!(s1 < s0))
        fprintf(stderr, "  mean similarity plain %.4f, mmr %.4f\n", s0, s1);
    /* The MMR list starts with the plain list's best item. */
    CHECK_INT(o1[0].item, o0[0].item);
    ps_recommender_free(r0);
    ps_recommender_free(r1);
    free(users);
    free(o0);
    free(o1);
    free(c0);
    free(c1);
    ps_interactions_release(&x);
}

static int read_matrix(const char *path, double *out, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f)
        return -1;
    while (n < max && fscanf(f, "%lf", &out[n]) == 1)
        n++;
    fclose(f);
    return n;
}

TEST(recommend_als_matches_numpy)
{
    /* tests/fixtures/apply/als_ref.py: the dense textbook solve in numpy,
     * from the same initial item factors, 3 alternations, f = 3. */
    struct ps_err err = {0};
    struct ps_interactions x;
    ps_interactions_init(&x);
    CHECK_INT(ps_interactions_load_events(&x, "tests/fixtures/apply/als_events.csv", &err), PS_OK);
    size_t nu = ps_interactions_n_users(&x), ni = ps_interactions_n_items(&x);
    CHECK_INT(nu, 12);
    CHECK_INT(ni, 8);
    double V0[24], U[36], V[24], loss[3];
    CHECK_INT(read_matrix("tests/fixtures/apply/als_init_V.txt", V0, 24), 24);
    CHECK_INT(read_matrix("tests/fixtures/apply/als_U.txt", U, 36), 36);
    CHECK_INT(read_matrix("tests/fixtures/apply/als_V.txt", V, 24), 24);
    CHECK_INT(read_matrix("tests/fixtures/apply/als_loss.txt", loss, 3), 3);
    float init[24];
    for (int i = 0; i < 24; i++)
        init[i] = (float)V0[i];
    struct ps_rec_params p = ps_rec_default_params();
    struct ps_recommender *r;
    CHECK_INT(ps_recommender_build(&x, &p, NULL, &r, &err), PS_OK);
    struct ps_als_params ap = ps_als_default_params();
    ap.factors = 3;
    ap.iters = 3;
    ap.reg = 0.1;
    ap.alpha = 10;
    struct ps_als_model m;
    double got_loss[3];
    struct ps_pool *pool = ps_pool_new(2);
    CHECK_INT(ps_als_fit(r, &ap, init, pool, &m, got_loss, &err), PS_OK);
    /* float32 factors between steps: agree to ~1e-5 relative. */
    double du = 0, dv = 0;
    for (int i = 0; i < 36; i++)
        du = fmax(du, fabs(m.U[i] - U[i]));
    for (int i = 0; i < 24; i++)
        dv = fmax(dv, fabs(m.V[i] - V[i]));
    CHECK(du < 1e-4);
    CHECK(dv < 1e-4);
    if (du >= 1e-4 || dv >= 1e-4)
        fprintf(stderr, "  max |dU| %.3g, max |dV| %.3g\n", du, dv);
    for (int i = 0; i < 3; i++)
        CHECK_REL(got_loss[i], loss[i], 1e-5);
    /* ALS never increases the objective. */
    CHECK(got_loss[1] <= got_loss[0] && got_loss[2] <= got_loss[1]);
    struct ps_rec_scratch *s = ps_rec_scratch_new(r);
    struct ps_rec_item out[10];
    int n = ps_als_recommend(r, &m, 0, s, out);
    CHECK(n > 0);
    for (int i = 1; i < n; i++)
        CHECK(out[i - 1].score >= out[i].score);
    ps_rec_scratch_free(s);
    ps_als_release(&m);
    ps_pool_free(pool);
    ps_recommender_free(r);
    ps_interactions_release(&x);
}
