/* SPDX-License-Identifier: MIT */
/*
 * child: real children on a real sd-event loop. Every wait is bounded (run_until), so a bug fails a test
 * instead of hanging the suite; every test ends by checking that no child of ours is left unreaped.
 * Spawns are kept few: this machine forks slowly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "child.h"
#include "macro.h"

#define USEC_PER_MSEC  1000ULL
#define USEC_PER_SEC   1000000ULL
#define RUN_BOUND_USEC (5 * USEC_PER_SEC)

static const char *const test_env[] = { "PATH=/usr/bin:/bin", NULL };

/* envp defaults to test_env in run_spawn() */
#define SPEC(...) ((ChildSpec){ .uid = (uid_t) -1, .gid = (gid_t) -1, __VA_ARGS__ })
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

typedef struct Line {
        bool is_stderr;
        char *data;
        size_t size;
        bool partial;
} Line;

typedef struct Run {
        sd_event *event;
        Child *child;
        Line *lines;
        size_t n_lines;
        bool ended, stop_on_line;
        const char *cancel_on; /* child_cancel() when this stdout line arrives */
        ChildResult result;
        char *result_data;
        uint64_t spawned_mono, ended_mono;
} Run;

static uint64_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void on_output(void *userdata, bool is_stderr, const char *line, size_t size, bool partial) {
        Run *run = userdata;
        Line *l;

        assert_true(size <= CHILD_LINE_MAX);
        assert_int_equal(line[size], '\0');
        run->lines = realloc(run->lines, (run->n_lines + 1) * sizeof *run->lines);
        assert_non_null(run->lines);
        l = &run->lines[run->n_lines++];
        *l = (Line){ .is_stderr = is_stderr, .data = malloc(size + 1), .size = size, .partial = partial };
        assert_true(!partial || size == CHILD_LINE_MAX);
        assert_non_null(l->data);
        memcpy(l->data, line, size + 1);
        if (run->cancel_on && !is_stderr && strcmp(line, run->cancel_on) == 0)
                assert_int_equal(child_cancel(run->child), 0);
}

/* Frees the child inside the callback, as the header allows. */
static void on_ended(void *userdata, const ChildResult *result) {
        Run *run = userdata;

        run->ended = true;
        run->ended_mono = now_mono();
        run->result = *result;
        if (result->result) {
                assert_int_equal(result->result[result->result_size], '\0');
                run->result_data = malloc(result->result_size + 1);
                assert_non_null(run->result_data);
                memcpy(run->result_data, result->result, result->result_size + 1);
        }
        run->result.result = run->result_data;
        run->child = child_free(run->child);
}

static const ChildCallbacks callbacks = { .output = on_output, .ended = on_ended };

static void run_init(Run *run) {
        *run = (Run){ 0 };
        assert_int_equal(sd_event_new(&run->event), 0);
}

static int run_spawn(Run *run, const ChildSpec *spec) {
        ChildSpec s = *spec;
        if (!s.envp)
                s.envp = test_env;
        run->spawned_mono = now_mono();
        return child_spawn(run->event, &s, &callbacks, run, &run->child);
}

static void run_until(Run *run, const bool *flag) {
        uint64_t deadline = now_mono() + RUN_BOUND_USEC;
        while (!*flag) {
                assert_true(now_mono() < deadline);
                assert_true(sd_event_run(run->event, 100 * USEC_PER_MSEC) >= 0);
        }
}

static void assert_no_children(void) {
        siginfo_t si = { 0 };
        assert_int_equal(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), -1);
        assert_int_equal(errno, ECHILD);
}

static void run_done(Run *run) {
        run->child = child_free(run->child);
        for (size_t i = 0; i < run->n_lines; i++)
                free(run->lines[i].data);
        free(run->lines);
        free(run->result_data);
        run->event = sd_event_unref(run->event);
        assert_no_children();
}

/* One complete run; returns the result. */
static void run_spec(Run *run, const ChildSpec *spec) {
        run_init(run);
        assert_int_equal(run_spawn(run, spec), 0);
        assert_true(child_pid(run->child) > 0);
        run_until(run, &run->ended);
}

/* The lines of one stream, in order. */
static size_t stream_lines(const Run *run, bool is_stderr, const Line **ret, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < run->n_lines && n < max; i++)
                if (run->lines[i].is_stderr == is_stderr)
                        ret[n++] = &run->lines[i];
        return n;
}

