/*
 * recommend.h - hybrid recommendations with reasons, and their offline
 * evaluation (docs/apply.md).
 *
 * Input is the canonical events table of `persona clean` (user_id, ts,
 * event, item_id, category, ...), optionally the items table (catalogue
 * and categories), segment labels (labels.csv of `persona segment`, with
 * the segment names of segments.csv beside it) and item vectors (.npy with
 * .ids.txt).  Each user's basket is the set of distinct items they touched,
 * weighted by their strongest event (view 1, click 1, fav 2, cart 3,
 * purchase 4, review 5 by default; searches have no item, refunds are
 * ignored).  Reviews and comments come from the texts table.
 *
 * Score of item i for user u (each term scaled to [0, 1] per user):
 *
 *   w_cf      * cf(u, i) / max_i cf(u, i),
 *               cf(u, i) = sum_{j in basket(u)} w_uj * sim(j, i), sim(i, i) = w_self,
 *               sim = cosine over weighted user baskets, top `neighbors` per item
 * + w_segment * segpop(seg(u), i) / max   (weighted interactions of the segment)
 * + w_popular * pop(i) / max              (distinct buyers overall)
 * + w_content * max(0, cos(user vector, item vector))   (with item vectors)
 *
 * With item vectors every item of the catalogue is a candidate (so items
 * nobody touched yet can be recommended by content): O(n_items x dim) per
 * user.  Without them the candidates are the basket's neighbours plus the
 * top `pool_size` items of the user's segment and of global popularity.
 * Users with fewer than `cold_items` basket items are cold: no cf term;
 * their segment's popularity, then global popularity, rank the items.
 * Each recommendation carries the term that contributed most as its
 * reason: "bought I0042" / "reviewed" / "carted" / "favourited" / "viewed" / "clicked"
 * (the basket item with the largest cf contribution), "popular with
 * <segment name>", "popular overall" or "similar to your interests".
 * An optional MMR re-rank trades relevance against similarity to the
 * items already chosen: argmax lambda * score - (1 - lambda) * max sim.
 *
 * Determinism: results depend only on the input and the parameters, not
 * on the thread count (users are independent; neighbour lists are
 * per-item; ties break by item index, i.e. first appearance).
 * Thread safety: a built recommender is read-only; ps_recommend_user may
 * run in many threads, each with its own scratch.
 */
#ifndef PERSONA_RECOMMEND_H
#define PERSONA_RECOMMEND_H

#include <stddef.h>
#include <stdint.h>
#include "metrics.h"
#include "status.h"

struct ps_pool;
struct ps_strmap;

enum ps_ev_kind {
    PS_EV_VIEW, PS_EV_SEARCH, PS_EV_CLICK, PS_EV_CART, PS_EV_FAV, PS_EV_PURCHASE, PS_EV_REFUND,
    PS_EV_REVIEW,              /* a review or comment on the item (texts table) */
    PS_EV_N
};

/* An events log in memory: one row per event with an item (searches and
 * rows without item_id are counted and dropped).  Users and items are
 * interned in first-appearance order. */
struct ps_interactions {
    struct ps_strmap *users;   /* user_id -> dense user index; owned */
    struct ps_strmap *items;   /* item_id -> dense item index; owned */
    struct ps_strmap *cats;    /* category -> id; owned */
    size_t n;                  /* events held */
    size_t cap;
    uint32_t *user;            /* [n] user index */
    uint32_t *item;            /* [n] item index */
    uint8_t *kind;             /* [n] enum ps_ev_kind */
    int64_t *ts;               /* [n] Unix seconds */
    int32_t *item_cat;         /* [n_items] category id, -1 unknown */
    size_t item_cat_cap;
    char **item_title;         /* [n_items] titles from the items table or NULL; owned */
    size_t item_title_cap;
    int32_t *user_seg;         /* [n_users] segment, -1 none; NULL until segments load */
    size_t user_seg_cap;
    int n_segments;            /* 1 + largest segment id seen */
    char **seg_names;          /* [n_segments] names or NULL; owned */
    float *item_vec;           /* [n_vec_items x dim], L2-normalised rows, zero = none; or NULL */
    int dim;                   /* item vector width */
    size_t n_vec_items;        /* items known when the vectors were loaded */
    size_t n_skipped;          /* rows without an item (searches, ...) */
    int64_t ts_min, ts_max;    /* range of ts among held events */
};

void ps_interactions_init(struct ps_interactions *x);
void ps_interactions_release(struct ps_interactions *x);
/* Reads a canonical events CSV.  Bad rows are errors naming the file,
 * line and column ("events.csv:12: column \"ts\": expected Unix seconds,
 * got \"x\""); a missing required column names it. */
