/* test_clean.c - schemas, presets and the clean step.
 *
 * Expected rows and quarantine lines are written out by hand from the
 * fixture text (tests/fixtures/clean/); the counts for the real files in
 * ../shared/data were computed independently with pandas (the commands
 * are in the comment above each test). */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "persona/clean.h"
#include "persona/core.h"
#include "persona/schema.h"

/* ---- schema ---- */

TEST(clean_schema_tables_and_events)
{
    enum ps_schema s;
    int n;
    CHECK(ps_schema_parse("texts", &s) == 0 && s == PS_SCHEMA_TEXTS);
    CHECK(ps_schema_parse("Events", &s) != 0);
    const struct ps_column_def *d = ps_schema_columns(PS_SCHEMA_EVENTS, &n);
    CHECK_INT(n, 10);
    CHECK_STR(d[0].name, "user_id");
    CHECK_STR(d[9].name, "order_id");
    CHECK(d[0].required && d[1].required && d[2].required && !d[3].required);
    CHECK_INT(ps_schema_column_index(PS_SCHEMA_ITEMS, "description"), 5);
    CHECK_STR(ps_schema_default_dedup_key(PS_SCHEMA_ITEMS), "item_id");
    CHECK(ps_schema_default_dedup_key(PS_SCHEMA_EVENTS) == NULL);

    CHECK_INT(ps_event_lookup("pv", 2), PS_EVENT_VIEW);
    CHECK_INT(ps_event_lookup(" PV ", 4), PS_EVENT_VIEW);
    CHECK_INT(ps_event_lookup("buy", 3), PS_EVENT_PURCHASE);
    CHECK_INT(ps_event_lookup("order", 5), PS_EVENT_PURCHASE);
    CHECK_INT(ps_event_lookup("Add_To_Cart", 11), PS_EVENT_CART);
    CHECK_INT(ps_event_lookup("favorite", 8), PS_EVENT_FAV);
    CHECK_INT(ps_event_lookup("refund", 6), PS_EVENT_REFUND);
    CHECK_INT(ps_event_lookup("teleport", 8), -1);
    CHECK_INT(ps_event_lookup("", 0), -1);
    CHECK_STR(ps_event_name(PS_EVENT_SEARCH), "search");
    CHECK(ps_event_name(PS_EVENT_COUNT) == NULL);

    CHECK(ps_preset_find("taobao", PS_SCHEMA_EVENTS) != NULL);
    CHECK(ps_preset_find("taobao", PS_SCHEMA_TEXTS) == NULL);
    CHECK(ps_preset_find("online-retail", PS_SCHEMA_ITEMS) != NULL);
    CHECK_INT(ps_preset_find_any("amazon-reviews")->schema, PS_SCHEMA_TEXTS);
    CHECK(ps_preset_find_any("nope") == NULL);
    /* every preset row names real canonical columns in its map and constants */
    const struct ps_preset *all = ps_preset_list(&n);
    CHECK(n >= 5);
    for (int i = 0; i < n; i++) {
        const char *lists[2] = {all[i].map, all[i].constants};
        for (int k = 0; k < 2; k++) {
            if (!lists[k])
                continue;
            char *s2 = ps_xstrdup(lists[k]), *save = NULL;
            for (char *t = strtok_r(s2, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                *strchr(t, '=') = '\0';
                if (ps_schema_column_index(all[i].schema, t) < 0) {
                    test_failures++;
                    fprintf(stderr, "  preset %s: no column %s\n", all[i].name, t);
                }
            }
            free(s2);
        }
    }
}

/* ---- helpers ---- */

struct run {
    struct ps_clean_params p;
    struct ps_clean_summary s;
    struct ps_err err;
    const char *in[64];
    const char *missing[16];
    int rc;
    char *out, *quar;
};

static void run_init(struct run *r, enum ps_schema schema, const char *in)
{
    memset(r, 0, sizeof *r);
    r->p = ps_clean_default_params();
    r->p.schema = schema;
    r->in[0] = in;
    r->p.inputs = r->in;
    r->p.n_inputs = 1;
    r->p.missing = r->missing;
    r->p.out_path = test_tmp("clean_out.csv");
    r->p.quarantine_path = test_tmp("clean_quar.csv");
    unlink(r->p.out_path);
    unlink(r->p.quarantine_path);
}

/* Runs, reads the outputs, and checks the row-count identity. */
static int run_go(struct run *r)
{
    r->rc = ps_clean_run(&r->p, &r->s, &r->err);
    r->out = test_read_file(r->p.out_path, NULL);
    r->quar = test_read_file(r->p.quarantine_path, NULL);
    if (r->rc == 0)
        CHECK_INT(r->s.rows_in, r->s.rows_out + r->s.exact_duplicates + r->s.key_duplicates +
                                    r->s.quarantined);
    return r->rc;
}

static void run_release(struct run *r)
{
    ps_clean_summary_release(&r->s);
    free(r->out);
    free(r->quar);
}

static int64_t reason(const struct ps_clean_summary *s, const char *key)
{
    for (int i = 0; i < s->n_reasons; i++)
        if (strcmp(s->reasons[i].name, key) == 0)
            return s->reasons[i].count;
    return 0;
}

static const char *fixture(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "tests/fixtures/clean/%s", name);
    return path;
}

