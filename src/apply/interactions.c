/*
 * interactions.c - the events log the recommender and its evaluation read:
 * canonical events CSV (docs/ARCHITECTURE.md), items CSV, segment labels
 * and item vectors, interned into dense user and item indices.
 *
 * Inputs are the canonical outputs of `persona clean` and `persona
 * segment`, so a malformed row is an error (with file, line and column),
 * not a quarantine: cleaning already happened upstream.
 */
#include "persona/recommend.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/npy.h"
#include "persona/reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ev_names[PS_EV_N] = {
    "view", "search", "click", "cart", "fav", "purchase", "refund", "review"
};

void ps_interactions_init(struct ps_interactions *x)
{
    memset(x, 0, sizeof *x);
    x->users = ps_strmap_new();
    x->items = ps_strmap_new();
    x->cats = ps_strmap_new();
    x->ts_min = INT64_MAX;
    x->ts_max = INT64_MIN;
}

void ps_interactions_release(struct ps_interactions *x)
{
    ps_strmap_free(x->users);
    ps_strmap_free(x->items);
    ps_strmap_free(x->cats);
    free(x->user);
    free(x->item);
    free(x->kind);
    free(x->ts);
    free(x->item_cat);
    for (size_t i = 0; i < x->item_title_cap && x->item_title; i++)
        free(x->item_title[i]);
    free(x->item_title);
    free(x->user_seg);
    for (int i = 0; i < x->n_segments; i++)
        free(x->seg_names ? x->seg_names[i] : NULL);
    free(x->seg_names);
    free(x->item_vec);
    memset(x, 0, sizeof *x);
}

size_t ps_interactions_n_users(const struct ps_interactions *x)
{
    return ps_strmap_count(x->users);
}

size_t ps_interactions_n_items(const struct ps_interactions *x)
{
    return ps_strmap_count(x->items);
}

/* Interns an item and keeps item_cat as long as the item map. */
static uint32_t add_item(struct ps_interactions *x, const char *id, size_t len)
{
    int inserted = 0;
    uint32_t it = ps_strmap_intern(x->items, id, len, &inserted);
    if (inserted) {
        size_t old = x->item_cat_cap;
        x->item_cat = ps_xgrow(x->item_cat, &x->item_cat_cap, (size_t)it + 1, sizeof(int32_t));
        for (size_t i = old; i < x->item_cat_cap; i++)
            x->item_cat[i] = -1;
    }
    return it;
}

static uint32_t add_user(struct ps_interactions *x, const char *id, size_t len)
{
    int inserted = 0;
    uint32_t u = ps_strmap_intern(x->users, id, len, &inserted);
    if (inserted && x->user_seg) {
        size_t old = x->user_seg_cap;
        x->user_seg = ps_xgrow(x->user_seg, &x->user_seg_cap, (size_t)u + 1, sizeof(int32_t));
        for (size_t i = old; i < x->user_seg_cap; i++)
            x->user_seg[i] = -1;
    }
    return u;
}

static int open_csv(struct ps_reader **r, const char *path, const char *const *need, int n_need,
                    int *idx, struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    rp.format = PS_FORMAT_CSV;
    int rc = ps_reader_open(r, path, &rp, err);
    if (rc != PS_OK)
        return rc;
    for (int i = 0; i < n_need; i++) {
        idx[i] = ps_reader_column_index(*r, need[i]);
        if (idx[i] < 0 && need[i][0] != '?') {
            ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing column \"%s\"", path, need[i]);
            ps_reader_close(*r);
            *r = NULL;
            return PS_ERR_BAD_INPUT;
        }
    }
    return PS_OK;
}

