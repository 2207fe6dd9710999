/* SPDX-License-Identifier: MIT */
/*
 * config: the shipped examples load, defaults apply, every key converts, and
 * every broken config is refused with the exact "file:line: message" lines.
 * Trees are written into a mkdtemp() directory; broken ones are loaded from
 * inside it, so the messages carry the short relative paths a user would see.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../support/config-errors.h"
#include "../support/config-fixture.h"
#include "../support/testdir.h"
#include "config.h"

#define MAX_FILES  6
#define MAX_ERRORS 10

/* A tree of files relative to a test directory; content NULL: a directory. */
typedef struct File {
        const char *path;
        const char *content;
} File;

static int setup(void **state) {
        *state = config_fixture_new("test-config", NULL, 0);
        return 0;
}

static int teardown(void **state) {
        config_fixture_free(*state);
        return 0;
}

/* Enters directory `dir` and writes the files (at most n, up to a NULL path) there. */
static void write_tree(const char *dir, const File *files, size_t n) {
        assert_int_equal(chdir(dir), 0);
        for (size_t i = 0; i < n && files[i].path; i++) {
                if (!files[i].content) {
                        assert_int_equal(mkdir(files[i].path, 0755), 0);
                        continue;
                }
                FILE *out = fopen(files[i].path, "we");
                assert_non_null(out);
                assert_int_equal(fputs(files[i].content, out) >= 0, 1);
                assert_int_equal(fclose(out), 0);
        }
}

static Config *load_ok(ConfigFixture *f, const char *path) {
        Config *c = NULL;
        char **errors = NULL;
        int r = config_load(path, f->tzdb, &c, &errors);
        for (char **e = errors; e && *e; e++)
                print_message("unexpected: %s\n", *e);
        assert_int_equal(r, 0);
        assert_null(errors);
        assert_non_null(c);
        return c;
}

/* What `make run` uses. Others edit the examples, so only what holds for any valid example is checked. */
static void test_examples(void **state) {
        ConfigFixture *f = *state;
        _cleanup_(config_freep) Config *c = load_ok(f, "etc/udfcrond.conf");

        assert_string_equal(c->settings.timezone, "UTC");
        assert_true(c->path[0] == '/');
        assert_non_null(strstr(c->path, "/etc/udfcrond.conf"));
        /* relative paths in the main file are relative to its directory, not to the working directory */
        assert_non_null(strstr(c->settings.state_directory, "/etc/../build/run/state"));
        assert_non_null(strstr(c->settings.runtime_directory, "/etc/../build/run/runtime"));
        assert_non_null(strstr(c->settings.schedules_directory, "/etc/schedules.d"));
        assert_true(c->settings.state_directory[0] == '/');
        assert_string_equal(c->files[0], c->path);
        assert_non_null(c->files[1]);

        assert_true(c->n_schedules > 0);
        for (size_t i = 0; i < c->n_schedules; i++) {
                const Schedule *s = c->schedules[i];
                if (i > 0) /* sorted and unique */
                        assert_true(strcmp(c->schedules[i - 1]->name, s->name) < 0);
                assert_ptr_equal(config_find_schedule(c, s->name), s);
                assert_int_equal(strncmp(s->file, "etc/schedules.d/", 16), 0);
                assert_true(s->line > 0);
                assert_non_null(s->zone);
                assert_int_equal((s->work == WORK_UDF), s->udf_path != NULL);
                assert_int_equal((s->work == WORK_COMMAND), s->command != NULL);
                if (s->udf_path) /* resolved against the schedule file's directory */
                        assert_int_equal(access(s->udf_path, R_OK), 0);
                assert_int_not_equal(s->digest, 0);
        }
        assert_null(config_find_schedule(c, ""));
        assert_null(config_find_schedule(c, "~no such schedule"));
}

static void test_defaults(void **state) {
        ConfigFixture *f = *state;
        static const File files[] = {
                { "udfcrond.conf", "# nothing: every default\n" },
                { "schedules.d", NULL },
                { "schedules.d/a.conf",
                  "schedules = ( { name = \"a\"; cron = \"@hourly\"; command = [ \"/bin/true\" ]; } );\n" },
        };
        _cleanup_free_ char *system_zone = NULL;
        char expected[128];

        write_tree(f->dir, files, ELEMENTSOF(files));
        assert_int_equal(setenv("STATE_DIRECTORY", "/srv/state:/srv/other", 1), 0);
        assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
        _cleanup_(config_freep) Config *c = load_ok(f, "udfcrond.conf");
        assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);

        const DaemonSettings *d = &c->settings;
        assert_int_equal(tz_system_zone_name(&system_zone), 0);
        assert_string_equal(d->timezone, system_zone);
        snprintf(expected, sizeof expected, "%s/schedules.d", f->dir);
        assert_string_equal(d->schedules_directory, expected);
        assert_string_equal(d->state_directory, "/srv/state");
        assert_string_equal(d->runtime_directory, "/run/udfcron");
        assert_string_equal(d->python, "/usr/bin/python3");
        assert_int_equal(d->max_concurrent_runs, 16);
        assert_int_equal(d->shutdown_timeout_usec, 30 * USEC_PER_SEC);
        assert_null(d->http.ca_file);
        assert_int_equal(d->http.connect_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(d->http.timeout_usec, 60 * USEC_PER_SEC);
        assert_int_equal(d->http.low_speed_limit, 1);
        assert_int_equal(d->http.low_speed_time_usec, 30 * USEC_PER_SEC);
        assert_int_equal(d->http.max_reply_size, 64 * 1024 * 1024);
        assert_int_equal(d->http.retries, 4);
        assert_int_equal(d->http.retry_backoff_usec, 1 * USEC_PER_SEC);
        assert_int_equal(d->http.retry_backoff_max_usec, 30 * USEC_PER_SEC);
        assert_int_equal(d->http.max_connections_per_host, 16);

        assert_int_equal(c->n_schedules, 1);
        const Schedule *s = c->schedules[0];
        assert_string_equal(s->name, "a");
        assert_string_equal(s->file, "schedules.d/a.conf");
        assert_int_equal(s->line, 1);
        assert_true(s->enabled);
        assert_string_equal(s->engine, "local");
        assert_int_equal(s->work, WORK_COMMAND);
        assert_string_equal(s->command[0], "/bin/true");
        assert_null(s->command[1]);
        assert_false(s->shell);
        assert_null(s->udf_path);
        assert_null(s->entrypoint);
        assert_null(s->working_directory);
        assert_null(s->environment);
        assert_true(cJSON_IsObject(s->params) && !s->params->child);
        assert_int_equal(s->uid, (uid_t) -1);
        assert_int_equal(s->gid, (gid_t) -1);
        assert_int_equal(s->nice, 0);
        const TzZone *zone = NULL;
        assert_int_equal(tzdb_get(f->tzdb, system_zone, &zone), 0);
        assert_ptr_equal(s->zone, zone);
        assert_int_equal(s->policy.overlap, OVERLAP_SKIP);
        assert_int_equal(s->policy.catch_up.mode, CATCH_UP_LAST);
        assert_int_equal(s->policy.jitter_usec, 0);
        assert_int_equal(s->policy.timeout_usec, 0);
        assert_int_equal(s->policy.retries, 0);
        assert_int_equal(s->policy.retry_backoff_usec, 30 * USEC_PER_SEC);
        assert_int_equal(s->policy.retry_backoff_max_usec, 600 * USEC_PER_SEC);
        assert_int_equal(s->policy.kill_grace_usec, 10 * USEC_PER_SEC);
        assert_int_equal(s->policy.dst, CRON_DST_SHIFT);
        assert_int_equal(s->cron.dst_policy, CRON_DST_SHIFT);
        assert_null(s->fanout.arg_list);
        assert_null(s->fanout.arg_name);
        assert_int_equal(s->fanout.max_workers, 32);
        assert_int_equal(s->fanout.max_retry, 2);
        assert_false(s->fanout.ignore_exceptions);
        assert_int_equal(s->fanout.collect, COLLECT_JSON);
}

