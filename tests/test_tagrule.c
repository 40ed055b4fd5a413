/*
 * test_tagrule.c - tag rules: precedence, every operator, missing values,
 * strings (Chinese included), membership, population statistics against
 * numpy (tests/fixtures/tagrule/percentile*.csv, written by
 * make_fixtures.py), every error message with its exact line:col, and
 * hostile input (deep nesting, huge literals, invalid UTF-8).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/tagrule.h"
#include "test.h"

/* ---- the test table ----------------------------------------------------- */

#define NR 8
static const double col_rec[NR] = { 10, 70, 90, NAN, 61, 30, 60, 100 };
static const double col_freq[NR] = { 5, 3, 1, 0, 4, 2, 3, 10 };
static const double col_spend[NR] = { 1000, 200, 50, 0, NAN, 300, 500, 5000 };
static const char *const col_cat[NR] = { "手机", "平板", "电脑", NULL, "", "手机", "book", "平板" };
static const char *const col_name[NR] = { "alice", "bob", "carol", "dave", "eve",
                                          "法兰克", "", "hank" };
static const char *const col_city[NR] = { "北京", "上海", "北京", "深圳", "上海", "北京",
                                          "广州", "深圳" };
static const double col_oc[NR] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static const char *const names[] = { "recency_days", "frequency", "total_spend",
                                     "top_category_1", "name", "城市", "order count" };
static const double *const nums[] = { col_rec, col_freq, col_spend, NULL, NULL, NULL, col_oc };
static const char *const *const strs[] = { NULL, NULL, NULL, col_cat, col_name, col_city, NULL };

static struct ps_table_view view(void)
{
    struct ps_table_view t = { .n_rows = NR, .n_cols = 7, .names = names, .num = nums,
                               .str = strs };
    return t;
}

/* Parses and evaluates src on the test table; returns the rule-major
 * matrix (caller frees) or NULL with the message in err. */
static uint8_t *eval_src(const char *src, int *n_rules, struct ps_err *err)
{
    struct ps_tagrules *rs = NULL;
    struct ps_table_view t = view();
    if (ps_tagrules_parse(src, strlen(src), "tags.rules", &rs, err) != PS_OK) return NULL;
    *n_rules = ps_tagrules_count(rs);
    uint8_t *out = ps_xmalloc((size_t)*n_rules * NR + 1);
    if (ps_tagrules_eval(rs, &t, out, err) != PS_OK) { free(out); out = NULL; }
    ps_tagrules_free(rs);
    return out;
}

/* Checks rule i of src against a string of '0'/'1' per row. */
static void check_rows(const char *src, const char *const *want, int n_want)
{
    struct ps_err err = {0};
    int n = 0;
    uint8_t *out = eval_src(src, &n, &err);
    if (!out) { fprintf(stderr, "  error: %s\n", err.msg); CHECK(out != NULL); return; }
    CHECK_INT(n, n_want);
    for (int i = 0; i < n && i < n_want; i++) {
        char got[NR + 1];
        for (int r = 0; r < NR; r++) got[r] = (char)('0' + out[(size_t)i * NR + r]);
        got[NR] = '\0';
        if (strcmp(got, want[i]) != 0) fprintf(stderr, "  rule %d:\n", i);
        CHECK_STR(got, want[i]);
    }
    free(out);
}

/* The error message (static) of parsing + evaluating src; "" when none. */
static const char *err_of(const char *src, size_t len, int *status)
{
    static struct ps_err err;
    struct ps_tagrules *rs = NULL;
    struct ps_table_view t = view();
    memset(&err, 0, sizeof err);
    *status = ps_tagrules_parse(src, len, "tags.rules", &rs, &err);
    if (*status == PS_OK) {
        CHECK(rs != NULL);
        uint8_t out[NR * 4];
        if (ps_tagrules_count(rs) <= 4) *status = ps_tagrules_eval(rs, &t, out, &err);
        ps_tagrules_free(rs);
    } else {
        CHECK(rs == NULL);
    }
    return *status == PS_OK ? "" : err.msg;
}

#define CHECK_ERR(src, want_status, want_msg) do { int st_;                      \
    const char *m_ = err_of((src), strlen(src), &st_);                            \
    CHECK_INT(st_, (want_status)); CHECK_STR(m_, (want_msg)); } while (0)

/* ---- semantics ---------------------------------------------------------- */

TEST(tagrule_example_churn_risk)
{
    const char *w[] = { "01001001" };
    check_rows("churn_risk = recency_days > 60 and frequency >= 3", w, 1);
}

