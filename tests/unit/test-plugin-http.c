/* SPDX-License-Identifier: MIT */
/*
 * The host's HTTP service (ABI 1.1) as a plugin sees it: the test plugin
 * storage-fetch (tests/unit/plugins/fetch.c) turns storage operations into
 * HTTP requests through host->http_submit against a real loopback server.
 * Requests carry their method, body, headers and credentials (Bearer, Basic,
 * AWS SigV4); replies come back once, from the loop, with the error, status,
 * message, headers and body; per-request bounds and no_retry apply; the
 * config's `http` settings apply; a cancelled request never calls back, not
 * even when it is cancelled from inside its own `done`; requests a plugin
 * leaves behind are cancelled when it goes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../support/http-server.h"
#include "../support/plugin-harness.h"
#include "json-util.h"
#include "plugins/fetch.h"
#include "storage.h"

#define SECRET "s3cr3t-v4lue"
/* sha256("") in hex: what a SigV4 request without a body declares as its payload's hash */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---------------------------------------------------------------- the server */

static TestHttpServer *server;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char *seen; /* what the server saw of the last request to /echo, as JSON */

static bool route(const TestHttpRequest *r, const char *path) {
        size_t n = strlen(path);
        return strncmp(r->target, path, n) == 0 && (r->target[n] == '\0' || r->target[n] == '?');
}

static void respond(TestHttpConn *conn, int status, const char *content_type, const char *body) {
        char headers[256];
        snprintf(headers, sizeof headers, "Content-Type: %s\r\nX-Test: one\r\nX-Test: two\r\n",
                 content_type);
        test_http_respond(conn, status, headers, body, strlen(body));
}

static void handle(void *userdata, const TestHttpRequest *r, TestHttpConn *conn) {
        static const char *const names[] = { "Authorization", "X-Amz-Date", "x-amz-content-sha256",
                                             "X-Extra", "Content-Type" };
        char value[1024];
        (void) userdata;

        if (route(r, "/echo")) {
                _cleanup_(json_freep) cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "method", r->method);
                cJSON_AddStringToObject(j, "target", r->target);
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (test_http_header(r, names[i], value, sizeof value))
                                cJSON_AddStringToObject(j, names[i], value);
                cJSON_AddNumberToObject(j, "body_size", (double) r->body_size);
                cJSON_AddStringToObject(j, "body", r->body_size < 1024 ? r->body : "(large)");
                /* SigV4: every header the signature covers must have been sent, or no server can verify it
                 */
                const char *signed_headers = test_http_header(r, "Authorization", value, sizeof value)
                                                     ? strstr(value, "SignedHeaders=")
                                                     : NULL;
                if (signed_headers) {
                        char signed_names[512], seen_value[256];
                        snprintf(signed_names, sizeof signed_names, "%.*s",
                                 (int) strcspn(signed_headers + 14, ","), signed_headers + 14);
                        cJSON *unsent = cJSON_AddArrayToObject(j, "signed_but_not_sent");
                        for (char *save = NULL, *name = strtok_r(signed_names, ";", &save); name;
                             name = strtok_r(NULL, ";", &save))
                                if (!test_http_header(r, name, seen_value, sizeof seen_value))
                                        cJSON_AddItemToArray(unsent, cJSON_CreateString(name));
                }
                char *text = cJSON_PrintUnformatted(j);
                pthread_mutex_lock(&seen_lock);
                free(seen);
                seen = strdup(text);
                pthread_mutex_unlock(&seen_lock);
                respond(conn, 200, "application/json", text);
                free(text);
        } else if (route(r, "/status")) {
                long code = test_http_query_long(r, "code", 500);
                if (code == 403)
                        respond(conn, 403, "application/xml",
                                "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                                "<Message>Access Denied</Message></Error>");
                else
                        respond(conn, (int) code, "application/json", "{\"message\":\"as you asked\"}");
        } else if (route(r, "/slow")) {
                if (test_http_sleep(conn, (unsigned) test_http_query_long(r, "ms", 1000)))
                        respond(conn, 200, "text/plain", "late");
        } else if (route(r, "/big")) {
                size_t size = (size_t) test_http_query_long(r, "size", 0);
                char *body = malloc(size);
                assert_non_null(body);
                memset(body, 'b', size);
                test_http_respond(conn, 200, NULL, body, size);
                free(body);
        } else
                respond(conn, 404, "application/json", "{\"message\":\"no route\"}");
}

