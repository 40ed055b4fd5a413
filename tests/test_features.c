/* test_features.c - per-user features: hand-computed cases for every
 * edge case in docs/FEATURES.md, the number parsers against strtod, a
 * fixture log against an independent pandas implementation
 * (tests/fixtures/features/make_expected.py), error messages and the
 * .npy sidecars. */
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "persona/features.h"
#include "persona/npy.h"
#include "persona/reader.h"
#include "persona/rng.h"

#define FIX "tests/fixtures/features/"
#define B 1700006400LL /* 2023-11-15 00:00:00 UTC, a Wednesday */
#define H 3600LL
#define D 86400LL

static struct ps_features_event ev(const char *user, int64_t ts, int type, const char *item,
                                   const char *cat, double price, double qty, double dwell,
                                   const char *order)
{
    struct ps_features_event e;
    e.user_id = user;
    e.user_len = strlen(user);
    e.ts = ts;
    e.type = (enum ps_features_event_type)type;
    e.item_id = item;
    e.item_len = item ? strlen(item) : 0;
    e.category = cat;
    e.category_len = cat ? strlen(cat) : 0;
    e.order_id = order;
    e.order_len = order ? strlen(order) : 0;
    e.price = price;
    e.quantity = qty;
    e.dwell_s = dwell;
    return e;
}

static int col(const char *name)
{
    for (int i = 0; i < ps_features_n_columns(); i++)
        if (strcmp(ps_features_column_name(i), name) == 0)
            return i;
    fprintf(stderr, "  no column %s\n", name);
    return 0;
}

static long row_of(const struct ps_features *f, const char *user)
{
    for (long r = 0; r < ps_features_n_users(f); r++)
        if (strcmp(ps_features_user_id(f, r, NULL), user) == 0)
            return r;
    return -1;
}

#define VAL(f, user, name) ps_features_value((f), row_of((f), (user)), col(name))
#define CHECK_EMPTY(f, user, name) CHECK(isnan(VAL(f, user, name)))
#define CHECK_V(f, user, name, want) CHECK_NEAR(VAL(f, user, name), (want), 1e-9)

static const char *top(const struct ps_features *f, const char *user, int k)
{
    const char *c = ps_features_top_category(f, row_of(f, user), k, NULL);
    return c ? c : "";
}

