/*
 * demo.c - the built-in demo shop (see include/persona/demo.h, docs/demo.md).
 *
 * Three steps:
 *   1. the catalogue: n_items items over eight categories, log-normal list
 *      prices per category, sorted by price within each category so that a
 *      persona's price level is a quantile;
 *   2. the users: each draws a persona, a language, demographics and an
 *      activity level, then shops in sessions (day and hour from the
 *      persona's rhythm, a category from its mix, an optional search, a run
 *      of product views with dwell times, favourites, carts, a checkout,
 *      refunds, reviews and questions).  Events go to one array of compact
 *      records, texts to another; per user the timestamps are made strictly
 *      increasing, so no two clean rows are equal by chance;
 *   3. the writer sorts both arrays by time, formats each record (mixing
 *      timestamp formats), plants the dirt at positions drawn up front (so
 *      its amount is exact and recorded in manifest.json) and writes through
 *      ps_afile with a large buffer.
 * Each user has its own rng stream and the writer one stream per file, so
 * the output is a pure function of the parameters.
 */
#include "persona/demo.h"
#include "persona/afile.h"
#include "persona/core.h"
#include "persona/rng.h"
#include "persona/timeparse.h"
#include "demo_text.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------ */
/* The persona table: every planted behaviour and vocabulary in one place. */

/* Columns of a row: name, zh label, share of users; category weights
 * (phone tablet computer clothing beauty baby food books); price quantile;
 * hour weights 00..23 UTC; weekend; events median, sigma; dwell median;
 * search, fav, cart, buy; max quantity; refund, review; rating; female;
 * age range; vocabulary. */
static const struct ps_demo_persona personas[] = {
    {"tech_enthusiast", "数码发烧友", 0.18,
     {0.34, 0.20, 0.34, 0.02, 0.00, 0.00, 0.05, 0.05}, 0.80,
     "998631000000000000000135", 0.35, 45, 0.35, 90,
     0.60, 0.08, 0.12, 0.60, 1, 0.04, 0.80, 4.0, 0.20, 20, 38,
     {"跑分比上一代高不少", "参数和官网一致", "玩大型游戏也不卡", "散热做得~好",
      "发烧友必入", "系统优化~到位"},
     {"benchmark scores beat the last generation", "the specs match the official page",
      "heavy games run without a stutter", "thermals are ~ well handled",
      "a must-have for gadget geeks", "the software is ~ polished"},
     {"跑分不如预期", "配置~缩水", "参数虚标", NULL},
     {"benchmarks fell short of the hype", "the specs feel ~ cut down",
      "the listed specs are inflated", NULL},
     {"旗舰", "高刷", "骁龙", "游戏", "新款", "评测"},
     {"flagship", "120hz", "snapdragon", "gaming", "new", "review"},
     {"跑分多少", "用的什么处理器", "支持多少W快充", NULL},
     {"what does it score in benchmarks", "which chip does it use",
      "how fast does it charge", NULL}},
    {"young_parent", "宝妈宝爸", 0.18,
     {0.00, 0.02, 0.00, 0.12, 0.08, 0.52, 0.24, 0.02}, 0.50,
     "000000379985100000000000", 0.45, 41, 0.35, 35,
     0.30, 0.05, 0.18, 0.85, 4, 0.02, 0.50, 4.5, 0.85, 25, 38,
     {"宝宝~喜欢", "给孩子用很放心", "已经回购好几次了", "宝妈群里都在推荐",
      "没有异味，~安心", "囤货必备"},
     {"my baby loves it", "I feel safe using it for my kid", "I have re-ordered several times",
      "all the parents in my group recommend it", "no smell at all, ~ reassuring",
      "a stock-up essential"},
     {"给宝宝用不太放心", "孩子不太喜欢", "和上次买的批次不一样", NULL},
     {"not sure it is safe for my baby", "my kid does not like it",
      "different from the batch I bought before", NULL},
     {"婴儿", "宝宝", "儿童", "安全", "有机", "新生儿"},
     {"baby", "infant", "kids", "safe", "organic", "newborn"},
     {"适合几个月的宝宝", "有没有异味", "是新批次吗", NULL},
     {"what age is it suitable for", "does it have a smell", "is it a fresh batch", NULL}},
    {"fashionista", "时尚达人", 0.18,
     {0.04, 0.00, 0.00, 0.55, 0.37, 0.00, 0.04, 0.00}, 0.65,
     "100000000001320001379973", 0.55, 60, 0.35, 12,
     0.15, 0.25, 0.22, 0.30, 2, 0.15, 0.70, 3.9, 0.85, 18, 30,
     {"颜值~高", "上身效果~好", "~百搭", "拍照很出片", "闺蜜都说好看", "今年流行色"},
     {"it looks ~ gorgeous", "it looks ~ great on", "it goes with everything",
      "perfect for photos", "my friends all love it", "this season's colour"},
     {"上身效果一般", "和模特图差距~大", "款式~过时", NULL},
     {"it looks meh on me", "it is ~ different from the model photo", "the style feels ~ dated",
      NULL},
     {"2026新款", "ins风", "显瘦", "韩版", "小众", "网红"},
     {"2026 new", "trendy", "slimming", "korean style", "niche", "influencer"},
     {"模特穿的什么码", "有没有其他颜色", "能搭配什么", NULL},
     {"what size is the model wearing", "are there other colours", "what goes well with it",
      NULL}},
    {"bargain_hunter", "精打细算", 0.16,
     {0.08, 0.03, 0.03, 0.20, 0.14, 0.10, 0.37, 0.05}, 0.12,
     "000000000123689986311000", 0.40, 72, 0.35, 60,
     0.70, 0.15, 0.10, 0.45, 3, 0.08, 0.50, 3.5, 0.55, 30, 65,
     {"性价比~高", "用券之后~划算", "比超市便宜多了", "等活动价入手的", "这个价格没得挑",
      "凑单买的，~值"},
     {"the value for money is ~ great", "it is ~ cheap with the coupon",
      "much cheaper than the supermarket", "waited for the sale to buy it",
      "unbeatable at this price", "bundled to hit free shipping, ~ worth it"},
     {"刚买就降价了", "不值这个价", "优惠券用不了", NULL},
     {"the price dropped right after I bought it", "not worth the price",
      "the coupon would not apply", NULL},
     {"便宜", "特价", "包邮", "清仓", "优惠券", "9.9"},
     {"cheap", "deal", "free shipping", "clearance", "coupon", "under 10"},
     {"还能便宜点吗", "有优惠券吗", "什么时候有活动", NULL},
     {"any discount", "is there a coupon", "when is the next sale", NULL}},
    {"bookworm", "书虫", 0.15,
     {0.00, 0.08, 0.02, 0.03, 0.00, 0.00, 0.07, 0.80}, 0.40,
     "200000000001233334566653", 0.60, 26, 0.35, 300,
     0.40, 0.10, 0.18, 0.75, 2, 0.01, 0.95, 4.3, 0.55, 20, 60,
     {"一口气读完了", "值得反复读", "已经推荐给朋友", "收藏了这个作者的全套",
      "文笔~好", "~有启发"},
     {"I read it in one sitting", "worth rereading", "already recommended it to friends",
      "collecting the whole series by this author", "the writing is ~ good",
      "it is ~ thought-provoking"},
     {"读到一半读不下去了", "没有想象中深刻", "翻译~生硬", NULL},
     {"could not get past the middle", "less profound than I hoped",
      "the translation is ~ stiff", NULL},
     {"经典", "畅销", "精装", "全集", "正版", "豆瓣高分"},
     {"classic", "bestseller", "hardcover", "complete set", "genuine", "top rated"},
     {"是哪个译本", "有没有电子版", "是第几版", NULL},
     {"which translation is it", "is there an ebook", "which edition is it", NULL}},
    {"office_buyer", "企业采购", 0.15,
     {0.10, 0.05, 0.12, 0.10, 0.00, 0.00, 0.38, 0.25}, 0.35,
     "000000000001159998000000", 0.03, 24, 0.35, 8,
     0.80, 0.01, 0.35, 0.90, 8, 0.02, 0.30, 4.2, 0.40, 28, 50,
     {"发票开得~及时", "给部门同事都配了", "办公用完全够了", "批量采购很省心",
      "售后对接~专业", NULL},
     {"the invoice came ~ promptly", "bought one for everyone in the department",
      "more than enough for office work", "bulk ordering was painless",
      "after-sales support is ~ professional", NULL},
     {"发票开错了一次", "批量到货时间太长", "对公转账~麻烦", NULL},
     {"the invoice had to be reissued", "the bulk delivery took too long",
      "company bank transfer is ~ awkward", NULL},
     {"商务", "办公", "批量", "企业采购", "发票", "对公"},
     {"business", "office", "bulk", "corporate", "invoice", "b2b"},
     {"能开增值税专用发票吗", "买50台有折扣吗", "支持对公转账吗", NULL},
     {"can you issue a VAT invoice", "is there a discount for 50 units",
      "can we pay by company transfer", NULL}},
};
#define N_PERSONAS N_OF(personas)

