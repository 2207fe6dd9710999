/* SPDX-License-Identifier: MIT */
/*
 * fused-api: the decoders of the Fused service's replies, on the contract's examples and on what a
 * lenient reader must survive (old services with fewer fields, unknown statuses, numbers as strings,
 * inclusive since_ms, out-of-order pages), and the encoders of what udfcron sends.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "fused-api.h"
#include "json-util.h"

#define S(text) text, strlen(text)

static void test_run_response(void **state) {
        FusedRunResponse r;
        char *unexpected = NULL;
        (void) state;

        /* NEW: every field */
        assert_int_equal(fused_run_response_parse(
                                 S("{\"job_id\":\"j-1\",\"job_name\":\"n.abc.1\",\"instance_id\":\"i-1\","
                                   "\"instance_type\":\"m5.large\",\"status\":\"running\",\"terminal_status\":false,"
                                   "\"last_heartbeat\":null,\"job_status\":\"running\",\"job_status_date\":"
                                   "\"2024-01-01T00:00:00\",\"finished_job_status\":false,\"total_tasks\":10,"
                                   "\"finished_tasks\":3}"),
                                 &r, &unexpected),
                         0);
        assert_null(unexpected);
        assert_string_equal(r.job_id, "j-1");
        assert_string_equal(r.job_name, "n.abc.1");
        assert_string_equal(r.status, "running");
        assert_string_equal(r.job_status, "running");
        assert_int_equal(r.finished_job_status, FUSED_FALSE);
        assert_true(r.has_tasks);
        assert_int_equal(r.total_tasks, 10);
        assert_int_equal(r.finished_tasks, 3);
        assert_false(fused_job_ended(&r));
        fused_run_response_done(&r);

        /* OLD: six fields; the end comes from terminal_status, and no job_status means success */
        assert_int_equal(fused_run_response_parse(S("{\"job_id\":\"j-2\",\"job_name\":\"x\",\"instance_id\":null,"
                                                    "\"status\":\"terminated\",\"terminal_status\":true}"),
                                                  &r, &unexpected),
                         0);
        assert_null(unexpected);
        assert_true(fused_job_ended(&r));
        assert_int_equal(fused_job_result(&r), FUSED_JOB_SUCCEEDED);
        assert_false(r.has_tasks);
        fused_run_response_done(&r);

        /* finished_job_status wins over terminal_status; counts as strings; odd values noted */
        assert_int_equal(fused_run_response_parse(S("{\"job_id\":42,\"status\":\"frobnicating\",\"terminal_status\":"
                                                    "false,\"finished_job_status\":\"true\",\"total_tasks\":\"4\","
                                                    "\"finished_tasks\":\"9\",\"job_status\":\"frobnicating\"}"),
                                                  &r, &unexpected),
                         0);
        assert_string_equal(r.job_id, "42");
        assert_true(fused_job_ended(&r));
        assert_int_equal(fused_job_result(&r), FUSED_JOB_UNKNOWN);
        assert_int_equal(r.total_tasks, 9); /* never fewer than finished */
        assert_non_null(unexpected);
        assert_non_null(strstr(unexpected, "finished_tasks 9 > total_tasks 4"));
        free(unexpected);
        fused_run_response_done(&r);

        /* what is not a RunResponse */
        const char *bad[] = { "", "[]", "{\"status\":\"running\"}", "{\"job_id\":\"\"}", "{\"job_id\":",
                              "null" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(fused_run_response_parse(S(bad[i]), &r, NULL), -EBADMSG);
}

static void test_job_result(void **state) {
        static const struct {
                const char *job_status;
                FusedJobResult result;
        } cases[] = {
                { "succeeded", FUSED_JOB_SUCCEEDED }, { "SUCCESS", FUSED_JOB_SUCCEEDED },
                { "completed", FUSED_JOB_SUCCEEDED }, { "finished", FUSED_JOB_SUCCEEDED },
                { "failed", FUSED_JOB_FAILED },       { "error", FUSED_JOB_FAILED },
                { "unsuccessful", FUSED_JOB_FAILED }, { "timed_out", FUSED_JOB_FAILED },
                { "cancelled", FUSED_JOB_CANCELLED }, { "canceled", FUSED_JOB_CANCELLED },
                { "cancel_failed", FUSED_JOB_CANCELLED }, { "aborted", FUSED_JOB_CANCELLED },
                { "frobnicating", FUSED_JOB_UNKNOWN }, { "", FUSED_JOB_UNKNOWN },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                FusedRunResponse r = { .job_status = (char *) cases[i].job_status };
                assert_int_equal(fused_job_result(&r), cases[i].result);
        }
}

