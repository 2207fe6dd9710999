/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Longest URL scheme udfcron knows of ("file", "s3", "gs", ...), with room to spare. */
#define URL_SCHEME_MAX 32

/*
 * The scheme of "scheme://...", lower-cased into `buf` (URL_SCHEME_MAX bytes):
 * a letter, then letters, digits, '+', '-' or '.'. Returns its length, or
 * -EINVAL when `url` does not start with a scheme and "://".
 */
int url_scheme(const char *url, char buf[static URL_SCHEME_MAX]);
