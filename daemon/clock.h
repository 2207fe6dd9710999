/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one place that reads the wall clock. For tests only, the daemon's idea
 * of "now" can be shifted by an offset in seconds: $UDFCRON_TEST_CLOCK_OFFSET
 * (read at start) puts a running daemon right before a DST change, and
 * $UDFCRON_TEST_CLOCK_FILE names a file holding the offset, re-read when the
 * daemon gets SIGUSR2, which simulates a clock step. Timers are armed on the
 * real clock, so they convert with clock_to_real().
 */

#include <stdbool.h>
#include <stdint.h>

uint64_t now_usec(void);

/* CLOCK_MONOTONIC in usec, for sd_notify's MONOTONIC_USEC. */
uint64_t now_monotonic_usec(void);

/* 64 random bits (run ids, retry jitter); when the kernel has no entropy yet, mixed from the clock. */
uint64_t random_u64(void);

/* The real CLOCK_REALTIME instant at which now_usec() will read `usec`. */
uint64_t clock_to_real(uint64_t usec);

/* Reads the test offset from the environment; -EINVAL when it is set but not a number of seconds. */
int clock_init_from_environment(void);

/* Whether $UDFCRON_TEST_CLOCK_FILE is set (and SIGUSR2 should call clock_reload_test_file()). */
bool clock_has_test_file(void);
/* Re-reads the offset file; -errno/-EINVAL leave the offset as it was. */
int clock_reload_test_file(void);
