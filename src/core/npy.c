/*
 * npy.c - NumPy .npy float32 reading and writing (see npy.h).
 *
 * Format: "\x93NUMPY", major, minor, header length (u16 for 1.0, u32 for
 * 2.0), then a Python dict literal padded with spaces to a multiple of 64
 * bytes and ended by '\n'.  We write version 1.0 with a fixed-width shape
 * field so the streaming writer can patch the row count in place.
 */
#include "persona/npy.h"
#include "persona/afile.h"
#include "persona/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_HEADER_LEN 128 /* total bytes before the data (multiple of 64) */

static void format_header(char out[NPY_HEADER_LEN], size_t rows, size_t cols)
{
    char dict[NPY_HEADER_LEN];
    /* Pad numbers to a fixed width so a later patch never changes length. */
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     rows, cols);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = NPY_HEADER_LEN - 10;
    out[8] = (char)(hl & 0xff);
    out[9] = (char)(hl >> 8);
    memset(out + 10, ' ', NPY_HEADER_LEN - 10);
    memcpy(out + 10, dict, (size_t)n);
    out[NPY_HEADER_LEN - 1] = '\n';
}

int ps_npy_write_f32(const char *path, const float *data, size_t rows, size_t cols,
                     struct ps_err *err)
{
    struct ps_afile f;
    char hdr[NPY_HEADER_LEN];
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    format_header(hdr, rows, cols);
    fwrite(hdr, 1, sizeof hdr, f.fp);
    if (rows > 0 && cols > 0)
        fwrite(data, sizeof(float), rows * cols, f.fp);
    return ps_afile_commit(&f, err);
}

struct ps_npy_writer {
    struct ps_afile f;
    size_t cols, rows;
};

int ps_npy_writer_open(struct ps_npy_writer **out, const char *path, size_t cols,
                       struct ps_err *err)
{
    struct ps_npy_writer *w = ps_xcalloc(1, sizeof *w);
    char hdr[NPY_HEADER_LEN];
    int rc;
    *out = NULL;
    if (strcmp(path, "-") == 0) {
        free(w);
        return ps_err_set(err, PS_ERR_USAGE, "a .npy file cannot be written to standard output");
    }
    rc = ps_afile_open(&w->f, path, err);
    if (rc) {
        free(w);
        return rc;
    }
    w->cols = cols;
    format_header(hdr, 0, cols);
    fwrite(hdr, 1, sizeof hdr, w->f.fp);
    *out = w;
    return PS_OK;
}

int ps_npy_writer_append(struct ps_npy_writer *w, const float *rows, size_t n_rows,
                         struct ps_err *err)
{
    if (n_rows && fwrite(rows, sizeof(float) * w->cols, n_rows, w->f.fp) != n_rows)
        return ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", w->f.path, strerror(errno));
    w->rows += n_rows;
    return PS_OK;
}

int ps_npy_writer_close(struct ps_npy_writer *w, struct ps_err *err)
{
    char hdr[NPY_HEADER_LEN];
    int rc;
    format_header(hdr, w->rows, w->cols);
    if (fseek(w->f.fp, 0, SEEK_SET) != 0 || fwrite(hdr, 1, sizeof hdr, w->f.fp) != sizeof hdr) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", w->f.path, strerror(errno));
        ps_afile_abort(&w->f);
        free(w);
        return rc;
    }
    rc = ps_afile_commit(&w->f, err);
    free(w);
    return rc;
}

void ps_npy_writer_abort(struct ps_npy_writer *w)
{
    if (!w)
        return;
    ps_afile_abort(&w->f);
    free(w);
}

struct ps_npy_reader {
    FILE *fp;
    char *path;
    size_t rows, cols;
    long data_offset;
};

/* Parses the header dict: descr '<f4', fortran_order False, shape of one
 * or two dimensions.  The dict is small and machine-written, so a
 * targeted scan is enough, but every value is checked. */
