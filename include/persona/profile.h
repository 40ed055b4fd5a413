/*
 * profile.h - builds the profile snapshot of one run: a JSON document per
 * user and per segment, written into the store (store.h).  Reads only the
 * files earlier stages wrote (workspace.h); field list in docs/profiles.md.
 *
 * Per user: attributes (users table), features (every column of
 * features.csv), segment {id, name, distance}, topics (top topics with
 * weight and words), text_vector {file, row} or null, interest_tags
 * (category:<top categories>, topic:<id> for topics above a weight),
 * RFM scores and tier, lifecycle stage and price sensitivity (rfm.h; also
 * stored as the tags rfm:<tier>, lifecycle:<stage>, price:<level>), and
 * the tags of the user's tag rules that hold (tag = rule name).  Rules see
 * every feature column, segment, segment_name, segment_distance, rfm_r,
 * rfm_f, rfm_m, rfm_tier, lifecycle, price_sensitivity, topic_<k> and the
 * users table's columns (numeric when every value is a number).
 * Per segment: size, share, mean and z-score of every numeric feature,
 * category shares, topic distribution (mean mix), tag distribution, mean
 * text vector, example texts and a persona card text.
 *
 * Thread safety: one build at a time per store.
 */
#ifndef PERSONA_PROFILE_H
#define PERSONA_PROFILE_H

#include <stdint.h>
#include "rfm.h"
#include "status.h"

struct ps_pool;
struct ps_store;

struct ps_profile_params {
    const char *features_csv;   /* required */
    const char *segment_model;  /* required (segment/model.psm) */
    const char *user_topics;    /* user_topics.npy (+ .ids.txt) or NULL */
    const char *topics_model;   /* model.lda or NULL */
    const char *vectors;        /* vectors.npy (+ .ids.txt) or NULL */
    const char *users_csv;      /* clean users table or NULL */
    const char *texts_csv;      /* clean texts table or NULL (example texts) */
    const char *lang;           /* "en" or "zh": card wording (default "en") */
    int top_topics;             /* topics listed per user (default 3) */
    int top_words;              /* words per topic (default 8) */
    int n_examples;             /* example texts per segment (default 3) */
    double topic_tag_min;       /* weight for a topic:<id> interest tag (default 0.25) */
    struct ps_lifecycle_params life;  /* lifecycle thresholds (rfm.h defaults) */
    struct ps_price_params price;     /* price sensitivity thresholds (rfm.h defaults) */
    const char *tag_rules;      /* tag rule source (tagrule.h) or NULL; borrowed */
    const char *tag_rules_name; /* its file name in messages */
};

struct ps_profile_params ps_profile_default_params(void);

struct ps_profile_summary {
    long n_users, n_segments, n_topics, n_tags, n_with_topics, n_with_vector, n_rule_tags;
};

/* Builds and stores the snapshot of run_id (one transaction: all or
 * nothing).  pool may be NULL. */
int ps_profile_build(const struct ps_profile_params *p, struct ps_pool *pool,
                     struct ps_store *s, int64_t run_id, struct ps_profile_summary *sum,
                     struct ps_err *err);

/* Checks p->tag_rules against the profile fields without building
 * anything: feature columns (features.h), the fixed fields, topic_0 ..
 * topic_<n_topics-1> and the columns of p->users_csv (scanned for their
 * kinds).  Lets `persona run` fail on an unknown field before the long
 * stages.  PS_OK when there are no rules. */
int ps_profile_check_rules(const struct ps_profile_params *p, int n_topics, struct ps_err *err);

/* Reads an "X.ids.txt" sidecar: one id per line; *ids owned (free each
 * and the array). */
int ps_profile_read_ids(const char *path, char ***ids, size_t *n, struct ps_err *err);

#endif
