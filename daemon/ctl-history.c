/* SPDX-License-Identifier: MIT */
/* udfcronctl history: a schedule's runs, one line each, read back from the journal. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctl-journal.h"
#include "history.h"
#include "json-util.h"
#include "schedule.h"
#include "terminal.h"
#include "udfcronctl.h"
#include "utf8.h"

#define COUNT_DEFAULT 20
#define COUNT_MAX     1000000

static void history_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl history [OPTIONS] SCHEDULE\n"
                "\n"
                "Show the latest runs of SCHEDULE from the journal, oldest first, one line each:\n"
                "when the run began, its id, attempts, outcome, duration of its last attempt,\n"
                "exit status and last message. Works whether the daemon runs or not.\n"
                "\n"
                "  -n, --count N   how many runs (default %d, at most %d)\n"
                "  -j, --json      a JSON array of runs instead of the table\n"
                "  -h, --help      show this help\n"
                "\n"
                "Exit status: 0 ok (also when no run is recorded), 1 the journal cannot be read,\n"
                "2 usage error.\n",
                COUNT_DEFAULT, COUNT_MAX);
}

/* Adds the lifecycle events as matches: output lines (often most records) are never read. */
static int add_matches(sd_journal *j, const char *schedule) {
        int r = journal_add_field_match(j, "UDFCRON_SCHEDULE", schedule);
        for (RunEvent e = 0; r >= 0 && e < _RUN_EVENT_MAX; e++)
                if (e != RUN_EVENT_LOG && !run_event_is_task(e))
                        r = journal_add_field_match(j, "UDFCRON_EVENT", run_event_to_string(e));
        return r;
}

/* Reads newest first until `count` runs are whole (history.h says why that suffices). */
static int read_history(sd_journal *j, size_t count, History *h) {
        _cleanup_(run_record_done) RunRecord rec = {};
        int r;

        r = sd_journal_seek_tail(j);
        while (r >= 0 && history_n_whole(h) < count && (r = sd_journal_previous(j)) > 0) {
                r = run_record_read(j, &rec);
                if (r >= 0)
                        r = history_add(h, &rec);
        }
        return r;
}

/* "87ms", "1.234s", "3m 12s", "2h 05m", "3d 04h". */
static char *format_duration(uint64_t usec, char buf[static 32]) {
        uint64_t s = usec / USEC_PER_SEC;
        if (usec < USEC_PER_SEC)
                snprintf(buf, 32, "%" PRIu64 "ms", usec / 1000);
        else if (s < 60)
                snprintf(buf, 32, "%" PRIu64 ".%03" PRIu64 "s", s, usec / 1000 % 1000);
        else if (s < 3600)
                snprintf(buf, 32, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, 32, "%" PRIu64 "h %02" PRIu64 "m", s / 3600, s / 60 % 60);
        else
                snprintf(buf, 32, "%" PRIu64 "d %02" PRIu64 "h", s / 86400, s / 3600 % 24);
        return buf;
}

static const char *outcome_color(const RunSummary *s) {
        switch (s->end) {
        case RUN_EVENT_FINISHED:
                return "\x1b[32m";
        case RUN_EVENT_FAILED:
        case RUN_EVENT_TIMED_OUT:
        case RUN_EVENT_LOST:
                return "\x1b[1;31m";
        case RUN_EVENT_CANCELLED:
        case RUN_EVENT_SKIPPED:
                return "\x1b[33m";
        default:
                return "\x1b[36m"; /* not ended yet */
        }
}

static void print_table(RunSummary *const *runs, size_t n) {
        _cleanup_(local_time_done) LocalTime lt = {};
        bool color = terminal_wants_color(STDOUT_FILENO);
        char when[TIMESTAMP_MAX], duration[32], exit_status[16];

        local_time_init(&lt);
        printf("%-25s  %-16s  %8s  %-9s  %9s  %4s  %s\n", "TIME", "RUN", "ATTEMPTS", "OUTCOME", "DURATION",
               "EXIT", "MESSAGE");
        for (size_t i = 0; i < n; i++) {
                const RunSummary *s = runs[i];
                snprintf(exit_status, sizeof exit_status, "%d", s->exit_status);
                printf("%-25s  %-16s  %8u  %s%-9s%s  %9s  %4s  ",
                       local_time_format(&lt, s->begin_usec, when), s->run_id, s->attempts,
                       color ? outcome_color(s) : "", run_summary_outcome(s), color ? ANSI_RESET : "",
                       s->duration_usec > 0 ? format_duration(s->duration_usec, duration) : "-",
                       s->has_exit_status ? exit_status : "-");
                terminal_put_escaped(stdout, s->message, s->message_size);
                putchar('\n');
        }
}

