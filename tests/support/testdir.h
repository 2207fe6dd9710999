/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Scratch directories for tests that need real files: created under /tmp,
 * filled with files and plugin copies, removed whole afterwards. Failures
 * abort the test (these are test helpers, not library code).
 */

#include <sys/types.h>

/* A new directory /tmp/<prefix>-XXXXXX (mode 0755), malloc'd. */
char *testdir_new(const char *prefix);
/* Removes the tree and frees the path; accepts NULL; returns NULL. */
char *testdir_free(char *dir);

/* Writes `content` to dir/rel (parents must exist) with `mode`. Returns the full path, malloc'd. */
char *testdir_write(const char *dir, const char *rel, const char *content, mode_t mode);
/* Creates the directory dir/rel with `mode` (exactly: the umask does not apply). Returns its path. */
char *testdir_mkdir(const char *dir, const char *rel, mode_t mode);
/* Copies the file `from` to dir/rel with `mode`. Returns the full path, malloc'd. */
char *testdir_copy(const char *dir, const char *rel, const char *from, mode_t mode);

/* The path of a file of the build tree (UDFCRON_BUILD_DIR), e.g. "asan/plugins/storage-file.so". */
char *build_path(const char *rel);
