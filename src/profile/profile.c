/*
 * profile.c - the profile snapshot of a run (profile.h, docs/profiles.md).
 * Everything is read back from the workspace files of earlier stages, so
 * this stage never depends on another stage's memory.
 */
#include "persona/profile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/features.h"
#include "persona/lda.h"
#include "persona/npy.h"
#include "persona/reader.h"
#include "persona/segment.h"
#include "persona/store.h"
#include "persona/tagrule.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ps_profile_params ps_profile_default_params(void)
{
    struct ps_profile_params p;
    memset(&p, 0, sizeof p);
    p.lang = "en";
    p.top_topics = 3;
    p.top_words = 8;
    p.n_examples = 3;
    p.topic_tag_min = 0.25;
    p.life = ps_lifecycle_default_params();
    p.price = ps_price_default_params();
    return p;
}

int ps_profile_read_ids(const char *path, char ***ids, size_t *n, struct ps_err *err)
{
    *ids = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, acap = 0;
    ssize_t l;
    while ((l = getline(&line, &cap, f)) >= 0) {
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        *ids = ps_xgrow(*ids, &acap, *n + 1, sizeof **ids);
        (*ids)[(*n)++] = ps_xstrndup(line, (size_t)l);
    }
    free(line);
    fclose(f);
    return PS_OK;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* A matrix with its ids sidecar, indexed by user id. */
struct idmat {
    float *X;
    size_t rows, cols;
    struct ps_strmap *ids;
};

static int idmat_load(struct idmat *m, const char *npy, struct ps_err *err)
{
    memset(m, 0, sizeof *m);
    int rc = ps_npy_read_f32(npy, &m->X, &m->rows, &m->cols, err);
    if (rc)
        return rc;
    size_t l = strlen(npy);
    char *ip = ps_xmalloc(l + 16);
    snprintf(ip, l + 16, "%.*s.ids.txt", (int)(l - 4), npy);
    char **ids;
    size_t n;
    rc = ps_profile_read_ids(ip, &ids, &n, err);
    if (!rc && n != m->rows)
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %zu ids for %zu rows", ip, n, m->rows);
    if (!rc) {
        m->ids = ps_strmap_new();
        for (size_t i = 0; i < n; i++)
            ps_strmap_intern(m->ids, ids[i], strlen(ids[i]), NULL);
    }
    if (!rc)
        free_ids(ids, n);
    free(ip);
    return rc;
}

static void idmat_release(struct idmat *m)
{
    free(m->X);
    ps_strmap_free(m->ids);
    memset(m, 0, sizeof *m);
}

static const float *idmat_row(const struct idmat *m, const char *id)
{
    if (!m->ids)
        return NULL;
    int64_t r = ps_strmap_find(m->ids, id, strlen(id));
    return r < 0 ? NULL : m->X + (size_t)r * m->cols;
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

/* Users table: attributes per user id, as JSON objects of strings. */
static int load_users(const char *path, struct ps_strmap *map, json_t ***attrs, struct ps_err *err)
{
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    int ucol = ps_reader_column_index(r, "user_id");
    if (ucol < 0) {
        ps_reader_close(r);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no column \"user_id\"", path);
    }
    size_t cap = 0;
    for (;;) {
        int s = ps_reader_next(r);
        if (s == PS_DONE)
            break;
        if (s != PS_OK) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
            break;
        }
        size_t ul;
        const char *u = ps_reader_field(r, ucol, &ul);
        if (!u)
            continue;
        int inserted;
        uint32_t id = ps_strmap_intern(map, u, ul, &inserted);
        if (!inserted)
            continue;
        *attrs = ps_xgrow(*attrs, &cap, id + 1, sizeof **attrs);
        json_t *o = json_object();
        for (int c = 0; c < ps_reader_n_columns(r); c++) {
            if (c == ucol)
                continue;
            size_t l;
            const char *v = ps_reader_field(r, c, &l);
            json_object_set_new(o, ps_reader_column_name(r, c), v ? json_stringn(v, l) : json_null());
        }
        (*attrs)[id] = o;
    }
    ps_reader_close(r);
    return rc;
}

/* Example texts per segment: the first short reviews (or any text) of
 * each segment's users, in file order. */
