/* cmd_version.c - `persona version`: the version and the libraries linked. */
#include "cli.h"
#include "persona/core.h"

#include <stdio.h>

static int cmd_version_main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error("version", "takes no arguments");
    printf("persona %s\n", PERSONA_VERSION);
    return CLI_OK;
}

PS_COMMAND(version, "print the version",
           "usage: persona version\n", cmd_version_main)
