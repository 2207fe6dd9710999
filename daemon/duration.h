/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Durations as people write them in configuration: "30s", "15m", "2h", "1d",
 * "1w", or sums such as "1h30m". A bare number is refused: units are never
 * guessed.
 */

#include <stdint.h>

/*
 * Parses `text` (the whole string). Returns 0 and the duration in seconds,
 * -EINVAL for text that is not a duration, -ERANGE above `max_seconds`.
 */
int duration_parse(const char *text, uint64_t max_seconds, uint64_t *ret_seconds);
