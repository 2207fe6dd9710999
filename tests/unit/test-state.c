/* SPDX-License-Identifier: MIT */
/* state: the JSON form, its strict parser, and load/save on a real (temporary) directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cleanup.h"
#include "state.h"

#define SAFE_MAX ((UINT64_C(1) << 53) - 1)

static char dir[] = "/tmp/test-state.XXXXXX";

static char *path_in_dir(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_file(const char *path, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
}

static char *read_file(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        assert_non_null(f);
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        return strdup(buf);
}

/* Names in the test directory, sorted, joined with spaces. */
static char *list_dir(void) {
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);
        assert_true(n >= 0);
        char *out = calloc(1, 4096);
        for (int i = 0; i < n; i++) {
                if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
                        if (*out)
                                strcat(out, " ");
                        strcat(out, names[i]->d_name);
                }
                free(names[i]);
        }
        free(names);
        return out;
}

static int setup(void **state) {
        (void) state;
        strcpy(dir, "/tmp/test-state.XXXXXX");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown(void **state) {
        (void) state;
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static void assert_string_or_null_equal(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_states_equal(const State *a, const State *b) {
        assert_int_equal(a->n_schedules, b->n_schedules);
        for (size_t i = 0; i < a->n_schedules; i++) {
                const ScheduleState *x = &a->schedules[i], *y = &b->schedules[i];
                assert_string_equal(x->name, y->name);
                assert_int_equal(x->last_slot_usec, y->last_slot_usec);
                assert_string_or_null_equal(x->last_result, y->last_result);
                assert_string_or_null_equal(x->last_run_id, y->last_run_id);
                assert_int_equal(x->last_end_usec, y->last_end_usec);
                assert_int_equal(x->paused, y->paused);
                assert_int_equal(x->skip_slot_usec, y->skip_slot_usec);
        }
        assert_int_equal(a->n_runs, b->n_runs);
        for (size_t i = 0; i < a->n_runs; i++) {
                const RunState *x = &a->runs[i], *y = &b->runs[i];
                assert_string_equal(x->run_id, y->run_id);
                assert_string_equal(x->schedule, y->schedule);
                assert_string_equal(x->engine, y->engine);
                assert_int_equal(x->slot_usec, y->slot_usec);
                assert_int_equal(x->attempt, y->attempt);
                assert_int_equal(x->phase, y->phase);
                assert_int_equal(x->started_usec, y->started_usec);
                assert_string_or_null_equal(x->job_id, y->job_id);
                assert_int_equal(x->log_since_ms, y->log_since_ms);
                assert_string_or_null_equal(x->params, y->params);
                assert_string_or_null_equal(x->step, y->step);
                size_t k = 0;
                for (; x->step_outputs && x->step_outputs[k]; k++)
                        assert_string_or_null_equal(x->step_outputs[k], y->step_outputs[k]);
                assert_null(y->step_outputs ? y->step_outputs[k] : NULL);
        }
}

/* Two schedules (one with every field, one with none), two runs (likewise). */
static State *sample_state(void) {
        State *s = state_new();
        ScheduleState *sc;
        assert_non_null(s);
        assert_int_equal(state_ensure_schedule(s, "nightly-etl", &sc), 1);
        sc->last_slot_usec = UINT64_C(1763831700000000);
        sc->last_result = strdup("succeeded \"quoted\" \\ and \n newline");
        sc->last_run_id = strdup("nightly-etl-20251122T171500Z-1");
        sc->last_end_usec = UINT64_C(1763831712345678);
        sc->paused = true;
        sc->skip_slot_usec = SAFE_MAX;
        assert_int_equal(state_ensure_schedule(s, "a-bare", NULL), 1);

        RunState full = {
                .run_id = (char *) "r-1",
                .schedule = (char *) "nightly-etl",
                .engine = (char *) "fused",
                .slot_usec = UINT64_C(1763831700000000),
                .attempt = 3,
                .phase = RUN_PHASE_RUNNING,
                .started_usec = UINT64_C(1763831700123456),
                .job_id = (char *) "job-üñí",
                .log_since_ms = 42,
                .retry_usec = UINT64_C(1763831760000000),
                .params = (char *) "{\"day\":\"2024-01-01\"}",
                .step = (char *) "split",
                .step_outputs = (char *[]){ "extract", "file:///srv/\"x\"", "empty", "", NULL },
        };
        RunState bare = { .run_id = (char *) "r-0",
                          .schedule = (char *) "a-bare",
                          .engine = (char *) "local",
                          .attempt = 1,
                          .phase = RUN_PHASE_DISPATCHING };
        RunState prepared = { .run_id = (char *) "r-2",
                              .schedule = (char *) "a-bare",
                              .engine = (char *) "local",
                              .slot_usec = UINT64_C(1763831760000000),
                              .attempt = 1,
                              .phase = RUN_PHASE_PREPARED };
        assert_int_equal(state_add_run(s, &full), 0);
        assert_int_equal(state_add_run(s, &bare), 0);
        assert_int_equal(state_add_run(s, &prepared), 0);
        return s;
}

static void test_round_trip(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = sample_state(), *back = NULL;
        _cleanup_free_ char *text = state_format(s), *again = NULL;
        assert_non_null(text);
        assert_int_equal(state_parse(text, strlen(text), &back, NULL), 0);
        assert_states_equal(s, back);
        again = state_format(back);
        assert_string_equal(text, again);

        /* One record per line; absent and zero optional fields are left out; numbers are plain integers. */
        assert_string_equal(
                text,
                "{\"version\":1,\"schedules\":[\n"
                "{\"name\":\"a-bare\"},\n"
                "{\"name\":\"nightly-etl\",\"last_slot_usec\":1763831700000000,"
                "\"last_result\":\"succeeded \\\"quoted\\\" \\\\ and \\n newline\","
                "\"last_run_id\":\"nightly-etl-20251122T171500Z-1\",\"last_end_usec\":1763831712345678,"
                "\"paused\":true,\"skip_slot_usec\":9007199254740991}\n"
                "],\"runs\":[\n"
                "{\"run_id\":\"r-1\",\"schedule\":\"nightly-etl\",\"engine\":\"fused\","
                "\"slot_usec\":1763831700000000,\"attempt\":3,\"phase\":\"running\","
                "\"started_usec\":1763831700123456,\"job_id\":\"job-üñí\",\"log_since_ms\":42,"
                "\"retry_usec\":1763831760000000,\"params\":\"{\\\"day\\\":\\\"2024-01-01\\\"}\","
                "\"step\":\"split\",\"step_outputs\":{\"extract\":\"file:///srv/\\\"x\\\"\","
                "\"empty\":\"\"}},\n"
                "{\"run_id\":\"r-0\",\"schedule\":\"a-bare\",\"engine\":\"local\",\"attempt\":1,"
                "\"phase\":\"dispatching\"},\n"
                "{\"run_id\":\"r-2\",\"schedule\":\"a-bare\",\"engine\":\"local\","
                "\"slot_usec\":1763831760000000,\"attempt\":1,\"phase\":\"prepared\"}\n"
                "]}\n");

        _cleanup_(state_freep) State *empty = state_new();
        free(text);
        text = state_format(empty);
        assert_string_equal(text, "{\"version\":1,\"schedules\":[],\"runs\":[]}\n");
}

static void test_parse_minimal_and_lenient(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = NULL;
        const char *doc = "{\"version\":1}";
        assert_int_equal(state_parse(doc, strlen(doc), &s, NULL), 0);
        assert_int_equal(s->n_schedules, 0);
        assert_int_equal(s->n_runs, 0);
        s = state_free(s);

        /* unsorted schedules are sorted; unknown keys (a later minor addition) are ignored; 1.0 == 1 */
        doc = "  {\"future\":[1,{}],\"version\":1.0,\"schedules\":[{\"name\":\"b\",\"x\":null},\n"
              "{\"name\":\"a\",\"paused\":false,\"last_slot_usec\":0}],\"runs\":[]}\n\t";
        assert_int_equal(state_parse(doc, strlen(doc), &s, NULL), 0);
        assert_int_equal(s->n_schedules, 2);
        assert_string_equal(s->schedules[0].name, "a");
        assert_string_equal(s->schedules[1].name, "b");
        assert_non_null(state_find_schedule(s, "a"));
        assert_non_null(state_find_schedule(s, "b"));
}

static const struct {
        const char *json;
        const char *error;
} invalid_docs[] = {
        { "", "invalid JSON at byte 0" },
        { "{\"version\":1", "invalid JSON at byte 11" },
        { "{\"version\":1} x", "invalid JSON at byte 14" },
        { "{\"version\":1}{}", "invalid JSON at byte 13" },
        { "[]", "expected a JSON object" },
        { "{}", "version: missing" },
        { "{\"version\":2}", "version: unsupported version 2, expected 1" },
        { "{\"version\":0}", "version: unsupported version 0, expected 1" },
        { "{\"version\":\"1\"}", "version: expected an integer" },
        { "{\"version\":1.5}", "version: expected an integer" },
        { "{\"version\":-1}", "version: expected an integer" },
        { "{\"version\":1,\"version\":1}", "duplicate key \"version\"" },
        { "{\"version\":1,\"schedules\":{}}", "schedules: expected an array" },
        { "{\"version\":1,\"runs\":null}", "runs: expected an array" },
        { "{\"version\":1,\"schedules\":[1]}", "schedules[0]: expected an object" },
        { "{\"version\":1,\"schedules\":[{}]}", "schedules[0].name: missing" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"\"}]}",
          "schedules[0].name: expected a non-empty string" },
        { "{\"version\":1,\"schedules\":[{\"name\":7}]}", "schedules[0].name: expected a non-empty string" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"name\":\"b\"}]}",
          "schedules[0]: duplicate key \"name\"" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\"},{\"name\":\"b\",\"paused\":1}]}",
          "schedules[1].paused: expected true or false" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_result\":\"\"}]}",
          "schedules[0].last_result: expected a non-empty string" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_slot_usec\":-1}]}",
          "schedules[0].last_slot_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_end_usec\":1.5}]}",
          "schedules[0].last_end_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"skip_slot_usec\":\"5\"}]}",
          "schedules[0].skip_slot_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_slot_usec\":9007199254740992}]}",
          "schedules[0].last_slot_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_slot_usec\":9007199254740993}]}",
          "schedules[0].last_slot_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\",\"last_slot_usec\":1e400}]}",
          "schedules[0].last_slot_usec: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"x\"},{\"name\":\"a\"},{\"name\":\"x\"}]}",
          "schedules: duplicate name \"x\"" },
        { "{\"version\":1,\"schedules\":[{\"name\":\"a\\nb\"},{\"name\":\"a\\nb\"}]}",
          "schedules: duplicate name \"a?b\"" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"local\",\"attempt\":1,"
          "\"phase\":\"running\"},{}]}",
          "runs[1].run_id: missing" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"engine\":\"local\",\"attempt\":1,\"phase\":"
          "\"running\"}]}",
          "runs[0].schedule: missing" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"attempt\":1,\"phase\":"
          "\"running\"}]}",
          "runs[0].engine: missing" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"phase\":"
          "\"running\"}]}",
          "runs[0].attempt: missing" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1}]}",
          "runs[0].phase: missing" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":0,"
          "\"phase\":\"running\"}]}",
          "runs[0].attempt: expected a positive integer" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":"
          "4294967296,"
          "\"phase\":\"running\"}]}",
          "runs[0].attempt: expected a positive integer" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"
          "\"phase\":\"done\"}]}",
          "runs[0].phase: expected \"prepared\", \"dispatching\" or \"running\"" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"
          "\"phase\":1}]}",
          "runs[0].phase: expected \"prepared\", \"dispatching\" or \"running\"" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"
          "\"phase\":\"running\",\"job_id\":[]}]}",
          "runs[0].job_id: expected a non-empty string" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"
          "\"phase\":\"running\",\"log_since_ms\":true}]}",
          "runs[0].log_since_ms: expected an integer between 0 and 9007199254740991" },
        { "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"
          "\"phase\":\"running\"},{\"run_id\":\"r\",\"schedule\":\"t\",\"engine\":\"e\",\"attempt\":2,"
          "\"phase\":\"dispatching\"}]}",
          "runs: duplicate run_id \"r\"" },
#define RUN_WITH(members)                                                                                   \
        "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,"     \
        "\"phase\":\"running\"," members "}]}"
        { RUN_WITH("\"step\":\"\""), "runs[0].step: expected a non-empty string" },
        { RUN_WITH("\"step_outputs\":[\"a\",\"b\"]"),
          "runs[0].step_outputs: expected an object of strings" },
        { RUN_WITH("\"step_outputs\":{\"a\":1}"), "runs[0].step_outputs: expected an object of strings" },
        { RUN_WITH("\"step_outputs\":{\"\":\"x\"}"), "runs[0].step_outputs: expected an object of strings" },
        { RUN_WITH("\"step_outputs\":{\"a\":\"x\",\"b\":\"a\",\"a\":\"y\"}"),
          "runs[0].step_outputs: duplicate name \"a\"" },
        { RUN_WITH("\"step_outputs\":{},\"step_outputs\":{}"), "runs[0]: duplicate key \"step_outputs\"" },
#undef RUN_WITH
};

