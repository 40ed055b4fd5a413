/*
 * store.c - the SQLite profile store (store.h, docs/store.md).
 */
#include "persona/store.h"
#include "persona/core.h"
#include "persona/reader.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ps_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *ins_profile, *ins_tag, *ins_user;
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS runs(\n"
    "  run_id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,\n"
    "  config_path TEXT NOT NULL, config_hash TEXT NOT NULL, version TEXT NOT NULL,\n"
    "  status TEXT NOT NULL DEFAULT 'running', snapshot INTEGER, seconds REAL,\n"
    "  peak_rss_bytes INTEGER);\n"
    "CREATE TABLE IF NOT EXISTS run_stages(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), stage TEXT NOT NULL,\n"
    "  key TEXT NOT NULL, skipped INTEGER NOT NULL, seconds REAL NOT NULL,\n"
    "  rows_in INTEGER, rows_out INTEGER, note TEXT, PRIMARY KEY(run_id, stage));\n"
    "CREATE TABLE IF NOT EXISTS users(\n"
    "  user_id TEXT PRIMARY KEY, attrs TEXT NOT NULL, first_run INTEGER NOT NULL,\n"
    "  last_run INTEGER NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS profiles(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), user_id TEXT NOT NULL,\n"
    "  segment INTEGER NOT NULL, distance REAL, lifecycle TEXT, rfm_tier TEXT,\n"
    "  profile TEXT NOT NULL, PRIMARY KEY(run_id, user_id));\n"
    "CREATE INDEX IF NOT EXISTS profiles_user ON profiles(user_id, run_id);\n"
    "CREATE INDEX IF NOT EXISTS profiles_segment ON profiles(run_id, segment);\n"
    "CREATE TABLE IF NOT EXISTS segments(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), segment INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL, size INTEGER NOT NULL, share REAL NOT NULL, card TEXT NOT NULL,\n"
    "  profile TEXT NOT NULL, PRIMARY KEY(run_id, segment));\n"
    "CREATE TABLE IF NOT EXISTS topics(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), topic INTEGER NOT NULL,\n"
    "  share REAL NOT NULL, words TEXT NOT NULL, PRIMARY KEY(run_id, topic));\n"
    "CREATE TABLE IF NOT EXISTS tags(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), user_id TEXT NOT NULL,\n"
    "  tag TEXT NOT NULL, weight REAL, PRIMARY KEY(run_id, user_id, tag));\n"
    "CREATE INDEX IF NOT EXISTS tags_tag ON tags(run_id, tag);\n"
    "CREATE INDEX IF NOT EXISTS tags_user ON tags(user_id, run_id);\n"
    "CREATE TABLE IF NOT EXISTS evaluations(\n"
    "  run_id INTEGER PRIMARY KEY REFERENCES runs(run_id), split_at INTEGER NOT NULL,\n"
    "  ks TEXT NOT NULL, train_events INTEGER, train_users INTEGER, test_users INTEGER,\n"
    "  test_purchases INTEGER, catalogue INTEGER, seconds REAL);\n"
    "CREATE TABLE IF NOT EXISTS eval_metrics(\n"
    "  run_id INTEGER NOT NULL REFERENCES evaluations(run_id), method TEXT NOT NULL,\n"
    "  metric TEXT NOT NULL, value REAL, PRIMARY KEY(run_id, method, metric));\n"
    "CREATE TABLE IF NOT EXISTS audiences(\n"
    "  audience_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  snapshot INTEGER, name TEXT NOT NULL, where_expr TEXT, holdout REAL NOT NULL,\n"
    "  stratify TEXT, min_size INTEGER, offers TEXT, created_at TEXT NOT NULL,\n"
    "  n_users INTEGER NOT NULL, n_treatment INTEGER NOT NULL, n_control INTEGER NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS audience_members(\n"
    "  audience_id INTEGER NOT NULL REFERENCES audiences(audience_id), user_id TEXT NOT NULL,\n"
    "  grp TEXT NOT NULL, stratum TEXT, segment INTEGER, offer TEXT, score REAL,\n"
    "  PRIMARY KEY(audience_id, user_id));\n"
    "CREATE INDEX IF NOT EXISTS audience_members_user ON audience_members(user_id);\n"
    "CREATE TABLE IF NOT EXISTS audience_sizes(\n"
    "  audience_id INTEGER NOT NULL REFERENCES audiences(audience_id), grp TEXT NOT NULL,\n"
    "  segment INTEGER, n INTEGER NOT NULL);\n"
    "CREATE INDEX IF NOT EXISTS audience_sizes_id ON audience_sizes(audience_id);\n";

static int db_err(struct ps_store *s, struct ps_err *err, const char *what)
{
    return ps_err_set(err, PS_ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(struct ps_store *s, const char *sql, struct ps_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = ps_err_set(err, PS_ERR_IO, "%s: %s", s->path, msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return PS_OK;
}

static int prepare(struct ps_store *s, const char *sql, sqlite3_stmt **st, struct ps_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(s, err, "prepare");
    return PS_OK;
}

static int open_common(struct ps_store **out, const char *path, int ro, struct ps_err *err)
{
    struct ps_store *s = ps_xcalloc(1, sizeof *s);
    s->path = ps_xstrdup(path);
    int flags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = PS_OK;
    *out = NULL;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot open store \"%s\": %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (!ro) {
        if ((rc = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                          "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;", err)))
            goto fail;
        if ((rc = exec(s, "BEGIN", err)))
            goto fail;
        if ((rc = exec(s, SCHEMA, err))) {
            exec(s, "ROLLBACK", NULL);
            goto fail;
        }
        sqlite3_stmt *st;
        if ((rc = prepare(s, "SELECT value FROM meta WHERE key='schema_version'", &st, err))) {
            exec(s, "ROLLBACK", NULL);
            goto fail;
        }
        int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_finalize(st);
        if (have > PS_STORE_SCHEMA_VERSION) {
            exec(s, "ROLLBACK", NULL);
            rc = ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: store schema version %d is newer than this "
                            "persona's (%d)", path, have, PS_STORE_SCHEMA_VERSION);
            goto fail;
        }
        if (!have && (rc = exec(s, "INSERT INTO meta VALUES('schema_version', '1')", err))) {
            exec(s, "ROLLBACK", NULL);
            goto fail;
        }
        if ((rc = exec(s, "COMMIT", err)))
            goto fail;
    } else {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
                               NULL) != SQLITE_OK) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "\"%s\" is not a persona store: %s", path,
                            sqlite3_errmsg(s->db));
            goto fail;
        }
        sqlite3_finalize(st);
    }
    *out = s;
    return PS_OK;
