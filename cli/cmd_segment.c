/*
 * cmd_segment.c - `persona segment`: scale features, cluster users with
 * K-means (or choose K), write labels, centroids, the model and readable
 * summaries; `persona segment assign` labels new users with a model.
 * A thin shell over segment.h.
 */
#include "cli.h"
#include "persona/cluster_metrics.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/afile.h"
#include "persona/progress.h"
#include "persona/reader.h"
#include "persona/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT_USAGE \
    "usage: persona segment --features FILE --out DIR [options]\n"                          \
    "       persona segment assign --model FILE --features FILE --out labels.csv\n\n"       \
    "  --features FILE     features.csv (user_id first) or features.npy with sidecars\n"     \
    "  --out DIR           labels.csv, centroids.csv, centroids_scaled.csv, model.psm,\n"    \
    "                      segments.json, segments.csv, k_selection.csv, run.json\n"         \
    "  --columns a,b,c     features to cluster on (default: browse_count,purchase_count,\n"  \
    "                      average_stay_time when present, else every numeric column);\n"   \
    "                      a text column is one-hot encoded\n"                              \
    "  --scale KIND        standard (default), robust, minmax or none\n"                     \
    "  --log1p a,b         log1p these columns before scaling (heavy-tailed counts)\n"      \
    "  --k N|auto          number of segments (default 5); auto picks the K with the\n"     \
    "                      best silhouette in --k-range (a larger K must win by > 0.005)\n"  \
    "  --k-range LO..HI    range for --k auto (default 2..12)\n"                             \
    "  --n-init N          k-means++ restarts (default 10)\n"                                \
    "  --max-iter N        iterations per restart (default 300)\n"                           \
    "  --tol X             relative tolerance, as scikit-learn (default 1e-4)\n"            \
    "  --seed S            random seed (default 42)\n"                                       \
    "  --algorithm A       auto (default, = hamerly), lloyd, elkan (runs hamerly),\n"        \
    "                      hamerly, minibatch (.npy input, streamed)\n"                     \
    "  --batch-size N      minibatch rows per step (default 1024)\n"                         \
    "  --silhouette-max N  exact silhouette up to N rows, seeded sample above (20000)\n"     \
    "  --lang en|zh        language of the generated segment names (default en)\n"          \
    "  --weight-column C   sample weight per user from numeric column C (k-means only)\n"  \
    "  --truth FILE        CSV user_id,<label>: report the adjusted Rand index\n"            \
    "  -t, --threads N     worker threads (default: all cores)\n"                            \
    "  -q, --quiet         no progress or table on stderr\n"

/* Reads truth CSV (user_id, label) and computes ARI against labels for the
 * users present in both. */
static int report_ari(const char *path, const struct ps_ftable *t, const int32_t *labels, int quiet)
{
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r;
    struct ps_err err = {0};
    if (ps_reader_open(&r, path, &rp, &err))
        return cli_fail_err(&err);
    if (ps_reader_n_columns(r) < 2) {
        ps_reader_close(r);
        return cli_fail("%s: expected columns user_id,<label>", path);
    }
    struct ps_strmap *classes = ps_strmap_new();
    int32_t *a = ps_xmalloc((t->n_rows + 1) * sizeof *a), *b = ps_xmalloc((t->n_rows + 1) * sizeof *b);
    size_t m = 0, missing = 0;
    int rc;
    while ((rc = ps_reader_next(r)) != PS_DONE) {
        if (rc == PS_ERR_BAD_ROW)
            continue;
        if (rc) {
            fprintf(stderr, "persona: error: %s\n", ps_reader_errmsg(r));
            break;
        }
        size_t ul, ll;
        const char *u = ps_reader_field(r, 0, &ul), *l = ps_reader_field(r, 1, &ll);
        int64_t row = ps_strmap_find(t->ids, u, ul);
        if (row < 0) {
            missing++;
            continue;
        }
        if (m < t->n_rows) {
            a[m] = (int32_t)ps_strmap_intern(classes, l, ll, NULL);
            b[m] = labels[row];
            m++;
        }
    }
    ps_reader_close(r);
    double ari = ps_adjusted_rand(a, b, m);
    printf("adjusted Rand index vs %s: %.4f (%zu users matched, %u classes, %zu truth rows not segmented)\n",
           path, ari, m, ps_strmap_count(classes), missing);
    (void)quiet;
    ps_strmap_free(classes);
    free(a);
    free(b);
    return rc < 0 && rc != PS_ERR_BAD_ROW ? CLI_FAIL : CLI_OK;
}

static void print_table(const struct ps_segment_result *r)
{
    printf("%4s %14s %10s %8s %14s %8s %6s\n", "k", "inertia", "silhouette", "rows", "calinski_h", "davies_b", "iter");
    for (int q = 0; q < r->n_scores; q++) {
        const struct ps_k_score *s = &r->scores[q];
        printf("%4d %14.6g %10.4f %8zu %14.6g %8.4f %6d%s\n", s->k, s->inertia, s->silhouette,
               s->silhouette_rows, s->calinski_harabasz, s->davies_bouldin, s->n_iter,
               s->k == r->model.k ? "  <- chosen" : "");
    }
}

