/*
 * opt_sampling.c - the sampling options shared by the commands that
 * generate text (generate, copy), parsed in one place so their ranges and
 * messages cannot drift apart.
 */
#include "cli.h"
#include "persona/lm.h"

int cli_sampling_option(const char *cmd, int argc, char **argv, int *i, int min_new,
                        struct ps_lm_gen_params *gp)
{
    const char *v = NULL, *opt = argv[*i];
    int missing = 0;
    long l;
    double d;

    if (cli_opt_value(argc, argv, i, "--max-new", "-n", &v, &missing)) {
        if (!missing) {
            if (cli_parse_long(cmd, "--max-new", v, min_new, 1 << 20, &l))
                return -1;
            gp->max_new = (int)l;
        }
    } else if (cli_opt_value(argc, argv, i, "--temperature", NULL, &v, &missing)) {
        if (!missing) {
            if (cli_parse_double(cmd, "--temperature", v, 0, 100, &d))
                return -1;
            gp->sampler.temperature = d;
        }
    } else if (cli_opt_value(argc, argv, i, "--top-k", NULL, &v, &missing)) {
        if (!missing) {
            if (cli_parse_long(cmd, "--top-k", v, 0, 1 << 24, &l))
                return -1;
            gp->sampler.top_k = (int)l;
        }
    } else if (cli_opt_value(argc, argv, i, "--top-p", NULL, &v, &missing)) {
        if (!missing) {
            if (cli_parse_double(cmd, "--top-p", v, 1e-9, 1, &d))
                return -1;
            gp->sampler.top_p = d;
        }
    } else if (cli_opt_value(argc, argv, i, "--repetition-penalty", NULL, &v, &missing)) {
        if (!missing) {
            if (cli_parse_double(cmd, "--repetition-penalty", v, 1e-3, 1000, &d))
                return -1;
            gp->sampler.repetition_penalty = d;
        }
    } else {
        return 0;
    }
    if (missing) {
        cli_usage_error(cmd, "option '%s' needs a value", opt);
        return -1;
    }
    return 1;
}
