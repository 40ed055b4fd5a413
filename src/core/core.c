/* core.c - checked allocation, clocks, byte buffers (see core.h). */
#include "persona/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void ps__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "persona: BUG: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

static void oom(size_t n)
{
    fprintf(stderr, "persona: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ps_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *ps_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *ps_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

void *ps_xgrow(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap;
    if (need <= c)
        return p;
    if (c < 16)
        c = 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            oom(need * elem);
        c *= 2;
    }
    *cap = c;
    return ps_xrealloc(p, c * elem);
}

char *ps_xstrdup(const char *s)
{
    return ps_xstrndup(s, strlen(s));
}

char *ps_xstrndup(const char *s, size_t n)
{
    char *d = ps_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

double ps_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ps_n_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

size_t ps_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

void ps_buf_init(struct ps_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->data = ps_xgrow(b->data, &b->cap, 1, 1);
    b->data[0] = '\0';
}

void ps_buf_release(struct ps_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ps_buf_reset(struct ps_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ps_buf_append(struct ps_buf *b, const void *data, size_t n)
{
    b->data = ps_xgrow(b->data, &b->cap, b->len + n + 1, 1);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ps_buf_putc(struct ps_buf *b, char c)
{
    ps_buf_append(b, &c, 1);
}

void ps_buf_printf(struct ps_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    int n;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        b->data = ps_xgrow(b->data, &b->cap, b->len + (size_t)n + 1, 1);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void ps_buf_json_str(struct ps_buf *b, const char *s, size_t n)
{
    ps_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ps_buf_append(b, "\\\"", 2); break;
        case '\\': ps_buf_append(b, "\\\\", 2); break;
        case '\n': ps_buf_append(b, "\\n", 2); break;
        case '\r': ps_buf_append(b, "\\r", 2); break;
        case '\t': ps_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20)
                ps_buf_printf(b, "\\u%04x", c);
            else
                ps_buf_putc(b, (char)c);
        }
    }
    ps_buf_putc(b, '"');
}
