/*
 * features.c - per-user features from the canonical events log (see
 * features.h, definitions in docs/FEATURES.md).
 *
 * One pass over the events keeps per-user state and a few exact sets of
 * dense 32-bit id pairs packed into uint64 keys -- never the events:
 *   per user      counters, sums, a category table (struct ucat) and a
 *                 128-day bitmap of active days;
 *   (user, day)   active days outside that window (rare);
 *   (user, item)  carted / purchased / bought-in-two-orders flags;
 *   (user, order) distinct order ids;
 *   (user, cat)   priced-purchase sums (price_level);
 *   (cat, item)   price sums for the per-category median item price.
 * Strings (users, categories, items, orders) are interned once (struct
 * imap over a ps_strmap); an event that repeats known pairs allocates
 * nothing.  The file path adds events in batches with prefetching (see
 * flush_batch).  finish() turns the state into a dense rows x columns
 * double matrix in user-id order, which the CSV and .npy writers format.
 *
 * Threads: the aggregation runs on the calling thread; params.n_threads
 * is accepted for the common interface and does not change the output.
 */
#include "persona/features.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define DAY_S 86400

/* ---- columns ------------------------------------------------------------ */

enum col {
    C_BROWSE, C_SEARCH, C_CART, C_FAV, C_PURCHASE, C_ORDER, C_STAY, C_SPEND, C_AOV,
    C_RECENCY, C_FREQ, C_MONETARY, C_ACTIVE_DAYS, C_TENURE, C_CONVERSION, C_ABANDON,
    C_REPEAT, C_TOP1, C_SHARE1, C_TOP2, C_SHARE2, C_TOP3, C_SHARE3, C_PRICE_LEVEL,
    C_NIGHT, C_MORNING, C_AFTERNOON, C_EVENING, C_WEEKEND, C_N
};

static const char *const col_names[C_N] = {
    "browse_count", "search_count", "cart_count", "fav_count", "purchase_count",
    "order_count", "average_stay_time", "total_spend", "avg_order_value", "recency_days",
    "frequency", "monetary", "active_days", "tenure_days", "conversion_rate",
    "cart_abandon_rate", "repeat_purchase_rate", "top_category_1", "share_1",
    "top_category_2", "share_2", "top_category_3", "share_3", "price_level",
    "share_night", "share_morning", "share_afternoon", "share_evening", "weekend_share",
};

int ps_features_n_columns(void) { return C_N; }

const char *ps_features_column_name(int i)
{
    return i >= 0 && i < C_N ? col_names[i] : NULL;
}

int ps_features_column_is_numeric(int i)
{
    return i >= 0 && i < C_N && i != C_TOP1 && i != C_TOP2 && i != C_TOP3;
}

int ps_features_n_numeric(void) { return C_N - 3; }

static const char *const event_names[PS_FEATURES_N] = {
    "view", "search", "click", "cart", "fav", "purchase", "refund",
};

int ps_features_event_parse(const char *s, size_t len)
{
    /* Dispatch on length first: one memcmp per event on the hot path. */
    switch (len) {
    case 3: return memcmp(s, "fav", 3) == 0 ? PS_FEATURES_FAV : -1;
    case 4:
        if (memcmp(s, "view", 4) == 0) return PS_FEATURES_VIEW;
        if (memcmp(s, "cart", 4) == 0) return PS_FEATURES_CART;
        return -1;
    case 5: return memcmp(s, "click", 5) == 0 ? PS_FEATURES_CLICK : -1;
    case 6:
        if (memcmp(s, "search", 6) == 0) return PS_FEATURES_SEARCH;
        if (memcmp(s, "refund", 6) == 0) return PS_FEATURES_REFUND;
        return -1;
    case 8: return memcmp(s, "purchase", 8) == 0 ? PS_FEATURES_PURCHASE : -1;
    default: return -1;
    }
}

const char *ps_features_event_name(int type)
{
    return type >= 0 && type < PS_FEATURES_N ? event_names[type] : NULL;
}

/* ---- number parsing ----------------------------------------------------- */

int ps_features_parse_i64(const char *s, size_t len, int64_t *out)
{
    const char *p = s, *e = s + len;
    int neg = 0;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == e)
        return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < e; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9 || v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Exact powers of ten: every 10^k for k <= 22 is representable. */
static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

int ps_features_parse_f64(const char *s, size_t len, double *out)
{
    /* Validate the whole syntax ourselves (strtod would also take "inf",
     * hex floats and leading spaces), then take Clinger's fast path: a
     * mantissa m <= 2^53 and a scale 10^k with k <= 22 are both exact
     * doubles, so the one IEEE division m / 10^k is correctly rounded.
     * Everything else (exponents, long mantissas) goes to strtod. */
    const char *p = s, *e = s + len;
    int neg = 0, n_digits = 0, n_sig = 0, n_frac = 0, spilled = 0, has_exp = 0;
    uint64_t m = 0;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    for (; p < e && (unsigned)(*p - '0') < 10; p++) {
        n_digits++;
        if (m == 0 && *p == '0')
            continue;
        if (n_sig < 19) {
            m = m * 10 + (unsigned)(*p - '0');
            n_sig++;
        } else {
            spilled = 1;
        }
    }
    if (p < e && *p == '.') {
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++) {
            n_digits++;
            if (n_sig < 19) {
                n_frac++;
                if (m == 0 && *p == '0')
                    continue;
                m = m * 10 + (unsigned)(*p - '0');
                n_sig++;
            } else {
                spilled = 1;
            }
        }
    }
    if (n_digits == 0)
        return -1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || (unsigned)(*p - '0') >= 10)
            return -1;
        while (p < e && (unsigned)(*p - '0') < 10)
            p++;
        has_exp = 1;
    }
    if (p != e)
        return -1;
    if (!has_exp && !spilled && m <= (1ULL << 53) && n_frac <= 22) {
        double v = (double)m / pow10_exact[n_frac];
        *out = neg ? -v : v;
        return 0;
    }
    char buf[512];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---- an open-addressing map from uint64 to uint32 ----------------------- */

/* Keys pack two 32-bit ids; UINT64_MAX (two NONE ids) never occurs. */
#define EMPTY_KEY UINT64_MAX

struct u64map {
    uint64_t *keys;
    uint32_t *vals;  /* NULL for a set */
    size_t mask;     /* slots - 1 */
    size_t n;
};

static inline uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ULL;
    k ^= k >> 33;
    return k;
}

