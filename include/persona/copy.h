/*
 * copy.h - personalised marketing copy: a prompt template filled with
 * profile fields, continued by a GPT-2 language model (docs/copy.md).
 *
 *   segment: {segment_name}; likes {top_category}; try {recommended_items}.
 *
 * Privacy by construction: a template may name only the fields of the
 * allow-list below (segment, categories, recommended items, RFM tier,
 * lifecycle, price sensitivity, topic words): aggregate or catalogue
 * facts, never an identifier or a users-table attribute.  The parser
 * refuses any other placeholder with its file:line:col, the field values
 * are read from the profile's non-personal keys only (ps_copy_fields_
 * from_profile never looks at "user_id" or "attributes"), and
 * ps_copy_prompt_check refuses a prompt that contains the user's id.
 *
 * Determinism: each user's sampling seed is ps_copy_user_seed(seed, id),
 * so a user's message depends on the seed and their own profile only,
 * never on the order of the audience or the thread count.
 */
#ifndef PERSONA_COPY_H
#define PERSONA_COPY_H

#include <stddef.h>
#include <stdint.h>
#include "core.h"
#include "lm.h"
#include "status.h"

/* The allow-list: the only fields a template may name. */
enum ps_copy_field {
    PS_COPY_SEGMENT_NAME,      /* {segment_name}: segment.name */
    PS_COPY_TOP_CATEGORY,      /* {top_category}: features.top_category_1 */
    PS_COPY_TOP_CATEGORIES,    /* {top_categories}: top_category_1..3, ", "-joined */
    PS_COPY_RECOMMENDED_ITEMS, /* {recommended_items}: titles of the top recommendations, "; "-joined */
    PS_COPY_TOP_ITEM,          /* {top_item}: title of the first recommendation */
    PS_COPY_RFM_TIER,          /* {rfm_tier}: rfm.tier */
    PS_COPY_LIFECYCLE,         /* {lifecycle}: lifecycle */
    PS_COPY_PRICE_SENSITIVITY, /* {price_sensitivity}: price_sensitivity */
    PS_COPY_TOPIC_WORDS,       /* {topic_words}: words of the user's main topic, " "-joined */
    PS_COPY_N_FIELDS
};

/* "segment_name", ... */
const char *ps_copy_field_name(enum ps_copy_field f);
/* The field named name[0..len), or -1 when it is not on the allow-list. */
int ps_copy_field_find(const char *name, size_t len);

/* Values of the allowed fields for one user; v[f] owned, NULL = empty. */
struct ps_copy_fields {
    char *v[PS_COPY_N_FIELDS];
};
void ps_copy_fields_init(struct ps_copy_fields *f);
void ps_copy_fields_release(struct ps_copy_fields *f);
/* Copies value (NULL clears). */
void ps_copy_fields_set(struct ps_copy_fields *f, enum ps_copy_field field, const char *value);

/* Clears every field, then fills all but the recommendation ones (the
 * caller sets those) from a stored profile
 * document (docs/profiles.md), reading only segment.name, features.
 * top_category_1..3, rfm.tier, lifecycle, price_sensitivity and the words
 * of topics[0] (at most n_topic_words; 0 = all).  Errors: JSON that does
 * not parse or is not an object. */
int ps_copy_fields_from_profile(struct ps_copy_fields *f, const char *profile_json,
                                int n_topic_words, struct ps_err *err);

/* ---- templates ---------------------------------------------------------- */

struct ps_copy_template;

/*
 * Parses a template: text with {field} placeholders from the allow-list;
 * "{{" and "}}" are literal braces; surrounding whitespace of the whole
 * file (e.g. its final newline) is dropped.  Errors (PS_ERR_BAD_INPUT,
 * positions 1-based, columns in bytes, name = display_name):
 *   name:L:C: field "city" is personal data and never enters a prompt
 *   name:L:C: unknown field "foo" (allowed: segment_name, ...)
 *   name:L:C: empty placeholder "{}"
 *   name:L:C: unclosed "{" (write "{{" for a literal brace)
 *   name:L:C: unmatched "}" (write "}}" for a literal brace)
 *   name: template is empty
 */
int ps_copy_template_parse(struct ps_copy_template **out, const char *text, size_t len,
                           const char *display_name, struct ps_err *err);
/* Reads and parses a file (at most 64 KiB). */
int ps_copy_template_load(struct ps_copy_template **out, const char *path, struct ps_err *err);
void ps_copy_template_free(struct ps_copy_template *t);
/* 1 if the template names field. */
int ps_copy_template_uses(const struct ps_copy_template *t, enum ps_copy_field field);
/* Appends the filled prompt to out (a NULL value fills as ""). */
void ps_copy_template_fill(const struct ps_copy_template *t, const struct ps_copy_fields *f,
                           struct ps_buf *out);

/* PS_ERR_BAD_INPUT ("prompt for a user contains the user's id; refusing")
 * when user_id occurs in prompt[0..len): the last line of defence should a
 * catalogue title or segment name ever carry an id. */
int ps_copy_prompt_check(const char *prompt, size_t len, const char *user_id,
                         struct ps_err *err);

/* The sampling seed of one user: ps_hash64(user_id bytes, seed). */
uint64_t ps_copy_user_seed(uint64_t seed, const char *user_id);

/* ---- generation ---------------------------------------------------------- */

/* A GPT-2 checkpoint and its tokenizer, shared read-only, and one work
 * context per worker, so n_workers users can be generated at once. */
struct ps_copy_gen;

/* Loads model_dir (GPT-2 only; BERT is PS_ERR_USAGE) with n_workers (>= 1)
 * single-threaded contexts of the model's full length.  gp->max_new must
 * leave room for a prompt in the context (else PS_ERR_USAGE). */
int ps_copy_gen_new(struct ps_copy_gen **out, const char *model_dir,
                    const struct ps_lm_gen_params *gp, int n_workers, struct ps_err *err);
void ps_copy_gen_free(struct ps_copy_gen *g);
int ps_copy_gen_n_workers(const struct ps_copy_gen *g);
/* Stop strings (borrowed; non-empty): generation ends as soon as the new
 * text contains one, and the message is cut before it. */
void ps_copy_gen_set_stops(struct ps_copy_gen *g, const char *const *stops, int n_stops);

/*
 * Generates the message for prompt on context `worker` (< n_workers; one
 * thread per worker at a time) with sampling seed `seed` (the params'
 * seed is ignored; pass ps_copy_user_seed).  The result depends on the
 * prompt and seed only, not on the worker.  A prompt longer than the
 * context minus max_new keeps its last tokens (*truncated = 1).  The
 * message is the decoded new text without a final end-of-text token,
 * cut before a stop string (ps_copy_gen_set_stops);
 * *message owned (free()).  new_ids/n_new/truncated optional (new_ids
 * owned, free()).
 */
int ps_copy_generate(struct ps_copy_gen *g, int worker, const char *prompt, size_t len,
                     uint64_t seed, char **message, int32_t **new_ids, size_t *n_new,
                     int *truncated, struct ps_err *err);

#endif
