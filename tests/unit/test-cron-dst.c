/* SPDX-License-Identifier: MIT */
/*
 * cron: the DST matrix, in real zones from /usr/share/zoneinfo (Debian
 * tzdata 2025b). Transitions were looked up with `zdump -v -c 2018,2026 ZONE`
 * (2150: `zdump -v -c 2150,2151`); expected fires follow the documented
 * policies (cron.h, DESIGN.md "Time semantics"):
 *
 *   fixed-time (no `*` first in second/minute/hour), policy shift: a time in
 *     a gap fires once at the first instant after it (CRON_FIRE_DST_GAP, the
 *     fire's wall is the named time); a repeated time fires once, first pass;
 *   fixed-time, policy skip: a time in a gap does not fire;
 *   wildcard: real time; no fires in a gap, both passes of an overlap fire,
 *     the second with CRON_FIRE_DST_REPEAT.
 *
 * Instants are written in the zone's local time with its offset, so each
 * row reads like a wall clock. Rows run to the end and report every mismatch.
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
#include "tz.h"

#define GAP       CRON_FIRE_DST_GAP
#define REPEAT    CRON_FIRE_DST_REPEAT
#define MAX_FIRES 8

static TzDb *db;

static int setup_db(void **state) {
        (void) state;
        return tzdb_new(NULL, &db) < 0 ? -1 : 0;
}

static int teardown_db(void **state) {
        (void) state;
        db = tzdb_free(db);
        return 0;
}

/* ------------------------------------------------------------------ helpers */

static int64_t at(const char *iso) {
        int64_t t = 0;
        if (timestamp_parse(iso, &t) < 0)
                fail_msg("bad timestamp literal in a test table: '%s'", iso);
        return t;
}

/* The wall time ("local seconds", see calendar.h) of "YYYY-MM-DDTHH:MM:SS", the offset ignored. */
static int64_t wall_of(const char *iso) {
        char buf[24];
        if (strlen(iso) < 19)
                fail_msg("bad wall time literal in a test table: '%s'", iso);
        snprintf(buf, sizeof buf, "%.19sZ", iso);
        return at(buf);
}

static const TzZone *zone(const char *name) {
        const TzZone *z = NULL;
        int r = tzdb_get(db, name, &z);
        if (r < 0)
                fail_msg("tzdb_get(\"%s\"): %s (%d)", name, tz_error_message(r), r);
        return z;
}

/* An instant as the zone's clock shows it, "2024-11-03T01:30:00-05:00". */
static const char *local(const TzZone *z, int64_t t, char buf[static TIMESTAMP_MAX]) {
        return timestamp_format(t, tz_offset_at(z, t), buf);
}

static const char *wall_str(int64_t wall, char buf[static TIMESTAMP_MAX]) {
        timestamp_format(wall, 0, buf);
        buf[19] = '\0'; /* drop the "+00:00": a wall time has no offset */
        return buf;
}

/* An expected fire. */
typedef struct Fire {
        const char *at;   /* the instant, as local time with the zone's offset */
        unsigned flags;   /* CRON_FIRE_* */
        const char *wall; /* for GAP fires, the named "YYYY-MM-DDTHH:MM:SS"; NULL: the local time of at */
} Fire;

/* clang-format off */
#define AT(t)            { .at = (t) }
#define REPEATED(t)      { .at = (t), .flags = REPEAT }            /* the second pass of a local time */
#define SHIFTED(t, w)    { .at = (t), .flags = GAP, .wall = (w) }  /* wall time w did not exist; fired at t */
/* clang-format on */

static int64_t expected_wall(const Fire *x) {
        return wall_of(x->wall ? x->wall : x->at);
}

/* Compares a fire with the expected one: instant, flags and wall time. */
static bool check_fire(const char *row, const char *what, const TzZone *z, const CronFire *f,
                       const Fire *x) {
        char a[TIMESTAMP_MAX], w[TIMESTAMP_MAX], ew[TIMESTAMP_MAX];
        int64_t xat = at(x->at), xwall = expected_wall(x);

        if (f->at != xat || f->flags != x->flags || f->wall != xwall) {
                mismatch("%s: %s:\n    expected %s flags %u wall %s\n    got      %s flags %u wall %s", row,
                         what, x->at, x->flags, wall_str(xwall, ew), local(z, f->at, a), f->flags,
                         wall_str(f->wall, w));
                return false;
        }
        /* outside gaps the wall time is what the clock showed: instant + the zone's offset then */
        if (!(f->flags & GAP) && f->wall - f->at != tz_offset_at(z, f->at)) {
                mismatch("%s: %s: wall %s is not the local time of %s", row, what, wall_str(f->wall, w),
                         local(z, f->at, a));
                return false;
        }
        return true;
}

/*
 * One row: a schedule in a zone, and the successive fires cron_next() finds
 * from `from`. Each fire is mirrored with cron_prev(): a second after it, it
 * is the last fire; at it, the previous entry is (or nothing after `from`).
 */
typedef struct DstCase {
        const char *name; /* "zone, what" */
        const char *zone;
        const char *expr;
        CronDstPolicy policy;
        const char *from;
        Fire fires[MAX_FIRES];
} DstCase;

