/*
 * test_fuzz_regressions.c - minimal reproducers of what the libFuzzer
 * targets (fuzz/, docs/fuzzing.md) found, kept as unit tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "persona/hash.h"
#include "persona/lda.h"
#include "persona/npy.h"
#include "persona/segment.h"

/* Writes a version 1.0 .npy with the given header dict and n data bytes. */
static const char *write_npy(const char *name, const char *dict, size_t n_data)
{
    const char *path = test_tmp(name);
    char hdr[128];
    size_t dl = strlen(dict), total = 10 + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((dl + pad + 1) & 0xff);
    hdr[9] = (char)((dl + pad + 1) >> 8);
    FILE *fp = fopen(path, "wb");
    fwrite(hdr, 1, 10, fp);
    fwrite(dict, 1, dl, fp);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    for (size_t i = 0; i < n_data; i++)
        fputc(0, fp);
    fclose(fp);
    return path;
}

/* fuzz_npy: a (3, 0) matrix (numpy writes it for np.zeros((3, 0))) opened
 * with the streaming reader but ps_npy_read_f32 failed with "read failed"
 * (fread of zero-size rows returns 0). */
TEST(fuzz_regressions_npy_zero_columns)
{
    const char *path = write_npy("zero_cols.npy",
                                 "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }", 0);
    struct ps_err err = {0};
    float *d = NULL;
    size_t rows = 99, cols = 99;
    CHECK_INT(ps_npy_read_f32(path, &d, &rows, &cols, &err), PS_OK);
    CHECK_INT(rows, 3);
    CHECK_INT(cols, 0);
    free(d);
    struct ps_npy_reader *r = NULL;
    CHECK_INT(ps_npy_reader_open(&r, path, &err), PS_OK);
    float dst[1];
    if (r) {
        CHECK_INT(ps_npy_reader_read(r, 1, 2, dst, &err), PS_OK);
        CHECK_INT(ps_npy_reader_read(r, 0, 0, dst, &err), PS_OK);
        CHECK(ps_npy_reader_read(r, 3, 1, dst, &err) != PS_OK);
    }
    ps_npy_reader_close(r);
}

/* fuzz_npy: shape (2^40, 2^24) makes rows * cols * 4 = 2^66 wrap to 0, so
 * a file with no data at all matched the "size" check and opened as a
 * 2^64-element matrix.  Now a shape whose byte size overflows is refused. */
TEST(fuzz_regressions_npy_shape_overflow)
{
    const char *path = write_npy(
        "overflow.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 16777216), }", 0);
    struct ps_err err = {0};
    struct ps_npy_reader *r = NULL;
    CHECK(ps_npy_reader_open(&r, path, &err) == PS_ERR_BAD_INPUT);
    CHECK(r == NULL);
    CHECK_CONTAINS(err.msg, "too large");
    ps_npy_reader_close(r);
    float *d = NULL;
    size_t rows, cols;
    CHECK(ps_npy_read_f32(path, &d, &rows, &cols, &err) == PS_ERR_BAD_INPUT);
    CHECK(d == NULL);
}

/* Writes body + its "checksum" line (segment.h: ps_hash64 of every byte
 * before it, seed 0). */
static const char *write_psm(const char *name, const char *body)
{
    const char *path = test_tmp(name);
    FILE *fp = fopen(path, "wb");
    fputs(body, fp);
    fprintf(fp, "checksum %016llx\n", (unsigned long long)ps_hash64(body, strlen(body), 0));
    fclose(fp);
    return path;
}

static const char psm_head[] =
    "PERSONA-SEGMENT-MODEL\nversion 1\nk 2\nd 2\nalgorithm auto\nn_init 10\nmax_iter 300\n"
    "tol 0.0001\nseed 42\nn_local_trials 0\nbatch_size 1024\nmax_no_improvement 10\n"
    "n_train 5\ninertia 0.1\nn_iter 2\nscale standard\ncolumn a\ncolumn b\nlog1p 0 0\n"
    "fill 9 8\ncenter 6.2 6\nscale_by 4 3\ncentroid 0 0.8 0.8\ncentroid 1 -1.2 -1.2\n";

/* fuzz_segment_model: a negative 99th-percentile radius loaded fine and
 * then flagged every assigned user as emerging (dist > radius). */
TEST(fuzz_regressions_segment_negative_radius)
{
    char body[1024];
    struct ps_err err = {0};
    struct ps_segment_model m;
    snprintf(body, sizeof body, "%sradius99 0.2 0.06\nname 0 high\nname 1 low\n", psm_head);
    CHECK_INT(ps_segment_model_load(&m, write_psm("good.psm", body), &err), PS_OK);
    if (err.status == PS_OK) {
        CHECK_INT(m.k, 2);
        CHECK_NEAR(m.radius99[1], 0.06, 0);
        ps_segment_model_release(&m);
    }
    snprintf(body, sizeof body, "%sradius99 0.2 -.06\nname 0 high\nname 1 low\n", psm_head);
    CHECK_INT(ps_segment_model_load(&m, write_psm("neg.psm", body), &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "neg.psm:25: \"radius99\" of segment 1 must be >= 0");
}

/* fuzz_lda_model: a 22-byte bag-of-words file asked for two million
 * tokens (each count expands into tokens); a 4 KB file could ask for
 * gigabytes.  The reader now caps tokens at 1,000 per byte of file. */
TEST(fuzz_regressions_ldac_token_cap)
{
    static const char small[] = "2 0:1000000 1:1000000\n";
    static const char fine[] = "2 0:3 1:2\n1 1:1\n";
    struct ps_corpus c;
    struct ps_err err = {0};
    const char *p = test_write_file("big.ldac", small, sizeof small - 1);
    CHECK_INT(ps_corpus_read_ldac(&c, p, 2, &err), PS_ERR_TOO_BIG);
    CHECK_CONTAINS(err.msg, "big.ldac:1: more than 1070576 tokens in a 22-byte file");
    p = test_write_file("fine.ldac", fine, sizeof fine - 1);
    ps_err_clear(&err);
    CHECK_INT(ps_corpus_read_ldac(&c, p, 2, &err), PS_OK);
    if (err.status == PS_OK) {
        CHECK_INT(c.n_docs, 2);
        CHECK_INT(c.n_tokens, 6);
        ps_corpus_release(&c);
    }
}
