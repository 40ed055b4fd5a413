/*
 * clean.c - the clean step (see include/persona/clean.h, docs/cleaning.md).
 *
 * One pass per input record: gather the mapped fields, validate and
 * normalise them column by column (the first failure sends the row to
 * quarantine), fingerprint the canonical row for exact duplicates and the
 * key columns for key duplicates, fill missing values, and append the row
 * to a 1 MiB output buffer.  Nothing on this path allocates once the
 * buffers have grown to the largest record (median/mode fills add amortised
 * array growth).
 *
 * Median and mode fills are known only at the end.  Rows then go to an
 * unnamed spool file with the missing cells empty, their byte positions
 * are remembered (16 bytes per deferred cell), and the spool is copied
 * into the output with the values spliced in: one read of the input plus
 * one sequential copy of the output, instead of reading the input twice.
 */
#include "persona/clean.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "persona/afile.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/progress.h"
#include "persona/timeparse.h"

enum { MISS_DEFAULT, MISS_DROP, MISS_KEEP, MISS_FILL, MISS_MEDIAN, MISS_MODE };

#define OUT_FLUSH_BYTES (1u << 20)
#define VALUE_SHOW_MAX 80
#define FP_SEED 0x70657273306e61ULL

struct ps_clean_params ps_clean_default_params(void)
{
    struct ps_clean_params p;
    memset(&p, 0, sizeof p);
    p.schema = PS_SCHEMA_EVENTS;
    p.format = PS_FORMAT_AUTO;
    p.has_header = -1;
    p.max_unknown_events = 1000;
    return p;
}

/* ---- "k=v,k=v" lists ---- */

struct kv {
    char *k, *v; /* point into storage */
};
struct kvlist {
    struct kv *a;
    int n;
    char *storage;
};

static void kvlist_release(struct kvlist *l)
{
    free(l->a);
    free(l->storage);
    memset(l, 0, sizeof *l);
}

