/*
 * segment.c - the segmentation stage: feature table loading, model file,
 * fit (scale, K-means, choose K), summaries with generated names, assign.
 * See segment.h for the contracts and docs/segmentation.md for the rules.
 */
#include "persona/segment.h"
#include "persona/afile.h"
#include "persona/cluster_metrics.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/reader.h"
#include "persona/rng.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ======================================================================= */
/* feature table                                                           */
/* ======================================================================= */

void ps_ftable_release(struct ps_ftable *t)
{
    for (int j = 0; j < t->n_cols; j++) {
        free(t->names ? t->names[j] : NULL);
        free(t->text ? t->text[j] : NULL);
        if (t->dict)
            ps_strmap_free(t->dict[j]);
    }
    free(t->names);
    free(t->is_text);
    free(t->num);
    free(t->text);
    free(t->dict);
    ps_strmap_free(t->ids);
    memset(t, 0, sizeof *t);
}

int ps_ftable_column(const struct ps_ftable *t, const char *name)
{
    for (int j = 0; j < t->n_cols; j++)
        if (strcmp(t->names[j], name) == 0)
            return j;
    return -1;
}

const char *ps_ftable_user(const struct ps_ftable *t, size_t row)
{
    return ps_strmap_key(t->ids, (uint32_t)row, NULL);
}

static void ftable_alloc_cols(struct ps_ftable *t, int n_cols)
{
    t->n_cols = n_cols;
    t->names = ps_xcalloc((size_t)n_cols + 1, sizeof *t->names);
    t->is_text = ps_xcalloc((size_t)n_cols + 1, 1);
    t->text = ps_xcalloc((size_t)n_cols + 1, sizeof *t->text);
    t->dict = ps_xcalloc((size_t)n_cols + 1, sizeof *t->dict);
    t->ids = ps_strmap_new();
}

/* Strict number: the whole field, finite. */
static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int load_csv(struct ps_ftable *t, const char *path, struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    rp.format = PS_FORMAT_CSV;
    struct ps_reader *r;
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    const char *name = ps_reader_name(r);
    int nc = ps_reader_n_columns(r);
    if (nc < 1 || strcmp(ps_reader_column_name(r, 0), "user_id") != 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: first column must be \"user_id\", got \"%s\"",
                        name, nc >= 1 ? ps_reader_column_name(r, 0) : "");
        ps_reader_close(r);
        return rc;
    }
    ftable_alloc_cols(t, nc - 1);
    /* 0 = type unknown yet, 1 = numeric, 2 = text */
    unsigned char *kind = ps_xcalloc((size_t)nc, 1);
    size_t *tcap = ps_xcalloc((size_t)nc, sizeof *tcap);
    for (int j = 0; j < t->n_cols; j++)
        t->names[j] = ps_xstrdup(ps_reader_column_name(r, j + 1));
    size_t cap = 0;
    for (;;) {
        rc = ps_reader_next(r);
        if (rc == PS_DONE) {
            rc = PS_OK;
            break;
        }
        if (rc) {
            ps_err_set(err, rc == PS_ERR_BAD_ROW ? PS_ERR_BAD_INPUT : rc, "%s", ps_reader_errmsg(r));
            rc = err ? err->status : rc;
            break;
        }
        size_t row = t->n_rows;
        size_t ulen;
        const char *uid = ps_reader_field(r, 0, &ulen);
        if (ulen == 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id", name,
                            ps_reader_line(r));
            break;
        }
        int inserted;
        ps_strmap_intern(t->ids, uid, ulen, &inserted);
        if (!inserted) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: duplicate user id \"%s\"", name,
                            ps_reader_line(r), uid);
            break;
        }
        if (t->n_cols)
            t->num = ps_xgrow(t->num, &cap, (row + 1) * (size_t)t->n_cols, sizeof *t->num);
        for (int j = 0; j < t->n_cols && !rc; j++) {
            size_t len;
            const char *f = ps_reader_field(r, j + 1, &len);
            float *dst = t->num + row * (size_t)t->n_cols + j;
            *dst = NAN;
            double v;
            if (kind[j] == 0 && len)
                kind[j] = parse_num(f, &v) == 0 ? 1 : 2;
            if (kind[j] == 2 || t->text[j]) {
                if (!t->text[j]) {
                    t->is_text[j] = 1;
                    t->dict[j] = ps_strmap_new();
                    t->text[j] = ps_xgrow(NULL, &tcap[j], row + 1, sizeof **t->text);
                    for (size_t q = 0; q < row; q++)   /* earlier rows were empty */
                        t->text[j][q] = -1;
                }
                t->text[j] = ps_xgrow(t->text[j], &tcap[j], row + 1, sizeof **t->text);
                t->text[j][row] = len ? (int32_t)ps_strmap_intern(t->dict[j], f, len, NULL) : -1;
            } else if (len) {
                if (parse_num(f, &v) != 0) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                    "%s:%ld: column \"%s\": expected a number, got \"%.40s\"", name,
                                    ps_reader_line(r), t->names[j], f);
                    break;
                }
                *dst = (float)v;
            }
        }
        if (rc)
            break;
        t->n_rows++;
    }
    free(kind);
    free(tcap);
    ps_reader_close(r);
    return rc;
}

static char *sidecar_path(const char *npy, const char *ext)
{
    size_t n = strlen(npy);
    if (n > 4 && strcmp(npy + n - 4, ".npy") == 0)
        n -= 4;
    char *p = ps_xmalloc(n + strlen(ext) + 1);
    memcpy(p, npy, n);
    strcpy(p + n, ext);
    return p;
}

static int load_npy(struct ps_ftable *t, const char *path, struct ps_err *err)
{
    float *data = NULL;
    size_t rows, cols;
    int rc = ps_npy_read_f32(path, &data, &rows, &cols, err);
    if (rc)
        return rc;
    char *jpath = sidecar_path(path, ".json");
    char *ipath = NULL;
    FILE *fp = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(jpath, 0, &jerr);
    if (!root) {
        rc = jerr.line > 0 ? ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: %s", jpath, jerr.line, jerr.text)
                           : ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %s", jpath, jerr.text);
        goto done;
    }
    json_t *jc = json_object_get(root, "columns"), *ji = json_object_get(root, "ids");
    json_t *jr = json_object_get(root, "rows");
    if (!json_is_array(jc) || json_array_size(jc) != cols) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"columns\" must list the %zu columns of %s",
                        jpath, cols, path);
        goto done;
    }
    if (jr && (!json_is_integer(jr) || (size_t)json_integer_value(jr) != rows)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"rows\" does not match %s (%zu rows)", jpath,
                        path, rows);
        goto done;
    }
    if (ji && !json_is_string(ji)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"ids\" must be a file name", jpath);
        goto done;
    }
    if (ji) {
        /* relative to the JSON file's folder */
        const char *slash = strrchr(jpath, '/');
        const char *idn = json_string_value(ji);
        size_t dl = slash && idn[0] != '/' ? (size_t)(slash - jpath + 1) : 0;
        ipath = ps_xmalloc(dl + strlen(idn) + 1);
        memcpy(ipath, jpath, dl);
        strcpy(ipath + dl, idn);
    } else {
        ipath = sidecar_path(path, ".ids.txt");
    }
    ftable_alloc_cols(t, (int)cols);
    for (size_t j = 0; j < cols; j++) {
        json_t *s = json_array_get(jc, j);
        if (!json_is_string(s)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: column %zu is not a string", jpath, j);
            goto done;
        }
        t->names[j] = ps_xstrdup(json_string_value(s));
    }
    fp = fopen(ipath, "rb");
    if (!fp) {
        rc = ps_err_set(err, PS_ERR_IO, "%s: %s", ipath, strerror(errno));
        goto done;
    }
    char line[4096];
    size_t row = 0;
    while (fgets(line, sizeof line, fp)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(fp)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%zu: user id too long", ipath, row + 1);
            goto done;
        }
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (row >= rows) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: more ids than the %zu rows of %s", ipath, rows, path);
            goto done;
        }
        int ins;
        if (!len) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%zu: empty user id", ipath, row + 1);
            goto done;
        }
        ps_strmap_intern(t->ids, line, len, &ins);
        if (!ins) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%zu: duplicate user id \"%s\"", ipath, row + 1, line);
            goto done;
        }
        row++;
    }
    if (row != rows) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %zu ids for the %zu rows of %s", ipath, row, rows, path);
        goto done;
    }
    t->n_rows = rows;
    t->num = data;
    data = NULL;
done:
    if (fp)
        fclose(fp);
    if (root)
        json_decref(root);
    free(jpath);
    free(ipath);
    free(data);
    return rc;
}

int ps_ftable_load(struct ps_ftable *t, const char *path, struct ps_err *err)
{
    memset(t, 0, sizeof *t);
    size_t n = strlen(path);
    int rc = n > 4 && strcmp(path + n - 4, ".npy") == 0 ? load_npy(t, path, err)
                                                        : load_csv(t, path, err);
    if (rc)
        ps_ftable_release(t);
    return rc;
}

/* ======================================================================= */
/* model file                                                              */
/* ======================================================================= */

#define MODEL_MAGIC "PERSONA-SEGMENT-MODEL"
#define MODEL_MAX_BYTES ((size_t)1 << 28)
#define MODEL_MAX_K 100000
#define MODEL_MAX_D 100000

void ps_segment_model_release(struct ps_segment_model *m)
{
    for (int j = 0; m->columns && j < m->d; j++)
        free(m->columns[j]);
    for (int j = 0; m->names && j < m->k; j++)
        free(m->names[j]);
    free(m->columns);
    free(m->names);
    free(m->centers);
    free(m->radius99);
    ps_scaler_release(&m->scaler);
    memset(m, 0, sizeof *m);
}

