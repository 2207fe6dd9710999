/* SPDX-License-Identifier: MIT */
/*
 * ingest-rows' pure parts: the CSV and GeoJSON readers (rows, lines, boxes,
 * values, every error with its line, reading in slices), and the partitioner
 * (quadkeys, the merge sort in slices, the plans by quadtree cell, by count
 * and by column, whatever the slice size).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/ingest-rows/buf.h"
#include "../../plugins/ingest-rows/csv.h"
#include "../../plugins/ingest-rows/geojson.h"
#include "../../plugins/ingest-rows/partition.h"
#include "macro.h"

#define ERROR_SIZE 512

/* ------------------------------------------------------------------ CSV */

static const CsvOptions points = {
        .delimiter = ',', .header = true, .lon_column = "lon", .lat_column = "lat"
};

/* Reads `text` whole, `slice` records at a time; returns what the last csv_read() did. */
static int read_csv(const char *text, const CsvOptions *o, size_t slice, Rows *rows, CsvReader *r,
                    char *error) {
        int k;
        csv_reader_init(r, text, strlen(text), o);
        while ((k = csv_read(r, rows, slice, error, ERROR_SIZE)) == 0)
                ;
        return k;
}

static void assert_row(const char *text, const Row *row, const char *record, unsigned line) {
        assert_int_equal(row->size, strlen(record));
        assert_memory_equal(text + row->offset, record, row->size);
        assert_int_equal(row->line, line);
}

static void test_csv_rows(void **state) {
        static const char text[] = "\xef\xbb\xbfname,lon,lat\r\n"
                                   "a,10.5,-20\r\n"
                                   "\"b, with \"\"quotes\"\"\nand a line end\",-180,90\n"
                                   "\n"
                                   "c, 1e1 ,+0.5";
        (void) state;
        for (size_t slice = 1; slice <= 4; slice++) {
                CsvReader r;
                Rows rows = {};
                char error[ERROR_SIZE] = "";
                assert_int_equal(read_csv(text, &points, slice, &rows, &r, error), 1);
                assert_int_equal(rows.n, 3);
                assert_row(text, &rows.rows[0], "a,10.5,-20", 2);
                assert_row(text, &rows.rows[1], "\"b, with \"\"quotes\"\"\nand a line end\",-180,90", 3);
                assert_row(text, &rows.rows[2], "c, 1e1 ,+0.5", 6);
                assert_true(rows.rows[0].bbox[0] == 10.5 && rows.rows[0].bbox[1] == -20);
                assert_true(rows.rows[1].bbox[2] == -180 && rows.rows[1].bbox[3] == 90);
                assert_true(rows.rows[2].bbox[0] == 10 && rows.rows[2].bbox[1] == 0.5);
                size_t n;
                char *const *columns = csv_columns(&r, &n);
                assert_int_equal(n, 3);
                assert_string_equal(columns[0], "name");
                assert_string_equal(columns[2], "lat");
                assert_memory_equal(text + r.header_offset, "name,lon,lat", r.header_size);
                csv_reader_done(&r);
                rows_done(&rows);
        }
}

static void test_csv_values_and_options(void **state) {
        (void) state;
        CsvReader r;
        Rows rows = {};
        char error[ERROR_SIZE] = "";

        /* no header: the columns are 1, 2, ...; a value column, unquoted; another delimiter */
        const CsvOptions o = { .delimiter = ';', .header = false, .value_column = "2" };
        assert_int_equal(read_csv("x;\"a;b\"\ny;c\n", &o, 10, &rows, &r, error), 1);
        assert_int_equal(rows.n, 2);
        assert_string_equal(rows_value(&rows, 0), "a;b");
        assert_string_equal(rows_value(&rows, 1), "c");
        assert_int_equal(r.header_size, 0);
        csv_reader_done(&r);
        rows_done(&rows);

        /* a header and nothing else: no rows, and no error */
        assert_int_equal(read_csv("lon,lat\n", &points, 10, &rows, &r, error), 1);
        assert_int_equal(rows.n, 0);
        csv_reader_done(&r);
        rows_done(&rows);
}