static void test_parse_invalid(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof invalid_docs / sizeof invalid_docs[0]; i++) {
                State *s = NULL;
                _cleanup_free_ char *error = NULL;
                int r = state_parse(invalid_docs[i].json, strlen(invalid_docs[i].json), &s, &error);
                if (r != -EINVAL || !error || strcmp(error, invalid_docs[i].error) != 0)
                        fail_msg("doc %zu %s: r=%d error=\"%s\", expected \"%s\"", i, invalid_docs[i].json,
                                 r, error, invalid_docs[i].error);
                assert_null(s);
        }
}

static void test_parse_absurd_sizes(void **state) {
        (void) state;
        _cleanup_free_ char *doc = NULL, *error = NULL, *name = malloc(4098);
        State *s = NULL;

        memset(name, 'n', 4097);
        name[4097] = 0;
        assert_true(asprintf(&doc, "{\"version\":1,\"schedules\":[{\"name\":\"%s\"}]}", name) > 0);
        assert_int_equal(state_parse(doc, strlen(doc), &s, &error), -EINVAL);
        assert_string_equal(error, "schedules[0].name: longer than 4096 bytes");
        assert_int_equal(state_ensure_schedule(&(State){ 0 }, name, NULL), -EINVAL);

        /* 100,001 runs: one more than a state may hold */
        free(doc);
        free(error);
        error = NULL;
        size_t n = 100001, size = 64 + n * 3;
        doc = malloc(size);
        strcpy(doc, "{\"version\":1,\"runs\":[");
        char *p = doc + strlen(doc);
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, i ? ",{}" : "{}");
        strcpy(p, "]}");
        assert_int_equal(state_parse(doc, strlen(doc), &s, &error), -EINVAL);
        assert_string_equal(error, "runs: more than 100000 entries");

        /* deep nesting is bounded by cJSON, not our stack */
        free(doc);
        free(error);
        error = NULL;
        doc = malloc(200002);
        memset(doc, '[', 100000);
        memset(doc + 100000, ']', 100000);
        assert_int_equal(state_parse(doc, 200000, &s, &error), -EINVAL);
        assert_string_equal(error, "invalid JSON at byte 1000");
}

