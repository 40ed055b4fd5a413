/*
 * safetensors.c - validated, memory-mapped .safetensors reader (see
 * safetensors.h).
 *
 * The parser works on a byte image (the mmap of a file, or a buffer from
 * the fuzzer): it reads the 8-byte length, hands exactly that many bytes
 * to jansson, and checks every field before it computes a pointer.  The
 * offsets must tile the data area exactly, as the format's specification
 * and the Rust crate require; that rules out overlap, holes and trailing
 * garbage at once.
 */
#include "persona/safetensors.h"
#include "persona/core.h"
#include "persona/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[PS_ST_N_DTYPES] = {
    [PS_ST_F64] = {"F64", 8},   [PS_ST_F32] = {"F32", 4},   [PS_ST_F16] = {"F16", 2},
    [PS_ST_BF16] = {"BF16", 2}, [PS_ST_I64] = {"I64", 8},   [PS_ST_I32] = {"I32", 4},
    [PS_ST_I16] = {"I16", 2},   [PS_ST_I8] = {"I8", 1},     [PS_ST_U64] = {"U64", 8},
    [PS_ST_U32] = {"U32", 4},   [PS_ST_U16] = {"U16", 2},   [PS_ST_U8] = {"U8", 1},
    [PS_ST_BOOL] = {"BOOL", 1}, [PS_ST_F8_E4M3] = {"F8_E4M3", 1},
    [PS_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *ps_st_dtype_name(enum ps_st_dtype t)
{
    return (unsigned)t < PS_ST_N_DTYPES ? dtype_info[t].name : "?";
}

size_t ps_st_dtype_size(enum ps_st_dtype t)
{
    return (unsigned)t < PS_ST_N_DTYPES ? dtype_info[t].size : 0;
}

struct ps_safetensors {
    char *display;                  /* name used in messages, owned */
    void *map;                      /* mmap of the file, or NULL (borrowed buffer) */
    size_t map_len;
    size_t n_tensors;
    struct ps_st_tensor *tensors;   /* sorted by offset; owned */
    struct ps_strmap *names;        /* name -> index in tensors; owns the names */
    size_t data_len;                /* bytes in the data area */
};

/* ---- scalar conversions --------------------------------------------- */

float ps_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float ps_f16_to_f32(uint16_t h)
{
    /* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits.  Every
     * half value is exactly representable in float; subnormals are
     * renormalised, Inf/NaN keep their payload. */
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int ps_st_tensor_to_f32(const struct ps_st_tensor *t, float *dst)
{
    const unsigned char *p = t->data;
    size_t n = t->n_elems;
    switch (t->dtype) {
    case PS_ST_F32:
        memcpy(dst, p, n * 4);
        return PS_OK;
    case PS_ST_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ps_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return PS_OK;
    case PS_ST_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ps_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return PS_OK;
    case PS_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return PS_OK;
    default:
        return PS_ERR_UNSUPPORTED;
    }
}

/* ---- header parsing ----------------------------------------------------- */

static int parse_dtype(const char *s, enum ps_st_dtype *out)
{
    for (int i = 0; i < PS_ST_N_DTYPES; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (enum ps_st_dtype)i;
            return 0;
        }
    return -1;
}

struct pending {
    const char *name;   /* borrowed from the JSON document */
    struct ps_st_tensor t;
};

static int cmp_pending(const void *a, const void *b)
{
    const struct ps_st_tensor *x = &((const struct pending *)a)->t;
    const struct ps_st_tensor *y = &((const struct pending *)b)->t;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->n_bytes != y->n_bytes)
        return x->n_bytes < y->n_bytes ? -1 : 1;
    return 0;
}

static void shape_str(char *buf, size_t cap, const struct ps_st_tensor *t)
{
    size_t n = 0;
    buf[n++] = '[';
    for (int i = 0; i < t->n_dims && n + 24 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    snprintf(buf + n, cap - n, "]");
}

/* Validates one header entry into *t (data pointer not set yet). */
static int parse_entry(const char *file, const char *name, json_t *v, size_t data_len,
                       struct ps_st_tensor *t, struct ps_err *err)
{
    if (!json_is_object(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": entry is not a JSON object",
                          file, name);
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": missing or non-string \"dtype\"",
                          file, name);
    if (parse_dtype(json_string_value(jd), &t->dtype))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": unknown dtype \"%.40s\"", file,
                          name, json_string_value(jd));
    if (!json_is_array(js))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": missing or non-array \"shape\"",
                          file, name);
    size_t nd = json_array_size(js);
    if (nd > PS_ST_MAX_DIMS)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": %zu dimensions (at most %d)",
                          file, name, nd, PS_ST_MAX_DIMS);
    t->n_dims = (int)nd;
    int has_zero = 0;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ps_err_set(err, PS_ERR_BAD_INPUT,
                              "%s: tensor \"%s\": shape[%zu] is not a non-negative integer", file,
                              name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
        if (t->shape[i] == 0)
            has_zero = 1;
    }
    size_t elems = 1;
    if (has_zero) {
        elems = 0;
    } else {
        for (size_t i = 0; i < nd; i++)
            if ((uint64_t)t->shape[i] > SIZE_MAX ||
                __builtin_mul_overflow(elems, (size_t)t->shape[i], &elems))
                return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": shape overflows", file,
                                  name);
    }
    size_t bytes;
    if (__builtin_mul_overflow(elems, dtype_info[t->dtype].size, &bytes))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": shape overflows", file, name);
    t->n_elems = elems;
    t->n_bytes = bytes;
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)))
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] integers", file,
                          name);
    json_int_t b = json_integer_value(json_array_get(jo, 0));
    json_int_t e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": data_offsets [%lld, %lld] are not increasing", file,
                          name, (long long)b, (long long)e);
    if ((unsigned long long)e > data_len)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": data_offsets [%lld, %lld] exceed the %zu-byte data area",
                          file, name, (long long)b, (long long)e, data_len);
    if ((size_t)(e - b) != bytes) {
        char sh[128];
        shape_str(sh, sizeof sh, t);
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: tensor \"%s\": shape %s x %s is %zu bytes, data_offsets give %lld",
                          file, name, sh, dtype_info[t->dtype].name, bytes, (long long)(e - b));
    }
    t->offset = (size_t)b;
    return PS_OK;
}