fail:
    ps_store_close(s);
    return rc;
}

int ps_store_open(struct ps_store **out, const char *path, struct ps_err *err)
{
    return open_common(out, path, 0, err);
}

int ps_store_open_ro(struct ps_store **out, const char *path, struct ps_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "no store at \"%s\" (run `persona run` first)", path);
    fclose(f);
    return open_common(out, path, 1, err);
}

void ps_store_close(struct ps_store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->ins_profile);
    sqlite3_finalize(s->ins_tag);
    sqlite3_finalize(s->ins_user);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

struct sqlite3 *ps_store_db(struct ps_store *s) { return s->db; }

int ps_store_begin(struct ps_store *s, struct ps_err *err) { return exec(s, "BEGIN IMMEDIATE", err); }
int ps_store_commit(struct ps_store *s, struct ps_err *err) { return exec(s, "COMMIT", err); }
void ps_store_rollback(struct ps_store *s) { exec(s, "ROLLBACK", NULL); }

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ps_store_run_begin(struct ps_store *s, const char *config_path, uint64_t config_hash,
                       int64_t *run_id, struct ps_err *err)
{
    sqlite3_stmt *st;
    char ts[32], hx[17];
    now_iso(ts, sizeof ts);
    snprintf(hx, sizeof hx, "%016llx", (unsigned long long)config_hash);
    int rc = prepare(s, "INSERT INTO runs(started_at, config_path, config_hash, version) "
                        "VALUES(?, ?, ?, ?)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, config_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hx, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, PERSONA_VERSION, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert run");
    sqlite3_finalize(st);
    *run_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int ps_store_run_stage(struct ps_store *s, int64_t run_id, const char *stage, uint64_t key,
                       int skipped, double seconds, int64_t rows_in, int64_t rows_out,
                       const char *note, struct ps_err *err)
{
    sqlite3_stmt *st;
    char hx[17];
    snprintf(hx, sizeof hx, "%016llx", (unsigned long long)key);
    int rc = prepare(s, "INSERT OR REPLACE INTO run_stages VALUES(?, ?, ?, ?, ?, ?, ?, ?)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, stage, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hx, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, skipped);
    sqlite3_bind_double(st, 5, seconds);
    if (rows_in >= 0) sqlite3_bind_int64(st, 6, rows_in); else sqlite3_bind_null(st, 6);
    if (rows_out >= 0) sqlite3_bind_int64(st, 7, rows_out); else sqlite3_bind_null(st, 7);
    if (note) sqlite3_bind_text(st, 8, note, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(st, 8);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert stage");
    sqlite3_finalize(st);
    return rc;
}

int ps_store_run_end(struct ps_store *s, int64_t run_id, const char *status, int64_t snapshot,
                     double seconds, size_t peak_rss, struct ps_err *err)
{
    sqlite3_stmt *st;
    char ts[32];
    now_iso(ts, sizeof ts);
    int rc = prepare(s, "UPDATE runs SET finished_at=?, status=?, snapshot=?, seconds=?, "
                        "peak_rss_bytes=? WHERE run_id=?", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
    if (snapshot > 0) sqlite3_bind_int64(st, 3, snapshot); else sqlite3_bind_null(st, 3);
    sqlite3_bind_double(st, 4, seconds);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)peak_rss);
    sqlite3_bind_int64(st, 6, run_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "update run");
    sqlite3_finalize(st);
    return rc;
}

static int64_t query_i64(struct ps_store *s, const char *sql, int64_t arg)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (arg >= 0)
        sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t ps_store_latest_snapshot(struct ps_store *s)
{
    return query_i64(s, "SELECT snapshot FROM runs WHERE status='ok' AND snapshot IS NOT NULL "
                        "ORDER BY run_id DESC LIMIT 1", -1);
}

int64_t ps_store_previous_snapshot(struct ps_store *s, int64_t snapshot)
{
    return query_i64(s, "SELECT MAX(snapshot) FROM runs WHERE status='ok' AND snapshot < ?", snapshot);
}

int64_t ps_store_snapshot_of(struct ps_store *s, int64_t run_id)
{
    return query_i64(s, "SELECT snapshot FROM runs WHERE run_id=? AND status='ok'", run_id);
}

int ps_store_user_put(struct ps_store *s, const char *user_id, const char *attrs_json,
                      int64_t run_id, struct ps_err *err)
{
    if (!s->ins_user && prepare(s, "INSERT INTO users VALUES(?1, ?2, ?3, ?3) ON CONFLICT(user_id) "
                                   "DO UPDATE SET attrs=excluded.attrs, last_run=excluded.last_run",
                                &s->ins_user, err))
        return err->status;
    sqlite3_stmt *st = s->ins_user;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, attrs_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, run_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_err(s, err, "insert user");
    return PS_OK;
}

int ps_store_profile_put(struct ps_store *s, int64_t run_id, const char *user_id, int segment,
                         double distance, const char *lifecycle, const char *rfm_tier,
                         const char *profile_json, struct ps_err *err)
{
    if (!s->ins_profile && prepare(s, "INSERT INTO profiles VALUES(?, ?, ?, ?, ?, ?, ?)",
                                   &s->ins_profile, err))
        return err->status;
    sqlite3_stmt *st = s->ins_profile;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, segment);
    if (distance == distance) sqlite3_bind_double(st, 4, distance); else sqlite3_bind_null(st, 4);
    if (lifecycle) sqlite3_bind_text(st, 5, lifecycle, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(st, 5);
    if (rfm_tier) sqlite3_bind_text(st, 6, rfm_tier, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(st, 6);
    sqlite3_bind_text(st, 7, profile_json, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_err(s, err, "insert profile");
    return PS_OK;
}

int ps_store_tag_put(struct ps_store *s, int64_t run_id, const char *user_id, const char *tag,
                     double weight, struct ps_err *err)
{
    if (!s->ins_tag && prepare(s, "INSERT OR REPLACE INTO tags VALUES(?, ?, ?, ?)", &s->ins_tag, err))
        return err->status;
    sqlite3_stmt *st = s->ins_tag;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, tag, -1, SQLITE_TRANSIENT);
    if (weight == weight) sqlite3_bind_double(st, 4, weight); else sqlite3_bind_null(st, 4);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_err(s, err, "insert tag");
    return PS_OK;
}

int ps_store_segment_put(struct ps_store *s, int64_t run_id, int segment, const char *name,
                         int64_t size, double share, const char *card,
                         const char *profile_json, struct ps_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "INSERT OR REPLACE INTO segments VALUES(?, ?, ?, ?, ?, ?, ?)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, segment);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, size);
    sqlite3_bind_double(st, 5, share);
    sqlite3_bind_text(st, 6, card, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, profile_json, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert segment");
    sqlite3_finalize(st);
    return rc;
}

int ps_store_topic_put(struct ps_store *s, int64_t run_id, int topic, double share,
                       const char *words_json, struct ps_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "INSERT OR REPLACE INTO topics VALUES(?, ?, ?, ?)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, topic);
    sqlite3_bind_double(st, 3, share);
    sqlite3_bind_text(st, 4, words_json, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert topic");
    sqlite3_finalize(st);
    return rc;
}

/* ---- evaluation ---- */

int ps_store_eval_put(struct ps_store *s, int64_t run_id, const struct ps_store_eval *e,
                      struct ps_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "DELETE FROM eval_metrics WHERE run_id=?", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "delete metrics");
    sqlite3_finalize(st);
    if (rc || (rc = prepare(s, "INSERT OR REPLACE INTO evaluations VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            &st, err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, e->split_at);
    sqlite3_bind_text(st, 3, e->ks ? e->ks : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, e->n_train_events);
    sqlite3_bind_int64(st, 5, e->n_train_users);
    sqlite3_bind_int64(st, 6, e->n_test_users);
    sqlite3_bind_int64(st, 7, e->n_test_purchases);
    sqlite3_bind_int64(st, 8, e->n_catalogue);
    sqlite3_bind_double(st, 9, e->seconds);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert evaluation");
    sqlite3_finalize(st);
    return rc;
}

int ps_store_eval_metric_put(struct ps_store *s, int64_t run_id, const char *method,
                             const char *metric, double value, struct ps_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "INSERT OR REPLACE INTO eval_metrics VALUES(?, ?, ?, ?)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, metric, -1, SQLITE_TRANSIENT);
    if (isnan(value)) sqlite3_bind_null(st, 4); else sqlite3_bind_double(st, 4, value);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert metric");
    sqlite3_finalize(st);
    return rc;
}

int ps_store_eval_exists(struct ps_store *s, int64_t run_id)
{
    return query_i64(s, "SELECT COUNT(*) FROM evaluations WHERE run_id=?", run_id) > 0;
}

double ps_store_eval_metric(struct ps_store *s, int64_t run_id, const char *method,
                            const char *metric)
{
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM eval_metrics WHERE run_id=? AND method=? "
                           "AND metric=?", -1, &st, NULL) != SQLITE_OK)
        return v;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, metric, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---- audiences ---- */

int64_t ps_store_last_audience(struct ps_store *s)
{
    return query_i64(s, "SELECT COALESCE(MAX(audience_id), 0) FROM audiences", -1);
}

int64_t ps_store_latest_run(struct ps_store *s)
{
    return query_i64(s, "SELECT COALESCE(MAX(run_id), 0) FROM runs WHERE status='ok'", -1);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int ps_store_audience_put(struct ps_store *s, const struct ps_store_audience *a,
                          const char *audience_csv, int64_t *audience_id, struct ps_err *err)
{
    struct ps_reader *r = NULL;
    struct ps_reader_params rp = ps_reader_default_params();
    sqlite3_stmt *ins = NULL, *st = NULL;
    char ts[32];
    int64_t id = 0, n = 0, nt = 0, nc = 0;
    now_iso(ts, sizeof ts);
    int rc = prepare(s, "INSERT INTO audiences(run_id, snapshot, name, where_expr, holdout, "
                        "stratify, min_size, offers, created_at, n_users, n_treatment, n_control) "
                        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, a->run_id);
    if (a->snapshot > 0) sqlite3_bind_int64(st, 2, a->snapshot); else sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, a->name, -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 4, a->where);
    sqlite3_bind_double(st, 5, a->holdout);
    bind_opt_text(st, 6, a->stratify);
    sqlite3_bind_int64(st, 7, a->min_size);
    bind_opt_text(st, 8, a->offers);
    sqlite3_bind_text(st, 9, ts, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert audience");
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        return rc;
    id = sqlite3_last_insert_rowid(s->db);
    if ((rc = ps_reader_open(&r, audience_csv, &rp, err)))
        return rc;
    int cu = ps_reader_column_index(r, "user_id"), cg = ps_reader_column_index(r, "group");
    int cs = ps_reader_column_index(r, "stratum"), co = ps_reader_column_index(r, "offer");
    int cx = ps_reader_column_index(r, "score");
    if (cu < 0 || cg < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing column \"%s\"", audience_csv,
                        cu < 0 ? "user_id" : "group");
        goto done;
    }
    if ((rc = prepare(s, "INSERT INTO audience_members VALUES(?1, ?2, ?3, ?4, (SELECT segment "
                         "FROM profiles WHERE run_id=?5 AND user_id=?2), ?6, ?7)", &ins, err)))
        goto done;
    while ((rc = ps_reader_next(r)) == PS_OK) {
        size_t lu, lg;
        const char *u = ps_reader_field(r, cu, &lu), *g = ps_reader_field(r, cg, &lg);
        int treat = strcmp(g, "treatment") == 0;
        if (!treat && strcmp(g, "control") != 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"group\": expected treatment "
                            "or control, got \"%s\"", ps_reader_name(r), ps_reader_line(r), g);
            goto done;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_text(ins, 2, u, (int)lu, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, g, (int)lg, SQLITE_TRANSIENT);
        const char *v = cs >= 0 ? ps_reader_field(r, cs, NULL) : "";
        bind_opt_text(ins, 4, v[0] ? v : NULL);
        sqlite3_bind_int64(ins, 5, a->snapshot);
        v = co >= 0 ? ps_reader_field(r, co, NULL) : "";
        bind_opt_text(ins, 6, v[0] ? v : NULL);
        v = cx >= 0 ? ps_reader_field(r, cx, NULL) : "";
        char *end;
        double x = v[0] ? strtod(v, &end) : 0;
        if (v[0] && !*end)
            sqlite3_bind_double(ins, 7, x);
        else
            sqlite3_bind_null(ins, 7);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: cannot store member \"%s\": %s",
                            ps_reader_name(r), ps_reader_line(r), u, sqlite3_errmsg(s->db));
            goto done;
        }
        n++;
        nt += treat;
        nc += !treat;
    }
    if (rc != PS_DONE) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
        goto done;
    }
    rc = PS_OK;
    if ((rc = prepare(s, "INSERT INTO audience_sizes SELECT audience_id, grp, segment, COUNT(*) "
                         "FROM audience_members WHERE audience_id=? GROUP BY grp, segment "
                         "ORDER BY grp, segment", &st, err)))
        goto done;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "insert audience sizes");
    sqlite3_finalize(st);
    if (rc || (rc = prepare(s, "UPDATE audiences SET n_users=?, n_treatment=?, n_control=? "
                               "WHERE audience_id=?", &st, err)))
        goto done;
    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_int64(st, 2, nt);
    sqlite3_bind_int64(st, 3, nc);
    sqlite3_bind_int64(st, 4, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "update audience");
    sqlite3_finalize(st);
    if (!rc && audience_id)
        *audience_id = id;
done:
    sqlite3_finalize(ins);
    ps_reader_close(r);
    return rc;
}

int ps_store_profile_get(struct ps_store *s, int64_t snapshot, const char *user_id,
                         char **json, struct ps_err *err)
{
    sqlite3_stmt *st;
    *json = NULL;
    int rc = prepare(s, "SELECT profile FROM profiles WHERE run_id=? AND user_id=?", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, snapshot);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *json = ps_xstrdup((const char *)sqlite3_column_text(st, 0));
    else if (r == SQLITE_DONE)
        rc = PS_DONE;
    else
        rc = db_err(s, err, "select profile");
    sqlite3_finalize(st);
    return rc;
}

/* ---- diff ---- */

static void diff_counts(struct ps_store *s, const char *sql, int64_t a, int64_t b, json_t *arr,
                        int n_cols)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *row = json_array();
        for (int i = 0; i < n_cols; i++) {
            if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
                json_array_append_new(row, json_integer(sqlite3_column_int64(st, i)));
            else if (sqlite3_column_type(st, i) == SQLITE_NULL)
                json_array_append_new(row, json_null());
            else
                json_array_append_new(row, json_string((const char *)sqlite3_column_text(st, i)));
        }
        json_array_append_new(arr, row);
    }
    sqlite3_finalize(st);
}