static char *trim_inplace(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Parses "k=v,..." (allow_empty_v: "k=" is fine).  what names the option. */
static int kvlist_parse(struct kvlist *l, const char *s, const char *what, int allow_empty_v,
                        struct ps_err *err)
{
    memset(l, 0, sizeof *l);
    if (!s)
        return PS_OK;
    l->storage = ps_xstrdup(s);
    size_t cap = 0;
    char *save = NULL;
    for (char *tok = strtok_r(l->storage, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            int rc = ps_err_set(err, PS_ERR_USAGE, "%s: expected NAME=VALUE, got \"%s\"", what, tok);
            kvlist_release(l);
            return rc;
        }
        *eq = '\0';
        char *k = trim_inplace(tok), *v = trim_inplace(eq + 1);
        if (!*k || (!*v && !allow_empty_v)) {
            int rc = ps_err_set(err, PS_ERR_USAGE, "%s: empty name or value in \"%s=%s\"", what, k, v);
            kvlist_release(l);
            return rc;
        }
        l->a = ps_xgrow(l->a, &cap, (size_t)l->n + 1, sizeof *l->a);
        l->a[l->n].k = k;
        l->a[l->n].v = v;
        l->n++;
    }
    return PS_OK;
}

static const char *kvlist_get(const struct kvlist *l, const char *k)
{
    for (int i = l->n - 1; i >= 0; i--) /* the last one given wins */
        if (strcmp(l->a[i].k, k) == 0)
            return l->a[i].v;
    return NULL;
}

/* ---- 64-bit fingerprint set (open addressing, linear probing) ---- */

struct fpset {
    uint64_t *slots; /* 0 = empty */
    size_t cap, n;   /* cap is a power of two */
};

static void fpset_release(struct fpset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static void fpset_clear(struct fpset *s)
{
    if (s->slots)
        memset(s->slots, 0, s->cap * sizeof *s->slots);
    s->n = 0;
}

/* Zeroed slot array.  Big tables are 2 MiB aligned and asked to be backed
 * by huge pages: every insert is a random access, and with 4 KiB pages
 * most of them also miss the TLB (measured: about a third of the clean
 * step's time on 1M rows). */
static uint64_t *fpset_alloc(size_t n)
{
    size_t bytes = n * sizeof(uint64_t);
    void *p = NULL;
    if (bytes < ((size_t)2 << 20))
        return ps_xcalloc(n, sizeof(uint64_t));
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0)
        return ps_xcalloc(n, sizeof(uint64_t));
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    memset(p, 0, bytes);
    return p;
}

static void fpset_grow_to(struct fpset *s, size_t ncap)
{
    uint64_t *ns = fpset_alloc(ncap);
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slots[i];
        if (!h)
            continue;
        size_t j = (size_t)(h ^ (h >> 29)) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = h;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
}

static void fpset_grow(struct fpset *s)
{
    fpset_grow_to(s, s->cap ? s->cap * 2 : (size_t)1 << 16);
}

/* Sizes the set for about n rows up front: the rehashes of growing from
 * small cost about as much as the inserts themselves. */
static void fpset_reserve(struct fpset *s, uint64_t n)
{
    size_t cap = (size_t)1 << 16;
    if (n > ((uint64_t)1 << 26))
        n = (uint64_t)1 << 26; /* beyond that, grow as needed */
    while ((uint64_t)cap * 7 < n * 10)
        cap *= 2;
    if (cap > s->cap)
        fpset_grow_to(s, cap);
}

/* GCC 12 silently drops __builtin_prefetch here (the set lives in a local
 * struct whose address escapes), so x86-64 gets the instruction itself. */
static void fpset_prefetch(const struct fpset *s, uint64_t h)
{
    if (!h)
        h = 1;
    if (!s->cap)
        return;
    const uint64_t *p = &s->slots[(size_t)(h ^ (h >> 29)) & (s->cap - 1)];
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __asm__ volatile("prefetcht0 %0" : : "m"(*p));
#else
    __builtin_prefetch(p, 0, 3);
#endif
}

/* Returns 1 if h was new (and is now in the set), 0 if already present. */
static int fpset_insert(struct fpset *s, uint64_t h)
{
    if (!h)
        h = 1;
    if ((s->n + 1) * 10 > s->cap * 7)
        fpset_grow(s);
    size_t j = (size_t)(h ^ (h >> 29)) & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->n++;
    return 1;
}

/* ---- columns ---- */

struct col {
    char *name;            /* output name; owned */
    enum ps_coltype type;
    int required, nonneg, decimal_id;
    int policy;            /* MISS_* (MISS_DEFAULT resolved at finalize) */
    char *fill;            /* normalised fill value (constant, median, mode); owned */
    int src;               /* reader column of the current input, -1 = none */
    char *src_name;        /* input name for messages; owned, NULL = none */
    const char *constant;  /* fixed value (borrowed from a kvlist), NULL = none */
    int in_key;            /* part of the dedup key */
    /* current record */
    const char *v;
    size_t len;
    int missing;
    char tsbuf[24];
    struct ps_buf scratch; /* lower-cased tokens */
    /* statistics */
    int64_t n_filled;
    double *vals;          /* median: kept non-missing values */
    size_t n_vals, cap_vals;
    struct ps_strmap *mode_map; /* mode: distinct values */
    int64_t *mode_counts;
    size_t cap_mode;
    /* what the pending row added here, undone if it turns out a duplicate */
    int pend_collected;    /* 1: pushed a median value or counted a mode id */
    uint32_t pend_mode_id;
    int pend_filled;
};

struct evmap {
    char *src; /* lower-cased, owned */
    size_t len;
    int event;
};

struct reason {
    char *key;
    int64_t count;
};

/* A median/mode cell left empty in the spool, filled at the end. */
struct hole {
    uint64_t off; /* byte offset in the spool where the value goes */
    uint32_t col; /* column index */
};

struct clean {
    const struct ps_clean_params *p;
    const struct ps_preset *preset;
    enum ps_schema schema;
    struct col *cols;
    int n_cols, cols_ready;
    struct kvlist umap, pmap, uconst, pconst, missing;
    struct evmap *ev;
    int n_ev;
    int idx_event, idx_qty, idx_order;
    long tz;
    const char *refund_prefix;
    size_t refund_len;
    char **key_names;
    int n_key;
    char *key_storage;
    struct fpset exact, keyset;
    struct reason *reasons;
    int n_reasons;
    size_t cap_reasons;
    struct ps_strmap *unknown;
    int64_t *unknown_counts;
    size_t cap_unknown;
    int64_t unknown_other;
    struct ps_buf row, keybuf, outbuf, qbuf, tmp;
    struct ps_afile out, quar;
    int out_open, quar_open, header_done;
    int multi;
    FILE *spool;           /* median/mode fills: rows before filling, or NULL */
    uint64_t out_bytes;    /* bytes flushed to the output (or spool) so far */
    struct hole *holes;
    size_t n_holes, cap_holes;
    size_t *field_off;     /* per column: offset of the field in c->row */
    /* The last row is appended to outbuf tentatively and judged a duplicate
     * or not while the next one is parsed, so that the fingerprint slots
     * prefetched for it have arrived (see process_record). */
    int pend_active;
    size_t pend_start;     /* its offset in outbuf */
    size_t pend_holes;     /* n_holes before it */
    uint64_t pend_hx, pend_hk;
    const char *cur_path;
    struct ps_reader *r;
    int64_t rows_in, rows_out, exact_dups, key_dups, quarantined;
    char msg[PS_ERR_MSG_MAX];
};

static int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static const struct ps_column_def users_extra_def = {NULL, PS_COL_TEXT, 0, 0, NULL};

static void col_init(struct col *c, const char *name, const struct ps_column_def *d)
{
    memset(c, 0, sizeof *c);
    c->name = ps_xstrdup(name);
    c->type = d->type;
    c->required = d->required;
    c->nonneg = d->nonneg;
    c->src = -1;
    ps_buf_init(&c->scratch);
}

static void col_release(struct col *c)
{
    free(c->name);
    free(c->fill);
    free(c->src_name);
    ps_buf_release(&c->scratch);
    free(c->vals);
    ps_strmap_free(c->mode_map);
    free(c->mode_counts);
}

static int find_col(const struct clean *c, const char *name)
{
    for (int i = 0; i < c->n_cols; i++)
        if (strcmp(c->cols[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- value checks ---- */

/* Decimal number syntax: [+-]digits[.digits][(e|E)[+-]digits], at least
 * one mantissa digit.  Sets *neg for a negative non-zero value. */
static int number_ok(const char *s, size_t n, int *neg)
{
    size_t i = 0;
    int sign = 0, nz = 0, digits = 0, has_exp = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        sign = s[i++] == '-';
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        nz |= s[i++] != '0';
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            nz |= s[i++] != '0';
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        has_exp = 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return 0;
    }
    if (i != n)
        return 0;
    if (has_exp || digits > 300) { /* rare: make sure a double holds it (1e400 does not) */
        char tmp[512];
        if (n >= sizeof tmp)
            return 0;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        if (!isfinite(strtod(tmp, NULL)))
            return 0;
    }
    *neg = sign && nz;
    return 1;
}

static void trim(const char **s, size_t *n)
{
    const char *a = *s;
    size_t len = *n;
    while (len && (*a == ' ' || *a == '\t')) {
        a++;
        len--;
    }
    while (len && (a[len - 1] == ' ' || a[len - 1] == '\t'))
        len--;
    *s = a;
    *n = len;
}

/* "17850.0" -> "17850" (integral decimals only). */
static void strip_decimal_zero(const char *s, size_t *n)
{
    size_t len = *n, i = 0;
    if (i < len && s[i] == '-')
        i++;
    size_t d0 = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d0 || i >= len || s[i] != '.')
        return;
    size_t dot = i++;
    if (i == len)
        return;
    while (i < len && s[i] == '0')
        i++;
    if (i == len)
        *n = dot;
}

/* Quotes a value for a message, cut at VALUE_SHOW_MAX bytes on a UTF-8
 * boundary. */
static void show_value(char *dst, size_t cap, const char *v, size_t n)
{
    size_t m = n;
    int cut = 0;
    if (m > VALUE_SHOW_MAX) {
        m = VALUE_SHOW_MAX;
        while (m && ((unsigned char)v[m] & 0xC0) == 0x80)
            m--;
        cut = 1;
    }
    snprintf(dst, cap, "\"%.*s%s\"", (int)m, v, cut ? "..." : "");
}

static void col_label(const struct col *c, char *dst, size_t cap)
{
    if (c->src_name && strcmp(c->src_name, c->name) != 0)
        snprintf(dst, cap, "column \"%s\" (%s)", c->src_name, c->name);
    else
        snprintf(dst, cap, "column \"%s\"", c->name);
}

/* ---- CSV output ---- */

static void csv_field(struct ps_buf *b, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == ',' || ch == '"' || ch == '\n' || ch == '\r')
            break;
    }
    if (i == n) {
        ps_buf_append(b, s, n);
        return;
    }
    ps_buf_putc(b, '"');
    const char *start = s;
    for (i = 0; i < n; i++)
        if (s[i] == '"') {
            ps_buf_append(b, start, (size_t)(s + i + 1 - start));
            ps_buf_putc(b, '"');
            start = s + i + 1;
        }
    ps_buf_append(b, start, (size_t)(s + n - start));
    ps_buf_putc(b, '"');
}

static int flush_buf(struct clean *c, struct ps_buf *b, struct ps_afile *f, struct ps_err *err)
{
    FILE *fp = b == &c->outbuf && c->spool ? c->spool : f->fp;
    if (b->len && fwrite(b->data, 1, b->len, fp) != b->len)
        return ps_err_set(err, PS_ERR_IO, "cannot write \"%s\"", f->path);
    if (b == &c->outbuf)
        c->out_bytes += b->len;
    ps_buf_reset(b);
    return PS_OK;
}

/* ---- reasons and quarantine ---- */

static void count_reason(struct clean *c, const char *key)
{
    for (int i = 0; i < c->n_reasons; i++)
        if (strcmp(c->reasons[i].key, key) == 0) {
            c->reasons[i].count++;
            return;
        }
    c->reasons = ps_xgrow(c->reasons, &c->cap_reasons, (size_t)c->n_reasons + 1, sizeof *c->reasons);
    c->reasons[c->n_reasons].key = ps_xstrdup(key);
    c->reasons[c->n_reasons].count = 1;
    c->n_reasons++;
}

/* Appends raw bytes with invalid UTF-8 written as \xNN. */
static void escape_raw(struct ps_buf *b, const char *s, size_t n)
{
    while (n) {
        long bad = ps_utf8_invalid_offset(s, n);
        if (bad < 0) {
            ps_buf_append(b, s, n);
            return;
        }
        ps_buf_append(b, s, (size_t)bad);
        ps_buf_printf(b, "\\x%02X", (unsigned char)s[bad]);
        s += bad + 1;
        n -= (size_t)bad + 1;
    }
}

/* Records a rejected row: counts it, writes it to quarantine, and in
 * strict mode turns it into the run's error.  c->msg holds the reason. */
static int reject(struct clean *c, const char *key, int from_reader, struct ps_err *err)
{
    c->quarantined++;
    count_reason(c, key);
    long line = ps_reader_line(c->r);
    if (c->p->strict) {
        const char *name = ps_reader_name(c->r);
        size_t nl = strlen(name);
        if (from_reader && strncmp(c->msg, name, nl) == 0 && c->msg[nl] == ':')
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s", c->msg);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: %s", name, line, c->msg);
    }
    if (!c->quar_open)
        return PS_OK;
    struct ps_buf *q = &c->qbuf;
    if (c->multi) {
        csv_field(q, c->cur_path, strlen(c->cur_path));
        ps_buf_putc(q, ',');
    }
    ps_buf_printf(q, "%ld,", line);
    const char *m = c->msg;
    if (from_reader) { /* drop the reader's "file:line: " prefix: the columns say it */
        const char *name = ps_reader_name(c->r);
        size_t nl = strlen(name);
        if (strncmp(m, name, nl) == 0 && m[nl] == ':') {
            const char *s = m + nl + 1;
            while (*s >= '0' && *s <= '9')
                s++;
            if (*s == ':' && s[1] == ' ')
                m = s + 2;
        }
    }
    csv_field(q, m, strlen(m));
    ps_buf_putc(q, ',');
    size_t rn = 0;
    const char *raw = ps_reader_raw(c->r, &rn);
    ps_buf_reset(&c->tmp);
    if (raw)
        escape_raw(&c->tmp, raw, rn);
    csv_field(q, c->tmp.data, c->tmp.len);
    ps_buf_putc(q, '\n');
    if (q->len >= OUT_FLUSH_BYTES)
        return flush_buf(c, q, &c->quar, err);
    return PS_OK;
}