int ps_safetensors_parse(struct ps_safetensors **out, const void *buf, size_t len,
                         const char *display_name, struct ps_err *err)
{
    const unsigned char *p = buf;
    const char *file = display_name ? display_name : "safetensors";
    struct pending *pend = NULL;
    json_t *root = NULL;
    int rc = PS_OK;

    *out = NULL;
    if (len < 8)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: file is %zu bytes, too short for a header",
                          file, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > PS_ST_MAX_HEADER)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: header length %llu is over the %u-byte cap",
                          file, (unsigned long long)hlen, PS_ST_MAX_HEADER);
    if (hlen > len - 8)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: header length %llu goes beyond the end of the file (%zu bytes)", file,
                          (unsigned long long)hlen, len);
    if (hlen < 2 || p[8] != '{')
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: header does not start with a JSON object",
                          file);
    json_error_t jerr;
    root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: malformed header JSON at byte %d: %s", file,
                        jerr.position, jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: header is not a JSON object", file);
        goto done;
    }
    size_t data_len = len - 8 - (size_t)hlen;
    size_t n = 0, cap = json_object_size(root);
    pend = ps_xcalloc(cap ? cap : 1, sizeof *pend);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"__metadata__\" is not an object", file);
                goto done;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                    "%s: \"__metadata__\" value \"%s\" is not a string", file, mk);
                    goto done;
                }
            }
            continue;
        }
        if (key[0] == '\0') {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor with an empty name", file);
            goto done;
        }
        pend[n].name = key;
        rc = parse_entry(file, key, val, data_len, &pend[n].t, err);
        if (rc)
            goto done;
        n++;
    }
    qsort(pend, n, sizeof *pend, cmp_pending);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ps_st_tensor *t = &pend[i].t;
        if (t->offset != pos) {
            if (t->offset < pos)
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap the previous tensor \"%s\"",
                                file, pend[i].name, t->offset, t->offset + t->n_bytes,
                                pend[i - 1].name);
            else
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "%s: tensor \"%s\": data_offsets start at %zu, leaving a hole after byte %zu",
                                file, pend[i].name, t->offset, pos);
            goto done;
        }
        pos = t->offset + t->n_bytes;
    }
    if (pos != data_len) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                        "%s: tensors cover %zu bytes of a %zu-byte data area", file, pos, data_len);
        goto done;
    }

    struct ps_safetensors *st = ps_xcalloc(1, sizeof *st);
    st->display = ps_xstrdup(file);
    st->n_tensors = n;
    st->data_len = data_len;
    st->tensors = ps_xcalloc(n ? n : 1, sizeof *st->tensors);
    st->names = ps_strmap_new();
    const unsigned char *data = p + 8 + hlen;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ps_strmap_intern(st->names, pend[i].name, strlen(pend[i].name), NULL);
        PS_ASSERT(id == i); /* jansson rejected duplicate keys */
        st->tensors[i] = pend[i].t;
        st->tensors[i].data = data + pend[i].t.offset;
    }
    /* Key pointers are taken only now: the map's arena moves as it grows. */
    for (size_t i = 0; i < n; i++)
        st->tensors[i].name = ps_strmap_key(st->names, (uint32_t)i, NULL);
    *out = st;
