/*
 * reader.c - streaming reader for RFC 4180 CSV and JSON Lines.
 *
 * Where it sits: every command that ingests a table (clean, presets,
 * features, demo checks) reads through this one reader; see docs/reader.md
 * for the accepted dialect, the policies and every error message.
 *
 * Shape.  Input is read in large blocks (1 MiB by default) into one buffer;
 * a record is parsed where it lies, and only a record cut by the end of
 * the buffer is moved to the front before the next read.  The decoded
 * fields of the current record go to a second buffer, each NUL-terminated,
 * so the raw bytes stay intact for ps_reader_raw().  Both buffers are
 * reused: no allocation per field or record in steady state.  Memory is
 * bounded by max_record_bytes (plus one block), never by the file.
 *
 * CSV hot path: the line is found with memchr, then one SSE2 pass (a
 * scalar twin elsewhere) finds the delimiters and tells whether the line
 * holds a quote, a NUL byte or any non-ASCII byte.  Lines without quotes
 * (most of a typical event log) are split from the delimiter bitmask;
 * anything else goes through the general decoder (quotes, doubled quotes,
 * embedded newlines).  UTF-8 is validated per record only when a
 * non-ASCII byte was seen, with an 8-bytes-at-a-time ASCII skip.
 *
 * Errors inside a record (a bad row) are located with a small quote-state
 * machine (qsm_*) that replays the raw record up to the offending byte, to
 * name the column and the physical line; the same machine skips the rest
 * of a record that is over the size caps without storing it.
 *
 * Limits: records up to max_record_bytes, fields up to max_field_bytes
 * (raw length, quotes included); JSON Lines records are parsed by jansson,
 * one allocation tree per line (JSON Lines is not the hot path).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "persona/core.h"
#include "persona/reader.h"
#include "data/utf8.h"

#define DEFAULT_BLOCK (1u << 20)
#define DEFAULT_MAX_FIELD ((size_t)1 << 20)
#define DEFAULT_MAX_RECORD ((size_t)16 << 20)
#define MAX_CAP ((size_t)1 << 30)
#define MAX_BLOCK ((size_t)256 << 20)
#define PAD 64                 /* zeroed bytes after the data (SIMD over-read) */
#define RAW_KEEP (64u << 10)   /* raw bytes kept of a record over the caps */
#define SNIFF_BYTES (64u << 10)
#define SNIFF_JSON (1u << 20)   /* bytes searched for a first JSON object */

/* Internal outcome of a parse attempt: the record is cut by the end of
 * the buffered data and more input is needed. */
#define NEED_MORE 2
/* The fast path declines the line (quote or NUL seen). */
#define SLOW 3

/* Test hook (see tests/test_reader.c): 1 forces the scalar line scanner. */
int ps__reader_force_scalar;

enum rec_err_kind {
    E_NONE,
    E_UNTERM,     /* quoted field still open at end of input */
    E_AFTERQ,     /* a byte other than delimiter / line end after a closing quote */
    E_REC_BIG,    /* record over max_record_bytes */
    E_FIELD_BIG,  /* field over max_field_bytes */
    E_NUL,        /* NUL byte */
    E_UTF8,       /* invalid UTF-8 */
    E_FEW,        /* fewer fields than columns */
    E_MANY        /* more fields than columns */
};

struct rec_err {
    enum rec_err_kind kind;
    size_t off;              /* offset in the raw record of the offending byte */
};

struct fld {
    size_t off;              /* offset of the field in fbuf */
    size_t len;              /* decoded length in bytes */
};

/* A value's raw span in a JSON line (see json_scan). */
struct jspan {
    size_t ks, ke;           /* key, between the quotes */
    size_t vs, ve;           /* value */
};

struct ps_reader {
    /* source */
    int fd;                  /* -1 when reading from memory */
    int own_fd;              /* close fd on ps_reader_close */
    const char *mem;         /* memory source (borrowed) */
    size_t mem_len, mem_pos;
    int eof;                 /* source exhausted */
    char *name;              /* display name, owned */

    /* dialect and limits */
    enum ps_format format;
    char delim;
    size_t max_field, max_record, block;

    /* input buffer: data in buf[0..len), next record at pos, PAD zero bytes after len */
    char *buf;
    size_t cap, len, pos;
    uint64_t buf_off;        /* file offset of buf[0] */

    /* columns */
    int n_cols;              /* -1 while reading a header (any field count) */
    char **cols;             /* owned names */
    int numbered;            /* names are "1".."n": messages say column N */

    /* current record */
    char *fbuf;              /* decoded fields, each followed by a NUL */
    size_t fcap;
    struct fld *flds;        /* fields of the current record (first fcap_n of them) */
    int fcap_n;
    int n_fields;            /* fields in the current record (may exceed what is stored) */
    int have_record;         /* 1 after PS_OK: fields may be read */
    const char *raw;
    size_t raw_len;
    char *rawbuf;            /* raw prefix of a record skipped over the caps */
    size_t rawcap;
    long line;               /* line on which the current record starts */
    long next_line;          /* line on which the next record starts */
    long n_records;
    int pending;             /* a first record parsed at open waits to be returned */
    int pending_rc;
    int trunc_raw;           /* the bad row is over the caps: raw is cut to raw_keep() */
    int fatal;               /* a fatal status, returned again by every later call */
    char msg[PS_ERR_MSG_MAX];