/* Every key with a non-default value: settings, `defaults`, and schedules in the main file too. */
static void test_every_key(void **state) {
        ConfigFixture *f = *state;
        static const File files[] = {
                { "conf", NULL },
                { "conf/udfcrond.conf",
                  "timezone = \"Europe/Berlin\";\n"
                  "schedules_directory = \"../jobs\";\n"
                  "state_directory = \"state\";\n"
                  "runtime_directory = \"/run/x\";\n"
                  "python = \"/opt/py/bin/python3\";\n"
                  "max_concurrent_runs = 100000;\n"
                  "shutdown_timeout = \"2m\";\n"
                  "defaults = { overlap = \"queue\"; retries = 2; kill_grace = \"5s\"; dst = \"skip\"; };\n"
                  "http = { ca_file = \"ca.pem\"; connect_timeout = \"3s\"; timeout = \"2m\";\n"
                  "         low_speed_limit = 100; low_speed_time = \"0s\"; max_reply_size = \"512K\";\n"
                  "         retries = 0; retry_backoff = \"2s\"; retry_backoff_max = \"2s\";\n"
                  "         max_connections_per_host = 4; };\n"
                  "schedules = ( { name = \"in-main\"; cron = \"0 3 * * *\"; command = [\"/bin/true\"]; } "
                  ");\n" },
                { "conf/ca.pem", "-----BEGIN CERTIFICATE-----\n" },
                { "jobs", NULL },
                { "jobs/job.py", "def run(p):\n    return p\n" },
                { "jobs/.hidden.conf", "this is not libconfig\n" },
                { "jobs/notes.txt", "neither is this\n" },
                { "jobs/a.conf",
                  "schedules = (\n"
                  "  {\n"
                  "    name = \"every.key@1\";\n"
                  "    cron = \"0 30 2 * * *\";\n"
                  "    timezone = \"America/New_York\";\n"
                  "    enabled = false;\n"
                  "    engine = \"local\";\n"
                  "    udf = \"job.py\";\n"
                  "    entrypoint = \"run\";\n"
                  "    params = { s = \"${scheduled:%F} $$5 ${env:HOME} ${secret:db-pass} $x\"; i = 7;\n"
                  "               big = 5000000000L; f = 1.5; b = true; a = [1, 2]; l = (\"x\", 3, { k = "
                  "\"v\"; });\n"
                  "               g = { h = { deep = \"${run_id}/${attempt}/${schedule}/${now:%s}\"; }; }; "
                  "};\n"
                  "    working_directory = \"/tmp\";\n"
                  "    environment = { LANG = \"C.UTF-8\"; X_1 = \"\"; };\n"
                  "    group = \"root\";\n"
                  "    user = \"daemon\";\n"
                  "    nice = -20;\n"
                  "    overlap = \"replace\";\n"
                  "    catch_up = \"last 3 within 6h\";\n"
                  "    jitter = \"90s\";\n"
                  "    timeout = \"1h30m\";\n"
                  "    retries = 100;\n"
                  "    retry_backoff = \"1m\";\n"
                  "    retry_backoff_max = \"1d\";\n"
                  "    kill_grace = \"0s\";\n"
                  "    dst = \"shift\";\n"
                  "  },\n"
                  "  { name = \"sh\"; cron = \"@daily\"; command = \"echo hi | wc -c\"; shell = true; user "
                  "= \"daemon\";\n"
                  "    catch_up = \"none\"; }\n"
                  ");\n" },
        };
        char expected[160];

        write_tree(f->dir, files, ELEMENTSOF(files));
        _cleanup_(config_freep) Config *c = load_ok(f, "conf/udfcrond.conf");
        const DaemonSettings *d = &c->settings;
        assert_string_equal(d->timezone, "Europe/Berlin");
        snprintf(expected, sizeof expected, "%s/conf/../jobs", f->dir);
        assert_string_equal(d->schedules_directory, expected);
        snprintf(expected, sizeof expected, "%s/conf/state", f->dir);
        assert_string_equal(d->state_directory, expected);
        assert_string_equal(d->runtime_directory, "/run/x");
        assert_string_equal(d->python, "/opt/py/bin/python3");
        assert_int_equal(d->max_concurrent_runs, 100000);
        assert_int_equal(d->shutdown_timeout_usec, 120 * USEC_PER_SEC);
        assert_int_equal(d->defaults.overlap, OVERLAP_QUEUE);
        assert_int_equal(d->defaults.retries, 2);
        snprintf(expected, sizeof expected, "%s/conf/ca.pem", f->dir);
        assert_string_equal(d->http.ca_file, expected);
        assert_int_equal(d->http.connect_timeout_usec, 3 * USEC_PER_SEC);
        assert_int_equal(d->http.timeout_usec, 120 * USEC_PER_SEC);
        assert_int_equal(d->http.low_speed_limit, 100);
        assert_int_equal(d->http.low_speed_time_usec, 0);
        assert_int_equal(d->http.max_reply_size, 512 * 1024);
        assert_int_equal(d->http.retries, 0);
        assert_int_equal(d->http.retry_backoff_usec, 2 * USEC_PER_SEC);
        assert_int_equal(d->http.retry_backoff_max_usec, 2 * USEC_PER_SEC);
        assert_int_equal(d->http.max_connections_per_host, 4);
        assert_int_equal(c->n_schedules, 3);

        const Schedule *m = config_find_schedule(c, "in-main");
        assert_non_null(m);
        assert_string_equal(m->file, "conf/udfcrond.conf");
        assert_string_equal(tz_zone_name(m->zone), "Europe/Berlin");
        assert_int_equal(m->policy.overlap, OVERLAP_QUEUE); /* inherited */
        assert_int_equal(m->policy.retries, 2);
        assert_int_equal(m->policy.kill_grace_usec, 5 * USEC_PER_SEC);
        assert_int_equal(m->policy.dst, CRON_DST_SKIP);
        assert_int_equal(m->cron.dst_policy, CRON_DST_SKIP);
        assert_int_equal(m->policy.retry_backoff_usec, 30 * USEC_PER_SEC);

        const Schedule *s = config_find_schedule(c, "every.key@1");
        assert_non_null(s);
        assert_string_equal(s->file, "conf/../jobs/a.conf");
        assert_int_equal(s->line, 3);
        assert_string_equal(s->cron_text, "0 30 2 * * *");
        assert_string_equal(tz_zone_name(s->zone), "America/New_York");
        assert_false(s->enabled);
        assert_int_equal(s->work, WORK_UDF);
        snprintf(expected, sizeof expected, "%s/conf/../jobs/job.py", f->dir);
        assert_string_equal(s->udf_path, expected);
        assert_string_equal(s->entrypoint, "run");
        assert_null(s->command);
        _cleanup_free_ char *json = cJSON_PrintUnformatted(s->params);
        assert_string_equal(
                json, "{\"s\":\"${scheduled:%F} $$5 ${env:HOME} ${secret:db-pass} $x\",\"i\":7,"
                      "\"big\":5000000000,\"f\":1.5,\"b\":true,\"a\":[1,2],\"l\":[\"x\",3,{\"k\":\"v\"}],"
                      "\"g\":{\"h\":{\"deep\":\"${run_id}/${attempt}/${schedule}/${now:%s}\"}}}");
        assert_string_equal(s->working_directory, "/tmp");
        assert_string_equal(s->environment[0], "LANG=C.UTF-8");
        assert_string_equal(s->environment[1], "X_1=");
        assert_null(s->environment[2]);
        assert_int_equal(s->uid, 1);
        assert_int_equal(s->gid, 0); /* `group` wins over the user's primary group, in either order */
        assert_int_equal(s->nice, -20);
        assert_int_equal(s->policy.overlap, OVERLAP_REPLACE);
        assert_int_equal(s->policy.catch_up.mode, CATCH_UP_BOUNDED);
        assert_int_equal(s->policy.catch_up.count, 3);
        assert_int_equal(s->policy.catch_up.within_usec, 6 * 3600 * USEC_PER_SEC);
        assert_int_equal(s->policy.jitter_usec, 90 * USEC_PER_SEC);
        assert_int_equal(s->policy.timeout_usec, 5400 * USEC_PER_SEC);
        assert_int_equal(s->policy.retries, 100);
        assert_int_equal(s->policy.retry_backoff_usec, 60 * USEC_PER_SEC);
        assert_int_equal(s->policy.retry_backoff_max_usec, 86400 * USEC_PER_SEC);
        assert_int_equal(s->policy.kill_grace_usec, 0);
        assert_int_equal(s->policy.dst, CRON_DST_SHIFT);

        const Schedule *sh = config_find_schedule(c, "sh");
        assert_non_null(sh);
        assert_true(sh->shell);
        assert_string_equal(sh->command[0], "echo hi | wc -c");
        assert_null(sh->command[1]);
        assert_int_equal(sh->uid, 1);
        assert_int_equal(sh->gid, 1); /* the user's primary group */
        assert_int_equal(sh->policy.catch_up.mode, CATCH_UP_NONE);
        assert_string_equal(tz_zone_name(sh->zone), "Europe/Berlin");
}

