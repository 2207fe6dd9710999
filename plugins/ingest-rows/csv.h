/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A CSV reader (RFC 4180: fields separated by the delimiter, records by LF or
 * CRLF, fields in double quotes may hold delimiters, line ends and "" for a
 * quote) that reads a few records at a time, so that a large input is read in
 * slices. The first record names the columns, unless there is no header: then
 * the columns are called 1, 2, 3... Blank lines are skipped. Every record must
 * have as many fields as the first. Errors name the line: "line 7: latitude
 * '95.2' is out of range -90..90".
 */

#include <stdbool.h>
#include <stddef.h>

#include "rows.h"

typedef struct CsvOptions {
        char delimiter;
        bool header;
        const char *lon_column, *lat_column; /* both, or NULL: the input is not read as points */
        const char *value_column;            /* the partition column, or NULL */
} CsvOptions;

typedef struct CsvField {
        size_t start, end; /* in the input; a quoted field's include the quotes */
        bool quoted;
} CsvField;

typedef struct CsvReader {
        const char *data;
        size_t size, pos;
        unsigned line; /* of pos */
        CsvOptions options;
        char **columns; /* the names, once the first record is read */
        size_t n_columns;
        size_t header_offset, header_size; /* the header record (size 0: none), for the files written */
        long lon, lat, value;              /* column indices, -1: none */
        CsvField *fields;                  /* of the record being read */
        size_t n_fields, fields_allocated;
        char *scratch; /* a field's value, unquoted */
        size_t scratch_allocated;
} CsvReader;

void csv_reader_init(CsvReader *r, const char *data, size_t size, const CsvOptions *options);
void csv_reader_done(CsvReader *r);

/*
 * Reads up to `max_records` more records into `rows`. Returns 1 once the
 * whole input is read, 0 when more remains; -EINVAL with one line in
 * `error` (a malformed record, a missing column, a coordinate that is not a
 * number or out of range, a NUL byte, no header); -ENOMEM; -E2BIG (more than
 * ROWS_MAX rows).
 */
int csv_read(CsvReader *r, Rows *rows, size_t max_records, char *error, size_t error_size);

/* The column names (valid once a csv_read() returned >= 0), for the index. */
static inline char *const *csv_columns(const CsvReader *r, size_t *ret_n) {
        *ret_n = r->n_columns;
        return r->columns;
}
