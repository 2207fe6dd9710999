/* SPDX-License-Identifier: MIT */
#pragma once

/* A growing byte buffer, and JSON text written into it: the files and the index the partitioner writes. */

#include <stdbool.h>
#include <stddef.h>

/* Appends need no checks: the first that runs out of memory sets `failed`, and the rest do nothing. */
typedef struct Buf {
        char *data; /* NUL-terminated after `size` bytes */
        size_t size, allocated;
        bool failed;
} Buf;

void buf_put(Buf *b, const void *data, size_t n);
/* Short texts only (numbers, words): a longer one sets `failed`. */
void buf_printf(Buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
void buf_free(Buf *b);

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
void buf_json_string(Buf *b, const char *s);
/* [west, south, east, north], exactly (17 digits). */
void buf_json_bbox(Buf *b, const double bbox[4]);
