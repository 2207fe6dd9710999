/* SPDX-License-Identifier: MIT */
/*
 * plugin: the loader finds <kind>-<name>.so in the plugin directories, loads
 * what is safe and well-formed, and refuses everything else with a message
 * that names the file and the reason. The plugins are real .so files (built
 * by the Makefile from tests/unit/plugins/variants.c) copied into scratch
 * directories with the owners and modes each case needs.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/testdir.h"
#include "plugin.h"
#include "strv.h"

typedef struct Fixture {
        char *dir;     /* a scratch directory, 0755 */
        char *plugins; /* dir/plugins, 0755: the plugin directory */
        char *dirs[2]; /* { plugins, NULL } */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->dir = testdir_new("test-plugin");
        f->plugins = testdir_mkdir(f->dir, "plugins", 0755);
        f->dirs[0] = f->plugins;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        free(f->plugins);
        testdir_free(f->dir);
        free(f);
        return 0;
}

/* Installs test variant `variant` as plugins/<file> with `mode`; returns its path. */
static char *install(Fixture *f, const char *variant, const char *file, mode_t mode) {
        char src[64];
        snprintf(src, sizeof src, "asan/test-plugins/%s.so", variant);
        _cleanup_free_ char *from = build_path(src);
        return testdir_copy(f->plugins, file, from, mode);
}

/* Opens storage plugin `name` expecting a refusal whose message is `expected` (after the file's path,
 * when `path` is set). */
static void expect_refusal(Fixture *f, const char *name, const char *path, const char *expected) {
        _cleanup_free_ char *error = NULL, *want = NULL;
        Plugin *p = NULL;

        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, name, &p, &error), -EINVAL);
        assert_null(p);
        assert_non_null(error);
        if (path)
                assert_true(asprintf(&want, "%s: %s", path, expected) > 0);
        assert_string_equal(error, want ?: expected);
}

static void test_loads_a_good_plugin(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = install(f, "good", "storage-good.so", 0644), *error = NULL;
        Plugin *p = NULL;

        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, "good", &p, &error), 0);
        assert_null(error);
        assert_string_equal(p->path, path);
        assert_string_equal(p->name, "good");
        assert_int_equal(p->kind, PLUGIN_STORAGE);
        assert_int_equal(p->n_options, 7);
        assert_string_equal(plugin_storage_schemes(p)[0], "good");
        assert_null(plugin_storage_schemes(p)[1]);

        /* loaded once, shared by every reference; unloaded with the last one */
        Plugin *again = NULL;
        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, "good", &again, &error), 0);
        assert_ptr_equal(again->handle, p->handle);
        plugin_unref(again);
        assert_ptr_equal(plugin_ref(p), p);
        plugin_unref(p);
        void *probe = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        assert_non_null(probe);
        dlclose(probe);
        plugin_unref(p);
        assert_null(dlopen(path, RTLD_NOW | RTLD_NOLOAD));
}

static void test_first_directory_wins(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *other = testdir_mkdir(f->dir, "other", 0755), *error = NULL;
        _cleanup_free_ char *from = build_path("asan/test-plugins/good.so");
        _cleanup_free_ char *first = testdir_copy(other, "storage-good.so", from, 0644);
        _cleanup_free_ char *second = install(f, "good", "storage-good.so", 0644);
        char *dirs[] = { f->dir, other, f->plugins, NULL }; /* f->dir holds no plugin: skipped */
        Plugin *p = NULL;

        assert_int_equal(plugin_open(dirs, PLUGIN_STORAGE, "good", &p, &error), 0);
        assert_string_equal(p->path, first);
        plugin_unref(p);
}

static void test_not_found(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *want = NULL;
        char *dirs[] = { "/nonexistent/plugins", f->plugins, NULL };
        _cleanup_free_ char *error = NULL;
        Plugin *p = NULL;

        assert_true(asprintf(&want, "no plugin storage-missing.so in /nonexistent/plugins, %s", f->plugins) >
                    0);
        assert_int_equal(plugin_open(dirs, PLUGIN_STORAGE, "missing", &p, &error), -EINVAL);
        assert_string_equal(error, want);
        free(error);
        error = NULL;
        assert_int_equal(plugin_open(dirs, PLUGIN_STORAGE, "../evil", &p, &error), -EINVAL);
        assert_string_equal(error, "'../evil' is not a plugin name: use 1-64 characters of a-z 0-9 _ -");
}

