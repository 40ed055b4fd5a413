/*
 * schema.c - canonical tables, event synonyms and the preset table
 * (see include/persona/schema.h).  Pure data plus small lookups.
 */
#include "persona/schema.h"

#include <string.h>
#include <strings.h>

static const struct ps_column_def events_cols[] = {
    {"user_id", PS_COL_ID, 1, 0, "userid,user,uid,customer_id,customerid,member_id"},
    {"ts", PS_COL_TS, 1, 0, "timestamp,time,datetime,event_time,created_at,date"},
    {"event", PS_COL_EVENT, 1, 0, "event_type,behavior,behavior_type,behaviour,action"},
    {"item_id", PS_COL_ID, 0, 0, "itemid,product_id,productid,sku"},
    {"category", PS_COL_ID, 0, 0, "category_id,categoryid,item_category,category_name,cat"},
    {"price", PS_COL_NUMBER, 0, 1, "unit_price,unitprice"},
    {"quantity", PS_COL_NUMBER, 0, 1, "qty"},
    {"dwell_s", PS_COL_NUMBER, 0, 1, "dwell,dwell_time,stay_time,duration"},
    {"query", PS_COL_TEXT, 0, 0, "search_query,keyword,keywords"},
    {"order_id", PS_COL_ID, 0, 0, "orderid,order,invoice,invoiceno,invoice_no"},
};

static const struct ps_column_def texts_cols[] = {
    {"user_id", PS_COL_ID, 1, 0, "userid,user,uid,customer_id,customerid,reviewerid"},
    {"text", PS_COL_TEXT, 1, 0, "review,reviewtext,review_text,content,body,comment"},
    {"ts", PS_COL_TS, 0, 0, "timestamp,time,datetime,created_at,date"},
    {"kind", PS_COL_TOKEN, 0, 0, "text_kind,text_type"},
    {"item_id", PS_COL_ID, 0, 0, "itemid,product_id,productid,sku,asin"},
    {"rating", PS_COL_NUMBER, 0, 1, "score,stars,star_rating"},
};

static const struct ps_column_def items_cols[] = {
    {"item_id", PS_COL_ID, 1, 0, "itemid,product_id,productid,sku,asin"},
    {"title", PS_COL_TEXT, 0, 0, "name,product_name,product_title"},
    {"category", PS_COL_ID, 0, 0, "category_id,categoryid,item_category,category_name,cat"},
    {"brand", PS_COL_TEXT, 0, 0, "brand_name,manufacturer"},
    {"price", PS_COL_NUMBER, 0, 1, "unit_price,unitprice,list_price"},
    {"description", PS_COL_TEXT, 0, 0, "desc,details"},
};

static const struct ps_column_def users_cols[] = {
    {"user_id", PS_COL_ID, 1, 0, "userid,user,uid,customer_id,customerid,member_id"},
};

static const struct {
    const char *name;
    const struct ps_column_def *cols;
    int n;
    const char *dedup;
} schemas[PS_SCHEMA_COUNT] = {
    {"events", events_cols, (int)(sizeof events_cols / sizeof events_cols[0]), NULL},
    {"texts", texts_cols, (int)(sizeof texts_cols / sizeof texts_cols[0]), NULL},
    {"items", items_cols, (int)(sizeof items_cols / sizeof items_cols[0]), "item_id"},
    {"users", users_cols, (int)(sizeof users_cols / sizeof users_cols[0]), "user_id"},
};

int ps_schema_parse(const char *name, enum ps_schema *out)
{
    for (int i = 0; i < PS_SCHEMA_COUNT; i++)
        if (strcmp(name, schemas[i].name) == 0) {
            *out = (enum ps_schema)i;
            return 0;
        }
    return -1;
}

const char *ps_schema_name(enum ps_schema s)
{
    return (unsigned)s < PS_SCHEMA_COUNT ? schemas[s].name : "?";
}

const struct ps_column_def *ps_schema_columns(enum ps_schema s, int *n)
{
    *n = schemas[s].n;
    return schemas[s].cols;
}

int ps_schema_column_index(enum ps_schema s, const char *name)
{
    for (int i = 0; i < schemas[s].n; i++)
        if (strcmp(schemas[s].cols[i].name, name) == 0)
            return i;
    return -1;
}

const char *ps_schema_default_dedup_key(enum ps_schema s)
{
    return schemas[s].dedup;
}

/* ---- events ---- */

static const char *const event_names[PS_EVENT_COUNT] = {
    "view", "search", "click", "cart", "fav", "purchase", "refund"};

/* Synonyms, lower case.  Kept short and unambiguous: anything else is
 * an unknown event the user maps with --event-map. */