static void u64map_init(struct u64map *m, int with_vals)
{
    m->mask = 255;
    m->n = 0;
    m->keys = ps_xmalloc((m->mask + 1) * sizeof *m->keys);
    memset(m->keys, 0xff, (m->mask + 1) * sizeof *m->keys);
    m->vals = with_vals ? ps_xmalloc((m->mask + 1) * sizeof *m->vals) : NULL;
}

static void u64map_release(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static void u64map_grow(struct u64map *m)
{
    size_t n_slots = (m->mask + 1) * 2, mask = n_slots - 1;
    uint64_t *keys = ps_xmalloc(n_slots * sizeof *keys);
    uint32_t *vals = m->vals ? ps_xmalloc(n_slots * sizeof *vals) : NULL;
    memset(keys, 0xff, n_slots * sizeof *keys);
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->keys[i] == EMPTY_KEY)
            continue;
        size_t j = mix64(m->keys[i]) & mask;
        while (keys[j] != EMPTY_KEY)
            j = (j + 1) & mask;
        keys[j] = m->keys[i];
        if (vals)
            vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->mask = mask;
}

/* Finds key or inserts it; returns its slot, *inserted tells which. */
static inline size_t u64map_put(struct u64map *m, uint64_t key, int *inserted)
{
    if ((m->n + 1) * 2 > m->mask + 1) /* load factor <= 0.5 */
        u64map_grow(m);
    size_t j = mix64(key) & m->mask;
    for (;;) {
        if (m->keys[j] == key) {
            *inserted = 0;
            return j;
        }
        if (m->keys[j] == EMPTY_KEY) {
            m->keys[j] = key;
            m->n++;
            *inserted = 1;
            return j;
        }
        j = (j + 1) & m->mask;
    }
}

static inline uint64_t pack(uint32_t a, uint32_t b)
{
    return (uint64_t)a << 32 | b;
}

/* ---- an interning index with inline key prefixes ------------------------ */

/* ps_strmap keeps the keys (id -> key for the output); this index in
 * front of it finds the id of a key with one cache miss for keys up to 16
 * bytes (the prefix is compared in the slot), where the strmap's lookup
 * touches its slot, length, offset and arena.  It pays on the per-event
 * user and item lookups of large logs in random user order. */
#define PREFIX 16

struct islot {
    uint64_t hash;
    uint32_t id_plus1;     /* 0 = empty */
    uint32_t len;
    uint64_t prefix[2];    /* the key's first PREFIX bytes, zero-padded */
};

struct imap {
    struct ps_strmap *keys;
    struct islot *slots;
    size_t mask;
    size_t n;
};

static void imap_init(struct imap *m)
{
    m->keys = ps_strmap_new();
    m->mask = 255;
    m->n = 0;
    m->slots = ps_xcalloc(m->mask + 1, sizeof *m->slots);
}

static void imap_release(struct imap *m)
{
    ps_strmap_free(m->keys);
    free(m->slots);
}

static void imap_grow(struct imap *m)
{
    size_t n_slots = (m->mask + 1) * 2, mask = n_slots - 1;
    struct islot *s = ps_xcalloc(n_slots, sizeof *s);
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].id_plus1)
            continue;
        size_t j = m->slots[i].hash & mask;
        while (s[j].id_plus1)
            j = (j + 1) & mask;
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = mask;
}

static inline uint64_t imap_hash(const char *key, size_t len)
{
    return ps_hash64(key, len, 0x9E3779B97F4A7C15ULL);
}

static inline void imap_prefetch(const struct imap *m, uint64_t h)
{
    __builtin_prefetch(&m->slots[h & m->mask]);
}

/* The id of key (whose imap_hash is h), interning it if new. */
static uint32_t imap_intern_h(struct imap *m, const char *key, size_t len, uint64_t h,
                              int *inserted)
{
    size_t j = h & m->mask, pre = len < PREFIX ? len : PREFIX;
    uint64_t p[2] = {0, 0};
    memcpy(p, key, pre);
    for (;;) {
        struct islot *s = &m->slots[j];
        if (!s->id_plus1)
            break;
        if (s->hash == h && s->len == len && s->prefix[0] == p[0] && s->prefix[1] == p[1] &&
            (len <= PREFIX ||
             memcmp(ps_strmap_key(m->keys, s->id_plus1 - 1, NULL) + PREFIX, key + PREFIX,
                    len - PREFIX) == 0)) {
            *inserted = 0;
            return s->id_plus1 - 1;
        }
        j = (j + 1) & m->mask;
    }
    PS_ASSERT(len < UINT32_MAX);
    uint32_t id = ps_strmap_intern(m->keys, key, len, NULL);
    struct islot *s = &m->slots[j];
    s->hash = h;
    s->id_plus1 = id + 1;
    s->len = (uint32_t)len;
    s->prefix[0] = p[0];
    s->prefix[1] = p[1];
    *inserted = 1;
    if (++m->n * 2 > m->mask + 1)
        imap_grow(m);
    return id;
}

static uint32_t imap_intern(struct imap *m, const char *key, size_t len, int *inserted)
{
    return imap_intern_h(m, key, len, imap_hash(key, len), inserted);
}

/* ---- state ------------------------------------------------------------- */

/* A user's categories: a dense array scanned linearly while small, an
 * open-addressing table (cat = NONE marks empty) once it outgrows
 * UCAT_LINEAR entries, so heavy users with hundreds of categories stay
 * O(1) per event. */
#define UCAT_LINEAR 16
struct ucat {
    uint32_t cat;    /* category id, NONE = empty slot */
    uint32_t count;  /* the user's events in this category */
};

/* Active days: a 128-day bitmap around the user's first event, the rare
 * days outside it in the global (user, day) set. */
#define DAY_WINDOW 128

/* Per-user accumulators.  Timestamps in Unix seconds, sums in doubles. */
struct fuser {
    int64_t first_ts;           /* earliest event */
    int64_t last_purchase_ts;   /* latest purchase; INT64_MIN = none */
    double dwell_sum;           /* seconds, over events with dwell_s */
    double spend;               /* purchases minus refunds, currency units */
    uint32_t n_ev[PS_FEATURES_N]; /* events per type */
    uint32_t n_events;          /* all events */
    uint32_t n_cat_events;      /* events with a category */
    uint32_t n_dwell;           /* events with dwell_s */
    uint32_t n_orders;          /* distinct order ids + purchases without one */
    uint32_t daypart[4];        /* events in night, morning, afternoon, evening */
    uint32_t n_weekend;         /* events on Saturday or Sunday */
    uint32_t n_days_out;        /* distinct active days outside the window */
    int32_t day_base;           /* first day of the bitmap window */
    uint64_t day_bits[DAY_WINDOW / 64]; /* active days in the window */
    struct ucat *cats;          /* owned; see struct ucat */
    uint32_t n_cats, cap_cats;  /* distinct categories, allocated entries */
    uint32_t last_cat;          /* cache: category of the previous event */
    uint32_t last_slot;         /* ... and its index in cats */
};