/* engines.fusion, every key; and schedules on the fusion engine. */
static void test_fusion(void **state) {
        ConfigFixture *f = *state;

        /* what `make run-fusion` runs */
        Config *example = load_ok(f, "etc/fusion-emulator/udfcrond.conf");
        assert_true(example->settings.fusion.configured);
        assert_int_equal(example->n_schedules, 2);
        for (size_t i = 0; i < example->n_schedules; i++)
                assert_int_equal(example->schedules[i]->work, WORK_SPARK_JOB);
        config_free(example);

        static const File files[] = {
                { "udfcrond.conf",
                  "engines = { fusion = {\n"
                  "  base_url = \"https://fusion.example.com:6764/\";\n"
                  "  api_prefix = \"/api/apollo/\";\n"
                  "  app = \"search\";\n"
                  "  auth = \"session\";\n"
                  "  user = \"etl\";\n"
                  "  password = \"${secret:fusion-password}\";\n"
                  "  realm = \"ldap\";\n"
                  "  poll_interval = \"30s\";\n"
                  "}; };\n" },
                { "schedules.d", NULL },
                { "schedules.d/a.conf",
                  "schedules = (\n"
                  "  { name = \"rollup\"; cron = \"@daily\"; engine = \"fusion\";\n"
                  "    fusion = { job = \"daily-rollup\"; jobs_api = true; }; timeout = \"2h\"; },\n"
                  "  { name = \"plain\"; cron = \"@daily\"; engine = \"fusion\";\n"
                  "    fusion = { job = \"Metrics_v2.1\"; }; }\n"
                  ");\n" },
        };

        write_tree(f->dir, files, ELEMENTSOF(files));
        _cleanup_(config_freep) Config *c = load_ok(f, "udfcrond.conf");
        const FusionSettings *fs = &c->settings.fusion;
        assert_true(fs->configured);
        assert_string_equal(fs->base_url, "https://fusion.example.com:6764"); /* never a trailing slash */
        assert_string_equal(fs->api_prefix, "/api/apollo");
        assert_string_equal(fs->app, "search");
        assert_int_equal(fs->auth, FUSION_AUTH_SESSION);
        assert_string_equal(fs->user, "etl");
        assert_string_equal(fs->password, "${secret:fusion-password}"); /* expanded at every run */
        assert_null(fs->token);
        assert_string_equal(fs->realm, "ldap");
        assert_int_equal(fs->poll_interval_usec, 30 * USEC_PER_SEC);

        const Schedule *s = config_find_schedule(c, "rollup");
        assert_string_equal(s->engine, "fusion");
        assert_int_equal(s->work, WORK_SPARK_JOB);
        assert_string_equal(s->fusion.job, "daily-rollup");
        assert_true(s->fusion.jobs_api);
        assert_null(s->command);
        assert_null(s->udf_path);
        assert_int_equal(s->policy.timeout_usec, 7200 * USEC_PER_SEC);
        const Schedule *p = config_find_schedule(c, "plain");
        assert_string_equal(p->fusion.job, "Metrics_v2.1");
        assert_false(p->fusion.jobs_api);
        assert_int_not_equal(p->digest, s->digest);

        /* the defaults */
        static const File minimal[] = {
                { "udfcrond.conf", "engines = { fusion = { base_url = \"http://h\"; user = \"u\"; "
                                   "password = \"p\"; }; };\n" },
                { "schedules.d/a.conf", "" },
        };
        write_tree(f->dir, minimal, ELEMENTSOF(minimal));
        _cleanup_(config_freep) Config *d = load_ok(f, "udfcrond.conf");
        fs = &d->settings.fusion;
        assert_string_equal(fs->base_url, "http://h");
        assert_string_equal(fs->api_prefix, "/api");
        assert_null(fs->app);
        assert_int_equal(fs->auth, FUSION_AUTH_BASIC);
        assert_string_equal(fs->realm, "native");
        assert_int_equal(fs->poll_interval_usec, 5 * USEC_PER_SEC);
        assert_false(c->settings.http.retries == 0);
}

/* Equal definitions hash equal wherever they live; any change shows. */
static void test_digest(void **state) {
        ConfigFixture *f = *state;
        static const File files[] = {
                { "udfcrond.conf", "timezone = \"UTC\";\n" },
                { "schedules.d", NULL },
                { "schedules.d/a.conf",
                  "schedules = ( { name = \"x\"; cron = \"@daily\"; command = [\"/bin/true\"];\n"
                  "params = { a = 1; }; } );\n" },
        };
        write_tree(f->dir, files, ELEMENTSOF(files));
        Config *c1 = load_ok(f, "udfcrond.conf");
        uint64_t d1 = c1->schedules[0]->digest;
        c1 = config_free(c1);
        assert_null(c1);

        /* the same schedule, moved into another file with other spacing and comments */
        assert_int_equal(rename("schedules.d/a.conf", "schedules.d/b.conf"), 0);
        FILE *out = fopen("schedules.d/b.conf", "ae");
        assert_non_null(out);
        fputs("# a comment\n\n", out);
        fclose(out);
        Config *c2 = load_ok(f, "udfcrond.conf");
        assert_int_equal(c2->schedules[0]->digest, d1);
        config_free(c2);

        out = fopen("schedules.d/b.conf", "we");
        assert_non_null(out);
        fputs("schedules = ( { name = \"x\"; cron = \"@daily\"; command = [\"/bin/true\"]; params = { a = "
              "2; }; } );\n",
              out);
        fclose(out);
        Config *c3 = load_ok(f, "udfcrond.conf");
        assert_int_not_equal(c3->schedules[0]->digest, d1);
        config_free(c3);
}

static char *json_of(const cJSON *j) {
        char *text = cJSON_PrintUnformatted(j);
        assert_non_null(text);
        return text;
}