static void put_vec(struct ps_buf *b, const char *key, const double *v, int n)
{
    ps_buf_printf(b, "%s", key);
    for (int i = 0; i < n; i++)
        ps_buf_printf(b, " %.17g", v[i]);
    ps_buf_putc(b, '\n');
}

int ps_segment_model_save(const struct ps_segment_model *m, const char *path, struct ps_err *err)
{
    struct ps_buf b;
    ps_buf_init(&b);
    const struct ps_kmeans_params *p = &m->km;
    ps_buf_printf(&b, "%s\nversion %d\n", MODEL_MAGIC, PS_SEGMENT_MODEL_VERSION);
    ps_buf_printf(&b, "k %d\nd %d\nalgorithm %s\nn_init %d\nmax_iter %d\ntol %.17g\nseed %llu\n",
                  m->k, m->d, ps_kmeans_algorithm_name(p->algorithm), p->n_init, p->max_iter,
                  p->tol, (unsigned long long)p->seed);
    ps_buf_printf(&b, "n_local_trials %d\nbatch_size %zu\nmax_no_improvement %d\n",
                  p->n_local_trials, p->batch_size, p->max_no_improvement);
    ps_buf_printf(&b, "n_train %zu\ninertia %.17g\nn_iter %d\nscale %s\n", m->n_train, m->inertia,
                  m->n_iter, ps_scaler_kind_name(m->scaler.kind));
    for (int j = 0; j < m->d; j++)
        ps_buf_printf(&b, "column %s\n", m->columns[j]);
    ps_buf_printf(&b, "log1p");
    for (int j = 0; j < m->d; j++)
        ps_buf_printf(&b, " %d", m->scaler.log1p[j] ? 1 : 0);
    ps_buf_putc(&b, '\n');
    put_vec(&b, "fill", m->scaler.fill, m->d);
    put_vec(&b, "center", m->scaler.center, m->d);
    put_vec(&b, "scale_by", m->scaler.scale, m->d);
    for (int j = 0; j < m->k; j++) {
        char key[32];
        snprintf(key, sizeof key, "centroid %d", j);
        put_vec(&b, key, m->centers + (size_t)j * m->d, m->d);
    }
    put_vec(&b, "radius99", m->radius99, m->k);
    for (int j = 0; j < m->k; j++)
        ps_buf_printf(&b, "name %d %s\n", j, m->names && m->names[j] ? m->names[j] : "");
    ps_buf_printf(&b, "checksum %016llx\n", (unsigned long long)ps_hash64(b.data, b.len, 0));
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (!rc) {
        fwrite(b.data, 1, b.len, f.fp);
        rc = ps_afile_commit(&f, err);
        if (rc)
            ps_afile_abort(&f);
    }
    ps_buf_release(&b);
    return rc;
}

/* Line cursor over a NUL-terminated buffer; lines are split in place. */
struct lines {
    char *p;
    int line;
    const char *path;
    struct ps_err *err;
};

static char *next_line(struct lines *L)
{
    if (!*L->p)
        return NULL;
    char *s = L->p, *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        L->p = nl + 1;
    } else {
        L->p = s + strlen(s);
    }
    L->line++;
    return s;
}

/* Returns the value after "key " on the next line, or NULL with an error. */
static char *want_key(struct lines *L, const char *key)
{
    char *s = next_line(L);
    size_t kl = strlen(key);
    if (!s) {
        ps_err_set(L->err, PS_ERR_BAD_INPUT, "%s: truncated model: missing \"%s\"", L->path, key);
        return NULL;
    }
    if (strncmp(s, key, kl) != 0 || (s[kl] != ' ' && s[kl] != '\0')) {
        ps_err_set(L->err, PS_ERR_BAD_INPUT, "%s:%d: expected \"%s\", got \"%.40s\"", L->path,
                   L->line, key, s);
        return NULL;
    }
    return s[kl] ? s + kl + 1 : s + kl;
}

static int want_long(struct lines *L, const char *key, long lo, long hi, long *out)
{
    char *v = want_key(L, key);
    if (!v)
        return PS_ERR_BAD_INPUT;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return ps_err_set(L->err, PS_ERR_BAD_INPUT, "%s:%d: \"%s\" must be an integer in %ld..%ld, got \"%.40s\"",
                          L->path, L->line, key, lo, hi, v);
    *out = x;
    return PS_OK;
}

static int parse_vec(struct lines *L, const char *key, const char *v, double *out, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || errno == ERANGE || !isfinite(x) || (*end != ' ' && *end != '\0'))
            return ps_err_set(L->err, PS_ERR_BAD_INPUT, "%s:%d: \"%s\": value %d is not a finite number",
                              L->path, L->line, key, i + 1);
        out[i] = x;
        v = end;
    }
    while (*v == ' ')
        v++;
    if (*v)
        return ps_err_set(L->err, PS_ERR_BAD_INPUT, "%s:%d: \"%s\": more than %d values", L->path,
                          L->line, key, n);
    return PS_OK;
}

static int want_vec(struct lines *L, const char *key, double *out, int n)
{
    char *v = want_key(L, key);
    return v ? parse_vec(L, key, v, out, n) : PS_ERR_BAD_INPUT;
}

int ps_segment_model_load(struct ps_segment_model *m, const char *path, struct ps_err *err)
{
    memset(m, 0, sizeof *m);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ps_err_set(err, PS_ERR_IO, "cannot open model \"%s\": %s", path, strerror(errno));
    struct ps_buf b;
    ps_buf_init(&b);
    char chunk[65536];
    size_t got;
    int rc = PS_OK;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (b.len + got > MODEL_MAX_BYTES) {
            rc = ps_err_set(err, PS_ERR_TOO_BIG, "%s: model file larger than %zu bytes", path, MODEL_MAX_BYTES);
            break;
        }
        ps_buf_append(&b, chunk, got);
    }
    if (!rc && ferror(fp))
        rc = ps_err_set(err, PS_ERR_IO, "%s: read error", path);
    fclose(fp);
    if (rc) {
        ps_buf_release(&b);
        return rc;
    }
    struct lines L = {b.data, 0, path, err};
    long k = 0, d = 0, v;
    char *s;
    if (b.len < sizeof MODEL_MAGIC || memcmp(b.data, MODEL_MAGIC "\n", sizeof MODEL_MAGIC) != 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: not a persona segment model (bad magic)", path);
        goto done;
    }
    if (memchr(b.data, '\0', b.len)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: model holds a NUL byte", path);
        goto done;
    }
    /* The checksum line ends the file; it covers every byte before it. */
    {
        const char *tail = "checksum ";
        char *cs = NULL;
        if (b.len >= 26 && b.data[b.len - 1] == '\n') {
            char *q = b.data + b.len - 26;
            if (memcmp(q, tail, 9) == 0 && (q == b.data || q[-1] == '\n'))
                cs = q;
        }
        if (!cs) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: truncated model: no checksum line at the end", path);
            goto done;
        }
        char hex[17];
        memcpy(hex, cs + 9, 16);
        hex[16] = '\0';
        char *end;
        unsigned long long want = strtoull(hex, &end, 16);
        if (*end || ps_hash64(b.data, (size_t)(cs - b.data), 0) != want) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: checksum mismatch (the file is damaged or was edited)", path);
            goto done;
        }
        *cs = '\0';
    }
    next_line(&L);   /* magic */
    if ((rc = want_long(&L, "version", 0, 1000000, &v)))
        goto done;
    if (v != PS_SEGMENT_MODEL_VERSION) {
        rc = ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: model version %ld, this persona reads version %d",
                        path, v, PS_SEGMENT_MODEL_VERSION);
        goto done;
    }
    if ((rc = want_long(&L, "k", 1, MODEL_MAX_K, &k)) || (rc = want_long(&L, "d", 1, MODEL_MAX_D, &d)))
        goto done;
    if (k * d > 100000000L) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: k x d = %ld is too large", path, k * d);
        goto done;
    }
    m->km = ps_kmeans_default_params();
    m->k = (int)k;
    if (!(s = want_key(&L, "algorithm"))) {
        rc = PS_ERR_BAD_INPUT;
        goto done;
    }
    int a = ps_kmeans_algorithm_parse(s);
    if (a < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: unknown algorithm \"%.40s\"", path, L.line, s);
        goto done;
    }
    m->km.algorithm = (enum ps_kmeans_algorithm)a;
    m->km.k = (int)k;
    if ((rc = want_long(&L, "n_init", 1, 1000000, &v)))
        goto done;
    m->km.n_init = (int)v;
    if ((rc = want_long(&L, "max_iter", 1, 100000000, &v)))
        goto done;
    m->km.max_iter = (int)v;
    double tmp[1];
    if ((rc = want_vec(&L, "tol", tmp, 1)))
        goto done;
    m->km.tol = tmp[0];
    if (!(s = want_key(&L, "seed"))) {
        rc = PS_ERR_BAD_INPUT;
        goto done;
    }
    {
        char *end;
        errno = 0;
        m->km.seed = strtoull(s, &end, 10);
        if (end == s || *end || errno || *s == '-') {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: \"seed\" must be an unsigned integer", path, L.line);
            goto done;
        }
    }
    if ((rc = want_long(&L, "n_local_trials", 0, 1000000, &v)))
        goto done;
    m->km.n_local_trials = (int)v;
    if ((rc = want_long(&L, "batch_size", 1, 1L << 40, &v)))
        goto done;
    m->km.batch_size = (size_t)v;
    if ((rc = want_long(&L, "max_no_improvement", 0, 1000000000, &v)))
        goto done;
    m->km.max_no_improvement = (int)v;
    if ((rc = want_long(&L, "n_train", 1, 1L << 50, &v)))
        goto done;
    m->n_train = (size_t)v;
    if ((rc = want_vec(&L, "inertia", tmp, 1)))
        goto done;
    m->inertia = tmp[0];
    if ((rc = want_long(&L, "n_iter", 0, 1L << 40, &v)))
        goto done;
    m->n_iter = (int)v;
    if (!(s = want_key(&L, "scale"))) {
        rc = PS_ERR_BAD_INPUT;
        goto done;
    }
    int sk = ps_scaler_kind_parse(s);
    if (sk < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: unknown scale \"%.40s\"", path, L.line, s);
        goto done;
    }
    /* Counts are checked above, so these allocations are bounded. */
    m->d = (int)d;
    m->columns = ps_xcalloc((size_t)d, sizeof *m->columns);
    m->names = ps_xcalloc((size_t)k, sizeof *m->names);
    m->centers = ps_xmalloc((size_t)k * (size_t)d * sizeof *m->centers);
    m->radius99 = ps_xmalloc((size_t)k * sizeof *m->radius99);
    m->scaler.kind = (enum ps_scaler_kind)sk;
    m->scaler.n_features = (int)d;
    m->scaler.log1p = ps_xcalloc((size_t)d, 1);
    m->scaler.fill = ps_xmalloc((size_t)d * sizeof(double));
    m->scaler.center = ps_xmalloc((size_t)d * sizeof(double));
    m->scaler.scale = ps_xmalloc((size_t)d * sizeof(double));
    for (long j = 0; j < d; j++) {
        if (!(s = want_key(&L, "column"))) {
            rc = PS_ERR_BAD_INPUT;
            goto done;
        }
        if (!*s) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: empty column name", path, L.line);
            goto done;
        }
        m->columns[j] = ps_xstrdup(s);
    }
    double *lg = ps_xmalloc((size_t)d * sizeof *lg);
    rc = want_vec(&L, "log1p", lg, (int)d);
    for (long j = 0; !rc && j < d; j++) {
        if (lg[j] != 0 && lg[j] != 1)
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: \"log1p\" flags must be 0 or 1", path, L.line);
        m->scaler.log1p[j] = lg[j] == 1;
    }
    free(lg);
    if (rc || (rc = want_vec(&L, "fill", m->scaler.fill, (int)d)) ||
        (rc = want_vec(&L, "center", m->scaler.center, (int)d)) ||
        (rc = want_vec(&L, "scale_by", m->scaler.scale, (int)d)))
        goto done;
    for (long j = 0; j < d; j++)
        if (!(m->scaler.scale[j] > 0)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: scale of column %ld must be > 0", path, j + 1);
            goto done;
        }
    for (long j = 0; j < k; j++) {
        if (!(s = want_key(&L, "centroid"))) {
            rc = PS_ERR_BAD_INPUT;
            goto done;
        }
        char *end;
        long id = strtol(s, &end, 10);
        if (end == s || id != j || *end != ' ') {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: expected centroid %ld", path, L.line, j);
            goto done;
        }
        if ((rc = parse_vec(&L, "centroid", end + 1, m->centers + (size_t)j * d, (int)d)))
            goto done;
    }
    if ((rc = want_vec(&L, "radius99", m->radius99, (int)k)))
        goto done;
    for (long j = 0; j < k; j++)
        if (!(m->radius99[j] >= 0)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: \"radius99\" of segment %ld must be >= 0",
                            path, L.line, j);
            goto done;
        }
    for (long j = 0; j < k; j++) {
        if (!(s = want_key(&L, "name"))) {
            rc = PS_ERR_BAD_INPUT;
            goto done;
        }
        char *end;
        long id = strtol(s, &end, 10);
        if (end == s || id != j || (*end != ' ' && *end)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: expected name %ld", path, L.line, j);
            goto done;
        }
        m->names[j] = ps_xstrdup(*end ? end + 1 : end);
    }
    if ((s = next_line(&L)) != NULL) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: unexpected line \"%.40s\"", path, L.line, s);
        goto done;
    }
