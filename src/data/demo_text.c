/*
 * demo_text.c - the demo shop's text generator (see demo_text.h).
 *
 * Template + vocabulary generation: a review is an optional opener, one to
 * three aspect phrases of the product's category (each with a random degree
 * adverb), an optional persona phrase and an optional closing, all picked
 * by the star rating (good, mixed, bad).  Chinese and English use parallel
 * tables, so both languages carry the same category and persona signal.
 * A few reviews carry an emoji, a quoted phrase or a second line, so the
 * CSV writer's quoting and the reader's multi-line records get exercised.
 */
#include "demo_text.h"

#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A pair of phrases, Chinese and English. */
struct zh_en {
    const char *zh, *en;
};

/* Per-category vocabulary.  In aspect phrases '~' marks the place of a
 * degree adverb ("屏幕~清晰" -> "屏幕非常清晰"). */
struct category_vocab {
    const char *slug;
    double price_median, price_sigma;   /* list prices, yuan */
    struct zh_en brands[8];
    struct zh_en nouns[8];
    struct zh_en styles[6];
    const char *specs[4];               /* language-neutral, may be NULL */
    int numbered;                       /* styles take a model number */
    struct zh_en features[6];           /* for descriptions */
    struct zh_en good[6];               /* aspects of a good product */
    struct zh_en bad[4];                /* ... of a bad one */
    struct zh_en ask[3];                /* category questions */
};