static void check_dst_case(const DstCase *c) {
        char row[200], what[48], a[TIMESTAMP_MAX];
        const TzZone *z = zone(c->zone);
        CronExpr e;
        CronError error = {};
        int64_t t = at(c->from);

        snprintf(row, sizeof row, "[%s] '%s' %s from %s", c->name, c->expr,
                 cron_dst_policy_to_string(c->policy), c->from);
        if (cron_parse(c->expr, &e, &error) < 0) {
                mismatch("%s: does not parse: %s", row, error.message);
                return;
        }
        e.dst_policy = (uint8_t) c->policy;

        for (size_t i = 0; i < MAX_FIRES && c->fires[i].at; i++) {
                const Fire *x = &c->fires[i];
                CronFire f = {}, p = {};
                int r = cron_next(&e, z, t, &f);

                snprintf(what, sizeof what, "cron_next #%zu", i + 1);
                if (r < 0) {
                        mismatch("%s: %s: expected %s, got error %d", row, what, x->at, r);
                        return;
                }
                if (!check_fire(row, what, z, &f, x))
                        return;

                snprintf(what, sizeof what, "cron_prev(#%zu + 1s)", i + 1);
                r = cron_prev(&e, z, f.at + 1, &p);
                if (r < 0)
                        mismatch("%s: %s: expected %s, got error %d", row, what, x->at, r);
                else
                        check_fire(row, what, z, &p, x);

                snprintf(what, sizeof what, "cron_prev(#%zu)", i + 1);
                r = cron_prev(&e, z, f.at, &p);
                if (i > 0) {
                        if (r < 0)
                                mismatch("%s: %s: expected %s, got error %d", row, what, c->fires[i - 1].at,
                                         r);
                        else
                                check_fire(row, what, z, &p, &c->fires[i - 1]);
                } else if (r == 0 && p.at > at(c->from))
                        mismatch("%s: %s: %s is a fire between the start and the first fire", row, what,
                                 local(z, p.at, a));
                t = f.at;
        }
}

static void check_dst_cases(const DstCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                check_dst_case(&cases[i]);
        assert_int_equal(mismatches, 0);
}

#define SHIFT CRON_DST_SHIFT
#define SKIP  CRON_DST_SKIP

/* ------------------------------------------------------------------ the matrix */

/*
 * America/New_York 2024: spring forward Mar 10 02:00 EST -> 03:00 EDT
 * (07:00Z); fall back Nov 3 02:00 EDT -> 01:00 EST (06:00Z), so 01:00-02:00
 * passes first at 05:00Z-06:00Z (EDT) and again at 06:00Z-07:00Z (EST).
 * 2150 (past the table, from the footer EST5EDT,M3.2.0,M11.1.0): Mar 8.
 */
