/* SPDX-License-Identifier: MIT */
/*
 * http: the client on a real sd-event loop against two real loopback servers (tests/support/
 * http-server), A and B, on different ports. Every wait is bounded, so a bug fails a test instead of
 * hanging the suite; every test ends with no transfer left in the client. Delays are kept small (10 ms
 * backoffs, 1-2 s Retry-After) so the whole file runs in a few seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../support/http-server.h"
#include "http.h"
#include "json-util.h"
#include "macro.h"

#define USEC_PER_MSEC  UINT64_C(1000)
#define USEC_PER_SEC   UINT64_C(1000000)
#define RUN_BOUND_USEC (8 * USEC_PER_SEC)
#define N_KEYS         64
#define SECRET         "s3cr3t-t0ken"

extern char **environ;

/* ---------------------------------------------------------------- the servers */

typedef struct Server {
        const char *name; /* "A" or "B", in every /echo reply */
        TestHttpServer *http;
        atomic_int hits[N_KEYS];   /* per ?key=: requests seen, for the stateful routes */
        atomic_bool drip_ended;    /* /drip noticed its client was gone */
        atomic_ullong stream_sent; /* bytes /stream wrote before its client went away */
} Server;

static Server servers[2] = { { .name = "A" }, { .name = "B" } };
static atomic_int next_key = 1;

static int new_key(void) {
        int k = atomic_fetch_add(&next_key, 1);
        assert_true(k < N_KEYS);
        return k;
}

static bool route(const TestHttpRequest *r, const char *path) {
        size_t n = strlen(path);
        return strncmp(r->target, path, n) == 0 && (r->target[n] == '\0' || r->target[n] == '?');
}

static void respond_json(TestHttpConn *conn, int status, const char *extra, const char *json) {
        char headers[512];
        snprintf(headers, sizeof headers, "Content-Type: application/json\r\n%s", extra ?: "");
        test_http_respond(conn, status, headers, json, strlen(json));
}

/* What the server saw: method, target, the credential-bearing headers, the body. */
static void respond_echo(Server *s, const TestHttpRequest *r, TestHttpConn *conn) {
        static const char *const names[] = { "Authorization", "x-api-key", "Cookie", "Content-Type",
                                             "X-Trace" };
        _cleanup_(json_freep) cJSON *j = cJSON_CreateObject();
        char value[1024];

        cJSON_AddStringToObject(j, "server", s->name);
        cJSON_AddStringToObject(j, "method", r->method);
        cJSON_AddStringToObject(j, "target", r->target);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (test_http_header(r, names[i], value, sizeof value))
                        cJSON_AddStringToObject(j, names[i], value);
        cJSON_AddStringToObject(j, "body", r->body);
        _cleanup_free_ char *text = cJSON_PrintUnformatted(j);
        respond_json(conn, 200, NULL, text);
}

