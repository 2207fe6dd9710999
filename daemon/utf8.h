/* SPDX-License-Identifier: MIT */
#pragma once

/* UTF-8 as bytes from outside arrive: possibly invalid. */

#include <stddef.h>
#include <stdint.h>

/*
 * The length (1 to 4) of the valid UTF-8 character at p, n > 0 bytes long, and its code point in
 * *ret_cp; 0 for an invalid, overlong, surrogate or cut-short sequence.
 */
size_t utf8_decode(const char *p, size_t n, uint32_t *ret_cp);

/* A NUL-terminated copy of data with each NUL and each byte of invalid UTF-8 as U+FFFD; NULL on OOM. */
char *utf8_sanitize(const char *data, size_t size);