static void assert_lines(const Run *run, bool is_stderr, const char *const *expected) {
        const Line *got[64];
        size_t n = stream_lines(run, is_stderr, got, ELEMENTSOF(got)), i;
        for (i = 0; expected[i]; i++) {
                assert_true(i < n);
                assert_int_equal(got[i]->size, strlen(expected[i]));
                assert_memory_equal(got[i]->data, expected[i], got[i]->size);
        }
        assert_int_equal(n, i);
}

/* Gone, or a zombie that init has not reaped yet: in both cases it runs no more. */
static void assert_process_dies(pid_t pid) {
        char path[64], buf[512];
        uint64_t deadline = now_mono() + 2 * USEC_PER_SEC;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        for (;;) {
                FILE *f = fopen(path, "re");
                if (!f)
                        return;
                char *p = fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
                fclose(f);
                if (!p || p[2] == 'Z' || p[2] == 'X')
                        return;
                assert_true(now_mono() < deadline);
                usleep(10000);
        }
}

static pid_t line_pid(const Line *l) {
        assert_true(l->size > 0 && l->size < 16);
        return (pid_t) atoi(l->data);
}

/* Our open descriptors, the listing's own included (the same in every count). */
static size_t count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void test_exit_status(void **state) {
        Run run;
        uint64_t now = (uint64_t) time(NULL) * USEC_PER_SEC;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("/bin/true")));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_int_equal(run.result.exit_status, 0);
        assert_int_equal(run.result.signal, 0);
        assert_true(run.result.pid > 0);
        assert_true(run.result.started_usec + 10 * USEC_PER_SEC > now);
        assert_true(run.result.started_usec <= run.result.ended_usec);
        assert_null(run.result.result);
        assert_int_equal(run.n_lines, 0);
        run_done(&run);

        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "exit 3")));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_int_equal(run.result.exit_status, 3);
        run_done(&run);

        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "kill -9 $$")));
        assert_int_equal(run.result.end, CHILD_SIGNALED);
        assert_int_equal(run.result.signal, SIGKILL);
        assert_int_equal(run.result.exit_status, -1);
        run_done(&run);
}

/* Lines split over several reads, an empty line, a last line without '\n', stderr apart. */
static void test_lines(void **state) {
        Run run;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c",
                                          "printf a; sleep 0.05; printf 'b\\nc'; echo err >&2; sleep 0.05; "
                                          "printf 'd\\n\\ne'")));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_lines(&run, false, ARGV("ab", "cd", "", "e"));
        assert_lines(&run, true, ARGV("err"));
        run_done(&run);
}

/*
 * Pieces of exactly CHILD_LINE_MAX, marked partial; the piece that ends the
 * line is not, and is empty when a '\n' follows a full piece.
 */
static void test_long_line(void **state) {
        const size_t a = 16 * CHILD_LINE_MAX + 100, b = CHILD_LINE_MAX;
        size_t size = a + 1 + b + 2 + 3, off = 0;
        char *input = malloc(size), *joined = malloc(a);
        const Line *got[32];
        size_t n;
        Run run;

        (void) state;
        assert_non_null(input);
        assert_non_null(joined);
        for (size_t i = 0; i < a; i++)
                input[i] = (char) ('a' + i % 26);
        input[a] = '\n';
        memset(input + a + 1, 'B', b);
        memcpy(input + a + 1 + b, "\n\nend", 5);

        run_spec(&run, &SPEC(.argv = ARGV("/bin/cat"), .input = input, .input_size = size));
        assert_int_equal(run.result.exit_status, 0);
        n = stream_lines(&run, false, got, ELEMENTSOF(got));
        assert_int_equal(n, 16 + 1 + 2 + 1 + 1);
        for (size_t i = 0; i < 17; i++) {
                assert_int_equal(got[i]->size, i < 16 ? CHILD_LINE_MAX : 100);
                assert_int_equal(got[i]->partial, i < 16);
                memcpy(joined + off, got[i]->data, got[i]->size);
                off += got[i]->size;
        }
        assert_int_equal(off, a);
        assert_memory_equal(joined, input, a);
        assert_int_equal(got[17]->size, b);
        assert_true(got[17]->partial);
        assert_memory_equal(got[17]->data, input + a + 1, b);
        assert_int_equal(got[18]->size, 0); /* the end of the line of exactly CHILD_LINE_MAX */
        assert_false(got[18]->partial);
        assert_int_equal(got[19]->size, 0); /* the empty line */
        assert_false(got[19]->partial);
        assert_int_equal(got[20]->size, 3);
        assert_memory_equal(got[20]->data, "end", 3);
        run_done(&run);
        free(input);
        free(joined);
}

