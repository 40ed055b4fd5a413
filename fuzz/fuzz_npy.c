/*
 * fuzz_npy.c - libFuzzer target for the .npy readers (npy.h).
 *
 * The input is a .npy file (written to a per-process temporary directory,
 * /dev/shm if present).  Byte-for-byte it is read twice: whole
 * (ps_npy_read_f32) and streamed (ps_npy_reader_open, then rows in chunks
 * of 1, 2, 3, ... rows, plus an out-of-range read that must fail).
 *
 * Invariants (abort when broken): a rejection carries a message; both
 * readers agree on accepting the file, on its shape and on every value
 * (bitwise); the data fits in the file (rows * cols * 4 < file size); a
 * rewrite with ps_npy_write_f32 reads back bit-identical.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_npy: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static char dir[64];
static char in_path[128], copy_path[128];

static void cleanup(void)
{
    unlink(in_path);
    unlink(copy_path);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_npy.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(in_path, sizeof in_path, "%s/in.npy", dir);
    snprintf(copy_path, sizeof copy_path, "%s/copy.npy", dir);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    setup();
    FILE *fp = fopen(in_path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
        abort();

    struct ps_err err = {0}, err2 = {0};
    float *all = NULL;
    size_t rows = 0, cols = 0;
    int rc = ps_npy_read_f32(in_path, &all, &rows, &cols, &err);
    struct ps_npy_reader *r = NULL;
    int rc2 = ps_npy_reader_open(&r, in_path, &err2);
    CHECK((rc == PS_OK) == (rc2 == PS_OK));
    if (rc != PS_OK) {
        CHECK(err.msg[0] != '\0' && err2.msg[0] != '\0');
        free(all);
        return 0;
    }
    CHECK(rows == 0 || cols == 0 || rows * cols * 4 < size);
    CHECK(ps_npy_reader_rows(r) == rows && ps_npy_reader_cols(r) == cols);
    float *buf = malloc((rows * cols + 1) * sizeof *buf);
    size_t first = 0, step = 1;
    while (cols > 0 && first < rows) {
        size_t n = rows - first < step ? rows - first : step;
        CHECK(ps_npy_reader_read(r, first, n, buf + first * cols, &err2) == PS_OK);
        first += n;
        step++;
    }
    CHECK(rows * cols == 0 || memcmp(buf, all, rows * cols * sizeof *buf) == 0);
    if (cols > 0) {
        CHECK(ps_npy_reader_read(r, rows, 1, buf, &err2) != PS_OK);
        CHECK(err2.msg[0] != '\0');
    }
    ps_npy_reader_close(r);

    if (rows * cols > 0) {
        CHECK(ps_npy_write_f32(copy_path, all, rows, cols, &err) == PS_OK);
        float *back = NULL;
        size_t r2 = 0, c2 = 0;
        CHECK(ps_npy_read_f32(copy_path, &back, &r2, &c2, &err) == PS_OK);
        CHECK(r2 == rows && c2 == cols);
        CHECK(memcmp(back, all, rows * cols * sizeof *back) == 0);
        free(back);
    }
    free(buf);
    free(all);
    return 0;
}
