/* cmd_evaluate.c - `persona evaluate recommend` (offline ranking metrics
 * against popularity and random baselines) and `persona evaluate uplift`
 * (campaign lift with confidence intervals).  docs/apply.md. */
#include "cli.h"
#include "persona/core.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/recommend.h"
#include "persona/timeparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                         \
    "usage: persona evaluate recommend --events CLEAN.csv --split-at TS [options]\n"  \
    "       persona evaluate uplift --audience FILE --outcomes FILE [options]\n"      \
    "\n"                                                                              \
    "recommend: train on events before TS, test on purchases at or after it; the\n"   \
    "hybrid recommender, the popularity baseline and a random baseline in one run.\n" \
    "  --events FILE         canonical events CSV (persona clean)\n"                 \
    "  --workspace W         read W/clean/events.csv (and items, segment labels)\n"  \
    "  --items FILE          canonical items CSV (catalogue)\n"                      \
    "  --segments FILE       labels.csv of persona segment (note: labels computed on\n" \
    "                        all events see the test period)\n"                       \
    "  --split-at TS         Unix seconds or ISO-8601 time\n"                         \
    "  --k 5,10,20           cutoffs (default 5,10,20; at most 8)\n"                  \
    "  --exclude-purchased   drop items bought before the split (every method)\n"   \
    "  --mmr LAMBDA          diversity re-rank of the hybrid (default off)\n"        \
    "  --weights C,S,G,P     hybrid term weights: co-occurrence, the basket items\n"   \
    "                        themselves, segment and global popularity (1,0.1,0.3,0.1)\n" \
    "  --seed S              random baseline seed (default 42)\n"                     \
    "  --json                print method -> metric -> value as JSON\n"              \
    "  -t, --threads N       threads (default: all cores)\n"                          \
    "\n"                                                                              \
    "uplift: per group conversion and spend, lift with 95% intervals and p-values,\n" \
    "per-segment breakdown, Qini curve for a scored audience.\n"                      \
    "  --audience FILE       audience CSV (persona audience create): user_id,group\n" \
    "                        (treatment|control)[,segment][,score]\n"                 \
    "  --outcomes FILE       CSV user_id,converted(0/1),spend\n"                      \
    "  --qini FILE           also write the Qini curve as CSV\n"                      \
    "  --json                print the result as JSON\n"

static int opt_value(int argc, char **argv, int *i, const char *name, const char *alias,
                     const char **val, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (strcmp(a, name) == 0 || (alias && strcmp(a, alias) == 0)) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return 1;
        }
        *val = argv[++*i];
        return 1;
    }
    return 0;
}