static const struct category_vocab cats[PS_DEMO_N_CATEGORIES] = {
    {"phone", 2600, 0.55,
     {{"华为", "Huawei"}, {"小米", "Xiaomi"}, {"苹果", "Apple"}, {"OPPO", "OPPO"},
      {"vivo", "vivo"}, {"荣耀", "Honor"}, {"三星", "Samsung"}},
     {{"5G手机", "5G smartphone"}, {"智能手机", "smartphone"}, {"拍照手机", "camera phone"},
      {"游戏手机", "gaming phone"}},
     {{"Mate ", "Mate "}, {"Note ", "Note "}, {"Pro ", "Pro "}, {"Ultra ", "Ultra "},
      {"Nova ", "Nova "}, {"X", "X"}},
     {"8GB+256GB", "12GB+512GB", "6GB+128GB", "16GB+1TB"}, 1,
     {{"6.7英寸OLED屏", "6.7-inch OLED display"}, {"5000mAh大电池", "5000 mAh battery"},
      {"全网通5G", "5G on all carriers"}, {"5000万像素主摄", "50 MP main camera"},
      {"100W快充", "100 W fast charging"}, {"IP68防水", "IP68 water resistance"}},
     {{"屏幕~清晰", "the screen is ~ sharp"}, {"续航~给力", "battery life is ~ good"},
      {"拍照效果~好", "the camera is ~ impressive"}, {"系统~流畅", "the system runs ~ smoothly"},
      {"手感~好", "it feels ~ solid in the hand"}, {"信号~稳定", "the signal is ~ stable"}},
     {{"电池掉电~快", "the battery drains ~ fast"}, {"发热~明显", "it gets ~ hot"},
      {"系统偶尔卡顿", "the system lags now and then"}, {"信号~差", "the signal is ~ weak"}},
     {{"支持无线充电吗", "does it support wireless charging"},
      {"是国行正品吗", "is this the official China version"},
      {"送不送充电器", "does it come with a charger"}}},
    {"tablet", 2400, 0.5,
     {{"苹果", "Apple"}, {"华为", "Huawei"}, {"小米", "Xiaomi"}, {"联想", "Lenovo"},
      {"三星", "Samsung"}},
     {{"平板电脑", "tablet"}, {"学习平板", "study tablet"}, {"二合一平板", "2-in-1 tablet"}},
     {{"Pad ", "Pad "}, {"Tab ", "Tab "}, {"Air ", "Air "}, {"MatePad ", "MatePad "}},
     {"128GB", "256GB", "8GB+256GB WiFi", NULL}, 1,
     {{"11英寸护眼屏", "11-inch eye-care display"}, {"支持手写笔", "stylus support"},
      {"四扬声器", "quad speakers"}, {"8600mAh电池", "8600 mAh battery"},
      {"轻薄机身", "thin and light body"}, {"分屏多任务", "split-screen multitasking"}},
     {{"屏幕~大", "the display is ~ big and bright"}, {"看视频~爽", "watching videos is ~ enjoyable"},
      {"做笔记~方便", "note-taking is ~ convenient"}, {"续航~持久", "the battery lasts ~ long"},
      {"做工~精致", "the build quality is ~ nice"}, {"音质~好", "the speakers sound ~ good"}},
     {{"~重", "it is ~ heavy"}, {"充电~慢", "charging is ~ slow"},
      {"配件要另外买", "accessories cost extra"}, {"屏幕~反光", "the screen is ~ reflective"}},
     {{"支持手写笔吗", "does it work with a stylus"}, {"能插卡打电话吗", "can it take a SIM card"},
      {"适合上网课吗", "is it good for online classes"}}},
    {"computer", 5600, 0.45,
     {{"联想", "Lenovo"}, {"戴尔", "Dell"}, {"惠普", "HP"}, {"华硕", "ASUS"},
      {"苹果", "Apple"}, {"华为", "Huawei"}},
     {{"笔记本电脑", "laptop"}, {"游戏本", "gaming laptop"}, {"台式电脑", "desktop PC"},
      {"轻薄本", "ultrabook"}},
     {{"Book ", "Book "}, {"Air ", "Air "}, {"Pro ", "Pro "}, {"Slim ", "Slim "},
      {"Gaming ", "Gaming "}, {"Studio ", "Studio "}},
     {"16GB+512GB", "32GB+1TB", "8GB+256GB", "16GB+1TB"}, 1,
     {{"14英寸2.8K屏", "14-inch 2.8K display"}, {"酷睿i7处理器", "Core i7 processor"},
      {"独立显卡", "dedicated graphics"}, {"背光键盘", "backlit keyboard"},
      {"雷电4接口", "Thunderbolt 4 port"}, {"1.2kg轻薄机身", "1.2 kg body"}},
     {{"运行速度~快", "it runs ~ fast"}, {"键盘手感~好", "the keyboard feels ~ good"},
      {"散热~好", "cooling is ~ effective"}, {"屏幕色彩~准", "the colours are ~ accurate"},
      {"做工~扎实", "it is ~ well built"}, {"开机~快", "it boots ~ quickly"}},
     {{"风扇声音~大", "the fan is ~ loud"}, {"预装软件太多", "there is too much bloatware"},
      {"电池续航一般", "battery life is mediocre"}, {"屏幕~暗", "the screen is ~ dim"}},
     {{"内存可以加装吗", "can the memory be upgraded"}, {"带正版Windows吗", "does it ship with licensed Windows"},
      {"能玩大型游戏吗", "can it run big games"}}},
    {"clothing", 160, 0.7,
     {{"优衣库", "Uniqlo"}, {"海澜之家", "HLA"}, {"太平鸟", "Peacebird"}, {"李宁", "Li-Ning"},
      {"安踏", "Anta"}, {"ZARA", "Zara"}},
     {{"纯棉T恤", "cotton T-shirt"}, {"牛仔裤", "jeans"}, {"羽绒服", "down jacket"},
      {"连衣裙", "dress"}, {"卫衣", "hoodie"}, {"运动鞋", "sneakers"}, {"衬衫", "shirt"},
      {"风衣", "trench coat"}},
     {{"春季新款", "Spring"}, {"经典款", "Classic"}, {"简约", "Minimal"}, {"复古", "Retro"},
      {"宽松", "Relaxed"}, {"修身", "Slim-fit"}},
     {NULL, NULL, NULL, NULL}, 0,
     {{"100%纯棉", "100% cotton"}, {"透气不闷", "breathable"}, {"多色可选", "many colours"},
      {"宽松版型", "relaxed cut"}, {"机洗不变形", "machine washable"}, {"四季百搭", "for all seasons"}},
     {{"面料~舒服", "the fabric is ~ comfortable"}, {"版型~好", "the fit is ~ good"},
      {"尺码~标准", "the sizing is ~ accurate"}, {"颜色~正", "the colour is ~ true to the photos"},
      {"做工~细致", "the stitching is ~ neat"}, {"穿着~透气", "it is ~ breathable"}},
     {{"洗了会起球", "it pills after washing"}, {"尺码~偏小", "it runs ~ small"},
      {"线头~多", "there are loose threads everywhere"}, {"洗了会褪色", "the colour fades in the wash"}},
     {{"有M码吗", "is there a size M"}, {"会缩水吗", "does it shrink"},
      {"身高165穿多大", "which size for 165 cm"}}},
    {"beauty", 190, 0.6,
     {{"兰蔻", "Lancome"}, {"雅诗兰黛", "Estee Lauder"}, {"完美日记", "Perfect Diary"},
      {"欧莱雅", "L'Oreal"}, {"花西子", "Florasis"}, {"百雀羚", "Pechoin"}},
     {{"口红", "lipstick"}, {"精华液", "serum"}, {"面霜", "face cream"}, {"粉底液", "foundation"},
      {"眼影盘", "eyeshadow palette"}, {"防晒霜", "sunscreen"}, {"面膜", "sheet masks"}},
     {{"保湿", "Hydrating"}, {"修护", "Repair"}, {"哑光", "Matte"}, {"轻薄", "Light"},
      {"焕亮", "Glow"}},
     {"30ml", "50ml", "3.5g", NULL}, 0,
     {{"温和不刺激", "gentle on skin"}, {"长效保湿", "long-lasting moisture"},
      {"持妆12小时", "12-hour wear"}, {"SPF50+", "SPF50+"}, {"无香精", "fragrance-free"},
      {"敏感肌可用", "for sensitive skin"}},
     {{"质地~清爽", "the texture is ~ light"}, {"颜色~显白", "the shade is ~ flattering"},
      {"保湿效果~好", "it is ~ moisturising"}, {"味道~好闻", "it smells ~ nice"},
      {"持妆~久", "it lasts ~ long"}, {"上脸~服帖", "it sits ~ well on the skin"}},
     {{"用了~过敏", "it irritated my skin"}, {"~油腻", "it feels ~ greasy"},
      {"颜色和图片不一样", "the shade differs from the photo"}, {"~容易脱妆", "it wears off ~ quickly"}},
     {{"敏感肌能用吗", "is it OK for sensitive skin"}, {"保质期到什么时候", "when does it expire"},
      {"是专柜正品吗", "is this authentic counter stock"}}},
    {"baby", 130, 0.65,
     {{"帮宝适", "Pampers"}, {"好奇", "Huggies"}, {"飞鹤", "Feihe"}, {"贝亲", "Pigeon"},
      {"美赞臣", "Enfamil"}, {"好孩子", "Goodbaby"}},
     {{"纸尿裤", "diapers"}, {"婴儿奶粉", "infant formula"}, {"奶瓶", "baby bottle"},
      {"婴儿推车", "stroller"}, {"安全座椅", "car seat"}, {"婴儿湿巾", "baby wipes"}},
     {{"新生儿", "Newborn"}, {"加厚", "Thick"}, {"便携", "Portable"}, {"有机", "Organic"},
      {"超薄", "Ultra-thin"}},
     {"S码", "M码", "3段 800g", "L码"}, 0,
     {{"食品级材质", "food-grade material"}, {"超强吸收", "super absorbent"},
      {"无荧光剂", "no optical brighteners"}, {"一键收车", "one-hand fold"},
      {"母乳实感", "breast-like feel"}, {"欧盟认证", "EU certified"}},
     {{"材质~安全", "the material feels ~ safe"}, {"~柔软", "it is ~ soft"},
      {"吸收~好", "absorbency is ~ good"}, {"宝宝用着~舒服", "my little one is ~ comfortable"},
      {"冲泡~方便", "it is ~ easy to prepare"}, {"~轻便", "it is ~ light to carry"}},
     {{"~漏", "it leaks"}, {"味道~大", "the smell is ~ strong"},
      {"尺码~偏大", "it runs ~ large"}, {"~容易坏", "it breaks ~ easily"}},
     {{"适合几个月的宝宝", "what age is it for"}, {"新生儿能用吗", "is it OK for newborns"},
      {"是新批次吗", "is this a fresh batch"}}},
    {"food", 45, 0.6,
     {{"三只松鼠", "Three Squirrels"}, {"良品铺子", "Bestore"}, {"百草味", "Be&Cheery"},
      {"蒙牛", "Mengniu"}, {"伊利", "Yili"}, {"农夫山泉", "Nongfu Spring"}},
     {{"坚果礼盒", "nut gift box"}, {"纯牛奶", "whole milk"}, {"零食大礼包", "snack bundle"},
      {"矿泉水", "mineral water"}, {"牛肉干", "beef jerky"}, {"咖啡豆", "coffee beans"},
      {"红茶", "black tea"}},
     {{"每日", "Daily"}, {"原味", "Original"}, {"家庭装", "Family pack"}, {"进口", "Imported"},
      {"低糖", "Low-sugar"}},
     {"500g", "1kg", "250ml*24", "12袋"}, 0,
     {{"当季新货", "fresh this season"}, {"独立小包装", "individually packed"},
      {"0添加", "no additives"}, {"产地直发", "shipped from the farm"},
      {"保质期12个月", "12-month shelf life"}, {"满99包邮", "free shipping over 99"}},
     {{"味道~好", "it tastes ~ good"}, {"~新鲜", "it is ~ fresh"}, {"分量~足", "the portion is ~ generous"},
      {"包装~严实", "the packaging is ~ sturdy"}, {"口感~好", "the texture is ~ nice"},
      {"~香", "it smells ~ delicious"}},
     {{"~咸", "it is ~ salty"}, {"快过期了", "it was close to expiry"},
      {"包装破了", "the package arrived torn"}, {"~甜", "it is ~ sweet"}},
     {{"生产日期是什么时候", "what is the production date"}, {"能当天发货吗", "can it ship today"},
      {"孕妇能吃吗", "is it safe during pregnancy"}}},
    {"books", 48, 0.45,
     {{"中信出版社", "CITIC Press"}, {"人民文学出版社", "People's Literature"},
      {"机械工业出版社", "China Machine Press"}, {"商务印书馆", "Commercial Press"},
      {"译林出版社", "Yilin Press"}},
     {{"《活着》", "To Live"}, {"《三体》", "The Three-Body Problem"}, {"《围城》", "Fortress Besieged"},
      {"《时间简史》", "A Brief History of Time"}, {"《深入理解计算机系统》", "Computer Systems"},
      {"《经济学原理》", "Principles of Economics"}, {"《小王子》", "The Little Prince"},
      {"《明朝那些事儿》", "Those Ming Dynasty Things"}},
     {{"精装版", "Hardcover"}, {"典藏版", "Collector's edition"}, {"新版", "New edition"},
      {"平装", "Paperback"}},
     {NULL, NULL, NULL, NULL}, 0,
     {{"正版图书", "genuine copy"}, {"名家译本", "acclaimed translation"},
      {"全彩插图", "full-colour illustrations"}, {"附赠书签", "free bookmark"},
      {"豆瓣高分", "highly rated"}, {"畅销百万册", "a million copies sold"}},
     {{"内容~精彩", "the content is ~ engaging"}, {"纸张~好", "the paper is ~ good"},
      {"印刷~清晰", "the print is ~ clear"}, {"翻译~流畅", "the translation reads ~ smoothly"},
      {"装帧~精美", "the binding is ~ beautiful"}, {"排版~舒服", "the layout is ~ pleasant"}},
     {{"有几页印刷模糊", "a few pages are blurry"}, {"书角压坏了", "the corner was bent"},
      {"内容~空洞", "the content feels ~ thin"}, {"纸张~薄", "the paper is ~ thin"}},
     {{"是正版吗", "is this a genuine copy"}, {"是最新版吗", "is this the latest edition"},
      {"有塑封吗", "is it shrink-wrapped"}}},
};

