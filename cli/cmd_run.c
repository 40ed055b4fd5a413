/* cmd_run.c - `persona run`: the whole pipeline from a config file
 * (include/persona/workspace.h, docs/config.md). */
#include "cli.h"
#include "persona/core.h"
#include "persona/log.h"
#include "persona/workspace.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                          \
    "usage: persona run CONFIG [--workspace DIR] [-t N] [--force] [-q]\n"              \
    "\n"                                                                               \
    "Runs clean -> features -> segment -> topics -> vectors -> profiles -> report\n"  \
    "as CONFIG describes (docs/config.md; examples/demo.conf) into a workspace\n"     \
    "folder: persona.db (the profile store), the tables, matrices and models of\n"    \
    "each stage, and report.html.  Stages whose inputs and options did not change\n" \
    "since their last run are skipped; an interrupted run resumes.\n"                 \
    "\n"                                                                               \
    "  --workspace DIR   workspace folder (default: [run] workspace of CONFIG)\n"     \
    "  -t, --threads N   threads (default: [run] threads, else all CPUs)\n"          \
    "  --force           redo every stage\n"                                          \
    "  --stop-after S    stop after stage S as if interrupted (for tests)\n"          \
    "  -q, --quiet       no per-stage lines on stderr\n"

static int cmd_run_main(int argc, char **argv)
{
    struct ps_run_params p = ps_run_default_params();
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--force") == 0) {
            p.force = 1;
        } else if (strcmp(a, "--workspace") == 0 || strcmp(a, "--stop-after") == 0 ||
                   strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("run", "option '%s' needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--workspace") == 0) {
                p.workspace = v;
            } else if (strcmp(a, "--stop-after") == 0) {
                p.stop_after = v;
            } else {
                long n;
                if (cli_parse_long("run", a, v, 1, 4096, &n))
                    return CLI_USAGE;
                p.n_threads = (int)n;
            }
        } else if (strncmp(a, "--workspace=", 12) == 0) {
            p.workspace = a + 12;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("run", "unknown option '%s'", a);
        } else if (!p.config_path) {
            p.config_path = a;
        } else {
            return cli_usage_error("run", "too many arguments: \"%s\"", a);
        }
    }
    if (!p.config_path)
        return cli_usage_error("run", "missing the config file");
    cli_setup_logging(quiet);
    struct ps_run_result res;
    struct ps_err err = {0};
    int rc = ps_run(&p, &res, &err);
    if (rc)
        return cli_fail_err(&err);
    printf("stage            status      seconds      rows in     rows out\n");
    for (int i = 0; i < res.n_stages; i++) {
        const struct ps_run_stage *s = &res.stages[i];
        char in[32] = "-", out[32] = "-";
        if (s->rows_in >= 0)
            snprintf(in, sizeof in, "%lld", (long long)s->rows_in);
        if (s->rows_out >= 0)
            snprintf(out, sizeof out, "%lld", (long long)s->rows_out);
        printf("%-16s %-10s %8.2f %12s %12s\n", s->name,
               s->disabled ? "off" : s->skipped ? "skipped" : "done", s->seconds, in, out);
    }
    printf("run %lld: snapshot %lld, %.2f s, peak RSS %.1f MiB\n", (long long)res.run_id,
           (long long)res.snapshot, res.seconds, (double)res.peak_rss / (1024.0 * 1024.0));
    printf("report: %s/report.html\n", res.workspace);
    return CLI_OK;
}

PS_COMMAND(run, "run the whole pipeline from a config file into a workspace", USAGE, cmd_run_main)
