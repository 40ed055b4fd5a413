/*
 * segment.h - user segmentation: the feature table, the segment model
 * file, fitting (scale + K-means, optionally choosing K), assigning new
 * users, and the readable summaries a marketer gets.
 *
 * Sits on scaler.h, kmeans.h and cluster_metrics.h; cli/cmd_segment.c is
 * a thin shell over it.  Inputs are the features stage's outputs:
 * features.csv (user_id first, numeric columns, some text columns such as
 * top_category_1; empty = missing) or features.npy with its X.json and
 * X.ids.txt sidecars (docs/ARCHITECTURE.md).
 */
#ifndef PERSONA_SEGMENT_H
#define PERSONA_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include "kmeans.h"
#include "scaler.h"
#include "status.h"

struct ps_pool;
struct ps_strmap;

/* ---- feature table ----------------------------------------------------- */

/* A column is numeric when its first non-empty value parses as a number;
 * later values must then be numbers too (or empty).  Otherwise it is a
 * text column whose values are interned. */
struct ps_ftable {
    size_t n_rows;
    int n_cols;               /* columns after user_id */
    char **names;             /* n_cols names, owned */
    unsigned char *is_text;   /* n_cols flags */
    float *num;               /* n_rows x n_cols row-major; NaN = missing or text */
    int32_t **text;           /* per column: n_rows value ids (-1 = missing) or NULL */
    struct ps_strmap **dict;  /* per text column: value strings, or NULL */
    struct ps_strmap *ids;    /* user ids; id i is row i */
};

/* Loads features.csv (through reader.h) or a .npy with its sidecars,
 * chosen by extension.  Errors name the file, line and column:
 *   features.csv:17: column "total_spend": expected a number, got "abc"
 * Duplicate user ids are an error.  Memory: the whole table. */
int ps_ftable_load(struct ps_ftable *t, const char *path, struct ps_err *err);
void ps_ftable_release(struct ps_ftable *t);
int ps_ftable_column(const struct ps_ftable *t, const char *name);
const char *ps_ftable_user(const struct ps_ftable *t, size_t row);

/* ---- model file ---------------------------------------------------------- */

#define PS_SEGMENT_MODEL_VERSION 1

struct ps_segment_model {
    int k, d;
    char **columns;               /* d feature names, owned */
    struct ps_scaler scaler;      /* fitted on the training rows */
    double *centers;              /* k x d, scaled units */
    double *radius99;             /* k: 99th percentile of training distances */
    char **names;                 /* k generated names (UTF-8), owned */
    /* how it was made */
    struct ps_kmeans_params km;   /* init is always NULL here */
    double inertia;
    int n_iter;
    size_t n_train;
};

/*
 * Text file: a magic line "PERSONA-SEGMENT-MODEL", "version N", every
 * hyperparameter, the scaler, the centres and per-segment radii, and a
 * final "checksum" line (ps_hash64 of all preceding bytes).  Saved
 * atomically.  Loading validates everything (magic, version, checksum,
 * counts, finiteness, limits) and fails with PS_ERR_BAD_INPUT naming the
 * file and line; it never trusts a count before checking it.
 */
int ps_segment_model_save(const struct ps_segment_model *m, const char *path, struct ps_err *err);
int ps_segment_model_load(struct ps_segment_model *m, const char *path, struct ps_err *err);
void ps_segment_model_release(struct ps_segment_model *m);

/* ---- fitting ------------------------------------------------------------- */

struct ps_segment_params {
    const char *columns;          /* comma-separated names; NULL = seed default
                                   * (browse_count,purchase_count,average_stay_time)
                                   * when present, else every numeric column */
    enum ps_scaler_kind scale;    /* default standard */
    const char *log1p;            /* comma-separated names, or NULL */
    int k;                        /* 0 = auto over [k_min, k_max] */
    int k_min, k_max;             /* default 2..12 */
    size_t silhouette_max;        /* exact silhouette up to this many rows (20000) */
    struct ps_kmeans_params km;   /* k is filled per run */
    const char *lang;             /* "en" or "zh" for names */
    const char *weight_column;    /* numeric column of sample weights, or NULL */
};

struct ps_segment_params ps_segment_default_params(void);

/* One row of the K-selection table. */
struct ps_k_score {
    int k;
    double inertia, silhouette, calinski_harabasz, davies_bouldin;
    size_t silhouette_rows;       /* rows the silhouette was computed on */
    int n_iter;
};

/* Per-segment summary in original units. */
struct ps_segment_summary {
    int id;
    size_t size;
    double share;
    double *mean;                 /* n_cols of the table (NaN for text columns) */
    double *z;                    /* (mean - population mean) / population std */
    int top[3];                   /* most distinguishing numeric columns (-1 = none) */
    int *mode;                    /* per text column: most frequent value id, -1 */
    double *mode_share;           /* its share within the segment */
    char name[256];               /* generated name */
};

struct ps_segment_result {
    struct ps_segment_model model;
    int32_t *labels;              /* n_rows, segments sorted by size (0 = largest) */
    float *distance;              /* n_rows, scaled units */
    struct ps_k_score *scores;    /* K-selection table (auto) or the one K */
    int n_scores;
    double silhouette;            /* of the chosen K (NaN if not computed) */
    size_t silhouette_rows;
    struct ps_segment_summary *seg;  /* k summaries */
    double *pop_mean, *pop_std;   /* n_cols population statistics */
    double seconds;
};

/* Scales the selected columns, clusters (choosing K when params->k is 0:
 * the K with the highest silhouette; a larger K must beat a smaller one by
 * more than 0.005), relabels segments by size, measures radii, and
 * summarises and names every segment. */
int ps_segment_fit(const struct ps_ftable *t, const struct ps_segment_params *p,
                   struct ps_pool *pool, struct ps_segment_result *res, struct ps_err *err);
void ps_segment_result_release(struct ps_segment_result *r);

/* Writes labels.csv, centroids.csv (original units), centroids_scaled.csv,
 * model.psm, segments.json, segments.csv, k_selection.csv and run.json
 * into dir (created if needed).  Every file atomically. */
int ps_segment_write(const struct ps_ftable *t, const struct ps_segment_result *r,
                     const char *dir, struct ps_err *err);

/* Assigns the table's users with a loaded model: labels (segment),
 * distance (scaled units) and emerging (1 when farther than the segment's
 * 99th-percentile training distance).  Missing model columns are an
 * error naming them. */
int ps_segment_assign(const struct ps_segment_model *m, const struct ps_ftable *t,
                      struct ps_pool *pool, int32_t *labels, float *distance,
                      unsigned char *emerging, struct ps_err *err);

/* Generated name for a segment from its z-scores and category mode.
 * lang "zh" or "en". */
void ps_segment_name(const struct ps_ftable *t, const struct ps_segment_summary *s,
                     const char *lang, char *out, size_t cap);

#endif