/* One (user, item) pair that was carted or purchased. */
enum { UI_CARTED = 1, UI_PURCHASED = 2, UI_REPEAT = 4 };
struct fuitem {
    uint64_t first_order;  /* order key of the first purchase */
    uint32_t flags;        /* UI_* */
};

/* Sums over one user's priced purchases in one category (price_level). */
struct fpriced {
    double sum;            /* sum of unit prices > 0 */
    uint32_t n;            /* purchases */
};

/* One (category, item) price series for the category medians. */
struct fprice {
    double sum;            /* sum of observed unit prices > 0 */
    uint32_t n;            /* observations */
    uint32_t cat;          /* category id */
};

struct ps_features {
    struct ps_features_params params;
    struct imap users, items, cats, orders;
    struct fuser *u;        size_t u_cap;
    struct fuitem *ui;      size_t n_ui, ui_cap;
    struct fpriced *priced; size_t n_priced, priced_cap;
    struct fprice *prices;  size_t n_prices, prices_cap;
    struct u64map day_set, ui_map, order_set, priced_map, price_map;
    long n_rows, n_after;
    uint64_t n_anon_orders; /* purchases without an order id so far */
    int64_t max_ts;
    int have_ts;
    int finished;
    /* after finish */
    int64_t as_of;
    uint32_t *order;        /* row -> user id */
    double *values;         /* rows x C_N; NaN = empty (and string columns) */
    uint32_t *top;          /* rows x 3 category ids, NONE = empty */
    double *median;         /* category -> median item price, NaN = none */
};

struct ps_features_params ps_features_default_params(void)
{
    struct ps_features_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    return p;
}

int ps_features_check_params(const struct ps_features_params *p, int need_io,
                             struct ps_err *err)
{
    if (p->tz_offset_s < -14 * 3600 || p->tz_offset_s > 14 * 3600)
        return ps_err_set(err, PS_ERR_USAGE, "time zone offset %d s is outside -14:00..+14:00",
                          p->tz_offset_s);
    if (need_io) {
        if (!p->events_path)
            return ps_err_set(err, PS_ERR_USAGE, "no events file given");
        if (!p->out_csv && !p->out_npy)
            return ps_err_set(err, PS_ERR_USAGE, "no output given (a CSV or .npy path)");
    }
    return PS_OK;
}

struct ps_features *ps_features_new(const struct ps_features_params *params)
{
    struct ps_features *f = ps_xcalloc(1, sizeof *f);
    f->params = *params;
    imap_init(&f->users);
    imap_init(&f->items);
    imap_init(&f->cats);
    imap_init(&f->orders);
    u64map_init(&f->day_set, 0);
    u64map_init(&f->ui_map, 1);
    u64map_init(&f->order_set, 0);
    u64map_init(&f->priced_map, 1);
    u64map_init(&f->price_map, 1);
    return f;
}

void ps_features_free(struct ps_features *f)
{
    if (!f)
        return;
    uint32_t n_users = ps_strmap_count(f->users.keys);
    for (uint32_t i = 0; i < n_users; i++)
        free(f->u[i].cats);
    imap_release(&f->users);
    imap_release(&f->items);
    imap_release(&f->cats);
    imap_release(&f->orders);
    free(f->u);
    free(f->ui);
    free(f->priced);
    free(f->prices);
    u64map_release(&f->day_set);
    u64map_release(&f->ui_map);
    u64map_release(&f->order_set);
    u64map_release(&f->priced_map);
    u64map_release(&f->price_map);
    free(f->order);
    free(f->values);
    free(f->top);
    free(f->median);
    free(f);
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint32_t user_id_of(struct ps_features *f, const char *key, size_t len, uint64_t h)
{
    int inserted;
    uint32_t id = imap_intern_h(&f->users, key, len, h, &inserted);
    if (inserted) {
        f->u = ps_xgrow(f->u, &f->u_cap, (size_t)id + 1, sizeof *f->u);
        struct fuser *u = &f->u[id];
        memset(u, 0, sizeof *u);
        u->first_ts = INT64_MAX;
        u->last_purchase_ts = INT64_MIN;
        u->day_base = INT32_MIN;
        u->last_cat = NONE;
    }
    return id;
}


static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352DU;
    x ^= x >> 15;
    x *= 0x846CA68BU;
    x ^= x >> 16;
    return x;
}

static void ucat_rehash(struct fuser *u, uint32_t cap)
{
    struct ucat *old = u->cats;
    uint32_t old_cap = u->cap_cats;
    u->cats = ps_xmalloc(cap * sizeof *u->cats);
    for (uint32_t i = 0; i < cap; i++)
        u->cats[i].cat = NONE;
    u->cap_cats = cap;
    for (uint32_t i = 0; i < (old_cap > UCAT_LINEAR ? old_cap : u->n_cats); i++) {
        if (old[i].cat == NONE)
            continue;
        uint32_t j = mix32(old[i].cat) & (cap - 1);
        while (u->cats[j].cat != NONE)
            j = (j + 1) & (cap - 1);
        u->cats[j] = old[i];
    }
    free(old);
}

/* The user's counter for category cat, created at 0 if new. */
static struct ucat *ucat_of(struct fuser *u, uint32_t cat)
{
    if (u->last_cat == cat)
        return &u->cats[u->last_slot];
    uint32_t j;
    if (u->cap_cats <= UCAT_LINEAR) {
        for (j = 0; j < u->n_cats; j++)
            if (u->cats[j].cat == cat)
                goto found;
        if (u->n_cats == UCAT_LINEAR) {
            ucat_rehash(u, 2 * UCAT_LINEAR);
            return ucat_of(u, cat);
        }
        if (u->n_cats == u->cap_cats) {
            u->cap_cats = u->cap_cats ? 2 * u->cap_cats : 4;
            u->cats = ps_xrealloc(u->cats, u->cap_cats * sizeof *u->cats);
        }
        j = u->n_cats++;
        u->cats[j] = (struct ucat){cat, 0};
    } else {
        uint32_t mask = u->cap_cats - 1;
        for (j = mix32(cat) & mask; u->cats[j].cat != NONE; j = (j + 1) & mask)
            if (u->cats[j].cat == cat)
                goto found;
        if ((u->n_cats + 1) * 4 > u->cap_cats * 3) { /* load <= 3/4 */
            ucat_rehash(u, 2 * u->cap_cats);
            return ucat_of(u, cat);
        }
        u->cats[j] = (struct ucat){cat, 0};
        u->n_cats++;
    }
found:
    u->last_cat = cat;
    u->last_slot = j;
    return &u->cats[j];
}

