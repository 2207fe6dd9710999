/* SPDX-License-Identifier: MIT */
/* udfcronctl status [SCHEDULE]: the daemon at a glance, or one schedule in detail. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "ctl-client.h"
#include "json-util.h"
#include "udfcronctl.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* A line break and the indent of the text after a label(). */
#define NEXT_LINE "\n              "

static void status_help(FILE *f) {
        fprintf(f, "Usage: udfcronctl status [--json] [SCHEDULE]\n"
                   "\n"
                   "Without SCHEDULE: the daemon's version, uptime, configuration files, plugin\n"
                   "instances (one a line), schedule and run counts and its next fire. With\n"
                   "SCHEDULE: that schedule's definition, state, last run, runs in flight (with the\n"
                   "ids that 'udfcronctl cancel' takes) and its next 5 fires.\n"
                   "\n"
                   "  -j, --json   print the daemon's reply as one JSON object (see README)\n"
                   "  -h, --help   show this help\n"
                   "\n"
                   "Exit status: 0 ok, 1 failed (no such schedule), 2 usage error, 3 the daemon is not\n"
                   "running.\n");
}

typedef struct Printer {
        bool colors;
        uint64_t now;
} Printer;

static void label(const char *name) {
        printf("%-14s", name);
}

static void word(const Printer *p, const char *w) {
        const char *color = p->colors ? ctl_word_color(w) : "";
        printf("%s%s%s", color, w ?: "-", *color ? CTL_RESET : "");
}

/*
 * A fan-out attempt's tasks, after its run's line: ", 2 running, 3 pending, 1 failed", then a line for
 * each task the daemon listed (running, waiting for a retry, or failed) with its attempts and error.
 */
static void print_tasks(const Printer *p, const cJSON *run) {
        static const char *const states[] = { "running", "pending", "succeeded", "failed" };
        const cJSON *counts = cJSON_GetObjectItemCaseSensitive(run, "task_counts"), *task;
        uint64_t n;

        for (size_t i = 0; counts && i < ELEMENTSOF(states); i++)
                if (control_u64(counts, states[i], &n) && n > 0)
                        printf(", %" PRIu64 " %s", n, states[i]);
        cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(run, "tasks")) {
                uint64_t index = 0, attempts = 0;
                (void) control_u64(task, "task", &index);
                (void) control_u64(task, "attempts", &attempts);
                printf("\n                task %" PRIu64 " ", index);
                word(p, control_string(task, "state"));
                printf(" (%" PRIu64 " attempt%s)", attempts, attempts == 1 ? "" : "s");
                if (control_string(task, "error"))
                        printf(": %s", control_string(task, "error"));
        }
        if (control_u64(run, "tasks_not_listed", &n))
                printf("\n                and %" PRIu64 " more", n);
}

/* "2026-11-23T02:30:00+01:00 (in 6h 42m)" */
static void time_and_relative(const Printer *p, const cJSON *o, const char *text_key, const char *usec_key) {
        char rel[48];
        uint64_t t;
        const char *text = control_string(o, text_key);
        if (!text || !control_u64(o, usec_key, &t)) {
                fputs("-", stdout);
                return;
        }
        printf("%s (%s)", text, ctl_relative(p->now, t, rel, sizeof rel));
}

static void strings(const cJSON *array, const char *separator) {
        const cJSON *e;
        bool first = true;
        cJSON_ArrayForEach(e, array) {
                if (!cJSON_IsString(e))
                        continue;
                printf("%s%s", first ? "" : separator, e->valuestring);
                first = false;
        }
        if (first)
                fputs("none", stdout);
}

/* A line per instance: "storage/file (plugin file, ABI 1.3): .../storage-file.so, serves file://" */
static void print_plugins(const cJSON *plugins) {
        const cJSON *i, *scheme;
        bool any = false;
        label("Plugins:");
        cJSON_ArrayForEach(i, plugins) {
                printf("%s%s (plugin %s, ABI %s): %s", any ? NEXT_LINE : "",
                       control_string(i, "name") ?: "?", control_string(i, "plugin") ?: "?",
                       control_string(i, "abi") ?: "?", control_string(i, "path") ?: "?");
                const char *before = ", serves ";
                cJSON_ArrayForEach(scheme, cJSON_GetObjectItemCaseSensitive(i, "schemes")) {
                        if (!cJSON_IsString(scheme))
                                continue;
                        printf("%s%s://", before, scheme->valuestring);
                        before = " ";
                }
                any = true;
        }
        puts(any ? "" : "none");
}