/* arg_list written inline (templates, plain values named by arg_name) or read from a file (data). */
static void test_fanout(void **state) {
        ConfigFixture *f = *state;
        static const File files[] = {
                { "udfcrond.conf", "timezone = \"UTC\";\n" },
                { "schedules.d", NULL },
                { "schedules.d/job.py", "def udf(day, n=0):\n    return n\n" },
                { "schedules.d/days.json", "[\n  \"2024-01-01\",\n  {\"day\": \"${x}\", \"n\": 2}\n]\n" },
                { "schedules.d/a.conf",
                  "schedules = (\n"
                  "  { name = \"inline\"; cron = \"@daily\"; udf = \"job.py\"; params = { n = 1; };\n"
                  "    arg_list = ( { day = \"${scheduled:%F}\"; }, 7, [ 1, 2 ] ); arg_name = \"n\";\n"
                  "    max_workers = 4; max_retry = 0; ignore_exceptions = true; collect = \"ndjson\"; },\n"
                  "  { name = \"file\"; cron = \"@daily\"; udf = \"job.py\";\n"
                  "    arg_list = \"days.json\"; arg_name = \"day\"; }\n"
                  ");\n" },
        };
        write_tree(f->dir, files, ELEMENTSOF(files));
        _cleanup_(config_freep) Config *c = load_ok(f, "udfcrond.conf");

        const Fanout *file = &config_find_schedule(c, "file")->fanout;
        uint64_t digest = config_find_schedule(c, "file")->digest;
        _cleanup_free_ char *file_list = json_of(file->arg_list);
        assert_string_equal(file_list, "[{\"day\":\"2024-01-01\"},{\"day\":\"${x}\",\"n\":2}]");
        assert_false(file->arg_list_templates); /* "${x}" is data: it would be an error in the config */
        assert_int_equal(file->max_workers, 32);

        Schedule *s = config_find_schedule(c, "inline");
        const Fanout *in = &s->fanout;
        _cleanup_free_ char *in_list = json_of(in->arg_list);
        assert_string_equal(in_list, "[{\"day\":\"${scheduled:%F}\"},{\"n\":7},{\"n\":[1,2]}]");
        assert_true(in->arg_list_templates);
        assert_string_equal(in->arg_name, "n");
        assert_int_equal(in->max_workers, 4);
        assert_int_equal(in->max_retry, 0);
        assert_true(in->ignore_exceptions);
        assert_int_equal(in->collect, COLLECT_NDJSON);

        /* a run holding a reference keeps the definition after its config is gone */
        assert_ptr_equal(schedule_ref(s), s);
        config_free(TAKE_PTR(c));
        assert_string_equal(s->name, "inline");
        assert_null(schedule_free(s));

        /* another item is another definition */
        FILE *out = fopen("schedules.d/days.json", "ae");
        assert_non_null(out);
        fputs("\n", out); /* blanks are not */
        fclose(out);
        _cleanup_(config_freep) Config *c2 = load_ok(f, "udfcrond.conf");
        assert_int_equal(config_find_schedule(c2, "file")->digest, digest);
        out = fopen("schedules.d/days.json", "we");
        assert_non_null(out);
        fputs("\"2024-01-01\"\n{\"day\": \"${x}\", \"n\": 2}\n\"2024-01-03\"\n", out); /* NDJSON */
        fclose(out);
        _cleanup_(config_freep) Config *c3 = load_ok(f, "udfcrond.conf");
        assert_int_not_equal(config_find_schedule(c3, "file")->digest, digest);
        assert_int_equal(cJSON_GetArraySize(config_find_schedule(c3, "file")->fanout.arg_list), 3);
}

typedef struct Broken {
        const char *main;      /* udfcrond.conf */
        File files[MAX_FILES]; /* schedules.d/ is created unless no_directory */
        bool no_directory;
        const char *errors[MAX_ERRORS];
} Broken;

#define SCHED(body) "schedules = (\n  {\n" body "  }\n);\n"
#define OK_WORK     "    cron = \"@daily\";\n    command = [\"/bin/true\"];\n"

