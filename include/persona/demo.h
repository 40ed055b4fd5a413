/*
 * demo.h - the built-in demo shop: a synthetic, seeded data set with
 * planted personas and planted dirt.
 *
 * ps_demo_write() creates one folder holding the four raw tables of
 * docs/ARCHITECTURE.md (events.csv, texts.csv, items.csv, users.csv), the
 * answer key truth.csv (user_id,persona) and manifest.json, which counts
 * the rows written and every piece of dirt planted in each file, so tests
 * of `persona clean` can check the quarantine exactly.  docs/demo.md
 * describes the personas, the formats and the dirt.
 *
 * Users belong to one of the personas of the table returned by
 * ps_demo_persona(); each persona has its own category mix, price level,
 * hours of day, weekday/weekend rhythm, activity level (log-normal),
 * dwell time, purchase propensity and review vocabulary.  Reviews are
 * Chinese or English (a per-user language).
 *
 * Output is a pure function of the parameters: the same seed gives
 * byte-identical files.  Memory holds the whole event log of the run
 * (about 20 bytes per event) because the log is written in time order.
 * Single-threaded; the handle-free API is thread-safe.
 */
#ifndef PERSONA_DEMO_H
#define PERSONA_DEMO_H

#include <stdint.h>
#include "status.h"

/* Product categories of the demo catalogue (slugs written to the files). */
enum ps_demo_category {
    PS_DEMO_PHONE, PS_DEMO_TABLET, PS_DEMO_COMPUTER, PS_DEMO_CLOTHING,
    PS_DEMO_BEAUTY, PS_DEMO_BABY, PS_DEMO_FOOD, PS_DEMO_BOOKS,
    PS_DEMO_N_CATEGORIES
};

/* Kinds of planted dirt.  Which file gets which kind: docs/demo.md. */
enum ps_demo_dirt {
    PS_DEMO_DIRT_DUPLICATE,        /* an exact copy of an earlier line */
    PS_DEMO_DIRT_MISSING_OPTIONAL, /* an optional field left empty */
    PS_DEMO_DIRT_MISSING_REQUIRED, /* user_id, ts, event, text or item_id empty */
    PS_DEMO_DIRT_FIELD_COUNT,      /* fields missing or one too many */
    PS_DEMO_DIRT_BAD_NUMBER,       /* price or rating that is not a number */
    PS_DEMO_DIRT_BAD_TIMESTAMP,    /* ts that is no timestamp */
    PS_DEMO_DIRT_UNKNOWN_EVENT,    /* an event name outside the canonical set */
    PS_DEMO_DIRT_BAD_UTF8,         /* invalid UTF-8 bytes inside a text */
    PS_DEMO_N_DIRT
};

/* Files of the demo folder that carry dirt. */
enum ps_demo_file {
    PS_DEMO_EVENTS, PS_DEMO_TEXTS, PS_DEMO_ITEMS, PS_DEMO_USERS, PS_DEMO_N_FILES
};

/* One planted persona: a row of the table in src/data/demo.c. */
struct ps_demo_persona {
    const char *name;        /* written to truth.csv, e.g. "tech_enthusiast" */
    const char *name_zh;     /* Chinese label, e.g. "数码发烧友" */
    double share;            /* fraction of users */
    double cat_weight[PS_DEMO_N_CATEGORIES]; /* category mix of sessions */
    double price_q;          /* preferred price quantile within a category, 0..1 */
    const char *hours;       /* 24 digits: relative weight of each UTC hour 00..23 */
    double weekend;          /* probability that a session falls on Sat/Sun */
    double events_median;    /* events per user: log-normal median */
    double events_sigma;     /* ... and sigma of its log */
    double dwell_median;     /* seconds on a product page: log-normal median */
    double search_rate;      /* probability that a session starts with a search */
    double fav_rate;         /* per product view */
    double cart_rate;        /* per product view */
    double buy_rate;         /* probability that a carted item is bought */
    double max_qty;          /* purchased quantity is 1..max_qty (skewed to 1) */
    double refund_rate;      /* per purchased line */
    double review_rate;      /* probability of a review per purchased line */
    double rating_mean;      /* mean star rating of its reviews, 1..5 */
    double female;           /* probability that gender is F */
    int age_lo, age_hi;      /* age range in years */
    /* Vocabulary: NULL-padded phrase lists in Chinese and English. */
    const char *praise_zh[6], *praise_en[6]; /* good reviews */
    const char *gripe_zh[4], *gripe_en[4];   /* bad reviews */
    const char *query_zh[6], *query_en[6];   /* search-query modifiers */
    const char *ask_zh[4], *ask_en[4];       /* pre-sale questions */
};

struct ps_demo_params {
    long n_users;       /* users (default 20000; events are ~50 per user) */
    long n_items;       /* catalogue size (default 2000) */
    uint64_t seed;      /* default 42 */
    int days;           /* length of the activity window in days (default 90) */
    int dirt;           /* 1: plant dirt (default); 0: a clean data set */
    double activity;    /* multiplies every persona's events per user (default 1) */
};

/* What was written: records per file (header excluded, duplicates and
 * dirty rows included) and dirt planted per file and kind. */
struct ps_demo_stats {
    long rows[PS_DEMO_N_FILES];
    long dirt[PS_DEMO_N_FILES][PS_DEMO_N_DIRT];
    long persona_users[16];   /* users per persona, table order */
    long n_personas;
};

struct ps_demo_params ps_demo_default_params(void);
/* Checks ranges (1 <= users <= 10,000,000; 16 <= items <= 1,000,000;
 * 7 <= days <= 3650; 0.1 <= activity <= 100).  Returns PS_OK or PS_ERR_USAGE with a message. */
int ps_demo_check_params(const struct ps_demo_params *p, struct ps_err *err);

/* Writes the demo shop into dir (created if missing, one level of parents
 * too).  Each file is written atomically.  stats may be NULL.  Returns PS_OK,
 * PS_ERR_USAGE for bad parameters or PS_ERR_IO with the path. */
int ps_demo_write(const char *dir, const struct ps_demo_params *p,
                  struct ps_demo_stats *stats, struct ps_err *err);

/* The persona table (borrowed, static).  0 <= i < ps_demo_n_personas(). */
int ps_demo_n_personas(void);
const struct ps_demo_persona *ps_demo_persona(int i);
/* Slug of a category ("phone", ...), name of a dirt kind ("duplicate", ...)
 * and of a file ("events", ...); NULL if out of range. */
const char *ps_demo_category_name(int c);
const char *ps_demo_dirt_name(int kind);
const char *ps_demo_file_name(int file);

#endif