static const struct {
    const char *name;
    int event;
} event_synonyms[] = {
    {"view", PS_EVENT_VIEW}, {"pv", PS_EVENT_VIEW}, {"page_view", PS_EVENT_VIEW},
    {"pageview", PS_EVENT_VIEW}, {"browse", PS_EVENT_VIEW}, {"detail_view", PS_EVENT_VIEW},
    {"search", PS_EVENT_SEARCH}, {"query", PS_EVENT_SEARCH},
    {"click", PS_EVENT_CLICK}, {"clk", PS_EVENT_CLICK},
    {"cart", PS_EVENT_CART}, {"add_to_cart", PS_EVENT_CART}, {"addtocart", PS_EVENT_CART},
    {"add-to-cart", PS_EVENT_CART}, {"add_cart", PS_EVENT_CART}, {"basket", PS_EVENT_CART},
    {"fav", PS_EVENT_FAV}, {"favorite", PS_EVENT_FAV}, {"favourite", PS_EVENT_FAV},
    {"collect", PS_EVENT_FAV}, {"wishlist", PS_EVENT_FAV}, {"like", PS_EVENT_FAV},
    {"purchase", PS_EVENT_PURCHASE}, {"buy", PS_EVENT_PURCHASE}, {"order", PS_EVENT_PURCHASE},
    {"pay", PS_EVENT_PURCHASE}, {"checkout", PS_EVENT_PURCHASE},
    {"transaction", PS_EVENT_PURCHASE},
    {"refund", PS_EVENT_REFUND}, {"return", PS_EVENT_REFUND},
};

const char *ps_event_name(int e)
{
    return e >= 0 && e < PS_EVENT_COUNT ? event_names[e] : NULL;
}

int ps_event_lookup(const char *s, size_t len)
{
    char low[32];
    while (len && *s == ' ') {
        s++;
        len--;
    }
    while (len && s[len - 1] == ' ')
        len--;
    if (len == 0 || len >= sizeof low)
        return -1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    for (size_t i = 0; i < sizeof event_synonyms / sizeof event_synonyms[0]; i++)
        if (strlen(event_synonyms[i].name) == len && memcmp(event_synonyms[i].name, low, len) == 0)
            return event_synonyms[i].event;
    return -1;
}

/* ---- presets ----
 *
 * One row per (preset, table).  Fields after `summary`: format, header,
 * declared columns, map, event map, constants, dedup key, zone,
 * refund prefix, decimal ids.  See docs/cleaning.md for each layout. */
static const struct ps_preset presets[] = {
    {"taobao", PS_SCHEMA_EVENTS,
     "Taobao UserBehavior: headerless user_id,item_id,category_id,behavior_type,timestamp",
     PS_FORMAT_CSV, 0, "user_id,item_id,category_id,behavior_type,timestamp",
     "category=category_id,event=behavior_type,ts=timestamp",
     NULL, NULL, NULL, NULL, NULL, NULL},
    {"tianchi-mobile", PS_SCHEMA_EVENTS,
     "Tianchi mobile 2014: behavior_type 1-4 = view,fav,cart,purchase; time 'YYYY-MM-DD HH' in UTC+8",
     PS_FORMAT_CSV, 1, NULL,
     "event=behavior_type,category=item_category,ts=time",
     "1=view,2=fav,3=cart,4=purchase", NULL, NULL, "+08:00", NULL, NULL},
    {"online-retail", PS_SCHEMA_EVENTS,
     "UCI Online Retail: one purchase per line, invoices starting with C are refunds",
     PS_FORMAT_CSV, 1, NULL,
     "user_id=CustomerID,ts=InvoiceDate,item_id=StockCode,price=UnitPrice,quantity=Quantity,"
     "order_id=InvoiceNo",
     NULL, "event=purchase", NULL, "+00:00", "C", "user_id"},
    {"online-retail", PS_SCHEMA_ITEMS,
     "UCI Online Retail catalogue: StockCode -> item_id, Description -> title, first row per item",
     PS_FORMAT_CSV, 1, NULL,
     "item_id=StockCode,title=Description,price=UnitPrice",
     NULL, NULL, "item_id", NULL, NULL, NULL},
    {"amazon-reviews", PS_SCHEMA_TEXTS,
     "Amazon Review Data (JSON Lines): reviewerID, asin, reviewText, overall, unixReviewTime",
     PS_FORMAT_JSONL, 1, "reviewerID,asin,reviewText,overall,unixReviewTime",
     "user_id=reviewerID,item_id=asin,text=reviewText,rating=overall,ts=unixReviewTime",
     NULL, "kind=review", NULL, NULL, NULL, NULL},
};

const struct ps_preset *ps_preset_list(int *n)
{
    *n = (int)(sizeof presets / sizeof presets[0]);
    return presets;
}

const struct ps_preset *ps_preset_find(const char *name, enum ps_schema schema)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (presets[i].schema == schema && strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

const struct ps_preset *ps_preset_find_any(const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}