    /* JSON Lines */
    struct jspan *spans;
    size_t n_spans_cap;
};

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static void set_msg(struct ps_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_msg(struct ps_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* "column \"name\"" or "column N" (1-based) into out. */
static const char *col_ref(const struct ps_reader *r, int i, char *out, size_t n)
{
    if (r->n_cols > 0 && i >= 0 && i < r->n_cols && r->cols && r->cols[i][0] && !r->numbered)
        snprintf(out, n, "column \"%.200s\"", r->cols[i]);
    else
        snprintf(out, n, "column %d", i + 1);
    return out;
}

/* ------------------------------------------------------------------ */
/* Params                                                              */

struct ps_reader_params ps_reader_default_params(void)
{
    struct ps_reader_params p;
    memset(&p, 0, sizeof p);
    p.format = PS_FORMAT_AUTO;
    p.delimiter = 0;
    p.has_header = 1;
    p.columns = NULL;
    p.n_columns = 0;
    p.max_field_bytes = DEFAULT_MAX_FIELD;
    p.max_record_bytes = DEFAULT_MAX_RECORD;
    p.display_name = NULL;
    p.block_bytes = DEFAULT_BLOCK;
    return p;
}

static int check_params(const struct ps_reader_params *p, struct ps_err *err)
{
    if (p->format != PS_FORMAT_AUTO && p->format != PS_FORMAT_CSV && p->format != PS_FORMAT_JSONL)
        return ps_err_set(err, PS_ERR_USAGE, "invalid format %d", (int)p->format);
    unsigned char d = (unsigned char)p->delimiter;
    if (d == '"' || d == '\n' || d == '\r' || d >= 0x80)
        return ps_err_set(err, PS_ERR_USAGE, "invalid delimiter 0x%02x", d);
    if (p->n_columns < 0 || (p->n_columns > 0 && !p->columns))
        return ps_err_set(err, PS_ERR_USAGE, "invalid column declaration (%d names)", p->n_columns);
    for (int i = 0; i < p->n_columns; i++) {
        if (!p->columns[i])
            return ps_err_set(err, PS_ERR_USAGE, "declared column %d has no name", i + 1);
        for (int j = 0; j < i; j++)
            if (strcmp(p->columns[i], p->columns[j]) == 0)
                return ps_err_set(err, PS_ERR_USAGE, "duplicate declared column \"%s\"",
                                  p->columns[i]);
    }
    return PS_OK;
}

/* ------------------------------------------------------------------ */
/* Input buffer                                                        */

static void buf_reserve(struct ps_reader *r, size_t need)
{
    if (need <= r->cap)
        return;
    size_t c = r->cap ? r->cap : 4096;
    while (c < need)
        c *= 2;
    r->buf = ps_xrealloc(r->buf, c + PAD);
    r->cap = c;
}

/* Moves the unconsumed bytes to the front and reads more.  Returns the
 * number of bytes read (0 at end of input, and r->eof is set), or a
 * negative status with the message set. */
static long fill(struct ps_reader *r)
{
    if (r->pos > 0) {
        size_t keep = r->len - r->pos;
        memmove(r->buf, r->buf + r->pos, keep);
        r->buf_off += r->pos;
        r->len = keep;
        r->pos = 0;
    }
    if (r->cap - r->len < r->block)
        buf_reserve(r, r->len + r->block);
    if (r->eof)
        return 0;

    size_t want = r->cap - r->len;
    long got;
    if (r->fd < 0) {
        /* Memory source: exactly `block` bytes at a time, so tests and the
         * fuzzer can put buffer boundaries anywhere. */
        if (want > r->block)
            want = r->block;
        if (want > r->mem_len - r->mem_pos)
            want = r->mem_len - r->mem_pos;
        memcpy(r->buf + r->len, r->mem + r->mem_pos, want);
        r->mem_pos += want;
        got = (long)want;
    } else {
        ssize_t n;
        do {
            n = read(r->fd, r->buf + r->len, want);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            set_msg(r, "%s: read error: %s", r->name, strerror(errno));
            return PS_ERR_IO;
        }
        got = (long)n;
    }
    if (got == 0)
        r->eof = 1;
    r->len += (size_t)got;
    memset(r->buf + r->len, 0, PAD);
    return got;
}

/* Raw bytes kept of a record over the caps: the same prefix whichever
 * path (in the buffer, or skipped) met it. */
static size_t raw_keep(const struct ps_reader *r)
{
    return r->max_record < RAW_KEEP ? r->max_record : RAW_KEEP;
}

/* ------------------------------------------------------------------ */
/* Field storage                                                       */

static void fbuf_reserve(struct ps_reader *r, size_t need)
{
    if (need > r->fcap)
        r->fbuf = ps_xgrow(r->fbuf, &r->fcap, need, 1);
}

/* Stores field nf (offset and length in fbuf) if there is room for it:
 * the first n_cols + 1 fields of a record, or all of them while the
 * column count is unknown. */
static inline void add_field(struct ps_reader *r, int nf, size_t off, size_t len)
{
    if (nf >= r->fcap_n) {
        if (r->n_cols >= 0 && nf > r->n_cols)
            return;
        size_t cap = (size_t)r->fcap_n;
        r->flds = ps_xgrow(r->flds, &cap, (size_t)nf + 1, sizeof *r->flds);
        r->fcap_n = (int)(cap > 0x7fffffff ? 0x7fffffff : cap);
    }
    r->flds[nf].off = off;
    r->flds[nf].len = len;
}

/* ------------------------------------------------------------------ */
/* Quote-state machine: record extent, column and line of any byte      */

enum { Q_START, Q_UNQ, Q_QUO, Q_QQ };

struct qsm {
    int st;
    int field;               /* 0-based index of the field being read */
    long nl;                 /* newlines seen inside the record */
    int done;                /* the record-ending '\n' was fed */
    size_t off;              /* bytes fed so far */
    size_t fstart;           /* offset where the current field started */
    int qfield;              /* field whose quote is open (Q_QUO/Q_QQ) */
    long qnl;                /* newlines before that quote */
    /* first cap violation (when caps are given) */
    enum rec_err_kind vkind;
    int vfield;
    long vnl;
};

/* Feeds n bytes; returns how many were consumed up to and including the
 * '\n' that ends the record, or n when the record is still open.  With
 * max_field/max_record nonzero, notes the first byte that crosses a cap. */
static size_t qsm_feed(struct qsm *s, const char *p, size_t n, char delim,
                       size_t max_field, size_t max_record)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (max_record && s->vkind == E_NONE) {
            if (s->off + i >= max_record) {
                s->vkind = E_REC_BIG, s->vfield = s->field, s->vnl = s->nl;
            } else if (s->off + i - s->fstart >= max_field &&
                       (s->st == Q_QUO || (c != delim && c != '\n'))) {
                s->vkind = E_FIELD_BIG, s->vfield = s->field, s->vnl = s->nl;
            }
        }
        switch (s->st) {
        case Q_START:
            if (c == '"') {
                s->st = Q_QUO;
                s->qfield = s->field;
                s->qnl = s->nl;
                break;
            }
            /* fall through */
        case Q_UNQ:
            if (c == delim) {
                s->field++;
                s->fstart = s->off + i + 1;
                s->st = Q_START;
            } else if (c == '\n') {
                s->off += i + 1;
                s->done = 1;
                return i + 1;
            } else {
                s->st = Q_UNQ;
            }
            break;
        case Q_QUO:
            if (c == '"')
                s->st = Q_QQ;
            else if (c == '\n')
                s->nl++;
            break;
        case Q_QQ:
            if (c == '"') {
                s->st = Q_QUO;
            } else if (c == delim) {
                s->field++;
                s->fstart = s->off + i + 1;
                s->st = Q_START;
            } else if (c == '\n') {
                s->off += i + 1;
                s->done = 1;
                return i + 1;
            } else {
                s->st = Q_UNQ;
            }
            break;
        }
    }
    s->off += n;
    return n;
}