static const char *const adv_good_zh[] = {"很", "非常", "特别", "挺", "超级", "相当", "真的很"};
static const char *const adv_good_en[] = {"really", "very", "super", "pretty", "quite",
                                          "incredibly", "surprisingly"};
static const char *const adv_bad_zh[] = {"有点", "比较", "很", "太"};
static const char *const adv_bad_en[] = {"a bit", "rather", "quite", "way too"};

static const char *const open_zh[] = {"收到了", "物流很快", "包装完好", "第二次买了", "用了一周",
                                      "等了三天终于到了", "给家里买的", "双十一囤的"};
static const char *const open_en[] = {"Arrived quickly.", "Second time buying.",
                                      "After a week of use:", "Well packed.",
                                      "Bought this for my family.", "Got it on sale."};
static const char *const close_good_zh[] = {"推荐购买！", "会回购的。", "五星好评！", "值得入手。",
                                            "满意。", "好评！"};
static const char *const close_good_en[] = {"Highly recommend!", "Will buy again.", "Five stars!",
                                            "Worth it.", "Very happy."};
static const char *const close_mid_zh[] = {"总体还行。", "一般般吧。", "凑合用。", "中规中矩。"};
static const char *const close_mid_en[] = {"It's okay overall.", "Does the job.", "Average."};
static const char *const close_bad_zh[] = {"不推荐。", "有点失望。", "申请退货了。", "差评！"};
static const char *const close_bad_en[] = {"Would not recommend.", "Disappointed.",
                                           "Returning it.", "Not happy."};

