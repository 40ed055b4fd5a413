/*
 * bench_lm.c - persona's transformer engine on a GPT-2-124M-shaped
 * checkpoint: forward tokens/s at batch 16 x 64 and 1 x 128 (trunk, no LM
 * head), batch-1 greedy generation tokens/s (KV cache, LM head included),
 * the machine's sgemm GFLOP/s and read bandwidth, and peak RSS.
 *
 *   bench_lm MODEL_DIR THREADS [REPEATS]
 *
 * Prints one "key value" per line; bench/lm/run.sh collects them.
 * Medians of REPEATS timed runs after one warm-up.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/lm/ops.h"
#include "persona/core.h"
#include "persona/lm.h"
#include "persona/pool.h"
#include "persona/rng.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct bw_job {
    const float *a;
    size_t n;
    double part[64];
    int n_tasks;
};

static void bw_task(void *arg, int task, int worker)
{
    struct bw_job *j = arg;
    long lo, hi;
    (void)worker;
    ps_split_range((long)j->n, j->n_tasks, task, &lo, &hi);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (long i = lo; i + 8 <= hi; i += 8) {
        s0 += j->a[i], s1 += j->a[i + 1], s2 += j->a[i + 2], s3 += j->a[i + 3];
        s4 += j->a[i + 4], s5 += j->a[i + 5], s6 += j->a[i + 6], s7 += j->a[i + 7];
    }
    j->part[task] = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_lm MODEL_DIR THREADS [REPEATS]\n");
        return 2;
    }
    const char *dir = argv[1];
    int nt = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 5;
    struct ps_pool *pool = ps_pool_new(nt);
    ps_set_blas_threads(nt);
    double t[32];
    printf("isa %s\nthreads %d\n", ps_isa_name(ps_ops_isa()), nt);

    /* sgemm 2048^3 */
    {
        int n = 2048;
        float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
        for (size_t i = 0; i < (size_t)n * n; i++)
            a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
        ps_sgemm(0, n, n, n, 1, a, n, b, n, 0, c, n);
        for (int r = 0; r < 3; r++) {
            double t0 = ps_now();
            ps_sgemm(0, n, n, n, 1, a, n, b, n, 0, c, n);
            t[r] = 2.0 * n * n * (double)n / (ps_now() - t0) / 1e9;
        }
        printf("sgemm_2048_gflops %.1f\n", median(t, 3));
        free(a), free(b), free(c);
    }
    /* read bandwidth over 512 MB (larger than any cache) */
    {
        size_t n = (size_t)128 << 20;
        float *a = malloc(n * sizeof *a);
        for (size_t i = 0; i < n; i++)
            a[i] = 1.0f;
        struct bw_job j = {.a = a, .n = n, .n_tasks = nt};
        for (int r = 0; r < 3; r++) {
            double t0 = ps_now();
            ps_pool_run(pool, nt, bw_task, &j);
            t[r] = (double)n * 4 / (ps_now() - t0) / 1e9;
        }
        printf("read_gbs %.2f\n", median(t, 3));
        free(a);
    }

    struct ps_err err = {0};
    struct ps_lm *m = NULL;
    double t_load = ps_now();
    if (ps_lm_load(&m, dir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("load_s %.3f\ncheckpoint_bytes %zu\nconverted_bytes %zu\n", ps_now() - t_load,
           ps_lm_checkpoint_bytes(m), ps_lm_converted_bytes(m));
    const struct ps_lm_config *c = ps_lm_get_config(m);
    struct ps_rng rng;
    ps_rng_seed(&rng, 42, 0);
    int32_t *ids = malloc(16 * 128 * sizeof *ids);
    for (int i = 0; i < 16 * 128; i++)
        ids[i] = (int32_t)ps_rng_below(&rng, (uint64_t)c->n_vocab);

    /* Forward passes (trunk). */
    const int shapes[2][2] = {{16, 64}, {1, 128}};
    for (int s = 0; s < 2; s++) {
        int B = shapes[s][0], T = shapes[s][1];
        struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
        cp.max_batch = B;
        cp.max_tokens = T;
        cp.pool = pool;
        struct ps_lm_ctx *ctx = NULL;
        ps_lm_ctx_new(&ctx, m, &cp, &err);
        int32_t lens[16];
        for (int b = 0; b < B; b++)
            lens[b] = T;
        struct ps_lm_batch batch = {.n_rows = B, .stride = T, .ids = ids, .lens = lens};
        ps_lm_forward(ctx, &batch, &err);
        for (int r = 0; r < reps; r++) {
            double t0 = ps_now();
            ps_lm_forward(ctx, &batch, &err);
            t[r] = (double)B * T / (ps_now() - t0);
        }
        double tps = median(t, reps);
        /* 2 x parameters of the trunk matmuls + attention, per token. */
        double C = c->d_model, F = c->d_ff, L = c->n_layer;
        double flop_tok = L * (2 * C * 3 * C + 2 * C * C + 2 * 2 * C * F + 2.0 * 2 * C * (T + 1) / 2);
        printf("forward_%dx%d_tokens_per_s %.1f\nforward_%dx%d_gflops %.1f\n", B, T, tps, B, T,
               tps * flop_tok / 1e9);
        ps_lm_ctx_free(ctx);
    }
    /* Greedy generation, batch 1: 16-token prompt, 64 new tokens. */
    {
        struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
        cp.max_batch = 1;
        cp.max_tokens = 16 + 64;
        cp.kv_cache = 1;
        cp.logits = 1;
        cp.pool = pool;
        struct ps_lm_ctx *ctx = NULL;
        ps_lm_ctx_new(&ctx, m, &cp, &err);
        struct ps_lm_gen_params gp = ps_lm_gen_default_params();
        gp.max_new = 64;
        gp.stop_at_eos = 0;
        int32_t *out;
        size_t n_out;
        int greps = reps < 3 ? reps : 3;
        for (int r = 0; r <= greps; r++) {
            /* prefill once to time it separately */
            int32_t len = 16;
            struct ps_lm_batch b = {.n_rows = 1, .stride = 16, .ids = ids, .lens = &len};
            double t0 = ps_now();
            ps_lm_forward(ctx, &b, &err);
            double t_pre = ps_now() - t0;
            t0 = ps_now();
            ps_lm_generate(ctx, ids, 16, &gp, NULL, NULL, &out, &n_out, NULL, &err);
            double dt = ps_now() - t0 - t_pre; /* generate re-runs the prefill */
            free(out);
            if (r > 0)
                t[r - 1] = (double)(n_out - 1) / (dt > 0 ? dt : 1e-9);
        }
        double tps = median(t, greps);
        double bytes_tok = (double)ps_lm_checkpoint_bytes(m) - (double)c->n_ctx * c->d_model * 4;
        printf("generate_b1_tokens_per_s %.2f\nweight_bytes_per_token %.0f\n", tps, bytes_tok);
        ps_lm_ctx_free(ctx);
    }
    printf("peak_rss_bytes %zu\n", ps_peak_rss());
    free(ids);
    ps_lm_free(m);
    ps_pool_free(pool);
    return 0;
}