TEST(tagrule_precedence)
{
    const char *ok =
        "a = 1 + 2 * 3 == 7\n"
        "b = (1 + 2) * 3 == 9\n"
        "c = 10 - 4 - 3 == 3\n"
        "d = 2 * 3 / 4 == 1.5\n"
        "e = -2 * -3 == 6\n"
        "f = true or false and false\n"
        "g = not false and false\n"
        "h = not 1 > 2\n"
        "i = - - 3 == 3 and +3 == 3\n"
        "j = 8 / 2 / 2 == 2\n"
        "k = (1 + 2 > 2) == true\n"
        "l = (true or false) and false\n"
        "m = not not true\n"
        "n = 2 - -1 == 3 and 1.5e2 == 150 and .5 == 0.5\n";
    const char *w[] = { "11111111", "11111111", "11111111", "11111111", "11111111",
                        "11111111", "00000000", "11111111", "11111111", "11111111",
                        "11111111", "00000000", "11111111", "11111111" };
    check_rows(ok, w, 14);
    CHECK_ERR("k = 1 + 2 > 2 == true", PS_ERR_BAD_INPUT,
              "tags.rules:1:15: comparisons cannot be chained; use 'and'");
}

TEST(tagrule_comparisons_and_missing)
{
    const char *src =
        "lt = recency_days < 61\n"
        "le = recency_days <= 61\n"
        "gt = recency_days > 61\n"
        "ge = recency_days >= 61\n"
        "eq = recency_days == 60\n"
        "ne = recency_days != 60\n"      /* missing: false, not true */
        "nt = not (recency_days > 60)\n" /* not just negates: missing -> true */
        "ms = missing(recency_days)\n"
        "or_missing = recency_days > 80 or total_spend > 400\n";
    const char *w[] = { "10000110", "10001110", "01100001", "01101001", "00000010",
                        "11101101", "10010110", "00010000", "10100011" };
    check_rows(src, w, 9);
}

TEST(tagrule_arithmetic_missing)
{
    const char *src =
        "per_order = total_spend / frequency > 100\n"   /* 0/0 and NaN rows false */
        "dz = missing(total_spend / frequency)\n"
        "dz0 = missing(1 / (frequency - frequency))\n"  /* x / 0 is missing */
        "sum = recency_days + frequency == 73\n"
        "mul = frequency * 2 - 1 == 5\n"
        "neg = -total_spend < -400\n"
        "nan_prop = missing(total_spend * 0)\n";
    const char *w[] = { "10000111", "00011000", "11111111", "01000000", "01000010",
                        "10000011", "00001000" };
    check_rows(src, w, 7);
}

TEST(tagrule_strings_and_membership)
{
    const char *src =
        "s1 = top_category_1 == \"手机\"\n"
        "s2 = top_category_1 != \"手机\"\n"                 /* missing rows false */
        "s3 = top_category_1 in (\"手机\", \"平板\")\n"
        "s4 = top_category_1 not in (\"手机\", \"平板\",)\n" /* trailing comma */
        "s5 = missing(top_category_1)\n"                   /* NULL and "" */
        "s6 = name < \"bob\"\n"                            /* byte order */
        "s7 = name == \"\\u6cd5\\u5170\\u514b\"\n"          /* escapes = 法兰克 */
        "s8 = name == 'carol' or name >= \"法\"\n"
        "s9 = \"a\\\"b\\\\\" == 'a\"b\\\\' and 'it\\'s' == \"it's\" and \"\\u{1F600}\" == \"😀\"\n"
        "n1 = frequency in (1, 3, -2)\n"
        "n2 = recency_days not in (10, 70)\n"               /* missing: false */
        "n3 = frequency in (+4.0, 1e1)\n"
        "cn = 城市 == \"北京\" and `order count` > 1\n"
        "tab = \"a\\tb\\n\" != \"a b \"\n";
    const char *w[] = { "10000100", "01100011", "11000101", "00100010", "00011000",
                        "10000000", "00000100", "00100100", "11111111", "01100010",
                        "00101111", "00001001", "00100100", "11111111" };
    check_rows(src, w, 14);
}

TEST(tagrule_rule_references)
{
    /* A rule can use the result of any rule above it; a column of the
     * same name wins over a rule. */
    const char *src =
        "churn_risk = recency_days > 60 and frequency >= 3\n"
        "phone = top_category_1 in (\"手机\", \"平板\")\n"
        "phone_churn = churn_risk and phone\n"
        "either = not churn_risk or phone == true\n"
        "frequency = total_spend > 400\n"           /* a rule named like a column */
        "uses_column = frequency >= 10\n";          /* ... the column is used */
    const char *w[] = { "01001001", "11000101", "01000001", "11110111", "10000011",
                        "00000001" };
    check_rows(src, w, 6);
}

