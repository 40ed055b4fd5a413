/*
 * bench_reader.c - throughput of the CSV / JSON Lines reader.
 *
 *   bench_reader gen FILE MB [SEED]   writes an events-like CSV of about MB
 *                                     megabytes (deterministic by seed)
 *   bench_reader read FILE [REPEATS]  reads it REPEATS times (default 5) and
 *                                     prints the median wall time and MB/s of:
 *                                       floor   read() + memchr('\n') only
 *                                       reader  ps_reader, every field touched
 *                                       scalar  the same with the scalar scanner
 *
 * Each figure is the median over the runs of the process CPU time (user +
 * system, CLOCK_PROCESS_CPUTIME_ID), which stays meaningful on a shared,
 * loaded machine; wall time is printed beside it.
 *
 * The generated log mimics the canonical events table (docs/ARCHITECTURE.md):
 * user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id,
 * with about 8% non-ASCII queries (Chinese), 2% quoted fields holding commas
 * or doubled quotes, and empty fields where a value is missing.  Results and
 * commands are in bench/RESULTS-reader.md; the data is not committed.
 *
 * Build: make && cc -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_reader.c \
 *          build/libpersona.a -ljansson -lm -lpthread -o build/bench_reader
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona/core.h"
#include "persona/reader.h"
#include "persona/rng.h"

extern int ps__reader_force_scalar;

static const char *const events[] = { "view", "view", "view", "view", "view", "view",
                                      "search", "click", "cart", "fav", "purchase" };
static const char *const queries_zh[] = { "手机壳", "连衣裙 夏季", "蓝牙耳机 降噪",
                                          "洗发水", "笔记本电脑" };
static const char *const queries_en[] = { "phone case", "running shoes", "usb c cable" };

static int gen(const char *path, double mb, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    struct ps_rng rng;
    ps_rng_seed(&rng, seed, 1);
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fputs("user_id,ts,event,item_id,category,price,quantity,dwell_s,query,order_id\n", f);
    size_t target = (size_t)(mb * 1e6), written = 0;
    long ts = 1700000000;
    long order = 1000000;
    char line[512];
    while (written < target) {
        const char *ev = events[ps_rng_below(&rng, sizeof events / sizeof *events)];
        ts += (long)ps_rng_below(&rng, 3);
        char query[128] = "", dwell[32] = "", oid[32] = "";
        uint64_t q = ps_rng_below(&rng, 100);
        if (!strcmp(ev, "search") || q < 10) {
            if (q < 8)
                snprintf(query, sizeof query, "%s", queries_zh[q % 5]);
            else if (q < 9)
                snprintf(query, sizeof query, "\"red, size %d\"", (int)(q % 7));
            else if (q < 10)
                snprintf(query, sizeof query, "\"13\"\" screen\"");
            else
                snprintf(query, sizeof query, "%s", queries_en[q % 3]);
        }
        if (ps_rng_below(&rng, 10) < 7)
            snprintf(dwell, sizeof dwell, "%.1f", ps_rng_uniform(&rng) * 120);
        if (!strcmp(ev, "purchase"))
            snprintf(oid, sizeof oid, "o%ld", order++);
        int n = snprintf(line, sizeof line, "u%06u,%ld,%s,i%05u,c%03u,%.2f,%u,%s,%s,%s\n",
                         (unsigned)ps_rng_below(&rng, 200000), ts, ev,
                         (unsigned)ps_rng_below(&rng, 50000), (unsigned)ps_rng_below(&rng, 300),
                         1 + ps_rng_uniform(&rng) * 500, 1 + (unsigned)ps_rng_below(&rng, 3),
                         dwell, query, oid);
        fwrite(line, 1, (size_t)n, f);
        written += (size_t)n;
    }
    fclose(f);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall time of the last run, beside the CPU time each run returns. */
static double last_wall;

static double run_floor(const char *path, size_t *bytes, long *lines)
{
    double t0 = cpu_now(), w0 = ps_now();
    int fd = open(path, O_RDONLY);
    static char buf[1 << 20];
    ssize_t n;
    *bytes = 0, *lines = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        *bytes += (size_t)n;
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
            (*lines)++;
    }
    close(fd);
    last_wall = ps_now() - w0;
    return cpu_now() - t0;
}

static double run_reader(const char *path, long *records, size_t *sum)
{
    double t0 = cpu_now(), w0 = ps_now();
    struct ps_reader *r;
    struct ps_err err = { 0 };
    if (ps_reader_open(&r, path, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    int nc = ps_reader_n_columns(r), rc;
    *records = 0, *sum = 0;
    while ((rc = ps_reader_next(r)) != PS_DONE) {
        if (rc != PS_OK) {
            fprintf(stderr, "%s\n", ps_reader_errmsg(r));
            if (rc != PS_ERR_BAD_ROW)
                exit(1);
            continue;
        }
        (*records)++;
        for (int i = 0; i < nc; i++) {
            size_t len;
            const char *f = ps_reader_field(r, i, &len);
            *sum += len + (unsigned char)f[0];
        }
    }
    ps_reader_close(r);
    last_wall = ps_now() - w0;
    return cpu_now() - t0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "gen"))
        return gen(argv[2], atof(argv[3]), argc > 4 ? strtoull(argv[4], NULL, 10) : 42);
    if (argc < 3 || strcmp(argv[1], "read")) {
        fprintf(stderr, "usage: bench_reader gen FILE MB [SEED] | read FILE [REPEATS]\n");
        return 2;
    }
    const char *path = argv[2];
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > 50)
        reps = 5;
    double tf[50], tr[50], ts[50], wf[50], wr[50], ws[50];
    size_t bytes = 0, sum = 0, sum2 = 0;
    long lines = 0, recs = 0, recs2 = 0;
    for (int k = 0; k < reps; k++) {
        tf[k] = run_floor(path, &bytes, &lines);
        wf[k] = last_wall;
        ps__reader_force_scalar = 0;
        tr[k] = run_reader(path, &recs, &sum);
        wr[k] = last_wall;
        ps__reader_force_scalar = 1;
        ts[k] = run_reader(path, &recs2, &sum2);
        ws[k] = last_wall;
    }
    if (recs != recs2 || sum != sum2) {
        fprintf(stderr, "scanners disagree: %ld/%zu vs %ld/%zu\n", recs, sum, recs2, sum2);
        return 1;
    }
    qsort(tf, (size_t)reps, sizeof *tf, cmp_double);
    qsort(tr, (size_t)reps, sizeof *tr, cmp_double);
    qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
    qsort(wf, (size_t)reps, sizeof *wf, cmp_double);
    qsort(wr, (size_t)reps, sizeof *wr, cmp_double);
    qsort(ws, (size_t)reps, sizeof *ws, cmp_double);
    double mb = (double)bytes / 1e6;
    printf("file %s: %.1f MB, %ld lines, %ld records, %d runs (median)\n", path, mb, lines,
           recs, reps);
    int m = reps / 2;
    printf("        cpu s    MB/s (cpu)  wall s\n");
    printf("floor   %.3f  %7.0f       %.3f\n", tf[m], mb / tf[m], wf[m]);
    printf("reader  %.3f  %7.0f       %.3f   %.1f M records/s (cpu)\n", tr[m], mb / tr[m], wr[m],
           (double)recs / tr[m] / 1e6);
    printf("scalar  %.3f  %7.0f       %.3f\n", ts[m], mb / ts[m], ws[m]);
    printf("peak RSS %.1f MB\n", (double)ps_peak_rss() / 1e6);
    return 0;
}
