/*
 * cmd_embed.c - `persona embed`: one vector per text (or per user) from a
 * GPT-2 or BERT checkpoint, written as float32 .npy (see docs/lm.md).
 *
 * Rows stream through in blocks: read, tokenise (in parallel), embed
 * (ps_lm_embed_ids sorts each block by length so similar lengths share a
 * batch), append to "<out>.partial".  After every block the partial file
 * is synced and "<out>.resume.json" records how many input rows are done,
 * so an interrupted run (Ctrl-C, a crash, a killed job) continues where it
 * stopped when the same command is run again.  The final .npy (and its
 * .json / .ids.txt sidecars, docs/ARCHITECTURE.md) is written from the
 * partial file at the end, atomically; the partial files are then removed.
 *
 * Bad input rows (malformed CSV/JSONL records) and texts with no tokens
 * keep their row, filled with NaN (= missing), and are counted.
 */
#include "cli.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/lm.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/progress.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE                                                                          \
    "usage: persona embed --model DIR --in FILE --text-col NAME --out VECTORS.npy [options]\n" \
    "\n"                                                                               \
    "  --model DIR          Hugging Face GPT-2 or BERT folder (config.json,\n"         \
    "                       model.safetensors, tokenizer files)\n"                     \
    "  --in FILE            CSV or JSON Lines input (- = stdin)\n"                     \
    "  --text-col NAME      column holding the text\n"                                 \
    "  --id-col NAME        column holding the row's id (user id); written to\n"       \
    "                       VECTORS.ids.txt\n"                                         \
    "  --per-user           one row per id: the mean of its texts' vectors, rows\n"    \
    "                       sorted by id (needs --id-col)\n"                           \
    "  --pool P             mean, cls or last (default mean; BERT's mean includes\n"   \
    "                       [CLS] and [SEP])\n"                                        \
    "  --normalize          L2-normalise every vector\n"                               \
    "  --batch N            texts per forward pass (default 16)\n"                     \
    "  --max-tokens N       tokens per text; longer texts are truncated (default:\n"   \
    "                       the model's context)\n"                                    \
    "  --chunk              split long texts into --max-tokens windows and average\n"  \
    "                       their vectors instead of truncating\n"                     \
    "  --no-resume          ignore a checkpoint left by an interrupted run\n"          \
    "  -t, --threads N      threads (default: all cores)\n"                            \
    "  -q, --quiet          no progress bar or summary\n"                              \
    "  --out FILE           float32 .npy, row i = input row i (or user i)\n"           \
    "\n"                                                                               \
    "Bad rows and texts without tokens get NaN rows and are counted.  An\n"            \
    "interrupted run resumes from VECTORS.npy.resume.json when rerun.\n"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (interrupted)
        _exit(130);
    interrupted = 1;
}

struct opts {
    const char *model, *in, *text_col, *id_col, *out;
    int per_user, normalize, batch, max_tokens, chunk, threads, quiet, no_resume;
    enum ps_lm_pool pool;
};

static char *with_suffix(const char *path, const char *suffix, int strip_npy)
{
    size_t n = strlen(path);
    if (strip_npy && n > 4 && strcmp(path + n - 4, ".npy") == 0)
        n -= 4;
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_append(&b, path, n);
    ps_buf_append(&b, suffix, strlen(suffix));
    return b.data;
}

/* ---- tokenising a block in parallel ------------------------------------- */

enum { ROW_OK, ROW_BAD, ROW_EMPTY };

struct block {
    size_t n;                  /* rows in the block */
    char **text;               /* (n) owned, NULL for bad rows */
    size_t *text_len;
    char **id;                 /* (n) owned ("" when absent) */
    int32_t **ids;             /* (n) token ids, owned */
    size_t *n_ids;
    int *state;                /* ROW_* */
    long *line;                /* input line of each row */
};

struct tok_job {
    const struct ps_tokenizer *tok;
    struct block *b;
    size_t max_tokens;         /* 0 = no truncation (chunking) */
    int n_tasks;
};

