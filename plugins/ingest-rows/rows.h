/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The rows of one input, as the readers (csv.h, geojson.h) find them: where
 * each one's bytes lie in the input (the partitioner writes them out again
 * unchanged), the line it starts on, its bounding box, and the value of the
 * partition column. Pure data: no I/O.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inputs may hold this many rows at most: row numbers are 32-bit. */
#define ROWS_MAX UINT32_MAX

typedef struct Row {
        size_t offset; /* the row's bytes in the input: a CSV record without its line end, a GeoJSON Feature
                        */
        uint32_t size;
        uint32_t line;  /* 1-based line where it starts */
        double bbox[4]; /* west, south, east, north (a point's is that point); geospatial inputs only */
} Row;

typedef struct Rows {
        Row *rows;
        size_t n, allocated;
        /* The partition column's value of each row, when there is one: pool + values[i] (NUL-terminated). */
        size_t *values, values_allocated;
        char *pool;
        size_t pool_size, pool_allocated;
} Rows;

/* Grows the array *p of *allocated items of `item` bytes to hold `needed`, doubling; false on OOM. */
bool rows_grow_array(void **p, size_t *allocated, size_t needed, size_t item);

/* Writes "line N: " (when line > 0) and the message into error[0..size); returns -EINVAL, for the readers.
 */
int rows_error(char *error, size_t size, unsigned line, const char *format, va_list ap)
        __attribute__((format(printf, 4, 0)));

/* Appends a row (and its value, `value_size` bytes, when values are kept): -ENOMEM, -E2BIG past ROWS_MAX. */
int rows_add(Rows *rows, const Row *row, const char *value, size_t value_size, bool keep_value);
void rows_done(Rows *rows);

static inline const char *rows_value(const Rows *rows, size_t i) {
        return rows->values ? rows->pool + rows->values[i] : "";
}

/* A coordinate as CSV and GeoJSON texts write it: decimal, optionally signed, with an optional fraction and
 * exponent; no hex, inf or nan. Surrounding spaces are allowed. */
bool rows_parse_number(const char *s, size_t size, double *ret);

/* Whether a longitude and a latitude lie in WGS84's range, -180..180 and -90..90. */
static inline bool rows_in_range(double lon, double lat) {
        return lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90;
}
