/*
 * fuzz_reader.c - libFuzzer target for the CSV / JSON Lines reader.
 *
 * Input layout: the first 6 bytes choose the parameters (format,
 * delimiter, header, declared columns, size caps, block size, scanner);
 * the rest is the file.  Each input is read twice: once through a file
 * descriptor in one block with the SSE2 scanner (the reference run),
 * once from memory with the chosen block size and scanner.  Both runs must
 * return the same records, messages and raw text (a hash of everything is
 * compared), so any dependence on where the buffer edges fall is a crash.
 *
 * A third reading is compared with a naive CSV parser written from
 * docs/reader.md (oracle_csv): record extents, start lines, good or bad,
 * and every field of the good ones.
 *
 * Invariants checked on every record: fields are NUL-free, valid UTF-8
 * without U+FEFF; every bad row and open error carries a message naming
 * the input; memory stays within a bound set by the caps, never by the
 * input; ps_utf8_invalid_offset agrees with the scalar reference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "persona/reader.h"
#include "data/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int ps__reader_force_scalar;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_reader: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_int(uint64_t h, long v)
{
    return fnv(h, &v, sizeof v);
}

/* Reads everything through r, checking invariants; returns a hash. */
static uint64_t drain(struct ps_reader *r, const struct ps_reader_params *p)
{
    uint64_t h = 1469598103934665603ull;
    int nc = ps_reader_n_columns(r), rc;
    size_t mem_cap = 8 * (p->max_record_bytes + (p->block_bytes ? p->block_bytes : (1u << 20))) +
                     (size_t)nc * 64 + (4u << 20);

    h = fnv_int(h, nc);
    h = fnv_int(h, ps_reader_format(r));
    h = fnv_int(h, ps_reader_delimiter(r));
    for (int i = 0; i < nc; i++) {
        const char *name = ps_reader_column_name(r, i);
        h = fnv(h, name, strlen(name) + 1);
        int k = ps_reader_column_index(r, name);
        CHECK(k == i); /* names are unique */
    }
    static const char probe[] = "\x01no such column";
    int want = -1;
    for (int i = 0; i < nc && want < 0; i++)
        if (strcmp(ps_reader_column_name(r, i), probe) == 0)
            want = i;
    CHECK(ps_reader_column_index(r, probe) == want);
    CHECK(ps_reader_name(r)[0] != '\0');
    long n = 0;
    while ((rc = ps_reader_next(r)) != PS_DONE) {
        n++;
        CHECK(ps_reader_record_index(r) == n);
        h = fnv_int(h, rc);
        h = fnv_int(h, ps_reader_line(r));
        size_t rl;
        const char *raw = ps_reader_raw(r, &rl);
        CHECK(raw[rl] == '\0');
        h = fnv(h, raw, rl);
        if (rc == PS_OK) {
            for (int i = 0; i < nc; i++) {
                size_t fl;
                const char *f = ps_reader_field(r, i, &fl);
                CHECK(f && strlen(f) == fl);
                CHECK(ps__utf8_invalid_offset_ref(f, fl) < 0);
                CHECK(!memmem(f, fl, "\xEF\xBB\xBF", 3));
                h = fnv(h, f, fl + 1);
            }
        } else {
            CHECK(rc == PS_ERR_BAD_ROW);
            const char *m = ps_reader_errmsg(r);
            CHECK(strncmp(m, ps_reader_name(r), strlen(ps_reader_name(r))) == 0);
            h = fnv(h, m, strlen(m));
            if (nc > 0)
                CHECK(ps_reader_field(r, 0, NULL) == NULL);
        }
        CHECK(ps_reader_mem_bytes(r) <= mem_cap);
        (void)ps_reader_bytes_read(r);
        CHECK(n < 1000000);
    }
    CHECK(ps_reader_next(r) == PS_DONE);
    return h;
}


/* ------------------------------------------------------------------ */
/* Oracle: a naive CSV parser written from docs/reader.md, one byte at a
 * time over the whole input, sharing no code with the reader.  It decides
 * each record's extent, start line, good/bad and fields; the reader must
 * agree. */

#define OMAX 4200            /* more fields than a -max_len=4096 input can hold */

struct ofield {
    char *s;                 /* decoded text, U+FEFF not yet removed */
    size_t len, raw_len;     /* decoded and raw length (quotes, final CR included) */
    size_t cap;
};

struct orec {
    long line;
    int bad;                 /* structurally bad (unterminated, text after quote) */
    size_t raw_start, raw_len;
    struct ofield f[OMAX];
    int nf;                  /* fields (only the first OMAX kept) */
};

static void oput(struct ofield *f, char c)
{
    if (f->len + 2 > f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->s = realloc(f->s, f->cap);
    }
    f->s[f->len++] = c;
    f->s[f->len] = '\0';
}

