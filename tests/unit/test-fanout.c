/* SPDX-License-Identifier: MIT */
/*
 * fanout: the tasks' results joined in argument order. (The engine itself runs real children in
 * tests/integration/test_fanout.py.)
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
#include "fanout.h"
#include "json-util.h"

#define R(s)                                                                                                \
        { s, sizeof(s) - 1 }

static void check_collect(CollectFormat format, const TaskResult *results, size_t n, const char *expected) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        assert_int_equal(fanout_collect(format, results, n, &data, &size), 0);
        assert_int_equal(size, strlen(expected));
        assert_string_equal(data, expected);
}

static void test_collect_json(void **state) {
        (void) state;
        /* a failed task (no result) and a blank one are null; a pretty result stays as it is */
        const TaskResult results[] = {
                R("{\"n\": 0}"), { NULL, 0 }, R("  [1,\n 2]\n"), R(" \n"), R("\"x\""),
        };
        check_collect(COLLECT_JSON, results, ELEMENTSOF(results), "[{\"n\": 0},null,[1,\n 2],null,\"x\"]");
        check_collect(COLLECT_JSON, results, 1, "[{\"n\": 0}]");
        check_collect(COLLECT_JSON, NULL, 0, "[]");

        /* what it makes is JSON, in argument order */
        _cleanup_free_ char *data = NULL;
        size_t size;
        assert_int_equal(fanout_collect(COLLECT_JSON, results, ELEMENTSOF(results), &data, &size), 0);
        _cleanup_(json_freep) cJSON *parsed = cJSON_Parse(data);
        assert_int_equal(cJSON_GetArraySize(parsed), ELEMENTSOF(results));
        assert_true(cJSON_IsNull(cJSON_GetArrayItem(parsed, 1)));
        assert_string_equal(cJSON_GetArrayItem(parsed, 4)->valuestring, "x");
}

static void test_collect_ndjson(void **state) {
        (void) state;
        /* line breaks inside a result (JSON whitespace: never inside a string) become spaces */
        const TaskResult results[] = {
                R("{\"n\": 0}\n"),
                { NULL, 0 },
                R("{\r\n  \"a\": [1,\n 2]\r\n}"),
                R("3"),
        };
        check_collect(COLLECT_NDJSON, results, ELEMENTSOF(results),
                      "{\"n\": 0}\nnull\n{    \"a\": [1,  2]  }\n3\n");
        check_collect(COLLECT_NDJSON, NULL, 0, "");
}

static void test_task_states(void **state) {
        (void) state;
        static const char *const names[] = { "pending", "running", "succeeded", "failed" };
        for (int s = 0; s < _TASK_STATE_MAX; s++)
                assert_string_equal(task_state_to_string(s), names[s]);
        assert_null(task_state_to_string(_TASK_STATE_MAX));
        assert_null(task_state_to_string(_TASK_STATE_INVALID));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_collect_json),
                cmocka_unit_test(test_collect_ndjson),
                cmocka_unit_test(test_task_states),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