static void print_segments(const struct ps_ftable *t, const struct ps_segment_result *r)
{
    for (int j = 0; j < r->model.k; j++) {
        const struct ps_segment_summary *s = &r->seg[j];
        printf("segment %d  %-40s %7zu users (%5.1f%%)", j, s->name, s->size, 100 * s->share);
        for (int q = 0; q < 3; q++)
            if (s->top[q] >= 0)
                printf("  %s %+.2f", t->names[s->top[q]], s->z[s->top[q]]);
        printf("\n");
    }
}

static int cmd_assign(int argc, char **argv)
{
    const char *model = NULL, *features = NULL, *out = NULL;
    long threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--model", NULL, &v, &missing)) {
            model = v;
        } else if (cli_opt_value(argc, argv, &i, "--features", NULL, &v, &missing)) {
            features = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (v && cli_parse_long("segment assign", "--threads", v, 0, 1024, &threads))
                return CLI_USAGE;
        } else {
            return cli_usage_error("segment", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("segment", "option '%s' needs a value", a);
    }
    if (!model || !features || !out)
        return cli_usage_error("segment", "assign needs --model, --features and --out");
    cli_setup_logging(quiet);
    struct ps_err err = {0};
    struct ps_segment_model m;
    if (ps_segment_model_load(&m, model, &err))
        return cli_fail_err(&err);
    struct ps_ftable t;
    if (ps_ftable_load(&t, features, &err)) {
        ps_segment_model_release(&m);
        return cli_fail_err(&err);
    }
    struct ps_pool *pool = ps_pool_new((int)threads);
    int32_t *labels = ps_xmalloc((t.n_rows + 1) * sizeof *labels);
    float *dist = ps_xmalloc((t.n_rows + 1) * sizeof *dist);
    unsigned char *em = ps_xmalloc(t.n_rows + 1);
    int rc = ps_segment_assign(&m, &t, pool, labels, dist, em, &err);
    if (!rc) {
        struct ps_afile f;
        rc = ps_afile_open(&f, out, &err);
        if (!rc) {
            size_t n_em = 0;
            fputs("user_id,segment,distance,emerging\n", f.fp);
            for (size_t i = 0; i < t.n_rows; i++) {
                const char *u = ps_ftable_user(&t, i);
                if (strpbrk(u, ",\"\r\n")) {
                    fputc('"', f.fp);
                    for (const char *c = u; *c; c++) {
                        if (*c == '"')
                            fputc('"', f.fp);
                        fputc(*c, f.fp);
                    }
                    fputc('"', f.fp);
                } else {
                    fputs(u, f.fp);
                }
                fprintf(f.fp, ",%d,%.6g,%d\n", (int)labels[i], (double)dist[i], em[i]);
                n_em += em[i];
            }
            rc = ps_afile_commit(&f, &err);
            if (rc)
                ps_afile_abort(&f);
            else if (!quiet)
                fprintf(stderr, "assigned %zu users to %d segments; %zu emerging (%.2f%%) beyond the "
                                "99th-percentile training distance\n",
                        t.n_rows, m.k, n_em, t.n_rows ? 100.0 * n_em / t.n_rows : 0.0);
        }
    }
    free(labels);
    free(dist);
    free(em);
    ps_pool_free(pool);
    ps_ftable_release(&t);
    ps_segment_model_release(&m);
    return rc ? cli_fail_err(&err) : CLI_OK;
}

int ps__segment_minibatch_cli(const char *features, const struct ps_segment_params *p,
                              struct ps_pool *pool, const char *out, int quiet, struct ps_err *err);

