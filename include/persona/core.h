/*
 * core.h - checked allocation, invariant assertions, small helpers.
 *
 * Allocation failure is a resource error, not bad input: ps_xmalloc and
 * friends print the requested size and abort, as git's xmalloc does.
 * Every buffer that input can grow must be capped by its owner, so bad
 * input is reported as PS_ERR_TOO_BIG long before memory runs out.
 */
#ifndef PERSONA_CORE_H
#define PERSONA_CORE_H

#include <stddef.h>
#include <stdint.h>

#define PERSONA_VERSION "0.1.0"

/* Broken invariant (a bug, never bad input): print file:line and abort. */
#define PS_ASSERT(cond) \
    do { if (!(cond)) ps__assert_fail(#cond, __FILE__, __LINE__); } while (0)
void ps__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

void *ps_xmalloc(size_t n);
void *ps_xcalloc(size_t count, size_t size);
void *ps_xrealloc(void *p, size_t n);
/* Grows an array to hold at least `need` elements of `elem` bytes,
 * doubling; updates *cap.  Returns the (possibly moved) pointer. */
void *ps_xgrow(void *p, size_t *cap, size_t need, size_t elem);
char *ps_xstrdup(const char *s);
char *ps_xstrndup(const char *s, size_t n);

/* Monotonic wall clock in seconds. */
double ps_now(void);

/* Number of online CPUs (at least 1). */
int ps_n_cpus(void);

/* Peak resident set size of this process in bytes (0 if unknown). */
size_t ps_peak_rss(void);

/* Growable byte buffer (git's strbuf).  Always NUL-terminated. */
struct ps_buf {
    char *data;     /* NUL-terminated contents, owned */
    size_t len;     /* bytes used, excluding the NUL */
    size_t cap;     /* bytes allocated */
};
void ps_buf_init(struct ps_buf *b);
void ps_buf_release(struct ps_buf *b);
void ps_buf_reset(struct ps_buf *b);
void ps_buf_append(struct ps_buf *b, const void *data, size_t n);
void ps_buf_putc(struct ps_buf *b, char c);
void ps_buf_printf(struct ps_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s to b as a JSON string literal (quotes and escapes included). */
void ps_buf_json_str(struct ps_buf *b, const char *s, size_t n);

#endif