static void test_logs(void **state) {
        FusedLogEntry *e = NULL;
        size_t n = 0;
        char *unexpected = NULL;
        (void) state;

        assert_int_equal(fused_logs_parse(S("[{\"message\":\"a\",\"timestamp\":1000},{\"message\":\"b\","
                                            "\"timestamp\":1000},{\"message\":\"c\",\"timestamp\":1001}]"),
                                          0, &e, &n, &unexpected),
                         0);
        assert_null(unexpected);
        assert_int_equal(n, 3);
        assert_string_equal(e[1].message, "b");
        assert_int_equal(e[2].timestamp_ms, 1001);
        e = fused_logs_free(e, n);

        /* a service that reads since_ms inclusively sends the last line again: it is dropped */
        assert_int_equal(fused_logs_parse(S("[{\"message\":\"c\",\"timestamp\":1001},{\"message\":\"d\","
                                            "\"timestamp\":1002}]"),
                                          1001, &e, &n, &unexpected),
                         0);
        assert_int_equal(n, 1);
        assert_string_equal(e[0].message, "d");
        assert_non_null(strstr(unexpected, "since_ms read inclusively"));
        free(unexpected);
        e = fused_logs_free(e, n);

        /* out of order: sorted, lines of one millisecond in their order; junk skipped; ISO dates read */
        assert_int_equal(fused_logs_parse(S("[{\"message\":\"late\",\"timestamp\":\"3000\"},"
                                            "{\"message\":\"x1\",\"timestamp\":2000},{\"timestamp\":2500},"
                                            "{\"message\":\"x2\",\"timestamp\":2000},7,"
                                            "{\"message\":\"iso\",\"timestamp\":\"1970-01-01T00:00:02.5Z\"}]"),
                                          0, &e, &n, &unexpected),
                         0);
        assert_int_equal(n, 4);
        assert_string_equal(e[0].message, "x1");
        assert_string_equal(e[1].message, "x2");
        assert_string_equal(e[2].message, "iso");
        assert_int_equal(e[2].timestamp_ms, 2000); /* the fraction is cut, as timestamp_parse does */
        assert_string_equal(e[3].message, "late");
        assert_non_null(unexpected);
        free(unexpected);
        e = fused_logs_free(e, n);

        assert_int_equal(fused_logs_parse(S("[]"), 0, &e, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_int_equal(fused_logs_parse(S("{\"detail\":\"Not Found\"}"), 0, &e, &n, NULL), -EBADMSG);
        assert_int_equal(fused_logs_parse(S("[{\"message\":\"a\""), 0, &e, &n, NULL), -EBADMSG);
}

static void test_results(void **state) {
        FusedResultItem *items = NULL;
        size_t n = 0;
        char *unexpected = NULL;
        (void) state;

        /* object-store order; the SDK's order is by the number in the name */
        assert_int_equal(fused_results_parse(S("[{\"name\":\"10.parquet\",\"url\":\"https://s/10\"},"
                                               "{\"name\":\"2.parquet\",\"url\":\"https://s/2\",\"size\":3},"
                                               "{\"name\":\"_meta\",\"url\":\"http://s/m\"},"
                                               "{\"name\":\"0.parquet\",\"url\":\"ftp://s/0\"},{\"url\":\"https://x\"}]"),
                                             &items, &n, &unexpected),
                         0);
        assert_int_equal(n, 3);
        assert_string_equal(items[0].name, "2.parquet");
        assert_string_equal(items[1].name, "10.parquet");
        assert_string_equal(items[2].name, "_meta");
        assert_non_null(unexpected);
        free(unexpected);
        fused_results_free(items, n);
        assert_int_equal(fused_results_parse(S("{}"), &items, &n, NULL), -EBADMSG);
}

static void test_job_list_and_config(void **state) {
        FusedJobListItem *items = NULL;
        size_t n = 0;
        char *unexpected = NULL, *name = NULL;
        (void) state;

        assert_int_equal(fused_job_list_parse(S("[{\"id\":\"a\",\"user_id\":\"u\",\"creation_date\":"
                                                "\"2024-05-01T10:00:00.123456\",\"execution_environment_id\":\"t\"},"
                                                "{\"id\":\"b\",\"job_name\":\"s.r.1\",\"creation_date\":"
                                                "\"2024-05-01T10:00:00+02:00\"},{\"user_id\":\"no id\"}]"),
                                              &items, &n, &unexpected),
                         0);
        assert_int_equal(n, 2);
        assert_null(items[0].job_name);
        assert_int_equal(items[0].created_usec, UINT64_C(1714557600) * 1000000); /* naive: UTC */
        assert_string_equal(items[1].job_name, "s.r.1");
        assert_int_equal(items[1].created_usec, UINT64_C(1714550400) * 1000000);
        assert_non_null(unexpected);
        free(unexpected);
        fused_job_list_free(items, n);

        assert_int_equal(fused_job_config_name(S("{\"name\":\"s.r.1\",\"steps\":[]}"), &name), 0);
        assert_string_equal(name, "s.r.1");
        free(name);
        assert_int_equal(fused_job_config_name(S("{\"steps\":[{\"type\":\"udf\",\"name\":\"step\"}]}"), &name), 0);
        assert_string_equal(name, "step");
        free(name);
        assert_int_equal(fused_job_config_name(S("{\"steps\":[]}"), &name), -ENOENT);
        assert_int_equal(fused_job_config_name(S("<xml/>"), &name), -EBADMSG);
}

/* A list of more than 100000 elements is cut there: a log page and the results say so, the job list not. */
static void test_long_lists(void **state) {
        static const char element[] = "{\"message\":\"m\",\"timestamp\":1,\"name\":\"1.json\","
                                      "\"url\":\"https://s/1\",\"id\":\"j\"},";
        const size_t total = 100001, len = strlen(element);
        _cleanup_free_ char *json = malloc(total * len + 2), *unexpected = NULL;
        FusedLogEntry *entries = NULL;
        FusedResultItem *results = NULL;
        FusedJobListItem *jobs = NULL;
        size_t n = 0;
        (void) state;

        assert_non_null(json);
        json[0] = '[';
        for (size_t i = 0; i < total; i++)
                memcpy(json + 1 + i * len, element, len);
        json[total * len] = ']'; /* in place of the last comma */
        json[total * len + 1] = '\0';

        assert_int_equal(fused_logs_parse(S(json), 0, &entries, &n, &unexpected), 0);
        assert_int_equal(n, 100000);
        assert_string_equal(entries[n - 1].message, "m");
        assert_string_equal(unexpected, "more than 100000 entries: the rest comes with the next page");
        entries = fused_logs_free(entries, n);
        unexpected = mfree(unexpected);

        assert_int_equal(fused_results_parse(S(json), &results, &n, &unexpected), 0);
        assert_int_equal(n, 100000);
        assert_string_equal(unexpected, "more than 100000 result files: the rest ignored");
        results = fused_results_free(results, n);
        unexpected = mfree(unexpected);

        assert_int_equal(fused_job_list_parse(S(json), &jobs, &n, &unexpected), 0);
        assert_int_equal(n, 100000);
        assert_null(strstr(unexpected, "more than"));
        jobs = fused_job_list_free(jobs, n);
}

static void test_udf_metadata_instances(void **state) {
        FusedMetadata m;
        cJSON *udf = NULL;
        char *id = NULL;
        (void) state;

        assert_int_equal(fused_saved_udf_parse(S("{\"id\":\"u1\",\"slug\":\"x\",\"udf_body\":"
                                                 "\"{\\\"code\\\":\\\"def udf(): pass\\\",\\\"name\\\":\\\"x\\\"}\"}"),
                                               &udf),
                         0);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(udf, "code")), "def udf(): pass");
        cJSON_Delete(udf);
        assert_int_equal(fused_saved_udf_parse(S("{\"udf_body\":{\"code\":\"c\"}}"), &udf), 0);
        cJSON_Delete(udf);
        assert_int_equal(fused_saved_udf_parse(S("{\"udf_body\":\"not json\"}"), &udf), -EBADMSG);
        assert_int_equal(fused_saved_udf_parse(S("{\"slug\":\"x\"}"), &udf), -EBADMSG);

        assert_int_equal(fused_metadata_parse("{\"stdout\":\"a\\nb\\n\",\"stderr\":\"\",\"exception_class\":"
                                              "\"ValueError\",\"has_exception\":true,\"lineno\":7,\"errormsg\":"
                                              "\"bad\",\"exception\":\"ValueError('bad')\",\"profile\":null}",
                                              &m),
                         0);
        assert_string_equal(m.stdout_text, "a\nb\n");
        assert_null(m.stderr_text);
        assert_true(m.has_exception);
        assert_string_equal(m.exception_class, "ValueError");
        assert_string_equal(m.message, "bad");
        assert_int_equal(m.lineno, 7);
        fused_metadata_done(&m);
        assert_int_equal(fused_metadata_parse("{\"exception\":\"KeyError('x')\"}", &m), 0);
        assert_true(m.has_exception);
        assert_string_equal(m.message, "KeyError('x')");
        fused_metadata_done(&m);
        assert_int_equal(fused_metadata_parse("[1]", &m), -EBADMSG);

        assert_int_equal(fused_instances_pick(S("[{\"client_id\":\"a\",\"preference_rank\":1},{\"client_id\":"
                                                "\"b\",\"preference_rank\":5},{\"client_id\":\"c\"}]"),
                                              &id),
                         0);
        assert_string_equal(id, "b");
        free(id);
        assert_int_equal(fused_instances_pick(S("[]"), &id), -ENOENT);
}