/* Binary input larger than a pipe buffer, NULs included, echoed back by cat byte for byte. */
static void test_binary(void **state) {
        const size_t size = 200 * 1024;
        char *input = malloc(size), *joined = malloc(size + 1);
        uint32_t x = 12345;
        size_t off = 0;
        Run run;

        (void) state;
        assert_non_null(input);
        assert_non_null(joined);
        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245 + 12345;
                input[i] = (char) (x >> 16);
        }
        input[10] = '\0';
        input[size - 1] = 'x'; /* no trailing '\n': the last line arrives at EOF */

        run_spec(&run, &SPEC(.argv = ARGV("/bin/cat"), .input = input, .input_size = size));
        assert_int_equal(run.result.exit_status, 0);
        for (size_t i = 0; i < run.n_lines; i++) {
                assert_false(run.lines[i].is_stderr);
                if (i > 0 && !run.lines[i - 1].partial)
                        joined[off++] = '\n';
                assert_true(off + run.lines[i].size <= size);
                memcpy(joined + off, run.lines[i].data, run.lines[i].size);
                off += run.lines[i].size;
        }
        assert_int_equal(off, size);
        assert_memory_equal(joined, input, size);
        run_done(&run);

        run_spec(&run, &SPEC(.argv = ARGV("/usr/bin/printf", "a\\000b\\r\\n\\377")));
        assert_int_equal(run.n_lines, 2);
        assert_int_equal(run.lines[0].size, 4);
        assert_memory_equal(run.lines[0].data, "a\0b\r", 4);
        assert_int_equal(run.lines[1].size, 1);
        assert_memory_equal(run.lines[1].data, "\377", 1);
        run_done(&run);
        free(input);
        free(joined);
}

/* The child never reads stdin: EPIPE, which is no error, and no SIGPIPE for us (its default kills). */
static void test_stdin_ignored(void **state) {
        const size_t size = 1024 * 1024;
        char *input = calloc(1, size);
        sigset_t pending;
        Run run;

        (void) state;
        assert_non_null(input);
        run_spec(&run, &SPEC(.argv = ARGV("/bin/true"), .input = input, .input_size = size));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_int_equal(run.result.exit_status, 0);
        run_done(&run);
        assert_int_equal(sigpending(&pending), 0);
        assert_int_equal(sigismember(&pending, SIGPIPE), 0);
        free(input);
}

static void test_result(void **state) {
        Run run;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "echo '{\"a\":1}' >&3"), .want_result = true));
        assert_int_equal(run.result.exit_status, 0);
        assert_string_equal(run.result.result, "{\"a\":1}\n");
        assert_int_equal(run.result.result_size, 8);
        assert_false(run.result.result_truncated);
        run_done(&run);

        /* Over the limit: kept up to it, the rest drained so the child finishes. */
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "head -c 16777300 /dev/zero >&3; echo done"),
                             .want_result = true));
        assert_int_equal(run.result.exit_status, 0);
        assert_int_equal(run.result.result_size, CHILD_RESULT_MAX);
        assert_true(run.result.result_truncated);
        assert_lines(&run, false, ARGV("done"));
        run_done(&run);
}

/* Ignores SIGTERM, and so does its grandchild: SIGKILL for the whole group after the grace period. */
static void test_timeout(void **state) {
        Run run;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"),
                             .timeout_usec = 100 * USEC_PER_MSEC, .kill_grace_usec = 150 * USEC_PER_MSEC));
        assert_int_equal(run.result.end, CHILD_TIMED_OUT);
        assert_int_equal(run.result.signal, SIGKILL);
        assert_int_equal(run.result.exit_status, -1);
        assert_true(run.ended_mono - run.spawned_mono >= 250 * USEC_PER_MSEC);
        assert_true(run.ended_mono - run.spawned_mono < 2 * USEC_PER_SEC);
        assert_int_equal(run.n_lines, 1);
        assert_process_dies(line_pid(&run.lines[0]));
        run_done(&run);
}

