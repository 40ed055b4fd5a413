/*
 * pipeline.c - `persona run` (workspace.h): reads the configuration,
 * keys every stage, runs or skips it, and records the run in the store.
 * Each stage calls its module's library (clean.h, features.h, segment.h,
 * lda.h + textprep.h, profile.h, recommend.h, report.h), never a binary.
 */
#include "persona/workspace.h"
#include "persona/afile.h"
#include "persona/clean.h"
#include "persona/config.h"
#include "persona/core.h"
#include "persona/features.h"
#include "persona/hash.h"
#include "persona/lda.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/profile.h"
#include "persona/reader.h"
#include "persona/recommend.h"
#include "persona/report.h"
#include "persona/segment.h"
#include "persona/store.h"
#include "persona/tagrule.h"
#include "persona/textprep.h"
#include "persona/timeparse.h"
#include "vectors.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/file.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const TABLES[4] = {"events", "texts", "items", "users"};

struct run {
    const struct ps_run_params *p;
    struct ps_config *cfg;
    struct ps_store *store;
    struct ps_pool *pool;
    struct ps_run_result *res;
    char *ws;
    int n_threads;
    uint64_t seed;
    int64_t snapshot_from_key;   /* profiles stage: snapshot recorded in its key file */
    int64_t eval_from_key;       /* evaluate stage: run whose stored metrics hold (0 = none) */
    int stopped;
};

/* ---- small helpers ---- */

static char *join(const char *a, const char *b)
{
    if (b[0] == '/' || !a || !*a || strcmp(a, ".") == 0)
        return ps_xstrdup(b);
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = ps_xmalloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int make_dir(const char *dir, struct ps_err *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ps_err_set(err, PS_ERR_IO, "cannot create directory \"%s\": %s", dir, strerror(errno));
    return PS_OK;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static uint64_t mix(uint64_t h, uint64_t v) { return ps_hash64(&v, sizeof v, h); }
static uint64_t mix_str(uint64_t h, const char *s) { return ps_hash64(s ? s : "", s ? strlen(s) + 1 : 0, h); }

/* Raw input: path, size and modification time (see workspace.h). */
static uint64_t file_key(uint64_t h, const char *path)
{
    struct stat st;
    h = mix_str(h, path);
    if (stat(path, &st) != 0)
        return mix(h, 0);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec);
    return mix(h, (uint64_t)st.st_mtim.tv_nsec);
}

/* stages/<name>.key: "key rows_in rows_out extra\nnote\n". */
static int key_read(struct run *r, const char *name, uint64_t *key, int64_t *rin, int64_t *rout,
                    int64_t *extra, char *note, size_t cap)
{
    char rel[64];
    snprintf(rel, sizeof rel, "stages/%s.key", name);
    char *path = join(r->ws, rel);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return -1;
    unsigned long long k;
    long long a, b, c;
    int ok = fscanf(f, "%llx %lld %lld %lld\n", &k, &a, &b, &c) == 4;
    if (ok) {
        *key = k;
        *rin = a;
        *rout = b;
        *extra = c;
        if (!fgets(note, (int)cap, f))
            note[0] = '\0';
        note[strcspn(note, "\n")] = '\0';
    }
    fclose(f);
    return ok ? 0 : -1;
}

static int key_write(struct run *r, const struct ps_run_stage *st, int64_t extra, struct ps_err *err)
{
    char rel[64];
    snprintf(rel, sizeof rel, "stages/%s.key", st->name);
    char *path = join(r->ws, rel);
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    free(path);
    if (rc)
        return rc;
    fprintf(f.fp, "%016llx %lld %lld %lld\n%s\n", (unsigned long long)st->key, (long long)st->rows_in,
            (long long)st->rows_out, (long long)extra, st->note);
    return ps_afile_commit(&f, err);
}

typedef int (*stage_fn)(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err);

/* Runs or skips one stage; outputs is NULL-terminated (relative paths). */
static int stage(struct run *r, const char *name, uint64_t key, const char *const *outputs,
                 stage_fn fn, void *arg, struct ps_err *err)
{
    struct ps_run_result *res = r->res;
    if (r->stopped)
        return PS_OK;
    PS_ASSERT(res->n_stages < PS_RUN_MAX_STAGES);
    struct ps_run_stage *st = &res->stages[res->n_stages++];
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name);
    st->key = key = mix(key, ps_hash64(PERSONA_VERSION, strlen(PERSONA_VERSION), 7));
    st->rows_in = st->rows_out = -1;
    double t0 = ps_now();
    uint64_t old;
    int64_t rin, rout, extra;
    char note[256];
    int is_eval = strcmp(name, "evaluate") == 0;
    int64_t *slot = is_eval ? &r->eval_from_key : &r->snapshot_from_key;
    int have = !r->p->force && key_read(r, name, &old, &rin, &rout, &extra, note, sizeof note) == 0 &&
               old == key;
    for (int i = 0; have && outputs && outputs[i]; i++) {
        char *o = join(r->ws, outputs[i]);
        have = exists(o);
        free(o);
    }
    if (have && strcmp(name, "profiles") == 0)
        have = extra > 0 && ps_store_snapshot_of(r->store, extra) == extra;
    if (have && is_eval)
        have = extra > 0 && ps_store_eval_exists(r->store, extra);
    int rc = PS_OK;
    if (have) {
        st->skipped = 1;
        st->rows_in = rin;
        st->rows_out = rout;
        snprintf(st->note, sizeof st->note, "%s", note);
        *slot = extra;
    } else {
        rc = fn(r, arg, st, err);
        if (rc == PS_OK && !st->disabled)
            rc = key_write(r, st, *slot, err);
        if (rc)
            ps_err_prefix(err, "stage %s", name);
    }
    st->seconds = ps_now() - t0;
    if (rc == PS_OK) {
        char rows[96] = "";
        if (st->rows_in >= 0 || st->rows_out >= 0)
            snprintf(rows, sizeof rows, ", %lld rows in, %lld out", (long long)st->rows_in,
                     (long long)st->rows_out);
        ps_log(PS_LOG_INFO, "run: %-14s %s %7.2f s%s%s%s", name,
               st->disabled ? "off    " : st->skipped ? "skipped" : "done   ", st->seconds, rows,
               st->note[0] ? "; " : "", st->note);
        struct ps_err e2 = {0};
        if (ps_store_run_stage(r->store, res->run_id, name, key, st->skipped || st->disabled,
                               st->seconds, st->rows_in, st->rows_out, st->note, &e2))
            ps_log(PS_LOG_WARN, "%s", e2.msg);
        if (r->p->stop_after && strcmp(r->p->stop_after, name) == 0) {
            r->stopped = 1;
            return ps_err_set(err, PS_ERR_INTERNAL, "stopped after stage %s (as asked)", name);
        }
    }
    return rc;
}

/* ---- inputs ---- */

struct input {
    int present;
    char section[32];
    char **paths;          /* resolved, glob-expanded */
    int n_paths;
    uint64_t key;          /* of the clean table */
};

static int expand_paths(struct run *r, const char *section, const char *spec, struct input *in,
                        struct ps_err *err)
{
    char *copy = ps_xstrdup(spec), *save = NULL;
    int rc = PS_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (!l)
            continue;
        char *full = join(ps_config_dir(r->cfg), tok);
        glob_t g;
        int gr = glob(full, 0, NULL, &g);
        if (gr == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                in->paths = ps_xrealloc(in->paths, (size_t)(in->n_paths + 1) * sizeof *in->paths);
                in->paths[in->n_paths++] = ps_xstrdup(g.gl_pathv[i]);
            }
            globfree(&g);
        } else {
            rc = ps_config_value_error(r->cfg, section, "path", err, PS_ERR_IO,
                                       "no file matches \"%s\"", full);
        }
        free(full);
        if (rc)
            break;
    }
    free(copy);
    if (!rc && in->n_paths == 0)
        rc = ps_config_value_error(r->cfg, section, "path", err, PS_ERR_BAD_INPUT, "empty path");
    return rc;
}

