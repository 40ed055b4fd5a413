/*
 * cli.h - what every command file shares: self-registration, strict
 * option-value parsing, error printing and exit codes.
 *
 * A command is one file cli/cmd_<name>.c that ends with
 *   PS_COMMAND(name, "one-line summary", "usage text", cmd_name_main)
 * and is then listed by `persona help` and dispatched by name.  The
 * handler gets argv with argv[0] = the command name and returns the exit
 * code: 0 ok, 1 data or I/O failure, 2 usage error.
 */
#ifndef PERSONA_CLI_H
#define PERSONA_CLI_H

#include <stdint.h>

#include "persona/status.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;     /* as typed: "clean" */
    const char *summary;  /* one line for `persona help` */
    const char *usage;    /* full usage for `persona help <cmd>` */
    int (*main)(int argc, char **argv);
};

void cli_register(const struct cli_command *c);

#define PS_COMMAND(id, summary_, usage_, fn_)                                \
    static const struct cli_command cli_cmd_##id = {#id, summary_, usage_, fn_}; \
    __attribute__((constructor)) static void cli_reg_##id(void)             \
    { cli_register(&cli_cmd_##id); }

/* Prints "persona <cmd>: <message>" and the usage hint; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "persona: error: <message>"; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints err's message as an error and returns the exit code for its
 * status (usage -> 2, everything else -> 1). */
int cli_fail_err(const struct ps_err *err);
/* Prints the usage of a command to stdout. */
void cli_print_usage(const char *cmd);

/* Strict number parsing for option values: the whole string must be a
 * number within [min, max].  On failure prints a usage error naming the
 * option and returns -1 (the caller returns CLI_USAGE). */
int cli_parse_long(const char *cmd, const char *opt, const char *s,
                   long min, long max, long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s,
                     double min, double max, double *out);
/* A non-negative integer up to 2^64 - 1 (seeds); overflow is an error. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* Parses "2..12" into lo and hi. */
int cli_parse_range(const char *cmd, const char *opt, const char *s,
                    long min, long max, long *lo, long *hi);

/* Matches argv[*i] against a value-taking option: "--name VALUE",
 * "--name=VALUE" or "ALIAS VALUE" (alias may be NULL).  Returns 1 when it
 * matched, with *val set (and *i advanced past a separate value), or with
 * *missing set when the value is absent; 0 when argv[*i] is another option. */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char *alias,
                  const char **val, int *missing);

/* Parses one text-sampling option at argv[*i] into gp: --max-new/-n (at
 * least min_new), --temperature, --top-k, --top-p, --repetition-penalty.
 * Returns 1 when handled, 0 when argv[*i] is another option, -1 after
 * printing a usage error.  (cli/opt_sampling.c) */
struct ps_lm_gen_params;
int cli_sampling_option(const char *cmd, int argc, char **argv, int *i, int min_new,
                        struct ps_lm_gen_params *gp);

/* Installs the stderr log printer (respects --quiet for info lines). */
void cli_setup_logging(int quiet);

#endif
