/*
 * test_lm_ops.c - the hand-written kernels: every SIMD level the CPU has
 * against the scalar reference (layernorm, gelu_new, softmax, attention),
 * the references against hand-computed values, ps_sgemm's one-row path
 * against its gemm path, and the F16/BF16 conversions on known bit
 * patterns.
 */
#include "test.h"

#include <stdlib.h>

#include "../src/lm/ops.h"
#include "persona/lm.h"
#include "persona/rng.h"
#include "persona/safetensors.h"

static void fill(float *x, size_t n, struct ps_rng *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(ps_rng_normal(r) * scale);
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

TEST(lm_ops_reference_values)
{
    /* gelu_new(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.841191990...;
     * erf gelu(1) = Phi(1) = 0.841344746... */
    float a[3] = {1.0f, 0.0f, -3.0f}, b[3] = {1.0f, 0.0f, -3.0f};
    ps_gelu_tanh_ref(a, 3);
    ps_gelu_erf_ref(b, 3);
    CHECK_NEAR(a[0], 0.8411919906, 1e-6);
    CHECK_NEAR(a[1], 0.0, 0);
    CHECK_NEAR(a[2], -0.0036373920, 1e-7);
    CHECK_NEAR(b[0], 0.8413447461, 1e-6);
    CHECK_NEAR(b[2], -0.0040496627, 1e-7);
    /* softmax([0, ln 3]) = [1/4, 3/4] */
    float s[2] = {0.0f, (float)log(3.0)};
    ps_softmax_ref(s, 2);
    CHECK_NEAR(s[0], 0.25, 1e-7);
    CHECK_NEAR(s[1], 0.75, 1e-7);
    /* layernorm([1, 2, 3, 4]): mean 2.5, var 1.25 */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 1}, bb[4] = {0, 0, 0, 1}, y[4];
    ps_layernorm_ref(y, x, w, bb, 4, 0.0f);
    CHECK_NEAR(y[0], -1.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(y[2], 2 * 0.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(y[3], 1.5 / sqrt(1.25) + 1, 1e-6);
    /* attention with two keys: scores [0, 2] scaled by 0.5 -> softmax [1/(1+e), e/(1+e)] */
    float q[2] = {1, 1}, k[4] = {0, 0, 1, 1}, v[4] = {10, 0, 0, 10}, o[2], sc[2];
    ps_attend_ref(o, q, k, 2, v, 2, 2, 2, 0.5f, sc);
    double e = exp(1.0);
    CHECK_NEAR(o[0], 10 / (1 + e), 1e-5);
    CHECK_NEAR(o[1], 10 * e / (1 + e), 1e-5);
}

TEST(lm_ops_simd_match_reference)
{
    struct ps_rng r;
    ps_rng_seed(&r, 42, 0);
    enum ps_isa cpu = ps_ops_cpu_isa();
    const int sizes[] = {1, 7, 16, 33, 64, 100, 768};
    float *in = malloc(4096 * sizeof *in), *a = malloc(4096 * sizeof *a), *b = malloc(4096 * sizeof *b);
    float *w = malloc(768 * sizeof *w), *bias = malloc(768 * sizeof *bias);
    for (int lvl = PS_ISA_AVX2; lvl <= (int)cpu; lvl++) {
        double d_ln = 0, d_gelu = 0, d_sm = 0, d_att = 0;
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int n = sizes[si];
            fill(in, (size_t)n, &r, 3.0);
            fill(w, (size_t)n, &r, 1.0);
            fill(bias, (size_t)n, &r, 1.0);
            ps_layernorm_ref(a, in, w, bias, n, 1e-5f);
            if (lvl == PS_ISA_AVX2)
                ps__layernorm_avx2(b, in, w, bias, n, 1e-5f);
            else
                ps__layernorm_avx512(b, in, w, bias, n, 1e-5f);
            d_ln = fmax(d_ln, maxdiff(a, b, (size_t)n));
            /* gelu over a wide range, including saturation. */
            for (int i = 0; i < n; i++)
                in[i] = (float)(-12.0 + 24.0 * i / (n > 1 ? n - 1 : 1));
            memcpy(a, in, (size_t)n * sizeof *a);
            memcpy(b, in, (size_t)n * sizeof *b);
            ps_gelu_tanh_ref(a, (size_t)n);
            if (lvl == PS_ISA_AVX2)
                ps__gelu_tanh_avx2(b, (size_t)n);
            else
                ps__gelu_tanh_avx512(b, (size_t)n);
            d_gelu = fmax(d_gelu, maxdiff(a, b, (size_t)n));
            fill(in, (size_t)n, &r, 5.0);
            memcpy(a, in, (size_t)n * sizeof *a);
            memcpy(b, in, (size_t)n * sizeof *b);
            ps_softmax_ref(a, n);
            if (lvl == PS_ISA_AVX2)
                ps__softmax_avx2(b, n);
            else
                ps__softmax_avx512(b, n);
            d_sm = fmax(d_sm, maxdiff(a, b, (size_t)n));
        }
        /* Attention: head sizes 64 (register path), 16, 24 and 5 (tails). */
        const int hds[] = {64, 16, 24, 5};
        for (size_t hi = 0; hi < 4; hi++) {
            int hd = hds[hi], nk = 37;
            size_t ld = (size_t)hd * 3;
            float *k = malloc((size_t)nk * ld * sizeof *k), *v = malloc((size_t)nk * ld * sizeof *v);
            fill(k, (size_t)nk * ld, &r, 1.0);
            fill(v, (size_t)nk * ld, &r, 1.0);
            fill(in, (size_t)hd, &r, 1.0);
            ps_attend_ref(a, in, k, ld, v, ld, nk, hd, 0.125f, b + 1024);
            float out[64];
            if (lvl == PS_ISA_AVX2)
                ps__attend_avx2(out, in, k, ld, v, ld, nk, hd, 0.125f, b + 1024);
            else
                ps__attend_avx512(out, in, k, ld, v, ld, nk, hd, 0.125f, b + 1024);
            d_att = fmax(d_att, maxdiff(a, out, (size_t)hd));
            free(k);
            free(v);
        }
        fprintf(stderr, "  %s vs scalar: max|diff| layernorm %.2e  gelu_new %.2e  softmax %.2e  attention %.2e\n",
                ps_isa_name((enum ps_isa)lvl), d_ln, d_gelu, d_sm, d_att);
        CHECK(d_ln < 1e-5);
        CHECK(d_gelu < 1e-5);
        CHECK(d_sm < 1e-6);
        CHECK(d_att < 1e-5);
    }
    free(in);
    free(a);
    free(b);
    free(w);
    free(bias);
}

TEST(lm_ops_sgemm_paths_agree)
{
    /* One-row products take sgemv; they must agree with sgemm and with a
     * double-precision dot product. */
    struct ps_rng r;
    ps_rng_seed(&r, 7, 0);
    enum { K = 70, N = 33 };
    float A[2 * K], B[K * N], Bt[N * K], y1[N], y2[2 * N], y3[N];
    fill(A, 2 * K, &r, 1.0);
    fill(B, K * N, &r, 1.0);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < N; j++)
            Bt[j * K + i] = B[i * N + j];
    ps_sgemm(0, 1, N, K, 1.0f, A, K, B, N, 0.0f, y1, N);
    ps_sgemm(0, 2, N, K, 1.0f, A, K, B, N, 0.0f, y2, N);
    ps_sgemm(1, 1, N, K, 1.0f, A, K, Bt, K, 0.0f, y3, N);
    for (int j = 0; j < N; j++) {
        double d = 0;
        for (int i = 0; i < K; i++)
            d += (double)A[i] * B[i * N + j];
        CHECK_NEAR(y1[j], d, 1e-4);
        CHECK_NEAR(y2[j], d, 1e-4);
        CHECK_NEAR(y3[j], d, 1e-4);
    }
}