done:
    ps_buf_release(&b);
    if (rc)
        ps_segment_model_release(m);
    return rc;
}

/* ======================================================================= */
/* fitting                                                                 */
/* ======================================================================= */

struct ps_segment_params ps_segment_default_params(void)
{
    struct ps_segment_params p;
    memset(&p, 0, sizeof p);
    p.scale = PS_SCALER_STANDARD;
    p.k = 5;
    p.k_min = 2;
    p.k_max = 12;
    p.silhouette_max = 20000;
    p.km = ps_kmeans_default_params();
    p.km.k = 5;
    p.lang = "en";
    return p;
}

/* A model column resolved against a table: a numeric column, or a one-hot
 * indicator "name=value" of a text column. */
struct colref {
    int col;
    int onehot;
    int64_t value;          /* value id in the table's dict; -2 = not present */
};

#define MAX_ONEHOT 64

static int resolve_one(const struct ps_ftable *t, const char *name, struct colref *ref,
                       struct ps_err *err)
{
    int j = ps_ftable_column(t, name);
    if (j >= 0 && !t->is_text[j]) {
        ref->col = j;
        ref->onehot = 0;
        ref->value = -1;
        return PS_OK;
    }
    const char *eq = strchr(name, '=');
    if (j < 0 && eq) {
        char *base = ps_xstrndup(name, (size_t)(eq - name));
        j = ps_ftable_column(t, base);
        free(base);
        if (j >= 0 && t->is_text[j]) {
            ref->col = j;
            ref->onehot = 1;
            ref->value = ps_strmap_find(t->dict[j], eq + 1, strlen(eq + 1));
            if (ref->value < 0)
                ref->value = -2;
            return PS_OK;
        }
    }
    return ps_err_set(err, PS_ERR_BAD_INPUT, "unknown feature column \"%s\"", name);
}

static void build_matrix(const struct ps_ftable *t, const struct colref *refs, int d, float *X)
{
    for (size_t i = 0; i < t->n_rows; i++)
        for (int q = 0; q < d; q++) {
            const struct colref *r = &refs[q];
            float v;
            if (r->onehot)
                v = t->text[r->col][i] == r->value ? 1.0f : 0.0f;
            else
                v = t->num[i * (size_t)t->n_cols + r->col];
            X[i * (size_t)d + q] = v;
        }
}