/* Column index and line of raw[off] within the current record. */
static int field_at(const struct ps_reader *r, const char *raw, size_t off, long *line)
{
    struct qsm s;
    memset(&s, 0, sizeof s);
    qsm_feed(&s, raw, off, r->delim, 0, 0);
    if (line)
        *line = r->line + s.nl;
    return s.field;
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */

/* Fills the message for a bad CSV record.  raw is the record (without its
 * line ending), nf its field count. */
static int csv_bad(struct ps_reader *r, const char *raw, size_t raw_len, int nf,
                   struct rec_err e)
{
    char cref[256];
    long line;
    int col;
    uint64_t at = r->buf_off + (uint64_t)(raw - r->buf) + e.off;

    switch (e.kind) {
    case E_UNTERM:
        break; /* formatted by the caller, which knows where the quote opened */
    case E_AFTERQ: {
        unsigned char ch = (unsigned char)raw[e.off];
        col = field_at(r, raw, e.off, &line);
        if (ch >= 0x20 && ch < 0x7f && ch != '"')
            set_msg(r, "%s:%ld: %s: unexpected \"%c\" after closing quote", r->name, line,
                    col_ref(r, col, cref, sizeof cref), ch);
        else
            set_msg(r, "%s:%ld: %s: unexpected byte 0x%02x after closing quote", r->name, line,
                    col_ref(r, col, cref, sizeof cref), ch);
        break;
    }
    case E_REC_BIG:
        col = field_at(r, raw, e.off, &line);
        set_msg(r, "%s:%ld: %s: record is too big (more than %zu bytes)", r->name, line,
                col_ref(r, col, cref, sizeof cref), r->max_record);
        break;
    case E_FIELD_BIG:
        col = field_at(r, raw, e.off, &line);
        set_msg(r, "%s:%ld: %s: field is too big (more than %zu bytes)", r->name, line,
                col_ref(r, col, cref, sizeof cref), r->max_field);
        break;
    case E_NUL:
        col = field_at(r, raw, e.off, &line);
        set_msg(r, "%s:%ld: %s: NUL byte at byte %llu", r->name, line,
                col_ref(r, col, cref, sizeof cref), (unsigned long long)at);
        break;
    case E_UTF8:
        col = field_at(r, raw, e.off, &line);
        set_msg(r, "%s:%ld: %s: invalid UTF-8 at byte %llu", r->name, line,
                col_ref(r, col, cref, sizeof cref), (unsigned long long)at);
        break;
    case E_FEW:
        field_at(r, raw, raw_len, &line);
        set_msg(r, "%s:%ld: %s: missing field (expected %d fields, got %d)", r->name, line,
                col_ref(r, nf, cref, sizeof cref), r->n_cols, nf);
        break;
    case E_MANY:
        field_at(r, raw, e.off, &line);
        set_msg(r, "%s:%ld: %s: unexpected field (expected %d fields, got %d)", r->name, line,
                col_ref(r, r->n_cols, cref, sizeof cref), r->n_cols, nf);
        break;
    case E_NONE:
        break;
    }
    r->have_record = 0;
    r->trunc_raw = e.kind == E_REC_BIG || e.kind == E_FIELD_BIG;
    return PS_ERR_BAD_ROW;
}

/* Checks shared by both paths once the record is decoded into fbuf, in
 * this order (the first that applies is reported): size caps (the first
 * byte, in file order, that crosses the field or the record cap), a stray
 * byte after a closing quote, NUL, invalid UTF-8, field count.  Then
 * removes U+FEFF.  big_off: offset of the first byte over the field cap,
 * or SIZE_MAX; `nonascii` / `maybe_nul` say whether those checks apply. */
static int csv_finish(struct ps_reader *r, const char *raw, size_t raw_len, int nf,
                      struct rec_err e, size_t big_off, int nonascii, int maybe_nul)
{
    r->n_fields = nf;
    if (raw_len > r->max_record && r->max_record <= big_off) {
        e.kind = E_REC_BIG, e.off = r->max_record;
        return csv_bad(r, raw, raw_len, nf, e);
    }
    if (big_off != SIZE_MAX) {
        e.kind = E_FIELD_BIG, e.off = big_off;
        return csv_bad(r, raw, raw_len, nf, e);
    }
    if (e.kind != E_NONE)
        return csv_bad(r, raw, raw_len, nf, e);
    if (maybe_nul) {
        const char *z = memchr(raw, 0, raw_len);
        if (z) {
            e.kind = E_NUL, e.off = (size_t)(z - raw);
            return csv_bad(r, raw, raw_len, nf, e);
        }
    }
    int feff = 0;
    if (nonascii) {
        long bad = ps__utf8_check_feff(raw, raw_len, &feff);
        if (bad >= 0) {
            e.kind = E_UTF8, e.off = (size_t)bad;
            return csv_bad(r, raw, raw_len, nf, e);
        }
    }
    if (r->n_cols >= 0 && nf != r->n_cols) {
        if (nf < r->n_cols) {
            e.kind = E_FEW, e.off = raw_len;
        } else {
            /* Offset of the first unexpected field: replay to find it. */
            struct qsm s;
            memset(&s, 0, sizeof s);
            size_t i = 0;
            while (i < raw_len && s.field < r->n_cols)
                qsm_feed(&s, raw + i, 1, r->delim, 0, 0), i++;
            e.kind = E_MANY, e.off = i;
        }
        return csv_bad(r, raw, raw_len, nf, e);
    }
    /* Every field is stored here (the count matched). */
    if (feff) {
        for (int i = 0; i < nf; i++) {
            struct fld *f = &r->flds[i];
            f->len = ps__utf8_strip_feff(r->fbuf + f->off, f->len);
            r->fbuf[f->off + f->len] = '\0';
        }
    }
    r->have_record = 1;
    return PS_OK;
}

/* Outcome of the fast scan besides PS_OK / PS_ERR_BAD_ROW / SLOW / NEED_MORE:
 * a blank line (skipped). */
#define BLANK 4

/* Result of splitting a quote-free line. */
struct line_scan {
    int nf;                  /* fields */
    int nonascii;            /* a byte >= 0x80 was seen */
    size_t n;                /* content length (line ending excluded) */
    size_t consumed;         /* bytes up to and including the '\n' */
    size_t big_off;          /* first byte over the field cap, or SIZE_MAX */
};

/* Called once the line end e (offset of its '\n', or of the end of data
 * at end of input) is known: closes the last field, which starts at
 * `start`, and fills ls.  The field cap counts raw bytes up to the line
 * end, a CR included, as the quote-state machine of the skip path does. */
static int scan_close(struct ps_reader *r, const char *p, size_t e, int has_nl, size_t start,
                      int nf, size_t big, unsigned hi, struct line_scan *ls)
{
    size_t ce = e;
    if (ce > start && p[ce - 1] == '\r')
        ce--;
    ls->consumed = e + (size_t)has_nl;
    if (ce == 0)
        return BLANK;
    if (e - start > r->max_field && big == SIZE_MAX)
        big = start + r->max_field;
    add_field(r, nf++, start, ce - start);
    ls->nf = nf;
    ls->nonascii = (hi & 0x80) != 0;
    ls->n = ce;
    ls->big_off = big;
    return PS_OK;
}

/* Scans p[0..avail) for the end of a quote-free line, splitting it at the
 * delimiters on the way (field offsets equal raw offsets).  Returns SLOW if
 * a quote or NUL comes before the line end, NEED_MORE if no line end is in
 * the data and more input may follow, BLANK, or PS_OK with ls filled. */
static int scan_line_scalar(struct ps_reader *r, const char *p, size_t avail,
                            struct line_scan *ls)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned char d = (unsigned char)r->delim, hi = 0;
    size_t start = 0, big = SIZE_MAX;
    int nf = 0;

    for (size_t i = 0; i < avail; i++) {
        unsigned char c = u[i];
        hi |= c;
        if (c == d) {
            if (i - start > r->max_field && big == SIZE_MAX)
                big = start + r->max_field;
            add_field(r, nf++, start, i - start);
            start = i + 1;
        } else if (c == '\n') {
            return scan_close(r, p, i, 1, start, nf, big, hi, ls);
        } else if (c == '"' || c == 0) {
            return SLOW;
        }
    }
    if (!r->eof)
        return NEED_MORE;
    return scan_close(r, p, avail, 0, start, nf, big, hi, ls);
}

