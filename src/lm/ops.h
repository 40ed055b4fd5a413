/*
 * ops.h - the transformer's numeric kernels (internal to src/lm).
 *
 * Every hand-written kernel has a plain scalar reference (*_ref) that the
 * tests compare the fast versions against.  The fast entry points
 * (ps_layernorm, ps_gelu_tanh, ...) dispatch once, at first use, on what
 * the CPU supports (__builtin_cpu_supports): AVX-512F, AVX2+FMA, or the
 * portable scalar code.  PERSONA_ISA=scalar|avx2|avx512 forces a level
 * (never above what the CPU has) for benchmarks and tests.
 *
 * Matrix products go through ps_sgemm only, so the BLAS can be swapped or
 * measured in one place.
 *
 * Legend: M rows, C channels, n elements, hd head size.
 */
#ifndef PERSONA_LM_OPS_H
#define PERSONA_LM_OPS_H

#include <stddef.h>

/* C (M,N) = alpha * A (M,K) . op(B) + beta * C, row-major.  op(B) = B
 * (K,N) when trans_b == 0, B^T with B (N,K) when trans_b == 1.  One-row
 * products use sgemv (OpenBLAS's sgemm with M = 1 packs the whole of B). */
void ps_sgemm(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

enum ps_isa { PS_ISA_SCALAR, PS_ISA_AVX2, PS_ISA_AVX512 };
/* The level in use (detected once). */
enum ps_isa ps_ops_isa(void);
const char *ps_isa_name(enum ps_isa isa);
/* Highest level the CPU supports. */
enum ps_isa ps_ops_cpu_isa(void);

/* out (C) = (in - mean) / sqrt(var + eps) * w + b for one row. */
void ps_layernorm_ref(float *out, const float *in, const float *w, const float *b, int C,
                      float eps);
/* In place, x * Phi(x) with the tanh approximation (GPT-2's gelu_new). */
void ps_gelu_tanh_ref(float *x, size_t n);
/* In place, exact x * Phi(x) (BERT's gelu). */
void ps_gelu_erf_ref(float *x, size_t n);
/* In place softmax over n (max-subtracted, double sum). */
void ps_softmax_ref(float *x, int n);
/*
 * One query against n_keys keys of one head:
 *   s_j = scale * q . k_j,  a = softmax(s),  out = sum_j a_j v_j
 * q, out (hd); k_j = k + j * ldk, v_j = v + j * ldv (hd each); scores is
 * scratch of n_keys floats.
 */
void ps_attend_ref(float *out, const float *q, const float *k, size_t ldk, const float *v,
                   size_t ldv, int n_keys, int hd, float scale, float *scores);

/* Fast versions (dispatching). */
void ps_layernorm(float *out, const float *in, const float *w, const float *b, int C, float eps);
void ps_gelu_tanh(float *x, size_t n);
void ps_gelu_erf(float *x, size_t n);
void ps_softmax(float *x, int n);
void ps_attend(float *out, const float *q, const float *k, size_t ldk, const float *v,
               size_t ldv, int n_keys, int hd, float scale, float *scores);

/* Per-ISA implementations (call only when the CPU supports them). */
void ps__layernorm_avx2(float *out, const float *in, const float *w, const float *b, int C,
                        float eps);
void ps__gelu_tanh_avx2(float *x, size_t n);
void ps__softmax_avx2(float *x, int n);
void ps__attend_avx2(float *out, const float *q, const float *k, size_t ldk, const float *v,
                     size_t ldv, int n_keys, int hd, float scale, float *scores);
void ps__layernorm_avx512(float *out, const float *in, const float *w, const float *b, int C,
                          float eps);
void ps__gelu_tanh_avx512(float *x, size_t n);
void ps__softmax_avx512(float *x, int n);
void ps__attend_avx512(float *out, const float *q, const float *k, size_t ldk, const float *v,
                       size_t ldv, int n_keys, int hd, float scale, float *scores);

#endif