/* ---- every reason, exact rows ---- */

TEST(clean_every_reason_exact_output)
{
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, fixture("events_dirty.csv"));
    r.p.summary_path = test_tmp("clean_summary.json");
    CHECK_INT(run_go(&r), PS_OK);
    /* line 2 kept; 3 exact copy; 13 the same event written differently
     * (PV, " c1 ", epoch instead of ISO) so also an exact duplicate of the
     * canonical row; 9-10 one record with an embedded newline. */
    CHECK_STR(r.out,
              "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
              "u1,1614834367,view,i1,c1,9.5,1,3.5,,o1\n"
              "u3,1614834367,cart,i3,c2,,,,\"a, \"\"quoted\"\"\nquery\",\n"
              "u4,1614805567,cart,i4,c2,1e2,2,0,,\n"
              "u5,1291191960,purchase,i5,c3,2.50,3,,,o9\n");
    CHECK_STR(r.quar,
              "line,reason,raw\n"
              "4,\"column \"\"user_id\"\": missing value\",\",1614834367,view,i2,c1,,,,,\"\n"
              "5,\"column \"\"ts\"\": invalid date or time \"\"2021-02-30 10:00\"\"\","
              "\"u2,2021-02-30 10:00,view,i2,c1,,,,,\"\n"
              "6,\"column \"\"event\"\": unknown event \"\"teleport\"\"\","
              "\"u2,1614834367000,teleport,i2,c1,,,,,\"\n"
              "7,\"column \"\"price\"\": expected a number, got \"\"abc\"\"\","
              "\"u2,1614834367,buy,i2,c1,abc,1,,,o2\"\n"
              "8,\"column \"\"quantity\"\": negative value \"\"-2\"\"\","
              "\"u2,1614834367,buy,i2,c1,5,-2,,,o2\"\n"
              "11,\"column \"\"item_id\"\": missing field (expected 10 fields, got 3)\",\"u3,oops,cart\"\n"
              "15,\"column \"\"ts\"\": expected a timestamp, got \"\"yesterday\"\"\","
              "\"u5,yesterday,view,i5,c3,,,,,\"\n");
    CHECK_INT(r.s.rows_in, 13);
    CHECK_INT(r.s.rows_out, 4);
    CHECK_INT(r.s.exact_duplicates, 2);
    CHECK_INT(r.s.key_duplicates, 0);
    CHECK_INT(r.s.quarantined, 7);
    CHECK_INT(r.s.n_reasons, 6);
    CHECK_INT(reason(&r.s, "missing:user_id"), 1);
    CHECK_INT(reason(&r.s, "bad_ts:ts"), 2);
    CHECK_INT(reason(&r.s, "unknown_event:event"), 1);
    CHECK_INT(reason(&r.s, "bad_number:price"), 1);
    CHECK_INT(reason(&r.s, "negative:quantity"), 1);
    CHECK_INT(reason(&r.s, "bad_record"), 1);
    CHECK_INT(r.s.n_unknown_events, 1);
    CHECK_STR(r.s.unknown_events[0].name, "teleport");
    char *js = test_read_file(r.p.summary_path, NULL);
    CHECK_CONTAINS(js, "\"rows_in\": 13, \"rows_out\": 4, \"exact_duplicates\": 2, "
                       "\"key_duplicates\": 0, \"quarantined\": 7");
    CHECK_CONTAINS(js, "\"reasons\": {\"bad_number:price\": 1, \"bad_record\": 1, \"bad_ts:ts\": 2, "
                       "\"missing:user_id\": 1, \"negative:quantity\": 1, \"unknown_event:event\": 1}");
    CHECK_CONTAINS(js, "\"unknown_events\": {\"teleport\": 1}");
    free(js);
    run_release(&r);
}

