/* SPDX-License-Identifier: MIT */
#pragma once

/* Checking that a configuration is refused with exactly the errors a test expects. */

#include <stdbool.h>
#include <stddef.h>

#include "tz.h"

/*
 * Loads the configuration `path`, which must be refused with the errors
 * `expected` (at most `n` of them, ended early by a NULL), in that order,
 * and without a configuration; "@DIR@" in them stands for `dir`. Prints each error that is not the one
 * expected, with `label` before it; returns whether all matched.
 */
bool config_errors_match(const char *path, TzDb *tzdb, const char *const *expected, size_t n,
                         const char *dir, const char *label);