static int has_name(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

/* Column names to cluster on (owned array of owned strings). */
static int select_columns(const struct ps_ftable *t, const char *list, char ***out, int *n_out,
                          struct ps_err *err)
{
    char **cols = NULL;
    size_t cap = 0;
    int n = 0;
    static const char *seed_cols[] = {"browse_count", "purchase_count", "average_stay_time"};
    if (!list) {
        int all = 1;
        for (int q = 0; q < 3; q++) {
            int j = ps_ftable_column(t, seed_cols[q]);
            if (j < 0 || t->is_text[j])
                all = 0;
        }
        for (int j = 0; j < t->n_cols; j++) {
            if (t->is_text[j])
                continue;
            if (all && !has_name("browse_count,purchase_count,average_stay_time", t->names[j]))
                continue;
            cols = ps_xgrow(cols, &cap, (size_t)n + 1, sizeof *cols);
            cols[n++] = ps_xstrdup(t->names[j]);
        }
    } else {
        for (const char *p = list; p && *p;) {
            const char *c = strchr(p, ',');
            char *name = ps_xstrndup(p, c ? (size_t)(c - p) : strlen(p));
            p = c ? c + 1 : NULL;
            int j = ps_ftable_column(t, name);
            if (j < 0) {
                int rc = ps_err_set(err, PS_ERR_USAGE, "unknown feature column \"%s\"", name);
                free(name);
                for (int q = 0; q < n; q++)
                    free(cols[q]);
                free(cols);
                return rc;
            }
            if (!t->is_text[j]) {
                cols = ps_xgrow(cols, &cap, (size_t)n + 1, sizeof *cols);
                cols[n++] = name;
                continue;
            }
            /* A selected text column becomes one indicator per value. */
            uint32_t nv = ps_strmap_count(t->dict[j]);
            if (nv > MAX_ONEHOT) {
                int rc = ps_err_set(err, PS_ERR_USAGE,
                                    "text column \"%s\" has %u values, too many to one-hot encode (max %d)",
                                    name, nv, MAX_ONEHOT);
                free(name);
                for (int q = 0; q < n; q++)
                    free(cols[q]);
                free(cols);
                return rc;
            }
            for (uint32_t v = 0; v < nv; v++) {
                struct ps_buf b;
                ps_buf_init(&b);
                ps_buf_printf(&b, "%s=%s", name, ps_strmap_key(t->dict[j], v, NULL));
                cols = ps_xgrow(cols, &cap, (size_t)n + 1, sizeof *cols);
                cols[n++] = b.data;
            }
            free(name);
        }
    }
    if (n == 0) {
        free(cols);
        return ps_err_set(err, PS_ERR_USAGE, "no numeric feature columns to cluster on");
    }
    *out = cols;
    *n_out = n;
    return PS_OK;
}

static int cmp_double_asc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void ps_segment_result_release(struct ps_segment_result *r)
{
    for (int j = 0; r->seg && j < r->model.k; j++) {
        free(r->seg[j].mean);
        free(r->seg[j].z);
        free(r->seg[j].mode);
        free(r->seg[j].mode_share);
    }
    free(r->seg);
    ps_segment_model_release(&r->model);
    free(r->labels);
    free(r->distance);
    free(r->scores);
    free(r->pop_mean);
    free(r->pop_std);
    memset(r, 0, sizeof *r);
}

/* Metrics of one clustering on the scaled data. */
static void score_run(const float *Xs, size_t n, int d, const struct ps_kmeans_result *km,
                      const struct ps_segment_params *p, struct ps_pool *pool, struct ps_k_score *s)
{
    struct ps_err e = {0};
    s->k = km->k;
    s->inertia = km->inertia;
    s->n_iter = km->n_iter;
    s->silhouette = s->calinski_harabasz = s->davies_bouldin = NAN;
    s->silhouette_rows = 0;
    if (ps_silhouette(Xs, n, d, km->labels, km->k, p->silhouette_max, p->km.seed, pool,
                      &s->silhouette, &s->silhouette_rows, NULL, &e))
        s->silhouette = NAN;
    if (ps_calinski_harabasz(Xs, n, d, km->labels, km->k, &s->calinski_harabasz, &e))
        s->calinski_harabasz = NAN;
    if (ps_davies_bouldin(Xs, n, d, km->labels, km->k, &s->davies_bouldin, &e))
        s->davies_bouldin = NAN;
}

static void summarise(const struct ps_ftable *t, struct ps_segment_result *r, const char *lang);

int ps_segment_fit(const struct ps_ftable *t, const struct ps_segment_params *p,
                   struct ps_pool *pool, struct ps_segment_result *res, struct ps_err *err)
{
    memset(res, 0, sizeof *res);
    double t0 = ps_now();
    size_t n = t->n_rows;
    char **cols = NULL;
    int d = 0, rc;
    if (n < 2)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "need at least 2 users to segment, got %zu", n);
    if ((rc = select_columns(t, p->columns, &cols, &d, err)))
        return rc;
    struct ps_segment_model *m = &res->model;
    m->d = d;
    m->columns = cols;
    struct colref *refs = ps_xcalloc((size_t)d, sizeof *refs);
    unsigned char *lg = ps_xcalloc((size_t)d, 1);
    float *Xs = ps_xmalloc(n * (size_t)d * sizeof *Xs);
    float *weights = NULL;
    struct ps_kmeans_result best;
    memset(&best, 0, sizeof best);
    for (int q = 0; q < d; q++)
        if ((rc = resolve_one(t, cols[q], &refs[q], err)))
            goto done;
    for (const char *s = p->log1p; s && *s;) {
        const char *c = strchr(s, ',');
        char *name = ps_xstrndup(s, c ? (size_t)(c - s) : strlen(s));
        s = c ? c + 1 : NULL;
        int q = 0;
        while (q < d && strcmp(cols[q], name) != 0)
            q++;
        if (q == d) {
            rc = ps_err_set(err, PS_ERR_USAGE, "--log1p column \"%s\" is not one of the clustered columns",
                            name);
            free(name);
            goto done;
        }
        free(name);
        lg[q] = 1;
    }
    build_matrix(t, refs, d, Xs);
    if ((rc = ps_scaler_fit(&m->scaler, p->scale, Xs, n, d, lg, err))) {
        /* name the column in the message */
        char msg[PS_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        int col = -1;
        if (sscanf(msg, "column %d", &col) == 1 && col >= 0 && col < d)
            ps_err_set(err, rc, "feature \"%s\": %s", cols[col], strchr(msg, ':') ? strchr(msg, ':') + 2 : msg);
        goto done;
    }
    ps_scaler_transform(&m->scaler, Xs, Xs, n);

    int k_lo = p->k ? p->k : p->k_min, k_hi = p->k ? p->k : p->k_max;
    if (k_hi > (int)n - 1 && !p->k)
        k_hi = (int)n - 1;
    if (k_lo < 1 || k_lo > k_hi) {
        rc = ps_err_set(err, PS_ERR_USAGE, "no K to try in %d..%d for %zu users", k_lo, k_hi, n);
        goto done;
    }
    if (p->weight_column) {
        int wc = ps_ftable_column(t, p->weight_column);
        if (wc < 0 || t->is_text[wc]) {
            rc = ps_err_set(err, PS_ERR_USAGE, "weight column \"%s\" is not a numeric feature column",
                            p->weight_column);
            goto done;
        }
        weights = ps_xmalloc(n * sizeof *weights);
        for (size_t i = 0; i < n; i++) {
            float w = t->num[i * (size_t)t->n_cols + wc];
            if (!(w >= 0) || !isfinite(w)) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "user \"%s\": weight column \"%s\" must be a number >= 0",
                                ps_ftable_user(t, i), p->weight_column);
                goto done;
            }
            weights[i] = w;
        }
    }
    res->scores = ps_xcalloc((size_t)(k_hi - k_lo + 1), sizeof *res->scores);
    double best_sil = -INFINITY;
    for (int k = k_lo; k <= k_hi; k++) {
        struct ps_kmeans_params kp = p->km;
        kp.k = k;
        kp.init = NULL;
        struct ps_kmeans_result km;
        if (kp.algorithm == PS_KMEANS_MINIBATCH) {
            rc = ps_err_set(err, PS_ERR_UNSUPPORTED, "minibatch runs on .npy input only");
            goto done;
        }
        if ((rc = ps_kmeans_fit(Xs, n, d, weights, &kp, pool, &km, err)))
            goto done;
        struct ps_k_score *s = &res->scores[res->n_scores++];
        score_run(Xs, n, d, &km, p, pool, s);
        if (p->k == 0)
            ps_log(PS_LOG_INFO, "k=%d: inertia %.6g, silhouette %.4f, CH %.6g, DB %.4f", k, s->inertia,
                   s->silhouette, s->calinski_harabasz, s->davies_bouldin);
        /* --k auto: highest silhouette; a larger K must win by > 0.005. */
        int take = best.labels == NULL || (!isnan(s->silhouette) && s->silhouette > best_sil + 0.005);
        if (take) {
            ps_kmeans_result_release(&best);
            best = km;
            best_sil = isnan(s->silhouette) ? -INFINITY : s->silhouette;
            res->silhouette = s->silhouette;
            res->silhouette_rows = s->silhouette_rows;
        } else {
            ps_kmeans_result_release(&km);
        }
    }
    /* Segments sorted by size, largest first (ties: lower index). */
    int k = best.k;
    int *order = ps_xmalloc((size_t)k * sizeof *order), *newid = ps_xmalloc((size_t)k * sizeof *newid);
    for (int j = 0; j < k; j++)
        order[j] = j;
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && best.weight[order[b]] > best.weight[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int j = 0; j < k; j++)
        newid[order[j]] = j;
    m->k = k;
    m->km = p->km;
    m->km.k = k;
    m->km.init = NULL;
    m->inertia = best.inertia;
    m->n_iter = best.n_iter;
    m->n_train = n;
    m->centers = ps_xmalloc((size_t)k * d * sizeof *m->centers);
    for (int j = 0; j < k; j++)
        memcpy(m->centers + (size_t)j * d, best.centers + (size_t)order[j] * d, (size_t)d * sizeof(double));
    res->labels = ps_xmalloc(n * sizeof *res->labels);
    res->distance = best.distance;
    best.distance = NULL;
    for (size_t i = 0; i < n; i++)
        res->labels[i] = newid[best.labels[i]];
    /* 99th percentile of the training distances per segment. */
    m->radius99 = ps_xcalloc((size_t)k, sizeof *m->radius99);
    {
        size_t *cnt = ps_xcalloc((size_t)k + 1, sizeof *cnt), *off = ps_xcalloc((size_t)k + 1, sizeof *off);
        double *buf = ps_xmalloc(n * sizeof *buf);
        for (size_t i = 0; i < n; i++)
            cnt[res->labels[i]]++;
        for (int j = 1; j <= k; j++)
            off[j] = off[j - 1] + cnt[j - 1];
        size_t *pos = ps_xmalloc(((size_t)k + 1) * sizeof *pos);
        memcpy(pos, off, ((size_t)k + 1) * sizeof *pos);
        for (size_t i = 0; i < n; i++)
            buf[pos[res->labels[i]]++] = res->distance[i];
        for (int j = 0; j < k; j++)
            if (cnt[j]) {
                qsort(buf + off[j], cnt[j], sizeof *buf, cmp_double_asc);
                m->radius99[j] = ps_quantile_sorted_inplace(buf + off[j], cnt[j], 0.99);
            }
        free(cnt);
        free(off);
        free(pos);
        free(buf);
    }
    free(order);
    free(newid);
    summarise(t, res, p->lang ? p->lang : "en");
    res->seconds = ps_now() - t0;
done:
    ps_kmeans_result_release(&best);
    free(refs);
    free(lg);
    free(Xs);
    free(weights);
    if (rc)
        ps_segment_result_release(res);
    return rc;
}

/* ======================================================================= */
/* summaries and names                                                     */
/* ======================================================================= */

struct lex {
    const char *col;             /* exact name, or a substring when it starts with '*' */
    const char *en_hi, *en_lo, *zh_hi, *zh_lo;
};

static const struct lex lexicon[] = {
    {"total_spend", "high-spend", "low-spend", "高消费", "低消费"},
    {"monetary", "high-spend", "low-spend", "高消费", "低消费"},
    {"purchase_count", "frequent", "rare-buying", "高频", "低频"},
    {"order_count", "frequent", "rare-buying", "高频", "低频"},
    {"frequency", "frequent", "rare-buying", "高频", "低频"},
    {"browse_count", "heavy-browsing", "light-browsing", "爱逛", "少逛"},
    {"search_count", "searching", "non-searching", "爱搜索", "少搜索"},
    {"cart_count", "cart-filling", "few-carts", "爱加购", "少加购"},
    {"fav_count", "collecting", "few-favourites", "爱收藏", "少收藏"},
    {"average_stay_time", "long-dwell", "quick-look", "停留久", "停留短"},
    {"avg_order_value", "big-basket", "small-basket", "高客单", "低客单"},
    {"price_level", "premium", "budget", "高端", "平价"},
    {"recency_days", "lapsed", "recent", "沉睡", "近期活跃"},
    {"conversion_rate", "decisive", "hesitant", "高转化", "低转化"},
    {"cart_abandon_rate", "cart-abandoning", "cart-completing", "高弃购", "低弃购"},
    {"repeat_purchase_rate", "repeat-buying", "one-off", "高复购", "低复购"},
    {"active_days", "loyal", "occasional", "常驻", "偶尔来"},
    {"tenure_days", "veteran", "new", "老客", "新客"},
    {"*night", "night-owl", "daytime", "夜猫", "白天"},
    {"*morning", "early-bird", "late-riser", "早起", "晚起"},
    {"*afternoon", "afternoon", "non-afternoon", "午后", "少午后"},
    {"*evening", "evening", "non-evening", "晚间", "少晚间"},
    {"*weekend", "weekend", "weekday", "周末", "工作日"},
};

