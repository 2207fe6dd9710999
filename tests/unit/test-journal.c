/* SPDX-License-Identifier: MIT */
/*
 * journal: the stderr target, byte for byte (stderr is redirected into a
 * memfd or a pty for each test), secret masking and target selection. The
 * journald target is tested against a real journald in
 * tests/integration/test_journal.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"
#include "macro.h"
#include "timestamp.h"

#define SCHEDULED_USEC UINT64_C(1795366800000000) /* 2026-11-22T17:00:00Z */
#define NEXT_USEC      UINT64_C(1795453200000000) /* 2026-11-23T17:00:00Z */

static const RunFields nightly = {
        .schedule = "nightly",
        .run_id = "r-3f2a",
        .engine = "local",
        .attempt = 1,
        .scheduled_usec = SCHEDULED_USEC,
};

typedef struct Capture {
        int fd;
        int saved;
} Capture;

static Capture capture_begin(void) {
        Capture c = { .fd = memfd_create("stderr", MFD_CLOEXEC), .saved = dup(STDERR_FILENO) };
        assert_true(c.fd >= 0);
        assert_true(c.saved >= 0);
        assert_int_equal(dup2(c.fd, STDERR_FILENO), STDERR_FILENO);
        return c;
}

/* Restores stderr (before any assertion, so that cmocka's report is seen) and returns what was written. */
static char *capture_end_raw(Capture *c, size_t *ret_size) {
        off_t size = lseek(c->fd, 0, SEEK_CUR);
        int r = dup2(c->saved, STDERR_FILENO);
        (void) close(c->saved);
        assert_int_equal(r, STDERR_FILENO);
        assert_true(size >= 0);

        char *raw = calloc(1, (size_t) size + 1);
        assert_non_null(raw);
        assert_int_equal(pread(c->fd, raw, (size_t) size, 0), size);
        (void) close(c->fd);
        *ret_size = (size_t) size;
        return raw;
}

/*
 * Checks that each line starts with "TIMESTAMP " (UTC, now, after an optional
 * color sequence) and returns the lines without it, which are deterministic.
 */
static char *strip_timestamps(const char *raw, size_t size) {
        char *out = calloc(1, size + 1), *o = out;
        const char *p = raw, *end = raw + size;
        time_t now = time(NULL);

        assert_non_null(out);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                assert_non_null(nl); /* every record ends with a newline */
                if (*p == '\x1b') {
                        const char *m = memchr(p, 'm', (size_t) (nl - p));
                        assert_non_null(m);
                        memcpy(o, p, (size_t) (m + 1 - p));
                        o += m + 1 - p;
                        p = m + 1;
                }
                char ts[26] = {};
                int64_t t;
                assert_true(nl - p >= 26);
                memcpy(ts, p, 25);
                assert_int_equal(timestamp_parse(ts, &t), 0);
                assert_string_equal(ts + 19, "+00:00");
                assert_true(t >= now - 60 && t <= now + 1);
                assert_int_equal(p[25], ' ');
                p += 26;
                memcpy(o, p, (size_t) (nl + 1 - p));
                o += nl + 1 - p;
                p = nl + 1;
        }
        return out;
}

static char *capture_end(Capture *c) {
        size_t size;
        char *raw = capture_end_raw(c, &size);
        char *lines = strip_timestamps(raw, size);
        free(raw);
        return lines;
}

static int setup(void **state) {
        Journal *j = NULL;
        unsetenv("UDFCRON_LOG_TARGET");
        if (journal_new(JOURNAL_STDERR, &j) < 0)
                return -1;
        *state = j;
        return 0;
}

static int teardown(void **state) {
        *state = journal_free(*state);
        return 0;
}

