/* cmd_recommend.c - `persona recommend`: hybrid recommendations with a
 * reason each, for one user or every user (recommend.h, docs/apply.md). */
#include "cli.h"
#include "persona/core.h"
#include "persona/afile.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/recommend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                        \
    "usage: persona recommend --events CLEAN.csv (--user U | --all) [options]\n"     \
    "       persona recommend --workspace W (--user U | --all) [options]\n"          \
    "\n"                                                                             \
    "  --events FILE         canonical events CSV (persona clean)\n"                \
    "  --texts FILE          canonical texts CSV: reviews and comments on items\n" \
    "                        count as basket events (reason \"reviewed X\")\n"      \
    "  --items FILE          canonical items CSV: catalogue and categories\n"       \
    "  --segments FILE       labels.csv of persona segment (segment names are read\n" \
    "                        from segments.csv beside it)\n"                         \
    "  --segment-names FILE  CSV segment,name (default: segments.csv beside labels)\n" \
    "  --item-vectors X.npy  item vectors (float32, X.ids.txt names the rows) for\n" \
    "                        content similarity\n"                                   \
    "  --workspace W         read W/clean/events.csv, W/clean/items.csv and\n"      \
    "                        W/clean/texts.csv, W/segment/labels.csv (those that exist)\n"             \
    "  --user U              recommend for one user\n"                               \
    "  --all                 recommend for every user (batch)\n"                     \
    "  --n N                 recommendations per user (default 10)\n"               \
    "  --exclude-purchased   never recommend what the user already bought\n"        \
    "  --category C          only items of category C\n"                             \
    "  --mmr LAMBDA          diversity re-rank, LAMBDA in (0, 1] (default off)\n"   \
    "  --neighbors N         neighbours kept per item (default 50)\n"               \
    "  --explain             readable list (rank, item, score, reason) instead of CSV\n" \
    "  --out FILE            output (default - = stdout)\n"                          \
    "  -t, --threads N       threads (default: all cores); same output at any N\n"  \
    "  -q, --quiet           no summary on stderr\n"                                 \
    "\n"                                                                             \
    "Output CSV: user_id,rank,item_id,score,reason.  Reasons: \"bought X\",\n"       \
    "\"carted X\", \"favourited X\", \"viewed X\", \"clicked X\", \"popular with <segment>\",\n" \
    "\"popular overall\", \"similar to your interests\".\n"