TEST(tagrule_chinese_rule_names_and_layout)
{
    /* Comments, blank lines, CRLF, a BOM, continuation lines (backslash and
     * open parentheses), Chinese rule names. */
    const char *src =
        "\xEF\xBB\xBF# tags for the demo shop\r\n"
        "\r\n"
        "高价值 = total_spend >= 1000   # big spenders\r\n"
        "multi = frequency > 1 \\\n"
        "    and recency_days < 65\n"
        "paren = (frequency > 3\n"
        "         or\n"
        "         frequency < 2)\n"
        "in_list = top_category_1 in (\n"
        "    \"手机\",  # phones\n"
        "    \"平板\"\n"
        ")\n";
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tagrules_parse(src, strlen(src), "tags.rules", &rs, &err), PS_OK);
    CHECK_INT(ps_tagrules_count(rs), 4);
    CHECK_STR(ps_tagrules_name(rs, 0), "高价值");
    CHECK_STR(ps_tagrules_name(rs, 3), "in_list");
    CHECK(ps_tagrules_name(rs, 4) == NULL);
    CHECK_INT(ps_tagrules_find(rs, "paren"), 2);
    CHECK_INT(ps_tagrules_find(rs, "nope"), -1);
    CHECK_INT(ps_tagrules_line(rs, 0), 3);
    CHECK_INT(ps_tagrules_line(rs, 1), 4);
    CHECK_INT(ps_tagrules_line(rs, 2), 6);
    CHECK_INT(ps_tagrules_line(rs, 3), 9);
    ps_tagrules_free(rs);
    const char *w[] = { "10000001", "10001110", "10111001", "11000101" };
    check_rows(src, w, 4);
    /* An empty file and a comment-only file are zero rules. */
    CHECK_INT(ps_tagrules_parse("", 0, NULL, &rs, &err), PS_OK);
    CHECK_INT(ps_tagrules_count(rs), 0);
    ps_tagrules_free(rs);
    CHECK_INT(ps_tagrules_parse("# x\n\n  # y", 11, NULL, &rs, &err), PS_OK);
    CHECK_INT(ps_tagrules_count(rs), 0);
    ps_tagrules_free(rs);
    ps_tagrules_free(NULL);
}

/* ---- statistics against numpy ------------------------------------------- */

struct pct_row { int set; double q, v; };

static double csv_num(char **p)
{
    char *s = *p, *e = strchr(s, ',');
    if (!e) e = s + strcspn(s, "\r\n");
    double v = e == s ? NAN : strtod(s, NULL);
    *p = *e == ',' ? e + 1 : e;
    return v;
}

static double *load_set(int set, size_t *n)
{
    FILE *fp = fopen("tests/fixtures/tagrule/percentile_data.csv", "r");
    CHECK(fp != NULL);
    double *x = NULL;
    size_t cap = 0, len = 0;
    char line[256];
    if (fp && fgets(line, sizeof line, fp)) {
        while (fgets(line, sizeof line, fp)) {
            char *p = line;
            if ((int)csv_num(&p) != set) continue;
            x = ps_xgrow(x, &cap, len + 1, sizeof *x);
            x[len++] = csv_num(&p);
        }
    }
    if (fp) fclose(fp);
    *n = len;
    return x;
}

TEST(tagrule_percentiles_match_numpy)
{
    FILE *fp = fopen("tests/fixtures/tagrule/percentile.csv", "r");
    CHECK(fp != NULL);
    if (!fp) return;
    char line[256];
    CHECK(fgets(line, sizeof line, fp) != NULL);
    int n_checked = 0, n_rule_checked = 0;
    while (fgets(line, sizeof line, fp)) {
        char *p = line;
        int set = (int)csv_num(&p);
        double q = csv_num(&p), want = csv_num(&p);
        size_t n;
        double *x = load_set(set, &n);
        CHECK(n > 0);
        /* Through a rule: |stat(x) - numpy| tiny on every row. */
        char src[256], fn[64];
        if (q == -1) snprintf(fn, sizeof fn, "mean(x)");
        else if (q == -2) snprintf(fn, sizeof fn, "median(x)");
        else if (q == floor(q)) snprintf(fn, sizeof fn, "p%d(x)", (int)q);
        else snprintf(fn, sizeof fn, "percentile(x, %.17g)", q);
        double tol = 1e-12 * fmax(1.0, fabs(want));
        snprintf(src, sizeof src, "ok = %s - %.17g <= %.17g and %s - %.17g >= -%.17g", fn,
                 want, tol, fn, want, tol);
        const char *cn[] = { "x" };
        const double *cv[] = { x };
        struct ps_table_view t = { .n_rows = n, .n_cols = 1, .names = cn, .num = cv };
        struct ps_tagrules *rs = NULL;
        struct ps_err err = {0};
        CHECK_INT(ps_tagrules_parse(src, strlen(src), NULL, &rs, &err), PS_OK);
        uint8_t *out = ps_xmalloc(n);
        CHECK_INT(ps_tagrules_eval(rs, &t, out, &err), PS_OK);
        size_t n_ok = 0;
        for (size_t i = 0; i < n; i++) n_ok += out[i];
        if (n_ok != n) fprintf(stderr, "  set %d %s: numpy %.17g\n", set, fn, want);
        CHECK_INT(n_ok, n);
        n_rule_checked++;
        free(out);
        ps_tagrules_free(rs);
        if (q >= 0) {
            CHECK_REL(ps_tagrules_percentile(x, n, q), want, 1e-14);
            n_checked++;
        }
        free(x);
    }
    fclose(fp);
    CHECK_INT(n_checked, 5 * 13);
    CHECK_INT(n_rule_checked, 5 * 15);
    double one = 1;
    CHECK(isnan(ps_tagrules_percentile(&one, 1, 101)));
    CHECK(isnan(ps_tagrules_percentile(&one, 1, -1)));
    CHECK(isnan(ps_tagrules_percentile(NULL, 0, 50)));
}

