/* SPDX-License-Identifier: MIT */
/*
 * gcs-credentials (the sanitized plugin) through the plugin host, as the daemon and other plugins use
 * it, against a loopback token endpoint (tests/support/token-endpoint.py) that verifies each JWT's
 * RS256 signature with the service account's public key and its claims:
 *   - tokens: one POST serves every caller waiting for it, the token is kept until `refresh_before`
 *     its expiry and then replaced (a failed replacement leaves it while it is good), one per scope;
 *     the endpoint's refusal and a broken or missing key reach every caller, and a fixed key works at
 *     once;
 *   - the environment of runs: GOOGLE_APPLICATION_CREDENTIALS names a private copy of the key in the
 *     instance's runtime directory, rewritten only when the key changes, kept across a reload and
 *     removed with the last instance of its name.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/pem.h"
#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "credentials.h"
#include "fileio.h"
#include "json-util.h"

#ifndef UDFCRON_SOURCE_DIR
#define UDFCRON_SOURCE_DIR "."
#endif

#define EMAIL         "runner@project.iam.gserviceaccount.com"
#define KID           "key-1"
#define DEFAULT_SCOPE "https://www.googleapis.com/auth/devstorage.read_write"
#define KEY_FILE      "/run/plugins/credentials/gcs/service-account.json"

extern char **environ;

typedef struct Keys {
        char *right, *wrong; /* PEM private keys; the endpoint knows the public half of `right` */
        char *right_public;
} Keys;

static Keys keys;

typedef struct Fixture {
        Harness *h;
        char *secrets; /* the secrets-file directory */
        char *url;     /* the endpoint's token URL */
        char *stats;   /* its record */
        pid_t endpoint;
} Fixture;

/* ---------------------------------------------------------------- keys and the endpoint */

static int group_setup(void **state) {
        (void) state;
        EVP_PKEY *right = EVP_RSA_gen(2048), *wrong = EVP_RSA_gen(2048);
        assert_non_null(right);
        assert_non_null(wrong);
        keys = (Keys){ .right = pem_of_key(right, false),
                       .wrong = pem_of_key(wrong, false),
                       .right_public = pem_of_key(right, true) };
        EVP_PKEY_free(right);
        EVP_PKEY_free(wrong);
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        free(keys.right);
        free(keys.wrong);
        free(keys.right_public);
        return 0;
}

/* The service account's key file, as the secret gcs_fused holds it. */
static void write_key(Fixture *f, const char *private_pem) {
        cJSON *o = cJSON_CreateObject();
        assert_non_null(o);
        cJSON_AddStringToObject(o, "type", "service_account");
        cJSON_AddStringToObject(o, "project_id", "project");
        cJSON_AddStringToObject(o, "private_key_id", KID);
        cJSON_AddStringToObject(o, "private_key", private_pem);
        cJSON_AddStringToObject(o, "client_email", EMAIL);
        cJSON_AddStringToObject(o, "token_uri", f->url);
        char *text = cJSON_Print(o);
        free(testdir_write(f->secrets, "gcs_fused", text, 0600));
        free(text);
        cJSON_Delete(o);
}

static char *read_file(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *data = NULL;
        size_t size;
        if (fd < 0)
                return NULL;
        assert_int_equal(read_full_fd(fd, 1 << 20, &data, &size), 0);
        return data;
}

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
        while (nanosleep(&ts, &ts) < 0)
                ;
}

