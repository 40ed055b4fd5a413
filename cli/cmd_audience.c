/* cmd_audience.c - `persona audience create` (selection by tag rule,
 * stratified hash holdout, offers, CSV export) and `persona audience
 * simulate` (demo outcomes with a planted uplift).  audience.h. */
#include "cli.h"
#include "persona/audience.h"
#include "persona/log.h"
#include "persona/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                          \
    "usage: persona audience create (--profiles FILE | --workspace W) --name NAME\n"    \
    "                               [--where EXPR]\n"                                \
    "                               [--holdout 10%] [--stratify COL] [--min-size N]\n" \
    "                               [--offer RULES] [--score COL] --out FILE\n"        \
    "       persona audience simulate --audience FILE --uplift X [--base X]\n"         \
    "                               [--seed S] --out FILE\n"                           \
    "\n"                                                                               \
    "create: the profile rows (CSV, user_id first: features.csv or a profile\n"        \
    "export) that satisfy the tag-rule expression EXPR; --workspace W exports the\n"   \
    "latest snapshot of W/persona.db (persona profile export --format csv), reads\n"  \
    "that, and records the audience in W/persona.db.  A control group of\n"                                               \
    "--holdout (default 10%) chosen by hash of NAME and user id within each\n"         \
    "--stratify value (e.g. segment); offers from a rule file (rule name = offer,\n"   \
    "first match wins).  Audiences smaller than --min-size (default 100) are\n"        \
    "refused.  Output: user_id,group,stratum,offer,score.\n"                           \
    "simulate: outcomes user_id,converted,spend with conversion --base (default\n"     \
    "0.05) plus --uplift for the treatment group; seeded (default 42).\n"

/* Reads a whole small file (the offer rules) into a string; NULL on error. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct ps_buf b;
    ps_buf_init(&b);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (4u << 20))
        ps_buf_append(&b, chunk, got);
    fclose(f);
    ps_buf_append(&b, "", 1);
    return b.data;
}

/* Records the audience just written to out in W/persona.db against the
 * latest finished run (docs/store.md, "Audiences"). */
static int store_audience(const char *workspace, const struct ps_audience_params *p,
                          const char *out, struct ps_err *err)
{
    char db[4096];
    struct ps_store *st = NULL;
    snprintf(db, sizeof db, "%s/persona.db", workspace);
    int rc = ps_store_open(&st, db, err);
    if (rc != PS_OK)
        return rc;
    struct ps_store_audience a = {0};
    a.name = p->name;
    a.where = p->where;
    a.holdout = p->holdout;
    a.stratify = p->stratify;
    a.min_size = (int64_t)p->min_size;
    a.run_id = ps_store_latest_run(st);
    a.snapshot = ps_store_snapshot_of(st, a.run_id);
    char *offers = p->offer_rules ? read_text(p->offer_rules) : NULL;
    a.offers = offers;
    int64_t id = 0;
    if ((rc = ps_store_begin(st, err)) == PS_OK) {
        rc = ps_store_audience_put(st, &a, out, &id, err);
        if (rc == PS_OK)
            rc = ps_store_commit(st, err);
        else
            ps_store_rollback(st);
    }
    if (rc == PS_OK)
        ps_log(PS_LOG_INFO, "audience \"%s\": stored in %s as audience %lld (run %lld)", p->name,
               db, (long long)id, (long long)a.run_id);
    free(offers);
    ps_store_close(st);
    return rc;
}

