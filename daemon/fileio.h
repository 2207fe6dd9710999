/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Reads an open file to its end into a malloc'd buffer with a NUL after the
 * data (so text can be used as a C string; the size does not count it).
 * Returns 0, -EFBIG when the file holds more than `max` bytes (what was read
 * is wiped: it may be a secret), -ENOMEM, or the read's -errno.
 */
int read_full_fd(int fd, size_t max, char **ret_data, size_t *ret_size);
