/* SPDX-License-Identifier: MIT */
/* udfcronctl: inspect and control udfcrond, and preview schedules offline. */
#include "udfcronctl.h"

#include <stdio.h>
#include <string.h>

#include "macro.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} verbs[] = {
        { "check", verb_check, "validate the daemon's configuration (like udfcrond --check-config)" },
        { "next", verb_next, "print the next fire times of a cron expression" },
        { "history", verb_history, "a schedule's latest runs, from the journal" },
        { "logs", verb_logs, "one run's records and output, from the journal (-f follows)" },
        { "storage", verb_storage, "list, read, write, delete or sign objects in the configured storage" },
};

static void help(FILE *f) {
        fprintf(f, "Usage: udfcronctl [--help] [--version] COMMAND [ARGS...]\n"
                   "\n"
                   "Inspect and control the udfcron scheduler.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun 'udfcronctl COMMAND --help' for a command's options.\n"
                   "Exit status: 0 ok, 1 the operation failed, 2 usage error, 3 daemon not running.\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                help(stdout);
                return EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("udfcronctl %s\n", UDFCRON_VERSION);
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[1], verbs[i].name) == 0)
                        return verbs[i].run(argc - 1, argv + 1);

        fprintf(stderr, "udfcronctl: unknown command '%s'; see 'udfcronctl --help'\n", argv[1]);
        return EXIT_USAGE;
}