TEST(clean_strict_stops_at_first_bad_row)
{
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, fixture("events_dirty.csv"));
    r.p.strict = 1;
    r.p.quarantine_path = NULL;
    CHECK_INT(run_go(&r), PS_ERR_BAD_INPUT);
    CHECK_STR(r.err.msg, "tests/fixtures/clean/events_dirty.csv:4: column \"user_id\": missing value");
    CHECK(r.out == NULL); /* nothing committed */
    run_release(&r);
}

TEST(clean_invalid_utf8_is_quarantined_escaped)
{
    static const char data[] = "user_id,ts,event\nu1,5,view\nu\xff" "2,6,view\nu3,7,view\n";
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_utf8.csv", data, sizeof data - 1));
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_STR(r.out, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
                     "u1,5,view,,,,,,,\nu3,7,view,,,,,,,\n");
    CHECK_CONTAINS(r.quar, "\n3,");
    CHECK_CONTAINS(r.quar, "invalid UTF-8");
    CHECK_CONTAINS(r.quar, ",\"u\\xFF2,6,view\"\n");
    CHECK_INT(reason(&r.s, "bad_record"), 1);
    run_release(&r);
}

TEST(clean_key_duplicates_keep_first)
{
    static const char data[] = "user_id,ts,event,item_id,price\n"
                               "a,100,view,x,1\n"  /* kept */
                               "a,100,view,x,2\n"  /* same key, other price: key duplicate */
                               "a,100,view,x,1\n"  /* exact duplicate */
                               "a,101,view,x,1\n"  /* kept */
                               "b,100,view,x,2\n"  /* kept */
                               "a,100,view,x,2\n"; /* exact copy of a removed row (pandas: exact) */
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_key.csv", data, sizeof data - 1));
    r.p.dedup_key = "user_id,item_id,event,ts";
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_STR(r.out, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
                     "a,100,view,x,,1,,,,\na,101,view,x,,1,,,,\nb,100,view,x,,2,,,,\n");
    CHECK_INT(r.s.exact_duplicates, 2);
    CHECK_INT(r.s.key_duplicates, 1);
    CHECK_STR(r.s.dedup_key, "user_id,item_id,event,ts");
    run_release(&r);
}