/* The last /echo request, parsed (owned by the caller). */
static cJSON *seen_json(void) {
        pthread_mutex_lock(&seen_lock);
        cJSON *j = seen ? cJSON_Parse(seen) : NULL;
        pthread_mutex_unlock(&seen_lock);
        assert_non_null(j);
        return j;
}

static const char *json_str(const cJSON *j, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------- the plugin */

/* Applies a config with one storage-fetch instance of `options` (besides base). */
static void apply(Harness *h, const char *extra, const char *options) {
        _cleanup_free_ char *body = NULL;
        assert_true(asprintf(&body, "%s\nstorage = { fetch = { base = \"http://127.0.0.1:%u\"; %s }; };\n",
                             extra, test_http_server_port(server), options) > 0);
        assert_int_equal(harness_apply(h, body), 0);
}

static const struct fetch_probe *probe(Harness *h) {
        return plugin_instance_context(plugin_host_storage(h->host, "fetch"));
}

static void get(Harness *h, const char *url, Answer *a) {
        *a = (Answer){};
        assert_int_equal(storage_get(h->host, NULL, url, 1 << 20, answer_data, a, NULL), 0);
        harness_wait(h, &a->called);
}

static int group_setup(void **state) {
        (void) state;
        return test_http_server_start(handle, NULL, &server) < 0 ? -1 : 0;
}

static int group_teardown(void **state) {
        (void) state;
        test_http_server_stop(server);
        free(seen);
        return 0;
}

static int setup(void **state) {
        *state = harness_new();
        return 0;
}

static int teardown(void **state) {
        Harness *h = *state;
        harness_settle(h);
        assert_int_equal(http_client_transfers(plugin_host_http(h->host)), 0);
        harness_free(h);
        return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_requests_and_replies(void **state) {
        Harness *h = *state;
        Answer a;
        cJSON *j;

        apply(h, "",
              "auth = \"bearer\"; secret = \"" SECRET "\"; headers = [ \"X-Extra: 1\" ]; "
              "reply_header = \"X-Test\";");

        get(h, "fetch:///echo?q=1", &a);
        assert_int_equal(a.error, 0);
        assert_int_equal(probe(h)->replies, 1);
        assert_int_equal(probe(h)->status, 200);
        assert_int_equal(probe(h)->attempts, 1);
        assert_string_equal(probe(h)->message, "");   /* none on success */
        assert_string_equal(probe(h)->header, "two"); /* the last of a repeated header */
        assert_string_equal(probe(h)->content_type, "application/json");
        j = cJSON_Parse(a.text); /* the body, as the plugin received it */
        assert_string_equal(json_str(j, "method"), "GET");
        assert_string_equal(json_str(j, "target"), "/echo?q=1");
        assert_string_equal(json_str(j, "Authorization"), "Bearer " SECRET);
        assert_string_equal(json_str(j, "X-Extra"), "1");
        json_free(j);

        a = (Answer){};
        assert_int_equal(storage_put(h->host, NULL, "fetch:///echo", "payload", 7, "text/plain", answer_done,
                                     &a, NULL),
                         0);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, 0);
        j = seen_json();
        assert_string_equal(json_str(j, "method"), "PUT");
        assert_string_equal(json_str(j, "Content-Type"), "text/plain");
        assert_string_equal(json_str(j, "body"), "payload");
        json_free(j);

        a = (Answer){};
        assert_int_equal(storage_remove(h->host, NULL, "fetch:///echo", answer_done, &a, NULL), 0);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, 0);
        j = seen_json();
        assert_string_equal(json_str(j, "method"), "DELETE");
        json_free(j);

        /* Basic */
        apply(h, "", "auth = \"basic\"; user = \"admin\"; secret = \"" SECRET "\";");
        get(h, "fetch:///echo", &a);
        j = cJSON_Parse(a.text);
        assert_string_equal(json_str(j, "Authorization"),
                            "Basic YWRtaW46czNjcjN0LXY0bHVl"); /* admin:s3cr3t-v4lue */
        json_free(j);

        /* a request the client refuses: at once, and no callback */
        a = (Answer){};
        apply(h, "", "headers = [ \"no colon\" ];");
        assert_int_equal(storage_get(h->host, NULL, "fetch:///echo", 100, answer_data, &a, NULL), -EINVAL);
        harness_settle(h);
        assert_false(a.called);
}

