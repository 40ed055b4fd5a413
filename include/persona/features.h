/*
 * features.h - per-user behavioural features from the canonical events log.
 *
 * Reads the events table written by `persona clean` (docs/ARCHITECTURE.md)
 * in one streaming pass and produces one row per user: event counts,
 * spend and order statistics (RFM), activity span, conversion, cart
 * abandonment, repeat purchases, top categories, relative price level and
 * time-of-day / weekend rhythm.  Every column, its unit and the rule for
 * when it is empty is defined in docs/FEATURES.md.
 *
 * Memory grows with the number of users and of distinct (user, category),
 * (user, day), (user, item) and (user, order) pairs and of priced items --
 * never with repeated events: the event log itself is never held.
 * Output rows are sorted by user id (byte order); the result does not
 * depend on the thread count (byte-identical) nor, up to floating-point
 * summation order (which follows the file), on the order of the rows.
 *
 * Two ways in:
 *   - ps_features_run(): the whole stage, file in, CSV (+ .npy) out;
 *   - a handle (ps_features_new / _add / _add_file / _finish / accessors)
 *     for callers that feed events themselves (tests, `persona run`).
 *
 * Thread safety: a handle is used by one thread at a time (add_file
 * runs its own worker threads inside, per params.n_threads).
 */
#ifndef PERSONA_FEATURES_H
#define PERSONA_FEATURES_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

/* The canonical event types (docs/ARCHITECTURE.md), in this order. */
enum ps_features_event_type {
    PS_FEATURES_VIEW,
    PS_FEATURES_SEARCH,
    PS_FEATURES_CLICK,
    PS_FEATURES_CART,
    PS_FEATURES_FAV,
    PS_FEATURES_PURCHASE,
    PS_FEATURES_REFUND,
    PS_FEATURES_N
};

/* Parses a canonical event name ("view", ...).  Returns the type or -1. */
int ps_features_event_parse(const char *s, size_t len);
/* Name of a type ("view", ...); NULL if out of range. */
const char *ps_features_event_name(int type);

/* Timestamps (and as-of) must satisfy |ts| < PS_FEATURES_TS_LIMIT seconds
 * (1e11: years 1966..5138, the range timeparse reads as seconds), so
 * day arithmetic never overflows. */
#define PS_FEATURES_TS_LIMIT 100000000000LL

/* One event.  Strings are borrowed for the duration of ps_features_add
 * (the handle copies what it keeps); a NULL or zero-length string is a
 * missing value; a NaN number is a missing value. */
struct ps_features_event {
    const char *user_id;  size_t user_len;   /* required, non-empty */
    int64_t ts;                              /* Unix seconds, UTC */
    enum ps_features_event_type type;
    const char *item_id;  size_t item_len;
    const char *category; size_t category_len;
    const char *order_id; size_t order_len;
    double price;         /* unit price; NaN = missing */
    double quantity;      /* NaN = missing (counts as 1) */
    double dwell_s;       /* seconds on the page; NaN = missing */
};

struct ps_features_params {
    const char *events_path;  /* canonical events CSV ("-" = stdin); run() only */
    const char *out_csv;      /* features CSV ("-" = stdout); NULL = none */
    const char *out_npy;      /* features .npy (+ .json, .ids.txt sidecars); NULL = none */
    int has_as_of;            /* 1: as_of is set; 0: latest event timestamp */
    int64_t as_of;            /* snapshot time, Unix seconds; later events are ignored */
    int tz_offset_s;          /* seconds east of UTC for days, dayparts, weekends */
    int n_threads;            /* add_file: <= 0 all CPUs; 1 no worker threads; N: the
                                 reading thread + N - 1 per-user shard workers */
};

struct ps_features_params ps_features_default_params(void);
/* Checks ranges (tz offset within +-14 h, at least one output for run()).
 * Returns PS_OK or PS_ERR_USAGE with a message. */
int ps_features_check_params(const struct ps_features_params *p, int need_io,
                             struct ps_err *err);

/* What a run did, for the CLI summary. */
struct ps_features_summary {
    long n_rows;           /* event rows read */
    long n_after_as_of;    /* rows ignored because ts > as_of */
    long n_users;          /* feature rows written */
    int64_t as_of;         /* the snapshot time used (Unix seconds) */
    double seconds;        /* wall time */
};

