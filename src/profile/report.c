/*
 * report.c - report.html (report.h): HTML5 with inline CSS and SVG only.
 * Everything comes from the store snapshot, except the scatter, which
 * re-reads features.csv and projects the scaled model columns with PCA.
 */
#include "persona/report.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/pca.h"
#include "persona/segment.h"
#include "persona/store.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const PALETTE[12] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                        "#393b79", "#ad494a"};

struct ps_report_params ps_report_default_params(void)
{
    struct ps_report_params p;
    memset(&p, 0, sizeof p);
    p.title = "persona report";
    p.max_points = 2000;
    p.max_features = 26;
    return p;
}

static void esc(struct ps_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': ps_buf_append(b, "&lt;", 4); break;
        case '>': ps_buf_append(b, "&gt;", 4); break;
        case '&': ps_buf_append(b, "&amp;", 5); break;
        case '"': ps_buf_append(b, "&quot;", 6); break;
        default: ps_buf_putc(b, *s);
        }
    }
}

static const char *color(int seg) { return PALETTE[(seg % 12 + 12) % 12]; }

/* Diverging colour for a z-score: blue (low) - white - red (high). */
static void zcolor(double z, char *out, size_t cap)
{
    if (isnan(z)) {
        snprintf(out, cap, "#eeeeee");
        return;
    }
    double t = z / 2;
    t = t > 1 ? 1 : t < -1 ? -1 : t;
    int r, g, b;
    if (t >= 0) {
        r = 255;
        g = (int)(255 - 170 * t);
        b = (int)(255 - 190 * t);
    } else {
        r = (int)(255 + 200 * t);
        g = (int)(255 + 130 * t);
        b = 255;
    }
    snprintf(out, cap, "#%02x%02x%02x", r, g, b);
}

static const char *CSS =
    "body{font-family:-apple-system,'Segoe UI','Noto Sans CJK SC','PingFang SC',sans-serif;"
    "margin:0;background:#f6f7f9;color:#222}"
    "header{background:#243b55;color:#fff;padding:18px 32px}header h1{margin:0;font-size:24px}"
    "main{padding:16px 32px;max-width:1200px}section{background:#fff;border-radius:8px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px 20px;margin:16px 0}"
    "h2{margin-top:0;font-size:19px}table{border-collapse:collapse}td,th{padding:3px 8px;"
    "border-bottom:1px solid #e4e4e4;text-align:left;font-size:13px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:8px;"
    "padding:10px 14px;width:340px;border-top-width:6px}.card h3{margin:4px 0;font-size:16px}"
    ".card p{font-size:13px;margin:6px 0}.ex{font-style:italic;color:#555}"
    ".muted{color:#777;font-size:12px}.kv{font-size:24px;font-weight:600}"
    ".stats{display:flex;gap:36px}tr.hl td{background:#fff3c4;font-weight:600}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}";

struct seg_row {
    int id;
    char *name, *card;
    long size;
    double share;
    json_t *prof;
};

static int load_segments(struct ps_store *s, int64_t snap, struct seg_row **out, int *n)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ps_store_db(s), "SELECT segment, name, size, share, card, profile FROM "
                           "segments WHERE run_id=? ORDER BY segment", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, snap);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        *out = ps_xgrow(*out, &cap, (size_t)*n + 1, sizeof **out);
        struct seg_row *r = &(*out)[(*n)++];
        r->id = sqlite3_column_int(st, 0);
        r->name = ps_xstrdup((const char *)sqlite3_column_text(st, 1));
        r->size = (long)sqlite3_column_int64(st, 2);
        r->share = sqlite3_column_double(st, 3);
        r->card = ps_xstrdup((const char *)sqlite3_column_text(st, 4));
        r->prof = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
    }
    sqlite3_finalize(st);
    return 0;
}

static void free_segments(struct seg_row *r, int n)
{
    for (int i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].card);
        json_decref(r[i].prof);
    }
    free(r);
}