static const char *cat_zh[][2] = {
    {"electronics", "数码"}, {"digital", "数码"}, {"phones", "手机"}, {"computers", "电脑"},
    {"phone", "手机"}, {"computer", "电脑"}, {"tablet", "平板"}, {"tablets", "平板"},
    {"clothing", "服饰"}, {"fashion", "服饰"}, {"apparel", "服饰"}, {"shoes", "鞋靴"},
    {"beauty", "美妆"}, {"cosmetics", "美妆"}, {"food", "食品"}, {"grocery", "生鲜"},
    {"snacks", "零食"}, {"home", "家居"}, {"furniture", "家具"}, {"kitchen", "厨具"},
    {"books", "图书"}, {"sports", "运动"}, {"outdoor", "户外"}, {"baby", "母婴"},
    {"maternity", "母婴"}, {"toys", "玩具"}, {"pets", "宠物"}, {"health", "保健"},
    {"jewelry", "珠宝"}, {"luxury", "奢品"}, {"games", "游戏"}, {"gaming", "游戏"},
    {"appliances", "家电"}, {"garden", "园艺"}, {"automotive", "汽车用品"}, {"office", "办公"},
};

static const struct lex *lookup_lex(const char *col)
{
    for (size_t i = 0; i < sizeof lexicon / sizeof lexicon[0]; i++) {
        const char *c = lexicon[i].col;
        if (c[0] == '*' ? strstr(col, c + 1) != NULL : strcmp(col, c) == 0)
            return &lexicon[i];
    }
    return NULL;
}

/* Columns that make poor adjectives on their own. */
static int name_skip(const char *col)
{
    return strncmp(col, "share_", 6) == 0 || strncmp(col, "top_category", 12) == 0 ||
           strcmp(col, "user_id") == 0;
}

void ps_segment_name(const struct ps_ftable *t, const struct ps_segment_summary *s,
                     const char *lang, char *out, size_t cap)
{
    int zh = lang && strcmp(lang, "zh") == 0;
    const char *sep = zh ? "·" : " · ";
    struct ps_buf b;
    ps_buf_init(&b);
    int parts = 0;
    /* Up to two different adjectives from the most distinguishing
     * features (purchase_count and order_count say the same thing). */
    unsigned char *tried = ps_xcalloc((size_t)t->n_cols + 1, 1);
    char first_word[128] = "";
    while (parts < 2) {
        int bestj = -1;
        double bz = 0.5;      /* |z| below half a standard deviation says nothing */
        for (int j = 0; j < t->n_cols; j++) {
            if (t->is_text[j] || tried[j] || name_skip(t->names[j]) || isnan(s->z[j]))
                continue;
            if (fabs(s->z[j]) > bz) {
                bz = fabs(s->z[j]);
                bestj = j;
            }
        }
        if (bestj < 0)
            break;
        tried[bestj] = 1;
        const struct lex *L = lookup_lex(t->names[bestj]);
        int hi = s->z[bestj] > 0;
        struct ps_buf w;
        ps_buf_init(&w);
        if (L)
            ps_buf_printf(&w, "%s", zh ? (hi ? L->zh_hi : L->zh_lo) : (hi ? L->en_hi : L->en_lo));
        else if (zh)
            ps_buf_printf(&w, "%s%s", t->names[bestj], hi ? "高" : "低");
        else {
            ps_buf_printf(&w, "%s ", hi ? "high" : "low");
            for (const char *c = t->names[bestj]; *c; c++)
                ps_buf_putc(&w, *c == '_' ? ' ' : *c);
        }
        if (strcmp(w.data, first_word) != 0) {
            if (parts++)
                ps_buf_printf(&b, "%s", sep);
            else
                snprintf(first_word, sizeof first_word, "%s", w.data);
            ps_buf_append(&b, w.data, w.len);
        }
        ps_buf_release(&w);
    }
    free(tried);
    /* The dominant category, when one clearly dominates. */
    for (int j = 0; j < t->n_cols; j++) {
        if (!t->is_text[j] || strncmp(t->names[j], "top_category", 12) != 0)
            continue;
        if (s->mode[j] >= 0 && s->mode_share[j] >= 0.35) {
            const char *v = ps_strmap_key(t->dict[j], (uint32_t)s->mode[j], NULL);
            if (zh)
                for (size_t q = 0; q < sizeof cat_zh / sizeof cat_zh[0]; q++)
                    if (strcasecmp(v, cat_zh[q][0]) == 0)
                        v = cat_zh[q][1];
            if (parts++)
                ps_buf_printf(&b, "%s", sep);
            ps_buf_printf(&b, "%s", v);
        }
        break;
    }
    if (!parts)
        ps_buf_printf(&b, "%s", zh ? "普通用户" : "average");
    snprintf(out, cap, "%s", b.data);
    ps_buf_release(&b);
}

static void summarise(const struct ps_ftable *t, struct ps_segment_result *r, const char *lang)
{
    int k = r->model.k, nc = t->n_cols;
    size_t n = t->n_rows;
    r->pop_mean = ps_xcalloc((size_t)nc + 1, sizeof(double));
    r->pop_std = ps_xcalloc((size_t)nc + 1, sizeof(double));
    r->seg = ps_xcalloc((size_t)k, sizeof *r->seg);
    double *cnt = ps_xcalloc((size_t)k * (nc + 1), sizeof *cnt);
    for (int j = 0; j < k; j++) {
        struct ps_segment_summary *s = &r->seg[j];
        s->id = j;
        s->mean = ps_xcalloc((size_t)nc + 1, sizeof(double));
        s->z = ps_xcalloc((size_t)nc + 1, sizeof(double));
        s->mode = ps_xcalloc((size_t)nc + 1, sizeof(int));
        s->mode_share = ps_xcalloc((size_t)nc + 1, sizeof(double));
        s->top[0] = s->top[1] = s->top[2] = -1;
    }
    for (size_t i = 0; i < n; i++)
        r->seg[r->labels[i]].size++;
    /* Means ignore missing values (pandas' groupby mean). */
    for (int c = 0; c < nc; c++) {
        if (t->is_text[c]) {
            r->pop_mean[c] = r->pop_std[c] = NAN;
            continue;
        }
        double sum = 0, m = 0;
        for (size_t i = 0; i < n; i++) {
            float v = t->num[i * nc + c];
            if (isnan(v))
                continue;
            sum += v;
            m++;
            r->seg[r->labels[i]].mean[c] += v;
            cnt[(size_t)r->labels[i] * (nc + 1) + c]++;
        }
        double mu = m ? sum / m : NAN, ss = 0;
        for (size_t i = 0; i < n; i++) {
            float v = t->num[i * nc + c];
            if (!isnan(v))
                ss += (v - mu) * (v - mu);
        }
        r->pop_mean[c] = mu;
        r->pop_std[c] = m ? sqrt(ss / m) : NAN;
    }
    for (int j = 0; j < k; j++) {
        struct ps_segment_summary *s = &r->seg[j];
        s->share = (double)s->size / (double)n;
        for (int c = 0; c < nc; c++) {
            double m = cnt[(size_t)j * (nc + 1) + c];
            if (t->is_text[c]) {
                s->mean[c] = s->z[c] = NAN;
                continue;
            }
            s->mean[c] = m ? s->mean[c] / m : NAN;
            s->z[c] = r->pop_std[c] > 0 ? (s->mean[c] - r->pop_mean[c]) / r->pop_std[c]
                                         : (isnan(s->mean[c]) ? NAN : 0.0);
        }
        /* Top three by |z|. */
        for (int q = 0; q < 3; q++) {
            int bj = -1;
            for (int c = 0; c < nc; c++) {
                if (t->is_text[c] || isnan(s->z[c]) || c == s->top[0] || c == s->top[1])
                    continue;
                if (bj < 0 || fabs(s->z[c]) > fabs(s->z[bj]))
                    bj = c;
            }
            s->top[q] = bj;
        }
    }
    /* Modes of text columns per segment. */
    for (int c = 0; c < nc; c++) {
        if (!t->is_text[c])
            continue;
        uint32_t nv = ps_strmap_count(t->dict[c]);
        if (nv == 0 || nv > 100000) {
            for (int j = 0; j < k; j++)
                r->seg[j].mode[c] = -1;
            continue;
        }
        size_t *h = ps_xcalloc((size_t)k * nv, sizeof *h);
        for (size_t i = 0; i < n; i++)
            if (t->text[c][i] >= 0)
                h[(size_t)r->labels[i] * nv + (size_t)t->text[c][i]]++;
        for (int j = 0; j < k; j++) {
            size_t best = 0;
            int bv = -1;
            for (uint32_t v = 0; v < nv; v++)
                if (h[(size_t)j * nv + v] > best) {
                    best = h[(size_t)j * nv + v];
                    bv = (int)v;
                }
            r->seg[j].mode[c] = bv;
            r->seg[j].mode_share[c] = r->seg[j].size ? (double)best / (double)r->seg[j].size : 0;
        }
        free(h);
    }
    free(cnt);
    /* Names, made unique by a number when two segments read the same. */
    r->model.names = ps_xcalloc((size_t)k, sizeof *r->model.names);
    char **base = ps_xcalloc((size_t)k, sizeof *base);
    for (int j = 0; j < k; j++) {
        ps_segment_name(t, &r->seg[j], lang, r->seg[j].name, sizeof r->seg[j].name);
        base[j] = ps_xstrdup(r->seg[j].name);
        int dup = 0;
        for (int q = 0; q < j; q++)
            if (strcmp(base[q], base[j]) == 0)
                dup++;
        if (dup) {
            size_t l = strlen(r->seg[j].name);
            snprintf(r->seg[j].name + l, sizeof r->seg[j].name - l, " (%d)", dup + 1);
        }
        r->model.names[j] = ps_xstrdup(r->seg[j].name);
    }
    for (int j = 0; j < k; j++)
        free(base[j]);
    free(base);
}