TEST(clean_missing_policies)
{
    static const char data[] = "user_id,ts,event,price,quantity,category,query\n"
                               "a,1,view,10,1,c1,q\n"
                               "a,1,view,10,1,c1,q\n" /* duplicate: must not weigh in the median */
                               "b,2,view,,2,c1,\n"
                               "c,3,view,30,,c2,\n"
                               "d,4,view,20,3,,\n"
                               "e,5,,40,4,c2,\n";
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_missing.csv", data, sizeof data - 1));
    r.missing[0] = "price=median";    /* median(10, 30, 20, 40) = 25 */
    r.missing[1] = "quantity=fill:1";
    r.missing[2] = "category=mode";   /* c1 and c2 twice each: the smaller, c1 */
    r.missing[3] = "event=fill:PV";   /* normalised to view */
    r.p.n_missing = 4;
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_STR(r.out, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
                     "a,1,view,,c1,10,1,,q,\n"
                     "b,2,view,,c1,25,2,,,\n"
                     "c,3,view,,c2,30,1,,,\n"
                     "d,4,view,,c1,20,3,,,\n"
                     "e,5,view,,c2,40,4,,,\n");
    CHECK_INT(r.s.exact_duplicates, 1);
    CHECK_INT(r.s.n_filled, 4);
    CHECK_STR(r.s.filled[0].name, "event");
    CHECK_STR(r.s.filled[0].value, "view");
    CHECK_STR(r.s.filled[1].name, "category");
    CHECK_STR(r.s.filled[1].value, "c1");
    CHECK_STR(r.s.filled[2].name, "price");
    CHECK_STR(r.s.filled[2].value, "25");
    CHECK_INT(r.s.filled[2].count, 1);
    CHECK_STR(r.s.filled[3].value, "1");
    run_release(&r);

    /* drop on an optional column sends the row to quarantine */
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_missing.csv", data, sizeof data - 1));
    r.missing[0] = "query=drop";
    r.p.n_missing = 1;
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_out, 1);
    CHECK_INT(r.s.exact_duplicates, 1);
    CHECK_INT(reason(&r.s, "missing:query"), 3);
    CHECK_INT(reason(&r.s, "missing:event"), 1); /* required: dropped by default */
    CHECK_CONTAINS(r.quar, "\n7,\"column \"\"event\"\": missing value\",\"e,5,,40,4,c2,\"\n");
    run_release(&r);

    /* numbers a double cannot hold are not numbers */
    static const char d3[] = "user_id,ts,event,price\na,1,view,1e400\nb,1,view,1.5E+2\n";
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_big.csv", d3, sizeof d3 - 1));
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(reason(&r.s, "bad_number:price"), 1);
    CHECK_CONTAINS(r.out, "\nb,1,view,,,1.5E+2,,,,\n");
    run_release(&r);

    /* odd count median, non-integral */
    static const char d2[] = "user_id,ts,event,price\na,1,view,2.55\nb,1,view,\nc,1,view,3.39\nd,1,view,0.1\n";
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_median.csv", d2, sizeof d2 - 1));
    r.missing[0] = "price=median";
    r.p.n_missing = 1;
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_CONTAINS(r.out, "\nb,1,view,,,2.55,,,,\n");
    run_release(&r);
}

TEST(clean_headerless_semicolon_and_mapping)
{
    static const char data[] = "7;2021-01-01;buy;zoom\n8;2021-01-02T00:00:00+01:00;pv;x\n9;2021-01-03;hop;y\n";
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_hl.csv", data, sizeof data - 1));
    r.p.columns = "uid,when,what,thing";
    r.p.delimiter = ';';
    r.p.map = "ts=when,event=what,item_id=thing";
    r.p.event_map = "hop=click";
    CHECK_INT(run_go(&r), PS_OK);
    /* uid is a known alias of user_id; 2021-01-01 = 1609459200 */
    CHECK_STR(r.out, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
                     "7,1609459200,purchase,zoom,,,,,,\n"
                     "8,1609542000,view,x,,,,,,\n"
                     "9,1609632000,click,y,,,,,,\n");
    CHECK_STR(r.s.mapping[0], "user_id=uid");
    CHECK_STR(r.s.mapping[1], "ts=when");
    run_release(&r);
}

TEST(clean_users_schema_passes_other_columns)
{
    static const char data[] = "id,age,city\nu1,30,Paris\nu2,,Berlin\nu1,31,Rome\nu3,40,\n";
    struct run r;
    run_init(&r, PS_SCHEMA_USERS, test_write_file("clean_users.csv", data, sizeof data - 1));
    r.p.map = "user_id=id";
    r.missing[0] = "age=median"; /* u1's second row is a key duplicate: median(30, 40) */
    r.p.n_missing = 1;
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_STR(r.out, "user_id,age,city\nu1,30,Paris\nu2,35,Berlin\nu3,40,\n");
    CHECK_INT(r.s.key_duplicates, 1);
    run_release(&r);
}