struct clean_arg {
    struct input *in;
    enum ps_schema schema;
};

static int split_list(const char *s, char sep, char ***out)
{
    int n = 0;
    *out = NULL;
    if (!s || !*s)
        return 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, sep);
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && *p == ' ') {
            p++;
            l--;
        }
        while (l && p[l - 1] == ' ')
            l--;
        if (l) {
            *out = ps_xrealloc(*out, (size_t)(n + 1) * sizeof **out);
            (*out)[n++] = ps_xstrndup(p, l);
        }
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int read_clean_params(struct run *r, const char *sec, struct ps_clean_params *cp,
                             char ***missing, struct ps_err *err)
{
    const char *s = NULL;
    int strict = 0;
    if (ps_config_str(r->cfg, sec, "preset", &cp->preset, err) ||
        ps_config_str(r->cfg, sec, "map", &cp->map, err) ||
        ps_config_str(r->cfg, sec, "columns", &cp->columns, err) ||
        ps_config_str(r->cfg, sec, "constants", &cp->constants, err) ||
        ps_config_str(r->cfg, sec, "event_map", &cp->event_map, err) ||
        ps_config_str(r->cfg, sec, "dedup_key", &cp->dedup_key, err) ||
        ps_config_str(r->cfg, sec, "tz", &cp->tz, err) ||
        ps_config_bool(r->cfg, sec, "strict", &strict, err))
        return err->status;
    cp->strict = strict;
    if (cp->preset && !*cp->preset)
        cp->preset = NULL;
    static const char *const fmts[] = {"auto", "csv", "jsonl", NULL};
    int f = 0;
    if (ps_config_choice(r->cfg, sec, "format", fmts, &f, err))
        return err->status;
    cp->format = f == 1 ? PS_FORMAT_CSV : f == 2 ? PS_FORMAT_JSONL : PS_FORMAT_AUTO;
    if (ps_config_str(r->cfg, sec, "delimiter", &s, err))
        return err->status;
    if (s) {
        if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0)
            cp->delimiter = '\t';
        else if (strlen(s) == 1)
            cp->delimiter = s[0];
        else
            return ps_config_value_error(r->cfg, sec, "delimiter", err, PS_ERR_BAD_INPUT,
                                         "expected one character or \"tab\", got \"%s\"", s);
    }
    int header = -1;
    if (ps_config_bool(r->cfg, sec, "header", &header, err))
        return err->status;
    cp->has_header = header;
    s = NULL;
    if (ps_config_str(r->cfg, sec, "missing", &s, err))
        return err->status;
    cp->n_missing = split_list(s, ';', missing);
    cp->missing = (const char *const *)*missing;
    return PS_OK;
}

static int run_clean(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    struct clean_arg *a = arg;
    const char *t = TABLES[a->schema];
    struct ps_clean_params cp = ps_clean_default_params();
    char **missing = NULL;
    int rc = read_clean_params(r, a->in->section, &cp, &missing, err);
    char rel[64];
    snprintf(rel, sizeof rel, "clean/%s.csv", t);
    char *out = join(r->ws, rel);
    snprintf(rel, sizeof rel, "clean/%s.quarantine.csv", t);
    char *q = join(r->ws, rel);
    snprintf(rel, sizeof rel, "clean/%s.summary.json", t);
    char *sj = join(r->ws, rel);
    cp.schema = a->schema;
    cp.inputs = (const char *const *)a->in->paths;
    cp.n_inputs = a->in->n_paths;
    cp.out_path = out;
    cp.quarantine_path = q;
    cp.summary_path = sj;
    struct ps_clean_summary sum;
    memset(&sum, 0, sizeof sum);
    int ran = 0;
    if (!rc)
        rc = ps_clean_check_params(&cp, err);
    if (!rc) {
        rc = ps_clean_run(&cp, &sum, err);
        ran = 1;
    }
    if (!rc) {
        st->rows_in = sum.rows_in;
        st->rows_out = sum.rows_out;
        snprintf(st->note, sizeof st->note, "%d file%s, %lld quarantined, %lld duplicates",
                 cp.n_inputs, cp.n_inputs == 1 ? "" : "s", (long long)sum.quarantined,
                 (long long)(sum.exact_duplicates + sum.key_duplicates));
    }
    if (ran)
        ps_clean_summary_release(&sum);
    free_list(missing, cp.n_missing);
    free(out);
    free(q);
    free(sj);
    return rc;
}

/* ---- features ---- */

static int run_features(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    (void)arg;
    struct ps_features_params fp = ps_features_default_params();
    const char *s = NULL;
    int rc = PS_OK;
    if (ps_config_str(r->cfg, "features", "as_of", &s, err))
        return err->status;
    if (s && *s) {
        if (ps_time_parse(s, strlen(s), 0, &fp.as_of) != PS_TIME_OK)
            return ps_config_value_error(r->cfg, "features", "as_of", err, PS_ERR_BAD_INPUT,
                                         "expected Unix seconds or ISO-8601, got \"%s\"", s);
        fp.has_as_of = 1;
    }
    s = NULL;
    if (ps_config_str(r->cfg, "features", "tz_offset", &s, err))
        return err->status;
    if (s && *s) {
        long off;
        if (ps_time_parse_offset(s, &off) != 0)
            return ps_config_value_error(r->cfg, "features", "tz_offset", err, PS_ERR_BAD_INPUT,
                                         "expected an offset like +08:00, got \"%s\"", s);
        fp.tz_offset_s = (int)off;
    }
    char *ev = join(r->ws, "clean/events.csv");
    char *csv = join(r->ws, "features.csv");
    char *npy = join(r->ws, "features.npy");
    fp.events_path = ev;
    fp.out_csv = csv;
    fp.out_npy = npy;
    fp.n_threads = r->n_threads;
    struct ps_features_summary sum;
    rc = ps_features_check_params(&fp, 1, err);
    if (!rc)
        rc = ps_features_run(&fp, &sum, err);
    if (!rc) {
        st->rows_in = sum.n_rows;
        st->rows_out = sum.n_users;
        char when[40];
        ps_time_format_iso(sum.as_of, when);
        snprintf(st->note, sizeof st->note, "as of %s", when);
    }
    free(ev);
    free(csv);
    free(npy);
    return rc;
}

static void features_options(struct run *r)
{
    const char *s;
    ps_config_get(r->cfg, "features", "as_of");
    s = ps_config_get(r->cfg, "features", "tz_offset");
    (void)s;
}

/* ---- segment ---- */

