/* SPDX-License-Identifier: MIT */
/* journal-read, history, utf8, terminal: journal records read back and folded into runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "history.h"
#include "journal-read.h"
#include "terminal.h"
#include "utf8.h"

#define FIELD(r, text) assert_int_equal(run_record_add_field((r), (text), sizeof(text) - 1), 0)

static void test_fields_parse_strictly(void **state) {
        (void) state;
        RunRecord r = {};
        run_record_reset(&r);

        FIELD(&r, "UDFCRON_EVENT=timed_out");
        FIELD(&r, "UDFCRON_SCHEDULE=nightly-rollup");
        FIELD(&r, "UDFCRON_RUN_ID=54f1838d95276374");
        FIELD(&r, "UDFCRON_ATTEMPT=3");
        FIELD(&r, "UDFCRON_SCHEDULED_USEC=1795366800000000");
        FIELD(&r, "UDFCRON_DURATION_USEC=18446744073709551615");
        FIELD(&r, "UDFCRON_EXIT_STATUS=-15");
        FIELD(&r, "UDFCRON_STREAM=stderr");
        FIELD(&r, "UDFCRON_TASK=0");
        FIELD(&r, "PRIORITY=3");
        FIELD(&r, "_PID=42");
        FIELD(&r, "no equals sign");
        assert_int_equal(run_record_add_field(&r, "MESSAGE=a\0b", 11), 0);
        assert_int_equal(r.event, RUN_EVENT_TIMED_OUT);
        assert_string_equal(r.schedule, "nightly-rollup");
        assert_string_equal(r.run_id, "54f1838d95276374");
        assert_int_equal(r.attempt, 3);
        assert_true(r.scheduled_usec == UINT64_C(1795366800000000));
        assert_true(r.duration_usec == UINT64_MAX);
        assert_true(r.has_exit_status);
        assert_int_equal(r.exit_status, -15);
        assert_true(r.is_stderr);
        assert_true(r.has_task);
        assert_int_equal(r.task, 0);
        assert_int_equal(r.priority, 3);
        assert_int_equal(r.message_size, 3);
        assert_memory_equal(r.message, "a\0b", 4);

        /* what does not parse counts as absent */
        run_record_reset(&r);
        FIELD(&r, "UDFCRON_EVENT=Finished");
        FIELD(&r, "UDFCRON_SCHEDULE=has space");
        FIELD(&r, "UDFCRON_RUN_ID=");
        FIELD(&r, "UDFCRON_ENGINE=0123456789012345678901234567890123456789012345678901234567890123456789");
        FIELD(&r, "UDFCRON_JOB_ID=caf\xc3\xa9");
        FIELD(&r, "UDFCRON_ATTEMPT=0");
        FIELD(&r, "UDFCRON_SCHEDULED_USEC=18446744073709551616");
        FIELD(&r, "UDFCRON_DURATION_USEC=+5");
        FIELD(&r, "UDFCRON_EXIT_STATUS=2147483648");
        FIELD(&r, "UDFCRON_STREAM=stdout");
        FIELD(&r, "UDFCRON_TASK=-1");
        FIELD(&r, "PRIORITY=8");
        assert_int_equal(r.event, _RUN_EVENT_INVALID);
        assert_string_equal(r.schedule, "");
        assert_string_equal(r.run_id, "");
        assert_string_equal(r.engine, "");
        assert_string_equal(r.job_id, "");
        assert_int_equal(r.attempt, 0);
        assert_true(r.scheduled_usec == 0 && r.duration_usec == 0);
        assert_false(r.has_exit_status);
        assert_false(r.is_stderr);
        assert_false(r.has_task);
        assert_int_equal(r.priority, -1);
        assert_null(r.message);
        run_record_done(&r);
}

static void check_text(const char *message, RunEvent event, const char *want) {
        RunRecord r = { .event = event, .message = (char *) message, .message_size = strlen(message) };
        size_t size;
        const char *text = run_record_text(&r, &size);
        assert_int_equal(size, strlen(want));
        assert_memory_equal(text, want, size);
}

