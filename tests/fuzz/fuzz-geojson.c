/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes ingest-rows' GeoJSON reader. The first byte picks the options
 * (geospatial, a value property) and the slice size; the rest is the input.
 * Whatever it reads: every feature's bytes lie inside the input and parse as
 * a JSON object on their own, features follow one another on nondecreasing
 * lines, boxes are in range and not inverted; reading in slices finds exactly
 * what reading at once finds; every failure explains itself.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ingest-rows/geojson.h"
#include "fuzz-rows.h"

static void read_all(const char *text, size_t size, const GeojsonOptions *o, size_t slice, Outcome *out) {
        GeojsonReader r;
        geojson_reader_init(&r, text, size, o);
        while ((out->result = geojson_read(&r, &out->rows, slice, out->error, sizeof out->error)) == 0)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 65536)
                return 0;
        const GeojsonOptions o = { .geospatial = data[0] & 1, .value_property = data[0] & 2 ? "k" : NULL };
        const size_t slice = (size_t) (data[0] >> 2) % 5 + 1;
        const char *text = (const char *) data + 1;
        size--;

        Outcome once = {}, sliced = {};
        read_all(text, size, &o, SIZE_MAX, &once);
        read_all(text, size, &o, slice, &sliced);

        outcomes_agree(&once, &sliced, size);
        for (size_t i = 0; i < once.rows.n; i++) {
                const Row *row = &once.rows.rows[i];
                if (i > 0 && row->line < once.rows.rows[i - 1].line)
                        abort();
                cJSON *f = cJSON_ParseWithLength(text + row->offset, row->size);
                if (!cJSON_IsObject(f))
                        abort();
                cJSON_Delete(f);
                if (o.geospatial && (!rows_in_range(row->bbox[0], row->bbox[1]) ||
                                     !rows_in_range(row->bbox[2], row->bbox[3]) ||
                                     row->bbox[0] > row->bbox[2] || row->bbox[1] > row->bbox[3]))
                        abort();
        }
        rows_done(&once.rows);
        rows_done(&sliced.rows);
        return 0;
}