static void test_lifecycle_events(void **state) {
        Journal *j = *state;
        RunFields done = nightly;
        done.attempt = 2;
        done.job_id = "j-77";
        done.has_exit_status = true;
        done.exit_status = 0;
        done.duration_usec = 12500000;
        done.next_usec = NEXT_USEC;
        RunFields bare = { .schedule = "hourly" };
        RunFields failed = nightly;
        failed.has_exit_status = true;
        failed.exit_status = 3;
        RunFields task = failed; /* task 0 is a task too */
        task.has_task = true;
        task.task = 0;

        Capture c = capture_begin();
        journal_run_event(j, &nightly, RUN_EVENT_SCHEDULED, "for %s", "2026-11-22T17:00:00+00:00");
        journal_run_event(j, &nightly, RUN_EVENT_STARTED, "running %s ...", "/usr/bin/python3");
        journal_run_event(j, &done, RUN_EVENT_FINISHED, "succeeded");
        journal_run_event(j, &failed, RUN_EVENT_FAILED, "exited with status %d", 3);
        journal_run_event(j, &nightly, RUN_EVENT_TIMED_OUT, "after 1h, killed");
        journal_run_event(j, &nightly, RUN_EVENT_CANCELLED, "by udfcronctl cancel");
        journal_run_event(j, &nightly, RUN_EVENT_SKIPPED, "previous run still running");
        journal_run_event(j, &nightly, RUN_EVENT_RETRY, "in 30s");
        journal_run_event(j, &nightly, RUN_EVENT_LOST, "the daemon restarted");
        journal_run_event(j, &nightly, RUN_EVENT_STARTED, "%s", "");
        journal_run_event(j, &bare, RUN_EVENT_SKIPPED, "paused");
        journal_run_event(j, &task, RUN_EVENT_TASK_RETRY, "in 1s");
        task.task = 12;
        journal_run_event(j, &task, RUN_EVENT_TASK_FAILED, "for good");
        journal_run_output(j, &task, false, "a task's line", 13, 0);
        char *out = capture_end(&c);

        assert_string_equal(out, "nightly[r-3f2a] #1 scheduled: for 2026-11-22T17:00:00+00:00\n"
                                 "nightly[r-3f2a] #1 started: running /usr/bin/python3 ...\n"
                                 "nightly[r-3f2a] #2 finished: succeeded (job=j-77 exit=0 duration=12.500s "
                                 "next=2026-11-23T17:00:00+00:00)\n"
                                 "nightly[r-3f2a] #1 failed: exited with status 3 (exit=3)\n"
                                 "nightly[r-3f2a] #1 timed_out: after 1h, killed\n"
                                 "nightly[r-3f2a] #1 cancelled: by udfcronctl cancel\n"
                                 "nightly[r-3f2a] #1 skipped: previous run still running\n"
                                 "nightly[r-3f2a] #1 retry: in 30s\n"
                                 "nightly[r-3f2a] #1 lost: the daemon restarted\n"
                                 "nightly[r-3f2a] #1 started\n"
                                 "hourly skipped: paused\n"
                                 "nightly[r-3f2a/0] #1 task_retry: in 1s (exit=3)\n"
                                 "nightly[r-3f2a/12] #1 task_failed: for good (exit=3)\n"
                                 "nightly[r-3f2a/12] | a task's line\n");
        free(out);
}

static void test_output_lines_and_daemon_messages(void **state) {
        Journal *j = *state;

        Capture c = capture_begin();
        journal_run_output(j, &nightly, false, "rows: 42", 8, 0);
        journal_run_output(j, &nightly, true, "warning: slow", 13, 0);
        journal_run_output(j, &nightly, false, "from the remote side", 20, 1795366801000000);
        journal_run_output(j, &nightly, false, "", 0, 0);
        journal_log(j, LOG_NOTICE, "loaded %d schedules from %s", 3, "/etc/udfcron/schedules.d");
        journal_log(j, LOG_ERR | LOG_DAEMON, "%s:%d: unknown key", "a.conf", 7);
        char *out = capture_end(&c);

        assert_string_equal(out, "nightly[r-3f2a] | rows: 42\n"
                                 "nightly[r-3f2a] ! warning: slow\n"
                                 "nightly[r-3f2a] | from the remote side\n"
                                 "nightly[r-3f2a] | \n"
                                 "loaded 3 schedules from /etc/udfcron/schedules.d\n"
                                 "a.conf:7: unknown key\n");
        free(out);
}

