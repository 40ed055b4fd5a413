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

struct ps_rec_scratch {
    double *cf;          /* [n_items] collaborative score */
    float *best;         /* [n_items] largest single basket contribution */
    uint32_t *from;      /* [n_items] basket entry index behind best */
    uint8_t *mark;       /* [n_items] 1 = in the candidate list */
    uint8_t *bought;     /* [n_items] */
    uint32_t *cand;      /* [n_items] candidate list */
    struct ps_rec_item *heap; /* [max(5n, n)] */
    struct ps_rec_item *top;  /* [max(5n, n)] */
    float *uv;           /* [dim] user content vector */
};

/* recommend.c: bounded min-heap of the best items (ties: lower index
 * wins), and its sort into rank order. */
void ps__heap_push(struct ps_rec_item *h, int *n, int cap, const struct ps_rec_item *it);
void ps__heap_sort(struct ps_rec_item *h, int n);

/* cooc.c: fills baskets, neighbours and popularity. */
int ps__rec_build_model(struct ps_recommender *r, struct ps_pool *pool, struct ps_err *err);

#endif