TEST(tagrule_stats_on_table)
{
    /* Hand-computed: total_spend without the NaN = {0, 50, 200, 300, 500,
     * 1000, 5000}: min 0, max 5000, median 300, mean 7050 / 7, p90 at
     * position 5.4 = 1000 + 0.4 * 4000 = 2600 (numpy: 2600.0000000000014,
     * as 6 * 0.9 rounds up, so e compares with a tolerance). */
    const char *src =
        "a = total_spend >= p90(total_spend)\n"
        "b = total_spend == max(total_spend) or total_spend == min(total_spend)\n"
        "c = total_spend > median(total_spend)\n"
        "d = total_spend > mean(total_spend)\n"
        "e = p90(total_spend) > 2599.999 and p90(total_spend) < 2600.001 \\\n"
        "    and percentile(total_spend, 50) == 300\n"
        "f = p0(frequency) == 0 and p100(frequency) == 10 and p50(frequency) == 3\n";
    const char *w[] = { "00000001", "00010001", "10000011", "00000001", "11111111",
                        "11111111" };
    check_rows(src, w, 6);
    /* An all-missing column: every statistic is missing, comparisons false. */
    double allnan[3] = { NAN, NAN, NAN };
    const char *cn[] = { "x" };
    const double *cv[] = { allnan };
    struct ps_table_view t = { .n_rows = 3, .n_cols = 1, .names = cn, .num = cv };
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    const char *s2 = "a = p50(x) <= 0 or p50(x) > 0\nb = missing(mean(x) + max(x))\n";
    CHECK_INT(ps_tagrules_parse(s2, strlen(s2), NULL, &rs, &err), PS_OK);
    uint8_t out[6];
    CHECK_INT(ps_tagrules_eval(rs, &t, out, &err), PS_OK);
    CHECK(memcmp(out, "\0\0\0\1\1\1", 6) == 0);
    ps_tagrules_free(rs);
}

TEST(tagrule_many_rows_chunks)
{
    /* More rows than one evaluation chunk: values 0..4999. */
    size_t n = 5000;
    double *v = ps_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (double)i;
    const char *cn[] = { "v" };
    const double *cv[] = { v };
    struct ps_table_view t = { .n_rows = n, .n_cols = 1, .names = cn, .num = cv };
    const char *src = "a = v > 2500\nb = v > p50(v)\nc = v * 2 in (4094, 4096, 4098)\n";
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tagrules_parse(src, strlen(src), NULL, &rs, &err), PS_OK);
    uint8_t *out = ps_xmalloc(3 * n);
    CHECK_INT(ps_tagrules_eval(rs, &t, out, &err), PS_OK);
    size_t cnt[3] = {0};
    for (int r = 0; r < 3; r++)
        for (size_t i = 0; i < n; i++) cnt[r] += out[r * n + i];
    CHECK_INT(cnt[0], 2499);
    CHECK_INT(cnt[1], 2500);          /* p50 = 2499.5 (numpy) */
    CHECK_INT(cnt[2], 3);
    CHECK_INT(out[2 * n + 2047], 1);
    CHECK_INT(out[2 * n + 2048], 1);
    CHECK_INT(out[2 * n + 2049], 1);
    CHECK_INT(out[2 * n + 2050], 0);
    free(out);
    free(v);
    ps_tagrules_free(rs);
}

/* ---- errors ------------------------------------------------------------- */

