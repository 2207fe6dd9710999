/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * JSON text written front to back into one growing buffer: for replies far
 * too large to build as cJSON trees first (a list of 100,000 schedules), and
 * for strings that may hold any bytes (a run's output). Bytes that are not
 * UTF-8 are written as the text \xNN, as in the journal's stderr form, so the
 * result is always valid JSON. Commas between members are placed here.
 *
 *      JsonWriter w = {};
 *      json_object_begin(&w);
 *      json_key_string(&w, "name", "nightly");
 *      json_object_end(&w);
 *      r = json_writer_steal(&w, &text, &size);
 *
 * The first allocation failure sticks: later calls do nothing, and
 * json_writer_steal() reports -ENOMEM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct JsonWriter {
        char *data;
        size_t size, allocated;
        bool need_comma; /* a value was written at this level: the next one needs a comma */
        bool after_key;  /* a key was written: its value follows, without a comma */
        bool failed;
} JsonWriter;

void json_object_begin(JsonWriter *w);
void json_object_end(JsonWriter *w);
void json_array_begin(JsonWriter *w);
void json_array_end(JsonWriter *w);

/* The key of the next value, inside an object: a name of ours, written without escaping. */
void json_key(JsonWriter *w, const char *key);

/* Values: in an array, at the top level, or after json_key(). A NULL string is written as null. */
void json_string(JsonWriter *w, const char *s);
void json_string_len(JsonWriter *w, const char *s, size_t size);
void json_u64(JsonWriter *w, uint64_t v);
void json_i64(JsonWriter *w, int64_t v);
void json_bool(JsonWriter *w, bool v);
void json_null(JsonWriter *w);
/* A value that is JSON text already, written as is. */
void json_raw(JsonWriter *w, const char *json, size_t size);

/* A key and its value in one call. */
void json_key_string(JsonWriter *w, const char *key, const char *s);
void json_key_u64(JsonWriter *w, const char *key, uint64_t v);
void json_key_bool(JsonWriter *w, const char *key, bool v);

/* Ends a line of JSON lines: a newline, after which the next top-level value may start. */
void json_end_line(JsonWriter *w);

/*
 * Hands the text over (NUL-terminated; the size does not count the NUL) and
 * resets the writer. -ENOMEM if anything failed (the writer is reset too).
 */
int json_writer_steal(JsonWriter *w, char **ret_data, size_t *ret_size);
/* Frees what was written and resets the writer. */
void json_writer_done(JsonWriter *w);
