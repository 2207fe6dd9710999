/* SPDX-License-Identifier: MIT */
/*
 * storage-s3 (built with ASan) in the plugin host, against a loopback
 * server that answers as S3 does in the cases a real test server seldom
 * produces: listings in pages (the continuation token goes back encoded, the
 * page size becomes max-keys), a malformed listing, a ranged GET that finds
 * nothing or an empty object before a delete, an object over the size
 * bound, a refused signature (after which the credentials are looked up
 * again), presigning with and without credentials. The same plugin against
 * a real S3 server that checks signatures: tests/integration/test_storage_s3.py.
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
#include <unistd.h>

#include <cmocka.h>

#include "../support/http-server.h"
#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "storage.h"

static TestHttpServer *server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_request[4096]; /* "METHOD TARGET | Authorization | Range" of the last request */

static bool has(const TestHttpRequest *r, const char *method, const char *target_prefix) {
        return strcmp(r->method, method) == 0 &&
               strncmp(r->target, target_prefix, strlen(target_prefix)) == 0;
}

static void xml(TestHttpConn *conn, int status, const char *body) {
        test_http_respond(conn, status, "Content-Type: application/xml\r\n", body, strlen(body));
}

static void handle(void *userdata, const TestHttpRequest *r, TestHttpConn *conn) {
        char auth[1024] = "", range[64] = "";
        (void) userdata;

        test_http_header(r, "Authorization", auth, sizeof auth);
        test_http_header(r, "Range", range, sizeof range);
        pthread_mutex_lock(&lock);
        snprintf(last_request, sizeof last_request, "%s %s | %s | %s", r->method, r->target, auth, range);
        pthread_mutex_unlock(&lock);

        if (has(r, "GET", "/bkt?") && strstr(r->target, "continuation-token=t%2F1%3D&"))
                xml(conn, 200,
                    "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>dir/c.txt</Key>"
                    "<Size>3</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>"
                    "</ListBucketResult>");
        else if (has(r, "GET", "/bkt?") && strstr(r->target, "prefix=bad%2F"))
                xml(conn, 200, "<ListBucketResult><Contents><Key>x</Key></ListBucketResult>");
        else if (has(r, "GET", "/bkt?"))
                xml(conn, 200,
                    "<ListBucketResult><IsTruncated>true</IsTruncated>"
                    "<NextContinuationToken>t/1=</NextContinuationToken>"
                    "<Contents><Key>dir/</Key><Size>0</Size></Contents>" /* the directory marker */
                    "<Contents><Key>dir/b.txt</Key><Size>2</Size></Contents>"
                    "<CommonPrefixes><Prefix>dir/a/</Prefix></CommonPrefixes></ListBucketResult>");
        else if (has(r, "GET", "/bkt/big"))
                test_http_respond(conn, 200, NULL, "0123456789", 10);
        else if (has(r, "GET", "/bkt/missing"))
                xml(conn, 404,
                    "<Error><Code>NoSuchKey</Code><Message>The specified key does not "
                    "exist.</Message></Error>");
        else if (has(r, "GET", "/bkt/empty"))
                xml(conn, 416, "<Error><Code>InvalidRange</Code></Error>");
        else if (has(r, "DELETE", "/bkt/empty"))
                test_http_respond(conn, 204, NULL, "", 0);
        else if (has(r, "PUT", "/bkt/denied"))
                xml(conn, 403,
                    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
                    "does not match the signature you provided.</Message></Error>");
        else if (has(r, "PUT", "/bkt/"))
                test_http_respond(conn, 200, NULL, "", 0);
        else
                xml(conn, 400, "<Error><Code>Unexpected</Code></Error>");
}