static struct fuitem *uitem_of(struct ps_features *f, uint32_t user, uint32_t item)
{
    int inserted;
    size_t slot = u64map_put(&f->ui_map, pack(user, item), &inserted);
    if (inserted) {
        uint32_t i = (uint32_t)f->n_ui++;
        f->ui = ps_xgrow(f->ui, &f->ui_cap, f->n_ui, sizeof *f->ui);
        f->ui[i].first_order = 0;
        f->ui[i].flags = 0;
        f->ui_map.vals[slot] = i;
    }
    return &f->ui[f->ui_map.vals[slot]];
}

static void add_active_day(struct ps_features *f, uint32_t uid, struct fuser *u, int64_t day)
{
    if (u->day_base == INT32_MIN)
        u->day_base = (int32_t)day - DAY_WINDOW / 2;
    int64_t off = day - u->day_base;
    if (off >= 0 && off < DAY_WINDOW) {
        u->day_bits[off / 64] |= 1ULL << (off % 64);
    } else {
        int inserted;
        u64map_put(&f->day_set, pack(uid, (uint32_t)(int32_t)day), &inserted);
        u->n_days_out += (uint32_t)inserted;
    }
}

/* 1 if the event needs its item interned (see add_valid). */
static inline int needs_item(const struct ps_features_event *ev)
{
    return ev->item_id && ev->item_len > 0 &&
           ((ev->category && ev->category_len > 0 && ev->price > 0) ||
            ev->type == PS_FEATURES_CART || ev->type == PS_FEATURES_PURCHASE);
}

/* Adds a validated event of user uid that passed the as-of filter.
 * item_h: the item's imap_hash when needs_item(ev) (computed if NULL). */
static void add_valid(struct ps_features *f, const struct ps_features_event *ev, uint32_t uid,
                      const uint64_t *item_h)
{
    if (!f->have_ts || ev->ts > f->max_ts)
        f->max_ts = ev->ts;
    f->have_ts = 1;
    struct fuser *u = &f->u[uid];
    int type = (int)ev->type;
    if (ev->ts < u->first_ts)
        u->first_ts = ev->ts;
    u->n_events++;
    u->n_ev[type]++;

    /* Local calendar: day number, second of day, weekday (day 0 = Thu). */
    int64_t local = ev->ts + f->params.tz_offset_s;
    int64_t day = floor_div(local, DAY_S);
    int64_t sod = local - day * DAY_S;
    u->daypart[sod / 21600]++;
    int64_t wd = (day + 4) % 7;
    if (wd < 0)
        wd += 7;
    if (wd == 0 || wd == 6)
        u->n_weekend++;
    add_active_day(f, uid, u, day);

    if (ev->dwell_s == ev->dwell_s) {
        u->dwell_sum += ev->dwell_s;
        u->n_dwell++;
    }

    uint32_t cat = NONE, item = NONE;
    int has_price = ev->price == ev->price;
    if (ev->category && ev->category_len > 0) {
        int inserted;
        cat = imap_intern(&f->cats, ev->category, ev->category_len, &inserted);
        ucat_of(u, cat)->count++;
        u->n_cat_events++;
    }
    int priced_obs = cat != NONE && has_price && ev->price > 0;
    if (needs_item(ev)) {
        int inserted;
        uint64_t h = item_h ? *item_h : imap_hash(ev->item_id, ev->item_len);
        item = imap_intern_h(&f->items, ev->item_id, ev->item_len, h, &inserted);
    }
    if (priced_obs && item != NONE) {
        int inserted;
        size_t slot = u64map_put(&f->price_map, pack(cat, item), &inserted);
        if (inserted) {
            uint32_t i = (uint32_t)f->n_prices++;
            f->prices = ps_xgrow(f->prices, &f->prices_cap, f->n_prices, sizeof *f->prices);
            f->prices[i] = (struct fprice){0.0, 0, cat};
            f->price_map.vals[slot] = i;
        }
        struct fprice *pr = &f->prices[f->price_map.vals[slot]];
        pr->sum += ev->price;
        pr->n++;
    }

    double qty = ev->quantity == ev->quantity ? ev->quantity : 1.0;
    if (type == PS_FEATURES_PURCHASE) {
        if (ev->ts > u->last_purchase_ts)
            u->last_purchase_ts = ev->ts;
        if (has_price)
            u->spend += ev->price * qty;
        uint64_t order_key;
        if (ev->order_id && ev->order_len > 0) {
            int inserted;
            uint32_t o = imap_intern(&f->orders, ev->order_id, ev->order_len, &inserted);
            u64map_put(&f->order_set, pack(uid, o), &inserted);
            u->n_orders += (uint32_t)inserted;
            order_key = o;
        } else {
            /* Each purchase without an order id is an order of its own. */
            u->n_orders++;
            order_key = (1ULL << 63) | f->n_anon_orders++;
        }
        if (cat != NONE && has_price && ev->price > 0) {
            int inserted;
            size_t slot = u64map_put(&f->priced_map, pack(uid, cat), &inserted);
            if (inserted) {
                uint32_t i = (uint32_t)f->n_priced++;
                f->priced = ps_xgrow(f->priced, &f->priced_cap, f->n_priced, sizeof *f->priced);
                f->priced[i] = (struct fpriced){0.0, 0};
                f->priced_map.vals[slot] = i;
            }
            struct fpriced *pp = &f->priced[f->priced_map.vals[slot]];
            pp->sum += ev->price;
            pp->n++;
        }
        if (item != NONE) {
            struct fuitem *ui = uitem_of(f, uid, item);
            if (!(ui->flags & UI_PURCHASED)) {
                ui->flags |= UI_PURCHASED;
                ui->first_order = order_key;
            } else if (ui->first_order != order_key) {
                ui->flags |= UI_REPEAT;
            }
        }
    } else if (type == PS_FEATURES_REFUND) {
        if (has_price)
            u->spend -= fabs(ev->price) * fabs(qty);
    } else if (type == PS_FEATURES_CART && item != NONE) {
        uitem_of(f, uid, item)->flags |= UI_CARTED;
    }
}

static int check_event(const struct ps_features_event *ev, struct ps_err *err)
{
    if (!ev->user_id || ev->user_len == 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "event without a user id");
    if ((unsigned)ev->type >= PS_FEATURES_N)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "event type %d is not a canonical event",
                          (int)ev->type);
    if (ev->dwell_s < 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "negative dwell time %g", ev->dwell_s);
    return PS_OK;
}