static const char *const category_names[PS_DEMO_N_CATEGORIES] = {
    "phone", "tablet", "computer", "clothing", "beauty", "baby", "food", "books"};
static const char *const dirt_names[PS_DEMO_N_DIRT] = {
    "duplicate", "missing_optional", "missing_required", "field_count",
    "bad_number", "bad_timestamp", "unknown_event", "bad_utf8"};
static const char *const file_names[PS_DEMO_N_FILES] = {"events", "texts", "items", "users"};

/* Dirt planted per file, as a fraction of that file's generated records
 * (docs/demo.md).  Each kind present gets at least one row. */
static const double dirt_rates[PS_DEMO_N_FILES][PS_DEMO_N_DIRT] = {
    /* dup    miss_opt miss_req field_n bad_num  bad_ts  unk_ev  bad_utf8 */
    {0.010,  0.005,   0.0005,  0.0001, 0.0001,  0.0001, 0.0001, 0},      /* events */
    {0.010,  0.010,   0.0005,  0.0002, 0.0002,  0.0002, 0,      0.0005}, /* texts */
    {0.005,  0.010,   0,       0.0005, 0.0010,  0,      0,      0},      /* items */
    {0.005,  0.030,   0,       0.0002, 0,       0,      0,      0},      /* users */
};

static const char *const cities[] = {"北京", "上海", "广州", "深圳", "杭州", "成都", "武汉",
                                     "南京", "重庆", "西安", "苏州", "天津", "长沙", "郑州",
                                     "青岛", "沈阳", "厦门", "昆明"};

enum { EV_VIEW, EV_SEARCH, EV_CLICK, EV_CART, EV_FAV, EV_PURCHASE, EV_REFUND };
static const char *const event_names[] = {"view", "search", "click", "cart", "fav", "purchase",
                                          "refund"};
enum { TX_REVIEW, TX_COMMENT, TX_INQUIRY };
static const char *const text_kinds[] = {"review", "comment", "inquiry"};

/* The activity window starts at 2026-01-01T00:00:00Z (a Thursday). */
#define WINDOW_Y 2026
#define DAY 86400

struct ps_demo_params ps_demo_default_params(void)
{
    struct ps_demo_params p = {20000, 2000, 42, 90, 1, 1.0};
    return p;
}

int ps_demo_check_params(const struct ps_demo_params *p, struct ps_err *err)
{
    if (p->n_users < 1 || p->n_users > 10000000)
        return ps_err_set(err, PS_ERR_USAGE, "users must be in 1..10000000, got %ld", p->n_users);
    if (p->n_items < 16 || p->n_items > 1000000)
        return ps_err_set(err, PS_ERR_USAGE, "items must be in 16..1000000, got %ld", p->n_items);
    if (p->days < 7 || p->days > 3650)
        return ps_err_set(err, PS_ERR_USAGE, "days must be in 7..3650, got %d", p->days);
    if (!(p->activity >= 0.1 && p->activity <= 100))
        return ps_err_set(err, PS_ERR_USAGE, "activity must be in 0.1..100, got %g", p->activity);
    return PS_OK;
}

int ps_demo_n_personas(void)
{
    return N_PERSONAS;
}

const struct ps_demo_persona *ps_demo_persona(int i)
{
    return i >= 0 && i < N_PERSONAS ? &personas[i] : NULL;
}

const char *ps_demo_category_name(int c)
{
    return c >= 0 && c < PS_DEMO_N_CATEGORIES ? category_names[c] : NULL;
}

const char *ps_demo_dirt_name(int kind)
{
    return kind >= 0 && kind < PS_DEMO_N_DIRT ? dirt_names[kind] : NULL;
}

const char *ps_demo_file_name(int file)
{
    return file >= 0 && file < PS_DEMO_N_FILES ? file_names[file] : NULL;
}

/* ------------------------------------------------------------------ */
/* Generated records. */

struct item {
    uint32_t price_cents;  /* list price */
    uint8_t cat, brand;
};