TEST(tagrule_syntax_errors)
{
    CHECK_ERR("a = (recency_days > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:22: expected ')' to close '(' at 1:5, got end of file");
    CHECK_ERR("# header\nok = frequency > 1\nbig = total_spend > p90(total_spend x\n",
              PS_ERR_BAD_INPUT,
              "tags.rules:3:37: expected ')' after arguments, got 'x'");
    CHECK_ERR("a = top_category_1 == \"手机\" @", PS_ERR_BAD_INPUT,
              "tags.rules:1:28: unexpected character '@'");
    CHECK_ERR("a = frequency > 1 > 0", PS_ERR_BAD_INPUT,
              "tags.rules:1:19: comparisons cannot be chained; use 'and'");
    CHECK_ERR("a = x = 1", PS_ERR_BAD_INPUT, "tags.rules:1:7: unexpected '='; use '==' to compare");
    CHECK_ERR("a = x && y", PS_ERR_BAD_INPUT, "tags.rules:1:7: unexpected '&'; use 'and'");
    CHECK_ERR("a = x || y", PS_ERR_BAD_INPUT, "tags.rules:1:7: unexpected '|'; use 'or'");
    CHECK_ERR("a = !x", PS_ERR_BAD_INPUT, "tags.rules:1:5: unexpected '!'; use 'not' or '!='");
    CHECK_ERR("a = \"abc", PS_ERR_BAD_INPUT, "tags.rules:1:5: unterminated string");
    CHECK_ERR("a = \"abc\nb = 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: unterminated string");
    CHECK_ERR("a = name == \"\\q\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: unknown escape sequence '\\q'");
    CHECK_ERR("a = name == \"\\手\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: unknown escape sequence '\\手'");
    CHECK_ERR("a = name == \"\\uD800\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: invalid code point U+D800 in escape");
    CHECK_ERR("a = name == \"\\u0000\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: invalid code point U+0000 in escape");
    CHECK_ERR("a = name == \"\\u{110000}\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: invalid code point U+110000 in escape");
    CHECK_ERR("a = name == \"\\u12\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: invalid escape: expected 4 hex digits after '\\u'");
    CHECK_ERR("a = name == \"\\u{1234567}\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: invalid escape: expected 1 to 6 hex digits and '}' after '\\u'");
    CHECK_ERR("a = foo(x) > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: unknown function 'foo'");
    CHECK_ERR("a = p101(x) > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: unknown function 'p101'");
    CHECK_ERR("a = p05(x) > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: unknown function 'p05'");
    CHECK_ERR("a = p90(\"x\") > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:9: expected a field name as the argument of 'p90', got string \"x\"");
    CHECK_ERR("a = percentile(x, 101) > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:19: expected a percentage from 0 to 100, got '101'");
    CHECK_ERR("a = percentile(x) > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:17: expected ',' and a percentage after the field of 'percentile'");
    CHECK_ERR("a = x in ()", PS_ERR_BAD_INPUT, "tags.rules:1:10: empty list after 'in'");
    CHECK_ERR("a = x in (1, y)", PS_ERR_BAD_INPUT,
              "tags.rules:1:14: expected a number or string in the list, got 'y'");
    CHECK_ERR("a = x in (1 2)", PS_ERR_BAD_INPUT,
              "tags.rules:1:13: expected ',' or ')' in the list, got '2'");
    CHECK_ERR("a = x in 1", PS_ERR_BAD_INPUT, "tags.rules:1:10: expected '(' after 'in', got '1'");
    CHECK_ERR("a = x not 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:11: expected 'in' after 'not', got '1'");
    CHECK_ERR("= x > 1", PS_ERR_BAD_INPUT, "tags.rules:1:1: expected a rule name, got '='");
    CHECK_ERR("a x > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:3: expected '=' after rule name \"a\", got 'x'");
    CHECK_ERR("and = x > 1", PS_ERR_BAD_INPUT, "tags.rules:1:1: rule name 'and' is a keyword");
    CHECK_ERR("a = x > 1\n\na = x < 1", PS_ERR_BAD_INPUT,
              "tags.rules:3:1: duplicate rule \"a\" (first defined on line 1)");
    CHECK_ERR("a = x >", PS_ERR_BAD_INPUT, "tags.rules:1:8: expected an expression, got end of file");
    CHECK_ERR("a = x >\nb = 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:8: expected an expression, got end of line");
    CHECK_ERR("a = x > or", PS_ERR_BAD_INPUT, "tags.rules:1:9: expected an expression, got 'or'");
    CHECK_ERR("a = x > 1)", PS_ERR_BAD_INPUT, "tags.rules:1:10: unmatched ')'");
    CHECK_ERR("a = x > 1 y", PS_ERR_BAD_INPUT,
              "tags.rules:1:11: expected an operator or end of rule, got 'y'");
    CHECK_ERR("a = 12abc > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: invalid number '12abc'");
    CHECK_ERR("a = 1.2.3 > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: invalid number '1.2.3'");
    CHECK_ERR("a = 1e > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: invalid number '1e'");
    CHECK_ERR("a = 1e999 > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: number '1e999' out of range");
    CHECK_ERR("a = （x > 1)", PS_ERR_BAD_INPUT, "tags.rules:1:5: unexpected character '（'");
    CHECK_ERR("a = `x > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: unterminated quoted name");
    CHECK_ERR("a = `` > 1", PS_ERR_BAD_INPUT, "tags.rules:1:5: empty quoted name");
    {
        int st;
        const char *m = err_of("a = x\0 > 1", 10, &st);
        CHECK_INT(st, PS_ERR_BAD_INPUT);
        CHECK_STR(m, "tags.rules:1:6: unexpected control character 0x00");
    }
}