static void tok_task(void *arg, int task, int worker)
{
    struct tok_job *j = arg;
    long lo, hi;
    (void)worker;
    ps_split_range((long)j->b->n, j->n_tasks, task, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        struct block *b = j->b;
        if (b->state[i] != ROW_OK)
            continue;
        struct ps_err err = {0};
        if (ps_tokenizer_encode(j->tok, b->text[i], b->text_len[i], j->max_tokens, &b->ids[i],
                                &b->n_ids[i], &err))
            b->state[i] = ROW_BAD;
        else if (b->n_ids[i] == 0)
            b->state[i] = ROW_EMPTY;
    }
}

static void block_clear(struct block *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->text[i]);
        free(b->id[i]);
        free(b->ids[i]);
        b->text[i] = b->id[i] = NULL;
        b->ids[i] = NULL;
        b->n_ids[i] = 0;
    }
    b->n = 0;
}

/* ---- resume state ------------------------------------------------------- */

/* Everything that changes the vectors: a checkpoint is reused only if all
 * of it matches. */
static json_t *settings_json(const struct opts *o)
{
    struct stat st;
    json_int_t size = -1, mtime = -1;
    if (strcmp(o->in, "-") != 0 && stat(o->in, &st) == 0) {
        size = (json_int_t)st.st_size;
        mtime = (json_int_t)st.st_mtime;
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s?, s:b, s:s, s:b, s:i, s:b}", "model", o->model,
                     "input", o->in, "input_size", size, "input_mtime", mtime, "text_col",
                     o->text_col, "id_col", o->id_col, "per_user", o->per_user, "pool",
                     ps_lm_pool_name(o->pool), "normalize", o->normalize, "max_tokens",
                     o->max_tokens, "chunk", o->chunk);
}

static int save_state(const char *path, json_t *settings, long rows_done, long ids_bytes,
                      struct ps_err *err)
{
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    json_t *j = json_pack("{s:i, s:O, s:I, s:I}", "version", 1, "settings", settings, "rows_done",
                          (json_int_t)rows_done, "ids_bytes", (json_int_t)ids_bytes);
    json_dumpf(j, f.fp, JSON_INDENT(1));
    fputc('\n', f.fp);
    json_decref(j);
    return ps_afile_commit(&f, err);
}

/* Loads a matching checkpoint; 0 rows when there is none. */
static void load_state(const char *path, json_t *settings, long *rows_done, long *ids_bytes)
{
    *rows_done = 0;
    *ids_bytes = 0;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return;
    if (json_equal(json_object_get(j, "settings"), settings) &&
        json_is_integer(json_object_get(j, "rows_done"))) {
        *rows_done = (long)json_integer_value(json_object_get(j, "rows_done"));
        *ids_bytes = (long)json_integer_value(json_object_get(j, "ids_bytes"));
    } else {
        ps_log(PS_LOG_WARN, "%s: checkpoint of a different run ignored; starting over", path);
    }
    json_decref(j);
}

static int sync_file(FILE *f, const char *path, struct ps_err *err)
{
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        return ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", path, strerror(errno));
    return PS_OK;
}

/* ---- final outputs ------------------------------------------------------ */

static int write_json_sidecar(const struct opts *o, size_t rows, int C, int has_ids,
                              struct ps_err *err)
{
    char *json_path = with_suffix(o->out, ".json", 1);
    char *ids_path = with_suffix(o->out, ".ids.txt", 1);
    const char *ids_base = strrchr(ids_path, '/');
    ids_base = ids_base ? ids_base + 1 : ids_path;
    json_t *cols = json_array();
    char name[32];
    for (int i = 0; i < C; i++) {
        snprintf(name, sizeof name, "emb_%d", i);
        json_array_append_new(cols, json_string(name));
    }
    json_t *j = json_pack("{s:o, s:I, s:s, s:s, s:b, s:i, s:b, s:b}", "columns", cols, "rows",
                          (json_int_t)rows, "model", o->model, "pool", ps_lm_pool_name(o->pool),
                          "normalize", o->normalize, "max_tokens", o->max_tokens, "chunk",
                          o->chunk, "per_user", o->per_user);
    if (has_ids)
        json_object_set_new(j, "ids", json_string(ids_base));
    struct ps_afile f;
    int rc = ps_afile_open(&f, json_path, err);
    if (!rc) {
        json_dumpf(j, f.fp, JSON_INDENT(1));
        fputc('\n', f.fp);
        rc = ps_afile_commit(&f, err);
    }
    json_decref(j);
    free(json_path);
    free(ids_path);
    return rc;
}