/* Starts the endpoint (tokens valid `expires_in` s) and the plugin host with an instance using it. */
static Fixture *start(unsigned expires_in, const char *refresh_before) {
        Fixture *f = calloc(1, sizeof *f);
        char expires[16], *ready, *script, *public_key;
        assert_non_null(f);
        f->h = harness_new();
        f->secrets = testdir_mkdir(f->h->dir, "secrets", 0700);
        f->stats = testdir_write(f->h->dir, "stats.json", "", 0600);
        ready = testdir_write(f->h->dir, "ready.json", "", 0600);
        assert_int_equal(unlink(ready), 0);
        public_key = testdir_write(f->h->dir, "public.pem", keys.right_public, 0600);
        assert_true(asprintf(&script, "%s/tests/support/token-endpoint.py", UDFCRON_SOURCE_DIR) > 0);
        snprintf(expires, sizeof expires, "%u", expires_in);
        char *const argv[] = { "/usr/bin/python3",
                               script,
                               "--public-key",
                               public_key,
                               "--email",
                               EMAIL,
                               "--kid",
                               KID,
                               "--ready-file",
                               ready,
                               "--stats-file",
                               f->stats,
                               "--expires-in",
                               expires,
                               NULL };
        assert_int_equal(posix_spawn(&f->endpoint, argv[0], NULL, NULL, argv, environ), 0);
        for (int i = 0; !(f->url = read_file(ready)); i++) {
                assert_true(i < 1000); /* 10 s */
                sleep_ms(10);
        }
        cJSON *info = cJSON_Parse(f->url);
        free(f->url);
        assert_non_null(f->url = strdup(cJSON_GetObjectItem(info, "url")->valuestring));
        cJSON_Delete(info);
        free(ready);
        free(script);
        free(public_key);

        write_key(f, keys.right);
        char *body;
        assert_true(asprintf(&body,
                             "runtime_directory = \"%s/run\";\n"
                             "secrets = { file = { directory = \"%s\"; }; };\n"
                             "credentials = { gcs = { refresh_before = \"%s\"; }; };\n",
                             f->h->dir, f->secrets, refresh_before) > 0);
        assert_int_equal(harness_apply(f->h, body), 0);
        free(body);
        return f;
}

static void stop(Fixture *f) {
        assert_int_equal(kill(f->endpoint, SIGTERM), 0);
        assert_int_equal(waitpid(f->endpoint, NULL, 0), f->endpoint);
        harness_free(f->h);
        free(f->secrets);
        free(f->url);
        free(f->stats);
        free(f);
}

static cJSON *stats(Fixture *f) {
        char *text = read_file(f->stats);
        cJSON *j = cJSON_Parse(text);
        assert_non_null(j);
        free(text);
        return j;
}

static int posts(Fixture *f) {
        cJSON *j = stats(f);
        int n = cJSON_GetObjectItem(j, "posts")->valueint;
        cJSON_Delete(j);
        return n;
}

/* ---------------------------------------------------------------- asking for tokens */

typedef struct TokenAnswer {
        bool called;
        int error;
        char token[64];
        uint64_t expires_usec;
} TokenAnswer;

static void on_token(void *userdata, int error, const char *token, uint64_t expires_usec) {
        TokenAnswer *a = userdata;
        assert_false(a->called);
        a->called = true;
        a->error = error;
        if (error >= 0) {
                assert_non_null(token);
                snprintf(a->token, sizeof a->token, "%s", token);
                a->expires_usec = expires_usec;
        }
}

static void ask(Fixture *f, const char *audience, TokenAnswer *a) {
        *a = (TokenAnswer){};
        assert_int_equal(credentials_token(f->h->host, NULL, "gcs", audience, on_token, a, NULL), 0);
}

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void test_one_post_serves_every_caller(void **state) {
        Fixture *f = start(3600, "5m");
        TokenAnswer a[4];
        (void) state;

        for (int i = 0; i < 3; i++)
                ask(f, NULL, &a[i]);
        for (int i = 0; i < 3; i++)
                harness_wait(f->h, &a[i].called);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(a[i].error, 0);
                assert_string_equal(a[i].token, "tok-1");
        }
        uint64_t now = realtime_usec();
        assert_true(a[0].expires_usec > now + 3590 * UINT64_C(1000000));
        assert_true(a[0].expires_usec <= now + 3600 * UINT64_C(1000000));

        ask(f, NULL, &a[3]); /* kept: answered without a request */
        harness_wait(f->h, &a[3].called);
        assert_string_equal(a[3].token, "tok-1");
        assert_int_equal(posts(f), 1);

        cJSON *j = stats(f);
        cJSON *tokens = cJSON_GetObjectItem(j, "tokens");
        assert_int_equal(cJSON_GetArraySize(tokens), 1);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tokens, 0), "scope")->valuestring,
                            DEFAULT_SCOPE);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "rejected")), 0);
        cJSON_Delete(j);
        stop(f);
}

