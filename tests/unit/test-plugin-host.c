/* SPDX-License-Identifier: MIT */
/*
 * plugin-host, storage and secrets: calls into real plugin instances on a
 * real event loop. Answers reach the caller from the loop, never inside the
 * call; refusals come back at once; abandoned calls stay silent; a reload
 * retires instances only once their calls are answered and unloads a plugin
 * only after that; a failed init keeps the running set; timers a plugin
 * leaves behind never fire; secrets come from the providers in order.
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "secrets.h"
#include "storage.h"

static int setup(void **state) {
        *state = harness_new();
        return 0;
}

static int teardown(void **state) {
        harness_free(*state);
        return 0;
}

static void test_calls(void **state) {
        Harness *h = *state;
        Answer put = {}, failed = {}, refused = {}, got = {};

        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; label = \"hello\"; }; };\n"), 0);

        /* the plugin answers before it returns; the caller hears of it from the loop */
        assert_int_equal(storage_put(h->host, NULL, "good:///a", "x", 1, NULL, answer_done, &put, NULL), 0);
        assert_int_equal(
                storage_put(h->host, NULL, "good:///fail", "x", 1, NULL, answer_done, &failed, NULL), 0);
        assert_int_equal(storage_get(h->host, NULL, "good:///a", 100, answer_data, &got, NULL), 0);
        assert_false(put.called || failed.called || got.called);
        assert_int_equal(plugin_host_pending(h->host), 3);
        harness_wait(h, &got.called);
        assert_int_equal(put.calls, 1);
        assert_int_equal(put.error, 0);
        assert_int_equal(failed.error, -EIO);
        assert_int_equal(got.error, 0);
        assert_string_equal(got.text, "hello"); /* copied: the plugin's buffer is gone by now */
        assert_int_equal(plugin_host_pending(h->host), 0);

        /* refused at once: no callback, ever */
        assert_int_equal(
                storage_put(h->host, NULL, "good:///refuse", "", 0, NULL, answer_done, &refused, NULL),
                -EACCES);
        assert_int_equal(storage_remove(h->host, NULL, "nope:///x", answer_done, &refused, NULL),
                         -EPROTONOSUPPORT);
        assert_int_equal(storage_remove(h->host, NULL, "not a url", answer_done, &refused, NULL), -EINVAL);
        assert_int_equal(storage_sign(h->host, NULL, "good:///a", 1, NULL, &refused, NULL), -EOPNOTSUPP);
        harness_settle(h);
        assert_false(refused.called);
        assert_int_equal(plugin_host_pending(h->host), 0);
}

static void on_list(void *userdata, int error, const struct udfcron_storage_entry *e, size_t n,
                    const char *next) {
        (void) e, (void) n, (void) next;
        answer_done(userdata, error);
}

static void test_list_error(void **state) {
        Harness *h = *state;
        Answer a = {};
        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; }; };\n"), 0);
        /* the scheme matches whatever its case */
        assert_int_equal(storage_list(h->host, NULL, "GOOD:///", NULL, 10, on_list, &a, NULL), 0);
        harness_wait(h, &a.called);
        assert_int_equal(a.error, -ENOTDIR);
}

static void test_abandon(void **state) {
        Harness *h = *state;
        Answer fast = {}, slow = {}, witness = {};
        PluginCall *c1 = NULL, *c2 = NULL;

        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; }; slow = { count = 1; }; };\n"),
                         0);
        assert_int_equal(storage_put(h->host, NULL, "good:///a", "", 0, NULL, answer_done, &fast, &c1), 0);
        assert_int_equal(storage_put(h->host, NULL, "slow:///a", "", 0, NULL, answer_done, &slow, &c2), 0);
        assert_null(plugin_call_abandon(c1)); /* answered, not delivered yet */
        assert_null(plugin_call_abandon(c2)); /* not even answered */
        assert_int_equal(storage_put(h->host, NULL, "slow:///b", "", 0, NULL, answer_done, &witness, NULL),
                         0);
        harness_wait(h, &witness.called);
        harness_settle(h);
        assert_false(fast.called);
        assert_false(slow.called);
        assert_int_equal(plugin_host_pending(h->host), 0);
}

/* Whether the test variant `slow` is mapped. */
static bool slow_loaded(Harness *h) {
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/storage-slow.so", h->plugins) > 0);
        void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (handle)
                dlclose(handle);
        return handle != NULL;
}

static void test_reload_retires_after_pending_calls(void **state) {
        Harness *h = *state;
        Answer before = {}, after = {};

        assert_int_equal(harness_apply(h, "storage = { slow = { count = 1; every = \"1s\"; }; };\n"), 0);
        assert_int_equal(storage_put(h->host, NULL, "slow:///a", "", 0, NULL, answer_done, &before, NULL),
                         0);

        /* a reload without the plugin: its instance retires, but answers first; the code stays mapped */
        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; }; };\n"), 0);
        assert_true(slow_loaded(h));
        assert_int_equal(storage_put(h->host, NULL, "slow:///b", "", 0, NULL, answer_done, &after, NULL),
                         -EPROTONOSUPPORT);
        harness_wait(h, &before.called);
        assert_int_equal(before.error, 0);
        assert_int_equal(plugin_host_pending(h->host), 0);
        assert_false(slow_loaded(h)); /* destroyed and unloaded once its last call was delivered */

        /* a reload of an idle instance retires it at once */
        assert_int_equal(harness_apply(h, "storage = { slow = { count = 2; }; };\n"), 0);
        assert_true(slow_loaded(h));
        assert_int_equal(harness_apply(h, ""), 0);
        assert_false(slow_loaded(h));
}