static void test_encoders(void **state) {
        _cleanup_(json_freep) cJSON *params = cJSON_Parse(
                "{\"day\":\"2024-05-01\",\"n\":3,\"x\":2.5,\"ok\":true,\"none\":null,\"tags\":[\"a\",\"b c\"],"
                "\"where\":{\"k\":\"v&w\"},\"email\":\"u@x.io\"}");
        _cleanup_free_ char *q = NULL, *empty = NULL, *name = NULL, *safe = NULL, *dots = NULL;
        char uuid[37];
        (void) state;

        assert_int_equal(fused_query_encode(params, "json", &q), 0);
        assert_string_equal(q, "format=json&day=2024-05-01&n=3&x=2.5&ok=true&none=None&tags=%5B%22a%22%2C%22b%20c%22%5D"
                               "&where=%7B%22k%22:%22v%26w%22%7D&email=u@x.io");
        assert_int_equal(fused_query_encode(NULL, NULL, &empty), 0);
        assert_string_equal(empty, "");

        assert_int_equal(fused_run_uuid("0123456789abcdef", 2, 0, 0, uuid), 0);
        assert_string_equal(uuid, "01234567-89ab-4cde-8dfc-f00000000002");
        /* a fan-out's task 0 (1 + its index) on its third attempt, of run attempt 2 */
        assert_int_equal(fused_run_uuid("0123456789abcdef", 2, 1, 3, uuid), 0);
        assert_string_equal(uuid, "01234567-89ab-4cde-8dfc-f00030000102");
        assert_int_equal(fused_run_uuid("0123456789abcdef", 2, 100001, 101, uuid), 0);
        assert_string_equal(uuid, "01234567-89ab-4cde-8dfc-f0065186a102");
        assert_int_equal(fused_run_uuid("xyz", 1, 0, 0, uuid), -EINVAL);
        assert_int_equal(fused_run_uuid("0123456789abcdef", 256, 0, 0, uuid), -EINVAL);

        assert_non_null(name = fused_job_name("nightly", "0123456789abcdef", 3));
        assert_string_equal(name, "nightly.0123456789abcdef.3");
        assert_non_null(safe = fused_result_file_name("../a b/0.parquet"));
        assert_string_equal(safe, ".._a_b_0.parquet");
        assert_non_null(dots = fused_result_file_name(".."));
        assert_string_equal(dots, "_");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_run_response), cmocka_unit_test(test_job_result),
                cmocka_unit_test(test_logs),         cmocka_unit_test(test_results),
                cmocka_unit_test(test_job_list_and_config), cmocka_unit_test(test_long_lists),
                cmocka_unit_test(test_udf_metadata_instances),
                cmocka_unit_test(test_encoders),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