TEST(lm_ops_half_conversions)
{
    CHECK(ps_f16_to_f32(0x3c00) == 1.0f);
    CHECK(ps_f16_to_f32(0xc000) == -2.0f);
    CHECK(ps_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(ps_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(ps_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(ps_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(isinf(ps_f16_to_f32(0x7c00)));
    CHECK(isnan(ps_f16_to_f32(0x7e00)));
    CHECK(ps_f16_to_f32(0x8000) == 0.0f && signbit(ps_f16_to_f32(0x8000)));
    CHECK(ps_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(ps_bf16_to_f32(0xc0a0) == -5.0f);
    CHECK(ps_bf16_to_f32(0x3eab) == 0.333984375f);
}

TEST(lm_ops_pooling)
{
    float h[6] = {1, 2, 3, 4, 5, 9}, o[2];
    ps_lm_pool_rows(h, 3, 2, PS_LM_POOL_MEAN, 0, o);
    CHECK_NEAR(o[0], 3, 1e-6);
    CHECK_NEAR(o[1], 5, 1e-6);
    ps_lm_pool_rows(h, 3, 2, PS_LM_POOL_CLS, 0, o);
    CHECK(o[0] == 1 && o[1] == 2);
    ps_lm_pool_rows(h, 3, 2, PS_LM_POOL_LAST, 1, o);
    CHECK_NEAR(o[0], 5 / sqrt(106.0), 1e-6);
    CHECK_NEAR(o[1], 9 / sqrt(106.0), 1e-6);
    CHECK_INT(ps_lm_pool_parse("cls"), PS_LM_POOL_CLS);
    CHECK_INT(ps_lm_pool_parse("max"), -1);
}
