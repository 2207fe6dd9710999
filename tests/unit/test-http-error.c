/* SPDX-License-Identifier: MIT */
/*
 * http-error: the message a human sees for each kind of failed reply the two services (and the
 * storage behind their signed URLs) send, and URLs with their secrets cut out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "http-error.h"
#include "macro.h"

typedef struct Case {
        long status;
        const char *content_type, *fused_error, *fused_metadata, *body;
        const char *expected;
} Case;

static void test_messages(void **state) {
        static const Case cases[] = {
                /* Fused (FastAPI): validation errors */
                { 422, "application/json", NULL, NULL,
                  "{\"detail\":[{\"loc\":[\"body\",\"config\",\"steps\",0],\"msg\":\"field required\","
                  "\"type\":\"value_error.missing\"},{\"loc\":[\"query\",\"region\"],\"msg\":\"bad "
                  "region\"}]}",
                  "HTTP 422: body.config.steps.0: field required; query.region: bad region" },
                { 404, "application/json", NULL, NULL, "{\"detail\":\"Job not found\"}",
                  "HTTP 404: Job not found" },
                { 400, "application/json", NULL, NULL, "{\"message\":\"instance_type is invalid\"}",
                  "HTTP 400: instance_type is invalid" },
                /* Fused realtime: the platform's header, and a UDF that raised */
                { 500, "text/plain", "UDF execution timed out", NULL, "ignored",
                  "HTTP 500: UDF execution timed out" },
                { 500, "application/json", NULL,
                  "{\"stdout\":\"\",\"stderr\":\"Traceback...\",\"has_exception\":true,"
                  "\"errormsg\":\"ZeroDivisionError: division by zero\",\"lineno\":7,"
                  "\"exception\":\"ZeroDivisionError('division by zero')\"}",
                  "{}", "HTTP 500: ZeroDivisionError: division by zero (line 7)" },
                { 500, NULL, NULL, "{\"has_exception\":true,\"exception\":\"KeyError('x')\"}", NULL,
                  "HTTP 500: KeyError('x')" },
                /* the metadata header of a successful UDF explains nothing: the body does */
                { 502, "application/json", NULL, "{\"stdout\":\"hi\",\"has_exception\":false}",
                  "{\"message\":\"upstream died\"}", "HTTP 502: upstream died" },
                /* Fusion RESTError, with and without details; RESTValidationError */
                { 404, "application/json", NULL, NULL,
                  "{\"type\":\"RESTError\",\"httpStatusCode\":404,\"httpStatusMessage\":\"Not Found\","
                  "\"message\":\"No spark job config with id 'nightly'\",\"details\":\"check the id\","
                  "\"stackTrace\":[]}",
                  "HTTP 404: No spark job config with id 'nightly': check the id" },
                { 409, "application/json;charset=UTF-8", NULL, NULL,
                  "{\"httpStatusCode\":409,\"httpStatusMessage\":\"Conflict\"}", "HTTP 409: Conflict" },
                { 400, "application/json", NULL, NULL,
                  "{\"type\":\"RESTValidationError\",\"message\":\"Invalid config\","
                  "\"validationErrors\":[{\"field\":\"id\",\"value\":\"a_b\",\"error\":\"must not contain "
                  "_\"}]}",
                  "HTTP 400: Invalid config: id: must not contain _" },
                /* the Fusion 5 gateway, OAuth and Google-style errors */
                { 401, "application/json", NULL, NULL,
                  "{\"service\":\"proxy\",\"error\":\"unauthorized\",\"path\":\"/api/spark/jobs\"}",
                  "HTTP 401: unauthorized" },
                { 400, "application/json", NULL, NULL,
                  "{\"error\":\"invalid_grant\",\"error_description\":\"Unknown or invalid refresh "
                  "token.\"}",
                  "HTTP 400: Unknown or invalid refresh token." },
                { 403, "application/json", NULL, NULL,
                  "{\"error\":{\"code\":403,\"message\":\"Access denied.\",\"errors\":[]}}",
                  "HTTP 403: Access denied." },
                /* RFC 9457 problem details */
                { 403, "application/problem+json", NULL, NULL,
                  "{\"title\":\"Forbidden\",\"detail\":\"quota exhausted\"}",
                  "HTTP 403: Forbidden: quota exhausted" },
                /* a JSON string; a JSON body without a known field is shown whole, blanks collapsed */
                { 400, "application/json", NULL, NULL, "\"bad token\"", "HTTP 400: bad token" },
                { 418, "application/json", NULL, NULL, "{ \"code\" : 7,\n  \"why\": \"teapot\" }",
                  "HTTP 418: { \"code\" : 7, \"why\": \"teapot\" }" },
                { 500, "application/json", NULL, NULL, "[1,2]", "HTTP 500 Internal Server Error" },
                /* S3 / GCS behind signed URLs */
                { 403, "application/xml", NULL, NULL,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                  "<Message>Request has expired</Message><RequestId>X</RequestId></Error>",
                  "HTTP 403: AccessDenied: Request has expired" },
                { 400, NULL, NULL, NULL, "<Error><Code>ExpiredToken</Code></Error>",
                  "HTTP 400: ExpiredToken" },
                /* text: whole, one line; HTML error pages and binary bodies say nothing the status does not
                 */
                { 503, "text/plain; charset=utf-8", NULL, NULL, "Service is\r\nrestarting\n\n",
                  "HTTP 503: Service is restarting" },
                { 502, "text/html", NULL, NULL, "<html><head><title>502 Bad Gateway</title></head></html>",
                  "HTTP 502 Bad Gateway" },
                { 502, NULL, NULL, NULL, "<!DOCTYPE html><html>...</html>", "HTTP 502 Bad Gateway" },
                { 500, "application/octet-stream", NULL, NULL, "PAR1\x01\x02",
                  "HTTP 500 Internal Server Error" },
                /* a "JSON" reply that is not JSON is read as text */
                { 500, "application/json", NULL, NULL, "Internal error, sorry",
                  "HTTP 500: Internal error, sorry" },
                /* nothing at all */
                { 404, NULL, NULL, NULL, NULL, "HTTP 404 Not Found" },
                { 404, "application/json", NULL, NULL, "", "HTTP 404 Not Found" },
                { 404, "application/json", NULL, NULL, "{\"message\":\"   \"}", "HTTP 404 Not Found" },
                { 499, NULL, NULL, NULL, "  \n ", "HTTP 499" },
                /* control characters become blanks; invalid UTF-8 a '?'; valid UTF-8 stays */
                { 400, "text/plain", NULL, NULL, "a\tb\x01\x1b[31mc\x7f\xff\xc3(d Zürich €",
                  "HTTP 400: a b [31mc ?"
                  "?(d Zürich €" },
                { 400, NULL, "line one\nline two", NULL, NULL, "HTTP 400: line one line two" },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                HttpErrorReply r = { .status = c->status,
                                     .content_type = c->content_type,
                                     .fused_error = c->fused_error,
                                     .fused_metadata = c->fused_metadata,
                                     .body = c->body,
                                     .body_size = c->body ? strlen(c->body) : 0 };
                char *m = NULL;
                assert_int_equal(http_error_message(&r, &m), 0);
                if (strcmp(m, c->expected) != 0)
                        fail_msg("case %zu: got '%s', expected '%s'", i, m, c->expected);
                free(m);
        }
}