static int pick(struct ps_rng *r, int n)
{
    return (int)ps_rng_below(r, (uint64_t)n);
}

static int chance(struct ps_rng *r, double p)
{
    return ps_rng_uniform(r) < p;
}

#define PICK(r, a) ((a)[pick((r), N_OF(a))])

/* Number of leading non-NULL entries of a NULL-padded list. */
static int n_set(const char *const *list, int max)
{
    int n = 0;
    while (n < max && list[n])
        n++;
    return n;
}

/* Appends tmpl with '~' replaced by adv. */
static void put_sub(struct ps_buf *b, const char *tmpl, const char *adv)
{
    for (const char *s = tmpl; *s; s++) {
        if (*s == '~')
            ps_buf_append(b, adv, strlen(adv));
        else
            ps_buf_putc(b, *s);
    }
}

static void put(struct ps_buf *b, const char *s)
{
    ps_buf_append(b, s, strlen(s));
}

/* Uppercases the ASCII letter at b->data[at] (English sentence start). */
static void cap_at(struct ps_buf *b, size_t at)
{
    if (at < b->len && b->data[at] >= 'a' && b->data[at] <= 'z')
        b->data[at] = (char)(b->data[at] - 'a' + 'A');
}

static const struct zh_en *aspect(const struct category_vocab *v, int good, struct ps_rng *r)
{
    return good ? &v->good[pick(r, N_OF(v->good))] : &v->bad[pick(r, N_OF(v->bad))];
}