TEST(clean_structural_and_usage_errors)
{
    static const char data[] = "who,when,what\na,1,view\n";
    const char *in = test_write_file("clean_noid.csv", data, sizeof data - 1);
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, in);
    CHECK_INT(run_go(&r), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(r.err.msg, "no column for required \"user_id\"");
    CHECK_CONTAINS(r.err.msg, "--map user_id=COLUMN");
    run_release(&r);

    run_init(&r, PS_SCHEMA_EVENTS, in);
    r.p.map = "user_id=nobody";
    CHECK_INT(run_go(&r), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(r.err.msg, "no column \"nobody\" (mapped to user_id)");
    run_release(&r);

    struct ps_clean_params p = ps_clean_default_params();
    struct ps_err err = {0};
    const char *ins[1] = {in};
    const char *miss[1];
    p.inputs = ins;
    p.n_inputs = 1;
    p.out_path = "x.csv";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_OK);
    p.preset = "nope";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "unknown preset \"nope\"");
    p.preset = "amazon-reviews";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "preset \"amazon-reviews\" has no events table");
    p.preset = NULL;
    p.map = "colour=who";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "--map: no column \"colour\" in the events table");
    p.map = "user_id";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    p.map = NULL;
    p.missing = miss;
    p.n_missing = 1;
    miss[0] = "price=fill:cheap";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "--missing price: expected a number, got \"cheap\"");
    miss[0] = "price=guess";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    miss[0] = "query=median";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "median needs a numeric column");
    p.n_missing = 0;
    p.event_map = "x=teleport";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    p.event_map = NULL;
    p.dedup_key = "user_id,colour";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
    p.dedup_key = NULL;
    p.tz = "+25:00";
    CHECK_INT(ps_clean_check_params(&p, &err), PS_ERR_USAGE);
}

/* ---- presets on the real files in ../shared/data ---- */

/* /usr/bin/python3: t = pd.read_csv('taobao/UserBehavior.csv', header=None, dtype=str);
 * len(t) = 4321, t.duplicated().sum() = 0, t[3].value_counts():
 * pv 3926, cart 190, fav 128, buy 77. */
TEST(clean_preset_taobao)
{
    if (!test_have_shared())
        return;
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_shared("data/taobao/UserBehavior.csv"));
    r.p.preset = "taobao";
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_in, 4321);
    CHECK_INT(r.s.rows_out, 4321);
    CHECK_INT(r.s.quarantined, 0);
    CHECK_CONTAINS(r.out, "user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n"
                          "1,1511544070,view,2268318,2520377,,,,,\n");
    int counts[PS_EVENT_COUNT] = {0};
    for (const char *l = strchr(r.out, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
        const char *e = strchr(strchr(l, ',') + 1, ',') + 1;
        counts[ps_event_lookup(e, (size_t)(strchr(e, ',') - e))]++;
    }
    CHECK_INT(counts[PS_EVENT_VIEW], 3926);
    CHECK_INT(counts[PS_EVENT_CART], 190);
    CHECK_INT(counts[PS_EVENT_FAV], 128);
    CHECK_INT(counts[PS_EVENT_PURCHASE], 77);
    run_release(&r);
}

/* m = pd.read_csv('tianchi-mobile/sample_user_behavior.csv', dtype=str); 1999 rows;
 * ts = datetime.strptime(time, '%Y-%m-%d %H') at UTC+8; canonical columns
 * [user_id, ts, behavior_type, item_id, item_category].duplicated().sum() = 142
 * (104 exact in the raw file; 38 more differ only in the dropped user_geohash).
 * First row 98047837, '2014-12-06 02' -> 1417802400. */
