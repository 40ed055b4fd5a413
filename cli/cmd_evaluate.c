/* cmd_evaluate.c - `persona evaluate recommend` (offline ranking metrics
 * against popularity and random baselines) and `persona evaluate uplift`
 * (campaign lift with confidence intervals).  docs/apply.md. */
#include "cli.h"
#include "persona/core.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/recommend.h"
#include "persona/timeparse.h"
#include "persona/uplift.h"
#include "persona/hash.h"
#include "persona/reader.h"
#include "persona/afile.h"

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
    "  --workspace W         read W/clean/events.csv (and texts, items, segment labels)\n"  \
    "  --texts FILE          canonical texts CSV: reviews and comments on items\n" \
    "                        count as basket events (reason \"reviewed X\")\n"      \
    "  --items FILE          canonical items CSV (catalogue)\n"                      \
    "  --segments FILE       labels.csv of persona segment (note: labels computed on\n" \
    "                        all events see the test period)\n"                       \
    "  --segment-model FILE  model.psm of persona segment: label users by their\n"   \
    "                        features before the split (no leak; the workspace's\n"  \
    "                        model is used this way when present)\n"               \
    "  --split-at TS         Unix seconds or ISO-8601 time\n"                         \
    "  --k 5,10,20           cutoffs (default 5,10,20; at most 8)\n"                  \
    "  --exclude-purchased   drop items bought before the split (every method)\n"   \
    "  --mmr LAMBDA          diversity re-rank of the hybrid (default off)\n"        \
    "  --weights C,S,G,P     hybrid term weights: co-occurrence, the basket items\n"   \
    "                        themselves, segment and global popularity (1,0.1,0.6,0.5)\n" \
    "  --als                 also evaluate implicit-feedback ALS (matrix factorisation)\n" \
    "  --als-factors N       its factors (default 16); --als-iters N (default 8)\n"   \
    "  --seed S              random baseline seed (default 42)\n"                     \
    "  --json                print method -> metric -> value as JSON\n"              \
    "  -t, --threads N       threads (default: all cores)\n"                          \
    "\n"                                                                              \
    "uplift: per group conversion and spend, lift with 95% intervals and p-values,\n" \
    "per-segment breakdown, Qini curve for a scored audience.\n"                      \
    "  --audience FILE       audience CSV (persona audience create): user_id,group\n" \
    "                        (treatment|control)[,stratum][,score]; an empty score\n" \
    "                        ranks last in the Qini curve\n"                          \
    "  --outcomes FILE       CSV user_id,converted(0/1),spend\n"                      \
    "  --qini FILE           also write the Qini curve as CSV\n"                      \
    "  --json                print the result as JSON\n"

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
    p.als_params = ps_als_default_params();
    p.seed = 42;
    p.n_ks = 3;
    p.ks[0] = 5;
    p.ks[1] = 10;
    p.ks[2] = 20;
    const char *events = NULL, *items = NULL, *texts = NULL, *segments = NULL, *workspace = NULL;
    const char *seg_model = NULL;
    int have_split = 0, json = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--als") == 0) {
            p.als = 1;
        } else if (cli_opt_value(argc, argv, &i, "--als-factors", NULL, &v, &missing)) {
            long f;
            if (!missing && cli_parse_long("evaluate", "--als-factors", v, 1, 512, &f))
                return CLI_USAGE;
            p.als_params.factors = (int)(missing ? 0 : f);
            p.als = 1;
        } else if (cli_opt_value(argc, argv, &i, "--als-iters", NULL, &v, &missing)) {
            long n;
            if (!missing && cli_parse_long("evaluate", "--als-iters", v, 1, 1000, &n))
                return CLI_USAGE;
            p.als_params.iters = (int)(missing ? 0 : n);
            p.als = 1;
        } else if (strcmp(a, "--exclude-purchased") == 0) {
            p.rec.exclude_purchased = 1;
        } else if (cli_opt_value(argc, argv, &i, "--events", NULL, &v, &missing)) {
            events = v;
        } else if (cli_opt_value(argc, argv, &i, "--items", NULL, &v, &missing)) {
            items = v;
        } else if (cli_opt_value(argc, argv, &i, "--texts", NULL, &v, &missing)) {
            texts = v;
        } else if (cli_opt_value(argc, argv, &i, "--segments", NULL, &v, &missing)) {
            segments = v;
        } else if (cli_opt_value(argc, argv, &i, "--segment-model", NULL, &v, &missing)) {
            seg_model = v;
        } else if (cli_opt_value(argc, argv, &i, "--workspace", NULL, &v, &missing)) {
            workspace = v;
        } else if (cli_opt_value(argc, argv, &i, "--split-at", NULL, &v, &missing)) {
            if (!missing) {
                if (ps_time_parse(v, strlen(v), 0, &p.split_at) != PS_TIME_OK)
                    return cli_usage_error("evaluate", "option '--split-at' expects Unix seconds "
                                           "or an ISO-8601 time, got \"%s\"", v);
                have_split = 1;
            }
        } else if (cli_opt_value(argc, argv, &i, "--k", NULL, &v, &missing)) {
            if (!missing && parse_ks(v, &p))
                return cli_usage_error("evaluate", "option '--k' expects up to %d cutoffs in "
                                       "1..1000 like 5,10,20, got \"%s\"", PS_EVAL_MAX_K, v);
        } else if (cli_opt_value(argc, argv, &i, "--mmr", NULL, &v, &missing)) {
            if (!missing && cli_parse_double("evaluate", "--mmr", v, 0, 1, &p.rec.mmr_lambda))
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--weights", NULL, &v, &missing)) {
            if (!missing && sscanf(v, "%lf,%lf,%lf,%lf", &p.rec.w_cf, &p.rec.w_self,
                                   &p.rec.w_segment, &p.rec.w_popular) != 4)
                return cli_usage_error("evaluate", "option '--weights' expects CF,SELF,SEGMENT,"
                                       "POPULAR like 1,0.1,0.6,0.5, got \"%s\"", v);
        } else if (cli_opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            long s;
            if (!missing && cli_parse_long("evaluate", "--seed", v, 0, 0x7fffffffL, &s))
                return CLI_USAGE;
            p.seed = missing ? 0 : (uint64_t)s;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing && cli_parse_long("evaluate", "--threads", v, 1, 1024, &threads))
                return CLI_USAGE;
        } else {
            return cli_usage_error("evaluate", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("evaluate", "option '%s' needs a value", a);
    }
    char wev[4096], wit[4096], wseg[4096], wtx[4096], wmod[4096];
    if (workspace) {
        snprintf(wev, sizeof wev, "%s/clean/events.csv", workspace);
        snprintf(wit, sizeof wit, "%s/clean/items.csv", workspace);
        snprintf(wseg, sizeof wseg, "%s/segment/labels.csv", workspace);
        snprintf(wtx, sizeof wtx, "%s/clean/texts.csv", workspace);
        if (!texts && file_exists(wtx))
            texts = wtx;
        if (!events)
            events = wev;
        if (!items && file_exists(wit))
            items = wit;
        /* The segment model, when there is one, gives labels as of the
         * split (no leak of the test period); labels.csv otherwise. */
        snprintf(wmod, sizeof wmod, "%s/segment/model.psm", workspace);
        if (!segments && !seg_model && file_exists(wmod))
            seg_model = wmod;
        if (!segments && !seg_model && file_exists(wseg))
            segments = wseg;
    }
    if (!events)
        return cli_usage_error("evaluate", "give --events FILE or --workspace W");
    if (segments && seg_model)
        return cli_usage_error("evaluate", "give one of --segments and --segment-model");
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
        (texts && ps_interactions_load_texts(&x, texts, &err) != PS_OK) ||
        (items && ps_interactions_load_items(&x, items, &err) != PS_OK) ||
        (segments && ps_interactions_load_segments(&x, segments, NULL, &err) != PS_OK)) {
        rc = cli_fail_err(&err);
        goto done;
    }
    pool = ps_pool_new((int)threads);
    if (seg_model &&
        ps_interactions_segments_at(&x, events, p.split_at, seg_model, pool, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    double t_load = ps_now() - t0;
    if (ps_evaluate_recommend(&x, &p, pool, &res, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    static const char *const mnames[] = {"precision", "recall", "ndcg", "map", "hit_rate",
                                         "coverage", "novelty"};
    if (json) {
        printf("{\"split_at\": %lld, \"train_events\": %zu, \"train_users\": %zu, "
               "\"test_users\": %zu, \"test_purchases\": %zu, \"catalogue\": %zu,\n"
               " \"seconds\": {\"load\": %.3f, \"build\": %.3f, \"als\": %.3f, \"recommend_and_score\": %.3f},\n"
               " \"methods\": {",
               (long long)p.split_at, res.n_train_events, res.n_train_users, res.n_test_users,
               res.n_test_purchases, res.n_catalogue, t_load, res.seconds_build, res.seconds_als,
               res.seconds_recommend);
        for (int m = 0; m < res.n_methods; m++) {
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
            for (int m = 0; m < res.n_methods; m++) {
                const struct ps_metrics_result *r = &res.m[m][ki];
                printf("%-8s %4d %10.4f %10.4f %10.4f %10.4f %10.4f %10.4f %10.3f\n",
                       ps_eval_method_name(m), p.ks[ki], r->mean.precision, r->mean.recall,
                       r->mean.ndcg, r->mean.ap, r->mean.hit, r->coverage, r->novelty);
            }
        printf("time: load %.2f s, model %.2f s, recommend and score %.2f s\n", t_load,
               res.seconds_build, res.seconds_recommend);
        if (p.als)
            printf("ALS fit %.2f s (%d factors, %d iterations)\n", res.seconds_als,
                   p.als_params.factors, p.als_params.iters);
    }
done:
    ps_pool_free(pool);
    ps_interactions_release(&x);
    return rc;
}

struct up_user {
    uint8_t treat, conv;
    double spend, score;
    uint32_t stratum;
};

static void print_lift_line(const char *label, const struct ps_group_stats *t,
                            const struct ps_group_stats *c, const struct ps_lift *l, int json,
                            int first)
{
    if (json) {
        struct ps_buf key;
        ps_buf_init(&key);
        ps_buf_json_str(&key, label, strlen(label));
        printf("%s\n  %s: {\"n_treatment\": %zu, \"n_control\": %zu, \"rate_treatment\": ",
               first ? "" : ",", key.data, t->n, c->n);
        ps_buf_release(&key);
        print_num(t->rate);
        printf(", \"rate_control\": ");
        print_num(c->rate);
        double v[] = {l->abs, l->abs_lo, l->abs_hi, l->rel, l->rel_lo, l->rel_hi, l->p_value,
                      t->spend_mean, c->spend_mean, l->spend_diff, l->spend_lo, l->spend_hi,
                      l->df, l->spend_p_value};
        static const char *const k[] = {"lift", "lift_lo", "lift_hi", "rel_lift", "rel_lift_lo",
                                        "rel_lift_hi", "p_value", "spend_treatment",
                                        "spend_control", "spend_diff", "spend_diff_lo",
                                        "spend_diff_hi", "welch_df", "spend_p_value"};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            printf(", \"%s\": ", k[i]);
            print_num(v[i]);
        }
        printf("}");
        return;
    }
    printf("%-16s %7zu %7zu %8.4f %8.4f %+8.4f [%+.4f, %+.4f] p=%.4g  spend %+9.2f [%+.2f, %+.2f] "
           "p=%.4g\n", label, t->n, c->n, t->rate, c->rate, l->abs, l->abs_lo, l->abs_hi,
           l->p_value, l->spend_diff, l->spend_lo, l->spend_hi, l->spend_p_value);
}

static int group_lift(const struct up_user *u, size_t n, int stratum, struct ps_group_stats *gt,
                      struct ps_group_stats *gc, struct ps_lift *l, struct ps_err *err)
{
    uint8_t *ct = malloc(n + 1), *cc = malloc(n + 1);
    double *st = malloc((n + 1) * sizeof *st), *sc = malloc((n + 1) * sizeof *sc);
    size_t nt = 0, nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (stratum >= 0 && u[i].stratum != (uint32_t)stratum)
            continue;
        if (u[i].treat) {
            ct[nt] = u[i].conv;
            st[nt++] = u[i].spend;
        } else {
            cc[nc] = u[i].conv;
            sc[nc++] = u[i].spend;
        }
    }
    ps_group_stats(ct, st, nt, gt);
    ps_group_stats(cc, sc, nc, gc);
    int rc = ps_lift(gt, gc, l, err);
    free(ct);
    free(cc);
    free(st);
    free(sc);
    return rc;
}

static int ps__cmd_evaluate_uplift(int argc, char **argv)
{
    const char *aud = NULL, *outc = NULL, *qini_path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "--json") == 0)
            json = 1;
        else if (cli_opt_value(argc, argv, &i, "--audience", NULL, &v, &missing))
            aud = v;
        else if (cli_opt_value(argc, argv, &i, "--outcomes", NULL, &v, &missing))
            outc = v;
        else if (cli_opt_value(argc, argv, &i, "--qini", NULL, &v, &missing))
            qini_path = v;
        else
            return cli_usage_error("evaluate", "unknown option '%s'", a);
        if (missing)
            return cli_usage_error("evaluate", "option '%s' needs a value", a);
    }
    if (!aud || !outc)
        return cli_usage_error("evaluate", "uplift needs --audience and --outcomes");
    struct ps_err err = {0};
    struct ps_reader *r = NULL;
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_strmap *users = ps_strmap_new(), *strata = ps_strmap_new();
    struct up_user *u = NULL;
    size_t n = 0, cap = 0, n_unknown = 0;
    int rc = CLI_OK, have_score = 1;
    if (ps_reader_open(&r, aud, &rp, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    int cu = ps_reader_column_index(r, "user_id"), cg = ps_reader_column_index(r, "group");
    int cs = ps_reader_column_index(r, "stratum"), csc = ps_reader_column_index(r, "score");
    if (cs < 0)
        cs = ps_reader_column_index(r, "segment");
    if (cu < 0 || cg < 0) {
        rc = cli_fail("%s: missing column \"%s\"", aud, cu < 0 ? "user_id" : "group");
        goto done;
    }
    have_score = csc >= 0;
    int prc;
    while ((prc = ps_reader_next(r)) == PS_OK) {
        size_t len;
        const char *id = ps_reader_field(r, cu, &len);
        const char *g = ps_reader_field(r, cg, NULL);
        int inserted = 0;
        ps_strmap_intern(users, id, len, &inserted);
        if (!inserted) {
            rc = cli_fail("%s:%ld: user \"%s\" appears twice", aud, ps_reader_line(r), id);
            goto done;
        }
        u = ps_xgrow(u, &cap, n + 1, sizeof *u);
        memset(&u[n], 0, sizeof u[n]);
        if (strcmp(g, "treatment") == 0)
            u[n].treat = 1;
        else if (strcmp(g, "control") != 0) {
            rc = cli_fail("%s:%ld: column \"group\": expected treatment or control, got \"%s\"",
                          aud, ps_reader_line(r), g);
            goto done;
        }
        const char *st = cs >= 0 ? ps_reader_field(r, cs, NULL) : "";
        u[n].stratum = ps_strmap_intern(strata, st, strlen(st), NULL);
        if (csc >= 0) {
            /* An empty score ranks last (users the model could not score). */
            const char *sv = ps_reader_field(r, csc, NULL);
            char *end;
            u[n].score = sv[0] ? strtod(sv, &end) : -INFINITY;
            if (sv[0] && (*end || isnan(u[n].score))) {
                rc = cli_fail("%s:%ld: column \"score\": expected a number, got \"%s\"", aud,
                              ps_reader_line(r), sv);
                goto done;
            }
        }
        n++;
    }
    if (prc != PS_DONE) {
        rc = cli_fail("%s", ps_reader_errmsg(r));
        goto done;
    }
    ps_reader_close(r);
    r = NULL;
    if (ps_reader_open(&r, outc, &rp, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    int ou = ps_reader_column_index(r, "user_id"), oc = ps_reader_column_index(r, "converted");
    int os = ps_reader_column_index(r, "spend");
    if (ou < 0 || oc < 0) {
        rc = cli_fail("%s: missing column \"%s\"", outc, ou < 0 ? "user_id" : "converted");
        goto done;
    }
    while ((prc = ps_reader_next(r)) == PS_OK) {
        size_t len;
        const char *id = ps_reader_field(r, ou, &len);
        const char *cv = ps_reader_field(r, oc, NULL);
        const char *sp = os >= 0 ? ps_reader_field(r, os, NULL) : "";
        int64_t k = ps_strmap_find(users, id, len);
        if (strcmp(cv, "0") != 0 && strcmp(cv, "1") != 0) {
            rc = cli_fail("%s:%ld: column \"converted\": expected 0 or 1, got \"%s\"", outc,
                          ps_reader_line(r), cv);
            goto done;
        }
        char *end;
        double spend = sp[0] ? strtod(sp, &end) : 0;
        if (sp[0] && (*end || !isfinite(spend))) {
            rc = cli_fail("%s:%ld: column \"spend\": expected a number, got \"%s\"", outc,
                          ps_reader_line(r), sp);
            goto done;
        }
        if (k < 0) {
            n_unknown++;
            continue;
        }
        u[k].conv = cv[0] == '1';
        u[k].spend = spend;
    }
    if (prc != PS_DONE) {
        rc = cli_fail("%s", ps_reader_errmsg(r));
        goto done;
    }
    struct ps_group_stats gt, gc;
    struct ps_lift l;
    if (group_lift(u, n, -1, &gt, &gc, &l, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    if (json)
        printf("{\"users\": %zu, \"outcomes_not_in_audience\": %zu, \"groups\": {", n, n_unknown);
    else
        printf("audience: %zu users (%zu outcome rows for users outside it ignored; users "
               "without an outcome row count as not converted)\n%-16s %7s %7s %8s %8s %8s\n", n,
               n_unknown, "group", "treat", "control", "rate_t", "rate_c", "lift [95% CI]");
    print_lift_line("all", &gt, &gc, &l, json, 1);
    if (!json)
        printf("  relative lift %+.2f%% [%+.2f%%, %+.2f%%]; spend per user %.2f vs %.2f "
               "(Welch t = %.3f, df = %.1f)\n", 100 * l.rel, 100 * l.rel_lo, 100 * l.rel_hi,
               gt.spend_mean, gc.spend_mean, l.t, l.df);
    uint32_t ns = ps_strmap_count(strata);
    for (uint32_t s = 0; s < ns && ns > 1; s++) {
        struct ps_group_stats st_, sc_;
        struct ps_lift sl;
        char label[128];
        snprintf(label, sizeof label, "%s", ps_strmap_key(strata, s, NULL));
        if (group_lift(u, n, (int)s, &st_, &sc_, &sl, NULL) != PS_OK) {
            if (!json)
                printf("%-16s %7zu %7zu  (too few users for a lift)\n", label, st_.n, sc_.n);
            continue;
        }
        print_lift_line(label, &st_, &sc_, &sl, json, 0);
    }
    if (json)
        printf("}");
    if (have_score && n > 0) {
        uint8_t *tr = malloc(n), *cv = malloc(n);
        double *sc = malloc(n * sizeof *sc), *q = malloc((n + 1) * sizeof *q);
        for (size_t i = 0; i < n; i++) {
            tr[i] = u[i].treat;
            cv[i] = u[i].conv;
            sc[i] = u[i].score;
        }
        double coef = ps_qini(tr, cv, sc, n, q);
        double at10 = ps_uplift_at(tr, cv, sc, n, 0.1), at30 = ps_uplift_at(tr, cv, sc, n, 0.3);
        if (json) {
            printf(", \"qini_coefficient\": ");
            print_num(coef);
            printf(", \"uplift_at_10pct\": ");
            print_num(at10);
            printf(", \"uplift_at_30pct\": ");
            print_num(at30);
        } else {
            printf("qini coefficient %.5f; uplift@10%% %+.4f; uplift@30%% %+.4f\n", coef, at10,
                   at30);
        }
        if (qini_path) {
            struct ps_afile af;
            if (ps_afile_open(&af, qini_path, &err) == PS_OK) {
                fputs("targeted,qini\n", af.fp);
                for (size_t i = 0; i <= n; i++)
                    fprintf(af.fp, "%zu,%.6f\n", i, q[i]);
                if (ps_afile_commit(&af, &err) != PS_OK)
                    rc = cli_fail_err(&err);
            } else {
                rc = cli_fail_err(&err);
            }
        }
        free(tr);
        free(cv);
        free(sc);
        free(q);
    }
    if (json)
        printf("}\n");
done:
    ps_reader_close(r);
    ps_strmap_free(users);
    ps_strmap_free(strata);
    free(u);
    return rc;
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