static void test_escaping(void **state) {
        Journal *j = *state;
        static const char line[] =
                "a\0b\nc\r\x1b[31mred\t|\x7f|\xff|\xc3\xa9|\xe2\x82\xac|\xf0\x9f\x98\x80|"
                "\xc2\x9b|\xc0\xaf|\xed\xa0\x80|\xe2\x80\xae|\xf4\x90\x80\x80|\\x41|\xe2\x82";
        RunFields odd = nightly;
        odd.schedule = "new\nline";

        Capture c = capture_begin();
        journal_run_output(j, &nightly, true, line, sizeof line - 1, 0);
        journal_run_event(j, &odd, RUN_EVENT_FAILED, "%s", "two\nlines");
        journal_log(j, LOG_INFO, "bell\a");
        char *out = capture_end(&c);

        /* Valid printable UTF-8 (é, €, 😀) and tab pass; C1 controls, overlongs, surrogates, bidi
         * overrides, code points beyond U+10FFFF and a truncated sequence are escaped byte by byte. */
        assert_string_equal(out,
                            "nightly[r-3f2a] ! a\\x00b\\x0ac\\x0d\\x1b[31mred\t|\\x7f|\\xff|é|€|😀|"
                            "\\xc2\\x9b|\\xc0\\xaf|\\xed\\xa0\\x80|\\xe2\\x80\\xae|\\xf4\\x90\\x80\\x80|"
                            "\\x41|\\xe2\\x82\n"
                            "new\\x0aline[r-3f2a] #1 failed: two\\x0alines\n"
                            "bell\\x07\n");
        free(out);
}

static void test_secrets_in_messages_and_fields(void **state) {
        Journal *j = *state;
        RunFields leaky = nightly;
        leaky.job_id = "job-hunter2-token";
        leaky.run_id = "hunter2-token";
        static const char edges[] = "hunter2-token middle hunter2-token";
        static const char twice[] = "hunter2-tokenhunter2-token!";

        assert_int_equal(journal_add_secret(j, "hunter2-token"), 1);
        assert_int_equal(journal_add_secret(j, "hunter2-token"), 0); /* known already */
        assert_int_equal(journal_add_secret(j, "abc"), 0);           /* too short to mask */
        assert_int_equal(journal_add_secret(j, ""), 0);

        Capture c = capture_begin();
        journal_run_event(j, &leaky, RUN_EVENT_STARTED, "token=%s;", "hunter2-token");
        journal_run_output(j, &nightly, false, edges, sizeof edges - 1, 0);
        journal_run_output(j, &nightly, true, "hunter2-token", 13, 0);
        journal_run_output(j, &nightly, false, twice, sizeof twice - 1, 0);
        journal_run_output(j, &nightly, false, "hunter2-toke", 12, 0); /* a prefix is not the secret */
        journal_log(j, LOG_WARNING, "resolved %s, abc stays", "hunter2-token");
        char *out = capture_end(&c);

        assert_string_equal(out, "nightly[[redacted]] #1 started: token=[redacted]; (job=job-[redacted])\n"
                                 "nightly[r-3f2a] | [redacted] middle [redacted]\n"
                                 "nightly[r-3f2a] ! [redacted]\n"
                                 "nightly[r-3f2a] | [redacted]!\n"
                                 "nightly[r-3f2a] | hunter2-toke\n"
                                 "resolved [redacted], abc stays\n");
        free(out);
}