/* The whole stage: reads params->events_path, writes params->out_csv and/or
 * params->out_npy (each atomically).  Any malformed row is an error naming
 * file, line and column; nothing is written then.  summary may be NULL. */
int ps_features_run(const struct ps_features_params *params,
                    struct ps_features_summary *summary, struct ps_err *err);

/* ---- columns ---------------------------------------------------------- */

/* Number of output columns after user_id, and their names in CSV order. */
int ps_features_n_columns(void);
const char *ps_features_column_name(int i);
/* 1 if column i is numeric (goes to the .npy), 0 for top_category_k. */
int ps_features_column_is_numeric(int i);
/* Number of numeric columns (the .npy width). */
int ps_features_n_numeric(void);

/* ---- handle ----------------------------------------------------------- */

struct ps_features;

/* A fresh accumulator.  params is copied; its paths are not used. */
struct ps_features *ps_features_new(const struct ps_features_params *params);
void ps_features_free(struct ps_features *f);

/* Adds one event.  Events after params->as_of (when set) are counted and
 * ignored.  Returns PS_OK, or PS_ERR_BAD_INPUT (missing user id, time out
 * of range, negative dwell time) with a message in err. */
int ps_features_add(struct ps_features *f, const struct ps_features_event *ev, struct ps_err *err);

/* Streams a canonical events file (CSV with a header, or JSON Lines;
 * columns looked up by name, in any order; user_id, ts and event
 * required, the rest optional) into the handle.  Any malformed row stops
 * it with PS_ERR_BAD_INPUT naming file, line and column; the handle must
 * then only be freed. */
int ps_features_add_file(struct ps_features *f, const char *path, struct ps_err *err);

/* Ends input: fixes as-of, category medians, sorts users.  After this,
 * only the accessors and writers may be called. */
int ps_features_finish(struct ps_features *f, struct ps_err *err);

long ps_features_n_users(const struct ps_features *f);
/* The as-of time used (valid after finish; 0 when there were no events). */
int64_t ps_features_as_of(const struct ps_features *f);
/* Counters for the summary. */
long ps_features_n_rows(const struct ps_features *f);
long ps_features_n_after_as_of(const struct ps_features *f);

/* Row `row` (sorted by user id): the user id (borrowed, valid until free). */
const char *ps_features_user_id(const struct ps_features *f, long row, size_t *len);
/* Value of column `col` (0-based after user_id) as a double; NaN when empty
 * or when the column is a string column. */
double ps_features_value(const struct ps_features *f, long row, int col);
/* top_category_k (k = 1..3) of a row: borrowed string, NULL when empty. */
const char *ps_features_top_category(const struct ps_features *f, long row, int k,
                                     size_t *len);
/* Median item price of a category (NaN if the category has no priced item
 * or does not occur). */
double ps_features_category_median(const struct ps_features *f, const char *category,
                                   size_t len);

/* Writes the CSV (header + one row per user) / the .npy with its sidecars
 * X.json and X.ids.txt.  Atomic. */
int ps_features_write_csv(const struct ps_features *f, const char *path, struct ps_err *err);
int ps_features_write_npy(const struct ps_features *f, const char *path, struct ps_err *err);

/* ---- parsing helpers shared with tests -------------------------------- */

/* Strict number parsers over s[0..len): the whole string must match.
 * ps_features_parse_i64: [+-]?[0-9]+ without overflow.  ps_features_parse_f64: [+-]?digits[.digits]
 * [(e|E)[+-]?digits] (no inf, nan, hex or spaces), correctly rounded.
 * Return 0 on success, -1 on a syntax or range error. */
int ps_features_parse_i64(const char *s, size_t len, int64_t *out);
int ps_features_parse_f64(const char *s, size_t len, double *out);

/* Formats a feature value the way the CSV prints it into buf (at least 32
 * bytes, no NUL): empty for NaN, integers below 1e15 exactly ("0" for
 * -0), everything else as printf's "%.12g".  Returns the length. */
int ps_features_format_number(char *buf, double v);

#endif