static void overview(struct ps_buf *b, struct ps_store *s, int64_t snap, int n_seg)
{
    sqlite3 *db = ps_store_db(s);
    sqlite3_stmt *st;
    long users = 0, topics = 0, tags = 0;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT COUNT(*) FROM profiles WHERE run_id=?1), "
                           "(SELECT COUNT(*) FROM topics WHERE run_id=?1), "
                           "(SELECT COUNT(DISTINCT tag) FROM tags WHERE run_id=?1)", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, snap);
        if (sqlite3_step(st) == SQLITE_ROW) {
            users = (long)sqlite3_column_int64(st, 0);
            topics = (long)sqlite3_column_int64(st, 1);
            tags = (long)sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
    }
    ps_buf_printf(b, "<section id=\"overview\"><h2>Overview</h2><div class=\"stats\">"
                     "<div><div class=\"kv\">%ld</div>users</div><div><div class=\"kv\">%d</div>"
                     "segments</div><div><div class=\"kv\">%ld</div>topics</div><div><div class=\"kv\">"
                     "%ld</div>distinct tags</div><div><div class=\"kv\">%lld</div>snapshot (run id)"
                     "</div></div>", users, n_seg, topics, tags, (long long)snap);
    if (sqlite3_prepare_v2(db, "SELECT stage, skipped, seconds, rows_in, rows_out, note FROM "
                           "run_stages WHERE run_id=? ORDER BY rowid", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, snap);
        ps_buf_printf(b, "<h3>Stages of run %lld</h3><table><tr><th>stage</th><th>status</th>"
                         "<th>seconds</th><th>rows in</th><th>rows out</th><th>note</th></tr>",
                      (long long)snap);
        while (sqlite3_step(st) == SQLITE_ROW) {
            ps_buf_printf(b, "<tr><td>");
            esc(b, (const char *)sqlite3_column_text(st, 0));
            ps_buf_printf(b, "</td><td>%s</td><td>%.2f</td><td>", sqlite3_column_int(st, 1) ? "skipped/off" : "done",
                          sqlite3_column_double(st, 2));
            if (sqlite3_column_type(st, 3) != SQLITE_NULL)
                ps_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, 3));
            ps_buf_printf(b, "</td><td>");
            if (sqlite3_column_type(st, 4) != SQLITE_NULL)
                ps_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, 4));
            ps_buf_printf(b, "</td><td>");
            esc(b, (const char *)sqlite3_column_text(st, 5));
            ps_buf_printf(b, "</td></tr>");
        }
        ps_buf_printf(b, "</table>");
        sqlite3_finalize(st);
    }
    ps_buf_printf(b, "</section>\n");
}

static void cards(struct ps_buf *b, const struct seg_row *sg, int n)
{
    ps_buf_printf(b, "<section id=\"personas\"><h2>Persona cards</h2><div class=\"cards\">");
    for (int i = 0; i < n; i++) {
        ps_buf_printf(b, "<div class=\"card\" style=\"border-top-color:%s\"><h3>%d. ", color(sg[i].id), sg[i].id);
        esc(b, sg[i].name);
        ps_buf_printf(b, "</h3><div class=\"muted\">%ld users, %.1f%%</div><p>", sg[i].size, 100 * sg[i].share);
        esc(b, sg[i].card);
        ps_buf_printf(b, "</p>");
        json_t *tags = json_object_get(sg[i].prof, "tags");
        if (json_object_size(tags)) {
            ps_buf_printf(b, "<p><b>Tags:</b> ");
            const char *k;
            json_t *v;
            int q = 0;
            json_object_foreach(tags, k, v) {
                if (q++ >= 6)
                    break;
                ps_buf_printf(b, "%s", q > 1 ? ", " : "");
                esc(b, k);
                ps_buf_printf(b, " %.0f%%", 100 * json_number_value(v));
            }
            ps_buf_printf(b, "</p>");
        }
        json_t *ex = json_object_get(sg[i].prof, "examples");
        size_t q;
        json_t *v;
        json_array_foreach(ex, q, v) {
            ps_buf_printf(b, "<p class=\"ex\">“");
            esc(b, json_string_value(v));
            ps_buf_printf(b, "”</p>");
        }
        ps_buf_printf(b, "</div>");
    }
    ps_buf_printf(b, "</div></section>\n");
}

