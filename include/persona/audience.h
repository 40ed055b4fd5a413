/*
 * audience.h - campaign audiences with a deterministic holdout control
 * group, offers by tag rules, and a demo outcome simulator.
 *
 * An audience is the profile rows that satisfy a tag-rule condition
 * (tagrule.h; `--where 'recency_days > 60 and frequency >= 3'`).  Its
 * holdout is chosen per stratum (e.g. segment): users are ranked by
 * ps_hash64(name "\0" user_id) and the first round(holdout * n_stratum)
 * form the control group.  The same name and profiles always give the
 * same groups, every stratum gets its share, and adding users to a
 * stratum moves few of the others.  Audiences below min_size are refused
 * so that no export singles out a handful of people.
 *
 * Output CSV: user_id,group,stratum,offer,score (group = treatment or
 * control; stratum empty when not stratified; offer = the first offer
 * rule that holds, empty if none; score = the score column or empty).
 */
#ifndef PERSONA_AUDIENCE_H
#define PERSONA_AUDIENCE_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_audience_params {
    const char *name;          /* audience name: salts the holdout hash; required */
    const char *where;         /* condition (tag-rule expression); NULL = everyone */
    double holdout;            /* control share in [0, 1) (0.10) */
    const char *stratify;      /* column to stratify by, or NULL */
    size_t min_size;           /* refuse smaller audiences (100) */
    const char *offer_rules;   /* rule file: rule name = offer; first match wins; or NULL */
    const char *score_column;  /* numeric column copied as score, or NULL */
};
struct ps_audience_params ps_audience_default_params(void);

struct ps_audience_summary {
    size_t n_profiles;         /* rows read */
    size_t n_selected;         /* rows matching where */
    size_t n_control, n_treatment;
    int n_strata;
};

/* Reads profiles_path (CSV with user_id, then any columns: a column whose
 * non-empty values are all numbers is numeric, else text), selects,
 * splits and writes out_path atomically.  Errors: a bad where/offer rule
 * (with file, line and column), an unknown field, an audience below
 * min_size ("audience \"x\" has 12 users, below the minimum of 100"). */
int ps_audience_create(const char *profiles_path, const struct ps_audience_params *p,
                       const char *out_path, struct ps_audience_summary *sum, struct ps_err *err);

/* Demo outcomes for an audience file: converted ~ Bernoulli(base + uplift
 * for treatment), spend ~ exp(normal(log 80, 0.6)) for converters, 0
 * otherwise; each user's draw is seeded by (seed, hash of user_id), so
 * the file does not depend on row order.  Writes user_id,converted,spend. */
int ps_audience_simulate(const char *audience_path, double base, double uplift, uint64_t seed,
                         const char *out_path, struct ps_err *err);

#endif