static int read_segment_params(struct run *r, struct ps_segment_params *sp, char **cols_owned,
                               struct ps_err *err)
{
    struct ps_config *c = r->cfg;
    const char *cols = "all", *scale = NULL, *alg = NULL;
    long k = 0, kmin = sp->k_min, kmax = sp->k_max, n_init = sp->km.n_init, max_iter = sp->km.max_iter;
    long seed = (long)r->seed, sil = (long)sp->silhouette_max;
    *cols_owned = NULL;
    if (ps_config_str(c, "segment", "columns", &cols, err) ||
        ps_config_long(c, "segment", "k", 0, 256, &k, err) ||
        ps_config_long(c, "segment", "k_min", 2, 256, &kmin, err) ||
        ps_config_long(c, "segment", "k_max", 2, 256, &kmax, err) ||
        ps_config_long(c, "segment", "n_init", 1, 1000, &n_init, err) ||
        ps_config_long(c, "segment", "max_iter", 1, 100000, &max_iter, err) ||
        ps_config_long(c, "segment", "seed", 0, 0x7fffffffL, &seed, err) ||
        ps_config_long(c, "segment", "silhouette_max", 0, 100000000L, &sil, err) ||
        ps_config_str(c, "segment", "scale", &scale, err) ||
        ps_config_str(c, "segment", "log1p", &sp->log1p, err) ||
        ps_config_str(c, "segment", "lang", &sp->lang, err) ||
        ps_config_str(c, "segment", "algorithm", &alg, err) ||
        ps_config_str(c, "segment", "weight_column", &sp->weight_column, err))
        return err->status;
    if (sp->log1p && !*sp->log1p)
        sp->log1p = NULL;
    if (sp->weight_column && !*sp->weight_column)
        sp->weight_column = NULL;
    if (kmin > kmax)
        return ps_config_value_error(c, "segment", "k_max", err, PS_ERR_BAD_INPUT,
                                     "k_max %ld is below k_min %ld", kmax, kmin);
    if (k == 1)
        return ps_config_value_error(c, "segment", "k", err, PS_ERR_BAD_INPUT,
                                     "k must be 0 (choose) or at least 2");
    sp->k = (int)k;
    sp->km.k = k ? (int)k : sp->km.k;
    sp->k_min = (int)kmin;
    sp->k_max = (int)kmax;
    sp->km.n_init = (int)n_init;
    sp->km.max_iter = (int)max_iter;
    sp->km.seed = (uint64_t)seed;
    sp->silhouette_max = (size_t)sil;
    if (scale) {
        int kind = ps_scaler_kind_parse(scale);
        if (kind < 0)
            return ps_config_value_error(c, "segment", "scale", err, PS_ERR_BAD_INPUT,
                                         "expected standard, robust, minmax or none, got \"%s\"", scale);
        sp->scale = (enum ps_scaler_kind)kind;
    }
    if (alg) {
        int a = ps_kmeans_algorithm_parse(alg);
        if (a < 0)
            return ps_config_value_error(c, "segment", "algorithm", err, PS_ERR_BAD_INPUT,
                                         "unknown algorithm \"%s\"", alg);
        sp->km.algorithm = (enum ps_kmeans_algorithm)a;
    }
    if (strcmp(sp->lang, "en") != 0 && strcmp(sp->lang, "zh") != 0)
        return ps_config_value_error(c, "segment", "lang", err, PS_ERR_BAD_INPUT,
                                     "expected en or zh, got \"%s\"", sp->lang);
    if (strcmp(cols, "all") == 0) {
        struct ps_buf b;
        ps_buf_init(&b);
        for (int i = 0; i < ps_features_n_columns(); i++)
            if (ps_features_column_is_numeric(i))
                ps_buf_printf(&b, "%s%s", b.len ? "," : "", ps_features_column_name(i));
        *cols_owned = b.data;
        sp->columns = b.data;
    } else if (strcmp(cols, "default") == 0) {
        sp->columns = NULL;
    } else {
        sp->columns = cols;
    }
    return PS_OK;
}

static int run_segment(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    (void)arg;
    struct ps_segment_params sp = ps_segment_default_params();
    char *cols = NULL;
    int rc = read_segment_params(r, &sp, &cols, err);
    if (rc) {
        free(cols);
        return rc;
    }
    char *fcsv = join(r->ws, "features.csv"), *dir = join(r->ws, "segment");
    struct ps_ftable t;
    memset(&t, 0, sizeof t);
    rc = ps_ftable_load(&t, fcsv, err);
    if (!rc) {
        struct ps_segment_result res;
        rc = ps_segment_fit(&t, &sp, r->pool, &res, err);
        if (!rc) {
            rc = ps_segment_write(&t, &res, dir, err);
            st->rows_in = (int64_t)t.n_rows;
            st->rows_out = res.model.k;
            snprintf(st->note, sizeof st->note, "k = %d over %d columns, silhouette %.3f",
                     res.model.k, res.model.d, res.silhouette);
            ps_segment_result_release(&res);
        }
        ps_ftable_release(&t);
    }
    free(fcsv);
    free(dir);
    free(cols);
    return rc;
}

/* ---- topics ---- */

struct topics_opts {
    struct ps_lda_params lp;
    struct ps_vocab_params vp;
    struct ps_textprep_params tp;
    char **kinds;
    int n_kinds;
};

static int read_topics_params(struct run *r, struct topics_opts *o, struct ps_err *err)
{
    struct ps_config *c = r->cfg;
    long k = 10, iters = 100, seed = (long)r->seed, min_df = 5, max_vocab = 50000;
    double alpha = -1, beta = 0.01, max_df = 0.5;
    const char *lang = "auto", *kinds = NULL;
    o->lp = ps_lda_default_params();
    o->vp = ps_vocab_default_params();
    o->tp = ps_textprep_default_params();
    if (ps_config_long(c, "topics", "k", 1, 10000, &k, err) ||
        ps_config_long(c, "topics", "iters", 1, 100000, &iters, err) ||
        ps_config_long(c, "topics", "seed", 0, 0x7fffffffL, &seed, err) ||
        ps_config_long(c, "topics", "min_df", 1, 1000000000L, &min_df, err) ||
        ps_config_long(c, "topics", "max_vocab", 0, 100000000L, &max_vocab, err) ||
        ps_config_double(c, "topics", "alpha", 1e-6, 1e6, &alpha, err) ||
        ps_config_double(c, "topics", "beta", 1e-9, 1e6, &beta, err) ||
        ps_config_double(c, "topics", "max_df", 1e-9, 1, &max_df, err) ||
        ps_config_str(c, "topics", "lang", &lang, err) ||
        ps_config_str(c, "topics", "kinds", &kinds, err))
        return err->status;
    if (ps_lang_parse(lang, &o->tp.lang) != 0)
        return ps_config_value_error(c, "topics", "lang", err, PS_ERR_BAD_INPUT,
                                     "expected auto, zh or en, got \"%s\"", lang);
    o->lp.k = (int)k;
    o->lp.iters = (int)iters;
    o->lp.seed = (uint64_t)seed;
    if (alpha > 0)
        o->lp.alpha = alpha;
    o->lp.beta = beta;
    o->vp.min_df = (uint32_t)min_df;
    o->vp.max_df = max_df;
    o->vp.max_vocab = (uint32_t)max_vocab;
    o->lp.prep.lang = (int32_t)o->tp.lang;
    o->lp.prep.min_word_len = o->tp.min_word_len;
    o->lp.prep.min_han_len = o->tp.min_han_len;
    o->lp.prep.keep_numbers = o->tp.keep_numbers;
    o->lp.prep.min_df = o->vp.min_df;
    o->lp.prep.max_df = o->vp.max_df;
    o->lp.prep.max_vocab = o->vp.max_vocab;
    o->n_kinds = split_list(kinds, ',', &o->kinds);
    return ps_lda_check_params(&o->lp, err) ? ps_config_value_error(c, "topics", "k", err,
                                                                     PS_ERR_BAD_INPUT, "%s", err->msg)
                                            : PS_OK;
}

static void add_word(const char *w, size_t len, void *ud) { ps_corpus_builder_add(ud, w, len); }

