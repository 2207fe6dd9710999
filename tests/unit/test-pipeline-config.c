/* SPDX-License-Identifier: MIT */
/*
 * A schedule's `steps`: udf steps, the step types of an ingest instance (the
 * real ingest-rows plugin, its options checked by config.c with its own
 * messages) and the Fused partition job steps; their names, ${output:NAME}
 * references, and every mistake reported at its file:line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../support/config-errors.h"
#include "../support/config-fixture.h"
#include "../support/testdir.h"
#include "config.h"
#include "pipeline.h"

#define MAX_ERRORS 8

static int setup(void **state) {
        static const FixturePlugin plugins[] = {
                { "asan/plugins/storage-file.so", "storage-file.so" },
                { "asan/plugins/ingest-rows.so", "ingest-rows.so" },
        };
        *state = config_fixture_new("test-pipeline-config", plugins, ELEMENTSOF(plugins));
        return 0;
}

static int teardown(void **state) {
        config_fixture_free(*state);
        return 0;
}

/* Case `name`: udfcrond.conf (MAIN), schedules.d/s.conf and schedules.d/job.py; enters its directory. */
static void write_case(ConfigFixture *f, const char *name, const char *schedules) {
        static const char main[] = "plugin_directories = [ \"../plugins\" ];\n"
                                   "storage = { file = { root = \"/srv/udfcron\"; }; };\n"
                                   "ingest = { rows = { }; };\n"
                                   "engines = { fused = { token = \"${secret:fused}\"; }; };\n";
        config_fixture_case(f, name, main, schedules);
        free(testdir_write(".", "schedules.d/job.py", "def udf(**kw):\n    return kw\n", 0644));
}

/* The value of option `name` in a step's options structure, read through its type's table. */
static const void *step_option(const PipelineStep *step, const char *name) {
        for (size_t i = 0; i < step->step_type->n_options; i++)
                if (strcmp(step->step_type->options[i].name, name) == 0)
                        return plugin_option_target(&step->step_type->options[i], step->options);
        fail_msg("no option %s", name);
        return NULL;
}

static void test_steps(void **state) {
        ConfigFixture *f = *state;
        _cleanup_(strv_freep) char **errors = NULL;
        Config *c = NULL;

        write_case(
                f, "ok",
                "schedules = ( { name = \"p\"; cron = \"@daily\"; timeout = \"1h\";\n"
                "  steps = (\n"
                "    { type = \"udf\"; udf = \"job.py\"; params = { day = \"${scheduled:%F}\"; };\n"
                "      output = \"file:///srv/udfcron/${run_id}/raw.csv\"; },\n"
                "    { type = \"partition\"; input = \"${output:udf-1}\"; output = "
                "\"file:///srv/udfcron/parts/\";\n"
                "      rows_per_file = 1000; lon_column = \"x\"; },\n"
                "    { type = \"partition_geospatial\"; name = \"remote\"; input = [ "
                "\"s3://b/${run_id}.csv\" ];\n"
                "      partitioning_method = \"rows\"; partitioning_split_method = \"median\";\n"
                "      output = \"s3://b/out/\"; },\n"
                "    { type = \"udf\"; udf = \"job.py\"; params = { parts = \"${output:partition}\"; }; }\n"
                "  ); } );\n");
        int r = config_load("udfcrond.conf", f->tzdb, &c, &errors);
        for (char **e = errors; e && *e; e++)
                print_message("unexpected: %s\n", *e);
        assert_int_equal(r, 0);

        const Schedule *s = c->schedules[0];
        assert_int_equal(s->work, WORK_PIPELINE);
        assert_int_equal(s->n_steps, 4);
        const PipelineStep *udf = &s->steps[0], *part = &s->steps[1], *remote = &s->steps[2], *last = &s->steps[3];
        /* names: the type, numbered when several steps share it */
        assert_string_equal(udf->name, "udf-1");
        assert_string_equal(part->name, "partition");
        assert_string_equal(remote->name, "remote");
        assert_string_equal(last->name, "udf-4");
        assert_int_equal(udf->line, 3);

        assert_int_equal(udf->kind, STEP_UDF);
        assert_non_null(strstr(udf->udf_path, "/ok/schedules.d/job.py"));
        assert_string_equal(udf->entrypoint, "udf");

        assert_int_equal(part->kind, STEP_INGEST);
        assert_string_equal(part->instance, "ingest/rows");
        assert_string_equal(part->input, "${output:udf-1}");
        assert_int_equal(*(const int64_t *) step_option(part, "rows_per_file"), 1000);
        assert_int_equal(*(const int64_t *) step_option(part, "rows_per_chunk"), 10000); /* the default */
        assert_string_equal(*(char *const *) step_option(part, "lon_column"), "x");

        assert_int_equal(remote->kind, STEP_FUSED_JOB);
        assert_string_equal(remote->output, "s3://b/out/");
        assert_int_equal(cJSON_GetObjectItem(remote->job_step, "target_num_chunks")->valueint, 5000);
        assert_null(cJSON_GetObjectItem(remote->job_step, "name")); /* the pipeline's, not a field */

        /* where a recorded attempt goes on: its step, once every earlier step's output is known */
        char *none[] = { NULL }, *first[] = { "udf-1", "file:///a", NULL },
             *both[] = { "partition", "file:///p/", "udf-1", "file:///a", NULL };
        size_t at = 99;
        assert_int_equal(pipeline_resume_point(s, NULL, first, &at), -ENOENT);
        assert_int_equal(pipeline_resume_point(s, "nope", both, &at), -ENOENT);
        assert_int_equal(pipeline_resume_point(s, "partition", none, &at), -ENOENT);
        assert_int_equal(pipeline_resume_point(s, "remote", first, &at), -ENOENT);
        assert_int_equal(at, 99);
        assert_int_equal(pipeline_resume_point(s, "udf-1", NULL, &at), 0);
        assert_int_equal(at, 0);
        assert_int_equal(pipeline_resume_point(s, "partition", first, &at), 0);
        assert_int_equal(at, 1);
        assert_int_equal(pipeline_resume_point(s, "remote", both, &at), 0);
        assert_int_equal(at, 2);
        /* the output of `remote` is not known */
        assert_int_equal(pipeline_resume_point(s, "udf-4", both, &at), -ENOENT);
        _cleanup_free_ char *marker = pipeline_step_marker("/run/udfcron/started/0123.2", part);
        assert_string_equal(marker, "/run/udfcron/started/0123.2.partition");
        config_free(c);
}

