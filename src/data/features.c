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
 * nothing.  finish() turns the state into a dense rows x columns double
 * matrix in user-id order, which the CSV and .npy writers format.
 *
 * Threads: the reading thread does the global half of each event and
 * hands the per-user half to shard workers by user hash (see struct
 * shard); finish and the CSV formatting split fixed row ranges over the
 * pool.  Results are byte-identical at any thread count.
 */
#include "persona/features.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/progress.h"
#include "persona/reader.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* The slot of a key that is present (asserted). */
static size_t u64map_find(const struct u64map *m, uint64_t key)
{
    size_t j = mix64(key) & m->mask;
    while (m->keys[j] != key) {
        PS_ASSERT(m->keys[j] != EMPTY_KEY);
        j = (j + 1) & m->mask;
    }
    return j;
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
 * days outside it in the shard's (user, day) set. */
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
    uint32_t first_order;  /* order key of the first purchase (see shard_add) */
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

/*
 * The work is split in two halves.  The global half -- interning
 * categories, items and order ids, the (category, item) price sums, the
 * latest timestamp -- runs on the thread that reads the file, in file
 * order.  The per-user half runs in shards: users are assigned to a shard
 * by a hash of their id, and each shard sees its users' events in file
 * order.  So every value is computed from the same numbers in the same
 * order whatever the shard count, and the output is byte-identical at any
 * thread count.  With one thread there is one shard and no queue.
 */

/* An event as a shard receives it: its global half already resolved. */
struct cev {
    uint64_t user_h;             /* imap_hash of the user id */
    int64_t ts;                  /* Unix seconds */
    double price, qty, dwell;    /* NaN = missing */
    uint32_t user_off, user_len; /* the user id in the chunk's arena */
    uint32_t cat, item, order;   /* ids; NONE = missing or not needed */
    uint32_t type;               /* enum ps_features_event_type */
};

#define CHUNK 2048 /* events handed to a shard at a time */
struct chunk {
    struct cev ev[CHUNK];
    int n;
    struct ps_buf arena;         /* user ids, NUL-terminated */
    struct chunk *next;          /* queue or free list */
};

/* The per-user state of the users whose hash falls in this shard. */
struct shard {
    struct imap users;
    struct fuser *u;        size_t u_cap;
    struct fuitem *ui;      size_t n_ui, ui_cap;
    struct fpriced *priced; size_t n_priced, priced_cap;
    struct u64map day_set, ui_map, order_set, priced_map;
    uint32_t n_anon_orders; /* purchases without an order id so far (mod 2^31) */
    int tz_offset_s;
    /* threaded ingest: chunks waiting for this shard's worker */
    struct chunk *head, *tail;
    int done;               /* no more chunks will come */
    pthread_cond_t cv;      /* signalled when a chunk is queued or done */
    pthread_t thread;
    struct ps_features *owner;
};

#define MAX_SHARDS 64

struct ps_features {
    struct ps_features_params params;
    struct imap items, cats;
    struct ps_strmap *orders; /* looked up per purchase only: no prefix index */
    struct fprice *prices;  size_t n_prices, prices_cap;
    struct u64map price_map;
    int n_shards;
    int n_workers;          /* worker threads for add_file (0 = inline) */
    struct shard *shards;
    long n_rows, n_after;
    int64_t max_ts;
    int have_ts;
    int finished;
    /* threaded ingest */
    pthread_mutex_t mu;     /* guards every queue and the free list */
    pthread_cond_t cv_free; /* signalled when a chunk is freed */
    struct chunk *free_chunks;
    int n_chunks;           /* chunks allocated (bounded) */
    /* after finish */
    int64_t as_of;
    uint64_t *order;        /* row -> shard << 32 | user id in the shard */
    double *values;         /* rows x C_N; NaN = empty (and string columns) */
    uint32_t *top;          /* rows x 3 category ids, NONE = empty */
    double *median;         /* category -> median item price, NaN = none */
    struct ps_pool *pool;   /* finish and writers; NULL with one thread */
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
    if (p->has_as_of && (p->as_of <= -PS_FEATURES_TS_LIMIT || p->as_of >= PS_FEATURES_TS_LIMIT))
        return ps_err_set(err, PS_ERR_USAGE, "as-of time %lld is out of range",
                          (long long)p->as_of);
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
    imap_init(&f->items);
    imap_init(&f->cats);
    f->orders = ps_strmap_new();
    u64map_init(&f->price_map, 1);
    /* The reading thread plus n_workers shard workers. */
    int threads = params->n_threads > 0 ? params->n_threads : ps_n_cpus();
    f->n_workers = threads > 1 ? (threads - 1 < MAX_SHARDS ? threads - 1 : MAX_SHARDS) : 0;
    f->n_shards = f->n_workers ? f->n_workers : 1;
    f->shards = ps_xcalloc((size_t)f->n_shards, sizeof *f->shards);
    for (int k = 0; k < f->n_shards; k++) {
        struct shard *s = &f->shards[k];
        imap_init(&s->users);
        u64map_init(&s->day_set, 0);
        u64map_init(&s->ui_map, 1);
        u64map_init(&s->order_set, 0);
        u64map_init(&s->priced_map, 1);
        s->tz_offset_s = params->tz_offset_s;
        s->owner = f;
    }
    return f;
}

void ps_features_free(struct ps_features *f)
{
    if (!f)
        return;
    for (int k = 0; k < f->n_shards; k++) {
        struct shard *s = &f->shards[k];
        uint32_t n_users = ps_strmap_count(s->users.keys);
        for (uint32_t i = 0; i < n_users; i++)
            free(s->u[i].cats);
        imap_release(&s->users);
        free(s->u);
        free(s->ui);
        free(s->priced);
        u64map_release(&s->day_set);
        u64map_release(&s->ui_map);
        u64map_release(&s->order_set);
        u64map_release(&s->priced_map);
    }
    free(f->shards);
    imap_release(&f->items);
    imap_release(&f->cats);
    ps_strmap_free(f->orders);
    free(f->prices);
    u64map_release(&f->price_map);
    free(f->order);
    free(f->values);
    free(f->top);
    free(f->median);
    ps_pool_free(f->pool);
    free(f);
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
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

/* ---- the global half (reading thread) ------------------------------------ */

/* 1 if the event needs its item interned: a priced observation for the
 * category medians, or a cart or purchase for the (user, item) flags. */
static inline int needs_item(const struct ps_features_event *ev)
{
    return ev->item_id && ev->item_len > 0 &&
           ((ev->category && ev->category_len > 0 && ev->price > 0) ||
            ev->type == PS_FEATURES_CART || ev->type == PS_FEATURES_PURCHASE);
}

/* Resolves the global half of a valid event that passed the as-of filter
 * into c (all but the user fields). */
static void add_global(struct ps_features *f, const struct ps_features_event *ev, struct cev *c)
{
    int inserted;
    if (!f->have_ts || ev->ts > f->max_ts)
        f->max_ts = ev->ts;
    f->have_ts = 1;
    c->ts = ev->ts;
    c->type = (uint32_t)ev->type;
    c->price = ev->price;
    c->qty = ev->quantity;
    c->dwell = ev->dwell_s;
    c->cat = c->item = c->order = NONE;
    if (ev->category && ev->category_len > 0)
        c->cat = imap_intern(&f->cats, ev->category, ev->category_len, &inserted);
    if (needs_item(ev))
        c->item = imap_intern(&f->items, ev->item_id, ev->item_len, &inserted);
    if (c->cat != NONE && c->item != NONE && ev->price > 0) {
        size_t slot = u64map_put(&f->price_map, pack(c->cat, c->item), &inserted);
        if (inserted) {
            uint32_t i = (uint32_t)f->n_prices++;
            f->prices = ps_xgrow(f->prices, &f->prices_cap, f->n_prices, sizeof *f->prices);
            f->prices[i] = (struct fprice){0.0, 0, c->cat};
            f->price_map.vals[slot] = i;
        }
        struct fprice *pr = &f->prices[f->price_map.vals[slot]];
        pr->sum += ev->price;
        pr->n++;
    }
    if (ev->type == PS_FEATURES_PURCHASE && ev->order_id && ev->order_len > 0) {
        c->order = ps_strmap_intern(f->orders, ev->order_id, ev->order_len, NULL);
        PS_ASSERT(c->order < 0x80000000U);
    }
}

static inline struct shard *shard_of(struct ps_features *f, uint64_t user_h)
{
    /* High bits: the low ones pick the slot inside the shard's index. */
    return &f->shards[f->n_shards == 1 ? 0 : (uint32_t)(user_h >> 40) % (uint32_t)f->n_shards];
}

/* ---- the per-user half (shards) ----------------------------------------- */

static uint32_t shard_user(struct shard *s, const char *key, size_t len, uint64_t h)
{
    int inserted;
    uint32_t id = imap_intern_h(&s->users, key, len, h, &inserted);
    if (inserted) {
        s->u = ps_xgrow(s->u, &s->u_cap, (size_t)id + 1, sizeof *s->u);
        struct fuser *u = &s->u[id];
        memset(u, 0, sizeof *u);
        u->first_ts = INT64_MAX;
        u->last_purchase_ts = INT64_MIN;
        u->day_base = INT32_MIN;
        u->last_cat = NONE;
    }
    return id;
}

static struct fuitem *uitem_of(struct shard *s, uint32_t user, uint32_t item)
{
    int inserted;
    size_t slot = u64map_put(&s->ui_map, pack(user, item), &inserted);
    if (inserted) {
        uint32_t i = (uint32_t)s->n_ui++;
        s->ui = ps_xgrow(s->ui, &s->ui_cap, s->n_ui, sizeof *s->ui);
        s->ui[i].first_order = 0;
        s->ui[i].flags = 0;
        s->ui_map.vals[slot] = i;
    }
    return &s->ui[s->ui_map.vals[slot]];
}

static void add_active_day(struct shard *s, uint32_t uid, struct fuser *u, int64_t day)
{
    if (u->day_base == INT32_MIN)
        u->day_base = (int32_t)day - DAY_WINDOW / 2;
    int64_t off = day - u->day_base;
    if (off >= 0 && off < DAY_WINDOW) {
        u->day_bits[off / 64] |= 1ULL << (off % 64);
    } else {
        int inserted;
        u64map_put(&s->day_set, pack(uid, (uint32_t)(int32_t)day), &inserted);
        u->n_days_out += (uint32_t)inserted;
    }
}

/* Adds event c of user uid of shard s. */
static void shard_add(struct shard *s, const struct cev *c, uint32_t uid)
{
    struct fuser *u = &s->u[uid];
    int type = (int)c->type;
    if (c->ts < u->first_ts)
        u->first_ts = c->ts;
    u->n_events++;
    u->n_ev[type]++;

    /* Local calendar: day number, second of day, weekday (day 0 = Thu). */
    int64_t local = c->ts + s->tz_offset_s;
    int64_t day = floor_div(local, DAY_S);
    int64_t sod = local - day * DAY_S;
    u->daypart[sod / 21600]++;
    int64_t wd = (day + 4) % 7;
    if (wd < 0)
        wd += 7;
    if (wd == 0 || wd == 6)
        u->n_weekend++;
    add_active_day(s, uid, u, day);

    if (c->dwell == c->dwell) {
        u->dwell_sum += c->dwell;
        u->n_dwell++;
    }
    if (c->cat != NONE) {
        ucat_of(u, c->cat)->count++;
        u->n_cat_events++;
    }

    int has_price = c->price == c->price;
    double qty = c->qty == c->qty ? c->qty : 1.0;
    if (type == PS_FEATURES_PURCHASE) {
        if (c->ts > u->last_purchase_ts)
            u->last_purchase_ts = c->ts;
        if (has_price)
            u->spend += c->price * qty;
        /* Order key: the order id (< 2^31, asserted at interning) or, for
         * a purchase without one, 2^31 + a per-shard counter: only ever
         * compared for equality within one (user, item). */
        uint32_t order_key;
        if (c->order != NONE) {
            int inserted;
            u64map_put(&s->order_set, pack(uid, c->order), &inserted);
            u->n_orders += (uint32_t)inserted;
            order_key = c->order;
        } else {
            /* Each purchase without an order id is an order of its own. */
            u->n_orders++;
            order_key = 0x80000000U | (s->n_anon_orders++ & 0x7FFFFFFFU);
        }
        if (c->cat != NONE && has_price && c->price > 0) {
            int inserted;
            size_t slot = u64map_put(&s->priced_map, pack(uid, c->cat), &inserted);
            if (inserted) {
                uint32_t i = (uint32_t)s->n_priced++;
                s->priced = ps_xgrow(s->priced, &s->priced_cap, s->n_priced, sizeof *s->priced);
                s->priced[i] = (struct fpriced){0.0, 0};
                s->priced_map.vals[slot] = i;
            }
            struct fpriced *pp = &s->priced[s->priced_map.vals[slot]];
            pp->sum += c->price;
            pp->n++;
        }
        if (c->item != NONE) {
            struct fuitem *ui = uitem_of(s, uid, c->item);
            if (!(ui->flags & UI_PURCHASED)) {
                ui->flags |= UI_PURCHASED;
                ui->first_order = order_key;
            } else if (ui->first_order != order_key) {
                ui->flags |= UI_REPEAT;
            }
        }
    } else if (type == PS_FEATURES_REFUND) {
        if (has_price)
            u->spend -= fabs(c->price) * fabs(qty);
    } else if (type == PS_FEATURES_CART && c->item != NONE) {
        uitem_of(s, uid, c->item)->flags |= UI_CARTED;
    }
}

/*
 * Adds a chunk of events to its shard in groups whose memory latency
 * overlaps: in a time-ordered log every event belongs to another user,
 * and the user's index slot, state and category table are each a cache
 * miss.  Stage 1 prefetches the index slots of a group, stage 2 resolves
 * user ids in order (so ids are those of one-at-a-time adding) and
 * prefetches the states, stage 3 the category tables, stage 4 adds the
 * events in order.
 */
#define GROUP 32
static void shard_run_chunk(struct shard *s, const struct chunk *ch)
{
    uint32_t uid[GROUP];
    for (int g = 0; g < ch->n; g += GROUP) {
        int n = ch->n - g < GROUP ? ch->n - g : GROUP;
        const struct cev *e = ch->ev + g;
        for (int i = 0; i < n; i++)
            imap_prefetch(&s->users, e[i].user_h);
        for (int i = 0; i < n; i++) {
            uid[i] = shard_user(s, ch->arena.data + e[i].user_off, e[i].user_len, e[i].user_h);
            __builtin_prefetch(&s->u[uid[i]]);
            __builtin_prefetch((const char *)&s->u[uid[i]] + 64);
        }
        for (int i = 0; i < n; i++)
            if (s->u[uid[i]].cats)
                __builtin_prefetch(s->u[uid[i]].cats);
        for (int i = 0; i < n; i++)
            shard_add(s, &e[i], uid[i]);
    }
}

static int check_event(const struct ps_features_event *ev, struct ps_err *err)
{
    if (!ev->user_id || ev->user_len == 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "event without a user id");
    if (ev->ts <= -PS_FEATURES_TS_LIMIT || ev->ts >= PS_FEATURES_TS_LIMIT)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "timestamp %lld is out of range",
                          (long long)ev->ts);
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
    struct cev c;
    add_global(f, ev, &c);
    c.user_h = imap_hash(ev->user_id, ev->user_len);
    struct shard *s = shard_of(f, c.user_h);
    shard_add(s, &c, shard_user(s, ev->user_id, ev->user_len, c.user_h));
    return PS_OK;
}

/* ---- threaded ingest ---------------------------------------------------- */

#define CHUNKS_PER_SHARD 4 /* queued + filling; bounds memory */

static struct chunk *chunk_get(struct ps_features *f)
{
    struct chunk *ch = NULL;
    if (f->n_workers)
        pthread_mutex_lock(&f->mu);
    while (!f->free_chunks && f->n_workers && f->n_chunks >= CHUNKS_PER_SHARD * f->n_shards)
        pthread_cond_wait(&f->cv_free, &f->mu);
    if (f->free_chunks) {
        ch = f->free_chunks;
        f->free_chunks = ch->next;
    } else {
        f->n_chunks++;
    }
    if (f->n_workers)
        pthread_mutex_unlock(&f->mu);
    if (!ch) {
        ch = ps_xmalloc(sizeof *ch);
        ps_buf_init(&ch->arena);
    }
    ch->n = 0;
    ch->next = NULL;
    ps_buf_reset(&ch->arena);
    return ch;
}

static void chunk_free_all(struct chunk *ch)
{
    while (ch) {
        struct chunk *next = ch->next;
        ps_buf_release(&ch->arena);
        free(ch);
        ch = next;
    }
}

static void *shard_main(void *arg)
{
    struct shard *s = arg;
    struct ps_features *f = s->owner;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (!s->head && !s->done)
            pthread_cond_wait(&s->cv, &f->mu);
        struct chunk *ch = s->head;
        if (ch) {
            s->head = ch->next;
            if (!s->head)
                s->tail = NULL;
        }
        pthread_mutex_unlock(&f->mu);
        if (!ch)
            return NULL;
        shard_run_chunk(s, ch);
        pthread_mutex_lock(&f->mu);
        ch->next = f->free_chunks;
        f->free_chunks = ch;
        pthread_cond_signal(&f->cv_free);
        pthread_mutex_unlock(&f->mu);
    }
}

