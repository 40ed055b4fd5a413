/*
 * safetensors.h - read Hugging Face .safetensors files, single or sharded.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}), then the data area.  The file is memory-mapped
 * read-only and every tensor is a view into the map (llama2.c); nothing is
 * copied.
 *
 * Everything in the header is validated before any data is touched:
 * header length within the file, well-formed JSON without duplicate keys,
 * known dtypes, non-negative shapes whose byte size does not overflow,
 * shape x dtype size == end - begin, offsets inside the data area, and
 * offsets that tile the data area exactly (no overlap, no hole) as the
 * format requires.  Errors name the file and the tensor:
 *   model.safetensors: tensor "wte.weight": shape [1000, 64] x F32 is 256000 bytes, data_offsets give 255996
 * After a successful open no accessor can read out of bounds.
 *
 * Thread safety: an opened file or checkpoint is read-only; share freely.
 */
#ifndef PERSONA_SAFETENSORS_H
#define PERSONA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

enum ps_st_dtype {
    PS_ST_F64, PS_ST_F32, PS_ST_F16, PS_ST_BF16,
    PS_ST_I64, PS_ST_I32, PS_ST_I16, PS_ST_I8,
    PS_ST_U64, PS_ST_U32, PS_ST_U16, PS_ST_U8, PS_ST_BOOL,
    PS_ST_F8_E4M3, PS_ST_F8_E5M2,
    PS_ST_N_DTYPES
};

#define PS_ST_MAX_DIMS 8          /* more dimensions is a bad-input error */
#define PS_ST_MAX_HEADER (100u << 20) /* header JSON cap, as the Rust crate */

struct ps_st_tensor {
    const char *name;             /* NUL-terminated, owned by the file */
    enum ps_st_dtype dtype;
    int n_dims;                   /* 0 = scalar */
    int64_t shape[PS_ST_MAX_DIMS];
    size_t n_elems;               /* product of shape (1 for a scalar) */
    size_t n_bytes;               /* n_elems * dtype size */
    size_t offset;                /* from the start of the data area */
    const void *data;             /* view into the map; may be unaligned */
};

/* Name as written in files ("F32") and element size in bytes. */
const char *ps_st_dtype_name(enum ps_st_dtype t);
size_t ps_st_dtype_size(enum ps_st_dtype t);

/* ---- one file ---------------------------------------------------------- */

struct ps_safetensors;

/* Maps path and validates its header.  display_name (NULL = path) is the
 * name used in messages. */
int ps_safetensors_open(struct ps_safetensors **out, const char *path,
                        const char *display_name, struct ps_err *err);

/* Parses and validates a safetensors image already in memory.  buf is
 * borrowed and must outlive the handle (tensor data points into it).
 * Used by the fuzzer and the hostile-file tests. */
int ps_safetensors_parse(struct ps_safetensors **out, const void *buf, size_t len,
                         const char *display_name, struct ps_err *err);

void ps_safetensors_close(struct ps_safetensors *st);

size_t ps_safetensors_n_tensors(const struct ps_safetensors *st);
/* Tensor i in data-offset order; borrowed, valid until close. */
const struct ps_st_tensor *ps_safetensors_tensor(const struct ps_safetensors *st, size_t i);
/* Tensor by exact name or NULL. */
const struct ps_st_tensor *ps_safetensors_find(const struct ps_safetensors *st,
                                               const char *name);
const char *ps_safetensors_name(const struct ps_safetensors *st);

/* Converts a floating tensor (F32, F16, BF16, F64) to float32 in dst
 * (n_elems floats).  F16/BF16 are exact upcasts.  Returns PS_ERR_UNSUPPORTED
 * for integer and FP8 dtypes. */
int ps_st_tensor_to_f32(const struct ps_st_tensor *t, float *dst);

/* Scalar conversions (exposed for tests). */
float ps_f16_to_f32(uint16_t h);
float ps_bf16_to_f32(uint16_t h);

/* ---- a checkpoint folder ----------------------------------------------- */

/*
 * Opens the weights of a Hugging Face folder: model.safetensors.index.json
 * (sharded: its "weight_map" names each tensor's shard, which must hold
 * that tensor) if present, else model.safetensors.  A tensor name found in
 * two shards is an error.  Shard names must be plain file names inside dir.
 */
struct ps_st_checkpoint;

int ps_st_checkpoint_open(struct ps_st_checkpoint **out, const char *dir,
                          struct ps_err *err);
void ps_st_checkpoint_close(struct ps_st_checkpoint *ck);

/* Tensor by exact name or NULL; *file (may be NULL) receives the display
 * name of the file that holds it. */
const struct ps_st_tensor *ps_st_checkpoint_find(const struct ps_st_checkpoint *ck,
                                                 const char *name, const char **file);
size_t ps_st_checkpoint_n_tensors(const struct ps_st_checkpoint *ck);
/* Tensor i over all shards, with its file name. */
const struct ps_st_tensor *ps_st_checkpoint_tensor(const struct ps_st_checkpoint *ck,
                                                   size_t i, const char **file);
/* Total bytes of the data areas (the checkpoint's weight size). */
size_t ps_st_checkpoint_bytes(const struct ps_st_checkpoint *ck);

#endif
