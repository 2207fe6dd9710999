/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads an open file to its end into a malloc'd buffer with a NUL after the
 * data (so text can be used as a C string; the size does not count it).
 * Returns 0, -EFBIG when the file holds more than `max` bytes (what was read
 * is wiped: it may be a secret), -ENOMEM, or the read's -errno.
 */
int read_full_fd(int fd, size_t max, char **ret_data, size_t *ret_size);

/* mkdir -p: missing parents are created 0755, `path` itself with `mode`; existing ones stay as they are. */
int mkdir_p(const char *path, mode_t mode);

/* Removes `path` and everything below it, without following symbolic links; a missing path is no error. */
int remove_tree(const char *path);
