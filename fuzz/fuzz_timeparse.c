/*
 * fuzz_timeparse.c - libFuzzer target for timeparse.h.
 *
 * The whole input is a timestamp string for ps_time_parse (under three
 * default offsets, as given and with its NUL-terminated copy handed to
 * ps_time_parse_offset).  Invariants checked (abort when broken):
 *   - the result is one of the documented statuses; on PS_TIME_OK the
 *     value is the same whatever bytes follow the string (len is honoured);
 *   - a zone-less form moves by exactly the difference of the default
 *     offsets, a zoned or epoch form does not move at all;
 *   - the ISO form of an accepted value (years 1..9999) parses back to the
 *     same value, and the formatted text is exactly "YYYY-MM-DDTHH:MM:SSZ";
 *   - ps_time_parse_offset accepts only offsets within +-14 h (whole
 *     minutes);
 *   - the first 12 bytes, read as (year, month, day), round-trip through
 *     ps_days_from_civil / ps_civil_from_days when the date is valid, and
 *     consecutive days differ by one;
 *   - ps_i64_to_str agrees with snprintf("%lld").
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona/timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_timeparse: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static int valid_status(int rc)
{
    return rc == PS_TIME_OK || rc == PS_TIME_BAD_FORMAT || rc == PS_TIME_BAD_DATE;
}

static void check_civil(const uint8_t *data, size_t size)
{
    if (size < 12)
        return;
    int32_t y32;
    uint32_t mm, dd;
    memcpy(&y32, data, 4);
    memcpy(&mm, data + 4, 4);
    memcpy(&dd, data + 8, 4);
    int64_t y = y32;
    int m = (int)(mm % 12) + 1;
    int dim = ps_days_in_month(y, m);
    CHECK(dim >= 28 && dim <= 31);
    CHECK((dim == 29) == (m == 2 && ps_is_leap_year(y)));
    int d = (int)(dd % (uint32_t)dim) + 1;
    int64_t days = ps_days_from_civil(y, m, d);
    int64_t y2;
    int m2, d2;
    ps_civil_from_days(days, &y2, &m2, &d2);
    CHECK(y2 == y && m2 == m && d2 == d);
    /* the next day */
    ps_civil_from_days(days + 1, &y2, &m2, &d2);
    CHECK(ps_days_from_civil(y2, m2, d2) == days + 1);
    if (d < dim)
        CHECK(y2 == y && m2 == m && d2 == d + 1);
    else
        CHECK(d2 == 1 && (m < 12 ? (y2 == y && m2 == m + 1) : (y2 == y + 1 && m2 == 1)));
}

static void check_i64(int64_t v)
{
    char a[32], b[32];
    size_t n = ps_i64_to_str(v, a);
    CHECK(n < 21);
    a[n] = '\0';
    snprintf(b, sizeof b, "%" PRId64, v);
    CHECK(strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* exact-length copy, so ASan sees any read past len */
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    /* the same text followed by digits and a NUL: must not change the answer */
    char *t = malloc(size + 8);
    memcpy(t, data, size);
    memcpy(t + size, "1234567", 8);

    static const long offs[3] = {0, 8 * 3600, -(5 * 3600 + 1800)};
    int64_t v[3] = {0, 0, 0};
    int rc[3];
    for (int i = 0; i < 3; i++) {
        rc[i] = ps_time_parse(s, size, offs[i], &v[i]);
        CHECK(valid_status(rc[i]));
        int64_t w = 0;
        CHECK(ps_time_parse(t, size, offs[i], &w) == rc[i]);
        if (rc[i] == PS_TIME_OK)
            CHECK(w == v[i]);
    }
    CHECK(rc[0] == rc[1] && rc[0] == rc[2]);
    if (rc[0] == PS_TIME_OK) {
        /* zone-less: local time, so ts = wall - offset; zoned / epoch: fixed */
        int shifted = v[1] == v[0] - offs[1] && v[2] == v[0] - offs[2];
        int fixed = v[1] == v[0] && v[2] == v[0];
        CHECK(shifted || fixed);
        check_i64(v[0]);
        int64_t lo = ps_days_from_civil(1, 1, 1) * 86400;
        int64_t hi = ps_days_from_civil(10000, 1, 1) * 86400;
        if (v[0] >= lo && v[0] < hi) {
            char buf[64];
            size_t n = ps_time_format_iso(v[0], buf);
            CHECK(n == 20 && buf[n] == '\0');
            CHECK(buf[4] == '-' && buf[7] == '-' && buf[10] == 'T' && buf[13] == ':' &&
                  buf[16] == ':' && buf[19] == 'Z');
            int64_t back = 0;
            CHECK(ps_time_parse(buf, n, 12345, &back) == PS_TIME_OK);
            CHECK(back == v[0]);
        }
    }

    /* zone offsets (NUL-terminated) */
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = '\0';
    long off = 0;
    int orc = ps_time_parse_offset(z, &off);
    CHECK(orc == 0 || orc == -1);
    if (orc == 0)
        CHECK(off >= -14 * 3600 && off <= 14 * 3600 && off % 60 == 0);

    check_civil(data, size);
    if (size >= 8) {
        int64_t x;
        memcpy(&x, data, 8);
        check_i64(x);
        char buf[64];
        int64_t lim = (int64_t)1 << 50;  /* ~35 million years: no overflow in day arithmetic */
        if (x > -lim && x < lim)
            ps_time_format_iso(x, buf);
    }
    free(z);
    free(t);
    free(s);
    return 0;
}