static int load_examples(const char *path, const struct ps_ftable *t, const int32_t *labels, int k,
                         int n_ex, json_t **ex, struct ps_err *err)
{
    struct ps_reader *r;
    struct ps_reader_params rp = ps_reader_default_params();
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    int ucol = ps_reader_column_index(r, "user_id"), tcol = ps_reader_column_index(r, "text");
    int kcol = ps_reader_column_index(r, "kind");
    int need = k * n_ex;
    while (ucol >= 0 && tcol >= 0 && need > 0) {
        int s = ps_reader_next(r);
        if (s == PS_DONE)
            break;
        if (s != PS_OK) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
            break;
        }
        size_t ul, tl, kl = 0;
        const char *u = ps_reader_field(r, ucol, &ul), *tx = ps_reader_field(r, tcol, &tl);
        const char *kind = kcol >= 0 ? ps_reader_field(r, kcol, &kl) : NULL;
        if (!u || !tx || tl < 12 || tl > 160 || memchr(tx, '\n', tl))
            continue;
        if (kind && !(kl == 6 && memcmp(kind, "review", 6) == 0))
            continue;
        int64_t row = ps_strmap_find(t->ids, u, ul);
        if (row < 0)
            continue;
        int seg = labels[row];
        if ((int)json_array_size(ex[seg]) >= n_ex)
            continue;
        json_array_append_new(ex[seg], json_stringn(tx, tl));
        need--;
    }
    ps_reader_close(r);
    return rc;
}

struct count { const char *key; long n; };

static int count_cmp(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->key, y->key);
}

/* A numeric attribute: every non-empty value parses as a number. */
static int attr_numeric(json_t **attrs, uint32_t n, const char *key)
{
    int any = 0;
    for (uint32_t u = 0; u < n; u++) {
        const char *v = json_string_value(json_object_get(attrs[u], key));
        if (!v || !*v)
            continue;
        char *end;
        strtod(v, &end);
        if (*end)
            return 0;
        any = 1;
    }
    return any;
}

/* Builds the column view of every profile field (docs/profiles.md, "Tag
 * rules") and evaluates the rules on it. */
static int eval_rules(const struct ps_profile_params *p, const struct ps_ftable *t,
                      const struct ps_segment_model *m, const int32_t *labels, const float *dist,
                      const struct ps_rfm_score *rfm, const char **tier_s, const char **life_s,
                      const char **price_s, const struct idmat *topics, int K, json_t **attrs,
                      struct ps_strmap *umap, struct ps_tagrules **rules, uint8_t **out,
                      struct ps_err *err)
{
    size_t n = t->n_rows;
    int cap = t->n_cols + 16 + K + 64, nc = 0;
    const char **names = ps_xcalloc((size_t)cap, sizeof *names);
    const double **num = ps_xcalloc((size_t)cap, sizeof *num);
    const char ***str = ps_xcalloc((size_t)cap, sizeof *str);
    double **own_num = ps_xcalloc((size_t)cap, sizeof *own_num);
    const char ***own_str = ps_xcalloc((size_t)cap, sizeof *own_str);
    char **own_names = ps_xcalloc((size_t)cap, sizeof *own_names);
#define NEW_NUM(nm) (names[nc] = (nm), own_num[nc] = ps_xmalloc((n + 1) * sizeof(double)), \
                     num[nc] = own_num[nc], own_num[nc++])
#define NEW_STR(nm) (names[nc] = (nm), own_str[nc] = ps_xcalloc(n + 1, sizeof(char *)), \
                     str[nc] = own_str[nc], own_str[nc++])
    for (int c = 0; c < t->n_cols; c++) {
        if (t->is_text[c]) {
            const char **v = NEW_STR(t->names[c]);
            for (size_t i = 0; i < n; i++)
                v[i] = t->text[c][i] < 0 ? NULL : ps_strmap_key(t->dict[c], (uint32_t)t->text[c][i], NULL);
        } else {
            double *v = NEW_NUM(t->names[c]);
            for (size_t i = 0; i < n; i++)
                v[i] = t->num[i * t->n_cols + c];
        }
    }
    double *seg = NEW_NUM("segment"), *sd = NEW_NUM("segment_distance");
    const char **sn = NEW_STR("segment_name");
    double *rr = NEW_NUM("rfm_r"), *rf = NEW_NUM("rfm_f"), *rm = NEW_NUM("rfm_m");
    const char **ti = NEW_STR("rfm_tier"), **li = NEW_STR("lifecycle"), **pr = NEW_STR("price_sensitivity");
    for (size_t i = 0; i < n; i++) {
        seg[i] = labels[i];
        sd[i] = dist[i];
        sn[i] = m->names[labels[i]];
        rr[i] = tier_s[i] ? rfm[i].r : NAN;
        rf[i] = tier_s[i] ? rfm[i].f : NAN;
        rm[i] = tier_s[i] ? rfm[i].m : NAN;
        ti[i] = tier_s[i];
        li[i] = life_s[i];
        pr[i] = price_s[i];
    }
    for (int q = 0; q < K; q++) {
        char nm[32];
        snprintf(nm, sizeof nm, "topic_%d", q);
        own_names[nc] = ps_xstrdup(nm);
        double *v = NEW_NUM(own_names[nc]);
        for (size_t i = 0; i < n; i++) {
            const float *row = idmat_row(topics, ps_ftable_user(t, i));
            v[i] = row && (int)topics->cols == K ? row[q] : NAN;
        }
    }
    uint32_t nu = ps_strmap_count(umap);
    if (nu) {
        const char *key;
        json_t *val;
        json_object_foreach(attrs[0], key, val) {
            int dup = 0;
            for (int c = 0; c < nc; c++)
                dup |= strcmp(names[c], key) == 0;
            if (dup || nc >= cap)
                continue;
            own_names[nc] = ps_xstrdup(key);
            int isnum = attr_numeric(attrs, nu, key);
            if (isnum) {
                double *v = NEW_NUM(own_names[nc]);
                for (size_t i = 0; i < n; i++) {
                    const char *u = ps_ftable_user(t, i);
                    int64_t a = ps_strmap_find(umap, u, strlen(u));
                    const char *sv = a >= 0 ? json_string_value(json_object_get(attrs[a], key)) : NULL;
                    v[i] = sv && *sv ? strtod(sv, NULL) : NAN;
                }
            } else {
                const char **v = NEW_STR(own_names[nc]);
                for (size_t i = 0; i < n; i++) {
                    const char *u = ps_ftable_user(t, i);
                    int64_t a = ps_strmap_find(umap, u, strlen(u));
                    v[i] = a >= 0 ? json_string_value(json_object_get(attrs[a], key)) : NULL;
                }
            }
        }
    }