static int cmd_segment_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "assign") == 0)
        return cmd_assign(argc - 1, argv + 1);
    struct ps_segment_params p = ps_segment_default_params();
    const char *features = NULL, *out = NULL, *truth = NULL;
    long threads = 0, lv, hv;
    double dv;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--features", NULL, &v, &missing)) {
            features = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--columns", NULL, &v, &missing)) {
            p.columns = v;
        } else if (cli_opt_value(argc, argv, &i, "--log1p", NULL, &v, &missing)) {
            p.log1p = v;
        } else if (cli_opt_value(argc, argv, &i, "--weight-column", NULL, &v, &missing)) {
            p.weight_column = v;
        } else if (cli_opt_value(argc, argv, &i, "--truth", NULL, &v, &missing)) {
            truth = v;
        } else if (cli_opt_value(argc, argv, &i, "--scale", NULL, &v, &missing)) {
            int s = v ? ps_scaler_kind_parse(v) : 0;
            if (s < 0)
                return cli_usage_error("segment", "option '--scale' expects standard, robust, minmax or none, got \"%s\"", v);
            p.scale = (enum ps_scaler_kind)s;
        } else if (cli_opt_value(argc, argv, &i, "--algorithm", NULL, &v, &missing)) {
            int s = v ? ps_kmeans_algorithm_parse(v) : 0;
            if (s < 0)
                return cli_usage_error("segment", "option '--algorithm' expects auto, lloyd, elkan, hamerly or minibatch, got \"%s\"", v);
            p.km.algorithm = (enum ps_kmeans_algorithm)s;
        } else if (cli_opt_value(argc, argv, &i, "--lang", NULL, &v, &missing)) {
            if (v && strcmp(v, "en") != 0 && strcmp(v, "zh") != 0)
                return cli_usage_error("segment", "option '--lang' expects en or zh, got \"%s\"", v);
            p.lang = v;
        } else if (cli_opt_value(argc, argv, &i, "--k", "-k", &v, &missing)) {
            if (v && strcmp(v, "auto") == 0)
                p.k = 0;
            else if (v) {
                if (cli_parse_long("segment", "--k", v, 1, 100000, &lv))
                    return CLI_USAGE;
                p.k = (int)lv;
            }
        } else if (cli_opt_value(argc, argv, &i, "--k-range", NULL, &v, &missing)) {
            if (v && cli_parse_range("segment", "--k-range", v, 2, 100000, &lv, &hv))
                return CLI_USAGE;
            if (v) {
                p.k_min = (int)lv;
                p.k_max = (int)hv;
            }
        } else if (cli_opt_value(argc, argv, &i, "--n-init", NULL, &v, &missing)) {
            if (v && cli_parse_long("segment", "--n-init", v, 1, 100000, &lv))
                return CLI_USAGE;
            if (v)
                p.km.n_init = (int)lv;
        } else if (cli_opt_value(argc, argv, &i, "--max-iter", NULL, &v, &missing)) {
            if (v && cli_parse_long("segment", "--max-iter", v, 1, 100000000, &lv))
                return CLI_USAGE;
            if (v)
                p.km.max_iter = (int)lv;
        } else if (cli_opt_value(argc, argv, &i, "--batch-size", NULL, &v, &missing)) {
            if (v && cli_parse_long("segment", "--batch-size", v, 1, 100000000, &lv))
                return CLI_USAGE;
            if (v)
                p.km.batch_size = (size_t)lv;
        } else if (cli_opt_value(argc, argv, &i, "--silhouette-max", NULL, &v, &missing)) {
            if (v && cli_parse_long("segment", "--silhouette-max", v, 0, 10000000, &lv))
                return CLI_USAGE;
            if (v)
                p.silhouette_max = (size_t)lv;
        } else if (cli_opt_value(argc, argv, &i, "--tol", NULL, &v, &missing)) {
            if (v && cli_parse_double("segment", "--tol", v, 0, 1e6, &dv))
                return CLI_USAGE;
            if (v)
                p.km.tol = dv;
        } else if (cli_opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            if (v && cli_parse_long("segment", "--seed", v, 0, 0x7fffffffffffffffL, &lv))
                return CLI_USAGE;
            if (v)
                p.km.seed = (uint64_t)lv;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (v && cli_parse_long("segment", "--threads", v, 0, 1024, &threads))
                return CLI_USAGE;
        } else {
            return cli_usage_error("segment", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("segment", "option '%s' needs a value", a);
    }
    if (!features || !out)
        return cli_usage_error("segment", "--features and --out are required");
    cli_setup_logging(quiet);
    ps_progress_set_quiet(quiet);
    struct ps_err err = {0};
    struct ps_pool *pool = ps_pool_new((int)threads);
    int rc;
    if (p.km.algorithm == PS_KMEANS_MINIBATCH) {
        if (truth)
            ps_log(PS_LOG_WARN, "--truth is not evaluated with --algorithm minibatch");
        rc = ps__segment_minibatch_cli(features, &p, pool, out, quiet, &err);
        ps_pool_free(pool);
        return rc ? cli_fail_err(&err) : CLI_OK;
    }
    struct ps_ftable t;
    if (ps_ftable_load(&t, features, &err)) {
        ps_pool_free(pool);
        return cli_fail_err(&err);
    }
    struct ps_segment_result r;
    rc = ps_segment_fit(&t, &p, pool, &r, &err);
    if (!rc)
        rc = ps_segment_write(&t, &r, out, &err);
    int code = CLI_OK;
    if (rc) {
        code = cli_fail_err(&err);
    } else {
        if (p.k == 0)
            print_table(&r);
        print_segments(&t, &r);
        if (!quiet)
            fprintf(stderr, "%zu users in %d segments: inertia %.6g, %d iterations, silhouette %.4f "
                            "(%zu rows), %.2f s; wrote %s/\n",
                    t.n_rows, r.model.k, r.model.inertia, r.model.n_iter, r.silhouette,
                    r.silhouette_rows, r.seconds, out);
        if (truth)
            code = report_ari(truth, &t, r.labels, quiet);
        ps_segment_result_release(&r);
    }
    ps_ftable_release(&t);
    ps_pool_free(pool);
    return code;
}

PS_COMMAND(segment, "cluster users into segments (scaling, k-means, summaries)", SEGMENT_USAGE,
           cmd_segment_main)
