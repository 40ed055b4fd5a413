/* status.c - status names and the error context (see status.h). */
#include "persona/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ps_status_str(int status)
{
    switch (status) {
    case PS_OK: return "ok";
    case PS_DONE: return "done";
    case PS_ERR_NOMEM: return "out of memory";
    case PS_ERR_IO: return "i/o error";
    case PS_ERR_BAD_INPUT: return "bad input";
    case PS_ERR_BAD_ROW: return "bad row";
    case PS_ERR_USAGE: return "usage error";
    case PS_ERR_TOO_BIG: return "input too big";
    case PS_ERR_UNSUPPORTED: return "unsupported";
    case PS_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

void ps_err_clear(struct ps_err *err)
{
    if (!err)
        return;
    err->status = PS_OK;
    err->msg[0] = '\0';
}

int ps_err_set(struct ps_err *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int ps_err_prefix(struct ps_err *err, const char *fmt, ...)
{
    char prefix[PS_ERR_MSG_MAX / 2], old[PS_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return PS_ERR_INTERNAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: messages are bounded by design. */
    size_t n = strlen(prefix);
    memcpy(err->msg, prefix, n);
    err->msg[n] = ':';
    err->msg[n + 1] = ' ';
    size_t rest = sizeof err->msg - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    return err->status;
}
