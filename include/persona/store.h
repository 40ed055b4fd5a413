/*
 * store.h - the profile store: one SQLite database per workspace
 * (persona.db), schema in docs/store.md.
 *
 * WAL journal, foreign keys on, every batch of writes inside one
 * transaction (ps_store_begin / ps_store_commit).  Each `persona run`
 * adds a row to runs and its stage timings to run_stages; a run whose
 * profile stage did work adds a snapshot (profiles, segments, topics and
 * tags keyed by that run id).  runs.snapshot names the run whose snapshot
 * holds the profiles of a run (itself, or an earlier run when the profile
 * stage was unchanged and skipped).
 *
 * Profiles are stored as one JSON document per (run, user) with the
 * fields that queries filter on (segment, distance, lifecycle, rfm tier)
 * in their own indexed columns.
 *
 * Thread safety: a handle is used by one thread at a time.
 */
#ifndef PERSONA_STORE_H
#define PERSONA_STORE_H

#include <stdint.h>
#include <stdio.h>
#include "core.h"
#include "status.h"

#define PS_STORE_SCHEMA_VERSION 1

struct ps_store;
struct sqlite3;

/* Opens (creating the file and schema if needed).  A database with a
 * newer schema version is PS_ERR_UNSUPPORTED. */
int ps_store_open(struct ps_store **out, const char *path, struct ps_err *err);
/* Opens an existing store read-only (PS_ERR_IO when the file is missing). */
int ps_store_open_ro(struct ps_store **out, const char *path, struct ps_err *err);
void ps_store_close(struct ps_store *s);
/* The underlying connection (borrowed), for read queries. */
struct sqlite3 *ps_store_db(struct ps_store *s);

int ps_store_begin(struct ps_store *s, struct ps_err *err);
int ps_store_commit(struct ps_store *s, struct ps_err *err);
void ps_store_rollback(struct ps_store *s);

/* ---- runs ---- */
int ps_store_run_begin(struct ps_store *s, const char *config_path, uint64_t config_hash,
                       int64_t *run_id, struct ps_err *err);
int ps_store_run_stage(struct ps_store *s, int64_t run_id, const char *stage, uint64_t key,
                       int skipped, double seconds, int64_t rows_in, int64_t rows_out,
                       const char *note, struct ps_err *err);
/* status: "ok" or "failed"; snapshot: run id holding the profiles (0 = none). */
int ps_store_run_end(struct ps_store *s, int64_t run_id, const char *status, int64_t snapshot,
                     double seconds, size_t peak_rss, struct ps_err *err);
/* The snapshot of the latest finished run (0 if none). */
int64_t ps_store_latest_snapshot(struct ps_store *s);
/* The newest snapshot older than `snapshot` (0 if none). */
int64_t ps_store_previous_snapshot(struct ps_store *s, int64_t snapshot);
/* Resolves a run id given by a user to its snapshot; 0 when unknown. */
int64_t ps_store_snapshot_of(struct ps_store *s, int64_t run_id);

/* ---- snapshot contents (call between begin and commit) ---- */
int ps_store_user_put(struct ps_store *s, const char *user_id, const char *attrs_json,
                      int64_t run_id, struct ps_err *err);
/* lifecycle and rfm_tier may be NULL. */
int ps_store_profile_put(struct ps_store *s, int64_t run_id, const char *user_id, int segment,
                         double distance, const char *lifecycle, const char *rfm_tier,
                         const char *profile_json, struct ps_err *err);
int ps_store_tag_put(struct ps_store *s, int64_t run_id, const char *user_id, const char *tag,
                     double weight, struct ps_err *err);
int ps_store_segment_put(struct ps_store *s, int64_t run_id, int segment, const char *name,
                         int64_t size, double share, const char *card,
                         const char *profile_json, struct ps_err *err);
int ps_store_topic_put(struct ps_store *s, int64_t run_id, int topic, double share,
                       const char *words_json, struct ps_err *err);

/* ---- queries ---- */
/* Profile JSON of a user in a snapshot; *json owned (free()); PS_DONE when
 * the user has no profile there. */
int ps_store_profile_get(struct ps_store *s, int64_t snapshot, const char *user_id,
                         char **json, struct ps_err *err);

/* Differences between two snapshots, appended to out as text (json = 0)
 * or one JSON object (json = 1): users only in one of them, segment moves
 * (a from x to matrix and up to max_list example users), tags gained and
 * lost (counts per tag), lifecycle changes (counts per transition). */
int ps_store_diff(struct ps_store *s, int64_t from, int64_t to, int json, int max_list,
                  struct ps_buf *out, struct ps_err *err);

enum ps_store_format { PS_STORE_JSONL, PS_STORE_CSV };
/* Writes every profile of a snapshot, users in id order.  JSONL: the
 * stored documents.  CSV: user_id, segment, segment_name, distance,
 * lifecycle, rfm_tier, tags (";"-joined), then every feature column. */
int ps_store_export(struct ps_store *s, int64_t snapshot, enum ps_store_format fmt, FILE *out,
                    struct ps_err *err);

/* ---- offline recommendation evaluation (the evaluate stage) ---- */
struct ps_store_eval {
    int64_t split_at;          /* Unix seconds: train before, test at or after */
    const char *ks;            /* cutoffs as given, e.g. "5,10,20" */
    int64_t n_train_events, n_train_users, n_test_users, n_test_purchases, n_catalogue;
    double seconds;            /* wall time of the evaluation */
};
/* Records an evaluation for run_id (replacing one already there) and
 * removes its old metric rows; call between begin and commit. */
int ps_store_eval_put(struct ps_store *s, int64_t run_id, const struct ps_store_eval *e,
                      struct ps_err *err);
/* One cell of the metric table: method ("hybrid", "popular", "random",
 * "als") -> metric ("ndcg@10", as `persona evaluate recommend --json`)
 * -> value (NaN is stored as NULL). */
int ps_store_eval_metric_put(struct ps_store *s, int64_t run_id, const char *method,
                             const char *metric, double value, struct ps_err *err);
/* 1 when run_id has a stored evaluation, else 0. */
int ps_store_eval_exists(struct ps_store *s, int64_t run_id);
/* Metric value, NaN when absent or NULL. */
double ps_store_eval_metric(struct ps_store *s, int64_t run_id, const char *method,
                            const char *metric);

/* ---- audiences (`persona audience create --workspace`) ---- */
struct ps_store_audience {
    const char *name;          /* required */
    const char *where;         /* condition text or NULL */
    double holdout;            /* control share */
    const char *stratify;      /* column or NULL */
    int64_t min_size;
    const char *offers;        /* the offer rule file's text, or NULL */
    int64_t run_id;            /* the run it was drawn against */
    int64_t snapshot;          /* that run's snapshot (segments of members come from it) */
};
/* Stores an audience and its members from the CSV ps_audience_create
 * wrote (user_id,group,stratum,offer,score), each member with the segment
 * of its profile in a->snapshot (NULL when it has none), and the sizes per
 * (group, segment).  Call between begin and commit.  *audience_id (may be
 * NULL) receives the new row's id.  A malformed file is PS_ERR_BAD_INPUT
 * naming its line. */
int ps_store_audience_put(struct ps_store *s, const struct ps_store_audience *a,
                          const char *audience_csv, int64_t *audience_id, struct ps_err *err);
/* The newest audience id (0 when none): what the report's key depends on. */
int64_t ps_store_last_audience(struct ps_store *s);
/* The newest finished run (0 when none). */
int64_t ps_store_latest_run(struct ps_store *s);

#endif