static long long match_of(json_t *pairs, long long a)
{
    size_t i;
    json_t *r;
    json_array_foreach(pairs, i, r) {
        if (json_integer_value(json_array_get(r, 0)) == a)
            return json_integer_value(json_array_get(r, 1));
    }
    return -1;
}

int ps_store_diff(struct ps_store *s, int64_t from, int64_t to, int json, int max_list,
                  struct ps_buf *out, struct ps_err *err)
{
    (void)err;
    json_t *o = json_object();
    json_object_set_new(o, "from", json_integer(from));
    json_object_set_new(o, "to", json_integer(to));
    json_t *only_from = json_array(), *only_to = json_array(), *moves = json_array(),
           *examples = json_array(), *gained = json_array(), *lost = json_array(),
           *life = json_array(), *n = json_array();
    diff_counts(s, "SELECT (SELECT COUNT(*) FROM profiles WHERE run_id=?1), "
                   "(SELECT COUNT(*) FROM profiles WHERE run_id=?2), "
                   "(SELECT COUNT(*) FROM profiles a JOIN profiles b ON a.user_id=b.user_id "
                   " WHERE a.run_id=?1 AND b.run_id=?2)", from, to, n, 3);
    diff_counts(s, "SELECT COUNT(*) FROM profiles a WHERE a.run_id=?1 AND NOT EXISTS "
                   "(SELECT 1 FROM profiles b WHERE b.run_id=?2 AND b.user_id=a.user_id)", from, to,
                only_from, 1);
    diff_counts(s, "SELECT COUNT(*) FROM profiles b WHERE b.run_id=?2 AND NOT EXISTS "
                   "(SELECT 1 FROM profiles a WHERE a.run_id=?1 AND a.user_id=b.user_id)", from, to,
                only_to, 1);
    diff_counts(s, "SELECT a.segment, b.segment, COUNT(*) FROM profiles a JOIN profiles b "
                   "ON a.user_id=b.user_id WHERE a.run_id=?1 AND b.run_id=?2 "
                   "GROUP BY a.segment, b.segment ORDER BY a.segment, b.segment", from, to, moves, 3);
    diff_counts(s, "SELECT tag, COUNT(*) FROM tags b WHERE b.run_id=?2 AND EXISTS (SELECT 1 FROM "
                   "profiles p WHERE p.run_id=?1 AND p.user_id=b.user_id) AND NOT EXISTS (SELECT 1 "
                   "FROM tags a WHERE a.run_id=?1 AND a.user_id=b.user_id AND a.tag=b.tag) "
                   "GROUP BY tag ORDER BY COUNT(*) DESC, tag", from, to, gained, 2);
    diff_counts(s, "SELECT tag, COUNT(*) FROM tags a WHERE a.run_id=?1 AND EXISTS (SELECT 1 FROM "
                   "profiles p WHERE p.run_id=?2 AND p.user_id=a.user_id) AND NOT EXISTS (SELECT 1 "
                   "FROM tags b WHERE b.run_id=?2 AND b.user_id=a.user_id AND a.tag=b.tag) "
                   "GROUP BY tag ORDER BY COUNT(*) DESC, tag", from, to, lost, 2);
    diff_counts(s, "SELECT a.lifecycle, b.lifecycle, COUNT(*) FROM profiles a JOIN profiles b "
                   "ON a.user_id=b.user_id WHERE a.run_id=?1 AND b.run_id=?2 AND "
                   "a.lifecycle IS NOT b.lifecycle GROUP BY 1, 2 ORDER BY 3 DESC", from, to, life, 3);
    json_t *nr = json_array_get(n, 0);
    json_object_set(o, "users_from", json_array_get(nr, 0));
    json_object_set(o, "users_to", json_array_get(nr, 1));
    json_object_set(o, "users_both", json_array_get(nr, 2));
    json_object_set(o, "only_in_from", json_array_get(json_array_get(only_from, 0), 0));
    json_object_set(o, "only_in_to", json_array_get(json_array_get(only_to, 0), 0));
    /* Segment ids are renumbered by every refit (largest first), so a
     * move is judged against a matching of old to new segments: greedy,
     * one to one, by the number of shared users (largest first). */
    int n_from = 0, n_to = 0;
    size_t i_;
    json_t *r_;
    json_array_foreach(moves, i_, r_) {
        int a = (int)json_integer_value(json_array_get(r_, 0)), b = (int)json_integer_value(json_array_get(r_, 1));
        if (a >= 0 && a < 4096 && a + 1 > n_from) n_from = a + 1;
        if (b >= 0 && b < 4096 && b + 1 > n_to) n_to = b + 1;
    }
    int *match = ps_xmalloc((size_t)(n_from + 1) * sizeof *match);
    int *taken = ps_xcalloc((size_t)(n_to + 1), sizeof *taken);
    for (int a = 0; a < n_from; a++)
        match[a] = -1;
    json_t *pairs = json_array();
    for (;;) {
        long long best = 0;
        int ba = -1, bb = -1;
        json_array_foreach(moves, i_, r_) {
            int a = (int)json_integer_value(json_array_get(r_, 0)), b = (int)json_integer_value(json_array_get(r_, 1));
            long long c = json_integer_value(json_array_get(r_, 2));
            if (a < 0 || a >= n_from || b < 0 || b >= n_to || match[a] >= 0 || taken[b])
                continue;
            if (c > best) {
                best = c;
                ba = a;
                bb = b;
            }
        }
        if (ba < 0)
            break;
        match[ba] = bb;
        taken[bb] = 1;
        json_array_append_new(pairs, json_pack("[iiI]", ba, bb, (json_int_t)best));
    }
    long long moved = 0;
    json_array_foreach(moves, i_, r_) {
        int a = (int)json_integer_value(json_array_get(r_, 0)), b = (int)json_integer_value(json_array_get(r_, 1));
        if (a < 0 || a >= n_from || match[a] != b)
            moved += json_integer_value(json_array_get(r_, 2));
    }
    sqlite3_stmt *st;
    if (max_list > 0 &&
        sqlite3_prepare_v2(s->db, "SELECT a.user_id, a.segment, b.segment FROM profiles a JOIN profiles b "
                           "ON a.user_id=b.user_id WHERE a.run_id=?1 AND b.run_id=?2 ORDER BY a.user_id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, to);
        while ((int)json_array_size(examples) < max_list && sqlite3_step(st) == SQLITE_ROW) {
            int a = sqlite3_column_int(st, 1), b = sqlite3_column_int(st, 2);
            if (a >= 0 && a < n_from && match[a] == b)
                continue;
            json_array_append_new(examples, json_pack("[sii]", (const char *)sqlite3_column_text(st, 0), a, b));
        }
        sqlite3_finalize(st);
    }
    free(match);
    free(taken);
    json_object_set_new(o, "segment_matrix", moves);
    json_object_set_new(o, "segment_match", pairs);
    json_object_set_new(o, "moved_users", json_integer(moved));
    json_object_set_new(o, "segment_moves", examples);
    json_object_set_new(o, "tags_gained", gained);
    json_object_set_new(o, "tags_lost", lost);
    json_object_set_new(o, "lifecycle_changes", life);
    if (json) {
        char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ps_buf_printf(out, "%s\n", t);
        free(t);
    } else {
        ps_buf_printf(out, "snapshots %lld -> %lld: %lld users before, %lld after, %lld in both "
                           "(%lld left, %lld new)\n",
                      (long long)from, (long long)to,
                      (long long)json_integer_value(json_object_get(o, "users_from")),
                      (long long)json_integer_value(json_object_get(o, "users_to")),
                      (long long)json_integer_value(json_object_get(o, "users_both")),
                      (long long)json_integer_value(json_object_get(o, "only_in_from")),
                      (long long)json_integer_value(json_object_get(o, "only_in_to")));
        size_t i;
        json_t *r;
        ps_buf_printf(out, "segment matching (old -> new, by shared users):");
        json_array_foreach(pairs, i, r) {
            ps_buf_printf(out, " %lld->%lld", (long long)json_integer_value(json_array_get(r, 0)),
                          (long long)json_integer_value(json_array_get(r, 1)));
        }
        ps_buf_printf(out, "\nsegment moves: %lld users\n", moved);
        json_array_foreach(moves, i, r) {
            long long a = json_integer_value(json_array_get(r, 0)), b = json_integer_value(json_array_get(r, 1));
            if (a >= n_from || a < 0 || match_of(pairs, a) != b)
                ps_buf_printf(out, "  segment %lld -> %lld: %lld\n", a, b,
                              (long long)json_integer_value(json_array_get(r, 2)));
        }
        json_array_foreach(examples, i, r) {
            ps_buf_printf(out, "  moved: %s %lld -> %lld\n", json_string_value(json_array_get(r, 0)),
                          (long long)json_integer_value(json_array_get(r, 1)),
                          (long long)json_integer_value(json_array_get(r, 2)));
        }
        const char *label[2] = {"tags gained", "tags lost"};
        json_t *arrs[2] = {gained, lost};
        for (int k = 0; k < 2; k++) {
            ps_buf_printf(out, "%s: %zu distinct\n", label[k], json_array_size(arrs[k]));
            json_array_foreach(arrs[k], i, r) {
                ps_buf_printf(out, "  %s: %lld\n", json_string_value(json_array_get(r, 0)),
                              (long long)json_integer_value(json_array_get(r, 1)));
            }
        }
        ps_buf_printf(out, "lifecycle changes: %zu transitions\n", json_array_size(life));
        json_array_foreach(life, i, r) {
            const char *a = json_string_value(json_array_get(r, 0)), *b = json_string_value(json_array_get(r, 1));
            ps_buf_printf(out, "  %s -> %s: %lld\n", a ? a : "(none)", b ? b : "(none)",
                          (long long)json_integer_value(json_array_get(r, 2)));
        }
    }
    json_decref(o);
    json_decref(only_from);
    json_decref(only_to);
    json_decref(n);
    return PS_OK;
}

/* ---- export ---- */

static void csv_field(FILE *out, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int ps_store_export(struct ps_store *s, int64_t snapshot, enum ps_store_format fmt, FILE *out,
                    struct ps_err *err)
{
    sqlite3_stmt *st;
    int rc = prepare(s, "SELECT p.user_id, p.segment, g.name, p.distance, p.lifecycle, p.rfm_tier, "
                        "p.profile, (SELECT group_concat(tag, ';') FROM (SELECT tag FROM tags t "
                        "WHERE t.run_id=p.run_id AND t.user_id=p.user_id ORDER BY tag)) "
                        "FROM profiles p LEFT JOIN segments g ON g.run_id=p.run_id AND "
                        "g.segment=p.segment WHERE p.run_id=? ORDER BY p.user_id", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, snapshot);
    int header = 0, r;
    json_t *cols = NULL;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *prof = (const char *)sqlite3_column_text(st, 6);
        if (fmt == PS_STORE_JSONL) {
            fputs(prof, out);
            fputc('\n', out);
            continue;
        }
        json_t *doc = json_loads(prof, 0, NULL);
        json_t *feat = doc ? json_object_get(doc, "features") : NULL;
        const char *key;
        json_t *v;
        if (!header) {
            fputs("user_id,segment,segment_name,distance,lifecycle,rfm_tier,tags", out);
            cols = json_array();
            json_object_foreach(feat, key, v) {
                json_array_append_new(cols, json_string(key));
                fputc(',', out);
                csv_field(out, key);
            }
            fputc('\n', out);
            header = 1;
        }
        csv_field(out, (const char *)sqlite3_column_text(st, 0));
        fprintf(out, ",%d,", sqlite3_column_int(st, 1));
        csv_field(out, (const char *)sqlite3_column_text(st, 2));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            fprintf(out, ",%.6g,", sqlite3_column_double(st, 3));
        else
            fputs(",,", out);
        csv_field(out, (const char *)sqlite3_column_text(st, 4));
        fputc(',', out);
        csv_field(out, (const char *)sqlite3_column_text(st, 5));
        fputc(',', out);
        csv_field(out, (const char *)sqlite3_column_text(st, 7));
        size_t i;
        json_t *c;
        json_array_foreach(cols, i, c) {
            fputc(',', out);
            json_t *x = json_object_get(feat, json_string_value(c));
            if (json_is_number(x))
                fprintf(out, "%.10g", json_number_value(x));
            else if (json_is_string(x))
                csv_field(out, json_string_value(x));
        }
        fputc('\n', out);
        json_decref(doc);
    }
    if (r != SQLITE_DONE)
        rc = db_err(s, err, "export");
    if (fmt == PS_STORE_CSV && !header && !rc)
        fputs("user_id,segment,segment_name,distance,lifecycle,rfm_tier,tags\n", out);
    json_decref(cols);
    sqlite3_finalize(st);
    if (!rc && ferror(out))
        rc = ps_err_set(err, PS_ERR_IO, "write error during export");
    return rc;
}
