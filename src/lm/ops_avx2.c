/*
 * ops_avx2.c - AVX2 + FMA versions of the hand-written kernels (see ops.h
 * and ops_avx512.c, whose structure this follows with 8-wide vectors and
 * scalar tails).
 */
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define T256 __attribute__((target("avx2,fma")))

static inline T256 float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline T256 float hmax256(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline T256 __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    /* 2^fx by building the exponent field (fx in [-126, 127] after the clamp). */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static float exp1(float x)
{
    return expf(x);
}

T256 void ps__layernorm_avx2(float *out, const float *in, const float *w, const float *b, int C,
                             float eps)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= C; i += 8)
        acc = _mm256_add_ps(acc, _mm256_loadu_ps(in + i));
    float s = hsum256(acc);
    for (; i < C; i++)
        s += in[i];
    float mean = s / (float)C;
    __m256 vm = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(in + i), vm);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    float v = hsum256(acc);
    for (; i < C; i++)
        v += (in[i] - mean) * (in[i] - mean);
    float rstd = 1.0f / sqrtf(v / (float)C + eps);
    __m256 vr = _mm256_set1_ps(rstd);
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(in + i), vm), vr);
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)));
    }
    for (; i < C; i++)
        out[i] = (in[i] - mean) * rstd * w[i] + b[i];
}

T256 void ps__gelu_tanh_avx2(float *x, size_t n)
{
    const float k2 = -2.0f * 0.7978845608028654f;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        __m256 u = _mm256_fmadd_ps(v3, _mm256_set1_ps(0.044715f), v);
        __m256 e = exp256(_mm256_mul_ps(u, _mm256_set1_ps(k2)));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    }
    for (; i < n; i++) {
        float v = x[i];
        float u = v + 0.044715f * v * v * v;
        x[i] = v / (1.0f + exp1(fminf(fmaxf(k2 * u, -87.0f), 88.0f)));
    }
}

T256 void ps__softmax_avx2(float *x, int n)
{
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    float m = hmax256(mx);
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    __m256 vmax = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = hsum256(acc);
    for (; i < n; i++) {
        x[i] = exp1(x[i] - m);
        s += x[i];
    }
    float inv = 1.0f / s;
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
    for (; i < n; i++)
        x[i] *= inv;
}

T256 void ps__attend_avx2(float *out, const float *q, const float *k, size_t ldk, const float *v,
                          size_t ldv, int n_keys, int hd, float scale, float *scores)
{
    int full = hd & ~7;
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ldk;
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < full; i += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kj + i), acc);
        float d = hsum256(acc);
        for (int i = full; i < hd; i++)
            d += q[i] * kj[i];
        scores[j] = d * scale;
    }
    ps__softmax_avx2(scores, n_keys);
    for (int i = 0; i < hd; i++)
        out[i] = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ldv;
        float a = scores[j];
        __m256 va = _mm256_set1_ps(a);
        for (int i = 0; i < full; i += 8)
            _mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(vj + i), _mm256_loadu_ps(out + i)));
        for (int i = full; i < hd; i++)
            out[i] += a * vj[i];
    }
}

#else
typedef int ps__ops_avx2_unused;
#endif
