/* SPDX-License-Identifier: MIT */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A field's value shown in a message: at most this many bytes of it. */
#define SHOWN_MAX 40

__attribute__((format(printf, 4, 5))) static int fail(char *error, size_t size, unsigned line,
                                                      const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = rows_error(error, size, line, format, ap);
        va_end(ap);
        return r;
}

void csv_reader_init(CsvReader *r, const char *data, size_t size, const CsvOptions *options) {
        *r = (CsvReader){
                .data = data, .size = size, .line = 1, .options = *options, .lon = -1, .lat = -1, .value = -1
        };
        if (size >= 3 &&
            memcmp(data, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark, as spreadsheets write */
                r->pos = 3;
}

void csv_reader_done(CsvReader *r) {
        for (size_t i = 0; i < r->n_columns; i++)
                free(r->columns[i]);
        free(r->columns);
        free(r->fields);
        free(r->scratch);
        *r = (CsvReader){};
}

/*
 * Splits the record at r->pos into r->fields and moves past its line end.
 * Returns 1 with a record, 0 at the end of the input; -EINVAL, -ENOMEM.
 */
static int next_record(CsvReader *r, unsigned *ret_line, size_t *ret_end, char *error, size_t error_size) {
        const char *d = r->data;
        size_t pos = r->pos, end = r->size;
        const unsigned first_line = r->line;

        if (pos >= end)
                return 0;
        r->n_fields = 0;
        for (;;) {
                CsvField f = { .start = pos };
                if (pos < end && d[pos] == '"') {
                        f.quoted = true;
                        unsigned opened = r->line;
                        for (pos++;; pos += 2) { /* past "" */
                                const char *q = memchr(d + pos, '"', end - pos);
                                for (const char *nl = d + pos;
                                     q && (nl = memchr(nl, '\n', (size_t) (q - nl))); nl++)
                                        r->line++;
                                if (!q)
                                        return fail(error, error_size, opened,
                                                    "a quoted field does not end");
                                pos = (size_t) (q - d);
                                if (pos + 1 >= end || d[pos + 1] != '"')
                                        break;
                        }
                        pos++; /* the closing quote */
                        if (pos < end && d[pos] != r->options.delimiter && d[pos] != '\n' &&
                            !(d[pos] == '\r' && pos + 1 < end && d[pos + 1] == '\n'))
                                return fail(error, error_size, r->line,
                                            "text after the closing quote of field %zu", r->n_fields + 1);
                } else
                        while (pos < end && d[pos] != r->options.delimiter && d[pos] != '\n' &&
                               !(d[pos] == '\r' && pos + 1 < end && d[pos + 1] == '\n'))
                                pos++;
                f.end = pos;
                if (r->n_fields == r->fields_allocated) {
                        size_t n = r->fields_allocated ? r->fields_allocated * 2 : 16;
                        CsvField *a = reallocarray(r->fields, n, sizeof *a);
                        if (!a)
                                return -ENOMEM;
                        r->fields = a;
                        r->fields_allocated = n;
                }
                r->fields[r->n_fields++] = f;
                if (pos < end && d[pos] == r->options.delimiter) {
                        pos++;
                        continue;
                }
                break;
        }
        *ret_end = pos;
        if (memchr(d + r->pos, '\0', pos - r->pos))
                return fail(error, error_size, first_line, "a NUL byte: the input is not text");
        if (pos < end) /* the line end */
                pos += d[pos] == '\r' ? 2 : 1;
        r->pos = pos;
        r->line++;
        *ret_line = first_line;
        return 1;
}

/* Field i of the current record, unquoted, NUL-terminated in r->scratch (valid until the next call). */
static const char *field_value(CsvReader *r, size_t i, size_t *ret_size) {
        const CsvField *f = &r->fields[i];
        size_t n = f->end - f->start;

        if (n + 1 > r->scratch_allocated) {
                char *s = realloc(r->scratch, n + 1);
                if (!s)
                        return NULL;
                r->scratch = s;
                r->scratch_allocated = n + 1;
        }
        if (!f->quoted) {
                memcpy(r->scratch, r->data + f->start, n);
                *ret_size = n;
        } else {
                size_t k = 0;
                for (size_t p = f->start + 1; p + 1 < f->end; p++) {
                        r->scratch[k++] = r->data[p];
                        if (r->data[p] == '"') /* "" */
                                p++;
                }
                *ret_size = k;
        }
        r->scratch[*ret_size] = '\0';
        return r->scratch;
}

static long find_column(const CsvReader *r, const char *name) {
        for (size_t i = 0; i < r->n_columns; i++)
                if (strcmp(r->columns[i], name) == 0)
                        return (long) i;
        return -1;
}

/* "lon, lat, name" (shortened), for messages about a missing column. */
static void list_columns(const CsvReader *r, char *buf, size_t size) {
        size_t n = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < r->n_columns && n + 8 < size; i++)
                n += (size_t) snprintf(buf + n, size - n, "%s%s", i > 0 ? ", " : "", r->columns[i]);
        if (n + 8 >= size)
                strcpy(buf + size - 8, ", ...");
}

/* The first record: the header (its names), or the first row (its field count: columns 1..N). */
static int read_columns(CsvReader *r, size_t record_start, size_t record_end, char *error,
                        size_t error_size) {
        if (!(r->columns = calloc(r->n_fields, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < r->n_fields; i++) {
                size_t n;
                const char *v = r->options.header ? field_value(r, i, &n) : NULL;
                char number[24];
                if (!r->options.header)
                        snprintf(number, sizeof number, "%zu", i + 1);
                if ((r->options.header && !v) || !(r->columns[i] = strdup(v ?: number)))
                        return -ENOMEM;
                r->n_columns++;
        }
        if (r->options.header) {
                r->header_offset = record_start;
                r->header_size = record_end - record_start;
        }

        const char *wanted[] = { r->options.lon_column, r->options.lat_column, r->options.value_column };
        long *index[] = { &r->lon, &r->lat, &r->value };
        for (size_t k = 0; k < 3; k++) {
                if (!wanted[k])
                        continue;
                if ((*index[k] = find_column(r, wanted[k])) < 0) {
                        char names[256];
                        list_columns(r, names, sizeof names);
                        return fail(error, error_size, 0, "%s has no column '%s' (columns: %s)",
                                    r->options.header ? "the header" : "the first row", wanted[k], names);
                }
        }
        return 0;
}

static int read_coordinate(CsvReader *r, long column, const char *what, double min, double max,
                           unsigned line, double *ret, char *error, size_t error_size) {
        size_t n;
        const char *v = field_value(r, (size_t) column, &n);
        if (!v)
                return -ENOMEM;
        if (!rows_parse_number(v, n, ret))
                return fail(error, error_size, line, "%s '%.*s%s' is not a number", what, SHOWN_MAX, v,
                            n > SHOWN_MAX ? "..." : "");
        if (*ret < min || *ret > max)
                return fail(error, error_size, line, "%s %.*s is out of range %g..%g", what, SHOWN_MAX, v,
                            min, max);
        return 0;
}

int csv_read(CsvReader *r, Rows *rows, size_t max_records, char *error, size_t error_size) {
        for (size_t done = 0; done < max_records;) {
                size_t start = r->pos, end = start;
                unsigned line = r->line;
                int k = next_record(r, &line, &end, error, error_size);
                if (k < 0)
                        return k;
                if (k == 0) {
                        if (!r->columns)
                                return fail(error, error_size, 0, "the input is empty: no %s",
                                            r->options.header ? "header row" : "rows");
                        return 1;
                }
                if (r->n_fields == 1 && r->fields[0].end == r->fields[0].start)
                        continue; /* a blank line */
                if (!r->columns) {
                        if ((k = read_columns(r, start, end, error, error_size)) < 0)
                                return k;
                        if (r->options.header)
                                continue;
                }
                if (r->n_fields != r->n_columns)
                        return fail(error, error_size, line, "%zu field%s, but the %s has %zu", r->n_fields,
                                    r->n_fields == 1 ? "" : "s", r->options.header ? "header" : "first row",
                                    r->n_columns);
                if (end - start > UINT32_MAX)
                        return fail(error, error_size, line, "a record of more than 4 GiB");

                Row row = { .offset = start, .size = (uint32_t) (end - start), .line = line };
                if (r->lon >= 0) {
                        double lon, lat;
                        if ((k = read_coordinate(r, r->lon, "longitude", -180, 180, line, &lon, error,
                                                 error_size)) < 0 ||
                            (k = read_coordinate(r, r->lat, "latitude", -90, 90, line, &lat, error,
                                                 error_size)) < 0)
                                return k;
                        row.bbox[0] = row.bbox[2] = lon;
                        row.bbox[1] = row.bbox[3] = lat;
                }
                const char *value = NULL;
                size_t value_size = 0;
                if (r->value >= 0 && !(value = field_value(r, (size_t) r->value, &value_size)))
                        return -ENOMEM;
                if ((k = rows_add(rows, &row, value, value_size, r->value >= 0)) < 0)
                        return k;
                done++;
        }
        return r->pos >= r->size ? 1 : 0;
}