#undef NEW_NUM
#undef NEW_STR
    struct ps_table_view view = {n, nc, names, num, (const char *const *const *)str};
    int rc = ps_tagrules_parse(p->tag_rules, strlen(p->tag_rules),
                               p->tag_rules_name ? p->tag_rules_name : "<rules>", rules, err);
    if (!rc) {
        *out = ps_xmalloc((size_t)ps_tagrules_count(*rules) * n + 1);
        rc = ps_tagrules_eval(*rules, &view, *out, err);
    }
    for (int c = 0; c < nc; c++) {
        free(own_num[c]);
        free(own_str[c]);
        free(own_names[c]);
    }
    free(names);
    free(num);
    free(str);
    free(own_num);
    free(own_str);
    free(own_names);
    return rc;
}

int ps_profile_check_rules(const struct ps_profile_params *p, int n_topics, struct ps_err *err)
{
    if (!p->tag_rules)
        return PS_OK;
    struct ps_strmap *umap = ps_strmap_new();
    json_t **attrs = NULL;
    int rc = p->users_csv ? load_users(p->users_csv, umap, &attrs, err) : PS_OK;
    uint32_t nu = ps_strmap_count(umap);
    int cap = ps_features_n_columns() + 16 + n_topics + 256, nc = 0;
    const char **names = ps_xcalloc((size_t)cap, sizeof *names);
    const double **num = ps_xcalloc((size_t)cap, sizeof *num);
    const char ***str = ps_xcalloc((size_t)cap, sizeof *str);
    char **own = ps_xcalloc((size_t)cap, sizeof *own);
    static const double dummy_num[1] = {0};
    static const char *dummy_str[1] = {NULL};
    /* Zero rows: only names and kinds matter to the binder. */
#define ADD(nm, isnum) do { names[nc] = (nm);                                \
                            if (isnum) { num[nc] = dummy_num; }             \
                            else { str[nc] = dummy_str; }                   \
                            nc++; } while (0)
    for (int c = 0; c < ps_features_n_columns(); c++)
        ADD(ps_features_column_name(c), ps_features_column_is_numeric(c));
    ADD("segment", 1);
    ADD("segment_distance", 1);
    ADD("segment_name", 0);
    ADD("rfm_r", 1);
    ADD("rfm_f", 1);
    ADD("rfm_m", 1);
    ADD("rfm_tier", 0);
    ADD("lifecycle", 0);
    ADD("price_sensitivity", 0);
    for (int q = 0; q < n_topics && nc < cap; q++) {
        char nm[32];
        snprintf(nm, sizeof nm, "topic_%d", q);
        own[nc] = ps_xstrdup(nm);
        ADD(own[nc], 1);
    }
    if (!rc && nu) {
        const char *key;
        json_t *val;
        json_object_foreach(attrs[0], key, val) {
            int dup = 0;
            for (int c = 0; c < nc; c++)
                dup |= strcmp(names[c], key) == 0;
            if (dup || nc >= cap)
                continue;
            own[nc] = ps_xstrdup(key);
            ADD(own[nc], attr_numeric(attrs, nu, key));
        }
    }
#undef ADD
    struct ps_tagrules *rs = NULL;
    if (!rc)
        rc = ps_tagrules_parse(p->tag_rules, strlen(p->tag_rules),
                               p->tag_rules_name ? p->tag_rules_name : "<rules>", &rs, err);
    struct ps_table_view view = {0, nc, names, num, (const char *const *const *)str};
    if (!rc)
        rc = ps_tagrules_bind(rs, &view, err);
    ps_tagrules_free(rs);
    for (int c = 0; c < cap; c++)
        free(own[c]);
    free(own);
    free(names);
    free(num);
    free(str);
    for (uint32_t u = 0; u < nu; u++)
        json_decref(attrs[u]);
    free(attrs);
    ps_strmap_free(umap);
    return rc;
}

