/* SPDX-License-Identifier: MIT */
#pragma once

/* ISO-8601 timestamps with explicit UTC offsets, without libc's zone state. */

#include <stddef.h>
#include <stdint.h>

/* "2024-03-10T03:00:00-04:00": 25 characters, 32 with a seconds offset and room to spare. */
#define TIMESTAMP_MAX 40

/*
 * Formats instant `utc` as local time at `utc_offset` seconds east of UTC.
 * Offsets with seconds (old local mean times) print as "+hh:mm:ss".
 * Returns buf.
 */
char *timestamp_format(int64_t utc, int32_t utc_offset, char buf[static TIMESTAMP_MAX]);

/*
 * Parses "YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±HH[:MM])" (a space may replace
 * the T; the fraction is truncated) or "@SECONDS" since the epoch.
 * Returns 0 and the instant in *ret_utc, or -EINVAL.
 */
int timestamp_parse(const char *text, int64_t *ret_utc);
