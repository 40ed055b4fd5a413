/*
 * bench_tokenizer.c - tokenizer throughput (not a test).
 *
 *   bench_tokenizer TOKENIZER CSV COLUMN [RUNS] [THREADS]
 *   bench_tokenizer TOKENIZER --long-word
 *
 * TOKENIZER is a checkpoint folder or "VOCAB.json:MERGES.txt".  Reads every
 * text of COLUMN into memory (ps_reader), then encodes all of them RUNS
 * times (default 5) on THREADS threads (default 1; texts split in equal
 * contiguous ranges) and prints the texts, bytes, tokens, the time of each
 * run and the median, MB/s and tokens/s.  --long-word times single words
 * without spaces of 12.5 KB to 3.2 MB (random lower-case letters) to show
 * the merge loop is O(n log n).
 */
#include "persona/core.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct texts {
    char **s;
    size_t *len;
    size_t n, cap;
};

struct job {
    const struct ps_tokenizer *t;
    const struct texts *tx;
    size_t lo, hi;
    size_t tokens;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct ps_err err = {0};
    j->tokens = 0;
    for (size_t i = j->lo; i < j->hi; i++) {
        int32_t *ids;
        size_t n;
        if (ps_tokenizer_encode(j->t, j->tx->s[i], j->tx->len[i], 0, &ids, &n, &err) == PS_OK) {
            j->tokens += n;
            free(ids);
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int load(const char *spec, struct ps_tokenizer **t, struct ps_err *err)
{
    const char *colon = strchr(spec, ':');
    if (!colon)
        return ps_tokenizer_load(t, spec, err);
    char *v = ps_xstrndup(spec, (size_t)(colon - spec));
    int rc = ps_tokenizer_load_bpe_files(t, v, colon + 1, err);
    free(v);
    return rc;
}

static void long_word(const struct ps_tokenizer *t)
{
    uint64_t x = 42;
    for (size_t n = 12500; n <= 3200000; n *= 2) {
        char *w = malloc(n);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w[i] = (char)('a' + (x >> 32) % 26);
        }
        double best = 1e9;
        size_t n_ids = 0;
        for (int r = 0; r < 3; r++) {
            int32_t *ids;
            struct ps_err err = {0};
            double t0 = ps_now();
            if (ps_tokenizer_encode(t, w, n, 0, &ids, &n_ids, &err) == PS_OK)
                free(ids);
            double dt = ps_now() - t0;
            if (dt < best)
                best = dt;
        }
        printf("long-word bytes=%zu tokens=%zu seconds=%.4f us_per_byte=%.3f\n", n, n_ids, best,
               1e6 * best / (double)n);
        free(w);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer TOKENIZER CSV COLUMN [RUNS] [THREADS]\n"
                        "       bench_tokenizer TOKENIZER --long-word\n");
        return 2;
    }
    struct ps_err err = {0};
    struct ps_tokenizer *t;
    double t0 = ps_now();
    if (load(argv[1], &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double load_s = ps_now() - t0;
    if (strcmp(argv[2], "--long-word") == 0) {
        long_word(t);
        ps_tokenizer_free(t);
        return 0;
    }
    if (argc < 4)
        return 2;
    int runs = argc > 4 ? atoi(argv[4]) : 5, threads = argc > 5 ? atoi(argv[5]) : 1;
    if (runs < 1 || runs > 100 || threads < 1 || threads > 64)
        return 2;
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r;
    if (ps_reader_open(&r, argv[2], &rp, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int col = ps_reader_column_index(r, argv[3]);
    if (col < 0) {
        fprintf(stderr, "no column %s\n", argv[3]);
        return 1;
    }
    struct texts tx = {0};
    size_t bytes = 0;
    int s;
    while ((s = ps_reader_next(r)) != PS_DONE) {
        if (s != PS_OK)
            continue;
        size_t len;
        const char *f = ps_reader_field(r, col, &len);
        tx.s = ps_xgrow(tx.s, &tx.cap, tx.n + 1, sizeof *tx.s);
        tx.len = ps_xrealloc(tx.len, tx.cap * sizeof *tx.len);
        tx.s[tx.n] = ps_xstrndup(f, len);
        tx.len[tx.n++] = len;
        bytes += len;
    }
    ps_reader_close(r);
    double times[100];
    size_t tokens = 0;
    for (int k = 0; k < runs; k++) {
        struct job jobs[64];
        pthread_t th[64];
        double a = ps_now();
        for (int j = 0; j < threads; j++) {
            jobs[j] = (struct job){t, &tx, tx.n * (size_t)j / (size_t)threads,
                                   tx.n * (size_t)(j + 1) / (size_t)threads, 0};
            pthread_create(&th[j], NULL, run_job, &jobs[j]);
        }
        tokens = 0;
        for (int j = 0; j < threads; j++) {
            pthread_join(th[j], NULL);
            tokens += jobs[j].tokens;
        }
        times[k] = ps_now() - a;
    }
    printf("tokenizer=%s threads=%d texts=%zu bytes=%zu tokens=%zu load_s=%.3f runs_s=", argv[1],
           threads, tx.n, bytes, tokens, load_s);
    for (int k = 0; k < runs; k++)
        printf("%s%.3f", k ? "," : "", times[k]);
    qsort(times, (size_t)runs, sizeof times[0], cmp_double);
    double med = times[runs / 2];
    printf(" median_s=%.3f MB_per_s=%.2f tokens_per_s=%.0f\n", med, (double)bytes / med / 1e6,
           (double)tokens / med);
    for (size_t i = 0; i < tx.n; i++)
        free(tx.s[i]);
    free(tx.s);
    free(tx.len);
    ps_tokenizer_free(t);
    return 0;
}