done:
    free(pend);
    json_decref(root);
    return rc;
}

int ps_safetensors_open(struct ps_safetensors **out, const char *path, const char *display_name,
                        struct ps_err *err)
{
    const char *file = display_name ? display_name : path;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", file, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ps_err_set(err, PS_ERR_IO, "cannot read \"%s\": not a regular file", file);
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ps_err_set(err, PS_ERR_IO, "cannot map \"%s\": %s", file, strerror(e));
        }
    }
    close(fd);
    static const unsigned char empty[1];
    int rc = ps_safetensors_parse(out, map ? map : empty, len, file, err);
    if (rc) {
        if (map)
            munmap(map, len);
        return rc;
    }
    (*out)->map = map;
    (*out)->map_len = len;
    return PS_OK;
}

void ps_safetensors_close(struct ps_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    ps_strmap_free(st->names);
    free(st->tensors);
    free(st->display);
    free(st);
}

size_t ps_safetensors_n_tensors(const struct ps_safetensors *st)
{
    return st->n_tensors;
}

const struct ps_st_tensor *ps_safetensors_tensor(const struct ps_safetensors *st, size_t i)
{
    return i < st->n_tensors ? &st->tensors[i] : NULL;
}

const struct ps_st_tensor *ps_safetensors_find(const struct ps_safetensors *st, const char *name)
{
    int64_t id = ps_strmap_find(st->names, name, strlen(name));
    return id < 0 ? NULL : &st->tensors[id];
}

const char *ps_safetensors_name(const struct ps_safetensors *st)
{
    return st->display;
}

/* ---- checkpoint folders ------------------------------------------------- */

struct ps_st_checkpoint {
    int n_files;
    struct ps_safetensors **files;
    struct ps_strmap *names;     /* global name -> slot */
    uint32_t *slot_file;         /* per slot: file index */
    uint32_t *slot_tensor;       /* per slot: tensor index in that file */
    size_t n_slots, cap_slots, cap_file, bytes;
};

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = ps_xmalloc(a + b + 2);
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

static int add_file(struct ps_st_checkpoint *ck, const char *dir, const char *name,
                    struct ps_err *err)
{
    char *path = join_path(dir, name);
    struct ps_safetensors *st;
    int rc = ps_safetensors_open(&st, path, name, err);
    free(path);
    if (rc)
        return rc;
    uint32_t fi = (uint32_t)ck->n_files;
    ck->files[ck->n_files++] = st;
    ck->bytes += st->data_len;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const char *tn = st->tensors[i].name;
        int ins;
        uint32_t id = ps_strmap_intern(ck->names, tn, strlen(tn), &ins);
        if (!ins)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\" is also in \"%s\"", name, tn,
                              ck->files[ck->slot_file[id]]->display);
        ck->slot_file = ps_xgrow(ck->slot_file, &ck->cap_slots, id + 1, sizeof *ck->slot_file);
        ck->slot_tensor = ps_xgrow(ck->slot_tensor, &ck->cap_file, id + 1, sizeof *ck->slot_tensor);
        ck->slot_file[id] = fi;
        ck->slot_tensor[id] = (uint32_t)i;
        ck->n_slots = id + 1;
    }
    return PS_OK;
}