struct event {
    uint32_t ts;      /* seconds since the window start */
    uint32_t user;    /* user index */
    uint32_t item;    /* item index; for searches, the category searched */
    uint32_t order;   /* order number + 1 for purchases and refunds, else 0 */
    uint16_t dwell;   /* seconds on the page (views), else 0 */
    uint8_t type;     /* EV_* */
    uint8_t qty;      /* quantity (cart, purchase, refund), else 0 */
};

struct text {
    uint32_t ts;      /* seconds since the window start */
    uint32_t user;
    uint32_t item;
    uint8_t kind;     /* TX_* */
    uint8_t rating;   /* 1..5 for reviews, else 0 */
};

struct user {
    int64_t signup;   /* Unix seconds */
    uint8_t persona, lang, female, age;
    uint16_t city;
};

struct shop {
    const struct ps_demo_params *p;
    int64_t t0;                       /* window start, Unix seconds */
    struct item *items;
    uint32_t *by_cat[PS_DEMO_N_CATEGORIES]; /* item indices sorted by price */
    uint32_t n_by_cat[PS_DEMO_N_CATEGORIES];
    struct user *users;
    struct event *ev;
    size_t n_ev, cap_ev;
    struct text *tx;
    size_t n_tx, cap_tx;
    uint32_t n_orders;
    int weekdays[4000], weekends[4000];  /* day numbers of the window */
    int n_weekdays, n_weekends;
    double hour_cdf[N_PERSONAS][24];
    double cat_cdf[N_PERSONAS][PS_DEMO_N_CATEGORIES];
};

static int chance(struct ps_rng *r, double p)
{
    return ps_rng_uniform(r) < p;
}

static int below(struct ps_rng *r, long n)
{
    return (int)ps_rng_below(r, (uint64_t)n);
}

/* Index drawn from a cumulative distribution of n entries. */
static int from_cdf(const double *cdf, int n, struct ps_rng *r)
{
    double u = ps_rng_uniform(r) * cdf[n - 1];
    for (int i = 0; i < n; i++)
        if (u < cdf[i])
            return i;
    return n - 1;
}

static double lognormal(struct ps_rng *r, double median, double sigma)
{
    return median * exp(sigma * ps_rng_normal(r));
}