static void heatmap(struct ps_buf *b, const struct seg_row *sg, int n, int max_features)
{
    if (!n)
        return;
    /* Columns with a value in at least one segment, in feature order. */
    json_t *z0 = json_object_get(sg[0].prof, "z"), *cols = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(z0, key, v) {
        int any = 0;
        for (int i = 0; i < n && !any; i++)
            any = json_is_number(json_object_get(json_object_get(sg[i].prof, "z"), key));
        if (any && (int)json_array_size(cols) < max_features)
            json_array_append_new(cols, json_string(key));
    }
    int nf = (int)json_array_size(cols);
    int cw = nf > 24 ? 34 : 38, ch = 26, left = 190, top = 170;
    int W = left + nf * cw + 20, H = top + n * ch + 20;
    ps_buf_printf(b, "<section id=\"heatmap\"><h2>Features by segment</h2><p class=\"muted\">"
                     "Cell = segment mean minus population mean, in population standard deviations "
                     "(red above, blue below; number shown).</p>"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                     "font-size=\"11\" font-family=\"sans-serif\">", W, H);
    for (int c = 0; c < nf; c++) {
        int x = left + c * cw + cw / 2;
        ps_buf_printf(b, "<text transform=\"translate(%d,%d) rotate(-60)\">", x, top - 6);
        esc(b, json_string_value(json_array_get(cols, (size_t)c)));
        ps_buf_printf(b, "</text>");
    }
    for (int i = 0; i < n; i++) {
        int y = top + i * ch;
        ps_buf_printf(b, "<rect x=\"4\" y=\"%d\" width=\"10\" height=\"%d\" fill=\"%s\"/>"
                         "<text x=\"18\" y=\"%d\">%d. ", y + 3, ch - 6, color(sg[i].id), y + ch / 2 + 4, sg[i].id);
        /* At most 28 bytes, cut at a UTF-8 character boundary. */
        char nm[40];
        size_t l = strlen(sg[i].name);
        if (l > 28) {
            l = 28;
            while (l > 0 && ((unsigned char)sg[i].name[l] & 0xC0) == 0x80)
                l--;
        }
        memcpy(nm, sg[i].name, l);
        nm[l] = '\0';
        esc(b, nm);
        ps_buf_printf(b, "</text>");
        json_t *z = json_object_get(sg[i].prof, "z");
        for (int c = 0; c < nf; c++) {
            key = json_string_value(json_array_get(cols, (size_t)c));
            v = json_object_get(z, key);
            double zz = json_is_number(v) ? json_number_value(v) : NAN;
            char col[16];
            zcolor(zz, col, sizeof col);
            int x = left + c * cw;
            ps_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                             "stroke=\"#fff\"><title>", x, y, cw, ch, col);
            esc(b, key);
            ps_buf_printf(b, ": %.2f</title></rect>", zz);
            if (!isnan(zz))
                ps_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%.1f</text>",
                              x + cw / 2, y + ch / 2 + 4, zz);
        }
    }
    json_decref(cols);
    ps_buf_printf(b, "</svg></section>\n");
}

