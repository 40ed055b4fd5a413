/* test_config.c - the `persona run` config parser (config.h). */
#include "test.h"
#include "persona/config.h"

static const char *const KNOWN[] = {"run", "segment", "input.events", NULL};

TEST(config_parses_values_comments_and_quotes)
{
    const char *text =
        "\xEF\xBB\xBF# comment\n"
        "[run]   # trailing comment\n"
        "workspace = ws dir   # comment after a value\n"
        "threads=4\r\n"
        "; another comment\n"
        "[segment]\n"
        "k = 6\n"
        "scale = standard\n"
        "lang = \"en # not a comment\"\n"
        "weight = 0.5\n"
        "on = yes\n"
        "hash = a#b\n"
        "[input.events]\n"
        "path = e.csv\n";
    struct ps_config *c;
    struct ps_err err = {0};
    CHECK_INT(ps_config_parse(&c, "dir/x.conf", text, &err), PS_OK);
    if (!c)
        return;
    CHECK_STR(ps_config_dir(c), "dir");
    CHECK_STR(ps_config_get(c, "run", "workspace"), "ws dir");
    long t = 0, k = 0;
    CHECK_INT(ps_config_long(c, "run", "threads", 0, 64, &t, &err), PS_OK);
    CHECK_INT(t, 4);
    CHECK_INT(ps_config_long(c, "segment", "k", 0, 64, &k, &err), PS_OK);
    CHECK_INT(k, 6);
    static const char *const kinds[] = {"none", "standard", "robust", NULL};
    int kind = -1, on = 0;
    CHECK_INT(ps_config_choice(c, "segment", "scale", kinds, &kind, &err), PS_OK);
    CHECK_INT(kind, 1);
    CHECK_STR(ps_config_get(c, "segment", "lang"), "en # not a comment");
    double w = 0;
    CHECK_INT(ps_config_double(c, "segment", "weight", 0, 1, &w, &err), PS_OK);
    CHECK_NEAR(w, 0.5, 0);
    CHECK_INT(ps_config_bool(c, "segment", "on", &on, &err), PS_OK);
    CHECK_INT(on, 1);
    CHECK_STR(ps_config_get(c, "segment", "hash"), "a#b");
    long absent = 17;
    CHECK_INT(ps_config_long(c, "segment", "absent", 0, 100, &absent, &err), PS_OK);
    CHECK_INT(absent, 17);
    /* input.events path unread yet: reported with its line. */
    CHECK_INT(ps_config_check_unused(c, KNOWN, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "dir/x.conf:14: unknown key \"path\" in section [input.events]");
    ps_config_get(c, "input.events", "path");
    CHECK_INT(ps_config_check_unused(c, KNOWN, &err), PS_OK);
    /* The section hash changes with a value. */
    struct ps_config *c2;
    CHECK_INT(ps_config_parse(&c2, "y.conf", "[segment]\nk = 7\n", &err), PS_OK);
    struct ps_config *c3;
    CHECK_INT(ps_config_parse(&c3, "z.conf", "[segment]\nk = 7 # same\n", &err), PS_OK);
    CHECK(ps_config_section_hash(c2, "segment") == ps_config_section_hash(c3, "segment"));
    CHECK(ps_config_section_hash(c, "segment") != ps_config_section_hash(c2, "segment"));
    ps_config_free(c2);
    ps_config_free(c3);
    ps_config_free(c);
}

TEST(config_bad_input_messages)
{
    static const struct { const char *text, *msg; } cases[] = {
        {"k = 1\n", "t.conf:1: key \"k\" before any [section]"},
        {"[run\n", "t.conf:1: expected \"[section]\", got \"[run\""},
        {"[run] x\n", "t.conf:1: expected \"[section]\", got \"[run] x\""},
        {"[run]\nthreads\n", "t.conf:2: expected \"key = value\", got \"threads\""},
        {"[run]\na = 1\na = 2\n", "t.conf:3: key \"a\" repeated in [run] (first at line 2)"},
        {"[run]\n[run]\n", "t.conf:2: section [run] repeated (first at line 1)"},
        {"[ru n]\n", "t.conf:1: bad section name \"ru n\""},
        {"[run]\na b = 1\n", "t.conf:2: bad key \"a b\""},
        {"[run]\na = \"x\n", "t.conf:2: key \"a\": unterminated quote"},
        {"[run]\na = \"x\" y\n", "t.conf:2: key \"a\": text after the closing quote"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ps_config *c = (struct ps_config *)1;
        struct ps_err err = {0};
        CHECK_INT(ps_config_parse(&c, "t.conf", cases[i].text, &err), PS_ERR_BAD_INPUT);
        CHECK(c == NULL);
        CHECK_STR(err.msg, cases[i].msg);
    }
    struct ps_config *c;
    struct ps_err err = {0};
    CHECK_INT(ps_config_parse(&c, "t.conf", "[segment]\nk = six\nn = 300\nb = maybe\nx = 1e999\n"
                              "s = fancy\n[other]\n", &err), PS_OK);
    long k = 0;
    double x = 0;
    int b = 0, s = 0;
    static const char *const kinds[] = {"standard", "robust", NULL};
    CHECK_INT(ps_config_long(c, "segment", "k", 0, 64, &k, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:2: [segment] k: expected an integer, got \"six\"");
    CHECK_INT(ps_config_long(c, "segment", "n", 0, 64, &k, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:3: [segment] n: 300 is out of range 0..64");
    CHECK_INT(ps_config_bool(c, "segment", "b", &b, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:4: [segment] b: expected true or false, got \"maybe\"");
    CHECK_INT(ps_config_double(c, "segment", "x", 0, 1, &x, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:5: [segment] x: expected a number, got \"1e999\"");
    CHECK_INT(ps_config_choice(c, "segment", "s", kinds, &s, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:6: [segment] s: \"fancy\" is not one of standard, robust");
    CHECK_INT(ps_config_check_unused(c, KNOWN, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "t.conf:7: unknown section [other]");
    ps_config_free(c);
    CHECK_INT(ps_config_load(&c, "/nonexistent/p.conf", &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot open \"/nonexistent/p.conf\"");
}

TEST(config_raw_tags_section_keeps_lines)
{
    const char *text =
        "[run]\n"
        "seed = 1\n"
        "[tags]\n"
        "# comment stays\n"
        "churn_risk = recency_days > 60 and frequency >= 3\n"
        "phone_fan = top_category_1 in (\"手机\", \"#1\")\n"
        "night = (share_night > 0.3\n"
        "         or weekend_share > 0.5)\n"
        "[segment]\n"
        "k = 3\n";
    struct ps_config *c;
    struct ps_err err = {0};
    CHECK_INT(ps_config_parse(&c, "t.conf", text, &err), PS_OK);
    if (!c)
        return;
    CHECK_STR(ps_config_raw(c, "tags"),
              "\n\n\n# comment stays\nchurn_risk = recency_days > 60 and frequency >= 3\n"
              "phone_fan = top_category_1 in (\"手机\", \"#1\")\nnight = (share_night > 0.3\n"
              "         or weekend_share > 0.5)\n\n\n");
    CHECK(ps_config_raw(c, "run") == NULL);
    CHECK_STR(ps_config_get(c, "segment", "k"), "3");
    ps_config_get(c, "run", "seed");
    static const char *const known[] = {"run", "tags", "segment", NULL};
    CHECK_INT(ps_config_check_unused(c, known, &err), PS_OK);
    ps_config_free(c);
    CHECK_INT(ps_config_parse(&c, "t.conf", "[run]\n", &err), PS_OK);
    CHECK(ps_config_raw(c, "tags") == NULL);
    ps_config_free(c);
}