TEST(tagrule_bind_errors)
{
    CHECK_ERR("churn = recency > 60", PS_ERR_BAD_INPUT,
              "tags.rules:1:9: unknown field \"recency\" in rule \"churn\"; "
              "did you mean \"recency_days\"?");
    CHECK_ERR("a = frequncy > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: unknown field \"frequncy\" in rule \"a\"; "
              "did you mean \"frequency\"?");
    CHECK_ERR("a = zzz > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: unknown field \"zzz\" in rule \"a\"");
    CHECK_ERR("a = 城 == \"x\"", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: unknown field \"城\" in rule \"a\"; did you mean \"城市\"?");
    CHECK_ERR("a = b and frequency > 2\nb = frequency > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: rule \"b\" is not defined above this line (rules can use only "
              "earlier rules) in rule \"a\"");
    CHECK_ERR("a = a or frequency > 2", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: rule \"a\" is not defined above this line (rules can use only "
              "earlier rules) in rule \"a\"");
    CHECK_ERR("a = frequency > 1\nb = a + 1 > 0", PS_ERR_BAD_INPUT,
              "tags.rules:2:7: '+' needs numbers, got a condition in rule \"b\"");
    CHECK_ERR("a = top_category_1 > 3", PS_ERR_BAD_INPUT,
              "tags.rules:1:20: cannot compare a string with a number in rule \"a\"");
    CHECK_ERR("a = frequency + 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: rule \"a\" is a number; expected a condition");
    CHECK_ERR("a = name", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: rule \"a\" is a string; expected a condition");
    CHECK_ERR("a = frequency and true", PS_ERR_BAD_INPUT,
              "tags.rules:1:15: 'and' needs conditions, got a number in rule \"a\"");
    CHECK_ERR("a = true or name", PS_ERR_BAD_INPUT,
              "tags.rules:1:10: 'or' needs conditions, got a string in rule \"a\"");
    CHECK_ERR("a = not frequency", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: 'not' needs a condition, got a number in rule \"a\"");
    CHECK_ERR("a = top_category_1 + 1 > 0", PS_ERR_BAD_INPUT,
              "tags.rules:1:20: '+' needs numbers, got a string in rule \"a\"");
    CHECK_ERR("a = -name == 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: unary '-' needs a number, got a string in rule \"a\"");
    CHECK_ERR("a = (1 > 0) < true", PS_ERR_BAD_INPUT,
              "tags.rules:1:13: '<' cannot order conditions in rule \"a\"");
    CHECK_ERR("a = p90(top_category_1) > 1", PS_ERR_BAD_INPUT,
              "tags.rules:1:9: field \"top_category_1\" is text; statistics need a numeric "
              "field in rule \"a\"");
    CHECK_ERR("a = top_category_1 in (\"x\", 2)", PS_ERR_BAD_INPUT,
              "tags.rules:1:29: list item is a number but the value tested is a string in "
              "rule \"a\"");
    CHECK_ERR("a = (1 > 0) in (1)", PS_ERR_BAD_INPUT,
              "tags.rules:1:13: 'in' needs a number or a string, got a condition in rule \"a\"");
    CHECK_ERR("a = missing(1 > 0)", PS_ERR_BAD_INPUT,
              "tags.rules:1:5: 'missing' needs a number or a string, got a condition in rule \"a\"");

    /* ps_tagrules_bind checks without rows; bad views are usage errors. */
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    const char *src = "a = frequency > 1 and name == \"bob\"";
    CHECK_INT(ps_tagrules_parse(src, strlen(src), "t.rules", &rs, &err), PS_OK);
    struct ps_table_view t = view();
    t.n_rows = 0;
    CHECK_INT(ps_tagrules_bind(rs, &t, &err), PS_OK);
    CHECK_INT(ps_tagrules_eval(rs, &t, NULL, &err), PS_OK);
    const double *both_num[] = { col_freq, col_freq };
    const char *const *both_str[] = { NULL, col_name };
    const char *bn[] = { "frequency", "name" };
    struct ps_table_view bad = { .n_rows = NR, .n_cols = 2, .names = bn, .num = both_num,
                                 .str = both_str };
    CHECK_INT(ps_tagrules_bind(rs, &bad, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "tag rules: column \"name\" must be numeric or text (exactly one)");
    const double *none_num[] = { col_freq, NULL };
    bad.num = none_num;
    bad.str = NULL;
    CHECK_INT(ps_tagrules_bind(rs, &bad, &err), PS_ERR_USAGE);
    CHECK_STR(err.msg, "tag rules: column \"name\" must be numeric or text (exactly one)");
    ps_tagrules_free(rs);
}

TEST(tagrule_hostile_input)
{
    struct ps_buf b;
    ps_buf_init(&b);
    int st;
    /* 100 nested parentheses: the 65th is too deep (column 4 + 65). */
    ps_buf_printf(&b, "a = ");
    for (int i = 0; i < 100; i++) ps_buf_putc(&b, '(');
    ps_buf_printf(&b, "x");
    for (int i = 0; i < 100; i++) ps_buf_putc(&b, ')');
    CHECK_STR(err_of(b.data, b.len, &st),
              "tags.rules:1:69: expression nested too deeply (limit 64)");
    CHECK_INT(st, PS_ERR_TOO_BIG);
    /* 64 is fine. */
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = ");
    for (int i = 0; i < 64; i++) ps_buf_putc(&b, '(');
    ps_buf_printf(&b, "frequency > 1");
    for (int i = 0; i < 64; i++) ps_buf_putc(&b, ')');
    CHECK_STR(err_of(b.data, b.len, &st), "");
    /* not not not ... and - - - ... count as nesting too. */
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = ");
    for (int i = 0; i < 10000; i++) ps_buf_printf(&b, "not ");
    ps_buf_printf(&b, "true");
    CHECK_STR(err_of(b.data, b.len, &st),
              "tags.rules:1:261: expression nested too deeply (limit 64)");
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = ");
    for (int i = 0; i < 100000; i++) ps_buf_putc(&b, '-');
    ps_buf_printf(&b, "1 > 0");
    CHECK_STR(err_of(b.data, b.len, &st),
              "tags.rules:1:69: expression nested too deeply (limit 64)");
    /* A long flat chain is bounded by the AST height (256). */
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = frequency > 0");
    for (int i = 0; i < 300; i++) ps_buf_printf(&b, " or frequency > %d", i);
    CHECK_CONTAINS(err_of(b.data, b.len, &st),
                   "expression too long (more than 256 nested operations)");
    CHECK_INT(st, PS_ERR_TOO_BIG);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = frequency > 0");
    for (int i = 0; i < 200; i++) ps_buf_printf(&b, " or frequency > %d", i);
    CHECK_STR(err_of(b.data, b.len, &st), "");
    /* Huge literals. */
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = 1");
    for (int i = 0; i < 100; i++) ps_buf_putc(&b, '0');
    ps_buf_printf(&b, " > 1");
    CHECK_STR(err_of(b.data, b.len, &st),
              "tags.rules:1:5: number literal longer than 64 characters");
    CHECK_INT(st, PS_ERR_TOO_BIG);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = name == \"");
    for (int i = 0; i < 5000; i++) ps_buf_putc(&b, 'x');
    ps_buf_printf(&b, "\"");
    CHECK_STR(err_of(b.data, b.len, &st),
              "tags.rules:1:13: string literal longer than 4096 bytes");
    CHECK_INT(st, PS_ERR_TOO_BIG);
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = ");
    for (int i = 0; i < 200; i++) ps_buf_putc(&b, 'x');
    CHECK_STR(err_of(b.data, b.len, &st), "tags.rules:1:5: name longer than 128 bytes");
    ps_buf_reset(&b);
    ps_buf_printf(&b, "a = x in (");
    for (int i = 0; i < 1001; i++) ps_buf_printf(&b, "%d,", i);
    ps_buf_printf(&b, ")");
    CHECK_CONTAINS(err_of(b.data, b.len, &st), "list longer than 1000 items");
    /* Invalid UTF-8: an error at the byte, never a crash. */
    CHECK_STR(err_of("a = x > 1\nb = \"\xff\"", 16, &st),
              "tags.rules:2:6: invalid UTF-8 (byte 0xff)");
    CHECK_INT(st, PS_ERR_BAD_INPUT);
    CHECK_STR(err_of("a = \"手\xe6\x89\"", 10, &st), "tags.rules:1:7: invalid UTF-8 (byte 0xe6)");
    CHECK_STR(err_of("a = \xed\xa0\x80", 7, &st), "tags.rules:1:5: invalid UTF-8 (byte 0xed)");
    ps_buf_release(&b);
}

