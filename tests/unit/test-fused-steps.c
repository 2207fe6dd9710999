/* SPDX-License-Identifier: MIT */
/*
 * The Fused partition job step configs against the contract (shared/api/fused.md §5, and the SDK's
 * GeospatialPartitionJobStepConfig / NonGeospatialPartitionJobStepConfig): the defaults every field
 * gets, every kind of mistake reported at its key, and the JobConfig that runs a step.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fused-steps.h"
#include "json-util.h"
#include "macro.h"
#include "strv.h"

/* Collects reports as "key: message" (or "-: message" for the step as a whole). */
static void collect(void *userdata, const char *key, const char *message) {
        char ***list = userdata;
        size_t n = 0;
        while (*list && (*list)[n])
                n++;
        assert_int_equal(strv_pushf(list, &n, "%s| %s", key ?: "-", message), 0);
}

/* Checks `json` as a step of `type`; returns the completed step printed unformatted, or the reports. */
static char *check(const char *type, const char *json, int expected) {
        _cleanup_(json_freep) cJSON *fields = cJSON_Parse(json);
        _cleanup_(strv_freep) char **reports = NULL;
        assert_non_null(fields);
        int r = fused_step_check(type, fields, collect, &reports);
        for (char **p = reports; expected == 0 && p && *p; p++)
                print_message("unexpected: %s\n", *p);
        assert_int_equal(r, expected);
        if (r == 0)
                return cJSON_PrintUnformatted(fields);
        size_t size = 1;
        for (char **p = reports; p && *p; p++)
                size += strlen(*p) + 1;
        char *all = calloc(1, size);
        for (char **p = reports; p && *p; p++)
                strcat(strcat(all, *p), "\n");
        return all;
}

static void test_defaults(void **state) {
        (void) state;
        /* the contract's required fields only: every default of the contract is filled in, in its order */
        _cleanup_free_ char *geo =
                check("partition_geospatial",
                      "{\"input\": \"s3://bucket/in.parquet\", \"partitioning_method\": \"rows\", "
                      "\"partitioning_split_method\": \"mean\"}",
                      0);
        assert_string_equal(
                geo, "{\"input\":\"s3://bucket/in.parquet\",\"partitioning_method\":\"rows\","
                     "\"partitioning_split_method\":\"mean\",\"ignore_chunk_error\":false,"
                     "\"partitioning_maximum_per_file\":2500000,\"partitioning_maximum_per_chunk\":65000,"
                     "\"remove_cols\":[],\"explode_geometries\":false,\"partitioning_max_width_ratio\":2,"
                     "\"partitioning_max_height_ratio\":2,\"subdivide_method\":\"area\","
                     "\"split_identical_centroids\":true,\"target_num_chunks\":5000,"
                     "\"gdal_config\":{\"open_options\":{}}}");

        _cleanup_free_ char *plain =
                check("partition_nongeospatial",
                      "{\"input\": [\"s3://b/1.csv\", \"s3://b/2.csv\"], \"partition_col\": \"day\"}", 0);
        assert_string_equal(plain,
                            "{\"input\":[\"s3://b/1.csv\",\"s3://b/2.csv\"],\"partition_col\":\"day\","
                            "\"ignore_chunk_error\":false,\"partitioning_maximum_per_file\":2500000,"
                            "\"partitioning_maximum_per_chunk\":65000}");

        /* every field set: kept as given; a gdal_config without open_options gets its default */
        _cleanup_free_ char *full = check(
                "partition_geospatial",
                "{\"input\": \"s3://b/in.csv\", \"output\": \"s3://b/out/\", \"output_metadata\": "
                "\"s3://b/meta/\","
                " \"metadata\": {\"team\": \"geo\"}, \"ignore_chunk_error\": true,"
                " \"partitioning_maximum_per_file\": 100, \"partitioning_maximum_per_chunk\": 10,"
                " \"table_schema\": {\"fields\": []}, \"file_suffix\": \".parquet\", \"load_columns\": "
                "[\"a\"],"
                " \"remove_cols\": [\"b\"], \"explode_geometries\": true, \"drop_out_of_bounds\": false,"
                " \"lonlat_cols\": [\"x\", \"y\"], \"partitioning_max_width_ratio\": 1.5,"
                " \"partitioning_max_height_ratio\": 3, \"partitioning_method\": \"area\","
                " \"partitioning_force_utm\": \"chunk\", \"partitioning_split_method\": \"median\","
                " \"subdivide_start\": 2, \"subdivide_stop\": 0.5, \"subdivide_method\": \"area\","
                " \"split_identical_centroids\": false, \"target_num_chunks\": 10,"
                " \"partitioning_schema_input\": \"s3://b/schema.parquet\", \"gdal_config\": {\"layer\": "
                "\"roads\"}}",
                0);
        _cleanup_(json_freep) cJSON *j = cJSON_Parse(full);
        assert_string_equal(cJSON_GetObjectItem(j, "partitioning_force_utm")->valuestring, "chunk");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "split_identical_centroids")));
        cJSON *gdal = cJSON_GetObjectItem(j, "gdal_config");
        assert_string_equal(cJSON_GetObjectItem(gdal, "layer")->valuestring, "roads");
        assert_true(cJSON_IsObject(cJSON_GetObjectItem(gdal, "open_options")));
        assert_int_equal(cJSON_GetArraySize(j), 26); /* nothing added: every field was given */
}