static void test_cancel(void **state) {
        Run run;

        (void) state;
        run_init(&run);
        assert_int_equal(run_spawn(&run, &SPEC(.argv = ARGV("/bin/sleep", "30"),
                                               .kill_grace_usec = 5 * USEC_PER_SEC)),
                         0);
        assert_int_equal(child_cancel(run.child), 0);
        assert_int_equal(child_cancel(run.child), 0); /* twice is fine */
        run_until(&run, &run.ended);
        assert_int_equal(run.result.end, CHILD_CANCELLED);
        assert_int_equal(run.result.signal, SIGTERM);
        assert_true(run.ended_mono - run.spawned_mono < USEC_PER_SEC);
        run_done(&run);

        /* Exits 0 when asked to stop: still cancelled, with its exit status. */
        run_init(&run);
        run.cancel_on = "ready";
        assert_int_equal(
                run_spawn(&run, &SPEC(.argv = ARGV("/bin/sh", "-c",
                                                   "sleep 30 & trap 'exit 0' TERM; echo ready; wait"),
                                      .kill_grace_usec = 5 * USEC_PER_SEC)),
                0);
        run_until(&run, &run.ended);
        assert_int_equal(run.result.end, CHILD_CANCELLED);
        assert_int_equal(run.result.exit_status, 0);
        assert_int_equal(run.result.signal, 0);
        assert_true(run.ended_mono - run.spawned_mono < USEC_PER_SEC);
        run_done(&run);

        /* The child dies at once, its grandchild ignores SIGTERM and holds stdout: the grace period
         * applies to it too, then SIGKILL ends the run (not the 1 s drain). */
        run_init(&run);
        run.cancel_on = "ready";
        assert_int_equal(
                run_spawn(&run, &SPEC(.argv = ARGV("/bin/sh", "-c",
                                                   "(trap '' TERM; echo ready; exec sleep 30) & wait"),
                                      .kill_grace_usec = 300 * USEC_PER_MSEC)),
                0);
        run_until(&run, &run.ended);
        assert_int_equal(run.result.end, CHILD_CANCELLED);
        assert_int_equal(run.result.signal, SIGTERM);
        assert_true(run.ended_mono - run.spawned_mono >= 300 * USEC_PER_MSEC);
        assert_true(run.ended_mono - run.spawned_mono < 900 * USEC_PER_MSEC);
        run_done(&run);
}

static void test_spawn_failure(void **state) {
        char marker[] = "/tmp/test-child-marker-XXXXXX";
        int fd = mkstemp(marker);
        const struct {
                const char *const *argv;
                const char *wd, *marker;
                int error;
        } cases[] = {
                { ARGV("/nonexistent/program"), NULL, marker, -ENOENT }, /* the marker is removed again */
                { ARGV("no-such-program-udfcron"), NULL, NULL, -ENOENT },
                { ARGV("/etc/passwd"), NULL, NULL, -EACCES },
                { ARGV("/bin/true"), "/nonexistent", NULL, -ENOENT },
                { ARGV("/bin/true"), NULL, "/nonexistent/marker", -ENOENT },
        };
        Child *sentinel = (Child *) 0x1;
        sigset_t chld;
        Run run;

        (void) state;
        run_init(&run);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                run.child = sentinel;
                assert_int_equal(
                        run_spawn(&run, &SPEC(.argv = cases[i].argv, .working_directory = cases[i].wd,
                                              .start_marker = cases[i].marker)),
                        cases[i].error);
                assert_ptr_equal(run.child, sentinel);
                assert_no_children();
        }
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(access(marker, F_OK), -1);
        assert_int_equal(child_spawn(run.event, &SPEC(.argv = NULL), &callbacks, &run, &run.child), -EINVAL);

        /* SIGCHLD not blocked: refused before anything is started. */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        assert_int_equal(run_spawn(&run, &SPEC(.argv = ARGV("/bin/true"))), -EBUSY);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        run.child = NULL;
        assert_int_equal(sd_event_run(run.event, 0), 0); /* nothing happened, nothing to call back */
        assert_int_equal(run.n_lines, 0);
        assert_false(run.ended);
        run_done(&run);
}

