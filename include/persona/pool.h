/*
 * pool.h - the one thread pool.
 *
 * A fixed set of workers that runs parallel-for jobs.  Work is split into
 * tasks with fixed boundaries (never "whoever is free takes the next"
 * for reductions), so results are reproducible for a given thread count:
 * reduce per-task partial results in task order after the job.
 * ps_pool_set_blas_threads tells OpenBLAS the same count so the two never
 * oversubscribe the machine.
 */
#ifndef PERSONA_POOL_H
#define PERSONA_POOL_H

struct ps_pool;

/* Task callback: task index in [0, n_tasks), worker index in
 * [0, n_threads). */
typedef void (*ps_pool_fn)(void *ctx, int task, int worker);

/* n_threads <= 0 means all online CPUs. */
struct ps_pool *ps_pool_new(int n_threads);
void ps_pool_free(struct ps_pool *p);
int ps_pool_n_threads(const struct ps_pool *p);

/* Runs fn(ctx, t, w) for t in [0, n_tasks) and waits for all of them.
 * p may be NULL (runs serially on the caller).  Not re-entrant. */
void ps_pool_run(struct ps_pool *p, int n_tasks, ps_pool_fn fn, void *ctx);

/* Splits [0, n) into n_parts nearly equal ranges; range i is
 * [*begin, *end). */
void ps_split_range(long n, int n_parts, int i, long *begin, long *end);

/* Sets OpenBLAS's thread count (no-op without OpenBLAS). */
void ps_set_blas_threads(int n);

#endif