/* Hands a full (or final) chunk to its shard: queued for the worker, or
 * run here when there are no workers. */
static void chunk_submit(struct ps_features *f, struct shard *s, struct chunk *ch)
{
    if (!f->n_workers) {
        shard_run_chunk(s, ch);
        ch->next = f->free_chunks;
        f->free_chunks = ch;
        return;
    }
    pthread_mutex_lock(&f->mu);
    ch->next = NULL;
    if (s->tail)
        s->tail->next = ch;
    else
        s->head = ch;
    s->tail = ch;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&f->mu);
}

static void workers_start(struct ps_features *f)
{
    if (!f->n_workers)
        return;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv_free, NULL);
    for (int k = 0; k < f->n_shards; k++) {
        struct shard *s = &f->shards[k];
        s->head = s->tail = NULL;
        s->done = 0;
        pthread_cond_init(&s->cv, NULL);
        if (pthread_create(&s->thread, NULL, shard_main, s) != 0)
            PS_ASSERT(!"cannot start a features worker thread");
    }
}

/* Lets the workers drain their queues, joins them, frees the chunks. */
static void workers_stop(struct ps_features *f)
{
    if (f->n_workers) {
        pthread_mutex_lock(&f->mu);
        for (int k = 0; k < f->n_shards; k++) {
            f->shards[k].done = 1;
            pthread_cond_signal(&f->shards[k].cv);
        }
        pthread_mutex_unlock(&f->mu);
        for (int k = 0; k < f->n_shards; k++) {
            pthread_join(f->shards[k].thread, NULL);
            pthread_cond_destroy(&f->shards[k].cv);
        }
        pthread_cond_destroy(&f->cv_free);
        pthread_mutex_destroy(&f->mu);
    }
    chunk_free_all(f->free_chunks);
    f->free_chunks = NULL;
    f->n_chunks = 0;
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

int ps_features_add_file(struct ps_features *f, const char *path, struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r = NULL;
    struct chunk *fill[MAX_SHARDS] = {NULL};
    int col[F_N];
    PS_ASSERT(!f->finished);
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    for (int i = 0; i < F_N; i++) {
        col[i] = ps_reader_column_index(r, field_names[i]);
        if (col[i] < 0 && i <= F_EVENT) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: missing column \"%s\"",
                            ps_reader_name(r), field_names[i]);
            ps_reader_close(r);
            return rc;
        }
    }
    struct ps_progress pg;
    struct stat st;
    ps_progress_begin(&pg, "features",
                      strcmp(path, "-") != 0 && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
    workers_start(f);
    for (;;) {
        if ((f->n_rows & 0xFFFF) == 0)
            ps_progress_update(&pg, ps_reader_bytes_read(r));
        rc = ps_reader_next(r);
        if (rc == PS_DONE) {
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
        if (ev.ts <= -PS_FEATURES_TS_LIMIT || ev.ts >= PS_FEATURES_TS_LIMIT) {
            rc = bad_field(err, r, F_TS, "Unix seconds out of range (|ts| < 1e11)", s, len);
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

        /* The event is valid (check_event's conditions hold). */
        f->n_rows++;
        if (f->params.has_as_of && ev.ts > f->params.as_of) {
            f->n_after++;
            continue;
        }
        uint64_t h = imap_hash(ev.user_id, ev.user_len);
        struct shard *sh = shard_of(f, h);
        int k = (int)(sh - f->shards);
        if (!fill[k])
            fill[k] = chunk_get(f);
        struct chunk *ch = fill[k];
        struct cev *c = &ch->ev[ch->n++];
        add_global(f, &ev, c);
        c->user_h = h;
        c->user_off = (uint32_t)ch->arena.len;
        c->user_len = (uint32_t)ev.user_len;
        ps_buf_append(&ch->arena, ev.user_id, ev.user_len);
        ps_buf_putc(&ch->arena, '\0');
        if (ch->n == CHUNK) {
            chunk_submit(f, sh, ch);
            fill[k] = NULL;
        }
    }
done:
    /* Even after an error: hand over what is filled, so workers and
     * chunks are released the one way. */
    for (int k = 0; k < f->n_shards; k++)
        if (fill[k])
            chunk_submit(f, &f->shards[k], fill[k]);
    workers_stop(f);
    ps_progress_end(&pg);
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
    uint64_t ref;   /* shard << 32 | user id in the shard */
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

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
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

/* Per-user counters gathered from a shard's pair tables at the end. */
struct ui_counts {
    uint32_t carted, abandoned, purchased, repeated; /* (user, item) pairs */
    uint32_t pl_den;   /* priced purchases in categories with a median */
    double pl_num;     /* sum of their price / median, in category-id order */
};

/* The counters of every user of shard s (calloc'ed, caller frees). */
static struct ui_counts *shard_counts(const struct ps_features *f, const struct shard *s)
{
    uint32_t n_users = ps_strmap_count(s->users.keys);
    struct ui_counts *uc = ps_xcalloc(n_users ? n_users : 1, sizeof *uc);
    for (size_t i = 0; i <= s->ui_map.mask; i++) {
        uint64_t key = s->ui_map.keys[i];
        if (key == EMPTY_KEY)
            continue;
        struct ui_counts *c = &uc[key >> 32];
        uint32_t fl = s->ui[s->ui_map.vals[i]].flags;
        if (fl & UI_CARTED) {
            c->carted++;
            c->abandoned += !(fl & UI_PURCHASED);
        }
        if (fl & UI_PURCHASED) {
            c->purchased++;
            c->repeated += !!(fl & UI_REPEAT);
        }
    }
    /* price_level sums in (user, category id) order, which depends on the
     * input alone, not on the table layout: the same digits at any shard
     * count.  Keys sort as user << 32 | category. */
    uint64_t *keys = ps_xmalloc((s->priced_map.n ? s->priced_map.n : 1) * sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i <= s->priced_map.mask; i++)
        if (s->priced_map.keys[i] != EMPTY_KEY)
            keys[n++] = s->priced_map.keys[i];
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        double med = f->median[(uint32_t)keys[i]];
        if (med != med)
            continue;
        size_t slot = u64map_find(&s->priced_map, keys[i]);
        const struct fpriced *pp = &s->priced[s->priced_map.vals[slot]];
        uc[keys[i] >> 32].pl_num += pp->sum / med;
        uc[keys[i] >> 32].pl_den += pp->n;
    }
    free(keys);
    return uc;
}

/* Rows [begin, end) of the output, for finish's parallel loop. */
struct rows_job {
    struct ps_features *f;
    const struct user_key *keys;
    struct ui_counts *const *uc;
    long n_users;
    int n_tasks;
};

static void compute_row(struct ps_features *f, const struct user_key *keys,
                        struct ui_counts *const *uc, long row)
{
    uint64_t ref = keys[row].ref;
    const struct fuser *u = &f->shards[ref >> 32].u[(uint32_t)ref];
    const struct ui_counts *c = &uc[ref >> 32][(uint32_t)ref];
    double *v = f->values + (size_t)row * C_N;
    uint32_t *top = f->top + (size_t)row * 3;
    f->order[row] = ref;
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
        v[C_RECENCY] = ((double)f->as_of - (double)u->last_purchase_ts) / DAY_S;
    v[C_FREQ] = v[C_ORDER];
    v[C_MONETARY] = v[C_SPEND];
    v[C_ACTIVE_DAYS] = u->n_days_out;
    for (int k = 0; k < DAY_WINDOW / 64; k++)
        v[C_ACTIVE_DAYS] += __builtin_popcountll(u->day_bits[k]);
    v[C_TENURE] = ((double)f->as_of - (double)u->first_ts) / DAY_S;
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

static void rows_task(void *ctx, int task, int worker)
{
    const struct rows_job *j = ctx;
    long begin, end;
    (void)worker;
    ps_split_range(j->n_users, j->n_tasks, task, &begin, &end);
    for (long row = begin; row < end; row++)
        compute_row(j->f, j->keys, j->uc, row);
}

struct counts_job {
    struct ps_features *f;
    struct ui_counts **uc;
};

static void counts_task(void *ctx, int task, int worker)
{
    const struct counts_job *j = ctx;
    (void)worker;
    j->uc[task] = shard_counts(j->f, &j->f->shards[task]);
}

/* The pool for finish and the writers: NULL (serial) with one thread. */
static struct ps_pool *pool_of(struct ps_features *f)
{
    if (!f->pool && f->n_workers)
        f->pool = ps_pool_new(f->n_workers + 1);
    return f->pool;
}

int ps_features_finish(struct ps_features *f, struct ps_err *err)
{
    (void)err;
    PS_ASSERT(!f->finished);
    f->finished = 1;
    f->as_of = f->params.has_as_of ? f->params.as_of : (f->have_ts ? f->max_ts : 0);
    compute_medians(f);

    long n_users = ps_features_n_users(f);
    struct ui_counts **uc = ps_xcalloc((size_t)f->n_shards, sizeof *uc);
    struct user_key *keys = ps_xmalloc((n_users ? (size_t)n_users : 1) * sizeof *keys);
    long n = 0;
    struct counts_job cj = {f, uc};
    ps_pool_run(pool_of(f), f->n_shards, counts_task, &cj);
    for (int k = 0; k < f->n_shards; k++) {
        const struct shard *s = &f->shards[k];
        uint32_t m = ps_strmap_count(s->users.keys);
        for (uint32_t i = 0; i < m; i++, n++) {
            keys[n].key = ps_strmap_key(s->users.keys, i, &keys[n].len);
            keys[n].ref = (uint64_t)k << 32 | i;
        }
    }
    qsort(keys, (size_t)n_users, sizeof *keys, cmp_user_key);
    f->order = ps_xmalloc((n_users ? (size_t)n_users : 1) * sizeof *f->order);
    f->values = ps_xmalloc((n_users ? (size_t)n_users : 1) * C_N * sizeof *f->values);
    f->top = ps_xmalloc((n_users ? (size_t)n_users : 1) * 3 * sizeof *f->top);

    /* Rows are independent: each task writes its own range. */
    struct rows_job rj = {f, keys, uc, n_users, 0};
    rj.n_tasks = f->n_workers ? 4 * (f->n_workers + 1) : 1;
    ps_pool_run(pool_of(f), rj.n_tasks, rows_task, &rj);
    for (int k = 0; k < f->n_shards; k++)
        free(uc[k]);
    free(uc);
    free(keys);
    return PS_OK;
}

/* ---- accessors ---------------------------------------------------------- */

long ps_features_n_users(const struct ps_features *f)
{
    long n = 0;
    for (int k = 0; k < f->n_shards; k++)
        n += (long)ps_strmap_count(f->shards[k].users.keys);
    return n;
}

int64_t ps_features_as_of(const struct ps_features *f) { return f->as_of; }
long ps_features_n_rows(const struct ps_features *f) { return f->n_rows; }
long ps_features_n_after_as_of(const struct ps_features *f) { return f->n_after; }

const char *ps_features_user_id(const struct ps_features *f, long row, size_t *len)
{
    PS_ASSERT(f->finished && row >= 0 && row < ps_features_n_users(f));
    uint64_t ref = f->order[row];
    return ps_strmap_key(f->shards[ref >> 32].users.keys, (uint32_t)ref, len);
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

/* Appends rows [begin, end) as CSV lines to b. */
static void format_rows(const struct ps_features *f, long begin, long end, struct ps_buf *b)
{
    for (long row = begin; row < end; row++) {
        uint64_t ref = f->order[row];
        size_t len;
        const char *id = ps_strmap_key(f->shards[ref >> 32].users.keys, (uint32_t)ref, &len);
        put_csv_field(b, id, len);
        const double *v = f->values + (size_t)row * C_N;
        const uint32_t *top = f->top + (size_t)row * 3;
        for (int i = 0; i < C_N; i++) {
            if (i == C_TOP1 || i == C_TOP2 || i == C_TOP3) {
                ps_buf_putc(b, ',');
                uint32_t c = top[i == C_TOP1 ? 0 : i == C_TOP2 ? 1 : 2];
                if (c != NONE) {
                    const char *name = ps_strmap_key(f->cats.keys, c, &len);
                    put_csv_field(b, name, len);
                }
                continue;
            }
            if (b->cap - b->len < 40)
                b->data = ps_xgrow(b->data, &b->cap, b->len + 41, 1);
            b->data[b->len++] = ',';
            b->len += (size_t)ps_features_format_number(b->data + b->len, v[i]);
            b->data[b->len] = '\0';
        }
        ps_buf_putc(b, '\n');
    }
}

/* One block of rows formatted by n_tasks tasks into their own buffers,
 * written in task order: the same bytes at any thread count. */
#define WRITE_BLOCK 16384
struct format_job {
    const struct ps_features *f;
    long begin, end;        /* the block */
    int n_tasks;
    struct ps_buf *bufs;    /* one per task */
};

static void format_task(void *ctx, int task, int worker)
{
    const struct format_job *j = ctx;
    long b, e;
    (void)worker;
    ps_split_range(j->end - j->begin, j->n_tasks, task, &b, &e);
    ps_buf_reset(&j->bufs[task]);
    format_rows(j->f, j->begin + b, j->begin + e, &j->bufs[task]);
}

int ps_features_write_csv(const struct ps_features *f, const char *path, struct ps_err *err)
{
    PS_ASSERT(f->finished);
    struct ps_afile af;
    struct format_job j;
    int rc = ps_afile_open(&af, path, err);
    if (rc)
        return rc;
    fputs("user_id", af.fp);
    for (int i = 0; i < C_N; i++) {
        putc(',', af.fp);
        fputs(col_names[i], af.fp);
    }
    putc('\n', af.fp);
    long n = ps_features_n_users(f);
    j.f = f;
    j.n_tasks = f->pool ? ps_pool_n_threads(f->pool) : 1;
    j.bufs = ps_xmalloc((size_t)j.n_tasks * sizeof *j.bufs);
    for (int t = 0; t < j.n_tasks; t++)
        ps_buf_init(&j.bufs[t]);
    for (j.begin = 0; j.begin < n; j.begin = j.end) {
        j.end = j.begin + (long)WRITE_BLOCK * j.n_tasks < n ? j.begin + (long)WRITE_BLOCK * j.n_tasks
                                                             : n;
        ps_pool_run(f->pool, j.n_tasks, format_task, &j);
        for (int t = 0; t < j.n_tasks; t++)
            fwrite(j.bufs[t].data, 1, j.bufs[t].len, af.fp);
    }
    for (int t = 0; t < j.n_tasks; t++)
        ps_buf_release(&j.bufs[t]);
    free(j.bufs);
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
