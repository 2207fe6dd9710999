/* SPDX-License-Identifier: MIT */
#include "cron-reference.h"

#include <errno.h>

#include "calendar.h"
#include "macro.h"

/* ------------------------------------------------------------------ the matcher */

static bool bit32(uint32_t set, unsigned n) {
        return n < 32 && (set >> n & 1);
}

static bool bit64(uint64_t set, unsigned n) {
        return n < 64 && (set >> n & 1);
}

static unsigned weekday_of(int64_t y, unsigned m, unsigned d) {
        return weekday_from_days(days_from_civil(y, m, d));
}

static bool is_workday(int64_t y, unsigned m, unsigned d) {
        unsigned wd = weekday_of(y, m, d);
        return wd >= 1 && wd <= 5;
}

static bool year_matches(const CronExpr *e, int64_t y) {
        if (y < CRON_YEAR_MIN || y > CRON_YEAR_MAX)
                return false;
        unsigned i = (unsigned) (y - CRON_YEAR_MIN);
        return e->years[i / 64] >> (i % 64) & 1;
}

/* `nW`: the Monday-Friday day of the month closest to day n (which must exist); ties cannot occur. */
static unsigned nearest_workday(int64_t y, unsigned m, unsigned n) {
        unsigned dim = days_in_month(y, m);
        for (unsigned dist = 0;; dist++) {
                if (n > dist && is_workday(y, m, n - dist))
                        return n - dist;
                if (n + dist <= dim && is_workday(y, m, n + dist))
                        return n + dist;
        }
}

static bool day_of_month_matches(const CronExpr *e, int64_t y, unsigned m, unsigned d) {
        unsigned dim = days_in_month(y, m);

        if (bit32(e->days, d))
                return true;
        if (e->last_day_offset >= 0 && d + (unsigned) e->last_day_offset == dim) /* L, L-n */
                return true;
        if (e->last_weekday) { /* LW: the last Monday-Friday of the month */
                unsigned last = dim;
                while (!is_workday(y, m, last))
                        last--;
                if (last == d)
                        return true;
        }
        for (unsigned n = 1; n <= dim; n++) /* nW, for days n this month has */
                if (bit32(e->nearest_weekdays, n) && nearest_workday(y, m, n) == d)
                        return true;
        return false;
}

static bool day_of_week_matches(const CronExpr *e, int64_t y, unsigned m, unsigned d) {
        unsigned wd = weekday_of(y, m, d), dim = days_in_month(y, m);

        if (e->weekdays >> wd & 1)
                return true;
        if ((e->last_weekdays >> wd & 1) && d + 7 > dim) /* dL: no same weekday follows this month */
                return true;
        unsigned k = (d - 1) / 7; /* d#(k+1): k same weekdays precede it this month */
        return bit64(e->nth_weekdays, 7 * k + wd);
}

static bool date_matches(const CronExpr *e, int64_t y, unsigned m, unsigned d) {
        if (!year_matches(e, y) || !(e->months >> m & 1))
                return false;
        bool dom = day_of_month_matches(e, y, m, d), dow = day_of_week_matches(e, y, m, d);
        return e->day_or ? dom || dow : dom && dow;
}

bool ref_matches(const CronExpr *e, int64_t wall) {
        CivilTime c;
        civil_from_seconds(wall, &c);
        return date_matches(e, c.year, c.month, c.day) && (e->hours >> c.hour & 1) &&
               (e->minutes >> c.minute & 1) && (e->seconds >> c.second & 1);
}

/* ------------------------------------------------------------------ coarse units of wall time */

/*
 * A wall time can only match when the year, month, day, hour and minute
 * containing it do: checking those units first lets the scan below skip
 * stretches of time without looking at each instant.
 */
typedef enum Unit {
        UNIT_YEAR,
        UNIT_MONTH,
        UNIT_DAY,
        UNIT_HOUR,
        UNIT_MINUTE,
        _UNIT_MAX,
} Unit;

static bool unit_may_match(const CronExpr *e, Unit unit, int64_t wall) {
        CivilTime c;
        civil_from_seconds(wall, &c);
        switch (unit) {
        case UNIT_YEAR:
                return year_matches(e, c.year);
        case UNIT_MONTH:
                return year_matches(e, c.year) && (e->months >> c.month & 1);
        case UNIT_DAY:
                return date_matches(e, c.year, c.month, c.day);
        case UNIT_HOUR:
                return date_matches(e, c.year, c.month, c.day) && (e->hours >> c.hour & 1);
        default:
                return date_matches(e, c.year, c.month, c.day) && (e->hours >> c.hour & 1) &&
                       (e->minutes >> c.minute & 1);
        }
}

