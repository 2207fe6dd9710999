/* SPDX-License-Identifier: MIT */
/*
 * cron: the parser, and cron_next()/cron_prev() in UTC (zone NULL).
 *
 * Every expected fire time below was worked out by hand from the documented
 * semantics (cron.h, DESIGN.md "Time semantics") and a calendar, never by
 * running the code. Table rows run to the end and report every mismatch, so
 * one broken rule does not hide the others.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../support/mismatch.h"

#include "cron.h"
#include "macro.h"
#include "timestamp.h"

#define MAX_FIRES 8
#define NONE      "none" /* in a list of fires: the search ends here with -ENOENT */

/* ------------------------------------------------------------------ helpers */

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* An instant from an ISO-8601 literal; a malformed literal is a bug in the table itself. */
static int64_t at(const char *iso) {
        int64_t t = 0;
        if (timestamp_parse(iso, &t) < 0)
                fail_msg("bad timestamp literal in a test table: '%s'", iso);
        return t;
}

static const char *iso(int64_t t, char buf[static TIMESTAMP_MAX]) {
        return timestamp_format(t, 0, buf);
}

/* For one-off checks: fails the test, showing both instants as ISO-8601. */
#define assert_instant_equal(actual, expected)                                                              \
        do {                                                                                                \
                int64_t _a = (actual), _e = (expected);                                                     \
                char _ba[TIMESTAMP_MAX], _be[TIMESTAMP_MAX];                                                \
                if (_a != _e)                                                                               \
                        fail_msg("%s: expected %s, got %s", #actual, iso(_e, _be), iso(_a, _ba));           \
        } while (0)

/* Checks one fire found in UTC: its instant, wall time (= the instant in UTC) and flags. */
static bool check_fire(const char *row, const char *what, const CronFire *f, int64_t expected) {
        char a[TIMESTAMP_MAX], e[TIMESTAMP_MAX];
        if (f->at != expected) {
                mismatch("%s: %s: expected %s, got %s", row, what, iso(expected, e), iso(f->at, a));
                return false;
        }
        if (f->wall != f->at || f->flags != 0) {
                mismatch("%s: %s: %s in UTC has wall %s and flags %u; expected wall = instant, flags 0", row,
                         what, iso(f->at, a), iso(f->wall, e), f->flags);
                return false;
        }
        return true;
}

static bool parse_row(const char *row, const char *expr, CronExpr *ret) {
        CronError error = {};
        int r = cron_parse(expr, ret, &error);
        if (r < 0)
                mismatch("%s: does not parse (%d): \"%s\" (column %u)", row, r, error.message, error.column);
        return r >= 0;
}

/*
 * A schedule and the successive fires a search must find from `start`: cron_next() after it (a NextCase),
 * or cron_prev() before it, newest first (a PrevCase).
 */
typedef struct WalkCase {
        const char *expr;
        const char *start;
        const char *fires[MAX_FIRES]; /* ISO-8601; NONE: -ENOENT */
} WalkCase, NextCase, PrevCase;

typedef int (*CronSearch)(const CronExpr *expr, const TzZone *zone, int64_t t, CronFire *ret_fire);

/*
 * Walks from c->start through c->fires, forward with cron_next() or backward with cron_prev(). Each fire
 * is also checked against the search the other way: from a second beyond it, that finds the fire itself;
 * from the fire, the fire before it in the walk (or none between the start and the first fire).
 */
static void check_walk(const WalkCase *c, bool forward) {
        CronSearch search = forward ? cron_next : cron_prev, back = forward ? cron_prev : cron_next;
        const char *search_name = forward ? "cron_next" : "cron_prev";
        const char *back_name = forward ? "cron_prev" : "cron_next";
        char row[160], what[48], a[TIMESTAMP_MAX];
        int64_t start = at(c->start), t = start;
        CronExpr e;

        snprintf(row, sizeof row, "'%s' %s %s", c->expr, forward ? "from" : "before", c->start);
        if (!parse_row(row, c->expr, &e))
                return;

        for (size_t i = 0; i < MAX_FIRES && c->fires[i]; i++) {
                CronFire f = {}, b = {};
                int r = search(&e, NULL, t, &f);

                snprintf(what, sizeof what, "%s #%zu", search_name, i + 1);
                if (streq(c->fires[i], NONE)) {
                        if (r != -ENOENT)
                                mismatch("%s: %s: expected -ENOENT, got %d (%s)", row, what, r,
                                         r == 0 ? iso(f.at, a) : "-");
                        return;
                }
                if (r < 0) {
                        mismatch("%s: %s: expected %s, got error %d", row, what, c->fires[i], r);
                        return;
                }
                if (!check_fire(row, what, &f, at(c->fires[i])))
                        return;

                snprintf(what, sizeof what, "%s(#%zu %c 1s)", back_name, i + 1, forward ? '+' : '-');
                r = back(&e, NULL, forward ? f.at + 1 : f.at - 1, &b);
                if (r < 0)
                        mismatch("%s: %s: expected %s, got error %d", row, what, c->fires[i], r);
                else
                        check_fire(row, what, &b, f.at);

                snprintf(what, sizeof what, "%s(#%zu)", back_name, i + 1);
                r = back(&e, NULL, f.at, &b);
                if (i > 0) {
                        if (r < 0)
                                mismatch("%s: %s: expected %s, got error %d", row, what, c->fires[i - 1], r);
                        else
                                check_fire(row, what, &b, at(c->fires[i - 1]));
                } else if (r == 0 && (forward ? b.at > start : b.at < start))
                        mismatch("%s: %s: %s is a fire between the start and the first fire", row, what,
                                 iso(b.at, a));
                t = f.at;
        }
}

static void check_next_case(const NextCase *c) {
        check_walk(c, true);
}

static void check_next_cases(const NextCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                check_walk(&cases[i], true);
        assert_no_mismatches();
}

static void check_prev_cases(const PrevCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                check_walk(&cases[i], false);
        assert_no_mismatches();
}

/* ------------------------------------------------------------------ syntax */

/* `*`, single values, ranges, steps (`5/15` is 5-59/15), lists, and whitespace between fields. */
static void test_values_ranges_steps_lists(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "* * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z" } },
                { "* * * * *", "2024-01-01T00:00:30Z", { "2024-01-01T00:01:00Z" } },
                { "30 2 * * *", "2024-01-01T00:00:00Z", { "2024-01-01T02:30:00Z", "2024-01-02T02:30:00Z" } },
                { "*/15 * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:45:00Z",
                    "2024-01-01T01:00:00Z" } },
                { "10-50/20 * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:10:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:50:00Z",
                    "2024-01-01T01:10:00Z" } },
                { "5/15 * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:05:00Z", "2024-01-01T00:20:00Z", "2024-01-01T00:35:00Z",
                    "2024-01-01T00:50:00Z", "2024-01-01T01:05:00Z" } },
                { "0,20,45 * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:20:00Z", "2024-01-01T00:45:00Z", "2024-01-01T01:00:00Z" } },
                { "0 9-17/4 * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T09:00:00Z", "2024-01-01T13:00:00Z", "2024-01-01T17:00:00Z",
                    "2024-01-02T09:00:00Z" } },
                { "15,45 8-9 * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T08:15:00Z", "2024-01-01T08:45:00Z", "2024-01-01T09:15:00Z",
                    "2024-01-01T09:45:00Z", "2024-01-02T08:15:00Z" } },
                { "0 0 1-3,15 * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-15T00:00:00Z",
                    "2024-02-01T00:00:00Z" } },
                { "0 12 * 2-3 *",
                  "2024-02-28T12:00:00Z",
                  { "2024-02-29T12:00:00Z", "2024-03-01T12:00:00Z", "2024-03-02T12:00:00Z" } },
                { "0 12 * 2-3 *", "2024-03-31T12:00:00Z", { "2025-02-01T12:00:00Z" } },
                { "0 0 */10 * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-11T00:00:00Z", "2024-01-21T00:00:00Z", "2024-01-31T00:00:00Z",
                    "2024-02-01T00:00:00Z" } },
                { "\t0  0\t*  *  * ", "2024-01-01T00:00:00Z", { "2024-01-02T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* Month names JAN-DEC in any case, alone and in ranges and lists. */
static void test_month_names(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 1 JAN *",
                  "2023-12-31T12:00:00Z",
                  { "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z" } },
                { "0 0 1 FEB *",
                  "2023-12-31T12:00:00Z",
                  { "2024-02-01T00:00:00Z", "2025-02-01T00:00:00Z" } },
                { "0 0 1 MAR *",
                  "2023-12-31T12:00:00Z",
                  { "2024-03-01T00:00:00Z", "2025-03-01T00:00:00Z" } },
                { "0 0 1 APR *",
                  "2023-12-31T12:00:00Z",
                  { "2024-04-01T00:00:00Z", "2025-04-01T00:00:00Z" } },
                { "0 0 1 MAY *",
                  "2023-12-31T12:00:00Z",
                  { "2024-05-01T00:00:00Z", "2025-05-01T00:00:00Z" } },
                { "0 0 1 JUN *",
                  "2023-12-31T12:00:00Z",
                  { "2024-06-01T00:00:00Z", "2025-06-01T00:00:00Z" } },
                { "0 0 1 JUL *",
                  "2023-12-31T12:00:00Z",
                  { "2024-07-01T00:00:00Z", "2025-07-01T00:00:00Z" } },
                { "0 0 1 AUG *",
                  "2023-12-31T12:00:00Z",
                  { "2024-08-01T00:00:00Z", "2025-08-01T00:00:00Z" } },
                { "0 0 1 SEP *",
                  "2023-12-31T12:00:00Z",
                  { "2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z" } },
                { "0 0 1 OCT *",
                  "2023-12-31T12:00:00Z",
                  { "2024-10-01T00:00:00Z", "2025-10-01T00:00:00Z" } },
                { "0 0 1 NOV *",
                  "2023-12-31T12:00:00Z",
                  { "2024-11-01T00:00:00Z", "2025-11-01T00:00:00Z" } },
                { "0 0 1 DEC *",
                  "2023-12-31T12:00:00Z",
                  { "2024-12-01T00:00:00Z", "2025-12-01T00:00:00Z" } },
                { "0 0 1 jan *", "2023-12-31T12:00:00Z", { "2024-01-01T00:00:00Z" } },
                { "0 0 1 Feb *", "2023-12-31T12:00:00Z", { "2024-02-01T00:00:00Z" } },
                { "0 0 1 jul *", "2023-12-31T12:00:00Z", { "2024-07-01T00:00:00Z" } },
                { "0 0 1 dEc *", "2023-12-31T12:00:00Z", { "2024-12-01T00:00:00Z" } },
                { "0 0 1 jan-MAR,Oct *",
                  "2023-12-31T12:00:00Z",
                  { "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z",
                    "2024-10-01T00:00:00Z", "2025-01-01T00:00:00Z" } },
                { "0 0 1 MAY-JUL *",
                  "2023-12-31T12:00:00Z",
                  { "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-07-01T00:00:00Z",
                    "2025-05-01T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* Weekday names SUN-SAT in any case; 0 and 7 are both Sunday. 2024-01-01 was a Monday. */
static void test_weekday_names_and_sunday(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 * * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z" } },
                { "0 0 * * tue",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-02T00:00:00Z", "2024-01-09T00:00:00Z" } },
                { "0 0 * * Wed",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-03T00:00:00Z", "2024-01-10T00:00:00Z" } },
                { "0 0 * * THU",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-04T00:00:00Z", "2024-01-11T00:00:00Z" } },
                { "0 0 * * fri",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z" } },
                { "0 0 * * SAT",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-06T00:00:00Z", "2024-01-13T00:00:00Z" } },
                { "0 0 * * sUn",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z" } },
                { "0 0 * * mon-FRI",
                  "2024-01-05T12:00:00Z",
                  { "2024-01-08T00:00:00Z", "2024-01-09T00:00:00Z", "2024-01-10T00:00:00Z",
                    "2024-01-11T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-15T00:00:00Z" } },
                { "0 0 * * SUN,sat",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-13T00:00:00Z" } },
                { "0 0 * * 0", "2024-01-01T00:00:00Z", { "2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z" } },
                { "0 0 * * 7", "2024-01-01T00:00:00Z", { "2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z" } },
                { "0 0 * * 5-7",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z",
                    "2024-01-12T00:00:00Z" } },
                { "0 0 * * 0-7",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z" } },
                { "0 0 * * */2",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-02T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-06T00:00:00Z",
                    "2024-01-07T00:00:00Z", "2024-01-09T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* 6 fields add leading seconds; 7 add a trailing year, whose end is the end of the schedule. */
static void test_seconds_and_year_fields(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "*/20 * * * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z" } },
                { "15 30 2 * * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T02:30:15Z", "2024-01-02T02:30:15Z" } },
                { "0 0 0 ? * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z" } },
                { "59 59 23 31 12 *",
                  "2024-01-01T00:00:00Z",
                  { "2024-12-31T23:59:59Z", "2025-12-31T23:59:59Z" } },
                { "0 0 12 1 1 ? 2030", "2024-01-01T00:00:00Z", { "2030-01-01T12:00:00Z", NONE } },
                { "0 0 0 1 1 ? 2025-2027",
                  "2024-06-01T00:00:00Z",
                  { "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", NONE } },
                { "30 0 0 1 1 ? 2031,2029",
                  "2024-06-01T00:00:00Z",
                  { "2029-01-01T00:00:30Z", "2031-01-01T00:00:30Z", NONE } },
                { "0 0 0 29 2 ? 2024/4",
                  "2024-01-01T00:00:00Z",
                  { "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z" } },
                { "0 0 0 1 1 ? *", "2024-01-01T00:00:00Z", { "2025-01-01T00:00:00Z" } },
                { "0 0 0 1 1 ? 2199", "2024-01-01T00:00:00Z", { "2199-01-01T00:00:00Z", NONE } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* Every macro, as its documented 5-field expansion. 2024-06-15 was a Saturday. */
static void test_macros(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "@yearly", "2024-06-15T10:20:00Z", { "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z" } },
                { "@annually", "2024-06-15T10:20:00Z", { "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z" } },
                { "@monthly", "2024-06-15T10:20:00Z", { "2024-07-01T00:00:00Z", "2024-08-01T00:00:00Z" } },
                { "@weekly", "2024-06-15T10:20:00Z", { "2024-06-16T00:00:00Z", "2024-06-23T00:00:00Z" } },
                { "@daily", "2024-06-15T10:20:00Z", { "2024-06-16T00:00:00Z", "2024-06-17T00:00:00Z" } },
                { "@midnight", "2024-06-15T10:20:00Z", { "2024-06-16T00:00:00Z", "2024-06-17T00:00:00Z" } },
                { "@hourly", "2024-06-15T10:20:00Z", { "2024-06-15T11:00:00Z", "2024-06-15T12:00:00Z" } },
                { "@Hourly", "2024-06-15T10:20:00Z", { "2024-06-15T11:00:00Z" } },
                { "  @DAILY  ", "2024-06-15T10:20:00Z", { "2024-06-16T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* @every: multiples of the interval counted from the Unix epoch (a Thursday, 00:00 UTC). */
static void test_every(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "@every 90s",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:01:30Z", "2024-01-01T00:03:00Z", "2024-01-01T00:04:30Z" } },
                { "@every 90s", "2024-01-01T00:00:45Z", { "2024-01-01T00:01:30Z" } },
                { "@every 15m", "2024-01-01T00:00:00Z", { "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z" } },
                { "@every 2h", "2024-01-01T00:00:00Z", { "2024-01-01T02:00:00Z", "2024-01-01T04:00:00Z" } },
                { "@every 1d", "2024-01-01T00:00:00Z", { "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z" } },
                { "@every 1h30m",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T01:30:00Z", "2024-01-01T03:00:00Z" } },
                /* not divisors of a day: 1704067200 (2024-01-01) = 2184701 * 780 + 660 = 67621 * 25200 +
                   18000 */
                { "@every 13m",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-01T00:06:00Z", "2024-01-01T00:19:00Z", "2024-01-01T00:32:00Z" } },
                { "@every 7h", "2024-01-01T00:00:00Z", { "2024-01-01T02:00:00Z", "2024-01-01T09:00:00Z" } },
                { "@every 1w", "2024-01-01T00:00:00Z", { "2024-01-04T00:00:00Z", "2024-01-11T00:00:00Z" } },
                { "@every 1s", "2024-01-01T00:00:00Z", { "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* ------------------------------------------------------------------ Quartz day extensions */

/* L in the day of month is its last day (L-n: n days before); L in the day of week is Saturday. */
static void test_quartz_last(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 L * *",
                  "2024-01-15T00:00:00Z",
                  { "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z",
                    "2024-04-30T00:00:00Z" } },
                { "0 0 L * *",
                  "2023-01-15T00:00:00Z",
                  { "2023-01-31T00:00:00Z", "2023-02-28T00:00:00Z", "2023-03-31T00:00:00Z" } },
                { "0 0 l * ?", "2023-01-15T00:00:00Z", { "2023-01-31T00:00:00Z" } },
                { "0 0 L 2 *",
                  "2023-03-01T00:00:00Z",
                  { "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z",
                    "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z" } },
                { "0 0 L 2 *",
                  "2099-03-01T00:00:00Z",
                  { "2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z", "2102-02-28T00:00:00Z",
                    "2103-02-28T00:00:00Z", "2104-02-29T00:00:00Z" } },
                { "0 0 * * L", "2024-01-01T00:00:00Z", { "2024-01-06T00:00:00Z", "2024-01-13T00:00:00Z" } },
                { "0 0 L-2 * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-29T00:00:00Z", "2024-02-27T00:00:00Z", "2024-03-29T00:00:00Z",
                    "2024-04-28T00:00:00Z" } },
                /* L-30 is the 1st, in 31-day months only; L-28 the 1st of a leap February only */
                { "0 0 L-30 * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-03-01T00:00:00Z", "2024-05-01T00:00:00Z", "2024-07-01T00:00:00Z",
                    "2024-08-01T00:00:00Z" } },
                { "0 0 L-28 2 *",
                  "2023-01-01T00:00:00Z",
                  { "2024-02-01T00:00:00Z", "2028-02-01T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/*
 * nW: the weekday nearest day n, never leaving the month (1W on a Saturday
 * 1st is Monday the 3rd; a Sunday last day goes back to Friday), and no
 * fire in months shorter than n. LW: the last weekday. 2024: Jun 1 and
 * Aug 31 were Saturdays; Mar 31, Jun 30, Sep 1 and Sep 15 Sundays.
 */
static void test_quartz_nearest_weekday(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 15W * *",
                  "2024-06-01T00:00:00Z",
                  { "2024-06-14T00:00:00Z", "2024-07-15T00:00:00Z", "2024-08-15T00:00:00Z",
                    "2024-09-16T00:00:00Z" } },
                { "0 0 1W * *",
                  "2024-05-15T00:00:00Z",
                  { "2024-06-03T00:00:00Z", "2024-07-01T00:00:00Z", "2024-08-01T00:00:00Z",
                    "2024-09-02T00:00:00Z" } },
                { "0 0 31W * *",
                  "2024-03-01T00:00:00Z",
                  { "2024-03-29T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z",
                    "2024-08-30T00:00:00Z" } },
                { "0 0 30W * *",
                  "2024-06-01T00:00:00Z",
                  { "2024-06-28T00:00:00Z", "2024-07-30T00:00:00Z", "2024-08-30T00:00:00Z",
                    "2024-09-30T00:00:00Z" } },
                /* Feb 28 2026 is a Saturday, Feb 28 2027 a Sunday and the last day */
                { "0 0 28W 2 *",
                  "2026-01-01T00:00:00Z",
                  { "2026-02-27T00:00:00Z", "2027-02-26T00:00:00Z", "2028-02-28T00:00:00Z" } },
                /* only leap Februaries have a 29th; Feb 29 2032 is a Sunday */
                { "0 0 29W 2 *",
                  "2024-03-01T00:00:00Z",
                  { "2028-02-29T00:00:00Z", "2032-02-27T00:00:00Z" } },
                { "0 0 15w * ?", "2024-06-01T00:00:00Z", { "2024-06-14T00:00:00Z" } },
                { "0 0 LW * *",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-29T00:00:00Z",
                    "2024-04-30T00:00:00Z", "2024-05-31T00:00:00Z", "2024-06-28T00:00:00Z",
                    "2024-07-31T00:00:00Z", "2024-08-30T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* dL: the last weekday d of the month; d#n: its n-th, skipping months that have no n-th. */
static void test_quartz_weekday_of_month(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 * * 5L",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z",
                    "2024-04-26T00:00:00Z" } },
                { "0 0 ? * FRIL",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z" } },
                { "0 0 * * 0L", "2024-01-01T00:00:00Z", { "2024-01-28T00:00:00Z", "2024-02-25T00:00:00Z" } },
                { "0 0 * * 7L", "2024-01-01T00:00:00Z", { "2024-01-28T00:00:00Z", "2024-02-25T00:00:00Z" } },
                { "0 0 * * 5#5",
                  "2024-01-01T00:00:00Z",
                  { "2024-03-29T00:00:00Z", "2024-05-31T00:00:00Z", "2024-08-30T00:00:00Z",
                    "2024-11-29T00:00:00Z", "2025-01-31T00:00:00Z" } },
                { "0 0 * * FRI#5",
                  "2024-01-01T00:00:00Z",
                  { "2024-03-29T00:00:00Z", "2024-05-31T00:00:00Z" } },
                { "0 0 * * MON#1",
                  "2024-01-01T00:00:00Z",
                  { "2024-02-05T00:00:00Z", "2024-03-04T00:00:00Z", "2024-04-01T00:00:00Z" } },
                { "0 0 ? * 1#1,1#3",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-15T00:00:00Z", "2024-02-05T00:00:00Z", "2024-02-19T00:00:00Z" } },
                /* a fifth Friday in February needs a leap year whose Feb 1 is a Friday */
                { "0 0 * 2 FRI#5",
                  "2024-01-01T00:00:00Z",
                  { "2036-02-29T00:00:00Z", "2064-02-29T00:00:00Z", "2092-02-29T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/*
 * The cronie day rule: when neither day field starts with `*` nor is `?`, a
 * day matches if EITHER matches; otherwise it must match both.
 */
static void test_day_fields_or_and(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 1 * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z", "2024-01-22T00:00:00Z",
                    "2024-01-29T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-05T00:00:00Z" } },
                { "0 0 1-7 * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z",
                    "2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z",
                    "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z" } },
                { "0 0 L * FRI",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-19T00:00:00Z",
                    "2024-01-26T00:00:00Z", "2024-01-31T00:00:00Z", "2024-02-02T00:00:00Z" } },
                /* `*` first (even `*` with a step) or `?`: both must match */
                { "0 0 */10 * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-03-11T00:00:00Z", "2024-04-01T00:00:00Z", "2024-07-01T00:00:00Z",
                    "2024-10-21T00:00:00Z", "2024-11-11T00:00:00Z", "2025-03-31T00:00:00Z" } },
                { "0 0 1 * *", "2024-01-01T00:00:00Z", { "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z" } },
                { "0 0 ? * MON",
                  "2024-01-01T00:00:00Z",
                  { "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z" } },
                { "0 0 1 * ?", "2024-01-01T00:00:00Z", { "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z" } },
                { "0 0 ? * ?", "2024-01-01T00:00:00Z", { "2024-01-02T00:00:00Z" } },
                /* a step of 7 over 0-6 leaves Sunday alone: the Sundays that are the 13th */
                { "0 0 13 * */7",
                  "2024-01-01T00:00:00Z",
                  { "2024-10-13T00:00:00Z", "2025-04-13T00:00:00Z", "2025-07-13T00:00:00Z" } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

static void test_day_or_flag(void **state) {
        (void) state;
        static const struct {
                const char *expr;
                bool day_or;
        } cases[] = {
                { "0 0 1 * MON", true },     { "0 0 L * 5L", true }, { "0 0 15W * 1#2", true },
                { "0 0 */10 * MON", false }, { "0 0 1 * *", false }, { "0 0 ? * MON", false },
                { "0 0 1 * ?", false },      { "0 0 * * *", false }, { "0 0 1 * */2", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e;
                if (!parse_row(cases[i].expr, cases[i].expr, &e))
                        continue;
                if (e.day_or != cases[i].day_or)
                        mismatch("'%s': day_or is %d, expected %d", cases[i].expr, e.day_or,
                                 cases[i].day_or);
        }
        assert_no_mismatches();
}

/* ------------------------------------------------------------------ the calendar */

/* Month ends and leap years: 2024 and 2028 are leap years, 2100 is not (so Feb 29 waits for 2104). */
static void test_month_ends_and_leap_years(void **state) {
        (void) state;
        static const NextCase cases[] = {
                { "0 0 31 * *",
                  "2024-01-31T00:00:00Z",
                  { "2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z",
                    "2024-08-31T00:00:00Z", "2024-10-31T00:00:00Z", "2024-12-31T00:00:00Z",
                    "2025-01-31T00:00:00Z" } },
                { "0 0 30 * *", "2024-01-30T00:00:00Z", { "2024-03-30T00:00:00Z", "2024-04-30T00:00:00Z" } },
                { "0 0 29 * *", "2023-01-29T00:00:00Z", { "2023-03-29T00:00:00Z" } },
                { "0 0 29 * *", "2024-01-29T00:00:00Z", { "2024-02-29T00:00:00Z", "2024-03-29T00:00:00Z" } },
                { "0 0 29 2 *", "2024-03-01T00:00:00Z", { "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z" } },
                { "0 0 29 2 *", "2096-03-01T00:00:00Z", { "2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z" } },
                { "0 0 29 2 *", "2196-03-01T00:00:00Z", { NONE } },
                { "59 23 31 12 *", "2024-12-31T23:59:00Z", { "2025-12-31T23:59:00Z" } },
                { "0 0 0 29 2 ? 2196", "1970-01-01T00:00:00Z", { "2196-02-29T00:00:00Z", NONE } },
        };
        check_next_cases(cases, ELEMENTSOF(cases));
}

/* cron_next is strictly after its instant, cron_prev strictly before: a fire time itself is skipped. */
static void test_strictly_after_and_before(void **state) {
        (void) state;
        static const NextCase next[] = {
                { "30 2 * * *", "2024-01-01T02:30:00Z", { "2024-01-02T02:30:00Z" } },
                { "30 2 * * *", "2024-01-01T02:29:59Z", { "2024-01-01T02:30:00Z" } },
                { "15 30 2 * * *", "2024-01-01T02:30:15Z", { "2024-01-02T02:30:15Z" } },
                { "@every 90s", "2024-01-01T00:01:30Z", { "2024-01-01T00:03:00Z" } },
        };
        static const PrevCase prev[] = {
                { "30 2 * * *", "2024-01-01T02:30:00Z", { "2023-12-31T02:30:00Z", "2023-12-30T02:30:00Z" } },
                { "30 2 * * *", "2024-01-01T02:30:01Z", { "2024-01-01T02:30:00Z", "2023-12-31T02:30:00Z" } },
                { "@every 90s", "2024-01-01T00:01:30Z", { "2024-01-01T00:00:00Z", "2023-12-31T23:58:30Z" } },
                { "0 0 L * *",
                  "2024-03-15T00:00:00Z",
                  { "2024-02-29T00:00:00Z", "2024-01-31T00:00:00Z", "2023-12-31T00:00:00Z",
                    "2023-11-30T00:00:00Z" } },
                { "0 0 29 2 *", "2104-02-29T00:00:00Z", { "2096-02-29T00:00:00Z", "2092-02-29T00:00:00Z" } },
                { "0 0 * * 5#5",
                  "2024-08-30T00:00:00Z",
                  { "2024-05-31T00:00:00Z", "2024-03-29T00:00:00Z", "2023-12-29T00:00:00Z" } },
                { "0 0 LW * *",
                  "2024-04-01T00:00:00Z",
                  { "2024-03-29T00:00:00Z", "2024-02-29T00:00:00Z", "2024-01-31T00:00:00Z" } },
                { "0 0 15W * *",
                  "2024-09-30T00:00:00Z",
                  { "2024-09-16T00:00:00Z", "2024-08-15T00:00:00Z", "2024-07-15T00:00:00Z",
                    "2024-06-14T00:00:00Z" } },
                { "0 0 1 * MON",
                  "2024-02-06T00:00:00Z",
                  { "2024-02-05T00:00:00Z", "2024-02-01T00:00:00Z", "2024-01-29T00:00:00Z" } },
        };
        for (size_t i = 0; i < ELEMENTSOF(next); i++)
                check_next_case(&next[i]);
        check_prev_cases(prev, ELEMENTSOF(prev));
}

/* The supported years are 1970-2199: a year field that runs out, or the end of 2199, ends the search. */
static void test_range_ends(void **state) {
        (void) state;
        static const NextCase next[] = {
                { "0 0 0 1 1 ? 2030", "2030-01-01T00:00:00Z", { NONE } },
                { "0 0 0 1 1 ? 2025-2027", "2027-01-01T00:00:00Z", { NONE } },
                { "0 0 1 1 *", "2198-06-01T00:00:00Z", { "2199-01-01T00:00:00Z", NONE } },
                { "* * * * *", "2199-12-31T23:58:00Z", { "2199-12-31T23:59:00Z", NONE } },
                { "0 * * * *", "2199-12-31T22:30:00Z", { "2199-12-31T23:00:00Z", NONE } },
                { "* * * * *", "2300-01-01T00:00:00Z", { NONE } },
                { "0 0 1 1 *", "1960-01-01T00:00:00Z", { "1970-01-01T00:00:00Z" } },
        };
        static const PrevCase prev[] = {
                { "0 0 0 1 1 ? 2030", "2030-01-01T00:00:00Z", { NONE } },
                { "0 0 0 1 1 ? 2030", "2031-01-01T00:00:00Z", { "2030-01-01T00:00:00Z", NONE } },
                { "0 0 1 1 *", "1971-01-01T00:00:00Z", { "1970-01-01T00:00:00Z", NONE } },
                { "* * * * *", "1970-01-01T00:01:00Z", { "1970-01-01T00:00:00Z", NONE } },
                { "0 0 1 1 *", "2300-01-01T00:00:00Z", { "2199-01-01T00:00:00Z", "2198-01-01T00:00:00Z" } },
                { "0 * * * *", "2300-01-01T00:00:00Z", { "2199-12-31T23:00:00Z", "2199-12-31T22:00:00Z" } },
                { "@every 1h", "1970-01-01T01:00:00Z", { "1970-01-01T00:00:00Z", NONE } },
        };
        for (size_t i = 0; i < ELEMENTSOF(next); i++)
                check_next_case(&next[i]);
        check_prev_cases(prev, ELEMENTSOF(prev));
}

/* @every obeys the same range as calendar schedules: nothing fires after year 2199. */
static void test_every_range_end(void **state) {
        (void) state;
        static const NextCase next[] = {
                { "@every 1h", "2199-12-31T22:30:00Z", { "2199-12-31T23:00:00Z", NONE } },
                { "@every 1h", "2200-01-01T00:00:00Z", { NONE } },
                { "@every 1h", "2250-01-01T00:00:00Z", { NONE } },
        };
        static const PrevCase prev[] = {
                { "@every 1h", "2300-01-01T00:00:00Z", { "2199-12-31T23:00:00Z", "2199-12-31T22:00:00Z" } },
        };
        for (size_t i = 0; i < ELEMENTSOF(next); i++)
                check_next_case(&next[i]);
        check_prev_cases(prev, ELEMENTSOF(prev));
}

/*
 * Before the epoch, cron_next and cron_prev must agree on @every: a fire
 * that cron_next returns is the one cron_prev finds a second later.
 */
static void test_every_next_prev_agree_before_epoch(void **state) {
        (void) state;
        char a[TIMESTAMP_MAX];
        CronExpr e;
        CronFire n, p;
        int r;

        assert_int_equal(cron_parse("@every 1h", &e, NULL), 0);
        r = cron_next(&e, NULL, at("1969-12-31T00:00:00Z"), &n);
        if (r < 0)
                fail_msg("cron_next from 1969-12-31T00:00:00Z: error %d", r);
        r = cron_prev(&e, NULL, n.at + 1, &p);
        if (r < 0)
                fail_msg("cron_next from 1969-12-31T00:00:00Z finds %s, but cron_prev a second later finds "
                         "nothing (%d)",
                         iso(n.at, a), r);
        assert_instant_equal(p.at, n.at);
}

/* ------------------------------------------------------------------ what the parser records */

/* Fixed-time: no `*` at the start of the second, minute or hour field (5 fields: second is 0). */
static void test_fixed_time_flag(void **state) {
        (void) state;
        static const struct {
                const char *expr;
                bool fixed_time;
        } cases[] = {
                { "30 2 * * *", true },       { "0 0 1 1 *", true },     { "0,30 2 * * *", true },
                { "0-59 2 * * *", true },     { "30 2 * * MON", true },  { "0 30 2 * * *", true },
                { "0 0 0 1 1 ? 2030", true }, { "@daily", true },        { "@yearly", true },
                { "* 2 * * *", false },       { "*/5 2 * * *", false },  { "0 * * * *", false },
                { "30 */2 * * *", false },    { "* 30 2 * * *", false }, { "*/10 30 2 * * *", false },
                { "@hourly", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e;
                if (!parse_row(cases[i].expr, cases[i].expr, &e))
                        continue;
                if (e.fixed_time != cases[i].fixed_time)
                        mismatch("'%s': fixed_time is %d, expected %d", cases[i].expr, e.fixed_time,
                                 cases[i].fixed_time);
        }
        assert_no_mismatches();
}

static void test_every_interval_and_defaults(void **state) {
        (void) state;
        static const struct {
                const char *expr;
                uint32_t every;
        } cases[] = {
                { "@every 90s", 90 },   { "@every 15m", 900 },       { "@every 2h", 7200 },
                { "@every 1d", 86400 }, { "@every 1h30m", 5400 },    { "@every 1w", 604800 },
                { "@every 1s", 1 },     { "@every 366d", 31622400 }, { "@every 2H", 7200 },
                { "@every\t10m", 600 }, { "* * * * *", 0 },          { "@daily", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e;
                if (!parse_row(cases[i].expr, cases[i].expr, &e))
                        continue;
                if (e.every != cases[i].every)
                        mismatch("'%s': every is %u, expected %u", cases[i].expr, e.every, cases[i].every);
                if (e.dst_policy != CRON_DST_SHIFT)
                        mismatch("'%s': dst_policy is %u, expected the default shift", cases[i].expr,
                                 e.dst_policy);
        }
        assert_no_mismatches();
}

static void test_dst_policy_names(void **state) {
        (void) state;
        assert_string_equal(cron_dst_policy_to_string(CRON_DST_SHIFT), "shift");
        assert_string_equal(cron_dst_policy_to_string(CRON_DST_SKIP), "skip");
        assert_null(cron_dst_policy_to_string(_CRON_DST_POLICY_MAX));
        assert_null(cron_dst_policy_to_string(_CRON_DST_POLICY_INVALID));
        assert_int_equal(cron_dst_policy_from_string("shift"), CRON_DST_SHIFT);
        assert_int_equal(cron_dst_policy_from_string("skip"), CRON_DST_SKIP);
        assert_int_equal(cron_dst_policy_from_string("later"), -EINVAL);
        assert_int_equal(cron_dst_policy_from_string(""), -EINVAL);
        assert_int_equal(cron_dst_policy_from_string(NULL), -EINVAL);
}

/* ------------------------------------------------------------------ errors */

typedef struct ErrorCase {
        const char *text;
        const char *message;
        unsigned column; /* 0: the whole text */
} ErrorCase;

static void check_error_cases(const ErrorCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const ErrorCase *c = &cases[i];
                CronExpr e;
                CronError error = {};
                int r = cron_parse(c->text, &e, &error);

                if (r != -EINVAL)
                        mismatch("'%s': cron_parse returned %d, expected -EINVAL", c->text, r);
                else if (!streq(error.message, c->message) || error.column != c->column)
                        mismatch("'%s':\n    expected \"%s\" (column %u)\n    got      \"%s\" (column %u)",
                                 c->text, c->message, c->column, error.message, error.column);
                /* the message is optional: without a CronError the result is the same */
                if (cron_parse(c->text, &e, NULL) != -EINVAL)
                        mismatch("'%s': cron_parse without an error struct did not return -EINVAL", c->text);
        }
        assert_no_mismatches();
}

/* Values outside a field's range, wrong field counts, bad names, and malformed items. */
static void test_field_errors(void **state) {
        (void) state;
        static const ErrorCase cases[] = {
                { "61 * * * *", "minute field: 61 is out of range 0-59 at column 1", 1 },
                { "0 24 * * *", "hour field: 24 is out of range 0-23 at column 3", 3 },
                { "0 0 0 * *", "day-of-month field: 0 is out of range 1-31 at column 5", 5 },
                { "0 0 32 * *", "day-of-month field: 32 is out of range 1-31 at column 5", 5 },
                { "0 0 * 0 *", "month field: 0 is out of range 1-12 at column 7", 7 },
                { "0 0 * 13 *", "month field: 13 is out of range 1-12 at column 7", 7 },
                { "0 0 * * 8", "day-of-week field: 8 is out of range 0-7 at column 9", 9 },
                { "60 0 0 * * *", "second field: 60 is out of range 0-59 at column 1", 1 },
                { "0 0 0 1 1 ? 1969", "year field: 1969 is out of range 1970-2199 at column 13", 13 },
                { "0 0 0 1 1 ? 2200", "year field: 2200 is out of range 1970-2199 at column 13", 13 },
                { "0 0-5,7-99 * * *", "hour field: 99 is out of range 0-23 at column 9", 9 },
                { "", "empty cron expression", 0 },
                { "  \t ", "empty cron expression", 0 },
                { "*", "expected 5, 6 or 7 fields, got 1", 0 },
                { "* * * *", "expected 5, 6 or 7 fields, got 4", 0 },
                { "* * * * * * * *", "expected 5, 6 or 7 fields, got 8", 0 },
                { "* * * * * * * * *", "too many fields: expected 5, 6 or 7 at column 17", 17 },
                { "0 0 * FOO *", "month field: 'FOO' is not a month name at column 7", 7 },
                { "0 0 1 JANUARY *", "month field: 'JANUARY' is not a month name at column 7", 7 },
                { "0 0 * * FUN", "day-of-week field: 'FUN' is not a day name at column 9", 9 },
                { "0 0 * * MONDAY", "day-of-week field: 'MONDAY' is not a day name at column 9", 9 },
                { "0 0 * * MON-FUN", "day-of-week field: 'FUN' is not a day name at column 13", 13 },
                { "x * * * *", "minute field: 'x' is not a number at column 1", 1 },
                { "0 0 MON * *", "day-of-month field: 'MON' is not a number at column 5", 5 },
                { "0 0 * * 5-1", "day-of-week field: range 5-1 runs backwards at column 9", 9 },
                { "30-10 * * * *", "minute field: range 30-10 runs backwards at column 1", 1 },
                { "0 0 * NOV-FEB *", "month field: range NOV-FEB runs backwards at column 7", 7 },
                { "*/0 * * * *", "minute field: a step of 0 never advances at column 3", 3 },
                { "0 0 1-31/0 * *", "day-of-month field: a step of 0 never advances at column 10", 10 },
                { "*/ * * * *", "minute field: a step must be a number, as in */15 at column 3", 3 },
                { "0 0 1,,2 * *", "day-of-month field: empty list item at column 7", 7 },
                { "0 0 * * 1-", "day-of-week field: a value is missing at column 11", 11 },
                { "0 0 * * *5", "day-of-week field: unexpected '5' at column 10", 10 },
        };
        check_error_cases(cases, ELEMENTSOF(cases));
}

/* `?` only stands alone in a day field; L, W and # only in the day fields, and only well-formed. */
static void test_day_extension_errors(void **state) {
        (void) state;
        static const ErrorCase cases[] = {
                { "? * * * *", "minute field: '?' is only allowed in the day fields at column 1", 1 },
                { "0 0 * ? *", "month field: '?' is only allowed in the day fields at column 7", 7 },
                { "0 0 1,? * *", "day-of-month field: '?' must stand alone in its field at column 7", 7 },
                { "0 L * * *", "hour field: L, W and # are only allowed in the day fields at column 3", 3 },
                { "0 0 * L *", "month field: L, W and # are only allowed in the day fields at column 7", 7 },
                { "5W * * * *", "minute field: L, W and # are only allowed in the day fields at column 1",
                  1 },
                { "0 0 * 5#2 *", "month field: L, W and # are only allowed in the day fields at column 7",
                  7 },
                { "0 0 * * 5#6", "day-of-week field: '6' after # must be an occurrence 1-5 at column 11",
                  11 },
                { "0 0 * * 5#0", "day-of-week field: '0' after # must be an occurrence 1-5 at column 11",
                  11 },
                { "0 0 * * 5#12", "day-of-week field: '12' after # must be an occurrence 1-5 at column 11",
                  11 },
                { "0 0 * * FRI#", "day-of-week field: '' after # must be an occurrence 1-5 at column 13",
                  13 },
                { "0 0 * * 1-5#2", "day-of-week field: # needs a single day, as in 5#3 or FRI#3 at column 9",
                  9 },
                { "0 0 * * 1-5L", "day-of-week field: L needs a single day, as in 5L or FRIL at column 9",
                  9 },
                { "0 0 1-5W * *", "day-of-month field: W needs a single day, as in 15W at column 5", 5 },
                { "0 0 32W * *", "day-of-month field: 32 is out of range 1-31 at column 5", 5 },
                { "0 0 L-31 * *", "day-of-month field: L-31 is out of range L-0 to L-30 at column 7", 7 },
                { "0 0 L-x * *", "day-of-month field: L- needs a number of days, as in L-3 at column 7", 7 },
        };
        check_error_cases(cases, ELEMENTSOF(cases));
}

/* Macros: unknown names, @reboot, bad @every durations, and anything after a macro. */
static void test_macro_errors(void **state) {
        (void) state;
        static const ErrorCase cases[] = {
                { "@fortnightly",
                  "unknown macro '@fortnightly' (known: @yearly @annually @monthly @weekly @daily @midnight "
                  "@hourly @every) at column 1",
                  1 },
                { "@reboot", "@reboot is not supported: udfcron fires on the clock at column 1", 1 },
                { "@every", "@every needs a duration such as 90s, 15m, 2h or 1d at column 7", 7 },
                { "@every 10x", "@every: '10x' is not a duration such as 90s, 15m, 2h or 1d at column 8",
                  8 },
                { "@every 15", "@every: '15' is not a duration such as 90s, 15m, 2h or 1d at column 8", 8 },
                { "@every m", "@every: 'm' is not a duration such as 90s, 15m, 2h or 1d at column 8", 8 },
                { "@every 0s", "@every: the interval must be at least 1s at column 8", 8 },
                { "@every 367d", "@every: '367d' is longer than 366d at column 8", 8 },
                { "@every 5m now", "unexpected 'now' after the duration at column 11", 11 },
                { "@daily 5", "unexpected '5' after @daily at column 8", 8 },
                { "@hourly *", "unexpected '*' after @hourly at column 9", 9 },
        };
        check_error_cases(cases, ELEMENTSOF(cases));
}

static void test_control_characters(void **state) {
        (void) state;
        static const ErrorCase cases[] = {
                { "0 0 * * *\n", "control character 0x0a at column 10", 10 },
                { "0\x01 0 * * *", "control character 0x01 at column 2", 2 },
                { "@daily\r", "control character 0x0d at column 7", 7 },
                { "0 0 * * *\x7f", "control character 0x7f at column 10", 10 }, /* DEL is one too */
        };
        check_error_cases(cases, ELEMENTSOF(cases));
}

/* Expressions that can never fire are rejected when parsed; sparse ones that can are accepted. */
static void test_impossible_expressions(void **state) {
        (void) state;
        static const ErrorCase impossible[] = {
                { "0 0 30 2 *",
                  "'0 0 30 2 *' can never fire: no date matches its day-of-month, month and day-of-week "
                  "fields",
                  0 },
                { "0 0 31 4,6,9,11 *",
                  "'0 0 31 4,6,9,11 *' can never fire: no date matches its day-of-month, month and "
                  "day-of-week fields",
                  0 },
                { "0 0 0 29 2 ? 2101",
                  "'0 0 0 29 2 ? 2101' can never fire: no date matches its day-of-month, month, year and "
                  "day-of-week fields",
                  0 },
                { "0 0 0 30W 2 ?",
                  "'0 0 0 30W 2 ?' can never fire: no date matches its day-of-month, month and day-of-week "
                  "fields",
                  0 },
                { "0 0 L-30 2 *",
                  "'0 0 L-30 2 *' can never fire: no date matches its day-of-month, month and day-of-week "
                  "fields",
                  0 },
        };
        /* sparse but possible: each fires at its next possible date */
        static const NextCase sparse[] = {
                { "0 0 29 2 *", "2024-03-01T00:00:00Z", { "2028-02-29T00:00:00Z" } },
                { "0 0 * * FRI#5", "2024-06-01T00:00:00Z", { "2024-08-30T00:00:00Z" } },
                { "0 0 L 2 *", "2024-03-01T00:00:00Z", { "2025-02-28T00:00:00Z" } },
                { "0 0 31 * *", "2024-04-01T00:00:00Z", { "2024-05-31T00:00:00Z" } },
                { "0 0 30 2 MON", "2024-01-01T00:00:00Z", { "2024-02-05T00:00:00Z" } },
        };
        for (size_t i = 0; i < ELEMENTSOF(sparse); i++)
                check_next_case(&sparse[i]);
        check_error_cases(impossible, ELEMENTSOF(impossible));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_values_ranges_steps_lists, reset_mismatches),
                cmocka_unit_test_setup(test_month_names, reset_mismatches),
                cmocka_unit_test_setup(test_weekday_names_and_sunday, reset_mismatches),
                cmocka_unit_test_setup(test_seconds_and_year_fields, reset_mismatches),
                cmocka_unit_test_setup(test_macros, reset_mismatches),
                cmocka_unit_test_setup(test_every, reset_mismatches),
                cmocka_unit_test_setup(test_quartz_last, reset_mismatches),
                cmocka_unit_test_setup(test_quartz_nearest_weekday, reset_mismatches),
                cmocka_unit_test_setup(test_quartz_weekday_of_month, reset_mismatches),
                cmocka_unit_test_setup(test_day_fields_or_and, reset_mismatches),
                cmocka_unit_test_setup(test_day_or_flag, reset_mismatches),
                cmocka_unit_test_setup(test_month_ends_and_leap_years, reset_mismatches),
                cmocka_unit_test_setup(test_strictly_after_and_before, reset_mismatches),
                cmocka_unit_test_setup(test_range_ends, reset_mismatches),
                cmocka_unit_test_setup(test_every_range_end, reset_mismatches),
                cmocka_unit_test(test_every_next_prev_agree_before_epoch),
                cmocka_unit_test_setup(test_fixed_time_flag, reset_mismatches),
                cmocka_unit_test_setup(test_every_interval_and_defaults, reset_mismatches),
                cmocka_unit_test(test_dst_policy_names),
                cmocka_unit_test_setup(test_field_errors, reset_mismatches),
                cmocka_unit_test_setup(test_day_extension_errors, reset_mismatches),
                cmocka_unit_test_setup(test_macro_errors, reset_mismatches),
                cmocka_unit_test_setup(test_control_characters, reset_mismatches),
                cmocka_unit_test_setup(test_impossible_expressions, reset_mismatches),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
