/*
 * schema.h - the canonical tables, event names and public-data presets.
 *
 * The four canonical tables of docs/ARCHITECTURE.md (events, texts, items,
 * users), their columns in output order with a type and whether they are
 * required, the input names each column is found under when no mapping
 * is given, the canonical event names with their synonyms, and the preset
 * table that maps well-known public layouts (Taobao UserBehavior, Tianchi
 * mobile, UCI Online Retail, Amazon reviews) onto them.
 *
 * Everything here is static data: a new preset is a new row in the table
 * in src/data/schema.c, not new code.  Thread-safe (read-only).
 */
#ifndef PERSONA_SCHEMA_H
#define PERSONA_SCHEMA_H

#include <stddef.h>
#include "reader.h"

enum ps_schema {
    PS_SCHEMA_EVENTS,
    PS_SCHEMA_TEXTS,
    PS_SCHEMA_ITEMS,
    PS_SCHEMA_USERS,
    PS_SCHEMA_COUNT
};

/* How a column's values are validated and normalised by `persona clean`. */
enum ps_coltype {
    PS_COL_ID,      /* identifier: surrounding spaces trimmed, written as is */
    PS_COL_TOKEN,   /* short label (kind): trimmed and lower-cased */
    PS_COL_TEXT,    /* free text: written unchanged (all-space counts as missing) */
    PS_COL_NUMBER,  /* finite decimal number, written as given (trimmed) */
    PS_COL_TS,      /* timestamp, written as integer Unix seconds (timeparse.h) */
    PS_COL_EVENT    /* event name, mapped to one of enum ps_event */
};

struct ps_column_def {
    const char *name;      /* canonical name, as written in the output header */
    enum ps_coltype type;
    int required;          /* 1: a missing value sends the row to quarantine by default */
    int nonneg;            /* numbers only: 1 = negative values are rejected */
    const char *aliases;   /* comma-separated input names tried (case-insensitively)
                              when the input has no column of the canonical name */
};

/* Parses "events", "texts", "items" or "users".  Returns 0 or -1. */
int ps_schema_parse(const char *name, enum ps_schema *out);
const char *ps_schema_name(enum ps_schema s);
/* The columns of a schema in output order; *n set.  For users only
 * user_id is listed: the input's other columns follow it unchanged. */
const struct ps_column_def *ps_schema_columns(enum ps_schema s, int *n);
/* Index of a canonical column by name, or -1. */
int ps_schema_column_index(enum ps_schema s, const char *name);
/* The key-duplicate policy used when none is given: "item_id" for items,
 * "user_id" for users (one row per entity, the first kept), NULL (exact
 * duplicates only) for events and texts. */
const char *ps_schema_default_dedup_key(enum ps_schema s);

enum ps_event {
    PS_EVENT_VIEW,
    PS_EVENT_SEARCH,
    PS_EVENT_CLICK,
    PS_EVENT_CART,
    PS_EVENT_FAV,
    PS_EVENT_PURCHASE,
    PS_EVENT_REFUND,
    PS_EVENT_COUNT
};

/* "view", "search", ... ; NULL for out-of-range values. */
const char *ps_event_name(int e);
/* Canonical name or built-in synonym (pv, page_view -> view; buy, order,
 * pay -> purchase; add_to_cart -> cart; favorite, collect -> fav; return
 * -> refund; ...), ASCII case-insensitive, surrounding spaces ignored.
 * Returns an enum ps_event, or -1 if unknown. */
int ps_event_lookup(const char *s, size_t len);

/*
 * A preset: how one public layout maps onto one canonical table.  String
 * lists use the same syntax as the `persona clean` options they stand in
 * for, and the user's own options are applied on top of them.
 */
struct ps_preset {
    const char *name;          /* --preset NAME */
    enum ps_schema schema;     /* the table this row produces */
    const char *summary;       /* one line for `persona help clean` */
    enum ps_format format;     /* input format */
    int has_header;            /* 0 = headerless: columns below are the names */
    const char *columns;       /* "a,b,c": declared input columns (headerless CSV,
                                  or the JSON keys to read); NULL = from the header */
    const char *map;           /* "canonical=source,...", like --map */
    const char *event_map;     /* "source=event,...", like --event-map */
    const char *constants;     /* "canonical=value,...": columns with a fixed value */
    const char *dedup_key;     /* like --dedup-key; NULL = the schema's default */
    const char *tz;            /* offset for zone-less times ("+08:00"); NULL = UTC */
    const char *refund_prefix; /* events: an order_id starting with this marks a
                                  refund (event := refund, quantity := |quantity|) */
    const char *decimal_ids;   /* "a,b": id columns where an integral decimal such as
                                  "17850.0" is written as "17850" */
};

/* The preset of that name for that schema, or NULL. */
const struct ps_preset *ps_preset_find(const char *name, enum ps_schema schema);
/* The first preset row of that name (its default schema), or NULL. */
const struct ps_preset *ps_preset_find_any(const char *name);
/* All preset rows; *n set. */
const struct ps_preset *ps_preset_list(int *n);

#endif