TEST(clean_preset_tianchi_mobile)
{
    if (!test_have_shared())
        return;
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_shared("data/tianchi-mobile/sample_user_behavior.csv"));
    r.p.preset = "tianchi-mobile";
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_in, 1999);
    CHECK_INT(r.s.exact_duplicates, 142);
    CHECK_INT(r.s.rows_out, 1857);
    CHECK_INT(r.s.quarantined, 0);
    CHECK_CONTAINS(r.out, "order_id\n98047837,1417802400,view,232431562,4245,,,,,\n");
    run_release(&r);
}

static int retail_inputs(struct run *r)
{
    /* the 44 daily files, in date order */
    static const char *days[] = {
        "2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05", "2010-12-06", "2010-12-07",
        "2010-12-08", "2010-12-09", "2010-12-10", "2010-12-12", "2010-12-13", "2010-12-14",
        "2010-12-15", "2010-12-16", "2010-12-17", "2010-12-19", "2010-12-20", "2010-12-21",
        "2010-12-22", "2010-12-23", "2011-01-04", "2011-01-05", "2011-01-06", "2011-01-07",
        "2011-01-09", "2011-01-10", "2011-01-11", "2011-01-12", "2011-01-13", "2011-01-14",
        "2011-01-16", "2011-01-17", "2011-01-18", "2011-01-19", "2011-01-20", "2011-01-21",
        "2011-01-23", "2011-01-24", "2011-01-25", "2011-01-26", "2011-01-27", "2011-01-28",
        "2011-01-30", "2011-01-31"};
    static char paths[44][256];
    for (int i = 0; i < 44; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "data/online-retail/%s.csv", days[i]);
        snprintf(paths[i], sizeof paths[i], "%s", test_shared(rel));
        r->in[i] = paths[i];
    }
    r->p.n_inputs = 44;
    return 44;
}

/* d = concat of the 44 files read with dtype=str, keep_default_na=False: 77628 rows;
 * CustomerID == '' in 28866 (quarantined); no negative quantity outside C
 * invoices once those are gone; canonical frame (CustomerID without '.0',
 * InvoiceDate as epoch, purchase/refund, StockCode, UnitPrice, Quantity
 * without '-', InvoiceNo).duplicated().sum() = 738, leaving 48024 rows of
 * which 1360 refunds. */
TEST(clean_preset_online_retail_events)
{
    if (!test_have_shared())
        return;
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, NULL);
    retail_inputs(&r);
    r.p.preset = "online-retail";
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_in, 77628);
    CHECK_INT(r.s.quarantined, 28866);
    CHECK_INT(reason(&r.s, "missing:user_id"), 28866);
    CHECK_INT(r.s.exact_duplicates, 738);
    CHECK_INT(r.s.rows_out, 48024);
    /* 536365,85123A,...,6,2010-12-01 08:26:00,2.55,17850.0 */
    CHECK_CONTAINS(r.out, "order_id\n17850,1291191960,purchase,85123A,,2.55,6,,,536365\n");
    /* C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0 */
    CHECK_CONTAINS(r.out, "\n14527,1291196460,refund,D,,27.5,1,,,C536379\n");
    int refunds = 0;
    for (const char *s = r.out; (s = strstr(s, ",refund,")); s++)
        refunds++;
    CHECK_INT(refunds, 1360);
    CHECK_CONTAINS(r.quar, "file,line,reason,raw\n");
    CHECK_CONTAINS(r.quar, "2010-12-01.csv,624,\"column \"\"CustomerID\"\" (user_id): missing value\","
                           "\"536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom\"\n");
    run_release(&r);
}

/* it = d[['StockCode','Description','UnitPrice']]: it.duplicated().sum() = 68652;
 * it[~dup].StockCode.duplicated().sum() = 5925; d.StockCode.nunique() = 3051. */
