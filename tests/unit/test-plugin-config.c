/* SPDX-License-Identifier: MIT */
/*
 * Plugin blocks in the configuration: `storage`, `secrets`, `credentials`
 * and `ingest` groups of instances, each block checked against its plugin's
 * options table with config.c's own checks ("file:line: message", "did you
 * mean"), and schedules' `output` checked against the storage instances.
 * The plugins are the test variants of tests/unit/plugins/variants.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/config-errors.h"
#include "../support/config-fixture.h"
#include "../support/testdir.h"
#include "config.h"
#include "plugins/variants.h"

#define MAX_ERRORS 8

static int setup(void **state) {
        static const FixturePlugin plugins[] = {
                { "asan/test-plugins/good.so", "storage-good.so" },
                { "asan/test-plugins/slow.so", "storage-slow.so" },
                { "asan/test-plugins/major.so", "storage-major.so" },
                { "asan/plugins/secrets-env.so", "secrets-env.so" },
        };
        *state = config_fixture_new("test-plugin-config", plugins, ELEMENTSOF(plugins));
        return 0;
}

static int teardown(void **state) {
        config_fixture_free(*state);
        return 0;
}

#define HEADER "plugin_directories = [ \"../plugins\" ];\n" /* line 1 of every case */

static void test_instances(void **state) {
        ConfigFixture *f = *state;
        _cleanup_(strv_freep) char **errors = NULL;
        Config *c = NULL;

        config_fixture_case(f, "ok",
                            HEADER
                            "storage = {\n"
                            "        good = { label = \"x\"; path = \"rel/p\"; flag = false; count = 5;\n"
                            "                 every = \"1m\"; tags = [ \"t1\", \"t2\" ]; };\n"
                            "        later = { plugin = \"slow\"; tags = \"one\"; count = 3; };\n"
                            "};\n"
                            "secrets = { env = { }; };\n",
                            "schedules = ( { name = \"s\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                            "                output = \"good:///out/${schedule}/${run_id}.json\"; } );\n");
        int r = config_load("udfcrond.conf", f->tzdb, &c, &errors);
        for (char **e = errors; e && *e; e++)
                print_message("unexpected: %s\n", *e);
        assert_int_equal(r, 0);

        assert_int_equal(c->n_plugins, 3);
        const PluginConfig *good = &c->plugins[0], *later = &c->plugins[1], *env = &c->plugins[2];
        assert_string_equal(good->instance, "storage/good");
        assert_string_equal(good->file, "udfcrond.conf");
        assert_int_equal(good->line, 3);
        assert_int_equal(good->kind, PLUGIN_STORAGE);
        const struct variant_options *o = good->options;
        assert_string_equal(o->label, "x");
        assert_int_equal(o->path[0], '/'); /* relative to the file's directory */
        assert_non_null(strstr(o->path, "/ok/rel/p"));
        assert_false(o->flag);
        assert_int_equal(o->count, 5);
        assert_int_equal(o->every_usec, 60 * UINT64_C(1000000));
        assert_string_equal(o->tags[0], "t1");
        assert_string_equal(o->tags[1], "t2");
        assert_null(o->tags[2]);

        /* another plugin under an instance name of its own, with the defaults of what it leaves out */
        assert_string_equal(later->instance, "storage/later");
        assert_string_equal(later->plugin->name, "slow");
        o = later->options;
        assert_string_equal(o->label, "plain");
        assert_true(o->flag);
        assert_int_equal(o->count, 3);
        assert_string_equal(o->tags[0], "one");
        assert_null(o->tags[1]);
        assert_string_equal(env->instance, "secrets/env");

        assert_ptr_equal(config_find_storage(c, "good"), good);
        assert_ptr_equal(config_find_storage(c, "slow"), later);
        assert_null(config_find_storage(c, "file"));
        assert_string_equal(c->schedules[0]->output, "good:///out/${schedule}/${run_id}.json");
        assert_non_null(strstr(c->settings.plugin_directories[0], "/ok/../plugins"));
        config_free(c);
}

static void test_default_directory(void **state) {
        ConfigFixture *f = *state;
        Config *c = NULL;
        config_fixture_case(f, "default", "timezone = \"UTC\";\n", NULL);
        assert_int_equal(config_load("udfcrond.conf", f->tzdb, &c, NULL), 0);
        assert_string_equal(c->settings.plugin_directories[0], UDFCRON_PLUGIN_DIR);
        assert_null(c->settings.plugin_directories[1]);
        assert_int_equal(c->n_plugins, 0);
        config_free(c);
}

typedef struct Broken {
        const char *main, *schedules;
        const char *errors[MAX_ERRORS]; /* "@DIR@" stands for the fixture's directory */
} Broken;

