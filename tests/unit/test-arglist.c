/* SPDX-License-Identifier: MIT */
/* arglist: fan-out argument lists from files (JSON array or NDJSON), their items, and merging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arglist.h"
#include "cleanup.h"
#include "json-util.h"

/* Parses text; returns the list as compact JSON (the caller frees), or fails the test. */
static char *parse_ok(const char *text, const char *arg_name) {
        _cleanup_(json_freep) cJSON *list = NULL;
        _cleanup_free_ char *error = NULL;
        unsigned line = 99;
        int r = arglist_parse(text, strlen(text), arg_name, &list, &line, &error);
        if (r < 0)
                print_message("%s: line %u: %s\n", text, line, error);
        assert_int_equal(r, 0);
        assert_int_equal(line, 99); /* untouched */
        char *json = cJSON_PrintUnformatted(list);
        assert_non_null(json);
        return json;
}

static void test_parse(void **state) {
        (void) state;
        static const struct {
                const char *text, *arg_name, *expected;
        } cases[] = {
                /* a JSON array, with any layout */
                { "[{\"a\":1},{\"b\":\"x\"}]", NULL, "[{\"a\":1},{\"b\":\"x\"}]" },
                { "\n  [\n {\"a\": 1} ,\n\n {\"a\": 2}\n ]\n\n", NULL, "[{\"a\":1},{\"a\":2}]" },
                { "[]", NULL, "[]" },
                { " [ ] ", NULL, "[]" },
                /* plain values set arg_name, lists included; objects stay objects */
                { "[1, \"two\", true, null, [3, 4], {\"day\": 5}]", "day",
                  "[{\"day\":1},{\"day\":\"two\"},{\"day\":true},{\"day\":null},{\"day\":[3,4]},{\"day\":5}"
                  "]" },
                /* NDJSON: one value per line, blank lines and CRLF endings are fine */
                { "{\"a\":1}\n{\"a\":2}\n", NULL, "[{\"a\":1},{\"a\":2}]" },
                { "{\"a\":1}\r\n\r\n  \t\n{\"a\":2}", NULL, "[{\"a\":1},{\"a\":2}]" },
                { "\"2024-01-01\"\n\"2024-01-02\"\n", "day",
                  "[{\"day\":\"2024-01-01\"},{\"day\":\"2024-01-02\"}]" },
                { "", NULL, "[]" },
                { "\n\n", NULL, "[]" },
                /* strings are data: no ${...} expansion or check here */
                { "{\"t\":\"${nope} $$\"}", NULL, "[{\"t\":\"${nope} $$\"}]" },
                /* nested members are kept as they are */
                { "{\"g\":{\"x\":[1,{\"y\":2}]}}", NULL, "[{\"g\":{\"x\":[1,{\"y\":2}]}}]" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *json = parse_ok(cases[i].text, cases[i].arg_name);
                assert_string_equal(json, cases[i].expected);
        }
}

static void test_parse_errors(void **state) {
        (void) state;
        static const struct {
                const char *text, *arg_name;
                unsigned line;
                const char *error;
        } cases[] = {
                { "[{\"a\":1},\n{\"a\":\n", NULL, 2, "item 2 is not valid JSON" },
                { "[{\"a\":1}\n{\"a\":2}]", NULL, 2, "expected ',' or ']' after item 1" },
                { "[{\"a\":1},]", NULL, 1, "item 2 is not valid JSON" },
                { "[{\"a\":1}", NULL, 1, "expected ',' or ']' after item 1" },
                { "[{\"a\":1}]\n\n]", NULL, 3, "unexpected text after the list's closing ']'" },
                { "[\n{\"a\":1},\n 7]", NULL, 3,
                  "item 2: a number, and no arg_name names the parameter it sets: write an object of "
                  "parameters, or "
                  "set arg_name" },
                { "[{\"a\":1,\"a\":2}]", NULL, 1, "item 1: an object that sets 'a' twice" },
                { "{\"a\":1}\n\n{\"a\":\n2}\n", NULL, 3, "not a JSON value (NDJSON holds one per line)" },
                { "{\"a\":1} {\"a\":2}\n", NULL, 1,
                  "unexpected text after the JSON value (NDJSON holds one per line)" },
                { "{\"a\":1}\n\"x\"\n", NULL, 2,
                  "item 2: a string, and no arg_name names the parameter it sets: write an object of "
                  "parameters, or "
                  "set arg_name" },
                { "{\"a\":1}\n[1]\n", NULL, 2,
                  "item 2: a list, and no arg_name names the parameter it sets: write an object of "
                  "parameters, or "
                  "set arg_name" },
                { "nope\n", NULL, 1, "not a JSON value (NDJSON holds one per line)" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                cJSON *list = (cJSON *) 0x1; /* must stay untouched */
                _cleanup_free_ char *error = NULL;
                unsigned line = 99;
                int r = arglist_parse(cases[i].text, strlen(cases[i].text), cases[i].arg_name, &list, &line,
                                      &error);
                if (r != -EINVAL || line != cases[i].line || !error || strcmp(error, cases[i].error) != 0)
                        print_message("case %zu: %d, line %u: %s\n", i, r, line, error);
                assert_int_equal(r, -EINVAL);
                assert_ptr_equal(list, (cJSON *) 0x1);
                assert_int_equal(line, cases[i].line);
                assert_string_equal(error, cases[i].error);
        }

        /* a NUL byte: no text file */
        cJSON *list = NULL;
        _cleanup_free_ char *error = NULL;
        unsigned line = 99;
        assert_int_equal(arglist_parse("{}\n\0{}\n", 6, NULL, &list, &line, &error), -EINVAL);
        assert_int_equal(line, 0);
        assert_string_equal(error, "contains a NUL byte: not a text file");
}

static void test_too_many_items(void **state) {
        (void) state;
        size_t n = ARGLIST_ITEMS_MAX + 1, size = n * 3;
        _cleanup_free_ char *text = malloc(size + 1);
        assert_non_null(text);
        for (size_t i = 0; i < n; i++)
                memcpy(text + i * 3, "{}\n", 3);
        text[size] = '\0';

        cJSON *list = NULL;
        _cleanup_free_ char *error = NULL;
        unsigned line = 0;
        assert_int_equal(arglist_parse(text, size, NULL, &list, &line, &error), -EINVAL);
        assert_int_equal(line, ARGLIST_ITEMS_MAX + 1);
        assert_string_equal(error, "more than 100000 items");

        /* the limit itself is fine */
        assert_int_equal(arglist_parse(text, size - 3, NULL, &list, &line, &error), 0);
        assert_int_equal(cJSON_GetArraySize(list), ARGLIST_ITEMS_MAX);
        cJSON_Delete(list);
}

static void test_item(void **state) {
        (void) state;
        cJSON *set = NULL;
        _cleanup_free_ char *error = NULL, *json = NULL;

        assert_int_equal(arglist_item(cJSON_CreateNumber(3), "n", &set, &error), 0);
        json = cJSON_PrintUnformatted(set);
        assert_string_equal(json, "{\"n\":3}");
        cJSON_Delete(set);

        /* taken even on failure: ASan would see the leak otherwise */
        assert_int_equal(arglist_item(cJSON_CreateTrue(), NULL, &set, &error), -EINVAL);
        assert_string_equal(error,
                            "a boolean, and no arg_name names the parameter it sets: write an object of "
                            "parameters, or set arg_name");
}

static void test_merge(void **state) {
        (void) state;
        _cleanup_(json_freep) cJSON *params =
                cJSON_Parse("{\"day\":\"2024-01-01\",\"n\":1,\"g\":{\"x\":1}}");
        _cleanup_(json_freep) cJSON *set = cJSON_Parse("{\"n\":7,\"g\":{\"y\":2},\"new\":[1]}");
        _cleanup_(json_freep) cJSON *empty = cJSON_CreateObject(), *list = cJSON_CreateArray();
        _cleanup_free_ char *merged = NULL, *same = NULL;

        /* members of the set replace the schedule's in place (a group whole: it is not merged into), new
         * ones come last */
        assert_int_equal(arglist_merge(params, set, &merged), 0);
        assert_string_equal(merged, "{\"day\":\"2024-01-01\",\"n\":7,\"g\":{\"y\":2},\"new\":[1]}");
        assert_int_equal(arglist_merge(params, empty, &same), 0);
        assert_string_equal(same, "{\"day\":\"2024-01-01\",\"n\":1,\"g\":{\"x\":1}}");
        /* the inputs are left alone */
        _cleanup_free_ char *before = cJSON_PrintUnformatted(params);
        assert_string_equal(before, "{\"day\":\"2024-01-01\",\"n\":1,\"g\":{\"x\":1}}");

        char *out = (char *) 0x1;
        assert_int_equal(arglist_merge(params, list, &out), -EINVAL);
        assert_int_equal(arglist_merge(list, set, &out), -EINVAL);
        assert_ptr_equal(out, (char *) 0x1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),          cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_too_many_items), cmocka_unit_test(test_item),
                cmocka_unit_test(test_merge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
