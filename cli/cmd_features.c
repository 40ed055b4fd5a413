/* cmd_features.c - `persona features`: one row of behavioural features per
 * user from a canonical events CSV (definitions in docs/FEATURES.md). */
#include "cli.h"
#include "persona/features.h"
#include "persona/log.h"
#include "persona/progress.h"
#include "persona/timeparse.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                      \
    "usage: persona features --events CLEAN.csv --out FEATURES.csv [options]\n"    \
    "\n"                                                                           \
    "  --events FILE      canonical events CSV written by `persona clean` (- = stdin)\n" \
    "  --out FILE         features CSV, one row per user sorted by user_id (- = stdout)\n" \
    "  --npy X.npy        also write the numeric columns as float32 .npy, with\n"  \
    "                     X.json (column names) and X.ids.txt (user ids)\n"       \
    "  --as-of TS         snapshot time (Unix seconds or ISO-8601; default: the\n" \
    "                     latest event); later events are ignored\n"              \
    "  --tz-offset OFF    zone for days, dayparts and weekends: +08:00, -0530, Z\n" \
    "                     (default: UTC)\n"                                        \
    "  -t, --threads N    threads (default: all cores): one reads the file, the\n" \
    "                     others aggregate users by shard; same output at any N\n"   \
    "  -q, --quiet        no summary on stderr\n"                                  \
    "\n"                                                                           \
    "At least one of --out and --npy is required.\n"

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past the value. */
static int cmd_features_main(int argc, char **argv)
{
    struct ps_features_params p = ps_features_default_params();
    struct ps_features_summary sum;
    struct ps_err err = {0};
    int quiet = 0;

    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--events", NULL, &v, &missing)) {
            p.events_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            p.out_csv = v;
        } else if (cli_opt_value(argc, argv, &i, "--npy", NULL, &v, &missing)) {
            p.out_npy = v;
        } else if (cli_opt_value(argc, argv, &i, "--as-of", NULL, &v, &missing)) {
            if (!missing) {
                if (ps_time_parse(v, strlen(v), 0, &p.as_of) != PS_TIME_OK)
                    return cli_usage_error("features", "option '--as-of' expects Unix seconds "
                                           "or an ISO-8601 time, got \"%s\"", v);
                p.has_as_of = 1;
            }
        } else if (cli_opt_value(argc, argv, &i, "--tz-offset", NULL, &v, &missing)) {
            long off;
            if (!missing) {
                if (ps_time_parse_offset(v, &off) != 0)
                    return cli_usage_error("features", "option '--tz-offset' expects an offset "
                                           "like +08:00, -0530 or Z, got \"%s\"", v);
                p.tz_offset_s = (int)off;
            }
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            long n;
            if (!missing) {
                if (cli_parse_long("features", "--threads", v, 0, 1024, &n))
                    return CLI_USAGE;
                p.n_threads = (int)n;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("features", "unknown option '%s'", a);
        } else {
            return cli_usage_error("features", "unexpected argument '%s'", a);
        }
        if (missing)
            return cli_usage_error("features", "option '%s' needs a value", a);
    }
    if (!p.events_path)
        return cli_usage_error("features", "missing --events FILE");
    if (!p.out_csv && !p.out_npy)
        return cli_usage_error("features", "missing --out FILE (or --npy FILE)");
    if (ps_features_check_params(&p, 1, &err))
        return cli_usage_error("features", "%s", err.msg);

    cli_setup_logging(quiet);
    ps_progress_set_quiet(quiet);
    if (ps_features_run(&p, &sum, &err))
        return cli_fail_err(&err);
    char when[32];
    ps_time_format_iso(sum.as_of, when);
    ps_log(PS_LOG_INFO, "features: %ld events, %ld users, as of %s (%ld later events ignored), %.2f s",
           sum.n_rows, sum.n_users, when, sum.n_after_as_of, sum.seconds);
    return CLI_OK;
}

PS_COMMAND(features, "per-user behavioural features from a clean events log", USAGE,
           cmd_features_main)