static int audience_create(int argc, char **argv)
{
    struct ps_audience_params p = ps_audience_default_params();
    const char *profiles = NULL, *out = NULL, *workspace = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (cli_opt_value(argc, argv, &i, "--profiles", NULL, &v, &missing)) {
            profiles = v;
        } else if (cli_opt_value(argc, argv, &i, "--workspace", NULL, &v, &missing)) {
            workspace = v;
        } else if (cli_opt_value(argc, argv, &i, "--name", NULL, &v, &missing)) {
            p.name = v;
        } else if (cli_opt_value(argc, argv, &i, "--where", NULL, &v, &missing)) {
            p.where = v;
        } else if (cli_opt_value(argc, argv, &i, "--stratify", NULL, &v, &missing)) {
            p.stratify = v;
        } else if (cli_opt_value(argc, argv, &i, "--offer", NULL, &v, &missing)) {
            p.offer_rules = v;
        } else if (cli_opt_value(argc, argv, &i, "--score", NULL, &v, &missing)) {
            p.score_column = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", NULL, &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--holdout", NULL, &v, &missing)) {
            if (!missing) {
                char buf[64];
                size_t n = strlen(v);
                int pct = n > 0 && v[n - 1] == '%';
                snprintf(buf, sizeof buf, "%.*s", (int)(pct ? n - 1 : n), v);
                if (cli_parse_double("audience", "--holdout", buf, 0, pct ? 99.999 : 0.99999,
                                     &p.holdout))
                    return CLI_USAGE;
                if (pct)
                    p.holdout /= 100;
            }
        } else if (cli_opt_value(argc, argv, &i, "--min-size", NULL, &v, &missing)) {
            long n;
            if (!missing && cli_parse_long("audience", "--min-size", v, 0, 1L << 40, &n))
                return CLI_USAGE;
            p.min_size = missing ? 0 : (size_t)n;
        } else {
            return cli_usage_error("audience", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("audience", "option '%s' needs a value", a);
    }
    if (!!profiles + !!workspace != 1 || !p.name || !out)
        return cli_usage_error("audience", "create needs one of --profiles and --workspace, "
                               "--name and --out");
    cli_setup_logging(quiet);
    struct ps_err err = {0};
    struct ps_audience_summary s;
    char tmp[4096] = "";
    if (workspace) {
        /* The latest snapshot's profiles, exported to a temporary CSV. */
        char db[4096];
        struct ps_store *st = NULL;
        snprintf(db, sizeof db, "%s/persona.db", workspace);
        if (ps_store_open_ro(&st, db, &err) != PS_OK)
            return cli_fail_err(&err);
        int64_t snap = ps_store_latest_snapshot(st);
        if (snap <= 0) {
            ps_store_close(st);
            return cli_fail("no profiles in \"%s\": run 'persona run' first", db);
        }
        snprintf(tmp, sizeof tmp, "%s/.audience-profiles-XXXXXX", workspace);
        int fd = mkstemp(tmp);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            ps_store_close(st);
            if (fd >= 0)
                close(fd);
            return cli_fail("cannot create a temporary file in \"%s\"", workspace);
        }
        int rc = ps_store_export(st, snap, PS_STORE_CSV, f, &err);
        ps_store_close(st);
        if (fclose(f) != 0 && rc == PS_OK)
            rc = ps_err_set(&err, PS_ERR_IO, "cannot write \"%s\"", tmp);
        if (rc != PS_OK) {
            unlink(tmp);
            return cli_fail_err(&err);
        }
        profiles = tmp;
    }
    int rc = ps_audience_create(profiles, &p, out, &s, &err);
    if (tmp[0])
        unlink(tmp);
    if (rc != PS_OK)
        return cli_fail_err(&err);
    if (workspace && (rc = store_audience(workspace, &p, out, &err)) != PS_OK)
        return cli_fail_err(&err);
    ps_log(PS_LOG_INFO, "audience \"%s\": %zu of %zu profiles selected; %zu treatment, %zu control "
           "(%d strata)", p.name, s.n_selected, s.n_profiles, s.n_treatment, s.n_control,
           s.n_strata);
    return CLI_OK;
}

static int audience_simulate(int argc, char **argv)
{
    const char *aud = NULL, *out = NULL;
    double uplift = 0, base = 0.05;
    long seed = 42;
    int have_uplift = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (cli_opt_value(argc, argv, &i, "--audience", NULL, &v, &missing)) {
            aud = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", NULL, &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--uplift", NULL, &v, &missing)) {
            if (!missing && cli_parse_double("audience", "--uplift", v, -1, 1, &uplift))
                return CLI_USAGE;
            have_uplift = 1;
        } else if (cli_opt_value(argc, argv, &i, "--base", NULL, &v, &missing)) {
            if (!missing && cli_parse_double("audience", "--base", v, 0, 1, &base))
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            if (!missing && cli_parse_long("audience", "--seed", v, 0, 0x7fffffffL, &seed))
                return CLI_USAGE;
        } else {
            return cli_usage_error("audience", "unknown option '%s'", a);
        }
        if (missing)
            return cli_usage_error("audience", "option '%s' needs a value", a);
    }
    if (!aud || !out || !have_uplift)
        return cli_usage_error("audience", "simulate needs --audience, --uplift and --out");
    struct ps_err err = {0};
    if (ps_audience_simulate(aud, base, uplift, (uint64_t)seed, out, &err) != PS_OK)
        return cli_fail_err(&err);
    return CLI_OK;
}

static int cmd_audience_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("audience", "give a subcommand: create or simulate");
    if (strcmp(argv[1], "create") == 0)
        return audience_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "simulate") == 0)
        return audience_simulate(argc - 1, argv + 1);
    return cli_usage_error("audience", "unknown subcommand '%s' (create, simulate)", argv[1]);
}

PS_COMMAND(audience, "campaign audiences with holdout control groups; demo outcomes", USAGE,
           cmd_audience_main)