#if defined(__SSE2__)
/* The same, 16 bytes per step: one compare per special byte, movemask to
 * bitmasks, then a walk over the delimiter bits.  Reads up to 15 bytes
 * past avail (the buffer's PAD), masked off. */
static int scan_line_sse2(struct ps_reader *r, const char *p, size_t avail,
                          struct line_scan *ls)
{
    const __m128i vd = _mm_set1_epi8(r->delim), vn = _mm_set1_epi8('\n'),
                  vq = _mm_set1_epi8('"'), vz = _mm_setzero_si128();
    unsigned hi = 0;
    size_t start = 0, big = SIZE_MAX;
    int nf = 0;

    for (size_t i = 0; i < avail; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vd));
        unsigned mn = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vn));
        unsigned mq = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_cmpeq_epi8(v, vz)));
        unsigned mh = (unsigned)_mm_movemask_epi8(v);
        if (avail - i < 16) {
            unsigned valid = (1u << (avail - i)) - 1;
            md &= valid, mn &= valid, mq &= valid, mh &= valid;
        }
        if (mn) {
            unsigned before = (1u << __builtin_ctz(mn)) - 1;  /* bytes before the '\n' */
            md &= before, mq &= before, mh &= before;
        }
        if (mq)
            return SLOW;
        hi |= mh;
        while (md) {
            size_t at = i + (size_t)__builtin_ctz(md);
            md &= md - 1;
            if (at - start > r->max_field && big == SIZE_MAX)
                big = start + r->max_field;
            add_field(r, nf++, start, at - start);
            start = at + 1;
        }
        if (mn)
            return scan_close(r, p, i + (size_t)__builtin_ctz(mn), 1, start, nf, big,
                              hi ? 0x80 : 0, ls);
    }
    if (!r->eof)
        return NEED_MORE;
    return scan_close(r, p, avail, 0, start, nf, big, hi ? 0x80 : 0, ls);
}
#endif

/* Fast path for the record at p, with avail bytes of data: a line without
 * quotes.  Returns SLOW, NEED_MORE or BLANK for the caller to act on, else
 * the record's status with *ls describing it. */
static int csv_fast(struct ps_reader *r, const char *p, size_t avail, struct line_scan *ls)
{
    int rc;
#if defined(__SSE2__)
    if (!ps__reader_force_scalar)
        rc = scan_line_sse2(r, p, avail, ls);
    else
#endif
        rc = scan_line_scalar(r, p, avail, ls);
    if (rc != PS_OK)
        return rc;

    /* Fields are the raw spans: one copy, then NULs over the delimiters. */
    size_t n = ls->n;
    fbuf_reserve(r, n + 1);
    memcpy(r->fbuf, p, n);
    int ns = ls->nf < r->fcap_n ? ls->nf : r->fcap_n;
    for (int i = 0; i < ns; i++)
        r->fbuf[r->flds[i].off + r->flds[i].len] = '\0';
    r->fbuf[n] = '\0';
    struct rec_err e = { E_NONE, 0 };
    return csv_finish(r, p, n, ls->nf, e, ls->big_off, ls->nonascii, 0);
}

/* General decoder for the record at p, with data up to end.  Returns
 * NEED_MORE if the record is cut by the end of the data and more input may
 * follow; else decodes into fbuf, sets *consumed (line ending included),
 * *raw_len and *nl (newlines inside the record) and returns the status. */
static int csv_slow(struct ps_reader *r, const char *p, const char *end, size_t *consumed,
                    size_t *raw_len, long *nl)
{
    const char delim = r->delim;
    const char *q = p;
    size_t o = 0;
    int nf = 0;
    struct rec_err e = { E_NONE, 0 };
    size_t big_off = SIZE_MAX;
    const char *open_quote = NULL;

    fbuf_reserve(r, (size_t)(end - p) + 1);
    for (;;) {
        const char *fs = q;
        size_t fo = o;
        const char *fe;      /* raw end of the field */
        int last = 0;        /* the field ends the record */

        if (q < end && *q == '"') {
            open_quote = q;
            q++;
            for (;;) {
                const char *dq = memchr(q, '"', (size_t)(end - q));
                if (!dq) {
                    if (!r->eof)
                        return NEED_MORE;
                    memcpy(r->fbuf + o, q, (size_t)(end - q));
                    o += (size_t)(end - q);
                    q = end;
                    if (e.kind == E_NONE)
                        e.kind = E_UNTERM, e.off = (size_t)(open_quote - p);
                    break;
                }
                memcpy(r->fbuf + o, q, (size_t)(dq - q));
                o += (size_t)(dq - q);
                if (dq + 1 == end && !r->eof)
                    return NEED_MORE;   /* closing, or the first of a pair? */
                if (dq + 1 < end && dq[1] == '"') {
                    r->fbuf[o++] = '"';
                    q = dq + 2;
                    continue;
                }
                q = dq + 1;
                break;
            }
            /* After the closing quote: delimiter, line end or end of data. */
            if (q == end) {
                if (!r->eof)
                    return NEED_MORE;
                fe = q, last = 1;
            } else if (*q == delim) {
                fe = q++;
            } else if (*q == '\n') {
                fe = q++, last = 1;
            } else if (*q == '\r' && (q + 1 == end || q[1] == '\n')) {
                if (q + 1 == end && !r->eof)
                    return NEED_MORE;
                fe = q;
                q += q + 1 == end ? 1 : 2;
                last = 1;
            } else {
                if (e.kind == E_NONE)
                    e.kind = E_AFTERQ, e.off = (size_t)(q - p);
                goto unquoted; /* read the rest literally to find the record end */
            }
        } else {
        unquoted:;
            const char *s = q;
            while (s < end && *s != delim && *s != '\n')
                s++;
            if (s == end && !r->eof)
                return NEED_MORE;
            const char *ve = s;
            if (s == end || *s == '\n') {
                last = 1;
                if (ve > q && ve[-1] == '\r')
                    ve--;
            }
            memcpy(r->fbuf + o, q, (size_t)(ve - q));
            o += (size_t)(ve - q);
            fe = ve;
            q = s < end ? s + 1 : s;
        }
        /* Field cap on raw bytes, a CR before the line end included. */
        size_t flen = (size_t)(fe - fs) + (last && fe < end && *fe == '\r');
        if (flen > r->max_field && big_off == SIZE_MAX)
            big_off = (size_t)(fs - p) + r->max_field;
        add_field(r, nf++, fo, o - fo);
        r->fbuf[o++] = '\0';
        if (last) {
            *raw_len = (size_t)(fe - p);
            break;
        }
    }
    *consumed = (size_t)(q - p);
    long k = 0;
    for (const char *s = p; (s = memchr(s, '\n', (size_t)(p + *raw_len - s))) != NULL; s++)
        k++;
    *nl = k;
    if (e.kind == E_UNTERM) {
        char cref[256];
        long line;
        int col = field_at(r, p, e.off, &line);
        r->n_fields = nf;
        r->have_record = 0;
        set_msg(r, "%s:%ld: %s: unterminated quoted field at end of file", r->name, line,
                col_ref(r, col, cref, sizeof cref));
        return PS_ERR_BAD_ROW;
    }
    return csv_finish(r, p, *raw_len, nf, e, big_off, 1, 1);
}

