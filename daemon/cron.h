/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Cron expressions: parsed once into bit sets, then asked for the next or
 * previous fire time in a zone. Pure: no I/O, no globals, no allocation.
 *
 * Syntax (see README "Cron expressions"):
 *   5 fields  minute hour day-of-month month day-of-week
 *   6 fields  second minute hour day-of-month month day-of-week
 *   7 fields  second minute hour day-of-month month day-of-week year
 *   @yearly @annually @monthly @weekly @daily @midnight @hourly
 *   @every DURATION   fixed interval counted from the Unix epoch
 * with names (JAN-DEC, SUN-SAT), `*`, ranges, steps, lists, and the Quartz
 * day extensions `L`, `L-n`, `nW`, `LW`, `dL`, `d#n` and `?`.
 */

#include <stdbool.h>
#include <stdint.h>

#include "tz.h"

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2199

/*
 * What happens to local times that a DST change skips or repeats. Either way,
 * a "wildcard" expression (its second, minute or hour field starts with `*`)
 * follows real time: local times that do not exist never fire, repeated ones
 * fire on both passes. The policy decides for "fixed-time" expressions:
 */
typedef enum CronDstPolicy {
        CRON_DST_SHIFT, /* "shift", the default (as cronie): a skipped time fires once, at the
                         * first instant after the gap; a repeated time fires once, first */
        CRON_DST_SKIP,  /* "skip": a skipped time does not fire; a repeated one fires once, first */
        _CRON_DST_POLICY_MAX,
        _CRON_DST_POLICY_INVALID = -22, /* -EINVAL */
} CronDstPolicy;

/* Indexed by CronDstPolicy, NULL-terminated. */
extern const char *const cron_dst_policy_names[_CRON_DST_POLICY_MAX + 1];
const char *cron_dst_policy_to_string(CronDstPolicy p);
CronDstPolicy cron_dst_policy_from_string(const char *s);

/* The compact parsed form: a value type, copy and embed it freely. */
typedef struct CronExpr {
        uint64_t seconds;          /* bit n: second n */
        uint64_t minutes;          /* bit n: minute n */
        uint32_t hours;            /* bit n: hour n */
        uint32_t days;             /* bit n: day-of-month n (1-31) */
        uint32_t nearest_weekdays; /* bit n: `nW`, the weekday nearest day n */
        uint16_t months;           /* bit n: month n (1-12) */
        uint8_t weekdays;          /* bit n: weekday n (0 = Sunday) */
        uint8_t last_weekdays;     /* bit n: `nL`, the last weekday n of the month */
        uint64_t nth_weekdays;     /* bit 7*(k-1)+n: `n#k`, the k-th weekday n of the month */
        uint64_t years[(CRON_YEAR_MAX - CRON_YEAR_MIN + 64) / 64]; /* bit n: year 1970+n */
        uint32_t every;         /* @every: the interval in seconds; 0 for calendar expressions */
        int8_t last_day_offset; /* `L-n`: n; -1 when the field has no L */
        bool last_weekday;      /* `LW` */
        bool day_or;            /* neither day field starts with `*` nor is `?`: OR them */
        bool fixed_time;        /* no `*` at the start of the second, minute or hour field */
        uint8_t dst_policy;     /* CronDstPolicy */
} CronExpr;

typedef struct CronError {
        unsigned column; /* 1-based column of the offending token; 0 when it is the whole text */
        char message[160];
} CronError;

/*
 * Parses `text` (borrowed). Returns 0 and fills *ret_expr, or -EINVAL and
 * fills *ret_error (may be NULL) with e.g.
 * "minute field: 61 is out of range 0-59 at column 1".
 * Expressions that can never fire (`0 0 30 2 *`) are rejected here.
 */
int cron_parse(const char *text, CronExpr *ret_expr, CronError *ret_error);

/* Fire flags: why a fire is not simply "the clock showed the matching time". */
enum {
        CRON_FIRE_DST_GAP = 1 << 0,    /* the local time was skipped by DST; fired after the gap */
        CRON_FIRE_DST_REPEAT = 1 << 1, /* the second pass of a local time repeated by DST */
};

typedef struct CronFire {
        int64_t at;     /* the instant, seconds since the epoch (UTC) */
        int64_t wall;   /* the local time the expression named (see calendar.h) */
        unsigned flags; /* CRON_FIRE_* */
} CronFire;

/*
 * The first fire strictly after `after` / the last one strictly before
 * `before`, in `zone` (borrowed; NULL means UTC). Returns 0, or -ENOENT when
 * there is none (a year field that has run out, or beyond year CRON_YEAR_MAX).
 */
int cron_next(const CronExpr *expr, const TzZone *zone, int64_t after, CronFire *ret_fire);
int cron_prev(const CronExpr *expr, const TzZone *zone, int64_t before, CronFire *ret_fire);
