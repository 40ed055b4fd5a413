/*
 * fuzz_clean.c - libFuzzer target for the clean stage (clean.h).
 *
 * Input layout: byte 0 chooses the table and preset, byte 1 the options
 * (missing-value policies, dedup key, strict mode, zone, format); the
 * rest is the input file, written to a per-process temporary directory
 * (on /dev/shm when it exists: every output is fsync'ed by ps_afile) and
 * cleaned with quarantine and JSON summary outputs.
 *
 * Invariants (abort when broken):
 *   - on PS_OK: rows_in == rows_out + exact_duplicates + key_duplicates
 *     + quarantined, every count is >= 0, the quarantine reasons add up
 *     to quarantined, and the clean table has rows_out + 1 lines when it
 *     holds no quoted field (header + one line per row);
 *   - on failure err.msg is not empty;
 *   - the summary can always be printed as JSON and text and released.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/clean.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_clean: %s failed at line %d\n", #c, __LINE__); abort(); } } while (0)

static char dir[64];
static char in_csv[128], in_jsonl[128], out_path[128], q_path[128], s_path[128];

static void cleanup(void)
{
    unlink(in_csv);
    unlink(in_jsonl);
    unlink(out_path);
    unlink(q_path);
    unlink(s_path);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/fuzz_clean.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(in_csv, sizeof in_csv, "%s/in.csv", dir);
    snprintf(in_jsonl, sizeof in_jsonl, "%s/in.jsonl", dir);
    snprintf(out_path, sizeof out_path, "%s/out.csv", dir);
    snprintf(q_path, sizeof q_path, "%s/quarantine.csv", dir);
    snprintf(s_path, sizeof s_path, "%s/summary.json", dir);
    atexit(cleanup);
}

static int write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = n ? fwrite(d, 1, n, fp) : 0;
    return (fclose(fp) == 0 && w == n) ? 0 : -1;
}

/* Lines of the clean table, or -1 when a quote makes lines != rows. */
static long count_lines(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -2;
    long n = 0;
    int c, quoted = 0;
    while ((c = getc(fp)) != EOF) {
        if (c == '\n')
            n++;
        if (c == '"')
            quoted = 1;
    }
    fclose(fp);
    return quoted ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    setup();
    uint8_t b0 = data[0], b1 = data[1];
    data += 2;
    size -= 2;

    static const char *const presets[] = {NULL, "taobao", "tianchi-mobile", "online-retail",
                                          "amazon-reviews"};
    struct ps_clean_params p = ps_clean_default_params();
    p.schema = (enum ps_schema)(b0 % PS_SCHEMA_COUNT);
    int pi = (b0 / PS_SCHEMA_COUNT) % 6;
    if (pi == 5) {
        p.preset = presets[1 + (b0 >> 5) % 4];
        p.schema_from_preset = 1;
    } else {
        p.preset = presets[pi];
    }
    const char *in = (b1 & 1) ? in_jsonl : in_csv;
    if (write_file(in, data, size) != 0)
        abort();
    p.inputs = &in;
    p.n_inputs = 1;
    p.out_path = out_path;
    p.quarantine_path = (b1 & 2) ? q_path : NULL;
    p.summary_path = (b1 & 4) ? s_path : NULL;
    p.strict = (b1 >> 3) & 1;
    static const char *const missing_events[] = {"price=median", "quantity=fill:1",
                                                 "category=mode", "dwell_s=drop"};
    static const char *const missing_other[] = {"price=median", "rating=median",
                                                "category=mode", "ts=keep"};
    const char *missing[2];
    int nm = 0;
    if (b1 & 16)
        missing[nm++] = p.schema == PS_SCHEMA_EVENTS ? missing_events[(b1 >> 6) & 3]
                                                     : missing_other[(b1 >> 6) & 3];
    if ((b1 & 48) == 48)
        missing[nm++] = "user_id=keep";
    p.missing = missing;
    p.n_missing = nm;
    if (b1 & 32)
        p.dedup_key = (b1 & 64) ? "none" : "user_id";
    if ((b1 & 0xC0) == 0xC0)
        p.tz = "+08:00";
    p.max_unknown_events = 3;

    struct ps_err err = {0};
    if (ps_clean_check_params(&p, &err) != PS_OK) {
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    struct ps_clean_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = ps_clean_run(&p, &sum, &err);
    if (rc == PS_OK) {
        CHECK(sum.rows_in >= 0 && sum.rows_out >= 0 && sum.exact_duplicates >= 0 &&
              sum.key_duplicates >= 0 && sum.quarantined >= 0);
        CHECK(sum.rows_in ==
              sum.rows_out + sum.exact_duplicates + sum.key_duplicates + sum.quarantined);
        int64_t r = 0;
        for (int i = 0; i < sum.n_reasons; i++) {
            CHECK(sum.reasons[i].count > 0);
            r += sum.reasons[i].count;
        }
        CHECK(r == sum.quarantined);
        long lines = count_lines(out_path);
        CHECK(lines != -2);
        if (lines >= 0)
            CHECK(lines == sum.rows_out + 1);
    } else {
        CHECK(err.msg[0] != '\0');
    }
    struct ps_buf b;
    ps_buf_init(&b);
    ps_clean_summary_json(&sum, &b);
    ps_clean_summary_text(&sum, &b);
    ps_buf_release(&b);
    ps_clean_summary_release(&sum);
    return 0;
}
