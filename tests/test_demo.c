/* test_demo.c - the demo shop: determinism, scale, personas, languages and
 * planted dirt.  The files are read back with the project's CSV reader and
 * checked against the counts in the stats (and manifest.json), computed
 * here independently: exact duplicates by comparing raw records, bad
 * fields by parsing them, invalid UTF-8 through the reader's validation. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "persona/core.h"
#include "persona/demo.h"
#include "persona/hash.h"
#include "persona/reader.h"
#include "persona/timeparse.h"

static const char *demo_dir(const char *name, long users, uint64_t seed, int dirt,
                            struct ps_demo_stats *st)
{
    static char path[4][512];
    static int slot;
    char *dir = path[slot++ % 4];
    snprintf(dir, sizeof path[0], "%s", test_tmp(name));
    struct ps_demo_params p = ps_demo_default_params();
    struct ps_err err = {0};
    p.n_users = users;
    p.seed = seed;
    p.dirt = dirt;
    p.n_items = 300;
    int rc = ps_demo_write(dir, &p, st, &err);
    CHECK_INT(rc, PS_OK);
    if (rc)
        fprintf(stderr, "  %s\n", err.msg);
    return dir;
}

static char *read_in(const char *dir, const char *file, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return test_read_file(path, len);
}

TEST(demo_same_seed_gives_identical_bytes)
{
    struct ps_demo_stats a, b, c;
    const char *d1 = demo_dir("det1", 150, 5, 1, &a);
    const char *d2 = demo_dir("det2", 150, 5, 1, &b);
    const char *d3 = demo_dir("det3", 150, 6, 1, &c);
    const char *files[] = {"events.csv", "texts.csv", "items.csv", "users.csv", "truth.csv",
                           "manifest.json"};
    for (int i = 0; i < 6; i++) {
        size_t n1, n2, n3;
        char *x = read_in(d1, files[i], &n1), *y = read_in(d2, files[i], &n2);
        char *z = read_in(d3, files[i], &n3);
        CHECK(x && y && z);
        if (x && y && z) {
            CHECK(n1 == n2 && memcmp(x, y, n1) == 0);
            if (i < 5) /* manifest.json names the seed, the tables must differ */
                CHECK(n1 != n3 || memcmp(x, z, n1) != 0);
        }
        free(x);
        free(y);
        free(z);
    }
}

/* Counts over one file, computed from its bytes. */
struct file_counts {
    long records, bad_rows, bad_utf8, duplicates, missing_required, bad_number, bad_ts,
        unknown_event, cjk_rows, latin_rows;
};

static int is_number(const char *s)
{
    char *end;
    if (!*s)
        return 1; /* missing is not a bad number */
    strtod(s, &end);
    return *end == '\0';
}

static void count_file(const char *dir, const char *file, struct file_counts *fc)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    memset(fc, 0, sizeof *fc);
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_err err = {0};
    rp.delimiter = ',';
    CHECK_INT(ps_reader_open(&r, path, &rp, &err), PS_OK);
    if (!r)
        return;
    struct ps_strmap *seen = ps_strmap_new();
    int c_user = ps_reader_column_index(r, "user_id");
    int c_ts = ps_reader_column_index(r, "ts");
    int c_event = ps_reader_column_index(r, "event");
    int c_price = ps_reader_column_index(r, "price");
    int c_rating = ps_reader_column_index(r, "rating");
    int c_text = ps_reader_column_index(r, "text");
    int c_item = ps_reader_column_index(r, "item_id");
    static const char *const canon[] = {"view", "search", "click", "cart", "fav", "purchase",
                                        "refund"};
    int rc;
    while ((rc = ps_reader_next(r)) == PS_OK || rc == PS_ERR_BAD_ROW) {
        size_t raw_len;
        const char *raw = ps_reader_raw(r, &raw_len);
        int inserted;
        fc->records++;
        ps_strmap_intern(seen, raw, raw_len, &inserted);
        if (!inserted) {
            fc->duplicates++;
            continue;
        }
        if (rc == PS_ERR_BAD_ROW) {
            if (ps_utf8_invalid_offset(raw, raw_len) >= 0)
                fc->bad_utf8++;
            else
                fc->bad_rows++;
            continue;
        }
        const char *user = ps_reader_field(r, c_user >= 0 ? c_user : c_item, NULL);
        if (!*user || (c_ts >= 0 && !*ps_reader_field(r, c_ts, NULL)) ||
            (c_event >= 0 && !*ps_reader_field(r, c_event, NULL)) ||
            (c_text >= 0 && !*ps_reader_field(r, c_text, NULL)) ||
            (c_text < 0 && c_event < 0 && c_item >= 0 && !*ps_reader_field(r, c_item, NULL))) {
            fc->missing_required++;
            continue;
        }
        if (c_ts >= 0) {
            size_t n;
            const char *t = ps_reader_field(r, c_ts, &n);
            int64_t v;
            if (ps_time_parse(t, n, 0, &v) != PS_TIME_OK)
                fc->bad_ts++;
        }
        if (c_event >= 0) {
            const char *e = ps_reader_field(r, c_event, NULL);
            int ok = 0;
            for (int i = 0; i < 7; i++)
                ok |= strcmp(e, canon[i]) == 0;
            fc->unknown_event += !ok;
        }
        if (c_price >= 0 && !is_number(ps_reader_field(r, c_price, NULL)))
            fc->bad_number++;
        if (c_rating >= 0 && !is_number(ps_reader_field(r, c_rating, NULL)))
            fc->bad_number++;
        if (c_text >= 0) {
            const unsigned char *t = (const unsigned char *)ps_reader_field(r, c_text, NULL);
            int cjk = 0, latin = 0;
            for (; *t; t++) {
                cjk |= *t >= 0xE4 && *t <= 0xE9; /* lead byte of U+4000..U+9FFF */
                latin |= (*t >= 'a' && *t <= 'z');
            }
            fc->cjk_rows += cjk;
            fc->latin_rows += latin && !cjk;
        }
    }
    CHECK_INT(rc, PS_DONE);
    ps_strmap_free(seen);
    ps_reader_close(r);
}

