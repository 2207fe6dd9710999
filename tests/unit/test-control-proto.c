/* SPDX-License-Identifier: MIT */
/* control-proto: request decoding (every rule and its message), encoding, replies; json-writer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/mismatch.h"
#include "cleanup.h"
#include "control-commands.h"
#include "control-proto.h"
#include "json-util.h"
#include "json-writer.h"

static int parse(const char *text, ControlRequest *ret, char **ret_error) {
        return control_request_parse(text, strlen(text), ret, ret_error);
}

static void test_valid_requests(void **state) {
        (void) state;
        ControlRequest r;
        char *error;

        assert_int_equal(parse("{\"command\":\"list\"}\n", &r, &error), 0);
        assert_int_equal(r.command, CONTROL_LIST);
        assert_null(r.schedule);
        control_request_done(&r);

        assert_int_equal(parse(" {\"command\":\"status\"} \r\n", &r, &error), 0);
        assert_int_equal(r.command, CONTROL_STATUS);
        control_request_done(&r);

        assert_int_equal(parse("{\"schedule\":\"nightly\",\"command\":\"status\"}", &r, &error), 0);
        assert_string_equal(r.schedule, "nightly");
        control_request_done(&r);

        assert_int_equal(parse("{\"command\":\"run\",\"schedule\":\"x\",\"wait\":true,"
                               "\"params\":{\"day\":\"2024-01-01\",\"n\":3,\"list\":[1,{\"a\":null}]}}",
                               &r, &error),
                         0);
        assert_int_equal(r.command, CONTROL_RUN);
        assert_true(r.wait);
        assert_string_equal(r.params, "{\"day\":\"2024-01-01\",\"n\":3,\"list\":[1,{\"a\":null}]}");
        control_request_done(&r);

        assert_int_equal(parse("{\"command\":\"cancel\",\"run_id\":\"0123456789abcdef\"}", &r, &error), 0);
        assert_string_equal(r.run_id, "0123456789abcdef");
        control_request_done(&r);

        static const char *const with_schedule[] = { "skip", "pause", "resume" };
        for (size_t i = 0; i < ELEMENTSOF(with_schedule); i++) {
                char text[128];
                snprintf(text, sizeof text, "{\"command\":\"%s\",\"schedule\":\"s\"}", with_schedule[i]);
                assert_int_equal(parse(text, &r, &error), 0);
                assert_string_equal(control_command_to_string(r.command), with_schedule[i]);
                assert_true(control_command_changes(r.command));
                control_request_done(&r);
        }
        assert_false(control_command_changes(CONTROL_LIST));
        assert_false(control_command_changes(CONTROL_STATUS));
        assert_true(control_command_changes(CONTROL_RELOAD));
}

static void test_invalid_requests(void **state) {
        (void) state;
        char long_name[128], many_params[CONTROL_PARAMS_MAX + 64];
        snprintf(long_name, sizeof long_name, "{\"command\":\"pause\",\"schedule\":\"%065d\"}", 0);
        size_t n = (size_t) snprintf(many_params, sizeof many_params,
                                     "{\"command\":\"run\",\"schedule\":\"s\","
                                     "\"params\":{\"a\":\"");
        memset(many_params + n, 'x', CONTROL_PARAMS_MAX);
        strcpy(many_params + n + CONTROL_PARAMS_MAX, "\"}}");

        const struct {
                const char *text, *error;
        } cases[] = {
                { "", "invalid JSON at byte 0" },
                { "list", "invalid JSON at byte 0" },
                { "{\"command\":\"list\"} x", "invalid JSON at byte 19" },
                { "{\"command\":\"list\"}{}", "invalid JSON at byte 18" },
                { "[\"list\"]", "expected a JSON object" },
                { "\"list\"", "expected a JSON object" },
                { "{}", "command: missing" },
                { "{\"command\":\"lst\"}",
                  "command: expected one of list, status, run, skip, pause, resume, cancel, reload" },
                { "{\"command\":null}",
                  "command: expected one of list, status, run, skip, pause, resume, cancel, reload" },
                { "{\"command\":\"list\",\"command\":\"list\"}", "command: given twice" },
                { "{\"command\":\"list\",\"verbose\":true}", "unknown key 'verbose'" },
                { "{\"command\":\"list\",\"wait\":true}", "wait: not an argument of list" },
                { "{\"command\":\"status\",\"run_id\":\"x\"}", "run_id: not an argument of status" },
                { "{\"command\":\"run\"}", "schedule: missing (run needs it)" },
                { "{\"command\":\"cancel\",\"schedule\":\"s\"}", "schedule: not an argument of cancel" },
                { "{\"command\":\"cancel\"}", "run_id: missing (cancel needs it)" },
                { "{\"command\":\"pause\",\"schedule\":\"\"}", "schedule: expected a non-empty string" },
                { "{\"command\":\"pause\",\"schedule\":7}", "schedule: expected a non-empty string" },
                { long_name, "schedule: longer than 64 bytes" },
                { "{\"command\":\"pause\",\"schedule\":\"a b\"}",
                  "schedule: only A-Z a-z 0-9 _ . @ - are allowed" },
                { "{\"command\":\"cancel\",\"run_id\":\"ab\xff\"}",
                  "run_id: only A-Z a-z 0-9 _ . @ - are allowed" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"wait\":1}", "wait: expected true or false" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"params\":[]}", "params: expected an object" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"params\":{\"a b\":1}}",
                  "params: 'a b' is not a parameter name (letters, digits, _)" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"params\":{\"1a\":1}}",
                  "params: '1a' is not a parameter name (letters, digits, _)" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"params\":{\"\":1}}",
                  "params: '' is not a parameter name (letters, digits, _)" },
                { "{\"command\":\"run\",\"schedule\":\"s\",\"params\":{\"a\":1,\"a\":2}}",
                  "params: 'a' given twice" },
                { many_params, "params: more than 4096 bytes of JSON" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ControlRequest r;
                _cleanup_free_ char *error = NULL;
                int k = parse(cases[i].text, &r, &error);
                if (k != -EINVAL || !error || strcmp(error, cases[i].error) != 0) {
                        mismatch("%.60s: %d '%s', expected '%s'", cases[i].text, k, error ?: "(null)",
                                 cases[i].error);
                        if (k == 0)
                                control_request_done(&r);
                }
        }

        /* a NUL in the line, and a line above the limit */
        ControlRequest r;
        _cleanup_free_ char *nul_error = NULL, *big_error = NULL, *big = malloc(CONTROL_REQUEST_MAX + 1);
        assert_int_equal(control_request_parse("{\"command\":\"list\"}\0", 19, &r, &nul_error), -EINVAL);
        assert_string_equal(nul_error, "contains a NUL byte");
        assert_non_null(big);
        memset(big, ' ', CONTROL_REQUEST_MAX + 1);
        assert_int_equal(control_request_parse(big, CONTROL_REQUEST_MAX + 1, &r, &big_error), -EINVAL);
        assert_string_equal(big_error, "longer than 65536 bytes");
        assert_no_mismatches();
}