/* Row-aligned output: the partial file's rows, then the ids file. */
static int finish_rows(const struct opts *o, const char *part, const char *ids_part, long rows,
                       int C, struct ps_err *err)
{
    FILE *f = fopen(part, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", part, strerror(errno));
    struct ps_npy_writer *w = NULL;
    int rc = ps_npy_writer_open(&w, o->out, (size_t)C, err);
    float *buf = ps_xmalloc(256 * (size_t)C * sizeof *buf);
    for (long at = 0; !rc && at < rows;) {
        size_t n = (size_t)(rows - at < 256 ? rows - at : 256);
        if (fread(buf, sizeof(float) * (size_t)C, n, f) != n)
            rc = ps_err_set(err, PS_ERR_IO, "\"%s\" is shorter than its checkpoint says", part);
        else
            rc = ps_npy_writer_append(w, buf, n, err);
        at += (long)n;
    }
    fclose(f);
    free(buf);
    if (!rc)
        rc = ps_npy_writer_close(w, err);
    else
        ps_npy_writer_abort(w);
    if (!rc && o->id_col) {
        char *ids_path = with_suffix(o->out, ".ids.txt", 1);
        size_t n;
        FILE *in = fopen(ids_part, "rb");
        struct ps_afile af;
        rc = in ? ps_afile_open(&af, ids_path, err)
                : ps_err_set(err, PS_ERR_IO, "cannot open \"%s\"", ids_part);
        if (!rc) {
            char tmp[1 << 16];
            while ((n = fread(tmp, 1, sizeof tmp, in)) > 0)
                fwrite(tmp, 1, n, af.fp);
            rc = ps_afile_commit(&af, err);
        }
        if (in)
            fclose(in);
        free(ids_path);
    }
    if (!rc)
        rc = write_json_sidecar(o, (size_t)rows, C, o->id_col != NULL, err);
    return rc;
}

struct user_sort {
    const struct ps_strmap *ids;
};

static const struct ps_strmap *sort_map;

static int cmp_user(const void *a, const void *b)
{
    size_t la, lb;
    const char *x = ps_strmap_key(sort_map, *(const uint32_t *)a, &la);
    const char *y = ps_strmap_key(sort_map, *(const uint32_t *)b, &lb);
    int c = memcmp(x, y, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* Per-user output: mean of each id's valid text vectors (double sums). */
static int finish_users(const struct opts *o, const char *part, const char *ids_part, long rows,
                        int C, size_t *n_users_out, struct ps_err *err)
{
    FILE *f = fopen(part, "rb"), *fi = fopen(ids_part, "rb");
    int rc = PS_OK;
    if (!f || !fi) {
        if (f)
            fclose(f);
        if (fi)
            fclose(fi);
        return ps_err_set(err, PS_ERR_IO, "cannot open the partial files of \"%s\"", o->out);
    }
    struct ps_strmap *users = ps_strmap_new();
    double *sum = NULL;
    long *count = NULL;
    size_t cap_sum = 0, cap_cnt = 0;
    float *v = ps_xmalloc((size_t)C * sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    for (long r = 0; r < rows; r++) {
        ssize_t len = getline(&line, &lcap, fi);
        if (len <= 0 || fread(v, sizeof(float), (size_t)C, f) != (size_t)C) {
            rc = ps_err_set(err, PS_ERR_IO, "partial files of \"%s\" are shorter than the checkpoint",
                            o->out);
            break;
        }
        line[--len] = '\0';
        if (len == 0 && isnan(v[0]))
            continue; /* a malformed record: its id is unknown */
        uint32_t u = ps_strmap_intern(users, line, (size_t)len, NULL);
        size_t need = (size_t)u + 1;
        if (need * (size_t)C > cap_sum) {
            size_t old = cap_sum;
            sum = ps_xgrow(sum, &cap_sum, need * (size_t)C, sizeof *sum);
            memset(sum + old, 0, (cap_sum - old) * sizeof *sum);
        }
        if (need > cap_cnt) {
            size_t old = cap_cnt;
            count = ps_xgrow(count, &cap_cnt, need, sizeof *count);
            memset(count + old, 0, (cap_cnt - old) * sizeof *count);
        }
        if (isnan(v[0]))
            continue; /* bad or empty text: not part of the mean */
        for (int i = 0; i < C; i++)
            sum[(size_t)u * (size_t)C + (size_t)i] += v[i];
        count[u]++;
    }
    fclose(f);
    fclose(fi);
    free(line);
    uint32_t n = ps_strmap_count(users);
    uint32_t *order = ps_xmalloc((n ? n : 1) * sizeof *order);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    sort_map = users;
    qsort(order, n, sizeof *order, cmp_user);
    struct ps_npy_writer *w = NULL;
    if (!rc)
        rc = ps_npy_writer_open(&w, o->out, (size_t)C, err);
    for (uint32_t k = 0; !rc && k < n; k++) {
        uint32_t u = order[k];
        for (int i = 0; i < C; i++)
            v[i] = count[u] ? (float)(sum[(size_t)u * (size_t)C + (size_t)i] / (double)count[u]) : NAN;
        if (o->normalize && count[u])
            ps_lm_pool_rows(v, 1, C, PS_LM_POOL_MEAN, 1, v);
        rc = ps_npy_writer_append(w, v, 1, err);
    }
    if (w && !rc)
        rc = ps_npy_writer_close(w, err);
    else
        ps_npy_writer_abort(w);
    if (!rc) {
        char *ids_path = with_suffix(o->out, ".ids.txt", 1);
        struct ps_afile af;
        rc = ps_afile_open(&af, ids_path, err);
        for (uint32_t k = 0; !rc && k < n; k++) {
            size_t len;
            const char *id = ps_strmap_key(users, order[k], &len);
            fwrite(id, 1, len, af.fp);
            fputc('\n', af.fp);
        }
        if (!rc)
            rc = ps_afile_commit(&af, err);
        free(ids_path);
    }
    if (!rc)
        rc = write_json_sidecar(o, n, C, 1, err);
    *n_users_out = n;
    free(order);
    free(v);
    free(sum);
    free(count);
    ps_strmap_free(users);
    return rc;
}

/* ---- the command -------------------------------------------------------- */

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 16;
    o->pool = PS_LM_POOL_MEAN;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        long l;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--per-user") == 0) {
            o->per_user = 1;
            continue;
        }
        if (strcmp(a, "--normalize") == 0) {
            o->normalize = 1;
            continue;
        }
        if (strcmp(a, "--chunk") == 0) {
            o->chunk = 1;
            continue;
        }
        if (strcmp(a, "--no-resume") == 0) {
            o->no_resume = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--model", "-m", &v, &missing)) {
            o->model = v;
        } else if (cli_opt_value(argc, argv, &i, "--in", "-i", &v, &missing)) {
            o->in = v;
        } else if (cli_opt_value(argc, argv, &i, "--text-col", NULL, &v, &missing)) {
            o->text_col = v;
        } else if (cli_opt_value(argc, argv, &i, "--id-col", NULL, &v, &missing)) {
            o->id_col = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            o->out = v;
        } else if (cli_opt_value(argc, argv, &i, "--pool", NULL, &v, &missing)) {
            if (!missing) {
                int p = ps_lm_pool_parse(v);
                if (p < 0)
                    return cli_usage_error("embed", "option '--pool' expects mean, cls or last, "
                                           "got \"%s\"", v);
                o->pool = (enum ps_lm_pool)p;
            }
        } else if (cli_opt_value(argc, argv, &i, "--batch", "-b", &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("embed", "--batch", v, 1, 4096, &l))
                    return CLI_USAGE;
                o->batch = (int)l;
            }
        } else if (cli_opt_value(argc, argv, &i, "--max-tokens", NULL, &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("embed", "--max-tokens", v, 1, 1 << 20, &l))
                    return CLI_USAGE;
                o->max_tokens = (int)l;
            }
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("embed", "--threads", v, 0, 1024, &l))
                    return CLI_USAGE;
                o->threads = (int)l;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("embed", "unknown option '%s'", a);
        } else {
            return cli_usage_error("embed", "unexpected argument '%s'", a);
        }
        if (missing)
            return cli_usage_error("embed", "option '%s' needs a value", a);
    }
    if (!o->model)
        return cli_usage_error("embed", "missing --model DIR");
    if (!o->in)
        return cli_usage_error("embed", "missing --in FILE");
    if (!o->text_col)
        return cli_usage_error("embed", "missing --text-col NAME");
    if (!o->out || strcmp(o->out, "-") == 0)
        return cli_usage_error("embed", "missing --out FILE (a .npy path)");
    if (o->per_user && !o->id_col)
        return cli_usage_error("embed", "--per-user needs --id-col NAME");
    return CLI_OK;
}