/* The shared hand-computed log: user a has every kind of event, b two views. */
static void add_hand_log(struct ps_features *f)
{
    const double N = NAN;
    struct ps_err err = {0};
    struct ps_features_event e[] = {
        ev("a", B + 1 * H, PS_FEATURES_VIEW, "i1", "books", 10, N, 20, NULL),
        ev("a", B + 7 * H, PS_FEATURES_VIEW, "i2", "toys", 30, N, 40, NULL),
        ev("a", B + 13 * H, PS_FEATURES_CART, "i1", "books", 10, N, N, NULL),
        ev("a", B + 19 * H, PS_FEATURES_CART, "i2", "toys", 30, N, N, NULL),
        ev("a", B + 3 * D, PS_FEATURES_PURCHASE, "i1", "books", 10, 2, N, "o1"),
        ev("a", B + 3 * D + 10, PS_FEATURES_PURCHASE, "i1", "books", 12, 1, N, "o2"),
        ev("a", B + 4 * D + 12 * H, PS_FEATURES_REFUND, "i1", "books", 12, -1, N, NULL),
        ev("a", B + 5 * D + 6 * H, PS_FEATURES_SEARCH, NULL, NULL, N, N, N, NULL),
        ev("b", B + 5, PS_FEATURES_VIEW, "i1", "books", 14, N, N, NULL),
        ev("b", B + 10, PS_FEATURES_VIEW, "i3", "books", 20, N, N, NULL),
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        CHECK_INT(ps_features_add(f, &e[i], &err), PS_OK);
}

TEST(features_hand_computed_every_column)
{
    struct ps_features_params p = ps_features_default_params();
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    add_hand_log(f);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    CHECK_INT(ps_features_n_users(f), 2);
    CHECK_STR(ps_features_user_id(f, 0, NULL), "a");
    const int64_t as_of = B + 5 * D + 6 * H; /* the latest event */
    CHECK_INT(ps_features_as_of(f), as_of);

    CHECK_V(f, "a", "browse_count", 2);
    CHECK_V(f, "a", "search_count", 1);
    CHECK_V(f, "a", "cart_count", 2);
    CHECK_V(f, "a", "fav_count", 0);
    CHECK_V(f, "a", "purchase_count", 2);
    CHECK_V(f, "a", "order_count", 2);
    CHECK_V(f, "a", "average_stay_time", 30);
    CHECK_V(f, "a", "total_spend", 10 * 2 + 12 - 12);        /* refund |12 x -1| */
    CHECK_V(f, "a", "avg_order_value", 10);
    CHECK_V(f, "a", "recency_days", (double)(as_of - (B + 3 * D + 10)) / D);
    CHECK_V(f, "a", "frequency", 2);
    CHECK_V(f, "a", "monetary", 20);
    CHECK_V(f, "a", "active_days", 4);                       /* Wed, Sat, Sun, Mon */
    CHECK_V(f, "a", "tenure_days", (double)(as_of - (B + H)) / D);
    CHECK_V(f, "a", "conversion_rate", 1);
    CHECK_V(f, "a", "cart_abandon_rate", 0.5);               /* i2 never bought */
    CHECK_V(f, "a", "repeat_purchase_rate", 1);              /* i1 in o1 and o2 */
    CHECK_STR(top(f, "a", 1), "books");
    CHECK_V(f, "a", "share_1", 5.0 / 7);
    CHECK_STR(top(f, "a", 2), "toys");
    CHECK_V(f, "a", "share_2", 2.0 / 7);
    CHECK_STR(top(f, "a", 3), "");
    CHECK_EMPTY(f, "a", "share_3");
    /* books items: i1 mean of 10,10,10,12,12,14 = 34/3, i3 = 20: median
     * 47/3; a paid 10 and 12 in books: (10 + 12) / 2 / (47/3) = 33/47. */
    CHECK_NEAR(ps_features_category_median(f, "books", 5), 47.0 / 3, 1e-12);
    CHECK_NEAR(ps_features_category_median(f, "toys", 4), 30, 1e-12);
    CHECK(isnan(ps_features_category_median(f, "shoes", 5)));
    CHECK_V(f, "a", "price_level", 33.0 / 47);
    CHECK_V(f, "a", "share_night", 3.0 / 8);
    CHECK_V(f, "a", "share_morning", 2.0 / 8);
    CHECK_V(f, "a", "share_afternoon", 2.0 / 8);
    CHECK_V(f, "a", "share_evening", 1.0 / 8);
    CHECK_V(f, "a", "weekend_share", 3.0 / 8);

    /* b: two views, nothing else. */
    CHECK_V(f, "b", "browse_count", 2);
    CHECK_V(f, "b", "order_count", 0);
    CHECK_EMPTY(f, "b", "average_stay_time");
    CHECK_V(f, "b", "total_spend", 0);
    CHECK_EMPTY(f, "b", "avg_order_value");
    CHECK_EMPTY(f, "b", "recency_days");
    CHECK_V(f, "b", "conversion_rate", 0);
    CHECK_EMPTY(f, "b", "cart_abandon_rate");
    CHECK_EMPTY(f, "b", "repeat_purchase_rate");
    CHECK_EMPTY(f, "b", "price_level");
    CHECK_V(f, "b", "share_1", 1);
    CHECK_V(f, "b", "share_night", 1);
    CHECK_V(f, "b", "weekend_share", 0);
    CHECK_V(f, "b", "tenure_days", (double)(as_of - (B + 5)) / D);
    ps_features_free(f);
}

TEST(features_as_of_before_some_events_ignores_them)
{
    struct ps_features_params p = ps_features_default_params();
    p.has_as_of = 1;
    p.as_of = B + 3 * D + 5; /* after the first purchase, before the second */
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    add_hand_log(f);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    CHECK_INT(ps_features_n_rows(f), 10);
    CHECK_INT(ps_features_n_after_as_of(f), 3);
    CHECK_INT(ps_features_as_of(f), B + 3 * D + 5);
    CHECK_V(f, "a", "purchase_count", 1);
    CHECK_V(f, "a", "search_count", 0);
    CHECK_V(f, "a", "total_spend", 20);
    CHECK_V(f, "a", "recency_days", 5.0 / D);
    CHECK_V(f, "a", "tenure_days", (double)(3 * D + 5 - H) / D);
    CHECK_V(f, "a", "repeat_purchase_rate", 0);
    CHECK_V(f, "a", "cart_abandon_rate", 0.5);
    CHECK_V(f, "a", "active_days", 2);
    CHECK_V(f, "a", "weekend_share", 1.0 / 5);
    ps_features_free(f);

    /* A user whose every event is after the as-of time gets no row. */
    p.as_of = B + 7;
    f = ps_features_new(&p);
    add_hand_log(f);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    CHECK_INT(ps_features_n_users(f), 1);
    CHECK(row_of(f, "a") < 0);
    CHECK_V(f, "b", "browse_count", 1);
    CHECK_V(f, "b", "tenure_days", 2.0 / D);
    CHECK_INT(ps_features_n_after_as_of(f), 9);
    ps_features_free(f);
}

TEST(features_edge_users)
{
    const double N = NAN;
    struct ps_features_params p = ps_features_default_params();
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    struct ps_features_event e[] = {
        /* Only a refund (quantity missing = 1) and no views. */
        ev("refund", B + 100, PS_FEATURES_REFUND, "r1", "toys", 25.5, N, N, "C1"),
        /* One event. */
        ev("single", B + 200, PS_FEATURES_FAV, NULL, NULL, N, N, 12, NULL),
        /* Purchases without order ids and without prices; no views. */
        ev("noid", B + 300, PS_FEATURES_PURCHASE, "p1", "z", N, 3, N, NULL),
        ev("noid", B + 300, PS_FEATURES_PURCHASE, "p1", "z", N, 3, N, NULL),
        ev("noid", B + 400, PS_FEATURES_PURCHASE, NULL, "z", 4, 0.5, N, NULL),
        /* A three-way tie (2 each) and a prefix/UTF-8 ordering check. */
        ev("tie", B, PS_FEATURES_VIEW, NULL, "toys", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "\xe9\xa3\x9f", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "book", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "books", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "toys", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "books", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "\xe9\xa3\x9f", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "book", N, N, N, NULL),
        ev("tie", B, PS_FEATURES_VIEW, NULL, "a", N, N, N, NULL),
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        CHECK_INT(ps_features_add(f, &e[i], &err), PS_OK);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);

    CHECK_V(f, "refund", "total_spend", -25.5);
    CHECK_V(f, "refund", "order_count", 0);
    CHECK_EMPTY(f, "refund", "avg_order_value");
    CHECK_EMPTY(f, "refund", "recency_days");
    CHECK_EMPTY(f, "refund", "conversion_rate"); /* no views */
    CHECK_EMPTY(f, "refund", "price_level");

    CHECK_V(f, "single", "fav_count", 1);
    CHECK_V(f, "single", "average_stay_time", 12);
    CHECK_V(f, "single", "active_days", 1);
    CHECK_V(f, "single", "tenure_days", (double)(B + 400 - (B + 200)) / D);
    CHECK_STR(top(f, "single", 1), "");
    CHECK_EMPTY(f, "single", "share_1");

    CHECK_V(f, "noid", "purchase_count", 3);
    CHECK_V(f, "noid", "order_count", 3);          /* each purchase its own order */
    CHECK_V(f, "noid", "total_spend", 2);          /* 4 x 0.5; unpriced add nothing */
    CHECK_V(f, "noid", "avg_order_value", 2.0 / 3);
    CHECK_V(f, "noid", "repeat_purchase_rate", 1); /* p1 bought twice */
    CHECK_V(f, "noid", "recency_days", 0);
    CHECK_EMPTY(f, "noid", "conversion_rate");
    CHECK_EMPTY(f, "noid", "price_level");         /* the priced one has no item */

    /* Ties go to the smaller category name in byte order; "book" < "books"
     * and ASCII < UTF-8 multibyte. */
    CHECK_STR(top(f, "tie", 1), "book");
    CHECK_STR(top(f, "tie", 2), "books");
    CHECK_STR(top(f, "tie", 3), "toys");
    CHECK_V(f, "tie", "share_1", 2.0 / 9);
    CHECK_V(f, "tie", "share_3", 2.0 / 9);
    ps_features_free(f);
}

TEST(features_day_boundaries_and_tz_offset)
{
    const double N = NAN;
    /* Fri 23:59:59, Sat 00:00:00, Sun 23:59:59, Mon 00:00:00 (UTC). */
    const int64_t ts[4] = {1700265599, 1700265600, 1700438399, 1700438400};
    struct ps_features_params p = ps_features_default_params();
    struct ps_err err = {0};
    for (int tz = 0; tz < 2; tz++) {
        p.tz_offset_s = tz ? 8 * 3600 : 0;
        struct ps_features *f = ps_features_new(&p);
        for (int i = 0; i < 4; i++) {
            struct ps_features_event e = ev("u", ts[i], PS_FEATURES_CLICK, NULL, NULL, N, N, N, NULL);
            CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
        }
        CHECK_INT(ps_features_finish(f, &err), PS_OK);
        if (!tz) {
            CHECK_V(f, "u", "active_days", 4);
            CHECK_V(f, "u", "share_night", 0.5);
            CHECK_V(f, "u", "share_evening", 0.5);
            CHECK_V(f, "u", "weekend_share", 0.5);
        } else {
            /* +08:00: Sat 07:59:59, Sat 08:00, Mon 07:59:59, Mon 08:00. */
            CHECK_V(f, "u", "active_days", 2);
            CHECK_V(f, "u", "share_night", 0);
            CHECK_V(f, "u", "share_morning", 1);
            CHECK_V(f, "u", "weekend_share", 0.5);
        }
        CHECK_V(f, "u", "tenure_days", (double)(ts[3] - ts[0]) / D);
        ps_features_free(f);
    }
    /* Before 1970: floor division keeps days and weekdays right.
     * -1 is 1969-12-31 23:59:59, a Wednesday evening. */
    p.tz_offset_s = 0;
    struct ps_features *f = ps_features_new(&p);
    struct ps_features_event e = ev("old", -1, PS_FEATURES_VIEW, NULL, NULL, N, N, N, NULL);
    CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    CHECK_V(f, "old", "share_evening", 1);
    CHECK_V(f, "old", "weekend_share", 0);
    ps_features_free(f);
}

TEST(features_parse_numbers)
{
    int64_t i;
    CHECK_INT(ps_features_parse_i64("1700000000", 10, &i), 0);
    CHECK_INT(i, 1700000000);
    CHECK_INT(ps_features_parse_i64("-86400", 6, &i), 0);
    CHECK_INT(i, -86400);
    CHECK_INT(ps_features_parse_i64("9223372036854775807", 19, &i), 0);
    CHECK(i == INT64_MAX);
    CHECK_INT(ps_features_parse_i64("-9223372036854775808", 20, &i), 0);
    CHECK(i == INT64_MIN);
    CHECK_INT(ps_features_parse_i64("9223372036854775808", 19, &i), -1);
    static const char *bad_i[] = {"", "-", "+", "1.0", "1e9", " 1", "1 ", "0x10", "12a"};
    for (size_t k = 0; k < sizeof bad_i / sizeof bad_i[0]; k++)
        CHECK_INT(ps_features_parse_i64(bad_i[k], strlen(bad_i[k]), &i), -1);

    double d;
    static const char *bad_d[] = {"", "-", ".", "e5", "1e", "1e+", "inf", "nan", "NaN",
                                  "0x1p3", " 1", "1 ", "1.2.3", "1,5", "--1", "1e5x", "+-1"};
    for (size_t k = 0; k < sizeof bad_d / sizeof bad_d[0]; k++)
        CHECK_INT(ps_features_parse_f64(bad_d[k], strlen(bad_d[k]), &d), -1);
    CHECK_INT(ps_features_parse_f64("1e999", 5, &d), -1); /* overflow */
    static const char *good[] = {"0", "-0", "12.5", ".5", "5.", "+3", "0.1", "0.30000000000000004",
                                 "123456789012345678901234567890", "1e-320", "2.5E3",
                                 "9007199254740993", "0.000000000000000000000000001",
                                 "99999999999999999999.5", "4.35", "1.7976931348623157e308"};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        CHECK_INT(ps_features_parse_f64(good[k], strlen(good[k]), &d), 0);
        double want = strtod(good[k], NULL);
        if (memcmp(&d, &want, sizeof d) != 0) {
            test_failures++;
            fprintf(stderr, "  parse_f64(\"%s\") = %.17g, strtod = %.17g\n", good[k], d, want);
        }
    }

    /* Random decimals (the fast path) and random exponent forms must give
     * exactly strtod's double. */
    struct ps_rng r;
    ps_rng_seed(&r, 42, 0);
    char buf[64];
    int mismatches = 0;
    for (int k = 0; k < 200000; k++) {
        uint64_t m = ps_rng_u64(&r) >> (ps_rng_u64(&r) % 64);
        int frac = (int)(ps_rng_u64(&r) % 24);
        int n = snprintf(buf, sizeof buf, "%s%llu", (k & 1) ? "-" : "", (unsigned long long)m);
        if (frac && frac < n - 1) { /* insert a decimal point */
            memmove(buf + n - frac + 1, buf + n - frac, (size_t)frac + 1);
            buf[n - frac] = '.';
            n++;
        }
        if (k % 7 == 0)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "e%d", (int)(ps_rng_u64(&r) % 40) - 20);
        if (ps_features_parse_f64(buf, (size_t)n, &d) != 0 ||
            d != strtod(buf, NULL) || signbit(d) != signbit(strtod(buf, NULL))) {
            if (mismatches++ < 5)
                fprintf(stderr, "  parse_f64(\"%s\") = %.17g, strtod = %.17g\n", buf, d,
                        strtod(buf, NULL));
        }
    }
    CHECK_INT(mismatches, 0);
}

