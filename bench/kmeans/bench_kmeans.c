/*
 * bench_kmeans.c - persona side of the k-means benchmark (not a test).
 *
 *   bench_kmeans X.npy K N_INIT MAX_ITER TOL SEED ALGO [BATCH] [THREADS]
 *
 * ALGO: lloyd, hamerly, auto, minibatch (streamed from the .npy file).
 * Prints one line: tool algorithm wall_s cpu_s inertia n_iter rss_mb.  The time
 * covers the fit only (for minibatch it includes reading from disk).
 */
#include "persona/core.h"
#include "persona/kmeans.h"
#include "persona/npy.h"
#include "persona/pool.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int npy_read(void *ctx, size_t first, size_t count, float *dst, struct ps_err *err)
{
    return ps_npy_reader_read(ctx, first, count, dst, err);
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: bench_kmeans X.npy K N_INIT MAX_ITER TOL SEED ALGO [BATCH] [THREADS]\n");
        return 2;
    }
    struct ps_kmeans_params p = ps_kmeans_default_params();
    p.k = atoi(argv[2]);
    p.n_init = atoi(argv[3]);
    p.max_iter = atoi(argv[4]);
    p.tol = atof(argv[5]);
    p.seed = strtoull(argv[6], NULL, 10);
    int a = ps_kmeans_algorithm_parse(argv[7]);
    if (a < 0) {
        fprintf(stderr, "unknown algorithm %s\n", argv[7]);
        return 2;
    }
    p.algorithm = (enum ps_kmeans_algorithm)a;
    if (argc > 8)
        p.batch_size = (size_t)atol(argv[8]);
    int threads = argc > 9 ? atoi(argv[9]) : 0;
    struct ps_pool *pool = ps_pool_new(threads);
    struct ps_err err = {0};
    struct ps_kmeans_result r;
    double t0, dt, c0 = 0;
    int rc;
    if (p.algorithm == PS_KMEANS_MINIBATCH) {
        struct ps_npy_reader *rd;
        if (ps_npy_reader_open(&rd, argv[1], &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        struct ps_row_source src = {ps_npy_reader_rows(rd), (int)ps_npy_reader_cols(rd), npy_read, rd};
        t0 = ps_now();
        c0 = cpu_seconds();
        rc = ps_kmeans_minibatch(&src, &p, pool, 1, &r, &err);
        dt = ps_now() - t0;
        ps_npy_reader_close(rd);
    } else {
        float *X;
        size_t n, d;
        if (ps_npy_read_f32(argv[1], &X, &n, &d, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t0 = ps_now();
        c0 = cpu_seconds();
        rc = ps_kmeans_fit(X, n, (int)d, NULL, &p, pool, &r, &err);
        dt = ps_now() - t0;
        free(X);
    }
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("persona %s %.3f %.3f %.10g %d %.0f\n", argv[7], dt, cpu_seconds() - c0, r.inertia,
           r.n_iter, ps_peak_rss() / 1048576.0);
    ps_kmeans_result_release(&r);
    ps_pool_free(pool);
    return 0;
}