TEST(demo_planted_dirt_matches_the_counts)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("dirt", 400, 42, 1, &st);
    struct file_counts ev, tx, it, us;
    count_file(dir, "events.csv", &ev);
    count_file(dir, "texts.csv", &tx);
    count_file(dir, "items.csv", &it);
    count_file(dir, "users.csv", &us);

    const long *d = st.dirt[PS_DEMO_EVENTS];
    CHECK_INT(ev.records, st.rows[PS_DEMO_EVENTS]);
    CHECK_INT(ev.duplicates, d[PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(ev.bad_rows, d[PS_DEMO_DIRT_FIELD_COUNT]);
    CHECK_INT(ev.missing_required, d[PS_DEMO_DIRT_MISSING_REQUIRED]);
    CHECK_INT(ev.bad_ts, d[PS_DEMO_DIRT_BAD_TIMESTAMP]);
    CHECK_INT(ev.unknown_event, d[PS_DEMO_DIRT_UNKNOWN_EVENT]);
    CHECK_INT(ev.bad_number, d[PS_DEMO_DIRT_BAD_NUMBER]);
    CHECK_INT(ev.bad_utf8, 0);
    /* Every kind is planted at least once; duplicates are about 1%. */
    for (int k = 0; k < PS_DEMO_DIRT_BAD_UTF8; k++)
        CHECK(d[k] >= 1);
    double dup_rate = (double)d[PS_DEMO_DIRT_DUPLICATE] / (double)ev.records;
    CHECK(dup_rate > 0.008 && dup_rate < 0.012);

    d = st.dirt[PS_DEMO_TEXTS];
    CHECK_INT(tx.records, st.rows[PS_DEMO_TEXTS]);
    CHECK_INT(tx.duplicates, d[PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(tx.bad_utf8, d[PS_DEMO_DIRT_BAD_UTF8]);
    CHECK(d[PS_DEMO_DIRT_BAD_UTF8] >= 1);
    CHECK_INT(tx.bad_rows, d[PS_DEMO_DIRT_FIELD_COUNT]);
    CHECK_INT(tx.missing_required, d[PS_DEMO_DIRT_MISSING_REQUIRED]);
    CHECK_INT(tx.bad_ts, d[PS_DEMO_DIRT_BAD_TIMESTAMP]);
    CHECK_INT(tx.bad_number, d[PS_DEMO_DIRT_BAD_NUMBER]);

    CHECK_INT(it.records, st.rows[PS_DEMO_ITEMS]);
    CHECK_INT(it.records, 300 + st.dirt[PS_DEMO_ITEMS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(it.duplicates, st.dirt[PS_DEMO_ITEMS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(it.bad_rows, st.dirt[PS_DEMO_ITEMS][PS_DEMO_DIRT_FIELD_COUNT]);
    CHECK_INT(it.bad_number, st.dirt[PS_DEMO_ITEMS][PS_DEMO_DIRT_BAD_NUMBER]);
    CHECK_INT(us.records, 400 + st.dirt[PS_DEMO_USERS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(us.duplicates, st.dirt[PS_DEMO_USERS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(us.bad_rows, st.dirt[PS_DEMO_USERS][PS_DEMO_DIRT_FIELD_COUNT]);

    /* manifest.json carries the same numbers. */
    size_t n;
    char *m = read_in(dir, "manifest.json", &n);
    char want[256];
    snprintf(want, sizeof want, "\"events.csv\": {\"rows\": %ld, \"dirt\": {\"duplicate\": %ld,",
             st.rows[PS_DEMO_EVENTS], st.dirt[PS_DEMO_EVENTS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_CONTAINS(m, want);
    free(m);
}

TEST(demo_without_dirt_is_clean)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("nodirt", 200, 3, 0, &st);
    struct file_counts ev, tx;
    count_file(dir, "events.csv", &ev);
    count_file(dir, "texts.csv", &tx);
    CHECK_INT(ev.duplicates + ev.bad_rows + ev.missing_required + ev.bad_ts + ev.unknown_event +
                  ev.bad_number, 0);
    CHECK_INT(tx.duplicates + tx.bad_rows + tx.bad_utf8 + tx.missing_required + tx.bad_ts +
                  tx.bad_number, 0);
    for (int f = 0; f < PS_DEMO_N_FILES; f++)
        for (int k = 0; k < PS_DEMO_N_DIRT; k++)
            CHECK_INT(st.dirt[f][k], 0);
}

TEST(demo_rows_scale_with_users)
{
    struct ps_demo_stats a, b;
    demo_dir("scale1", 200, 9, 1, &a);
    demo_dir("scale2", 800, 9, 1, &b);
    double per_user_a = (double)a.rows[PS_DEMO_EVENTS] / 200;
    double per_user_b = (double)b.rows[PS_DEMO_EVENTS] / 800;
    /* About 50 events and 2 texts per user, whatever the size. */
    CHECK(per_user_a > 35 && per_user_a < 70);
    CHECK(per_user_b > 40 && per_user_b < 65);
    double texts_b = (double)b.rows[PS_DEMO_TEXTS] / 800;
    CHECK(texts_b > 1.2 && texts_b < 3.5);
    CHECK_INT(b.rows[PS_DEMO_USERS], 800 + b.dirt[PS_DEMO_USERS][PS_DEMO_DIRT_DUPLICATE]);
    CHECK_INT(b.rows[PS_DEMO_ITEMS], 300 + b.dirt[PS_DEMO_ITEMS][PS_DEMO_DIRT_DUPLICATE]);
}

TEST(demo_activity_scales_events_not_users)
{
    struct ps_demo_stats a, b;
    struct ps_demo_params p = ps_demo_default_params();
    struct ps_err err = {0};
    p.n_users = 300;
    p.n_items = 100;
    CHECK_INT(ps_demo_write(test_tmp("act1"), &p, &a, &err), PS_OK);
    p.activity = 3;
    CHECK_INT(ps_demo_write(test_tmp("act3"), &p, &b, &err), PS_OK);
    double ratio = (double)b.rows[PS_DEMO_EVENTS] / (double)a.rows[PS_DEMO_EVENTS];
    CHECK(ratio > 2.7 && ratio < 3.3);
    CHECK_INT(b.rows[PS_DEMO_USERS] - b.dirt[PS_DEMO_USERS][PS_DEMO_DIRT_DUPLICATE], 300);
    p.activity = 0.01;
    CHECK_INT(ps_demo_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "activity must be in 0.1..100, got 0.01");
}

TEST(demo_every_persona_present_in_truth)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("truth", 600, 11, 1, &st);
    size_t n;
    char *t = read_in(dir, "truth.csv", &n);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(strncmp(t, "user_id,persona\n", 16) == 0);
    int np = ps_demo_n_personas();
    CHECK(np >= 6);
    long lines = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        lines += t[i] == '\n';
    CHECK_INT(lines, 601);
    for (int i = 0; i < np; i++) {
        char key[64];
        long c = 0;
        snprintf(key, sizeof key, ",%s\n", ps_demo_persona(i)->name);
        for (const char *s = t; (s = strstr(s, key)); s++)
            c++;
        CHECK_INT(c, st.persona_users[i]);
        CHECK(c >= 600 / 20); /* every persona holds a real share of users */
        total += c;
    }
    CHECK_INT(total, 600);
    free(t);
}

TEST(demo_texts_are_chinese_and_english)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("texts", 300, 4, 1, &st);
    struct file_counts tx;
    count_file(dir, "texts.csv", &tx);
    long good = tx.records - tx.duplicates - tx.bad_rows - tx.bad_utf8;
    CHECK(tx.cjk_rows > good / 2);   /* about 70% of users write Chinese */
    CHECK(tx.latin_rows > good / 6); /* the others English */
    size_t n;
    char *t = read_in(dir, "texts.csv", &n);
    CHECK_CONTAINS(t, ",review,");
    CHECK_CONTAINS(t, ",inquiry,");
    free(t);
    /* Items carry both languages in the title. */
    char *it = read_in(dir, "items.csv", &n);
    CHECK_CONTAINS(it, " / ");
    CHECK_CONTAINS(it, "手机");
    CHECK_CONTAINS(it, "smartphone");
    free(it);
}

TEST(demo_timestamps_mix_formats_and_fall_in_window)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("ts", 200, 8, 0, &st);
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/events.csv", dir);
    CHECK_INT(ps_reader_open(&r, path, &rp, &err), PS_OK);
    if (!r)
        return;
    long iso = 0, unix_s = 0, unix_ms = 0, zoned = 0, out_of_window = 0;
    int64_t start = 1767225600; /* 2026-01-01T00:00:00Z */
    while (ps_reader_next(r) == PS_OK) {
        size_t n;
        const char *t = ps_reader_field(r, 1, &n);
        int64_t v;
        CHECK_INT(ps_time_parse(t, n, 0, &v), PS_TIME_OK);
        if (strchr(t, 'T'))
            iso++;
        else if (n >= 13)
            unix_ms++;
        else
            unix_s++;
        zoned += strstr(t, "+08:00") != NULL;
        out_of_window += v < start || v > start + 120 * 86400;
    }
    ps_reader_close(r);
    long all = iso + unix_s + unix_ms;
    CHECK(unix_s > all / 2 && iso > all / 4 && unix_ms > 0 && zoned > 0);
    CHECK_INT(out_of_window, 0);
}

/* Planted behaviour: dwell time, hours and price differ by persona. */
TEST(demo_personas_behave_differently)
{
    struct ps_demo_stats st;
    const char *dir = demo_dir("behave", 600, 12, 0, &st);
    size_t n;
    char *truth = read_in(dir, "truth.csv", &n);
    int np = ps_demo_n_personas();
    int *persona = calloc(601, sizeof *persona);
    /* truth.csv: U000001,name in user order. */
    const char *s = strchr(truth, '\n') + 1;
    for (int u = 0; u < 600 && *s; u++) {
        const char *comma = strchr(s, ','), *nl = strchr(s, '\n');
        for (int i = 0; i < np; i++)
            if ((size_t)(nl - comma - 1) == strlen(ps_demo_persona(i)->name) &&
                strncmp(comma + 1, ps_demo_persona(i)->name, (size_t)(nl - comma - 1)) == 0)
                persona[u] = i;
        s = nl + 1;
    }
    double dwell[16] = {0}, views[16] = {0}, night[16] = {0}, events[16] = {0};
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/events.csv", dir);
    CHECK_INT(ps_reader_open(&r, path, &rp, &err), PS_OK);
    while (r && ps_reader_next(r) == PS_OK) {
        int u = atoi(ps_reader_field(r, 0, NULL) + 1) - 1;
        int p = persona[u];
        size_t tn;
        const char *t = ps_reader_field(r, 1, &tn);
        int64_t v;
        ps_time_parse(t, tn, 0, &v);
        events[p]++;
        night[p] += (v % 86400) / 3600 < 6;
        if (strcmp(ps_reader_field(r, 2, NULL), "view") == 0) {
            dwell[p] += atof(ps_reader_field(r, 7, NULL));
            views[p]++;
        }
    }
    ps_reader_close(r);
    /* Persona 0 (tech) shops at night, persona 4 (bookworm) reads long
     * pages, persona 2 (fashionista) skims. */
    CHECK(night[0] / events[0] > 0.5);
    for (int p = 1; p < np; p++)
        CHECK(night[p] / events[p] < 0.2);
    CHECK(dwell[4] / views[4] > 5 * dwell[2] / views[2]);
    free(persona);
    free(truth);
}

TEST(demo_rejects_bad_parameters)
{
    struct ps_demo_params p = ps_demo_default_params();
    struct ps_err err = {0};
    CHECK_INT(p.n_users, 20000);
    CHECK_INT(p.n_items, 2000);
    p.n_users = 0;
    CHECK_INT(ps_demo_write(test_tmp("bad"), &p, NULL, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "users must be in 1..10000000, got 0");
    p = ps_demo_default_params();
    p.n_items = 3;
    CHECK_INT(ps_demo_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "items must be");
    /* A file where the folder should be. */
    const char *f = test_write_file("notadir", "x", 1);
    p = ps_demo_default_params();
    p.n_users = 5;
    CHECK_INT(ps_demo_write(f, &p, NULL, &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "is not a directory");
    CHECK_STR(ps_demo_dirt_name(PS_DEMO_DIRT_BAD_UTF8), "bad_utf8");
    CHECK(ps_demo_dirt_name(PS_DEMO_N_DIRT) == NULL);
    CHECK_STR(ps_demo_category_name(PS_DEMO_BOOKS), "books");
}