static void count_unknown(struct clean *c, const char *s, size_t n)
{
    if (!c->unknown)
        c->unknown = ps_strmap_new();
    int64_t id = ps_strmap_find(c->unknown, s, n);
    if (id < 0) {
        if ((int)ps_strmap_count(c->unknown) >= c->p->max_unknown_events) {
            c->unknown_other++;
            return;
        }
        id = ps_strmap_intern(c->unknown, s, n, NULL);
        size_t need = (size_t)id + 1, old = c->cap_unknown;
        c->unknown_counts = ps_xgrow(c->unknown_counts, &c->cap_unknown, need, sizeof(int64_t));
        memset(c->unknown_counts + old, 0, (c->cap_unknown - old) * sizeof(int64_t));
    }
    c->unknown_counts[id]++;
}

/* ---- event names ---- */

static int event_of(const struct clean *c, const char *s, size_t n)
{
    char low[64];
    if (n == 0 || n >= sizeof low)
        return -1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    for (int i = 0; i < c->n_ev; i++) /* user entries first, then the preset's */
        if (c->ev[i].len == n && memcmp(c->ev[i].src, low, n) == 0)
            return c->ev[i].event;
    return ps_event_lookup(low, n);
}

static void add_evmap(struct clean *c, const struct kvlist *l, size_t *cap)
{
    for (int i = l->n - 1; i >= 0; i--) {
        c->ev = ps_xgrow(c->ev, cap, (size_t)c->n_ev + 1, sizeof *c->ev);
        struct evmap *e = &c->ev[c->n_ev++];
        e->src = ps_xstrdup(l->a[i].k);
        e->len = strlen(e->src);
        for (size_t j = 0; j < e->len; j++)
            if (e->src[j] >= 'A' && e->src[j] <= 'Z')
                e->src[j] = (char)(e->src[j] + 32);
        e->event = ps_event_lookup(l->a[i].v, strlen(l->a[i].v));
    }
}

/* ---- parameter checks ---- */

static int parse_policy(const char *s, int *policy, const char **fill)
{
    *fill = NULL;
    if (strcmp(s, "drop") == 0)
        *policy = MISS_DROP;
    else if (strcmp(s, "keep") == 0)
        *policy = MISS_KEEP;
    else if (strcmp(s, "median") == 0)
        *policy = MISS_MEDIAN;
    else if (strcmp(s, "mode") == 0)
        *policy = MISS_MODE;
    else if (strncmp(s, "fill:", 5) == 0) {
        *policy = MISS_FILL;
        *fill = s + 5;
    } else
        return -1;
    return 0;
}

/* Normalises a fill or constant value for a column type.  Returns an owned
 * string, or NULL with a reason in why. */
static char *normalize_value(enum ps_coltype t, const char *v, long tz, const char **why)
{
    const char *s = v;
    size_t n = strlen(v);
    int neg;
    int64_t ts;
    char buf[24];
    if (t != PS_COL_TEXT)
        trim(&s, &n);
    switch (t) {
    case PS_COL_NUMBER:
        if (!number_ok(s, n, &neg)) {
            *why = "expected a number";
            return NULL;
        }
        break;
    case PS_COL_TS:
        if (ps_time_parse(s, n, tz, &ts) != PS_TIME_OK) {
            *why = "expected a timestamp";
            return NULL;
        }
        buf[ps_i64_to_str(ts, buf)] = '\0';
        return ps_xstrdup(buf);
    case PS_COL_EVENT: {
        int e = ps_event_lookup(s, n);
        if (e < 0) {
            *why = "unknown event";
            return NULL;
        }
        return ps_xstrdup(ps_event_name(e));
    }
    case PS_COL_TOKEN: {
        char *o = ps_xstrndup(s, n);
        for (char *q = o; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
        return o;
    }
    default:
        break;
    }
    return ps_xstrndup(s, n);
}

static const struct ps_preset *resolve_preset(const struct ps_clean_params *p, enum ps_schema *schema,
                                              struct ps_err *err)
{
    *schema = p->schema;
    if (!p->preset)
        return NULL;
    const struct ps_preset *any = ps_preset_find_any(p->preset);
    if (!any) {
        int n;
        const struct ps_preset *all = ps_preset_list(&n);
        char names[256] = "";
        for (int i = 0; i < n; i++)
            if (!strstr(names, all[i].name))
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         names[0] ? ", " : "", all[i].name);
        ps_err_set(err, PS_ERR_USAGE, "unknown preset \"%s\" (known: %s)", p->preset, names);
        return NULL;
    }
    if (p->schema_from_preset)
        *schema = any->schema;
    const struct ps_preset *pr = ps_preset_find(p->preset, *schema);
    if (!pr)
        ps_err_set(err, PS_ERR_USAGE, "preset \"%s\" has no %s table (it makes: %s)", p->preset,
                   ps_schema_name(*schema), ps_schema_name(any->schema));
    return pr;
}

int ps_clean_check_params(const struct ps_clean_params *p, struct ps_err *err)
{
    enum ps_schema schema;
    struct kvlist l;
    int rc;
    int ncols;
    const struct ps_column_def *defs;

    if ((unsigned)p->schema >= PS_SCHEMA_COUNT && !p->schema_from_preset)
        return ps_err_set(err, PS_ERR_USAGE, "unknown schema");
    if (p->n_inputs < 1 || !p->inputs)
        return ps_err_set(err, PS_ERR_USAGE, "no input file");
    if (!p->out_path)
        return ps_err_set(err, PS_ERR_USAGE, "no output file");
    if (p->delimiter && p->delimiter != ',' && p->delimiter != '\t' && p->delimiter != ';')
        return ps_err_set(err, PS_ERR_USAGE, "delimiter must be ',', tab or ';'");
    if (p->preset && !resolve_preset(p, &schema, err))
        return PS_ERR_USAGE;
    if (!p->preset)
        schema = p->schema;
    defs = ps_schema_columns(schema, &ncols);
    const struct ps_preset *pr = p->preset ? ps_preset_find(p->preset, schema) : NULL;

    long tz = 0;
    const char *tzs = p->tz ? p->tz : pr ? pr->tz : NULL;
    if (tzs && ps_time_parse_offset(tzs, &tz))
        return ps_err_set(err, PS_ERR_USAGE, "invalid zone offset \"%s\" (expected e.g. +08:00)", tzs);

    /* --map and --set name canonical columns */
    const char *lists[2] = {p->map, p->constants};
    const char *what[2] = {"--map", "--set"};
    for (int k = 0; k < 2; k++) {
        if ((rc = kvlist_parse(&l, lists[k], what[k], 0, err)))
            return rc;
        for (int i = 0; i < l.n; i++) {
            int ci = ps_schema_column_index(schema, l.a[i].k);
            if (ci < 0) {
                rc = ps_err_set(err, PS_ERR_USAGE, "%s: no column \"%s\" in the %s table", what[k],
                                l.a[i].k, ps_schema_name(schema));
                kvlist_release(&l);
                return rc;
            }
            const char *why = NULL;
            char *nv = k == 1 ? normalize_value(defs[ci].type, l.a[i].v, tz, &why) : NULL;
            free(nv);
            if (k == 1 && why) {
                rc = ps_err_set(err, PS_ERR_USAGE, "--set %s: %s, got \"%s\"", l.a[i].k, why, l.a[i].v);
                kvlist_release(&l);
                return rc;
            }
        }
        kvlist_release(&l);
    }

    if ((rc = kvlist_parse(&l, p->event_map, "--event-map", 0, err)))
        return rc;
    for (int i = 0; i < l.n; i++)
        if (ps_event_lookup(l.a[i].v, strlen(l.a[i].v)) < 0) {
            rc = ps_err_set(err, PS_ERR_USAGE,
                            "--event-map: unknown event \"%s\" (known: view, search, click, cart, "
                            "fav, purchase, refund)", l.a[i].v);
            kvlist_release(&l);
            return rc;
        }
    kvlist_release(&l);

    if (p->dedup_key && strcmp(p->dedup_key, "none") != 0) {
        char *ks = ps_xstrdup(p->dedup_key), *save = NULL;
        int n = 0;
        for (char *t = strtok_r(ks, ",", &save); t; t = strtok_r(NULL, ",", &save), n++)
            if (schema != PS_SCHEMA_USERS && ps_schema_column_index(schema, trim_inplace(t)) < 0) {
                rc = ps_err_set(err, PS_ERR_USAGE, "--dedup-key: no column \"%s\" in the %s table",
                                trim_inplace(t), ps_schema_name(schema));
                free(ks);
                return rc;
            }
        free(ks);
        if (n == 0)
            return ps_err_set(err, PS_ERR_USAGE, "--dedup-key: no columns given");
    }

    for (int i = 0; i < p->n_missing; i++) {
        const char *m = p->missing[i], *eq = strchr(m, '='), *fill;
        int policy;
        if (!eq || eq == m)
            return ps_err_set(err, PS_ERR_USAGE, "--missing: expected COLUMN=POLICY, got \"%s\"", m);
        char col[128];
        snprintf(col, sizeof col, "%.*s", (int)(eq - m), m);
        if (parse_policy(eq + 1, &policy, &fill))
            return ps_err_set(err, PS_ERR_USAGE,
                              "--missing %s: unknown policy \"%s\" (drop, keep, fill:VALUE, median, mode)",
                              col, eq + 1);
        int ci = ps_schema_column_index(schema, col);
        if (ci < 0 && schema != PS_SCHEMA_USERS)
            return ps_err_set(err, PS_ERR_USAGE, "--missing: no column \"%s\" in the %s table", col,
                              ps_schema_name(schema));
        enum ps_coltype t = ci >= 0 ? defs[ci].type : PS_COL_TEXT;
        if (policy == MISS_MEDIAN && ci >= 0 && t != PS_COL_NUMBER)
            return ps_err_set(err, PS_ERR_USAGE, "--missing %s: median needs a numeric column", col);
        if (policy == MISS_FILL) {
            const char *why = NULL;
            char *nv = normalize_value(t, fill, tz, &why);
            free(nv);
            if (why)
                return ps_err_set(err, PS_ERR_USAGE, "--missing %s: %s, got \"%s\"", col, why, fill);
            if (!*fill && t != PS_COL_TEXT)
                return ps_err_set(err, PS_ERR_USAGE, "--missing %s: empty fill value", col);
        }
    }
    return PS_OK;
}