/* clang-format off */
static const Broken broken[] = {
        {
                .main = HEADER "storage = {\n"
                               "        good = {\n"
                               "                lable = \"x\";\n"
                               "                count = \"5\";\n"
                               "                every = 5;\n"
                               "                tags = [ 1 ];\n"
                               "                flag = \"yes\";\n"
                               "        };\n"
                               "};\n",
                .errors = {
                        "udfcrond.conf:4: unknown key 'lable' (did you mean 'label'?)",
                        "udfcrond.conf:5: count: expected an integer, got a string",
                        "udfcrond.conf:6: every: 5 is not a duration: write \"5s\"",
                        "udfcrond.conf:7: tags: element 1: expected a string, got an integer",
                        "udfcrond.conf:8: flag: expected a boolean (true or false), got a string",
                },
        },
        {
                .main = HEADER "storage = {\n"
                               "        good = { label = \"x\"; };\n"
                               "};\n",
                .errors = {
                        "udfcrond.conf:3: storage/good: missing option 'count' (how many)",
                },
        },
        {
                .main = HEADER "storage = { good = { count = 11; nonsense_key = 1; }; };\n",
                .errors = {
                        "udfcrond.conf:2: count: 11 is out of range 1..10",
                        "udfcrond.conf:2: unknown key 'nonsense_key'",
                },
        },
        {
                .main = HEADER "storage = {\n"
                               "        nope = { };\n"
                               "        major = { count = 1; };\n"
                               "        Big = { };\n"
                               "        alias = { plugin = 5; };\n"
                               "        flat = 3;\n"
                               "};\n"
                               "secrets = 5;\n",
                .errors = {
                        "udfcrond.conf:3: storage/nope: no plugin storage-nope.so in @DIR@/case-3/../plugins",
                        "udfcrond.conf:4: storage/major: @DIR@/plugins/storage-major.so: built for plugin ABI 2.3, "
                        "this udfcron has 1.3: rebuild it against this version's udfcron/plugin.h",
                        "udfcrond.conf:5: storage/Big: instance names use a-z 0-9 _ -",
                        "udfcrond.conf:6: plugin: expected a plugin name, got an integer",
                        "udfcrond.conf:7: flat: expected a group { plugin = \"...\"; option = value; }, got an integer",
                        "udfcrond.conf:9: secrets: expected a group of instances { name = { ... }; }, got an integer",
                },
        },
        {
                /* one scheme, one instance; and a storage error means no "no storage serves" noise below */
                .main = HEADER "storage = {\n"
                               "        good = { count = 1; };\n"
                               "        again = { plugin = \"good\"; count = 2; };\n"
                               "};\n",
                .schedules = "schedules = ( { name = \"s\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                             "                output = \"good:///x\"; } );\n",
                .errors = {
                        "udfcrond.conf:4: storage/again: good:// URLs are served by storage/good already "
                        "(udfcrond.conf:3)",
                },
        },
        {
                .main = HEADER "storage = { good = { count = 1; }; };\n",
                .schedules = "schedules = (\n"
                             "  { name = \"a\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                             "    output = \"s3://bucket/${run_id}\"; },\n"
                             "  { name = \"b\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                             "    output = \"good:///${secret:token}\"; },\n"
                             "  { name = \"c\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                             "    output = \"/srv/out.json\"; },\n"
                             "  { name = \"d\"; cron = \"@daily\"; command = [ \"/bin/true\" ];\n"
                             "    output = \"good:///${nope}\"; }\n"
                             ");\n",
                .errors = {
                        "schedules.d/s.conf:3: output: no storage instance serves s3:// URLs (configure one in "
                        "@DIR@/case-5/udfcrond.conf, e.g. storage = { file = { root = \"/srv/udfcron\"; }; };)",
                        "schedules.d/s.conf:5: output: ${secret:token} has no place in a URL, which is logged",
                        "schedules.d/s.conf:7: output: '/srv/out.json' is not a URL such as "
                        "\"file:///srv/out/${run_id}.json\"",
                        "schedules.d/s.conf:9: output: unknown reference '${nope}' (known: scheduled:FORMAT, "
                        "now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)",
                },
        },
};
/* clang-format on */

static void test_broken(void **state) {
        ConfigFixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(broken); i++) {
                const Broken *b = &broken[i];
                char name[32];
                snprintf(name, sizeof name, "case-%zu", i);
                config_fixture_case(f, name, b->main, b->schedules);

                assert_true(
                        config_errors_match("udfcrond.conf", f->tzdb, b->errors, MAX_ERRORS, f->dir, name));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_instances),
                cmocka_unit_test(test_default_directory),
                cmocka_unit_test(test_broken),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
