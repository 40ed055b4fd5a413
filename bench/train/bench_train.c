/*
 * bench_train.c - training tokens/s of persona's GPT-2 trainer.
 *
 *   bench_train N_LAYER N_EMBD N_HEAD N_CTX VOCAB B T STEPS THREADS
 *
 * Random initialisation (seed 1) and random token ids (seeded); 2 warmup
 * steps, then STEPS timed optimizer steps (zero grad, forward, backward,
 * clip to 1, AdamW).  Prints one line per step and the median tokens/s.
 */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#include "persona/core.h"
#include "persona/pool.h"
#include "persona/rng.h"
#include "persona/train.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: bench_train N_LAYER N_EMBD N_HEAD N_CTX VOCAB B T STEPS THREADS\n");
        return 2;
    }
    struct ps_train_config c = {.n_layer = atoi(argv[1]), .n_embd = atoi(argv[2]),
                                .n_head = atoi(argv[3]), .n_ctx = atoi(argv[4]),
                                .n_vocab = atoi(argv[5]), .ln_eps = 1e-5f, .eos_id = -1};
    int B = atoi(argv[6]), T = atoi(argv[7]), steps = atoi(argv[8]), threads = atoi(argv[9]);
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_train_model *m = NULL;
    if (ps_train_model_init(&m, &c, 1, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct ps_pool *pool = ps_pool_new(threads);
    ps_set_blas_threads(threads);
    if (ps_train_reserve(m, B, T, pool, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int32_t *in = malloc(sizeof(int32_t) * B * T), *tg = malloc(sizeof(int32_t) * B * T);
    struct ps_rng r;
    ps_rng_seed(&r, 7, 0);
    struct ps_adamw_params ap = ps_adamw_default_params();
    double *dt = malloc(sizeof(double) * (steps + 2)), *dc = malloc(sizeof(double) * (steps + 2));
    for (int s = 0; s < steps + 2; s++) {
        for (int i = 0; i < B * T; i++) {
            in[i] = (int32_t)ps_rng_below(&r, (uint64_t)c.n_vocab);
            tg[i] = (int32_t)ps_rng_below(&r, (uint64_t)c.n_vocab);
        }
        double t0 = ps_now(), c0 = cpu_now();
        float loss;
        ps_train_zero_grad(m);
        if (ps_train_forward(m, in, tg, B, T, &loss, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ps_train_backward(m, 1.0f);
        ps_train_clip_grad_norm(m, 1.0);
        ps_adamw_step(m, &ap, 1e-4f);
        dt[s] = ps_now() - t0;
        dc[s] = cpu_now() - c0;
        if (s >= 2)
            printf("persona step %d: %.4f s, loss %.4f\n", s - 1, dt[s], loss);
    }
    qsort(dt + 2, (size_t)steps, sizeof(double), cmp_d);
    qsort(dc + 2, (size_t)steps, sizeof(double), cmp_d);
    double med = dt[2 + steps / 2], medc = dc[2 + steps / 2];
    printf("persona median: %.4f s/step, %.4f cpu-s/step, %.0f tokens/s (B=%d T=%d threads=%d, "
           "%zu params)\n",
           med, medc, B * T / med, B, T, threads, ps_train_n_params(m));
    free(dc);
    free(dt);
    free(in);
    free(tg);
    ps_pool_free(pool);
    ps_train_model_free(m);
    return 0;
}