static void test_refuses_unsafe_files(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = install(f, "good", "storage-good.so", 0646);

        expect_refusal(f, "good", path, "writable by others (mode 0646): refusing to load it");
        assert_int_equal(chmod(path, 0664), 0);
        expect_refusal(f, "good", path, "writable by its group (mode 0664): refusing to load it");
        assert_int_equal(chmod(path, 0644), 0);

        if (geteuid() == 0) { /* only root can give a file away */
                char want[128];
                assert_int_equal(chown(path, 65534, 0), 0);
                snprintf(
                        want, sizeof want,
                        "owned by uid 65534, not by root or the daemon's user (uid 0): refusing to load it");
                expect_refusal(f, "good", path, want);
                assert_int_equal(chown(path, 0, 0), 0);
        }

        /* a symbolic link could point anywhere, even at a file that passes the checks */
        _cleanup_free_ char *link = NULL;
        assert_true(asprintf(&link, "%s/storage-linked.so", f->plugins) > 0);
        assert_int_equal(symlink(path, link), 0);
        expect_refusal(f, "linked", link,
                       "is a symbolic link: refusing to load it (install the file itself)");

        _cleanup_free_ char *dir = testdir_mkdir(f->plugins, "storage-dir.so", 0755);
        expect_refusal(f, "dir", dir, "not a regular file");
}

static void test_refuses_unsafe_directories(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = install(f, "good", "storage-good.so", 0644);

        assert_int_equal(chmod(f->plugins, 0775), 0);
        expect_refusal(f, "good", f->plugins,
                       "writable by its group (mode 0775): refusing to load plugins from it");
        assert_int_equal(chmod(f->plugins, 0757), 0);
        expect_refusal(f, "good", f->plugins,
                       "writable by others (mode 0757): refusing to load plugins from it");
        assert_int_equal(chmod(f->plugins, 0755), 0);

        /* whoever may write an ancestor may swap the plugin directory for another; sticky ones (/tmp) are
         * fine */
        assert_int_equal(chmod(f->dir, 0777), 0);
        expect_refusal(f, "good", f->dir,
                       "writable by group and others (mode 0777): refusing to load plugins below it");
        assert_int_equal(chmod(f->dir, 01777), 0);
        Plugin *p = NULL;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, "good", &p, &error), 0);
        plugin_unref(p);
        assert_int_equal(chmod(f->dir, 0755), 0);

        if (geteuid() == 0) {
                assert_int_equal(chown(f->plugins, 65534, 65534), 0);
                expect_refusal(
                        f, "good", f->plugins,
                        "owned by uid 65534, not by root or the daemon's user (uid 0): refusing to load "
                        "plugins from it");
                assert_int_equal(chown(f->plugins, 0, 0), 0);
        }
}

static void test_refuses_bad_descriptors(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *variant, *name, *message;
        } cases[] = {
                { "major", "major",
                  "built for plugin ABI 2.3, this udfcron has 1.3: rebuild it against this "
                  "version's udfcron/plugin.h" },
                { "minor", "minor",
                  "built for plugin ABI 1.4, newer than this udfcron's 1.3: update udfcron" },
                { "small", "small",
                  "its descriptor is 24 bytes, smaller than the 80 bytes of plugin ABI 1.0" },
                { "nosym", "nosym", "exports no udfcron_plugin_entry: not a udfcron plugin" },
                { "kind", "kind", "is a secrets plugin, not a storage plugin" },
                { "name", "name", "the plugin calls itself 'other', not 'name'" },
                { "options", "options",
                  "option 'outside' lies outside the 56-byte options structure (offset 56)" },
                { "default", "default", "option 'count' has an invalid default \"ten\": not an integer" },
        };
        /* ABI 1.0's descriptor, with the padding after `kind` */
        assert_int_equal(sizeof(struct udfcron_plugin), 80);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char file[64];
                snprintf(file, sizeof file, "storage-%s.so", cases[i].name);
                _cleanup_free_ char *path = install(f, cases[i].variant, file, 0644);
                expect_refusal(f, cases[i].name, path, cases[i].message);
        }

        /* not a shared object at all */
        _cleanup_free_ char *junk = testdir_write(f->plugins, "storage-junk.so", "not ELF\n", 0644);
        _cleanup_free_ char *error = NULL;
        Plugin *p = NULL;
        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, "junk", &p, &error), -EINVAL);
        assert_true(strncmp(error, junk, strlen(junk)) == 0);
        assert_non_null(strstr(error, ": cannot load it: "));
}