static int scatter(struct ps_buf *b, const struct ps_report_params *p, struct ps_pool *pool,
                   struct ps_err *err)
{
    if (!p->features_csv || !p->segment_model || p->max_points <= 0)
        return PS_OK;
    struct ps_ftable t;
    struct ps_segment_model m;
    memset(&t, 0, sizeof t);
    int rc = ps_ftable_load(&t, p->features_csv, err);
    if (rc)
        return rc;
    rc = ps_segment_model_load(&m, p->segment_model, err);
    if (rc) {
        ps_ftable_release(&t);
        return rc;
    }
    size_t n = t.n_rows;
    int32_t *lab = ps_xmalloc(n * sizeof *lab + 1);
    float *dist = ps_xmalloc(n * sizeof *dist + 1);
    unsigned char *em = ps_xmalloc(n + 1);
    rc = ps_segment_assign(&m, &t, pool, lab, dist, em, err);
    size_t step = n > (size_t)p->max_points ? (n + p->max_points - 1) / p->max_points : 1;
    size_t np = n ? (n + step - 1) / step : 0;
    int d = m.d;
    float *X = ps_xmalloc(np * (size_t)d * sizeof *X + 1);
    int *col = ps_xmalloc((size_t)d * sizeof *col);
    for (int j = 0; j < d; j++)
        col[j] = ps_ftable_column(&t, m.columns[j]);
    for (size_t i = 0, r = 0; i < n && !rc; i += step, r++)
        for (int j = 0; j < d; j++)
            X[r * d + j] = col[j] >= 0 && !t.is_text[col[j]] ? t.num[i * t.n_cols + col[j]] : 0.0f;
    if (!rc)
        ps_scaler_transform(&m.scaler, X, X, np);
    struct ps_pca pca;
    memset(&pca, 0, sizeof pca);
    if (!rc && np >= 2 && d >= 2 && ps_pca_fit(&pca, X, np, d, 2, err) == PS_OK) {
        double *Y = ps_xmalloc(np * 2 * sizeof *Y);
        ps_pca_transform(&pca, X, np, Y);
        double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
        for (size_t i = 0; i < np; i++)
            for (int c = 0; c < 2; c++) {
                lo[c] = fmin(lo[c], Y[i * 2 + c]);
                hi[c] = fmax(hi[c], Y[i * 2 + c]);
            }
        int W = 720, H = 480, pad = 30;
        ps_buf_printf(b, "<section id=\"scatter\"><h2>Users in two dimensions (PCA)</h2>"
                         "<p class=\"muted\">%zu of %zu users, scaled segmentation columns; PC1 %.1f%%, "
                         "PC2 %.1f%% of the variance.</p><svg xmlns=\"http://www.w3.org/2000/svg\" "
                         "width=\"%d\" height=\"%d\"><rect width=\"%d\" height=\"%d\" fill=\"#fbfbfb\" "
                         "stroke=\"#ccc\"/>", np, n, 100 * pca.variance[0] / pca.total_variance,
                      100 * pca.variance[1] / pca.total_variance, W, H, W, H);
        for (size_t i = 0, r = 0; i < n; i += step, r++) {
            double x = pad + (W - 2 * pad) * (hi[0] > lo[0] ? (Y[r * 2] - lo[0]) / (hi[0] - lo[0]) : 0.5);
            double y = H - pad - (H - 2 * pad) * (hi[1] > lo[1] ? (Y[r * 2 + 1] - lo[1]) / (hi[1] - lo[1]) : 0.5);
            ps_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\" fill-opacity=\"0.7\"/>",
                          x, y, color(lab[i]));
        }
        ps_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\">PC1</text><text x=\"6\" y=\"16\" "
                         "font-size=\"12\">PC2</text>", W - 40, H - 8);
        for (int j = 0; j < m.k; j++) {
            ps_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                             "<text x=\"%d\" y=\"%d\" font-size=\"11\">%d</text>",
                          W - 60, 12 + j * 16, color(j), W - 45, 21 + j * 16, j);
        }
        ps_buf_printf(b, "</svg></section>\n");
        free(Y);
    }
    ps_pca_release(&pca);
    free(X);
    free(col);
    free(lab);
    free(dist);
    free(em);
    ps_segment_model_release(&m);
    ps_ftable_release(&t);
    return rc;
}

static void topics(struct ps_buf *b, struct ps_store *s, int64_t snap)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ps_store_db(s), "SELECT topic, share, words FROM topics WHERE run_id=? "
                           "ORDER BY topic", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, snap);
    int any = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!any++)
            ps_buf_printf(b, "<section id=\"topics\"><h2>Topics</h2><table><tr><th>topic</th>"
                             "<th>share</th><th>top words</th></tr>");
        ps_buf_printf(b, "<tr><td>%d</td><td>%.1f%%</td><td>", sqlite3_column_int(st, 0),
                      100 * sqlite3_column_double(st, 1));
        json_t *w = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(w, i, v) {
            ps_buf_printf(b, "%s", i ? " · " : "");
            esc(b, json_string_value(v));
        }
        json_decref(w);
        ps_buf_printf(b, "</td></tr>");
    }
    if (any)
        ps_buf_printf(b, "</table></section>\n");
    else
        ps_buf_printf(b, "<section id=\"topics\"><h2>Topics</h2><p>No topic model in this run "
                         "(no texts, or topics switched off).</p></section>\n");
    sqlite3_finalize(st);
}