static void test_overlapping_secrets(void **state) {
        Journal *j = *state;
        static const char line[] = "xxabcdefghiyy aaaaa long-secret-value s\np!";

        assert_int_equal(journal_add_secret(j, "abcdef"), 1);
        assert_int_equal(journal_add_secret(j, "defghi"), 1);
        assert_int_equal(journal_add_secret(j, "aaaa"), 1);         /* overlaps itself in "aaaaa" */
        assert_int_equal(journal_add_secret(j, "secret-value"), 1); /* inside a longer one */
        assert_int_equal(journal_add_secret(j, "long-secret"), 1);
        assert_int_equal(journal_add_secret(j, "s\np!"), 1); /* masked before escaping */

        Capture c = capture_begin();
        journal_run_output(j, &nightly, false, line, sizeof line - 1, 0);
        char *out = capture_end(&c);

        /* No byte of any secret, and no boundary between two of them, shows. */
        assert_string_equal(out, "nightly[r-3f2a] | xx[redacted]yy [redacted] [redacted] [redacted]\n");
        free(out);
}

static void test_64k_line(void **state) {
        Journal *j = *state;
        const size_t size = 64 * 1024;
        static const char secret[] = "s3cr3t-value";
        const size_t n = sizeof secret - 1;
        char *line = malloc(size);
        assert_non_null(line);
        memset(line, 'x', size);
        memcpy(line, secret, n);
        memcpy(line + 30000, secret, n);
        line[40000] = '\x01';
        memcpy(line + size - n, secret, n);

        /* Without secrets, then with: the same line, byte for byte, but for the masks. */
        Capture c = capture_begin();
        journal_run_output(j, &nightly, false, line, size, 0);
        assert_int_equal(journal_add_secret(j, secret), 1);
        journal_run_output(j, &nightly, false, line, size, 0);
        char *out = capture_end(&c);

        const char *prefix = "nightly[r-3f2a] | ";
        size_t plen = strlen(prefix);
        char *first = out, *second = strchr(out, '\n') + 1;
        assert_int_equal(second - first, plen + size + 3 + 1); /* \x01 takes 4 bytes */
        assert_memory_equal(first, prefix, plen);
        assert_memory_equal(first + plen, line, 40000);
        assert_memory_equal(first + plen + 40000, "\\x01", 4);
        assert_memory_equal(first + plen + 40004, line + 40001, size - 40001);

        size_t expect = plen + 3 * 10 + (size - 3 * n) + 3 + 1;
        assert_int_equal(strlen(second), expect);
        assert_memory_equal(second, prefix, plen);
        assert_memory_equal(second + plen, "[redacted]xxxx", 14);
        assert_null(strstr(second, secret));
        assert_int_equal(strstr(second + plen + 1, "[redacted]") - second, plen + 10 + 30000 - n);
        assert_string_equal(second + expect - 12, "x[redacted]\n");
        free(out);
        free(line);
}

static void test_target_selection(void **state) {
        (void) state;
        Journal *j = NULL;
        bool socket = access("/run/systemd/journal/socket", F_OK) >= 0;

        setenv("UDFCRON_LOG_TARGET", "stderr", 1);
        assert_int_equal(journal_new(JOURNAL_AUTO, &j), 0);
        assert_true(journal_is_stderr(j));
        j = journal_free(j);

        setenv("UDFCRON_LOG_TARGET", "journal", 1);
        assert_int_equal(journal_new(JOURNAL_AUTO, &j), 0);
        assert_false(journal_is_stderr(j));
        j = journal_free(j);

        /* An explicit target from the caller wins over the environment. */
        assert_int_equal(journal_new(JOURNAL_STDERR, &j), 0);
        assert_true(journal_is_stderr(j));
        j = journal_free(j);

        setenv("UDFCRON_LOG_TARGET", "syslog", 1);
        assert_int_equal(journal_new(JOURNAL_AUTO, &j), -EINVAL);
        assert_null(j);

        setenv("UDFCRON_LOG_TARGET", "auto", 1);
        assert_int_equal(journal_new(JOURNAL_AUTO, &j), 0);
        assert_int_equal(journal_is_stderr(j), !socket);
        j = journal_free(j);

        unsetenv("UDFCRON_LOG_TARGET");
        assert_int_equal(journal_new(JOURNAL_AUTO, &j), 0);
        assert_int_equal(journal_is_stderr(j), !socket);
        j = journal_free(j);

        assert_int_equal(journal_new((JournalTarget) 42, &j), -EINVAL);
        assert_null(journal_free(NULL));
}

