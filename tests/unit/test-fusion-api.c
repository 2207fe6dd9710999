/* SPDX-License-Identifier: MIT */
/*
 * fusion-api: the decoders of what Lucidworks Fusion answers, on the contract's own examples
 * (shared/api/fusion.md) and on what it leaves open, and the driver-log tail that must neither repeat
 * nor lose a line across polls.
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

#include "cleanup.h"
#include "fusion-api.h"

#define S(s) s, strlen(s)

/* A start's answer [D]: state starting, jobId equal to result.jobRunId. */
static const char start_reply[] =
        "{\"state\":\"starting\",\"jobId\":\"c7f701edfd\",\"jobConfig\":{\"type\":\"custom_python_job\","
        "\"id\":\"daily-rollup\",\"script\":\"print(1)\",\"updates\":[{\"userId\":\"admin\","
        "\"timestamp\":\"2024-03-01T10:00:00.123456789Z\"}]},\"hostname\":\"10.0.0.7\","
        "\"result\":{\"jobConfigId\":\"daily-rollup\",\"jobRunId\":\"c7f701edfd\"}}";

static void test_run_states(void **state) {
        (void) state;
        for (int i = 0; i < _FUSION_RUN_STATE_MAX; i++)
                assert_int_equal(fusion_run_state_from_string(fusion_run_state_to_string(i)), i);
        assert_int_equal(fusion_run_state_from_string("FINISHED"), FUSION_RUN_FINISHED);
        assert_int_equal(fusion_run_state_from_string("frobnicating"), _FUSION_RUN_STATE_INVALID);
        assert_int_equal(fusion_run_state_from_string(NULL), _FUSION_RUN_STATE_INVALID);
        assert_null(fusion_run_state_to_string(_FUSION_RUN_STATE_INVALID));

        assert_true(fusion_run_state_is_terminal(FUSION_RUN_FINISHED));
        assert_true(fusion_run_state_is_terminal(FUSION_RUN_ERROR));
        assert_true(fusion_run_state_is_terminal(FUSION_RUN_CANCELLED));
        assert_true(fusion_run_state_is_terminal(FUSION_RUN_SKIPPED));
        assert_false(fusion_run_state_is_terminal(FUSION_RUN_CANCELLING));
        assert_false(fusion_run_state_is_terminal(FUSION_RUN_IDLE));
        assert_false(fusion_run_state_is_terminal(_FUSION_RUN_STATE_INVALID)); /* lenient: still going */
}