/* Parses the record at *pos; returns 0 at end of input. */
static int orecord(const char *d, size_t n, size_t *pos, long *line, char delim, struct orec *rec)
{
    size_t i = *pos;
    /* blank lines */
    for (;;) {
        if (i >= n)
            return 0;
        if (d[i] == '\n') {
            i++, (*line)++;
        } else if (d[i] == '\r' && (i + 1 == n || d[i + 1] == '\n')) {
            i += i + 1 == n ? 1 : 2, (*line)++;
        } else {
            break;
        }
    }
    rec->bad = 0, rec->nf = 0, rec->raw_len = 0;
    rec->line = *line;
    rec->raw_start = i;
    for (;;) {
        struct ofield tmp = { 0 }, *f = rec->nf < OMAX ? &rec->f[rec->nf] : &tmp;
        memset(f, 0, sizeof *f);
        size_t fs = i;
        int end = 0, quoted_ok = 0;
        if (i < n && d[i] == '"') {
            i++;
            int closed = 0;
            while (i < n) {
                if (d[i] == '"') {
                    if (i + 1 < n && d[i + 1] == '"') {
                        oput(f, '"'), i += 2;
                        continue;
                    }
                    i++, closed = 1;
                    break;
                }
                if (d[i] == '\n')
                    (*line)++;
                oput(f, d[i++]);
            }
            if (!closed) {
                rec->bad = 1;
                f->raw_len = i - fs;
                rec->raw_len = i - rec->raw_start;
                rec->nf++;
                if (f == &tmp)
                    free(tmp.s);
                *pos = i;
                (*line)++;
                return 1;
            }
            if (i == n || d[i] == delim || d[i] == '\n' ||
                (d[i] == '\r' && (i + 1 == n || d[i + 1] == '\n')))
                quoted_ok = 1;
            else
                rec->bad = 1;   /* text after the closing quote: read on literally */
        }
        if (!quoted_ok) {
            while (i < n && d[i] != delim && d[i] != '\n')
                oput(f, d[i++]);
        }
        size_t fe = i;  /* raw end of the field */
        if (i == n || d[i] == '\n' || (quoted_ok && d[i] == '\r')) {
            end = 1;
            size_t re = i;
            if (quoted_ok && i < n && d[i] == '\r') {
                fe = i + 1;      /* the CR counts in the field's raw length */
                i++;
            } else if (!quoted_ok && f->len > 0 && f->s[f->len - 1] == '\r') {
                f->s[--f->len] = '\0';
                re = i - 1;
            }
            rec->raw_len = re - rec->raw_start;
            if (i < n && d[i] == '\n')
                i++;
        } else {
            i++;    /* the delimiter */
        }
        f->raw_len = fe - fs;
        rec->nf++;
        if (f == &tmp)
            free(tmp.s);
        if (end)
            break;
    }
    *pos = i;
    (*line)++;
    return 1;
}

static void ofree(struct orec *rec)
{
    for (int k = 0; k < rec->nf && k < OMAX; k++)
        free(rec->f[k].s);
}

/* Strips U+FEFF from a valid UTF-8 string in place. */
static void ostrip(struct ofield *f)
{
    size_t w = 0;
    for (size_t k = 0; k < f->len; k++) {
        if (k + 2 < f->len && (unsigned char)f->s[k] == 0xEF &&
            (unsigned char)f->s[k + 1] == 0xBB && (unsigned char)f->s[k + 2] == 0xBF) {
            k += 2;
            continue;
        }
        if (f->s)
            f->s[w++] = f->s[k];
    }
    f->len = w;
    if (f->s)
        f->s[w] = '\0';
}

/* Is the record good for a file of n_cols columns, with the caps? */
static int ogood(const char *d, const struct orec *rec, int n_cols, size_t max_field,
                 size_t max_record)
{
    if (rec->bad || rec->raw_len > max_record || rec->nf != n_cols || rec->nf > OMAX)
        return 0;
    for (int k = 0; k < rec->nf; k++)
        if (rec->f[k].raw_len > max_field)
            return 0;
    if (memchr(d + rec->raw_start, 0, rec->raw_len))
        return 0;
    return ps__utf8_invalid_offset_ref(d + rec->raw_start, rec->raw_len) < 0;
}