static int write_matrix(const char *npy, const float *X, size_t rows, int cols, const char *prefix,
                        const struct ps_strmap *ids, struct ps_err *err)
{
    size_t l = strlen(npy);
    char *base = ps_xstrndup(npy, l - 4);
    struct ps_buf p;
    ps_buf_init(&p);
    struct ps_afile f;
    ps_buf_printf(&p, "%s.ids.txt", base);
    int rc = ps_afile_open(&f, p.data, err);
    if (!rc) {
        for (size_t i = 0; i < rows; i++)
            fprintf(f.fp, "%s\n", ps_strmap_key(ids, (uint32_t)i, NULL));
        rc = ps_afile_commit(&f, err);
    }
    if (!rc) {
        ps_buf_reset(&p);
        ps_buf_printf(&p, "%s.json", base);
        rc = ps_afile_open(&f, p.data, err);
    }
    if (!rc) {
        const char *slash = strrchr(base, '/');
        fputs("{\"columns\": [", f.fp);
        for (int j = 0; j < cols; j++)
            fprintf(f.fp, "%s\"%s_%d\"", j ? ", " : "", prefix, j);
        fprintf(f.fp, "], \"rows\": %zu, \"ids\": \"%s.ids.txt\"}\n", rows, slash ? slash + 1 : base);
        rc = ps_afile_commit(&f, err);
    }
    /* The matrix last: its presence means the sidecars are complete. */
    if (!rc)
        rc = ps_npy_write_f32(npy, X, rows, (size_t)cols, err);
    ps_buf_release(&p);
    free(base);
    return rc;
}

static int run_topics(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    (void)arg;
    struct topics_opts o;
    int rc = read_topics_params(r, &o, err);
    char *texts = join(r->ws, "clean/texts.csv"), *dir = join(r->ws, "topics");
    char *model = join(r->ws, "topics/model.lda"), *npy = join(r->ws, "topics/user_topics.npy");
    struct ps_textprep *tp = NULL;
    struct ps_textprep_worker *w = NULL;
    struct ps_corpus_builder *b = ps_corpus_builder_new();
    struct ps_corpus c;
    memset(&c, 0, sizeof c);
    struct ps_strmap *users = ps_strmap_new();
    uint32_t *doc_user = NULL;
    size_t n_docs = 0, cap = 0;
    struct ps_lda *m = NULL;
    float *theta = NULL, *mix_ = NULL;
    struct ps_reader *rd = NULL;
    if (!rc)
        rc = make_dir(dir, err);
    if (!rc)
        rc = ps_textprep_new(&tp, &o.tp, err);
    if (!rc) {
        w = ps_textprep_worker_new(tp);
        struct ps_reader_params rp = ps_reader_default_params();
        rc = ps_reader_open(&rd, texts, &rp, err);
    }
    int ucol = -1, tcol = -1, kcol = -1;
    if (!rc) {
        ucol = ps_reader_column_index(rd, "user_id");
        tcol = ps_reader_column_index(rd, "text");
        kcol = ps_reader_column_index(rd, "kind");
        if (ucol < 0 || tcol < 0)
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: needs columns user_id and text", texts);
    }
    long n_rows = 0;
    while (!rc) {
        int s = ps_reader_next(rd);
        if (s == PS_DONE)
            break;
        if (s != PS_OK) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(rd));
            break;
        }
        n_rows++;
        size_t ul, tl, kl = 0;
        const char *u = ps_reader_field(rd, ucol, &ul), *t = ps_reader_field(rd, tcol, &tl);
        const char *kind = kcol >= 0 ? ps_reader_field(rd, kcol, &kl) : NULL;
        if (!u || !t)
            continue;
        if (o.n_kinds) {
            int keep = 0;
            for (int i = 0; i < o.n_kinds && !keep; i++)
                keep = kind && strlen(o.kinds[i]) == kl && memcmp(o.kinds[i], kind, kl) == 0;
            if (!keep)
                continue;
        }
        rc = ps_textprep_words(w, t, tl, add_word, b, err);
        if (rc) {
            ps_err_prefix(err, "%s:%ld", texts, ps_reader_line(rd));
            break;
        }
        ps_corpus_builder_end_doc(b);
        doc_user = ps_xgrow(doc_user, &cap, n_docs + 1, sizeof *doc_user);
        doc_user[n_docs++] = ps_strmap_intern(users, u, ul, NULL);
    }
    if (!rc)
        rc = ps_corpus_builder_finish(b, &o.vp, &c, err);
    if (!rc) {
        theta = ps_xmalloc((size_t)c.n_docs * (size_t)o.lp.k * sizeof *theta);
        rc = ps_lda_fit(&m, &c, &o.lp, r->pool, NULL, NULL, theta, err);
    }
    if (!rc)
        rc = ps_lda_save(m, model, err);
    if (!rc) {
        /* User mix: sum_d L_d theta_d / sum_d L_d (docs/topics.md). */
        int K = o.lp.k;
        size_t nu = ps_strmap_count(users);
        double *acc = ps_xcalloc(nu * (size_t)K, sizeof *acc), *len = ps_xcalloc(nu, sizeof *len);
        for (size_t d = 0; d < c.n_docs; d++) {
            double L = (double)(c.doc_off[d + 1] - c.doc_off[d]);
            uint32_t u = doc_user[d];
            len[u] += L;
            for (int k = 0; k < K; k++)
                acc[(size_t)u * K + k] += L * theta[d * (size_t)K + k];
        }
        mix_ = ps_xmalloc(nu * (size_t)K * sizeof *mix_);
        long with = 0;
        for (size_t u = 0; u < nu; u++) {
            with += len[u] > 0;
            for (int k = 0; k < K; k++)
                mix_[u * K + k] = len[u] > 0 ? (float)(acc[u * K + k] / len[u]) : NAN;
        }
        free(acc);
        free(len);
        rc = write_matrix(npy, mix_, nu, K, "topic", users, err);
        st->rows_in = n_rows;
        st->rows_out = (int64_t)nu;
        snprintf(st->note, sizeof st->note, "k = %d, %u words, %llu tokens, %ld users with words", K,
                 c.n_words, (unsigned long long)c.n_tokens, with);
    }
    if (rd)
        ps_reader_close(rd);
    ps_corpus_builder_free(b);
    ps_corpus_release(&c);
    ps_textprep_worker_free(w);
    ps_textprep_free(tp);
    ps_strmap_free(users);
    ps_lda_free(m);
    free(doc_user);
    free(theta);
    free(mix_);
    free_list(o.kinds, o.n_kinds);
    free(texts);
    free(dir);
    free(model);
    free(npy);
    return rc;
}

/* ---- text vectors ---- */

/* Finds the built-in model: $PERSONA_MODELS/persona-small when that
 * variable is set (and nowhere else), else under the config's folder, the
 * current folder, then beside the executable. */
static char *find_builtin_model(struct run *r)
{
    const char *rel = "models/persona-small";
    const char *env = getenv("PERSONA_MODELS");
    if (env) {
        char *dir = join(env, "persona-small"), *cj = join(dir, "config.json");
        int ok_model = exists(cj);
        free(cj);
        if (ok_model)
            return dir;
        free(dir);
        return NULL;
    }
    char *cands[3];
    cands[0] = join(ps_config_dir(r->cfg), rel);
    cands[1] = ps_xstrdup(rel);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cands[2] = NULL;
    if (n > 0) {
        exe[n] = '\0';
        char *sl = strrchr(exe, '/');
        if (sl) {
            *sl = '\0';
            struct ps_buf b;
            ps_buf_init(&b);
            ps_buf_printf(&b, "%s/../%s", exe, rel);
            cands[2] = b.data;
        }
    }
    char *found = NULL;
    for (int i = 0; i < 3; i++) {
        if (!found && cands[i]) {
            char *cfgj = join(cands[i], "config.json");
            if (exists(cfgj))
                found = ps_xstrdup(cands[i]);
            free(cfgj);
        }
        free(cands[i]);
    }
    return found;
}