static int cmp_price(const void *a, const void *b, void *ctx)
{
    const struct item *items = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (items[x].price_cents != items[y].price_cents)
        return items[x].price_cents < items[y].price_cents ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void make_catalogue(struct shop *s, struct ps_rng *r)
{
    /* Share of the catalogue per category. */
    static const double cat_share[PS_DEMO_N_CATEGORIES] = {0.12, 0.06, 0.10, 0.22,
                                                           0.15, 0.12, 0.15, 0.08};
    double cdf[PS_DEMO_N_CATEGORIES], acc = 0;
    for (int c = 0; c < PS_DEMO_N_CATEGORIES; c++)
        cdf[c] = acc += cat_share[c];
    long n = s->p->n_items;
    s->items = ps_xcalloc((size_t)n, sizeof *s->items);
    for (long i = 0; i < n; i++) {
        /* The first 8 items cover every category, so each has one. */
        int c = i < PS_DEMO_N_CATEGORIES ? (int)i : from_cdf(cdf, PS_DEMO_N_CATEGORIES, r);
        double median, sigma;
        ps__demo_price_model(c, &median, &sigma);
        double yuan = lognormal(r, median, sigma);
        /* Shop prices end in 9 (or .90 below 20 yuan). */
        uint32_t cents = yuan >= 20 ? (uint32_t)(floor(yuan / 10) * 10 + 9) * 100
                                    : (uint32_t)floor(yuan) * 100 + 90;
        s->items[i].price_cents = cents;
        s->items[i].cat = (uint8_t)c;
        s->items[i].brand = (uint8_t)below(r, ps__demo_n_brands(c));
        s->n_by_cat[c]++;
    }
    for (int c = 0; c < PS_DEMO_N_CATEGORIES; c++) {
        s->by_cat[c] = ps_xmalloc(s->n_by_cat[c] * sizeof(uint32_t));
        s->n_by_cat[c] = 0;
    }
    for (long i = 0; i < n; i++)
        s->by_cat[s->items[i].cat][s->n_by_cat[s->items[i].cat]++] = (uint32_t)i;
    for (int c = 0; c < PS_DEMO_N_CATEGORIES; c++)
        qsort_r(s->by_cat[c], s->n_by_cat[c], sizeof(uint32_t), cmp_price, s->items);
}

static uint32_t choose_item(const struct shop *s, int cat, double price_q, struct ps_rng *r)
{
    double q = price_q + 0.15 * ps_rng_normal(r);
    if (q < 0)
        q = 0;
    if (q > 0.9999)
        q = 0.9999;
    return s->by_cat[cat][(size_t)(q * s->n_by_cat[cat])];
}

static void push_event(struct shop *s, uint32_t ts, uint32_t user, uint32_t item, int type,
                       int qty, uint16_t dwell, uint32_t order)
{
    if (s->n_ev == s->cap_ev)
        s->ev = ps_xgrow(s->ev, &s->cap_ev, s->n_ev + 1, sizeof *s->ev);
    struct event *e = &s->ev[s->n_ev++];
    e->ts = ts;
    e->user = user;
    e->item = item;
    e->order = order;
    e->dwell = dwell;
    e->type = (uint8_t)type;
    e->qty = (uint8_t)qty;
}

static void push_text(struct shop *s, uint32_t ts, uint32_t user, uint32_t item, int kind,
                      int rating)
{
    if (s->n_tx == s->cap_tx)
        s->tx = ps_xgrow(s->tx, &s->cap_tx, s->n_tx + 1, sizeof *s->tx);
    struct text *t = &s->tx[s->n_tx++];
    t->ts = ts;
    t->user = user;
    t->item = item;
    t->kind = (uint8_t)kind;
    t->rating = (uint8_t)rating;
}

static int cmp_event_local(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int cmp_text_local(const void *a, const void *b)
{
    const struct text *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Sorts a user's records by time (stable through merge order is not
 * needed: equal times are bumped) and makes the times strictly increasing,
 * so no two of a user's rows can be equal. */
static void order_user_events(struct event *e, size_t n)
{
    qsort(e, n, sizeof *e, cmp_event_local);
    for (size_t i = 1; i < n; i++)
        if (e[i].ts <= e[i - 1].ts)
            e[i].ts = e[i - 1].ts + 1;
}

static void order_user_texts(struct text *t, size_t n)
{
    qsort(t, n, sizeof *t, cmp_text_local);
    for (size_t i = 1; i < n; i++)
        if (t[i].ts <= t[i - 1].ts)
            t[i].ts = t[i - 1].ts + 1;
}

static int rating_for(const struct ps_demo_persona *p, struct ps_rng *r)
{
    long v = lround(p->rating_mean + 0.9 * ps_rng_normal(r));
    return v < 1 ? 1 : v > 5 ? 5 : (int)v;
}

static int quantity(const struct ps_demo_persona *p, struct ps_rng *r)
{
    double u = ps_rng_uniform(r);
    return 1 + (int)floor((p->max_qty - 1 + 0.999) * u * u * u);
}

/* One user's whole history. */
static void make_user(struct shop *s, uint32_t u)
{
    struct ps_rng r;
    ps_rng_seed(&r, s->p->seed, 1000 + (uint64_t)u);
    double acc = 0, x = ps_rng_uniform(&r), total = 0;
    int pi = 0;
    for (int i = 0; i < N_PERSONAS; i++)
        total += personas[i].share;
    for (pi = 0; pi < N_PERSONAS - 1; pi++)
        if (x * total < (acc += personas[pi].share))
            break;
    const struct ps_demo_persona *p = &personas[pi];
    struct user *us = &s->users[u];
    us->persona = (uint8_t)pi;
    us->lang = chance(&r, 0.7) ? PS__DEMO_ZH : PS__DEMO_EN;
    us->female = (uint8_t)chance(&r, p->female);
    us->age = (uint8_t)(p->age_lo + below(&r, p->age_hi - p->age_lo + 1));
    {
        double cdf[N_OF(cities)], a = 0;
        for (int i = 0; i < N_OF(cities); i++)
            cdf[i] = a += 1.0 / (i + 3);
        us->city = (uint16_t)from_cdf(cdf, N_OF(cities), &r);
    }
    us->signup = s->t0 - 3600 - (int64_t)ps_rng_below(&r, 3 * 365 * (uint64_t)DAY);

    long target = lround(s->p->activity * lognormal(&r, p->events_median, p->events_sigma));
    if (target < 3)
        target = 3;
    size_t ev0 = s->n_ev, tx0 = s->n_tx;
    while ((long)(s->n_ev - ev0) < target) {
        int day = chance(&r, p->weekend) && s->n_weekends ? s->weekends[below(&r, s->n_weekends)]
                                                          : s->weekdays[below(&r, s->n_weekdays)];
        int hour = from_cdf(s->hour_cdf[pi], 24, &r);
        uint32_t t = (uint32_t)day * DAY + (uint32_t)hour * 3600 + (uint32_t)below(&r, 3600);
        int cat = from_cdf(s->cat_cdf[pi], PS_DEMO_N_CATEGORIES, &r);
        long views = 1;
        while (views < 30 && chance(&r, 0.8))
            views++;
        if (views > target - (long)(s->n_ev - ev0))
            views = target - (long)(s->n_ev - ev0);
        if (views < 1)
            views = 1;
        if (chance(&r, p->search_rate)) {
            push_event(s, t, u, (uint32_t)cat, EV_SEARCH, 0, 0, 0);
            t += 5 + (uint32_t)below(&r, 35);
        }
        uint32_t carted[32];
        int n_carted = 0;
        for (long v = 0; v < views; v++) {
            if (v > 0 && chance(&r, 0.12))
                cat = from_cdf(s->cat_cdf[pi], PS_DEMO_N_CATEGORIES, &r);
            uint32_t item = choose_item(s, cat, p->price_q, &r);
            if (chance(&r, 0.15)) {
                push_event(s, t, u, item, EV_CLICK, 0, 0, 0);
                t += 1 + (uint32_t)below(&r, 4);
            }
            double d = lognormal(&r, p->dwell_median, 0.5);
            uint16_t dwell = (uint16_t)(d < 1 ? 1 : d > 3600 ? 3600 : lround(d));
            push_event(s, t, u, item, EV_VIEW, 0, dwell, 0);
            if (chance(&r, 0.01))
                push_text(s, t + dwell / 2, u, item, TX_INQUIRY, 0);
            t += dwell + 2 + (uint32_t)below(&r, 18);
            if (chance(&r, p->fav_rate)) {
                push_event(s, t, u, item, EV_FAV, 0, 0, 0);
                t += 2 + (uint32_t)below(&r, 8);
            }
            if (chance(&r, p->cart_rate) && n_carted < N_OF(carted)) {
                /* Several packs of nappies, but one laptop. */
                int q = s->items[item].price_cents > 30000 ? 1 : quantity(p, &r);
                push_event(s, t, u, item, EV_CART, q, 0, 0);
                carted[n_carted++] = item | (uint32_t)q << 24;
                t += 2 + (uint32_t)below(&r, 8);
            }
        }
        /* Checkout: the carted items bought go into one order. */
        uint32_t order = 0;
        t += 30 + (uint32_t)below(&r, 270);
        for (int i = 0; i < n_carted; i++) {
            if (!chance(&r, p->buy_rate))
                continue;
            if (!order)
                order = ++s->n_orders;
            uint32_t item = carted[i] & 0xFFFFFF;
            int q = (int)(carted[i] >> 24);
            push_event(s, t, u, item, EV_PURCHASE, q, 0, order);
            t += 1;
            if (chance(&r, p->refund_rate))
                push_event(s, t + (uint32_t)(2 + below(&r, 9)) * DAY + (uint32_t)below(&r, DAY),
                           u, item, EV_REFUND, q, 0, order);
            if (chance(&r, p->review_rate)) {
                uint32_t tr = t + (uint32_t)(1 + below(&r, 14)) * DAY + (uint32_t)below(&r, DAY);
                int rating = rating_for(p, &r);
                push_text(s, tr, u, item, TX_REVIEW, rating);
                if (chance(&r, 0.10))
                    push_text(s, tr + (uint32_t)(7 + below(&r, 24)) * DAY, u, item, TX_COMMENT,
                              rating);
            }
        }
    }
    order_user_events(s->ev + ev0, s->n_ev - ev0);
    order_user_texts(s->tx + tx0, s->n_tx - tx0);
}

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->user < y->user ? -1 : x->user > y->user;
}

static int cmp_text(const void *a, const void *b)
{
    const struct text *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->user < y->user ? -1 : x->user > y->user;
}

/* ------------------------------------------------------------------ */
/* Writing: rows, CSV quoting, timestamps, dirt. */

/* A row under construction: fields as (offset, length) into one buffer. */
#define MAX_FIELDS 16
struct row {
    struct ps_buf data;
    size_t off[MAX_FIELDS], len[MAX_FIELDS];
    int n;
};

static void row_reset(struct row *w)
{
    ps_buf_reset(&w->data);
    w->n = 0;
}

static void row_add(struct row *w, const char *s, size_t n)
{
    PS_ASSERT(w->n < MAX_FIELDS);
    w->off[w->n] = w->data.len;
    w->len[w->n] = n;
    ps_buf_append(&w->data, s, n);
    w->n++;
}

static void row_adds(struct row *w, const char *s)
{
    row_add(w, s, strlen(s));
}

static void row_addi(struct row *w, int64_t v)
{
    char tmp[24];
    row_add(w, tmp, ps_i64_to_str(v, tmp));
}

static void row_add_price(struct row *w, uint32_t cents)
{
    char tmp[32];
    size_t n = ps_i64_to_str(cents / 100, tmp);
    tmp[n++] = '.';
    tmp[n++] = (char)('0' + cents / 10 % 10);
    tmp[n++] = (char)('0' + cents % 10);
    row_add(w, tmp, n);
}

/* Replaces field i by s (the old bytes stay unused in the buffer). */
static void row_set(struct row *w, int i, const char *s, size_t n)
{
    w->off[i] = w->data.len;
    w->len[i] = n;
    ps_buf_append(&w->data, s, n);
}

static void put_field(struct ps_buf *out, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') {
            quote = 1;
            break;
        }
    if (!quote) {
        ps_buf_append(out, s, n);
        return;
    }
    ps_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            ps_buf_putc(out, '"');
        ps_buf_putc(out, s[i]);
    }
    ps_buf_putc(out, '"');
}