static void test_new_york(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "New_York spring: 02:30 is in the gap, shift fires at 03:00 EDT",
                  "America/New_York",
                  "30 2 * * *",
                  SHIFT,
                  "2024-03-08T12:00:00-05:00",
                  { AT("2024-03-09T02:30:00-05:00"),
                    SHIFTED("2024-03-10T03:00:00-04:00", "2024-03-10T02:30:00"),
                    AT("2024-03-11T02:30:00-04:00"), AT("2024-03-12T02:30:00-04:00") } },
                { "New_York spring: from a second before the gap",
                  "America/New_York",
                  "30 2 * * *",
                  SHIFT,
                  "2024-03-10T01:59:59-05:00",
                  { SHIFTED("2024-03-10T03:00:00-04:00", "2024-03-10T02:30:00") } },
                { "New_York spring: 02:30 is in the gap, skip has no fire that day",
                  "America/New_York",
                  "30 2 * * *",
                  SKIP,
                  "2024-03-08T12:00:00-05:00",
                  { AT("2024-03-09T02:30:00-05:00"), AT("2024-03-11T02:30:00-04:00") } },
                { "New_York spring: 01:59 and 03:00 exist and are not shifted",
                  "America/New_York",
                  "59 1,3 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00-05:00",
                  { AT("2024-03-10T01:59:00-05:00"), AT("2024-03-10T03:59:00-04:00") } },
                { "New_York spring: 03:00 exists",
                  "America/New_York",
                  "0 3 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00-05:00",
                  { AT("2024-03-10T03:00:00-04:00"), AT("2024-03-11T03:00:00-04:00") } },
                { "New_York spring: wildcard */30 has no 02:00 or 02:30",
                  "America/New_York",
                  "*/30 * * * *",
                  SHIFT,
                  "2024-03-10T01:00:00-05:00",
                  { AT("2024-03-10T01:30:00-05:00"), AT("2024-03-10T03:00:00-04:00"),
                    AT("2024-03-10T03:30:00-04:00") } },
                { "New_York spring: wildcard 30 * has no 02:30",
                  "America/New_York",
                  "30 * * * *",
                  SHIFT,
                  "2024-03-10T00:45:00-05:00",
                  { AT("2024-03-10T01:30:00-05:00"), AT("2024-03-10T03:30:00-04:00"),
                    AT("2024-03-10T04:30:00-04:00") } },
                { "New_York spring: leading-seconds wildcard at 02:30 does not fire that day",
                  "America/New_York",
                  "*/20 30 2 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00-05:00",
                  { AT("2024-03-11T02:30:00-04:00"), AT("2024-03-11T02:30:20-04:00"),
                    AT("2024-03-11T02:30:40-04:00"), AT("2024-03-12T02:30:00-04:00") } },
                { "New_York spring: @every 1h counts real hours",
                  "America/New_York",
                  "@every 1h",
                  SHIFT,
                  "2024-03-10T01:30:00-05:00",
                  { AT("2024-03-10T03:00:00-04:00"), AT("2024-03-10T04:00:00-04:00") } },
                { "New_York fall: 01:30 fires once, at the first pass (EDT)",
                  "America/New_York",
                  "30 1 * * *",
                  SHIFT,
                  "2024-11-02T12:00:00-04:00",
                  { AT("2024-11-03T01:30:00-04:00"), AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: 01:30 fires once, skip",
                  "America/New_York",
                  "30 1 * * *",
                  SKIP,
                  "2024-11-02T12:00:00-04:00",
                  { AT("2024-11-03T01:30:00-04:00"), AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: from the second pass before 01:30 EST, next day",
                  "America/New_York",
                  "30 1 * * *",
                  SHIFT,
                  "2024-11-03T01:10:00-05:00",
                  { AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: from the second pass after 01:30 EST, next day",
                  "America/New_York",
                  "30 1 * * *",
                  SHIFT,
                  "2024-11-03T01:40:00-05:00",
                  { AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: from the first pass after 01:30 EDT, next day",
                  "America/New_York",
                  "30 1 * * *",
                  SHIFT,
                  "2024-11-03T01:40:00-04:00",
                  { AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: 6-field fixed 0 30 1 fires once",
                  "America/New_York",
                  "0 30 1 * * *",
                  SHIFT,
                  "2024-11-02T12:00:00-04:00",
                  { AT("2024-11-03T01:30:00-04:00"), AT("2024-11-04T01:30:00-05:00") } },
                { "New_York fall: wildcard */30 fires on both passes",
                  "America/New_York",
                  "*/30 * * * *",
                  SHIFT,
                  "2024-11-03T00:45:00-04:00",
                  { AT("2024-11-03T01:00:00-04:00"), AT("2024-11-03T01:30:00-04:00"),
                    REPEATED("2024-11-03T01:00:00-05:00"), REPEATED("2024-11-03T01:30:00-05:00"),
                    AT("2024-11-03T02:00:00-05:00"), AT("2024-11-03T02:30:00-05:00") } },
                { "New_York fall: wildcard 30 * fires on both passes",
                  "America/New_York",
                  "30 * * * *",
                  SKIP,
                  "2024-11-03T00:45:00-04:00",
                  { AT("2024-11-03T01:30:00-04:00"), REPEATED("2024-11-03T01:30:00-05:00"),
                    AT("2024-11-03T02:30:00-05:00") } },
                { "New_York fall: leading-seconds wildcard fires on both passes",
                  "America/New_York",
                  "*/20 30 1 * * *",
                  SHIFT,
                  "2024-11-03T01:00:00-04:00",
                  { AT("2024-11-03T01:30:00-04:00"), AT("2024-11-03T01:30:20-04:00"),
                    AT("2024-11-03T01:30:40-04:00"), REPEATED("2024-11-03T01:30:00-05:00"),
                    REPEATED("2024-11-03T01:30:20-05:00"), REPEATED("2024-11-03T01:30:40-05:00"),
                    AT("2024-11-04T01:30:00-05:00") } },
                { "New_York 2150 spring (footer rule): 02:30 shifts to 03:00 EDT",
                  "America/New_York",
                  "30 2 * * *",
                  SHIFT,
                  "2150-03-07T12:00:00-05:00",
                  { SHIFTED("2150-03-08T03:00:00-04:00", "2150-03-08T02:30:00"),
                    AT("2150-03-09T02:30:00-04:00") } },
                { "New_York 2150 fall (footer rule): wildcard fires on both passes",
                  "America/New_York",
                  "30 * * * *",
                  SHIFT,
                  "2150-11-01T00:45:00-04:00",
                  { AT("2150-11-01T01:30:00-04:00"), REPEATED("2150-11-01T01:30:00-05:00"),
                    AT("2150-11-01T02:30:00-05:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/*
 * Europe/London 2024: Mar 31 01:00 GMT -> 02:00 BST (01:00Z); Oct 27
 * 02:00 BST -> 01:00 GMT (01:00Z): 01:00-02:00 at 00:00Z-01:00Z and again at
 * 01:00Z-02:00Z.
 */
static void test_london(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "London spring: 01:30 is in the gap, shift fires at 02:00 BST",
                  "Europe/London",
                  "30 1 * * *",
                  SHIFT,
                  "2024-03-30T12:00:00+00:00",
                  { SHIFTED("2024-03-31T02:00:00+01:00", "2024-03-31T01:30:00"),
                    AT("2024-04-01T01:30:00+01:00") } },
                { "London spring: 01:30 is in the gap, skip",
                  "Europe/London",
                  "30 1 * * *",
                  SKIP,
                  "2024-03-29T12:00:00+00:00",
                  { AT("2024-03-30T01:30:00+00:00"), AT("2024-04-01T01:30:00+01:00") } },
                { "London spring: wildcard hourly has no 01:00",
                  "Europe/London",
                  "0 * * * *",
                  SHIFT,
                  "2024-03-31T00:30:00+00:00",
                  { AT("2024-03-31T02:00:00+01:00"), AT("2024-03-31T03:00:00+01:00") } },
                { "London fall: 01:30 fires once, at the first pass (BST)",
                  "Europe/London",
                  "30 1 * * *",
                  SHIFT,
                  "2024-10-26T12:00:00+01:00",
                  { AT("2024-10-27T01:30:00+01:00"), AT("2024-10-28T01:30:00+00:00") } },
                { "London fall: from the second pass, next day",
                  "Europe/London",
                  "30 1 * * *",
                  SHIFT,
                  "2024-10-27T01:10:00+00:00",
                  { AT("2024-10-28T01:30:00+00:00") } },
                { "London fall: wildcard */30 fires on both passes",
                  "Europe/London",
                  "*/30 * * * *",
                  SHIFT,
                  "2024-10-27T00:45:00+01:00",
                  { AT("2024-10-27T01:00:00+01:00"), AT("2024-10-27T01:30:00+01:00"),
                    REPEATED("2024-10-27T01:00:00+00:00"), REPEATED("2024-10-27T01:30:00+00:00"),
                    AT("2024-10-27T02:00:00+00:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/*
 * Europe/Berlin 2024: Mar 31 02:00 CET -> 03:00 CEST (01:00Z); Oct 27 03:00
 * CEST -> 02:00 CET (01:00Z): 02:00-03:00 at 00:00Z-01:00Z and 01:00Z-02:00Z.
 * 2150, past the table (footer CET-1CEST,M3.5.0,M10.5.0/3): Mar 29 and Oct 25.
 */
static void test_berlin(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "Berlin spring: 02:30 is in the gap, shift fires at 03:00 CEST",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SHIFT,
                  "2024-03-30T12:00:00+01:00",
                  { SHIFTED("2024-03-31T03:00:00+02:00", "2024-03-31T02:30:00"),
                    AT("2024-04-01T02:30:00+02:00") } },
                { "Berlin spring: 02:30 is in the gap, skip",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SKIP,
                  "2024-03-30T12:00:00+01:00",
                  { AT("2024-04-01T02:30:00+02:00") } },
                { "Berlin fall: 02:30 fires once, at the first pass (CEST)",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SHIFT,
                  "2024-10-26T12:00:00+02:00",
                  { AT("2024-10-27T02:30:00+02:00"), AT("2024-10-28T02:30:00+01:00") } },
                { "Berlin fall: wildcard 30 * fires on both passes",
                  "Europe/Berlin",
                  "30 * * * *",
                  SHIFT,
                  "2024-10-27T01:45:00+02:00",
                  { AT("2024-10-27T02:30:00+02:00"), REPEATED("2024-10-27T02:30:00+01:00"),
                    AT("2024-10-27T03:30:00+01:00") } },
                { "Berlin 2150 spring (footer rule): 02:30 shifts to 03:00 CEST",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SHIFT,
                  "2150-03-28T12:00:00+01:00",
                  { SHIFTED("2150-03-29T03:00:00+02:00", "2150-03-29T02:30:00"),
                    AT("2150-03-30T02:30:00+02:00") } },
                { "Berlin 2150 spring (footer rule): skip",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SKIP,
                  "2150-03-28T12:00:00+01:00",
                  { AT("2150-03-30T02:30:00+02:00") } },
                { "Berlin 2150 fall (footer rule): 02:30 fires at the first pass",
                  "Europe/Berlin",
                  "30 2 * * *",
                  SHIFT,
                  "2150-10-24T12:00:00+02:00",
                  { AT("2150-10-25T02:30:00+02:00"), AT("2150-10-26T02:30:00+01:00") } },
                { "Berlin 2150 fall (footer rule): wildcard fires on both passes",
                  "Europe/Berlin",
                  "30 * * * *",
                  SHIFT,
                  "2150-10-25T01:45:00+02:00",
                  { AT("2150-10-25T02:30:00+02:00"), REPEATED("2150-10-25T02:30:00+01:00"),
                    AT("2150-10-25T03:30:00+01:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/*
 * Southern hemisphere. Australia/Sydney 2024: Apr 7 03:00 AEDT -> 02:00 AEST
 * (Apr 6 16:00Z): 02:00-03:00 at 15:00Z-16:00Z and 16:00Z-17:00Z; Oct 6
 * 02:00 AEST -> 03:00 AEDT (Oct 5 16:00Z).
 */
static void test_sydney(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "Sydney April: 02:30 fires once, at the first pass (AEDT)",
                  "Australia/Sydney",
                  "30 2 * * *",
                  SHIFT,
                  "2024-04-06T12:00:00+11:00",
                  { AT("2024-04-07T02:30:00+11:00"), AT("2024-04-08T02:30:00+10:00") } },
                { "Sydney April: wildcard 30 * fires on both passes",
                  "Australia/Sydney",
                  "30 * * * *",
                  SHIFT,
                  "2024-04-07T01:00:00+11:00",
                  { AT("2024-04-07T01:30:00+11:00"), AT("2024-04-07T02:30:00+11:00"),
                    REPEATED("2024-04-07T02:30:00+10:00"), AT("2024-04-07T03:30:00+10:00") } },
                { "Sydney October: 02:30 is in the gap, shift fires at 03:00 AEDT",
                  "Australia/Sydney",
                  "30 2 * * *",
                  SHIFT,
                  "2024-10-05T12:00:00+10:00",
                  { SHIFTED("2024-10-06T03:00:00+11:00", "2024-10-06T02:30:00"),
                    AT("2024-10-07T02:30:00+11:00") } },
                { "Sydney October: 02:30 is in the gap, skip",
                  "Australia/Sydney",
                  "30 2 * * *",
                  SKIP,
                  "2024-10-05T12:00:00+10:00",
                  { AT("2024-10-07T02:30:00+11:00") } },
                { "Sydney October: wildcard */30 has no 02:00 or 02:30",
                  "Australia/Sydney",
                  "*/30 * * * *",
                  SHIFT,
                  "2024-10-06T01:00:00+10:00",
                  { AT("2024-10-06T01:30:00+10:00"), AT("2024-10-06T03:00:00+11:00"),
                    AT("2024-10-06T03:30:00+11:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/*
 * Australia/Lord_Howe shifts by 30 minutes. 2024: Apr 7 02:00 +11 -> 01:30
 * +1030 (Apr 6 15:00Z): 01:30-02:00 at 14:30Z-15:00Z and 15:00Z-15:30Z;
 * Oct 6 02:00 +1030 -> 02:30 +11 (Oct 5 15:30Z): 02:00-02:30 does not exist.
 */
static void test_lord_howe(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "Lord_Howe April: 01:45 fires once, at the first pass (+11)",
                  "Australia/Lord_Howe",
                  "45 1 * * *",
                  SHIFT,
                  "2024-04-06T12:00:00+11:00",
                  { AT("2024-04-07T01:45:00+11:00"), AT("2024-04-08T01:45:00+10:30") } },
                { "Lord_Howe April: from the second pass, next day",
                  "Australia/Lord_Howe",
                  "45 1 * * *",
                  SHIFT,
                  "2024-04-07T01:40:00+10:30",
                  { AT("2024-04-08T01:45:00+10:30") } },
                { "Lord_Howe April: 01:15 is before the overlap",
                  "Australia/Lord_Howe",
                  "15 1 * * *",
                  SHIFT,
                  "2024-04-06T12:00:00+11:00",
                  { AT("2024-04-07T01:15:00+11:00"), AT("2024-04-08T01:15:00+10:30") } },
                { "Lord_Howe April: wildcard */15 repeats only 01:30 and 01:45",
                  "Australia/Lord_Howe",
                  "*/15 * * * *",
                  SHIFT,
                  "2024-04-07T01:20:00+11:00",
                  { AT("2024-04-07T01:30:00+11:00"), AT("2024-04-07T01:45:00+11:00"),
                    REPEATED("2024-04-07T01:30:00+10:30"), REPEATED("2024-04-07T01:45:00+10:30"),
                    AT("2024-04-07T02:00:00+10:30"), AT("2024-04-07T02:15:00+10:30") } },
                { "Lord_Howe October: 02:15 is in the gap, shift fires at 02:30 +11",
                  "Australia/Lord_Howe",
                  "15 2 * * *",
                  SHIFT,
                  "2024-10-05T12:00:00+10:30",
                  { SHIFTED("2024-10-06T02:30:00+11:00", "2024-10-06T02:15:00"),
                    AT("2024-10-07T02:15:00+11:00") } },
                { "Lord_Howe October: 02:15 is in the gap, skip",
                  "Australia/Lord_Howe",
                  "15 2 * * *",
                  SKIP,
                  "2024-10-04T12:00:00+10:30",
                  { AT("2024-10-05T02:15:00+10:30"), AT("2024-10-07T02:15:00+11:00") } },
                { "Lord_Howe October: 02:30 exists and is not shifted",
                  "Australia/Lord_Howe",
                  "30 2 * * *",
                  SHIFT,
                  "2024-10-05T12:00:00+10:30",
                  { AT("2024-10-06T02:30:00+11:00"), AT("2024-10-07T02:30:00+11:00") } },
                { "Lord_Howe October: wildcard */15 has no 02:00 or 02:15",
                  "Australia/Lord_Howe",
                  "*/15 * * * *",
                  SHIFT,
                  "2024-10-06T01:30:00+10:30",
                  { AT("2024-10-06T01:45:00+10:30"), AT("2024-10-06T02:30:00+11:00"),
                    AT("2024-10-06T02:45:00+11:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/*
 * America/Sao_Paulo had DST until 2019, changing at local midnight:
 * 2018-11-04 00:00 -03 -> 01:00 -02 (03:00Z), so that midnight never was;
 * 2019-02-17 00:00 -02 -> Feb 16 23:00 -03 (02:00Z), so 23:00-24:00 of Feb 16
 * passes twice and Feb 17 begins at 03:00Z. No DST since: -03 all year.
 */
static void test_sao_paulo(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "Sao_Paulo 2018: midnight is in the gap, shift fires at 01:00 -02",
                  "America/Sao_Paulo",
                  "0 0 * * *",
                  SHIFT,
                  "2018-11-02T12:00:00-03:00",
                  { AT("2018-11-03T00:00:00-03:00"),
                    SHIFTED("2018-11-04T01:00:00-02:00", "2018-11-04T00:00:00"),
                    AT("2018-11-05T00:00:00-02:00") } },
                { "Sao_Paulo 2018: midnight is in the gap, skip",
                  "America/Sao_Paulo",
                  "0 0 * * *",
                  SKIP,
                  "2018-11-02T12:00:00-03:00",
                  { AT("2018-11-03T00:00:00-03:00"), AT("2018-11-05T00:00:00-02:00") } },
                { "Sao_Paulo 2018: wildcard */30 has no 00:00 or 00:30",
                  "America/Sao_Paulo",
                  "*/30 * * * *",
                  SHIFT,
                  "2018-11-03T23:15:00-03:00",
                  { AT("2018-11-03T23:30:00-03:00"), AT("2018-11-04T01:00:00-02:00"),
                    AT("2018-11-04T01:30:00-02:00") } },
                { "Sao_Paulo 2019: 23:30 fires once, at the first pass (-02)",
                  "America/Sao_Paulo",
                  "30 23 * * *",
                  SHIFT,
                  "2019-02-16T12:00:00-02:00",
                  { AT("2019-02-16T23:30:00-02:00"), AT("2019-02-17T23:30:00-03:00") } },
                { "Sao_Paulo 2019: the midnight after the repeated hour fires once",
                  "America/Sao_Paulo",
                  "0 0 * * *",
                  SHIFT,
                  "2019-02-15T12:00:00-02:00",
                  { AT("2019-02-16T00:00:00-02:00"), AT("2019-02-17T00:00:00-03:00"),
                    AT("2019-02-18T00:00:00-03:00") } },
                { "Sao_Paulo 2019: wildcard hourly repeats 23:00",
                  "America/Sao_Paulo",
                  "0 * * * *",
                  SHIFT,
                  "2019-02-16T22:30:00-02:00",
                  { AT("2019-02-16T23:00:00-02:00"), REPEATED("2019-02-16T23:00:00-03:00"),
                    AT("2019-02-17T00:00:00-03:00"), AT("2019-02-17T01:00:00-03:00") } },
                { "Sao_Paulo 2024: no DST, plain -03",
                  "America/Sao_Paulo",
                  "0 0 * * *",
                  SHIFT,
                  "2024-11-02T12:00:00-03:00",
                  { AT("2024-11-03T00:00:00-03:00"), AT("2024-11-04T00:00:00-03:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));
}

/* Zones without DST: Asia/Kolkata is +05:30 all year, UTC +00:00. */
static void test_kolkata_and_utc(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "Kolkata: 02:30 IST on New York's spring day",
                  "Asia/Kolkata",
                  "30 2 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00+05:30",
                  { AT("2024-03-10T02:30:00+05:30"), AT("2024-03-11T02:30:00+05:30") } },
                { "Kolkata: hourly falls on :30 UTC",
                  "Asia/Kolkata",
                  "0 * * * *",
                  SHIFT,
                  "2024-11-03T00:10:00+05:30",
                  { AT("2024-11-03T01:00:00+05:30"), AT("2024-11-03T02:00:00+05:30") } },
                { "Kolkata: @every 1d is anchored at UTC midnight",
                  "Asia/Kolkata",
                  "@every 1d",
                  SHIFT,
                  "2024-03-10T00:00:00+05:30",
                  { AT("2024-03-10T05:30:00+05:30"), AT("2024-03-11T05:30:00+05:30") } },
                { "UTC: 02:30 on New York's spring day",
                  "UTC",
                  "30 2 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00+00:00",
                  { AT("2024-03-10T02:30:00+00:00"), AT("2024-03-11T02:30:00+00:00") } },
                { "UTC: wildcard */30 over New York's fall-back",
                  "Etc/UTC",
                  "*/30 * * * *",
                  SHIFT,
                  "2024-11-03T05:45:00+00:00",
                  { AT("2024-11-03T06:00:00+00:00"), AT("2024-11-03T06:30:00+00:00"),
                    AT("2024-11-03T07:00:00+00:00") } },
        };
        check_dst_cases(cases, ELEMENTSOF(cases));

        /* the zone's offsets themselves */
        assert_int_equal(tz_offset_at(zone("Asia/Kolkata"), at("2024-03-10T00:00:00Z")), 19800);
        assert_int_equal(tz_offset_at(zone("UTC"), at("2024-03-10T00:00:00Z")), 0);
}

/*
 * Several fixed times in one gap (New_York 2024-03-10, 02:00-03:00 missing)
 * fire once in total, at 03:00 EDT; that one fire names the first of them.
 * Seen from either side (cron_next before it, cron_prev after it) it must be
 * the same fire: instant, wall time and flags.
 */
static void test_several_times_in_one_gap(void **state) {
        (void) state;
        static const DstCase cases[] = {
                { "New_York spring: 02:00 and 02:30 in one gap fire once in total",
                  "America/New_York",
                  "0,30 2 * * *",
                  SHIFT,
                  "2024-03-09T12:00:00-05:00",
                  { SHIFTED("2024-03-10T03:00:00-04:00", "2024-03-10T02:00:00"),
                    AT("2024-03-11T02:00:00-04:00"), AT("2024-03-11T02:30:00-04:00") } },
                { "New_York spring: 02:00 and 02:30 in one gap, skip",
                  "America/New_York",
                  "0,30 2 * * *",
                  SKIP,
                  "2024-03-09T12:00:00-05:00",
                  { AT("2024-03-11T02:00:00-04:00"), AT("2024-03-11T02:30:00-04:00") } },
        };
        static const char *const exprs[] = { "0,30 2 * * *", "0 2,3 * * *", "0 1-3 * * *" };
        const TzZone *ny = zone("America/New_York");
        char a[TIMESTAMP_MAX], b[TIMESTAMP_MAX], wa[TIMESTAMP_MAX], wb[TIMESTAMP_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_dst_case(&cases[i]);

        for (size_t i = 0; i < ELEMENTSOF(exprs); i++) {
                CronExpr e;
                CronFire n, p, after;
                assert_int_equal(cron_parse(exprs[i], &e, NULL), 0);
                assert_int_equal(cron_next(&e, ny, at("2024-03-10T01:59:59-05:00"), &n), 0);
                assert_int_equal(cron_prev(&e, ny, n.at + 1, &p), 0);
                if (n.at != at("2024-03-10T03:00:00-04:00"))
                        mismatch("'%s': first fire after the gap start is %s, expected "
                                 "2024-03-10T03:00:00-04:00",
                                 exprs[i], local(ny, n.at, a));
                if (n.at != p.at || n.wall != p.wall || n.flags != p.flags)
                        mismatch("'%s': cron_next gives %s wall %s flags %u, "
                                 "cron_prev a second later gives %s wall %s flags %u",
                                 exprs[i], local(ny, n.at, a), wall_str(n.wall, wa), n.flags,
                                 local(ny, p.at, b), wall_str(p.wall, wb), p.flags);
                /* and it is the only fire until the next day */
                assert_int_equal(cron_next(&e, ny, n.at, &after), 0);
                if (after.at < at("2024-03-11T00:00:00-04:00"))
                        mismatch("'%s': a second fire %s on the gap day", exprs[i], local(ny, after.at, a));
        }
        assert_int_equal(mismatches, 0);
}

/* ------------------------------------------------------------------ explicit mirrors */

/* cron_prev from just after a gap-end fire returns that fire, with its flag and named wall time. */
static void test_prev_just_after_gap_fire(void **state) {
        (void) state;
        const TzZone *ny = zone("America/New_York");
        CronExpr e;
        CronFire f;

        assert_int_equal(cron_parse("30 2 * * *", &e, NULL), 0);
        assert_int_equal(cron_prev(&e, ny, at("2024-03-10T03:00:01-04:00"), &f), 0);
        if (f.at != at("2024-03-10T03:00:00-04:00") || f.flags != GAP ||
            f.wall != wall_of("2024-03-10T02:30:00")) {
                char a[TIMESTAMP_MAX], w[TIMESTAMP_MAX];
                fail_msg("expected 2024-03-10T03:00:00-04:00 GAP wall 2024-03-10T02:30:00, got %s flags %u "
                         "wall %s",
                         local(ny, f.at, a), f.flags, wall_str(f.wall, w));
        }
}

/* UTC given as NULL and as the tz database's "UTC" zone agree. */
static void test_null_zone_is_utc(void **state) {
        (void) state;
        static const char *const exprs[] = { "30 2 * * *", "*/30 * * * *", "0 0 L * *", "@every 7h" };
        const TzZone *utc = zone("UTC");

        for (size_t i = 0; i < ELEMENTSOF(exprs); i++) {
                CronExpr e;
                CronFire a, b;
                assert_int_equal(cron_parse(exprs[i], &e, NULL), 0);
                for (int64_t t = at("2024-03-09T00:00:00Z"); t < at("2024-03-12T00:00:00Z");
                     t += 3 * 3600 + 7) {
                        assert_int_equal(cron_next(&e, NULL, t, &a), 0);
                        assert_int_equal(cron_next(&e, utc, t, &b), 0);
                        assert_true(a.at == b.at && a.wall == b.wall && a.flags == b.flags);
                        assert_int_equal(cron_prev(&e, NULL, t, &a), 0);
                        assert_int_equal(cron_prev(&e, utc, t, &b), 0);
                        assert_true(a.at == b.at && a.wall == b.wall && a.flags == b.flags);
                }
        }
}

/*
 * Around every transition above, for every instant t on a grid: the next
 * fire n is after t and the fire before n is not after t; the previous fire
 * p is before t and the fire after p lies in [t, n]. Flags are consistent
 * with the expression's kind and policy.
 */
static void test_next_prev_mirror_around_transitions(void **state) {
        (void) state;
        static const struct {
                const char *zone, *transition;
        } transitions[] = {
                { "America/New_York", "2024-03-10T07:00:00Z" },
                { "America/New_York", "2024-11-03T06:00:00Z" },
                { "Europe/London", "2024-03-31T01:00:00Z" },
                { "Europe/London", "2024-10-27T01:00:00Z" },
                { "Europe/Berlin", "2024-03-31T01:00:00Z" },
                { "Europe/Berlin", "2024-10-27T01:00:00Z" },
                { "Europe/Berlin", "2150-03-29T01:00:00Z" },
                { "Europe/Berlin", "2150-10-25T01:00:00Z" },
                { "Australia/Sydney", "2024-04-06T16:00:00Z" },
                { "Australia/Sydney", "2024-10-05T16:00:00Z" },
                { "Australia/Lord_Howe", "2024-04-06T15:00:00Z" },
                { "Australia/Lord_Howe", "2024-10-05T15:30:00Z" },
                { "America/Sao_Paulo", "2018-11-04T03:00:00Z" },
                { "America/Sao_Paulo", "2019-02-17T02:00:00Z" },
        };
        static const char *const exprs[] = {
                "*/30 * * * *", "30 * * * *", "*/20 30 1 * * *", "0 0 * * *",  "30 23 * * *",  "30 1 * * *",
                "45 1 * * *",   "30 2 * * *", "0,30 2 * * *",    "15 2 * * *", "0 30 2 * * *", "0 1-3 * * *",
        };
        char a[TIMESTAMP_MAX], b[TIMESTAMP_MAX], c[TIMESTAMP_MAX], d[TIMESTAMP_MAX];

        for (size_t i = 0; i < ELEMENTSOF(transitions); i++) {
                const TzZone *z = zone(transitions[i].zone);
                int64_t center = at(transitions[i].transition);

                for (size_t j = 0; j < ELEMENTSOF(exprs); j++)
                        for (int policy = 0; policy < _CRON_DST_POLICY_MAX; policy++) {
                                CronExpr e;
                                assert_int_equal(cron_parse(exprs[j], &e, NULL), 0);
                                e.dst_policy = (uint8_t) policy;

                                for (int64_t t = center - 6 * 3600; t <= center + 6 * 3600;
                                     t += 11 * 60 + 13) {
                                        CronFire n = {}, p = {}, x = {};
                                        const char *row = transitions[i].zone;
                                        const char *pol = cron_dst_policy_to_string(policy);

                                        if (cron_next(&e, z, t, &n) < 0 || cron_prev(&e, z, t, &p) < 0) {
                                                mismatch("%s '%s' %s at %s: no fire found", row, exprs[j],
                                                         pol, local(z, t, a));
                                                continue;
                                        }
                                        if (n.at <= t || p.at >= t)
                                                mismatch("%s '%s' %s at %s: next %s / prev %s not strictly "
                                                         "after / before",
                                                         row, exprs[j], pol, local(z, t, a),
                                                         local(z, n.at, b), local(z, p.at, c));
                                        if (cron_prev(&e, z, n.at, &x) == 0 && x.at > t)
                                                mismatch("%s '%s' %s at %s: next is %s, but the fire before "
                                                         "it is "
                                                         "%s",
                                                         row, exprs[j], pol, local(z, t, a),
                                                         local(z, n.at, b), local(z, x.at, c));
                                        if (cron_next(&e, z, p.at, &x) < 0 || x.at < t || x.at > n.at)
                                                mismatch("%s '%s' %s at %s: prev is %s, but the fire after "
                                                         "it is "
                                                         "%s (next %s)",
                                                         row, exprs[j], pol, local(z, t, a),
                                                         local(z, p.at, b), local(z, x.at, c),
                                                         local(z, n.at, d));
                                        if ((e.fixed_time && (n.flags & REPEAT)) ||
                                            (!e.fixed_time && (n.flags & GAP)) ||
                                            (policy == SKIP && (n.flags & GAP)))
                                                mismatch("%s '%s' %s: fire %s has flags %u", row, exprs[j],
                                                         pol, local(z, n.at, a), n.flags);
                                }
                        }
        }
        assert_int_equal(mismatches, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_new_york, reset_mismatches),
                cmocka_unit_test_setup(test_london, reset_mismatches),
                cmocka_unit_test_setup(test_berlin, reset_mismatches),
                cmocka_unit_test_setup(test_sydney, reset_mismatches),
                cmocka_unit_test_setup(test_lord_howe, reset_mismatches),
                cmocka_unit_test_setup(test_sao_paulo, reset_mismatches),
                cmocka_unit_test_setup(test_kolkata_and_utc, reset_mismatches),
                cmocka_unit_test_setup(test_several_times_in_one_gap, reset_mismatches),
                cmocka_unit_test(test_prev_just_after_gap_fire),
                cmocka_unit_test(test_null_zone_is_utc),
                cmocka_unit_test_setup(test_next_prev_mirror_around_transitions, reset_mismatches),
        };
        return cmocka_run_group_tests(tests, setup_db, teardown_db);
}