/* The record at pos is over the caps and not complete in the buffer:
 * note where it crossed them, keep a prefix of its raw text and skip the
 * rest without storing it. */
static int csv_skip_big(struct ps_reader *r)
{
    struct qsm s;
    memset(&s, 0, sizeof s);
    const char *p = r->buf + r->pos;
    size_t have = r->len - r->pos;
    size_t keep = have < raw_keep(r) ? have : raw_keep(r);

    r->rawbuf = ps_xgrow(r->rawbuf, &r->rawcap, keep + 1, 1);
    memcpy(r->rawbuf, p, keep);
    r->rawbuf[keep] = '\0';
    r->raw = r->rawbuf;
    r->raw_len = keep;
    r->line = r->next_line;

    r->pos += qsm_feed(&s, p, have, r->delim, r->max_field, r->max_record);
    while (!s.done) {
        long got = fill(r);       /* pos == len here: the buffer is emptied */
        if (got < 0)
            return r->fatal = (int)got;
        if (got == 0)
            break;
        r->pos += qsm_feed(&s, r->buf + r->pos, r->len - r->pos, r->delim, r->max_field,
                           r->max_record);
    }
    r->n_records++;
    r->have_record = 0;
    r->n_fields = s.field + 1;
    r->next_line = r->line + s.nl + 1;

    char cref[256];
    if (!s.done && s.st == Q_QUO) {
        set_msg(r, "%s:%ld: %s: unterminated quoted field at end of file", r->name,
                r->line + s.qnl, col_ref(r, s.qfield, cref, sizeof cref));
    } else if (s.vkind == E_FIELD_BIG) {
        set_msg(r, "%s:%ld: %s: field is too big (more than %zu bytes)", r->name,
                r->line + s.vnl, col_ref(r, s.vfield, cref, sizeof cref), r->max_field);
    } else {
        set_msg(r, "%s:%ld: %s: record is too big (more than %zu bytes)", r->name,
                r->line + s.vnl, col_ref(r, s.vfield, cref, sizeof cref), r->max_record);
    }
    return PS_ERR_BAD_ROW;
}

static int csv_next(struct ps_reader *r)
{
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                return PS_DONE;
            long got = fill(r);
            if (got < 0)
                return r->fatal = (int)got;
            continue;
        }
        char *p = r->buf + r->pos, *end = r->buf + r->len;
        struct line_scan ls;
        r->line = r->next_line;
        int rc = csv_fast(r, p, (size_t)(end - p), &ls);
        if (rc == BLANK) {
            r->pos += ls.consumed;
            r->next_line++;
            continue;
        }
        if (rc == PS_OK || rc == PS_ERR_BAD_ROW) {
            r->raw = p;
            r->raw_len = ls.n;
            if (rc == PS_ERR_BAD_ROW && r->trunc_raw && r->raw_len > raw_keep(r))
                r->raw_len = raw_keep(r);
            p[r->raw_len] = '\0';
            r->pos += ls.consumed;
            r->next_line++;
            r->n_records++;
            return rc;
        }
        size_t consumed = 0, raw_len = 0;
        long nls = 0;
        if (rc == SLOW)
            rc = csv_slow(r, p, end, &consumed, &raw_len, &nls);
        if (rc == NEED_MORE) {
            /* A record with more than max_record + 1 bytes and no end yet
             * is over the cap whatever follows (+1: a CR before the LF). */
            if ((size_t)(end - p) > r->max_record + 1)
                return csv_skip_big(r);
            long got = fill(r);
            if (got < 0)
                return r->fatal = (int)got;
            continue;
        }
        r->raw = p;
        r->raw_len = raw_len;
        if (rc == PS_ERR_BAD_ROW && r->trunc_raw && r->raw_len > raw_keep(r))
            r->raw_len = raw_keep(r);
        p[r->raw_len] = '\0';
        r->pos += consumed;
        r->next_line += 1 + nls;
        r->n_records++;
        return rc;
    }
}

/* ------------------------------------------------------------------ */
/* JSON Lines                                                          */

static size_t json_skip_string(const char *s, size_t i, size_t n)
{
    /* s[i] is the opening quote; returns the offset after the closing one */
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t json_skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* Records the raw spans of the members of the top-level object in s[0..n),
 * in order.  Lax and bounds-checked: it runs on lines jansson accepted (to
 * recover numbers as written) and on rejected ones (to name the member
 * that holds an invalid byte).  Returns the number of members found. */
static size_t json_scan(struct ps_reader *r, const char *s, size_t n)
{
    size_t i = json_skip_ws(s, 0, n), k = 0;
    if (i >= n || s[i] != '{')
        return 0;
    i++;
    for (;;) {
        i = json_skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return k;
        struct jspan sp;
        sp.ks = i + 1;
        i = json_skip_string(s, i, n);
        sp.ke = i > sp.ks ? i - 1 : sp.ks;
        i = json_skip_ws(s, i, n);
        if (i >= n || s[i] != ':')
            return k;
        i = json_skip_ws(s, i + 1, n);
        sp.vs = i;
        if (i < n && s[i] == '"') {
            i = json_skip_string(s, i, n);
        } else if (i < n && (s[i] == '{' || s[i] == '[')) {
            int depth = 0;
            while (i < n) {
                char c = s[i];
                if (c == '"') {
                    i = json_skip_string(s, i, n);
                    continue;
                }
                if (c == '{' || c == '[')
                    depth++;
                else if ((c == '}' || c == ']') && --depth == 0) {
                    i++;
                    break;
                }
                i++;
            }
        } else {
            while (i < n && !strchr(",}] \t\r\n", s[i]))
                i++;
        }
        sp.ve = i;
        if (k >= r->n_spans_cap)
            r->spans = ps_xgrow(r->spans, &r->n_spans_cap, k + 1, sizeof *r->spans);
        r->spans[k++] = sp;
        i = json_skip_ws(s, i, n);
        if (i >= n || s[i] != ',')
            return k;
        i++;
    }
}

static int column_index(const struct ps_reader *r, const char *name)
{
    for (int i = 0; i < r->n_cols; i++)
        if (strcmp(r->cols[i], name) == 0)
            return i;
    return -1;
}

static void fbuf_put(struct ps_reader *r, size_t *o, const char *s, size_t n)
{
    fbuf_reserve(r, *o + n + 1);
    memcpy(r->fbuf + *o, s, n);
    *o += n;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "an object";
    }
}

