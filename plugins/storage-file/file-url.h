/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * file:// URLs (RFC 8089) as storage-file reads and writes them: no I/O
 * here, only text, so that the fuzzer can reach every byte of it.
 */

#include <stddef.h>

/*
 * The absolute path of "file:///abs/path" or "file://localhost/abs/path",
 * percent-decoded, in a malloc'd string. -EINVAL for anything else: another
 * scheme or host, a query or fragment ('?', '#'), a bad or NUL escape, an
 * empty path. Returns 0 or a negative errno.
 */
int file_url_to_path(const char *url, char **ret_path);

/*
 * The part of `path` below directory `root` (both absolute; `root` without a
 * trailing slash, or "/"), without its leading slashes ("" for the root
 * itself), or NULL when `path` is not `root` or below it. Lexical: ".."
 * is left for the open to refuse, which resolves beneath the root anyway.
 */
const char *file_path_below(const char *root, const char *path);

/*
 * Normalizes an absolute path in place, lexically: "//" and "/./" become
 * "/", "x/.." goes (never above "/"), and no trailing slash stays (but for
 * "/"). For the configured root, whose spelling URLs are compared with.
 */
void file_path_normalize(char *path);

/* "file://" and `path`, percent-encoding what a URL path cannot hold as is; NULL on OOM. */
char *file_url_from_path(const char *path);