static void test_sigv4(void **state) {
        Harness *h = *state;
        Answer a;

        apply(h, "",
              "auth = \"sigv4\"; user = \"AKIDEXAMPLE\"; secret = \"" SECRET "\"; "
              "provider = \"aws:amz:us-east-1:s3\"; headers = [ \"x-amz-content-sha256: " EMPTY_SHA256
              "\" ];");
        get(h, "fetch:///echo", &a);
        assert_int_equal(a.error, 0);

        cJSON *j = cJSON_Parse(a.text);
        const char *auth = json_str(j, "Authorization"), *date = json_str(j, "X-Amz-Date");
        char day[9], signed_headers[256], signature[65];
        assert_non_null(auth);
        assert_non_null(date);
        assert_int_equal(strlen(date), 16); /* 20261122T174140Z */
        assert_int_equal(sscanf(auth,
                                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%8[0-9]/us-east-1/s3/aws4_request, "
                                "SignedHeaders=%255[^,], Signature=%64[0-9a-f]",
                                day, signed_headers, signature),
                         3);
        assert_memory_equal(day, date, 8);
        assert_int_equal(strlen(signature), 64);
        /* the payload's hash is signed with the request, and so is the host it goes to */
        assert_non_null(strstr(signed_headers, "host"));
        assert_non_null(strstr(signed_headers, "x-amz-content-sha256"));
        assert_non_null(strstr(signed_headers, "x-amz-date"));
        assert_string_equal(json_str(j, "x-amz-content-sha256"), EMPTY_SHA256);
        assert_null(strstr(a.text, SECRET)); /* the secret signs; it is never sent */
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "signed_but_not_sent")), 0);
        json_free(j);

        /* a body large enough for curl's "Expect: 100-continue": signed all the same, and not held up */
        size_t size = 2 * 1024 * 1024;
        char *body = malloc(size);
        assert_non_null(body);
        memset(body, 'x', size);
        a = (Answer){};
        assert_int_equal(storage_put(h->host, NULL, "fetch:///echo", body, size, "application/x-test",
                                     answer_done, &a, NULL),
                         0);
        free(body);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, 0);
        j = seen_json();
        assert_string_equal(json_str(j, "method"), "PUT");
        assert_int_equal(cJSON_GetObjectItem(j, "body_size")->valuedouble, size);
        assert_string_equal(json_str(j, "Content-Type"), "application/x-test");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "signed_but_not_sent")), 0);
        json_free(j);

        /* a provider string libcurl could misread is refused */
        apply(h, "", "auth = \"sigv4\"; user = \"a\"; secret = \"b\"; provider = \"aws:amz:us east:s3\";");
        assert_int_equal(storage_get(h->host, NULL, "fetch:///echo", 100, answer_data, &a, NULL), -EINVAL);
}