TEST(clean_preset_online_retail_items)
{
    if (!test_have_shared())
        return;
    struct run r;
    run_init(&r, PS_SCHEMA_ITEMS, NULL);
    retail_inputs(&r);
    r.p.preset = "online-retail";
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_in, 77628);
    CHECK_INT(r.s.exact_duplicates, 68652);
    CHECK_INT(r.s.key_duplicates, 5925);
    CHECK_INT(r.s.rows_out, 3051);
    CHECK_INT(r.s.quarantined, 0);
    CHECK_CONTAINS(r.out, "item_id,title,category,brand,price,description\n"
                          "85123A,WHITE HANGING HEART T-LIGHT HOLDER,,,2.55,\n");
    run_release(&r);
}

/* rows = [json.loads(l) for l in open(f)]; missing = reviewText absent or
 * blank; the tuples (reviewerID, reviewText, unixReviewTime, asin, overall)
 * of the others, counted for repeats:
 *   AMAZON_FASHION_5: 3176 rows, 16 missing, 89 duplicates, 3071 kept
 *   All_Beauty_5:     5269 rows,  5 missing, 1052 duplicates, 4212 kept */
TEST(clean_preset_amazon_reviews)
{
    if (!test_have_shared())
        return;
    static const struct {
        const char *file;
        long in, missing, dups, out;
    } cases[] = {{"data/reviews-en/AMAZON_FASHION_5.json", 3176, 16, 89, 3071},
                 {"data/reviews-en/All_Beauty_5.json", 5269, 5, 1052, 4212}};
    for (int i = 0; i < 2; i++) {
        struct run r;
        run_init(&r, PS_SCHEMA_TEXTS, test_shared(cases[i].file));
        r.p.preset = "amazon-reviews";
        r.p.schema_from_preset = 1;
        CHECK_INT(run_go(&r), PS_OK);
        CHECK_INT(r.s.schema, PS_SCHEMA_TEXTS);
        CHECK_INT(r.s.rows_in, cases[i].in);
        CHECK_INT(reason(&r.s, "missing:text"), cases[i].missing);
        CHECK_INT(r.s.exact_duplicates, cases[i].dups);
        CHECK_INT(r.s.rows_out, cases[i].out);
        CHECK_CONTAINS(r.out, "user_id,text,ts,kind,item_id,rating\n");
        if (i == 0) /* first line of the file */
            CHECK_CONTAINS(r.out, "\nALJ66O1Y6SLHA,Great product and price!,1441324800,review,B000K2PJ4K,5.0\n");
        run_release(&r);
    }
}

TEST(clean_texts_two_inputs_set_and_tokens)
{
    /* the same layout with columns in another order; kind from --set,
     * lower-cased; a negative rating; whitespace-only text is missing */
    static const char a[] = "user_id,text,rating,ts\nu1,\"good, really\",5,2021-01-01\nu2,\"  \",4,2021-01-01\n";
    static const char b[] = "ts,rating,user_id,text\n2021-01-02,-1,u3,bad\n1609459200,5,u1,\"good, really\"\n";
    struct run r;
    run_init(&r, PS_SCHEMA_TEXTS, test_write_file("clean_ta.csv", a, sizeof a - 1));
    r.in[1] = test_write_file("clean_tb.csv", b, sizeof b - 1);
    r.p.n_inputs = 2;
    r.p.constants = "kind=Review";
    CHECK_INT(run_go(&r), PS_OK);
    /* b's last row equals a's first once normalised: an exact duplicate across files */
    CHECK_STR(r.out, "user_id,text,ts,kind,item_id,rating\nu1,\"good, really\",1609459200,review,,5\n");
    CHECK_INT(r.s.exact_duplicates, 1);
    CHECK_INT(reason(&r.s, "missing:text"), 1);
    CHECK_INT(reason(&r.s, "negative:rating"), 1);
    CHECK_CONTAINS(r.quar, "file,line,reason,raw\n");
    CHECK_CONTAINS(r.quar, "clean_tb.csv,2,\"column \"\"rating\"\": negative value \"\"-1\"\"\",\"2021-01-02,-1,u3,bad\"\n");
    CHECK_CONTAINS(r.quar, "clean_ta.csv,3,\"column \"\"text\"\": missing value\",\"u2,\"\"  \"\",4,2021-01-01\"\n");
    run_release(&r);
}