int ps_features_add(struct ps_features *f, const struct ps_features_event *ev,
                    struct ps_err *err)
{
    PS_ASSERT(!f->finished);
    int rc = check_event(ev, err);
    if (rc)
        return rc;
    f->n_rows++;
    if (f->params.has_as_of && ev->ts > f->params.as_of) {
        f->n_after++;
        return PS_OK;
    }
    uint32_t uid = user_id_of(f, ev->user_id, ev->user_len,
                              imap_hash(ev->user_id, ev->user_len));
    add_valid(f, ev, uid, NULL);
    return PS_OK;
}

/* ---- reading the canonical CSV ----------------------------------------- */

enum { F_USER, F_TS, F_EVENT, F_ITEM, F_CAT, F_PRICE, F_QTY, F_DWELL, F_ORDER, F_N };
static const char *const field_names[F_N] = {
    "user_id", "ts", "event", "item_id", "category", "price", "quantity", "dwell_s", "order_id",
};

static int bad_field(struct ps_err *err, struct ps_reader *r, int field, const char *what,
                     const char *val, size_t len)
{
    int shown = len > 60 ? 60 : (int)len;
    return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"%s\": %s, got \"%.*s\"%s",
                      ps_reader_name(r), ps_reader_line(r), field_names[field], what, shown,
                      val, len > 60 ? "..." : "");
}

static int read_number(struct ps_reader *r, const int *col, int field, double *out,
                       struct ps_err *err)
{
    *out = NAN;
    if (col[field] < 0)
        return PS_OK;
    size_t len;
    const char *s = ps_reader_field(r, col[field], &len);
    if (len == 0)
        return PS_OK;
    if (ps_features_parse_f64(s, len, out) != 0)
        return bad_field(err, r, field, "expected a number", s, len);
    if (field == F_DWELL && *out < 0)
        return bad_field(err, r, field, "expected a non-negative number of seconds", s, len);
    return PS_OK;
}

/*
 * Events are added in batches so that the memory latency of the per-event
 * lookups overlaps: for a log in time order every event belongs to another
 * user, and the user's slot, state and category table are each a cache
 * miss.  Stage 1 hashes and prefetches the user and item slots of the whole
 * batch, stage 2 resolves user ids (in input order, so ids and results are
 * those of one-at-a-time adding) and prefetches the user state, stage 3
 * prefetches the category tables, stage 4 adds the events in order.
 */
#define BATCH 64

struct pending {
    struct ps_features_event ev;  /* strings point into the batch arena */
    size_t off[4];                /* arena offsets of user, item, category, order */
    uint64_t user_h, item_h;      /* imap hashes */
    uint32_t uid;                 /* NONE: after as-of */
};

static void flush_batch(struct ps_features *f, struct pending *b, int n, struct ps_buf *arena)
{
    for (int i = 0; i < n; i++) {
        struct ps_features_event *ev = &b[i].ev;
        ev->user_id = arena->data + b[i].off[0];
        ev->item_id = arena->data + b[i].off[1];
        ev->category = arena->data + b[i].off[2];
        ev->order_id = arena->data + b[i].off[3];
        b[i].user_h = imap_hash(ev->user_id, ev->user_len);
        imap_prefetch(&f->users, b[i].user_h);
        if (needs_item(ev)) {
            b[i].item_h = imap_hash(ev->item_id, ev->item_len);
            imap_prefetch(&f->items, b[i].item_h);
        }
    }
    for (int i = 0; i < n; i++) {
        const struct ps_features_event *ev = &b[i].ev;
        f->n_rows++;
        if (f->params.has_as_of && ev->ts > f->params.as_of) {
            f->n_after++;
            b[i].uid = NONE;
            continue;
        }
        b[i].uid = user_id_of(f, ev->user_id, ev->user_len, b[i].user_h);
        __builtin_prefetch(&f->u[b[i].uid]);
        __builtin_prefetch((const char *)&f->u[b[i].uid] + 64);
    }
    for (int i = 0; i < n; i++)
        if (b[i].uid != NONE && f->u[b[i].uid].cats)
            __builtin_prefetch(f->u[b[i].uid].cats);
    for (int i = 0; i < n; i++)
        if (b[i].uid != NONE)
            add_valid(f, &b[i].ev, b[i].uid, &b[i].item_h);
    ps_buf_reset(arena);
}

/* Copies a field into the arena; returns its offset. */
static size_t stash(struct ps_buf *arena, const char *s, size_t len)
{
    size_t off = arena->len;
    ps_buf_append(arena, s, len);
    ps_buf_putc(arena, '\0');
    return off;
}

int ps_features_add_file(struct ps_features *f, const char *path, struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r = NULL;
    struct pending batch[BATCH];
    struct ps_buf arena;
    int col[F_N], n_batch = 0;
    PS_ASSERT(!f->finished);
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    ps_buf_init(&arena);
    for (int i = 0; i < F_N; i++) {
        col[i] = ps_reader_column_index(r, field_names[i]);
        if (col[i] < 0 && i <= F_EVENT) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing column \"%s\"",
                            ps_reader_name(r), field_names[i]);
            goto done;
        }
    }
    for (;;) {
        rc = ps_reader_next(r);
        if (rc == PS_DONE) {
            flush_batch(f, batch, n_batch, &arena);
            rc = PS_OK;
            break;
        }
        if (rc == PS_ERR_BAD_ROW) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
            goto done;
        }
        if (rc < 0) {
            rc = ps_err_set(err, rc, "%s", ps_reader_errmsg(r));
            goto done;
        }
        struct pending *pe = &batch[n_batch];
        struct ps_features_event ev;
        size_t len;
        const char *s;
        ev.user_id = ps_reader_field(r, col[F_USER], &ev.user_len);
        if (ev.user_len == 0) {
            rc = bad_field(err, r, F_USER, "missing value", "", 0);
            goto done;
        }
        s = ps_reader_field(r, col[F_TS], &len);
        if (ps_features_parse_i64(s, len, &ev.ts) != 0) {
            rc = bad_field(err, r, F_TS, "expected integer Unix seconds", s, len);
            goto done;
        }
        s = ps_reader_field(r, col[F_EVENT], &len);
        int type = ps_features_event_parse(s, len);
        if (type < 0) {
            rc = bad_field(err, r, F_EVENT,
                           "expected view, search, click, cart, fav, purchase or refund", s, len);
            goto done;
        }
        ev.type = (enum ps_features_event_type)type;
        ev.item_id = NULL, ev.item_len = 0;
        ev.category = NULL, ev.category_len = 0;
        ev.order_id = NULL, ev.order_len = 0;
        if (col[F_ITEM] >= 0)
            ev.item_id = ps_reader_field(r, col[F_ITEM], &ev.item_len);
        if (col[F_CAT] >= 0)
            ev.category = ps_reader_field(r, col[F_CAT], &ev.category_len);
        if (col[F_ORDER] >= 0)
            ev.order_id = ps_reader_field(r, col[F_ORDER], &ev.order_len);
        if ((rc = read_number(r, col, F_PRICE, &ev.price, err)) != 0 ||
            (rc = read_number(r, col, F_QTY, &ev.quantity, err)) != 0 ||
            (rc = read_number(r, col, F_DWELL, &ev.dwell_s, err)) != 0)
            goto done;
        /* ev is valid (check_event's conditions hold); stash its strings. */
        pe->ev = ev;
        pe->off[0] = stash(&arena, ev.user_id, ev.user_len);
        pe->off[1] = stash(&arena, ev.item_id ? ev.item_id : "", ev.item_len);
        pe->off[2] = stash(&arena, ev.category ? ev.category : "", ev.category_len);
        pe->off[3] = stash(&arena, ev.order_id ? ev.order_id : "", ev.order_len);
        if (++n_batch == BATCH) {
            flush_batch(f, batch, n_batch, &arena);
            n_batch = 0;
        }
    }