static void drift(struct ps_buf *b, struct ps_store *s, int64_t snap, int64_t prev,
                  const struct seg_row *sg, int n)
{
    ps_buf_printf(b, "<section id=\"drift\"><h2>Drift since the previous snapshot</h2>");
    if (!prev) {
        ps_buf_printf(b, "<p>This is the first snapshot in this workspace: nothing to compare "
                         "yet.  Run again on newer data to see segment moves and tag changes.</p>"
                         "</section>\n");
        return;
    }
    struct seg_row *old = NULL;
    int no = 0;
    load_segments(s, prev, &old, &no);
    struct ps_buf d;
    ps_buf_init(&d);
    struct ps_err e = {0};
    json_t *diff = NULL;
    if (ps_store_diff(s, prev, snap, 1, 0, &d, &e) == PS_OK)
        diff = json_loads(d.data, 0, NULL);
    ps_buf_printf(b, "<p>Snapshot %lld against %lld: %lld users in both, %lld left, %lld new; "
                     "<b>%lld users changed segment</b> (segments matched across the refit by "
                     "shared users).</p><table><tr><th>segment now</th><th>was</th><th>size before</th>"
                     "<th>now</th><th>change</th></tr>", (long long)snap, (long long)prev,
                  (long long)json_integer_value(json_object_get(diff, "users_both")),
                  (long long)json_integer_value(json_object_get(diff, "only_in_from")),
                  (long long)json_integer_value(json_object_get(diff, "only_in_to")),
                  (long long)json_integer_value(json_object_get(diff, "moved_users")));
    for (int j = 0; j < n; j++) {
        int was = -1;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(diff, "segment_match"), i, r) {
            if (json_integer_value(json_array_get(r, 1)) == sg[j].id)
                was = (int)json_integer_value(json_array_get(r, 0));
        }
        long before = 0;
        for (int q = 0; q < no; q++)
            if (old[q].id == was)
                before = old[q].size;
        ps_buf_printf(b, "<tr><td>%d. ", sg[j].id);
        esc(b, sg[j].name);
        ps_buf_printf(b, "</td><td>");
        if (was >= 0) {
            ps_buf_printf(b, "%d. ", was);
            for (int q = 0; q < no; q++)
                if (old[q].id == was)
                    esc(b, old[q].name);
        } else {
            ps_buf_printf(b, "(new)");
        }
        ps_buf_printf(b, "</td><td>%ld</td><td>%ld</td><td>%+ld</td></tr>", before, sg[j].size,
                      sg[j].size - before);
    }
    ps_buf_printf(b, "</table>");
    const char *lists[2] = {"tags_gained", "tags_lost"};
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(diff, lists[k]);
        ps_buf_printf(b, "<p><b>%s:</b> ", k ? "Tags lost" : "Tags gained");
        size_t i;
        json_t *r;
        json_array_foreach(arr, i, r) {
            if (i >= 12)
                break;
            ps_buf_printf(b, "%s", i ? ", " : "");
            esc(b, json_string_value(json_array_get(r, 0)));
            ps_buf_printf(b, " %lld", (long long)json_integer_value(json_array_get(r, 1)));
        }
        if (!json_array_size(arr))
            ps_buf_printf(b, "none");
        ps_buf_printf(b, "</p>");
    }
    json_t *life = json_object_get(diff, "lifecycle_changes");
    if (json_array_size(life)) {
        ps_buf_printf(b, "<p><b>Lifecycle changes:</b> ");
        size_t i;
        json_t *r;
        json_array_foreach(life, i, r) {
            if (i >= 12)
                break;
            const char *x = json_string_value(json_array_get(r, 0)), *y = json_string_value(json_array_get(r, 1));
            ps_buf_printf(b, "%s", i ? ", " : "");
            esc(b, x ? x : "(none)");
            ps_buf_printf(b, " &rarr; ");
            esc(b, y ? y : "(none)");
            ps_buf_printf(b, " %lld", (long long)json_integer_value(json_array_get(r, 2)));
        }
        ps_buf_printf(b, "</p>");
    }
    json_decref(diff);
    ps_buf_release(&d);
    free_segments(old, no);
    ps_buf_printf(b, "</section>\n");
}

