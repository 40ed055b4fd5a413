/*
 * timeparse.c - timestamp parsing (see include/persona/timeparse.h).
 *
 * A hand-written scanner instead of strptime: strptime is locale-bound,
 * does not validate the day of month, knows no zones with colons on every
 * libc and is slow on the clean step's hot path (one call per event).
 */
#include "persona/timeparse.h"

#include <string.h>

int ps_is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ps_days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && ps_is_leap_year(y) ? 29 : dim[m - 1];
}

/* Hinnant's algorithm: shift the year to start in March so the leap day
 * is last, then count 400-year eras of 146097 days. */
int64_t ps_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void ps_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

size_t ps_i64_to_str(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

size_t ps_time_format_iso(int64_t ts, char *buf)
{
    int64_t days = floor_div(ts, 86400), y;
    int64_t sod = ts - days * 86400;
    int m, d;
    ps_civil_from_days(days, &y, &m, &d);
    size_t n = 0;
    char yb[24];
    size_t yl = ps_i64_to_str(y, yb);
    for (size_t i = yl; i < 4; i++)
        buf[n++] = '0';
    memcpy(buf + n, yb, yl);
    n += yl;
    int parts[5] = {m, d, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60)};
    static const char seps[5] = {'-', '-', 'T', ':', ':'};
    for (int i = 0; i < 5; i++) {
        buf[n++] = seps[i];
        buf[n++] = (char)('0' + parts[i] / 10);
        buf[n++] = (char)('0' + parts[i] % 10);
    }
    buf[n++] = 'Z';
    buf[n] = '\0';
    return n;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads between min and max digits at *p (bounded by end). */
static int read_num(const char **p, const char *end, int min, int max, int *out)
{
    int v = 0, n = 0;
    const char *s = *p;
    while (s < end && n < max && is_digit(*s)) {
        v = v * 10 + (*s - '0');
        s++;
        n++;
    }
    if (n < min)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

/* Zone designator at p: Z, +HH, +HHMM, +HH:MM.  Consumes to end or fails. */
static int parse_zone(const char *p, const char *end, long *off)
{
    if (p == end)
        return 1; /* no zone */
    if ((*p == 'Z' || *p == 'z') && p + 1 == end) {
        *off = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p == '-' ? -1 : 1, hh, mm = 0;
    p++;
    if (end - p < 2 || !is_digit(p[0]) || !is_digit(p[1]))
        return -1;
    hh = (p[0] - '0') * 10 + (p[1] - '0');
    p += 2;
    if (p < end && *p == ':')
        p++;
    if (p < end) {
        if (end - p != 2 || !is_digit(p[0]) || !is_digit(p[1]))
            return -1;
        mm = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
    }
    if (hh > 14 || mm > 59 || (hh == 14 && mm > 0))
        return -2;
    *off = sign * (hh * 3600L + mm * 60L);
    return 0;
}

int ps_time_parse_offset(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 3 && (strcmp(s, "UTC") == 0 || strcmp(s, "utc") == 0)) {
        *out = 0;
        return 0;
    }
    if (n == 0)
        return -1;
    long off = 0;
    if (parse_zone(s, s + n, &off) != 0)
        return -1;
    *out = off;
    return 0;
}

/* Unix epoch number: [-+]digits[.digits] */
static int parse_epoch(const char *s, const char *end, int64_t *out)
{
    int neg = 0;
    if (s < end && (*s == '-' || *s == '+')) {
        neg = *s == '-';
        s++;
    }
    const char *d0 = s;
    uint64_t v = 0;
    while (s < end && is_digit(*s)) {
        if (s - d0 >= 19)
            return PS_TIME_BAD_DATE; /* beyond int64 nanoseconds */
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (s == d0)
        return PS_TIME_BAD_FORMAT;
    int frac = 0;
    if (s < end && *s == '.') {
        s++;
        if (s == end || !is_digit(*s))
            return PS_TIME_BAD_FORMAT;
        while (s < end && is_digit(*s)) {
            frac |= *s != '0';
            s++;
        }
    }
    if (s != end)
        return PS_TIME_BAD_FORMAT;
    uint64_t scale = v < 100000000000ULL ? 1
                   : v < 100000000000000ULL ? 1000
                   : v < 100000000000000000ULL ? 1000000 : 1000000000;
    int64_t q = (int64_t)(v / scale);
    if (!neg)
        *out = q;
    else if (frac || v % scale)
        *out = -q - 1;
    else
        *out = -q;
    return PS_TIME_OK;
}

/* Time of day after the date: HH[:MM[:SS[.frac]]] then an optional zone. */
static int parse_clock(const char *p, const char *end, int hour_only_ok, int zone_ok,
                       int *hh, int *mi, int *ss, long *off, int *has_zone)
{
    *mi = *ss = 0;
    if (read_num(&p, end, 1, 2, hh))
        return PS_TIME_BAD_FORMAT;
    if (p < end && *p == ':') {
        p++;
        if (read_num(&p, end, 2, 2, mi))
            return PS_TIME_BAD_FORMAT;
        if (p < end && *p == ':') {
            p++;
            if (read_num(&p, end, 2, 2, ss))
                return PS_TIME_BAD_FORMAT;
            if (p < end && (*p == '.' || *p == ',')) {
                p++;
                if (p == end || !is_digit(*p))
                    return PS_TIME_BAD_FORMAT;
                while (p < end && is_digit(*p))
                    p++;
            }
        }
    } else if (!hour_only_ok) {
        return PS_TIME_BAD_FORMAT;
    }
    *has_zone = 0;
    if (p < end) {
        if (!zone_ok)
            return PS_TIME_BAD_FORMAT;
        int z = parse_zone(p, end, off);
        if (z == -1)
            return PS_TIME_BAD_FORMAT;
        if (z == -2)
            return PS_TIME_BAD_DATE;
        *has_zone = 1;
    }
    if (*hh > 23 || *mi > 59 || *ss > 59)
        return PS_TIME_BAD_DATE;
    return PS_TIME_OK;
}

int ps_time_parse(const char *s, size_t len, long tz_offset_s, int64_t *out)
{
    const char *end = s + len;
    while (s < end && *s == ' ')
        s++;
    while (end > s && end[-1] == ' ')
        end--;
    if (s == end)
        return PS_TIME_BAD_FORMAT;

    /* Count leading digits to tell the three families apart. */
    const char *p = s;
    while (p < end && is_digit(*p))
        p++;
    size_t lead = (size_t)(p - s);
    int y, mo, d, hh = 0, mi = 0, ss = 0, has_zone = 0, rc;
    long off = 0;

    if (lead == 4 && p < end && (*p == '-' || *p == '/')) {
        /* ISO-8601 / SQL, year first. */
        char sep = *p;
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        p++;
        if (read_num(&p, end, 2, 2, &mo) || p >= end || *p != sep)
            return PS_TIME_BAD_FORMAT;
        p++;
        if (read_num(&p, end, 2, 2, &d))
            return PS_TIME_BAD_FORMAT;
        if (p < end) {
            if (*p != 'T' && *p != 't' && *p != ' ')
                return PS_TIME_BAD_FORMAT;
            p++;
            if (p == end || !is_digit(*p))
                return PS_TIME_BAD_FORMAT;
            rc = parse_clock(p, end, 1, 1, &hh, &mi, &ss, &off, &has_zone);
            if (rc)
                return rc;
        }
    } else if ((lead == 1 || lead == 2) && p < end && *p == '/') {
        /* US month-first: M/D/YYYY[ H:MM[:SS]] */
        mo = lead == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
        p++;
        if (read_num(&p, end, 1, 2, &d) || p >= end || *p != '/')
            return PS_TIME_BAD_FORMAT;
        p++;
        if (read_num(&p, end, 4, 4, &y))
            return PS_TIME_BAD_FORMAT;
        if (p < end) {
            if (*p != ' ')
                return PS_TIME_BAD_FORMAT;
            p++;
            if (p == end || !is_digit(*p))
                return PS_TIME_BAD_FORMAT;
            rc = parse_clock(p, end, 0, 0, &hh, &mi, &ss, &off, &has_zone);
            if (rc)
                return rc;
        }
    } else {
        return parse_epoch(s, end, out);
    }

    if (mo < 1 || mo > 12 || d < 1 || d > ps_days_in_month(y, mo))
        return PS_TIME_BAD_DATE;
    int64_t t = ps_days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
    *out = t - (has_zone ? off : tz_offset_s);
    return PS_TIME_OK;
}