static void test_usec_near_2_53(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = state_new(), *back = NULL;
        ScheduleState *sc;
        assert_int_equal(state_ensure_schedule(s, "edge", &sc), 1);
        sc->last_slot_usec = SAFE_MAX;
        sc->last_end_usec = SAFE_MAX - 1;
        sc->skip_slot_usec = (UINT64_C(1) << 52) + 1;
        _cleanup_free_ char *text = state_format(s);
        assert_non_null(text);
        assert_int_equal(state_parse(text, strlen(text), &back, NULL), 0);
        assert_states_equal(s, back);

        /* 2^53 would not come back exact (2^53 + 1 reads as 2^53), so it is never written */
        sc->last_slot_usec = UINT64_C(1) << 53;
        errno = 0;
        assert_null(state_format(s));
        assert_int_equal(errno, ERANGE);
        sc->last_slot_usec = UINT64_MAX;
        assert_null(state_format(s));
        assert_int_equal(errno, ERANGE);

        RunState run = { .run_id = (char *) "r",
                         .schedule = (char *) "edge",
                         .engine = (char *) "e",
                         .attempt = 1,
                         .slot_usec = UINT64_C(1) << 53 };
        assert_int_equal(state_add_run(s, &run), -ERANGE);
}

static void test_load_missing(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("state.json");
        _cleanup_(state_freep) State *s = NULL;
        char *warning = (char *) "untouched";
        assert_int_equal(state_load(path, &s, &warning), 0);
        assert_non_null(s);
        assert_int_equal(s->n_schedules, 0);
        assert_int_equal(s->n_runs, 0);
        assert_null(warning);
}

