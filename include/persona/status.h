/*
 * status.h - status codes and the error context every library call fills.
 *
 * Library functions return an enum ps_status (0 ok, positive = a normal
 * non-error outcome such as end of input, negative = failure) and, on
 * failure, leave a one-line message in a caller-owned struct ps_err or in
 * their handle.  Messages follow git's wording: lowercase, what went wrong
 * first, the subject quoted, no full stop, and point at the input:
 *   events.csv:1042: column "price": expected a number, got "abc"
 * The library never prints and never exits on bad input.
 */
#ifndef PERSONA_STATUS_H
#define PERSONA_STATUS_H

#include <stddef.h>

enum ps_status {
    PS_OK = 0,
    PS_DONE = 1,             /* end of input: not an error */
    PS_ERR_NOMEM = -1,       /* allocation failed */
    PS_ERR_IO = -2,          /* open/read/write failed (errno in message) */
    PS_ERR_BAD_INPUT = -3,   /* malformed file, value or model */
    PS_ERR_BAD_ROW = -4,     /* one bad row; the reader can continue */
    PS_ERR_USAGE = -5,       /* invalid parameters from the caller */
    PS_ERR_TOO_BIG = -6,     /* an input-grown buffer hit its cap */
    PS_ERR_UNSUPPORTED = -7, /* valid input we do not handle */
    PS_ERR_INTERNAL = -8
};

#define PS_ERR_MSG_MAX 1024

/* Caller-owned error context.  Zero-initialise or call ps_err_clear(). */
struct ps_err {
    enum ps_status status;
    char msg[PS_ERR_MSG_MAX];
};

/* Short name of a status, e.g. "bad input".  Never NULL. */
const char *ps_status_str(int status);

void ps_err_clear(struct ps_err *err);

/* Formats the message into err (if err is not NULL) and returns status,
 * so callers can write `return ps_err_set(err, PS_ERR_BAD_INPUT, ...)`. */
int ps_err_set(struct ps_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adding context on the way
 * up, e.g. the file name).  Returns err->status. */
int ps_err_prefix(struct ps_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
