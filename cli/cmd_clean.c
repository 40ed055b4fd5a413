/* cmd_clean.c - `persona clean`: raw exports -> canonical tables, with a
 * quarantine file and a summary (library: include/persona/clean.h,
 * behaviour: docs/cleaning.md). */
#include "cli.h"
#include "persona/clean.h"
#include "persona/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                         \
    "usage: persona clean --schema events|texts|items|users [--preset NAME]\n"        \
    "                     --in FILE [--in FILE...] --out FILE --quarantine FILE\n"     \
    "                     [--summary FILE.json] [--strict] [options]\n"               \
    "\n"                                                                              \
    "  --schema NAME        table to write: events, texts, items, users (may be\n"    \
    "                       left out with --preset: its first table)\n"               \
    "  --preset NAME        a public layout: taobao, tianchi-mobile, online-retail\n" \
    "                       (events or items), amazon-reviews (texts)\n"              \
    "  --in FILE            input CSV or JSON Lines (- = stdin); repeat for several\n" \
    "                       files of the same layout\n"                               \
    "  --out FILE           clean table, canonical columns (- = stdout)\n"            \
    "  --quarantine FILE    rejected rows as CSV line,reason,raw (file,line,reason,raw\n" \
    "                       with several inputs); required unless --strict\n"         \
    "  --summary FILE       also write the summary as JSON\n"                         \
    "  --strict             stop at the first bad row (exit 1)\n"                     \
    "  --format csv|jsonl   input format (default: preset, extension, content)\n"    \
    "  --delimiter C        ',', ';' or 'tab' (default: sniffed)\n"                   \
    "  --columns a,b,c      input column names for a headerless file\n"               \
    "  --header             with --columns: skip the file's header line (the\n"      \
    "                       declared names replace it)\n"                            \
    "  --map col=src,...    take canonical column col from input column src\n"        \
    "                       (default: same name, case-insensitive, or a known alias)\n" \
    "  --set col=value,...  give a column a fixed value (e.g. kind=review)\n"         \
    "  --event-map a=b,...  map input event names onto view, search, click, cart,\n"  \
    "                       fav, purchase, refund (built in: pv, buy, order, ...)\n"  \
    "  --dedup-key a,b,...  drop later rows with the same key (keep first), or 'none'\n" \
    "                       (default: item_id for items, user_id for users, none\n"   \
    "                       otherwise); exact duplicates are always removed\n"        \
    "  --missing col=P      P: drop (to quarantine), keep, fill:VALUE, median, mode;\n" \
    "                       repeatable (default: drop for required columns, keep\n"   \
    "                       for the others)\n"                                        \
    "  --tz OFFSET          zone of times written without one (+08:00; default UTC)\n" \
    "  -q, --quiet          no progress bar and no summary on stderr\n"              \
    "\n"                                                                              \
    "Exit status: 0 done (bad rows quarantined), 1 data or I/O error, 2 usage error.\n"

#define MAX_LIST 64

