/* SPDX-License-Identifier: MIT */
/* udfcronctl logs: one run's records and output lines, read back from the journal; -f follows. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctl-journal.h"
#include "journal-read.h"
#include "manager.h"
#include "terminal.h"
#include "udfcronctl.h"

static void logs_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl logs [OPTIONS] RUN_ID\n"
                "\n"
                "Show one run's records from the journal, oldest first: its lifecycle events and\n"
                "every line it wrote (\"|\" stdout, \"!\" stderr; \"task N |\" for task N of a fan-out).\n"
                "Works whether the daemon runs or not.\n"
                "\n"
                "  -f, --follow   wait for new records until the run ends (or Ctrl-C)\n"
                "  -h, --help     show this help\n"
                "\n"
                "Exit status: 0 ok, 1 no record of the run (without --follow) or the journal\n"
                "cannot be read, 2 usage error.\n");
}

/* Run ids are 16 hex digits (taken in either case, matched in lower case). */
static bool parse_run_id(const char *s, char ret[static RUN_ID_LEN + 1]) {
        if (strlen(s) != RUN_ID_LEN)
                return false;
        for (size_t i = 0; i < RUN_ID_LEN; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return false;
                ret[i] = (char) tolower((unsigned char) s[i]);
        }
        ret[RUN_ID_LEN] = '\0';
        return true;
}

/* "TIME MESSAGE" for an event, "TIME | line" or "TIME ! line" for output, coloured by priority. */
static void print_record(const RunRecord *r, const LocalTime *lt, bool color) {
        const char *on = color ? terminal_priority_color(r->priority) : NULL;
        char when[TIMESTAMP_MAX];

        fputs(local_time_format(lt, r->realtime_usec, when), stdout);
        if (r->event == RUN_EVENT_LOG && r->has_task)
                printf(" task %zu", r->task);
        fputs(r->event == RUN_EVENT_LOG ? (r->is_stderr ? " ! " : " | ") : " ", stdout);
        if (on)
                fputs(on, stdout);
        terminal_put_escaped(stdout, r->message ?: "", r->message ? r->message_size : 0);
        if (on)
                fputs(ANSI_RESET, stdout);
        putchar('\n');
}

/* Prints the records from the read pointer on; *ended tells whether the run's end was among them. */
static int print_new_records(sd_journal *j, const LocalTime *lt, bool color, size_t *n_printed,
                             bool *ended) {
        _cleanup_(run_record_done) RunRecord rec = {};
        int r;

        while ((r = sd_journal_next(j)) > 0) {
                r = run_record_read(j, &rec);
                if (r < 0)
                        return r;
                print_record(&rec, lt, color);
                (*n_printed)++;
                if (run_event_is_end(rec.event))
                        *ended = true;
        }
        (void) fflush(stdout);
        return r;
}

int verb_logs(int argc, char **argv) {
        static const struct option options[] = {
                { "follow", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_(local_time_done) LocalTime lt = {};
        char run_id[RUN_ID_LEN + 1];
        bool follow = false, ended = false;
        size_t n = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "fh", options, NULL)) >= 0)
                switch (c) {
                case 'f':
                        follow = true;
                        break;
                case 'h':
                        logs_help(stdout);
                        return EXIT_OK;
                default:
                        logs_help(stderr);
                        return EXIT_USAGE;
                }
        if (argc - optind != 1) {
                fprintf(stderr, "udfcronctl logs: %s\n",
                        optind >= argc ? "missing RUN_ID" : "expected one RUN_ID");
                return EXIT_USAGE;
        }
        if (!parse_run_id(argv[optind], run_id)) {
                fprintf(stderr, "udfcronctl logs: '%s' is not a run id (%d hex digits)\n", argv[optind],
                        RUN_ID_LEN);
                return EXIT_USAGE;
        }

        if (ctl_journal_open("logs", &j) < 0)
                return EXIT_FAILED;
        local_time_init(&lt);
        bool color = terminal_wants_color(STDOUT_FILENO);

        r = journal_add_field_match(j, "UDFCRON_RUN_ID", run_id);
        if (r >= 0)
                r = sd_journal_seek_head(j);
        if (r >= 0)
                r = print_new_records(j, &lt, color, &n, &ended);
        /* sd_journal_wait() wakes up on any change to the journal files: most wake-ups print nothing */
        while (r >= 0 && follow && !ended && (r = sd_journal_wait(j, UINT64_MAX)) >= 0)
                r = print_new_records(j, &lt, color, &n, &ended);
        if (r < 0) {
                fprintf(stderr, "udfcronctl logs: cannot read the journal: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        if (n == 0) {
                char what[RUN_ID_LEN + 8];
                snprintf(what, sizeof what, "run %s", run_id);
                ctl_journal_nothing_found("logs", what);
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
