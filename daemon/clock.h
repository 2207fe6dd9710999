/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one place that reads the wall clock. Tests can shift the daemon's idea
 * of "now" by a fixed offset ($UDFCRON_TEST_CLOCK_OFFSET, seconds, read once
 * at start), which lets them put a running daemon right before a DST change;
 * timers are armed on the real clock, so they convert with clock_to_real().
 */

#include <stdint.h>

uint64_t now_usec(void);

/* CLOCK_MONOTONIC in usec, for sd_notify's MONOTONIC_USEC. */
uint64_t now_monotonic_usec(void);

/* The real CLOCK_REALTIME instant at which now_usec() will read `usec`. */
uint64_t clock_to_real(uint64_t usec);

/* Reads $UDFCRON_TEST_CLOCK_OFFSET; returns -EINVAL when it is set but not an integer. */
int clock_init_from_environment(void);