/* A body is not a C string: bytes past body_size are never read, and NULs inside do not end it. */
static void test_body_bounds(void **state) {
        char body[] = "{\"message\":\"cut here\"}XXXX";
        char *m = NULL;
        (void) state;

        HttpErrorReply r = { .status = 400,
                             .content_type = "application/json",
                             .body = body,
                             .body_size = strlen(body) - 4 };
        assert_int_equal(http_error_message(&r, &m), 0);
        assert_string_equal(m, "HTTP 400: cut here");
        free(m);

        char text[] = { 'a', 'b', 0, 'c' };
        r = (HttpErrorReply){ .status = 400, .content_type = "text/plain", .body = text, .body_size = 4 };
        assert_int_equal(http_error_message(&r, &m), 0);
        assert_string_equal(m, "HTTP 400 Bad Request"); /* binary: not shown */
        free(m);
}

static void test_long_message(void **state) {
        size_t n = 10000;
        char *body = malloc(n + 1), *m = NULL;
        (void) state;

        assert_non_null(body);
        for (size_t i = 0; i < n; i++) /* 'é' repeated: truncation must not split a character */
                body[i] = i % 2 == 0 ? '\xc3' : '\xa9';
        body[n] = '\0';
        HttpErrorReply r = { .status = 500, .content_type = "text/plain", .body = body, .body_size = n };
        assert_int_equal(http_error_message(&r, &m), 0);
        size_t len = strlen(m);
        assert_true(len <= strlen("HTTP 500: ") + HTTP_MESSAGE_MAX + strlen("…"));
        assert_true(len > strlen("HTTP 500: ") + HTTP_MESSAGE_MAX - 4);
        assert_string_equal(m + len - strlen("é…"), "é…");
        free(m);
        free(body);
}

