/* SPDX-License-Identifier: MIT */
/* udfcronctl: inspect and control udfcrond, and preview schedules offline. */
#include "udfcronctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-client.h"
#include "macro.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} verbs[] = {
        { "list", verb_list, "list every schedule with its next fire, last result and state" },
        { "status", verb_status, "show the daemon's status, or one schedule's detail" },
        { "run", verb_run, "fire a schedule now (--wait follows the run to its end)" },
        { "skip", verb_skip, "skip a schedule's next fire" },
        { "pause", verb_pause, "pause a schedule until it is resumed" },
        { "resume", verb_resume, "resume a paused schedule" },
        { "cancel", verb_cancel, "stop a run" },
        { "reload", verb_reload, "reload the daemon's configuration" },
        { "check", verb_check, "validate the daemon's configuration (like udfcrond --check-config)" },
        { "next", verb_next, "print the next fire times of a cron expression" },
        { "history", verb_history, "a schedule's latest runs, from the journal" },
        { "logs", verb_logs, "one run's records and output, from the journal (-f follows)" },
        { "storage", verb_storage, "list, read, write, delete or sign objects in the configured storage" },
};

static void help(FILE *f) {
        fprintf(f, "Usage: udfcronctl [--socket PATH] [--help] [--version] COMMAND [ARGS...]\n"
                   "\n"
                   "Inspect and control the udfcron scheduler.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f,
                "\n"
                "  -s, --socket PATH   the daemon's control socket (default $UDFCRON_CONTROL_SOCKET,\n"
                "                      else %s)\n"
                "\n"
                "Run 'udfcronctl COMMAND --help' for a command's options. history, logs,\n"
                "storage, check and next work without the daemon.\n"
                "Exit status: 0 ok, 1 the operation failed, 2 usage error, 3 daemon not running.\n",
                CONTROL_SOCKET_DEFAULT);
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *env = getenv("UDFCRON_CONTROL_SOCKET");
        int c;

        if (env && *env)
                ctl_socket_path = env;
        /* options up to the command are udfcronctl's; the command parses the rest */
        while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        ctl_socket_path = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("udfcronctl %s\n", UDFCRON_VERSION);
                        return EXIT_OK;
                default:
                        help(stderr);
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }
        const char *verb = argv[optind];
        if (strcmp(verb, "help") == 0) {
                help(stdout);
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verb, verbs[i].name) == 0)
                        return verbs[i].run(argc - optind, argv + optind);

        fprintf(stderr, "udfcronctl: unknown command '%s'; see 'udfcronctl --help'\n", verb);
        return EXIT_USAGE;
}
