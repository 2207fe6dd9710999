/* SPDX-License-Identifier: MIT */
/*
 * How fast is `udfcronctl history` over 100,000 journal records? Goal: under
 * 200 ms for the default listing.
 *
 * The records go to a journald of the bench's own, never to the system's:
 * the bench enters a private mount namespace (root only), mounts tmpfs over
 * /run/systemd and /run/log (and /var/log/journal), binds a journald.conf of
 * its own (volatile storage, no rate limit, no kernel messages) over
 * /etc/systemd/journald.conf, and starts /lib/systemd/systemd-journald there.
 * Nothing outside sees its socket or its files, and all of it is gone when
 * the bench exits: the writes are bounded by the tmpfs (1 GiB) and by the
 * record count below, whatever happens.
 *
 * Records are written through daemon/journal.c, as the daemon writes them
 * (sd_journal_sendv(), the same fields): schedule A has RUNS_A runs of five
 * records each (scheduled, started, a stdout line, a stderr line, finished or
 * failed): 100,000 records. Schedule B, the needle, has RUNS_B runs of five
 * records spread evenly among A's. Names carry a random suffix.
 *
 * Each query runs the real build/udfcronctl (fork + exec + its own output to
 * /dev/null included: what an operator waits for) REPS times; min, median and
 * max wall time are printed. Peers in the same run: journalctl with the same
 * field matches.
 *
 * Environment: UDFCRONCTL=PATH (default ../udfcronctl next to this binary);
 * UDFCRON_BENCH_SHELL=COMMAND runs COMMAND with /bin/sh in the namespace once
 * the records are there, instead of the timings (for profiling; $A, $B and
 * $RUN_ID name the schedules and a run).
 * Exit status 0 unless the setup fails (not root: skipped, status 0); a missed
 * goal is printed, not fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "../support/bench-util.h"
#include "cleanup.h"
#include "journal.h"
#include "macro.h"

#define RUNS_A          20000
#define RUNS_B          100
#define RECORDS_PER_RUN 5
#define REPS            7
#define GOAL_MS         200.0

#define JOURNALD        "/lib/systemd/systemd-journald"
#define JOURNAL_SOCKET  "/run/systemd/journal/socket"
#define JOURNAL_RUNTIME "/run/log/journal"
#define JOURNALD_CONF   "/etc/systemd/journald.conf"
#define BENCH_CONF      "/run/systemd/bench-journald.conf"

#define FIRST_SLOT_USEC UINT64_C(1795366800000000) /* 2026-11-22T17:00:00Z; one run a minute */
#define MINUTE_USEC     UINT64_C(60000000)

static pid_t g_journald = -1;
static char g_ctl[PATH_MAX];

static void stop_journald(void) {
        if (g_journald > 0) {
                (void) kill(g_journald, SIGTERM);
                (void) waitpid(g_journald, NULL, 0);
                g_journald = -1;
        }
}

static void on_fatal_signal(int sig) {
        stop_journald();
        signal(sig, SIG_DFL);
        raise(sig);
}

/* ------------------------------------------------------------------ a private journald */

static void mount_tmpfs(const char *path, const char *options) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("mkdir %s: %m", path);
        if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
                die("mount tmpfs on %s: %m", path);
}