static void test_status_reason(void **state) {
        (void) state;
        assert_string_equal(http_status_reason(404), "Not Found");
        assert_string_equal(http_status_reason(429), "Too Many Requests");
        assert_null(http_status_reason(299));
}

/* An error object inside a reply (a Fusion run's result.exception): the same line, without "HTTP ...". */
static void test_json_message(void **state) {
        cJSON *j = cJSON_Parse("{\"type\":\"JobExecutionError\",\"httpStatusCode\":500,\"message\":\"boom\","
                               "\"details\":\"in stage\\n3\",\"job\":{\"id\":\"x\"}}");
        char *m = NULL;
        (void) state;

        assert_int_equal(http_error_json_message(j, &m), 0);
        assert_string_equal(m, "boom: in stage 3");
        free(m);
        cJSON_Delete(j);
        j = cJSON_Parse("{\"jobRunId\":\"x\"}");
        assert_int_equal(http_error_json_message(j, &m), -ENOENT);
        cJSON_Delete(j);
        assert_int_equal(http_error_json_message(NULL, &m), -ENOENT);
}

static void test_url_redact(void **state) {
        static const char *const cases[][2] = {
                { "https://www.fused.io/server/v1/run", "https://www.fused.io/server/v1/run" },
                { "https://user:secret@host:8764/api/jobs", "https://host:8764/api/jobs" },
                { "https://token@host/x", "https://host/x" },
                { "https://h/p?fused_session_token=abc&x=1", "https://h/p?[redacted]" },
                { "https://bucket.s3.amazonaws.com/0.parquet?X-Amz-Signature=abc#f",
                  "https://bucket.s3.amazonaws.com/0.parquet?[redacted]" },
                { "https://h#frag", "https://h?[redacted]" },
                { "http://a@b@c/d", "http://c/d" },
                { "https://h/p@q", "https://h/p@q" }, /* an @ in the path is no user info */
                { "https://h?q=a://b", "https://h?[redacted]" },
                { "/relative/path?apiKey=1", "/relative/path?[redacted]" },
                { "", "" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *r = http_url_redact(cases[i][0]);
                assert_non_null(r);
                if (strcmp(r, cases[i][1]) != 0)
                        fail_msg("'%s': got '%s', expected '%s'", cases[i][0], r, cases[i][1]);
                free(r);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_messages),     cmocka_unit_test(test_body_bounds),
                cmocka_unit_test(test_long_message), cmocka_unit_test(test_status_reason),
                cmocka_unit_test(test_url_redact),   cmocka_unit_test(test_json_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