static void test_options(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = install(f, "good", "storage-good.so", 0644), *error = NULL;
        Plugin *p = NULL;
        const char *reason = NULL;

        assert_int_equal(plugin_open(f->dirs, PLUGIN_STORAGE, "good", &p, &error), 0);
        const struct udfcron_option *label = &p->options[0], *opath = &p->options[1], *flag = &p->options[2],
                                    *count = &p->options[3], *every = &p->options[4], *tags = &p->options[5];

        /* defaults applied */
        void *o = plugin_options_new(p);
        assert_non_null(o);
        assert_string_equal(*(char **) plugin_option_target(label, o), "plain");
        assert_null(*(char **) plugin_option_target(opath, o));
        assert_true(*(bool *) plugin_option_target(flag, o));
        assert_int_equal(*(int64_t *) plugin_option_target(count, o), 3);
        assert_int_equal(*(uint64_t *) plugin_option_target(every, o), 0);
        char **list = *(char ***) plugin_option_target(tags, o);
        assert_string_equal(list[0], "a");
        assert_string_equal(list[1], "b");
        assert_null(list[2]);

        /* text conversions and their refusals */
        assert_int_equal(plugin_option_set_text(label, o, "other", &reason), 0);
        assert_string_equal(*(char **) plugin_option_target(label, o), "other");
        assert_int_equal(plugin_option_set_text(opath, o, "relative", &reason), -EINVAL);
        assert_string_equal(reason, "not an absolute path");
        assert_int_equal(plugin_option_set_text(flag, o, "yes", &reason), -EINVAL);
        assert_string_equal(reason, "not true or false");
        assert_int_equal(plugin_option_set_text(flag, o, "false", &reason), 0);
        assert_false(*(bool *) plugin_option_target(flag, o));
        assert_int_equal(plugin_option_set_text(count, o, "11", &reason), -ERANGE);
        assert_int_equal(plugin_option_set_text(count, o, "7x", &reason), -EINVAL);
        assert_int_equal(plugin_option_set_text(count, o, "10", &reason), 0);
        assert_int_equal(*(int64_t *) plugin_option_target(count, o), 10);
        assert_int_equal(plugin_option_set_text(every, o, "1h30m", &reason), 0);
        assert_int_equal(*(uint64_t *) plugin_option_target(every, o), UINT64_C(5400000000));
        assert_int_equal(plugin_option_set_text(every, o, "90", &reason), -EINVAL);
        assert_int_equal(plugin_option_set_text(tags, o, "", &reason), 0);
        assert_null((*(char ***) plugin_option_target(tags, o))[0]);

        assert_null(plugin_options_free(p, o));
        plugin_unref(p);
}

static void test_kind_names(void **state) {
        (void) state;
        for (int k = 0; k < _PLUGIN_KIND_MAX; k++)
                assert_int_equal(plugin_kind_from_string(plugin_kind_to_string((PluginKind) k)), k);
        assert_int_equal(plugin_kind_from_string("engine"), _PLUGIN_KIND_INVALID);
        assert_null(plugin_kind_to_string(_PLUGIN_KIND_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_loads_a_good_plugin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_directory_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_unsafe_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_unsafe_directories, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_bad_descriptors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_options, setup, teardown),
                cmocka_unit_test(test_kind_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