static void handle(void *userdata, const TestHttpRequest *r, TestHttpConn *conn) {
        Server *s = userdata;
        long key = test_http_query_long(r, "key", 0);
        int hit = key > 0 && key < N_KEYS ? atomic_fetch_add(&s->hits[key], 1) + 1 : 0;
        char headers[512];

        if (route(r, "/json"))
                respond_json(conn, 200, "X-Test: one\r\nX-Test: two\r\n", "{\"ok\":true,\"n\":42}");
        else if (route(r, "/echo"))
                respond_echo(s, r, conn);
        else if (route(r, "/status")) {
                int code = (int) test_http_query_long(r, "code", 500);
                if (code == 422)
                        respond_json(
                                conn, 422, NULL,
                                "{\"detail\":[{\"loc\":[\"body\",\"name\"],\"msg\":\"field required\"}]}");
                else
                        respond_json(conn, code, "x-fused-error: no such UDF\r\n", "{}");
        } else if (route(r, "/flaky")) {
                if (hit <= test_http_query_long(r, "fail", 0))
                        respond_json(conn, 503, NULL, "{\"message\":\"warming up\"}");
                else
                        respond_json(conn, 200, NULL, "{\"ok\":true}");
        } else if (route(r, "/ratelimit")) {
                snprintf(headers, sizeof headers, "Retry-After: %ld\r\n",
                         test_http_query_long(r, "after", 1));
                if (hit == 1)
                        respond_json(conn, 429, headers, "{\"message\":\"slow down\"}");
                else
                        respond_json(conn, 200, NULL, "{\"ok\":true}");
        } else if (route(r, "/ratelimit-date")) {
                time_t at = time(NULL) + test_http_query_long(r, "in", 2);
                strftime(headers, sizeof headers, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", gmtime(&at));
                if (hit == 1)
                        respond_json(conn, 503, headers, "{\"message\":\"maintenance\"}");
                else
                        respond_json(conn, 200, NULL, "{\"ok\":true}");
        } else if (route(r, "/reset"))
                test_http_reset(conn);
        else if (route(r, "/slow")) {
                if (test_http_sleep(conn, (unsigned) test_http_query_long(r, "ms", 1000)))
                        respond_json(conn, 200, NULL, "{\"ok\":true}");
        } else if (route(r, "/drip")) {
                /* promises a megabyte, sends 20 bytes a second */
                const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
                bool alive = test_http_write(conn, head, strlen(head));
                while (alive && test_http_sleep(conn, 50))
                        alive = test_http_write(conn, "x", 1);
                atomic_store(&s->drip_ended, !alive);
                conn->close = true;
        } else if (route(r, "/big")) {
                size_t size = (size_t) test_http_query_long(r, "size", 0);
                char *body = malloc(size);
                assert_non_null(body);
                memset(body, 'b', size);
                test_http_respond(conn, 200, NULL, body, size);
                free(body);
        } else if (route(r, "/stream")) {
                /* no length: the body ends when the connection does, which is never */
                static char chunk[65536];
                const char *head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                unsigned long long sent = 0;
                bool alive = test_http_write(conn, head, strlen(head));
                while (alive && sent < 1024ULL * 1024 * 1024 &&
                       (alive = test_http_write(conn, chunk, sizeof chunk)))
                        sent += sizeof chunk;
                atomic_store(&s->stream_sent, sent);
                conn->close = true;
        } else if (route(r, "/redirect")) {
                const char *to = strstr(r->target, "to=");
                snprintf(headers, sizeof headers, "Location: %s\r\n", to ? to + 3 : "/");
                respond_json(conn, (int) test_http_query_long(r, "status", 302), to ? headers : NULL, "{}");
        } else if (route(r, "/loop"))
                respond_json(conn, 302, "Location: /loop\r\n", "{}");
        else if (route(r, "/login"))
                respond_json(conn, 201, "Set-Cookie: id=session42; Path=/; HttpOnly\r\n", "");
        else
                respond_json(conn, 404, NULL, "{\"message\":\"no route\"}");
}

/* ---------------------------------------------------------------- the fixture */

typedef struct Fixture {
        sd_event *event;
        HttpClient *client;
        HttpSettings settings;
        char a[64], b[64]; /* "http://127.0.0.1:PORT" */
} Fixture;

/* One request's end, copied out of the callback. */
typedef struct Result {
        bool done;
        HttpTransfer *transfer; /* freed inside the callback, as the header allows */
        HttpOutcome outcome;
        long status;
        int error;
        char *message, *body, *content_type, *x_test;
        size_t body_size;
        unsigned attempts;
        uint64_t retry_after_usec, submitted, ended;
} Result;

static uint64_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static void on_done(void *userdata, const HttpReply *reply) {
        Result *r = userdata;

        assert_false(r->done);
        assert_int_equal(reply->body[reply->body_size], '\0');
        assert_true((reply->outcome == HTTP_OK) == !reply->message);
        r->done = true;
        r->ended = now_mono();
        r->outcome = reply->outcome;
        r->status = reply->status;
        r->error = reply->error;
        r->message = strdup_or_null(reply->message);
        r->body = malloc(reply->body_size + 1);
        assert_non_null(r->body);
        memcpy(r->body, reply->body, reply->body_size + 1);
        r->body_size = reply->body_size;
        r->content_type = strdup_or_null(reply->content_type);
        r->x_test = strdup_or_null(http_reply_header(reply, "X-Test"));
        r->attempts = reply->attempts;
        r->retry_after_usec = reply->retry_after_usec;
        r->transfer = http_transfer_free(r->transfer);
}

static void result_done(Result *r) {
        free(r->message);
        free(r->body);
        free(r->content_type);
        free(r->x_test);
        *r = (Result){};
}

static void run_until(Fixture *f, const bool *flag) {
        uint64_t deadline = now_mono() + RUN_BOUND_USEC;
        while (!*flag) {
                assert_true(now_mono() < deadline);
                assert_true(sd_event_run(f->event, 100 * USEC_PER_MSEC) >= 0);
        }
}

/* Runs the loop for `usec`, whatever happens. */
static void run_for(Fixture *f, uint64_t usec) {
        uint64_t end = now_mono() + usec;
        for (uint64_t now; (now = now_mono()) < end;)
                assert_true(sd_event_run(f->event, end - now) >= 0);
}

static void submit(Fixture *f, const HttpRequest *q, Result *r) {
        *r = (Result){ .submitted = now_mono() };
        assert_int_equal(http_submit(f->client, q, on_done, r, &r->transfer), 0);
        assert_false(r->done); /* never from inside http_submit() */
}

static void fetch(Fixture *f, const HttpRequest *q, Result *r) {
        submit(f, q, r);
        run_until(f, &r->done);
}

/* The request's URL on server A or B. */
static const char *url(Fixture *f, const char *server, const char *fmt, ...) {
        static char buf[4][512];
        static unsigned next;
        char *u = buf[next++ % 4], path[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(path, sizeof path, fmt, ap);
        va_end(ap);
        snprintf(u, sizeof buf[0], "%s%s", strcmp(server, "A") == 0 ? f->a : f->b, path);
        return u;
}

static cJSON *body_json(const Result *r) {
        cJSON *j = cJSON_ParseWithLength(r->body, r->body_size);
        assert_non_null(j);
        return j;
}

static const char *json_str(const cJSON *j, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int group_setup(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(servers); i++)
                if (test_http_server_start(handle, &servers[i], &servers[i].http) < 0)
                        return -1;
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(servers); i++)
                test_http_server_stop(servers[i].http);
        return 0;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->settings = HTTP_DEFAULT_SETTINGS;
        f->settings.connect_timeout_usec = 2 * USEC_PER_SEC;
        f->settings.timeout_usec = 5 * USEC_PER_SEC;
        f->settings.low_speed_time_usec = 0;
        f->settings.max_reply_size = 1024 * 1024;
        f->settings.retries = 3;
        f->settings.retry_backoff_usec = 10 * USEC_PER_MSEC;
        f->settings.retry_backoff_max_usec = 3 * USEC_PER_SEC;
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(http_client_new(f->event, &f->settings, &f->client), 0);
        snprintf(f->a, sizeof f->a, "http://127.0.0.1:%u", test_http_server_port(servers[0].http));
        snprintf(f->b, sizeof f->b, "http://127.0.0.1:%u", test_http_server_port(servers[1].http));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(http_client_transfers(f->client), 0);
        http_client_free(f->client);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

/* ---------------------------------------------------------------- replies */

static void test_json_200(void **state) {
        Fixture *f = *state;
        Result r;
        HttpReply fake;
        _cleanup_(json_freep) cJSON *j = NULL;

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/json") }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.error, 0);
        assert_null(r.message);
        assert_int_equal(r.attempts, 1);
        assert_string_equal(r.content_type, "application/json");
        assert_string_equal(r.x_test, "two"); /* the last of repeated headers */
        fake = (HttpReply){ .body = r.body, .body_size = r.body_size };
        assert_int_equal(http_reply_json(&fake, &j), 0);
        assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 42);
        fake.body_size = 3;
        assert_int_equal(http_reply_json(&fake, &(cJSON *){ NULL }), -EBADMSG);
        result_done(&r);
}

static void test_methods_and_bodies(void **state) {
        Fixture *f = *state;
        _cleanup_(json_freep) cJSON *payload = cJSON_Parse("{\"steps\":[1,2],\"name\":\"n\"}");
        Result r;

        fetch(f, &(HttpRequest){ .method = HTTP_POST, .url = url(f, "A", "/echo"), .json = payload }, &r);
        cJSON *j = body_json(&r);
        assert_string_equal(json_str(j, "method"), "POST");
        assert_string_equal(json_str(j, "Content-Type"), "application/json");
        assert_string_equal(json_str(j, "body"), "{\"steps\":[1,2],\"name\":\"n\"}");
        json_free(j);
        result_done(&r);

        fetch(f,
              &(HttpRequest){ .method = HTTP_PUT,
                              .url = url(f, "A", "/echo"),
                              .body = "a\0b",
                              .body_size = 3,
                              .content_type = "application/octet-stream" },
              &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_non_null(strstr(r.body, "\"method\":\"PUT\""));
        assert_non_null(strstr(r.body, "\"Content-Type\":\"application/octet-stream\""));
        result_done(&r);

        /* no body: no Content-Type either, not even curl's form default */
        fetch(f, &(HttpRequest){ .method = HTTP_POST, .url = url(f, "A", "/echo") }, &r);
        j = body_json(&r);
        assert_string_equal(json_str(j, "method"), "POST");
        assert_null(json_str(j, "Content-Type"));
        json_free(j);
        result_done(&r);

        fetch(f,
              &(HttpRequest){ .method = HTTP_DELETE,
                              .url = url(f, "A", "/echo"),
                              .headers = (const char *const[]){ "X-Trace: 7", NULL } },
              &r);
        j = body_json(&r);
        assert_string_equal(json_str(j, "method"), "DELETE");
        assert_string_equal(json_str(j, "X-Trace"), "7");
        json_free(j);
        result_done(&r);
}

static void test_4xx_fails_with_message(void **state) {
        Fixture *f = *state;
        Result r;

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/status?code=422") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.status, 422);
        assert_int_equal(r.attempts, 1); /* never retried */
        assert_string_equal(r.message, "HTTP 422: body.name: field required");
        assert_non_null(strstr(r.body, "field required")); /* the body is there for the caller too */
        result_done(&r);

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/status?code=404") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_string_equal(r.message, "HTTP 404: no such UDF");
        result_done(&r);
}

static void test_5xx_retried_until_success(void **state) {
        Fixture *f = *state;
        int key = new_key();
        Result r;

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/flaky?key=%d&fail=2", key) }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_int_equal(r.attempts, 3);
        assert_int_equal(atomic_load(&servers[0].hits[key]), 3);
        result_done(&r);
}

static void test_5xx_retries_exhausted(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        int key = new_key();
        Result r;

        s.retries = 2;
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/flaky?key=%d&fail=100", key), .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.status, 503);
        assert_int_equal(r.attempts, 3);
        assert_int_equal(atomic_load(&servers[0].hits[key]), 3);
        assert_string_equal(r.message, "HTTP 503: warming up (gave up after 3 attempts)");
        result_done(&r);
}

static void test_settings_replaced(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        int key = new_key();
        Result r;

        /* new defaults apply to requests submitted after, as on a reload */
        s.retries = 0;
        s.ca_file = "/nonexistent/ca.pem"; /* copied, not borrowed; unused over http */
        assert_int_equal(http_client_set_settings(f->client, &s), 0);
        s.ca_file = NULL;
        assert_string_equal(http_client_settings(f->client)->ca_file, "/nonexistent/ca.pem");
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/flaky?key=%d&fail=1", key) }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.attempts, 1);
        result_done(&r);
}

static void test_retry_after_seconds(void **state) {
        Fixture *f = *state;
        Result r;

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/ratelimit?key=%d&after=1", new_key()) }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_int_equal(r.attempts, 2);
        /* the backoff alone would have retried after 10 ms */
        assert_true(r.ended - r.submitted >= 1 * USEC_PER_SEC);
        assert_true(r.ended - r.submitted < 3 * USEC_PER_SEC);
        result_done(&r);
}

static void test_retry_after_date(void **state) {
        Fixture *f = *state;
        Result r;

        /* a date 2 s ahead at one-second resolution: more than 1 s from now, at most 2 s */
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/ratelimit-date?key=%d&in=2", new_key()) }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_int_equal(r.attempts, 2);
        assert_true(r.ended - r.submitted >= 1 * USEC_PER_SEC);
        assert_true(r.ended - r.submitted < 4 * USEC_PER_SEC);
        result_done(&r);
}

static void test_retry_after_beyond_cap(void **state) {
        Fixture *f = *state;
        Result r;

        /* waiting an hour is not this layer's call: RETRY now, with the server's wish */
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/ratelimit?key=%d&after=3600", new_key()) }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.status, 429);
        assert_int_equal(r.attempts, 1);
        assert_int_equal(r.retry_after_usec, 3600 * USEC_PER_SEC);
        assert_string_equal(r.message,
                            "HTTP 429: slow down (Retry-After: 3600s is beyond retry_backoff_max)");
        assert_true(r.ended - r.submitted < 1 * USEC_PER_SEC);
        result_done(&r);
}

/* ---------------------------------------------------------------- network failures and limits */

static void test_connection_reset(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        Result r;

        s.retries = 1;
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/reset"), .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.error, -ECONNRESET);
        assert_int_equal(r.attempts, 2);
        assert_non_null(strstr(r.message, "(gave up after 2 attempts)"));
        result_done(&r);
}

/* A loopback port that was free a moment ago. */
static unsigned free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static void test_connection_refused(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        char u[64];
        Result r;

        snprintf(u, sizeof u, "http://127.0.0.1:%u/json", free_port()); /* nobody listens there */

        s.retries = 0;
        fetch(f, &(HttpRequest){ .url = u, .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.error, -ECONNREFUSED);
        assert_int_equal(r.attempts, 1);
        result_done(&r);
}

static void test_timeout(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        Result r;

        s.retries = 0;
        s.timeout_usec = 200 * USEC_PER_MSEC;
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/slow?ms=3000"), .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.error, -ETIMEDOUT);
        assert_true(r.ended - r.submitted >= 200 * USEC_PER_MSEC);
        assert_true(r.ended - r.submitted < 1500 * USEC_PER_MSEC);
        result_done(&r);
}

static void test_low_speed(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        Result r;

        /* /drip sends 20 bytes a second: below 100 for a whole second ends it */
        s.retries = 0;
        s.low_speed_limit = 100;
        s.low_speed_time_usec = 1 * USEC_PER_SEC;
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/drip"), .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_RETRY);
        assert_int_equal(r.error, -ETIMEDOUT);
        assert_true(r.ended - r.submitted < 3 * USEC_PER_SEC);
        result_done(&r);
}

static void test_oversize_refused(void **state) {
        Fixture *f = *state;
        Result r;

        /* announced by Content-Length: refused before the body is read */
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/big?size=%d", 2 * 1024 * 1024) }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EFBIG);
        assert_int_equal(r.attempts, 1);
        assert_string_equal(r.message, "reply larger than max_reply_size (1048576 bytes), refused");
        result_done(&r);

        /* a body of unknown length that never ends: cut off as soon as it passes the bound */
        atomic_store(&servers[0].stream_sent, 0);
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/stream") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EFBIG);
        assert_true(r.body_size <= 1024 * 1024);
        assert_true(r.ended - r.submitted < 2 * USEC_PER_SEC);
        result_done(&r);

        /* exactly the bound is fine */
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/big?size=%d", 1024 * 1024) }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_int_equal(r.body_size, 1024 * 1024);
        result_done(&r);
}

/* A body taken over in `done`. */
typedef struct Taken {
        bool done;
        char *body;
        size_t size;
} Taken;

static void on_done_take(void *userdata, const HttpReply *reply) {
        Taken *t = userdata;
        t->done = true;
        t->size = reply->body_size;
        t->body = http_reply_take_body(reply);
        if (t->body) /* readable still: the caller holds it now */
                assert_ptr_equal(t->body, reply->body);
        assert_null(http_reply_take_body(reply)); /* once */
}

static void test_take_body(void **state) {
        Fixture *f = *state;
        Taken t = {};

        /* a large body of announced length (one buffer, its pages faulted in ahead), freed by its taker */
        assert_int_equal(http_submit(f->client,
                                     &(HttpRequest){ .url = url(f, "A", "/big?size=%d", 1024 * 1024) },
                                     on_done_take, &t, NULL),
                         0);
        run_until(f, &t.done);
        assert_int_equal(t.size, 1024 * 1024);
        assert_int_equal(t.body[0], 'b');
        assert_int_equal(t.body[t.size - 1], 'b');
        assert_int_equal(t.body[t.size], '\0');
        free(t.body);

        t = (Taken){};
        assert_int_equal(http_submit(f->client, &(HttpRequest){ .url = url(f, "A", "/big?size=0") },
                                     on_done_take, &t, NULL),
                         0);
        run_until(f, &t.done);
        assert_null(t.body); /* nothing to take */
}

/* ---------------------------------------------------------------- TLS */

static pid_t spawn(char *const argv[]) {
        posix_spawn_file_actions_t quiet;
        pid_t pid;

        posix_spawn_file_actions_init(&quiet);
        posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        assert_int_equal(posix_spawnp(&pid, argv[0], &quiet, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&quiet);
        return pid;
}

static int wait_exit(pid_t pid) {
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void wait_listening(unsigned port) {
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t) port) };
        uint64_t deadline = now_mono() + 5 * USEC_PER_SEC;
        for (;;) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
                assert_true(fd >= 0);
                r = connect(fd, (struct sockaddr *) &a, sizeof a);
                close(fd);
                if (r == 0)
                        return;
                assert_true(now_mono() < deadline);
                usleep(20000);
        }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path);
}