static void test_format_round_trip(void **state) {
        (void) state;
        ControlRequest in = { .command = CONTROL_RUN,
                              .schedule = (char *) "nightly",
                              .params = (char *) "{ \"day\" : \"2024-01-01\",\n \"quote\": \"\\\"\" }",
                              .wait = true },
                       out;
        _cleanup_free_ char *line = NULL, *error = NULL;
        size_t size;

        assert_int_equal(control_request_format(&in, &line, &size, &error), 0);
        assert_string_equal(line,
                            "{\"command\":\"run\",\"schedule\":\"nightly\",\"params\":{\"day\":\"2024-01-"
                            "01\",\"quote\":\"\\\"\"},\"wait\":true}\n");
        assert_int_equal(size, strlen(line));
        assert_int_equal(control_request_parse(line, size, &out, &error), 0);
        assert_int_equal(out.command, CONTROL_RUN);
        assert_string_equal(out.schedule, "nightly");
        assert_string_equal(out.params, "{\"day\":\"2024-01-01\",\"quote\":\"\\\"\"}");
        assert_true(out.wait);
        control_request_done(&out);

        /* what the daemon would refuse is refused before it is sent, with the daemon's words */
        ControlRequest bad = { .command = CONTROL_PAUSE };
        free(line), line = NULL;
        assert_int_equal(control_request_format(&bad, &line, &size, &error), -EINVAL);
        assert_string_equal(error, "schedule: missing (pause needs it)");
        assert_null(line);
        free(error), error = NULL;
        ControlRequest bad_params = { .command = CONTROL_RUN,
                                      .schedule = (char *) "s",
                                      .params = (char *) "{" };
        assert_int_equal(control_request_format(&bad_params, &line, &size, &error), -EINVAL);
        assert_string_equal(error, "params: invalid JSON");
}

