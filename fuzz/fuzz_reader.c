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
    CHECK(ps_reader_column_index(r, "\x01no such column") == -1);
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
    size_t block = (size_t)c[3] % 70;
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
    return 0;
}
