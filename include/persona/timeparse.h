/*
 * timeparse.h - timestamp parsing and civil-date arithmetic (UTC).
 *
 * persona stores every timestamp as integer Unix seconds (UTC).  The
 * parser accepts the forms found in shop exports:
 *
 *   Unix epoch numbers   1511544070, 1511544070123, -86400, 1511544070.5
 *       The unit is decided by magnitude of the integer part v:
 *         |v| < 1e11  seconds       (covers 1966-11 .. 5138-11)
 *         |v| < 1e14  milliseconds  (a 12..14 digit count starts 1973-03)
 *         |v| < 1e17  microseconds
 *         otherwise   nanoseconds
 *       Fractions of a second are floored (toward -infinity).  An 8-digit
 *       number such as 20210101 is a Unix time, not a basic-format date.
 *   ISO-8601 / SQL      2021-03-04, 2021-03-04T05:06:07, 2021-03-04 05:06,
 *                       2021-03-04T05:06:07.123Z, 2021-03-04 05:06:07+08:00,
 *                       2021-03-04T05:06:07-0530, 2021-03-04 05+08,
 *                       2021-03-04 05 (hour only: Tianchi mobile),
 *                       2021/03/04 05:06:07 (slash-separated, year first)
 *       'T', 't' or one space between date and time; zone Z/z, +HH, +HHMM
 *       or +HH:MM (at most 14:00).  Without a zone the time is local to
 *       the caller's default offset (0 = UTC).
 *   US month-first      12/1/2010 8:26, 12/01/2010 08:26:00, 12/1/2010
 *       (the UCI Online Retail spreadsheet export).
 *
 * Dates are validated against the Gregorian calendar (2021-02-30 and
 * 2100-02-29 are rejected, 2000-02-29 is accepted); hours 0-23, minutes
 * and seconds 0-59 (no leap second 60).  Leading and trailing ASCII
 * spaces are ignored.  All functions are pure and thread-safe.
 */
#ifndef PERSONA_TIMEPARSE_H
#define PERSONA_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

enum ps_time_status {
    PS_TIME_OK = 0,
    PS_TIME_BAD_FORMAT = -1,  /* not a timestamp in any accepted form */
    PS_TIME_BAD_DATE = -2     /* the form is right but a field is out of range */
};

/* Parses s[0..len) (need not be NUL-terminated).  tz_offset_s is the
 * offset east of UTC, in seconds, assumed for forms without a zone.
 * Returns PS_TIME_OK and *out, or a negative enum ps_time_status. */
int ps_time_parse(const char *s, size_t len, long tz_offset_s, int64_t *out);

/* Parses a zone offset "Z", "UTC", "+08:00", "+0800", "+08", "-05:30"
 * into seconds east of UTC.  Returns 0, or -1 if malformed. */
int ps_time_parse_offset(const char *s, long *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31);
 * exact for any int year (Howard Hinnant's days_from_civil). */
int64_t ps_days_from_civil(int64_t y, int m, int d);
/* Inverse: the civil date of a day number. */
void ps_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 1 for Gregorian leap years. */
int ps_is_leap_year(int64_t y);
/* Days in month m (1-12) of year y. */
int ps_days_in_month(int64_t y, int m);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" for ts into buf (at least 32 bytes);
 * returns the length. */
size_t ps_time_format_iso(int64_t ts, char *buf);

/* Writes the decimal digits of v into buf (at least 21 bytes, no NUL);
 * returns the length.  A fast snprintf("%lld") for output paths. */
size_t ps_i64_to_str(int64_t v, char *buf);

#endif