/* clang-format off: laid out by hand, one field per line */
static const Broken broken[] = {
        {
                .main = "timezone = \"UTC\"\n" "max_concurrent_runs = ;\n",
                .errors = {
                        "udfcrond.conf:2: syntax error",
                },
        },
        /* a syntax error stops that file only; the others are still read */
        {
                .main = "timezone = \"UTC\";\n",
                .files = {
                        { "schedules.d/a.conf", "schedules = ( {\n" "  name = ;\n" "} );\n" },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n"
                                                      "    cron = \"61 * * * *\";\n"
                                                      "    command = [\"/bin/true\"];\n") },
                },
                .errors = {
                        "schedules.d/a.conf:2: syntax error",
                        "schedules.d/b.conf:4: cron: minute field: 61 is out of range 0-59 at column 1",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    timout = \"5m\";\n") },
                },
                .errors = {
                        "schedules.d/a.conf:6: unknown key 'timout' (did you mean 'timeout'?)",
                },
        },
        {
                .main = "timezone = \"UTC\";\n" "max_concurent_runs = 3;\n" "frobnicate = 1;\n",
                .errors = {
                        "udfcrond.conf:2: unknown key 'max_concurent_runs' (did you mean "
                        "'max_concurrent_runs'?)",
                        "udfcrond.conf:3: unknown key 'frobnicate'",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", "name = \"a\";\n" },
                },
                .errors = {
                        "schedules.d/a.conf:1: unknown key 'name' (a schedule file holds only schedules = "
                        "( ... );)",
                },
        },
        /* libconfig refuses duplicate keys itself */
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    retries = \"3\";\n" "    enabled = 1;\n"
                                                      "    nice = 20;\n" "    retries = 4;\n") },
                },
                .errors = {
                        "schedules.d/a.conf:9: duplicate setting name",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    retries = \"3\";\n" "    enabled = 1;\n"
                                                      "    nice = 20;\n" "    params = [1];\n") },
                },
                .errors = {
                        "schedules.d/a.conf:6: retries: expected an integer, got a string",
                        "schedules.d/a.conf:7: enabled: expected a boolean (true or false), got an integer",
                        "schedules.d/a.conf:8: nice: 20 is out of range -20..19",
                        "schedules.d/a.conf:9: params: expected a group { key = value; ... }, got an array",
                },
        },
        {
                .main = "timezone = \"Mars/Base\";\n",
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    timezone = \"Moon/Crater\";\n") },
                },
                .errors = {
                        "udfcrond.conf:1: timezone: unknown time zone 'Mars/Base'",
                        "schedules.d/a.conf:6: timezone: unknown time zone 'Moon/Crater'",
                },
        },
        /* names are unique across all files */
        {
                .files = {
                        { "schedules.d/a.conf", "\n" "schedules = (\n" "  {\n" "    name = \"x\";\n"
                                                "    cron = \"@daily\";\n"
                                                "    command = [\"/bin/true\"];\n" "  }\n" ");\n" },
                        { "schedules.d/b.conf", SCHED("    name = \"x\";\n" OK_WORK) },
                },
                .errors = {
                        "schedules.d/b.conf:3: duplicate schedule name 'x' (first defined at "
                        "schedules.d/a.conf:4)",
                },
        },
        /* the udf path is relative to the schedule file and must name a regular file */
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"missing.py\";\n"
                                                      "    engine = \"cobol\";\n") },
                        { "schedules.d/dir.py", NULL },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"dir.py\";\n") },
                },
                .errors = {
                        "schedules.d/a.conf:5: udf: cannot access 'schedules.d/missing.py': No such file "
                        "or directory",
                        "schedules.d/a.conf:6: engine: unknown engine 'cobol' (known: local, fused, fusion)",
                        "schedules.d/b.conf:5: udf: 'schedules.d/dir.py' is not a regular file",
                },
        },
        {
                .files = {
                        { "schedules.d/x.py", "" },
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    udf = \"x.py\";\n"
                                                      "    entrypoint = \"not-python\";\n") },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" "    cron = \"@daily\";\n"
                                                      "    shell = true;\n") },
                },
                .errors = {
                        "schedules.d/a.conf:7: entrypoint: 'not-python' is not a Python function name",
                        "schedules.d/a.conf:5: schedule 'a' has both udf and command: set only one",
                        "schedules.d/b.conf:2: schedule 'b' has nothing to run: set udf, command or steps",
                        "schedules.d/b.conf:5: shell: only applies with command",
                },
        },
        /* durations always carry a unit */
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    timeout = 30;\n" "    jitter = \"30\";\n"
                                                      "    kill_grace = \"1.5h\";\n"
                                                      "    retry_backoff = \"400d\";\n"
                                                      "    retry_backoff_max = 1.5;\n") },
                },
                .errors = {
                        "schedules.d/a.conf:6: timeout: 30 is not a duration: write \"30s\"",
                        "schedules.d/a.conf:7: jitter: \"30\" is not a duration: write \"30s\"",
                        "schedules.d/a.conf:8: kill_grace: \"1.5h\" is not a duration (write e.g. "
                        "\"30s\", \"15m\", \"2h\", \"1d\" or \"1h30m\")",
                        "schedules.d/a.conf:9: retry_backoff: \"400d\" is too long (at most 366d)",
                        "schedules.d/a.conf:10: retry_backoff_max: expected a duration such as \"30s\", "
                        "got a float",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    command = [\"/bin/echo\", \"${runid}\"];\n"
                                                      "    params = { ok = \"$$ $x ${run_id}\";\n"
                                                      "      bad = \"${schedul}\";\n"
                                                      "      list = [ \"${schedule:x}\" ];\n"
                                                      "      g = { open = \"${now:%F\"; }; };\n") },
                },
                .errors = {
                        "schedules.d/a.conf:5: command: element 2: unknown reference '${runid}' (known: "
                        "scheduled:FORMAT, now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)",
                        "schedules.d/a.conf:7: params.bad: unknown reference '${schedul}' (known: "
                        "scheduled:FORMAT, now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)",
                        "schedules.d/a.conf:8: params.list[0]: '${schedule}' takes no argument",
                        "schedules.d/a.conf:9: params.g.open: unterminated reference '${now:%F' (missing "
                        "'}'; write $$ for a literal $)",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", "schedules = (\n"
                                                " { name = \"has space\";    cron = \"@daily\";\n"
                                                "    command = [\"/bin/true\"];\n" "},\n"
                                                " { name = \"\";    cron = \"@daily\";\n"
                                                "    command = [\"/bin/true\"];\n" "},\n"
                                                " { cron = \"@daily\"; command = "
                                                "[\"/bin/true\"]; }\n" ");\n" },
                },
                .errors = {
                        "schedules.d/a.conf:2: name: 'has space' is not a valid schedule name: use 1-64 "
                        "characters of A-Z a-z 0-9 _ . @ -",
                        "schedules.d/a.conf:5: name: '' is not a valid schedule name: use 1-64 characters "
                        "of A-Z a-z 0-9 _ . @ -",
                        "schedules.d/a.conf:8: schedule has no name: add name = \"...\"",
                },
        },
        /* a missing schedules directory, the default one or a named one */
        {
                .no_directory = true,
                .errors = {
                        "udfcrond.conf: cannot open schedules directory 'schedules.d': No such file or "
                        "directory",
                },
        },
        {
                .main = "timezone = \"UTC\";\n" "\n" "schedules_directory = \"jobs\";\n",
                .no_directory = true,
                .errors = {
                        "udfcrond.conf:3: schedules_directory: cannot open 'jobs': No such file or "
                        "directory",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    command = \"/bin/true\";\n"
                                                      "    environment = { ok = \"1\"; bad-name = "
                                                      "\"2\"; N = 3; };\n"
                                                      "    user = \"no-such-user-here\";\n"
                                                      "    group = \"no-such-group-here\";\n"
                                                      "    working_directory = \"tmp\";\n") },
                },
                .errors = {
                        "schedules.d/a.conf:6: environment: 'bad-name' is not a valid variable name",
                        "schedules.d/a.conf:6: environment: N: expected a string, got an integer",
                        "schedules.d/a.conf:7: user: unknown user 'no-such-user-here'",
                        "schedules.d/a.conf:8: group: unknown group 'no-such-group-here'",
                        "schedules.d/a.conf:9: working_directory: 'tmp' is not an absolute path",
                        "schedules.d/a.conf:5: command: a single string needs shell = true; otherwise "
                        "write a list such as [\"/bin/echo\", \"hello\"]",
                },
        },
        {
                .files = {
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" "    cron = \"@daily\";\n"
                                                      "    command = (\"a\", 1);\n") },
                        { "schedules.d/c.conf", SCHED("    name = \"c\";\n" "    cron = \"@daily\";\n"
                                                      "    command = [\"ls\"];\n"
                                                      "    shell = true;\n") },
                        { "schedules.d/d.conf", "schedules = { name = \"d\"; };\n" },
                        { "schedules.d/e.conf", "schedules = ( 1, { name = \"e\"; cron = "
                                                "\"@daily\"; command = []; overlap = \"never\"; "
                                                "catch_up = \"last 0 within 1h\"; } );\n" },
                },
                .errors = {
                        "schedules.d/b.conf:5: command: element 2: expected a string, got an integer",
                        "schedules.d/c.conf:5: command: with shell = true, write one string for /bin/sh -c",
                        "schedules.d/d.conf:1: schedules: expected a list of groups: schedules = ( { ... "
                        "}, { ... } );, got a group",
                        "schedules.d/e.conf:1: schedules: element 1: expected a group { ... }, got an "
                        "integer",
                        "schedules.d/e.conf:1: command: names no program",
                        "schedules.d/e.conf:1: overlap: 'never' is not one of skip, allow, replace, queue",
                        "schedules.d/e.conf:1: catch_up: 'last 0 within 1h' is not none, last, all or "
                        "\"last N within DURATION\" (e.g. \"last 3 within 6h\")",
                },
        },
        {
                .main = "max_concurrent_runs = 0;\n" "shutdown_timeout = \"-1s\";\n"
                        "defaults = { retries = 101; dst = \"fall\"; " "catch_up = \"some\"; };\n"
                        "python = \"\";\n",
                .errors = {
                        "udfcrond.conf:1: max_concurrent_runs: 0 is out of range 1..100000",
                        "udfcrond.conf:2: shutdown_timeout: \"-1s\" is not a duration (write e.g. "
                        "\"30s\", \"15m\", \"2h\", \"1d\" or \"1h30m\")",
                        "udfcrond.conf:3: retries: 101 is out of range 0..100",
                        "udfcrond.conf:3: dst: 'fall' is not one of shift, skip",
                        "udfcrond.conf:3: catch_up: 'some' is not none, last, all or \"last N within "
                        "DURATION\" (e.g. \"last 3 within 6h\")",
                        "udfcrond.conf:4: python: must not be empty",
                },
        },
        {
                .main = "http = {\n"
                        "  ca_file = \"no/such/ca.pem\";\n"
                        "  connect_timeout = \"0s\";\n"
                        "  timeout = 30;\n"
                        "  max_reply_size = \"64MB\";\n"
                        "  retry_backoff = \"1m\";\n"
                        "  retry_backoff_max = \"30s\";\n"
                        "  retrys = 3;\n"
                        "  max_connections_per_host = 0;\n"
                        "};\n",
                .errors = {
                        "udfcrond.conf:2: ca_file: cannot access 'no/such/ca.pem': No such file or directory",
                        "udfcrond.conf:4: timeout: 30 is not a duration: write \"30s\"",
                        "udfcrond.conf:5: max_reply_size: \"64MB\" is not a size (write e.g. \"512K\", "
                        "\"64M\" or \"1G\")",
                        "udfcrond.conf:8: unknown key 'retrys' (did you mean 'retries'?)",
                        "udfcrond.conf:9: max_connections_per_host: 0 is out of range 1..10000",
                        "udfcrond.conf:3: connect_timeout: must be at least 1s",
                        "udfcrond.conf:7: retry_backoff_max: shorter than retry_backoff",
                },
        },
        {
                .main = "http = \"fast\";\n" "defaults = { max_reply_size = \"1M\"; };\n",
                .errors = {
                        "udfcrond.conf:1: http: expected a group { timeout = ...; retries = ...; }, got a "
                        "string",
                        "udfcrond.conf:2: unknown key 'max_reply_size'",
                },
        },
        {
                .main = "http = {\n  retry_backoff = \"1m\";\n};\n",
                .errors = { "udfcrond.conf:2: retry_backoff_max: shorter than retry_backoff" },
        },
        {
                .main = "http = { max_reply_size = \"2G\"; };\n",
                .errors = { "udfcrond.conf:1: max_reply_size: out of range 1..1G" },
        },
        {
                .main = "http = { max_reply_size = 0; };\n",
                .errors = { "udfcrond.conf:1: max_reply_size: out of range 1..1G" },
        },
        /* the fusion engine: its settings, and what its schedules may hold */
        {
                .main = "engines = {\n"
                        "  fusion = {\n"
                        "    base_url = \"ftp://h\";\n"
                        "    api_prefix = \"api\";\n"
                        "    app = \"my app\";\n"
                        "    auth = \"kerberos\";\n"
                        "    password = \"${secret:}\";\n"
                        "    poll_interval = \"0s\";\n"
                        "  };\n"
                        "  spark = { };\n"
                        "};\n",
                .errors = {
                        "udfcrond.conf:3: base_url: 'ftp://h' is not an http:// or https:// URL",
                        "udfcrond.conf:4: api_prefix: 'api' is not a path such as \"/api\" or "
                        "\"/api/apollo\"",
                        "udfcrond.conf:5: app: 'my app' is not a valid id: use 1-128 characters of A-Z a-z "
                        "0-9 _ . -",
                        "udfcrond.conf:6: auth: 'kerberos' is not one of basic, session, bearer, api_key",
                        "udfcrond.conf:7: password: '${secret:}' needs an argument, as in ${secret:NAME}",
                        "udfcrond.conf:2: engines.fusion: auth = \"basic\" needs user and password",
                        "udfcrond.conf:8: poll_interval: must be at least 1s",
                        "udfcrond.conf:10: unknown key 'spark'",
                },
        },
        {
                .main = "engines = { fusion = { base_url = \"https://u:p@h/?x=1\"; auth = \"api_key\";\n"
                        "  user = \"u\"; realm = \"r\"; }; };\n",
                .errors = {
                        "udfcrond.conf:1: base_url: 'https://u:p@h/?x=1': no query, fragment, user info or "
                        "blanks, please",
                        "udfcrond.conf:1: engines.fusion: auth = \"api_key\" needs token",
                        "udfcrond.conf:2: user: only applies with auth = \"basic\", \"session\" or "
                        "\"bearer\"",
                        "udfcrond.conf:2: realm: only applies with auth = \"session\"",
                },
        },
        {
                .main = "engines = { fusion = { base_url = \"http://h\"; auth = \"bearer\";\n"
                        "  user = \"u\"; token = \"t\"; }; };\n",
                .errors = {
                        "udfcrond.conf:2: token: set either token, or user and password (for a token from "
                        "/oauth2/token), not both",
                },
        },
        {
                .main = "engines = { fusion = { base_url = \"http://h\"; auth = \"session\"; user = \"u\";\n"
                        "  password = \"p\"; token = \"t\"; }; };\n",
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    fusion = { job = \"x\"; jobs_api = true; };\n") },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" "    cron = \"@daily\";\n"
                                                      "    engine = \"fusion\";\n"
                                                      "    fusion = { job = \"a/b\"; jobs = true; };\n"
                                                      "    command = [\"/bin/true\"];\n"
                                                      "    params = { x = 1; };\n") },
                        { "schedules.d/c.conf", SCHED("    name = \"c\";\n" "    cron = \"@daily\";\n"
                                                      "    engine = \"fusion\";\n") },
                },
                .errors = {
                        "udfcrond.conf:2: token: only applies with auth = \"bearer\" or \"api_key\"",
                        "schedules.d/a.conf:6: fusion: only applies with engine = \"fusion\"",
                        "schedules.d/b.conf:6: job: 'a/b' is not a valid id: use 1-128 characters of "
                        "A-Z a-z 0-9 _ . -",
                        "schedules.d/b.conf:6: unknown key 'jobs' (did you mean 'job'?)",
                        "schedules.d/b.conf:7: command: only applies to engine \"local\"",
                        "schedules.d/b.conf:8: params: only applies to engine \"local\"",
                        "schedules.d/b.conf:6: schedule 'b' has nothing to run: set fusion = { job = \"...\"; } "
                        "(the id of a Spark job configuration)",
                        "schedules.d/c.conf:2: schedule 'c' has nothing to run: set fusion = { job = \"...\"; } "
                        "(the id of a Spark job configuration)",
                },
        },
        {
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    engine = \"fusion\";\n"
                                                      "    fusion = { job = \"x\"; };\n") },
                },
                .errors = {
                        "schedules.d/a.conf:5: engine: \"fusion\" needs the engines.fusion group in "
                        "udfcrond.conf (base_url, auth, ...)",
                },
        },
        /* libconfig 1.5 would exit() on an @include of a directory */
        {
                .main = "timezone = \"UTC\";\n" "@include \"inc.conf\"\n",
                .files = {
                        { "inc.conf", "max_concurrent_runs = 2;\n" "@include \"schedules.d\"\n" },
                },
                .errors = {
                        "inc.conf:2: @include 'schedules.d': not a regular file",
                },
        },
        {
                .main = "timezone = \"UTC\";\n" "@include \"inc.conf\"\n",
                .files = {
                        { "inc.conf", "\n" "max_concurrent_runs = \"2\";\n" },
                        { "schedules.d/a.conf", "  @include \"\"\n" },
                },
                .errors = {
                        "inc.conf:2: max_concurrent_runs: expected an integer, got a string",
                        "schedules.d/a.conf:1: @include '': not a regular file",
                },
        },
        {
                .main = "@include \"missing.conf\"\n",
                .errors = {
                        "udfcrond.conf:1: cannot open include file",
                },
        },
        /* fan-out: inline items are checked like params; a file's errors name the file's own line */
        {
                .files = {
                        { "schedules.d/x.py", "" },
                        { "schedules.d/args.ndjson", "{\"a\": 1}\n" "\n" "7\n" },
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"x.py\";\n"
                                                      "    arg_list = ( { a = 1; }, 2, { b = \"${schedul}\"; } );\n"
                                                      "    max_workers = 0;\n" "    collect = \"csv\";\n") },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" OK_WORK
                                                      "    arg_list = [ 1 ];\n" "    max_retry = 3;\n") },
                        { "schedules.d/c.conf", SCHED("    name = \"c\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"x.py\";\n"
                                                      "    arg_list = \"args.ndjson\";\n") },
                        { "schedules.d/d.conf", SCHED("    name = \"d\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"x.py\";\n"
                                                      "    arg_list = \"missing.json\";\n"
                                                      "    arg_name = \"1x\";\n") },
                },
                .errors = {
                        "schedules.d/a.conf:7: max_workers: 0 is out of range 1..1000",
                        "schedules.d/a.conf:8: collect: 'csv' is not one of json, ndjson",
                        "schedules.d/a.conf:6: arg_list[1]: a number, and no arg_name names the parameter it "
                        "sets: write an object of parameters, or set arg_name",
                        "schedules.d/a.conf:6: arg_list[2].b: unknown reference '${schedul}' (known: "
                        "scheduled:FORMAT, now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)",
                        "schedules.d/b.conf:6: arg_list: only UDF schedules fan out (a command has no result)",
                        "schedules.d/args.ndjson:3: arg_list: item 2: a number, and no arg_name names the "
                        "parameter it sets: write an object of parameters, or set arg_name",
                        "schedules.d/d.conf:7: arg_name: '1x' is not a Python parameter name",
                        "schedules.d/d.conf:6: arg_list: cannot read 'schedules.d/missing.json': No such "
                        "file or directory",
                },
        },
        {
                .files = {
                        { "schedules.d/x.py", "" },
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" OK_WORK
                                                      "    max_workers = 4;\n" "    collect = \"json\";\n") },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"x.py\";\n"
                                                      "    arg_list = { a = 1; };\n") },
                        { "schedules.d/c.conf", SCHED("    name = \"c\";\n" "    cron = \"@daily\";\n"
                                                      "    udf = \"x.py\";\n"
                                                      "    arg_list = \".\";\n") },
                        { "schedules.d/d.conf", SCHED("    name = \"d\";\n" "    cron = \"@daily\";\n"
                                                      "    engine = \"fused\";\n"
                                                      "    fused = { udf = \"team/x\"; mode = \"batch\"; token = \"t\"; };\n"
                                                      "    arg_list = [ 1 ];\n" "    arg_name = \"n\";\n") },
                },
                .errors = {
                        "schedules.d/a.conf:6: max_workers: only applies with arg_list",
                        "schedules.d/a.conf:7: collect: only applies with arg_list",
                        "schedules.d/b.conf:6: arg_list: expected a list ( { ... }, { ... } ), an array [ ... ] "
                        "or a file name, got a group",
                        "schedules.d/c.conf:6: arg_list: 'schedules.d/.' is not a regular file",
                        "schedules.d/d.conf:7: arg_list: a batch job fans out by itself, one task per element "
                        "of fused.inputs: use that",
                },
        },
        /* the fused engine: its settings, and schedules that cannot run on it */
        {
                .main = "engines = { fused = {\n  poll_interval = \"10s\";\n  quiet_log_interval = \"5s\";\n}; };\n",
                .errors = { "udfcrond.conf:3: quiet_log_interval: shorter than poll_interval" },
        },
        {
                .main = "timezone = \"UTC\";\n" "engines = {\n" "  fused = {\n" "    base_url = \"ftp://x\";\n"
                        "    tokn = \"${secret:t}\";\n" "    poll_interval = \"0s\";\n" "  };\n" "};\n",
                .files = {
                        { "schedules.d/a.conf", SCHED("    name = \"a\";\n" "    cron = \"@daily\";\n"
                                                      "    engine = \"fused\";\n"
                                                      "    command = [\"/bin/true\"];\n"
                                                      "    fused = { udf = \"noslash\"; region = \"x\"; };\n") },
                        { "schedules.d/b.conf", SCHED("    name = \"b\";\n" OK_WORK
                                                      "    fused = { mode = \"batch\"; };\n") },
                },
                .errors = {
                        "udfcrond.conf:4: base_url: 'ftp://x' is not an http:// or https:// URL",
                        "udfcrond.conf:5: unknown key 'tokn' (did you mean 'token'?)",
                        "udfcrond.conf:6: poll_interval: must be at least 1s",
                        "schedules.d/a.conf:7: udf: 'noslash' is not owner/name (e.g. \"user@example.com/rollup\" "
                        "or \"team/rollup\")",
                        "schedules.d/a.conf:6: command: only applies to engine \"local\"",
                        "schedules.d/a.conf:7: region: only applies with mode = \"batch\"",
                        "schedules.d/a.conf:2: schedule 'a' has nothing to run: set udf (a file, posted as "
                        "code), fused.udf (\"owner/name\") or fused.shared_token",
                        "schedules.d/a.conf:2: schedule 'a' needs a Fused token: set token = "
                        "\"${secret:NAME}\" in the engines.fused group of udfcrond.conf (or in the schedule's "
                        "fused group)",
                        "schedules.d/b.conf:6: fused: only applies with engine = \"fused\"",
                },
        },
};
/* clang-format on */