/* Serves HTTPS on argv[1] with cert argv[2] and key argv[3]: "/" answers 200, "/down" redirects to argv[4].
 */
static const char tls_server[] =
        "import http.server, ssl, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        down = self.path == '/down'\n"
        "        self.send_response(302 if down else 200)\n"
        "        if down: self.send_header('Location', sys.argv[4])\n"
        "        self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[2], sys.argv[3])\n"
        "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
        "s.serve_forever()\n";

/* A self-signed certificate is refused until ca_file names it; https is never followed to http. */
static void test_tls(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        char dir[] = "/tmp/test-http-XXXXXX", cert[64], key[64], port[16], u[64];
        unsigned p = free_port();
        Result r;

        assert_non_null(mkdtemp(dir));
        snprintf(cert, sizeof cert, "%s/cert.pem", dir);
        snprintf(key, sizeof key, "%s/key.pem", dir);
        snprintf(port, sizeof port, "%u", p);
        char *const req[] = { "openssl",
                              "req",
                              "-x509",
                              "-newkey",
                              "ec",
                              "-pkeyopt",
                              "ec_paramgen_curve:prime256v1",
                              "-nodes",
                              "-keyout",
                              key,
                              "-out",
                              cert,
                              "-days",
                              "1",
                              "-subj",
                              "/CN=udfcron-test",
                              "-addext",
                              "subjectAltName=IP:127.0.0.1",
                              NULL };
        assert_int_equal(wait_exit(spawn(req)), 0);
        char *const server[] = { "/usr/bin/python3",
                                 "-c",
                                 (char *) tls_server,
                                 port,
                                 cert,
                                 key,
                                 (char *) url(f, "B", "/echo"),
                                 NULL };
        pid_t pid = spawn(server);
        wait_listening(p);

        s.retries = 0;
        snprintf(u, sizeof u, "https://127.0.0.1:%u/", p);
        fetch(f, &(HttpRequest){ .url = u, .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EPERM);
        assert_non_null(strstr(r.message, "certificate"));
        result_done(&r);

        s.ca_file = cert;
        fetch(f, &(HttpRequest){ .url = u, .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        assert_string_equal(r.body, "ok");
        result_done(&r);

        snprintf(u, sizeof u, "https://127.0.0.1:%u/down", p);
        fetch(f, &(HttpRequest){ .url = u, .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EPROTO);
        assert_string_equal(r.message, "redirected from https to plain http, refused");
        result_done(&r);

        /* the certificate names 127.0.0.1 only */
        snprintf(u, sizeof u, "https://localhost:%u/", p);
        fetch(f, &(HttpRequest){ .url = u, .settings = &s }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EPERM);
        result_done(&r);

        assert_int_equal(kill(pid, SIGTERM), 0);
        (void) wait_exit(pid);
        nftw(dir, remove_entry, 4, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- redirects and credentials */

static const char *const api_key_header[] = { "x-api-key: " SECRET, NULL };

static void test_redirect_same_origin_keeps_credentials(void **state) {
        Fixture *f = *state;
        Result r;

        fetch(f,
              &(HttpRequest){ .url = url(f, "A", "/redirect?to=/echo"),
                              .auth = { .type = HTTP_AUTH_BEARER, .token = SECRET },
                              .headers = api_key_header },
              &r);
        assert_int_equal(r.outcome, HTTP_OK);
        cJSON *j = body_json(&r);
        assert_string_equal(json_str(j, "server"), "A");
        assert_string_equal(json_str(j, "target"), "/echo");
        assert_string_equal(json_str(j, "Authorization"), "Bearer " SECRET);
        assert_string_equal(json_str(j, "x-api-key"), SECRET);
        json_free(j);
        result_done(&r);
}

/* Every kind of credential, to `target` by way of A's redirect: none of them may arrive. */
static void assert_redirect_strips(Fixture *f, const char *target, const char *expected_server) {
        _cleanup_(http_cookie_jar_unrefp) HttpCookieJar *jar = NULL;
        const HttpAuth auths[] = {
                { .type = HTTP_AUTH_BEARER, .token = SECRET },
                { .type = HTTP_AUTH_BEARER, .scheme = "Fused-Env-Bearer", .token = SECRET },
                { .type = HTTP_AUTH_BASIC, .user = "admin", .password = SECRET },
                { .type = HTTP_AUTH_AWS_SIGV4,
                  .user = "AKID",
                  .password = SECRET,
                  .aws_sigv4 = "aws:amz:eu-west-1:s3" },
        };
        Result r;

        assert_int_equal(http_cookie_jar_new(&jar), 0);
        fetch(f, &(HttpRequest){ .method = HTTP_POST, .url = url(f, "A", "/login"), .cookies = jar }, &r);
        assert_int_equal(r.status, 201);
        result_done(&r);

        for (size_t i = 0; i < ELEMENTSOF(auths); i++) {
                fetch(f,
                      &(HttpRequest){
                              .url = url(f, "A", "/redirect?status=%d&to=%s", i == 0 ? 302 : 307, target),
                              .auth = auths[i],
                              .headers = api_key_header,
                              .cookies = jar },
                      &r);
                assert_int_equal(r.outcome, HTTP_OK);
                cJSON *j = body_json(&r);
                assert_string_equal(json_str(j, "server"), expected_server);
                assert_string_equal(json_str(j, "target"), "/echo");
                assert_null(json_str(j, "Authorization"));
                assert_null(json_str(j, "x-api-key"));
                assert_null(json_str(j, "Cookie"));
                assert_null(strstr(r.body, SECRET));
                json_free(j);
                result_done(&r);
        }
}

static void test_redirect_other_port_strips_credentials(void **state) {
        Fixture *f = *state;
        char target[128];
        snprintf(target, sizeof target, "%s/echo", f->b);
        assert_redirect_strips(f, target, "B");
}

static void test_redirect_other_host_name_strips_credentials(void **state) {
        Fixture *f = *state;
        char target[128];
        /* the same server by another name: a different origin all the same */
        snprintf(target, sizeof target, "http://localhost:%u/echo", test_http_server_port(servers[0].http));
        assert_redirect_strips(f, target, "A");
}

static void test_redirect_methods(void **state) {
        Fixture *f = *state;
        Result r;
        cJSON *j;

        /* 303 after a POST: a GET without the body */
        fetch(f,
              &(HttpRequest){ .method = HTTP_POST,
                              .url = url(f, "A", "/redirect?status=303&to=/echo"),
                              .body = "x=1",
                              .body_size = 3,
                              .content_type = "text/plain" },
              &r);
        j = body_json(&r);
        assert_string_equal(json_str(j, "method"), "GET");
        assert_string_equal(json_str(j, "body"), "");
        json_free(j);
        result_done(&r);

        /* 307 keeps both */
        fetch(f,
              &(HttpRequest){ .method = HTTP_POST,
                              .url = url(f, "A", "/redirect?status=307&to=/echo"),
                              .body = "x=1",
                              .body_size = 3,
                              .content_type = "text/plain" },
              &r);
        j = body_json(&r);
        assert_string_equal(json_str(j, "method"), "POST");
        assert_string_equal(json_str(j, "body"), "x=1");
        assert_string_equal(json_str(j, "Content-Type"), "text/plain");
        json_free(j);
        result_done(&r);
}

static void test_redirect_refusals(void **state) {
        Fixture *f = *state;
        Result r;

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/loop") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -ELOOP);
        result_done(&r);

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/redirect?to=file:///etc/passwd") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_int_equal(r.error, -EPROTONOSUPPORT);
        result_done(&r);

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/redirect?status=301") }, &r);
        assert_int_equal(r.outcome, HTTP_FAIL);
        assert_string_equal(r.message, "HTTP 301 without a Location to follow");
        result_done(&r);
}

static void test_cookies(void **state) {
        Fixture *f = *state;
        _cleanup_(http_cookie_jar_unrefp) HttpCookieJar *jar = NULL;
        Result r;
        cJSON *j;

        assert_int_equal(http_cookie_jar_new(&jar), 0);
        fetch(f, &(HttpRequest){ .method = HTTP_POST, .url = url(f, "A", "/login"), .cookies = jar }, &r);
        assert_int_equal(r.outcome, HTTP_OK);
        result_done(&r);

        fetch(f, &(HttpRequest){ .url = url(f, "A", "/echo"), .cookies = jar }, &r);
        j = body_json(&r);
        assert_string_equal(json_str(j, "Cookie"), "id=session42");
        json_free(j);
        result_done(&r);

        /* a request without the jar sends none */
        fetch(f, &(HttpRequest){ .url = url(f, "A", "/echo") }, &r);
        j = body_json(&r);
        assert_null(json_str(j, "Cookie"));
        json_free(j);
        result_done(&r);
}

/* ---------------------------------------------------------------- many, cancel, free */

typedef struct Counter {
        unsigned ok, other;
} Counter;

static void on_counted(void *userdata, const HttpReply *reply) {
        Counter *c = userdata;
        if (reply->outcome == HTTP_OK && strstr(reply->body, "\"n\":42"))
                c->ok++;
        else
                c->other++;
}

static void test_many_concurrent(void **state) {
        Fixture *f = *state;
        Counter c = {};
        unsigned before = test_http_server_connections(servers[0].http);

        /* 200 at once, the client owning each transfer; one loop, at most 16 connections */
        for (int i = 0; i < 200; i++)
                assert_int_equal(http_submit(f->client,
                                             &(HttpRequest){ .url = url(f, "A", "/json?i=%d", i) },
                                             on_counted, &c, NULL),
                                 0);
        assert_int_equal(http_client_transfers(f->client), 200);
        uint64_t deadline = now_mono() + RUN_BOUND_USEC;
        while (c.ok + c.other < 200) {
                assert_true(now_mono() < deadline);
                assert_true(sd_event_run(f->event, 100 * USEC_PER_MSEC) >= 0);
        }
        assert_int_equal(c.ok, 200);
        unsigned opened = test_http_server_connections(servers[0].http) - before;
        assert_true(opened >= 1 && opened <= 16);

        /* and one after another on a kept-alive connection */
        before = test_http_server_connections(servers[0].http);
        for (int i = 0; i < 5; i++) {
                Result r;
                fetch(f, &(HttpRequest){ .url = url(f, "A", "/json") }, &r);
                assert_int_equal(r.outcome, HTTP_OK);
                result_done(&r);
        }
        assert_true(test_http_server_connections(servers[0].http) - before <= 1);
}

static void test_line_beyond_multi(void **state) {
        Fixture *f = *state;
        Counter c = {}, cancelled = {};
        HttpTransfer *held[3] = {};
        enum { N = 700 }; /* beyond the 256 hops the multi handle holds: the rest wait in line */

        for (int i = 0; i < N; i++)
                assert_int_equal(http_submit(f->client,
                                             &(HttpRequest){ .url = url(f, "A", "/json?i=%d", i) },
                                             on_counted, &c, NULL),
                                 0);
        /* the last in line, held: freed while they wait, they never call back */
        for (size_t i = 0; i < ELEMENTSOF(held); i++)
                assert_int_equal(http_submit(f->client, &(HttpRequest){ .url = url(f, "A", "/json") },
                                             on_counted, &cancelled, &held[i]),
                                 0);
        assert_int_equal(http_client_transfers(f->client), N + ELEMENTSOF(held));
        for (size_t i = 0; i < ELEMENTSOF(held); i++)
                held[i] = http_transfer_free(held[i]);
        uint64_t deadline = now_mono() + RUN_BOUND_USEC;
        while (c.ok + c.other < N) {
                assert_true(now_mono() < deadline);
                assert_true(sd_event_run(f->event, 100 * USEC_PER_MSEC) >= 0);
        }
        assert_int_equal(c.ok, N);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(cancelled.ok + cancelled.other, 0);
        assert_int_equal(http_client_transfers(f->client), 0);
}

static void test_not_before(void **state) {
        Fixture *f = *state;
        Result late, soon, dropped, past;
        uint64_t t0 = now_mono();

        /* submitted out of order: each goes at its time (at most 250 ms after), not before */
        submit(f, &(HttpRequest){ .url = url(f, "A", "/json"), .not_before_usec = t0 + 400 * USEC_PER_MSEC }, &late);
        submit(f, &(HttpRequest){ .url = url(f, "A", "/json"), .not_before_usec = t0 + 100 * USEC_PER_MSEC }, &soon);
        submit(f, &(HttpRequest){ .url = url(f, "A", "/json"), .not_before_usec = t0 + 200 * USEC_PER_MSEC },
               &dropped);
        submit(f, &(HttpRequest){ .url = url(f, "A", "/json"), .not_before_usec = t0 - USEC_PER_SEC }, &past);
        assert_int_equal(http_client_transfers(f->client), 4);
        dropped.transfer = http_transfer_free(dropped.transfer); /* cancelled while it waits */
        run_until(f, &past.done);
        assert_false(soon.done);
        run_until(f, &soon.done);
        assert_false(late.done);
        run_until(f, &late.done);
        assert_int_equal(past.outcome, HTTP_OK);
        assert_int_equal(soon.outcome, HTTP_OK);
        assert_int_equal(late.outcome, HTTP_OK);
        assert_true(soon.ended >= t0 + 100 * USEC_PER_MSEC && soon.ended < t0 + 1000 * USEC_PER_MSEC);
        assert_true(late.ended >= t0 + 400 * USEC_PER_MSEC && late.ended < t0 + 1300 * USEC_PER_MSEC);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_false(dropped.done);
        assert_int_equal(http_client_transfers(f->client), 0);
        result_done(&late);
        result_done(&soon);
        result_done(&past);

        /* a client freed with transfers still waiting: no callback, no leak */
        HttpClient *c;
        Counter n = {};
        assert_int_equal(http_client_new(f->event, &f->settings, &c), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(http_submit(c,
                                             &(HttpRequest){ .url = url(f, "A", "/json"),
                                                             .not_before_usec = now_mono() + USEC_PER_SEC },
                                             on_counted, &n, NULL),
                                 0);
        http_client_free(c);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(n.ok + n.other, 0);
}

static void test_free_client_with_line(void **state) {
        Fixture *f = *state;
        HttpClient *c;
        Counter n = {};

        /* hops in the multi handle and hops in line: all cancelled, no callback, no leak */
        assert_int_equal(http_client_new(f->event, &f->settings, &c), 0);
        for (int i = 0; i < 300; i++)
                assert_int_equal(
                        http_submit(c, &(HttpRequest){ .url = url(f, "A", "/slow?ms=2000") }, on_counted, &n, NULL),
                        0);
        run_for(f, 50 * USEC_PER_MSEC);
        http_client_free(c);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(n.ok + n.other, 0);
}

static void test_cancel_mid_transfer(void **state) {
        Fixture *f = *state;
        Result r;

        atomic_store(&servers[0].drip_ended, false);
        submit(f, &(HttpRequest){ .url = url(f, "A", "/drip") }, &r);
        run_for(f, 200 * USEC_PER_MSEC);
        assert_false(r.done);
        assert_int_equal(http_client_transfers(f->client), 1);
        r.transfer = http_transfer_free(r.transfer);
        assert_int_equal(http_client_transfers(f->client), 0);

        /* the server sees the connection go, and the callback never comes */
        uint64_t deadline = now_mono() + 2 * USEC_PER_SEC;
        while (!atomic_load(&servers[0].drip_ended)) {
                assert_true(now_mono() < deadline);
                run_for(f, 20 * USEC_PER_MSEC);
        }
        run_for(f, 100 * USEC_PER_MSEC);
        assert_false(r.done);
}

static void test_cancel_while_waiting_to_retry(void **state) {
        Fixture *f = *state;
        HttpSettings s = f->settings;
        int key = new_key();
        Result r;

        s.retry_backoff_usec = 2 * USEC_PER_SEC;
        submit(f, &(HttpRequest){ .url = url(f, "A", "/flaky?key=%d&fail=100", key), .settings = &s }, &r);
        uint64_t deadline = now_mono() + 2 * USEC_PER_SEC;
        while (atomic_load(&servers[0].hits[key]) < 1) {
                assert_true(now_mono() < deadline);
                run_for(f, 20 * USEC_PER_MSEC);
        }
        run_for(f, 100 * USEC_PER_MSEC); /* the 503 is in; the retry timer is armed */
        assert_false(r.done);
        r.transfer = http_transfer_free(r.transfer);
        assert_int_equal(http_client_transfers(f->client), 0);
        run_for(f, 100 * USEC_PER_MSEC);
        assert_false(r.done);
        assert_int_equal(atomic_load(&servers[0].hits[key]), 1);
}

static void test_free_client_with_transfers(void **state) {
        Fixture *f = *state;
        HttpClient *c;
        HttpTransfer *held = NULL;
        Counter n = {};
        int key = new_key();

        /* running, waiting to retry, and held by the caller: all cancelled, no callback, no leak */
        assert_int_equal(http_client_new(f->event, &f->settings, &c), 0);
        assert_int_equal(
                http_submit(c, &(HttpRequest){ .url = url(f, "A", "/drip") }, on_counted, &n, &held), 0);
        assert_int_equal(
                http_submit(c, &(HttpRequest){ .url = url(f, "A", "/slow?ms=2000") }, on_counted, &n, NULL),
                0);
        assert_int_equal(http_submit(c, &(HttpRequest){ .url = url(f, "A", "/flaky?key=%d&fail=9", key) },
                                     on_counted, &n, NULL),
                         0);
        run_for(f, 150 * USEC_PER_MSEC);
        assert_int_equal(http_client_transfers(c), 3);
        http_client_free(c);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(n.ok + n.other, 0);
        http_transfer_free(held); /* inert, still the caller's to free */
}

static void test_submit_refusals(void **state) {
        Fixture *f = *state;
        Counter n = {};
        const HttpRequest bad[] = {
                { .url = "ftp://127.0.0.1/x" },
                { .url = "file:///etc/passwd" },
                { .url = "127.0.0.1/no-scheme" },
                { .url = "http://user:pw@127.0.0.1/" },
                { .url = NULL },
                { .url = "http://127.0.0.1/",
                  .headers = (const char *const[]){ "X: a\r\nInjected: b", NULL } },
                { .url = "http://127.0.0.1/", .headers = (const char *const[]){ "no colon", NULL } },
                { .url = "http://127.0.0.1/", .auth = { .type = HTTP_AUTH_BEARER } },
                { .url = "http://127.0.0.1/", .auth = { .type = HTTP_AUTH_BEARER, .token = "a\nb" } },
                { .url = "http://127.0.0.1/", .auth = { .type = HTTP_AUTH_BASIC, .user = "u" } },
                { .url = "http://127.0.0.1/",
                  .auth = { .type = HTTP_AUTH_AWS_SIGV4, .user = "u", .password = "p" } },
                { .url = "http://127.0.0.1/",
                  .auth = { .type = HTTP_AUTH_AWS_SIGV4, .user = "u", .aws_sigv4 = "aws:amz:r:s3" } },
                { .url = "http://127.0.0.1/",
                  .auth = { .type = HTTP_AUTH_AWS_SIGV4,
                            .user = "u",
                            .password = "p",
                            .aws_sigv4 = "a\nb" } },
                { .url = "http://127.0.0.1/", .method = _HTTP_METHOD_MAX },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (http_submit(f->client, &bad[i], on_counted, &n, NULL) != -EINVAL)
                        fail_msg("request %zu accepted", i);
        run_for(f, 20 * USEC_PER_MSEC);
        assert_int_equal(n.ok + n.other, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
                T(test_json_200),
                T(test_methods_and_bodies),
                T(test_4xx_fails_with_message),
                T(test_5xx_retried_until_success),
                T(test_5xx_retries_exhausted),
                T(test_settings_replaced),
                T(test_retry_after_seconds),
                T(test_retry_after_date),
                T(test_retry_after_beyond_cap),
                T(test_connection_reset),
                T(test_connection_refused),
                T(test_timeout),
                T(test_low_speed),
                T(test_oversize_refused),
                T(test_tls),
                T(test_redirect_same_origin_keeps_credentials),
                T(test_redirect_other_port_strips_credentials),
                T(test_redirect_other_host_name_strips_credentials),
                T(test_redirect_methods),
                T(test_redirect_refusals),
                T(test_cookies),
                T(test_many_concurrent),
                T(test_line_beyond_multi),
        T(test_free_client_with_line),
        T(test_not_before),
        T(test_cancel_mid_transfer),
                T(test_cancel_while_waiting_to_retry),
                T(test_free_client_with_transfers),
                T(test_submit_refusals),
                T(test_take_body),
#undef T
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