/*
 * Exec failures come back from child_spawn() itself, with execve's exact errno, also when input was written
 * to the pipe before the start (the part that fits, or all of it): nothing is left, neither a child nor a
 * descriptor of ours.
 */
static void test_exec_failure(void **state) {
        static const char junk[] = "\177\001not a program\n";
        char dir[] = "/tmp/test-child-XXXXXX", path[64], env_path[96];
        const char *const env[] = { env_path, NULL };
        const size_t big = 1024 * 1024;
        char *input = calloc(1, big);
        size_t fds_before;
        int fd;
        Run run;

        (void) state;
        assert_non_null(input);
        assert_non_null(mkdtemp(dir));
        /* Executable but neither ELF nor #!: ENOEXEC, which execvp() would hand to /bin/sh, we do not. */
        snprintf(path, sizeof path, "%s/junk", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, junk, sizeof junk - 1), (ssize_t) (sizeof junk - 1));
        close(fd);
        /* In PATH but not executable: EACCES, unless a later directory has an executable one. */
        snprintf(path, sizeof path, "%s/true", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);

        run_init(&run);
        snprintf(env_path, sizeof env_path, "PATH=%s", dir);
        assert_int_equal(run_spawn(&run, &SPEC(.argv = ARGV("junk"), .envp = env)), -ENOEXEC);
        assert_no_children();
        fds_before = count_fds(); /* after a first spawn: sd-event makes its timerfd on first use */
        assert_int_equal(
                run_spawn(&run, &SPEC(.argv = ARGV("true"), .envp = env, .input = "{}", .input_size = 2)),
                -EACCES);
        assert_no_children();
        assert_int_equal(
                run_spawn(&run, &SPEC(.argv = ARGV("/nonexistent"), .input = input, .input_size = big)),
                -ENOENT);
        assert_no_children();
        assert_int_equal(count_fds(), fds_before);
        assert_null(run.child);
        run_done(&run);

        snprintf(env_path, sizeof env_path, "PATH=%s:/usr/bin:/bin", dir);
        run_spec(&run, &SPEC(.argv = ARGV("true"), .envp = env));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_int_equal(run.result.exit_status, 0);
        run_done(&run);

        snprintf(path, sizeof path, "%s/junk", dir);
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof path, "%s/true", dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        free(input);
}

/* Holds the descriptors of a running /bin/sleep with that input, then lets it go. */
static size_t fds_while_running(Run *run, const void *input, size_t size) {
        size_t n;

        assert_int_equal(
                run_spawn(run, &SPEC(.argv = ARGV("/bin/sleep", "30"), .input = input, .input_size = size)),
                0);
        n = count_fds();
        run->child = child_free(run->child);
        assert_no_children();
        return n;
}

/*
 * Input that fits the pipe is written before the start and arrives whole, with nothing but 0, 1, 2 open in
 * the child; we keep no write end for it. Larger input keeps one until the child has read it.
 */
static void test_input_prefilled(void **state) {
        static const char params[] =
                "{\"name\":\"backup\",\"scheduled_usec\":1700000000000000}\nsecond line";
        const size_t big = 1024 * 1024;
        char *input = calloc(1, big);
        size_t none, small, large;
        Run run;

        (void) state;
        assert_non_null(input);
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "cat; echo; ls /proc/$$/fd"), .input = params,
                             .input_size = sizeof params - 1));
        assert_int_equal(run.result.exit_status, 0);
        assert_lines(&run, false,
                     ARGV("{\"name\":\"backup\",\"scheduled_usec\":1700000000000000}", "second line", "0",
                          "1", "2"));
        assert_lines(&run, true, ARGV(NULL));
        run_done(&run);

        /* Same loop, so sd-event's own descriptors (epoll, timerfd) are there in every count. */
        run_init(&run);
        none = fds_while_running(&run, NULL, 0);
        small = fds_while_running(&run, params, sizeof params - 1);
        large = fds_while_running(&run, input, big);
        assert_int_equal(small, none);
        assert_int_equal(large, none + 1);
        run_done(&run);
        free(input);
}

/* PATH comes from envp (its first entry does not exist); the child sees exactly envp; the working
 * directory and the start marker. */
