/*
 * clean.h - `persona clean`: raw shop exports -> canonical tables.
 *
 * Reads one or more CSV / JSON Lines files (reader.h), maps their columns
 * onto a canonical table (schema.h, optionally through a preset), checks
 * and normalises every value, removes duplicates and handles missing
 * values, and writes
 *   - the clean table (canonical columns, docs/ARCHITECTURE.md),
 *   - a quarantine CSV "line,reason,raw" holding every rejected row with
 *     its original physical line number, a reason naming the column and
 *     value, and its raw text ("file,line,reason,raw" with several inputs),
 *   - a summary (counts per reason, fills, duplicates) as a struct and,
 *     optionally, a JSON file.
 * Nothing is lost without a count:
 *   rows_in == rows_out + exact_duplicates + key_duplicates + quarantined.
 *
 * Streaming: memory holds one record plus the duplicate fingerprint sets
 * (8 bytes per slot, at most 70% full: 11-23 bytes per distinct row per
 * set) and, for median/mode fills, that column's values (8 bytes per value
 * for a median, one entry per distinct value for a mode) and 16 bytes per
 * cell to fill.  With median/mode fills the rows go through an unnamed
 * temporary file first, and the values are spliced in while it is copied
 * to the output.  Outputs go through ps_afile: on failure the previous
 * files stay untouched.
 *
 * The CLI, `persona run` and tests fill the same params struct:
 *   struct ps_clean_params p = ps_clean_default_params();
 *   p.schema = PS_SCHEMA_EVENTS; p.inputs = &path; p.n_inputs = 1; ...
 *   if (ps_clean_check_params(&p, &err) == 0) ps_clean_run(&p, &sum, &err);
 * Thread safety: independent runs may proceed in parallel.
 */
#ifndef PERSONA_CLEAN_H
#define PERSONA_CLEAN_H

#include <stdint.h>
#include "core.h"
#include "reader.h"
#include "schema.h"
#include "status.h"

struct ps_clean_params {
    enum ps_schema schema;        /* table to produce (ignored if schema_from_preset) */
    int schema_from_preset;       /* 1: use the preset's default table */
    const char *preset;           /* preset name (schema.h) or NULL */
    const char *const *inputs;    /* input paths, "-" = stdin; borrowed */
    int n_inputs;
    const char *out_path;         /* clean table ("-" = stdout); required */
    const char *quarantine_path;  /* rejected rows; NULL = count them only */
    const char *summary_path;     /* JSON summary; NULL = none */
    enum ps_format format;        /* AUTO: the preset's, else by extension/content */
    char delimiter;               /* 0: the preset's or sniffed */
    int has_header;               /* -1: the preset's; else 0 when columns is set, 1 otherwise */
    const char *columns;          /* "a,b,c": declared input column names (headerless) */
    const char *map;              /* "canonical=source,...": explicit column mapping */
    const char *constants;        /* "canonical=value,...": columns with a fixed value */
    const char *event_map;        /* "source=event,...": on top of the built-in synonyms */
    const char *dedup_key;        /* "user_id,item_id,event,ts", "none", or NULL = default */
    const char *const *missing;   /* "COL=drop|keep|fill:VALUE|median|mode" entries */
    int n_missing;
    const char *tz;               /* offset for zone-less times ("+08:00"); NULL = preset/UTC */
    int strict;                   /* 1: stop at the first bad row (PS_ERR_BAD_INPUT) */
    int progress;                 /* 1: show a progress bar (on a terminal) */
    int max_unknown_events;       /* distinct unknown event names listed (rest: "(other)") */
};

struct ps_clean_params ps_clean_default_params(void);

/* Checks params without touching any file: option syntax, names of
 * columns and events, fill values against the column types.  Returns PS_OK or PS_ERR_USAGE with a message in err. */
int ps_clean_check_params(const struct ps_clean_params *p, struct ps_err *err);

struct ps_clean_count {
    char *name;      /* reason key ("missing:user_id"), column or event name; owned */
    int64_t count;
    char *value;     /* fills only: the value used (median, mode or constant); owned, may be NULL */
};

struct ps_clean_summary {
    enum ps_schema schema;
    const char *preset;              /* borrowed from params; NULL = none */
    int64_t rows_in;                 /* records read (good and bad), headers excluded */
    int64_t rows_out;                /* rows written to the clean table */
    int64_t exact_duplicates;        /* rows identical to an earlier kept row */
    int64_t key_duplicates;          /* rows whose dedup key matched an earlier kept row */
    int64_t quarantined;             /* rows written to (or counted for) quarantine */
    struct ps_clean_count *reasons;  /* quarantine count per reason key, sorted by key */
    int n_reasons;
    struct ps_clean_count *filled;   /* fills per column, in column order (only columns with fills) */
    int n_filled;
    struct ps_clean_count *unknown_events; /* unknown event names and counts, sorted by name */
    int n_unknown_events;
    char **mapping;                  /* per output column "col=source" ("col=" when absent,
                                        "col:=value" for constants); owned */
    int n_mapping;
    char *dedup_key;                 /* effective key, or NULL; owned */
    double seconds;                  /* wall time of the run */
};

/* Runs the clean step.  On success the outputs are committed and *sum is
 * filled (release it with ps_clean_summary_release).  Returns PS_OK,
 * PS_ERR_BAD_INPUT (strict mode, or a structural problem such as a
 * required column with no source), PS_ERR_IO, PS_ERR_USAGE; err says why.
 * *sum is valid (possibly partial) whatever the result. */
int ps_clean_run(const struct ps_clean_params *p, struct ps_clean_summary *sum,
                 struct ps_err *err);

void ps_clean_summary_release(struct ps_clean_summary *s);
/* Appends the summary as one JSON object (keys in a fixed order). */
void ps_clean_summary_json(const struct ps_clean_summary *s, struct ps_buf *b);
/* Appends a human-readable summary, a few lines ending in '\n'. */
void ps_clean_summary_text(const struct ps_clean_summary *s, struct ps_buf *b);

#endif
