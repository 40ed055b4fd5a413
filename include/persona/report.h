/*
 * report.h - report.html: one self-contained page (inline CSS and SVG, no
 * script, no external asset) for a store snapshot: overview, a persona
 * card per segment, a feature heatmap by segment (z-scores), a 2-D PCA
 * scatter of users coloured by segment, topic word lists, and drift since
 * the previous snapshot; the offline recommendation metrics of the
 * evaluate stage and the stored audiences when there are any.  docs/profiles.md shows what each part means.
 */
#ifndef PERSONA_REPORT_H
#define PERSONA_REPORT_H

#include <stdint.h>
#include "status.h"

struct ps_store;
struct ps_pool;

struct ps_report_params {
    const char *title;          /* page title (default "persona report") */
    const char *features_csv;   /* for the PCA scatter; NULL = no scatter */
    const char *segment_model;  /* scaler and columns for the scatter */
    int max_points;             /* users drawn in the scatter (default 2000, evenly spaced) */
    int max_features;           /* heatmap columns (default 26) */
    int64_t eval_run;           /* run whose stored evaluation (store.h) the "Recommendations"
                                   section shows; 0 = no such section */
};

struct ps_report_params ps_report_default_params(void);

/* Writes path atomically from snapshot (and previous, 0 = none). */
int ps_report_write(const struct ps_report_params *p, struct ps_store *s, int64_t snapshot,
                    int64_t previous, struct ps_pool *pool, const char *path, struct ps_err *err);

#endif