/* Parses one JSON line p[0..n) into the current record. */
static int jsonl_record(struct ps_reader *r, const char *p, size_t n)
{
    uint64_t base = r->buf_off + (uint64_t)(p - r->buf);
    r->have_record = 0;
    r->n_fields = 0;

    if (n > r->max_record) {
        set_msg(r, "%s:%ld:%zu: record is too big (more than %zu bytes)", r->name, r->line,
                r->max_record + 1, r->max_record);
        return PS_ERR_BAD_ROW;
    }
    long bad = ps_utf8_invalid_offset(p, n);
    if (bad >= 0) {
        size_t ns = json_scan(r, p, n);
        for (size_t k = 0; k < ns; k++) {
            if ((size_t)bad >= r->spans[k].vs && (size_t)bad < r->spans[k].ve) {
                size_t kl = r->spans[k].ke - r->spans[k].ks;
                set_msg(r, "%s:%ld: column \"%.*s\": invalid UTF-8 at byte %llu", r->name,
                        r->line, (int)(kl > 200 ? 200 : kl), p + r->spans[k].ks,
                        (unsigned long long)(base + (uint64_t)bad));
                return PS_ERR_BAD_ROW;
            }
        }
        set_msg(r, "%s:%ld:%ld: invalid UTF-8 at byte %llu", r->name, r->line, bad + 1,
                (unsigned long long)(base + (uint64_t)bad));
        return PS_ERR_BAD_ROW;
    }

    json_error_t jerr;
    json_t *obj = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                             &jerr);
    if (!obj) {
        /* jansson's position counts the bytes it read: the 1-based column
         * of the last byte of the token it choked on. */
        set_msg(r, "%s:%ld:%d: invalid JSON: %s", r->name, r->line, jerr.position, jerr.text);
        return PS_ERR_BAD_ROW;
    }
    int rc = PS_OK;
    if (!json_is_object(obj)) {
        set_msg(r, "%s:%ld: expected a JSON object, got %s", r->name, r->line,
                json_type_name(obj));
        rc = PS_ERR_BAD_ROW;
        goto done;
    }

    /* Members in file order (jansson keeps insertion order), matched with
     * their raw spans to take numbers as written. */
    size_t ns = json_scan(r, p, n), k = 0;
    size_t o = 0;
    int nc = r->n_cols;
    for (int i = 0; i < nc; i++)
        add_field(r, i, 0, (size_t)-1); /* (size_t)-1 = absent */
    fbuf_reserve(r, 1);
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), k++) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        int ci = column_index(r, key);
        if (ci < 0)
            continue;
        size_t fo = o;
        switch (json_typeof(v)) {
        case JSON_STRING:
            fbuf_put(r, &o, json_string_value(v), json_string_length(v));
            o = fo + ps__utf8_strip_feff(r->fbuf + fo, o - fo);
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            if (k < ns && ns == json_object_size(obj)) {
                fbuf_put(r, &o, p + r->spans[k].vs, r->spans[k].ve - r->spans[k].vs);
            } else {
                char num[64];
                int len = snprintf(num, sizeof num, "%.17g", json_number_value(v));
                fbuf_put(r, &o, num, (size_t)len);
            }
            break;
        case JSON_TRUE:
            fbuf_put(r, &o, "true", 4);
            break;
        case JSON_FALSE:
            fbuf_put(r, &o, "false", 5);
            break;
        case JSON_NULL:
            break;
        default:
            /* Nested object or array: its text as written, without the
             * whitespace between tokens. */
            if (k < ns && ns == json_object_size(obj)) {
                const char *t = p + r->spans[k].vs, *te = p + r->spans[k].ve;
                fbuf_reserve(r, o + (size_t)(te - t) + 1);
                int instr = 0;
                for (; t < te; t++) {
                    char c = *t;
                    if (instr) {
                        if (c == '\\' && t + 1 < te)
                            r->fbuf[o++] = c, c = *++t;
                        else if (c == '"')
                            instr = 0;
                    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                        continue;
                    } else if (c == '"') {
                        instr = 1;
                    }
                    r->fbuf[o++] = c;
                }
            } else {
                char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (js) {
                    fbuf_put(r, &o, js, strlen(js));
                    free(js);
                }
            }
            o = fo + ps__utf8_strip_feff(r->fbuf + fo, o - fo);
            break;
        }
        fbuf_reserve(r, o + 1);
        r->fbuf[o++] = '\0';
        r->flds[ci].off = fo;
        r->flds[ci].len = o - 1 - fo;
        if (o - 1 - fo > r->max_field) {
            set_msg(r, "%s:%ld: column \"%.200s\": field is too big (more than %zu bytes)",
                    r->name, r->line, key, r->max_field);
            rc = PS_ERR_BAD_ROW;
            goto done;
        }
    }
    /* Missing keys and null become empty fields. */
    size_t empty = o;
    fbuf_reserve(r, o + 1);
    r->fbuf[o++] = '\0';
    for (int i = 0; i < nc; i++)
        if (r->flds[i].len == (size_t)-1)
            r->flds[i].off = empty, r->flds[i].len = 0;
    r->n_fields = nc;
    r->have_record = 1;
done:
    json_decref(obj);
    return rc;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static int jsonl_next(struct ps_reader *r)
{
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                return PS_DONE;
            long got = fill(r);
            if (got < 0)
                return r->fatal = (int)got;
            continue;
        }
        char *p = r->buf + r->pos, *end = r->buf + r->len;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl && !r->eof) {
            if ((size_t)(end - p) <= r->max_record + 1) {
                long got = fill(r);
                if (got < 0)
                    return r->fatal = (int)got;
                continue;
            }
            /* Too big: keep a prefix, skip to the end of the line. */
            size_t keep = raw_keep(r);
            r->rawbuf = ps_xgrow(r->rawbuf, &r->rawcap, keep + 1, 1);
            memcpy(r->rawbuf, p, keep);
            r->rawbuf[keep] = '\0';
            r->raw = r->rawbuf;
            r->raw_len = keep;
            r->line = r->next_line++;
            r->n_records++;
            r->have_record = 0;
            r->pos = r->len;
            for (;;) {
                long got = fill(r);
                if (got < 0)
                    return r->fatal = (int)got;
                if (got == 0)
                    break;
                char *e = memchr(r->buf, '\n', r->len);
                if (e) {
                    r->pos = (size_t)(e - r->buf) + 1;
                    break;
                }
                r->pos = r->len;
            }
            set_msg(r, "%s:%ld:%zu: record is too big (more than %zu bytes)", r->name, r->line,
                    r->max_record + 1, r->max_record);
            return PS_ERR_BAD_ROW;
        }
        char *le = nl ? nl : end;
        r->pos = (size_t)(le - r->buf) + (nl ? 1 : 0);
        r->line = r->next_line++;
        size_t n = (size_t)(le - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        /* Size first: a blank line over the cap is a bad row whether or
         * not it fits in the buffer (the skip path cannot tell). */
        if (n <= r->max_record && is_blank(p, n))
            continue;
        r->raw = p;
        r->raw_len = n;
        r->n_records++;
        int rc = jsonl_record(r, p, n);
        if (n > r->max_record)
            r->raw_len = raw_keep(r);
        p[r->raw_len] = '\0';
        return rc;
    }
}

