/* SPDX-License-Identifier: MIT */
/* udfcronctl run: fire a schedule now, and with --wait follow the run to its end. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "ctl-client.h"
#include "json-util.h"
#include "udfcronctl.h"

/* How long the first reply may take; the run's events after it may take as long as the run does. */
#define REPLY_TIMEOUT_MS (60 * 1000)

static void run_help(FILE *f) {
        fprintf(f, "Usage: udfcronctl run [OPTIONS] SCHEDULE\n"
                   "\n"
                   "Fire SCHEDULE now, outside its cron slots. Its overlap policy still applies: with\n"
                   "overlap = skip a run still active refuses it, with queue it waits for that run\n"
                   "(one run at most waits).\n"
                   "\n"
                   "  -p, --param NAME=VALUE  set parameter NAME to the string VALUE for this run only\n"
                   "                          (repeatable; no ${...} expansion; refused by engine\n"
                   "                          fusion, whose Spark job runs take no parameters)\n"
                   "  -w, --wait              follow the run: its output goes to stdout and stderr as\n"
                   "                          the run writes it, its progress to stderr, until it ends\n"
                   "  -j, --json              print the daemon's reply (and with --wait every event) as\n"
                   "                          JSON lines\n"
                   "  -h, --help              show this help\n"
                   "\n"
                   "Interrupting --wait leaves the run running ('udfcronctl cancel RUN_ID' stops it).\n"
                   "Exit status: 0 the run was started (with --wait: it succeeded), 1 refused, or\n"
                   "with --wait the run failed, timed out or was cancelled, 2 usage error, 3 the\n"
                   "daemon is not running.\n");
}

/* NAME=VALUE into the overrides object; a later value of NAME replaces an earlier one. */
static int add_param(cJSON *params, const char *arg) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
                fprintf(stderr, "udfcronctl run: --param wants NAME=VALUE, not '%s'\n", arg);
                return -EINVAL;
        }
        _cleanup_free_ char *name = strndup(arg, (size_t) (eq - arg));
        cJSON *value = cJSON_CreateString(eq + 1);
        if (!name || !value) {
                cJSON_Delete(value);
                return -ENOMEM;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(params, name);
        if (!cJSON_AddItemToObject(params, name, value)) {
                cJSON_Delete(value);
                return -ENOMEM;
        }
        return 0;
}

typedef struct Follow {
        bool json, colors;
        bool in_line[2]; /* [is_stderr]: the last output piece was partial */
} Follow;