static int run_vectors_off(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    (void)r;
    (void)err;
    st->disabled = 1;
    snprintf(st->note, sizeof st->note, "%s", (const char *)arg);
    return PS_OK;
}

struct vectors_arg {
    const char *model;
    enum ps_lm_pool pool;
    int normalize;
    long max_tokens, batch;
};

static int run_vectors(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    struct vectors_arg *a = arg;
    char *texts = join(r->ws, "clean/texts.csv"), *out = join(r->ws, "vectors.npy");
    struct ps__vectors_params vp = {a->model, texts, out, a->pool, a->normalize, (int)a->max_tokens,
                                    (int)a->batch};
    long n_texts, n_users, n_bad;
    int dim = 0;
    int rc = ps__vectors_run(&vp, r->pool, &n_texts, &n_users, &n_bad, &dim, err);
    if (!rc) {
        st->rows_in = n_texts + n_bad;
        st->rows_out = n_users;
        snprintf(st->note, sizeof st->note, "%d-dim %s-pooled vectors from \"%.150s\"%s, %ld texts "
                 "skipped (no tokens)", dim, ps_lm_pool_name(a->pool), a->model,
                 a->normalize ? ", normalised" : "", n_bad);
    }
    free(texts);
    free(out);
    return rc;
}

/* ---- profiles and report ---- */

struct profile_arg {
    int have_topics, have_users, have_texts, have_vectors;
};

static int read_profile_thresholds(struct run *r, struct ps_profile_params *pp, struct ps_err *err)
{
    struct ps_config *c = r->cfg;
    if (ps_config_double(c, "profile", "active_days", 0, 1e6, &pp->life.active_max_recency_days, err) ||
        ps_config_double(c, "profile", "dormant_days", 0, 1e6, &pp->life.dormant_max_recency_days, err) ||
        ps_config_double(c, "profile", "new_days", 0, 1e6, &pp->life.new_max_tenure_days, err) ||
        ps_config_double(c, "profile", "price_high_below", 1e-6, 1e6, &pp->price.high_below_level, err) ||
        ps_config_double(c, "profile", "price_low_above", 1e-6, 1e6, &pp->price.low_above_level, err))
        return err->status;
    if (ps_lifecycle_check_params(&pp->life, err))
        return ps_config_value_error(c, "profile", "active_days", err, PS_ERR_BAD_INPUT, "%s", err->msg);
    if (ps_price_check_params(&pp->price, err))
        return ps_config_value_error(c, "profile", "price_high_below", err, PS_ERR_BAD_INPUT, "%s",
                                     err->msg);
    return PS_OK;
}

static int run_profiles(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    struct profile_arg *a = arg;
    struct ps_profile_params pp = ps_profile_default_params();
    long top_topics = pp.top_topics, top_words = pp.top_words, n_ex = pp.n_examples;
    if (ps_config_long(r->cfg, "profile", "top_topics", 0, 100, &top_topics, err) ||
        ps_config_long(r->cfg, "profile", "top_words", 1, 100, &top_words, err) ||
        ps_config_long(r->cfg, "profile", "examples", 0, 100, &n_ex, err) ||
        ps_config_double(r->cfg, "profile", "topic_tag_min", 0, 1, &pp.topic_tag_min, err) ||
        ps_config_str(r->cfg, "profile", "lang", &pp.lang, err) ||
        read_profile_thresholds(r, &pp, err))
        return err->status;
    pp.top_topics = (int)top_topics;
    pp.top_words = (int)top_words;
    pp.n_examples = (int)n_ex;
    char *f = join(r->ws, "features.csv"), *m = join(r->ws, "segment/model.psm");
    char *ut = join(r->ws, "topics/user_topics.npy"), *tm = join(r->ws, "topics/model.lda");
    char *uc = join(r->ws, "clean/users.csv"), *tc = join(r->ws, "clean/texts.csv");
    char *vec = join(r->ws, "vectors.npy");
    pp.features_csv = f;
    pp.segment_model = m;
    pp.user_topics = a->have_topics ? ut : NULL;
    pp.topics_model = a->have_topics ? tm : NULL;
    pp.users_csv = a->have_users ? uc : NULL;
    pp.texts_csv = a->have_texts ? tc : NULL;
    pp.vectors = a->have_vectors ? vec : NULL;
    pp.tag_rules = ps_config_raw(r->cfg, "tags");
    pp.tag_rules_name = ps_config_name(r->cfg);
    struct ps_profile_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = ps_profile_build(&pp, r->pool, r->store, r->res->run_id, &sum, err);
    if (!rc) {
        r->snapshot_from_key = r->res->run_id;
        st->rows_in = sum.n_users;
        st->rows_out = sum.n_users;
        snprintf(st->note, sizeof st->note, "snapshot %lld: %ld segments, %ld topics, %ld tags "
                 "(%ld from tag rules)", (long long)r->res->run_id, sum.n_segments, sum.n_topics,
                 sum.n_tags, sum.n_rule_tags);
    }
    free(f);
    free(m);
    free(ut);
    free(tm);
    free(uc);
    free(tc);
    free(vec);
    return rc;
}

/* ---- evaluate: offline recommendation metrics (recommend.h) ---- */

struct eval_opts {
    int enabled;
    int auto_split;            /* 1: split_at = auto */
    int64_t split_at;
    struct ps_eval_params ep;
    char ks[64];               /* the cutoffs as text */
};

static int read_evaluate_params(struct run *r, struct eval_opts *o, struct ps_err *err)
{
    memset(o, 0, sizeof *o);
    o->enabled = ps_config_has_section(r->cfg, "evaluate");
    o->auto_split = 1;
    o->ep.rec = ps_rec_default_params();
    o->ep.als_params = ps_als_default_params();
    o->ep.seed = r->seed;
    o->ep.n_ks = 3;
    o->ep.ks[0] = 5;
    o->ep.ks[1] = 10;
    o->ep.ks[2] = 20;
    const char *split = "auto", *ks = "5,10,20";
    if (ps_config_bool(r->cfg, "evaluate", "enabled", &o->enabled, err) ||
        ps_config_str(r->cfg, "evaluate", "split_at", &split, err) ||
        ps_config_str(r->cfg, "evaluate", "k", &ks, err))
        return err->status;
    if (strcmp(split, "auto") != 0) {
        o->auto_split = 0;
        if (ps_time_parse(split, strlen(split), 0, &o->split_at) != PS_TIME_OK)
            return ps_config_value_error(r->cfg, "evaluate", "split_at", err, PS_ERR_BAD_INPUT,
                                         "expected auto, Unix seconds or an ISO-8601 time, got "
                                         "\"%s\"", split);
    }
    o->ep.n_ks = 0;
    for (const char *c = ks; *c;) {
        char *end;
        long v = strtol(c, &end, 10);
        if (end == c || (*end && *end != ',') || v < 1 || v > 1000 || o->ep.n_ks >= PS_EVAL_MAX_K)
            return ps_config_value_error(r->cfg, "evaluate", "k", err, PS_ERR_BAD_INPUT,
                                         "expected up to %d cutoffs in 1..1000 like 5,10,20, got "
                                         "\"%s\"", PS_EVAL_MAX_K, ks);
        o->ep.ks[o->ep.n_ks++] = (int)v;
        c = *end ? end + 1 : end;
    }
    if (!o->ep.n_ks)
        return ps_config_value_error(r->cfg, "evaluate", "k", err, PS_ERR_BAD_INPUT,
                                     "expected at least one cutoff");
    snprintf(o->ks, sizeof o->ks, "%s", ks);
    return PS_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* split_at = auto: the time of the purchase at rank floor(0.8 n) in time
 * order, so that (ties aside) the last 20% of purchases are the test set. */
static int auto_split(const struct ps_interactions *x, int64_t *out, struct ps_err *err)
{
    size_t n = 0;
    for (size_t e = 0; e < x->n; e++)
        n += x->kind[e] == PS_EV_PURCHASE;
    if (n < 2)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "split_at = auto needs purchases, the events "
                          "have %zu", n);
    int64_t *t = ps_xmalloc(n * sizeof *t);
    size_t k = 0;
    for (size_t e = 0; e < x->n; e++)
        if (x->kind[e] == PS_EV_PURCHASE)
            t[k++] = x->ts[e];
    qsort(t, n, sizeof *t, cmp_i64);
    *out = t[(size_t)(0.8 * (double)n)];
    free(t);
    return PS_OK;
}