static void put_aspect(struct ps_buf *b, const struct zh_en *a, int good, int lang,
                       struct ps_rng *r)
{
    const char *adv = lang == PS__DEMO_ZH ? (good ? PICK(r, adv_good_zh) : PICK(r, adv_bad_zh))
                                          : (good ? PICK(r, adv_good_en) : PICK(r, adv_bad_en));
    put_sub(b, lang == PS__DEMO_ZH ? a->zh : a->en, adv);
}

int ps__demo_n_brands(int cat)
{
    int n = 0;
    while (n < N_OF(cats[cat].brands) && cats[cat].brands[n].zh)
        n++;
    return n;
}

const char *ps__demo_brand(int cat, int brand, int lang)
{
    const struct zh_en *b = &cats[cat].brands[brand];
    return lang == PS__DEMO_ZH ? b->zh : b->en;
}

void ps__demo_price_model(int cat, double *median, double *sigma)
{
    *median = cats[cat].price_median;
    *sigma = cats[cat].price_sigma;
}

static int n_pairs(const struct zh_en *p, int max)
{
    int n = 0;
    while (n < max && p[n].zh)
        n++;
    return n;
}

void ps__demo_item_title(struct ps_buf *b, int cat, int brand, struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    const struct zh_en *noun = &v->nouns[pick(r, n_pairs(v->nouns, N_OF(v->nouns)))];
    const struct zh_en *style = &v->styles[pick(r, n_pairs(v->styles, N_OF(v->styles)))];
    int n_specs = n_set(v->specs, N_OF(v->specs));
    const char *spec = n_specs ? v->specs[pick(r, n_specs)] : NULL;
    int number = 5 + pick(r, 60);
    for (int lang = 0; lang < 2; lang++) {
        if (lang)
            put(b, " / ");
        put(b, lang ? v->brands[brand].en : v->brands[brand].zh);
        ps_buf_putc(b, ' ');
        put(b, lang ? style->en : style->zh);
        if (v->numbered)
            ps_buf_printf(b, "%d ", number);
        else if (lang)
            ps_buf_putc(b, ' ');
        put(b, lang ? noun->en : noun->zh);
        if (spec) {
            ps_buf_putc(b, ' ');
            put(b, spec);
        }
    }
}

