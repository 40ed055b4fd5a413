/* test_store.c - the SQLite profile store (store.h): snapshots, diff and
 * export on hand-made profiles whose differences are known. */
#include "test.h"
#include "persona/core.h"
#include "persona/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>

static void put(struct ps_store *s, int64_t run, const char *u, int seg, const char *life,
                const char *tag1, const char *tag2)
{
    struct ps_err err = {0};
    char doc[256];
    snprintf(doc, sizeof doc, "{\"user_id\":\"%s\",\"features\":{\"spend\":%d,\"top\":\"a,b\"}}", u, seg * 10);
    CHECK_INT(ps_store_profile_put(s, run, u, seg, 0.5, life, NULL, doc, &err), PS_OK);
    if (tag1)
        CHECK_INT(ps_store_tag_put(s, run, u, tag1, 1.0, &err), PS_OK);
    if (tag2)
        CHECK_INT(ps_store_tag_put(s, run, u, tag2, 1.0, &err), PS_OK);
}

TEST(store_snapshots_diff_export)
{
    struct ps_store *s;
    struct ps_err err = {0};
    const char *path = test_tmp("store.db");
    CHECK_INT(ps_store_open(&s, path, &err), PS_OK);
    if (!s)
        return;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(ps_store_db(s), "PRAGMA journal_mode", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);

    int64_t r1, r2, r3;
    CHECK_INT(ps_store_run_begin(s, "a.conf", 0x1234, &r1, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    put(s, r1, "u1", 0, "active", "category:phone", "vip");
    put(s, r1, "u2", 1, "active", "category:books", NULL);
    put(s, r1, "u3", 1, "new", NULL, NULL);
    put(s, r1, "u5", 0, NULL, NULL, NULL);
    put(s, r1, "u6", 0, NULL, NULL, NULL);
    CHECK_INT(ps_store_segment_put(s, r1, 0, "phones", 1, 1 / 3.0, "card", "{}", &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r1, 1, "books", 2, 2 / 3.0, "card", "{}", &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r1, "ok", r1, 1.0, 0, &err), PS_OK);
    /* A run that reused snapshot r1, then a failed run: neither is a new snapshot. */
    CHECK_INT(ps_store_run_begin(s, "a.conf", 0x1234, &r2, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r2, "ok", r1, 0.1, 0, &err), PS_OK);
    CHECK_INT(ps_store_snapshot_of(s, r2), r1);
    CHECK_INT(ps_store_run_begin(s, "a.conf", 0x1234, &r3, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r3, "failed", 0, 0.1, 0, &err), PS_OK);
    CHECK_INT(ps_store_snapshot_of(s, r3), 0);
    CHECK_INT(ps_store_latest_snapshot(s), r1);

    int64_t r4;
    CHECK_INT(ps_store_run_begin(s, "a.conf", 0x1234, &r4, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    /* The refit renumbered the segments: old 0 is new 1 (u5, u6 stay
     * together), old 1 is new 0 (u2).  u1 really moved (old 0 -> new 0). */
    put(s, r4, "u1", 0, "dormant", "category:phone", NULL);   /* moved, lost vip */
    put(s, r4, "u2", 0, "active", "category:books", "vip");    /* gained vip */
    put(s, r4, "u4", 0, "new", NULL, NULL);                     /* new user; u3 left */
    put(s, r4, "u5", 1, NULL, NULL, NULL);
    put(s, r4, "u6", 1, NULL, NULL, NULL);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r4, "ok", r4, 1.0, 0, &err), PS_OK);
    CHECK_INT(ps_store_latest_snapshot(s), r4);
    CHECK_INT(ps_store_previous_snapshot(s, r4), r1);

    struct ps_buf b;
    ps_buf_init(&b);
    CHECK_INT(ps_store_diff(s, r1, r4, 1, 10, &b, &err), PS_OK);
    CHECK_CONTAINS(b.data, "\"users_from\":5");
    CHECK_CONTAINS(b.data, "\"users_both\":4");
    CHECK_CONTAINS(b.data, "\"only_in_from\":1");
    CHECK_CONTAINS(b.data, "\"only_in_to\":1");
    CHECK_CONTAINS(b.data, "\"segment_matrix\":[[0,0,1],[0,1,2],[1,0,1]]");
    CHECK_CONTAINS(b.data, "\"segment_match\":[[0,1,2],[1,0,1]]");
    CHECK_CONTAINS(b.data, "\"moved_users\":1");
    CHECK_CONTAINS(b.data, "\"segment_moves\":[[\"u1\",0,0]]");
    CHECK_CONTAINS(b.data, "\"tags_gained\":[[\"vip\",1]]");
    CHECK_CONTAINS(b.data, "\"tags_lost\":[[\"vip\",1]]");
    CHECK_CONTAINS(b.data, "\"lifecycle_changes\":[[\"active\",\"dormant\",1]]");
    ps_buf_reset(&b);
    CHECK_INT(ps_store_diff(s, r1, r4, 0, 10, &b, &err), PS_OK);
    CHECK_CONTAINS(b.data, "segment matching (old -> new, by shared users): 0->1 1->0\n");
    CHECK_CONTAINS(b.data, "segment moves: 1 users\n  segment 0 -> 0: 1\n");
    CHECK_CONTAINS(b.data, "  active -> dormant: 1");
    ps_buf_release(&b);

    char *doc = NULL;
    CHECK_INT(ps_store_profile_get(s, r4, "u2", &doc, &err), PS_OK);
    CHECK_CONTAINS(doc, "\"user_id\":\"u2\"");
    free(doc);
    CHECK_INT(ps_store_profile_get(s, r4, "u3", &doc, &err), PS_DONE);

    FILE *f = fopen(test_tmp("export.csv"), "w+");
    CHECK_INT(ps_store_export(s, r1, PS_STORE_CSV, f, &err), PS_OK);
    rewind(f);
    char line[512];
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR(line, "user_id,segment,segment_name,distance,lifecycle,rfm_tier,tags,spend,top\n");
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR(line, "u1,0,phones,0.5,active,,category:phone;vip,0,\"a,b\"\n");
    fclose(f);
    ps_store_close(s);

    /* Read-only open of a missing store. */
    CHECK_INT(ps_store_open_ro(&s, test_tmp("none.db"), &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "no store at");
}

static long long q1(struct ps_store *s, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(ps_store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Evaluation metrics and audiences: what is put comes back, sizes per
 * (group, segment) are counted by hand from the CSV below. */
TEST(store_eval_and_audience)
{
    struct ps_store *s;
    struct ps_err err = {0};
    CHECK_INT(ps_store_open(&s, test_tmp("store-aud.db"), &err), PS_OK);
    if (!s)
        return;
    int64_t r1;
    CHECK_INT(ps_store_latest_run(s), 0);
    CHECK_INT(ps_store_run_begin(s, "a.conf", 1, &r1, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    put(s, r1, "u1", 0, NULL, NULL, NULL);
    put(s, r1, "u2", 0, NULL, NULL, NULL);
    put(s, r1, "u3", 1, NULL, NULL, NULL);
    put(s, r1, "u4", 1, NULL, NULL, NULL);
    struct ps_store_eval e = {1700000000, "5,10", 100, 10, 4, 6, 50, 0.5};
    CHECK_INT(ps_store_eval_put(s, r1, &e, &err), PS_OK);
    CHECK_INT(ps_store_eval_metric_put(s, r1, "hybrid", "ndcg@10", 0.25, &err), PS_OK);
    CHECK_INT(ps_store_eval_metric_put(s, r1, "random", "novelty@10", NAN, &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r1, "ok", r1, 1.0, 0, &err), PS_OK);
    CHECK_INT(ps_store_eval_exists(s, r1), 1);
    CHECK_INT(ps_store_eval_exists(s, r1 + 1), 0);
    CHECK_NEAR(ps_store_eval_metric(s, r1, "hybrid", "ndcg@10"), 0.25, 0);
    CHECK(isnan(ps_store_eval_metric(s, r1, "random", "novelty@10")));
    CHECK(isnan(ps_store_eval_metric(s, r1, "hybrid", "ndcg@5")));
    CHECK_INT(q1(s, "SELECT COUNT(*) FROM eval_metrics WHERE value IS NULL"), 1);
    CHECK_INT(ps_store_latest_run(s), r1);

    /* u9 has no profile in the snapshot: segment NULL. */
    const char *csv = test_write_file("aud.csv", "user_id,group,stratum,offer,score\n"
                                      "u1,treatment,0,vip,0.5\nu2,control,0,,\n"
                                      "u3,treatment,1,,\nu4,treatment,1,winback,2\n"
                                      "u9,control,,,\n", 128);
    struct ps_store_audience a = {"spring", "x > 1", 0.25, "segment", 2, "vip = x > 1\n", r1, r1};
    int64_t id = 0;
    CHECK_INT(ps_store_last_audience(s), 0);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    CHECK_INT(ps_store_audience_put(s, &a, csv, &id, &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(id, 1);
    CHECK_INT(ps_store_last_audience(s), 1);
    CHECK_INT(q1(s, "SELECT n_users * 10000 + n_treatment * 100 + n_control FROM audiences"), 50302);
    CHECK_INT(q1(s, "SELECT COUNT(*) FROM audience_sizes"), 4);
    CHECK_INT(q1(s, "SELECT n FROM audience_sizes WHERE grp='treatment' AND segment=1"), 2);
    CHECK_INT(q1(s, "SELECT n FROM audience_sizes WHERE grp='treatment' AND segment=0"), 1);
    CHECK_INT(q1(s, "SELECT n FROM audience_sizes WHERE grp='control' AND segment=0"), 1);
    CHECK_INT(q1(s, "SELECT n FROM audience_sizes WHERE grp='control' AND segment IS NULL"), 1);
    CHECK_INT(q1(s, "SELECT COUNT(*) FROM audience_members WHERE offer='winback' AND score=2 "
                    "AND stratum='1' AND segment=1"), 1);
    CHECK_INT(q1(s, "SELECT COUNT(*) FROM audiences WHERE where_expr='x > 1' AND holdout=0.25 "
                    "AND stratify='segment' AND min_size=2 AND offers LIKE 'vip%'"), 1);

    /* A bad group names the line; the transaction is rolled back. */
    csv = test_write_file("bad.csv", "user_id,group\nu1,treatment\nu2,maybe\n", 36);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    CHECK_INT(ps_store_audience_put(s, &a, csv, NULL, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "bad.csv:3: column \"group\": expected treatment or control, got \"maybe\"");
    ps_store_rollback(s);
    CHECK_INT(ps_store_last_audience(s), 1);
    ps_store_close(s);
}