/* The first wall time of the unit after the one containing `wall`. */
static int64_t unit_end(Unit unit, int64_t wall) {
        CivilTime c;
        switch (unit) {
        case UNIT_YEAR:
                civil_from_seconds(wall, &c);
                return days_from_civil(c.year + 1, 1, 1) * SECONDS_PER_DAY;
        case UNIT_MONTH:
                civil_from_seconds(wall, &c);
                return (c.month == 12 ? days_from_civil(c.year + 1, 1, 1)
                                      : days_from_civil(c.year, c.month + 1, 1)) *
                       SECONDS_PER_DAY;
        case UNIT_DAY:
                return (floor_div(wall, SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY;
        case UNIT_HOUR:
                return (floor_div(wall, 3600) + 1) * 3600;
        default:
                return (floor_div(wall, 60) + 1) * 60;
        }
}

/* Whether any wall time in [lo, hi] may match at the resolution of `unit`. */
static bool range_may_match(const CronExpr *e, Unit unit, int64_t lo, int64_t hi) {
        for (int64_t w = lo; w <= hi; w = unit_end(unit, w))
                if (unit_may_match(e, unit, w))
                        return true;
        return false;
}

/* Whether any wall time in [lo, hi] matches: second by second, skipping units that cannot. */
static bool range_matches(const CronExpr *e, int64_t lo, int64_t hi) {
        for (int64_t w = lo; w <= hi;) {
                Unit u = 0;
                while (u < _UNIT_MAX && unit_may_match(e, u, w))
                        u++;
                if (u < _UNIT_MAX) {
                        w = unit_end(u, w);
                        continue;
                }
                if (ref_matches(e, w))
                        return true;
                w++;
        }
        return false;
}

/* ------------------------------------------------------------------ the timeline */

/* The highest / lowest wall time the zone's clock shows at any instant in [a, b), read off its spans. */
static int64_t max_wall(const TzZone *zone, int64_t a, int64_t b) {
        int64_t m = INT64_MIN;
        for (int64_t v = a; v < b;) {
                TzSpan sp;
                tz_span_at(zone, v, &sp);
                int64_t last = MIN(b, sp.end) - 1; /* the wall clock only climbs within a span */
                m = MAX(m, last + sp.utc_offset);
                v = last + 1;
        }
        return m;
}

static int64_t min_wall(const TzZone *zone, int64_t a, int64_t b) {
        int64_t m = INT64_MAX;
        for (int64_t v = a; v < b;) {
                TzSpan sp;
                tz_span_at(zone, v, &sp);
                m = MIN(m, v + sp.utc_offset);
                v = MIN(b, sp.end);
        }
        return m;
}

/* Instants skipped at once when a whole block's wall times cannot match at the resolution of a unit. */
static const int64_t block_size[_UNIT_MAX] = {
        [UNIT_YEAR] = 90 * SECONDS_PER_DAY,
        [UNIT_MONTH] = 7 * SECONDS_PER_DAY,
        [UNIT_DAY] = SECONDS_PER_DAY,
        [UNIT_HOUR] = 3600,
        [UNIT_MINUTE] = 60,
};

/*
 * Whether `e` fires at an instant showing `wall`, when `high` is the highest
 * wall time shown at any earlier instant.
 */
static bool fires_at(const CronExpr *e, int64_t wall, int64_t high) {
        if (!e->fixed_time)
                return ref_matches(e, wall); /* real time: every showing of a match */
        if (wall > high && ref_matches(e, wall))
                return true; /* first showing of a match */
        /* a forward jump swallowed (high, wall): "shift" fires for a match in there, now */
        return e->dst_policy == CRON_DST_SHIFT && wall > high + 1 && range_matches(e, high + 1, wall - 1);
}

int ref_next(const CronExpr *e, const TzZone *zone, int64_t after, int64_t window, int64_t *ret_at) {
        int64_t end = after + window; /* the last instant scanned */

        if (!zone)
                zone = tz_utc();

        if (e->every > 0) {
                for (int64_t u = after + 1; u <= end; u++)
                        if (floor_mod(u, e->every) == 0) {
                                *ret_at = u;
                                return 0;
                        }
                return -ENOENT;
        }

        /* Only second 0 can match: only whole wall minutes and the first instants of spans can fire. */
        bool whole_minutes = e->seconds == 1;
        int64_t u = after + 1;
        /* Offsets differ by far less than a day, so nothing shown before that is higher. */
        int64_t high = max_wall(zone, u - SECONDS_PER_DAY, u);

        while (u <= end) {
                /*
                 * Skip a block of instants when no wall time they show or jump
                 * over can match: wall(v) and the gap (wall(v - 1), wall(v))
                 * lie in [min_wall(u - 1, u + b), max_wall(u, u + b)].
                 */
                Unit unit;
                for (unit = 0; unit < (whole_minutes ? UNIT_MINUTE : _UNIT_MAX); unit++) {
                        int64_t b = MIN(block_size[unit], end + 1 - u);
                        int64_t hi = max_wall(zone, u, u + b);
                        if (!range_may_match(e, unit, min_wall(zone, u - 1, u + b), hi)) {
                                high = MAX(high, hi);
                                u += b;
                                break;
                        }
                }
                if (unit < (whole_minutes ? UNIT_MINUTE : _UNIT_MAX))
                        continue;

                TzSpan sp;
                tz_span_at(zone, u, &sp);
                int64_t wall = u + sp.utc_offset;
                if (fires_at(e, wall, high)) {
                        *ret_at = u;
                        return 0;
                }

                int64_t next = u + 1;
                if (whole_minutes)
                        next = MIN(u + 60 - floor_mod(wall, 60), sp.end);
                high = MAX(high, max_wall(zone, u, next));
                u = next;
        }
        return -ENOENT;
}
