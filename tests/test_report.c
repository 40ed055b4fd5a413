/* test_report.c - report.html from a hand-made store snapshot: escaping,
 * no external references, persona cards, heatmap colours, drift. */
#include "test.h"
#include "persona/core.h"
#include "persona/reader.h"
#include "persona/report.h"
#include "persona/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct ps_buf b;
    ps_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ps_buf_append(&b, chunk, n);
    fclose(f);
    return b.data;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

TEST(report_from_store_snapshot)
{
    struct ps_store *s;
    struct ps_err err = {0};
    CHECK_INT(ps_store_open(&s, test_tmp("report.db"), &err), PS_OK);
    if (!s)
        return;
    int64_t r1, r2;
    CHECK_INT(ps_store_run_begin(s, "x.conf", 1, &r1, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r1, 0, "<b>bold</b> & co", 3, 0.75, "card \"zero\"",
                                   "{\"z\":{\"spend\":2.5,\"visits\":-1.0},\"tags\":{\"vip\":0.5},"
                                   "\"examples\":[\"great <phone>\"]}", &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r1, 1, "高消费数码发烧友夜间活跃用户", 1, 0.25, "card one",
                                   "{\"z\":{\"spend\":-0.5,\"visits\":null}}", &err), PS_OK);
    CHECK_INT(ps_store_topic_put(s, r1, 0, 1.0, "[\"手机\",\"battery\"]", &err), PS_OK);
    CHECK_INT(ps_store_profile_put(s, r1, "u1", 0, 1.0, NULL, NULL, "{}", &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r1, "ok", r1, 1, 0, &err), PS_OK);
    CHECK_INT(ps_store_run_begin(s, "x.conf", 1, &r2, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r2, 0, "books", 2, 1.0, "c", "{\"z\":{}}", &err), PS_OK);
    CHECK_INT(ps_store_profile_put(s, r2, "u1", 0, 1.0, NULL, NULL, "{}", &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r2, "ok", r2, 1, 0, &err), PS_OK);

    struct ps_report_params p = ps_report_default_params();
    p.title = "T<&>";
    const char *out = test_tmp("report.html");
    CHECK_INT(ps_report_write(&p, s, r1, 0, NULL, out, &err), PS_OK);
    char *h = slurp(out);
    CHECK(h != NULL);
    if (h) {
        CHECK(strncmp(h, "<!DOCTYPE html>", 15) == 0);
        CHECK_CONTAINS(h, "<title>T&lt;&amp;&gt;</title>");
        CHECK_CONTAINS(h, "&lt;b&gt;bold&lt;/b&gt; &amp; co");
        CHECK_CONTAINS(h, "card &quot;zero&quot;");
        CHECK_CONTAINS(h, "great &lt;phone&gt;");
        CHECK_CONTAINS(h, "vip 50%");
        CHECK_CONTAINS(h, "手机 · battery");
        CHECK_INT(count(h, "<div class=\"card\""), 2);
        /* z = 2.5 saturates to full red; -1.0 is half-way to blue; null is grey. */
        CHECK_CONTAINS(h, "fill=\"#ff5541\"");
        CHECK_CONTAINS(h, "fill=\"#9bbeff\"");
        CHECK_CONTAINS(h, "fill=\"#eeeeee\"");
        CHECK_CONTAINS(h, "first snapshot in this workspace");
        CHECK_INT(count(h, "<script"), 0);
        CHECK_INT(count(h, "href="), 0);
        CHECK_INT(count(h, "src="), 0);
        CHECK_INT(count(h, "url("), 0);
        /* The heatmap cuts long names at a character boundary (9 x 3 bytes). */
        CHECK_CONTAINS(h, ">1. 高消费数码发烧友夜</text>");
        CHECK_INT(ps_utf8_invalid_offset(h, strlen(h)), -1);
    }
    free(h);
    CHECK_INT(ps_report_write(&p, s, r2, r1, NULL, out, &err), PS_OK);
    h = slurp(out);
    if (h) {
        CHECK_CONTAINS(h, "Snapshot 2 against 1: 1 users in both, 0 left, 0 new; <b>0 users changed segment</b>");
        CHECK_CONTAINS(h, "<td>0. books</td><td>0. &lt;b&gt;bold&lt;/b&gt; &amp; co</td><td>3</td><td>2</td><td>-1</td>");
    }
    free(h);
    ps_store_close(s);
}

/* The Recommendations section (a stored evaluation) and the Audiences
 * section (stored audiences), present only when there is something. */