TEST(clean_unknown_events_capped_and_dedup_none)
{
    static const char data[] = "user_id,ts,event\na,1,zz\nb,1,yy\nc,1,zz\nd,1,xx\n";
    struct run r;
    run_init(&r, PS_SCHEMA_EVENTS, test_write_file("clean_unk.csv", data, sizeof data - 1));
    r.p.max_unknown_events = 2;
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.quarantined, 4);
    CHECK_INT(r.s.n_unknown_events, 3); /* zz 2, yy 1, then (other) for xx */
    CHECK_STR(r.s.unknown_events[0].name, "yy");
    CHECK_STR(r.s.unknown_events[1].name, "zz");
    CHECK_INT(r.s.unknown_events[1].count, 2);
    CHECK_STR(r.s.unknown_events[2].name, "(other)");
    CHECK_INT(r.s.unknown_events[2].count, 1);
    run_release(&r);

    static const char items[] = "item_id,title\nx,One\nx,Two\n";
    run_init(&r, PS_SCHEMA_ITEMS, test_write_file("clean_items.csv", items, sizeof items - 1));
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.key_duplicates, 1); /* items default to one row per item_id */
    run_release(&r);
    run_init(&r, PS_SCHEMA_ITEMS, test_write_file("clean_items.csv", items, sizeof items - 1));
    r.p.dedup_key = "none";
    r.p.map = "title=title,description=title"; /* one source, two columns */
    CHECK_INT(run_go(&r), PS_OK);
    CHECK_INT(r.s.rows_out, 2);
    CHECK_STR(r.out, "item_id,title,category,brand,price,description\nx,One,,,,One\nx,Two,,,,Two\n");
    run_release(&r);
}

/* Bad-input corpus: tests/fixtures/clean/bad/NAME.csv holds one bad row on
 * line 2, NAME.err the message strict mode must give after "FILE:2: "
 * (written by hand, then checked against the run).  In lenient mode the
 * same row is the one quarantined line. */
TEST(clean_bad_input_corpus)
{
    static const char *names[] = {
        "dwell_nan", "event_unknown", "few_fields", "many_fields", "price_inf",
        "price_negative", "price_text", "quote_open", "ts_2100_leap", "ts_feb30",
        "ts_hour25", "ts_missing", "ts_words", "ts_zone", "user_blank", "utf8_bad"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char in[256], errp[256], want[PS_ERR_MSG_MAX];
        snprintf(in, sizeof in, "tests/fixtures/clean/bad/%s.csv", names[i]);
        snprintf(errp, sizeof errp, "tests/fixtures/clean/bad/%s.err", names[i]);
        char *e = test_read_file(errp, NULL);
        CHECK(e != NULL);
        if (!e)
            continue;
        e[strcspn(e, "\n")] = '\0';
        snprintf(want, sizeof want, "%s:2: %s", in, e);

        struct run r;
        run_init(&r, PS_SCHEMA_EVENTS, in);
        r.p.strict = 1;
        CHECK_INT(run_go(&r), PS_ERR_BAD_INPUT);
        CHECK_STR(r.err.msg, want);
        run_release(&r);

        run_init(&r, PS_SCHEMA_EVENTS, in);
        CHECK_INT(run_go(&r), PS_OK);
        CHECK_INT(r.s.quarantined, 1);
        CHECK_INT(r.s.rows_out, 0);
        /* the reason field, RFC 4180 quoted */
        char q[PS_ERR_MSG_MAX * 2 + 32];
        size_t k = (size_t)snprintf(q, sizeof q, "line,reason,raw\n2,\"");
        for (const char *c = e; *c; c++) {
            if (*c == '"')
                q[k++] = '"';
            q[k++] = *c;
        }
        q[k++] = '"';
        q[k++] = ',';
        q[k] = '\0';
        CHECK(r.quar && strncmp(r.quar, q, k) == 0);
        run_release(&r);
        free(e);
    }
}
