/*
 * npy.h - NumPy .npy files (format 1.0/2.0), float32 C order.
 *
 * Dense matrices in a workspace are .npy so numpy and notebooks open them
 * directly.  Writing goes through an atomic temporary file.  Reading
 * validates the header (magic, dtype '<f4', fortran_order False, shape
 * against file size) and can stream rows for data larger than memory.
 */
#ifndef PERSONA_NPY_H
#define PERSONA_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "status.h"

/* Writes a rows x cols float32 matrix.  Atomic: path appears complete or
 * not at all. */
int ps_npy_write_f32(const char *path, const float *data, size_t rows,
                     size_t cols, struct ps_err *err);

/* Streaming writer: rows appended one block at a time, header patched on
 * close (for outputs whose row count is unknown up front). */
struct ps_npy_writer;
int ps_npy_writer_open(struct ps_npy_writer **out, const char *path,
                       size_t cols, struct ps_err *err);
int ps_npy_writer_append(struct ps_npy_writer *w, const float *rows,
                         size_t n_rows, struct ps_err *err);
/* Finishes and renames into place. */
int ps_npy_writer_close(struct ps_npy_writer *w, struct ps_err *err);
/* Discards the partial file.  NULL is allowed. */
void ps_npy_writer_abort(struct ps_npy_writer *w);

/* Reads a whole 1-D or 2-D float32 file.  *data is owned by the caller
 * (free()).  A 1-D file reads as rows x 1. */
int ps_npy_read_f32(const char *path, float **data, size_t *rows,
                    size_t *cols, struct ps_err *err);

/* Streaming reader over rows. */
struct ps_npy_reader;
int ps_npy_reader_open(struct ps_npy_reader **out, const char *path,
                       struct ps_err *err);
size_t ps_npy_reader_rows(const struct ps_npy_reader *r);
size_t ps_npy_reader_cols(const struct ps_npy_reader *r);
/* Reads rows [first, first + n) into dst (n * cols floats). */
int ps_npy_reader_read(struct ps_npy_reader *r, size_t first, size_t n,
                       float *dst, struct ps_err *err);
void ps_npy_reader_close(struct ps_npy_reader *r);

#endif
