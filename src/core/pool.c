/*
 * pool.c - fixed worker pool running parallel-for jobs (see pool.h).
 *
 * Tasks are handed out statically: worker w runs tasks w, w + n, w + 2n,
 * ... so which thread computes which task is fixed.  Reductions should
 * still combine per-task results in task order, which makes results
 * independent of scheduling.
 */
#include "persona/pool.h"
#include "persona/core.h"

#include <pthread.h>
#include <stdlib.h>

struct ps_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    unsigned long generation;
    int n_running;
    int stop;
    /* current job */
    ps_pool_fn fn;
    void *ctx;
    int n_tasks;
};

struct worker_arg {
    struct ps_pool *p;
    int index;
};

static void run_share(struct ps_pool *p, int w)
{
    for (int t = w; t < p->n_tasks; t += p->n_threads)
        p->fn(p->ctx, t, w);
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct ps_pool *p = wa->p;
    int w = wa->index;
    unsigned long seen = 0;
    free(wa);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->cv_start, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_share(p, w);
        pthread_mutex_lock(&p->mu);
        if (--p->n_running == 0)
            pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

struct ps_pool *ps_pool_new(int n_threads)
{
    struct ps_pool *p = ps_xcalloc(1, sizeof *p);
    if (n_threads <= 0)
        n_threads = ps_n_cpus();
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    /* Worker 0 is the calling thread; spawn the others. */
    p->threads = ps_xcalloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = ps_xmalloc(sizeof *wa);
        wa->p = p;
        wa->index = i;
        PS_ASSERT(pthread_create(&p->threads[i], NULL, worker_main, wa) == 0);
    }
    return p;
}

void ps_pool_free(struct ps_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
    free(p->threads);
    free(p);
}

int ps_pool_n_threads(const struct ps_pool *p)
{
    return p ? p->n_threads : 1;
}

void ps_pool_run(struct ps_pool *p, int n_tasks, ps_pool_fn fn, void *ctx)
{
    if (!p || p->n_threads == 1 || n_tasks <= 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->n_running = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    run_share(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->n_running > 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void ps_split_range(long n, int n_parts, int i, long *begin, long *end)
{
    long q = n / n_parts, r = n % n_parts;
    *begin = i * q + (i < r ? i : r);
    *end = *begin + q + (i < r ? 1 : 0);
}

/* OpenBLAS exports this; declared weak so the library links without it. */
extern void openblas_set_num_threads(int) __attribute__((weak));

void ps_set_blas_threads(int n)
{
    if (openblas_set_num_threads)
        openblas_set_num_threads(n > 0 ? n : ps_n_cpus());
}