/* ------------------------------------------------------------------ */
/* Open                                                                */

/* Reads until the buffer holds SNIFF_BYTES (or the whole input), then
 * skips a UTF-8 BOM.  Sniffing looks at exactly that prefix, so its
 * outcome never depends on the block size. */
static int prime(struct ps_reader *r)
{
    while (!r->eof && r->len < SNIFF_BYTES) {
        long got = fill(r);
        if (got < 0)
            return (int)got;
    }
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    return PS_OK;
}

static enum ps_format sniff_format(const struct ps_reader *r, const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json") || !strcmp(dot, ".ndjson")))
        return PS_FORMAT_JSONL;
    if (dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".tsv")))
        return PS_FORMAT_CSV;
    size_t lim = r->len < SNIFF_BYTES ? r->len : SNIFF_BYTES;
    for (size_t i = r->pos; i < lim; i++) {
        char c = r->buf[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' ? PS_FORMAT_JSONL : PS_FORMAT_CSV;
    }
    return PS_FORMAT_CSV;
}

/* Picks ',', '\t' or ';' by its count outside quotes in the first record:
 * the one giving the declared column count if any does, else the most
 * frequent (ties in that order), else ','. */
static char sniff_delim(const struct ps_reader *r, int n_declared)
{
    static const char cand[3] = { ',', '\t', ';' };
    long cnt[3] = { 0, 0, 0 };
    int inq = 0;
    size_t lim = r->len < SNIFF_BYTES ? r->len : SNIFF_BYTES;
    for (size_t i = r->pos; i < lim; i++) {
        char c = r->buf[i];
        if (c == '"')
            inq = !inq;
        else if (!inq && c == '\n')
            break;
        else if (!inq)
            for (int k = 0; k < 3; k++)
                cnt[k] += c == cand[k];
    }
    if (n_declared > 0)
        for (int k = 0; k < 3; k++)
            if (cnt[k] == n_declared - 1 && cnt[k] > 0)
                return cand[k];
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (cnt[k] > cnt[best])
            best = k;
    return cand[best];
}

static void set_columns(struct ps_reader *r, int n, const char *const *names)
{
    r->cols = ps_xcalloc((size_t)(n > 0 ? n : 1), sizeof *r->cols);
    for (int i = 0; i < n; i++)
        r->cols[i] = ps_xstrdup(names[i]);
    r->n_cols = n;
}

static int open_csv(struct ps_reader *r, const struct ps_reader_params *pa, struct ps_err *err)
{
    r->delim = pa->delimiter ? pa->delimiter : sniff_delim(r, pa->n_columns);
    if (pa->n_columns > 0 && !pa->has_header) {
        set_columns(r, pa->n_columns, pa->columns);
        return PS_OK;
    }
    /* Read the first record with any field count. */
    r->n_cols = -1;
    int rc = csv_next(r);
    if (rc == PS_DONE) {
        if (pa->n_columns > 0) {
            set_columns(r, pa->n_columns, pa->columns);
            return PS_OK;
        }
        if (pa->has_header)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: empty file: no header", r->name);
        r->n_cols = 0;
        return PS_OK;
    }
    if (rc < 0 && rc != PS_ERR_BAD_ROW)
        return ps_err_set(err, rc, "%s", r->msg);
    if (!pa->has_header) {
        /* The first record fixes the column count and is returned by the
         * first ps_reader_next. */
        r->n_cols = r->n_fields;
        r->cols = ps_xcalloc((size_t)r->n_cols + 1, sizeof *r->cols);
        for (int i = 0; i < r->n_cols; i++) {
            char num[16];
            snprintf(num, sizeof num, "%d", i + 1);
            r->cols[i] = ps_xstrdup(num);
        }
        r->numbered = 1;
        r->pending = 1;
        r->pending_rc = rc;
        return PS_OK;
    }
    if (rc == PS_ERR_BAD_ROW)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s (in the header)", r->msg);
    r->n_records = 0;
    r->have_record = 0;
    int n = r->n_fields;
    if (pa->n_columns > 0) {
        if (n != pa->n_columns)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: header has %d columns, %d declared",
                              r->name, r->line, n, pa->n_columns);
        set_columns(r, pa->n_columns, pa->columns);
        return PS_OK;
    }
    r->cols = ps_xcalloc((size_t)n, sizeof *r->cols);
    r->n_cols = n;
    for (int i = 0; i < n; i++)
        r->cols[i] = ps_xstrdup(r->fbuf + r->flds[i].off);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(r->cols[i], r->cols[j]) == 0)
                return ps_err_set(err, PS_ERR_BAD_INPUT,
                                  "%s:%ld: duplicate column name \"%.200s\" (columns %d and %d)",
                                  r->name, r->line, r->cols[i], j + 1, i + 1);
    return PS_OK;
}

static int open_jsonl(struct ps_reader *r, const struct ps_reader_params *pa, struct ps_err *err)
{
    if (pa->n_columns > 0) {
        set_columns(r, pa->n_columns, pa->columns);
        return PS_OK;
    }
    /* Column names: the keys of the first valid object among the first
     * SNIFF_JSON bytes.  Nothing is consumed: bad lines before it are
     * reported by ps_reader_next as usual. */
    size_t i = 0;            /* relative to r->pos, which fill() may move */
    long line = 1;
    char first_err[PS_ERR_MSG_MAX] = "";
    for (;;) {
        size_t avail = r->len - r->pos;
        const char *p = r->buf + r->pos + i;
        const char *nl = i < avail ? memchr(p, '\n', avail - i) : NULL;
        if (!nl && !r->eof) {
            if (avail >= SNIFF_JSON)
                break;
            long got = fill(r);
            if (got < 0)
                return ps_err_set(err, (int)got, "%s", r->msg);
            continue;
        }
        if (i >= avail)
            break;
        size_t n = nl ? (size_t)(nl - p) : avail - i;
        if (i + n >= SNIFF_JSON)
            break;          /* only lines inside the first SNIFF_JSON bytes */
        if (!is_blank(p, n)) {
            json_error_t jerr;
            json_t *o = ps_utf8_invalid_offset(p, n) < 0
                            ? json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                                         &jerr)
                            : NULL;
            if (o && json_is_object(o)) {
                int nk = (int)json_object_size(o), k = 0;
                r->cols = ps_xcalloc((size_t)nk + 1, sizeof *r->cols);
                for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
                    r->cols[k++] = ps_xstrdup(json_object_iter_key(it));
                r->n_cols = nk;
                json_decref(o);
                return PS_OK;
            }
            json_decref(o);
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "line %ld", line);
        }
        i += n + 1;
        line++;
    }
    if (!first_err[0])
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: empty file: no JSON object to name the columns",
                          r->name);
    return ps_err_set(err, PS_ERR_BAD_INPUT,
                      "%s: no valid JSON object to name the columns in the first %ld lines "
                      "(first bad: %s)", r->name, line - 1, first_err);
}

