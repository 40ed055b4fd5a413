/*
 * ops_avx512.c - AVX-512F versions of the hand-written kernels (see ops.h).
 *
 * Compiled with per-function target attributes, so the default build runs
 * everywhere and these are only called after run-time detection.  exp is
 * Cephes' expf: range reduction by ln 2 split in two constants, a degree-6
 * polynomial, and scalef for the power of two (about 1 ulp on the range
 * used here).  GELU uses 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)), which is
 * exact algebra and avoids tanh's cancellation near zero.
 */
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define T512 __attribute__((target("avx512f")))

static inline T512 __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, fx);
}

static inline T512 __mmask16 tail_mask(int n)
{
    return (__mmask16)((1u << n) - 1u);
}

T512 void ps__layernorm_avx512(float *out, const float *in, const float *w, const float *b,
                               int C, float eps)
{
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= C; i += 16)
        acc = _mm512_add_ps(acc, _mm512_loadu_ps(in + i));
    if (i < C)
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(C - i), in + i));
    float mean = _mm512_reduce_add_ps(acc) / (float)C;
    __m512 vm = _mm512_set1_ps(mean);
    acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= C; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(in + i), vm);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    if (i < C) {
        __mmask16 m = tail_mask(C - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, in + i), vm);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(acc) / (float)C + eps);
    __m512 vr = _mm512_set1_ps(rstd);
    for (i = 0; i + 16 <= C; i += 16) {
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(in + i), vm), vr);
        _mm512_storeu_ps(out + i,
                         _mm512_fmadd_ps(d, _mm512_loadu_ps(w + i), _mm512_loadu_ps(b + i)));
    }
    if (i < C) {
        __mmask16 m = tail_mask(C - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + i), vm), vr);
        _mm512_mask_storeu_ps(out + i, m,
                              _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, w + i),
                                              _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static inline T512 __m512 gelu512(__m512 x)
{
    /* x / (1 + exp(-2 k (x + 0.044715 x^3))) */
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x);
    __m512 e = exp512(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f * 0.7978845608028654f)));
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

T512 void ps__gelu_tanh_avx512(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, gelu512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(x + i, m, gelu512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

T512 void ps__softmax_avx512(float *x, int n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
    if (i < n)
        mx = _mm512_mask_max_ps(mx, tail_mask(n - i), mx, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = _mm512_add_ps(acc, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

T512 void ps__attend_avx512(float *out, const float *q, const float *k, size_t ldk,
                            const float *v, size_t ldv, int n_keys, int hd, float scale,
                            float *scores)
{
    int full = hd & ~15, rest = hd - full;
    __mmask16 mr = tail_mask(rest);
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ldk;
        __m512 acc = _mm512_setzero_ps();
        for (int i = 0; i < full; i += 16)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(kj + i), acc);
        if (rest)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mr, q + full),
                                  _mm512_maskz_loadu_ps(mr, kj + full), acc);
        scores[j] = _mm512_reduce_add_ps(acc) * scale;
    }
    ps__softmax_avx512(scores, n_keys);
    if (hd == 64) {
        /* GPT-2 and BERT-base head size: keep the output in registers. */
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int j = 0; j < n_keys; j++) {
            const float *vj = v + (size_t)j * ldv;
            __m512 a = _mm512_set1_ps(scores[j]);
            o0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vj), o0);
            o1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vj + 16), o1);
            o2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vj + 32), o2);
            o3 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vj + 48), o3);
        }
        _mm512_storeu_ps(out, o0);
        _mm512_storeu_ps(out + 16, o1);
        _mm512_storeu_ps(out + 32, o2);
        _mm512_storeu_ps(out + 48, o3);
        return;
    }
    for (int i = 0; i < hd; i++)
        out[i] = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ldv;
        __m512 a = _mm512_set1_ps(scores[j]);
        for (int i = 0; i < full; i += 16)
            _mm512_storeu_ps(out + i, _mm512_fmadd_ps(a, _mm512_loadu_ps(vj + i),
                                                      _mm512_loadu_ps(out + i)));
        if (rest)
            _mm512_mask_storeu_ps(out + full, mr,
                                  _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(mr, vj + full),
                                                  _mm512_maskz_loadu_ps(mr, out + full)));
    }
}

#else
typedef int ps__ops_avx512_unused;
#endif