static int row_error(struct ps_reader *r, struct ps_err *err, int rc)
{
    if (rc == PS_ERR_BAD_ROW)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
    return ps_err_set(err, rc, "%s", ps_reader_errmsg(r));
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static void push_event(struct ps_interactions *x, uint32_t u, uint32_t it, int kind, int64_t t);

int ps_interactions_load_events(struct ps_interactions *x, const char *path, struct ps_err *err)
{
    int idx[5];
    struct ps_reader *r = NULL;
    int rc = open_csv(&r, path, (const char *const[]){"user_id", "ts", "event", "item_id",
                                                       "?category"}, 5, idx, err);
    if (rc != PS_OK)
        return rc;
    idx[4] = ps_reader_column_index(r, "category");
    const char *name = ps_reader_name(r);
    while ((rc = ps_reader_next(r)) == PS_OK) {
        long line = ps_reader_line(r);
        size_t ulen, ilen, clen = 0;
        const char *uid = ps_reader_field(r, idx[0], &ulen);
        const char *ts = ps_reader_field(r, idx[1], NULL);
        const char *ev = ps_reader_field(r, idx[2], NULL);
        const char *iid = ps_reader_field(r, idx[3], &ilen);
        const char *cat = idx[4] >= 0 ? ps_reader_field(r, idx[4], &clen) : "";
        if (!ulen) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id",
                            name, line);
            goto done;
        }
        int kind = -1;
        for (int k = 0; k < PS_EV_REVIEW; k++) /* reviews come from texts */
            if (strcmp(ev, ev_names[k]) == 0)
                kind = k;
        if (kind < 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"event\": unknown event \"%s\"",
                            name, line, ev);
            goto done;
        }
        int64_t t;
        if (parse_i64(ts, &t)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%ld: column \"ts\": expected Unix seconds, got \"%s\"", name, line, ts);
            goto done;
        }
        uint32_t u = add_user(x, uid, ulen);
        if (!ilen) {
            x->n_skipped++;
            continue;
        }
        uint32_t it = add_item(x, iid, ilen);
        if (clen && x->item_cat[it] < 0)
            x->item_cat[it] = (int32_t)ps_strmap_intern(x->cats, cat, clen, NULL);
        push_event(x, u, it, kind, t);
    }
    if (rc == PS_DONE)
        rc = PS_OK;
    else
        rc = row_error(r, err, rc);
done:
    ps_reader_close(r);
    return rc;
}

static void push_event(struct ps_interactions *x, uint32_t u, uint32_t it, int kind, int64_t t)
{
    if (x->n == x->cap) {
        size_t cap = x->cap;
        x->user = ps_xgrow(x->user, &cap, x->n + 1, sizeof *x->user);
        cap = x->cap;
        x->item = ps_xgrow(x->item, &cap, x->n + 1, sizeof *x->item);
        cap = x->cap;
        x->kind = ps_xgrow(x->kind, &cap, x->n + 1, sizeof *x->kind);
        cap = x->cap;
        x->ts = ps_xgrow(x->ts, &cap, x->n + 1, sizeof *x->ts);
        x->cap = cap;
    }
    x->user[x->n] = u;
    x->item[x->n] = it;
    x->kind[x->n] = (uint8_t)kind;
    x->ts[x->n] = t;
    x->n++;
    if (t < x->ts_min)
        x->ts_min = t;
    if (t > x->ts_max)
        x->ts_max = t;
}

int ps_interactions_load_texts(struct ps_interactions *x, const char *path, struct ps_err *err)
{
    int idx[4];
    struct ps_reader *r = NULL;
    int rc = open_csv(&r, path, (const char *const[]){"user_id", "ts", "kind", "item_id"}, 4,
                      idx, err);
    if (rc != PS_OK)
        return rc;
    const char *name = ps_reader_name(r);
    while ((rc = ps_reader_next(r)) == PS_OK) {
        long line = ps_reader_line(r);
        size_t ulen, ilen;
        const char *uid = ps_reader_field(r, idx[0], &ulen);
        const char *ts = ps_reader_field(r, idx[1], NULL);
        const char *kind = ps_reader_field(r, idx[2], NULL);
        const char *iid = ps_reader_field(r, idx[3], &ilen);
        if (!ulen) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id",
                            name, line);
            goto done;
        }
        if (!ilen || (strcmp(kind, "review") != 0 && strcmp(kind, "comment") != 0)) {
            x->n_skipped++;
            continue;
        }
        int64_t t;
        if (parse_i64(ts, &t)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%ld: column \"ts\": expected Unix seconds, got \"%s\"", name, line, ts);
            goto done;
        }
        push_event(x, add_user(x, uid, ulen), add_item(x, iid, ilen), PS_EV_REVIEW, t);
    }
    rc = rc == PS_DONE ? PS_OK : row_error(r, err, rc);