void ps__demo_item_description(struct ps_buf *b, int cat, int brand, struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    int f1 = pick(r, N_OF(v->features)), f2 = pick(r, N_OF(v->features) - 1);
    if (f2 >= f1)
        f2++;
    ps_buf_printf(b, "%s出品，%s，%s。", v->brands[brand].zh, v->features[f1].zh,
                  v->features[f2].zh);
    ps_buf_printf(b, " By %s: %s, %s.", v->brands[brand].en, v->features[f1].en,
                  v->features[f2].en);
}

void ps__demo_review(struct ps_buf *b, const struct ps_demo_persona *p, int cat, int rating,
                     int lang, struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    int good = rating >= 4, mixed = rating == 3;
    int zh = lang == PS__DEMO_ZH;

    /* The aspects: good ones for 4-5 stars, a good and a bad one for 3,
     * bad ones for 1-2; distinct within one review. */
    int n_parts = good ? 1 + pick(r, 3) : mixed ? 2 : 1 + pick(r, 2);
    int idx[3], pos[3];
    for (int i = 0; i < n_parts; i++) {
        pos[i] = good || (mixed && i == 0);
        int n = pos[i] ? N_OF(v->good) : N_OF(v->bad);
        int k;
        do
            k = pick(r, n);
        while ((i > 0 && pos[i - 1] == pos[i] && idx[i - 1] == k) ||
               (i > 1 && pos[i - 2] == pos[i] && idx[i - 2] == k));
        idx[i] = k;
    }
    int praise = good || (mixed && chance(r, 0.5));
    int with_persona = chance(r, 0.8);
    const char *const *plist = zh ? (praise ? p->praise_zh : p->gripe_zh)
                                  : (praise ? p->praise_en : p->gripe_en);
    int n_plist = n_set(plist, praise ? 6 : 4);
    const char *const *close = NULL;
    int n_close = 0;
    if (chance(r, 0.7)) {
        if (zh) {
            close = good ? close_good_zh : mixed ? close_mid_zh : close_bad_zh;
            n_close = good ? N_OF(close_good_zh) : mixed ? N_OF(close_mid_zh) : N_OF(close_bad_zh);
        } else {
            close = good ? close_good_en : mixed ? close_mid_en : close_bad_en;
            n_close = good ? N_OF(close_good_en) : mixed ? N_OF(close_mid_en) : N_OF(close_bad_en);
        }
    }

    if (zh) {
        if (chance(r, 0.45)) {
            put(b, PICK(r, open_zh));
            put(b, "，");
        }
        for (int i = 0; i < n_parts; i++) {
            if (i > 0)
                put(b, mixed ? "，但是" : "，");
            put_aspect(b, pos[i] ? &v->good[idx[i]] : &v->bad[idx[i]], pos[i], lang, r);
        }
        if (with_persona && n_plist) {
            put(b, "，");
            put_sub(b, plist[pick(r, n_plist)], praise ? PICK(r, adv_good_zh) : PICK(r, adv_bad_zh));
        }
        if (chance(r, 0.02))
            put(b, "，客服说是\"正品保证\"");
        if (close) {
            put(b, "，");
            put(b, close[pick(r, n_close)]);
        } else {
            put(b, good && chance(r, 0.3) ? "！" : "。");
        }
        if (good && chance(r, 0.03))
            put(b, "👍");
        if (good && chance(r, 0.005))
            put(b, "\n追评：用了一个月，依然很好。");
        return;
    }

    if (chance(r, 0.35)) {
        put(b, PICK(r, open_en));
        ps_buf_putc(b, ' ');
    }
    for (int i = 0; i < n_parts; i++) {
        if (i == 2)
            put(b, ". ");
        else if (i == 1)
            put(b, mixed ? ", but " : " and ");
        size_t s = b->len;
        put_aspect(b, pos[i] ? &v->good[idx[i]] : &v->bad[idx[i]], pos[i], lang, r);
        if (i != 1)
            cap_at(b, s);
    }
    put(b, ".");
    if (with_persona && n_plist) {
        ps_buf_putc(b, ' ');
        size_t s = b->len;
        put_sub(b, plist[pick(r, n_plist)], praise ? PICK(r, adv_good_en) : PICK(r, adv_bad_en));
        cap_at(b, s);
        put(b, praise && chance(r, 0.2) ? "!" : ".");
    }
    if (chance(r, 0.02))
        put(b, " The seller says \"100% authentic\".");
    if (close) {
        ps_buf_putc(b, ' ');
        put(b, close[pick(r, n_close)]);
    }
    if (good && chance(r, 0.03))
        put(b, " 👍");
    if (good && chance(r, 0.005))
        put(b, "\nUpdate: still going strong after a month.");
}