int ps_interactions_load_events(struct ps_interactions *x, const char *path, struct ps_err *err);
/* Reads a canonical texts CSV: rows of kind review or comment with an
 * item_id become PS_EV_REVIEW events (other kinds and rows without an
 * item are counted in n_skipped). */
int ps_interactions_load_texts(struct ps_interactions *x, const char *path, struct ps_err *err);
/* Reads a canonical items CSV: adds every item to the catalogue and sets
 * categories (the items table wins over the events' category column). */
int ps_interactions_load_items(struct ps_interactions *x, const char *path, struct ps_err *err);
/* Reads labels.csv (user_id, segment) and, when names_path is given (or
 * NULL and segments.csv exists beside labels), segment names
 * (segment, name).  Users only in labels are added (cold users). */
int ps_interactions_load_segments(struct ps_interactions *x, const char *labels_path,
                                  const char *names_path, struct ps_err *err);
/* Segments as of a time: behaviour features from the events of
 * events_path with ts < before_ts (features.h), assigned to the saved
 * model at model_path (segment.h).  Replaces any loaded labels: users
 * without events before the time have no segment.  For offline
 * evaluation, so that no user's segment has seen the test period. */
int ps_interactions_segments_at(struct ps_interactions *x, const char *events_path,
                                int64_t before_ts, const char *model_path, struct ps_pool *pool,
                                struct ps_err *err);
/* Reads item vectors (float32 .npy, rows named by path.ids.txt or, for
 * X.npy, X.ids.txt); rows for unknown items are ignored.  Load them after
 * every events/texts/items file: items added later have no vector. */
int ps_interactions_load_item_vectors(struct ps_interactions *x, const char *npy_path,
                                      struct ps_err *err);
size_t ps_interactions_n_users(const struct ps_interactions *x);
size_t ps_interactions_n_items(const struct ps_interactions *x);

struct ps_rec_params {
    int n;                     /* recommendations per user (10) */
    int exclude_purchased;     /* 1: never recommend an item the user bought */
    int32_t category;          /* only this category id; -1 = any */
    double w_event[PS_EV_N];   /* basket weight per event kind (0 = ignored) */
    double w_cf, w_segment, w_popular, w_content; /* term weights (1, 0.6, 0.5, 0.5) */
    double w_self;             /* sim(i, i) in the cf sum: weight of the basket items
                                  themselves against their neighbours (0.1) */
    double mmr_lambda;         /* 0 = no re-rank; else in (0, 1] */
    int neighbors;             /* neighbours kept per item (50) */
    int cold_items;            /* fewer basket items than this = cold user (2) */
    int pool_size;             /* segment/global candidates per user (200) */
    int64_t before_ts;         /* train on events with ts < before_ts (INT64_MAX = all) */
};
struct ps_rec_params ps_rec_default_params(void);

enum ps_rec_reason {
    PS_REASON_BASKET,          /* reason_item is the basket item, reason_kind the event */
    PS_REASON_SEGMENT,         /* reason_segment */
    PS_REASON_POPULAR,
    PS_REASON_CONTENT,
    PS_REASON_RANDOM
};

struct ps_rec_item {
    uint32_t item;             /* item index */
    float score;               /* final score (higher is better) */
    uint8_t reason;            /* enum ps_rec_reason */
    uint8_t reason_kind;       /* enum ps_ev_kind of the basket event */
    uint32_t reason_item;      /* basket item behind a PS_REASON_BASKET */
    int32_t reason_segment;    /* segment behind a PS_REASON_SEGMENT */
};

struct ps_recommender;

/* Builds the model from x's events with ts < p->before_ts.  pool may be
 * NULL (serial).  x must outlive the recommender. */
int ps_recommender_build(const struct ps_interactions *x, const struct ps_rec_params *p,
                         struct ps_pool *pool, struct ps_recommender **out, struct ps_err *err);
void ps_recommender_free(struct ps_recommender *r);

/* Per-thread scratch for ps_recommend_user. */
struct ps_rec_scratch;
struct ps_rec_scratch *ps_rec_scratch_new(const struct ps_recommender *r);
void ps_rec_scratch_free(struct ps_rec_scratch *s);

/* Up to p->n recommendations for user index u (any u < n_users; users
 * without training events are cold).  Returns the number written to out. */
int ps_recommend_user(const struct ps_recommender *r, uint32_t u, struct ps_rec_scratch *s,
                      struct ps_rec_item *out);
/* Baselines with the same filters: most bought items, and a seeded
 * uniform draw from the training catalogue. */