static void csv_field(FILE *f, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            quote = 1;
    if (!quote) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

static int file_exists(const char *p)
{
    FILE *f = fopen(p, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static int cmd_recommend_main(int argc, char **argv)
{
    struct ps_rec_params p = ps_rec_default_params();
    const char *events = NULL, *items = NULL, *texts = NULL, *segments = NULL, *names = NULL;
    const char *vectors = NULL;
    const char *workspace = NULL, *user = NULL, *category = NULL, *out = "-";
    int all = 0, explain = 0, quiet = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if (strcmp(a, "--explain") == 0) {
            explain = 1;
        } else if (strcmp(a, "--exclude-purchased") == 0) {
            p.exclude_purchased = 1;
        } else if (cli_opt_value(argc, argv, &i, "--events", NULL, &v, &missing)) {
            events = v;
        } else if (cli_opt_value(argc, argv, &i, "--items", NULL, &v, &missing)) {
            items = v;
        } else if (cli_opt_value(argc, argv, &i, "--texts", NULL, &v, &missing)) {
            texts = v;
        } else if (cli_opt_value(argc, argv, &i, "--segments", NULL, &v, &missing)) {
            segments = v;
        } else if (cli_opt_value(argc, argv, &i, "--segment-names", NULL, &v, &missing)) {
            names = v;
        } else if (cli_opt_value(argc, argv, &i, "--item-vectors", NULL, &v, &missing)) {
            vectors = v;
        } else if (cli_opt_value(argc, argv, &i, "--workspace", NULL, &v, &missing)) {
            workspace = v;
        } else if (cli_opt_value(argc, argv, &i, "--user", NULL, &v, &missing)) {
            user = v;
        } else if (cli_opt_value(argc, argv, &i, "--category", NULL, &v, &missing)) {
            category = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--n", "-n", &v, &missing)) {
            long n;
            if (!missing && cli_parse_long("recommend", "--n", v, 1, 10000, &n))
                return CLI_USAGE;
            p.n = (int)(missing ? 0 : n);
        } else if (cli_opt_value(argc, argv, &i, "--neighbors", NULL, &v, &missing)) {
            long n;
            if (!missing && cli_parse_long("recommend", "--neighbors", v, 1, 10000, &n))
                return CLI_USAGE;
            p.neighbors = (int)(missing ? 0 : n);
        } else if (cli_opt_value(argc, argv, &i, "--mmr", NULL, &v, &missing)) {
            if (!missing && cli_parse_double("recommend", "--mmr", v, 0, 1, &p.mmr_lambda))
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing && cli_parse_long("recommend", "--threads", v, 1, 1024, &threads))
                return CLI_USAGE;
        } else {
            return cli_usage_error("recommend", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("recommend", "option '%s' needs a value", a);
    }
    char wev[4096], wit[4096], wseg[4096], wtx[4096];
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
        if (!segments && file_exists(wseg))
            segments = wseg;
    }
    if (!events)
        return cli_usage_error("recommend", "give --events FILE or --workspace W");
    if (!!user + all != 1)
        return cli_usage_error("recommend", "give exactly one of --user U and --all");
    cli_setup_logging(quiet);

    struct ps_err err = {0};
    struct ps_interactions x;
    struct ps_recommender *r = NULL;
    struct ps_pool *pool = NULL;
    struct ps_afile af = {0};
    int rc = CLI_OK, af_open = 0;
    double t0 = ps_now();
    ps_interactions_init(&x);
    if (ps_interactions_load_events(&x, events, &err) != PS_OK ||
        (texts && ps_interactions_load_texts(&x, texts, &err) != PS_OK) ||
        (items && ps_interactions_load_items(&x, items, &err) != PS_OK) ||
        (segments && ps_interactions_load_segments(&x, segments, names, &err) != PS_OK) ||
        (vectors && ps_interactions_load_item_vectors(&x, vectors, &err) != PS_OK)) {
        rc = cli_fail_err(&err);
        goto done;
    }
    if (category) {
        int64_t c = ps_strmap_find(x.cats, category, strlen(category));
        if (c < 0) {
            rc = cli_fail("unknown category \"%s\" (not in the events or items)", category);
            goto done;
        }
        p.category = (int32_t)c;
    }
    double t_load = ps_now() - t0;
    pool = ps_pool_new((int)threads);
    if (ps_recommender_build(&x, &p, pool, &r, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto done;
    }
    double t_build = ps_now() - t0 - t_load;

    size_t n_users = 0;
    uint32_t *users;
    if (all) {
        n_users = ps_interactions_n_users(&x);
        users = ps_xmalloc((n_users ? n_users : 1) * sizeof *users);
        for (size_t u = 0; u < n_users; u++)
            users[u] = (uint32_t)u;
    } else {
        int64_t u = ps_strmap_find(x.users, user, strlen(user));
        users = ps_xmalloc(sizeof *users);
        n_users = 1;
        if (u < 0) {
            ps_log(PS_LOG_WARN, "user \"%s\" has no events or segment: recommending by popularity",
                   user);
            users[0] = (uint32_t)ps_interactions_n_users(&x); /* past the end = cold */
        } else {
            users[0] = (uint32_t)u;
        }
    }
    struct ps_rec_item *recs = ps_xmalloc((n_users ? n_users : 1) * (size_t)p.n * sizeof *recs);
    int *counts = ps_xmalloc((n_users ? n_users : 1) * sizeof *counts);
    ps_recommend_batch(r, users, n_users, pool, recs, counts);
    double t_rec = ps_now() - t0 - t_load - t_build;

    if (ps_afile_open(&af, out, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto free_recs;
    }
    af_open = 1;
    if (!explain)
        fputs("user_id,rank,item_id,score,reason\n", af.fp);
    char reason[512];
    size_t n_recs = 0;
    for (size_t i = 0; i < n_users; i++) {
        size_t ulen;
        const char *uid = users[i] < ps_interactions_n_users(&x)
                              ? ps_strmap_key(x.users, users[i], &ulen) : user;
        if (users[i] >= ps_interactions_n_users(&x))
            ulen = strlen(user);
        if (explain)
            fprintf(af.fp, "recommendations for %.*s:\n", (int)ulen, uid);
        for (int k = 0; k < counts[i]; k++) {
            const struct ps_rec_item *it = &recs[i * (size_t)p.n + k];
            size_t ilen;
            const char *iid = ps_strmap_key(x.items, it->item, &ilen);
            ps_rec_reason_text(r, it, reason, sizeof reason);
            if (explain) {
                const char *cat = "";
                size_t clen = 0;
                if (x.item_cat[it->item] >= 0)
                    cat = ps_strmap_key(x.cats, (uint32_t)x.item_cat[it->item], &clen);
                fprintf(af.fp, "  %2d. %.*s  %-10.*s score %.4f  because: %s", k + 1, (int)ilen,
                        iid, (int)clen, cat, it->score, reason);
                if (it->item < x.item_title_cap && x.item_title[it->item]) {
                    /* The title's first 40 characters (whole UTF-8 sequences). */
                    const char *t = x.item_title[it->item];
                    size_t b = 0;
                    for (int c = 0; t[b] && c < 40; c++)
                        do
                            b++;
                        while (((unsigned char)t[b] & 0xC0) == 0x80);
                    fprintf(af.fp, "  (%.*s%s)", (int)b, t, t[b] ? "…" : "");
                }
                fputc('\n', af.fp);
                continue;
            }
            csv_field(af.fp, uid, ulen);
            fprintf(af.fp, ",%d,", k + 1);
            csv_field(af.fp, iid, ilen);
            fprintf(af.fp, ",%.6f,", it->score);
            csv_field(af.fp, reason, strlen(reason));
            fputc('\n', af.fp);
        }
        n_recs += (size_t)counts[i];
    }
    if (ps_afile_commit(&af, &err) != PS_OK) {
        rc = cli_fail_err(&err);
        goto free_recs;
    }
    af_open = 0;
    ps_log(PS_LOG_INFO, "recommend: %zu users, %zu recommendations (%zu events, %zu items); "
           "load %.2f s, model %.2f s, recommend %.2f s (%.0f users/s)", n_users, n_recs, x.n,
           ps_interactions_n_items(&x), t_load, t_build, t_rec,
           t_rec > 0 ? (double)n_users / t_rec : 0.0);
free_recs:
    if (af_open)
        ps_afile_abort(&af);
    free(recs);
    free(counts);
    free(users);
done:
    ps_recommender_free(r);
    ps_pool_free(pool);
    ps_interactions_release(&x);
    return rc;
}

PS_COMMAND(recommend, "recommend items to users, with a reason for each", USAGE,
           cmd_recommend_main)