/* ======================================================================= */
/* outputs                                                                 */
/* ======================================================================= */

/* RFC 4180 field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void csv_num(FILE *fp, double v)
{
    if (isnan(v))
        return;               /* empty = missing */
    fprintf(fp, "%.10g", v);
}

static void json_num(struct ps_buf *b, double v)
{
    if (isfinite(v))
        ps_buf_printf(b, "%.10g", v);
    else
        ps_buf_printf(b, "null");
}

static void json_str(struct ps_buf *b, const char *s)
{
    ps_buf_json_str(b, s, strlen(s));
}

static int mkdir_p(const char *dir, struct ps_err *err)
{
    char *p = ps_xstrdup(dir);
    for (char *c = p + 1; ; c++) {
        if (*c == '/' || *c == '\0') {
            char save = *c;
            *c = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int rc = ps_err_set(err, PS_ERR_IO, "cannot create directory \"%s\": %s", p, strerror(errno));
                free(p);
                return rc;
            }
            *c = save;
            if (!save)
                break;
        }
    }
    free(p);
    return PS_OK;
}

static char *join(const char *dir, const char *name)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "%s/%s", dir, name);
    return b.data;
}

/* Opens dir/name atomically; *path is owned by the caller. */
static int open_out(struct ps_afile *f, const char *dir, const char *name, struct ps_err *err)
{
    char *path = join(dir, name);
    int rc = ps_afile_open(f, path, err);
    free(path);
    return rc;
}

static int close_out(struct ps_afile *f, int rc, struct ps_err *err)
{
    if (rc) {
        ps_afile_abort(f);
        return rc;
    }
    rc = ps_afile_commit(f, err);
    if (rc)
        ps_afile_abort(f);
    return rc;
}

static int write_centroids(const struct ps_segment_model *m, const char *dir, const char *name,
                           int original, struct ps_err *err)
{
    struct ps_afile f;
    int rc = open_out(&f, dir, name, err);
    if (rc)
        return rc;
    double *c = ps_xmalloc((size_t)m->k * m->d * sizeof *c);
    if (original)
        ps_scaler_inverse(&m->scaler, m->centers, c, (size_t)m->k);
    else
        memcpy(c, m->centers, (size_t)m->k * m->d * sizeof *c);
    fputs("segment,name", f.fp);
    for (int q = 0; q < m->d; q++) {
        fputc(',', f.fp);
        csv_field(f.fp, m->columns[q]);
    }
    fputc('\n', f.fp);
    for (int j = 0; j < m->k; j++) {
        fprintf(f.fp, "%d,", j);
        csv_field(f.fp, m->names[j]);
        for (int q = 0; q < m->d; q++) {
            fputc(',', f.fp);
            csv_num(f.fp, c[(size_t)j * m->d + q]);
        }
        fputc('\n', f.fp);
    }
    free(c);
    return close_out(&f, rc, err);
}

static int write_buf(const char *dir, const char *name, const struct ps_buf *b, struct ps_err *err)
{
    struct ps_afile f;
    int rc = open_out(&f, dir, name, err);
    if (rc)
        return rc;
    fwrite(b->data, 1, b->len, f.fp);
    return close_out(&f, rc, err);
}

int ps_segment_write(const struct ps_ftable *t, const struct ps_segment_result *r,
                     const char *dir, struct ps_err *err)
{
    const struct ps_segment_model *m = &r->model;
    int rc = mkdir_p(dir, err), nc = t->n_cols;
    if (rc)
        return rc;
    struct ps_afile f;
    /* labels.csv */
    if ((rc = open_out(&f, dir, "labels.csv", err)))
        return rc;
    fputs("user_id,segment,distance\n", f.fp);
    for (size_t i = 0; i < t->n_rows; i++) {
        csv_field(f.fp, ps_ftable_user(t, i));
        fprintf(f.fp, ",%d,%.6g\n", (int)r->labels[i], (double)r->distance[i]);
    }
    if ((rc = close_out(&f, rc, err)))
        return rc;
    if ((rc = write_centroids(m, dir, "centroids.csv", 1, err)) ||
        (rc = write_centroids(m, dir, "centroids_scaled.csv", 0, err)))
        return rc;
    char *mp = join(dir, "model.psm");
    rc = ps_segment_model_save(m, mp, err);
    free(mp);
    if (rc)
        return rc;
    /* segments.csv: one row per segment, means and z-scores of every
     * numeric feature, the top features and categories. */
    if ((rc = open_out(&f, dir, "segments.csv", err)))
        return rc;
    fputs("segment,name,size,share,top_features", f.fp);
    for (int c = 0; c < nc; c++) {
        fputc(',', f.fp);
        struct ps_buf h;
        ps_buf_init(&h);
        ps_buf_printf(&h, t->is_text[c] ? "%s" : "mean_%s", t->names[c]);
        csv_field(f.fp, h.data);
        ps_buf_release(&h);
    }
    for (int c = 0; c < nc; c++)
        if (!t->is_text[c]) {
            fputc(',', f.fp);
            struct ps_buf h;
            ps_buf_init(&h);
            ps_buf_printf(&h, "z_%s", t->names[c]);
            csv_field(f.fp, h.data);
            ps_buf_release(&h);
        }
    fputc('\n', f.fp);
    for (int j = 0; j < m->k; j++) {
        const struct ps_segment_summary *s = &r->seg[j];
        fprintf(f.fp, "%d,", j);
        csv_field(f.fp, s->name);
        fprintf(f.fp, ",%zu,%.6f,", s->size, s->share);
        struct ps_buf tf;
        ps_buf_init(&tf);
        for (int q = 0; q < 3; q++)
            if (s->top[q] >= 0)
                ps_buf_printf(&tf, "%s%s(%+.2f)", q ? ";" : "", t->names[s->top[q]], s->z[s->top[q]]);
        csv_field(f.fp, tf.data);
        ps_buf_release(&tf);
        for (int c = 0; c < nc; c++) {
            fputc(',', f.fp);
            if (t->is_text[c]) {
                if (s->mode[c] >= 0)
                    csv_field(f.fp, ps_strmap_key(t->dict[c], (uint32_t)s->mode[c], NULL));
            } else {
                csv_num(f.fp, s->mean[c]);
            }
        }
        for (int c = 0; c < nc; c++)
            if (!t->is_text[c]) {
                fputc(',', f.fp);
                if (!isnan(s->z[c]))
                    fprintf(f.fp, "%.4f", s->z[c]);
            }
        fputc('\n', f.fp);
    }
    if ((rc = close_out(&f, rc, err)))
        return rc;
    /* segments.json */
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "{\"k\": %d, \"users\": %zu, \"segments\": [\n", m->k, t->n_rows);
    for (int j = 0; j < m->k; j++) {
        const struct ps_segment_summary *s = &r->seg[j];
        ps_buf_printf(&b, "  {\"segment\": %d, \"name\": ", j);
        json_str(&b, s->name);
        ps_buf_printf(&b, ", \"size\": %zu, \"share\": %.6f, \"radius99\": ", s->size, s->share);
        json_num(&b, m->radius99[j]);
        ps_buf_printf(&b, ",\n   \"top_features\": [");
        for (int q = 0, first = 1; q < 3; q++)
            if (s->top[q] >= 0) {
                ps_buf_printf(&b, "%s{\"feature\": ", first ? "" : ", ");
                json_str(&b, t->names[s->top[q]]);
                ps_buf_printf(&b, ", \"mean\": ");
                json_num(&b, s->mean[s->top[q]]);
                ps_buf_printf(&b, ", \"z\": ");
                json_num(&b, s->z[s->top[q]]);
                ps_buf_putc(&b, '}');
                first = 0;
            }
        ps_buf_printf(&b, "],\n   \"mean\": {");
        for (int c = 0, first = 1; c < nc; c++)
            if (!t->is_text[c]) {
                ps_buf_printf(&b, "%s", first ? "" : ", ");
                json_str(&b, t->names[c]);
                ps_buf_printf(&b, ": ");
                json_num(&b, s->mean[c]);
                first = 0;
            }
        ps_buf_printf(&b, "},\n   \"z\": {");
        for (int c = 0, first = 1; c < nc; c++)
            if (!t->is_text[c]) {
                ps_buf_printf(&b, "%s", first ? "" : ", ");
                json_str(&b, t->names[c]);
                ps_buf_printf(&b, ": ");
                json_num(&b, s->z[c]);
                first = 0;
            }
        ps_buf_printf(&b, "},\n   \"categories\": {");
        for (int c = 0, first = 1; c < nc; c++)
            if (t->is_text[c] && s->mode[c] >= 0) {
                ps_buf_printf(&b, "%s", first ? "" : ", ");
                json_str(&b, t->names[c]);
                ps_buf_printf(&b, ": {\"value\": ");
                json_str(&b, ps_strmap_key(t->dict[c], (uint32_t)s->mode[c], NULL));
                ps_buf_printf(&b, ", \"share\": %.4f}", s->mode_share[c]);
                first = 0;
            }
        ps_buf_printf(&b, "}}%s\n", j + 1 < m->k ? "," : "");
    }
    ps_buf_printf(&b, "]}\n");
    rc = write_buf(dir, "segments.json", &b, err);
    /* k_selection.csv */
    ps_buf_reset(&b);
    ps_buf_printf(&b, "k,inertia,silhouette,silhouette_rows,calinski_harabasz,davies_bouldin,n_iter\n");
    for (int q = 0; q < r->n_scores; q++) {
        const struct ps_k_score *s = &r->scores[q];
        ps_buf_printf(&b, "%d,%.10g,%.6f,%zu,%.6f,%.6f,%d\n", s->k, s->inertia, s->silhouette,
                      s->silhouette_rows, s->calinski_harabasz, s->davies_bouldin, s->n_iter);
    }
    if (!rc)
        rc = write_buf(dir, "k_selection.csv", &b, err);
    /* run.json */
    ps_buf_reset(&b);
    const struct ps_k_score *chosen = NULL;
    for (int q = 0; q < r->n_scores; q++)
        if (r->scores[q].k == m->k)
            chosen = &r->scores[q];
    ps_buf_printf(&b, "{\"k\": %d, \"users\": %zu, \"algorithm\": \"%s\", \"n_init\": %d, "
                      "\"max_iter\": %d, \"tol\": %.10g, \"seed\": %llu, \"scale\": \"%s\",\n",
                  m->k, t->n_rows, ps_kmeans_algorithm_name(m->km.algorithm), m->km.n_init,
                  m->km.max_iter, m->km.tol, (unsigned long long)m->km.seed,
                  ps_scaler_kind_name(m->scaler.kind));
    ps_buf_printf(&b, " \"columns\": [");
    for (int q = 0; q < m->d; q++) {
        ps_buf_printf(&b, "%s", q ? ", " : "");
        json_str(&b, m->columns[q]);
    }
    ps_buf_printf(&b, "],\n \"log1p\": [");
    for (int q = 0, first = 1; q < m->d; q++)
        if (m->scaler.log1p[q]) {
            ps_buf_printf(&b, "%s", first ? "" : ", ");
            json_str(&b, m->columns[q]);
            first = 0;
        }
    ps_buf_printf(&b, "],\n \"inertia\": ");
    json_num(&b, m->inertia);
    ps_buf_printf(&b, ", \"n_iter\": %d, \"silhouette\": ", m->n_iter);
    json_num(&b, r->silhouette);
    ps_buf_printf(&b, ", \"silhouette_rows\": %zu, \"calinski_harabasz\": ", r->silhouette_rows);
    json_num(&b, chosen ? chosen->calinski_harabasz : NAN);
    ps_buf_printf(&b, ", \"davies_bouldin\": ");
    json_num(&b, chosen ? chosen->davies_bouldin : NAN);
    ps_buf_printf(&b, ", \"seconds\": %.3f}\n", r->seconds);
    if (!rc)
        rc = write_buf(dir, "run.json", &b, err);
    ps_buf_release(&b);
    return rc;
}