static int open_sharded(struct ps_st_checkpoint *ck, const char *dir, const char *index_path,
                        struct ps_err *err)
{
    const char *iname = "model.safetensors.index.json";
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = PS_OK;
    if (!root)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: malformed JSON: %s", iname, jerr.line,
                          jerr.text);
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing or empty \"weight_map\" object", iname);
        goto done;
    }
    /* Distinct shard names, in first-seen order. */
    struct ps_strmap *shards = ps_strmap_new();
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: tensor \"%s\": shard name is not a string",
                            iname, key);
            break;
        }
        const char *f = json_string_value(val);
        if (!*f || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s: tensor \"%s\": shard \"%s\" is not a file name in the folder",
                            iname, key, f);
            break;
        }
        ps_strmap_intern(shards, f, strlen(f), NULL);
    }
    if (!rc) {
        uint32_t ns = ps_strmap_count(shards);
        ck->files = ps_xcalloc(ns, sizeof *ck->files);
        for (uint32_t i = 0; i < ns && !rc; i++)
            rc = add_file(ck, dir, ps_strmap_key(shards, i, NULL), err);
    }
    if (!rc) {
        json_object_foreach(wm, key, val) {
            const char *f = json_string_value(val);
            const char *held;
            if (!ps_st_checkpoint_find(ck, key, &held)) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "%s: tensor \"%s\" is mapped to \"%s\", which does not hold it",
                                iname, key, f);
                break;
            }
            if (strcmp(held, f) != 0) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "%s: tensor \"%s\" is mapped to \"%s\" but found in \"%s\"", iname,
                                key, f, held);
                break;
            }
        }
    }
    ps_strmap_free(shards);
done:
    json_decref(root);
    return rc;
}

int ps_st_checkpoint_open(struct ps_st_checkpoint **out, const char *dir, struct ps_err *err)
{
    struct ps_st_checkpoint *ck = ps_xcalloc(1, sizeof *ck);
    ck->names = ps_strmap_new();
    char *index_path = join_path(dir, "model.safetensors.index.json");
    int rc;
    *out = NULL;
    if (access(index_path, F_OK) == 0) {
        rc = open_sharded(ck, dir, index_path, err);
    } else {
        ck->files = ps_xcalloc(1, sizeof *ck->files);
        char *single = join_path(dir, "model.safetensors");
        if (access(single, F_OK) != 0)
            rc = ps_err_set(err, PS_ERR_IO,
                            "no \"model.safetensors\" or \"model.safetensors.index.json\" in \"%s\"",
                            dir);
        else
            rc = add_file(ck, dir, "model.safetensors", err);
        free(single);
    }
    free(index_path);
    if (rc) {
        ps_st_checkpoint_close(ck);
        return rc;
    }
    *out = ck;
    return PS_OK;
}

void ps_st_checkpoint_close(struct ps_st_checkpoint *ck)
{
    if (!ck)
        return;
    for (int i = 0; i < ck->n_files; i++)
        ps_safetensors_close(ck->files[i]);
    free(ck->files);
    ps_strmap_free(ck->names);
    free(ck->slot_file);
    free(ck->slot_tensor);
    free(ck);
}

const struct ps_st_tensor *ps_st_checkpoint_find(const struct ps_st_checkpoint *ck,
                                                 const char *name, const char **file)
{
    int64_t id = ps_strmap_find(ck->names, name, strlen(name));
    if (id < 0)
        return NULL;
    const struct ps_safetensors *st = ck->files[ck->slot_file[id]];
    if (file)
        *file = st->display;
    return &st->tensors[ck->slot_tensor[id]];
}

size_t ps_st_checkpoint_n_tensors(const struct ps_st_checkpoint *ck)
{
    return ck->n_slots;
}

const struct ps_st_tensor *ps_st_checkpoint_tensor(const struct ps_st_checkpoint *ck, size_t i,
                                                   const char **file)
{
    if (i >= ck->n_slots)
        return NULL;
    const struct ps_safetensors *st = ck->files[ck->slot_file[i]];
    if (file)
        *file = st->display;
    return &st->tensors[ck->slot_tensor[i]];
}

size_t ps_st_checkpoint_bytes(const struct ps_st_checkpoint *ck)
{
    return ck->bytes;
}