TEST(report_recommendations_audiences)
{
    struct ps_store *s;
    struct ps_err err = {0};
    CHECK_INT(ps_store_open(&s, test_tmp("report-rec.db"), &err), PS_OK);
    if (!s)
        return;
    int64_t r1;
    CHECK_INT(ps_store_run_begin(s, "x.conf", 1, &r1, &err), PS_OK);
    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r1, 0, "phones", 2, 0.5, "c", "{\"z\":{}}", &err), PS_OK);
    CHECK_INT(ps_store_segment_put(s, r1, 1, "books", 2, 0.5, "c", "{\"z\":{}}", &err), PS_OK);
    const char *users[4] = {"u1", "u2", "u3", "u4"};
    for (int i = 0; i < 4; i++)
        CHECK_INT(ps_store_profile_put(s, r1, users[i], i / 2, 1.0, NULL, NULL, "{}", &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);
    CHECK_INT(ps_store_run_end(s, r1, "ok", r1, 1, 0, &err), PS_OK);

    struct ps_report_params p = ps_report_default_params();
    const char *out = test_tmp("report-rec.html");
    CHECK_INT(ps_report_write(&p, s, r1, 0, NULL, out, &err), PS_OK);
    char *h = slurp(out);
    CHECK(h && !strstr(h, "Recommendations") && !strstr(h, "id=\"audiences\""));
    free(h);

    CHECK_INT(ps_store_begin(s, &err), PS_OK);
    struct ps_store_eval e = {1773336668, "5,10", 19427, 498, 180, 310, 2000, 0.1};
    CHECK_INT(ps_store_eval_put(s, r1, &e, &err), PS_OK);
    static const char *const m[3] = {"hybrid", "popular", "random"};
    double ndcg10[3] = {0.03, 0.02, 0.001};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(ps_store_eval_metric_put(s, r1, m[i], "precision@5", 0.1 * (i + 1), &err), PS_OK);
        CHECK_INT(ps_store_eval_metric_put(s, r1, m[i], "ndcg@10", ndcg10[i], &err), PS_OK);
        CHECK_INT(ps_store_eval_metric_put(s, r1, m[i], "novelty@10", i == 2 ? NAN : 5.5, &err),
                  PS_OK);
    }
    const char *csv = test_write_file("rep-aud.csv", "user_id,group,stratum,offer,score\n"
                                      "u1,treatment,0,,\nu2,control,0,,\nu3,treatment,1,,\n"
                                      "u4,treatment,1,,\n", 100);
    struct ps_store_audience a = {"spring <sale>", "x > 1", 0.25, "segment", 2, NULL, r1, r1};
    CHECK_INT(ps_store_audience_put(s, &a, csv, NULL, &err), PS_OK);
    CHECK_INT(ps_store_commit(s, &err), PS_OK);

    p.eval_run = r1;
    CHECK_INT(ps_report_write(&p, s, r1, 0, NULL, out, &err), PS_OK);
    h = slurp(out);
    CHECK(h != NULL);
    if (h) {
        CHECK_CONTAINS(h, "<section id=\"recommendations\"><h2>Recommendations</h2>");
        CHECK_CONTAINS(h, "trained on 19427 events of 498 users before 2026-03-12 17:31 UTC, "
                          "tested on the 310 purchases of 180 users after it; catalogue of 2000");
        CHECK_CONTAINS(h, "NDCG@10: recommender 0.0300, popularity 0.0200 (+50%), random 0.0010");
        CHECK_CONTAINS(h, "The recommender beats the popularity baseline");
        CHECK_CONTAINS(h, "<th>recommender (hybrid)</th><th>popularity</th><th>random</th></tr>");
        /* Rows by k, then in insertion order; NDCG@10 highlighted; NaN as a dash. */
        CHECK_CONTAINS(h, "<tr><td>precision@5</td><td class=\"num\">0.1000</td>"
                          "<td class=\"num\">0.2000</td><td class=\"num\">0.3000</td></tr>"
                          "<tr class=\"hl\"><td>ndcg@10</td>");
        CHECK_CONTAINS(h, "<td>novelty@10</td><td class=\"num\">5.5000</td><td class=\"num\">"
                          "5.5000</td><td class=\"num\">&ndash;</td>");
        CHECK_CONTAINS(h, "<section id=\"audiences\"><h2>Audiences</h2>");
        CHECK_CONTAINS(h, "<b>spring &lt;sale&gt;</b></td><td><code>x &gt; 1</code></td>");
        CHECK_CONTAINS(h, "<td class=\"num\">4</td><td class=\"num\">3</td><td class=\"num\">1 "
                          "(25%, by segment)</td><td>0. phones 1 / 1<br>1. books 2 / 0</td>");
        CHECK_INT(count(h, "<script"), 0);
    }
    free(h);
    ps_store_close(s);
}
