/*
 * audience.c - audience selection by a tag-rule condition, stratified
 * hash-based holdout, offers by rules, CSV export; and the demo outcome
 * simulator (audience.h).
 *
 * The profile table is read whole (one row per user; a few columns) and
 * handed to the tag-rule evaluator as a column-oriented view.
 */
#include "persona/audience.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/reader.h"
#include "persona/rng.h"
#include "persona/tagrule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ps_audience_params ps_audience_default_params(void)
{
    struct ps_audience_params p;
    memset(&p, 0, sizeof p);
    p.holdout = 0.10;
    p.min_size = 100;
    return p;
}

struct table {
    int n_cols;
    char **names;
    size_t n_rows, cap;
    char ***cells;       /* [n_cols][n_rows] owned strings */
    double **num;        /* [n_cols] numeric values or NULL (text column) */
};

static void table_free(struct table *t)
{
    for (int c = 0; c < t->n_cols; c++) {
        for (size_t r = 0; r < t->n_rows; r++)
            free(t->cells[c][r]);
        free(t->cells[c]);
        free(t->names[c]);
        free(t->num[c]);
    }
    free(t->cells);
    free(t->names);
    free(t->num);
}

static int parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !errno && end != s && !*end && isfinite(*v);
}

static int table_read(struct table *t, const char *path, struct ps_err *err)
{
    memset(t, 0, sizeof *t);
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc != PS_OK)
        return rc;
    t->n_cols = ps_reader_n_columns(r);
    t->names = ps_xcalloc((size_t)t->n_cols, sizeof *t->names);
    t->cells = ps_xcalloc((size_t)t->n_cols, sizeof *t->cells);
    t->num = ps_xcalloc((size_t)t->n_cols, sizeof *t->num);
    for (int c = 0; c < t->n_cols; c++)
        t->names[c] = ps_xstrdup(ps_reader_column_name(r, c));
    if (ps_reader_column_index(r, "user_id") != 0) {
        ps_reader_close(r);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: the first column must be \"user_id\"", path);
    }
    while ((rc = ps_reader_next(r)) == PS_OK) {
        if (t->n_rows == t->cap) {
            size_t cap = t->cap;
            for (int c = 0; c < t->n_cols; c++) {
                cap = t->cap;
                t->cells[c] = ps_xgrow(t->cells[c], &cap, t->n_rows + 1, sizeof(char *));
            }
            t->cap = cap;
        }
        for (int c = 0; c < t->n_cols; c++) {
            size_t len;
            const char *v = ps_reader_field(r, c, &len);
            t->cells[c][t->n_rows] = ps_xstrndup(v, len);
        }
        if (!t->cells[0][t->n_rows][0]) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id",
                            ps_reader_name(r), ps_reader_line(r));
            t->n_rows++;
            ps_reader_close(r);
            return rc;
        }
        t->n_rows++;
    }
    if (rc != PS_DONE) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
        ps_reader_close(r);
        return rc;
    }
    ps_reader_close(r);
    /* A column is numeric when every non-empty value is a number. */
    for (int c = 1; c < t->n_cols; c++) {
        double *v = ps_xmalloc((t->n_rows ? t->n_rows : 1) * sizeof *v);
        int ok = 1;
        for (size_t i = 0; i < t->n_rows && ok; i++) {
            const char *s = t->cells[c][i];
            if (!s[0])
                v[i] = NAN;
            else
                ok = parse_num(s, &v[i]);
        }
        if (ok)
            t->num[c] = v;
        else
            free(v);
    }
    return PS_OK;
}

static int find_col(const struct table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->names[c], name) == 0)
            return c;
    return -1;
}

/* Parses "NAME = EXPR" rules from text (a file or one --where line). */
static int eval_rules(const struct table *t, const char *src, size_t len, const char *fname,
                      struct ps_tagrules **rs, uint8_t **mask, struct ps_err *err)
{
    int rc = ps_tagrules_parse(src, len, fname, rs, err);
    if (rc != PS_OK)
        return rc;
    const double **num = ps_xcalloc((size_t)t->n_cols, sizeof *num);
    const char *const **str = ps_xcalloc((size_t)t->n_cols, sizeof *str);
    for (int c = 0; c < t->n_cols; c++) {
        if (t->num[c])
            num[c] = t->num[c];
        else
            str[c] = (const char *const *)t->cells[c];
    }
    struct ps_table_view v = {t->n_rows, t->n_cols, (const char *const *)t->names, num, str};
    size_t n = (size_t)ps_tagrules_count(*rs) * t->n_rows;
    *mask = ps_xmalloc(n ? n : 1);
    rc = ps_tagrules_eval(*rs, &v, *mask, err);
    free(num);
    free(str);
    return rc;
}

