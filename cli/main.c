/*
 * main.c - the persona command: dispatches to the registered commands.
 *
 *   persona <command> [options]
 *   persona help [<command>]
 *   persona --version
 */
#include "cli.h"
#include "persona/core.h"
#include "persona/log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_command *commands[64];
static int n_commands;

void cli_register(const struct cli_command *c)
{
    PS_ASSERT(n_commands < (int)(sizeof commands / sizeof commands[0]));
    commands[n_commands++] = c;
}

static const struct cli_command *find_command(const char *name)
{
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

void cli_print_usage(const char *cmd)
{
    const struct cli_command *c = find_command(cmd);
    if (c)
        printf("%s\n\n%s", c->summary, c->usage);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "persona %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'persona help %s'\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "persona: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_fail_err(const struct ps_err *err)
{
    fprintf(stderr, "persona: error: %s\n", err->msg[0] ? err->msg : ps_status_str(err->status));
    return err->status == PS_ERR_USAGE ? CLI_USAGE : CLI_FAIL;
}

int cli_parse_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        cli_usage_error(cmd, "option '%s' expects an integer, got \"%s\"", opt, s);
        return -1;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "option '%s' must be in %ld..%ld, got %ld", opt, min, max, v);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        cli_usage_error(cmd, "option '%s' expects a number, got \"%s\"", opt, s);
        return -1;
    }
    if (v < min || v > max) {
        cli_usage_error(cmd, "option '%s' must be in [%g, %g], got %g", opt, min, max, v);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE) {
        cli_usage_error(cmd, "option '%s' expects a non-negative integer below 2^64, got \"%s\"",
                        opt, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_range(const char *cmd, const char *opt, const char *s, long min, long max,
                    long *lo, long *hi)
{
    const char *dots = strstr(s, "..");
    char a[64];
    if (!dots || (size_t)(dots - s) >= sizeof a) {
        cli_usage_error(cmd, "option '%s' expects a range like 2..12, got \"%s\"", opt, s);
        return -1;
    }
    memcpy(a, s, (size_t)(dots - s));
    a[dots - s] = '\0';
    if (cli_parse_long(cmd, opt, a, min, max, lo) || cli_parse_long(cmd, opt, dots + 2, min, max, hi))
        return -1;
    if (*lo > *hi) {
        cli_usage_error(cmd, "option '%s': empty range \"%s\"", opt, s);
        return -1;
    }
    return 0;
}

int cli_opt_value(int argc, char **argv, int *i, const char *name, const char *alias,
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

static int log_quiet;

static void log_to_stderr(enum ps_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (level == PS_LOG_WARN)
        fprintf(stderr, "persona: warning: %s\n", msg);
    else if (level == PS_LOG_INFO && !log_quiet)
        fprintf(stderr, "%s\n", msg);
    else if (level == PS_LOG_DEBUG && getenv("PERSONA_DEBUG"))
        fprintf(stderr, "debug: %s\n", msg);
}

void cli_setup_logging(int quiet)
{
    log_quiet = quiet;
    ps_log_set_callback(log_to_stderr, NULL);
}

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp((*(const struct cli_command *const *)a)->name,
                  (*(const struct cli_command *const *)b)->name);
}

static void print_help(void)
{
    printf("usage: persona <command> [options]\n"
           "       persona help <command>\n"
           "       persona --version\n\n"
           "persona builds e-commerce user profiles from a shop's raw data.\n\n"
           "commands:\n");
    for (int i = 0; i < n_commands; i++)
        printf("  %-12s %s\n", commands[i]->name, commands[i]->summary);
    printf("\n'persona help <command>' shows a command's options and defaults.\n");
}

int main(int argc, char **argv)
{
    qsort(commands, (size_t)n_commands, sizeof commands[0], cmp_cmd);
    cli_setup_logging(0);
    if (argc < 2) {
        print_help();
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("persona %s\n", PERSONA_VERSION);
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc > 2) {
            if (!find_command(argv[2])) {
                fprintf(stderr, "persona: '%s' is not a persona command. See 'persona help'.\n", argv[2]);
                return CLI_USAGE;
            }
            cli_print_usage(argv[2]);
            return CLI_OK;
        }
        print_help();
        return CLI_OK;
    }
    const struct cli_command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "persona: '%s' is not a persona command. See 'persona help'.\n", name);
        return CLI_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_print_usage(name);
            return CLI_OK;
        }
    return c->main(argc - 1, argv + 1);
}
