/*
 * vectors.h - the text-vector stage of `persona run` (internal to
 * src/profile): texts -> tokenizer -> transformer -> pooled vector per
 * text -> mean per user.
 */
#ifndef PERSONA_PROFILE_VECTORS_H
#define PERSONA_PROFILE_VECTORS_H

#include "persona/lm.h"
#include "persona/status.h"

struct ps_pool;

struct ps__vectors_params {
    const char *model_dir;     /* Hugging Face checkpoint folder */
    const char *texts_csv;     /* clean texts table (user_id, text) */
    const char *out_npy;       /* users x d_model (+ .ids.txt, .json) */
    enum ps_lm_pool pool;      /* pooling of one text's hidden states */
    int normalize;             /* L2-normalise each text vector and each user mean */
    int max_tokens;            /* truncate texts (0 = the model's context) */
    int batch;                 /* texts per forward call */
};

/* Embeds every text and writes one row per user (first-seen order): the
 * mean of the user's text vectors (double accumulators).  Texts that do
 * not tokenise are counted in *n_bad and skipped. */
int ps__vectors_run(const struct ps__vectors_params *p, struct ps_pool *pool, long *n_texts,
                    long *n_users, long *n_bad, int *dim, struct ps_err *err);

#endif