static void test_color_only_on_a_terminal(void **state) {
        (void) state;
        int master, slave;
        struct termios t;
        char raw[4096];
        ssize_t n;
        Journal *j = NULL;

        assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
        assert_int_equal(tcgetattr(slave, &t), 0);
        cfmakeraw(&t); /* no "\n" -> "\r\n" */
        assert_int_equal(tcsetattr(slave, TCSANOW, &t), 0);
        setenv("TERM", "xterm", 1);
        unsetenv("NO_COLOR");

        int saved = dup(STDERR_FILENO);
        assert_int_equal(dup2(slave, STDERR_FILENO), STDERR_FILENO);
        if (journal_new(JOURNAL_STDERR, &j) == 0) {
                journal_run_event(j, &nightly, RUN_EVENT_FAILED, "boom");
                journal_run_event(j, &nightly, RUN_EVENT_RETRY, "in 30s");
                journal_run_event(j, &nightly, RUN_EVENT_SKIPPED, "overlap");
                journal_run_event(j, &nightly, RUN_EVENT_STARTED, "go");
                journal_log(j, LOG_DEBUG, "tick");
                journal_run_output(j, &nightly, false, "\x1b[2J", 4, 0); /* escaped even on a terminal */
                j = journal_free(j);
        }
        setenv("NO_COLOR", "1", 1);
        if (journal_new(JOURNAL_STDERR, &j) == 0) {
                journal_run_event(j, &nightly, RUN_EVENT_FAILED, "plain");
                j = journal_free(j);
        }
        unsetenv("NO_COLOR");
        (void) dup2(saved, STDERR_FILENO);
        (void) close(saved);
        (void) close(slave);

        size_t size = 0;
        assert_int_equal(fcntl(master, F_SETFL, O_NONBLOCK), 0);
        while ((n = read(master, raw + size, sizeof raw - size)) > 0)
                size += (size_t) n;
        (void) close(master);
        char *out = strip_timestamps(raw, size);
        assert_string_equal(out, "\x1b[1;31mnightly[r-3f2a] #1 failed: boom\x1b[0m\n"
                                 "\x1b[1;33mnightly[r-3f2a] #1 retry: in 30s\x1b[0m\n"
                                 "\x1b[1mnightly[r-3f2a] #1 skipped: overlap\x1b[0m\n"
                                 "nightly[r-3f2a] #1 started: go\n"
                                 "\x1b[2mtick\x1b[0m\n"
                                 "nightly[r-3f2a] | \\x1b[2J\n"
                                 "nightly[r-3f2a] #1 failed: plain\n");
        free(out);
}

static void test_event_names(void **state) {
        (void) state;
        static const char *const names[] = { "scheduled", "started",   "log",        "finished",
                                             "failed",    "timed_out", "cancelled",  "skipped",
                                             "retry",     "lost",      "task_retry", "task_failed" };
        assert_int_equal(ELEMENTSOF(names), _RUN_EVENT_MAX);
        for (int e = 0; e < _RUN_EVENT_MAX; e++)
                assert_string_equal(run_event_to_string((RunEvent) e), names[e]);
        assert_null(run_event_to_string(_RUN_EVENT_MAX));
        assert_null(run_event_to_string(_RUN_EVENT_INVALID));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lifecycle_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_output_lines_and_daemon_messages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secrets_in_messages_and_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overlapping_secrets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_64k_line, setup, teardown),
                cmocka_unit_test(test_target_selection),
                cmocka_unit_test(test_color_only_on_a_terminal),
                cmocka_unit_test(test_event_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
