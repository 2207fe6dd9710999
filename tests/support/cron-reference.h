/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A brute-force reference for cron_next(), for property tests and benchmarks.
 *
 * It shares nothing with cron.c but the parsed CronExpr bit fields: it breaks
 * each wall time into civil fields and tests them one by one (computing L, W,
 * LW, dL and d#n days the obvious way), and walks the timeline instant by
 * instant, applying the DST rules of cron.h from first principles. It only
 * skips stretches of time whose wall times cannot match at all. Slow on
 * purpose: being obviously right is the point.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cron.h"
#include "tz.h"

/* Whether the calendar fields of `e` match the local wall time `wall` (see calendar.h). */
bool ref_matches(const CronExpr *e, int64_t wall);

/*
 * The first instant in [after + 1, after + window] at which `e` fires in
 * `zone` (NULL: UTC), by these rules:
 *   - @every N: at every multiple of N seconds since the epoch;
 *   - wildcard expressions: at u iff the wall time u + offset(u) matches;
 *   - fixed-time expressions: at u iff some matching wall time m has never
 *     been shown before u and m <= wall(u); under CRON_DST_SKIP only m =
 *     wall(u) counts, so times swallowed by a gap never fire.
 * Returns 0 and *ret_at, or -ENOENT when nothing fires in the window.
 */
int ref_next(const CronExpr *e, const TzZone *zone, int64_t after, int64_t window, int64_t *ret_at);