/* Returns false when not allowed (not root): the bench is then skipped. */
static bool enter_private_namespace(void) {
        if (unshare(CLONE_NEWNS) < 0) {
                if (errno == EPERM)
                        return false;
                die("unshare(CLONE_NEWNS): %m");
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("making / private: %m");
        mount_tmpfs("/run/systemd", "mode=0755,size=16m");
        mount_tmpfs("/run/log", "mode=0755,size=1g");
        if (access("/var/log/journal", F_OK) == 0)
                mount_tmpfs("/var/log/journal", "mode=0755,size=1m");

        FILE *f = fopen(BENCH_CONF, "we");
        if (!f)
                die("cannot create %s: %m", BENCH_CONF);
        fputs("[Journal]\nStorage=volatile\nRateLimitIntervalSec=0\nReadKMsg=no\nForwardToSyslog=no\n"
              "ForwardToWall=no\nRuntimeMaxUse=900M\nRuntimeMaxFileSize=256M\n",
              f);
        if (fclose(f) != 0)
                die("cannot write %s: %m", BENCH_CONF);
        if (access(JOURNALD_CONF, F_OK) == 0 && mount(BENCH_CONF, JOURNALD_CONF, NULL, MS_BIND, NULL) < 0)
                die("bind %s over %s: %m", BENCH_CONF, JOURNALD_CONF);
        return true;
}

static bool journald_listens(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
}

static void start_journald(void) {
        char *argv[] = { (char *) JOURNALD, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;

        if (access(JOURNALD, X_OK) < 0)
                die("%s is missing (Debian package systemd)", JOURNALD);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
        int r = posix_spawn(&g_journald, JOURNALD, &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                die("cannot start %s: %s", JOURNALD, strerror(r));

        for (int64_t deadline = mono_ns() + INT64_C(5000000000); !journald_listens(); sleep_ms(5))
                if (mono_ns() > deadline || waitpid(g_journald, NULL, WNOHANG) != 0)
                        die("%s did not open %s within 5 s", JOURNALD, JOURNAL_SOCKET);
}

/* Bytes of journal files under JOURNAL_RUNTIME/<machine-id>/. */
static uint64_t journal_bytes(void) {
        uint64_t total = 0;
        DIR *top = opendir(JOURNAL_RUNTIME);
        struct dirent *d, *e;

        for (; top && (d = readdir(top));) {
                char sub[PATH_MAX];
                if (d->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof sub, "%s/%s", JOURNAL_RUNTIME, d->d_name);
                DIR *dir = opendir(sub);
                for (; dir && (e = readdir(dir));) {
                        char path[PATH_MAX + 256];
                        struct stat st;
                        snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
                        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                                total += (uint64_t) st.st_blocks * 512;
                }
                if (dir)
                        closedir(dir);
        }
        if (top)
                closedir(top);
        return total;
}

/* ------------------------------------------------------------------ the records */

/* Run n of a schedule: its slot, and an id that looks like the daemon's (16 hex digits). */
static uint64_t slot_of(uint64_t n) {
        return FIRST_SLOT_USEC + n * MINUTE_USEC;
}

static char *run_id_of(const char *schedule, uint64_t n, char buf[static 17]) {
        snprintf(buf, 17, "%016" PRIx64, (n + 1) * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) schedule[7]);
        return buf;
}

static void write_run(Journal *j, const char *schedule, uint64_t n) {
        char run_id[17];
        bool ok = n % 10 != 0;
        RunFields f = {
                .schedule = schedule,
                .run_id = run_id_of(schedule, n, run_id),
                .engine = "local",
                .attempt = 1,
                .scheduled_usec = slot_of(n),
        };
        static const char out[] = "processed 1234 rows", err[] = "warning: 3 rows skipped";

        journal_run_event(j, &f, RUN_EVENT_SCHEDULED, "fired");
        journal_run_event(j, &f, RUN_EVENT_STARTED, "sh -c /srv/etl/rollup --day 2026-11-22");
        journal_run_output(j, &f, false, out, sizeof out - 1, 0);
        journal_run_output(j, &f, true, err, sizeof err - 1, 0);
        f.duration_usec = 1234567 + n % 1000;
        f.has_exit_status = true;
        f.exit_status = ok ? 0 : 3;
        if (ok)
                journal_run_event(j, &f, RUN_EVENT_FINISHED, "in 1.235s: {\"rows\": 1234}");
        else
                journal_run_event(j, &f, RUN_EVENT_FAILED, "exited with status 3 after 1.235s");
}

/* A runs with a B run after every RUNS_A / RUNS_B of them. */
static double write_records(const char *a, const char *b) {
        _cleanup_(journal_freep) Journal *j = NULL;
        int64_t t0 = mono_ns();

        if (journal_new(JOURNAL_JOURNALD, &j) < 0)
                die("journal_new failed");
        for (uint64_t i = 0; i < RUNS_A; i++) {
                write_run(j, a, i);
                if ((i + 1) % (RUNS_A / RUNS_B) == 0)
                        write_run(j, b, i / (RUNS_A / RUNS_B));
        }
        return (double) (mono_ns() - t0) / 1e9;
}

/* ------------------------------------------------------------------ running the queries */

/* Runs argv with stdout to `out` (or /dev/null); returns wall ms. Dies unless it exits 0. */
static double run_timed(char *const argv[], const char *out) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out ?: "/dev/null",
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int64_t t0 = mono_ns();
        int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                die("cannot run %s: %s", argv[0], strerror(r));
        if (waitpid(pid, &status, 0) < 0)
                die("waitpid: %m");
        double ms = (double) (mono_ns() - t0) / 1e6;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("%s %s %s exited with status %d", argv[0], argv[1], argv[2] ?: "", status);
        return ms;
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

typedef struct Timing {
        double min, median, max;
} Timing;

static Timing time_command(char *const argv[]) {
        double ms[REPS];
        for (size_t i = 0; i < REPS; i++)
                ms[i] = run_timed(argv, NULL);
        qsort(ms, REPS, sizeof ms[0], compare_double);
        return (Timing){ .min = ms[0], .median = ms[REPS / 2], .max = ms[REPS - 1] };
}

/* How many runs `history NAME -n COUNT --json` lists (counted by their "run_id" members). */
static size_t count_listed(const char *schedule, const char *count) {
        char out[] = "/run/log/bench-history.json";
        char *argv[] = { g_ctl,         (char *) "history", (char *) schedule,
                         (char *) "-n", (char *) count,     (char *) "--json",
                         NULL };
        (void) run_timed(argv, out);

        FILE *f = fopen(out, "re");
        char line[4096];
        size_t n = 0;
        while (f && fgets(line, sizeof line, f))
                n += strstr(line, "\"run_id\":") != NULL;
        if (f)
                fclose(f);
        return n;
}

static void print_row(const char *what, const char *how, Timing t, const char *note) {
        printf("%-34s %-52s %8.1f %8.1f %8.1f  %s\n", what, how, t.min, t.median, t.max, note ?: "");
}

static void find_udfcronctl(const char *argv0) {
        const char *env = getenv("UDFCRONCTL");
        if (env && *env) {
                snprintf(g_ctl, sizeof g_ctl, "%s", env);
        } else {
                char self[PATH_MAX];
                snprintf(self, sizeof self, "%s", argv0);
                char *slash = strrchr(self, '/');
                snprintf(g_ctl, sizeof g_ctl, "%.*s/../udfcronctl", slash ? (int) (slash - self) : 1,
                         slash ? self : ".");
        }
        if (access(g_ctl, X_OK) < 0)
                die("%s: %m (build it, or set UDFCRONCTL)", g_ctl);
}

int main(int argc, char **argv) {
        (void) argc;
        char a[64], b[64], a_run[17], all_a[16], all_b[16];
        uint64_t tag;

        find_udfcronctl(argv[0]);
        if (!enter_private_namespace()) {
                printf("bench-history: skipped: a private journald needs root (CLONE_NEWNS)\n");
                return 0;
        }
        atexit(stop_journald);
        signal(SIGINT, on_fatal_signal);
        signal(SIGTERM, on_fatal_signal);
        start_journald();

        if (getentropy(&tag, sizeof tag) < 0)
                tag = (uint64_t) mono_ns();
        snprintf(a, sizeof a, "bench-history-%08" PRIx32, (uint32_t) tag);
        snprintf(b, sizeof b, "bench-needle-%08" PRIx32, (uint32_t) (tag >> 32));
        run_id_of(a, RUNS_A / 2, a_run);
        snprintf(all_a, sizeof all_a, "%d", RUNS_A);
        snprintf(all_b, sizeof all_b, "%d", RUNS_B);

        printf("udfcronctl history over %d journal records: schedule A with %d runs (%d records each:\n"
               "scheduled, started, 2 output lines, finished/failed) and schedule B with %d runs among "
               "them.\n"
               "Private journald on tmpfs (mount namespace); wall time of the whole command, %d runs "
               "each.\n\n",
               (RUNS_A + RUNS_B) * RECORDS_PER_RUN, RUNS_A, RECORDS_PER_RUN, RUNS_B, REPS);
        fflush(stdout);

        double write_s = write_records(a, b);
        /* journald takes the datagrams in order and stores each at once: wait until all are readable */
        size_t listed_a = 0, listed_b = 0;
        for (int64_t deadline = mono_ns() + INT64_C(60000000000);;) {
                listed_a = count_listed(a, all_a);
                listed_b = count_listed(b, all_b);
                if ((listed_a == RUNS_A && listed_b == RUNS_B) || mono_ns() > deadline)
                        break;
                sleep_ms(200);
        }
        printf("written in %.1f s (%.0f records/s); journal files: %.1f MiB; listed back: A %zu/%d, B "
               "%zu/%d\n\n",
               write_s, (RUNS_A + RUNS_B) * RECORDS_PER_RUN / write_s, (double) journal_bytes() / 1048576.0,
               listed_a, RUNS_A, listed_b, RUNS_B);
        if (listed_a != RUNS_A || listed_b != RUNS_B)
                die("journald did not keep every record");

        const char *shell = getenv("UDFCRON_BENCH_SHELL");
        if (shell && *shell) {
                setenv("A", a, 1);
                setenv("B", b, 1);
                setenv("RUN_ID", a_run, 1);
                int status = system(shell);
                return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }

        char *hist_default[] = { g_ctl, (char *) "history", a, NULL };
        char *hist_default_json[] = { g_ctl, (char *) "history", a, (char *) "--json", NULL };
        char *hist_all[] = { g_ctl, (char *) "history", a, (char *) "-n", all_a, NULL };
        char *hist_all_json[] = {
                g_ctl, (char *) "history", a, (char *) "-n", all_a, (char *) "--json", NULL
        };
        char *hist_needle[] = { g_ctl, (char *) "history", b, (char *) "-n", all_b, NULL };
        char *logs[] = { g_ctl, (char *) "logs", a_run, NULL };
        char match_a[96], match_b[96];
        snprintf(match_a, sizeof match_a, "UDFCRON_SCHEDULE=%s", a);
        snprintf(match_b, sizeof match_b, "UDFCRON_SCHEDULE=%s", b);
        char *jc_tail[] = { (char *) "/usr/bin/journalctl",
                            (char *) "-q",
                            (char *) "--no-pager",
                            (char *) "-o",
                            (char *) "cat",
                            (char *) "-n",
                            (char *) "100",
                            match_a,
                            NULL };
        char *jc_all[] = { (char *) "/usr/bin/journalctl",
                           (char *) "-q",
                           (char *) "--no-pager",
                           (char *) "-o",
                           (char *) "json",
                           match_a,
                           NULL };
        char *jc_needle[] = { (char *) "/usr/bin/journalctl",
                              (char *) "-q",
                              (char *) "--no-pager",
                              (char *) "-o",
                              (char *) "cat",
                              match_b,
                              NULL };

        Timing t_default = time_command(hist_default);
        printf("%-34s %-52s %8s %8s %8s\n", "query", "command", "min ms", "median", "max");
        print_row("latest 20 runs of A (default)", "udfcronctl history A", t_default,
                  t_default.median < GOAL_MS ? "goal < 200 ms: met" : "goal < 200 ms: MISSED");
        print_row("", "udfcronctl history A --json", time_command(hist_default_json), NULL);
        print_row("", "journalctl -o cat -n 100 UDFCRON_SCHEDULE=A (peer)", time_command(jc_tail), NULL);
        print_row("all 20,000 runs of A", "udfcronctl history A -n 20000", time_command(hist_all), NULL);
        print_row("", "udfcronctl history A -n 20000 --json", time_command(hist_all_json), NULL);
        print_row("", "journalctl -o json UDFCRON_SCHEDULE=A (peer)", time_command(jc_all), NULL);
        print_row("all 100 runs of B among A's", "udfcronctl history B -n 100", time_command(hist_needle),
                  NULL);
        print_row("", "journalctl -o cat UDFCRON_SCHEDULE=B (peer)", time_command(jc_needle), NULL);
        print_row("one run's records", "udfcronctl logs RUN_ID", time_command(logs), NULL);
        return 0;
}
