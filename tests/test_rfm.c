/*
 * test_rfm.c - RFM quintile scores against pandas (fixture written by
 * tests/fixtures/tagrule/make_fixtures.py), the segment map, lifecycle and
 * price sensitivity on hand-computed cases.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/rfm.h"
#include "test.h"

#define RFM_FIXTURE "tests/fixtures/tagrule/rfm.csv"

/* Parses one CSV number field; empty = NaN.  Advances *p past the comma. */
static double field_num(char **p)
{
    char *s = *p, *e = strchr(s, ',');
    if (!e) e = s + strcspn(s, "\r\n");
    double v = e == s ? NAN : strtod(s, NULL);
    *p = *e == ',' ? e + 1 : e;
    return v;
}

struct rfm_row { int set; double rec, freq, mon; int r, f, m; };

static struct rfm_row *load_rfm(size_t *n)
{
    FILE *fp = fopen(RFM_FIXTURE, "r");
    CHECK(fp != NULL);
    if (!fp) { *n = 0; return NULL; }
    char line[512];
    size_t cap = 0, len = 0;
    struct rfm_row *rows = NULL;
    CHECK(fgets(line, sizeof line, fp) != NULL); /* header */
    while (fgets(line, sizeof line, fp)) {
        char *p = line;
        rows = ps_xgrow(rows, &cap, len + 1, sizeof *rows);
        struct rfm_row *r = &rows[len++];
        r->set = (int)field_num(&p);
        r->rec = field_num(&p);
        r->freq = field_num(&p);
        r->mon = field_num(&p);
        r->r = (int)field_num(&p);
        r->f = (int)field_num(&p);
        r->m = (int)field_num(&p);
    }
    fclose(fp);
    *n = len;
    return rows;
}

TEST(rfm_scores_match_pandas_qcut)
{
    size_t n = 0;
    struct rfm_row *rows = load_rfm(&n);
    CHECK(n > 700);
    int n_sets = 0, n_checked = 0, n_bad = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && rows[j].set == rows[i].set) j++;
        size_t m = j - i;
        double *rec = ps_xmalloc(m * sizeof *rec), *fr = ps_xmalloc(m * sizeof *fr),
               *mo = ps_xmalloc(m * sizeof *mo);
        struct ps_rfm_score *sc = ps_xmalloc(m * sizeof *sc);
        for (size_t k = 0; k < m; k++) {
            rec[k] = rows[i + k].rec;
            fr[k] = rows[i + k].freq;
            mo[k] = rows[i + k].mon;
        }
        struct ps_err err = {0};
        CHECK_INT(ps_rfm_score(rec, fr, mo, m, sc, &err), PS_OK);
        for (size_t k = 0; k < m; k++) {
            const struct rfm_row *w = &rows[i + k];
            n_checked++;
            if (sc[k].r != w->r || sc[k].f != w->f || sc[k].m != w->m) {
                if (n_bad++ < 10)
                    fprintf(stderr, "  set %d row %zu: got %d%d%d, pandas %d%d%d\n", w->set, k,
                            sc[k].r, sc[k].f, sc[k].m, w->r, w->f, w->m);
            }
            int want = w->r ? (int)ps_rfm_segment_of(w->r, w->f) : PS_RFM_PROSPECT;
            CHECK_INT(sc[k].segment, want);
        }
        free(rec); free(fr); free(mo); free(sc);
        n_sets++;
        i = j;
    }
    CHECK_INT(n_bad, 0);
    CHECK(n_sets >= 20);
    CHECK(n_checked == (int)n);
    free(rows);
}

TEST(rfm_segment_map)
{
    /* The common R x F map (docs/tags.md), cell by cell. */
    static const char *const want[5][5] = {
        { "lost", "hibernating", "at_risk", "at_risk", "cant_lose_them" },
        { "hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them" },
        { "about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers",
          "loyal_customers" },
        { "promising", "potential_loyalists", "potential_loyalists", "loyal_customers",
          "loyal_customers" },
        { "new_customers", "potential_loyalists", "potential_loyalists", "champions",
          "champions" },
    };
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            CHECK_STR(ps_rfm_segment_name(ps_rfm_segment_of(r, f)), want[r - 1][f - 1]);
    CHECK_INT(ps_rfm_segment_of(0, 3), PS_RFM_PROSPECT);
    CHECK_INT(ps_rfm_segment_of(3, 6), PS_RFM_PROSPECT);
    CHECK_STR(ps_rfm_segment_name(PS_RFM_PROSPECT), "prospect");
    CHECK_STR(ps_rfm_segment_label(PS_RFM_CANT_LOSE_THEM), "Can't Lose Them");
    CHECK(ps_rfm_segment_name(PS_RFM_N_SEGMENTS) == NULL);
    CHECK(ps_rfm_segment_name(-1) == NULL);
    for (int s = 0; s < PS_RFM_N_SEGMENTS; s++)
        CHECK_INT(ps_rfm_segment_parse(ps_rfm_segment_name(s)), s);
    CHECK_INT(ps_rfm_segment_parse("champion"), -1);
    CHECK_INT(ps_rfm_segment_parse(NULL), -1);
}