/* Offline recommendation metrics of the evaluate stage (store.h). */
static void recommendations(struct ps_buf *b, struct ps_store *s, int64_t run)
{
    sqlite3 *db = ps_store_db(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT split_at, ks, train_events, train_users, test_users, "
                           "test_purchases, catalogue FROM evaluations WHERE run_id=?", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, run);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return;
    }
    time_t split = (time_t)sqlite3_column_int64(st, 0);
    char when[32];
    struct tm tm;
    gmtime_r(&split, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    long long tr_ev = sqlite3_column_int64(st, 2), tr_u = sqlite3_column_int64(st, 3);
    long long te_u = sqlite3_column_int64(st, 4), te_p = sqlite3_column_int64(st, 5);
    long long cat = sqlite3_column_int64(st, 6);
    sqlite3_finalize(st);
    static const char *const methods[] = {"hybrid", "popular", "random", "als"};
    static const char *const labels[] = {"recommender (hybrid)", "popularity", "random", "ALS"};
    int has[4] = {0};
    for (int m = 0; m < 4; m++)
        has[m] = !isnan(ps_store_eval_metric(s, run, methods[m], "ndcg@10")) ||
                 !isnan(ps_store_eval_metric(s, run, methods[m], "precision@5")) ||
                 !isnan(ps_store_eval_metric(s, run, methods[m], "hit_rate@20"));
    double hy = ps_store_eval_metric(s, run, "hybrid", "ndcg@10");
    double po = ps_store_eval_metric(s, run, "popular", "ndcg@10");
    double ra = ps_store_eval_metric(s, run, "random", "ndcg@10");
    ps_buf_printf(b, "<section id=\"recommendations\"><h2>Recommendations</h2><p>Offline "
                     "evaluation (run %lld): trained on %lld events of %lld users before %s, "
                     "tested on the %lld purchases of %lld users after it; catalogue of %lld "
                     "items.</p>", (long long)run, tr_ev, tr_u, when, te_p, te_u, cat);
    if (!isnan(hy) && !isnan(po)) {
        ps_buf_printf(b, "<p class=\"kv\">NDCG@10: recommender %.4f, popularity %.4f", hy, po);
        if (po > 0)
            ps_buf_printf(b, " (%+.0f%%)", 100 * (hy / po - 1));
        if (!isnan(ra))
            ps_buf_printf(b, ", random %.4f", ra);
        ps_buf_printf(b, "</p><p>%s</p>", hy > po ? "The recommender beats the popularity "
                      "baseline on NDCG@10." : "The recommender does <b>not</b> beat the "
                      "popularity baseline on NDCG@10 here.");
    }
    ps_buf_printf(b, "<table><tr><th>metric</th>");
    for (int m = 0; m < 4; m++)
        if (has[m])
            ps_buf_printf(b, "<th>%s</th>", labels[m]);
    ps_buf_printf(b, "</tr>");
    if (sqlite3_prepare_v2(db, "SELECT metric FROM eval_metrics WHERE run_id=? AND "
                           "method='hybrid' ORDER BY CAST(substr(metric, instr(metric, '@') + 1) "
                           "AS INTEGER), rowid", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *metric = (const char *)sqlite3_column_text(st, 0);
            ps_buf_printf(b, "<tr%s><td>", strcmp(metric, "ndcg@10") == 0 ? " class=\"hl\"" : "");
            esc(b, metric);
            ps_buf_printf(b, "</td>");
            for (int m = 0; m < 4; m++) {
                if (!has[m])
                    continue;
                double v = ps_store_eval_metric(s, run, methods[m], metric);
                if (isnan(v))
                    ps_buf_printf(b, "<td class=\"num\">&ndash;</td>");
                else
                    ps_buf_printf(b, "<td class=\"num\">%.4f</td>", v);
            }
            ps_buf_printf(b, "</tr>");
        }
        sqlite3_finalize(st);
    }
    ps_buf_printf(b, "</table><p class=\"muted\">precision, recall, NDCG, MAP and hit rate "
                     "are means over test users; coverage is the share of the catalogue "
                     "recommended to anyone; novelty is the mean self-information of the "
                     "recommended items in bits (docs/apply.md).</p></section>\n");
}

/* The stored audiences (`persona audience create --workspace`), newest
 * per name, with their holdout groups per segment. */