static void print_daemon(const Printer *p, const cJSON *r) {
        char up[32];
        uint64_t pid = 0, uptime = 0, n = 0, enabled = 0, paused = 0, running = 0, waiting = 0, max = 0;
        bool stopping = false;
        (void) control_u64(r, "pid", &pid);
        (void) control_u64(r, "uptime_usec", &uptime);
        (void) control_u64(r, "schedules", &n);
        (void) control_u64(r, "enabled", &enabled);
        (void) control_u64(r, "paused", &paused);
        (void) control_u64(r, "runs_running", &running);
        (void) control_u64(r, "runs_waiting", &waiting);
        (void) control_u64(r, "max_concurrent_runs", &max);
        (void) control_bool(r, "stopping", &stopping);

        printf("%sudfcrond %s%s (pid %" PRIu64 "), %s, up %s\n", p->colors ? CTL_BOLD : "",
               control_string(r, "version") ?: "?", p->colors ? CTL_RESET : "", pid,
               stopping ? "stopping" : "running",
               ctl_duration(uptime / USEC_PER_SEC * USEC_PER_SEC, up, sizeof up));
        label("Config:");
        strings(cJSON_GetObjectItemCaseSensitive(r, "config_files"), NEXT_LINE);
        putchar('\n');
        label("State file:");
        printf("%s\n", control_string(r, "state_file") ?: "-");
        label("Socket:");
        printf("%s\n", control_string(r, "control_socket") ?: "-");
        print_plugins(cJSON_GetObjectItemCaseSensitive(r, "plugins"));
        label("Schedules:");
        printf("%" PRIu64 " (%" PRIu64 " enabled, %" PRIu64 " paused)\n", n, enabled, paused);
        label("Runs:");
        printf("%" PRIu64 " running, %" PRIu64 " waiting (max_concurrent_runs %" PRIu64 ")\n", running,
               waiting, max);
        label("Next fire:");
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r, "next");
        if (cJSON_IsObject(next)) {
                printf("%s at ", control_string(next, "schedule") ?: "?");
                time_and_relative(p, next, "time", "usec");
        } else
                fputs("nothing scheduled", stdout);
        putchar('\n');
}

static void print_work(const cJSON *s) {
        const char *work = control_string(s, "work");
        const cJSON *step;
        if (work && strcmp(work, "steps") == 0) {
                label("Steps:");
                cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(s, "steps")) printf(
                        "%s%s (%s)", step == cJSON_GetObjectItemCaseSensitive(s, "steps")->child ? "" : ", ",
                        control_string(step, "name") ?: "?", control_string(step, "type") ?: "?");
                putchar('\n');
        } else if (work && strcmp(work, "udf") == 0) {
                label("UDF:");
                printf("%s:%s\n", control_string(s, "udf") ?: "?", control_string(s, "entrypoint") ?: "?");
        } else {
                bool shell = false;
                (void) control_bool(s, "shell", &shell);
                label("Command:");
                fputs(shell ? "sh -c " : "", stdout);
                strings(cJSON_GetObjectItemCaseSensitive(s, "command"), " ");
                putchar('\n');
        }
        const cJSON *fanout = cJSON_GetObjectItemCaseSensitive(s, "fanout");
        uint64_t sets = 0, workers = 0, retries = 0;
        bool ignore = false;
        if (fanout && control_u64(fanout, "argument_sets", &sets) &&
            control_u64(fanout, "max_workers", &workers) && control_u64(fanout, "max_retry", &retries)) {
                (void) control_bool(fanout, "ignore_exceptions", &ignore);
                label("Fan-out:");
                printf("%" PRIu64 " argument sets, up to %" PRIu64 " at once, max_retry %" PRIu64
                       "%s, collect %s\n",
                       sets, workers, retries, ignore ? ", ignore_exceptions" : "",
                       control_string(fanout, "collect") ?: "?");
        }
        label("Parameters:");
        strings(cJSON_GetObjectItemCaseSensitive(s, "param_names"), ", ");
        putchar('\n');
        label("Environment:");
        strings(cJSON_GetObjectItemCaseSensitive(s, "environment_names"), ", ");
        putchar('\n');
}