static void test_load_corrupt(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("state.json"), *warning = NULL, *listing = NULL;
        _cleanup_(state_freep) State *s = NULL;
        const char *bad = "{\"version\":1,\"runs\":[\n"
                          "{\"run_id\":\"r0\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,\"phase\":"
                          "\"running\"},\n"
                          "{\"run_id\":\"r1\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,\"phase\":"
                          "\"running\"},\n"
                          "{\"run_id\":\"r2\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":1,\"phase\":"
                          "\"running\"},\n"
                          "{\"run_id\":\"r3\",\"schedule\":\"s\",\"engine\":\"e\",\"attempt\":0,\"phase\":"
                          "\"running\"}\n"
                          "]}\n";

        write_file(path, bad);
        assert_int_equal(state_load(path, &s, &warning), 0);
        assert_non_null(s);
        assert_int_equal(s->n_schedules + s->n_runs, 0);
        assert_non_null(warning);

        listing = list_dir();
        regex_t re;
        assert_int_equal(
                regcomp(&re, "^state\\.json\\.corrupt-[0-9]{8}T[0-9]{6}Z$", REG_EXTENDED | REG_NOSUB), 0);
        int match = regexec(&re, listing, 0, NULL, 0);
        regfree(&re);
        if (match != 0)
                fail_msg("directory holds \"%s\"", listing);

        _cleanup_free_ char *aside = path_in_dir(listing), *expected = NULL, *content = read_file(aside);
        assert_true(asprintf(&expected,
                             "state file %s is corrupt (runs[3].attempt: expected a positive integer); "
                             "moved aside to %s, starting with "
                             "an empty state",
                             path, aside) > 0);
        assert_string_equal(warning, expected);
        assert_string_equal(content, bad);

        /* A second corrupt file, possibly within the same second, must not replace the first. */
        write_file(path, "garbage");
        s = state_free(s);
        free(warning);
        warning = NULL;
        assert_int_equal(state_load(path, &s, &warning), 0);
        assert_non_null(strstr(warning, "(invalid JSON at byte 0)"));
        free(listing);
        listing = list_dir();
        assert_non_null(strchr(listing, ' ')); /* two files, neither of them state.json */
        assert_null(strstr(listing, "state.json "));
        free(content);
        content = read_file(aside);
        assert_string_equal(content, bad);
}

