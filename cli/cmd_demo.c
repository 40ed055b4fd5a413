/* cmd_demo.c - `persona demo`: writes the synthetic demo shop (see
 * include/persona/demo.h and docs/demo.md). */
#include "cli.h"
#include "persona/core.h"
#include "persona/demo.h"
#include "persona/log.h"
#include "persona/workspace.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                        \
    "usage: persona demo DIR [--users N] [--seed S] [--items N] [--days N]\n"          \
    "                        [--activity F] [--no-dirt]\n"                           \
    "\n"                                                                             \
    "Writes a synthetic shop with planted personas into DIR: events.csv,\n"         \
    "texts.csv, items.csv, users.csv (raw, with planted dirt), truth.csv\n"          \
    "(user_id,persona, the answer key), manifest.json (rows and dirt per file)\n"   \
    "and persona.conf (run the whole pipeline: persona run DIR/persona.conf).\n"     \
    "\n"                                                                             \
    "  --users N     users (default 20000; about 50 events and 2 texts each)\n"     \
    "  --seed S      random seed (default 42); the same seed gives identical files\n" \
    "  --items N     catalogue size (default 2000)\n"                               \
    "  --days N      length of the activity window from 2026-01-01 (default 90)\n"  \
    "  --activity F  multiply events (and texts) per user by F (default 1)\n"      \
    "  --no-dirt     plant no duplicates, missing or malformed values\n"            \
    "  -q, --quiet   no summary on stderr\n"

/* "--name VALUE" or "--name=VALUE": returns the value, NULL if a is not the
 * option; sets *missing when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=')
        return a + n + 1;
    if (strcmp(a, name) != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return "";
    }
    return argv[++*i];
}

static int cmd_demo_main(int argc, char **argv)
{
    struct ps_demo_params p = ps_demo_default_params();
    struct ps_demo_stats st;
    struct ps_err err = {0};
    const char *dir = NULL;
    int quiet = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        long n;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--no-dirt") == 0) {
            p.dirt = 0;
        } else if ((v = opt_value(argc, argv, &i, "--users", &missing))) {
            if (missing)
                return cli_usage_error("demo", "option '--users' needs a value");
            if (cli_parse_long("demo", "--users", v, 1, 10000000, &n))
                return CLI_USAGE;
            p.n_users = n;
        } else if ((v = opt_value(argc, argv, &i, "--items", &missing))) {
            if (missing)
                return cli_usage_error("demo", "option '--items' needs a value");
            if (cli_parse_long("demo", "--items", v, 16, 1000000, &n))
                return CLI_USAGE;
            p.n_items = n;
        } else if ((v = opt_value(argc, argv, &i, "--days", &missing))) {
            if (missing)
                return cli_usage_error("demo", "option '--days' needs a value");
            if (cli_parse_long("demo", "--days", v, 7, 3650, &n))
                return CLI_USAGE;
            p.days = (int)n;
        } else if ((v = opt_value(argc, argv, &i, "--activity", &missing))) {
            if (missing)
                return cli_usage_error("demo", "option '--activity' needs a value");
            if (cli_parse_double("demo", "--activity", v, 0.1, 100, &p.activity))
                return CLI_USAGE;
        } else if ((v = opt_value(argc, argv, &i, "--seed", &missing))) {
            if (missing)
                return cli_usage_error("demo", "option '--seed' needs a value");
            if (cli_parse_long("demo", "--seed", v, 0, 0x7fffffffffffffffL, &n))
                return CLI_USAGE;
            p.seed = (uint64_t)n;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("demo", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return cli_usage_error("demo", "too many arguments: \"%s\"", a);
        }
    }
    if (!dir)
        return cli_usage_error("demo", "missing the output directory");
    cli_setup_logging(quiet);

    double t = ps_now();
    if (ps_demo_write(dir, &p, &st, &err))
        return cli_fail_err(&err);
    /* persona.conf beside the tables: `persona run DIR/persona.conf`. */
    char conf[4096];
    snprintf(conf, sizeof conf, "%s/persona.conf", dir);
    if (ps_run_write_demo_config(conf, &err))
        return cli_fail_err(&err);
    long dirty = 0;
    for (int f = 0; f < PS_DEMO_N_FILES; f++)
        for (int k = 0; k < PS_DEMO_N_DIRT; k++)
            dirty += st.dirt[f][k];
    ps_log(PS_LOG_INFO,
           "demo: wrote %s: %ld users, %ld events, %ld texts, %ld items "
           "(rows; %ld of them planted dirt, see manifest.json) in %.1f s",
           dir, p.n_users, st.rows[PS_DEMO_EVENTS], st.rows[PS_DEMO_TEXTS], p.n_items, dirty,
           ps_now() - t);
    return CLI_OK;
}

PS_COMMAND(demo, "write a synthetic demo shop with planted personas", USAGE, cmd_demo_main)