static void test_broken(void **state) {
        ConfigFixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(broken); i++) {
                const Broken *b = &broken[i];
                const File main = { "udfcrond.conf", b->main ?: "timezone = \"UTC\";\n" };
                const File schedules_d = { "schedules.d", NULL };
                char name[32];
                snprintf(name, sizeof name, "case-%zu", i);
                _cleanup_free_ char *dir = testdir_mkdir(f->dir, name, 0755);

                write_tree(dir, &main, 1);
                if (!b->no_directory)
                        write_tree(dir, &schedules_d, 1);
                write_tree(dir, b->files, MAX_FILES);
                assert_true(
                        config_errors_match("udfcrond.conf", f->tzdb, b->errors, MAX_ERRORS, f->dir, name));
        }
}

/* Every key of engines.fused and of a schedule's fused group, read into the config. */
static void test_fused_keys(void **state) {
        static const File files[] = {
                { "udfcrond.conf", "timezone = \"UTC\";\n"
                                   "engines = { fused = {\n"
                                   "  base_url = \"https://fused.example/server/v1/\";\n"
                                   "  shared_base_url = \"https://udf.example\";\n"
                                   "  token = \"${secret:fused-token}\";\n"
                                   "  realtime_client_id = \"rt-1\";\n"
                                   "  instance_type = \"m5.large\"; region = \"us-east-1\"; disk_size_gb = 20;\n"
                                   "  poll_interval = \"10s\"; realtime_timeout = \"5m\"; quiet_log_interval = \"1m\";\n"
                                   "  send_status_email = true; cache = true;\n"
                                   "}; };\n" },
                { "schedules.d", NULL },
                { "schedules.d/job.py", "def udf(): pass\n" },
                { "schedules.d/a.conf",
                  "schedules = (\n"
                  "  { name = \"batch\"; cron = \"@daily\"; engine = \"fused\";\n"
                  "    fused = { udf = \"team/rollup\"; mode = \"batch\"; instance_type = \"r5.large\";\n"
                  "              region = \"eu-west-1\"; disk_size_gb = 200; image = \"img:1\";\n"
                  "              additional_env = [ \"A=1\", \"B=x=y\" ]; inputs = ( { d = \"${schedule}\"; }, 2 );\n"
                  "              base_url = \"http://other:1/v1\"; token = \"${secret:other}\"; }; },\n"
                  "  { name = \"code\"; cron = \"@daily\"; engine = \"fused\"; udf = \"job.py\";\n"
                  "    fused = { format = \"json\"; }; },\n"
                  "  { name = \"shared\"; cron = \"@daily\"; engine = \"fused\";\n"
                  "    fused = { shared_token = \"fsh_abc\"; additional_env = { X = \"1\"; }; mode = \"batch\"; }; }\n"
                  ");\n" },
        };
        ConfigFixture *f = *state;
        write_tree(f->dir, files, ELEMENTSOF(files));
        _cleanup_(config_freep) Config *c = load_ok(f, "udfcrond.conf");
        const FusedSettings *e = &c->settings.fused;

        assert_string_equal(e->base_url, "https://fused.example/server/v1"); /* the slash goes */
        assert_string_equal(e->shared_base_url, "https://udf.example");
        assert_string_equal(e->token, "${secret:fused-token}"); /* expanded at dispatch */
        assert_string_equal(e->realtime_client_id, "rt-1");
        assert_string_equal(e->instance_type, "m5.large");
        assert_string_equal(e->region, "us-east-1");
        assert_int_equal(e->disk_size_gb, 20);
        assert_int_equal(e->poll_interval_usec, 10 * USEC_PER_SEC);
        assert_int_equal(e->quiet_log_interval_usec, 60 * USEC_PER_SEC);
        assert_int_equal(e->realtime_timeout_usec, 300 * USEC_PER_SEC);
        assert_true(e->send_status_email && e->cache);

        const Schedule *b = config_find_schedule(c, "batch"), *code = config_find_schedule(c, "code"),
                       *shared = config_find_schedule(c, "shared");
        assert_non_null(b), assert_non_null(code), assert_non_null(shared);
        assert_string_equal(b->engine, "fused");
        assert_string_equal(b->fused.saved_udf, "team/rollup");
        assert_int_equal(b->fused.mode, FUSED_MODE_BATCH);
        assert_string_equal(b->fused.instance_type, "r5.large");
        assert_string_equal(b->fused.region, "eu-west-1");
        assert_int_equal(b->fused.disk_size_gb, 200);
        assert_string_equal(b->fused.image, "img:1");
        assert_string_equal(b->fused.additional_env[0], "A=1");
        assert_string_equal(b->fused.additional_env[1], "B=x=y");
        assert_null(b->fused.additional_env[2]);
        _cleanup_free_ char *inputs = cJSON_PrintUnformatted(b->fused.inputs);
        assert_string_equal(inputs, "[{\"d\":\"${schedule}\"},2]");
        assert_string_equal(b->fused.base_url, "http://other:1/v1");
        assert_string_equal(b->fused.token, "${secret:other}");
        assert_int_equal(code->fused.mode, FUSED_MODE_REALTIME);
        assert_string_equal(code->fused.format, "json");
        assert_non_null(code->udf_path);
        assert_string_equal(shared->fused.shared_token, "fsh_abc");
        assert_string_equal(shared->fused.additional_env[0], "X=1");
        /* fused settings are part of what a reload compares */
        assert_true(b->digest != shared->digest);
}

