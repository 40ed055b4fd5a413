/*
 * fuzz_tagrule.c - libFuzzer target for the tag-rule parser, binder and
 * evaluator (tagrule.h).
 *
 * Any byte string must either parse or be rejected with a message of the
 * form "fuzz.rules:LINE:COL: ..." whose line exists in the input (so the
 * caret excerpt can always be drawn).  Rule sets that parse are bound and
 * evaluated on a small table with numeric, text and missing values; the
 * output must be 0/1 only, and a bind error must carry a position too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "persona/core.h"
#include "persona/tagrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NR 5
static const double c_x[NR] = { 1, -2.5, NAN, 0, 1e300 };
static const double c_y[NR] = { NAN, NAN, NAN, NAN, NAN };
static const double c_f[NR] = { 3, 0, 1, 10, 2 };
static const char *const c_s[NR] = { "手机", "", NULL, "a\"b", "平板" };
static const char *const names[] = { "x", "y", "frequency", "s" };
static const double *const nums[] = { c_x, c_y, c_f, NULL };
static const char *const *const strs[] = { NULL, NULL, NULL, c_s };

static void check_position(const char *src, size_t len, const char *msg)
{
    const char *pre = "fuzz.rules:";
    if (strncmp(msg, pre, strlen(pre)) != 0) {
        /* Only file-level limits have no position. */
        if (!strstr(msg, "rule file larger than")) abort();
        return;
    }
    struct ps_buf b;
    ps_buf_init(&b);
    if (ps_tagrules_caret(src, len, "fuzz.rules", msg, &b) != 1) abort();
    ps_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    struct ps_tagrules *rs = NULL;
    struct ps_err err = {0};
    int rc = ps_tagrules_parse(src, size, "fuzz.rules", &rs, &err);
    if (rc != PS_OK) {
        if (rs || err.msg[0] == '\0') abort();
        check_position(src, size, err.msg);
        return 0;
    }
    struct ps_table_view t = { .n_rows = NR, .n_cols = 4, .names = names, .num = nums,
                               .str = strs };
    int n = ps_tagrules_count(rs);
    uint8_t *out = malloc((size_t)n * NR + 1);
    rc = ps_tagrules_eval(rs, &t, out, &err);
    if (rc == PS_OK) {
        for (size_t i = 0; i < (size_t)n * NR; i++)
            if (out[i] > 1) abort();
    } else {
        if (err.msg[0] == '\0') abort();
        check_position(src, size, err.msg);
    }
    for (int i = 0; i < n; i++)
        if (ps_tagrules_find(rs, ps_tagrules_name(rs, i)) != i) abort();
    free(out);
    ps_tagrules_free(rs);
    return 0;
}
