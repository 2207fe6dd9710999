/* SPDX-License-Identifier: MIT */
/* udfcronctl list: every schedule, one line each; --json for scripts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl-client.h"
#include "json-util.h"
#include "udfcronctl.h"

static void list_help(FILE *f) {
        fprintf(f, "Usage: udfcronctl list [--json]\n"
                   "\n"
                   "List every schedule of the running daemon: its cron expression and zone, its next\n"
                   "fire (local time in the schedule's zone, and how far away), the result of its last\n"
                   "run, its state (enabled, paused or disabled) and how many of its runs are running.\n"
                   "\n"
                   "  -j, --json   print the daemon's reply as one JSON object (see README)\n"
                   "  -h, --help   show this help\n"
                   "\n"
                   "Exit status: 0 ok, 1 failed, 2 usage error, 3 the daemon is not running.\n");
}

enum { COL_NAME, COL_CRON, COL_ZONE, COL_NEXT, COL_LAST, COL_STATE, COL_RUNNING, _COL_MAX };
static const char *const headers[_COL_MAX] = {
        "SCHEDULE", "CRON", "ZONE", "NEXT", "LAST", "STATE", "RUNNING"
};

typedef struct Row {
        char *cell[_COL_MAX];
        const char *color[_COL_MAX];
} Row;

static void row_done(Row *row) {
        for (size_t i = 0; i < _COL_MAX; i++)
                free(row->cell[i]);
}

static char *or_dash(const char *s) {
        return strdup(s && *s ? s : "-");
}

static int row_fill(Row *row, const cJSON *s, uint64_t now) {
        char relative[48];
        uint64_t next, running = 0;
        bool skip_next = false;
        const char *next_text = control_string(s, "next");

        (void) control_bool(s, "skip_next", &skip_next);
        (void) control_u64(s, "running", &running);
        if (next_text && control_u64(s, "next_usec", &next)) {
                if (asprintf(&row->cell[COL_NEXT], "%s (%s%s)", next_text,
                             ctl_relative(now, next, relative, sizeof relative),
                             skip_next ? ", skipped" : "") < 0)
                        row->cell[COL_NEXT] = NULL;
        } else
                row->cell[COL_NEXT] = strdup("-");
        if (asprintf(&row->cell[COL_RUNNING], "%" PRIu64, running) < 0)
                row->cell[COL_RUNNING] = NULL;
        row->cell[COL_NAME] = or_dash(control_string(s, "name"));
        row->cell[COL_CRON] = or_dash(control_string(s, "cron"));
        row->cell[COL_ZONE] = or_dash(control_string(s, "timezone"));
        row->cell[COL_LAST] = or_dash(control_string(s, "last_result"));
        row->cell[COL_STATE] = or_dash(control_string(s, "state"));
        row->color[COL_LAST] = ctl_word_color(row->cell[COL_LAST]);
        row->color[COL_STATE] = ctl_word_color(row->cell[COL_STATE]);
        for (size_t i = 0; i < _COL_MAX; i++)
                if (!row->cell[i])
                        return -ENOMEM;
        return 0;
}

static int print_table(const cJSON *reply) {
        const cJSON *schedules = cJSON_GetObjectItemCaseSensitive(reply, "schedules"), *s;
        size_t n = (size_t) cJSON_GetArraySize(schedules), width[_COL_MAX], i = 0;
        bool colors = ctl_colors(stdout);
        uint64_t now = 0;
        int r = 0;

        (void) control_u64(reply, "now_usec", &now);
        _cleanup_free_ Row *rows = calloc(n + 1, sizeof *rows);
        if (!rows)
                return -ENOMEM;
        for (size_t c = 0; c < _COL_MAX; c++)
                width[c] = strlen(headers[c]);
        cJSON_ArrayForEach(s, schedules) {
                if (i >= n || (r = row_fill(&rows[i++], s, now)) < 0)
                        break;
                for (size_t c = 0; c < _COL_MAX; c++)
                        width[c] = MAX(width[c], strlen(rows[i - 1].cell[c]));
        }

        for (size_t c = 0; r >= 0 && c < _COL_MAX; c++)
                printf("%s%-*s%s%s", colors ? CTL_BOLD : "", c + 1 < _COL_MAX ? (int) width[c] : 0,
                       headers[c], colors ? CTL_RESET : "", c + 1 < _COL_MAX ? "  " : "\n");
        for (size_t k = 0; r >= 0 && k < i; k++)
                for (size_t c = 0; c < _COL_MAX; c++) {
                        const char *color = colors && rows[k].color[c] ? rows[k].color[c] : "";
                        /* padded outside the colour codes, so that columns line up */
                        printf("%s%s%s%*s%s", color, rows[k].cell[c], *color ? CTL_RESET : "",
                               c + 1 < _COL_MAX ? (int) (width[c] - strlen(rows[k].cell[c])) : 0, "",
                               c + 1 < _COL_MAX ? "  " : "\n");
                }
        if (r >= 0)
                printf("\n%zu schedule%s listed.\n", i, i == 1 ? "" : "s");
        for (size_t k = 0; k < i; k++)
                row_done(&rows[k]);
        return r;
}

int verb_list(int argc, char **argv) {
        _cleanup_free_ char *raw = NULL;
        ControlMessage reply;
        bool json = false;

        int r = ctl_parse_simple(argc, argv, list_help, &json, 0, 0, NULL);
        if (r != CTL_PROCEED)
                return r;
        r = ctl_call("list", &(ControlRequest){ .command = CONTROL_LIST }, &reply, &raw);
        if (r != EXIT_OK)
                return r;
        if (json)
                fputs(raw, stdout);
        else if (print_table(reply.root) < 0) {
                fprintf(stderr, "udfcronctl list: out of memory\n");
                r = EXIT_FAILED;
        }
        control_message_done(&reply);
        return r;
}