static void test_no_main_file(void **state) {
        ConfigFixture *f = *state;
        Config *c = NULL;
        char **errors = NULL;
        char path[128];
        snprintf(path, sizeof path, "%s/absent.conf", f->dir);
        assert_int_equal(config_load(path, f->tzdb, &c, &errors), -ENOENT);
        assert_null(c);
        assert_null(errors);
        /* opened, but not a config file: that is a config error */
        assert_int_equal(config_load(f->dir, f->tzdb, &c, &errors), -EINVAL);
        assert_null(c);
        assert_non_null(errors);
        snprintf(path, sizeof path, "%s: not a regular file", f->dir);
        assert_string_equal(errors[0], path);
        assert_null(errors[1]);
        strv_free(errors);
}

/* libconfig reads up to a NUL, and an @include name too, which then names the directory itself */
static void test_nul_byte(void **state) {
        ConfigFixture *f = *state;
        static const char text[] = "timezone = \"UTC\";\n@include \"\0schedules.d\"\n";
        static const File files[] = { { "schedules.d", NULL } };
        _cleanup_(strv_freep) char **errors = NULL;
        Config *c = NULL;

        write_tree(f->dir, files, ELEMENTSOF(files));
        FILE *out = fopen("udfcrond.conf", "we");
        assert_non_null(out);
        assert_int_equal(fwrite(text, 1, sizeof text - 1, out), sizeof text - 1);
        assert_int_equal(fclose(out), 0);
        assert_int_equal(config_load("udfcrond.conf", f->tzdb, &c, &errors), -EINVAL);
        assert_null(c);
        assert_string_equal(errors[0], "udfcrond.conf:2: contains a NUL byte: not a text file");
        assert_null(errors[1]);
}

