/*
 * test_metrics.c - ranking metrics against hand-computed cases and the
 * independent Python reference (tests/fixtures/apply/metrics_ref.py, whose
 * NDCG is also checked against scikit-learn's ndcg_score).
 */
#include "test.h"
#include "persona/metrics.h"

#include <stdlib.h>

TEST(metrics_hand_computed)
{
    struct ps_rank_metrics m;
    /* rec = [1, 2, 3, 4, 5], rel = {2, 5, 9}, k = 5.
     * Hits at positions 1 and 4 (0-based): hits = 2.
     *   precision@5 = 2 / 5 = 0.4
     *   recall@5    = 2 / 3
     *   DCG  = 1/log2(3) + 1/log2(6) = 0.630929754 + 0.386852807 = 1.017782561
     *   IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630929754 + 0.5 = 2.130929754
     *   NDCG = 1.017782561 / 2.130929754 = 0.477623704
     *   AP   = (P@2 + P@5) / min(3, 5) = (1/2 + 2/5) / 3 = 0.9 / 3 = 0.3
     *   hit  = 1 */
    uint32_t rec[] = {1, 2, 3, 4, 5}, rel[] = {2, 5, 9};
    CHECK_INT(ps_metrics_user(rec, 5, rel, 3, 5, &m), PS_OK);
    CHECK_NEAR(m.precision, 0.4, 1e-12);
    CHECK_NEAR(m.recall, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(m.ndcg, 0.477623704, 1e-9);
    CHECK_NEAR(m.ap, 0.3, 1e-12);
    CHECK_NEAR(m.hit, 1.0, 0);

    /* Same lists at k = 2: only position 1 counts.
     *   precision@2 = 1/2, recall@2 = 1/3
     *   DCG = 1/log2(3) = 0.630929754; IDCG = 1 + 0.630929754 = 1.630929754
     *   NDCG = 0.386852807;  AP = P@2 / min(3, 2) = 0.5 / 2 = 0.25 */
    CHECK_INT(ps_metrics_user(rec, 5, rel, 3, 2, &m), PS_OK);
    CHECK_NEAR(m.precision, 0.5, 1e-12);
    CHECK_NEAR(m.recall, 1.0 / 3.0, 1e-12);
    CHECK_NEAR(m.ndcg, 0.386852807, 1e-9);
    CHECK_NEAR(m.ap, 0.25, 1e-12);

    /* A short list (2 items, k = 10) with a duplicate: rec = [7, 7], rel = {7}.
     * One hit at position 0; the duplicate at position 1 does not count.
     *   precision@10 = 1/10, recall = 1, NDCG = 1/1 = 1, AP = 1/1 = 1 */
    uint32_t rec2[] = {7, 7}, rel2[] = {7};
    CHECK_INT(ps_metrics_user(rec2, 2, rel2, 1, 10, &m), PS_OK);
    CHECK_NEAR(m.precision, 0.1, 1e-12);
    CHECK_NEAR(m.recall, 1.0, 1e-12);
    CHECK_NEAR(m.ndcg, 1.0, 1e-12);
    CHECK_NEAR(m.ap, 1.0, 1e-12);

    /* No hit; empty list.  Everything 0. */
    CHECK_INT(ps_metrics_user(NULL, 0, rel, 3, 5, &m), PS_OK);
    CHECK_NEAR(m.ndcg + m.ap + m.precision + m.recall + m.hit, 0.0, 0);

    /* No relevant item or k = 0: usage errors. */
    CHECK_INT(ps_metrics_user(rec, 5, rel, 0, 5, &m), PS_ERR_USAGE);
    CHECK_INT(ps_metrics_user(rec, 5, rel, 3, 0, &m), PS_ERR_USAGE);
}

TEST(metrics_accumulator_hand_computed)
{
    /* Catalogue of 4 items; training popularity (users) = {4, 2, 1, 0}
     * among 4 users, so p = {1, 1/2, 1/4, 1/4 (unseen counts as 1)} and
     * self-information = {0, 1, 2, 2} bits.
     * user A: rec [0, 1], rel {1}   k = 2: P = 1/2, R = 1, NDCG = (1/log2 3)/1 = 0.630929754,
     *                                       AP = (1/2)/1 = 0.5, hit 1
     * user B: rec [2, 0], rel {2, 3}: P = 1/2, R = 1/2, NDCG = 1/(1 + 0.630929754) = 0.613147193,
     *                                       AP = 1/min(2,2) = 0.5, hit 1
     * Means: P 0.5, R 0.75, NDCG 0.622038474, MAP 0.5, hit 1.
     * Coverage: items {0, 1, 2} of 4 = 0.75.
     * Novelty: pairs (0,1,2,0) -> (0 + 1 + 2 + 0) / 4 = 0.75 bits. */
    uint32_t pop[] = {4, 2, 1, 0};
    struct ps_metrics_acc a;
    struct ps_metrics_result r;
    struct ps_err err = {0};
    ps_metrics_acc_init(&a, 2, 4, pop, 4);
    uint32_t ra[] = {0, 1}, la[] = {1}, rb[] = {2, 0}, lb[] = {2, 3}, bad[] = {4};
    CHECK_INT(ps_metrics_add(&a, ra, 2, la, 1, &err), PS_OK);
    CHECK_INT(ps_metrics_add(&a, rb, 2, lb, 2, &err), PS_OK);
    CHECK_INT(ps_metrics_add(&a, bad, 1, lb, 2, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "outside the catalogue");
    ps_metrics_acc_result(&a, &r);
    CHECK_INT(r.n_users, 2);
    CHECK_NEAR(r.mean.precision, 0.5, 1e-12);
    CHECK_NEAR(r.mean.recall, 0.75, 1e-12);
    CHECK_NEAR(r.mean.ndcg, 0.622038474, 1e-9);
    CHECK_NEAR(r.mean.ap, 0.5, 1e-12);
    CHECK_NEAR(r.mean.hit, 1.0, 1e-12);
    CHECK_NEAR(r.coverage, 0.75, 1e-12);
    CHECK_NEAR(r.novelty, 0.75, 1e-12);
    ps_metrics_acc_release(&a);
}

static size_t parse_ids(char *s, uint32_t *out)
{
    size_t n = 0;
    for (char *tok = strtok(s, ";"); tok; tok = strtok(NULL, ";"))
        out[n++] = (uint32_t)strtoul(tok, NULL, 10);
    return n;
}

TEST(metrics_python_reference)
{
    FILE *f = fopen("tests/fixtures/apply/metrics_cases.csv", "r");
    FILE *fp = fopen("tests/fixtures/apply/metrics_pop.csv", "r");
    FILE *fa = fopen("tests/fixtures/apply/metrics_agg.csv", "r");
    CHECK(f && fp && fa);
    if (!f || !fp || !fa)
        return;
    char line[4096];
    uint32_t pop[30];
    int n_pop = 0;
    fgets(line, sizeof line, fp);
    while (n_pop < 30 && fgets(line, sizeof line, fp)) {
        unsigned it, c;
        if (sscanf(line, "%u,%u", &it, &c) == 2)
            pop[n_pop++] = c;
    }
    CHECK_INT(n_pop, 30);
    struct ps_metrics_acc a;
    ps_metrics_acc_init(&a, 5, 30, pop, 50);
    int n_cases = 0;
    fgets(line, sizeof line, f);
    while (fgets(line, sizeof line, f)) {
        /* case,k,rec,rel,precision,recall,ndcg,ap,hit (rec may be empty) */
        char *fields[9];
        int nf = 0;
        for (char *p = line; nf < 9;) {
            fields[nf++] = p;
            char *c = strchr(p, ',');
            if (!c)
                break;
            *c = '\0';
            p = c + 1;
        }
        CHECK_INT(nf, 9);
        if (nf != 9)
            break;
        int k = atoi(fields[1]);
        uint32_t rec[64], rel[64];
        size_t n_rec = parse_ids(fields[2], rec), n_rel = parse_ids(fields[3], rel);
        struct ps_rank_metrics m;
        CHECK_INT(ps_metrics_user(rec, n_rec, rel, n_rel, k, &m), PS_OK);
        CHECK_NEAR(m.precision, strtod(fields[4], NULL), 1e-12);
        CHECK_NEAR(m.recall, strtod(fields[5], NULL), 1e-12);
        CHECK_NEAR(m.ndcg, strtod(fields[6], NULL), 1e-12);
        CHECK_NEAR(m.ap, strtod(fields[7], NULL), 1e-12);
        CHECK_NEAR(m.hit, strtod(fields[8], NULL), 0);
        if (k == 5)
            CHECK_INT(ps_metrics_add(&a, rec, n_rec, rel, n_rel, NULL), PS_OK);
        n_cases++;
    }
    CHECK_INT(n_cases, 60);
    struct ps_metrics_result r;
    ps_metrics_acc_result(&a, &r);
    fgets(line, sizeof line, fa);
    double want[10];
    CHECK(fgets(line, sizeof line, fa) != NULL);
    CHECK_INT(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &want[0], &want[1], &want[2],
                     &want[3], &want[4], &want[5], &want[6], &want[7], &want[8], &want[9]), 10);
    CHECK_INT(r.n_users, (long)want[1]);
    CHECK_NEAR(r.mean.precision, want[3], 1e-12);
    CHECK_NEAR(r.mean.recall, want[4], 1e-12);
    CHECK_NEAR(r.mean.ndcg, want[5], 1e-12);
    CHECK_NEAR(r.mean.ap, want[6], 1e-12);
    CHECK_NEAR(r.mean.hit, want[7], 1e-12);
    CHECK_NEAR(r.coverage, want[8], 1e-12);
    CHECK_NEAR(r.novelty, want[9], 1e-12);
    ps_metrics_acc_release(&a);
    fclose(f);
    fclose(fp);
    fclose(fa);
}