static void test_one_token_per_scope(void **state) {
        Fixture *f = start(3600, "5m");
        TokenAnswer a, b, c;
        (void) state;

        ask(f, NULL, &a);
        ask(f, "https://www.googleapis.com/auth/cloud-platform", &b);
        harness_wait(f->h, &a.called);
        harness_wait(f->h, &b.called);
        assert_int_equal(a.error, 0);
        assert_int_equal(b.error, 0);
        assert_string_not_equal(a.token, b.token);
        ask(f, "https://www.googleapis.com/auth/cloud-platform", &c);
        harness_wait(f->h, &c.called);
        assert_string_equal(c.token, b.token);
        assert_int_equal(posts(f), 2);

        /* a scope that would bend the JWT is refused at once */
        assert_int_equal(credentials_token(f->h->host, NULL, "gcs", "a\nb", on_token, &c, NULL), -EINVAL);
        assert_int_equal(credentials_token(f->h->host, NULL, "nope", NULL, on_token, &c, NULL), -ENXIO);
        stop(f);
}

static void test_refreshed_before_expiry(void **state) {
        Fixture *f = start(4, "3s"); /* kept for 1 s of its 4 */
        TokenAnswer a, b, c;
        (void) state;

        ask(f, NULL, &a);
        harness_wait(f->h, &a.called);
        ask(f, NULL, &b);
        harness_wait(f->h, &b.called);
        assert_string_equal(a.token, "tok-1");
        assert_string_equal(b.token, "tok-1");
        assert_int_equal(posts(f), 1);

        sleep_ms(1100);
        ask(f, NULL, &c);
        harness_wait(f->h, &c.called);
        assert_int_equal(c.error, 0);
        assert_string_equal(c.token, "tok-2");
        assert_true(c.expires_usec > a.expires_usec);
        assert_int_equal(posts(f), 2);

        /* a replacement the endpoint refuses leaves the old token, as long as it is good */
        write_key(f, keys.wrong);
        sleep_ms(1100);
        ask(f, NULL, &a);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.token, "tok-2");
        assert_int_equal(posts(f), 3);
        sleep_ms(3000); /* tok-2 has expired */
        ask(f, NULL, &a);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, -EREMOTEIO);
        assert_int_equal(posts(f), 4);
        stop(f);
}

static void test_refusals_reach_every_caller(void **state) {
        Fixture *f = start(3600, "5m");
        TokenAnswer a, b;
        (void) state;

        /* another key than the endpoint knows: "Invalid JWT Signature." for both waiting callers */
        write_key(f, keys.wrong);
        ask(f, NULL, &a);
        ask(f, NULL, &b);
        harness_wait(f->h, &a.called);
        harness_wait(f->h, &b.called);
        assert_int_equal(a.error, -EREMOTEIO);
        assert_int_equal(b.error, -EREMOTEIO);
        cJSON *j = stats(f);
        cJSON *rejected = cJSON_GetObjectItem(j, "rejected");
        assert_int_equal(cJSON_GetArraySize(rejected), 1);
        assert_string_equal(cJSON_GetArrayItem(rejected, 0)->valuestring, "Invalid JWT Signature.");
        cJSON_Delete(j);

        /* failures are not kept: the right key works at once */
        write_key(f, keys.right);
        ask(f, NULL, &a);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.token, "tok-1");

        /* a broken key and a missing one end the call without a request */
        free(testdir_write(f->secrets, "gcs_fused", "{\"type\": \"service_account\"}", 0600));
        ask(f, "https://www.googleapis.com/auth/cloud-platform", &a);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, -EINVAL);
        char *path;
        assert_true(asprintf(&path, "%s/gcs_fused", f->secrets) > 0);
        assert_int_equal(unlink(path), 0);
        free(path);
        ask(f, "https://www.googleapis.com/auth/cloud-platform", &a);
        harness_wait(f->h, &a.called);
        assert_int_equal(a.error, -ENOENT);
        assert_int_equal(posts(f), 2);
        stop(f);
}

