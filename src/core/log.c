/* log.c - library logging through a callback (see log.h). */
#include "persona/log.h"

#include <stdarg.h>
#include <stdio.h>

static ps_log_fn log_fn;
static void *log_ud;

void ps_log_set_callback(ps_log_fn fn, void *ud)
{
    log_fn = fn;
    log_ud = ud;
}

void ps_log(enum ps_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_ud);
}