/* ======================================================================= */
/* assign                                                                  */
/* ======================================================================= */

int ps_segment_assign(const struct ps_segment_model *m, const struct ps_ftable *t,
                      struct ps_pool *pool, int32_t *labels, float *distance,
                      unsigned char *emerging, struct ps_err *err)
{
    int d = m->d, rc = PS_OK;
    size_t n = t->n_rows;
    struct colref *refs = ps_xcalloc((size_t)d, sizeof *refs);
    for (int q = 0; q < d; q++)
        if ((rc = resolve_one(t, m->columns[q], &refs[q], err))) {
            ps_err_set(err, PS_ERR_BAD_INPUT, "the features lack the model's column \"%s\"", m->columns[q]);
            free(refs);
            return rc;
        }
    if (n == 0) {
        free(refs);
        return PS_OK;
    }
    float *X = ps_xmalloc(n * (size_t)d * sizeof *X);
    double *d2 = ps_xmalloc(n * sizeof *d2);
    build_matrix(t, refs, d, X);
    ps_scaler_transform(&m->scaler, X, X, n);
    ps_kmeans_assign(X, n, d, m->centers, m->k, pool, labels, d2);
    for (size_t i = 0; i < n; i++) {
        double dist = sqrt(d2[i]);
        distance[i] = (float)dist;
        emerging[i] = dist > m->radius99[labels[i]];
    }
    free(X);
    free(d2);
    free(refs);
    return PS_OK;
}

/* ======================================================================= */
/* minibatch over a .npy file (streamed)                                   */
/* ======================================================================= */

/* Rows of a .npy streamed through column selection and a scaler. */
struct npy_src {
    struct ps_npy_reader *r;
    size_t cols;            /* columns in the file */
    const int *sel;         /* d selected file columns */
    int d;
    const struct ps_scaler *scaler;   /* NULL = raw */
    float *tmp;             /* PASS rows x cols */
    size_t tmp_rows;
};

static int npy_src_read(void *vctx, size_t first, size_t count, float *dst, struct ps_err *err)
{
    struct npy_src *s = vctx;
    while (count > 0) {
        size_t m = count < s->tmp_rows ? count : s->tmp_rows;
        int rc = ps_npy_reader_read(s->r, first, m, s->tmp, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < m; i++)
            for (int q = 0; q < s->d; q++)
                dst[i * s->d + q] = s->tmp[i * s->cols + (size_t)s->sel[q]];
        if (s->scaler)
            ps_scaler_transform(s->scaler, dst, dst, m);
        for (size_t i = 0; i < m * (size_t)s->d; i++)
            if (isnan(dst[i]))
                dst[i] = 0;   /* scaler "none" still imputes; this only guards raw reads */
        dst += m * (size_t)s->d;
        first += m;
        count -= m;
    }
    return PS_OK;
}

int ps__segment_minibatch_cli(const char *features, const struct ps_segment_params *p,
                              struct ps_pool *pool, const char *out, int quiet, struct ps_err *err);