static void oracle_csv(const char *body, size_t len, struct ps_reader_params p)
{
    struct ps_reader *r;
    struct ps_err err = { 0 };
    p.block_bytes = 8192;
    if (ps_reader_open_mem(&r, body, len, &p, &err) != PS_OK)
        return;
    if (ps_reader_format(r) != PS_FORMAT_CSV) {
        ps_reader_close(r);
        return;
    }
    size_t mf = p.max_field_bytes ? p.max_field_bytes : (1u << 20);
    size_t mr = p.max_record_bytes ? p.max_record_bytes : (16u << 20);
    char delim = ps_reader_delimiter(r);
    size_t pos = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0;
    long line = 1;
    int nc = ps_reader_n_columns(r);
    static struct orec rec;   /* large: not on the stack */
    if (p.has_header) {
        /* The header opened fine: its names are the first record's fields
         * (or the file is empty and the names were declared). */
        if (!orecord(body, len, &pos, &line, delim, &rec)) {
            CHECK(p.n_columns > 0 && ps_reader_next(r) == PS_DONE);
            ps_reader_close(r);
            return;
        }
        CHECK(!rec.bad && rec.nf == nc);
        if (p.n_columns == 0)
            for (int k = 0; k < nc && k < OMAX; k++) {
                ostrip(&rec.f[k]);
                CHECK(strcmp(ps_reader_column_name(r, k), rec.f[k].s ? rec.f[k].s : "") == 0);
            }
        ofree(&rec);
    }
    while (orecord(body, len, &pos, &line, delim, &rec)) {
        int rc = ps_reader_next(r);
        CHECK(rc == PS_OK || rc == PS_ERR_BAD_ROW);
        CHECK(ps_reader_line(r) == rec.line);
        int good = ogood(body, &rec, nc, mf, mr);
        CHECK(good == (rc == PS_OK));
        if (good) {
            size_t rl;
            const char *raw = ps_reader_raw(r, &rl);
            CHECK(rl == rec.raw_len && !memcmp(raw, body + rec.raw_start, rl));
            for (int k = 0; k < nc; k++) {
                size_t fl;
                const char *f = ps_reader_field(r, k, &fl);
                ostrip(&rec.f[k]);
                CHECK(fl == rec.f[k].len && !memcmp(f, rec.f[k].s ? rec.f[k].s : "", fl));
            }
        }
        ofree(&rec);
    }
    CHECK(ps_reader_next(r) == PS_DONE);
    ps_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const declared[] = { "a", "b", "c", "d" };
    static const char delims[] = { 0, ',', '\t', ';', '|', ',', 0, 0 };
    static const size_t caps[] = { 0, 1, 2, 3, 5, 8, 16, 64, 300, 4096 };
    if (size < 6)
        return 0;

    const unsigned char *c = data;
    struct ps_reader_params p = ps_reader_default_params();
    p.format = (enum ps_format)(c[0] % 3);
    p.delimiter = delims[(c[0] >> 2) & 7];
    p.has_header = !(c[0] & 0x20);
    p.n_columns = c[1] % 5;
    p.columns = p.n_columns ? declared : NULL;
    p.max_field_bytes = caps[(c[2] & 0x0f) % 10];
    p.max_record_bytes = caps[(c[2] >> 4) % 10];
    size_t block = 1 + (size_t)c[3] % 69;  /* 1..69 bytes per read */
    int scalar = c[4] & 1;
    p.display_name = "fuzz.in";
    const char *body = (const char *)data + 6;
    size_t len = size - 6;

    CHECK(ps_utf8_invalid_offset(body, len) == ps__utf8_invalid_offset_ref(body, len));

    /* Reference run: through a file descriptor, one block, SSE2. */
    uint64_t h_ref = 0;
    char ref_err[PS_ERR_MSG_MAX] = "";
    int ref_rc;
    {
        int fd = memfd_create("fuzz_reader", 0);
        CHECK(fd >= 0);
        CHECK(write(fd, body, len) == (ssize_t)len);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        struct ps_reader *r;
        struct ps_err err = { 0 };
        struct ps_reader_params pr = p;
        pr.block_bytes = 8192; /* more than -max_len: one read, as in production */
        ps__reader_force_scalar = 0;
        ref_rc = ps_reader_open(&r, path, &pr, &err);
        if (ref_rc == PS_OK) {
            h_ref = drain(r, &pr);
            ps_reader_close(r);
        } else {
            CHECK(r == NULL && err.msg[0] != '\0');
            snprintf(ref_err, sizeof ref_err, "%s", err.msg);
        }
        close(fd);
    }

    /* Run under test: memory, the chosen block size and scanner. */
    struct ps_reader *r;
    struct ps_err err = { 0 };
    p.block_bytes = block;
    ps__reader_force_scalar = scalar;
    int rc = ps_reader_open_mem(&r, body, len, &p, &err);
    CHECK(rc == ref_rc);
    if (rc == PS_OK) {
        uint64_t h = drain(r, &p);
        ps_reader_close(r);
        CHECK(h == h_ref);
    } else {
        CHECK(r == NULL && strcmp(err.msg, ref_err) == 0);
    }
    ps__reader_force_scalar = 0;
    oracle_csv(body, len, p);
    return 0;
}
