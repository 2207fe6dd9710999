/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

/*
 * Validates a whole configuration like `nginx -t`, for `udfcrond
 * --check-config` and `udfcronctl check`: every error as "file:line:
 * message" on `err`, then a count; or "configuration OK, N schedules in M
 * files" on `out`. `program` prefixes the summary line. Returns 0 when the
 * configuration is valid, -EINVAL when it has errors, another -errno when it
 * could not be read at all.
 */
int config_check(const char *program, const char *path, FILE *out, FILE *err);