done:
    ps_reader_close(r);
    return rc;
}

int ps_interactions_load_items(struct ps_interactions *x, const char *path, struct ps_err *err)
{
    int idx[3];
    struct ps_reader *r = NULL;
    int rc = open_csv(&r, path, (const char *const[]){"item_id", "?category", "?title"}, 3, idx,
                      err);
    if (rc != PS_OK)
        return rc;
    idx[1] = ps_reader_column_index(r, "category");
    idx[2] = ps_reader_column_index(r, "title");
    while ((rc = ps_reader_next(r)) == PS_OK) {
        size_t ilen, clen = 0, tlen = 0;
        const char *iid = ps_reader_field(r, idx[0], &ilen);
        const char *cat = idx[1] >= 0 ? ps_reader_field(r, idx[1], &clen) : "";
        const char *title = idx[2] >= 0 ? ps_reader_field(r, idx[2], &tlen) : "";
        if (!ilen) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"item_id\": empty item id",
                            ps_reader_name(r), ps_reader_line(r));
            goto done;
        }
        uint32_t it = add_item(x, iid, ilen);
        if (clen)
            x->item_cat[it] = (int32_t)ps_strmap_intern(x->cats, cat, clen, NULL);
        if (tlen) {
            size_t old = x->item_title_cap;
            if (it >= old) {
                x->item_title = ps_xgrow(x->item_title, &x->item_title_cap, (size_t)it + 1,
                                         sizeof *x->item_title);
                for (size_t k = old; k < x->item_title_cap; k++)
                    x->item_title[k] = NULL;
            }
            free(x->item_title[it]);
            x->item_title[it] = ps_xstrndup(title, tlen);
        }
    }
    rc = rc == PS_DONE ? PS_OK : row_error(r, err, rc);
done:
    ps_reader_close(r);
    return rc;
}

#define MAX_SEGMENTS 100000

static int parse_segment(const char *s, int *out)
{
    int64_t v;
    if (parse_i64(s, &v) || v < 0 || v >= MAX_SEGMENTS)
        return -1;
    *out = (int)v;
    return 0;
}

static void ensure_segments(struct ps_interactions *x, int n)
{
    if (n <= x->n_segments)
        return;
    x->seg_names = ps_xrealloc(x->seg_names, (size_t)n * sizeof *x->seg_names);
    for (int i = x->n_segments; i < n; i++)
        x->seg_names[i] = NULL;
    x->n_segments = n;
}