static void test_text_drops_the_prefix(void **state) {
        (void) state;
        check_text("nightly[54f1838d95276374] #2 failed: exited with status 1", RUN_EVENT_FAILED,
                   "exited with status 1");
        check_text("nightly[54f1838d95276374] failed: no attempt number", RUN_EVENT_FAILED,
                   "no attempt number");
        check_text("nightly[54f1838d95276374] #1 started", RUN_EVENT_STARTED, "");
        check_text("finished: says another event", RUN_EVENT_FAILED, "finished: says another event");
        check_text("a line: of output", RUN_EVENT_LOG, "a line: of output");
        check_text("x[1] #1 retry: timed out; retry: again", RUN_EVENT_RETRY, "timed out; retry: again");
}

static RunRecord record(const char *run_id, RunEvent event, uint64_t when, unsigned attempt) {
        RunRecord r = { .event = event, .realtime_usec = when, .attempt = attempt, .priority = -1 };
        snprintf(r.run_id, sizeof r.run_id, "%s", run_id);
        snprintf(r.schedule, sizeof r.schedule, "s");
        return r;
}

static History *fold(const RunRecord *recs, size_t n, const size_t *order) {
        History *h;
        assert_int_equal(history_new(&h), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(history_add(h, &recs[order ? order[i] : i]), 0);
        return h;
}

static void test_runs_fold_the_same_in_any_order(void **state) {
        (void) state;
        RunRecord recs[] = {
                record("a", RUN_EVENT_SCHEDULED, 10, 1), record("a", RUN_EVENT_STARTED, 11, 1),
                record("a", RUN_EVENT_LOG, 12, 1),       record("a", RUN_EVENT_RETRY, 13, 1),
                record("b", RUN_EVENT_SKIPPED, 14, 1),   record("a", RUN_EVENT_STARTED, 15, 2),
                record("c", RUN_EVENT_STARTED, 16, 1), /* its scheduled record is gone: not whole */
                record("a", RUN_EVENT_FINISHED, 17, 2),  record("d", RUN_EVENT_SCHEDULED, 18, 1),
                record("e", RUN_EVENT_SCHEDULED, 18, 1), record("e", RUN_EVENT_STARTED, 19, 1),
                record("e", RUN_EVENT_RETRY, 20, 1),
        };
        recs[7].has_exit_status = true;
        recs[7].duration_usec = 7000;
        recs[11].has_exit_status = true;
        recs[11].exit_status = 1;
        static const char *const ids[] = { "c", "a", "b", "d", "e" };
        static const char *const outcomes[] = { "running", "succeeded", "skipped", "waiting", "retrying" };
        size_t n = ELEMENTSOF(recs), order[ELEMENTSOF(recs)];
        uint64_t seed = 1;

        for (int round = 0; round < 50; round++) {
                for (size_t i = 0; i < n; i++)
                        order[i] = round == 1 ? n - 1 - i : i;
                for (size_t i = n - 1; round > 1 && i > 0; i--) { /* a shuffle */
                        seed = seed * 6364136223846793005u + 1442695040888963407u;
                        size_t j = (size_t) (seed >> 33) % (i + 1), t = order[i];
                        order[i] = order[j];
                        order[j] = t;
                }
                History *h = fold(recs, n, order);
                RunSummary *const *runs;
                size_t got;
                assert_int_equal(history_n_whole(h), 4);
                assert_int_equal(history_runs(h, 100, &runs, &got), 0);
                assert_int_equal(got, 5);
                for (size_t i = 0; i < got; i++) {
                        assert_string_equal(runs[i]->run_id, ids[i]);
                        assert_string_equal(run_summary_outcome(runs[i]), outcomes[i]);
                }
                assert_int_equal(runs[1]->attempts, 2);
                assert_true(runs[1]->begin_usec == 10 && runs[1]->end_usec == 17);
                assert_true(runs[1]->has_exit_status && runs[1]->exit_status == 0);
                assert_true(runs[1]->duration_usec == 7000);
                assert_true(runs[4]->has_exit_status && runs[4]->exit_status == 1);
                assert_false(runs[0]->whole);

                /* the newest two; more records may still come after a listing */
                assert_int_equal(history_runs(h, 2, &runs, &got), 0);
                assert_int_equal(got, 2);
                assert_string_equal(runs[0]->run_id, "d");
                assert_string_equal(runs[1]->run_id, "e");
                RunRecord late = record("e", RUN_EVENT_FAILED, 21, 2);
                assert_int_equal(history_add(h, &late), 0);
                assert_int_equal(history_runs(h, 1, &runs, &got), 0);
                assert_string_equal(run_summary_outcome(runs[0]), "failed");
                assert_int_equal(runs[0]->attempts, 2);
                history_free(h);
        }
}

/* A fan-out task's records are about the task: they neither end the run nor stand for it. */
static void test_task_records_leave_the_run_alone(void **state) {
        (void) state;
        RunRecord recs[] = {
                record("f", RUN_EVENT_SCHEDULED, 10, 1),
                record("f", RUN_EVENT_STARTED, 11, 1),
                record("f", RUN_EVENT_TASK_RETRY, 12, 1),
                record("f", RUN_EVENT_TASK_FAILED, 13, 1),
        };
        recs[3].has_exit_status = true;
        recs[3].exit_status = 1;
        History *h = fold(recs, ELEMENTSOF(recs), NULL);
        RunSummary *const *runs;
        size_t n;
        assert_int_equal(history_runs(h, 1, &runs, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(run_summary_outcome(runs[0]), "running");
        assert_int_equal(runs[0]->latest, RUN_EVENT_STARTED);
        assert_false(runs[0]->has_exit_status);
        history_free(h);

        assert_false(run_event_is_end(RUN_EVENT_TASK_RETRY));
        assert_false(run_event_is_end(RUN_EVENT_TASK_FAILED));
        assert_true(run_event_is_end(RUN_EVENT_FAILED));
        assert_true(run_event_is_task(RUN_EVENT_TASK_FAILED));
        assert_false(run_event_is_task(RUN_EVENT_FAILED));
}

static void test_many_runs_and_forged_second_ends(void **state) {
        (void) state;
        History *h;
        char id[32];
        assert_int_equal(history_new(&h), 0);
        for (unsigned i = 0; i < 5000; i++) { /* grows the index many times */
                snprintf(id, sizeof id, "run-%u", i);
                RunRecord r = record(id, RUN_EVENT_SCHEDULED, 1000 + i, 1);
                assert_int_equal(history_add(h, &r), 0);
        }
        RunRecord end = record("run-7", RUN_EVENT_CANCELLED, 9000, 1),
                  forged = record("run-7", RUN_EVENT_FINISHED, 9500, 1);
        assert_int_equal(history_add(h, &forged), 0);
        assert_int_equal(history_add(h, &end), 0);
        RunSummary *const *runs;
        size_t n;
        assert_int_equal(history_runs(h, SIZE_MAX, &runs, &n), 0);
        assert_int_equal(n, 5000);
        assert_int_equal(history_n_whole(h), 5000);
        assert_string_equal(runs[7]->run_id, "run-7");
        assert_int_equal(runs[7]->end, RUN_EVENT_CANCELLED); /* the earliest end */
        assert_int_equal(runs[7]->latest, RUN_EVENT_FINISHED);
        history_free(h);
}

static void test_utf8_and_terminal_text(void **state) {
        (void) state;
        char *s = utf8_sanitize("ok \xc3\xa9 \xff\x00 \xe2\x82 \xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf", 23);
        assert_string_equal(s,
                            "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 "
                            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd");
        free(s);

        assert_int_equal(terminal_printable_span("plain\ttext", 10), 10);
        assert_int_equal(terminal_printable_span("caf\xc3\xa9\x1b[2J", 9), 5);
        assert_int_equal(terminal_printable_span("a\xc2\x9b", 3), 1);     /* C1 CSI */
        assert_int_equal(terminal_printable_span("a\xe2\x80\xae", 4), 1); /* right-to-left override */
        assert_int_equal(terminal_printable_span("a\x7f", 2), 1);
        assert_int_equal(terminal_printable_span("a\0b", 3), 1);

        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        terminal_put_escaped(f, "x\x1b[1m\xff\n\xc3\xa9", 9);
        fclose(f);
        assert_string_equal(out, "x\\x1b[1m\\xff\\x0a\xc3\xa9");
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fields_parse_strictly),
                cmocka_unit_test(test_text_drops_the_prefix),
                cmocka_unit_test(test_runs_fold_the_same_in_any_order),
                cmocka_unit_test(test_task_records_leave_the_run_alone),
                cmocka_unit_test(test_many_runs_and_forged_second_ends),
                cmocka_unit_test(test_utf8_and_terminal_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
