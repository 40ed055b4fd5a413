/*
 * log.h - library logging through a callback.
 *
 * The library never writes to stdout/stderr itself; it reports notices
 * and warnings here.  The default callback drops everything; the CLI
 * installs one that prints to stderr.
 */
#ifndef PERSONA_LOG_H
#define PERSONA_LOG_H

enum ps_log_level { PS_LOG_DEBUG, PS_LOG_INFO, PS_LOG_WARN };

typedef void (*ps_log_fn)(enum ps_log_level level, const char *msg, void *ud);

void ps_log_set_callback(ps_log_fn fn, void *ud);
void ps_log(enum ps_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