int ps_profile_build(const struct ps_profile_params *p, struct ps_pool *pool,
                     struct ps_store *s, int64_t run_id, struct ps_profile_summary *sum,
                     struct ps_err *err)
{
    struct ps_ftable t;
    struct ps_segment_model m;
    struct idmat topics, vec;
    struct ps_lda *lda = NULL;
    memset(&t, 0, sizeof t);
    memset(&m, 0, sizeof m);
    memset(&topics, 0, sizeof topics);
    memset(&vec, 0, sizeof vec);
    memset(sum, 0, sizeof *sum);
    int32_t *labels = NULL;
    float *dist = NULL;
    unsigned char *emerging = NULL;
    struct ps_strmap *umap = ps_strmap_new();
    json_t **attrs = NULL, **examples = NULL, *topic_words = json_array();
    int in_tx = 0, K = 0;
    char **tags_of = NULL;
    int rc = ps_ftable_load(&t, p->features_csv, err);
    if (!rc)
        rc = ps_segment_model_load(&m, p->segment_model, err);
    if (!rc) {
        labels = ps_xmalloc(t.n_rows * sizeof *labels + 1);
        dist = ps_xmalloc(t.n_rows * sizeof *dist + 1);
        emerging = ps_xmalloc(t.n_rows + 1);
        rc = ps_segment_assign(&m, &t, pool, labels, dist, emerging, err);
    }
    if (!rc && p->user_topics)
        rc = idmat_load(&topics, p->user_topics, err);
    if (!rc && p->vectors)
        rc = idmat_load(&vec, p->vectors, err);
    if (!rc && p->topics_model) {
        rc = ps_lda_load(&lda, p->topics_model, err);
        if (!rc) {
            K = ps_lda_k(lda);
            uint32_t V = ps_lda_n_words(lda);
            int M = p->top_words < (int)V ? p->top_words : (int)V;
            float *phi = ps_xmalloc((size_t)K * V * sizeof *phi);
            uint32_t *top = ps_xmalloc((size_t)K * (size_t)M * sizeof *top);
            float *w = ps_xmalloc((size_t)K * (size_t)M * sizeof *w);
            ps_lda_topic_word(lda, phi);
            ps_lda_top_words(phi, K, V, M, top, w);
            for (int k = 0; k < K; k++) {
                json_t *a = json_array();
                for (int j = 0; j < M; j++)
                    json_array_append_new(a, json_string(ps_lda_word(lda, top[(size_t)k * M + j])));
                json_array_append_new(topic_words, a);
            }
            free(phi);
            free(top);
            free(w);
        }
    }
    if (!rc && p->users_csv)
        rc = load_users(p->users_csv, umap, &attrs, err);
    int k = m.k;
    if (!rc) {
        examples = ps_xcalloc((size_t)k, sizeof *examples);
        for (int j = 0; j < k; j++)
            examples[j] = json_array();
        if (p->texts_csv && p->n_examples > 0)
            rc = load_examples(p->texts_csv, &t, labels, k, p->n_examples, examples, err);
    }
    if (rc)
        goto done;

    /* Per-segment accumulators. */
    int nc = t.n_cols;
    long *size = ps_xcalloc((size_t)k, sizeof *size);
    double *fsum = ps_xcalloc((size_t)k * nc, sizeof *fsum), *psum = ps_xcalloc((size_t)nc, sizeof *psum);
    double *psq = ps_xcalloc((size_t)nc, sizeof *psq);
    long *fcnt = ps_xcalloc((size_t)k * nc, sizeof *fcnt), *pcnt = ps_xcalloc((size_t)nc, sizeof *pcnt);
    double *tsum = ps_xcalloc((size_t)k * (K ? K : 1), sizeof *tsum), *ttot = ps_xcalloc(K ? K : 1, sizeof *ttot);
    long *tn = ps_xcalloc((size_t)k, sizeof *tn), tn_all = 0;
    int vd = (int)vec.cols;
    double *vsum = ps_xcalloc((size_t)k * (vd ? vd : 1), sizeof *vsum);
    long *vn = ps_xcalloc((size_t)k, sizeof *vn);
    struct ps_strmap *tagmap = ps_strmap_new();
    size_t tcap = 0;
    long *tagcount = NULL; /* k x n_tags, grown */
    size_t tagcount_cap = 0;