static int open_common(struct ps_reader *r, const char *path,
                       const struct ps_reader_params *params, struct ps_err *err)
{
    struct ps_reader_params pa = params ? *params : ps_reader_default_params();
    int rc = check_params(&pa, err);
    if (rc)
        return rc;
    /* Caps above 1 GiB are taken as 1 GiB: no overflow in cap + 1, and a
     * record's field count always fits an int. */
    r->max_field = pa.max_field_bytes ? pa.max_field_bytes : DEFAULT_MAX_FIELD;
    r->max_record = pa.max_record_bytes ? pa.max_record_bytes : DEFAULT_MAX_RECORD;
    r->block = pa.block_bytes ? pa.block_bytes : DEFAULT_BLOCK;
    if (r->max_field > MAX_CAP)
        r->max_field = MAX_CAP;
    if (r->max_record > MAX_CAP)
        r->max_record = MAX_CAP;
    if (r->block > MAX_BLOCK)
        r->block = MAX_BLOCK;
    r->next_line = 1;
    buf_reserve(r, r->block);
    memset(r->buf, 0, PAD);
    if ((rc = prime(r)) < 0)
        return ps_err_set(err, rc, "%s", r->msg);
    /* Encodings we do not read, caught up front with a hint rather than
     * as one bad row per line. */
    const unsigned char *u = (const unsigned char *)r->buf;
    if (r->len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: UTF-16 text (byte order mark %02X %02X): convert it to UTF-8 "
                          "(e.g. iconv -f UTF-16 -t UTF-8)", r->name, u[0], u[1]);
    if (r->len >= 2 && u[0] == 0x1F && u[1] == 0x8B)
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: gzip-compressed: decompress it first (e.g. zcat FILE | persona ... -)",
                          r->name);
    r->format = pa.format != PS_FORMAT_AUTO ? pa.format : sniff_format(r, path);
    if (r->format == PS_FORMAT_JSONL)
        return open_jsonl(r, &pa, err);
    return open_csv(r, &pa, err);
}

static struct ps_reader *reader_new(const char *name)
{
    struct ps_reader *r = ps_xcalloc(1, sizeof *r);
    r->fd = -1;
    r->name = ps_xstrdup(name);
    return r;
}

int ps_reader_open(struct ps_reader **out, const char *path,
                   const struct ps_reader_params *params, struct ps_err *err)
{
    *out = NULL;
    if (!path)
        return ps_err_set(err, PS_ERR_USAGE, "no input path");
    const char *name = params && params->display_name ? params->display_name
                       : strcmp(path, "-") == 0     ? "<stdin>"
                                                    : path;
    int fd;
    if (strcmp(path, "-") == 0) {
        fd = 0;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    struct ps_reader *r = reader_new(name);
    r->fd = fd;
    r->own_fd = fd != 0;
    int rc = open_common(r, strcmp(path, "-") == 0 ? NULL : path, params, err);
    if (rc) {
        ps_reader_close(r);
        return rc;
    }
    *out = r;
    return PS_OK;
}

int ps_reader_open_mem(struct ps_reader **out, const char *data, size_t len,
                       const struct ps_reader_params *params, struct ps_err *err)
{
    *out = NULL;
    const char *name = params && params->display_name ? params->display_name : "<memory>";
    struct ps_reader *r = reader_new(name);
    r->mem = data ? data : "";
    r->mem_len = data ? len : 0;
    int rc = open_common(r, NULL, params, err);
    if (rc) {
        ps_reader_close(r);
        return rc;
    }
    *out = r;
    return PS_OK;
}

void ps_reader_close(struct ps_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    if (r->cols)
        for (int i = 0; i < r->n_cols; i++)
            free(r->cols[i]);
    free(r->cols);
    free(r->name);
    free(r->buf);
    free(r->fbuf);
    free(r->flds);
    free(r->rawbuf);
    free(r->spans);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */

int ps_reader_next(struct ps_reader *r)
{
    if (r->fatal)
        return r->fatal;
    if (r->pending) {
        r->pending = 0;
        return r->pending_rc;
    }
    r->have_record = 0;
    r->trunc_raw = 0;
    r->raw = NULL;
    r->raw_len = 0;
    r->msg[0] = '\0';
    return r->format == PS_FORMAT_JSONL ? jsonl_next(r) : csv_next(r);
}

int ps_reader_n_columns(const struct ps_reader *r)
{
    return r->n_cols > 0 ? r->n_cols : 0;
}

const char *ps_reader_column_name(const struct ps_reader *r, int i)
{
    PS_ASSERT(i >= 0 && i < r->n_cols);
    return r->cols[i];
}

int ps_reader_column_index(const struct ps_reader *r, const char *name)
{
    return column_index(r, name);
}

const char *ps_reader_field(const struct ps_reader *r, int i, size_t *len)
{
    PS_ASSERT(i >= 0 && i < r->n_cols);
    if (!r->have_record) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->flds[i].len;
    return r->fbuf + r->flds[i].off;
}

long ps_reader_line(const struct ps_reader *r)
{
    return r->line;
}

long ps_reader_record_index(const struct ps_reader *r)
{
    return r->n_records;
}

const char *ps_reader_raw(const struct ps_reader *r, size_t *len)
{
    if (len)
        *len = r->raw ? r->raw_len : 0;
    return r->raw ? r->raw : "";
}

const char *ps_reader_errmsg(const struct ps_reader *r)
{
    return r->msg;
}

const char *ps_reader_name(const struct ps_reader *r)
{
    return r->name;
}

uint64_t ps_reader_bytes_read(const struct ps_reader *r)
{
    return r->buf_off + r->pos;
}

enum ps_format ps_reader_format(const struct ps_reader *r)
{
    return r->format;
}

char ps_reader_delimiter(const struct ps_reader *r)
{
    return r->format == PS_FORMAT_CSV ? r->delim : 0;
}

size_t ps_reader_mem_bytes(const struct ps_reader *r)
{
    return r->cap + PAD + r->fcap + (size_t)r->fcap_n * sizeof *r->flds + r->rawcap +
           r->n_spans_cap * sizeof *r->spans;
}