int ps_recommend_popular(const struct ps_recommender *r, uint32_t u, struct ps_rec_item *out);
int ps_recommend_random(const struct ps_recommender *r, uint32_t u, uint64_t seed,
                        struct ps_rec_scratch *s, struct ps_rec_item *out);

/* Recommends for users[0..n_users) in parallel; out holds n_users * p->n
 * slots, counts[i] the number filled for users[i]. */
void ps_recommend_batch(const struct ps_recommender *r, const uint32_t *users, size_t n_users,
                        struct ps_pool *pool, struct ps_rec_item *out, int *counts);

/* The reason as text ("bought I0042", "popular with frequent · high-spend"). */
void ps_rec_reason_text(const struct ps_recommender *r, const struct ps_rec_item *it,
                        char *buf, size_t size);

/* Training statistics. */
size_t ps_recommender_n_train_users(const struct ps_recommender *r);
/* Distinct training users per item ([n_items], for novelty); borrowed. */
const uint32_t *ps_recommender_item_users(const struct ps_recommender *r);
/* 1 if item i appears in training ([n_items]); borrowed. */
const uint8_t *ps_recommender_item_seen(const struct ps_recommender *r);
/* Neighbour similarity sim(i, j) (0 when j is not among i's neighbours). */
double ps_recommender_sim(const struct ps_recommender *r, uint32_t i, uint32_t j);

/*
 * Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008), the
 * alternative collaborative signal `persona evaluate recommend --als`
 * compares with co-occurrence.  Preference p_ui = 1 for basket items, 0
 * otherwise; confidence c_ui = 1 + alpha * w_ui.  Minimises
 *   sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg (sum |x_u|^2 + sum |y_i|^2)
 * by alternating exact least squares (a Cholesky solve per user, then per
 * item, in double precision; the sum over all pairs uses Y^T Y so one
 * half-step costs O(nnz f^2 + n f^3)).  Deterministic at any thread count.
 */
struct ps_als_params {
    int factors;               /* f (16) */
    int iters;                 /* alternations, users then items (8) */
    double reg;                /* lambda (0.1) */
    double alpha;              /* confidence slope (10) */
    uint64_t seed;             /* initial item factors ~ N(0, 0.1^2) (42) */
};
struct ps_als_params ps_als_default_params(void);

struct ps_als_model {
    int f;
    size_t n_users, n_items;
    float *U;                  /* [n_users x f] user factors, owned */
    float *V;                  /* [n_items x f] item factors, owned */
};

/* Fits on r's training baskets.  init_V ([n_items x f]) replaces the
 * random start when not NULL (tests compare against a reference from the
 * same start).  loss, when not NULL, receives the objective after each
 * iteration (iters values).  Release with ps_als_release. */
int ps_als_fit(const struct ps_recommender *r, const struct ps_als_params *p,
               const float *init_V, struct ps_pool *pool, struct ps_als_model *m, double *loss,
               struct ps_err *err);
void ps_als_release(struct ps_als_model *m);
/* Top r->p.n items by x_u . y_i with the recommender's filters. */
int ps_als_recommend(const struct ps_recommender *r, const struct ps_als_model *m, uint32_t u,
                     struct ps_rec_scratch *s, struct ps_rec_item *out);

/* Offline evaluation (`persona evaluate recommend`). */
enum { PS_EVAL_HYBRID, PS_EVAL_POPULAR, PS_EVAL_RANDOM, PS_EVAL_ALS, PS_EVAL_N_METHODS };
#define PS_EVAL_MAX_K 8

struct ps_eval_params {
    int64_t split_at;          /* train: ts < split_at; test: purchases at ts >= split_at */
    int n_ks;
    int ks[PS_EVAL_MAX_K];     /* cutoffs, e.g. 5, 10, 20 */
    uint64_t seed;             /* random baseline */
    struct ps_rec_params rec;  /* hybrid parameters (rec.n is set to max k) */
    int als;                   /* 1: also evaluate implicit ALS */
    struct ps_als_params als_params;
};

struct ps_eval_result {
    size_t n_train_events, n_test_users, n_test_purchases, n_train_users, n_catalogue;
    double seconds_build, seconds_recommend, seconds_als;
    int n_methods;             /* methods evaluated: 3, or 4 with ALS */
    struct ps_metrics_result m[PS_EVAL_N_METHODS][PS_EVAL_MAX_K];
};
const char *ps_eval_method_name(int method);

/* Trains on events before split_at and measures every method at every k
 * over the users who bought something at or after it. */
int ps_evaluate_recommend(const struct ps_interactions *x, const struct ps_eval_params *p,
                          struct ps_pool *pool, struct ps_eval_result *res, struct ps_err *err);

#endif