static void test_failed_init_keeps_the_running_set(void **state) {
        Harness *h = *state;
        Answer got = {};

        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; label = \"first\"; }; };\n"), 0);
        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; label = \"fail-init\"; }; };\n"),
                         -EADDRINUSE);
        assert_int_equal(storage_get(h->host, NULL, "good:///", 100, answer_data, &got, NULL), 0);
        harness_wait(h, &got.called);
        assert_string_equal(got.text, "first");
}

static void test_leftover_timers_are_stopped(void **state) {
        Harness *h = *state;
        /* the variant aborts should its forgotten timer ever fire */
        assert_int_equal(harness_apply(h, "storage = { good = { count = 1; leak_timer = true; }; };\n"), 0);
        assert_int_equal(harness_apply(h, ""), 0);
        harness_settle(h);
}

static void lookup(Harness *h, PluginInstance *requester, const char *name, Answer *a) {
        *a = (Answer){};
        assert_int_equal(secrets_lookup(h->host, requester, name, answer_text, a, NULL), 0);
        assert_false(a->called);
        harness_wait(h, &a->called);
}

static void test_secrets_in_order(void **state) {
        Harness *h = *state;
        _cleanup_free_ char *creds = testdir_mkdir(h->dir, "creds", 0700);
        _cleanup_free_ char *files = testdir_mkdir(h->dir, "secrets", 0700);
        _cleanup_free_ char *body = NULL;
        Answer a;

        free(testdir_write(creds, "everywhere", "from-credentials\n", 0600));
        free(testdir_write(files, "everywhere", "from-files", 0600));
        free(testdir_write(files, "both", "from-files-too", 0600));
        free(testdir_write(files, "only_files", "file-value\n", 0600));
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
        assert_int_equal(setenv("TEST_SECRET_everywhere", "from-env", 1), 0);
        assert_int_equal(setenv("TEST_SECRET_both", "from-env-too", 1), 0);
        assert_int_equal(setenv("TEST_SECRET_only_env", "env-value", 1), 0);
        assert_true(asprintf(&body,
                             "secrets = {\n"
                             "        env = { prefix = \"TEST_SECRET_\"; };\n"
                             "        file = { directory = \"%s\"; };\n"
                             "};\n",
                             files) > 0);
        assert_int_equal(harness_apply(h, body), 0);

        lookup(h, NULL, "everywhere", &a); /* the systemd credentials first */
        assert_string_equal(a.text, "from-credentials");
        lookup(h, NULL, "both", &a); /* then the providers, in order */
        assert_string_equal(a.text, "from-env-too");
        lookup(h, NULL, "only_env", &a);
        assert_string_equal(a.text, "env-value");
        lookup(h, NULL, "only_files", &a);
        assert_string_equal(a.text, "file-value");
        lookup(h, NULL, "nowhere", &a);
        assert_int_equal(a.error, -ENOENT);
        lookup(h, NULL, "../creds/everywhere", &a); /* no provider reads a path */
        assert_int_equal(a.error, -ENOENT);

        /* a provider asking for a secret hears only from those before it */
        PluginInstance *file = plugin_host_secrets_provider(h->host, 1);
        assert_string_equal(plugin_instance_name(file), "secrets/file");
        assert_null(plugin_host_secrets_provider(h->host, 2));
        lookup(h, file, "only_env", &a);
        assert_string_equal(a.text, "env-value");
        lookup(h, file, "only_files", &a);
        assert_int_equal(a.error, -ENOENT);

        /* every value found is masked in what the daemon writes from then on */
        _cleanup_free_ char *masked = journal_redact(h->journal, "a file-value and env-value", 26, NULL);
        assert_string_equal(masked, "a [redacted] and [redacted]");

        /* a symbolic link in the directory could point anywhere: an error, not the next provider */
        _cleanup_free_ char *link = NULL;
        assert_true(asprintf(&link, "%s/linked", files) > 0);
        assert_int_equal(symlink("/etc/hostname", link), 0);
        lookup(h, NULL, "linked", &a);
        assert_int_equal(a.error, -EPERM);

        unsetenv("CREDENTIALS_DIRECTORY");
        unsetenv("TEST_SECRET_everywhere");
        unsetenv("TEST_SECRET_both");
        unsetenv("TEST_SECRET_only_env");
}

static void test_example_answers_later(void **state) {
        Harness *h = *state;
        Answer a;
        assert_int_equal(
                harness_apply(h, "secrets = { example = { values = [ \"greeting=hi there\" ]; }; };\n"), 0);
        lookup(h, NULL, "greeting", &a);
        assert_string_equal(a.text, "hi there");
        lookup(h, NULL, "other", &a);
        assert_int_equal(a.error, -ENOENT);

        /* an answer still on its way when the instance goes: dropped, never delivered */
        Answer late = {};
        assert_int_equal(
                harness_apply(h, "secrets = { example = { values = [ \"a=b\" ]; delay = \"5s\"; }; };\n"),
                0);
        assert_int_equal(secrets_lookup(h->host, NULL, "a", answer_text, &late, NULL), 0);
        harness_settle(h);
        h->host = plugin_host_free(h->host);
        assert_false(late.called);
        assert_int_equal(plugin_host_new(h->event, h->journal, &h->host), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_abandon, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_retires_after_pending_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_init_keeps_the_running_set, setup, teardown),
                cmocka_unit_test_setup_teardown(test_leftover_timers_are_stopped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secrets_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_example_answers_later, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