struct eval_arg {
    int have_texts, have_items;
};

static int run_evaluate(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    struct eval_arg *a = arg;
    struct eval_opts o;
    int rc = read_evaluate_params(r, &o, err);
    if (rc)
        return rc;
    char *ev = join(r->ws, "clean/events.csv"), *tx = join(r->ws, "clean/texts.csv");
    char *it = join(r->ws, "clean/items.csv"), *mo = join(r->ws, "segment/model.psm");
    struct ps_interactions x;
    struct ps_eval_result res;
    ps_interactions_init(&x);
    double t0 = ps_now();
    /* The same inputs as `persona evaluate recommend --workspace W`:
     * texts and items when present, segments as of the split. */
    if ((rc = ps_interactions_load_events(&x, ev, err)) ||
        (a->have_texts && (rc = ps_interactions_load_texts(&x, tx, err))) ||
        (a->have_items && (rc = ps_interactions_load_items(&x, it, err))))
        goto done;
    if (o.auto_split && (rc = auto_split(&x, &o.split_at, err)))
        goto done;
    o.ep.split_at = o.split_at;
    if ((rc = ps_interactions_segments_at(&x, ev, o.split_at, mo, r->pool, err)) ||
        (rc = ps_evaluate_recommend(&x, &o.ep, r->pool, &res, err)))
        goto done;
    struct ps_store_eval se = {o.split_at, o.ks, (int64_t)res.n_train_events,
                               (int64_t)res.n_train_users, (int64_t)res.n_test_users,
                               (int64_t)res.n_test_purchases, (int64_t)res.n_catalogue,
                               ps_now() - t0};
    static const char *const mnames[] = {"precision", "recall", "ndcg", "map", "hit_rate",
                                         "coverage", "novelty"};
    if ((rc = ps_store_begin(r->store, err)))
        goto done;
    rc = ps_store_eval_put(r->store, r->res->run_id, &se, err);
    for (int m = 0; m < res.n_methods && !rc; m++)
        for (int ki = 0; ki < o.ep.n_ks && !rc; ki++) {
            const struct ps_metrics_result *q = &res.m[m][ki];
            double v[7] = {q->mean.precision, q->mean.recall, q->mean.ndcg, q->mean.ap,
                           q->mean.hit, q->coverage, q->novelty};
            for (int mi = 0; mi < 7 && !rc; mi++) {
                char name[48];
                snprintf(name, sizeof name, "%s@%d", mnames[mi], o.ep.ks[ki]);
                rc = ps_store_eval_metric_put(r->store, r->res->run_id, ps_eval_method_name(m),
                                              name, v[mi], err);
            }
        }
    if (rc) {
        ps_store_rollback(r->store);
        goto done;
    }
    if ((rc = ps_store_commit(r->store, err)))
        goto done;
    r->eval_from_key = r->res->run_id;
    st->rows_in = (int64_t)res.n_train_events;
    st->rows_out = (int64_t)res.n_test_users;
    {
        char when[32];
        time_t tt = (time_t)o.split_at;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        int k10 = 0;
        for (int ki = 0; ki < o.ep.n_ks; ki++)
            if (o.ep.ks[ki] == 10)
                k10 = ki;
        snprintf(st->note, sizeof st->note, "split %s%s: NDCG@%d hybrid %.4f, popular %.4f, "
                 "random %.4f (%zu test users)", when, o.auto_split ? " (auto)" : "",
                 o.ep.ks[k10], res.m[PS_EVAL_HYBRID][k10].mean.ndcg,
                 res.m[PS_EVAL_POPULAR][k10].mean.ndcg, res.m[PS_EVAL_RANDOM][k10].mean.ndcg,
                 res.n_test_users);
    }
done:
    ps_interactions_release(&x);
    free(ev);
    free(tx);
    free(it);
    free(mo);
    return rc;
}

static int run_report(struct run *r, void *arg, struct ps_run_stage *st, struct ps_err *err)
{
    (void)arg;
    struct ps_report_params rp = ps_report_default_params();
    long maxp = rp.max_points;
    if (ps_config_str(r->cfg, "report", "title", &rp.title, err) ||
        ps_config_long(r->cfg, "report", "max_points", 0, 1000000, &maxp, err))
        return err->status;
    rp.max_points = (int)maxp;
    char *f = join(r->ws, "features.csv"), *m = join(r->ws, "segment/model.psm");
    char *out = join(r->ws, "report.html");
    rp.features_csv = f;
    rp.segment_model = m;
    rp.eval_run = r->eval_from_key;
    int rc = ps_report_write(&rp, r->store, r->res->snapshot, r->res->previous, r->pool, out, err);
    if (!rc)
        snprintf(st->note, sizeof st->note, "%s", out);
    free(f);
    free(m);
    free(out);
    return rc;
}

/* Removes temporary files ("<name>.tmp.<pid>", afile.h) that a killed run
 * left in the workspace folders.  Safe because the workspace is locked. */
static void remove_stale_temps(const char *ws)
{
    const char *subs[] = {"", "clean", "segment", "topics", "stages", NULL};
    for (int i = 0; subs[i]; i++) {
        char *dir = *subs[i] ? join(ws, subs[i]) : ps_xstrdup(ws);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            const char *t = strstr(e->d_name, ".tmp.");
            if (!t || !t[5] || strspn(t + 5, "0123456789") != strlen(t + 5))
                continue;
            char *f = join(dir, e->d_name);
            if (unlink(f) == 0)
                ps_log(PS_LOG_INFO, "run: removed %s (left by an interrupted run)", f);
            free(f);
        }
        if (d)
            closedir(d);
        free(dir);
    }
}

/* ---- the run ---- */

