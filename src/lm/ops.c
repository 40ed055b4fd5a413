/*
 * ops.c - scalar reference kernels, the ISA dispatcher and ps_sgemm (see
 * ops.h).
 *
 * The references are written for clarity and accuracy (double
 * accumulators, libm's tanhf / erff / expf); the tests hold the SIMD
 * versions to them.
 */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ps_sgemm(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (M == 1) {
        if (trans_b)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, 1, beta, C, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

/* ---- references ---------------------------------------------------------- */

void ps_layernorm_ref(float *out, const float *in, const float *w, const float *b, int C,
                      float eps)
{
    double s = 0;
    for (int i = 0; i < C; i++)
        s += in[i];
    double mean = s / C, v = 0;
    for (int i = 0; i < C; i++) {
        double d = in[i] - mean;
        v += d * d;
    }
    /* Biased variance, as torch.nn.functional.layer_norm. */
    float rstd = (float)(1.0 / sqrt(v / C + eps));
    float m = (float)mean;
    for (int i = 0; i < C; i++)
        out[i] = (in[i] - m) * rstd * w[i] + b[i];
}

void ps_gelu_tanh_ref(float *x, size_t n)
{
    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    const float k = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void ps_gelu_erf_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void ps_softmax_ref(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void ps_attend_ref(float *out, const float *q, const float *k, size_t ldk, const float *v,
                   size_t ldv, int n_keys, int hd, float scale, float *scores)
{
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ldk;
        float d = 0;
        for (int i = 0; i < hd; i++)
            d += q[i] * kj[i];
        scores[j] = d * scale;
    }
    ps_softmax_ref(scores, n_keys);
    for (int i = 0; i < hd; i++)
        out[i] = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ldv;
        float a = scores[j];
        for (int i = 0; i < hd; i++)
            out[i] += a * vj[i];
    }
}

/* ---- dispatch ----------------------------------------------------------- */

static int isa_level = -1;

enum ps_isa ps_ops_cpu_isa(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return PS_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return PS_ISA_AVX2;
#endif
    return PS_ISA_SCALAR;
}

const char *ps_isa_name(enum ps_isa isa)
{
    return isa == PS_ISA_AVX512 ? "avx512" : isa == PS_ISA_AVX2 ? "avx2" : "scalar";
}

enum ps_isa ps_ops_isa(void)
{
    /* Racy but benign: every thread computes the same value. */
    int lvl = __atomic_load_n(&isa_level, __ATOMIC_RELAXED);
    if (lvl >= 0)
        return (enum ps_isa)lvl;
    enum ps_isa cpu = ps_ops_cpu_isa(), want = cpu;
    const char *env = getenv("PERSONA_ISA");
    if (env) {
        if (strcmp(env, "scalar") == 0)
            want = PS_ISA_SCALAR;
        else if (strcmp(env, "avx2") == 0)
            want = PS_ISA_AVX2;
        else if (strcmp(env, "avx512") == 0)
            want = PS_ISA_AVX512;
        if (want > cpu)
            want = cpu;
    }
    __atomic_store_n(&isa_level, (int)want, __ATOMIC_RELAXED);
    return want;
}

#if defined(__x86_64__)
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

void ps_layernorm(float *out, const float *in, const float *w, const float *b, int C, float eps)
{
#if HAVE_X86
    switch (ps_ops_isa()) {
    case PS_ISA_AVX512: ps__layernorm_avx512(out, in, w, b, C, eps); return;
    case PS_ISA_AVX2: ps__layernorm_avx2(out, in, w, b, C, eps); return;
    default: break;
    }
#endif
    ps_layernorm_ref(out, in, w, b, C, eps);
}

void ps_gelu_tanh(float *x, size_t n)
{
#if HAVE_X86
    switch (ps_ops_isa()) {
    case PS_ISA_AVX512: ps__gelu_tanh_avx512(x, n); return;
    case PS_ISA_AVX2: ps__gelu_tanh_avx2(x, n); return;
    default: break;
    }
#endif
    ps_gelu_tanh_ref(x, n);
}

void ps_gelu_erf(float *x, size_t n)
{
    /* BERT only, not on the hot path we benchmark: libm's erff is exact
     * enough and fast enough. */
    ps_gelu_erf_ref(x, n);
}

void ps_softmax(float *x, int n)
{
#if HAVE_X86
    switch (ps_ops_isa()) {
    case PS_ISA_AVX512: ps__softmax_avx512(x, n); return;
    case PS_ISA_AVX2: ps__softmax_avx2(x, n); return;
    default: break;
    }
#endif
    ps_softmax_ref(x, n);
}

void ps_attend(float *out, const float *q, const float *k, size_t ldk, const float *v,
               size_t ldv, int n_keys, int hd, float scale, float *scores)
{
#if HAVE_X86
    switch (ps_ops_isa()) {
    case PS_ISA_AVX512: ps__attend_avx512(out, q, k, ldk, v, ldv, n_keys, hd, scale, scores); return;
    case PS_ISA_AVX2: ps__attend_avx2(out, q, k, ldk, v, ldv, n_keys, hd, scale, scores); return;
    default: break;
    }
#endif
    ps_attend_ref(out, q, k, ldk, v, ldv, n_keys, hd, scale, scores);
}