int ps_interactions_load_segments(struct ps_interactions *x, const char *labels_path,
                                  const char *names_path, struct ps_err *err)
{
    int idx[2];
    struct ps_reader *r = NULL;
    if (!x->user_seg) {
        x->user_seg_cap = ps_strmap_count(x->users) + 1;
        x->user_seg = ps_xmalloc(x->user_seg_cap * sizeof *x->user_seg);
        for (size_t i = 0; i < x->user_seg_cap; i++)
            x->user_seg[i] = -1;
    }
    int rc = open_csv(&r, labels_path, (const char *const[]){"user_id", "segment"}, 2, idx, err);
    if (rc != PS_OK)
        return rc;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        size_t ulen;
        const char *uid = ps_reader_field(r, idx[0], &ulen);
        const char *seg = ps_reader_field(r, idx[1], NULL);
        int s;
        if (parse_segment(seg, &s)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%ld: column \"segment\": expected a segment number, got \"%s\"",
                            ps_reader_name(r), ps_reader_line(r), seg);
            goto done;
        }
        if (!ulen) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id",
                            ps_reader_name(r), ps_reader_line(r));
            goto done;
        }
        uint32_t u = add_user(x, uid, ulen);
        x->user_seg[u] = s;
        ensure_segments(x, s + 1);
    }
    rc = rc == PS_DONE ? PS_OK : row_error(r, err, rc);
    ps_reader_close(r);
    r = NULL;
    if (rc != PS_OK)
        return rc;

    /* Names: the given file, or segments.csv beside labels.csv if present. */
    char guess[4096];
    if (!names_path) {
        const char *slash = strrchr(labels_path, '/');
        int dir = slash ? (int)(slash - labels_path + 1) : 0;
        snprintf(guess, sizeof guess, "%.*ssegments.csv", dir, labels_path);
        FILE *f = fopen(guess, "r");
        if (!f)
            return PS_OK;
        fclose(f);
        names_path = guess;
    }
    rc = open_csv(&r, names_path, (const char *const[]){"segment", "name"}, 2, idx, err);
    if (rc != PS_OK)
        return rc;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        int s;
        const char *seg = ps_reader_field(r, idx[0], NULL);
        const char *nm = ps_reader_field(r, idx[1], NULL);
        if (parse_segment(seg, &s)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%ld: column \"segment\": expected a segment number, got \"%s\"",
                            ps_reader_name(r), ps_reader_line(r), seg);
            goto done;
        }
        ensure_segments(x, s + 1);
        free(x->seg_names[s]);
        x->seg_names[s] = nm[0] ? ps_xstrdup(nm) : NULL;
    }
    rc = rc == PS_DONE ? PS_OK : row_error(r, err, rc);
done:
    ps_reader_close(r);
    return rc;
}

int ps_interactions_load_item_vectors(struct ps_interactions *x, const char *npy_path,
                                      struct ps_err *err)
{
    float *data = NULL;
    size_t rows = 0, cols = 0;
    int rc = ps_npy_read_f32(npy_path, &data, &rows, &cols, err);
    if (rc != PS_OK)
        return rc;
    char ids[4096];
    size_t n = strlen(npy_path);
    if (n > 4 && strcmp(npy_path + n - 4, ".npy") == 0)
        snprintf(ids, sizeof ids, "%.*s.ids.txt", (int)(n - 4), npy_path);
    else
        snprintf(ids, sizeof ids, "%s.ids.txt", npy_path);
    FILE *f = fopen(ids, "r");
    if (!f) {
        free(data);
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", ids, strerror(errno));
    }
    size_t n_items = ps_strmap_count(x->items);
    free(x->item_vec);
    x->item_vec = ps_xcalloc(n_items ? n_items * cols : 1, sizeof(float));
    x->dim = (int)cols;
    x->n_vec_items = n_items;
    char line[4096];
    size_t row = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (row >= rows) {
            fclose(f);
            free(data);
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: more ids than the %zu rows of \"%s\"",
                              ids, rows, npy_path);
        }
        int64_t it = ps_strmap_find(x->items, line, len);
        if (it >= 0) {
            const float *v = data + row * cols;
            double nn = 0;
            for (size_t c = 0; c < cols; c++)
                nn += (double)v[c] * v[c];
            nn = sqrt(nn);
            for (size_t c = 0; c < cols && nn > 0; c++)
                x->item_vec[(size_t)it * cols + c] = (float)(v[c] / nn);
        }
        row++;
    }
    fclose(f);
    free(data);
    if (row != rows)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %zu ids for the %zu rows of \"%s\"",
                          ids, row, rows, npy_path);
    return PS_OK;
}