static void row_serialize(const struct row *w, struct ps_buf *out)
{
    for (int i = 0; i < w->n; i++) {
        if (i)
            ps_buf_putc(out, ',');
        put_field(out, w->data.data + w->off[i], w->len[i]);
    }
    ps_buf_putc(out, '\n');
}

/* Writes a timestamp (Unix seconds) in one of the formats found in shop
 * exports: mostly Unix seconds, then ISO-8601 with Z, with +08:00, without
 * a zone (UTC), and Unix milliseconds.  Returns the length. */
static size_t format_ts(int64_t ts, struct ps_rng *r, char *buf)
{
    double u = ps_rng_uniform(r);
    if (u < 0.55)
        return ps_i64_to_str(ts, buf);
    if (u < 0.60)
        return ps_i64_to_str(ts * 1000 + below(r, 1000), buf);
    int zone = u < 0.82 ? 0 : u < 0.92 ? 8 : -1;  /* hours east; -1 = no zone */
    int64_t local = ts + (zone > 0 ? zone * 3600 : 0);
    int64_t days = local >= 0 ? local / DAY : (local - DAY + 1) / DAY;
    int64_t sec = local - days * DAY, y;
    int m, d;
    ps_civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, 40, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
    if (zone == 0)
        buf[n++] = 'Z';
    else if (zone > 0)
        n += snprintf(buf + n, 8, "+%02d:00", zone);
    return (size_t)n;
}

/* Dirt positions: kind per record (0 = none, else kind + 1). */
static uint8_t *plan_dirt(long n, int file, const struct ps_demo_params *p,
                          long counts[PS_DEMO_N_DIRT], struct ps_rng *r)
{
    uint8_t *plan = ps_xcalloc(n > 0 ? (size_t)n : 1, 1);
    long budget = n / 2, used = 0;
    for (int k = 0; k < PS_DEMO_N_DIRT; k++) {
        counts[k] = 0;
        double rate = dirt_rates[file][k];
        if (!p->dirt || rate <= 0 || n <= 0)
            continue;
        long c = lround(rate * (double)n);
        if (c < 1)
            c = 1;
        if (c > budget - used)
            c = budget - used;
        for (long j = 0; j < c; j++) {
            long at;
            do
                at = (long)ps_rng_below(r, (uint64_t)n);
            while (plan[at]);
            plan[at] = (uint8_t)(k + 1);
        }
        counts[k] = c;
        used += c;
    }
    return plan;
}

/* Output of one file: the afile, a write buffer and the pending copies of
 * rows planted as duplicates (written a few rows later). */
struct out {
    struct ps_afile f;
    struct ps_buf buf;
    struct {
        char *line;
        size_t len;
        long due;
    } pending[64];
    int n_pending;
    long rows;            /* records written, header excluded */
    struct ps_err *err;
};

static int out_open(struct out *o, const char *dir, const char *name, struct ps_err *err)
{
    memset(o, 0, sizeof *o);
    o->err = err;
    ps_buf_init(&o->buf);
    struct ps_buf path;
    ps_buf_init(&path);
    ps_buf_printf(&path, "%s/%s", dir, name);
    int rc = ps_afile_open(&o->f, path.data, err);
    ps_buf_release(&path);
    return rc;
}

static void put_str(struct ps_buf *b, const char *s)
{
    ps_buf_append(b, s, strlen(s));
}

static void out_flush(struct out *o)
{
    if (o->buf.len) {
        fwrite(o->buf.data, 1, o->buf.len, o->f.fp);
        ps_buf_reset(&o->buf);
    }
}

static void out_maybe_flush(struct out *o)
{
    if (o->buf.len >= (1u << 20))
        out_flush(o);
}

/* Emits the pending duplicates due at record index `now` (all if now < 0). */
static void out_pending(struct out *o, long now)
{
    while (o->n_pending && (now < 0 || o->pending[0].due <= now)) {
        ps_buf_append(&o->buf, o->pending[0].line, o->pending[0].len);
        free(o->pending[0].line);
        o->rows++;
        memmove(&o->pending[0], &o->pending[1], (size_t)(o->n_pending - 1) * sizeof o->pending[0]);
        o->n_pending--;
    }
}

/* Writes a row; if dup, queues an exact copy of its bytes for later. */
static void out_row(struct out *o, const struct row *w, long index, int dup, struct ps_rng *r)
{
    size_t start = o->buf.len;
    row_serialize(w, &o->buf);
    o->rows++;
    if (dup) {
        if (o->n_pending == N_OF(o->pending))
            out_pending(o, LONG_MAX);
        int i = o->n_pending++;
        o->pending[i].len = o->buf.len - start;
        o->pending[i].line = ps_xstrndup(o->buf.data + start, o->pending[i].len);
        o->pending[i].due = index + below(r, 21);
    }
    out_pending(o, index);
    out_maybe_flush(o);
}