TEST(tagrule_load_and_caret)
{
    const char *src = "# tags\nphone = top_category_1 == \"手机\" @\n";
    const char *path = test_write_file("tags.rules", src, strlen(src));
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tagrules_load(path, &rs, &err), PS_ERR_BAD_INPUT);
    CHECK(rs == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s:2:32: unexpected character '@'", path);
    CHECK_STR(err.msg, want);
    struct ps_buf b;
    ps_buf_init(&b);
    CHECK_INT(ps_tagrules_caret(src, strlen(src), path, err.msg, &b), 1);
    /* 31 characters before the caret, two of them wide: 33 cells. */
    CHECK_STR(b.data, "    phone = top_category_1 == \"手机\" @\n"
                      "                                     ^\n");
    ps_buf_reset(&b);
    CHECK_INT(ps_tagrules_caret(src, strlen(src), "other", err.msg, &b), 0);
    CHECK_INT(ps_tagrules_caret(src, strlen(src), path, "no position", &b), 0);
    CHECK_INT(b.len, 0);
    /* Tabs are kept so the caret lines up. */
    const char *tabbed = "a =\tx >";
    CHECK_INT(ps_tagrules_caret(tabbed, strlen(tabbed), NULL,
                                "<rules>:1:8: expected an expression, got end of file", &b), 1);
    CHECK_STR(b.data, "    a =\tx >\n       \t   ^\n");
    ps_buf_release(&b);

    CHECK_INT(ps_tagrules_load(test_tmp("missing.rules"), &rs, &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot open '");
    CHECK_CONTAINS(err.msg, "missing.rules': No such file or directory");
    const char *good = "churn_risk = recency_days > 60 and frequency >= 3\n";
    path = test_write_file("good.rules", good, strlen(good));
    CHECK_INT(ps_tagrules_load(path, &rs, &err), PS_OK);
    CHECK_INT(ps_tagrules_count(rs), 1);
    ps_tagrules_free(rs);
}

/* ---- selection against a full sort -------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's linear percentile on a fully sorted copy: the plain reference
 * for the selection-based statistics. */
static double ref_percentile(const double *sorted, size_t n, double q)
{
    double v = (double)(n - 1) * (q / 100.0), lo_f = floor(v);
    size_t lo = (size_t)lo_f, hi = lo + 1 < n ? lo + 1 : lo;
    double g = v - lo_f, a = sorted[lo], b = sorted[hi], d = b - a;
    if (a == b) return a;
    return g >= 0.5 ? b - d * (1.0 - g) : a + d * g;
}

TEST(tagrule_selection_matches_sort)
{
    /* Shapes that break naive quickselect: sorted, reversed, all equal,
     * few distinct values, organ pipe, random; sizes around the
     * insertion-sort cutoff and larger. */
    static const size_t sizes[] = { 1, 2, 3, 16, 17, 18, 33, 100, 1001, 4096 };
    static const double qs[] = { 0, 0.5, 10, 25, 33.3, 50, 75, 90, 99, 100 };
    uint64_t state = 12345;
    int n_bad = 0, n_checked = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        double *x = ps_xmalloc(n * sizeof *x), *s = ps_xmalloc(n * sizeof *s);
        for (int shape = 0; shape < 6; shape++) {
            for (size_t i = 0; i < n; i++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                double r = (double)(state >> 11) / 9007199254740992.0;
                switch (shape) {
                case 0: x[i] = (double)i; break;
                case 1: x[i] = (double)(n - i); break;
                case 2: x[i] = 7; break;
                case 3: x[i] = floor(r * 3); break;
                case 4: x[i] = (double)(i < n / 2 ? i : n - i); break;
                default: x[i] = r * 1e6 - 5e5;
                }
            }
            memcpy(s, x, n * sizeof *s);
            qsort(s, n, sizeof *s, cmp_dbl);
            for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
                double got = ps_tagrules_percentile(x, n, qs[k]);
                double want = ref_percentile(s, n, qs[k]);
                n_checked++;
                if (got != want && n_bad++ < 5)
                    fprintf(stderr, "  n %zu shape %d q %g: %.17g, sorted %.17g\n", n, shape,
                            qs[k], got, want);
            }
            /* median, min, max through a rule, exactly. */
            double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
            char src[256];
            snprintf(src, sizeof src, "m = median(x) == %.17g and min(x) == %.17g and "
                     "max(x) == %.17g", med, s[0], s[n - 1]);
            const char *cn[] = { "x" };
            const double *cv[] = { x };
            struct ps_table_view t = { .n_rows = n, .n_cols = 1, .names = cn, .num = cv };
            struct ps_tagrules *rs = NULL;
            struct ps_err err = {0};
            CHECK_INT(ps_tagrules_parse(src, strlen(src), NULL, &rs, &err), PS_OK);
            uint8_t *out = ps_xmalloc(n);
            CHECK_INT(ps_tagrules_eval(rs, &t, out, &err), PS_OK);
            CHECK_INT(out[0], 1);
            free(out);
            ps_tagrules_free(rs);
        }
        free(x);
        free(s);
    }
    CHECK_INT(n_bad, 0);
    CHECK_INT(n_checked, 10 * 6 * 10);
}