static void test_run_status(void **state) {
        FusionRunStatus s;
        (void) state;

        assert_int_equal(fusion_parse_run_status(S(start_reply), &s), 0);
        assert_int_equal(s.state, FUSION_RUN_STARTING);
        assert_string_equal(s.state_text, "starting");
        assert_string_equal(s.job_id, "c7f701edfd");
        assert_null(s.error);
        assert_null(s.note);
        /* the summary leaves the echoed config (and its script) out */
        assert_string_equal(s.summary,
                            "{\"jobId\":\"c7f701edfd\",\"state\":\"starting\",\"hostname\":\"10.0.0.7\","
                            "\"result\":{\"jobConfigId\":\"daily-rollup\",\"jobRunId\":\"c7f701edfd\"}}");
        fusion_run_status_done(&s);

        /* a finished run, with its times; a result with docsWritten keeps them, without its exception */
        assert_int_equal(
                fusion_parse_run_status(S("{\"state\":\"finished\",\"jobId\":\"a1\",\"startTime\":"
                                          "\"2024-03-01T10:00:00Z\",\"endTime\":\"2024-03-01T10:05:00Z\","
                                          "\"duration\":300000,\"result\":{\"docsWritten\":7,"
                                          "\"exception\":null}}"),
                                        &s),
                0);
        assert_int_equal(s.state, FUSION_RUN_FINISHED);
        assert_string_equal(s.summary, "{\"jobId\":\"a1\",\"state\":\"finished\",\"startTime\":"
                                       "\"2024-03-01T10:00:00Z\",\"endTime\":\"2024-03-01T10:05:00Z\","
                                       "\"duration\":300000,\"result\":{\"docsWritten\":7}}");
        assert_null(s.error);
        fusion_run_status_done(&s);

        /* an error with a JobExecutionError [D]; the id only in result.jobRunId */
        assert_int_equal(fusion_parse_run_status(
                                 S("{\"state\":\"error\",\"result\":{\"jobRunId\":\"b2\",\"exception\":{"
                                   "\"type\":\"JobExecutionError\",\"httpStatusCode\":500,\"message\":"
                                   "\"java.lang.RuntimeException: boom\",\"details\":\"in stage 3\","
                                   "\"job\":{\"type\":\"SPARK_JOB\",\"id\":\"x\"},\"jobRunId\":\"b2\"}}}"),
                                 &s),
                         0);
        assert_int_equal(s.state, FUSION_RUN_ERROR);
        assert_string_equal(s.job_id, "b2");
        assert_string_equal(s.error, "java.lang.RuntimeException: boom: in stage 3");
        assert_null(s.note);
        fusion_run_status_done(&s);

        /* [S8]'s differing ids: jobId wins, and it is noted */
        assert_int_equal(
                fusion_parse_run_status(S("{\"state\":\"RUNNING\",\"jobId\":\"a2b50rrce7\",\"result\":"
                                          "{\"jobRunId\":\"b2c50rrde6\"}}"),
                                        &s),
                0);
        assert_int_equal(s.state, FUSION_RUN_RUNNING);
        assert_string_equal(s.job_id, "a2b50rrce7");
        assert_string_equal(s.note,
                            "jobId a2b50rrce7 and result.jobRunId b2c50rrde6 differ; following jobId");
        fusion_run_status_done(&s);

        /* a state nobody documented; an exception that says nothing; no id at all */
        assert_int_equal(
                fusion_parse_run_status(S("{\"state\":\"frobnicating\",\"result\":{\"exception\":{}}}"), &s),
                0);
        assert_int_equal(s.state, _FUSION_RUN_STATE_INVALID);
        assert_string_equal(s.state_text, "frobnicating");
        assert_null(s.job_id);
        assert_string_equal(s.note, "unknown state 'frobnicating', taken as still running; a run in state "
                                    "'frobnicating' without a jobId; result.exception explains nothing");
        fusion_run_status_done(&s);

        /* a config never run: idle, no id, nothing unexpected */
        assert_int_equal(
                fusion_parse_run_status(S("{\"state\":\"idle\",\"result\":{\"jobConfigId\":\"x\"}}"), &s),
                0);
        assert_null(s.job_id);
        assert_null(s.note);
        fusion_run_status_done(&s);

        static const char *const bad[] = { "",
                                           "{",
                                           "[]",
                                           "null",
                                           "{\"state\":3}",
                                           "{\"jobId\":\"x\"}",
                                           "{\"status\":\"running\",\"job_id\":" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(fusion_parse_run_status(S(bad[i]), &s), -EBADMSG);
        assert_int_equal(fusion_parse_run_status(NULL, 0, &s), -EBADMSG);
}

static void test_find_run(void **state) {
        static const char all[] =
                "[{\"state\":\"running\",\"jobId\":\"new\"},\"junk\",{\"jobId\":\"nostate\"},"
                "{\"state\":\"finished\",\"jobId\":\"old\",\"duration\":5}]";
        FusionRunStatus s;
        (void) state;

        assert_int_equal(fusion_find_run(S(all), "old", &s), 0);
        assert_int_equal(s.state, FUSION_RUN_FINISHED);
        assert_string_equal(s.job_id, "old");
        fusion_run_status_done(&s);
        assert_int_equal(fusion_find_run(S(all), "nostate", &s), -ENOENT); /* undecodable entries skipped */
        assert_int_equal(fusion_find_run(S(all), "gone", &s), -ENOENT);
        assert_int_equal(fusion_find_run(S("[]"), "x", &s), -ENOENT);
        assert_int_equal(fusion_find_run(S("{\"state\":\"running\"}"), "x", &s), -EBADMSG);
}

static void test_action_reply(void **state) {
        FusionActionReply a;
        (void) state;

        /* [S4] */
        assert_int_equal(
                fusion_parse_action_reply(S("{\"resource\":\"datasource:movies-db\",\"action\":\"start\","
                                            "\"accepted\":true,\"message\":\"Started job "
                                            "datasource:movies-db\"}"),
                                          &a),
                0);
        assert_true(a.accepted);
        assert_string_equal(a.message, "Started job datasource:movies-db");
        assert_null(a.note);
        fusion_action_reply_done(&a);

        assert_int_equal(fusion_parse_action_reply(S("{\"action\":\"PAUSE\",\"accepted\":false}"), &a), 0);
        assert_false(a.accepted);
        assert_null(a.message);
        assert_string_equal(a.note, "an answer about action 'PAUSE'");
        fusion_action_reply_done(&a);

        assert_int_equal(fusion_parse_action_reply(S("{\"accepted\":\"true\"}"), &a), -EBADMSG);
        assert_int_equal(fusion_parse_action_reply(S("[true]"), &a), -EBADMSG);
}

static void test_token(void **state) {
        _cleanup_free_ char *token = NULL;
        uint64_t lifetime;
        (void) state;

        assert_int_equal(fusion_parse_token(S("{\"access_token\":\"eyJ.x.y\",\"token_type\":\"bearer\","
                                              "\"expires_in\":1800,\"scope\":\"api\"}"),
                                            &token, &lifetime),
                         0);
        assert_string_equal(token, "eyJ.x.y");
        assert_int_equal(lifetime, 1800);
        token = mfree(token);
        assert_int_equal(
                fusion_parse_token(S("{\"access_token\":\"t\",\"expires_in\":-5}"), &token, &lifetime), 0);
        assert_int_equal(lifetime, 0); /* unknown: the caller picks a default */
        assert_int_equal(fusion_parse_token(S("{\"access_token\":\"\"}"), &token, &lifetime), -EBADMSG);
        assert_int_equal(fusion_parse_token(S("{}"), &token, &lifetime), -EBADMSG);
}

static void assert_line(const FusionLog *log, size_t i, const char *text) {
        assert_true(i < log->n_lines);
        assert_int_equal(log->lines[i].size, strlen(text));
        assert_memory_equal(log->lines[i].text, text, strlen(text));
}

static void test_driver_log(void **state) {
        FusionLog log;
        (void) state;

        /* text/plain [S1]: CRLF too; an unterminated last line waits until the run is over */
        static const char text[] = "one\r\ntwo\n\nthree";
        assert_int_equal(fusion_parse_driver_log(S(text), "text/plain;charset=UTF-8", false, &log), 0);
        assert_int_equal(log.n_lines, 3);
        assert_line(&log, 0, "one");
        assert_line(&log, 1, "two");
        assert_line(&log, 2, "");
        assert_int_equal(log.lines[0].usec, 0);
        fusion_log_done(&log);
        assert_int_equal(fusion_parse_driver_log(S(text), "text/plain", true, &log), 0);
        assert_int_equal(log.n_lines, 4);
        assert_line(&log, 3, "three");
        fusion_log_done(&log);

        /* the job launcher's LogLineList [S3], and a list of strings; without a content type too */
        assert_int_equal(fusion_parse_driver_log(S(" [{\"line\":\"a\",\"date\":\"2024-03-01T10:00:01.5Z\"},"
                                                   "{\"line\":\"b\"},{\"nope\":1},\"c\"]"),
                                                 NULL, false, &log),
                         0);
        assert_int_equal(log.n_lines, 3);
        assert_line(&log, 0, "a");
        assert_int_equal(log.lines[0].usec, UINT64_C(1709287201000000));
        assert_line(&log, 1, "b");
        assert_int_equal(log.lines[1].usec, 0);
        assert_line(&log, 2, "c");
        fusion_log_done(&log);

        /* text that only looks like JSON, and text declared as text */
        assert_int_equal(
                fusion_parse_driver_log(S("[main] INFO started\n"), "application/json", false, &log), 0);
        assert_int_equal(log.n_lines, 1);
        assert_line(&log, 0, "[main] INFO started");
        fusion_log_done(&log);
        assert_int_equal(fusion_parse_driver_log(S("[\"x\"]\n"), "text/plain", false, &log), 0);
        assert_line(&log, 0, "[\"x\"]");
        fusion_log_done(&log);

        assert_int_equal(fusion_parse_driver_log(NULL, 0, NULL, true, &log), 0);
        assert_int_equal(log.n_lines, 0);
        fusion_log_done(&log);
}

/* Splits `text` into a log (lines end in '\n'). */
static FusionLog log_of(const char *text) {
        FusionLog log;
        assert_int_equal(fusion_parse_driver_log(S(text), "text/plain", false, &log), 0);
        return log;
}

/* One poll: the window that ?rows= would return from `whole`, and the text of the lines it adds. */
static size_t poll_once(FusionLogTail *t, const char *whole, char *added, size_t added_size,
                        const char **note) {
        unsigned rows = fusion_log_rows(t);
        FusionLog all = log_of(whole);
        FusionLog window = all;
        if (all.n_lines > rows) { /* the server's last `rows` lines */
                window.lines += all.n_lines - rows;
                window.n_lines = rows;
        }
        size_t first = fusion_log_tail_advance(t, &window, rows, note);
        added[0] = '\0';
        for (size_t i = first; i < window.n_lines; i++)
                snprintf(added + strlen(added), added_size - strlen(added), "%.*s|",
                         (int) window.lines[i].size, window.lines[i].text);
        size_t n = window.n_lines - first;
        fusion_log_done(&all);
        return n;
}

static void test_log_tail(void **state) {
        FusionLogTail t = {};
        char added[256];
        const char *note;
        (void) state;

        assert_int_equal(fusion_log_rows(&t), FUSION_LOG_ROWS_AHEAD);
        assert_int_equal(poll_once(&t, "a\nb\n", added, sizeof added, &note), 2);
        assert_string_equal(added, "a|b|");
        assert_null(note);
        assert_int_equal(t.forwarded, 2);
        assert_int_equal(fusion_log_rows(&t), FUSION_LOG_ROWS_AHEAD + 2);
        /* the same log: nothing new; grown: only the new lines, even when they repeat old ones */
        assert_int_equal(poll_once(&t, "a\nb\n", added, sizeof added, &note), 0);
        assert_int_equal(poll_once(&t, "a\nb\nb\na\n", added, sizeof added, &note), 2);
        assert_string_equal(added, "b|a|");
        assert_null(note);
        /* an empty answer is no new log */
        assert_int_equal(poll_once(&t, "", added, sizeof added, &note), 0);
        assert_int_equal(t.forwarded, 4);

        /* the log was replaced by another (a newer run's): forwarded from its start */
        assert_int_equal(poll_once(&t, "x\ny\n", added, sizeof added, &note), 2);
        assert_string_equal(added, "x|y|");
        assert_string_equal(note, "the driver log was replaced; forwarding it from its start");
        assert_int_equal(t.forwarded, 2);

        /* a server that caps ?rows= below what was asked: the last line forwarded is found again */
        FusionLogTail capped = { .forwarded = 3 };
        FusionLog head = log_of("l1\nl2\nl3\n");
        capped.last_hash = 0;
        assert_int_equal(fusion_log_tail_advance(&capped, &head, fusion_log_rows(&capped), &note), 3);
        fusion_log_done(&head);
        FusionLog head2 = log_of("l1\nl2\nl3\n");
        FusionLogTail fresh = {};
        assert_int_equal(fusion_log_tail_advance(&fresh, &head2, 1000, &note), 0);
        fusion_log_done(&head2);
        FusionLog cut = log_of("l2\nl3\nl4\n"); /* 3 lines although 1003 were asked for */
        assert_int_equal(fusion_log_tail_advance(&fresh, &cut, 1003, &note), 2);
        assert_null(note);
        fusion_log_done(&cut);

        /* re-attached: a position without a line to check it by is trusted... */
        FusionLogTail attached = { .forwarded = 2 };
        assert_int_equal(poll_once(&attached, "a\nb\nc\n", added, sizeof added, &note), 1);
        assert_string_equal(added, "c|");
        assert_null(note);
        /* ... unless the log is shorter than it: then nothing is taken as new */
        FusionLogTail beyond = { .forwarded = 5 };
        assert_int_equal(poll_once(&beyond, "a\nb\n", added, sizeof added, &note), 0);
        assert_non_null(note);
        assert_int_equal(beyond.forwarded, 2);
}

/* A log that grows by more than one fetch between two polls: the window is full, lines are missing. */
static void test_log_tail_overrun(void **state) {
        size_t n = FUSION_LOG_ROWS_AHEAD * 3;
        _cleanup_free_ char *text = malloc(n * 8 + 1);
        FusionLogTail t = {};
        const char *note;
        (void) state;

        assert_non_null(text);
        text[0] = '\0';
        for (size_t i = 0; i < n; i++)
                sprintf(text + strlen(text), "%zu\n", i);
        FusionLog all = log_of(text);
        FusionLog first = all;
        first.n_lines = 10;
        assert_int_equal(fusion_log_tail_advance(&t, &first, fusion_log_rows(&t), &note), 0);
        unsigned rows = fusion_log_rows(&t);
        FusionLog window = { .lines = all.lines + n - rows, .n_lines = rows };
        assert_int_equal(fusion_log_tail_advance(&t, &window, rows, &note), 0);
        assert_string_equal(note, "the driver log grew by more than one fetch; lines may be missing");
        assert_int_equal(t.forwarded, 10 + rows);
        fusion_log_done(&all);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_run_states), cmocka_unit_test(test_run_status),
                cmocka_unit_test(test_find_run),   cmocka_unit_test(test_action_reply),
                cmocka_unit_test(test_token),      cmocka_unit_test(test_driver_log),
                cmocka_unit_test(test_log_tail),   cmocka_unit_test(test_log_tail_overrun),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