static void audiences(struct ps_buf *b, struct ps_store *s)
{
    sqlite3 *db = ps_store_db(s);
    sqlite3_stmt *st, *sz;
    if (sqlite3_prepare_v2(db, "SELECT audience_id, name, where_expr, run_id, snapshot, holdout, "
                           "stratify, n_users, n_treatment, n_control, offers IS NOT NULL "
                           "FROM audiences a WHERE audience_id = (SELECT MAX(audience_id) FROM "
                           "audiences b WHERE b.name = a.name) ORDER BY audience_id DESC LIMIT 50",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_prepare_v2(db, "SELECT z.segment, g.name, SUM(CASE WHEN z.grp='treatment' THEN "
                           "z.n ELSE 0 END), SUM(CASE WHEN z.grp='control' THEN z.n ELSE 0 END) "
                           "FROM audience_sizes z JOIN audiences a USING (audience_id) LEFT JOIN "
                           "segments g ON g.run_id = a.snapshot AND g.segment = z.segment "
                           "WHERE z.audience_id=? GROUP BY z.segment ORDER BY z.segment", -1,
                           &sz, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    int any = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!any++)
            ps_buf_printf(b, "<section id=\"audiences\"><h2>Audiences</h2><p>Campaign audiences "
                             "stored by <code>persona audience create --workspace</code>; the "
                             "control group is held out (no offer) to measure the uplift "
                             "(<code>persona evaluate uplift</code>).</p><table><tr><th>audience"
                             "</th><th>condition</th><th>run</th><th>users</th><th>treatment</th>"
                             "<th>control (holdout)</th><th>per segment: treatment / control</th>"
                             "</tr>");
        const char *where = (const char *)sqlite3_column_text(st, 2);
        const char *strat = (const char *)sqlite3_column_text(st, 6);
        ps_buf_printf(b, "<tr><td><b>");
        esc(b, (const char *)sqlite3_column_text(st, 1));
        ps_buf_printf(b, "</b>%s</td><td><code>", sqlite3_column_int(st, 10) ? " (offers)" : "");
        esc(b, where ? where : "everyone");
        ps_buf_printf(b, "</code></td><td>%lld</td><td class=\"num\">%lld</td><td class=\"num\">"
                         "%lld</td><td class=\"num\">%lld (%.0f%%", (long long)sqlite3_column_int64(st, 3),
                      (long long)sqlite3_column_int64(st, 7), (long long)sqlite3_column_int64(st, 8),
                      (long long)sqlite3_column_int64(st, 9), 100 * sqlite3_column_double(st, 5));
        if (strat) {
            ps_buf_printf(b, ", by ");
            esc(b, strat);
        }
        ps_buf_printf(b, ")</td><td>");
        sqlite3_reset(sz);
        sqlite3_bind_int64(sz, 1, sqlite3_column_int64(st, 0));
        int first = 1;
        while (sqlite3_step(sz) == SQLITE_ROW) {
            ps_buf_printf(b, "%s", first ? "" : "<br>");
            first = 0;
            if (sqlite3_column_type(sz, 0) == SQLITE_NULL) {
                ps_buf_printf(b, "(no profile)");
            } else {
                ps_buf_printf(b, "%d", sqlite3_column_int(sz, 0));
                if (sqlite3_column_type(sz, 1) != SQLITE_NULL) {
                    ps_buf_printf(b, ". ");
                    esc(b, (const char *)sqlite3_column_text(sz, 1));
                }
            }
            ps_buf_printf(b, " %lld / %lld", (long long)sqlite3_column_int64(sz, 2),
                          (long long)sqlite3_column_int64(sz, 3));
        }
        ps_buf_printf(b, "</td></tr>");
    }
    if (any)
        ps_buf_printf(b, "</table></section>\n");
    sqlite3_finalize(sz);
    sqlite3_finalize(st);
}

int ps_report_write(const struct ps_report_params *p, struct ps_store *s, int64_t snapshot,
                    int64_t previous, struct ps_pool *pool, const char *path, struct ps_err *err)
{
    struct seg_row *sg = NULL;
    int n = 0;
    if (load_segments(s, snapshot, &sg, &n) != 0)
        return ps_err_set(err, PS_ERR_IO, "cannot read segments of snapshot %lld: %s",
                          (long long)snapshot, sqlite3_errmsg(ps_store_db(s)));
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    esc(&b, p->title);
    ps_buf_printf(&b, "</title><style>%s</style></head><body><header><h1>", CSS);
    esc(&b, p->title);
    ps_buf_printf(&b, "</h1><div>persona %s · snapshot %lld</div></header><main>\n", PERSONA_VERSION,
                  (long long)snapshot);
    overview(&b, s, snapshot, n);
    cards(&b, sg, n);
    heatmap(&b, sg, n, p->max_features);
    int rc = scatter(&b, p, pool, err);
    if (!rc) {
        topics(&b, s, snapshot);
        drift(&b, s, snapshot, previous, sg, n);
        if (p->eval_run > 0)
            recommendations(&b, s, p->eval_run);
        audiences(&b, s);
        ps_buf_printf(&b, "</main></body></html>\n");
        struct ps_afile f;
        rc = ps_afile_open(&f, path, err);
        if (!rc) {
            fwrite(b.data, 1, b.len, f.fp);
            rc = ps_afile_commit(&f, err);
        }
    }
    ps_buf_release(&b);
    free_segments(sg, n);
    return rc;
}