done:
    ps_buf_release(&arena);
    ps_reader_close(r);
    return rc;
}

/* ---- finishing ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median price per category over its distinct items, each item weighted
 * once at its mean observed price (the pandas median of item means). */
static void compute_medians(struct ps_features *f)
{
    uint32_t n_cats = ps_strmap_count(f->cats.keys);
    size_t *start = ps_xcalloc((size_t)n_cats + 1, sizeof *start);
    double *means = ps_xmalloc((f->n_prices ? f->n_prices : 1) * sizeof *means);
    f->median = ps_xmalloc((n_cats ? n_cats : 1) * sizeof *f->median);
    for (size_t i = 0; i < f->n_prices; i++)
        start[f->prices[i].cat + 1]++;
    for (uint32_t c = 0; c < n_cats; c++)
        start[c + 1] += start[c];
    size_t *fill = ps_xmalloc(((size_t)n_cats + 1) * sizeof *fill);
    memcpy(fill, start, ((size_t)n_cats + 1) * sizeof *fill);
    for (size_t i = 0; i < f->n_prices; i++)
        means[fill[f->prices[i].cat]++] = f->prices[i].sum / f->prices[i].n;
    for (uint32_t c = 0; c < n_cats; c++) {
        size_t n = start[c + 1] - start[c];
        double *v = means + start[c];
        if (n == 0) {
            f->median[c] = NAN;
            continue;
        }
        qsort(v, n, sizeof *v, cmp_double);
        f->median[c] = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    }
    free(fill);
    free(means);
    free(start);
}

struct user_key {
    const char *key;
    size_t len;
    uint32_t id;
};

