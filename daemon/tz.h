/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Time zones from the system tz database, without TZ, tzset() or mktime().
 *
 * A zone is read once from its TZif file (v1, v2 or v3; the 64-bit block is
 * preferred, and the POSIX-TZ footer rule extends the table to every later
 * instant) and kept in a TzDb cache. The timeline of a zone is a sequence of
 * spans, each with one UTC offset; everything else is derived from spans.
 *
 * Instants are int64_t seconds since the Unix epoch (UTC); "wall" times are
 * local civil times flattened the same way (see calendar.h): wall = utc + offset.
 *
 * Errors: -ENOENT unknown zone, -EINVAL invalid zone name (absolute, "..",
 * odd characters), -EBADMSG malformed TZif data or footer, -ENOMEM.
 * Nothing here logs; callers turn errors into messages with tz_error_message().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_DEFAULT_ROOT "/usr/share/zoneinfo"
#define TZ_NAME_MAX     255

typedef struct TzZone TzZone;
typedef struct TzDb TzDb;

/* A maximal stretch of time with one UTC offset. */
typedef struct TzSpan {
        int64_t start;      /* first instant of the span; INT64_MIN when unbounded */
        int64_t end;        /* first instant after the span; INT64_MAX when unbounded */
        int32_t utc_offset; /* seconds east of UTC */
        bool is_dst;
        const char *abbreviation; /* "CEST"; borrowed from the zone, lives as long as it */
} TzSpan;

/* The built-in UTC zone; needs no file and is never freed. */
const TzZone *tz_utc(void);

/*
 * Parses TZif data (borrowed; nothing is kept) into a new zone called `name`
 * (copied). Returns 0 or -EBADMSG/-ENOMEM. On success *ret_zone is owned by
 * the caller and released with tz_zone_free().
 */
int tz_zone_parse(const char *name, const void *data, size_t size, TzZone **ret_zone);
TzZone *tz_zone_free(TzZone *zone);

const char *tz_zone_name(const TzZone *zone);

/* The span containing instant t. Never fails: every instant has a span. */
void tz_span_at(const TzZone *zone, int64_t t, TzSpan *ret_span);
int32_t tz_offset_at(const TzZone *zone, int64_t t);

/* Bounds of every offset the zone ever uses, for search windows. */
int32_t tz_max_offset(const TzZone *zone);
int32_t tz_min_offset(const TzZone *zone);

/*
 * The highest wall time the zone's clock has shown at any instant <= t. It
 * differs from t + offset only during the second pass of a fall-back overlap,
 * when the clock shows times it already showed once.
 */
int64_t tz_wall_high_water(const TzZone *zone, int64_t t);

/*
 * The first instant at which the zone's clock shows `wall` or later. When the
 * wall time exists that is its first occurrence (*ret_exists = true); when it
 * falls into a spring-forward gap, it is the first instant after the gap
 * (*ret_exists = false). ret_exists may be NULL.
 */
int64_t tz_wall_first_instant(const TzZone *zone, int64_t wall, bool *ret_exists);

/*
 * A cache of zones read from `root` (borrowed string is copied; NULL means
 * TZ_DEFAULT_ROOT). tzdb_get() loads a zone on first use and returns a
 * pointer borrowed from the cache, valid until tzdb_free(). The names "UTC",
 * "Etc/UTC" and "Z" are always available, even without a tz database.
 */
int tzdb_new(const char *root, TzDb **ret_db);
TzDb *tzdb_free(TzDb *db);
int tzdb_get(TzDb *db, const char *name, const TzZone **ret_zone);

/*
 * The system's zone name from /etc/localtime (a symlink into the tz database)
 * or /etc/timezone; "UTC" when neither names one. Caller frees *ret_name.
 */
int tz_system_zone_name(char **ret_name);

/* What an error from tzdb_get() means ("unknown time zone"), for "%s '%s'" with the name. */
const char *tz_error_message(int error);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(TzZone *, tz_zone_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(TzDb *, tzdb_free);