static void test_messages(void **state) {
        (void) state;
        ControlMessage m;
        uint64_t v;
        bool b;

        static const char ok[] = "{\"ok\":true,\"now_usec\":1763831700000000,\"big\":9007199254740993,"
                                 "\"neg\":-1,\"frac\":1.5,\"flag\":false}\n";
        char *error;
        assert_int_equal(control_message_parse(ok, sizeof ok - 1, &m, &error), 0);
        assert_true(m.ok);
        assert_false(m.is_event);
        assert_true(control_u64(m.root, "now_usec", &v));
        assert_int_equal(v, UINT64_C(1763831700000000));
        assert_false(control_u64(m.root, "big", &v)); /* above 2^53: not exact */
        assert_false(control_u64(m.root, "neg", &v));
        assert_false(control_u64(m.root, "frac", &v));
        assert_false(control_u64(m.root, "missing", &v));
        assert_true(control_bool(m.root, "flag", &b));
        assert_false(b);
        assert_false(control_bool(m.root, "now_usec", &b));
        assert_null(control_string(m.root, "now_usec"));
        control_message_done(&m);

        static const char failed[] =
                "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no schedule 'x'\"}}";
        assert_int_equal(control_message_parse(failed, sizeof failed - 1, &m, &error), 0);
        assert_false(m.ok);
        assert_string_equal(m.error_code, "not_found");
        assert_string_equal(m.error_message, "no schedule 'x'");
        control_message_done(&m);

        static const char event[] = "{\"event\":\"log\",\"stream\":\"stdout\",\"line\":\"hi\"}";
        assert_int_equal(control_message_parse(event, sizeof event - 1, &m, &error), 0);
        assert_true(m.is_event);
        assert_string_equal(m.event, "log");
        assert_string_equal(control_string(m.root, "line"), "hi");
        control_message_done(&m);

        static const struct {
                const char *text, *error;
        } bad[] = {
                { "{\"ok\":1}", "neither \"ok\" nor \"event\"" },
                { "{\"event\":3}", "neither \"ok\" nor \"event\"" },
                { "{\"ok\":false}", "a failed reply without error.code and error.message" },
                { "{\"ok\":false,\"error\":{\"code\":\"x\"}}",
                  "a failed reply without error.code and error.message" },
                { "[]", "expected a JSON object" },
                { "{\"ok\":true", "invalid JSON at byte 9" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *e = NULL;
                int k = control_message_parse(bad[i].text, strlen(bad[i].text), &m, &e);
                if (k != -EINVAL || !e || strcmp(e, bad[i].error) != 0)
                        mismatch("%s: %d '%s', expected '%s'", bad[i].text, k, e ?: "(null)", bad[i].error);
                if (k == 0)
                        control_message_done(&m);
        }
        assert_no_mismatches();
        assert_int_equal(control_command_from_string("nope"), -EINVAL);
        assert_null(control_error_to_string(_CONTROL_ERROR_MAX));
        assert_string_equal(control_error_to_string(CONTROL_ERROR_PERMISSION_DENIED), "permission_denied");
}

/* What the writer made of `in`, as a C string (the caller frees it). */
static char *written_string(const char *in, size_t size) {
        JsonWriter w = {};
        char *text;
        size_t n;
        json_string_len(&w, in, size);
        assert_int_equal(json_writer_steal(&w, &text, &n), 0);
        assert_int_equal(n, strlen(text));
        return text;
}

static void test_writer_strings(void **state) {
        (void) state;
        static const struct {
                const char *in;
                size_t size;
                const char *out;
        } cases[] = {
                { "plain", 5, "\"plain\"" },
                { "", 0, "\"\"" },
                { "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
                { "a\nb\tc\rd\001e\037", 10, "\"a\\nb\\tc\\rd\\u0001e\\u001f\"" },
                { "nul\0x", 5, "\"nul\\u0000x\"" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
                { "bad \xff \xc3", 7, "\"bad \\\\xff \\\\xc3\"" },             /* invalid and truncated */
                { "\xc0\xaf", 2, "\"\\\\xc0\\\\xaf\"" },                       /* overlong '/' */
                { "\xed\xa0\x80", 3, "\"\\\\xed\\\\xa0\\\\x80\"" },            /* a UTF-16 surrogate */
                { "\xf4\x90\x80\x80", 4, "\"\\\\xf4\\\\x90\\\\x80\\\\x80\"" }, /* above U+10FFFF */
                { "\x7f", 1, "\"\x7f\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = written_string(cases[i].in, cases[i].size);
                if (strcmp(out, cases[i].out) != 0)
                        mismatch("case %zu: %s, expected %s", i, out, cases[i].out);
                /* and it is JSON that cJSON reads back */
                _cleanup_(json_freep) cJSON *j = cJSON_Parse(out);
                if (!cJSON_IsString(j))
                        mismatch("case %zu: %s is not a JSON string", i, out);
        }
        assert_no_mismatches();
}

static void test_writer_structure(void **state) {
        (void) state;
        JsonWriter w = {};
        char *text;
        size_t size;

        json_object_begin(&w);
        json_key_string(&w, "s", "v");
        json_key_string(&w, "null", NULL);
        json_key_u64(&w, "max", UINT64_MAX);
        json_key(&w, "min");
        json_i64(&w, INT64_MIN);
        json_key(&w, "zero");
        json_i64(&w, 0);
        json_key(&w, "list");
        json_array_begin(&w);
        json_bool(&w, true);
        json_null(&w);
        json_object_begin(&w);
        json_object_end(&w);
        json_array_begin(&w);
        json_array_end(&w);
        json_raw(&w, "{\"r\":1}", 7);
        json_array_end(&w);
        json_key_bool(&w, "last", false);
        json_object_end(&w);
        json_end_line(&w);
        json_array_begin(&w); /* a second line starts without a comma */
        json_array_end(&w);
        assert_int_equal(json_writer_steal(&w, &text, &size), 0);
        assert_string_equal(text,
                            "{\"s\":\"v\",\"null\":null,\"max\":18446744073709551615,"
                            "\"min\":-9223372036854775808,\"zero\":0,\"list\":[true,null,{},[],{\"r\":1}],"
                            "\"last\":false}\n[]");
        assert_int_equal(size, strlen(text));
        free(text);
        assert_null(w.data); /* stolen: the writer starts over */
        json_null(&w);
        json_writer_done(&w);
        assert_null(w.data);
}

/* The event lines run --wait streams, one of each kind. */
static void test_news_events(void **state) {
        (void) state;
        Run run = { .id = "0123456789abcdef" };
        const RunNews news[] = {
                { .kind = RUN_NEWS_EVENT, .event = RUN_EVENT_STARTED, .attempt = 1, .message = "sh -c x" },
                { .kind = RUN_NEWS_OUTPUT,
                  .is_stderr = true,
                  .partial = true,
                  .data = "a\xff"
                          "b",
                  .size = 3 },
                { .kind = RUN_NEWS_OUTPUT, .data = "", .size = 0 },
                { .kind = RUN_NEWS_PROGRESS, .attempt = 2, .tasks_finished = 3, .tasks_total = 10 },
                { .kind = RUN_NEWS_EVENT,
                  .event = RUN_EVENT_RETRY,
                  .attempt = 1,
                  .message = "m",
                  .has_exit_status = true,
                  .exit_status = -1,
                  .duration_usec = 5,
                  .next_usec = 7 },
                { .kind = RUN_NEWS_END,
                  .event = RUN_EVENT_FINISHED,
                  .result = "succeeded",
                  .attempt = 2,
                  .message = "in 0.1s",
                  .has_exit_status = true },
                { .kind = RUN_NEWS_END, .message = "stopping" },
        };
        static const char expected[] =
                "{\"event\":\"started\",\"run_id\":\"0123456789abcdef\",\"attempt\":1,\"message\":\"sh -c "
                "x\"}\n"
                "{\"event\":\"log\",\"stream\":\"stderr\",\"line\":\"a\\\\xffb\",\"partial\":true}\n"
                "{\"event\":\"log\",\"stream\":\"stdout\",\"line\":\"\"}\n"
                "{\"event\":\"progress\",\"run_id\":\"0123456789abcdef\",\"attempt\":2,\"finished\":3,"
                "\"total\":10}\n"
                "{\"event\":\"retry\",\"run_id\":\"0123456789abcdef\",\"attempt\":1,\"message\":\"m\","
                "\"exit_status\":-1,\"duration_usec\":5,\"next_usec\":7}\n"
                "{\"event\":\"end\",\"run_id\":\"0123456789abcdef\",\"attempt\":2,\"result\":\"succeeded\","
                "\"message\":\"in 0.1s\",\"exit_status\":0}\n"
                "{\"event\":\"detached\",\"run_id\":\"0123456789abcdef\",\"attempt\":0,\"message\":"
                "\"stopping\"}\n"
                "{\"event\":\"dropped\",\"lines\":12}\n";
        JsonWriter w = {};
        char *text;
        size_t size;

        for (size_t i = 0; i < ELEMENTSOF(news); i++) {
                control_write_news(&w, &run, &news[i]);
                json_end_line(&w);
        }
        control_write_dropped(&w, 12);
        json_end_line(&w);
        assert_int_equal(json_writer_steal(&w, &text, &size), 0);
        assert_string_equal(text, expected);
        /* and each line is a message the client decodes */
        for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                ControlMessage m;
                _cleanup_free_ char *error = NULL;
                assert_int_equal(control_message_parse(line, (size_t) (nl - line), &m, &error), 0);
                assert_true(m.is_event);
                control_message_done(&m);
        }
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_requests),
                cmocka_unit_test_setup(test_invalid_requests, reset_mismatches),
                cmocka_unit_test(test_format_round_trip),
                cmocka_unit_test_setup(test_messages, reset_mismatches),
                cmocka_unit_test_setup(test_writer_strings, reset_mismatches),
                cmocka_unit_test(test_writer_structure),
                cmocka_unit_test(test_news_events),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