/* ---- set-up ---- */

static void split_names(const char *s, char **storage, char ***names, int *n)
{
    *storage = ps_xstrdup(s);
    size_t cap = 0;
    char *save = NULL;
    *names = NULL;
    *n = 0;
    for (char *t = strtok_r(*storage, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        *names = ps_xgrow(*names, &cap, (size_t)*n + 1, sizeof **names);
        (*names)[(*n)++] = trim_inplace(t);
    }
}

/* Applies --missing and defaults, the dedup key, decimal ids. */
static int finalize_cols(struct clean *c, struct ps_err *err)
{
    for (int i = 0; i < c->p->n_missing; i++) {
        const char *m = c->p->missing[i], *eq = strchr(m, '='), *fill;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - m), m);
        int ci = find_col(c, name), policy;
        if (ci < 0)
            return ps_err_set(err, PS_ERR_USAGE, "--missing: no column \"%s\" in the %s table", name,
                              ps_schema_name(c->schema));
        parse_policy(eq + 1, &policy, &fill);
        struct col *col = &c->cols[ci];
        if (policy == MISS_MEDIAN && col->type == PS_COL_TEXT)
            col->type = PS_COL_NUMBER; /* users' extra columns: median makes them numeric */
        col->policy = policy;
        free(col->fill);
        col->fill = NULL;
        if (policy == MISS_FILL) {
            const char *why;
            col->fill = normalize_value(col->type, fill, c->tz, &why);
        }
    }
    for (int i = 0; i < c->n_cols; i++)
        if (c->cols[i].policy == MISS_DEFAULT)
            c->cols[i].policy = c->cols[i].required ? MISS_DROP : MISS_KEEP;

    for (int k = 0; k < c->n_key; k++) {
        int ci = find_col(c, c->key_names[k]);
        if (ci < 0)
            return ps_err_set(err, PS_ERR_USAGE, "--dedup-key: no column \"%s\" in the %s table",
                              c->key_names[k], ps_schema_name(c->schema));
        c->cols[ci].in_key = 1;
    }
    if (c->preset && c->preset->decimal_ids) {
        char *st, **names;
        int n;
        split_names(c->preset->decimal_ids, &st, &names, &n);
        for (int k = 0; k < n; k++) {
            int ci = find_col(c, names[k]);
            if (ci >= 0)
                c->cols[ci].decimal_id = 1;
        }
        free(names);
        free(st);
    }
    c->field_off = ps_xcalloc((size_t)c->n_cols, sizeof *c->field_off);
    c->idx_event = find_col(c, "event");
    c->idx_qty = c->schema == PS_SCHEMA_EVENTS ? find_col(c, "quantity") : -1;
    c->idx_order = c->schema == PS_SCHEMA_EVENTS ? find_col(c, "order_id") : -1;
    c->cols_ready = 1;
    return PS_OK;
}

/* Finds an input column: exact name, then ASCII case-insensitive. */
static int reader_find(struct ps_reader *r, const char *name, const char *claimed)
{
    int i = ps_reader_column_index(r, name);
    if (i >= 0 && !claimed[i])
        return i;
    int n = ps_reader_n_columns(r);
    for (i = 0; i < n; i++)
        if (!claimed[i] && ieq(ps_reader_column_name(r, i), name))
            return i;
    return -1;
}

static void list_columns(struct ps_reader *r, char *dst, size_t cap)
{
    dst[0] = '\0';
    int n = ps_reader_n_columns(r);
    for (int i = 0; i < n && strlen(dst) + 8 < cap; i++)
        snprintf(dst + strlen(dst), cap - strlen(dst), "%s\"%s\"", i ? ", " : "",
                 ps_reader_column_name(r, i));
}

static void set_source(struct col *col, struct ps_reader *r, int idx)
{
    col->src = idx;
    free(col->src_name);
    col->src_name = idx >= 0 ? ps_xstrdup(ps_reader_column_name(r, idx)) : NULL;
}

/* Maps canonical columns onto the columns of the reader just opened. */
static int resolve_columns(struct clean *c, struct ps_err *err)
{
    struct ps_reader *r = c->r;
    int nin = ps_reader_n_columns(r), rc = PS_OK;
    char *claimed = ps_xcalloc((size_t)nin + 1, 1);
    char *nobody = ps_xcalloc((size_t)nin + 1, 1);
    char names[512];
    int ndef;
    const struct ps_column_def *defs = ps_schema_columns(c->schema, &ndef);

    if (!c->n_cols) { /* first input: the canonical columns */
        c->cols = ps_xcalloc((size_t)ndef, sizeof *c->cols);
        for (int i = 0; i < ndef; i++)
            col_init(&c->cols[c->n_cols++], defs[i].name, &defs[i]);
    }
    /* explicit sources: user map > user constant > preset map > preset constant */
    for (int i = 0; i < ndef; i++) {
        struct col *col = &c->cols[i];
        const struct kvlist *src_lists[2] = {&c->umap, &c->pmap};
        const struct kvlist *const_lists[2] = {&c->uconst, &c->pconst};
        col->constant = NULL;
        set_source(col, r, -1);
        for (int k = 0; k < 2; k++) {
            const char *src = kvlist_get(src_lists[k], col->name);
            if (src) {
                /* an explicit map may reuse a column (title and description
                 * both from Description), so it ignores earlier claims */
                int idx = reader_find(r, src, nobody);
                if (idx < 0) {
                    list_columns(r, names, sizeof names);
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                    "%s: no column \"%s\" (mapped to %s%s); columns are: %s",
                                    ps_reader_name(r), src, col->name,
                                    k ? " by the preset" : "", names);
                    goto done;
                }
                set_source(col, r, idx);
                claimed[idx] = 1;
                break;
            }
            const char *cv = kvlist_get(const_lists[k], col->name);
            if (cv) {
                col->constant = cv;
                break;
            }
        }
    }
    /* then by name and alias, among the columns nobody claimed */
    for (int i = 0; i < ndef; i++) {
        struct col *col = &c->cols[i];
        if (col->src >= 0 || col->constant)
            continue;
        int idx = reader_find(r, col->name, claimed);
        if (idx < 0 && defs[i].aliases) {
            char *st, **al;
            int n;
            split_names(defs[i].aliases, &st, &al, &n);
            for (int k = 0; k < n && idx < 0; k++)
                idx = reader_find(r, al[k], claimed);
            free(al);
            free(st);
        }
        if (idx >= 0) {
            set_source(col, r, idx);
            claimed[idx] = 1;
        }
    }
    if (c->schema == PS_SCHEMA_USERS) {
        if (!c->cols_ready) {
            for (int i = 0; i < nin; i++)
                if (!claimed[i]) {
                    c->cols = ps_xrealloc(c->cols, ((size_t)c->n_cols + 1) * sizeof *c->cols);
                    col_init(&c->cols[c->n_cols], ps_reader_column_name(r, i), &users_extra_def);
                    c->n_cols++;
                }
        }
        for (int i = ndef; i < c->n_cols; i++) {
            int idx = reader_find(r, c->cols[i].name, claimed);
            if (idx < 0) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no column \"%s\" (present in the first input)",
                                ps_reader_name(r), c->cols[i].name);
                goto done;
            }
            set_source(&c->cols[i], r, idx);
            claimed[idx] = 1;
        }
    }
    if (!c->cols_ready && (rc = finalize_cols(c, err)))
        goto done;
    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        if (col->required && col->src < 0 && !col->constant && col->policy != MISS_KEEP &&
            col->policy != MISS_FILL) {
            list_columns(r, names, sizeof names);
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s: no column for required \"%s\" (columns are: %s); "
                            "map one with --map %s=COLUMN",
                            ps_reader_name(r), col->name, names, col->name);
            goto done;
        }
    }
