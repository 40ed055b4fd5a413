/* test_timeparse.c - timestamp parsing against hand-checked epoch values.
 *
 * Expected values come from Python's datetime (an independent
 * implementation), e.g.
 *   int(datetime(2021,3,4,5,6,7,tzinfo=timezone(timedelta(hours=8))).timestamp())
 * and are written here as constants. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#include "persona/timeparse.h"

static int64_t tp(const char *s, long tz)
{
    int64_t v = INT64_MIN;
    int rc = ps_time_parse(s, strlen(s), tz, &v);
    if (rc != PS_TIME_OK) {
        fprintf(stderr, "  ps_time_parse(\"%s\") failed: %d\n", s, rc);
        return INT64_MIN;
    }
    return v;
}

static int tp_rc(const char *s)
{
    int64_t v;
    return ps_time_parse(s, strlen(s), 0, &v);
}

TEST(timeparse_iso_forms)
{
    CHECK_INT(tp("2021-03-04T05:06:07", 0), 1614834367);
    CHECK_INT(tp("2021-03-04T05:06:07Z", 0), 1614834367);
    CHECK_INT(tp("2021-03-04t05:06:07z", 0), 1614834367);
    CHECK_INT(tp("2021-03-04 05:06:07", 0), 1614834367);
    CHECK_INT(tp("2021/03/04 05:06:07", 0), 1614834367);
    CHECK_INT(tp("  2021-03-04 05:06:07 ", 0), 1614834367);
    CHECK_INT(tp("2021-03-04T05:06:07.999Z", 0), 1614834367);  /* fraction floored */
    CHECK_INT(tp("2021-03-04T05:06:07,5", 0), 1614834367);
    CHECK_INT(tp("2021-03-04", 0), 1614816000);
    CHECK_INT(tp("2021-03-04 05:06", 0), 1614834360);
    CHECK_INT(tp("2021-03-04T05:06:07+08:00", 0), 1614805567);
    CHECK_INT(tp("2021-03-04T05:06:07+0800", 0), 1614805567);
    CHECK_INT(tp("2021-03-04T05:06:07+08", 0), 1614805567);
    CHECK_INT(tp("2021-03-04T05:06:07-05:30", 0), 1614854167);
    CHECK_INT(tp("2021-03-04T05:06:07+00:00", 0), 1614834367);
    /* zone-less times take the caller's default offset; explicit zones win */
    CHECK_INT(tp("2021-03-04T05:06:07", 8 * 3600), 1614805567);
    CHECK_INT(tp("2021-03-04T05:06:07Z", 8 * 3600), 1614834367);
    /* Tianchi mobile: date and hour only, Beijing time */
    CHECK_INT(tp("2014-12-06 02", 8 * 3600), 1417802400);
    CHECK_INT(tp("1969-12-31T23:59:59Z", 0), -1);
    CHECK_INT(tp("1900-01-01", 0), -2208988800LL);
    CHECK_INT(tp("9999-12-31T23:59:59Z", 0), 253402300799LL);
    CHECK_INT(tp("0001-01-01", 0), -62135596800LL);
}