static int parse_dict(const char *path, const char *d, size_t *rows, size_t *cols,
                      struct ps_err *err)
{
    const char *p;
    if (!(p = strstr(d, "'descr'")) || !(p = strchr(p + 7, '\'')))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy header has no 'descr'", path);
    if (strncmp(p, "'<f4'", 5) != 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: npy dtype is not little-endian float32 ('<f4')", path);
    if (!(p = strstr(d, "'fortran_order'")))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy header has no 'fortran_order'", path);
    p += 15;
    while (*p == ' ' || *p == ':')
        p++;
    if (strncmp(p, "False", 5) != 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy file is in Fortran order", path);
    if (!(p = strstr(d, "'shape'")) || !(p = strchr(p, '(')))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy header has no 'shape'", path);
    p++;
    size_t dims[2] = {0, 1};
    int nd = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9' || nd == 2)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy shape is not 1-D or 2-D", path);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v > (1ULL << 40))
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy shape value out of range", path);
        dims[nd++] = (size_t)v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
    }
    if (nd == 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy scalar, expected a matrix", path);
    *rows = dims[0];
    *cols = nd == 2 ? dims[1] : 1;
    return PS_OK;
}

int ps_npy_reader_open(struct ps_npy_reader **out, const char *path, struct ps_err *err)
{
    unsigned char pre[12];
    char *dict = NULL;
    size_t hl, pre_len;
    int rc = PS_OK;
    struct ps_npy_reader *r = ps_xcalloc(1, sizeof *r);

    *out = NULL;
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
        goto done;
    }
    if (fread(pre, 1, 10, r->fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (pre[6] == 1) {
        hl = pre[8] | (size_t)pre[9] << 8;
        pre_len = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, r->fp) != 2) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: truncated .npy header", path);
            goto done;
        }
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pre_len = 12;
    } else {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hl > 65536) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: .npy header too long", path);
        goto done;
    }
    dict = ps_xmalloc(hl + 1);
    if (fread(dict, 1, hl, r->fp) != hl) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: truncated .npy header", path);
        goto done;
    }
    dict[hl] = '\0';
    rc = parse_dict(path, dict, &r->rows, &r->cols, err);
    if (rc)
        goto done;
    if (r->cols != 0 && r->rows > (SIZE_MAX / sizeof(float)) / r->cols) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: npy shape (%zu, %zu) is too large", path,
                        r->rows, r->cols);
        goto done;
    }
    r->data_offset = (long)(pre_len + hl);
    if (fseek(r->fp, 0, SEEK_END) != 0) {
        rc = ps_err_set(err, PS_ERR_IO, "%s: cannot seek", path);
        goto done;
    }
    long size = ftell(r->fp);
    if (size < 0 || (unsigned long long)(size - r->data_offset) !=
                        (unsigned long long)r->rows * r->cols * sizeof(float)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                        "%s: file size does not match shape (%zu, %zu)", path, r->rows, r->cols);
        goto done;
    }
    r->path = ps_xstrdup(path);
done:
    free(dict);
    if (rc) {
        if (r->fp)
            fclose(r->fp);
        free(r);
        return rc;
    }
    *out = r;
    return PS_OK;
}

size_t ps_npy_reader_rows(const struct ps_npy_reader *r) { return r->rows; }
size_t ps_npy_reader_cols(const struct ps_npy_reader *r) { return r->cols; }

int ps_npy_reader_read(struct ps_npy_reader *r, size_t first, size_t n, float *dst,
                       struct ps_err *err)
{
    if (first > r->rows || n > r->rows - first)
        return ps_err_set(err, PS_ERR_USAGE, "%s: rows %zu..%zu out of range (%zu rows)",
                          r->path, first, first + n, r->rows);
    if (n == 0 || r->cols == 0)
        return PS_OK; /* nothing to read (shape (N, 0) is a valid empty matrix) */
    if (fseek(r->fp, r->data_offset + (long)(first * r->cols * sizeof(float)), SEEK_SET) != 0 ||
        fread(dst, sizeof(float) * r->cols, n, r->fp) != n)
        return ps_err_set(err, PS_ERR_IO, "%s: read failed", r->path);
    return PS_OK;
}

void ps_npy_reader_close(struct ps_npy_reader *r)
{
    if (!r)
        return;
    fclose(r->fp);
    free(r->path);
    free(r);
}

int ps_npy_read_f32(const char *path, float **data, size_t *rows, size_t *cols,
                    struct ps_err *err)
{
    struct ps_npy_reader *r;
    int rc = ps_npy_reader_open(&r, path, err);
    *data = NULL;
    if (rc)
        return rc;
    float *d = ps_xmalloc(r->rows * r->cols * sizeof(float) + 1);
    rc = ps_npy_reader_read(r, 0, r->rows, d, err);
    if (rc) {
        free(d);
    } else {
        *data = d;
        *rows = r->rows;
        *cols = r->cols;
    }
    ps_npy_reader_close(r);
    return rc;
}