static void test_errors(void **state) {
        static const struct {
                const char *type, *json, *reports;
        } cases[] = {
                { "partition_geospatial", "{\"partitioning_methd\": \"rows\", \"output\": 3}",
                  "partitioning_methd| unknown key 'partitioning_methd' (did you mean "
                  "'partitioning_method'?)\n"
                  "output| output: expected a string, got an integer\n"
                  "-| missing key 'input'\n"
                  "-| missing key 'partitioning_method'\n"
                  "-| missing key 'partitioning_split_method'\n" },
                { "partition_geospatial",
                  "{\"input\": [], \"partitioning_method\": \"row\", \"partitioning_split_method\": 1,"
                  " \"partitioning_maximum_per_file\": 0, \"target_num_chunks\": 2.5, \"lonlat_cols\": "
                  "[\"x\"],"
                  " \"remove_cols\": \"a\", \"explode_geometries\": \"yes\", \"metadata\": [1],"
                  " \"partitioning_max_width_ratio\": -1, \"gdal_config\": {\"layr\": \"x\", "
                  "\"open_options\": {\"a\": 1}},"
                  " \"zzz\": 1}",
                  "input| input: expected a string or a non-empty list of strings\n"
                  "partitioning_method| partitioning_method: 'row' is not one of area, length, coords, "
                  "rows\n"
                  "partitioning_split_method| partitioning_split_method: expected one of mean, median, got "
                  "an integer\n"
                  "partitioning_maximum_per_file| partitioning_maximum_per_file: 0 is out of range: at "
                  "least 1\n"
                  "target_num_chunks| target_num_chunks: expected an integer, got a float\n"
                  "lonlat_cols| lonlat_cols: expected two column names [\"lon\", \"lat\"]\n"
                  "remove_cols| remove_cols: expected a list of strings\n"
                  "explode_geometries| explode_geometries: expected a boolean (true or false), got a "
                  "string\n"
                  "metadata| metadata: expected a group { ... }, got a list\n"
                  "partitioning_max_width_ratio| partitioning_max_width_ratio: -1 is negative\n"
                  "gdal_config.layr| unknown key 'gdal_config.layr' (did you mean 'layer'?)\n"
                  "gdal_config.open_options| gdal_config.open_options: expected a group of strings { name = "
                  "\"value\"; }\n"
                  "zzz| unknown key 'zzz'\n" },
                { "partition_geospatial",
                  "{\"input\": \"s3://x\", \"partitioning_method\": \"rows\", "
                  "\"partitioning_split_method\": \"mean\","
                  " \"subdivide_start\": 1, \"subdivide_stop\": 2}",
                  "subdivide_start| subdivide_start: 1 is below subdivide_stop 2\n" },
                { "partition_geospatial",
                  "{\"input\": \"s3://x\", \"partitioning_method\": \"rows\", "
                  "\"partitioning_split_method\": \"mean\","
                  " \"subdivide_stop\": 0}",
                  "subdivide_stop| subdivide_stop: must be above 0 (it would subdivide forever)\n" },
                /* the geospatial fields are not the other type's */
                { "partition_nongeospatial", "{\"input\": \"s3://x\", \"partitioning_method\": \"rows\"}",
                  "partitioning_method| unknown key 'partitioning_method'\n" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *reports = check(cases[i].type, cases[i].json, -EINVAL);
                if (strcmp(reports, cases[i].reports) != 0)
                        print_message("case %zu:\n%s", i, reports);
                assert_string_equal(reports, cases[i].reports);
        }
        assert_false(fused_step_type_is_known("udf"));
        assert_true(fused_step_type_is_known("partition_nongeospatial"));
}

static void test_job_config(void **state) {
        (void) state;
        _cleanup_(json_freep) cJSON *fields =
                cJSON_Parse("{\"input\": \"s3://b/in.csv\", \"partition_col\": \"day\"}");
        _cleanup_(json_freep) cJSON *meta = cJSON_Parse("{\"udfcron_run_id\": \"0123456789abcdef\"}");
        _cleanup_(strv_freep) char **reports = NULL;
        assert_int_equal(fused_step_check("partition_nongeospatial", fields, collect, &reports), 0);

        _cleanup_(json_freep) cJSON *config = fused_job_config_new(
                "nightly.0123456789abcdef.1.split", "partition_nongeospatial", "split", fields, meta);
        _cleanup_free_ char *text = cJSON_PrintUnformatted(config);
        /* the shape the SDK posts: JobConfig(steps=[step], name=...), the step's type and name first */
        assert_string_equal(
                text, "{\"name\":\"nightly.0123456789abcdef.1.split\",\"steps\":[{\"type\":"
                      "\"partition_nongeospatial\",\"name\":\"split\",\"input\":\"s3://b/in.csv\","
                      "\"partition_col\":\"day\",\"ignore_chunk_error\":false,"
                      "\"partitioning_maximum_per_file\":2500000,\"partitioning_maximum_per_chunk\":65000}],"
                      "\"metadata\":{\"udfcron_run_id\":\"0123456789abcdef\"}}");

        _cleanup_(json_freep) cJSON *bare =
                fused_job_config_new("j", "partition_nongeospatial", "s", fields, NULL);
        assert_null(cJSON_GetObjectItem(bare, "metadata"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_job_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