struct ranked {
    uint64_t h;
    size_t row;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static void csv_put(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int ps_audience_create(const char *profiles_path, const struct ps_audience_params *p,
                       const char *out_path, struct ps_audience_summary *sum, struct ps_err *err)
{
    memset(sum, 0, sizeof *sum);
    if (!p->name || !p->name[0])
        return ps_err_set(err, PS_ERR_USAGE, "an audience needs a name");
    if (!(p->holdout >= 0 && p->holdout < 1))
        return ps_err_set(err, PS_ERR_USAGE, "holdout must be in [0, 1), got %g", p->holdout);
    struct table t;
    struct ps_tagrules *where = NULL, *offers = NULL;
    uint8_t *wmask = NULL, *omask = NULL, *control = NULL;
    struct ranked *rk = NULL;
    char *src = NULL;
    struct ps_afile af = {0};
    int rc = table_read(&t, profiles_path, err);
    if (rc != PS_OK)
        goto done;
    sum->n_profiles = t.n_rows;
    int strat = -1, score = -1;
    if (p->stratify && (strat = find_col(&t, p->stratify)) < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no column \"%s\" to stratify by",
                        profiles_path, p->stratify);
        goto done;
    }
    if (p->score_column) {
        score = find_col(&t, p->score_column);
        if (score < 0 || !t.num[score]) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no numeric column \"%s\" for the score",
                            profiles_path, p->score_column);
            goto done;
        }
    }
    if (p->where) {
        size_t n = strlen(p->where) + 16;
        src = ps_xmalloc(n);
        snprintf(src, n, "where = %s\n", p->where);
        if ((rc = eval_rules(&t, src, strlen(src), "--where", &where, &wmask, err)) != PS_OK)
            goto done;
    }
    if (p->offer_rules) {
        FILE *f = fopen(p->offer_rules, "rb");
        if (!f) {
            rc = ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", p->offer_rules,
                            strerror(errno));
            goto done;
        }
        struct ps_buf b;
        ps_buf_init(&b);
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (4u << 20))
            ps_buf_append(&b, chunk, got);
        fclose(f);
        rc = eval_rules(&t, b.data, b.len, p->offer_rules, &offers, &omask, err);
        ps_buf_release(&b);
        if (rc != PS_OK)
            goto done;
    }
    rk = ps_xmalloc((t.n_rows ? t.n_rows : 1) * sizeof *rk);
    size_t m = 0;
    for (size_t i = 0; i < t.n_rows; i++)
        if (!wmask || wmask[i]) {
            struct ps_buf key;
            ps_buf_init(&key);
            ps_buf_append(&key, p->name, strlen(p->name) + 1);
            ps_buf_append(&key, t.cells[0][i], strlen(t.cells[0][i]));
            rk[m].h = ps_hash64(key.data, key.len, 0);
            rk[m++].row = i;
            ps_buf_release(&key);
        }
    sum->n_selected = m;
    if (m < p->min_size) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "audience \"%s\" has %zu users, below the minimum "
                        "of %zu", p->name, m, p->min_size);
        goto done;
    }
    /* Strata: group rows by the stratum's text; within each, the lowest
     * hashes are the control group. */
    control = ps_xcalloc(t.n_rows ? t.n_rows : 1, 1);
    {
        struct ps_strmap *sm = ps_strmap_new();
        uint32_t *sid = ps_xmalloc((m ? m : 1) * sizeof *sid);
        for (size_t k = 0; k < m; k++) {
            const char *s = strat >= 0 ? t.cells[strat][rk[k].row] : "";
            sid[k] = ps_strmap_intern(sm, s, strlen(s), NULL);
        }
        uint32_t ns = ps_strmap_count(sm);
        sum->n_strata = (int)ns;
        struct ranked *grp = ps_xmalloc((m ? m : 1) * sizeof *grp);
        for (uint32_t s = 0; s < ns; s++) {
            size_t g = 0;
            for (size_t k = 0; k < m; k++)
                if (sid[k] == s)
                    grp[g++] = rk[k];
            qsort(grp, g, sizeof *grp, cmp_ranked);
            size_t nc = (size_t)llround(p->holdout * (double)g);
            for (size_t k = 0; k < nc; k++)
                control[grp[k].row] = 1;
        }
        free(grp);
        free(sid);
        ps_strmap_free(sm);
    }
    if ((rc = ps_afile_open(&af, out_path, err)) != PS_OK)
        goto done;
    fputs("user_id,group,stratum,offer,score\n", af.fp);
    for (size_t i = 0; i < t.n_rows; i++) {
        if (wmask && !wmask[i])
            continue;
        csv_put(af.fp, t.cells[0][i]);
        fputs(control[i] ? ",control," : ",treatment,", af.fp);
        sum->n_control += control[i];
        sum->n_treatment += !control[i];
        if (strat >= 0)
            csv_put(af.fp, t.cells[strat][i]);
        fputc(',', af.fp);
        if (offers)
            for (int k = 0; k < ps_tagrules_count(offers); k++)
                if (omask[(size_t)k * t.n_rows + i]) {
                    csv_put(af.fp, ps_tagrules_name(offers, k));
                    break;
                }
        fputc(',', af.fp);
        if (score >= 0 && !isnan(t.num[score][i]))
            fprintf(af.fp, "%.9g", t.num[score][i]);
        fputc('\n', af.fp);
    }
    rc = ps_afile_commit(&af, err);
    if (rc != PS_OK)
        ps_afile_abort(&af);
