/*
 * apply_internal.h - the recommender's state, shared by cooc.c (model
 * building), recommend.c (scoring) and evaluate.c.  Not public.
 */
#ifndef PERSONA_APPLY_INTERNAL_H
#define PERSONA_APPLY_INTERNAL_H

#include "persona/recommend.h"

/* One basket entry: a distinct item a user touched before the split. */
struct ps__bentry {
    uint32_t item;
    float w;          /* weight of the strongest event */
    uint8_t kind;     /* that event's kind */
    uint8_t bought;   /* 1 if the user purchased the item */
};

struct ps__nbr {
    uint32_t item;
    float sim;
};

struct ps_recommender {
    const struct ps_interactions *x;
    struct ps_rec_params p;
    size_t n_users, n_items;
    /* Baskets, CSR by user: entries [bstart[u], bstart[u+1]), sorted by item. */
    size_t *bstart;
    struct ps__bentry *basket;
    /* Neighbours, CSR by item, sorted by similarity descending. */
    size_t *nstart;
    struct ps__nbr *nbr;
    /* Popularity. */
    uint32_t *buyers;         /* [n_items] distinct training buyers */
    uint32_t *item_users;     /* [n_items] distinct training users */
    uint8_t *seen;            /* [n_items] 1 if in training */
    uint32_t *pop_rank;       /* items by buyers desc (then users desc, index) */
    size_t n_pop_rank;        /* items with any training interaction */
    double pop_max;
    int n_seg;
    float *segpop;            /* [n_seg x n_items] weighted interactions */
    uint32_t *seg_rank;       /* [n_seg x pool_size] top items per segment */
    int *n_seg_rank;          /* [n_seg] */
    double *segpop_max;       /* [n_seg] */
    size_t n_train_users;     /* users with a basket */
    size_t n_train_events;
};

/* cooc.c: fills baskets, neighbours and popularity. */
int ps__rec_build_model(struct ps_recommender *r, struct ps_pool *pool, struct ps_err *err);

#endif