void ps__demo_comment(struct ps_buf *b, int cat, int rating, int lang, struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    int good = rating >= 3;
    if (lang == PS__DEMO_ZH) {
        put(b, "追评：");
        put_aspect(b, aspect(v, good, r), good, lang, r);
        put(b, "。");
    } else {
        put(b, "Update: ");
        size_t s = b->len;
        put_aspect(b, aspect(v, good, r), good, lang, r);
        cap_at(b, s);
        put(b, ".");
    }
}

void ps__demo_inquiry(struct ps_buf *b, const struct ps_demo_persona *p, int cat, int lang,
                      struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    int zh = lang == PS__DEMO_ZH;
    int n_ask = n_set(zh ? p->ask_zh : p->ask_en, 4);
    const char *q = n_ask && chance(r, 0.5) ? (zh ? p->ask_zh : p->ask_en)[pick(r, n_ask)]
                                            : (zh ? v->ask[pick(r, 3)].zh : v->ask[pick(r, 3)].en);
    if (zh) {
        put(b, chance(r, 0.5) ? "请问" : "你好，");
        put(b, q);
        put(b, "？");
    } else {
        size_t s = b->len;
        if (chance(r, 0.4))
            put(b, "hi, ");
        put(b, q);
        cap_at(b, s);
        put(b, "?");
    }
}

void ps__demo_query(struct ps_buf *b, const struct ps_demo_persona *p, int cat, int lang,
                    struct ps_rng *r)
{
    const struct category_vocab *v = &cats[cat];
    int zh = lang == PS__DEMO_ZH;
    const struct zh_en *noun = &v->nouns[pick(r, n_pairs(v->nouns, N_OF(v->nouns)))];
    int n_mod = n_set(zh ? p->query_zh : p->query_en, 6);
    const char *mod = n_mod && chance(r, 0.7) ? (zh ? p->query_zh : p->query_en)[pick(r, n_mod)]
                                              : NULL;
    const char *brand = chance(r, 0.4) ? ps__demo_brand(cat, pick(r, ps__demo_n_brands(cat)), lang)
                                       : NULL;
    const char *noun_s = zh ? noun->zh : noun->en;
    size_t s = b->len;
    if (brand) {
        put(b, brand);
        ps_buf_putc(b, ' ');
    }
    if (mod && chance(r, 0.5)) {
        put(b, mod);
        ps_buf_putc(b, ' ');
        put(b, noun_s);
    } else {
        put(b, noun_s);
        if (mod) {
            ps_buf_putc(b, ' ');
            put(b, mod);
        }
    }
    if (!zh) /* queries are typed in lower case */
        for (size_t i = s; i < b->len; i++)
            if (b->data[i] >= 'A' && b->data[i] <= 'Z')
                b->data[i] = (char)(b->data[i] - 'A' + 'a');
}
