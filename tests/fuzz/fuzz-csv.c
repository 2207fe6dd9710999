/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes ingest-rows' CSV reader. The first byte picks the options (header,
 * delimiter, points, a value column) and the second the slice size; the rest
 * is the input. Whatever it reads: every row lies inside the input, starts on
 * a line no earlier than the one before, has coordinates in range when read as
 * a point; reading in slices finds exactly what reading at once finds; every
 * failure explains itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ingest-rows/csv.h"
#include "fuzz-rows.h"

static void read_all(const char *text, size_t size, const CsvOptions *o, size_t slice, Outcome *out) {
        CsvReader r;
        csv_reader_init(&r, text, size, o);
        while ((out->result = csv_read(&r, &out->rows, slice, out->error, sizeof out->error)) == 0)
                ;
        csv_reader_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2 || size > 65536)
                return 0;
        const uint8_t flags = data[0];
        const size_t slice = (size_t) data[1] % 7 + 1;
        const char *text = (const char *) data + 2;
        size = size - 2;

        CsvOptions o = { .delimiter = "\t,;|"[flags & 3], .header = flags & 4 };
        if (flags & 8) {
                o.lon_column = o.header ? "lon" : "1";
                o.lat_column = o.header ? "lat" : "2";
        }
        if (flags & 16)
                o.value_column = o.header ? "k" : "1";

        Outcome once = {}, sliced = {};
        read_all(text, size, &o, SIZE_MAX, &once);
        read_all(text, size, &o, slice, &sliced);

        outcomes_agree(&once, &sliced, size);
        for (size_t i = 0; i < once.rows.n; i++) {
                const Row *row = &once.rows.rows[i];
                if (i > 0 && row->line <= once.rows.rows[i - 1].line)
                        abort();
                if (o.lon_column && !rows_in_range(row->bbox[0], row->bbox[1]))
                        abort();
                if (o.value_column && strcmp(rows_value(&once.rows, i), rows_value(&sliced.rows, i)) != 0)
                        abort();
        }
        rows_done(&once.rows);
        rows_done(&sliced.rows);
        return 0;
}