static int parse_ks(const char *s, struct ps_eval_params *p)
{
    p->n_ks = 0;
    const char *c = s;
    while (*c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (end == c || (*end && *end != ',') || v < 1 || v > 1000 || p->n_ks >= PS_EVAL_MAX_K)
            return -1;
        p->ks[p->n_ks++] = (int)v;
        c = *end ? end + 1 : end;
    }
    return p->n_ks ? 0 : -1;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static void print_num(double v)
{
    if (isnan(v))
        printf("null");
    else
        printf("%.6f", v);
}

static int eval_recommend(int argc, char **argv)
{
    struct ps_eval_params p;
    memset(&p, 0, sizeof p);
    p.rec = ps_rec_default_params();
    p.seed = 42;
    p.n_ks = 3;
    p.ks[0] = 5;
    p.ks[1] = 10;
    p.ks[2] = 20;
    const char *events = NULL, *items = NULL, *segments = NULL, *workspace = NULL;
    int have_split = 0, json = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--exclude-purchased") == 0) {
            p.rec.exclude_purchased = 1;
        } else if (opt_value(argc, argv, &i, "--events", NULL, &v, &missing)) {
            events = v;
        } else if (opt_value(argc, argv, &i, "--items", NULL, &v, &missing)) {
            items = v;
        } else if (opt_value(argc, argv, &i, "--segments", NULL, &v, &missing)) {
            segments = v;
        } else if (opt_value(argc, argv, &i, "--workspace", NULL, &v, &missing)) {
            workspace = v;
        } else if (opt_value(argc, argv, &i, "--split-at", NULL, &v, &missing)) {
            if (!missing) {
                if (ps_time_parse(v, strlen(v), 0, &p.split_at) != PS_TIME_OK)
                    return cli_usage_error("evaluate", "option '--split-at' expects Unix seconds "
                                           "or an ISO-8601 time, got \"%s\"", v);
                have_split = 1;
            }
        } else if (opt_value(argc, argv, &i, "--k", NULL, &v, &missing)) {
            if (!missing && parse_ks(v, &p))
                return cli_usage_error("evaluate", "option '--k' expects up to %d cutoffs in "
                                       "1..1000 like 5,10,20, got \"%s\"", PS_EVAL_MAX_K, v);
        } else if (opt_value(argc, argv, &i, "--mmr", NULL, &v, &missing)) {
            if (!missing && cli_parse_double("evaluate", "--mmr", v, 0, 1, &p.rec.mmr_lambda))
                return CLI_USAGE;
        } else if (opt_value(argc, argv, &i, "--weights", NULL, &v, &missing)) {
            if (!missing && sscanf(v, "%lf,%lf,%lf,%lf", &p.rec.w_cf, &p.rec.w_self,
                                   &p.rec.w_segment, &p.rec.w_popular) != 4)
                return cli_usage_error("evaluate", "option '--weights' expects CF,SELF,SEGMENT,"
                                       "POPULAR like 1,0.1,0.3,0.1, got \"%s\"", v);
        } else if (opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            long s;
            if (!missing && cli_parse_long("evaluate", "--seed", v, 0, 0x7fffffffL, &s))
                return CLI_USAGE;
            p.seed = missing ? 0 : (uint64_t)s;
        } else if (opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing && cli_parse_long("evaluate", "--threads", v, 1, 1024, &threads))
                return CLI_USAGE;
        } else {
            return cli_usage_error("evaluate", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("evaluate", "option '%s' needs a value", a);
    }
    char wev[4096], wit[4096], wseg[4096];
    if (workspace) {
        snprintf(wev, sizeof wev, "%s/clean/events.csv", workspace);
        snprintf(wit, sizeof wit, "%s/clean/items.csv", workspace);
        snprintf(wseg, sizeof wseg, "%s/segment/labels.csv", workspace);
        if (!events)
            events = wev;
        if (!items && file_exists(wit))
            items = wit;
        if (!segments && file_exists(wseg))
            segments = wseg;
    }
    if (!events)
        return cli_usage_error("evaluate", "give --events FILE or --workspace W");
    if (!have_split)
        return cli_usage_error("evaluate", "option '--split-at' is required");

    struct ps_err err = {0};
    struct ps_interactions x;
    struct ps_eval_result res;
    int rc = CLI_OK;
    double t0 = ps_now();
    ps_interactions_init(&x);
    struct ps_pool *pool = NULL;
    if (ps_interactions_load_events(&x, events, &err) != PS_OK ||
        (items && ps_interactions_load_items(&x, items, &err) != PS_OK) ||
        (segments && ps_interactions_load_segments(&x, segments, NULL, &err) != PS_OK)) {
        rc = cli_fail_err(&err);
        goto done;
    }
    double t_load = ps_now() - t0;
    pool = ps_pool_new((int)threads);
    if (ps_evaluate_recommend(&x, &p, pool, &res, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    static const char *const mnames[] = {"precision", "recall", "ndcg", "map", "hit_rate",
                                         "coverage", "novelty"};
    if (json) {
        printf("{\"split_at\": %lld, \"train_events\": %zu, \"train_users\": %zu, "
               "\"test_users\": %zu, \"test_purchases\": %zu, \"catalogue\": %zu,\n"
               " \"seconds\": {\"load\": %.3f, \"build\": %.3f, \"recommend_and_score\": %.3f},\n"
               " \"methods\": {",
               (long long)p.split_at, res.n_train_events, res.n_train_users, res.n_test_users,
               res.n_test_purchases, res.n_catalogue, t_load, res.seconds_build,
               res.seconds_recommend);
        for (int m = 0; m < PS_EVAL_N_METHODS; m++) {
            printf("%s\n  \"%s\": {", m ? "," : "", ps_eval_method_name(m));
            int first = 1;
            for (int mi = 0; mi < 7; mi++)
                for (int ki = 0; ki < p.n_ks; ki++) {
                    const struct ps_metrics_result *r = &res.m[m][ki];
                    double v[7] = {r->mean.precision, r->mean.recall, r->mean.ndcg, r->mean.ap,
                                   r->mean.hit, r->coverage, r->novelty};
                    printf("%s\"%s@%d\": ", first ? "" : ", ", mnames[mi], p.ks[ki]);
                    print_num(v[mi]);
                    first = 0;
                }
            printf("}");
        }
        printf("\n }}\n");
    } else {
        printf("train: %zu events before %lld, %zu users; test: %zu users, %zu purchases; "
               "catalogue %zu items\n", res.n_train_events, (long long)p.split_at,
               res.n_train_users, res.n_test_users, res.n_test_purchases, res.n_catalogue);
        printf("%-8s %4s %10s %10s %10s %10s %10s %10s %10s\n", "method", "k", "precision",
               "recall", "ndcg", "map", "hit_rate", "coverage", "novelty");
        for (int ki = 0; ki < p.n_ks; ki++)
            for (int m = 0; m < PS_EVAL_N_METHODS; m++) {
                const struct ps_metrics_result *r = &res.m[m][ki];
                printf("%-8s %4d %10.4f %10.4f %10.4f %10.4f %10.4f %10.4f %10.3f\n",
                       ps_eval_method_name(m), p.ks[ki], r->mean.precision, r->mean.recall,
                       r->mean.ndcg, r->mean.ap, r->mean.hit, r->coverage, r->novelty);
            }
        printf("time: load %.2f s, model %.2f s, recommend and score %.2f s\n", t_load,
               res.seconds_build, res.seconds_recommend);
    }
done:
    ps_pool_free(pool);
    ps_interactions_release(&x);
    return rc;
}

static int ps__cmd_evaluate_uplift(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("evaluate uplift is not built yet");
}

static int cmd_evaluate_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("evaluate", "give a subcommand: recommend or uplift");
    if (strcmp(argv[1], "recommend") == 0)
        return eval_recommend(argc - 1, argv + 1);
    if (strcmp(argv[1], "uplift") == 0)
        return ps__cmd_evaluate_uplift(argc - 1, argv + 1);
    return cli_usage_error("evaluate", "unknown subcommand '%s' (recommend, uplift)", argv[1]);
}

PS_COMMAND(evaluate, "evaluate recommendations offline, or a campaign's uplift", USAGE,
           cmd_evaluate_main)