TEST(features_event_names)
{
    static const char *names[] = {"view", "search", "click", "cart", "fav", "purchase", "refund"};
    for (int i = 0; i < PS_FEATURES_N; i++) {
        CHECK_INT(ps_features_event_parse(names[i], strlen(names[i])), i);
        CHECK_STR(ps_features_event_name(i), names[i]);
    }
    CHECK_INT(ps_features_event_parse("View", 4), -1);
    CHECK_INT(ps_features_event_parse("buy", 3), -1);
    CHECK_INT(ps_features_event_parse("", 0), -1);
    CHECK(ps_features_event_name(PS_FEATURES_N) == NULL);
    CHECK_INT(ps_features_n_columns(), 29);
    CHECK_INT(ps_features_n_numeric(), 26);
}

TEST(features_add_rejects_bad_events)
{
    struct ps_features_params p = ps_features_default_params();
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    struct ps_features_event e = ev("", B, PS_FEATURES_VIEW, NULL, NULL, NAN, NAN, NAN, NULL);
    CHECK_INT(ps_features_add(f, &e, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "without a user id");
    e = ev("u", PS_FEATURES_TS_LIMIT, PS_FEATURES_VIEW, NULL, NULL, NAN, NAN, NAN, NULL);
    CHECK_INT(ps_features_add(f, &e, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "timestamp 100000000000 is out of range");
    e = ev("u", B, PS_FEATURES_VIEW, NULL, NULL, NAN, NAN, -1, NULL);
    CHECK_INT(ps_features_add(f, &e, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "negative dwell time");
    p.has_as_of = 1;
    p.as_of = -PS_FEATURES_TS_LIMIT;
    CHECK_INT(ps_features_check_params(&p, 0, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "as-of time");
    p.has_as_of = 0;
    p.tz_offset_s = 15 * 3600;
    CHECK_INT(ps_features_check_params(&p, 0, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "time zone offset");
    p = ps_features_default_params();
    p.events_path = "x.csv";
    CHECK_INT(ps_features_check_params(&p, 1, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "no output");
    ps_features_free(f);
}

/* ---- file input ---------------------------------------------------------- */

/* Runs a file through the handle; returns the status and leaves the handle. */
static int features_of_file(const char *path, struct ps_features **out, struct ps_err *err)
{
    struct ps_features_params p = ps_features_default_params();
    *out = ps_features_new(&p);
    int rc = ps_features_add_file(*out, path, err);
    if (rc == PS_OK)
        rc = ps_features_finish(*out, err);
    return rc;
}

TEST(features_fixture_matches_pandas)
{
    struct ps_features *f;
    struct ps_err err = {0};
    int rc = features_of_file(FIX "events.csv", &f, &err);
    CHECK_INT(rc, PS_OK);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        ps_features_free(f);
        return;
    }
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r;
    CHECK_INT(ps_reader_open(&r, FIX "expected.csv", &rp, &err), PS_OK);
    if (!r) {
        ps_features_free(f);
        return;
    }
    CHECK_INT(ps_reader_n_columns(r), 1 + ps_features_n_columns());
    for (int c = 0; c < ps_features_n_columns(); c++)
        CHECK_STR(ps_reader_column_name(r, c + 1), ps_features_column_name(c));
    long row = 0, n_checked = 0;
    double max_rel = 0;
    while (ps_reader_next(r) == PS_OK) {
        if (row >= ps_features_n_users(f)) {
            row++;
            continue;
        }
        CHECK_STR(ps_features_user_id(f, row, NULL), ps_reader_field(r, 0, NULL));
        for (int c = 0; c < ps_features_n_columns(); c++) {
            size_t len;
            const char *want = ps_reader_field(r, c + 1, &len);
            if (!ps_features_column_is_numeric(c)) {
                const char *got = ps_features_top_category(
                    f, row, c == col("top_category_1") ? 1 : c == col("top_category_2") ? 2 : 3,
                    NULL);
                CHECK_STR(got ? got : "", want);
                continue;
            }
            double got = ps_features_value(f, row, c);
            if (len == 0) {
                if (!isnan(got)) {
                    test_failures++;
                    fprintf(stderr, "  %s %s: got %.17g, pandas empty\n",
                            ps_features_user_id(f, row, NULL), ps_features_column_name(c), got);
                }
                continue;
            }
            double w = strtod(want, NULL);
            double rel = fabs(got - w) / fmax(fabs(w), 1.0);
            if (!(rel <= 1e-9)) {
                test_failures++;
                fprintf(stderr, "  %s %s: got %.17g, pandas %s\n",
                        ps_features_user_id(f, row, NULL), ps_features_column_name(c), got, want);
            } else if (rel > max_rel) {
                max_rel = rel;
            }
            n_checked++;
        }
        row++;
    }
    CHECK_INT(row, ps_features_n_users(f));
    CHECK(n_checked > 1000);
    printf("  features vs pandas: %ld users, %ld values, max rel diff %.3g\n", row, n_checked,
           max_rel);
    ps_reader_close(r);
    ps_features_free(f);
}

static void expect_file_error(const char *name, const char *text, const char *msg)
{
    struct ps_features *f;
    struct ps_err err = {0};
    const char *path = test_write_file(name, text, strlen(text));
    int rc = features_of_file(path, &f, &err);
    CHECK(rc != PS_OK);
    CHECK_CONTAINS(err.msg, msg);
    ps_features_free(f);
}

TEST(features_file_errors_name_line_and_column)
{
    const char *hdr = "user_id,ts,event,price,dwell_s\n";
    char buf[256];
#define BAD(name, body, msg) (snprintf(buf, sizeof buf, "%s%s", hdr, body), \
                              expect_file_error(name, buf, msg))
    BAD("ts.csv", "u,1,view,,\nu,abc,view,,\n", "ts.csv:3: column \"ts\": expected integer Unix seconds, got \"abc\"");
    BAD("ts2.csv", "u,1.5,view,,\n", "ts2.csv:2: column \"ts\"");
    BAD("ts3.csv", "u,1,view,,\nu,100000000000,view,,\n", "ts3.csv:3: column \"ts\": Unix seconds out of range (|ts| < 1e11), got \"100000000000\"");
    BAD("ts4.csv", "u,-9223372036854775808,view,,\n", "ts4.csv:2: column \"ts\"");
    BAD("ev.csv", "u,1,view,,\nu,2,buy,,\n", "ev.csv:3: column \"event\": expected view, search");
    BAD("price.csv", "u,1,purchase,12;5,\n", "price.csv:2: column \"price\": expected a number, got \"12;5\"");
    BAD("inf.csv", "u,1,purchase,inf,\n", "column \"price\": expected a number");
    BAD("dwell.csv", "u,1,view,,-3\n", "dwell.csv:2: column \"dwell_s\": expected a non-negative");
    BAD("user.csv", "u,1,view,,\n,2,view,,\n", "user.csv:3: column \"user_id\": missing value");
#undef BAD
    expect_file_error("nots.csv", "user_id,event\nu,view\n", "nots.csv: missing column \"ts\"");
    struct ps_features *f;
    struct ps_err err = {0};
    CHECK(features_of_file(test_tmp("absent.csv"), &f, &err) != PS_OK);
    CHECK_CONTAINS(err.msg, "absent.csv");
    ps_features_free(f);
}

TEST(features_file_columns_any_order_optional_missing)
{
    /* Only the required columns, in another order, plus an unknown one. */
    const char *text = "event,extra,user_id,ts\nview,x,u2,100\npurchase,y,u1,200\nview,z,u1,86500\n";
    struct ps_features *f;
    struct ps_err err = {0};
    const char *path = test_write_file("min.csv", text, strlen(text));
    int rc = features_of_file(path, &f, &err);
    CHECK_INT(rc, PS_OK);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        ps_features_free(f);
        return;
    }
    CHECK_INT(ps_features_n_users(f), 2);
    CHECK_STR(ps_features_user_id(f, 0, NULL), "u1");
    CHECK_V(f, "u1", "order_count", 1);
    CHECK_V(f, "u1", "active_days", 2);
    CHECK_V(f, "u1", "recency_days", 86300.0 / D);
    CHECK_V(f, "u1", "total_spend", 0);
    CHECK_EMPTY(f, "u1", "price_level");
    CHECK_V(f, "u2", "tenure_days", 86400.0 / D);
    ps_features_free(f);

    /* Purchases without order ids are orders of their own, also when
     * they arrive together (the file path adds events in batches). */
    text = "user_id,ts,event,item_id,order_id\nu,1,purchase,i,\nu,2,purchase,i,\n"
           "u,3,purchase,j,o\nu,4,purchase,j,o\nv,5,purchase,j,o\n";
    path = test_write_file("noid.csv", text, strlen(text));
    CHECK_INT(features_of_file(path, &f, &err), PS_OK);
    CHECK_V(f, "u", "order_count", 3);
    CHECK_V(f, "u", "repeat_purchase_rate", 0.5); /* i twice, j in one order */
    CHECK_V(f, "v", "order_count", 1);            /* order ids are per user */
    ps_features_free(f);

    /* A header-only file gives a header-only output. */
    path = test_write_file("empty.csv", "user_id,ts,event\n", 17);
    CHECK_INT(features_of_file(path, &f, &err), PS_OK);
    CHECK_INT(ps_features_n_users(f), 0);
    CHECK_INT(ps_features_write_csv(f, test_tmp("empty_out.csv"), &err), PS_OK);
    ps_features_free(f);
}

TEST(features_writes_csv_and_npy_sidecars)
{
    struct ps_features_params p = ps_features_default_params();
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    add_hand_log(f);
    struct ps_features_event e = ev("c,\"q\"", B + 20, PS_FEATURES_VIEW, NULL, "x,y", NAN, NAN,
                                    NAN, NULL);
    CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    const char *csv = test_tmp("feat.csv");
    CHECK_INT(ps_features_write_csv(f, csv, &err), PS_OK);
    char *text = test_read_file(csv, NULL);
    CHECK(text != NULL);
    if (text) {
        CHECK(strncmp(text, "user_id,browse_count,search_count,", 34) == 0);
        /* a: counts as integers, 12 significant digits, empty share_3. */
        CHECK_CONTAINS(text, "\na,2,1,2,0,2,2,30,20,10,2.24988425926,2,20,4,5.20833333333,1,0.5,1,"
                             "books,0.714285714286,toys,0.285714285714,,,0.702127659574,"
                             "0.375,0.25,0.25,0.125,0.375\n");
        CHECK_CONTAINS(text, "\n\"c,\"\"q\"\"\",1,0,0,0,0,0,,0,,,0,0,1,");
        CHECK_CONTAINS(text, ",\"x,y\",1,,,,,");
    }
    free(text);

    const char *npy = test_tmp("feat.npy");
    CHECK_INT(ps_features_write_npy(f, npy, &err), PS_OK);
    float *m = NULL;
    size_t rows = 0, cols = 0;
    CHECK_INT(ps_npy_read_f32(npy, &m, &rows, &cols, &err), PS_OK);
    CHECK_INT(rows, 3);
    CHECK_INT(cols, 26);
    if (m && rows == 3 && cols == 26) {
        /* Row 0 is a; numeric column 6 is average_stay_time, 17 share_1,
         * 19 share_3 (empty -> NaN). */
        CHECK_NEAR(m[0], 2, 0);
        CHECK_NEAR(m[6], 30, 0);
        CHECK_NEAR(m[17], 5.0f / 7, 1e-7);
        CHECK(isnan(m[19]));
        CHECK(isnan(m[2 * 26 + 6])); /* b has no dwell */
    }
    free(m);
    char *ids = test_read_file(test_tmp("feat.ids.txt"), NULL);
    CHECK_STR(ids, "a\nb\nc,\"q\"\n");
    free(ids);
    char *js = test_read_file(test_tmp("feat.json"), NULL);
    CHECK_CONTAINS(js, "{\"columns\": [\"browse_count\", \"search_count\"");
    CHECK_CONTAINS(js, "\"share_1\", \"share_2\", \"share_3\", \"price_level\"");
    CHECK_CONTAINS(js, "\"weekend_share\"], \"rows\": 3, \"ids\": \"feat.ids.txt\"}");
    free(js);
    ps_features_free(f);
}

TEST(features_many_categories_and_long_spans)
{
    /* 40 categories (past the small-array limit), category k seen k + 1
     * times in a scrambled order, then c37 twice more to tie c39 at 40:
     * the tie goes to "c37".  Active days over more than a year, in random
     * order and repeated, spill out of the per-user day window. */
    struct ps_features_params p = ps_features_default_params();
    struct ps_features *f = ps_features_new(&p);
    struct ps_err err = {0};
    char cat[8];
    int n = 0;
    for (int round = 0; round < 40; round++)
        for (int k = 0; k < 40; k++) {
            int kk = (k * 17 + round) % 40; /* scramble the order */
            if (round > kk)
                continue;
            snprintf(cat, sizeof cat, "c%02d", kk);
            struct ps_features_event e = ev("heavy", B + n % 50, PS_FEATURES_VIEW, NULL, cat,
                                            NAN, NAN, NAN, NULL);
            CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
            n++;
        }
    CHECK_INT(n, 820);
    for (int i = 0; i < 2; i++) {
        struct ps_features_event e = ev("heavy", B, PS_FEATURES_VIEW, NULL, "c37", NAN, NAN, NAN,
                                        NULL);
        CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
    }
    static const int days[] = {200, 0, 400, 200, -300, 100, 0, 300, 263, 264, 136, 135};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        struct ps_features_event e = ev("span", B + days[i] * D + 5, PS_FEATURES_CLICK, NULL,
                                        NULL, NAN, NAN, NAN, NULL);
        CHECK_INT(ps_features_add(f, &e, &err), PS_OK);
    }
    CHECK_INT(ps_features_finish(f, &err), PS_OK);
    CHECK_STR(top(f, "heavy", 1), "c37");
    CHECK_STR(top(f, "heavy", 2), "c39");
    CHECK_STR(top(f, "heavy", 3), "c38");
    CHECK_V(f, "heavy", "share_1", 40.0 / 822);
    CHECK_V(f, "heavy", "share_3", 39.0 / 822);
    CHECK_V(f, "heavy", "active_days", 1);
    CHECK_V(f, "span", "active_days", 10); /* 12 events, days 200 and 0 twice */
    CHECK_V(f, "span", "tenure_days", 700.0);
    ps_features_free(f);
}

TEST(features_format_number_matches_printf)
{
    char buf[40], want[40];
    int n;
    /* NaN is empty, integers exact (also past %.12g's 12 digits), no -0. */
    CHECK_INT(ps_features_format_number(buf, NAN), 0);
    n = ps_features_format_number(buf, -0.0);
    CHECK(n == 1 && buf[0] == '0');
    n = ps_features_format_number(buf, 123456789012345.0);
    buf[n] = '\0';
    CHECK_STR(buf, "123456789012345");
    n = ps_features_format_number(buf, -42.0);
    buf[n] = '\0';
    CHECK_STR(buf, "-42");
    /* Everything else: exactly snprintf("%.12g").  Shares i/j, day
     * fractions s/86400, money with cents, and random magnitudes. */
    struct ps_rng r;
    ps_rng_seed(&r, 7, 0);
    int mismatches = 0;
    for (int k = 0; k < 200000; k++) {
        double v;
        switch (k % 4) {
        case 0: v = (double)(ps_rng_u64(&r) % 1000) / (double)(1 + ps_rng_u64(&r) % 1000); break;
        case 1: v = (double)(ps_rng_u64(&r) % 100000000) / 86400.0; break;
        case 2: v = (double)((int64_t)(ps_rng_u64(&r) % 20000000) - 10000000) / 100.0; break;
        default: v = (ps_rng_uniform(&r) - 0.5) * pow(10.0, (double)(ps_rng_u64(&r) % 40) - 20);
        }
        if (v == floor(v) && fabs(v) < 1e15)
            continue;
        n = ps_features_format_number(buf, v);
        buf[n] = '\0';
        snprintf(want, sizeof want, "%.12g", v);
        if (strcmp(buf, want) != 0 && mismatches++ < 5)
            fprintf(stderr, "  format(%.17g) = \"%s\", printf \"%s\"\n", v, buf, want);
    }
    /* Near rounding ties and powers of ten. */
    static const double hard[] = {0.5, 0.25, 1.0 / 3, 2.0 / 3, 9.9999999999995, 0.00099999999999999,
                                  0.001, 1e-4, 9.99999999999e-5, 999999999999.5, 99999999999.95,
                                  0.1 + 0.2, 1.15740740741e-05, 123.4565, 5e-324};
    for (size_t k = 0; k < sizeof hard / sizeof hard[0]; k++) {
        n = ps_features_format_number(buf, hard[k]);
        buf[n] = '\0';
        snprintf(want, sizeof want, "%.12g", hard[k]);
        if (strcmp(buf, want) != 0 && mismatches++ < 10)
            fprintf(stderr, "  format(%.17g) = \"%s\", printf \"%s\"\n", hard[k], buf, want);
    }
    CHECK_INT(mismatches, 0);
}

TEST(features_identical_at_any_thread_count)
{
    /* The fixture log through 1, 2, 3 and 8 threads (0, 1, 2 and 7 shard
     * workers), and event by event into 5 shards: every value bit-equal. */
    static const int threads[] = {1, 2, 3, 8, 6};
    struct ps_features *ref = NULL;
    struct ps_err err = {0};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        struct ps_features_params p = ps_features_default_params();
        p.n_threads = threads[t];
        struct ps_features *f = ps_features_new(&p);
        int rc;
        if (t < 4) {
            rc = ps_features_add_file(f, FIX "events.csv", &err);
        } else {
            /* ps_features_add on the CSV's rows, read here with the reader. */
            struct ps_reader_params rp = ps_reader_default_params();
            struct ps_reader *r;
            rc = ps_reader_open(&r, FIX "events.csv", &rp, &err);
            if (rc == PS_OK) {
                int c[9];
                static const char *names[9] = {"user_id", "ts", "event", "item_id", "category",
                                               "price", "quantity", "dwell_s", "order_id"};
                for (int i = 0; i < 9; i++)
                    c[i] = ps_reader_column_index(r, names[i]);
                while (rc == PS_OK && ps_reader_next(r) == PS_OK) {
                    size_t len;
                    const char *s;
                    double num[3];
                    for (int i = 0; i < 3; i++) {
                        s = ps_reader_field(r, c[5 + i], &len);
                        num[i] = len ? strtod(s, NULL) : NAN;
                    }
                    s = ps_reader_field(r, c[2], &len);
                    int type = ps_features_event_parse(s, len);
                    struct ps_features_event e = ev(
                        ps_reader_field(r, c[0], NULL), strtoll(ps_reader_field(r, c[1], NULL), NULL, 10),
                        type,
                        ps_reader_field(r, c[3], NULL), ps_reader_field(r, c[4], NULL), num[0],
                        num[1], num[2], ps_reader_field(r, c[8], NULL));
                    rc = ps_features_add(f, &e, &err);
                }
                ps_reader_close(r);
            }
        }
        CHECK_INT(rc, PS_OK);
        CHECK_INT(ps_features_finish(f, &err), PS_OK);
        if (!ref) {
            ref = f;
            continue;
        }
        CHECK_INT(ps_features_n_users(f), ps_features_n_users(ref));
        int diffs = 0;
        for (long row = 0; row < ps_features_n_users(f) && row < ps_features_n_users(ref); row++) {
            if (strcmp(ps_features_user_id(f, row, NULL), ps_features_user_id(ref, row, NULL)))
                diffs++;
            for (int k = 0; k < ps_features_n_columns(); k++) {
                double a = ps_features_value(f, row, k), b = ps_features_value(ref, row, k);
                if (memcmp(&a, &b, sizeof a) != 0 && !(isnan(a) && isnan(b)))
                    diffs++;
            }
            for (int k = 1; k <= 3; k++) {
                const char *a = ps_features_top_category(f, row, k, NULL);
                const char *b = ps_features_top_category(ref, row, k, NULL);
                if ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))
                    diffs++;
            }
        }
        if (diffs)
            fprintf(stderr, "  %d threads: %d values differ from 1 thread\n", threads[t], diffs);
        CHECK_INT(diffs, 0);
        ps_features_free(f);
    }
    ps_features_free(ref);
}