done:
    free(claimed);
    free(nobody);
    return rc;
}

/* ---- the row loop ---- */

/* Writes one CSV field at o (room for 2n + 2 bytes); returns its length. */
static size_t csv_put(char *o, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ',' && (ch == ',' || ch == '"' || ch == '\n' || ch == '\r'))
            break;
    }
    if (i == n) {
        memcpy(o, s, n);
        return n;
    }
    size_t k = 0;
    o[k++] = '"';
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            o[k++] = '"';
        o[k++] = s[i];
    }
    o[k++] = '"';
    return k;
}

/* The canonical row into c->row, noting where each field starts.  Sized
 * once for the worst case (every byte a quote), then written directly:
 * this is the hot path of the whole step. */
static void format_row(struct clean *c)
{
    struct ps_buf *b = &c->row;
    size_t need = 2;
    for (int i = 0; i < c->n_cols; i++)
        need += 2 * c->cols[i].len + 3;
    if (b->cap < need)
        b->data = ps_xgrow(b->data, &b->cap, need, 1);
    char *o = b->data;
    size_t n = 0;
    for (int i = 0; i < c->n_cols; i++) {
        if (i)
            o[n++] = ',';
        c->field_off[i] = n;
        n += csv_put(o + n, c->cols[i].v, c->cols[i].len);
    }
    o[n++] = '\n';
    o[n] = '\0';
    b->len = n;
}

static void collect_value(struct col *col)
{
    col->pend_collected = 1;
    if (col->policy == MISS_MEDIAN) {
        char tmp[512];
        size_t n = col->len < sizeof tmp - 1 ? col->len : sizeof tmp - 1;
        memcpy(tmp, col->v, n);
        tmp[n] = '\0';
        col->vals = ps_xgrow(col->vals, &col->cap_vals, col->n_vals + 1, sizeof *col->vals);
        col->vals[col->n_vals++] = strtod(tmp, NULL);
    } else if (col->policy == MISS_MODE) {
        if (!col->mode_map)
            col->mode_map = ps_strmap_new();
        uint32_t id = ps_strmap_intern(col->mode_map, col->v, col->len, NULL);
        size_t old = col->cap_mode;
        col->mode_counts = ps_xgrow(col->mode_counts, &col->cap_mode, (size_t)id + 1, sizeof(int64_t));
        if (col->cap_mode > old)
            memset(col->mode_counts + old, 0, (col->cap_mode - old) * sizeof(int64_t));
        col->mode_counts[id]++;
        col->pend_mode_id = id;
    }
}

/* Validates and normalises one column of the current record.  Returns 0,
 * or 1 with c->msg and *key set for a bad value. */
static int check_col(struct clean *c, struct col *col, int is_refund, char *key, size_t keycap)
{
    const char *v = col->v;
    size_t n = col->len;
    char label[192], shown[VALUE_SHOW_MAX + 8];
    int neg;
    int64_t ts;

    col->missing = 0;
    if (col->type != PS_COL_TEXT)
        trim(&v, &n);
    switch (col->type) {
    case PS_COL_ID:
        if (n && col->decimal_id)
            strip_decimal_zero(v, &n);
        break;
    case PS_COL_TOKEN:
        if (n) {
            ps_buf_reset(&col->scratch);
            ps_buf_append(&col->scratch, v, n);
            for (size_t i = 0; i < n; i++)
                if (col->scratch.data[i] >= 'A' && col->scratch.data[i] <= 'Z')
                    col->scratch.data[i] = (char)(col->scratch.data[i] + 32);
            v = col->scratch.data;
        }
        break;
    case PS_COL_TEXT: {
        size_t i = 0;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r'))
            i++;
        if (i == n)
            n = 0;
        break;
    }
    case PS_COL_NUMBER:
        if (!n)
            break;
        if (!number_ok(v, n, &neg)) {
            col_label(col, label, sizeof label);
            show_value(shown, sizeof shown, v, n);
            snprintf(c->msg, sizeof c->msg, "%s: expected a number, got %s", label, shown);
            snprintf(key, keycap, "bad_number:%s", col->name);
            return 1;
        }
        if (neg && col->nonneg) {
            if (is_refund && col == &c->cols[c->idx_qty]) {
                v++; /* refund lines carry the returned quantity as a negative number */
                n--;
            } else {
                col_label(col, label, sizeof label);
                show_value(shown, sizeof shown, v, n);
                snprintf(c->msg, sizeof c->msg, "%s: negative value %s", label, shown);
                snprintf(key, keycap, "negative:%s", col->name);
                return 1;
            }
        }
        break;
    case PS_COL_TS:
        if (!n)
            break;
        {
            int rc = ps_time_parse(v, n, c->tz, &ts);
            if (rc != PS_TIME_OK) {
                col_label(col, label, sizeof label);
                show_value(shown, sizeof shown, v, n);
                snprintf(c->msg, sizeof c->msg, "%s: %s %s", label,
                         rc == PS_TIME_BAD_DATE ? "invalid date or time" : "expected a timestamp, got",
                         shown);
                snprintf(key, keycap, "bad_ts:%s", col->name);
                return 1;
            }
            n = ps_i64_to_str(ts, col->tsbuf);
            col->tsbuf[n] = '\0';
            v = col->tsbuf;
        }
        break;
    case PS_COL_EVENT:
        if (is_refund) {
            v = "refund";
            n = 6;
            break;
        }
        if (!n)
            break;
        {
            int e = event_of(c, v, n);
            if (e < 0) {
                col_label(col, label, sizeof label);
                show_value(shown, sizeof shown, v, n);
                snprintf(c->msg, sizeof c->msg, "%s: unknown event %s", label, shown);
                snprintf(key, keycap, "unknown_event:%s", col->name);
                count_unknown(c, v, n);
                return 1;
            }
            v = ps_event_name(e);
            n = strlen(v);
        }
        break;
    }
    col->v = v;
    col->len = n;
    if (n == 0) {
        col->missing = 1;
        if (col->policy == MISS_DROP) {
            col_label(col, label, sizeof label);
            snprintf(c->msg, sizeof c->msg, "%s: missing value", label);
            snprintf(key, keycap, "missing:%s", col->name);
            return 1;
        }
    }
    return 0;
}

/* Judges the pending row: kept (counted, maybe flushed) or a duplicate
 * (removed from outbuf, its fills, values and holes undone). */
static int resolve_pending(struct clean *c, struct ps_err *err)
{
    if (!c->pend_active)
        return PS_OK;
    c->pend_active = 0;
    int dup = 0;
    if (!fpset_insert(&c->exact, c->pend_hx)) {
        c->exact_dups++;
        dup = 1;
    } else if (c->n_key && !fpset_insert(&c->keyset, c->pend_hk)) {
        c->key_dups++;
        dup = 1;
    }
    if (!dup) {
        c->rows_out++;
        if (c->outbuf.len >= OUT_FLUSH_BYTES)
            return flush_buf(c, &c->outbuf, &c->out, err);
        return PS_OK;
    }
    c->outbuf.len = c->pend_start;
    c->outbuf.data[c->outbuf.len] = '\0';
    c->n_holes = c->pend_holes;
    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        if (col->pend_filled)
            col->n_filled--;
        if (col->pend_collected) {
            if (col->policy == MISS_MEDIAN)
                col->n_vals--;
            else
                col->mode_counts[col->pend_mode_id]--;
        }
        col->pend_filled = col->pend_collected = 0;
    }
    return PS_OK;
}