typedef struct Broken {
        const char *schedules;
        const char *errors[MAX_ERRORS];
} Broken;

#define PIPELINE(steps) "schedules = ( { name = \"p\"; cron = \"@daily\";\n  steps = (\n" steps "  ); } );\n"

/* clang-format off */
static const Broken broken[] = {
        {
                PIPELINE("    { type = \"partiton\"; input = \"file:///srv/udfcron/a\"; },\n"
                         "    { name = \"x\"; },\n"
                         "    { type = \"partition\"; input = \"file:///srv/udfcron/a\"; output = \"file:///srv/udfcron/b/\";\n"
                         "      rows_per_fil = 3; header = \"yes\"; },\n"
                         "    { type = \"partition\"; output = \"s3://b/\"; rows_per_chunk = 10; rows_per_file = 5; },\n"
                         "    { type = \"partition\"; input = \"file:///srv/udfcron/a\"; output = \"file:///srv/udfcron/b/\";\n"
                         "      delimiter = \";;\"; ingest = \"rows\"; }\n"),
                {
                        "schedules.d/s.conf:3: step 1: unknown step type 'partiton' (did you mean 'partition'?) (known: "
                        "udf, partition_geospatial, partition_nongeospatial, and the step types of the ingest instances)",
                        "schedules.d/s.conf:4: step 2 has no type: add type = \"udf\" (or partition_geospatial, ...)",
                        "schedules.d/s.conf:6: unknown key 'rows_per_fil' (did you mean 'rows_per_file'?)",
                        "schedules.d/s.conf:6: header: expected a boolean (true or false), got a string",
                        "schedules.d/s.conf:7: output: no storage instance serves s3:// URLs (configure one in "
                        "@DIR@/case-0/udfcrond.conf, e.g. storage = { file = { root = \"/srv/udfcron\"; }; };)",
                        "schedules.d/s.conf:7: step 4: missing key 'input' (the storage URL that partition reads)",
                        "schedules.d/s.conf:8: step 5: delimiter: ';;' is not one character (other than a quote or a "
                        "line end)",
                },
        },
        {
                PIPELINE("    { type = \"udf\"; name = \"first\"; udf = \"job.py\"; params = { a = \"${output:later}\"; }; },\n"
                         "    { type = \"udf\"; name = \"later\"; udf = \"job.py\"; params = { b = \"${output:first}\"; };\n"
                         "      output = \"file:///srv/udfcron/l\"; },\n"
                         "    { type = \"udf\"; name = \"later\"; udf = \"missing.py\"; entrypoint = \"2x\"; }\n"),
                {
                        "schedules.d/s.conf:6: udf: cannot access 'schedules.d/missing.py': No such file or directory",
                        "schedules.d/s.conf:6: entrypoint: '2x' is not a Python function name",
                        "schedules.d/s.conf:3: step 1: ${output:later}: no earlier step is called 'later'",
                        "schedules.d/s.conf:4: step 2: ${output:first}: step 'first' has no output",
                        "schedules.d/s.conf:6: step 3: the name 'later' is taken by step 2 (line 4)",
                },
        },
        {
                PIPELINE("    { type = \"partition_nongeospatial\";\n"
                         "      partition_colum = \"day\";\n"
                         "      partitioning_maximum_per_file = 0; },\n"
                         "    { type = \"partition_geospatial\"; input = \"s3://x\"; partitioning_method = \"row\";\n"
                         "      partitioning_split_method = \"mean\";\n"
                         "      gdal_config = { layr = \"x\"; }; metadata = { team = \"${secrt:x}\"; }; }\n"),
                {
                        "schedules.d/s.conf:4: step 1: unknown key 'partition_colum' (did you mean 'partition_col'?)",
                        "schedules.d/s.conf:5: step 1: partitioning_maximum_per_file: 0 is out of range: at least 1",
                        "schedules.d/s.conf:3: step 1: missing key 'input'",
                        "schedules.d/s.conf:8: metadata.team: unknown reference '${secrt:x}' (known: scheduled:FORMAT, "
                        "now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)",
                        "schedules.d/s.conf:6: step 2: partitioning_method: 'row' is not one of area, length, coords, rows",
                        "schedules.d/s.conf:8: step 2: unknown key 'gdal_config.layr' (did you mean 'layer'?)",
                },
        },
        {
                "schedules = (\n"
                "  { name = \"a\"; cron = \"@daily\"; udf = \"job.py\"; steps = ( { type = \"udf\"; udf = \"job.py\"; } ); },\n"
                "  { name = \"b\"; cron = \"@daily\"; params = { x = 1; }; output = \"file:///srv/udfcron/o\";\n"
                "    steps = ( { type = \"udf\"; udf = \"job.py\"; ingest = \"rows\"; } ); },\n"
                "  { name = \"c\"; cron = \"@daily\"; command = [ \"/bin/echo\", \"${output:x}\" ]; },\n"
                "  { name = \"d\"; cron = \"@daily\"; steps = [ ]; },\n"
                "  { name = \"e\"; cron = \"@daily\"; steps = ( { type = \"partition\"; ingest = \"nope\";\n"
                "    input = \"file:///srv/udfcron/a\"; output = \"file:///srv/udfcron/b/\"; } ); }\n"
                ");\n",
                {
                        "schedules.d/s.conf:2: schedule 'a' has steps and udf: set only one",
                        "schedules.d/s.conf:4: unknown key 'ingest'",
                        "schedules.d/s.conf:3: params: a pipeline's parameters belong to its steps",
                        "schedules.d/s.conf:3: output: a pipeline's outputs belong to its steps",
                        "schedules.d/s.conf:5: command: ${output:x} names a step: only a pipeline's steps have outputs "
                        "to name",
                        "schedules.d/s.conf:6: steps: expected a list of steps: steps = ( { type = \"udf\"; ... }, "
                        "{ ... } );, got an array",
                        "schedules.d/s.conf:7: step 1: ingest: no instance ingest/nope in @DIR@/case-3/udfcrond.conf "
                        "(ingest = { nope = { ... }; };)",
                },
        },
};
/* clang-format on */

static void test_broken(void **state) {
        ConfigFixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(broken); i++) {
                const Broken *b = &broken[i];
                char name[32];
                snprintf(name, sizeof name, "case-%zu", i);
                write_case(f, name, b->schedules);

                assert_true(
                        config_errors_match("udfcrond.conf", f->tzdb, b->errors, MAX_ERRORS, f->dir, name));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_steps),
                cmocka_unit_test(test_broken),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