/* Adds a string member made valid UTF-8 (journal values are bytes; JSON strings are not). */
static bool add_text(cJSON *o, const char *name, const char *data, size_t size) {
        _cleanup_free_ char *text = utf8_sanitize(data, size);
        return text && cJSON_AddStringToObject(o, name, text);
}

/* Formatted here: exact for every 64-bit value (a double is not), and cheaper than cJSON's checks. */
static bool add_usec(cJSON *o, const char *name, uint64_t usec) {
        char digits[24];
        snprintf(digits, sizeof digits, "%" PRIu64, usec);
        return usec == 0 || cJSON_AddRawToObject(o, name, digits);
}

static cJSON *run_to_json(const RunSummary *s) {
        _cleanup_(json_freep) cJSON *o = cJSON_CreateObject();
        bool ended = s->end != _RUN_EVENT_INVALID;

        if (!o || !cJSON_AddStringToObject(o, "run_id", s->run_id) ||
            !cJSON_AddStringToObject(o, "schedule", s->schedule) ||
            !cJSON_AddStringToObject(o, "outcome", run_summary_outcome(s)) ||
            !cJSON_AddBoolToObject(o, "ended", ended) ||
            !cJSON_AddNumberToObject(o, "attempts", s->attempts) ||
            !add_usec(o, "begin_usec", s->begin_usec) || !add_usec(o, "end_usec", s->end_usec) ||
            !add_usec(o, "scheduled_usec", s->scheduled_usec) ||
            !add_usec(o, "duration_usec", s->duration_usec) ||
            (s->has_exit_status && !cJSON_AddNumberToObject(o, "exit_status", s->exit_status)) ||
            (s->engine[0] && !cJSON_AddStringToObject(o, "engine", s->engine)) ||
            (s->job_id && !cJSON_AddStringToObject(o, "job_id", s->job_id)) ||
            !add_text(o, "message", s->message ?: "", s->message_size))
                return NULL;
        return TAKE_PTR(o);
}

/* A JSON array, one run a line: printed as it goes, so memory stays flat however many runs. */
static int print_json(RunSummary *const *runs, size_t n) {
        fputs("[", stdout);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_freep) cJSON *o = run_to_json(runs[i]);
                _cleanup_free_ char *text = o ? cJSON_PrintUnformatted(o) : NULL;
                if (!text)
                        return -ENOMEM;
                printf("%s\n%s", i == 0 ? "" : ",", text);
        }
        fputs(n > 0 ? "\n]\n" : "]\n", stdout);
        return 0;
}

int verb_history(int argc, char **argv) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_(history_freep) History *h = NULL;
        RunSummary *const *runs;
        size_t n;
        long count = COUNT_DEFAULT;
        bool json = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "n:jh", options, NULL)) >= 0)
                switch (c) {
                case 'n': {
                        char *end;
                        count = strtol(optarg, &end, 10);
                        if (*optarg == '\0' || *end != '\0' || count < 1 || count > COUNT_MAX) {
                                fprintf(stderr, "udfcronctl history: --count must be 1-%d, not '%s'\n",
                                        COUNT_MAX, optarg);
                                return EXIT_USAGE;
                        }
                        break;
                }
                case 'j':
                        json = true;
                        break;
                case 'h':
                        history_help(stdout);
                        return EXIT_OK;
                default:
                        history_help(stderr);
                        return EXIT_USAGE;
                }
        if (argc - optind != 1) {
                fprintf(stderr, "udfcronctl history: %s\n",
                        optind >= argc ? "missing SCHEDULE" : "expected one SCHEDULE");
                return EXIT_USAGE;
        }
        const char *schedule = argv[optind];
        if (!schedule_name_is_valid(schedule)) {
                fprintf(stderr,
                        "udfcronctl history: '%s' is not a schedule name (1-%d characters of A-Z a-z 0-9 _ "
                        ". @ -)\n",
                        schedule, SCHEDULE_NAME_MAX);
                return EXIT_USAGE;
        }

        if (ctl_journal_open("history", &j) < 0)
                return EXIT_FAILED;
        r = history_new(&h);
        if (r >= 0)
                r = add_matches(j, schedule);
        if (r >= 0)
                r = read_history(j, (size_t) count, h);
        if (r >= 0)
                r = history_runs(h, (size_t) count, &runs, &n);
        if (r < 0) {
                fprintf(stderr, "udfcronctl history: cannot read the journal: %s\n", strerror(-r));
                return EXIT_FAILED;
        }

        if (json)
                r = print_json(runs, n);
        else if (n > 0)
                print_table(runs, n);
        if (n == 0) {
                char what[SCHEDULE_NAME_MAX + 16];
                snprintf(what, sizeof what, "schedule '%s'", schedule);
                ctl_journal_nothing_found("history", what);
        }
        if (r < 0) {
                fprintf(stderr, "udfcronctl history: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}