static int process_record(struct clean *c, struct ps_err *err)
{
    char key[160];
    int is_refund = 0;

    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        if (col->src >= 0) {
            col->v = ps_reader_field(c->r, col->src, &col->len);
            if (!col->v) {
                col->v = "";
                col->len = 0;
            }
        } else if (col->constant) {
            col->v = col->constant;
            col->len = strlen(col->constant);
        } else {
            col->v = "";
            col->len = 0;
        }
    }
    if (c->refund_prefix && c->idx_order >= 0) {
        const char *o = c->cols[c->idx_order].v;
        size_t on = c->cols[c->idx_order].len;
        trim(&o, &on);
        is_refund = on >= c->refund_len && memcmp(o, c->refund_prefix, c->refund_len) == 0;
    }
    for (int i = 0; i < c->n_cols; i++)
        if (check_col(c, &c->cols[i], is_refund, key, sizeof key))
            return reject(c, key, 0, err);

    /* Duplicates are judged before filling (pandas: drop_duplicates, then
     * fillna).  Each fingerprint lookup is a cache miss in a table far
     * bigger than the cache, so it is prefetched here and resolved only
     * when the next row has been parsed (resolve_pending); meanwhile the
     * row sits at the end of outbuf and is cut off again if it was a
     * duplicate. */
    format_row(c);
    uint64_t hx = ps_hash64(c->row.data, c->row.len, FP_SEED), hk = 0;
    fpset_prefetch(&c->exact, hx);
    if (c->n_key) {
        ps_buf_reset(&c->keybuf);
        for (int i = 0; i < c->n_cols; i++)
            if (c->cols[i].in_key) {
                uint32_t n = (uint32_t)c->cols[i].len;
                ps_buf_append(&c->keybuf, &n, sizeof n);
                ps_buf_append(&c->keybuf, c->cols[i].v, n);
            }
        hk = ps_hash64(c->keybuf.data, c->keybuf.len, FP_SEED + 1);
        fpset_prefetch(&c->keyset, hk);
    }
    int rc = resolve_pending(c, err);
    if (rc)
        return rc;

    int refill = 0, deferred = 0;
    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        int later = col->policy == MISS_MEDIAN || col->policy == MISS_MODE;
        col->pend_collected = col->pend_filled = 0;
        if (!col->missing) {
            if (later)
                collect_value(col);
        } else if (later) {
            deferred = 1;
        } else if (col->fill) {
            col->v = col->fill;
            col->len = strlen(col->fill);
            col->n_filled++;
            col->pend_filled = 1;
            refill = 1;
        }
    }
    if (refill)
        format_row(c);
    c->pend_active = 1;
    c->pend_start = c->outbuf.len;
    c->pend_holes = c->n_holes;
    c->pend_hx = hx;
    c->pend_hk = hk;
    if (deferred) {
        uint64_t base = c->out_bytes + c->outbuf.len;
        for (int i = 0; i < c->n_cols; i++) {
            struct col *col = &c->cols[i];
            if (col->missing && (col->policy == MISS_MEDIAN || col->policy == MISS_MODE)) {
                c->holes = ps_xgrow(c->holes, &c->cap_holes, c->n_holes + 1, sizeof *c->holes);
                c->holes[c->n_holes].off = base + c->field_off[i];
                c->holes[c->n_holes].col = (uint32_t)i;
                c->n_holes++;
            }
        }
    }
    struct ps_buf *ob = &c->outbuf;
    if (ob->cap < ob->len + c->row.len + 1)
        ob->data = ps_xgrow(ob->data, &ob->cap, ob->len + c->row.len + 1, 1);
    memcpy(ob->data + ob->len, c->row.data, c->row.len + 1);
    ob->len += c->row.len;
    return PS_OK;
}

static void write_headers(struct clean *c)
{
    for (int i = 0; i < c->n_cols; i++) {
        if (i)
            ps_buf_putc(&c->outbuf, ',');
        csv_field(&c->outbuf, c->cols[i].name, strlen(c->cols[i].name));
    }
    ps_buf_putc(&c->outbuf, '\n');
    if (c->quar_open)
        ps_buf_printf(&c->qbuf, "%sline,reason,raw\n", c->multi ? "file," : "");
    c->header_done = 1;
}

static int run_pass(struct clean *c, struct ps_err *err)
{
    const struct ps_clean_params *p = c->p;
    char *col_storage = NULL, **col_names = NULL;
    int n_col_names = 0, rc = PS_OK;
    struct ps_reader_params rp = ps_reader_default_params();

    rp.format = p->format != PS_FORMAT_AUTO ? p->format : c->preset ? c->preset->format : PS_FORMAT_AUTO;
    rp.delimiter = p->delimiter;
    const char *cols = p->columns ? p->columns : c->preset ? c->preset->columns : NULL;
    if (cols) {
        split_names(cols, &col_storage, &col_names, &n_col_names);
        rp.columns = (const char *const *)col_names;
        rp.n_columns = n_col_names;
    }
    rp.has_header = p->has_header >= 0 ? p->has_header
                  : p->columns ? 0
                  : c->preset ? c->preset->has_header : 1;

    c->rows_in = c->rows_out = c->exact_dups = c->key_dups = c->quarantined = 0;
    for (int i = 0; i < c->n_reasons; i++)
        free(c->reasons[i].key);
    c->n_reasons = 0;
    ps_strmap_free(c->unknown);
    c->unknown = NULL;
    c->unknown_other = 0;
    if (c->unknown_counts)
        memset(c->unknown_counts, 0, c->cap_unknown * sizeof *c->unknown_counts);
    fpset_clear(&c->exact);
    fpset_clear(&c->keyset);
    for (int i = 0; i < c->n_cols; i++)
        c->cols[i].n_filled = 0;

    for (int f = 0; f < p->n_inputs && rc == PS_OK; f++) {
        struct ps_progress pg;
        struct stat st;
        c->cur_path = p->inputs[f];
        rc = ps_reader_open(&c->r, c->cur_path, &rp, err);
        if (rc)
            break;
        if ((rc = resolve_columns(c, err)))
            goto next;
        if (!c->header_done)
            write_headers(c);
        int have_size = stat(c->cur_path, &st) == 0 && S_ISREG(st.st_mode);
        if (have_size) { /* ~48 bytes per row is typical of event logs */
            uint64_t est = c->exact.n + (uint64_t)st.st_size / 48;
            fpset_reserve(&c->exact, est);
            if (c->n_key)
                fpset_reserve(&c->keyset, est);
        }
        ps_progress_begin(&pg, "clean", p->progress && have_size ? (uint64_t)st.st_size : 0);
        if (!p->progress)
            pg.active = 0;
        for (;;) {
            int r = ps_reader_next(c->r);
            if (r == PS_DONE)
                break;
            c->rows_in++;
            if (r == PS_ERR_BAD_ROW) {
                snprintf(c->msg, sizeof c->msg, "%s", ps_reader_errmsg(c->r));
                rc = reject(c, "bad_record", 1, err);
            } else if (r != PS_OK) {
                c->rows_in--;
                rc = ps_err_set(err, r, "%s", ps_reader_errmsg(c->r));
            } else {
                rc = process_record(c, err);
            }
            if (rc)
                break;
            if (pg.active && (c->rows_in & 0xffff) == 0)
                ps_progress_update(&pg, ps_reader_bytes_read(c->r));
        }
        if (rc == PS_OK)
            rc = resolve_pending(c, err);
        ps_progress_end(&pg);
    next:
        ps_reader_close(c->r);
        c->r = NULL;
    }
    free(col_names);
    free(col_storage);
    return rc;
}

/* k-th smallest of v[0..n) in expected O(n) (Hoare's quickselect with a
 * median-of-three pivot); reorders v. */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static char *format_double(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    return ps_xstrdup(buf);
}

static void compute_fills(struct clean *c)
{
    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        if (col->policy == MISS_MEDIAN && col->n_vals) {
            size_t n = col->n_vals;
            double hi = select_kth(col->vals, n, n / 2), med = hi;
            if (n % 2 == 0) { /* mean of the two middle values; the lower is the
                               * largest of the left part after selection */
                double lo = col->vals[0];
                for (size_t m = 1; m < n / 2; m++)
                    if (col->vals[m] > lo)
                        lo = col->vals[m];
                med = (lo + hi) / 2;
            }
            col->fill = format_double(med);
        } else if (col->policy == MISS_MODE && col->mode_map) {
            /* most frequent; ties go to the smallest value (pandas mode()[0]),
             * numerically for numbers, bytewise otherwise */
            uint32_t n = ps_strmap_count(col->mode_map), best = 0;
            for (uint32_t id = 1; id < n; id++) {
                int64_t cb = col->mode_counts[best], ci = col->mode_counts[id];
                if (ci < cb)
                    continue;
                if (ci == cb) {
                    const char *a = ps_strmap_key(col->mode_map, id, NULL);
                    const char *b = ps_strmap_key(col->mode_map, best, NULL);
                    int less = col->type == PS_COL_NUMBER ? strtod(a, NULL) < strtod(b, NULL)
                                                          : strcmp(a, b) < 0;
                    if (!less)
                        continue;
                }
                best = id;
            }
            if (col->mode_counts[best] > 0) /* values of duplicates only: none */
                col->fill = ps_xstrdup(ps_strmap_key(col->mode_map, best, NULL));
        }
    }
}