static void last(char *buf, size_t size) {
        pthread_mutex_lock(&lock);
        snprintf(buf, size, "%s", last_request);
        pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------------- calls */

/* What a list call delivered. */
typedef struct Listing {
        bool called;
        int error;
        char entries[16][128];
        size_t n_entries;
        char next[64];
} Listing;

static void on_list(void *userdata, int error, const struct udfcron_storage_entry *e, size_t n,
                    const char *next) {
        Listing *a = userdata;
        a->called = true;
        a->error = error;
        for (size_t i = 0; i < n && i < 16; i++)
                snprintf(a->entries[i], sizeof a->entries[i], "%s %s %llu", e[i].is_directory ? "d" : "f",
                         e[i].url, (unsigned long long) e[i].size);
        a->n_entries = n;
        snprintf(a->next, sizeof a->next, "%s", next ? next : "(last)");
}

typedef struct Fixture {
        Harness *h;
        char *creds;
} Fixture;

static void apply(Fixture *f, const char *credentials) {
        char *body;
        assert_true(asprintf(&body,
                             "storage = { s3 = { endpoint = \"http://127.0.0.1:%u\"; path_style = true; %s "
                             "}; };\n",
                             test_http_server_port(server), credentials) > 0);
        assert_int_equal(harness_apply(f->h, body), 0);
        free(body);
}

static const char *const CREDENTIALS =
        "access_key_id = \"${secret:kid}\"; secret_access_key = \"${secret:sec}\";";

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        f->h = harness_new();
        f->creds = testdir_mkdir(f->h->dir, "credentials", 0700);
        free(testdir_write(f->creds, "kid", "AKIDFIRST", 0600));
        free(testdir_write(f->creds, "sec", "secret-one\n", 0600));
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->creds, 1), 0);
        apply(f, CREDENTIALS);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        harness_settle(f->h);
        assert_int_equal(http_client_transfers(plugin_host_http(f->h->host)), 0);
        free(f->creds);
        harness_free(f->h);
        unsetenv("CREDENTIALS_DIRECTORY");
        free(f);
        return 0;
}

static int group_setup(void **state) {
        (void) state;
        return test_http_server_start(handle, NULL, &server) < 0 ? -1 : 0;
}

static int group_teardown(void **state) {
        (void) state;
        test_http_server_stop(server);
        return 0;
}

