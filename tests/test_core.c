/* test_core.c - core utilities: rng, hashing, interning, npy, atomic files. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/rng.h"

TEST(core_splitmix64_reference)
{
    /* splitmix64 from seed 0: the first output is a published constant
     * (Vigna's reference implementation: 0xE220A8397B1DCDAF). */
    CHECK(ps_mix64(0x9E3779B97F4A7C15ULL) == 0xE220A8397B1DCDAFULL);
}

TEST(core_rng_uniform_moments)
{
    struct ps_rng r;
    double s = 0, s2 = 0;
    int n = 200000;
    ps_rng_seed(&r, 42, 0);
    for (int i = 0; i < n; i++) {
        double u = ps_rng_uniform(&r);
        CHECK(u >= 0 && u < 1);
        s += u;
        s2 += u * u;
    }
    CHECK_NEAR(s / n, 0.5, 0.005);
    CHECK_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
    /* Gamma(3) has mean 3, variance 3. */
    double g = 0, g2 = 0;
    for (int i = 0; i < n; i++) {
        double x = ps_rng_gamma(&r, 3.0);
        g += x;
        g2 += x * x;
    }
    CHECK_NEAR(g / n, 3.0, 0.03);
    CHECK_NEAR(g2 / n - (g / n) * (g / n), 3.0, 0.1);
}

TEST(core_rng_streams_differ_and_repeat)
{
    struct ps_rng a, b, c;
    ps_rng_seed(&a, 7, 0);
    ps_rng_seed(&b, 7, 1);
    ps_rng_seed(&c, 7, 0);
    uint64_t x = ps_rng_u64(&a);
    CHECK(x != ps_rng_u64(&b));
    CHECK(x == ps_rng_u64(&c));
}

TEST(core_strmap_interns_densely)
{
    struct ps_strmap *m = ps_strmap_new();
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof key, "user-%d", i);
        int ins;
        CHECK_INT(ps_strmap_intern(m, key, (size_t)n, &ins), i);
        CHECK(ins);
    }
    int ins;
    CHECK_INT(ps_strmap_intern(m, "user-123", 8, &ins), 123);
    CHECK(!ins);
    CHECK_INT(ps_strmap_find(m, "user-9999", 9), 9999);
    CHECK_INT(ps_strmap_find(m, "nobody", 6), -1);
    CHECK_STR(ps_strmap_key(m, 42, NULL), "user-42");
    CHECK_INT(ps_strmap_count(m), 10000);
    ps_strmap_free(m);
}

TEST(core_npy_roundtrip_and_header)
{
    float d[6] = {1, 2, 3, 4.5f, -5, 6};
    struct ps_err err = {0};
    const char *p = test_tmp("m.npy");
    CHECK_INT(ps_npy_write_f32(p, d, 2, 3, &err), PS_OK);
    size_t len;
    char *raw = test_read_file(p, &len);
    CHECK(raw && len == 128 + 24);
    CHECK(raw && memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK(raw && strstr(raw + 10, "'shape': (2, 3)"));
    free(raw);
    float *back;
    size_t r, c;
    CHECK_INT(ps_npy_read_f32(p, &back, &r, &c, &err), PS_OK);
    CHECK_INT(r, 2);
    CHECK_INT(c, 3);
    CHECK(back && memcmp(back, d, sizeof d) == 0);
    free(back);
    /* Streaming writer patches the row count. */
    struct ps_npy_writer *w;
    CHECK_INT(ps_npy_writer_open(&w, test_tmp("s.npy"), 3, &err), PS_OK);
    ps_npy_writer_append(w, d, 1, &err);
    ps_npy_writer_append(w, d + 3, 1, &err);
    CHECK_INT(ps_npy_writer_close(w, &err), PS_OK);
    CHECK_INT(ps_npy_read_f32(test_tmp("s.npy"), &back, &r, &c, &err), PS_OK);
    CHECK(r == 2 && c == 3 && back && back[4] == -5);
    free(back);
}

TEST(core_npy_rejects_bad_files)
{
    struct ps_err err = {0};
    float *d;
    size_t r, c;
    const char *p = test_write_file("bad.npy", "hello", 5);
    CHECK_INT(ps_npy_read_f32(p, &d, &r, &c, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "bad magic");
    /* Header claims more rows than the file holds. */
    float m[4] = {0};
    ps_npy_write_f32(test_tmp("t.npy"), m, 2, 2, &err);
    size_t len;
    char *raw = test_read_file(test_tmp("t.npy"), &len);
    test_write_file("trunc.npy", raw, len - 4);
    free(raw);
    CHECK_INT(ps_npy_read_f32(test_tmp("trunc.npy"), &d, &r, &c, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "does not match shape");
    CHECK_INT(ps_npy_read_f32(test_tmp("missing.npy"), &d, &r, &c, &err), PS_ERR_IO);
}

TEST(core_afile_is_atomic)
{
    struct ps_afile f;
    struct ps_err err = {0};
    const char *p = test_write_file("a.txt", "old", 3);
    CHECK_INT(ps_afile_open(&f, p, &err), PS_OK);
    fputs("new", f.fp);
    ps_afile_abort(&f); /* interrupted: the old file stays */
    char *s = test_read_file(p, NULL);
    CHECK_STR(s, "old");
    free(s);
    CHECK_INT(ps_afile_open(&f, p, &err), PS_OK);
    fputs("new", f.fp);
    CHECK_INT(ps_afile_commit(&f, &err), PS_OK);
    s = test_read_file(p, NULL);
    CHECK_STR(s, "new");
    free(s);
}

struct sum_ctx {
    long n;
    double partial[16];
};

static void sum_task(void *ctx, int task, int worker)
{
    struct sum_ctx *c = ctx;
    long b, e;
    (void)worker;
    ps_split_range(c->n, 16, task, &b, &e);
    double s = 0;
    for (long i = b; i < e; i++)
        s += (double)i;
    c->partial[task] = s;
}

TEST(core_pool_parallel_for)
{
    struct ps_pool *p = ps_pool_new(3);
    for (int rep = 0; rep < 50; rep++) {
        struct sum_ctx c = {.n = 100001};
        ps_pool_run(p, 16, sum_task, &c);
        double s = 0;
        for (int i = 0; i < 16; i++)
            s += c.partial[i];
        CHECK_NEAR(s, 100000.0 * 100001.0 / 2, 0);
    }
    ps_pool_free(p);
}

TEST(core_buf_json_escapes)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_json_str(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    ps_buf_release(&b);
}

TEST(core_strmap_keys_stay_valid)
{
    /* The header promises key pointers live until the map is freed. */
    struct ps_strmap *m = ps_strmap_new();
    ps_strmap_intern(m, "first", 5, NULL);
    const char *k0 = ps_strmap_key(m, 0, NULL);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        ps_strmap_intern(m, key, (size_t)n, NULL);
    }
    CHECK(k0 == ps_strmap_key(m, 0, NULL));
    CHECK_STR(k0, "first");
    ps_strmap_free(m);
}