static void test_environment(void **state) {
        static const char *const env[] = { "PATH=/nonexistent:/usr/bin:/bin", "FOO=bar baz",
                                           "EMPTY=", NULL };
        char dir[] = "/tmp/test-child-XXXXXX", marker[64];
        Run run;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("env"), .envp = env));
        assert_int_equal(run.result.exit_status, 0);
        assert_lines(&run, false, env);
        run_done(&run);

        /* The start marker is made before the exec, by the daemon's user. */
        assert_non_null(mkdtemp(dir));
        snprintf(marker, sizeof marker, "%s/started", dir);
        run_spec(&run, &SPEC(.argv = ARGV("pwd"), .working_directory = "/usr/bin", .start_marker = marker));
        assert_lines(&run, false, ARGV("/usr/bin"));
        assert_int_equal(access(marker, F_OK), 0);
        assert_int_equal(unlink(marker), 0);
        assert_int_equal(rmdir(dir), 0);
        run_done(&run);
}

/* Only 0, 1, 2 (and 3 with a result channel), even with a descriptor we opened without O_CLOEXEC. */
static void test_no_fd_leak(void **state) {
        int leaky = open("/dev/null", O_RDONLY);
        Run run;

        (void) state;
        assert_true(leaky >= 0);
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "ls /proc/$$/fd")));
        assert_lines(&run, false, ARGV("0", "1", "2"));
        run_done(&run);

        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "ls /proc/$$/fd"), .want_result = true));
        assert_lines(&run, false, ARGV("0", "1", "2", "3"));
        run_done(&run);
        close(leaky);
}

/* A grandchild keeps stdout open after the child exited: the end waits a bounded drain, not forever. */
static void test_grandchild_holds_pipe(void **state) {
        Run run;
        pid_t grandchild;

        (void) state;
        run_spec(&run, &SPEC(.argv = ARGV("/bin/sh", "-c", "sleep 5 & echo $!")));
        assert_int_equal(run.result.end, CHILD_EXITED);
        assert_int_equal(run.result.exit_status, 0);
        assert_int_equal(run.n_lines, 1);
        assert_true(run.ended_mono - run.spawned_mono >= 900 * USEC_PER_MSEC);
        assert_true(run.ended_mono - run.spawned_mono < 3 * USEC_PER_SEC);
        grandchild = line_pid(&run.lines[0]);
        assert_int_equal(kill(grandchild, SIGKILL), 0); /* not ours to reap: it was reparented */
        run_done(&run);
}

static void on_first_line(void *userdata, bool is_stderr, const char *line, size_t size, bool partial) {
        Run *run = userdata;
        on_output(userdata, is_stderr, line, size, partial);
        run->stop_on_line = true;
}

/* child_free() on a running child: the group dies, the child is reaped, nothing is called back. */
static void test_free_running(void **state) {
        const ChildCallbacks cb = { .output = on_first_line, .ended = on_ended };
        Run run;
        pid_t pid;

        (void) state;
        run_init(&run);
        assert_int_equal(child_spawn(run.event,
                                     &SPEC(.argv = ARGV("/bin/sh", "-c", "sleep 30 & echo $!; wait"),
                                           .envp = test_env),
                                     &cb, &run, &run.child),
                         0);
        pid = child_pid(run.child);
        run_until(&run, &run.stop_on_line);
        run.child = child_free(run.child);
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
        assert_no_children();
        assert_process_dies(line_pid(&run.lines[0]));
        assert_int_equal(sd_event_run(run.event, 10 * USEC_PER_MSEC), 0);
        assert_false(run.ended);
        run_done(&run);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_status),     cmocka_unit_test(test_lines),
                cmocka_unit_test(test_long_line),       cmocka_unit_test(test_binary),
                cmocka_unit_test(test_stdin_ignored),   cmocka_unit_test(test_result),
                cmocka_unit_test(test_timeout),         cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_spawn_failure),   cmocka_unit_test(test_environment),
                cmocka_unit_test(test_no_fd_leak),      cmocka_unit_test(test_grandchild_holds_pipe),
                cmocka_unit_test(test_free_running),    cmocka_unit_test(test_exec_failure),
                cmocka_unit_test(test_input_prefilled),
        };
        sigset_t chld;

        /* sd-event watches children only with SIGCHLD blocked. SIGPIPE keeps its default on purpose. */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