TEST(timeparse_leap_years)
{
    CHECK_INT(tp("2000-02-29T23:59:59", 0), 951868799);  /* 400-year rule */
    CHECK_INT(tp("2024-02-29 12:00", 0), 1709208000);
    CHECK_INT(tp_rc("2100-02-29"), PS_TIME_BAD_DATE);     /* 100-year rule */
    CHECK_INT(tp_rc("2023-02-29"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-02-30"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-04-31"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-13-01"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-00-10"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-01-00"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-01-01T24:00:00"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-01-01T23:60:00"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-01-01T23:59:60"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("2021-01-01T10:00+15:00"), PS_TIME_BAD_DATE);
    CHECK(ps_is_leap_year(2000) && !ps_is_leap_year(1900) && ps_is_leap_year(2024));
    CHECK_INT(ps_days_in_month(2024, 2), 29);
    CHECK_INT(ps_days_in_month(2023, 2), 28);
}

TEST(timeparse_us_month_first)
{
    /* UCI Online Retail as exported by Excel: datetime(2010,12,1,8,26) */
    CHECK_INT(tp("12/1/2010 8:26", 0), 1291191960);
    CHECK_INT(tp("12/01/2010 08:26:00", 0), 1291191960);
    CHECK_INT(tp("12/1/2010", 0), 1291161600);
    CHECK_INT(tp_rc("2/30/2010 8:26"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("13/1/2010 8:26"), PS_TIME_BAD_DATE);
    CHECK_INT(tp_rc("12/1/10 8:26"), PS_TIME_BAD_FORMAT);
    CHECK_INT(tp_rc("12/1/2010 8"), PS_TIME_BAD_FORMAT);
}

TEST(timeparse_epoch_by_magnitude)
{
    CHECK_INT(tp("1511544070", 0), 1511544070);           /* seconds */
    CHECK_INT(tp("1511544070123", 0), 1511544070);        /* milliseconds */
    CHECK_INT(tp("1511544070123456", 0), 1511544070);     /* microseconds */
    CHECK_INT(tp("1511544070123456789", 0), 1511544070);  /* nanoseconds */
    CHECK_INT(tp("99999999999", 0), 99999999999LL);       /* largest seconds value */
    CHECK_INT(tp("100000000000", 0), 100000000);          /* smallest milliseconds value */
    CHECK_INT(tp("0", 0), 0);
    CHECK_INT(tp("+5", 0), 5);
    CHECK_INT(tp("-86400", 0), -86400);
    CHECK_INT(tp("1511544070.9", 0), 1511544070);
    CHECK_INT(tp("-1.5", 0), -2);                         /* floor, not truncation */
    CHECK_INT(tp("-1500", 0), -1500);
    CHECK_INT(tp("-100000001500", 0), -100000002);        /* ms, floored */
    CHECK_INT(tp("20210101", 0), 20210101);               /* documented: epoch, not a date */
    CHECK_INT(tp_rc("12345678901234567890"), PS_TIME_BAD_DATE);
}

TEST(timeparse_rejects_garbage)
{
    const char *bad[] = {"", "   ", "abc", "2021-3-04", "2021-03-4", "2021-03-04T", "2021-03-04X05:06",
                         "2021-03-04T5:6", "2021-03-04T05:06:07+8:00", "2021-03-04T05:06:07 +08:00",
                         "2021-03-04Z", "1.2.3", "1e9", "0x10", "12.", "-", "2021-03-04T05:06:07.",
                         "2021-03-04 05:06:07 PM", "12/1/2010 8:26Z", "2021-03-04T05:06:07+08:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        int rc = ps_time_parse(bad[i], strlen(bad[i]), 0, &v);
        if (rc != PS_TIME_BAD_FORMAT) {
            test_failures++;
            fprintf(stderr, "  \"%s\" gave %d, expected BAD_FORMAT\n", bad[i], rc);
        }
    }
    /* not NUL-terminated input is bounded by len */
    int64_t v = 0;
    CHECK_INT(ps_time_parse("2021-03-04XYZ", 10, 0, &v), PS_TIME_OK);
    CHECK_INT(v, 1614816000);
}

TEST(timeparse_offsets_and_format)
{
    long off = 1;
    CHECK(ps_time_parse_offset("UTC", &off) == 0 && off == 0);
    CHECK(ps_time_parse_offset("Z", &off) == 0 && off == 0);
    CHECK(ps_time_parse_offset("+08:00", &off) == 0 && off == 28800);
    CHECK(ps_time_parse_offset("-0530", &off) == 0 && off == -19800);
    CHECK(ps_time_parse_offset("8", &off) != 0);
    CHECK(ps_time_parse_offset("", &off) != 0);
    char buf[32];
    ps_time_format_iso(1614834367, buf);
    CHECK_STR(buf, "2021-03-04T05:06:07Z");
    ps_time_format_iso(-1, buf);
    CHECK_STR(buf, "1969-12-31T23:59:59Z");
    size_t n = ps_i64_to_str(-9223372036854775807LL - 1, buf);
    buf[n] = '\0';
    CHECK_STR(buf, "-9223372036854775808");
    /* round trip over a wide day range */
    for (int64_t day = -800000; day <= 800000; day += 997) {
        int64_t y;
        int m, d;
        ps_civil_from_days(day, &y, &m, &d);
        CHECK_INT(ps_days_from_civil(y, m, d), day);
    }
}

/* 300 random timestamps in every accepted form (zones from -12:00 to
 * +14:00, fractions, US month-first, slashes, milliseconds) with the epoch
 * Python's datetime gives for them: tests/fixtures/clean/timestamps.csv,
 * written by timestamps.py beside it; zone-less forms are UTC. */
TEST(timeparse_matches_python_datetime)
{
    char *data = test_read_file("tests/fixtures/clean/timestamps.csv", NULL);
    CHECK(data != NULL);
    if (!data)
        return;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *comma = strrchr(line, ',');
        if (!comma || strncmp(line, "text,", 5) == 0)
            continue;
        *comma = '\0';
        long long want = strtoll(comma + 1, NULL, 10);
        int64_t got = 0;
        int rc = ps_time_parse(line, strlen(line), 0, &got);
        if (rc != PS_TIME_OK || got != want) {
            test_failures++;
            fprintf(stderr, "  \"%s\": rc %d, got %lld, expected %lld\n", line, rc, (long long)got, want);
        }
        n++;
    }
    CHECK_INT(n, 300);
    free(data);
}