static int cmp_reason(const void *a, const void *b)
{
    return strcmp(((const struct ps_clean_count *)a)->name, ((const struct ps_clean_count *)b)->name);
}

static void fill_summary(struct clean *c, struct ps_clean_summary *s)
{
    s->rows_in = c->rows_in;
    s->rows_out = c->rows_out;
    s->exact_duplicates = c->exact_dups;
    s->key_duplicates = c->key_dups;
    s->quarantined = c->quarantined;
    s->reasons = ps_xcalloc((size_t)c->n_reasons + 1, sizeof *s->reasons);
    for (int i = 0; i < c->n_reasons; i++) {
        s->reasons[i].name = ps_xstrdup(c->reasons[i].key);
        s->reasons[i].count = c->reasons[i].count;
    }
    s->n_reasons = c->n_reasons;
    qsort(s->reasons, (size_t)s->n_reasons, sizeof *s->reasons, cmp_reason);
    s->filled = ps_xcalloc((size_t)c->n_cols + 1, sizeof *s->filled);
    s->mapping = ps_xcalloc((size_t)c->n_cols + 1, sizeof *s->mapping);
    for (int i = 0; i < c->n_cols; i++) {
        struct col *col = &c->cols[i];
        if (col->n_filled) {
            s->filled[s->n_filled].name = ps_xstrdup(col->name);
            s->filled[s->n_filled].count = col->n_filled;
            s->filled[s->n_filled].value = col->fill ? ps_xstrdup(col->fill) : NULL;
            s->n_filled++;
        }
        struct ps_buf b;
        ps_buf_init(&b);
        if (col->constant)
            ps_buf_printf(&b, "%s:=%s", col->name, col->constant);
        else
            ps_buf_printf(&b, "%s=%s", col->name, col->src_name ? col->src_name : "");
        s->mapping[s->n_mapping++] = b.data;
    }
    uint32_t nu = c->unknown ? ps_strmap_count(c->unknown) : 0;
    s->unknown_events = ps_xcalloc((size_t)nu + 2, sizeof *s->unknown_events);
    for (uint32_t i = 0; i < nu; i++) {
        s->unknown_events[i].name = ps_xstrdup(ps_strmap_key(c->unknown, i, NULL));
        s->unknown_events[i].count = c->unknown_counts[i];
    }
    s->n_unknown_events = (int)nu;
    qsort(s->unknown_events, nu, sizeof *s->unknown_events, cmp_reason);
    if (c->unknown_other) {
        s->unknown_events[nu].name = ps_xstrdup("(other)");
        s->unknown_events[nu].count = c->unknown_other;
        s->n_unknown_events++;
    }
    if (c->n_key) {
        struct ps_buf b;
        ps_buf_init(&b);
        for (int k = 0; k < c->n_key; k++)
            ps_buf_printf(&b, "%s%s", k ? "," : "", c->key_names[k]);
        s->dedup_key = b.data;
    }
}

/* Copies the spool into the output, writing each median/mode value at
 * its hole.  Columns without any value to take one from stay empty. */
static int splice_fills(struct clean *c, struct ps_err *err)
{
    char buf[1 << 16];
    uint64_t pos = 0;
    size_t h = 0;
    struct ps_buf cell;

    for (size_t i = 0; i < c->n_holes; i++) {
        struct col *col = &c->cols[c->holes[i].col];
        if (col->fill)
            col->n_filled++;
    }
    for (int i = 0; i < c->n_cols; i++)
        if ((c->cols[i].policy == MISS_MEDIAN || c->cols[i].policy == MISS_MODE) && !c->cols[i].fill)
            ps_log(PS_LOG_WARN, "column \"%s\": no values to take a %s from; left empty",
                   c->cols[i].name, c->cols[i].policy == MISS_MEDIAN ? "median" : "mode");
    if (fflush(c->spool) || fseek(c->spool, 0, SEEK_SET))
        return ps_err_set(err, PS_ERR_IO, "cannot read back the temporary file");
    /* Pieces are gathered in outbuf (empty by now) and written in large
     * blocks; the spool no longer takes writes. */
    FILE *spool = c->spool;
    c->spool = NULL;
    ps_buf_init(&cell);
    for (;;) {
        size_t n = fread(buf, 1, sizeof buf, spool), at = 0;
        if (n == 0)
            break;
        while (h < c->n_holes && c->holes[h].off < pos + n) {
            size_t cut = (size_t)(c->holes[h].off - pos);
            ps_buf_append(&c->outbuf, buf + at, cut - at);
            at = cut;
            const struct col *col = &c->cols[c->holes[h].col];
            if (col->fill)
                csv_field(&c->outbuf, col->fill, strlen(col->fill));
            h++;
        }
        ps_buf_append(&c->outbuf, buf + at, n - at);
        pos += n;
        if (c->outbuf.len >= OUT_FLUSH_BYTES && flush_buf(c, &c->outbuf, &c->out, err))
            break;
    }
    ps_buf_release(&cell);
    int rc = flush_buf(c, &c->outbuf, &c->out, err);
    c->spool = spool; /* closed by clean_release */
    if (rc)
        return rc;
    if (ferror(c->spool))
        return ps_err_set(err, PS_ERR_IO, "cannot read back the temporary file");
    return PS_OK;
}

static void clean_release(struct clean *c)
{
    for (int i = 0; i < c->n_cols; i++)
        col_release(&c->cols[i]);
    free(c->cols);
    kvlist_release(&c->umap);
    kvlist_release(&c->pmap);
    kvlist_release(&c->uconst);
    kvlist_release(&c->pconst);
    for (int i = 0; i < c->n_ev; i++)
        free(c->ev[i].src);
    free(c->ev);
    free(c->key_names);
    free(c->key_storage);
    fpset_release(&c->exact);
    fpset_release(&c->keyset);
    for (int i = 0; i < c->n_reasons; i++)
        free(c->reasons[i].key);
    free(c->reasons);
    ps_strmap_free(c->unknown);
    free(c->unknown_counts);
    ps_buf_release(&c->row);
    ps_buf_release(&c->keybuf);
    ps_buf_release(&c->outbuf);
    ps_buf_release(&c->qbuf);
    ps_buf_release(&c->tmp);
    if (c->spool)
        fclose(c->spool);
    free(c->holes);
    free(c->field_off);
    if (c->out_open)
        ps_afile_abort(&c->out);
    if (c->quar_open)
        ps_afile_abort(&c->quar);
}