static void print_policy(const cJSON *policy) {
        char timeout[32], jitter[32];
        uint64_t timeout_usec = 0, jitter_usec = 0, retries = 0;
        (void) control_u64(policy, "timeout_usec", &timeout_usec);
        (void) control_u64(policy, "jitter_usec", &jitter_usec);
        (void) control_u64(policy, "retries", &retries);
        label("Policy:");
        printf("overlap %s, catch_up %s, timeout %s, retries %" PRIu64 ", jitter %s, dst %s\n",
               control_string(policy, "overlap") ?: "?", control_string(policy, "catch_up") ?: "?",
               timeout_usec ? ctl_duration(timeout_usec, timeout, sizeof timeout) : "none", retries,
               ctl_duration(jitter_usec, jitter, sizeof jitter), control_string(policy, "dst") ?: "?");
}

static void print_schedule(const Printer *p, const cJSON *s) {
        const cJSON *fire, *run;
        uint64_t line = 0;

        printf("%s%s%s: ", p->colors ? CTL_BOLD : "", control_string(s, "name") ?: "?",
               p->colors ? CTL_RESET : "");
        word(p, control_string(s, "state"));
        putchar('\n');
        (void) control_u64(s, "line", &line);
        label("Defined at:");
        printf("%s:%" PRIu64 "\n", control_string(s, "file") ?: "?", line);
        label("Cron:");
        printf("%s (%s)\n", control_string(s, "cron") ?: "?", control_string(s, "timezone") ?: "?");
        print_work(s);
        print_policy(cJSON_GetObjectItemCaseSensitive(s, "policy"));

        label("Last run:");
        if (control_string(s, "last_result")) {
                word(p, control_string(s, "last_result"));
                if (control_string(s, "last_failed_step"))
                        printf(" at step '%s'", control_string(s, "last_failed_step"));
                printf(", run %s, ended ", control_string(s, "last_run_id") ?: "?");
                char rel[48];
                uint64_t end;
                if (control_u64(s, "last_end_usec", &end))
                        fputs(ctl_relative(p->now, end, rel, sizeof rel), stdout);
                putchar('\n');
        } else
                puts("never");

        label("In flight:");
        bool any = false;
        cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(s, "runs")) {
                char rel[48];
                uint64_t attempt = 0, started;
                (void) control_u64(run, "attempt", &attempt);
                printf("%s%s ", any ? NEXT_LINE : "", control_string(run, "run_id") ?: "?");
                word(p, control_string(run, "status"));
                printf(", attempt %" PRIu64, attempt);
                if (control_u64(run, "started_usec", &started))
                        printf(", started %s", ctl_relative(p->now, started, rel, sizeof rel));
                if (control_string(run, "job_id"))
                        printf(", job %s", control_string(run, "job_id"));
                uint64_t finished, total;
                if (control_u64(run, "tasks_finished", &finished) && control_u64(run, "tasks_total", &total))
                        printf(", %" PRIu64 " of %" PRIu64 " tasks", finished, total);
                print_tasks(p, run);
                any = true;
        }
        puts(any ? "" : "none");

        label("Next fires:");
        any = false;
        cJSON_ArrayForEach(fire, cJSON_GetObjectItemCaseSensitive(s, "next_fires")) {
                bool skipped = false;
                const char *dst = control_string(fire, "dst");
                (void) control_bool(fire, "skipped", &skipped);
                fputs(any ? NEXT_LINE : "", stdout);
                time_and_relative(p, fire, "time", "usec");
                if (dst)
                        printf(" [DST %s]",
                               strcmp(dst, "gap") == 0 ? "gap: shifted" : "repeat: second pass");
                if (skipped)
                        printf(" %s[skipped]%s", p->colors ? CTL_YELLOW : "", p->colors ? CTL_RESET : "");
                any = true;
        }
        puts(any ? "" : "none");
}

int verb_status(int argc, char **argv) {
        _cleanup_free_ char *raw = NULL;
        char *schedule;
        ControlMessage reply;
        bool json = false;

        int r = ctl_parse_simple(argc, argv, status_help, &json, 0, 1, &schedule);
        if (r != CTL_PROCEED)
                return r;
        r = ctl_call("status", &(ControlRequest){ .command = CONTROL_STATUS, .schedule = schedule }, &reply,
                     &raw);
        if (r != EXIT_OK)
                return r;

        Printer p = { .colors = ctl_colors(stdout) };
        (void) control_u64(reply.root, "now_usec", &p.now);
        if (json)
                fputs(raw, stdout);
        else if (schedule)
                print_schedule(&p, cJSON_GetObjectItemCaseSensitive(reply.root, "schedule"));
        else
                print_daemon(&p, reply.root);
        control_message_done(&reply);
        return EXIT_OK;
}