int ps__segment_minibatch_cli(const char *features, const struct ps_segment_params *p,
                              struct ps_pool *pool, const char *out, int quiet, struct ps_err *err)
{
    size_t len = strlen(features);
    if (len < 4 || strcmp(features + len - 4, ".npy") != 0)
        return ps_err_set(err, PS_ERR_USAGE, "--algorithm minibatch streams a .npy file, got \"%s\"", features);
    if (p->k == 0)
        return ps_err_set(err, PS_ERR_USAGE, "--k auto needs the exact algorithms; give --k N with minibatch");
    double t0 = ps_now();
    struct ps_npy_reader *r = NULL;
    int rc = ps_npy_reader_open(&r, features, err);
    if (rc)
        return rc;
    size_t n = ps_npy_reader_rows(r), cols = ps_npy_reader_cols(r);
    /* Column names from the sidecar: an empty table carries them. */
    struct ps_ftable meta;
    memset(&meta, 0, sizeof meta);
    char *jpath = sidecar_path(features, ".json");
    json_error_t jerr;
    json_t *root = json_load_file(jpath, 0, &jerr);
    char *ids_path = NULL;
    int *sel = NULL;
    char **cnames = NULL;
    int d = 0;
    struct ps_segment_model m;
    struct ps_kmeans_result km;
    memset(&m, 0, sizeof m);
    memset(&km, 0, sizeof km);
    float *sample = NULL;
    FILE *ids = NULL;
    if (!root) {
        rc = jerr.line > 0 ? ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: %s", jpath, jerr.line, jerr.text)
                           : ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %s", jpath, jerr.text);
        goto done;
    }
    json_t *jc = json_object_get(root, "columns"), *ji = json_object_get(root, "ids");
    if (!json_is_array(jc) || json_array_size(jc) != cols) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"columns\" must list the %zu columns of %s", jpath, cols, features);
        goto done;
    }
    ftable_alloc_cols(&meta, (int)cols);
    for (size_t j = 0; j < cols; j++) {
        json_t *s = json_array_get(jc, j);
        meta.names[j] = ps_xstrdup(json_is_string(s) ? json_string_value(s) : "?");
    }
    {
        const char *slash = strrchr(jpath, '/');
        const char *idn = json_is_string(ji) ? json_string_value(ji) : NULL;
        if (idn) {
            size_t dl = slash && idn[0] != '/' ? (size_t)(slash - jpath + 1) : 0;
            ids_path = ps_xmalloc(dl + strlen(idn) + 1);
            memcpy(ids_path, jpath, dl);
            strcpy(ids_path + dl, idn);
        } else {
            ids_path = sidecar_path(features, ".ids.txt");
        }
    }
    if ((rc = select_columns(&meta, p->columns, &cnames, &d, err)))
        goto done;
    sel = ps_xmalloc((size_t)d * sizeof *sel);
    unsigned char *lg = ps_xcalloc((size_t)d, 1);
    for (int q = 0; q < d; q++) {
        sel[q] = ps_ftable_column(&meta, cnames[q]);
        if (sel[q] < 0) {
            rc = ps_err_set(err, PS_ERR_USAGE, "unknown feature column \"%s\"", cnames[q]);
            free(lg);
            goto done;
        }
        if (p->log1p && has_name(p->log1p, cnames[q]))
            lg[q] = 1;
    }
    m.d = d;
    m.columns = cnames;
    cnames = NULL;
    /* Scaler on a seeded uniform sample of up to 200,000 rows. */
    {
        size_t ns = n < 200000 ? n : 200000;
        struct npy_src raw = {r, cols, sel, d, NULL, ps_xmalloc(cols * sizeof(float) * 4096), 4096};
        sample = ps_xmalloc((ns ? ns : 1) * (size_t)d * sizeof *sample);
        struct ps_rng rng;
        ps_rng_seed(&rng, p->km.seed, 0x5ca1e);
        size_t *pick = ps_xmalloc((ns ? ns : 1) * sizeof *pick);
        /* Floyd-free simple scheme: every row with probability ns/n, in order. */
        size_t got = 0;
        for (size_t i = 0; i < n && got < ns; i++)
            if ((double)(ns - got) / (double)(n - i) > ps_rng_uniform(&rng))
                pick[got++] = i;
        /* A NaN guard would hide missing values from the scaler: read raw. */
        for (size_t q = 0; q < got && !rc; q++) {
            float *row = raw.tmp;
            rc = ps_npy_reader_read(r, pick[q], 1, row, err);
            for (int c = 0; c < d && !rc; c++)
                sample[q * d + c] = row[sel[c]];
        }
        free(pick);
        free(raw.tmp);
        if (!rc)
            rc = ps_scaler_fit(&m.scaler, p->scale, sample, got, d, lg, err);
        free(lg);
        if (rc)
            goto done;
    }
    {
        struct npy_src src = {r, cols, sel, d, &m.scaler, ps_xmalloc(cols * sizeof(float) * 4096), 4096};
        struct ps_row_source rs = {n, d, npy_src_read, &src};
        struct ps_kmeans_params kp = p->km;
        kp.k = p->k;
        rc = ps_kmeans_minibatch(&rs, &kp, pool, 1, &km, err);
        free(src.tmp);
        if (rc)
            goto done;
    }
    /* Relabel by size, radii, model. */
    int k = km.k;
    int *order = ps_xmalloc((size_t)k * sizeof *order), *newid = ps_xmalloc((size_t)k * sizeof *newid);
    for (int j = 0; j < k; j++)
        order[j] = j;
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && km.weight[order[b]] > km.weight[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int j = 0; j < k; j++)
        newid[order[j]] = j;
    m.k = k;
    m.km = p->km;
    m.km.k = k;
    m.inertia = km.inertia;
    m.n_iter = km.n_iter;
    m.n_train = n;
    m.centers = ps_xmalloc((size_t)k * d * sizeof *m.centers);
    for (int j = 0; j < k; j++)
        memcpy(m.centers + (size_t)j * d, km.centers + (size_t)order[j] * d, (size_t)d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        km.labels[i] = newid[km.labels[i]];
    m.radius99 = ps_xcalloc((size_t)k, sizeof *m.radius99);
    {
        double *buf = ps_xmalloc((n ? n : 1) * sizeof *buf);
        for (int j = 0; j < k; j++) {
            size_t c = 0;
            for (size_t i = 0; i < n; i++)
                if (km.labels[i] == j)
                    buf[c++] = km.distance[i];
            if (c)
                m.radius99[j] = ps_quantile_sorted_inplace(buf, c, 0.99);
        }
        free(buf);
    }
    free(order);
    free(newid);
    /* Summaries: one more streamed pass over every column. */
    struct ps_segment_summary *seg = ps_xcalloc((size_t)k, sizeof *seg);
    {
        double *sum = ps_xcalloc((size_t)k * cols, sizeof *sum), *cnt = ps_xcalloc((size_t)k * cols, sizeof *cnt);
        double *ps = ps_xcalloc(cols, sizeof *ps), *pss = ps_xcalloc(cols, sizeof *pss), *pc = ps_xcalloc(cols, sizeof *pc);
        float *row = ps_xmalloc(cols * sizeof(float) * 4096);
        for (size_t first = 0; first < n && !rc; first += 4096) {
            size_t mm = n - first < 4096 ? n - first : 4096;
            rc = ps_npy_reader_read(r, first, mm, row, err);
            for (size_t i = 0; i < mm && !rc; i++)
                for (size_t c = 0; c < cols; c++) {
                    float v = row[i * cols + c];
                    if (isnan(v))
                        continue;
                    size_t q = (size_t)km.labels[first + i] * cols + c;
                    sum[q] += v;
                    cnt[q]++;
                    ps[c] += v;
                    pss[c] += (double)v * v;
                    pc[c]++;
                }
        }
        for (int j = 0; j < k; j++) {
            seg[j].id = j;
            seg[j].mean = ps_xcalloc(cols + 1, sizeof(double));
            seg[j].z = ps_xcalloc(cols + 1, sizeof(double));
            seg[j].mode = ps_xcalloc(cols + 1, sizeof(int));
            seg[j].mode_share = ps_xcalloc(cols + 1, sizeof(double));
            for (size_t c = 0; c < cols; c++) {
                size_t q = (size_t)j * cols + c;
                double mu = pc[c] ? ps[c] / pc[c] : NAN;
                double sd = pc[c] ? sqrt(fmax(0, pss[c] / pc[c] - mu * mu)) : NAN;
                seg[j].mean[c] = cnt[q] ? sum[q] / cnt[q] : NAN;
                seg[j].z[c] = sd > 0 ? (seg[j].mean[c] - mu) / sd : 0;
            }
        }
        for (size_t i = 0; i < n; i++)
            seg[km.labels[i]].size++;
        free(sum); free(cnt); free(ps); free(pss); free(pc); free(row);
    }
    m.names = ps_xcalloc((size_t)k, sizeof *m.names);
    for (int j = 0; j < k; j++) {
        ps_segment_name(&meta, &seg[j], p->lang, seg[j].name, sizeof seg[j].name);
        m.names[j] = ps_xstrdup(seg[j].name);
    }
    if (!rc)
        rc = mkdir_p(out, err);
    /* labels.csv, streaming the ids in step. */
    if (!rc) {
        ids = fopen(ids_path, "rb");
        if (!ids)
            rc = ps_err_set(err, PS_ERR_IO, "%s: %s", ids_path, strerror(errno));
    }
    if (!rc) {
        struct ps_afile f;
        rc = open_out(&f, out, "labels.csv", err);
        if (!rc) {
            char line[4096];
            fputs("user_id,segment,distance\n", f.fp);
            for (size_t i = 0; i < n && !rc; i++) {
                if (!fgets(line, sizeof line, ids)) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: fewer ids than the %zu rows of %s", ids_path, n, features);
                    break;
                }
                line[strcspn(line, "\r\n")] = '\0';
                csv_field(f.fp, line);
                fprintf(f.fp, ",%d,%.6g\n", (int)km.labels[i], (double)km.distance[i]);
            }
            rc = close_out(&f, rc, err);
        }
    }
    if (!rc)
        rc = write_centroids(&m, out, "centroids.csv", 1, err);
    if (!rc)
        rc = write_centroids(&m, out, "centroids_scaled.csv", 0, err);
    if (!rc) {
        char *mp = join(out, "model.psm");
        rc = ps_segment_model_save(&m, mp, err);
        free(mp);
    }
    if (!rc) {
        struct ps_buf b;
        ps_buf_init(&b);
        ps_buf_printf(&b, "segment,name,size,share");
        for (size_t c = 0; c < cols; c++)
            ps_buf_printf(&b, ",mean_%s", meta.names[c]);
        ps_buf_putc(&b, '\n');
        for (int j = 0; j < k; j++) {
            ps_buf_printf(&b, "%d,\"%s\",%zu,%.6f", j, seg[j].name, seg[j].size, (double)seg[j].size / (double)n);
            for (size_t c = 0; c < cols; c++)
                if (isnan(seg[j].mean[c]))
                    ps_buf_printf(&b, ",");
                else
                    ps_buf_printf(&b, ",%.10g", seg[j].mean[c]);
            ps_buf_putc(&b, '\n');
        }
        rc = write_buf(out, "segments.csv", &b, err);
        ps_buf_reset(&b);
        ps_buf_printf(&b, "{\"k\": %d, \"users\": %zu, \"segments\": [\n", k, n);
        for (int j = 0; j < k; j++) {
            ps_buf_printf(&b, "  {\"segment\": %d, \"name\": ", j);
            json_str(&b, seg[j].name);
            ps_buf_printf(&b, ", \"size\": %zu, \"share\": %.6f, \"radius99\": ", seg[j].size,
                          n ? (double)seg[j].size / (double)n : 0.0);
            json_num(&b, m.radius99[j]);
            ps_buf_printf(&b, ",\n   \"mean\": {");
            for (size_t c = 0; c < cols; c++) {
                ps_buf_printf(&b, "%s", c ? ", " : "");
                json_str(&b, meta.names[c]);
                ps_buf_printf(&b, ": ");
                json_num(&b, seg[j].mean[c]);
            }
            ps_buf_printf(&b, "},\n   \"z\": {");
            for (size_t c = 0; c < cols; c++) {
                ps_buf_printf(&b, "%s", c ? ", " : "");
                json_str(&b, meta.names[c]);
                ps_buf_printf(&b, ": ");
                json_num(&b, seg[j].z[c]);
            }
            ps_buf_printf(&b, "}}%s\n", j + 1 < k ? "," : "");
        }
        ps_buf_printf(&b, "]}\n");
        if (!rc)
            rc = write_buf(out, "segments.json", &b, err);
        ps_buf_reset(&b);
        ps_buf_printf(&b, "{\"k\": %d, \"users\": %zu, \"algorithm\": \"minibatch\", \"batch_size\": %zu, "
                          "\"n_init\": %d, \"max_iter\": %d, \"seed\": %llu, \"scale\": \"%s\", "
                          "\"inertia\": %.10g, \"n_iter\": %d, \"seconds\": %.3f}\n",
                      k, n, p->km.batch_size, p->km.n_init, p->km.max_iter,
                      (unsigned long long)p->km.seed, ps_scaler_kind_name(m.scaler.kind), m.inertia,
                      m.n_iter, ps_now() - t0);
        if (!rc)
            rc = write_buf(out, "run.json", &b, err);
        ps_buf_release(&b);
    }
    if (!rc && !quiet)
        ps_log(PS_LOG_INFO, "minibatch: %zu users in %d segments: inertia %.6g after %d steps, %.2f s; wrote %s/",
               n, k, m.inertia, m.n_iter, ps_now() - t0, out);
    for (int j = 0; j < k; j++) {
        free(seg[j].mean);
        free(seg[j].z);
        free(seg[j].mode);
        free(seg[j].mode_share);
    }
    free(seg);
done:
    if (ids)
        fclose(ids);
    if (root)
        json_decref(root);
    free(jpath);
    free(ids_path);
    free(sel);
    free(sample);
    if (cnames) {
        for (int q = 0; q < d; q++)
            free(cnames[q]);
        free(cnames);
    }
    ps_kmeans_result_release(&km);
    ps_segment_model_release(&m);
    ps_ftable_release(&meta);
    ps_npy_reader_close(r);
    return rc;
}