static void test_csv_errors(void **state) {
        static const struct {
                const char *text, *error;
        } cases[] = {
                { "lon,lat\n1,2\n3\n", "line 3: 1 field, but the header has 2" },
                { "lon,lat\n1,2,3\n", "line 2: 3 fields, but the header has 2" },
                { "lon,lat\n1,2\nabc,2\n", "line 3: longitude 'abc' is not a number" },
                { "lon,lat\n0x10,2\n", "line 2: longitude '0x10' is not a number" },
                { "lon,lat\nnan,2\n", "line 2: longitude 'nan' is not a number" },
                { "lon,lat\n1,95.5\n", "line 2: latitude 95.5 is out of range -90..90" },
                { "lon,lat\n1,1e999\n", "line 2: latitude 1e999 is out of range -90..90" },
                { "lon,lat\n1,2\n\"3,4\n5,6\n", "line 3: a quoted field does not end" },
                { "lon,lat\n\"1\n,2\n\"3,4\n", "line 4: text after the closing quote of field 1" },
                { "lon,lat\n\"1\"x,2\n", "line 2: text after the closing quote of field 1" },
                { "x,y,name\n1,2,a\n", "the header has no column 'lon' (columns: x, y, name)" },
                { "", "the input is empty: no header row" },
                { "\n\n", "the input is empty: no header row" },
                { "lon,lat\n1,2\n3,\0", "line 3: latitude '' is not a number" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CsvReader r;
                Rows rows = {};
                char error[ERROR_SIZE] = "";
                int k = read_csv(cases[i].text, &points, 1, &rows, &r, error);
                if (k != -EINVAL || strcmp(error, cases[i].error) != 0)
                        print_message("case %zu: %d %s\n", i, k, error);
                assert_int_equal(k, -EINVAL);
                assert_string_equal(error, cases[i].error);
                csv_reader_done(&r);
                rows_done(&rows);
        }

        /* a NUL byte inside: no text */
        static const char nul[] = "lon,lat\n1,2\n3,4\0,5\n";
        CsvReader r;
        Rows rows = {};
        char error[ERROR_SIZE] = "";
        csv_reader_init(&r, nul, sizeof nul - 1, &points);
        assert_int_equal(csv_read(&r, &rows, 10, error, sizeof error), -EINVAL);
        assert_string_equal(error, "line 3: a NUL byte: the input is not text");
        csv_reader_done(&r);
        rows_done(&rows);
}

/* ------------------------------------------------------------------ GeoJSON */

static int read_geojson(const char *text, const GeojsonOptions *o, size_t slice, Rows *rows, char *error) {
        GeojsonReader r;
        int k;
        geojson_reader_init(&r, text, strlen(text), o);
        while ((k = geojson_read(&r, rows, slice, error, ERROR_SIZE)) == 0)
                ;
        return k;
}

static void test_geojson_rows(void **state) {
        static const char point[] =
                "{\"type\": \"Feature\", \"geometry\": {\"type\": \"Point\", \"coordinates\": "
                "[1.5, 2.5]}, \"properties\": {\"k\": \"a\"}}",
                          polygon[] =
                                  "{\"type\":\"Feature\",\"properties\":{\"k\":7},\"geometry\":{\"type\":"
                                  "\"Polygon\",\"coordinates\":[[[0,0],[10,0],[10,-5],[0,0]]]}}",
                          collection[] =
                                  "{\"type\":\"Feature\",\"geometry\":{\"type\":\"GeometryCollection\","
                                  "\"geometries\":[{\"type\":\"Point\",\"coordinates\":[-170,80]},{\"type\":"
                                  "\"LineString\",\"coordinates\":[[170,-80],[0,0]]}]},\"properties\":null}";
        char text[2048];
        snprintf(text, sizeof text,
                 "{\"crs\": {\"type\": \"name\", \"properties\": {\"name\": \"[}\\\"\"}},\n"
                 " \"features\": [\n  %s,\n  %s,\n\n  %s\n ],\n \"bbox\": [1, 2, 3, 4], \"type\": "
                 "\"FeatureCollection\"}\n",
                 point, polygon, collection);
        const GeojsonOptions o = { .geospatial = true, .value_property = "k" };
        (void) state;

        for (size_t slice = 1; slice <= 3; slice++) {
                Rows rows = {};
                char error[ERROR_SIZE] = "";
                assert_int_equal(read_geojson(text, &o, slice, &rows, error), 1);
                assert_int_equal(rows.n, 3);
                assert_row(text, &rows.rows[0], point, 3);
                assert_row(text, &rows.rows[1], polygon, 4);
                assert_row(text, &rows.rows[2], collection, 6);
                const double expected[3][4] = { { 1.5, 2.5, 1.5, 2.5 },
                                                { 0, -5, 10, 0 },
                                                { -170, -80, 170, 80 } };
                for (size_t i = 0; i < 3; i++)
                        assert_memory_equal(rows.rows[i].bbox, expected[i], sizeof expected[i]);
                assert_string_equal(rows_value(&rows, 0), "a");
                assert_string_equal(rows_value(&rows, 1), "7");
                assert_string_equal(rows_value(&rows, 2), "");
                rows_done(&rows);
        }
}

static void test_geojson_errors(void **state) {
        static const struct {
                const char *text, *error;
        } cases[] = {
                { "[1]", "line 1: not a GeoJSON FeatureCollection: expected '{'" },
                { "{\"type\": \"Feature\", \"geometry\": null}",
                  "line 1: the document's type is \"Feature\", not \"FeatureCollection\"" },
                { "{\"type\": \"FeatureCollection\"}", "line 1: the FeatureCollection has no \"features\"" },
                { "{\"features\": []}", "line 1: not a FeatureCollection: it has no \"type\"" },
                { "{\"type\": \"FeatureCollection\", \"features\": {}}",
                  "line 1: \"features\" is not a list" },
                { "{\"type\":\"FeatureCollection\",\"features\":[\n{\"type\":\"Feature\",\"geometry\":null}]"
                  "}",
                  "feature 1 (line 2): it has no geometry" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{"
                  "\"type\":"
                  "\"Point\",\"coordinates\":[0,0]}},\n\n{\"type\":\"Feature\",\"geometry\":{\"type\":"
                  "\"Point\","
                  "\"coordinates\":[0,95]}}]}",
                  "feature 2 (line 3): position [0, 95] is out of range (longitude -180..180, latitude "
                  "-90..90)" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{"
                  "\"type\":"
                  "\"Polygon\",\"coordinates\":[[0,0],[1,1]]}}]}",
                  "feature 1 (line 1): a position is not [longitude, latitude]" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{"
                  "\"type\":"
                  "\"Circle\",\"coordinates\":[0,0]}}]}",
                  "feature 1 (line 1): geometry type 'Circle' is not a GeoJSON one" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{"
                  "\"type\":"
                  "\"MultiPoint\",\"coordinates\":[]}}]}",
                  "feature 1 (line 1): its geometry has no positions" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{"
                  "\"type\":"
                  "\"Point\",\"coordinates\":[0,0,]}}]}",
                  "feature 1 (line 1): not valid JSON" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Thing\"}]}",
                  "feature 1 (line 1): its type is not \"Feature\"" },
                { "{\"type\":\"FeatureCollection\",\"features\":[1]}",
                  "line 1: feature 1 is not an object" },
                { "{\"type\":\"FeatureCollection\",\"crs\":[},\"features\":[]}",
                  "line 1: a '}' that closes nothing" },
                { "{\"type\":\"FeatureCollection\",\"features\":[]} x",
                  "line 1: text after the FeatureCollection" },
                { "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\"",
                  "line 1: a value that does not end" },
                { "{\"type\":\"FeatureCollection\"\n\"features\":[]}", "line 2: expected ',' or '}'" },
        };
        const GeojsonOptions o = { .geospatial = true };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Rows rows = {};
                char error[ERROR_SIZE] = "";
                int k = read_geojson(cases[i].text, &o, 1, &rows, error);
                if (k != -EINVAL || strcmp(error, cases[i].error) != 0)
                        print_message("case %zu: %d %s\n", i, k, error);
                assert_int_equal(k, -EINVAL);
                assert_string_equal(error, cases[i].error);
                rows_done(&rows);
        }

        /* without geospatial, a feature needs no geometry */
        Rows rows = {};
        char error[ERROR_SIZE] = "";
        const GeojsonOptions plain = { .geospatial = false };
        assert_int_equal(read_geojson("{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
                                      "\"geometry\":null,\"properties\":{}}]}",
                                      &plain, 5, &rows, error),
                         1);
        assert_int_equal(rows.n, 1);
        rows_done(&rows);
}

/* ------------------------------------------------------------------ partitioning */

static void test_quadkeys(void **state) {
        static const struct {
                double lon, lat;
                unsigned level;
                const char *quadkey;
        } cases[] = {
                { -135, 67.5, 2, "00" },  { 135, -67.5, 2, "33" }, { 45, 22.5, 2, "12" },
                { -180, 90, 5, "00000" }, { 180, -90, 3, "333" },  { 0, 0, 1, "3" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char quadkey[QUADKEY_LEVELS + 1];
                partition_quadkey(partition_key(cases[i].lon, cases[i].lat), cases[i].level, quadkey);
                assert_string_equal(quadkey, cases[i].quadkey);
        }
        /* nearby points share long prefixes: the keys order the world in Z order */
        char a[QUADKEY_LEVELS + 1], b[QUADKEY_LEVELS + 1];
        partition_quadkey(partition_key(2.35, 48.85), QUADKEY_LEVELS, a);
        partition_quadkey(partition_key(2.36, 48.86), QUADKEY_LEVELS, b);
        assert_memory_equal(a, b, 10);
}

static int compare_u64(const void *ctx, uint32_t x, uint32_t y) {
        const uint64_t *v = ctx;
        return (v[x] > v[y]) - (v[x] < v[y]);
}

static void test_sorter(void **state) {
        enum { N = 1000 };
        uint64_t values[N];
        (void) state;
        srand(7);
        for (size_t i = 0; i < N; i++)
                values[i] = (uint64_t) (rand() % 50); /* many equal ones: stability shows */
        for (size_t budget = 1; budget <= 4096; budget *= 8) {
                Sorter s;
                assert_int_equal(sorter_init(&s, N, compare_u64, values), 0);
                size_t slices = 1;
                while (!sorter_run(&s, budget))
                        slices++;
                for (size_t i = 1; i < N; i++) {
                        assert_true(values[s.order[i - 1]] <= values[s.order[i]]);
                        if (values[s.order[i - 1]] == values[s.order[i]])
                                assert_true(s.order[i - 1] < s.order[i]);
                }
                assert_true(budget >= N || slices > 1);
                sorter_done(&s);
        }
}

typedef struct Planned {
        Rows rows;
        uint64_t *keys;
        Sorter sorter;
        Planner planner;
} Planned;

/* Plans p->rows by quadkey (sorted first) or by count, `budget` at a time. */
static void plan(Planned *p, PartitionMethod method, size_t per_file, size_t per_chunk, size_t budget) {
        const uint32_t *order = NULL;
        if (method == PARTITION_QUADKEY) {
                assert_non_null(p->keys = calloc(p->rows.n + 1, sizeof(uint64_t)));
                for (size_t i = 0; i < p->rows.n; i++)
                        p->keys[i] = partition_key(p->rows.rows[i].bbox[0], p->rows.rows[i].bbox[1]);
                assert_int_equal(sorter_init(&p->sorter, p->rows.n, compare_u64, p->keys), 0);
                while (!sorter_run(&p->sorter, budget))
                        ;
                order = p->sorter.order;
        }
        assert_int_equal(planner_init(&p->planner, method, &p->rows, order, p->keys, per_file, per_chunk),
                         0);
        int k;
        while ((k = planner_run(&p->planner, budget)) == 0)
                ;
        assert_int_equal(k, 1);
}

static void planned_done(Planned *p) {
        planner_done(&p->planner);
        sorter_done(&p->sorter);
        free(p->keys);
        rows_done(&p->rows);
}

static void add_point(Rows *rows, double lon, double lat) {
        Row row = { .bbox = { lon, lat, lon, lat } };
        assert_int_equal(rows_add(rows, &row, NULL, 0, false), 0);
}

/* Every row in one file, files and chunks contiguous and within their limits, boxes that hold their rows. */
static void check_plan(const Planned *p, size_t per_file, size_t per_chunk) {
        const Planner *pl = &p->planner;
        size_t position = 0, chunk = 0;
        for (size_t i = 0; i < pl->n_files; i++) {
                const PartFile *f = &pl->files[i];
                assert_int_equal(f->first, position);
                assert_true(f->n >= 1 && f->n <= per_file);
                assert_int_equal(f->first_chunk, chunk);
                size_t in_chunks = 0;
                for (size_t k = 0; k < f->n_chunks; k++) {
                        const Chunk *c = &pl->chunks[chunk++];
                        assert_int_equal(c->first, f->first + in_chunks);
                        assert_true(c->n >= 1 && c->n <= per_chunk);
                        assert_int_equal(strncmp(c->quadkey, f->quadkey, strlen(f->quadkey)), 0);
                        in_chunks += c->n;
                }
                assert_int_equal(in_chunks, f->n);
                for (size_t k = f->first; k < f->first + f->n; k++) {
                        const Row *row = &p->rows.rows[planner_row(pl, k)];
                        char quadkey[QUADKEY_LEVELS + 1];
                        partition_quadkey(p->keys[planner_row(pl, k)], (unsigned) strlen(f->quadkey),
                                          quadkey);
                        assert_string_equal(quadkey, f->quadkey);
                        assert_true(row->bbox[0] >= f->bbox[0] && row->bbox[2] <= f->bbox[2]);
                        assert_true(row->bbox[1] >= f->bbox[1] && row->bbox[3] <= f->bbox[3]);
                }
                position += f->n;
        }
        assert_int_equal(position, p->rows.n);
        assert_int_equal(chunk, pl->n_chunks);
}

static void test_plan_quadkey(void **state) {
        (void) state;
        for (size_t budget = 1; budget <= 100000; budget *= 100) {
                Planned p = {};
                srand(11);
                for (size_t i = 0; i < 2000; i++) /* a dense city and a sparse world */
                        add_point(&p.rows, i % 2 ? 2.3 + (rand() % 1000) / 1e4 : -180 + rand() % 360,
                                  i % 2 ? 48.8 + (rand() % 1000) / 1e4 : -90 + rand() % 180);
                plan(&p, PARTITION_QUADKEY, 300, 70, budget);
                check_plan(&p, 300, 70);
                assert_true(p.planner.n_files >= 7);
                planned_done(&p);
        }

        /* one place, many rows: split by count in the deepest cell */
        Planned p = {};
        for (size_t i = 0; i < 250; i++)
                add_point(&p.rows, 13.4, 52.5);
        plan(&p, PARTITION_QUADKEY, 100, 40, 7);
        check_plan(&p, 100, 40);
        assert_int_equal(p.planner.n_files, 3);
        assert_int_equal(p.planner.files[2].n, 50);
        assert_int_equal(strlen(p.planner.files[0].quadkey), QUADKEY_LEVELS);
        assert_int_equal(p.planner.n_chunks, 3 + 3 + 2);
        planned_done(&p);
}

static void test_plan_rows_and_column(void **state) {
        (void) state;
        Planned p = {};
        for (size_t i = 0; i < 10; i++)
                add_point(&p.rows, 0, 0);
        plan(&p, PARTITION_ROWS, 4, 3, 1);
        assert_int_equal(p.planner.n_files, 3);
        const size_t files[] = { 4, 4, 2 }, chunks[] = { 3, 1, 3, 1, 2 };
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(p.planner.files[i].n, files[i]);
        assert_int_equal(p.planner.n_chunks, 5);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(p.planner.chunks[i].n, chunks[i]);
        planned_done(&p);

        /* by value: sorted (stably), a file per value, at most 2 rows each */
        static const char *const values[] = { "a", "b", "a", "c", "b", "a" };
        Planned q = {};
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                Row row = { .line = (uint32_t) i };
                assert_int_equal(rows_add(&q.rows, &row, values[i], 1, true), 0);
        }
        assert_int_equal(planner_init(&q.planner, PARTITION_COLUMN, &q.rows,
                                      (const uint32_t[]){ 0, 2, 5, 1, 4, 3 }, NULL, 2, 2),
                         0);
        assert_int_equal(planner_run(&q.planner, 1000), 1);
        assert_int_equal(q.planner.n_files, 4);
        const char *file_values[] = { "a", "a", "b", "c" };
        const size_t sizes[] = { 2, 1, 2, 1 };
        for (size_t i = 0; i < 4; i++) {
                assert_string_equal(q.planner.files[i].value, file_values[i]);
                assert_int_equal(q.planner.files[i].n, sizes[i]);
        }
        planner_done(&q.planner);
        rows_done(&q.rows);
}

/* ------------------------------------------------------------------ the index's JSON */

static void test_json_strings(void **state) {
        (void) state;
        Buf b = {};
        /* column names come from the input: quotes, control characters and bytes that are not UTF-8 */
        buf_json_string(&b, "a\"b\\c\n\xff\xc3\xa9\xed\xa0\x80z");
        assert_false(b.failed);
        assert_string_equal(b.data, "\"a\\\"b\\\\c\\u000a\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffdz\"");
        buf_put(&b, ",", 1);
        buf_json_bbox(&b, (const double[]){ -180, 0.1, 1e-7, 90 });
        assert_string_equal(strchr(b.data, ',') + 1, "[-180,0.10000000000000001,9.9999999999999995e-08,90]");
        buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_csv_rows),
                cmocka_unit_test(test_csv_values_and_options),
                cmocka_unit_test(test_csv_errors),
                cmocka_unit_test(test_geojson_rows),
                cmocka_unit_test(test_geojson_errors),
                cmocka_unit_test(test_quadkeys),
                cmocka_unit_test(test_sorter),
                cmocka_unit_test(test_plan_quadkey),
                cmocka_unit_test(test_plan_rows_and_column),
                cmocka_unit_test(test_json_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