TEST(rfm_hand_cases)
{
    /* Ten buyers with distinct values: ranks 1..10, qcut edges at 1, 2.8,
     * 4.6, 6.4, 8.2, 10, so bins hold ranks {1,2},{3,4},{5,6},{7,8},{9,10}.
     * Row 10 never bought (NaN recency), row 11 has recency but no order. */
    double rec[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, NAN, 4 };
    double fr[12] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0 };
    double mo[12] = { 5, 5, 5, 5, 5, 5, 5, 5, 5, NAN, 0, 0 };
    struct ps_rfm_score sc[12];
    struct ps_err err = {0};
    CHECK_INT(ps_rfm_score(rec, fr, mo, 12, sc, &err), PS_OK);
    static const int want_r[10] = { 5, 5, 4, 4, 3, 3, 2, 2, 1, 1 };
    static const int want_f[10] = { 5, 5, 4, 4, 3, 3, 2, 2, 1, 1 };
    /* M: nine ties ranked by row order (first = 1), the NaN scores 1. */
    static const int want_m[10] = { 1, 1, 2, 2, 3, 4, 4, 5, 5, 1 };
    for (int i = 0; i < 10; i++) {
        CHECK_INT(sc[i].r, want_r[i]);
        CHECK_INT(sc[i].f, want_f[i]);
        CHECK_INT(sc[i].m, want_m[i]);
    }
    CHECK_INT(sc[0].segment, PS_RFM_CHAMPIONS);
    CHECK_INT(sc[9].segment, PS_RFM_LOST);
    CHECK_INT(sc[10].r, 0);
    CHECK_INT(sc[10].segment, PS_RFM_PROSPECT);
    CHECK_INT(sc[11].segment, PS_RFM_PROSPECT);

    /* A single buyer scores 3/3/3 (pandas' qcut cannot cut one value). */
    double r1 = 5, f1 = 2, m1 = 30;
    CHECK_INT(ps_rfm_score(&r1, &f1, &m1, 1, sc, &err), PS_OK);
    CHECK_INT(sc[0].r, 3);
    CHECK_INT(sc[0].f, 3);
    CHECK_INT(sc[0].m, 3);
    CHECK_INT(sc[0].segment, PS_RFM_NEED_ATTENTION);

    CHECK_INT(ps_rfm_score(NULL, NULL, NULL, 0, NULL, &err), PS_OK);
    CHECK_INT(ps_rfm_score(NULL, &f1, &m1, 1, sc, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "NULL array");
}