    const char **tier_s = NULL, **life_s = NULL, **price_s = NULL;
    struct ps_tagrules *rules = NULL;
    uint8_t *rule_out = NULL;
    /* RFM over the whole population, then lifecycle and price per user. */
    struct ps_rfm_score *rfm = ps_xcalloc(t.n_rows + 1, sizeof *rfm);
    int c_rec = ps_ftable_column(&t, "recency_days"), c_freq = ps_ftable_column(&t, "frequency");
    int c_mon = ps_ftable_column(&t, "monetary"), c_ten = ps_ftable_column(&t, "tenure_days");
    int c_price = ps_ftable_column(&t, "price_level");
    int have_rfm = c_rec >= 0 && c_freq >= 0 && c_mon >= 0;
    if (have_rfm) {
        double *col3 = ps_xmalloc(3 * (t.n_rows + 1) * sizeof *col3);
        for (size_t i = 0; i < t.n_rows; i++) {
            col3[i] = t.num[i * nc + c_rec];
            col3[t.n_rows + i] = t.num[i * nc + c_freq];
            col3[2 * t.n_rows + i] = t.num[i * nc + c_mon];
        }
        rc = ps_rfm_score(col3, col3 + t.n_rows, col3 + 2 * t.n_rows, t.n_rows, rfm, err);
        free(col3);
        if (rc)
            goto accum_done;
    }
    tier_s = ps_xcalloc(t.n_rows + 1, sizeof *tier_s);
    life_s = ps_xcalloc(t.n_rows + 1, sizeof *life_s);
    price_s = ps_xcalloc(t.n_rows + 1, sizeof *price_s);
    for (size_t i = 0; i < t.n_rows; i++) {
        if (have_rfm) {
            tier_s[i] = ps_rfm_segment_name(rfm[i].segment);
            life_s[i] = ps_lifecycle_name(ps_lifecycle_stage(&p->life, t.num[i * nc + c_rec],
                                                             t.num[i * nc + c_freq],
                                                             c_ten >= 0 ? t.num[i * nc + c_ten] : NAN));
        }
        if (c_price >= 0)
            price_s[i] = ps_price_sensitivity_name(
                ps_price_sensitivity(&p->price, t.num[i * nc + c_price], NAN, NAN));
    }
    /* Tag rules over every profile field. */
    if (p->tag_rules && (rc = eval_rules(p, &t, &m, labels, dist, rfm, tier_s, life_s, price_s,
                                         &topics, K, attrs, umap, &rules, &rule_out, err)))
        goto accum_done;
    int n_rules = rules ? ps_tagrules_count(rules) : 0;
    if ((rc = ps_store_begin(s, err)))
        goto accum_done;
    in_tx = 1;
    tags_of = ps_xcalloc(32, sizeof *tags_of);
    (void)tcap;
    for (size_t i = 0; i < t.n_rows && !rc; i++) {
        const char *uid = ps_ftable_user(&t, i);
        int seg = labels[i];
        size[seg]++;
        json_t *doc = json_object();
        json_object_set_new(doc, "user_id", json_string(uid));
        json_object_set_new(doc, "run", json_integer(run_id));
        int64_t ui = ps_strmap_find(umap, uid, strlen(uid));
        json_t *at = ui >= 0 ? json_incref(attrs[ui]) : json_object();
        json_object_set_new(doc, "attributes", at);
        json_t *feat = json_object();
        for (int c = 0; c < nc; c++) {
            if (t.is_text[c]) {
                int32_t v = t.text[c][i];
                json_object_set_new(feat, t.names[c],
                                    v < 0 ? json_null() : json_string(ps_strmap_key(t.dict[c], (uint32_t)v, NULL)));
            } else {
                double v = t.num[i * nc + c];
                json_object_set_new(feat, t.names[c], num_or_null(v));
                if (!isnan(v)) {
                    fsum[(size_t)seg * nc + c] += v;
                    fcnt[(size_t)seg * nc + c]++;
                    psum[c] += v;
                    psq[c] += v * v;
                    pcnt[c]++;
                }
            }
        }
        json_object_set_new(doc, "features", feat);
        json_t *sg = json_object();
        json_object_set_new(sg, "id", json_integer(seg));
        json_object_set_new(sg, "name", json_string(m.names[seg]));
        json_object_set_new(sg, "distance", json_real(dist[i]));
        json_object_set_new(sg, "emerging", json_boolean(emerging[i]));
        json_object_set_new(doc, "segment", sg);

        /* RFM tier, lifecycle stage, price sensitivity. */
        const char *tier = NULL, *stage = NULL, *price = NULL;
        int n_tags = 0;
        if (have_rfm) {
            tier = tier_s[i];
            stage = life_s[i];
            json_t *rj = json_object();
            json_object_set_new(rj, "r", json_integer(rfm[i].r));
            json_object_set_new(rj, "f", json_integer(rfm[i].f));
            json_object_set_new(rj, "m", json_integer(rfm[i].m));
            json_object_set_new(rj, "tier", json_string(tier));
            json_object_set_new(doc, "rfm", rj);
            json_object_set_new(doc, "lifecycle", json_string(stage));
            char buf[64];
            snprintf(buf, sizeof buf, "rfm:%s", tier);
            tags_of[n_tags++] = ps_xstrdup(buf);
            snprintf(buf, sizeof buf, "lifecycle:%s", stage);
            tags_of[n_tags++] = ps_xstrdup(buf);
        }
        if (c_price >= 0) {
            price = price_s[i];
            json_object_set_new(doc, "price_sensitivity", json_string(price));
            char buf[64];
            snprintf(buf, sizeof buf, "price:%s", price);
            tags_of[n_tags++] = ps_xstrdup(buf);
        }

        /* Interest tags: top categories, then strong topics. */
        for (int c = 0; c < nc; c++) {
            if (!t.is_text[c] || strncmp(t.names[c], "top_category_", 13) != 0 || t.text[c][i] < 0)
                continue;
            char buf[512];
            snprintf(buf, sizeof buf, "category:%s", ps_strmap_key(t.dict[c], (uint32_t)t.text[c][i], NULL));
            tags_of[n_tags++] = ps_xstrdup(buf);
        }
        int first_interest = have_rfm ? 2 : 0;
        first_interest += c_price >= 0;
        const float *tr = idmat_row(&topics, uid);
        json_t *tj = json_null();
        if (tr && !isnan(tr[0]) && (int)topics.cols == K) {
            sum->n_with_topics++;
            tn[seg]++;
            tn_all++;
            for (int q = 0; q < K; q++) {
                tsum[(size_t)seg * K + q] += tr[q];
                ttot[q] += tr[q];
            }
            tj = json_array();
            int used[64] = {0};
            for (int r = 0; r < p->top_topics && r < K && r < 64; r++) {
                int best = -1;
                for (int q = 0; q < K; q++) {
                    int taken = 0;
                    for (int z = 0; z < r; z++)
                        taken |= used[z] == q;
                    if (!taken && (best < 0 || tr[q] > tr[best]))
                        best = q;
                }
                used[r] = best;
                json_t *o = json_object();
                json_object_set_new(o, "topic", json_integer(best));
                json_object_set_new(o, "weight", json_real(tr[best]));
                json_object_set_new(o, "words", json_incref(json_array_get(topic_words, (size_t)best)));
                json_array_append_new(tj, o);
                if (tr[best] >= p->topic_tag_min && n_tags < 24) {
                    char buf[32];
                    snprintf(buf, sizeof buf, "topic:%d", best);
                    tags_of[n_tags++] = ps_xstrdup(buf);
                }
            }
        }
        json_object_set_new(doc, "topics", tj);
        const float *vr = idmat_row(&vec, uid);
        if (vr) {
            sum->n_with_vector++;
            json_t *v = json_object();
            json_object_set_new(v, "file", json_string("vectors.npy"));
            json_object_set_new(v, "row", json_integer(ps_strmap_find(vec.ids, uid, strlen(uid))));
            json_object_set_new(doc, "text_vector", v);
            vn[seg]++;
            for (int j = 0; j < vd; j++)
                vsum[(size_t)seg * vd + j] += vr[j];
        } else {
            json_object_set_new(doc, "text_vector", json_null());
        }
        json_t *tg = json_array(), *sys = json_array();
        for (int j = 0; j < n_tags; j++) {
            json_array_append_new(j < first_interest ? sys : tg, json_string(tags_of[j]));
            uint32_t id = ps_strmap_intern(tagmap, tags_of[j], strlen(tags_of[j]), NULL);
            size_t need = (size_t)(id + 1) * (size_t)k;
            if (need > tagcount_cap) {
                size_t old = tagcount_cap;
                tagcount = ps_xgrow(tagcount, &tagcount_cap, need, sizeof *tagcount);
                memset(tagcount + old, 0, (tagcount_cap - old) * sizeof *tagcount);
            }
            tagcount[(size_t)id * k + seg]++;
            if (!rc)
                rc = ps_store_tag_put(s, run_id, uid, tags_of[j], NAN, err);
            sum->n_tags++;
            free(tags_of[j]);
        }
        for (int q = 0; q < n_rules; q++) {
            if (!rule_out[(size_t)q * t.n_rows + i])
                continue;
            const char *name = ps_tagrules_name(rules, q);
            json_array_append_new(sys, json_string(name));
            uint32_t id = ps_strmap_intern(tagmap, name, strlen(name), NULL);
            size_t need = (size_t)(id + 1) * (size_t)k;
            if (need > tagcount_cap) {
                size_t old = tagcount_cap;
                tagcount = ps_xgrow(tagcount, &tagcount_cap, need, sizeof *tagcount);
                memset(tagcount + old, 0, (tagcount_cap - old) * sizeof *tagcount);
            }
            tagcount[(size_t)id * k + seg]++;
            if (!rc)
                rc = ps_store_tag_put(s, run_id, uid, name, NAN, err);
            sum->n_tags++;
            sum->n_rule_tags++;
        }
        json_object_set_new(doc, "interest_tags", tg);
        json_object_set_new(doc, "tags", sys);
        char *js = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
        if (!rc)
            rc = ps_store_profile_put(s, run_id, uid, seg, dist[i], stage, tier, js, err);
        if (!rc && ui >= 0) {
            char *aj = json_dumps(attrs[ui], JSON_COMPACT | JSON_PRESERVE_ORDER);
            rc = ps_store_user_put(s, uid, aj, run_id, err);
            free(aj);
        } else if (!rc) {
            rc = ps_store_user_put(s, uid, "{}", run_id, err);
        }
        free(js);
        json_decref(doc);
    }
    sum->n_users = (long)t.n_rows;
    sum->n_segments = k;
    sum->n_topics = K;

