/*
 * workspace.h - `persona run`: a configuration file (config.h,
 * docs/config.md) drives the stages clean -> features -> segment ->
 * topics -> vectors -> profiles -> report into one workspace folder
 * (DESIGN.md section 3, docs/profiles.md):
 *
 *   persona.db                      the store (store.h)
 *   clean/<table>.csv               canonical tables (+ .quarantine.csv, .summary.json)
 *   features.csv, features.npy      per-user features (+ .json, .ids.txt)
 *   segment/                        ps_segment_write's files; segment/model.psm
 *   topics/model.lda                LDA model
 *   topics/user_topics.npy          topic mix per user (+ .json, .ids.txt)
 *   vectors.npy                     text vectors per user (only with a model)
 *   report.html                     the report (report.h)
 *   stages/<stage>.key              what each finished stage was made from
 *
 * Stage keys.  A stage's key is a 64-bit hash of its options (the
 * config section(s) it reads, verbatim), the persona version and the keys
 * of its inputs.  A raw input file contributes its path, size and
 * modification time (nanoseconds) -- not its content, which would mean
 * reading gigabytes to decide to do nothing; touch a file to force a
 * rerun.  A stage whose stages/<stage>.key matches and whose outputs all
 * exist is skipped.  The key file is written (atomically) only after every
 * output of the stage has been renamed into place, so an interrupted run
 * redoes at most the stage it was in, and never sees half-written files.
 *
 * Thread safety: one run per workspace at a time.
 */
#ifndef PERSONA_WORKSPACE_H
#define PERSONA_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define PS_RUN_MAX_STAGES 16

struct ps_run_params {
    const char *config_path;   /* required */
    const char *workspace;     /* overrides [run] workspace; NULL = the config's */
    int n_threads;             /* > 0 overrides [run] threads */
    const char *stop_after;    /* stage name: stop (as if interrupted) after it; tests */
    int force;                 /* 1: ignore stage keys, redo everything */
};

struct ps_run_params ps_run_default_params(void);

struct ps_run_stage {
    char name[32];             /* "clean.events", "features", ... */
    int skipped;               /* 1: unchanged, outputs reused */
    int disabled;              /* 1: not run (no input, no model, or switched off) */
    double seconds;            /* wall time of this run of the stage */
    int64_t rows_in, rows_out; /* -1 when not meaningful */
    uint64_t key;
    char note[256];            /* one line: what happened or why it was skipped */
};

struct ps_run_result {
    int64_t run_id;            /* row in the store's runs table */
    int64_t snapshot;          /* run id holding this run's profiles */
    int64_t previous;          /* the snapshot before it (0 = none) */
    int n_stages;
    struct ps_run_stage stages[PS_RUN_MAX_STAGES];
    double seconds;
    size_t peak_rss;           /* bytes, whole process */
    char workspace[1024];      /* resolved workspace folder */
};

/* Runs the pipeline.  Reports each stage through ps_log (info) as it
 * ends.  Errors: PS_ERR_BAD_INPUT naming config file and line for bad
 * options, the stage's own errors prefixed with the stage name. */
int ps_run(const struct ps_run_params *p, struct ps_run_result *res, struct ps_err *err);

/* Writes a ready-to-run configuration for a demo shop folder (cmd_demo):
 * inputs events/texts/items/users.csv beside it, workspace "workspace",
 * segmentation on every numeric feature column with k = 6. */
int ps_run_write_demo_config(const char *path, struct ps_err *err);

#endif