/* Puts one byte at `url` and waits: the error. */
static int put(Fixture *f, const char *url) {
        Answer a = {};
        assert_int_equal(storage_put(f->h->host, NULL, url, "x", 1, NULL, answer_done, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        return a.error;
}

/* ---------------------------------------------------------------- tests */

static void test_list_pages(void **state) {
        Fixture *f = *state;
        Listing a = {};
        char seen[4096];

        assert_int_equal(storage_list(f->h->host, NULL, "s3://bkt/dir", NULL, 5, on_list, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        last(seen, sizeof seen);
        assert_non_null(strstr(seen, "GET /bkt?delimiter=%2F&list-type=2&max-keys=5&prefix=dir%2F | "
                                     "AWS4-HMAC-SHA256 Credential=AKIDFIRST/"));
        /* sorted, the marker "dir/" left out, prefixes as directories */
        assert_int_equal(a.n_entries, 2);
        assert_string_equal(a.entries[0], "d s3://bkt/dir/a/ 0");
        assert_string_equal(a.entries[1], "f s3://bkt/dir/b.txt 2");
        assert_string_equal(a.next, "t/1=");

        Listing b = {};
        assert_int_equal(storage_list(f->h->host, NULL, "s3://bkt/dir/", a.next, 5000, on_list, &b, NULL),
                         0);
        harness_wait(f->h, &b.called);
        last(seen, sizeof seen);
        assert_non_null(strstr(
                seen, "GET /bkt?continuation-token=t%2F1%3D&delimiter=%2F&list-type=2&max-keys=1000&"));
        assert_int_equal(b.n_entries, 1);
        assert_string_equal(b.entries[0], "f s3://bkt/dir/c.txt 3");
        assert_string_equal(b.next, "(last)");

        Listing bad = {};
        assert_int_equal(storage_list(f->h->host, NULL, "s3://bkt/bad/", NULL, 10, on_list, &bad, NULL), 0);
        harness_wait(f->h, &bad.called);
        assert_int_equal(bad.error, -EBADMSG);
}

static void test_get_and_remove(void **state) {
        Fixture *f = *state;
        Answer a = {};
        char seen[4096];

        assert_int_equal(storage_get(f->h->host, NULL, "s3://bkt/big", 10, answer_data, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.text, "0123456789");
        a = (Answer){};
        assert_int_equal(storage_get(f->h->host, NULL, "s3://bkt/big", 9, answer_data, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, -EFBIG);

        /* a delete looks first: nothing there is ENOENT, and no DELETE goes out */
        a = (Answer){};
        assert_int_equal(storage_remove(f->h->host, NULL, "s3://bkt/missing", answer_done, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, -ENOENT);
        last(seen, sizeof seen);
        assert_true(strncmp(seen, "GET /bkt/missing |", 18) == 0);
        assert_non_null(strstr(seen, "| bytes=0-0"));
        /* an empty object answers the range with 416: it exists, and goes */
        a = (Answer){};
        assert_int_equal(storage_remove(f->h->host, NULL, "s3://bkt/empty", answer_done, &a, NULL), 0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        last(seen, sizeof seen);
        assert_true(strncmp(seen, "DELETE /bkt/empty |", 19) == 0);

        /* refused at once, no request */
        assert_int_equal(storage_get(f->h->host, NULL, "s3://bkt/", 10, answer_data, &a, NULL), -EISDIR);
        assert_int_equal(
                storage_put(f->h->host, NULL, "s3://bkt/a/../b", "", 0, NULL, answer_done, &a, NULL),
                -EINVAL);
}

static void test_refused_credentials_are_looked_up_again(void **state) {
        Fixture *f = *state;
        char seen[4096];

        assert_int_equal(put(f, "s3://bkt/ok"), 0);

        /* rotated: kept credentials are used until the server refuses them, then looked up anew */
        free(testdir_write(f->creds, "kid", "AKIDSECOND", 0600));
        assert_int_equal(put(f, "s3://bkt/denied"), -EACCES);
        last(seen, sizeof seen);
        assert_non_null(strstr(seen, "Credential=AKIDFIRST/"));
        assert_int_equal(put(f, "s3://bkt/ok"), 0);
        last(seen, sizeof seen);
        assert_non_null(strstr(seen, "Credential=AKIDSECOND/"));
        assert_null(strstr(seen, "secret-one"));

        /* a secret that no provider has fails the operation, not the instance */
        char *path;
        assert_true(asprintf(&path, "%s/sec", f->creds) > 0);
        assert_int_equal(unlink(path), 0);
        free(path);
        apply(f, CREDENTIALS);
        assert_int_equal(put(f, "s3://bkt/ok"), -ENOENT);
}

static void test_sign(void **state) {
        Fixture *f = *state;
        Answer a = {};
        char prefix[128];

        assert_int_equal(storage_sign(f->h->host, NULL, "s3://bkt/dir/a b.txt", 3600 * UINT64_C(1000000),
                                      answer_text, &a, NULL),
                         0);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        snprintf(prefix, sizeof prefix,
                 "http://127.0.0.1:%u/bkt/dir/"
                 "a%%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFIRST%%2F",
                 test_http_server_port(server));
        assert_true(strncmp(a.text, prefix, strlen(prefix)) == 0);
        assert_non_null(strstr(a.text, "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature="));
        assert_int_equal(storage_sign(f->h->host, NULL, "s3://bkt/k", 8 * 86400 * UINT64_C(1000000),
                                      answer_text, &a, NULL),
                         -EINVAL);

        apply(f, ""); /* anonymous: nothing to sign with */
        a = (Answer){};
        assert_int_equal(
                storage_sign(f->h->host, NULL, "s3://bkt/k", 60 * UINT64_C(1000000), answer_text, &a, NULL),
                -ENOKEY);
}

static void test_config_errors(void **state) {
        Fixture *f = *state;
        static const char *const bad[] = {
                "access_key_id = \"AKID\";", /* one without the other */
                "access_key_id = \"AKID\"; secret_access_key = \"inline\";",
                "access_key_id = \"AKID\"; secret_access_key = \"${secret:a}b}\";",
                "gs_endpoint = \"ftp://x\";",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char *body;
                assert_true(asprintf(&body, "storage = { s3 = { %s }; };\n", bad[i]) > 0);
                assert_int_equal(harness_apply(f->h, body), -EINVAL);
                free(body);
        }
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_list_pages), T(test_get_and_remove), T(test_refused_credentials_are_looked_up_again),
                T(test_sign),       T(test_config_errors),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
