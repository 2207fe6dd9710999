/* SPDX-License-Identifier: MIT */
/* udfcronctl check: validate the configuration offline, like udfcrond --check-config. */
#include <getopt.h>
#include <stdio.h>

#include "config-check.h"
#include "config.h"
#include "udfcronctl.h"

static void check_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl check [--config FILE]\n"
                "\n"
                "Validate the daemon's whole configuration (the main file and every schedule\n"
                "file) without the daemon. Every error is printed as file:line: message.\n"
                "\n"
                "  -c, --config FILE   main configuration file (default %s)\n"
                "  -h, --help          show this help\n"
                "\n"
                "Exit status: 0 valid, 1 errors found or unreadable, 2 usage error.\n",
                CONFIG_DEFAULT_PATH);
}

int verb_check(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *path = CONFIG_DEFAULT_PATH;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 'h':
                        check_help(stdout);
                        return EXIT_OK;
                default:
                        check_help(stderr);
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "udfcronctl check: unexpected argument '%s'\n", argv[optind]);
                return EXIT_USAGE;
        }
        return config_check("udfcronctl", path, stdout, stderr) < 0 ? EXIT_FAILED : EXIT_OK;
}