TEST(rfm_lifecycle_stages)
{
    struct ps_lifecycle_params p = ps_lifecycle_default_params();
    CHECK_NEAR(p.active_max_recency_days, 30, 0);
    CHECK_NEAR(p.dormant_max_recency_days, 90, 0);
    CHECK_NEAR(p.new_max_tenure_days, 30, 0);
    struct ps_err err = {0};
    CHECK_INT(ps_lifecycle_check_params(&p, &err), PS_OK);
    /* recency, frequency, tenure -> stage */
    static const struct { double r, f, t; int want; } c[] = {
        { NAN, 0, 100, PS_LIFECYCLE_PROSPECT },
        { NAN, 3, 100, PS_LIFECYCLE_PROSPECT },   /* no last purchase */
        { 5, 0, 100, PS_LIFECYCLE_PROSPECT },     /* no order */
        { 5, NAN, 100, PS_LIFECYCLE_ACTIVE },     /* unknown count: still a buyer */
        { 5, 1, 10, PS_LIFECYCLE_NEW },
        { 5, 1, 30, PS_LIFECYCLE_NEW },           /* boundary: inclusive */
        { 5, 1, 30.01, PS_LIFECYCLE_ACTIVE },
        { 5, 4, NAN, PS_LIFECYCLE_ACTIVE },       /* unknown tenure: not new */
        { 30, 2, 400, PS_LIFECYCLE_ACTIVE },      /* boundary: still active */
        { 30.5, 2, 400, PS_LIFECYCLE_DORMANT },
        { 90, 2, 400, PS_LIFECYCLE_DORMANT },
        { 90.5, 2, 400, PS_LIFECYCLE_CHURNED },
        { 35, 1, 35, PS_LIFECYCLE_DORMANT },      /* recency wins over tenure */
        { 0, 1, 0, PS_LIFECYCLE_NEW },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int got = ps_lifecycle_stage(&p, c[i].r, c[i].f, c[i].t);
        if (got != c[i].want) fprintf(stderr, "  case %zu\n", i);
        CHECK_INT(got, c[i].want);
    }
    /* Custom thresholds. */
    struct ps_lifecycle_params q = { .active_max_recency_days = 7,
                                     .dormant_max_recency_days = 14,
                                     .new_max_tenure_days = 0 };
    CHECK_INT(ps_lifecycle_check_params(&q, &err), PS_OK);
    CHECK_INT(ps_lifecycle_stage(&q, 8, 1, 100), PS_LIFECYCLE_DORMANT);
    CHECK_INT(ps_lifecycle_stage(&q, 15, 1, 100), PS_LIFECYCLE_CHURNED);
    CHECK_INT(ps_lifecycle_stage(&q, 0, 1, 1), PS_LIFECYCLE_ACTIVE);

    q.active_max_recency_days = 20;
    CHECK_INT(ps_lifecycle_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "lifecycle: \"active_max_recency_days\" (20) exceeds "
                       "\"dormant_max_recency_days\" (14)");
    q = p;
    q.new_max_tenure_days = NAN;
    CHECK_INT(ps_lifecycle_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "lifecycle: \"new_max_tenure_days\" must be a finite number >= 0, got nan");
    q = p;
    q.active_max_recency_days = -1;
    CHECK_INT(ps_lifecycle_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "\"active_max_recency_days\" must be a finite number >= 0, got -1");

    static const char *const names[] = { "prospect", "new", "active", "dormant", "churned" };
    for (int s = 0; s < PS_LIFECYCLE_N; s++) {
        CHECK_STR(ps_lifecycle_name(s), names[s]);
        CHECK_INT(ps_lifecycle_parse(names[s]), s);
    }
    CHECK(ps_lifecycle_name(PS_LIFECYCLE_N) == NULL);
    CHECK_INT(ps_lifecycle_parse("lapsed"), -1);
}

TEST(rfm_price_sensitivity)
{
    struct ps_price_params p = ps_price_default_params();
    struct ps_err err = {0};
    CHECK_INT(ps_price_check_params(&p, &err), PS_OK);
    /* price_level, discount_share, refund_rate -> level */
    static const struct { double pl, ds, rr; int want; } c[] = {
        { NAN, NAN, NAN, PS_PRICE_UNKNOWN },
        { NAN, 0.9, 0.9, PS_PRICE_UNKNOWN },     /* no price_level: unknown */
        { 0.5, NAN, NAN, PS_PRICE_HIGH },
        { 0.79, NAN, NAN, PS_PRICE_HIGH },
        { 0.8, NAN, NAN, PS_PRICE_MEDIUM },      /* boundary: medium */
        { 1.0, NAN, NAN, PS_PRICE_MEDIUM },
        { 1.25, NAN, NAN, PS_PRICE_MEDIUM },     /* boundary: medium */
        { 1.26, NAN, NAN, PS_PRICE_LOW },
        { 3.0, 0.5, NAN, PS_PRICE_MEDIUM },      /* discount hunter: one step */
        { 3.0, 0.5, 0.3, PS_PRICE_HIGH },        /* both signals: two steps */
        { 3.0, 0.49, 0.29, PS_PRICE_LOW },
        { 1.0, NAN, 0.4, PS_PRICE_HIGH },
        { 0.5, 1.0, 1.0, PS_PRICE_HIGH },        /* capped */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int got = ps_price_sensitivity(&p, c[i].pl, c[i].ds, c[i].rr);
        if (got != c[i].want) fprintf(stderr, "  case %zu\n", i);
        CHECK_INT(got, c[i].want);
    }
    struct ps_price_params q = p;
    q.high_below_level = 2;
    CHECK_INT(ps_price_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "price sensitivity: \"high_below_level\" (2) exceeds "
                       "\"low_above_level\" (1.25)");
    q = p;
    q.low_above_level = 0;
    CHECK_INT(ps_price_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "price sensitivity: \"low_above_level\" must be a finite number > 0, got 0");
    q = p;
    q.refund_rate_high = INFINITY;
    CHECK_INT(ps_price_check_params(&q, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "\"refund_rate_high\" must be a finite number >= 0, got inf");
    static const char *const names[] = { "unknown", "low", "medium", "high" };
    for (int s = 0; s < PS_PRICE_N; s++) {
        CHECK_STR(ps_price_sensitivity_name(s), names[s]);
        CHECK_INT(ps_price_sensitivity_parse(names[s]), s);
    }
    CHECK(ps_price_sensitivity_name(PS_PRICE_N) == NULL);
    CHECK_INT(ps_price_sensitivity_parse("HIGH"), -1);
}