static int cmd_clean_main(int argc, char **argv)
{
    struct ps_clean_params p = ps_clean_default_params();
    struct ps_clean_summary sum;
    struct ps_err err = {0};
    const char *inputs[MAX_LIST], *missing_v[MAX_LIST];
    int n_in = 0, n_missing = 0, quiet = 0, have_schema = 0, header = 0;

    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int miss = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--strict") == 0) {
            p.strict = 1;
            continue;
        }
        if (strcmp(a, "--header") == 0) {
            header = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--schema", NULL, &v, &miss)) {
            if (!miss && ps_schema_parse(v, &p.schema))
                return cli_usage_error("clean", "unknown schema \"%s\" (events, texts, items, users)", v);
            have_schema = 1;
        } else if (cli_opt_value(argc, argv, &i, "--preset", NULL, &v, &miss)) {
            p.preset = v;
        } else if (cli_opt_value(argc, argv, &i, "--in", "-i", &v, &miss)) {
            if (!miss && n_in == MAX_LIST)
                return cli_usage_error("clean", "too many --in files (at most %d)", MAX_LIST);
            if (!miss)
                inputs[n_in++] = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &miss)) {
            p.out_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--quarantine", NULL, &v, &miss)) {
            p.quarantine_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--summary", NULL, &v, &miss)) {
            p.summary_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--format", NULL, &v, &miss)) {
            if (miss)
                return cli_usage_error("clean", "option '%s' needs a value", a);
            if (strcmp(v, "csv") == 0)
                p.format = PS_FORMAT_CSV;
            else if (strcmp(v, "jsonl") == 0)
                p.format = PS_FORMAT_JSONL;
            else
                return cli_usage_error("clean", "option '--format' expects csv or jsonl, got \"%s\"", v);
        } else if (cli_opt_value(argc, argv, &i, "--delimiter", "-d", &v, &miss)) {
            if (miss)
                return cli_usage_error("clean", "option '%s' needs a value", a);
            if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0 || strcmp(v, "\t") == 0)
                p.delimiter = '\t';
            else if (strcmp(v, ",") == 0 || strcmp(v, ";") == 0)
                p.delimiter = v[0];
            else
                return cli_usage_error("clean", "option '--delimiter' expects ',', ';' or 'tab', got \"%s\"", v);
        } else if (cli_opt_value(argc, argv, &i, "--columns", NULL, &v, &miss)) {
            p.columns = v;
        } else if (cli_opt_value(argc, argv, &i, "--map", NULL, &v, &miss)) {
            p.map = v;
        } else if (cli_opt_value(argc, argv, &i, "--set", NULL, &v, &miss)) {
            p.constants = v;
        } else if (cli_opt_value(argc, argv, &i, "--event-map", NULL, &v, &miss)) {
            p.event_map = v;
        } else if (cli_opt_value(argc, argv, &i, "--dedup-key", NULL, &v, &miss)) {
            p.dedup_key = v;
        } else if (cli_opt_value(argc, argv, &i, "--missing", NULL, &v, &miss)) {
            if (!miss && n_missing == MAX_LIST)
                return cli_usage_error("clean", "too many --missing options (at most %d)", MAX_LIST);
            if (!miss)
                missing_v[n_missing++] = v;
        } else if (cli_opt_value(argc, argv, &i, "--tz", "--tz-offset", &v, &miss)) {
            p.tz = v;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("clean", "unknown option '%s'", a);
        } else {
            return cli_usage_error("clean", "unexpected argument '%s' (inputs go after --in)", a);
        }
        if (miss)
            return cli_usage_error("clean", "option '%s' needs a value", a);
    }
    if (!have_schema && !p.preset)
        return cli_usage_error("clean", "missing --schema (events, texts, items or users)");
    p.schema_from_preset = !have_schema;
    if (n_in == 0)
        return cli_usage_error("clean", "missing --in FILE");
    if (!p.out_path)
        return cli_usage_error("clean", "missing --out FILE");
    if (!p.quarantine_path && !p.strict)
        return cli_usage_error("clean", "missing --quarantine FILE (or use --strict)");
    if (header)
        p.has_header = 1;
    p.inputs = inputs;
    p.n_inputs = n_in;
    p.missing = missing_v;
    p.n_missing = n_missing;
    p.progress = !quiet;
    ps_progress_set_quiet(quiet);
    if (ps_clean_check_params(&p, &err))
        return cli_usage_error("clean", "%s", err.msg);

    int rc = ps_clean_run(&p, &sum, &err);
    if (rc) {
        ps_clean_summary_release(&sum);
        return cli_fail_err(&err);
    }
    if (!quiet) {
        struct ps_buf b;
        ps_buf_init(&b);
        ps_clean_summary_text(&sum, &b);
        fputs(b.data, stderr);
        ps_buf_release(&b);
    }
    ps_clean_summary_release(&sum);
    return CLI_OK;
}

PS_COMMAND(clean, "clean raw exports into canonical tables (dedup, missing values, quarantine)",
           USAGE, cmd_clean_main)