static int cmd_embed_main(int argc, char **argv)
{
    struct opts o;
    int prc = parse(argc, argv, &o);
    if (prc)
        return prc;
    cli_setup_logging(o.quiet);
    ps_progress_set_quiet(o.quiet);

    struct ps_err err = {0};
    struct ps_lm *m = NULL;
    struct ps_tokenizer *tok = NULL;
    struct ps_pool *pool = NULL;
    struct ps_lm_ctx *ctx = NULL;
    struct ps_reader *r = NULL;
    FILE *fpart = NULL, *fids = NULL;
    json_t *settings = NULL;
    float *vec = NULL;
    const int32_t **idp = NULL;
    size_t *nidp = NULL, *slot = NULL;
    struct block b = {0};
    int rc = PS_OK, exit_code = CLI_OK;
    char *part = with_suffix(o.out, ".partial", 0);
    char *ids_part = with_suffix(o.out, ".partial.ids", 0);
    char *state = with_suffix(o.out, ".resume.json", 0);

    if ((rc = ps_lm_load(&m, o.model, &err)) || (rc = ps_tokenizer_load(&tok, o.model, &err)))
        goto done;
    const struct ps_lm_config *cfg = ps_lm_get_config(m);
    const int C = cfg->d_model;
    if (o.max_tokens == 0 || o.max_tokens > cfg->n_ctx) {
        if (o.max_tokens > cfg->n_ctx)
            ps_log(PS_LOG_WARN, "--max-tokens %d is over the model's context; using %d",
                   o.max_tokens, cfg->n_ctx);
        o.max_tokens = cfg->n_ctx;
    }
    if (cfg->arch == PS_LM_BERT && o.max_tokens < 3) {
        rc = ps_err_set(&err, PS_ERR_USAGE, "--max-tokens must be at least 3 for BERT");
        goto done;
    }
    struct ps_reader_params rp = ps_reader_default_params();
    if ((rc = ps_reader_open(&r, o.in, &rp, &err)))
        goto done;
    int text_idx = ps_reader_column_index(r, o.text_col);
    int id_idx = o.id_col ? ps_reader_column_index(r, o.id_col) : -1;
    if (text_idx < 0 || (o.id_col && id_idx < 0)) {
        rc = ps_err_set(&err, PS_ERR_USAGE, "%s: no column \"%s\"", ps_reader_name(r),
                        text_idx < 0 ? o.text_col : o.id_col);
        goto done;
    }

    pool = ps_pool_new(o.threads);
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = o.batch;
    cp.max_tokens = o.max_tokens;
    /* Cap the tokens of one call: the arena scales with it (GPT-2-124M:
     * about 31 KB per token, so 4096 tokens = 126 MB), and beyond a few
     * thousand rows sgemm gains nothing. */
    long packed = (long)o.batch * o.max_tokens;
    cp.max_packed = (int)(packed < 4096 ? packed : (o.max_tokens > 4096 ? o.max_tokens : 4096));
    cp.pool = pool;
    if ((rc = ps_lm_ctx_new(&ctx, m, &cp, &err)))
        goto done;

    /* Resume or start over. */
    settings = settings_json(&o);
    long rows_done = 0, ids_bytes = 0;
    if (!o.no_resume && strcmp(o.in, "-") != 0)
        load_state(state, settings, &rows_done, &ids_bytes);
    if (rows_done > 0) {
        if (truncate(part, (off_t)rows_done * C * (off_t)sizeof(float)) != 0 ||
            (o.id_col && truncate(ids_part, (off_t)ids_bytes) != 0)) {
            ps_log(PS_LOG_WARN, "%s: partial output missing; starting over", part);
            rows_done = ids_bytes = 0;
        }
    }
    fpart = fopen(part, rows_done ? "ab" : "wb");
    fids = o.id_col ? fopen(ids_part, rows_done ? "ab" : "wb") : NULL;
    if (!fpart || (o.id_col && !fids)) {
        rc = ps_err_set(&err, PS_ERR_IO, "cannot write \"%s\": %s", part, strerror(errno));
        goto done;
    }
    for (long k = 0; k < rows_done; k++) {
        int st = ps_reader_next(r);
        if (st == PS_DONE || (st < 0 && st != PS_ERR_BAD_ROW)) {
            rc = ps_err_set(&err, PS_ERR_BAD_INPUT,
                            "%s: input has fewer rows than the checkpoint (%ld); rerun with --no-resume",
                            ps_reader_name(r), rows_done);
            goto done;
        }
    }
    if (rows_done)
        ps_log(PS_LOG_INFO, "embed: resuming after %ld rows", rows_done);

    const size_t block_rows = (size_t)(o.batch * 16 > 256 ? o.batch * 16 : 256);
    b.text = ps_xcalloc(block_rows, sizeof *b.text);
    b.text_len = ps_xcalloc(block_rows, sizeof *b.text_len);
    b.id = ps_xcalloc(block_rows, sizeof *b.id);
    b.ids = ps_xcalloc(block_rows, sizeof *b.ids);
    b.n_ids = ps_xcalloc(block_rows, sizeof *b.n_ids);
    b.state = ps_xcalloc(block_rows, sizeof *b.state);
    b.line = ps_xcalloc(block_rows, sizeof *b.line);
    idp = ps_xcalloc(block_rows, sizeof *idp);
    nidp = ps_xcalloc(block_rows, sizeof *nidp);
    slot = ps_xcalloc(block_rows, sizeof *slot);
    vec = ps_xmalloc(block_rows * (size_t)C * sizeof *vec);
    struct ps_lm_embed_params ep = ps_lm_embed_default_params();
    ep.pool = o.pool;
    ep.normalize = o.normalize;
    ep.max_tokens = o.max_tokens;
    ep.chunk = o.chunk;

    const char *stop_env = getenv("PERSONA_EMBED_INTERRUPT_AFTER"); /* tests */
    long stop_after = stop_env ? atol(stop_env) : -1;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    struct ps_progress prog;
    struct stat sb;
    ps_progress_begin(&prog, "embed",
                      strcmp(o.in, "-") != 0 && stat(o.in, &sb) == 0 ? (uint64_t)sb.st_size : 0);
    long n_bad = 0, n_empty = 0, n_rows = rows_done;
    long long n_tokens = 0;
    double t0 = ps_now();
    int eof = 0;
    while (!eof && !rc) {
        /* Read a block. */
        while (b.n < block_rows) {
            int st = ps_reader_next(r);
            if (st == PS_DONE) {
                eof = 1;
                break;
            }
            size_t i = b.n;
            b.line[i] = ps_reader_line(r);
            b.text[i] = NULL;
            b.id[i] = NULL;
            if (st == PS_ERR_BAD_ROW) {
                if (!n_bad)
                    ps_log(PS_LOG_WARN, "%s (row kept as NaN)", ps_reader_errmsg(r));
                n_bad++;
                b.state[i] = ROW_BAD;
                b.id[i] = ps_xstrdup("");
            } else if (st < 0) {
                rc = ps_err_set(&err, st, "%s", ps_reader_errmsg(r));
                break;
            } else {
                size_t len, idl = 0;
                const char *t = ps_reader_field(r, text_idx, &len);
                const char *id = id_idx >= 0 ? ps_reader_field(r, id_idx, &idl) : "";
                if (memchr(id, '\n', idl) || memchr(id, '\r', idl)) {
                    rc = ps_err_set(&err, PS_ERR_BAD_INPUT,
                                    "%s:%ld: column \"%s\": id contains a line break", ps_reader_name(r),
                                    b.line[i], o.id_col);
                    break;
                }
                b.text[i] = ps_xstrndup(t, len);
                b.text_len[i] = len;
                b.id[i] = ps_xstrndup(id, idl);
                b.state[i] = ROW_OK;
            }
            b.n++;
        }
        if (rc || b.n == 0)
            break;
        /* Tokenise in parallel, embed, write. */
        struct tok_job tj = {tok, &b, o.chunk ? 0 : (size_t)o.max_tokens, ps_pool_n_threads(pool)};
        ps_pool_run(pool, tj.n_tasks, tok_task, &tj);
        size_t n_ok = 0;
        for (size_t i = 0; i < b.n; i++) {
            if (b.state[i] == ROW_OK) {
                idp[n_ok] = b.ids[i];
                nidp[n_ok] = b.n_ids[i];
                slot[n_ok++] = i;
                n_tokens += (long long)b.n_ids[i];
            } else if (b.state[i] == ROW_EMPTY) {
                n_empty++;
            } else if (b.text[i]) {
                if (!n_bad)
                    ps_log(PS_LOG_WARN, "%s:%ld: column \"%s\": cannot tokenise (row kept as NaN)",
                           ps_reader_name(r), b.line[i], o.text_col);
                n_bad++;
            }
        }
        float *ok_vec = ps_xmalloc((n_ok ? n_ok : 1) * (size_t)C * sizeof *ok_vec);
        rc = ps_lm_embed_ids(ctx, idp, nidp, n_ok, &ep, ok_vec, &err);
        if (!rc) {
            for (size_t i = 0; i < b.n * (size_t)C; i++)
                vec[i] = NAN;
            for (size_t k = 0; k < n_ok; k++)
                memcpy(vec + slot[k] * (size_t)C, ok_vec + k * (size_t)C, (size_t)C * sizeof *vec);
            fwrite(vec, sizeof(float) * (size_t)C, b.n, fpart);
            for (size_t i = 0; fids && i < b.n; i++) {
                size_t l = strlen(b.id[i]);
                fwrite(b.id[i], 1, l, fids);
                fputc('\n', fids);
                ids_bytes += (long)l + 1;
            }
            n_rows += (long)b.n;
            rc = sync_file(fpart, part, &err);
            if (!rc && fids)
                rc = sync_file(fids, ids_part, &err);
            if (!rc)
                rc = save_state(state, settings, n_rows, ids_bytes, &err);
        }
        free(ok_vec);
        block_clear(&b);
        ps_progress_update(&prog, ps_reader_bytes_read(r));
        if (!rc && !eof && (interrupted || (stop_after >= 0 && n_rows >= stop_after))) {
            ps_progress_end(&prog);
            rc = ps_err_set(&err, PS_ERR_IO,
                            "interrupted after %ld rows; run the same command again to resume", n_rows);
            break;
        }
    }
    ps_progress_end(&prog);
    sigaction(SIGINT, &old_sa, NULL);
    if (rc)
        goto done;
    fclose(fpart);
    fpart = NULL;
    if (fids)
        fclose(fids);
    fids = NULL;
    size_t n_users = 0;
    if (o.per_user)
        rc = finish_users(&o, part, ids_part, n_rows, C, &n_users, &err);
    else
        rc = finish_rows(&o, part, ids_part, n_rows, C, &err);
    if (rc)
        goto done;
    unlink(part);
    unlink(ids_part);
    unlink(state);
    double dt = ps_now() - t0;
    if (o.per_user)
        ps_log(PS_LOG_INFO, "embed: %ld rows -> %zu users x %d, %ld bad, %ld without tokens, "
               "%lld tokens, %.2f s", n_rows, n_users, C, n_bad, n_empty, n_tokens, dt);
    else
        ps_log(PS_LOG_INFO, "embed: %ld rows x %d, %ld bad, %ld without tokens, %lld tokens, "
               "%.2f s (%.0f tokens/s)", n_rows, C, n_bad, n_empty, n_tokens, dt,
               dt > 0 ? (double)n_tokens / dt : 0.0);
done:
    if (rc)
        exit_code = cli_fail_err(&err);
    if (fpart)
        fclose(fpart);
    if (fids)
        fclose(fids);
    if (b.text) {
        block_clear(&b);
        free(b.text);
        free(b.text_len);
        free(b.id);
        free(b.ids);
        free(b.n_ids);
        free(b.state);
        free(b.line);
    }
    free(idp);
    free(nidp);
    free(slot);
    free(vec);
    json_decref(settings);
    ps_reader_close(r);
    ps_lm_ctx_free(ctx);
    ps_pool_free(pool);
    ps_tokenizer_free(tok);
    ps_lm_free(m);
    free(part);
    free(ids_part);
    free(state);
    return exit_code;
}

PS_COMMAND(embed, "text vectors (or per-user means) from a GPT-2 or BERT checkpoint", USAGE,
           cmd_embed_main)