struct ps_run_params ps_run_default_params(void)
{
    struct ps_run_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static const char *const KNOWN_SECTIONS[] = {
    "run", "input.events", "input.texts", "input.items", "input.users", "features", "segment",
    "topics", "embed", "profile", "evaluate", "report", "tags", NULL};

int ps_run(const struct ps_run_params *p, struct ps_run_result *res, struct ps_err *err)
{
    struct run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    r.p = p;
    r.res = res;
    double t0 = ps_now();
    struct input in[4];
    memset(in, 0, sizeof in);
    int lock_fd = -1;
    int rc = ps_config_load(&r.cfg, p->config_path, err);
    if (rc)
        return rc;

    /* [run] */
    const char *ws = "workspace";
    long threads = 0, seed = 42;
    if ((rc = ps_config_str(r.cfg, "run", "workspace", &ws, err)) ||
        (rc = ps_config_long(r.cfg, "run", "threads", 0, 4096, &threads, err)) ||
        (rc = ps_config_long(r.cfg, "run", "seed", 0, 0x7fffffffL, &seed, err)))
        goto done;
    r.ws = p->workspace ? ps_xstrdup(p->workspace) : join(ps_config_dir(r.cfg), ws);
    snprintf(res->workspace, sizeof res->workspace, "%s", r.ws);
    r.n_threads = p->n_threads > 0 ? p->n_threads : threads > 0 ? (int)threads : ps_n_cpus();
    r.seed = (uint64_t)seed;

    /* Inputs. */
    for (int t = 0; t < 4; t++) {
        snprintf(in[t].section, sizeof in[t].section, "input.%s", TABLES[t]);
        const char *path = ps_config_get(r.cfg, in[t].section, "path");
        if (!path) {
            if (ps_config_has_section(r.cfg, in[t].section)) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: section [%s] has no \"path\"",
                                ps_config_name(r.cfg), in[t].section);
                goto done;
            }
            continue;
        }
        if ((rc = expand_paths(&r, in[t].section, path, &in[t], err)))
            goto done;
        in[t].present = 1;
    }
    if (!in[0].present) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no [input.events] section with a \"path\" "
                        "(the events table is required)", ps_config_name(r.cfg));
        goto done;
    }

    /* Check every option up front: a typo fails before any work.  The
     * stage functions read the same keys again (cheap). */
    {
        struct ps_clean_params cp;
        char **missing = NULL;
        for (int t = 0; t < 4; t++) {
            if (!in[t].present)
                continue;
            cp = ps_clean_default_params();
            cp.schema = (enum ps_schema)t;
            cp.inputs = (const char *const *)in[t].paths;
            cp.n_inputs = in[t].n_paths;
            cp.out_path = "-";
            rc = read_clean_params(&r, in[t].section, &cp, &missing, err);
            if (!rc && ps_clean_check_params(&cp, err))
                rc = ps_err_prefix(err, "%s: [%s]", ps_config_name(r.cfg), in[t].section);
            free_list(missing, cp.n_missing);
            if (rc)
                goto done;
        }
        features_options(&r);
        struct ps_segment_params sp = ps_segment_default_params();
        char *cols = NULL;
        rc = read_segment_params(&r, &sp, &cols, err);
        free(cols);
        if (rc)
            goto done;
    }
    int topics_on = in[1].present;
    if ((rc = ps_config_bool(r.cfg, "topics", "enabled", &topics_on, err)))
        goto done;
    if (topics_on && !in[1].present) {
        rc = ps_config_value_error(r.cfg, "topics", "enabled", err, PS_ERR_BAD_INPUT,
                                   "topics need a texts table ([input.texts])");
        goto done;
    }
    struct topics_opts to;
    if (topics_on) {
        if ((rc = read_topics_params(&r, &to, err)))
            goto done;
        free_list(to.kinds, to.n_kinds);
    } else {
        /* Mark the section's keys used: switched off, their values do not matter. */
        static const char *const tk[] = {"k", "iters", "seed", "min_df", "max_vocab", "alpha",
                                         "beta", "max_df", "lang", "kinds", NULL};
        for (int i = 0; tk[i]; i++)
            ps_config_get(r.cfg, "topics", tk[i]);
    }
    const char *embed_model = "auto", *pooling = "mean";
    struct vectors_arg va;
    memset(&va, 0, sizeof va);
    va.batch = 16;
    int pool_kind;
    if ((rc = ps_config_str(r.cfg, "embed", "model", &embed_model, err)) ||
        (rc = ps_config_str(r.cfg, "embed", "pooling", &pooling, err)) ||
        (rc = ps_config_bool(r.cfg, "embed", "normalize", &va.normalize, err)) ||
        (rc = ps_config_long(r.cfg, "embed", "max_tokens", 0, 1000000, &va.max_tokens, err)) ||
        (rc = ps_config_long(r.cfg, "embed", "batch", 1, 4096, &va.batch, err)))
        goto done;
    if ((pool_kind = ps_lm_pool_parse(pooling)) < 0) {
        rc = ps_config_value_error(r.cfg, "embed", "pooling", err, PS_ERR_BAD_INPUT,
                                   "expected mean, cls or last, got \"%s\"", pooling);
        goto done;
    }
    va.pool = (enum ps_lm_pool)pool_kind;
    if (strcmp(embed_model, "none") != 0 && strcmp(embed_model, "auto") != 0) {
        /* An explicit model must exist: fail before any work. */
        char *model = join(ps_config_dir(r.cfg), embed_model), *cj = join(model, "config.json");
        int ok_model = exists(cj);
        if (!ok_model)
            rc = ps_config_value_error(r.cfg, "embed", "model", err, PS_ERR_IO,
                                       "no checkpoint at \"%s\" (config.json missing)", model);
        free(model);
        free(cj);
        if (rc)
            goto done;
    }
    {
        struct ps_profile_params pp = ps_profile_default_params();
        long v;
        double d;
        const char *s;
        if ((rc = read_profile_thresholds(&r, &pp, err)))
            goto done;
        if ((rc = ps_config_long(r.cfg, "profile", "top_topics", 0, 100, &v, err)) ||
            (rc = ps_config_long(r.cfg, "profile", "top_words", 1, 100, &v, err)) ||
            (rc = ps_config_long(r.cfg, "profile", "examples", 0, 100, &v, err)) ||
            (rc = ps_config_double(r.cfg, "profile", "topic_tag_min", 0, 1, &d, err)) ||
            (rc = ps_config_str(r.cfg, "profile", "lang", &s, err)) ||
            (rc = ps_config_str(r.cfg, "report", "title", &s, err)) ||
            (rc = ps_config_long(r.cfg, "report", "max_points", 0, 1000000, &v, err)))
            goto done;
    }
    struct eval_opts eo;
    if ((rc = read_evaluate_params(&r, &eo, err)))
        goto done;
    if ((rc = ps_config_check_unused(r.cfg, KNOWN_SECTIONS, err)))
        goto done;
    const char *rules_src = ps_config_raw(r.cfg, "tags");
    if (rules_src) {
        /* Syntax now; field names are checked when the profiles exist. */
        struct ps_tagrules *rs = NULL;
        rc = ps_tagrules_parse(rules_src, strlen(rules_src), ps_config_name(r.cfg), &rs, err);
        ps_tagrules_free(rs);
        if (rc)
            goto done;
    }

    /* Workspace (locked for this run) and store. */
    if ((rc = make_dir(r.ws, err)))
        goto done;
    {
        char *lk = join(r.ws, ".lock");
        lock_fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (lock_fd < 0) {
            rc = ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", lk, strerror(errno));
        } else if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
            rc = ps_err_set(err, PS_ERR_IO, "workspace \"%s\" is in use by another persona run", r.ws);
        }
        free(lk);
        if (rc)
            goto done;
    }
    remove_stale_temps(r.ws);
    {
        const char *subs[] = {"clean", "stages", "segment", "topics", NULL};
        for (int i = 0; subs[i]; i++) {
            char *d = join(r.ws, subs[i]);
            rc = make_dir(d, err);
            free(d);
            if (rc)
                goto done;
        }
    }
    {
        char *db = join(r.ws, "persona.db");
        rc = ps_store_open(&r.store, db, err);
        free(db);
        if (rc)
            goto done;
    }
    uint64_t cfg_hash = 0;
    for (int i = 0; KNOWN_SECTIONS[i]; i++)
        cfg_hash = mix(cfg_hash, ps_config_section_hash(r.cfg, KNOWN_SECTIONS[i]));
    if ((rc = ps_store_run_begin(r.store, ps_config_name(r.cfg), cfg_hash, &res->run_id, err)))
        goto done;
    ps_log(PS_LOG_INFO, "run %lld: %s -> %s (%d threads)", (long long)res->run_id,
           ps_config_name(r.cfg), r.ws, r.n_threads);
    r.pool = ps_pool_new(r.n_threads);
    ps_set_blas_threads(r.n_threads);

    /* clean.<table> */
    for (int t = 0; t < 4 && !rc; t++) {
        if (!in[t].present)
            continue;
        uint64_t k = ps_config_section_hash(r.cfg, in[t].section);
        for (int i = 0; i < in[t].n_paths; i++)
            k = file_key(k, in[t].paths[i]);
        in[t].key = k;
        char name[32], o1[64], o2[64];
        snprintf(name, sizeof name, "clean.%s", TABLES[t]);
        snprintf(o1, sizeof o1, "clean/%s.csv", TABLES[t]);
        snprintf(o2, sizeof o2, "clean/%s.quarantine.csv", TABLES[t]);
        const char *outs[] = {o1, o2, NULL};
        struct clean_arg ca = {&in[t], (enum ps_schema)t};
        rc = stage(&r, name, k, outs, run_clean, &ca, err);
    }
    if (!rc && rules_src) {
        /* Field names and kinds now that the users table is clean: an
         * unknown field fails before features, segments and topics. */
        struct ps_profile_params pp = ps_profile_default_params();
        char *uc = join(r.ws, "clean/users.csv");
        long kt_ = 10;
        ps_config_long(r.cfg, "topics", "k", 1, 10000, &kt_, err);
        pp.tag_rules = rules_src;
        pp.tag_rules_name = ps_config_name(r.cfg);
        pp.users_csv = in[3].present ? uc : NULL;
        rc = ps_profile_check_rules(&pp, topics_on ? (int)kt_ : 0, err);
        free(uc);
    }
    uint64_t kf = mix(ps_config_section_hash(r.cfg, "features"), in[0].key);
    if (!rc) {
        const char *outs[] = {"features.csv", "features.npy", NULL};
        rc = stage(&r, "features", kf, outs, run_features, NULL, err);
    }
    uint64_t ks = mix(mix(ps_config_section_hash(r.cfg, "segment"), kf), r.seed);
    if (!rc) {
        const char *outs[] = {"segment/model.psm", "segment/labels.csv", NULL};
        rc = stage(&r, "segment", ks, outs, run_segment, NULL, err);
    }
    uint64_t kt = 0;
    if (!rc) {
        kt = mix(mix(ps_config_section_hash(r.cfg, "topics"), in[1].key), r.seed);
        if (topics_on) {
            const char *outs[] = {"topics/model.lda", "topics/user_topics.npy", NULL};
            rc = stage(&r, "topics", kt, outs, run_topics, NULL, err);
        } else {
            rc = stage(&r, "topics", kt, NULL, run_vectors_off,
                       in[1].present ? "switched off ([topics] enabled = false)"
                                     : "skipped: no texts table", err);
            kt = 0;
        }
    }
    int have_vectors = 0;
    uint64_t kv = 0;
    if (!rc) {
        char *model = NULL;
        char note[600];
        note[0] = '\0';
        if (strcmp(embed_model, "none") == 0) {
            snprintf(note, sizeof note, "switched off ([embed] model = none)");
        } else if (!in[1].present) {
            snprintf(note, sizeof note, "skipped: no texts table");
        } else if (strcmp(embed_model, "auto") == 0) {
            model = find_builtin_model(&r);
            if (!model)
                snprintf(note, sizeof note, "skipped: no language model (the built-in "
                         "models/persona-small is not installed; set [embed] model = PATH)");
        } else {
            model = join(ps_config_dir(r.cfg), embed_model);
            char *cj = join(model, "config.json");
            int ok_model = exists(cj);
            free(cj);
            if (!ok_model) {
                rc = ps_config_value_error(r.cfg, "embed", "model", err, PS_ERR_IO,
                                           "no checkpoint at \"%s\" (config.json missing)", model);
                free(model);
                goto done;
            }
        }
        kv = ps_config_section_hash(r.cfg, "embed");
        if (model) {
            /* The model's files and the texts are the inputs. */
            const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt",
                                   "vocab.json", "merges.txt", NULL};
            for (int i = 0; files[i]; i++) {
                char *fp = join(model, files[i]);
                kv = file_key(kv, fp);
                free(fp);
            }
            kv = mix(kv, in[1].key);
            va.model = model;
            const char *outs[] = {"vectors.npy", NULL};
            rc = stage(&r, "vectors", kv, outs, run_vectors, &va, err);
            have_vectors = 1;
        } else {
            kv = ps_hash64(note, strlen(note), kv);
            rc = stage(&r, "vectors", kv, NULL, run_vectors_off, note, err);
        }
        free(model);
    }
    if (!rc) {
        struct profile_arg pa = {topics_on, in[3].present, in[1].present, have_vectors};
        uint64_t kp = mix(mix(mix(mix(ps_config_section_hash(r.cfg, "profile"), ks), kt), kv),
                          mix(in[3].key, in[1].key));
        kp = mix(kp, ps_config_section_hash(r.cfg, "tags"));
        rc = stage(&r, "profiles", kp, NULL, run_profiles, &pa, err);
        res->snapshot = r.snapshot_from_key;
    }
    if (!rc) {
        /* Keyed by its options, the seed and what it reads: the clean
         * events, texts and items and the segment model. */
        uint64_t ke = mix(mix(ps_config_section_hash(r.cfg, "evaluate"), r.seed),
                          mix(mix(in[0].key, in[1].key), mix(in[2].key, ks)));
        if (eo.enabled) {
            struct eval_arg ea = {in[1].present, in[2].present};
            rc = stage(&r, "evaluate", ke, NULL, run_evaluate, &ea, err);
        } else {
            rc = stage(&r, "evaluate", ke, NULL, run_vectors_off,
                       ps_config_has_section(r.cfg, "evaluate")
                           ? "switched off ([evaluate] enabled = false)"
                           : "switched off (no [evaluate] section)", err);
            r.eval_from_key = 0;
        }
    }
    if (!rc) {
        res->previous = ps_store_previous_snapshot(r.store, res->snapshot);
        uint64_t kr = mix(mix(ps_config_section_hash(r.cfg, "report"), (uint64_t)res->snapshot),
                          (uint64_t)res->previous);
        kr = mix(kr, ks);
        /* The evaluation shown and the audiences stored since. */
        kr = mix(mix(kr, (uint64_t)r.eval_from_key), (uint64_t)ps_store_last_audience(r.store));
        const char *outs[] = {"report.html", NULL};
        rc = stage(&r, "report", kr, outs, run_report, NULL, err);
    }

done:
    res->seconds = ps_now() - t0;
    res->peak_rss = ps_peak_rss();
    if (r.store && res->run_id) {
        struct ps_err e2 = {0};
        if (ps_store_run_end(r.store, res->run_id, rc ? "failed" : "ok", rc ? 0 : res->snapshot,
                             res->seconds, res->peak_rss, &e2))
            ps_log(PS_LOG_WARN, "%s", e2.msg);
    }
    for (int t = 0; t < 4; t++)
        free_list(in[t].paths, in[t].n_paths);
    ps_pool_free(r.pool);
    ps_store_close(r.store);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    ps_config_free(r.cfg);
    free(r.ws);
    return rc;
}