/* ---------------------------------------------------------------- the environment of runs */

typedef struct EnvAnswer {
        bool called;
        int error;
        char variable[512];
        size_t n;
} EnvAnswer;

static void on_environment(void *userdata, int error, const char *const *environment) {
        EnvAnswer *a = userdata;
        a->called = true;
        a->error = error;
        for (const char *const *e = environment; e && *e; e++, a->n++)
                snprintf(a->variable, sizeof a->variable, "%s", *e);
}

static void environment(Fixture *f, EnvAnswer *a) {
        const struct udfcron_run_info run = {
                .schedule = "nightly", .run_id = "0123456789abcdef", .attempt = 1, .engine = "local"
        };
        *a = (EnvAnswer){};
        assert_int_equal(credentials_environment(f->h->host, "gcs", &run, on_environment, a, NULL), 0);
        harness_wait(f->h, &a->called);
}

static void test_environment_of_runs(void **state) {
        Fixture *f = start(3600, "5m");
        char *path, *expected, *secret, *dir;
        struct stat st, again;
        EnvAnswer a;
        (void) state;

        assert_true(asprintf(&path, "%s" KEY_FILE, f->h->dir) > 0);
        assert_true(asprintf(&expected, "GOOGLE_APPLICATION_CREDENTIALS=%s", path) > 0);
        assert_true(asprintf(&secret, "%s/gcs_fused", f->secrets) > 0);
        dir = strndup(path, (size_t) (strrchr(path, '/') - path));

        environment(f, &a);
        assert_int_equal(a.error, 0);
        assert_int_equal(a.n, 1);
        assert_string_equal(a.variable, expected);
        char *copy = read_file(path), *original = read_file(secret);
        assert_string_equal(copy, original);
        free(copy);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(lstat(dir, &again), 0);
        assert_int_equal(again.st_mode & 07777, 0700);

        /* the same key: the file stays as it is */
        environment(f, &a);
        assert_int_equal(lstat(path, &again), 0);
        assert_int_equal(again.st_ino, st.st_ino);

        /* a rotated key replaces it, atomically */
        write_key(f, keys.wrong);
        environment(f, &a);
        assert_int_equal(a.error, 0);
        free(original);
        copy = read_file(path);
        original = read_file(secret);
        assert_string_equal(copy, original);
        free(copy);
        free(original);
        assert_int_equal(lstat(path, &again), 0);
        assert_int_not_equal(again.st_ino, st.st_ino);

        /* not a key: the run gets nothing, and the copy is left alone */
        free(testdir_write(f->secrets, "gcs_fused", "not json", 0600));
        environment(f, &a);
        assert_int_equal(a.error, -EINVAL);
        assert_int_equal(a.n, 0);

        /* a reload keeps the directory for the new instance; the last instance of the name removes it */
        char *body;
        assert_true(asprintf(&body,
                             "runtime_directory = \"%s/run\";\n"
                             "secrets = { file = { directory = \"%s\"; }; };\n"
                             "credentials = { gcs = { }; };\n",
                             f->h->dir, f->secrets) > 0);
        assert_int_equal(harness_apply(f->h, body), 0);
        free(body);
        assert_int_equal(access(path, F_OK), 0);
        assert_true(asprintf(&body, "runtime_directory = \"%s/run\";\n", f->h->dir) > 0);
        assert_int_equal(harness_apply(f->h, body), 0);
        free(body);
        assert_int_equal(access(dir, F_OK), -1);

        free(path);
        free(expected);
        free(secret);
        free(dir);
        stop(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_post_serves_every_caller),
                cmocka_unit_test(test_one_token_per_scope),
                cmocka_unit_test(test_refreshed_before_expiry),
                cmocka_unit_test(test_refusals_reach_every_caller),
                cmocka_unit_test(test_environment_of_runs),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