/* A line about the run (not its output) on stderr. */
_printf_(3, 4) static void note(const Follow *f, const char *color, const char *format, ...) {
        bool c = f->colors && *color;
        va_list ap;
        fputs(c ? color : "", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputs(c ? CTL_RESET "\n" : "\n", stderr);
}

/* One event; returns the exit status when it was the last one, else -1. */
static int show_event(Follow *f, const ControlMessage *m) {
        const cJSON *e = m->root;
        const char *message = control_string(e, "message") ?: "";
        char attempt[24] = "?";
        uint64_t n;

        if (control_u64(e, "attempt", &n))
                snprintf(attempt, sizeof attempt, "%" PRIu64, n);
        if (f->json) {
                fflush(stdout);
        } else if (strcmp(m->event, "log") == 0) {
                const char *stream = control_string(e, "stream"), *line = control_string(e, "line");
                bool is_stderr = stream && strcmp(stream, "stderr") == 0, partial = false;
                (void) control_bool(e, "partial", &partial);
                FILE *out = is_stderr ? stderr : stdout;
                if (control_u64(e, "task", &n) && !f->in_line[is_stderr]) /* as udfcronctl logs */
                        fprintf(out, "task %" PRIu64 " | ", n);
                fputs(line ?: "", out);
                if (!partial)
                        fputc('\n', out);
                f->in_line[is_stderr] = partial;
                fflush(out);
        } else if (strcmp(m->event, "started") == 0)
                note(f, CTL_GREY, "started attempt %s: %s", attempt, message);
        else if (strcmp(m->event, "retry") == 0)
                note(f, CTL_YELLOW, "attempt %s failed: %s", attempt, message);
        else if (strcmp(m->event, "progress") == 0) { /* remote batch jobs */
                uint64_t finished = 0, total = 0;
                (void) control_u64(e, "finished", &finished);
                (void) control_u64(e, "total", &total);
                note(f, CTL_GREY, "progress: %" PRIu64 " of %" PRIu64 " tasks", finished, total);
        }
        else if (strcmp(m->event, "dropped") == 0) {
                char lines[24] = "some";
                if (control_u64(e, "lines", &n))
                        snprintf(lines, sizeof lines, "%" PRIu64, n);
                note(f, CTL_YELLOW, "(%s output lines not shown: they came faster than they were read)",
                     lines);
        }

        if (strcmp(m->event, "end") == 0) {
                const char *result = control_string(e, "result") ?: "?";
                if (!f->json)
                        note(f, ctl_word_color(result), "%s: %s", result, message);
                return strcmp(result, "succeeded") == 0 ? EXIT_OK : EXIT_FAILED;
        }
        if (strcmp(m->event, "detached") == 0) {
                if (!f->json)
                        note(f, CTL_YELLOW, "%s", message);
                return EXIT_FAILED;
        }
        return -1; /* events this version does not know are for newer clients */
}

static int follow(CtlConnection *c, bool json) {
        Follow f = { .json = json, .colors = ctl_colors(stderr) };
        for (;;) {
                ControlMessage m;
                int r = ctl_receive("run", c, -1, &m);
                if (r != EXIT_OK)
                        return r;
                if (json)
                        fputs(c->line, stdout);
                r = m.is_event ? show_event(&f, &m) : -1;
                control_message_done(&m);
                if (r >= 0)
                        return r;
        }
}

int verb_run(int argc, char **argv) {
        static const struct option options[] = {
                { "param", required_argument, NULL, 'p' },
                { "wait", no_argument, NULL, 'w' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(json_freep) cJSON *params = cJSON_CreateObject();
        _cleanup_free_ char *params_text = NULL;
        bool wait = false, json = false;
        int c, r;

        if (!params)
                return EXIT_FAILED;
        optind = 0;
        while ((c = getopt_long(argc, argv, "p:wjh", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        if ((r = add_param(params, optarg)) < 0)
                                return r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
                        break;
                case 'w':
                        wait = true;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        run_help(stdout);
                        return EXIT_OK;
                default:
                        run_help(stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "udfcronctl run: %s; see 'udfcronctl run --help'\n",
                        optind == argc ? "which schedule?" : "one schedule at a time");
                return EXIT_USAGE;
        }
        if (params->child && !(params_text = cJSON_PrintUnformatted(params)))
                return EXIT_FAILED;

        ControlRequest request = {
                .command = CONTROL_RUN,
                .schedule = argv[optind],
                .params = params_text,
                .wait = wait,
        };
        CtlConnection conn = { .fd = -1 };
        ControlMessage reply;
        r = ctl_open("run", &request, &conn);
        if (r == EXIT_OK)
                r = ctl_receive("run", &conn, REPLY_TIMEOUT_MS, &reply);
        if (r != EXIT_OK) {
                ctl_connection_done(&conn);
                return r;
        }
        if (json)
                fputs(conn.line, stdout);
        if (!reply.ok)
                r = ctl_print_failure("run", &reply);
        else if (!json) {
                bool queued = false;
                (void) control_bool(reply.root, "queued", &queued);
                /* with --wait, stdout is the run's own output */
                fprintf(wait ? stderr : stdout, "run %s of %s %s\n",
                        control_string(reply.root, "run_id") ?: "?", argv[optind],
                        queued ? "queued behind the active run (overlap = queue)" : "dispatched");
        }
        if (r == EXIT_OK && wait)
                r = follow(&conn, json);
        control_message_done(&reply);
        ctl_connection_done(&conn);
        return r;
}