static void test_schedule_strings(void **state) {
        (void) state;
        static const struct {
                const char *text, *canonical;
                CatchUpMode mode;
                unsigned count;
                uint64_t within_sec;
        } ok[] = {
                { "none", "none", CATCH_UP_NONE, 0, 0 },
                { "last", "last", CATCH_UP_LAST, 0, 0 },
                { "all", "all", CATCH_UP_ALL, 0, 0 },
                { "last 3 within 6h", "last 3 within 6h", CATCH_UP_BOUNDED, 3, 21600 },
                { "  last\t1   within 90m ", "last 1 within 1h30m", CATCH_UP_BOUNDED, 1, 5400 },
                { "last 10 within 1w", "last 10 within 7d", CATCH_UP_BOUNDED, 10, 604800 },
                { "last 2 within 1d1s", "last 2 within 1d1s", CATCH_UP_BOUNDED, 2, 86401 },
        };
        static const char *const bad[] = { "",
                                           "None",
                                           "last 0 within 1h",
                                           "last 3",
                                           "last 3 within",
                                           "last 3 within 0s",
                                           "last x within 1h",
                                           "last 3 inside 1h",
                                           "last 3 within 1h extra",
                                           "last -1 within 1h",
                                           "last 3 within 30",
                                           "first 3 within 1h",
                                           "last 99999999999999999999 within 1h" };
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                CatchUp c = { .mode = _CATCH_UP_MODE_INVALID };
                assert_int_equal(catch_up_parse(ok[i].text, &c), 0);
                assert_int_equal(c.mode, ok[i].mode);
                assert_int_equal(c.count, ok[i].count);
                assert_int_equal(c.within_usec, ok[i].within_sec * USEC_PER_SEC);
                assert_string_equal(catch_up_to_string(&c, buf, sizeof buf), ok[i].canonical);
                CatchUp again;
                assert_int_equal(catch_up_parse(buf, &again), 0);
                assert_memory_equal(&again, &c, sizeof c);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CatchUp c = { .mode = CATCH_UP_ALL, .count = 42 };
                assert_int_equal(catch_up_parse(bad[i], &c), -EINVAL);
                assert_int_equal(c.count, 42);
        }
        assert_int_equal(catch_up_parse(NULL, &(CatchUp){}), -EINVAL);
        assert_null(catch_up_to_string(&(CatchUp){ .mode = _CATCH_UP_MODE_MAX }, buf, sizeof buf));

        static const char *const overlap[] = { "skip", "allow", "replace", "queue" };
        for (int p = 0; p < _OVERLAP_POLICY_MAX; p++) {
                assert_string_equal(overlap_policy_to_string(p), overlap[p]);
                assert_int_equal(overlap_policy_from_string(overlap[p]), p);
        }
        assert_null(overlap_policy_to_string(_OVERLAP_POLICY_MAX));
        assert_null(overlap_policy_to_string(_OVERLAP_POLICY_INVALID));
        assert_int_equal(overlap_policy_from_string("Skip"), _OVERLAP_POLICY_INVALID);
        assert_int_equal(overlap_policy_from_string(NULL), _OVERLAP_POLICY_INVALID);
        assert_null(schedule_free(NULL));
        assert_null(config_free(NULL));
        assert_null(strv_free(NULL));
        assert_null(config_find_schedule(NULL, "x"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_examples, setup, teardown),
                cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fusion, setup, teardown),
                cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fanout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fused_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_main_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
                cmocka_unit_test(test_schedule_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
