/* test_report.c - report.html from a hand-made store snapshot: escaping,
 * no external references, persona cards, heatmap colours, drift. */
#include "test.h"
#include "persona/core.h"
#include "persona/reader.h"
#include "persona/report.h"
#include "persona/store.h"

#include <stdlib.h>

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