static void test_errors(void **state) {
        Harness *h = *state;
        Answer a;

        apply(h, "", "");
        get(h, "fetch:///status?code=404", &a);
        assert_int_equal(a.error, -ENOENT);
        assert_int_equal(probe(h)->status, 404);
        assert_string_equal(probe(h)->message, "HTTP 404: as you asked");

        get(h, "fetch:///status?code=403", &a); /* S3's XML error */
        assert_int_equal(a.error, -EACCES);
        assert_string_equal(probe(h)->message, "HTTP 403: AccessDenied: Access Denied");

        get(h, "fetch:///status?code=409", &a);
        assert_int_equal(a.error, -EREMOTEIO);

        /* retried with the config's backoff, or not at all */
        apply(h, "http = { retries = 1; };", "");
        get(h, "fetch:///status?code=503", &a);
        assert_int_equal(a.error, -EAGAIN);
        assert_int_equal(probe(h)->attempts, 2);
        apply(h, "http = { retries = 1; };", "no_retry = true;");
        get(h, "fetch:///status?code=503", &a);
        assert_int_equal(a.error, -EAGAIN);
        assert_int_equal(probe(h)->attempts, 1);

        /* a reply larger than the request's bound, or than the config's */
        apply(h, "", "max_reply_size = 1000;");
        get(h, "fetch:///big?size=1000", &a);
        assert_int_equal(a.error, 0);
        assert_int_equal(strlen(a.text), 1000);
        get(h, "fetch:///big?size=1001", &a);
        assert_int_equal(a.error, -EFBIG);
        assert_int_equal(probe(h)->status, 0);
        assert_non_null(strstr(probe(h)->message, "larger than max_reply_size"));
        apply(h, "http = { max_reply_size = \"1K\"; };", "");
        get(h, "fetch:///big?size=1025", &a);
        assert_int_equal(a.error, -EFBIG);

        /* the request's own timeout */
        apply(h, "", "timeout = \"1s\"; no_retry = true;");
        get(h, "fetch:///slow?ms=3000", &a);
        assert_int_equal(a.error, -ETIMEDOUT);
}

static void test_connection_refused(void **state) {
        Harness *h = *state;
        Answer a;

        /* port 1 on loopback: nothing listens there */
        assert_int_equal(
                harness_apply(
                        h, "storage = { fetch = { base = \"http://127.0.0.1:1\"; no_retry = true; }; };\n"),
                0);
        get(h, "fetch:///x", &a);
        assert_int_equal(a.error, -ECONNREFUSED);
        assert_non_null(strstr(probe(h)->message, "Failed to connect"));
}

static void test_cancel(void **state) {
        Harness *h = *state;
        Answer a = {};

        /* cancelled while the server still thinks: `done` never comes */
        apply(h, "", "");
        assert_int_equal(
                storage_remove(h->host, NULL, "fetch:///slow?ms=1000&cancel", answer_done, &a, NULL), 0);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, -ECANCELED);
        assert_int_equal(http_client_transfers(plugin_host_http(h->host)), 0);
        assert_int_equal(probe(h)->replies, 0);

        /* cancelled from inside its own `done`: harmless */
        a = (Answer){};
        assert_int_equal(storage_sign(h->host, NULL, "fetch:///echo", 1, answer_text, &a, NULL), 0);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.text, "cancelled inside");
        assert_int_equal(probe(h)->replies, 1);
}

static void test_leftover_requests_are_cancelled(void **state) {
        Harness *h = *state;
        Answer a = {};

        /* the plugin forgets its request at destroy(): the host cancels it (ASan sees any late call) */
        apply(h, "", "leak = true;");
        assert_int_equal(storage_get(h->host, NULL, "fetch:///slow?ms=2000", 100, answer_data, &a, NULL), 0);
        harness_settle(h);
        assert_int_equal(http_client_transfers(plugin_host_http(h->host)), 1);
        h->host = plugin_host_free(h->host);
        assert_false(a.called);
        assert_int_equal(plugin_host_new(h->event, h->journal, &h->host), 0);
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_requests_and_replies), T(test_sigv4),  T(test_errors),
                T(test_connection_refused),   T(test_cancel), T(test_leftover_requests_are_cancelled),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