static int cmp_user_key(const void *a, const void *b)
{
    const struct user_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* 1 if category a ranks before b: more events, then byte order of name. */
static int cat_before(const struct ps_features *f, const struct ucat *a, const struct ucat *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    size_t la, lb;
    const char *ka = ps_strmap_key(f->cats.keys, a->cat, &la);
    const char *kb = ps_strmap_key(f->cats.keys, b->cat, &lb);
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c < 0 : la < lb;
}

/* Per-user counters gathered from the pair tables at the end. */
struct ui_counts {
    uint32_t carted, abandoned, purchased, repeated; /* (user, item) pairs */
    uint32_t pl_den;   /* priced purchases in categories with a median */
    double pl_num;     /* sum of their price / median */
};

int ps_features_finish(struct ps_features *f, struct ps_err *err)
{
    (void)err;
    PS_ASSERT(!f->finished);
    f->finished = 1;
    f->as_of = f->params.has_as_of ? f->params.as_of : (f->have_ts ? f->max_ts : 0);
    compute_medians(f);

    uint32_t n_users = ps_strmap_count(f->users.keys);
    struct ui_counts *uc = ps_xcalloc(n_users ? n_users : 1, sizeof *uc);
    for (size_t s = 0; s <= f->ui_map.mask; s++) {
        uint64_t key = f->ui_map.keys[s];
        if (key == EMPTY_KEY)
            continue;
        struct ui_counts *c = &uc[key >> 32];
        uint32_t fl = f->ui[f->ui_map.vals[s]].flags;
        if (fl & UI_CARTED) {
            c->carted++;
            c->abandoned += !(fl & UI_PURCHASED);
        }
        if (fl & UI_PURCHASED) {
            c->purchased++;
            c->repeated += !!(fl & UI_REPEAT);
        }
    }
    for (size_t s = 0; s <= f->priced_map.mask; s++) {
        uint64_t key = f->priced_map.keys[s];
        double med = key == EMPTY_KEY ? NAN : f->median[(uint32_t)key];
        if (med != med)
            continue;
        const struct fpriced *pp = &f->priced[f->priced_map.vals[s]];
        uc[key >> 32].pl_num += pp->sum / med;
        uc[key >> 32].pl_den += pp->n;
    }

    struct user_key *keys = ps_xmalloc((n_users ? n_users : 1) * sizeof *keys);
    for (uint32_t i = 0; i < n_users; i++) {
        keys[i].key = ps_strmap_key(f->users.keys, i, &keys[i].len);
        keys[i].id = i;
    }
    qsort(keys, n_users, sizeof *keys, cmp_user_key);
    f->order = ps_xmalloc((n_users ? n_users : 1) * sizeof *f->order);
    f->values = ps_xmalloc(((size_t)n_users ? n_users : 1) * C_N * sizeof *f->values);
    f->top = ps_xmalloc(((size_t)n_users ? n_users : 1) * 3 * sizeof *f->top);

    for (uint32_t row = 0; row < n_users; row++) {
        uint32_t id = keys[row].id;
        const struct fuser *u = &f->u[id];
        const struct ui_counts *c = &uc[id];
        double *v = f->values + (size_t)row * C_N;
        uint32_t *top = f->top + (size_t)row * 3;
        f->order[row] = id;
        for (int k = 0; k < C_N; k++)
            v[k] = NAN;
        v[C_BROWSE] = u->n_ev[PS_FEATURES_VIEW];
        v[C_SEARCH] = u->n_ev[PS_FEATURES_SEARCH];
        v[C_CART] = u->n_ev[PS_FEATURES_CART];
        v[C_FAV] = u->n_ev[PS_FEATURES_FAV];
        v[C_PURCHASE] = u->n_ev[PS_FEATURES_PURCHASE];
        v[C_ORDER] = u->n_orders;
        if (u->n_dwell)
            v[C_STAY] = u->dwell_sum / u->n_dwell;
        v[C_SPEND] = u->spend + 0.0; /* no "-0" in the output */
        if (u->n_orders)
            v[C_AOV] = u->spend / u->n_orders + 0.0;
        if (u->last_purchase_ts != INT64_MIN)
            v[C_RECENCY] = (double)(f->as_of - u->last_purchase_ts) / DAY_S;
        v[C_FREQ] = v[C_ORDER];
        v[C_MONETARY] = v[C_SPEND];
        v[C_ACTIVE_DAYS] = u->n_days_out;
        for (int k = 0; k < DAY_WINDOW / 64; k++)
            v[C_ACTIVE_DAYS] += __builtin_popcountll(u->day_bits[k]);
        v[C_TENURE] = (double)(f->as_of - u->first_ts) / DAY_S;
        if (u->n_ev[PS_FEATURES_VIEW])
            v[C_CONVERSION] = (double)u->n_ev[PS_FEATURES_PURCHASE] / u->n_ev[PS_FEATURES_VIEW];
        if (c->carted)
            v[C_ABANDON] = (double)c->abandoned / c->carted;
        if (c->purchased)
            v[C_REPEAT] = (double)c->repeated / c->purchased;

        /* Top three categories by a partial insertion sort. */
        const struct ucat *best[3] = {NULL, NULL, NULL};
        uint32_t n_slots = u->cap_cats > UCAT_LINEAR ? u->cap_cats : u->n_cats;
        for (uint32_t i = 0; i < n_slots; i++) {
            const struct ucat *pp = &u->cats[i];
            if (pp->cat == NONE)
                continue;
            int k = 3;
            while (k > 0 && (!best[k - 1] || cat_before(f, pp, best[k - 1])))
                k--;
            if (k < 3) {
                for (int j = 2; j > k; j--)
                    best[j] = best[j - 1];
                best[k] = pp;
            }
        }
        static const int top_col[3] = {C_SHARE1, C_SHARE2, C_SHARE3};
        for (int k = 0; k < 3; k++) {
            top[k] = best[k] ? best[k]->cat : NONE;
            if (best[k])
                v[top_col[k]] = (double)best[k]->count / u->n_cat_events;
        }
        if (c->pl_den)
            v[C_PRICE_LEVEL] = c->pl_num / c->pl_den;
        for (int k = 0; k < 4; k++)
            v[C_NIGHT + k] = (double)u->daypart[k] / u->n_events;
        v[C_WEEKEND] = (double)u->n_weekend / u->n_events;
    }
    free(keys);
    free(uc);
    return PS_OK;
}

/* ---- accessors ---------------------------------------------------------- */

long ps_features_n_users(const struct ps_features *f)
{
    return (long)ps_strmap_count(f->users.keys);
}
int64_t ps_features_as_of(const struct ps_features *f) { return f->as_of; }
long ps_features_n_rows(const struct ps_features *f) { return f->n_rows; }
long ps_features_n_after_as_of(const struct ps_features *f) { return f->n_after; }

const char *ps_features_user_id(const struct ps_features *f, long row, size_t *len)
{
    PS_ASSERT(f->finished && row >= 0 && row < ps_features_n_users(f));
    return ps_strmap_key(f->users.keys, f->order[row], len);
}

double ps_features_value(const struct ps_features *f, long row, int col)
{
    PS_ASSERT(f->finished && row >= 0 && row < ps_features_n_users(f) && col >= 0 && col < C_N);
    return f->values[(size_t)row * C_N + col];
}

const char *ps_features_top_category(const struct ps_features *f, long row, int k, size_t *len)
{
    PS_ASSERT(f->finished && row >= 0 && row < ps_features_n_users(f) && k >= 1 && k <= 3);
    uint32_t c = f->top[(size_t)row * 3 + (k - 1)];
    if (c == NONE) {
        if (len)
            *len = 0;
        return NULL;
    }
    return ps_strmap_key(f->cats.keys, c, len);
}

double ps_features_category_median(const struct ps_features *f, const char *category,
                                   size_t len)
{
    PS_ASSERT(f->finished);
    int64_t c = ps_strmap_find(f->cats.keys, category, len);
    return c < 0 ? NAN : f->median[c];
}

/* ---- writers ------------------------------------------------------------ */

/* Appends s to b, quoted as RFC 4180 requires when it holds a comma,
 * quote or line break. */
static void put_csv_field(struct ps_buf *b, const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            break;
    if (i == len) {
        ps_buf_append(b, s, len);
        return;
    }
    ps_buf_putc(b, '"');
    for (i = 0; i < len; i++) {
        if (s[i] == '"')
            ps_buf_putc(b, '"');
        ps_buf_putc(b, s[i]);
    }
    ps_buf_putc(b, '"');
}

static int put_digits(char *buf, uint64_t x)
{
    char tmp[24];
    int n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

int ps_features_format_number(char *buf, double v)
{
    if (v != v)
        return 0;
    double a = fabs(v);
    int len = 0;
    if (v < 0)
        buf[len++] = '-';
    if (a == floor(a) && a < 1e15) {
        if (a == 0)
            len = 0; /* no "-0" */
        return len + put_digits(buf + len, (uint64_t)a);
    }
    /* 12 significant digits as %.12g prints them, without printf's
     * arbitrary-precision path: scale by an exact power of ten so the
     * 12 digits are the integer part (one rounding, error < 2^-53 x 1e12
     * ~ 1e-4), round it, and let snprintf decide the rare cases within
     * 1e-3 of a rounding tie or that change the exponent. */
    if (a >= 1e-4 && a < 1e12) {
        int e = 11;
        while (e > -4 && a < pow10_exact[e + 4] * 1e-4)
            e--;
        double scaled = a * pow10_exact[11 - e];
        double r = floor(scaled), frac = scaled - r;
        uint64_t m = (uint64_t)r + (frac > 0.5);
        if (fabs(frac - 0.5) > 1e-3 && m >= 100000000000ULL && m < 1000000000000ULL) {
            char d[12];
            for (int i = 11; i >= 0; i--, m /= 10)
                d[i] = (char)('0' + m % 10);
            int last = 11; /* last non-zero digit */
            while (last > 0 && d[last] == '0')
                last--;
            if (e >= 0) {
                memcpy(buf + len, d, (size_t)e + 1);
                len += e + 1;
                if (last > e) {
                    buf[len++] = '.';
                    memcpy(buf + len, d + e + 1, (size_t)(last - e));
                    len += last - e;
                }
            } else {
                buf[len++] = '0';
                buf[len++] = '.';
                for (int i = 0; i < -e - 1; i++)
                    buf[len++] = '0';
                memcpy(buf + len, d, (size_t)last + 1);
                len += last + 1;
            }
            return len;
        }
    }
    return snprintf(buf, 32, "%.12g", v);
}

int ps_features_write_csv(const struct ps_features *f, const char *path, struct ps_err *err)
{
    PS_ASSERT(f->finished);
    struct ps_afile af;
    struct ps_buf b;
    int rc = ps_afile_open(&af, path, err);
    if (rc)
        return rc;
    ps_buf_init(&b);
    ps_buf_append(&b, "user_id", 7);
    for (int i = 0; i < C_N; i++) {
        ps_buf_putc(&b, ',');
        ps_buf_append(&b, col_names[i], strlen(col_names[i]));
    }
    ps_buf_putc(&b, '\n');
    long n = ps_features_n_users(f);
    for (long row = 0; row < n; row++) {
        size_t len;
        const char *id = ps_features_user_id(f, row, &len);
        put_csv_field(&b, id, len);
        const double *v = f->values + (size_t)row * C_N;
        for (int i = 0; i < C_N; i++) {
            if (i == C_TOP1 || i == C_TOP2 || i == C_TOP3) {
                ps_buf_putc(&b, ',');
                const char *c = ps_features_top_category(f, row, i == C_TOP1 ? 1 : i == C_TOP2 ? 2 : 3,
                                                         &len);
                if (c)
                    put_csv_field(&b, c, len);
                continue;
            }
            if (b.cap - b.len < 40)
                b.data = ps_xgrow(b.data, &b.cap, b.len + 41, 1);
            b.data[b.len++] = ',';
            b.len += (size_t)ps_features_format_number(b.data + b.len, v[i]);
            b.data[b.len] = '\0';
        }
        ps_buf_putc(&b, '\n');
        if (b.len >= 1 << 16) {
            fwrite(b.data, 1, b.len, af.fp);
            ps_buf_reset(&b);
        }
    }
    fwrite(b.data, 1, b.len, af.fp);
    ps_buf_release(&b);
    return ps_afile_commit(&af, err);
}

/* "dir/X.npy" -> "dir/X" + suffix. */
static char *sidecar_path(const char *npy, const char *suffix)
{
    size_t n = strlen(npy);
    if (n > 4 && strcmp(npy + n - 4, ".npy") == 0)
        n -= 4;
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_append(&b, npy, n);
    ps_buf_append(&b, suffix, strlen(suffix));
    return b.data;
}

int ps_features_write_npy(const struct ps_features *f, const char *path, struct ps_err *err)
{
    PS_ASSERT(f->finished);
    long n = ps_features_n_users(f);
    int n_num = ps_features_n_numeric();
    char *ids_path = sidecar_path(path, ".ids.txt");
    char *json_path = sidecar_path(path, ".json");
    float *m = NULL;
    struct ps_afile af = {0};
    struct ps_buf js;
    ps_buf_init(&js);
    int rc = PS_OK;

    /* Ids first: a line break inside an id cannot be listed one per line. */
    for (long row = 0; row < n; row++) {
        size_t len;
        const char *id = ps_features_user_id(f, row, &len);
        if (memchr(id, '\n', len) || memchr(id, '\r', len)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "user id \"%.*s\" contains a line break; cannot list it in \"%s\"",
                            (int)(len > 60 ? 60 : len), id, ids_path);
            goto done;
        }
    }
    m = ps_xmalloc(((size_t)n ? (size_t)n : 1) * (size_t)n_num * sizeof *m);
    for (long row = 0; row < n; row++) {
        const double *v = f->values + (size_t)row * C_N;
        float *o = m + (size_t)row * n_num;
        for (int i = 0; i < C_N; i++)
            if (ps_features_column_is_numeric(i))
                *o++ = (float)v[i];
    }
    if ((rc = ps_npy_write_f32(path, m, (size_t)n, (size_t)n_num, err)) != 0)
        goto done;
    if ((rc = ps_afile_open(&af, ids_path, err)) != 0)
        goto done;
    for (long row = 0; row < n; row++) {
        size_t len;
        const char *id = ps_features_user_id(f, row, &len);
        fwrite(id, 1, len, af.fp);
        putc('\n', af.fp);
    }
    if ((rc = ps_afile_commit(&af, err)) != 0)
        goto done;

    const char *ids_base = strrchr(ids_path, '/');
    ids_base = ids_base ? ids_base + 1 : ids_path;
    ps_buf_printf(&js, "{\"columns\": [");
    int first = 1;
    for (int i = 0; i < C_N; i++) {
        if (!ps_features_column_is_numeric(i))
            continue;
        if (!first)
            ps_buf_printf(&js, ", ");
        ps_buf_json_str(&js, col_names[i], strlen(col_names[i]));
        first = 0;
    }
    ps_buf_printf(&js, "], \"rows\": %ld, \"ids\": ", n);
    ps_buf_json_str(&js, ids_base, strlen(ids_base));
    ps_buf_printf(&js, "}\n");
    if ((rc = ps_afile_open(&af, json_path, err)) != 0)
        goto done;
    fwrite(js.data, 1, js.len, af.fp);
    rc = ps_afile_commit(&af, err);
done:
    ps_buf_release(&js);
    free(m);
    free(ids_path);
    free(json_path);
    return rc;
}

/* ---- the whole stage ---------------------------------------------------- */

int ps_features_run(const struct ps_features_params *params,
                    struct ps_features_summary *summary, struct ps_err *err)
{
    double t0 = ps_now();
    int rc = ps_features_check_params(params, 1, err);
    if (rc)
        return rc;
    struct ps_features *f = ps_features_new(params);
    if ((rc = ps_features_add_file(f, params->events_path, err)) != 0)
        goto done;
    double t1 = ps_now();
    if ((rc = ps_features_finish(f, err)) != 0)
        goto done;
    double t2 = ps_now();
    if (params->out_csv && (rc = ps_features_write_csv(f, params->out_csv, err)) != 0)
        goto done;
    if (params->out_npy && (rc = ps_features_write_npy(f, params->out_npy, err)) != 0)
        goto done;
    ps_log(PS_LOG_DEBUG, "features: read %.3f s, finish %.3f s, write %.3f s", t1 - t0,
           t2 - t1, ps_now() - t2);
    if (summary) {
        summary->n_rows = f->n_rows;
        summary->n_after_as_of = f->n_after;
        summary->n_users = ps_features_n_users(f);
        summary->as_of = f->as_of;
        summary->seconds = ps_now() - t0;
    }
done:
    ps_features_free(f);
    return rc;
}