    /* Topics: share of the model's tokens (defined even when no profiled
     * user wrote anything). */
    double *tok_share = ps_xcalloc((size_t)(K ? K : 1), sizeof *tok_share), tok_all = 0;
    for (uint32_t w = 0; lda && w < ps_lda_n_words(lda); w++)
        for (int q = 0; q < K; q++) {
            tok_share[q] += ps_lda_count(lda, w, q);
            tok_all += ps_lda_count(lda, w, q);
        }
    (void)ttot;
    (void)tn_all;
    for (int q = 0; q < K && !rc; q++) {
        char *wj = json_dumps(json_array_get(topic_words, (size_t)q), JSON_COMPACT);
        rc = ps_store_topic_put(s, run_id, q, tok_all > 0 ? tok_share[q] / tok_all : 0.0, wj, err);
        free(wj);
    }
    free(tok_share);

    /* Segments. */
    double n_all = (double)t.n_rows;
    for (int j = 0; j < k && !rc; j++) {
        json_t *sp = json_object(), *mean = json_object(), *z = json_object(), *cats = json_object();
        json_object_set_new(sp, "segment", json_integer(j));
        json_object_set_new(sp, "name", json_string(m.names[j]));
        json_object_set_new(sp, "size", json_integer(size[j]));
        json_object_set_new(sp, "share", json_real(n_all > 0 ? size[j] / n_all : 0));
        struct count zc[256];
        int nz = 0;
        for (int c = 0; c < nc; c++) {
            if (t.is_text[c])
                continue;
            long fc = fcnt[(size_t)j * nc + c];
            double mu = fc ? fsum[(size_t)j * nc + c] / fc : NAN;
            double pm = pcnt[c] ? psum[c] / pcnt[c] : NAN;
            double var = pcnt[c] > 1 ? (psq[c] - pcnt[c] * pm * pm) / (pcnt[c] - 1) : NAN;
            double zz = (var > 0 && !isnan(mu)) ? (mu - pm) / sqrt(var) : NAN;
            json_object_set_new(mean, t.names[c], num_or_null(mu));
            json_object_set_new(z, t.names[c], num_or_null(zz));
            if (!isnan(zz) && nz < 256) {
                zc[nz].key = t.names[c];
                zc[nz++].n = (long)(fabs(zz) * 1e6);
            }
        }
        json_object_set_new(sp, "mean", mean);
        json_object_set_new(sp, "z", z);
        /* Category shares from top_category_1. */
        int c1 = ps_ftable_column(&t, "top_category_1");
        struct count cc[256];
        int ncat = 0;
        if (c1 >= 0 && t.is_text[c1]) {
            uint32_t nd = ps_strmap_count(t.dict[c1]);
            long *cnt = ps_xcalloc(nd ? nd : 1, sizeof *cnt);
            for (size_t i = 0; i < t.n_rows; i++)
                if (labels[i] == j && t.text[c1][i] >= 0)
                    cnt[t.text[c1][i]]++;
            for (uint32_t v = 0; v < nd && ncat < 256; v++)
                if (cnt[v]) {
                    cc[ncat].key = ps_strmap_key(t.dict[c1], v, NULL);
                    cc[ncat++].n = cnt[v];
                }
            free(cnt);
            qsort(cc, (size_t)ncat, sizeof *cc, count_cmp);
            for (int q = 0; q < ncat; q++)
                json_object_set_new(cats, cc[q].key, json_real(size[j] ? (double)cc[q].n / size[j] : 0));
        }
        json_object_set_new(sp, "top_categories", cats);
        json_t *td = json_array();
        for (int q = 0; q < K; q++)
            json_array_append_new(td, json_real(tn[j] ? tsum[(size_t)j * K + q] / tn[j] : 0));
        json_object_set_new(sp, "topic_mix", K ? td : (json_decref(td), json_null()));
        json_t *tags = json_object();
        uint32_t ntag = ps_strmap_count(tagmap);
        struct count *tc = ps_xmalloc((ntag ? ntag : 1) * sizeof *tc);
        for (uint32_t q = 0; q < ntag; q++) {
            tc[q].key = ps_strmap_key(tagmap, q, NULL);
            tc[q].n = tagcount[(size_t)q * k + j];
        }
        qsort(tc, ntag, sizeof *tc, count_cmp);
        for (uint32_t q = 0; q < ntag && q < 12 && tc[q].n; q++)
            json_object_set_new(tags, tc[q].key, json_real(size[j] ? (double)tc[q].n / size[j] : 0));
        json_object_set_new(sp, "tags", tags);
        if (vd && vn[j]) {
            json_t *mv = json_array();
            for (int q = 0; q < vd; q++)
                json_array_append_new(mv, json_real(vsum[(size_t)j * vd + q] / vn[j]));
            json_object_set_new(sp, "mean_text_vector", mv);
        } else {
            json_object_set_new(sp, "mean_text_vector", json_null());
        }
        json_object_set_new(sp, "examples", json_incref(examples[j]));

        /* The persona card. */
        qsort(zc, (size_t)nz, sizeof *zc, count_cmp);
        struct ps_buf card;
        ps_buf_init(&card);
        int zh = p->lang && strcmp(p->lang, "zh") == 0;
        ps_buf_printf(&card, zh ? "%s：%ld 位用户（占 %.1f%%）。" : "%s: %ld users (%.1f%% of all).",
                      m.names[j], size[j], n_all > 0 ? 100.0 * size[j] / n_all : 0);
        if (nz) {
            ps_buf_printf(&card, zh ? "与全体相比：" : " Against the population:");
            for (int q = 0; q < nz && q < 4; q++) {
                double zz = json_real_value(json_object_get(z, zc[q].key));
                if (zh)
                    ps_buf_printf(&card, "%s%s %s %.1f 个标准差", q ? "，" : "", zc[q].key,
                                  zz > 0 ? "高" : "低", fabs(zz));
                else
                    ps_buf_printf(&card, "%s %s %.1f sd %s", q ? "," : "", zc[q].key, fabs(zz),
                                  zz > 0 ? "above" : "below");
            }
            ps_buf_printf(&card, zh ? "。" : ".");
        }
        if (ncat) {
            ps_buf_printf(&card, zh ? "主要品类：" : " Top categories:");
            for (int q = 0; q < ncat && q < 3; q++)
                ps_buf_printf(&card, zh ? "%s%s %.0f%%" : "%s %s %.0f%%", q ? (zh ? "，" : ",") : "", cc[q].key,
                              size[j] ? 100.0 * cc[q].n / size[j] : 0);
            ps_buf_printf(&card, zh ? "。" : ".");
        }
        if (K && tn[j]) {
            int best = 0;
            for (int q = 1; q < K; q++)
                if (tsum[(size_t)j * K + q] > tsum[(size_t)j * K + best])
                    best = q;
            ps_buf_printf(&card, zh ? "评论话题：#%d（" : " Talks about topic %d (", best);
            json_t *wa = json_array_get(topic_words, (size_t)best);
            for (size_t q = 0; q < json_array_size(wa) && q < 5; q++)
                ps_buf_printf(&card, "%s%s", q ? ", " : "", json_string_value(json_array_get(wa, q)));
            ps_buf_printf(&card, zh ? "）。" : ").");
        }
        json_object_set_new(sp, "card", json_string(card.data));
        char *js = json_dumps(sp, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
        rc = ps_store_segment_put(s, run_id, j, m.names[j], size[j], n_all > 0 ? size[j] / n_all : 0,
                                  card.data, js, err);
        free(js);
        ps_buf_release(&card);
        free(tc);
        json_decref(sp);
    }
    if (!rc) {
        rc = ps_store_commit(s, err);
        in_tx = 0;
    }
accum_done:
    ps_tagrules_free(rules);
    free(rule_out);
    free(tier_s);
    free(life_s);
    free(price_s);
    free(rfm);
    free(size);
    free(fsum);
    free(psum);
    free(psq);
    free(fcnt);
    free(pcnt);
    free(tsum);
    free(ttot);
    free(tn);
    free(vsum);
    free(vn);
    free(tagcount);
    ps_strmap_free(tagmap);
done:
    if (in_tx)
        ps_store_rollback(s);
    free(tags_of);
    if (attrs) {
        for (uint32_t i = 0; i < ps_strmap_count(umap); i++)
            json_decref(attrs[i]);
        free(attrs);
    }
    if (examples) {
        for (int j = 0; j < k; j++)
            json_decref(examples[j]);
        free(examples);
    }
    json_decref(topic_words);
    ps_strmap_free(umap);
    free(labels);
    free(dist);
    free(emerging);
    idmat_release(&topics);
    idmat_release(&vec);
    ps_lda_free(lda);
    if (m.k)
        ps_segment_model_release(&m);
    ps_ftable_release(&t);
    return rc;
}