static int out_close(struct out *o)
{
    out_pending(o, -1);
    out_flush(o);
    ps_buf_release(&o->buf);
    return ps_afile_commit(&o->f, o->err);
}

/* Generic dirt on a built row.  opt / req: indices of optional / required
 * fields; num, ts: the number and timestamp field (-1 = none). */
static void apply_dirt(struct row *w, int kind, const int *opt, int n_opt, const int *req,
                       int n_req, int num, int ts_field, struct ps_rng *r)
{
    static const char *const bad_numbers[] = {"¥2999", "2999元", "12,5", "1.2.3", "abc"};
    static const char *const bad_ratings[] = {"five", "4星", "10/10", "good"};
    static const char *const bad_ts[] = {"2026-13-45T25:61:00Z", "yesterday", "not a date",
                                         "1767x225600", "2026-02-30T10:00:00Z"};
    static const char *const bad_events[] = {"wishlist_v2", "teleport", "eventX", "bogus"};
    switch (kind) {
    case PS_DEMO_DIRT_MISSING_OPTIONAL: {
        /* Prefer an optional field that has a value. */
        int start = below(r, n_opt);
        for (int j = 0; j < n_opt; j++) {
            int i = opt[(start + j) % n_opt];
            if (w->len[i]) {
                w->len[i] = 0;
                return;
            }
        }
        w->len[opt[start]] = 0;
        return;
    }
    case PS_DEMO_DIRT_MISSING_REQUIRED:
        w->len[req[below(r, n_req)]] = 0;
        return;
    case PS_DEMO_DIRT_FIELD_COUNT:
        if (chance(r, 0.5))
            w->n -= 1 + below(r, 3);
        else
            row_adds(w, "extra");
        return;
    case PS_DEMO_DIRT_BAD_NUMBER: {
        const char *s = num == 5 && w->n == 6 ? bad_ratings[below(r, N_OF(bad_ratings))]
                                              : bad_numbers[below(r, N_OF(bad_numbers))];
        row_set(w, num, s, strlen(s));
        return;
    }
    case PS_DEMO_DIRT_BAD_TIMESTAMP: {
        const char *s = bad_ts[below(r, N_OF(bad_ts))];
        row_set(w, ts_field, s, strlen(s));
        return;
    }
    case PS_DEMO_DIRT_UNKNOWN_EVENT: {
        const char *s = bad_events[below(r, N_OF(bad_events))];
        row_set(w, 2, s, strlen(s));
        return;
    }
    case PS_DEMO_DIRT_BAD_UTF8: {
        /* An invalid sequence at a character boundary of the text. */
        static const char *const bad_bytes[] = {"\xff", "\xc0\xaf", "\xe5\xa5", "\xed\xa0\x80",
                                                "\x80"};
        const char *text = w->data.data + w->off[1];
        size_t n = w->len[1], at = n ? (size_t)below(r, (long)n + 1) : 0;
        while (at < n && ((unsigned char)text[at] & 0xC0) == 0x80)
            at++;
        const char *bad = bad_bytes[below(r, N_OF(bad_bytes))];
        struct ps_buf t;
        ps_buf_init(&t);
        ps_buf_append(&t, text, at);
        ps_buf_append(&t, bad, strlen(bad));
        ps_buf_append(&t, text + at, n - at);
        row_set(w, 1, t.data, t.len);
        ps_buf_release(&t);
        return;
    }
    default:
        return;
    }
}

static void fmt_user_id(char *buf, size_t cap, int width, uint32_t u)
{
    snprintf(buf, cap, "U%0*u", width, (unsigned)(u + 1));
}

static void fmt_item_id(char *buf, size_t cap, int width, uint32_t i)
{
    snprintf(buf, cap, "I%0*u", width, (unsigned)(i + 1));
}

static int digits(long n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

struct ids {
    int uw, iw;   /* zero-padded widths of user and item numbers */
};

static int write_items(struct shop *s, const char *dir, const struct ids *id,
                       struct ps_demo_stats *st, struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "items.csv", err);
    if (rc)
        return rc;
    struct ps_rng r, rt;
    ps_rng_seed(&r, s->p->seed, 3);
    ps_rng_seed(&rt, s->p->seed, 13);
    long n = s->p->n_items;
    uint8_t *plan = plan_dirt(n, PS_DEMO_ITEMS, s->p, st->dirt[PS_DEMO_ITEMS], &r);
    static const int opt[] = {3, 5}, req[] = {0};
    struct row w = {0};
    struct ps_buf title, desc;
    ps_buf_init(&w.data);
    ps_buf_init(&title);
    ps_buf_init(&desc);
    put_str(&o.buf, "item_id,title,category,brand,price,description\n");
    for (long i = 0; i < n; i++) {
        const struct item *it = &s->items[i];
        char idb[32];
        fmt_item_id(idb, sizeof idb, id->iw, (uint32_t)i);
        ps_buf_reset(&title);
        ps_buf_reset(&desc);
        ps__demo_item_title(&title, it->cat, it->brand, &rt);
        ps__demo_item_description(&desc, it->cat, it->brand, &rt);
        row_reset(&w);
        row_adds(&w, idb);
        row_add(&w, title.data, title.len);
        row_adds(&w, category_names[it->cat]);
        char brand[96];
        snprintf(brand, sizeof brand, "%s", ps__demo_brand(it->cat, it->brand, PS__DEMO_EN));
        row_adds(&w, brand);
        row_add_price(&w, it->price_cents);
        row_add(&w, desc.data, desc.len);
        int k = plan[i] ? plan[i] - 1 : -1;
        if (k > PS_DEMO_DIRT_DUPLICATE)
            apply_dirt(&w, k, opt, N_OF(opt), req, N_OF(req), 4, -1, &r);
        out_row(&o, &w, i, k == PS_DEMO_DIRT_DUPLICATE, &r);
    }
    free(plan);
    ps_buf_release(&w.data);
    ps_buf_release(&title);
    ps_buf_release(&desc);
    st->rows[PS_DEMO_ITEMS] = o.rows + o.n_pending;
    return out_close(&o);
}

