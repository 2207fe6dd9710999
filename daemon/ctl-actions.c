/* SPDX-License-Identifier: MIT */
/* udfcronctl skip, pause, resume, cancel and reload: one request each, a line of confirmation. */
#include <inttypes.h>
#include <stdio.h>

#include "ctl-client.h"
#include "json-util.h"
#include "udfcronctl.h"

typedef struct Action {
        const char *verb;
        ControlCommand command;
        const char *argument; /* "SCHEDULE", "RUN_ID" or NULL */
        const char *description;
} Action;

static const Action actions[] = {
        { "skip", CONTROL_SKIP, "SCHEDULE",
          "Skip the next fire of SCHEDULE (only that one; it is logged as skipped). The skip\n"
          "is kept in the state file, so it survives a restart." },
        { "pause", CONTROL_PAUSE, "SCHEDULE",
          "Pause SCHEDULE: its fires are skipped (and logged so) until it is resumed, also\n"
          "across restarts and reloads. Runs under way go on; 'udfcronctl run' still works." },
        { "resume", CONTROL_RESUME, "SCHEDULE",
          "Resume a paused SCHEDULE. Fires missed while it was paused do not catch up." },
        { "cancel", CONTROL_CANCEL, "RUN_ID",
          "Stop the run RUN_ID (see 'udfcronctl status SCHEDULE'): a running attempt gets\n"
          "SIGTERM (SIGKILL after kill_grace); a waiting one, or a pending retry, ends now.\n"
          "It is not retried." },
        { "reload", CONTROL_RELOAD, NULL,
          "Reload the configuration, as SIGHUP does. A configuration with errors is refused\n"
          "whole: its errors are printed as file:line: message, and the running one stays." },
};

static const Action *current;

static void action_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl %s%s%s\n"
                "\n"
                "%s\n"
                "\n"
                "  -h, --help   show this help\n"
                "\n"
                "Needs root or membership of the daemon's control_group.\n"
                "Exit status: 0 ok, 1 failed or refused, 2 usage error, 3 the daemon is not running.\n",
                current->verb, current->argument ? " " : "", current->argument ?: "", current->description);
}

static void confirm(const Action *a, const cJSON *r) {
        const char *schedule = control_string(r, "schedule");
        bool changed = true;
        uint64_t n = 0;

        switch (a->command) {
        case CONTROL_SKIP:
                printf("%s: the fire at %s will be skipped\n", schedule,
                       control_string(r, "skipped") ?: "?");
                break;
        case CONTROL_PAUSE:
        case CONTROL_RESUME:
                (void) control_bool(r, "changed", &changed);
                printf("%s %s\n", schedule,
                       a->command == CONTROL_PAUSE ? (changed ? "paused" : "was paused already")
                                                   : (changed ? "resumed" : "was not paused"));
                break;
        case CONTROL_CANCEL:
                printf("run %s of %s cancelled (it was %s)\n", control_string(r, "run_id"), schedule,
                       control_string(r, "was") ?: "?");
                break;
        case CONTROL_RELOAD:
                (void) control_u64(r, "schedules", &n);
                printf("reloaded: %" PRIu64 " schedule%s\n", n, n == 1 ? "" : "s");
                break;
        default:
                break;
        }
}

static int run_action(ControlCommand command, int argc, char **argv) {
        const Action *a = NULL;
        char *argument = NULL;
        ControlMessage reply;

        for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                if (actions[i].command == command)
                        a = current = &actions[i];
        int r = ctl_parse_simple(argc, argv, action_help, NULL, a->argument ? 1 : 0, a->argument ? 1 : 0,
                                 &argument);
        if (r != CTL_PROCEED)
                return r;
        ControlRequest request = { .command = a->command };
        if (a->command == CONTROL_CANCEL)
                request.run_id = argument;
        else
                request.schedule = argument;
        r = ctl_call(a->verb, &request, &reply, NULL);
        if (r != EXIT_OK)
                return r;
        confirm(a, reply.root);
        control_message_done(&reply);
        return EXIT_OK;
}

int verb_skip(int argc, char **argv) {
        return run_action(CONTROL_SKIP, argc, argv);
}

int verb_pause(int argc, char **argv) {
        return run_action(CONTROL_PAUSE, argc, argv);
}

int verb_resume(int argc, char **argv) {
        return run_action(CONTROL_RESUME, argc, argv);
}

int verb_cancel(int argc, char **argv) {
        return run_action(CONTROL_CANCEL, argc, argv);
}

int verb_reload(int argc, char **argv) {
        return run_action(CONTROL_RELOAD, argc, argv);
}