done:
    if (t.names)
        table_free(&t);
    ps_tagrules_free(where);
    ps_tagrules_free(offers);
    free(wmask);
    free(omask);
    free(control);
    free(rk);
    free(src);
    return rc;
}

int ps_audience_simulate(const char *audience_path, double base, double uplift, uint64_t seed,
                         const char *out_path, struct ps_err *err)
{
    if (!(base >= 0 && base + uplift <= 1 && base + uplift >= 0))
        return ps_err_set(err, PS_ERR_USAGE, "conversion rates must stay in [0, 1]: base %g, "
                          "uplift %g", base, uplift);
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    int rc = ps_reader_open(&r, audience_path, &rp, err);
    if (rc != PS_OK)
        return rc;
    int cu = ps_reader_column_index(r, "user_id"), cg = ps_reader_column_index(r, "group");
    if (cu < 0 || cg < 0) {
        ps_reader_close(r);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing column \"%s\"", audience_path,
                          cu < 0 ? "user_id" : "group");
    }
    struct ps_afile af;
    if ((rc = ps_afile_open(&af, out_path, err)) != PS_OK) {
        ps_reader_close(r);
        return rc;
    }
    fputs("user_id,converted,spend\n", af.fp);
    while ((rc = ps_reader_next(r)) == PS_OK) {
        size_t ulen;
        const char *uid = ps_reader_field(r, cu, &ulen);
        const char *g = ps_reader_field(r, cg, NULL);
        int treat = strcmp(g, "treatment") == 0;
        if (!treat && strcmp(g, "control") != 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"group\": expected treatment "
                            "or control, got \"%s\"", ps_reader_name(r), ps_reader_line(r), g);
            break;
        }
        struct ps_rng rng;
        ps_rng_seed(&rng, seed, ps_hash64(uid, ulen, 0));
        int conv = ps_rng_uniform(&rng) < base + (treat ? uplift : 0);
        double spend = conv ? exp(log(80.0) + 0.6 * ps_rng_normal(&rng)) : 0;
        csv_put(af.fp, uid);
        fprintf(af.fp, ",%d,%.2f\n", conv, spend);
    }
    if (rc == PS_DONE)
        rc = ps_afile_commit(&af, err);
    else {
        if (rc != PS_ERR_BAD_INPUT)
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
        ps_afile_abort(&af);
    }
    ps_reader_close(r);
    return rc;
}