static int write_users(struct shop *s, const char *dir, const struct ids *id,
                       struct ps_demo_stats *st, struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "users.csv", err);
    if (rc)
        return rc;
    struct ps_rng r;
    ps_rng_seed(&r, s->p->seed, 4);
    long n = s->p->n_users;
    uint8_t *plan = plan_dirt(n, PS_DEMO_USERS, s->p, st->dirt[PS_DEMO_USERS], &r);
    static const int opt[] = {2, 3, 4}, req[] = {0};
    struct row w = {0};
    ps_buf_init(&w.data);
    put_str(&o.buf, "user_id,signup_ts,gender,age,city\n");
    for (long i = 0; i < n; i++) {
        const struct user *us = &s->users[i];
        char idb[32], tsb[48];
        fmt_user_id(idb, sizeof idb, id->uw, (uint32_t)i);
        row_reset(&w);
        row_adds(&w, idb);
        if (chance(&r, 0.2)) { /* a date only, from an old export */
            int64_t y;
            int m, d;
            ps_civil_from_days(us->signup / DAY, &y, &m, &d);
            snprintf(tsb, sizeof tsb, "%04lld-%02d-%02d", (long long)y, m, d);
            row_adds(&w, tsb);
        } else {
            row_add(&w, tsb, format_ts(us->signup, &r, tsb));
        }
        row_adds(&w, us->female ? "F" : "M");
        row_addi(&w, us->age);
        row_adds(&w, cities[us->city]);
        int k = plan[i] ? plan[i] - 1 : -1;
        if (k > PS_DEMO_DIRT_DUPLICATE)
            apply_dirt(&w, k, opt, N_OF(opt), req, N_OF(req), -1, 1, &r);
        out_row(&o, &w, i, k == PS_DEMO_DIRT_DUPLICATE, &r);
    }
    free(plan);
    ps_buf_release(&w.data);
    st->rows[PS_DEMO_USERS] = o.rows + o.n_pending;
    return out_close(&o);
}

static int write_events(struct shop *s, const char *dir, const struct ids *id,
                        struct ps_demo_stats *st, struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "events.csv", err);
    if (rc)
        return rc;
    struct ps_rng r, rq;
    ps_rng_seed(&r, s->p->seed, 5);
    ps_rng_seed(&rq, s->p->seed, 15);
    long n = (long)s->n_ev;
    uint8_t *plan = plan_dirt(n, PS_DEMO_EVENTS, s->p, st->dirt[PS_DEMO_EVENTS], &r);
    static const int opt[] = {4, 5}, opt_search[] = {8}, req[] = {0, 1, 2};
    struct row w = {0};
    struct ps_buf q;
    ps_buf_init(&w.data);
    ps_buf_init(&q);
    put_str(&o.buf, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n");
    for (long i = 0; i < n; i++) {
        const struct event *e = &s->ev[i];
        const struct user *us = &s->users[e->user];
        char b[48];
        row_reset(&w);
        fmt_user_id(b, sizeof b, id->uw, e->user);
        row_adds(&w, b);
        row_add(&w, b, format_ts(s->t0 + e->ts, &r, b));
        row_adds(&w, event_names[e->type]);
        if (e->type == EV_SEARCH) {
            ps_buf_reset(&q);
            ps__demo_query(&q, &personas[us->persona], (int)e->item, us->lang, &rq);
            row_add(&w, "", 0);
            row_add(&w, "", 0);
            row_add(&w, "", 0);
            row_add(&w, "", 0);
            row_add(&w, "", 0);
            row_add(&w, q.data, q.len);
            row_add(&w, "", 0);
        } else {
            const struct item *it = &s->items[e->item];
            fmt_item_id(b, sizeof b, id->iw, e->item);
            row_adds(&w, b);
            row_adds(&w, category_names[it->cat]);
            row_add_price(&w, it->price_cents);
            if (e->qty)
                row_addi(&w, e->qty);
            else
                row_add(&w, "", 0);
            if (e->type == EV_VIEW)
                row_addi(&w, e->dwell);
            else
                row_add(&w, "", 0);
            row_add(&w, "", 0);
            if (e->order) {
                snprintf(b, sizeof b, "O%08u", (unsigned)e->order);
                row_adds(&w, b);
            } else {
                row_add(&w, "", 0);
            }
        }
        int k = plan[i] ? plan[i] - 1 : -1;
        if (k > PS_DEMO_DIRT_DUPLICATE) {
            int search = e->type == EV_SEARCH;
            apply_dirt(&w, k, search ? opt_search : opt, search ? 1 : N_OF(opt), req, N_OF(req),
                       5, 1, &r);
        }
        out_row(&o, &w, i, k == PS_DEMO_DIRT_DUPLICATE, &r);
    }
    free(plan);
    ps_buf_release(&w.data);
    ps_buf_release(&q);
    st->rows[PS_DEMO_EVENTS] = o.rows + o.n_pending;
    return out_close(&o);
}

static int write_texts(struct shop *s, const char *dir, const struct ids *id,
                       struct ps_demo_stats *st, struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "texts.csv", err);
    if (rc)
        return rc;
    struct ps_rng r, rt;
    ps_rng_seed(&r, s->p->seed, 6);
    ps_rng_seed(&rt, s->p->seed, 16);
    long n = (long)s->n_tx;
    uint8_t *plan = plan_dirt(n, PS_DEMO_TEXTS, s->p, st->dirt[PS_DEMO_TEXTS], &r);
    static const int opt[] = {5}, req[] = {0, 1};
    struct row w = {0};
    struct ps_buf t;
    ps_buf_init(&w.data);
    ps_buf_init(&t);
    put_str(&o.buf, "user_id,text,ts,kind,item_id,rating\n");
    for (long i = 0; i < n; i++) {
        const struct text *x = &s->tx[i];
        const struct user *us = &s->users[x->user];
        const struct ps_demo_persona *p = &personas[us->persona];
        int cat = s->items[x->item].cat;
        char b[48];
        ps_buf_reset(&t);
        if (x->kind == TX_REVIEW)
            ps__demo_review(&t, p, cat, x->rating, us->lang, &rt);
        else if (x->kind == TX_COMMENT)
            ps__demo_comment(&t, cat, x->rating, us->lang, &rt);
        else
            ps__demo_inquiry(&t, p, cat, us->lang, &rt);
        row_reset(&w);
        fmt_user_id(b, sizeof b, id->uw, x->user);
        row_adds(&w, b);
        row_add(&w, t.data, t.len);
        row_add(&w, b, format_ts(s->t0 + x->ts, &r, b));
        row_adds(&w, text_kinds[x->kind]);
        fmt_item_id(b, sizeof b, id->iw, x->item);
        row_adds(&w, b);
        if (x->rating && x->kind == TX_REVIEW)
            row_addi(&w, x->rating);
        else
            row_add(&w, "", 0);
        int k = plan[i] ? plan[i] - 1 : -1;
        if (k > PS_DEMO_DIRT_DUPLICATE)
            apply_dirt(&w, k, opt, N_OF(opt), req, N_OF(req), 5, 2, &r);
        out_row(&o, &w, i, k == PS_DEMO_DIRT_DUPLICATE, &r);
    }
    free(plan);
    ps_buf_release(&w.data);
    ps_buf_release(&t);
    st->rows[PS_DEMO_TEXTS] = o.rows + o.n_pending;
    return out_close(&o);
}

