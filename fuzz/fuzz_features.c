/*
 * fuzz_features.c - libFuzzer target for features.h.
 *
 * Input layout: byte 0 chooses the parameters (threads, as-of, zone,
 * whether the CSV and .npy writers run, file extension); the rest is a
 * canonical events file written to a per-process temporary directory
 * (/dev/shm when it exists) and streamed through ps_features_add_file,
 * then finished and read back through every accessor.
 *
 * Invariants (abort when broken):
 *   - a rejected file carries a message;
 *   - n_users <= n_rows, n_after_as_of <= n_rows;
 *   - user ids come out strictly increasing in byte order;
 *   - every value formats into at most 31 bytes;
 *   - the strict number parsers accept exactly their grammar and agree
 *     with strtoll / strtod on the whole input (checked on the input text).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/features.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_features: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static char dir[64];
static char in_csv[128], in_jsonl[128], out_csv[128], out_npy[128], out_json[128], out_ids[128];

static void cleanup(void)
{
    unlink(in_csv);
    unlink(in_jsonl);
    unlink(out_csv);
    unlink(out_npy);
    unlink(out_json);
    unlink(out_ids);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_features.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(in_csv, sizeof in_csv, "%s/events.csv", dir);
    snprintf(in_jsonl, sizeof in_jsonl, "%s/events.jsonl", dir);
    snprintf(out_csv, sizeof out_csv, "%s/features.csv", dir);
    snprintf(out_npy, sizeof out_npy, "%s/features.npy", dir);
    snprintf(out_json, sizeof out_json, "%s/features.json", dir);
    snprintf(out_ids, sizeof out_ids, "%s/features.ids.txt", dir);
    atexit(cleanup);
}

/* [+-]?[0-9]+ */
static int is_int_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* [+-]?(digits[.[digits]]|.digits)[(e|E)[+-]?digits]: what the parser
 * takes ("12." and ".5" included; features.h says digits[.digits]) */
static int is_float_syntax(const char *s, size_t n)
{
    size_t i = 0, k, nd = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (k = i; i < n && isdigit((unsigned char)s[i]); i++)
        ;
    nd += i - k;
    if (i < n && s[i] == '.') {
        i++;
        for (k = i; i < n && isdigit((unsigned char)s[i]); i++)
            ;
        nd += i - k;
    }
    if (nd == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (k = i; i < n && isdigit((unsigned char)s[i]); i++)
            ;
        if (i == k)
            return 0;
    }
    return i == n;
}

static void check_numbers(const uint8_t *data, size_t size)
{
    size_t n = size < 64 ? size : 64;
    char s[65];
    memcpy(s, data, n);
    s[n] = '\0';
    int64_t iv;
    int irc = ps_features_parse_i64(s, n, &iv);
    if (!is_int_syntax(s, n) || strlen(s) != n) {
        CHECK(irc == -1);
    } else {
        errno = 0;
        long long ref = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            CHECK(irc == -1);
        else
            CHECK(irc == 0 && iv == ref);
    }
    double dv;
    int drc = ps_features_parse_f64(s, n, &dv);
    if (!is_float_syntax(s, n) || strlen(s) != n) {
        CHECK(drc == -1);
    } else if (drc != 0) {
        errno = 0;
        double ref = strtod(s, NULL);
        CHECK(drc == -1 && (errno == ERANGE || isinf(ref)));
    } else {
        double ref = strtod(s, NULL);
        CHECK(dv == ref || (isnan(dv) && isnan(ref)));
        CHECK(signbit(dv) == signbit(ref));
    }
    char buf[64];
    if (drc == 0) {
        int len = ps_features_format_number(buf, dv);
        CHECK(len >= 0 && len <= 31);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    setup();
    check_numbers(data + 1, size - 1);
    uint8_t b0 = data[0];
    data++;
    size--;
    const char *path = (b0 & 1) ? in_jsonl : in_csv;
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
        abort();

    struct ps_features_params p = ps_features_default_params();
    p.n_threads = (b0 & 2) ? 2 : 1;
    if (b0 & 4) {
        p.has_as_of = 1;
        p.as_of = 1500000000;
    }
    p.tz_offset_s = (b0 & 8) ? 8 * 3600 : 0;
    struct ps_err err = {0};
    CHECK(ps_features_check_params(&p, 0, &err) == PS_OK);
    struct ps_features *f = ps_features_new(&p);
    CHECK(f);
    int rc = ps_features_add_file(f, path, &err);
    if (rc != PS_OK) {
        CHECK(err.msg[0] != '\0');
        ps_features_free(f);
        return 0;
    }
    rc = ps_features_finish(f, &err);
    if (rc != PS_OK) {
        CHECK(err.msg[0] != '\0');
        ps_features_free(f);
        return 0;
    }
    long nu = ps_features_n_users(f), nr = ps_features_n_rows(f);
    CHECK(nu >= 0 && nu <= nr);
    CHECK(ps_features_n_after_as_of(f) >= 0 && ps_features_n_after_as_of(f) <= nr);
    int nc = ps_features_n_columns();
    const char *prev = NULL;
    size_t prev_len = 0;
    int id_linebreak = 0;
    char buf[64];
    for (long r = 0; r < nu; r++) {
        size_t len;
        const char *u = ps_features_user_id(f, r, &len);
        CHECK(u && len > 0);
        if (memchr(u, '\n', len) || memchr(u, '\r', len))
            id_linebreak = 1;
        if (prev) {
            size_t m = len < prev_len ? len : prev_len;
            int c = memcmp(prev, u, m);
            CHECK(c < 0 || (c == 0 && prev_len < len));
        }
        prev = u;
        prev_len = len;
        for (int c = 0; c < nc; c++) {
            double v = ps_features_value(f, r, c);
            int n = ps_features_format_number(buf, v);
            CHECK(n >= 0 && n <= 31);
            if (!ps_features_column_is_numeric(c))
                CHECK(isnan(v));
        }
        for (int k = 1; k <= 3; k++) {
            size_t cl = 0;
            const char *cat = ps_features_top_category(f, r, k, &cl);
            if (cat)
                (void)ps_features_category_median(f, cat, cl);
        }
    }
    if (b0 & 16) {
        CHECK(ps_features_write_csv(f, out_csv, &err) == PS_OK);
        /* the .ids.txt sidecar is one id per line: ids with line breaks
         * are refused there (and only there) */
        if (ps_features_write_npy(f, out_npy, &err) != PS_OK)
            CHECK(id_linebreak && err.msg[0] != '\0');
    }
    ps_features_free(f);
    return 0;
}