static void test_load_io_error(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("state.json"), *listing = NULL;
        State *s = NULL;
        char *warning = NULL;
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(state_load(path, &s, &warning), -EISDIR);
        assert_null(s);
        assert_null(warning);
        listing = list_dir();
        assert_string_equal(listing, "state.json"); /* not moved aside */
}

static void test_save_load(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("state.json"), *warning = NULL, *listing = NULL;
        _cleanup_(state_freep) State *s = sample_state(), *back = NULL;
        struct stat st;

        mode_t old = umask(0);
        assert_int_equal(state_save(s, path), 0);
        umask(old);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        listing = list_dir();
        assert_string_equal(listing, "state.json"); /* no temporary file left */

        assert_int_equal(state_load(path, &back, &warning), 0);
        assert_null(warning);
        assert_states_equal(s, back);

        /* overwrite */
        assert_int_equal(state_remove_schedule(s, "a-bare"), 0);
        assert_int_equal(state_save(s, path), 0);
        back = state_free(back);
        assert_int_equal(state_load(path, &back, NULL), 0);
        assert_states_equal(s, back);
}

static void test_save_failures(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("state.json"), *nodir = path_in_dir("missing/state.json");
        _cleanup_free_ char *before = NULL, *after = NULL, *listing = NULL, *longpath = NULL;
        _cleanup_(state_freep) State *s = sample_state();
        char longname[251];

        assert_int_equal(state_save(s, nodir), -ENOENT);

        /* the old file survives a state that cannot be written */
        assert_int_equal(state_save(s, path), 0);
        before = read_file(path);
        s->schedules[0].last_slot_usec = UINT64_C(1) << 53;
        assert_int_equal(state_save(s, path), -ERANGE);
        after = read_file(path);
        assert_string_equal(before, after);
        s->schedules[0].last_slot_usec = 0;

        /* the temporary file cannot be created: its name is too long, while the target's is not */
        memset(longname, 'l', 250);
        longname[250] = 0;
        longpath = path_in_dir(longname);
        write_file(longpath, "old");
        assert_int_equal(state_save(s, longpath), -ENAMETOOLONG);
        free(after);
        after = read_file(longpath);
        assert_string_equal(after, "old");

        /* rename() fails (the target is a non-empty directory): the temporary file is removed */
        _cleanup_free_ char *sub = path_in_dir("sub"), *subfile = path_in_dir("sub/x");
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(subfile, "x");
        int r = state_save(s, sub);
        assert_true(r == -EISDIR || r == -ENOTEMPTY);
        listing = list_dir(); /* includes hidden names: no temporary file is left behind */
        assert_string_equal(
                listing, "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                         "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                         "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                         "llll state.json sub");
}

static void test_save_result(void **state) {
        (void) state;
        _cleanup_free_ char *path = path_in_dir("results/nightly.etl/0123abcd.json"), *content = NULL;
        _cleanup_free_ char *listing = NULL;
        const char result[] = "{\"rows\": 42}\n";
        struct stat st;

        assert_int_equal(state_save_result(dir, "nightly.etl", "0123abcd", "json", result, strlen(result)), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        content = read_file(path);
        assert_string_equal(content, result);
        /* replaced whole, not appended to */
        assert_int_equal(state_save_result(dir, "nightly.etl", "0123abcd", "json", "[]", 2), 0);
        free(content);
        content = read_file(path);
        assert_string_equal(content, "[]");

        /* names that would leave results/<schedule>/ */
        assert_int_equal(state_save_result(dir, "..", "x", "json", "1", 1), -EINVAL);
        assert_int_equal(state_save_result(dir, ".", "x", "json", "1", 1), -EINVAL);
        assert_int_equal(state_save_result(dir, "a/b", "x", "json", "1", 1), -EINVAL);
        assert_int_equal(state_save_result(dir, "s", "../../state", "json", "1", 1), -EINVAL);
        assert_int_equal(state_save_result(dir, "s", "", "json", "1", 1), -EINVAL);
        assert_int_equal(state_save_result(dir, "s", "x", "../y", "1", 1), -EINVAL);
        assert_int_equal(state_save_result_file(dir, "s", "x", "..", "1", 1), -EINVAL);
        assert_int_equal(state_save_result_file(dir, "s", "..", "0.json", "1", 1), -EINVAL);
        listing = list_dir();
        assert_string_equal(listing, "results");

        /* a batch job's named results, in a directory of the run */
        _cleanup_free_ char *file = path_in_dir("results/nightly.etl/0123abcd/2.parquet");
        assert_int_equal(state_save_result_file(dir, "nightly.etl", "0123abcd", "2.parquet", "PAR1", 4), 0);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_schedules_order(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = state_new();
        const char *names[] = { "m", "c", "x", "a", "mm", "b", "z", "A" };
        ScheduleState *sc, *again;

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                assert_int_equal(state_ensure_schedule(s, names[i], &sc), 1);
                assert_string_equal(sc->name, names[i]);
                sc->last_slot_usec = i + 1;
        }
        assert_int_equal(state_ensure_schedule(s, "mm", &again), 0);
        assert_int_equal(again->last_slot_usec, 5);
        assert_int_equal(s->n_schedules, 8);
        for (size_t i = 1; i < s->n_schedules; i++)
                assert_true(strcmp(s->schedules[i - 1].name, s->schedules[i].name) < 0);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                sc = state_find_schedule(s, names[i]);
                assert_non_null(sc);
                assert_int_equal(sc->last_slot_usec, i + 1);
        }
        assert_null(state_find_schedule(s, "q"));
        assert_null(state_find_schedule(s, ""));

        assert_int_equal(state_remove_schedule(s, "A"), 0); /* first */
        assert_int_equal(state_remove_schedule(s, "z"), 0); /* last */
        assert_int_equal(state_remove_schedule(s, "m"), 0); /* middle */
        assert_int_equal(state_remove_schedule(s, "m"), -ENOENT);
        assert_int_equal(s->n_schedules, 5);
        const char *expected[] = { "a", "b", "c", "mm", "x" };
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(s->schedules[i].name, expected[i]);
        assert_int_equal(state_ensure_schedule(s, "", NULL), -EINVAL);
}

static void test_runs(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = state_new();
        char id[8] = "r0", job[8] = "j0";
        RunState run = {
                .run_id = id, .schedule = (char *) "s", .engine = (char *) "e", .attempt = 1, .job_id = job
        };

        for (char c = '0'; c <= '4'; c++) {
                id[1] = job[1] = c;
                assert_int_equal(state_add_run(s, &run), 0);
        }
        /* deep copies: the caller's buffers are its own */
        id[1] = job[1] = '9';
        assert_string_equal(s->runs[4].run_id, "r4");
        assert_string_equal(s->runs[4].job_id, "j4");

        id[1] = '2';
        assert_int_equal(state_add_run(s, &run), -EEXIST);
        run.attempt = 0;
        id[1] = '7';
        assert_int_equal(state_add_run(s, &run), -EINVAL);
        run.attempt = 1;
        run.engine = NULL;
        assert_int_equal(state_add_run(s, &run), -EINVAL);
        run.engine = (char *) "e";
        run.phase = _RUN_PHASE_MAX;
        assert_int_equal(state_add_run(s, &run), -EINVAL);

        assert_non_null(state_find_run(s, "r3"));
        assert_null(state_find_run(s, "r7"));
        assert_int_equal(state_remove_run(s, "r0"), 0);
        assert_int_equal(state_remove_run(s, "r2"), 0);
        assert_int_equal(state_remove_run(s, "r4"), 0);
        assert_int_equal(state_remove_run(s, "r4"), -ENOENT);
        assert_int_equal(s->n_runs, 2);
        assert_string_equal(state_find_run(s, "r1")->job_id, "j1");
        assert_string_equal(state_find_run(s, "r3")->job_id, "j3");
        /* removal reorders the array, not the file: that keeps dispatch order */
        id[1] = '5';
        run.phase = RUN_PHASE_DISPATCHING;
        assert_int_equal(state_add_run(s, &run), 0);
        _cleanup_free_ char *text = state_format(s);
        const char *r1 = strstr(text, "\"r1\""), *r3 = strstr(text, "\"r3\""), *r5 = strstr(text, "\"r5\"");
        assert_true(r1 && r3 && r5 && r1 < r3 && r3 < r5);
}

/* The id index against a plain list, through many adds and removes (a hash table's deletions are where
 * lookups go wrong: an entry left behind a hole is never found again). */
static void test_runs_index(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = state_new();
        enum { IDS = 3000 };
        static bool present[IDS];
        unsigned seed = 12345;
        char id[16];
        RunState run = { .run_id = id, .schedule = (char *) "s", .engine = (char *) "e", .attempt = 1 };

        for (int step = 0; step < 40000; step++) {
                seed = seed * 1103515245 + 12345;
                unsigned k = (seed >> 8) % IDS;
                snprintf(id, sizeof id, "r%u", k);
                if (present[k]) {
                        assert_int_equal(state_remove_run(s, id), 0);
                        present[k] = false;
                } else {
                        assert_int_equal(state_add_run(s, &run), 0);
                        present[k] = true;
                }
                if (step % 1000 == 0) {
                        size_t n = 0;
                        for (unsigned j = 0; j < IDS; j++) {
                                snprintf(id, sizeof id, "r%u", j);
                                RunState *r = state_find_run(s, id);
                                assert_true(present[j] ? r && strcmp(r->run_id, id) == 0 : !r);
                                n += present[j];
                        }
                        assert_int_equal(s->n_runs, n);
                }
        }
}

/* A pipeline's step and the outputs before it: replaced whole, refused whole beyond what a state file may
 * hold (and then nothing changes); a run recorded by a daemon that knew nothing of them loads without. */
static void test_run_steps(void **state) {
        (void) state;
        _cleanup_(state_freep) State *s = state_new(), *back = NULL;
        RunState run = {
                .run_id = (char *) "r", .schedule = (char *) "s", .engine = (char *) "local", .attempt = 1
        };
        char *outputs[] = { "first", "file:///a", "second", "file:///b", NULL };

        assert_int_equal(state_add_run(s, &run), 0);
        RunState *rs = state_find_run(s, "r");
        assert_null(rs->step);
        assert_null(rs->step_outputs);
        assert_int_equal(state_run_set_step(rs, "third", outputs), 0);
        outputs[1] = (char *) "changed"; /* copied */
        assert_string_equal(rs->step, "third");
        assert_string_equal(rs->step_outputs[1], "file:///a");
        assert_string_equal(rs->step_outputs[3], "file:///b");
        assert_null(rs->step_outputs[4]);

        /* refused: nothing changes */
        char *duplicate[] = { "first", "x", "first", "y", NULL }, *odd[] = { "first", NULL };
        assert_int_equal(state_run_set_step(rs, "x", duplicate), -EINVAL);
        assert_int_equal(state_run_set_step(rs, "x", odd), -EINVAL);
        assert_int_equal(state_run_set_step(rs, "", NULL), -EINVAL);
        _cleanup_free_ char **many = calloc(2 * 257 + 1, sizeof(char *));
        char names[257][8];
        for (size_t i = 0; i < 257; i++) {
                snprintf(names[i], sizeof names[i], "s%zu", i);
                many[2 * i] = names[i];
                many[2 * i + 1] = (char *) "file:///x";
        }
        assert_int_equal(state_run_set_step(rs, "x", many), -E2BIG);
        many[2 * 256] = NULL; /* 256: the most a record holds */
        _cleanup_free_ char *long_url = malloc(4097);
        memset(long_url, 'u', 4096);
        long_url[4096] = 0;
        char *big[2 * 16 + 1] = { 0 };
        for (size_t i = 0; i < 16; i++) { /* 16 names, 16 URLs of 4096 bytes: over 64 KiB */
                big[2 * i] = names[i];
                big[2 * i + 1] = long_url;
        }
        assert_int_equal(state_run_set_step(rs, "x", big), -E2BIG);
        assert_string_equal(rs->step, "third");
        assert_string_equal(rs->step_outputs[0], "first");

        /* the most a record holds saves and loads back */
        assert_int_equal(state_run_set_step(rs, "last", many), 0);
        _cleanup_free_ char *text = state_format(s);
        assert_non_null(text);
        assert_int_equal(state_parse(text, strlen(text), &back, NULL), 0);
        assert_states_equal(s, back);

        /* NULL forgets both */
        assert_int_equal(state_run_set_step(rs, NULL, NULL), 0);
        assert_null(rs->step);
        assert_null(rs->step_outputs);

        /* a state file from before pipelines were recorded: the same run, without them; and an empty
         * object of outputs is none */
        static const char *const without[] = {
                "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"local\","
                "\"attempt\":2,\"phase\":\"running\",\"started_usec\":5}]}",
                "{\"version\":1,\"runs\":[{\"run_id\":\"r\",\"schedule\":\"s\",\"engine\":\"local\","
                "\"attempt\":2,\"phase\":\"running\",\"step_outputs\":{}}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(without); i++) {
                back = state_free(back);
                assert_int_equal(state_parse(without[i], strlen(without[i]), &back, NULL), 0);
                assert_null(back->runs[0].step);
                assert_null(back->runs[0].step_outputs);
        }
}

static void test_phase_strings(void **state) {
        (void) state;
        assert_string_equal(run_phase_to_string(RUN_PHASE_DISPATCHING), "dispatching");
        assert_string_equal(run_phase_to_string(RUN_PHASE_RUNNING), "running");
        assert_null(run_phase_to_string(_RUN_PHASE_MAX));
        assert_null(run_phase_to_string(_RUN_PHASE_INVALID));
        assert_int_equal(run_phase_from_string("running"), RUN_PHASE_RUNNING);
        assert_int_equal(run_phase_from_string("Running"), _RUN_PHASE_INVALID);
        assert_int_equal(run_phase_from_string(NULL), _RUN_PHASE_INVALID);
        assert_null(state_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_parse_minimal_and_lenient),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_parse_absurd_sizes),
                cmocka_unit_test(test_usec_near_2_53),
                cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_corrupt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_io_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_result, setup, teardown),
                cmocka_unit_test(test_schedules_order),
                cmocka_unit_test(test_runs),
                cmocka_unit_test(test_runs_index),
                cmocka_unit_test(test_run_steps),
                cmocka_unit_test(test_phase_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