int ps_clean_run(const struct ps_clean_params *p, struct ps_clean_summary *sum, struct ps_err *err)
{
    struct clean c;
    int rc;
    double t0 = ps_now();

    memset(sum, 0, sizeof *sum);
    memset(&c, 0, sizeof c);
    ps_buf_init(&c.row);
    ps_buf_init(&c.keybuf);
    ps_buf_init(&c.outbuf);
    ps_buf_init(&c.qbuf);
    ps_buf_init(&c.tmp);
    c.p = p;
    if ((rc = ps_clean_check_params(p, err)))
        goto done;
    c.preset = resolve_preset(p, &c.schema, err);
    if (!p->preset)
        c.schema = p->schema;
    sum->schema = c.schema;
    sum->preset = p->preset;
    c.multi = p->n_inputs > 1;
    const char *tzs = p->tz ? p->tz : c.preset ? c.preset->tz : NULL;
    if (tzs)
        ps_time_parse_offset(tzs, &c.tz);
    if (c.preset && c.preset->refund_prefix) {
        c.refund_prefix = c.preset->refund_prefix;
        c.refund_len = strlen(c.refund_prefix);
    }
    if ((rc = kvlist_parse(&c.umap, p->map, "--map", 0, err)) ||
        (rc = kvlist_parse(&c.uconst, p->constants, "--set", 0, err)) ||
        (rc = kvlist_parse(&c.pmap, c.preset ? c.preset->map : NULL, "preset map", 0, err)) ||
        (rc = kvlist_parse(&c.pconst, c.preset ? c.preset->constants : NULL, "preset constants", 0, err)))
        goto done;
    {
        struct kvlist ue, pe;
        size_t cap = 0;
        kvlist_parse(&ue, p->event_map, "--event-map", 0, err);
        kvlist_parse(&pe, c.preset ? c.preset->event_map : NULL, "preset event map", 0, err);
        add_evmap(&c, &ue, &cap);
        add_evmap(&c, &pe, &cap);
        kvlist_release(&ue);
        kvlist_release(&pe);
    }
    {
        const char *dk = p->dedup_key ? p->dedup_key
                       : c.preset && c.preset->dedup_key ? c.preset->dedup_key
                       : ps_schema_default_dedup_key(c.schema);
        if (dk && strcmp(dk, "none") != 0)
            split_names(dk, &c.key_storage, &c.key_names, &c.n_key);
    }

    int later = 0;
    for (int i = 0; i < p->n_missing; i++) {
        const char *eq = strchr(p->missing[i], '='), *fill;
        int policy;
        if (eq && parse_policy(eq + 1, &policy, &fill) == 0 &&
            (policy == MISS_MEDIAN || policy == MISS_MODE))
            later = 1;
    }
    if ((rc = ps_afile_open(&c.out, p->out_path, err)))
        goto done;
    c.out_open = 1;
    if (later && !(c.spool = tmpfile())) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot create a temporary file for median/mode fills");
        goto done;
    }
    if (p->quarantine_path && !p->strict) {
        if ((rc = ps_afile_open(&c.quar, p->quarantine_path, err)))
            goto done;
        c.quar_open = 1;
    }
    if ((rc = run_pass(&c, err)))
        goto done;
    if (!c.header_done)
        write_headers(&c);
    if ((rc = flush_buf(&c, &c.outbuf, &c.out, err)))
        goto done;
    if (c.quar_open && (rc = flush_buf(&c, &c.qbuf, &c.quar, err)))
        goto done;
    if (c.spool) {
        compute_fills(&c);
        if ((rc = splice_fills(&c, err)))
            goto done;
    }
    PS_ASSERT(c.rows_in == c.rows_out + c.exact_dups + c.key_dups + c.quarantined);
    fill_summary(&c, sum);
    sum->seconds = ps_now() - t0;
    if ((rc = ps_afile_commit(&c.out, err)))
        goto done;
    c.out_open = 0;
    if (c.quar_open) {
        if ((rc = ps_afile_commit(&c.quar, err)))
            goto done;
        c.quar_open = 0;
    }
    if (p->summary_path) {
        struct ps_afile sf;
        struct ps_buf b;
        if ((rc = ps_afile_open(&sf, p->summary_path, err)))
            goto done;
        ps_buf_init(&b);
        ps_clean_summary_json(sum, &b);
        ps_buf_putc(&b, '\n');
        fwrite(b.data, 1, b.len, sf.fp);
        ps_buf_release(&b);
        if ((rc = ps_afile_commit(&sf, err))) {
            ps_afile_abort(&sf);
            goto done;
        }
    }
done:
    if (rc && !sum->reasons) {
        sum->rows_in = c.rows_in;
        sum->rows_out = c.rows_out;
        sum->exact_duplicates = c.exact_dups;
        sum->key_duplicates = c.key_dups;
        sum->quarantined = c.quarantined;
    }
    clean_release(&c);
    return rc;
}

void ps_clean_summary_release(struct ps_clean_summary *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_reasons; i++)
        free(s->reasons[i].name);
    free(s->reasons);
    for (int i = 0; i < s->n_filled; i++) {
        free(s->filled[i].name);
        free(s->filled[i].value);
    }
    free(s->filled);
    for (int i = 0; i < s->n_unknown_events; i++)
        free(s->unknown_events[i].name);
    free(s->unknown_events);
    for (int i = 0; i < s->n_mapping; i++)
        free(s->mapping[i]);
    free(s->mapping);
    free(s->dedup_key);
    memset(s, 0, sizeof *s);
}

static void json_counts(struct ps_buf *b, const char *key, const struct ps_clean_count *a, int n)
{
    ps_buf_printf(b, ", \"%s\": {", key);
    for (int i = 0; i < n; i++) {
        ps_buf_printf(b, "%s", i ? ", " : "");
        ps_buf_json_str(b, a[i].name, strlen(a[i].name));
        ps_buf_printf(b, ": %lld", (long long)a[i].count);
    }
    ps_buf_putc(b, '}');
}

void ps_clean_summary_json(const struct ps_clean_summary *s, struct ps_buf *b)
{
    ps_buf_printf(b, "{\"schema\": \"%s\", \"preset\": ", ps_schema_name(s->schema));
    if (s->preset)
        ps_buf_json_str(b, s->preset, strlen(s->preset));
    else
        ps_buf_printf(b, "null");
    ps_buf_printf(b, ", \"rows_in\": %lld, \"rows_out\": %lld, \"exact_duplicates\": %lld, "
                     "\"key_duplicates\": %lld, \"quarantined\": %lld",
                  (long long)s->rows_in, (long long)s->rows_out, (long long)s->exact_duplicates,
                  (long long)s->key_duplicates, (long long)s->quarantined);
    json_counts(b, "reasons", s->reasons, s->n_reasons);
    json_counts(b, "filled", s->filled, s->n_filled);
    ps_buf_printf(b, ", \"fill_values\": {");
    int k = 0;
    for (int i = 0; i < s->n_filled; i++)
        if (s->filled[i].value) {
            ps_buf_printf(b, "%s", k++ ? ", " : "");
            ps_buf_json_str(b, s->filled[i].name, strlen(s->filled[i].name));
            ps_buf_printf(b, ": ");
            ps_buf_json_str(b, s->filled[i].value, strlen(s->filled[i].value));
        }
    ps_buf_putc(b, '}');
    json_counts(b, "unknown_events", s->unknown_events, s->n_unknown_events);
    ps_buf_printf(b, ", \"dedup_key\": ");
    if (s->dedup_key)
        ps_buf_json_str(b, s->dedup_key, strlen(s->dedup_key));
    else
        ps_buf_printf(b, "null");
    ps_buf_printf(b, ", \"columns\": {");
    for (int i = 0; i < s->n_mapping; i++) {
        const char *m = s->mapping[i], *eq = strchr(m, '=');
        int is_const = eq > m && eq[-1] == ':';
        size_t kl = (size_t)(eq - m) - (size_t)is_const;
        ps_buf_printf(b, "%s", i ? ", " : "");
        ps_buf_json_str(b, m, kl);
        ps_buf_printf(b, ": ");
        if (is_const) {
            ps_buf_printf(b, "{\"constant\": ");
            ps_buf_json_str(b, eq + 1, strlen(eq + 1));
            ps_buf_putc(b, '}');
        } else if (eq[1]) {
            ps_buf_json_str(b, eq + 1, strlen(eq + 1));
        } else {
            ps_buf_printf(b, "null");
        }
    }
    ps_buf_printf(b, "}}"); /* no wall time: the file is byte-identical across runs */
}

void ps_clean_summary_text(const struct ps_clean_summary *s, struct ps_buf *b)
{
    ps_buf_printf(b, "clean %s: %lld rows in, %lld out, %lld exact duplicates, %lld key duplicates, "
                     "%lld quarantined (%.2f s)\n",
                  ps_schema_name(s->schema), (long long)s->rows_in, (long long)s->rows_out,
                  (long long)s->exact_duplicates, (long long)s->key_duplicates,
                  (long long)s->quarantined, s->seconds);
    for (int i = 0; i < s->n_reasons; i++)
        ps_buf_printf(b, "  quarantined %-24s %lld\n", s->reasons[i].name, (long long)s->reasons[i].count);
    for (int i = 0; i < s->n_filled; i++)
        ps_buf_printf(b, "  filled %-29s %lld%s%s%s\n", s->filled[i].name, (long long)s->filled[i].count,
                      s->filled[i].value ? " (with \"" : "", s->filled[i].value ? s->filled[i].value : "",
                      s->filled[i].value ? "\")" : "");
    if (s->n_unknown_events) {
        ps_buf_printf(b, "  unknown events:");
        for (int i = 0; i < s->n_unknown_events && i < 20; i++)
            ps_buf_printf(b, " %s (%lld)", s->unknown_events[i].name, (long long)s->unknown_events[i].count);
        ps_buf_printf(b, "%s\n", s->n_unknown_events > 20 ? " ..." : "");
    }
}