static int write_truth(struct shop *s, const char *dir, const struct ids *id, struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "truth.csv", err);
    if (rc)
        return rc;
    put_str(&o.buf, "user_id,persona\n");
    for (long i = 0; i < s->p->n_users; i++) {
        char b[32];
        fmt_user_id(b, sizeof b, id->uw, (uint32_t)i);
        ps_buf_printf(&o.buf, "%s,%s\n", b, personas[s->users[i].persona].name);
        out_maybe_flush(&o);
    }
    return out_close(&o);
}

static int write_manifest(struct shop *s, const char *dir, const struct ps_demo_stats *st,
                          struct ps_err *err)
{
    struct out o;
    int rc = out_open(&o, dir, "manifest.json", err);
    if (rc)
        return rc;
    struct ps_buf *b = &o.buf;
    ps_buf_printf(b, "{\n  \"generator\": \"persona demo %s\",\n", PERSONA_VERSION);
    ps_buf_printf(b, "  \"seed\": %llu,\n  \"users\": %ld,\n  \"items\": %ld,\n  \"days\": %d,\n",
                  (unsigned long long)s->p->seed, s->p->n_users, s->p->n_items, s->p->days);
    ps_buf_printf(b, "  \"activity\": %g,\n  \"window_start\": %lld,\n  \"dirt\": %s,\n",
                  s->p->activity, (long long)s->t0, s->p->dirt ? "true" : "false");
    ps_buf_printf(b, "  \"files\": {\n");
    for (int f = 0; f < PS_DEMO_N_FILES; f++) {
        ps_buf_printf(b, "    \"%s.csv\": {\"rows\": %ld, \"dirt\": {", file_names[f], st->rows[f]);
        for (int k = 0; k < PS_DEMO_N_DIRT; k++)
            ps_buf_printf(b, "%s\"%s\": %ld", k ? ", " : "", dirt_names[k], st->dirt[f][k]);
        ps_buf_printf(b, "}}%s\n", f + 1 < PS_DEMO_N_FILES ? "," : "");
    }
    ps_buf_printf(b, "  },\n  \"personas\": {");
    for (int i = 0; i < N_PERSONAS; i++)
        ps_buf_printf(b, "%s\"%s\": %ld", i ? ", " : "", personas[i].name, st->persona_users[i]);
    ps_buf_printf(b, "}\n}\n");
    return out_close(&o);
}

static int make_dir(const char *dir, struct ps_err *err)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return ps_err_set(err, PS_ERR_IO, "\"%s\" exists and is not a directory", dir);
        return PS_OK;
    }
    /* Create one missing parent too (demo/shop). */
    char *parent = ps_xstrdup(dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (stat(parent, &sb) != 0)
            mkdir(parent, 0777);
    }
    free(parent);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ps_err_set(err, PS_ERR_IO, "cannot create directory \"%s\": %s", dir,
                          strerror(errno));
    return PS_OK;
}

int ps_demo_write(const char *dir, const struct ps_demo_params *p, struct ps_demo_stats *stats,
                  struct ps_err *err)
{
    int rc = ps_demo_check_params(p, err);
    if (rc)
        return rc;
    rc = make_dir(dir, err);
    if (rc)
        return rc;
    struct ps_demo_stats local;
    struct ps_demo_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    st->n_personas = N_PERSONAS;

    struct shop *s = ps_xcalloc(1, sizeof *s);
    s->p = p;
    s->t0 = ps_days_from_civil(WINDOW_Y, 1, 1) * DAY;
    for (int d = 0; d < p->days; d++) {
        int dow = (int)((ps_days_from_civil(WINDOW_Y, 1, 1) + d + 4) % 7); /* 0 = Sunday */
        if (dow == 0 || dow == 6)
            s->weekends[s->n_weekends++] = d;
        else
            s->weekdays[s->n_weekdays++] = d;
        if (s->n_weekends >= N_OF(s->weekends) - 1 || s->n_weekdays >= N_OF(s->weekdays) - 1)
            break;
    }
    for (int i = 0; i < N_PERSONAS; i++) {
        double a = 0;
        for (int h = 0; h < 24; h++)
            s->hour_cdf[i][h] = a += personas[i].hours[h] - '0';
        a = 0;
        for (int c = 0; c < PS_DEMO_N_CATEGORIES; c++)
            s->cat_cdf[i][c] = a += personas[i].cat_weight[c];
    }

    struct ps_rng r;
    ps_rng_seed(&r, p->seed, 2);
    make_catalogue(s, &r);
    s->users = ps_xcalloc((size_t)p->n_users, sizeof *s->users);
    s->cap_ev = (size_t)((double)p->n_users * 56 * p->activity) + 64;
    s->ev = ps_xmalloc(s->cap_ev * sizeof *s->ev);
    s->cap_tx = (size_t)((double)p->n_users * 2.5 * p->activity) + 16;
    s->tx = ps_xmalloc(s->cap_tx * sizeof *s->tx);
    for (long u = 0; u < p->n_users; u++) {
        make_user(s, (uint32_t)u);
        st->persona_users[s->users[u].persona]++;
    }
    qsort(s->ev, s->n_ev, sizeof *s->ev, cmp_event);
    qsort(s->tx, s->n_tx, sizeof *s->tx, cmp_text);

    struct ids id = {digits(p->n_users) > 6 ? digits(p->n_users) : 6,
                     digits(p->n_items) > 5 ? digits(p->n_items) : 5};
    rc = write_items(s, dir, &id, st, err);
    if (!rc)
        rc = write_users(s, dir, &id, st, err);
    if (!rc)
        rc = write_events(s, dir, &id, st, err);
    if (!rc)
        rc = write_texts(s, dir, &id, st, err);
    if (!rc)
        rc = write_truth(s, dir, &id, err);
    if (!rc)
        rc = write_manifest(s, dir, st, err);

    for (int c = 0; c < PS_DEMO_N_CATEGORIES; c++)
        free(s->by_cat[c]);
    free(s->items);
    free(s->users);
    free(s->ev);
    free(s->tx);
    free(s);
    return rc;
}
