/* SPDX-License-Identifier: MIT */
/*
 * The daemon end to end: how late its children start, how fast a burst of
 * due schedules is dispatched, how much memory 100,000 schedules take, how
 * long loading and reloading them takes, and whether it sleeps when idle.
 * Everything is measured in one run next to peers measured in the same run:
 *
 *   raw      a plain loop that posix_spawn()s (and, as a second row, fork()s
 *            and execve()s) the same tiny program as fast as it can, started
 *            at a whole second: the physical limit of this machine;
 *   cron     Debian's cron (Vixie cron) in the foreground with the same
 *            1,000 jobs in /etc/cron.d/ (installed with apt-get when missing
 *            and we are root); cron has minute granularity, so its latency is
 *            counted from the minute boundary.
 *
 * Every child is a tiny static program compiled in the setup (source below)
 * that reads CLOCK_REALTIME first thing and appends "start_ns scheduled_usec"
 * to a file in one O_APPEND write; scheduled_usec comes from
 * $UDFCRON_SCHEDULED_USEC. Latency = start - scheduled.
 *
 * udfcrond runs with --log-target stderr into a log file; its state directory
 * in a private temporary directory under $TMPDIR (default /tmp, a disk file
 * system, so the state file's fsyncs cost what they cost on /var/lib), its
 * runtime directory (the per-run start markers) on tmpfs under /dev/shm, as
 * /run is under systemd; NOTIFY_SOCKET points at a datagram socket the bench
 * drains, so that READY=1 / RELOADING=1 / STATUS= are seen and sd_notify()
 * costs what it costs under systemd. The 10,000 burst gets RLIMIT_NOFILE raised
 * as far as the hard limit allows (each running run holds 4 descriptors).
 *
 * Also measured, because they explain the results: one `* * * * * *` schedule
 * among 100,000 whose state file has a record for each (written through
 * state.h before the start), and the daemon's CPU time, bytes written and
 * sd_notify datagrams per scenario.
 *
 * Environment:
 *   UDFCROND=PATH            the daemon (default: ../udfcrond next to this binary)
 *   UDFCRON_BENCH_10K=1      also run the 10,000-schedule burst (adds ~3 min)
 *   UDFCRON_BENCH_NO_CRON=1  skip the cron peer
 *   UDFCRON_BENCH_NO_INSTALL=1  never apt-get install cron
 *   UDFCRON_BENCH_KEEP=1     keep the temporary directories (logs, configs, stamps)
 *   CC                       compiler for the stamp program (default cc)
 *
 * Exit status 0 unless the setup fails; missed goals are printed, not fatal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/bench-util.h"
#include "cleanup.h"
#include "macro.h"
#include "state.h"

extern char **environ;

#define N_SINGLE        20     /* fires of the lone `* * * * * *` schedule */
#define N_TICK_BIG      10     /* fires of the lone schedule among 100k with a full state */
#define N_BURST         1000
#define N_BURST_BIG     10000
#define N_RSS           100000 /* schedules for the memory and load-time part */
#define N_RSS_FILES     100
#define N_IDLE          1000
#define IDLE_SEC        60
#define LOAD_RUNS       3
#define RELOAD_RUNS     3
#define CRON_FILE       "/etc/cron.d/udfcron-bench"
#define CRON_PIDFILE    "/run/crond.pid"

/* Goals. */
#define GOAL_SINGLE_P99_MS  5.0
#define GOAL_RATE_FRACTION  0.90
#define GOAL_KIB_PER_SCHED  2.0
#define GOAL_LOAD_MS        1000.0
#define GOAL_RELOAD_MS      1000.0

/* The child every scheduler starts. Static: no dynamic loader between exec and the clock read. */
static const char stamp_source[] =
        "#include <fcntl.h>\n"
        "#include <stdio.h>\n"
        "#include <stdlib.h>\n"
        "#include <time.h>\n"
        "#include <unistd.h>\n"
        "int main(int argc, char **argv) {\n"
        "        struct timespec ts;\n"
        "        clock_gettime(CLOCK_REALTIME, &ts);\n"
        "        const char *s = getenv(\"UDFCRON_SCHEDULED_USEC\");\n"
        "        char buf[64];\n"
        "        int n = snprintf(buf, sizeof buf, \"%lld %s\\n\",\n"
        "                         (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec, s && *s ? s : \"0\");\n"
        "        if (argc < 2)\n"
        "                return 2;\n"
        "        int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);\n"
        "        if (fd < 0 || write(fd, buf, (size_t) n) != n)\n"
        "                return 1;\n"
        "        return 0;\n"
        "}\n";

/* ------------------------------------------------------------------ globals, cleanup */

static char g_tmp[PATH_MAX];
static char g_rt[PATH_MAX]; /* runtime directories (start markers): tmpfs, as /run is under systemd */
static char g_stamp[PATH_MAX];
static char g_notify_path[PATH_MAX];
static const char *g_udfcrond;
static bool g_keep;

#define MAX_TRACKED 16
static volatile pid_t g_pids[MAX_TRACKED]; /* daemons, cron, perf: killed on an early exit */
static bool g_cron_file_ours, g_cron_pidfile_ours;

static void track(pid_t pid) {
        for (size_t i = 0; i < MAX_TRACKED; i++)
                if (g_pids[i] == 0) {
                        g_pids[i] = pid;
                        return;
                }
}

static void untrack(pid_t pid) {
        for (size_t i = 0; i < MAX_TRACKED; i++)
                if (g_pids[i] == pid)
                        g_pids[i] = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) ftw;
        if (flag == FTW_DP || flag == FTW_D)
                (void) rmdir(path);
        else
                (void) unlink(path);
        return 0;
}

static void cleanup_all(void) {
        for (size_t i = 0; i < MAX_TRACKED; i++) {
                pid_t pid = g_pids[i];
                if (pid > 0) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        g_pids[i] = 0;
                }
        }
        if (g_cron_file_ours) {
                (void) unlink(CRON_FILE);
                g_cron_file_ours = false;
        }
        if (g_cron_pidfile_ours) {
                (void) unlink(CRON_PIDFILE);
                g_cron_pidfile_ours = false;
        }
        if (g_rt[0] && strcmp(g_rt, g_tmp) != 0 && !g_keep) {
                (void) nftw(g_rt, rm_one, 32, FTW_DEPTH | FTW_PHYS);
                g_rt[0] = '\0';
        }
        if (g_tmp[0] && !g_keep) {
                (void) nftw(g_tmp, rm_one, 32, FTW_DEPTH | FTW_PHYS);
                g_tmp[0] = '\0';
        }
}

static void on_fatal_signal(int sig) {
        cleanup_all();
        signal(sig, SIG_DFL);
        raise(sig);
}

/* ------------------------------------------------------------------ time, files, /proc */

static int64_t real_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_real(int64_t t_ns) {
        struct timespec ts = { .tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000 };
        while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

_printf_(2, 3) static char *pathf(char buf[static PATH_MAX], const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int n = vsnprintf(buf, PATH_MAX, format, ap);
        va_end(ap);
        if (n < 0 || n >= PATH_MAX)
                die("path too long");
        return buf;
}

static void mkdir_or_die(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("mkdir %s: %m", path);
}

static FILE *fopen_or_die(const char *path, const char *mode) {
        FILE *f = fopen(path, mode);
        if (!f)
                die("cannot open %s: %m", path);
        return f;
}

/* Lines in a file (0 when it does not exist yet). */
static size_t count_lines(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[65536];
        size_t lines = 0;
        ssize_t n;
        if (fd < 0)
                return 0;
        while ((n = read(fd, buf, sizeof buf)) > 0)
                for (ssize_t i = 0; i < n; i++)
                        lines += buf[i] == '\n';
        return lines;
}

/* Waits until `path` has `n` lines or `timeout_ms` passed; returns the count. */
static size_t wait_lines(const char *path, size_t n, int64_t timeout_ms) {
        int64_t end = mono_ns() + timeout_ms * 1000000;
        size_t have;
        while ((have = count_lines(path)) < n && mono_ns() < end)
                sleep_ms(20);
        return have;
}

/* Lines of a file that contain `needle`. */
static size_t count_matching(const char *path, const char *needle) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0, n = 0;
        while (f && getline(&line, &size, f) > 0)
                n += strstr(line, needle) != NULL;
        return n;
}

typedef struct Stamp {
        int64_t start_ns;
        int64_t sched_usec;
} Stamp;

static size_t read_stamps(const char *path, Stamp **ret) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        Stamp *v = NULL;
        size_t n = 0, cap = 0;
        long long a, b;
        *ret = NULL;
        if (!f)
                return 0;
        while (fscanf(f, "%lld %lld", &a, &b) == 2) {
                if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        v = realloc(v, cap * sizeof *v);
                        if (!v)
                                die("out of memory");
                }
                v[n++] = (Stamp) { a, b };
        }
        *ret = v;
        return n;
}

/* A "Key:   value" line of /proc/PID/<file>, or -1. */
static long long proc_field(pid_t pid, const char *file, const char *key) {
        char path[PATH_MAX], line[512];
        _cleanup_fclose_ FILE *f = fopen(pathf(path, "/proc/%d/%s", (int) pid, file), "re");
        size_t len = strlen(key);
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, len) == 0 && line[len] == ':')
                        return strtoll(line + len + 1, NULL, 10);
        return -1;
}

/* Voluntary + involuntary context switches over all threads: each wake-up of a sleeping thread is one. */
static long long ctxt_switches(pid_t pid, long long *ret_voluntary) {
        char path[PATH_MAX];
        _cleanup_(closedirp) DIR *d = NULL;
        long long vol = 0, invol = 0;
        d = opendir(pathf(path, "/proc/%d/task", (int) pid));
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                char file[300];
                snprintf(file, sizeof file, "task/%s/status", de->d_name);
                vol += MAX(proc_field(pid, file, "voluntary_ctxt_switches"), 0LL);
                invol += MAX(proc_field(pid, file, "nonvoluntary_ctxt_switches"), 0LL);
        }
        if (ret_voluntary)
                *ret_voluntary = vol;
        return vol + invol;
}

/* utime + stime in ms. */
static double cpu_ms(pid_t pid) {
        char path[PATH_MAX], buf[2048];
        _cleanup_close_ int fd = open(pathf(path, "/proc/%d/stat", (int) pid), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NAN;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return NAN;
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
                return NAN;
        unsigned long long utime = 0, stime = 0;
        /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return NAN;
        return (double) (utime + stime) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------ statistics */

typedef struct Stats {
        size_t n;      /* samples */
        size_t wanted; /* how many were expected */
        double p50, p99, max; /* ms */
        double rate;          /* starts per second between the first and the last start; NAN: n/a */
        bool valid;
} Stats;

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* Nearest rank. */
static double percentile(const double *sorted, size_t n, double p) {
        size_t rank = (size_t) ceil(p / 100.0 * (double) n);
        if (rank < 1)
                rank = 1;
        return sorted[MIN(rank, n) - 1];
}

/* From stamps; `sched_ns_override` > 0 replaces every stamp's own scheduled time (cron has none). */
static Stats stats_from_stamps(const Stamp *s, size_t n, size_t wanted, int64_t sched_ns_override,
                               bool with_rate) {
        Stats st = { .n = n, .wanted = wanted, .rate = NAN };
        if (n == 0)
                return st;
        _cleanup_free_ double *lat = calloc(n, sizeof *lat);
        if (!lat)
                die("out of memory");
        int64_t first = INT64_MAX, last = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
                int64_t sched = sched_ns_override > 0 ? sched_ns_override : s[i].sched_usec * 1000;
                lat[i] = (double) (s[i].start_ns - sched) / 1e6;
                first = MIN(first, s[i].start_ns);
                last = MAX(last, s[i].start_ns);
        }
        qsort(lat, n, sizeof *lat, cmp_double);
        st.p50 = percentile(lat, n, 50);
        st.p99 = percentile(lat, n, 99);
        st.max = lat[n - 1];
        if (with_rate && n > 1 && last > first)
                st.rate = (double) (n - 1) / ((double) (last - first) / 1e9);
        st.valid = true;
        return st;
}

/* ------------------------------------------------------------------ sd_notify receiver */

typedef struct Notify {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int fd;
        unsigned ready, reloading, stopping, datagrams;
        int64_t ready_ns, reloading_ns; /* monotonic, of the latest */
        bool idle;                      /* the latest STATUS= says 0 running, 0 waiting */
        int64_t idle_since_ns;
        char status[512];
} Notify;

static Notify g_notify = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1 };

static void *notify_thread(void *arg) {
        Notify *n = arg;
        char buf[4096];
        for (;;) {
                ssize_t k = recv(n->fd, buf, sizeof buf - 1, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return NULL;
                }
                int64_t t = mono_ns();
                buf[k] = '\0';
                pthread_mutex_lock(&n->lock);
                n->datagrams++;
                for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        if (strcmp(line, "READY=1") == 0) {
                                n->ready++;
                                n->ready_ns = t;
                        } else if (strcmp(line, "RELOADING=1") == 0) {
                                n->reloading++;
                                n->reloading_ns = t;
                        } else if (strcmp(line, "STOPPING=1") == 0)
                                n->stopping++;
                        else if (strncmp(line, "STATUS=", 7) == 0) {
                                snprintf(n->status, sizeof n->status, "%s", line + 7);
                                bool idle = strstr(line, " 0 running, 0 waiting") != NULL;
                                if (idle && !n->idle)
                                        n->idle_since_ns = t;
                                n->idle = idle;
                        }
                }
                pthread_cond_broadcast(&n->cond);
                pthread_mutex_unlock(&n->lock);
        }
}

static void notify_setup(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pathf(g_notify_path, "%s/notify", g_tmp);
        if (strlen(g_notify_path) >= sizeof sa.sun_path)
                die("notify socket path too long: %s", g_notify_path);
        strcpy(sa.sun_path, g_notify_path);
        g_notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (g_notify.fd < 0 || bind(g_notify.fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                die("notify socket: %m");
        int size = 8 << 20;
        (void) setsockopt(g_notify.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
        pthread_t t;
        if (pthread_create(&t, NULL, notify_thread, &g_notify) != 0)
                die("pthread_create failed");
        pthread_detach(t);
}

static void notify_reset(void) {
        pthread_mutex_lock(&g_notify.lock);
        g_notify.ready = g_notify.reloading = g_notify.stopping = g_notify.datagrams = 0;
        g_notify.idle = false;
        g_notify.status[0] = '\0';
        pthread_mutex_unlock(&g_notify.lock);
}

typedef enum WaitFor { WAIT_READY, WAIT_RELOADING, WAIT_IDLE } WaitFor;

/*
 * Waits until the counter reaches `count`, or for WAIT_IDLE until the latest STATUS= says nothing runs
 * and has said so since a monotonic instant after `after_ns`; false on timeout.
 */
static bool notify_wait_after(WaitFor what, unsigned count, int64_t after_ns, int64_t timeout_ms, int64_t *ret_ns) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }
        bool ok = false;
        pthread_mutex_lock(&g_notify.lock);
        for (;;) {
                if (what == WAIT_READY && g_notify.ready >= count) {
                        ok = true;
                        if (ret_ns)
                                *ret_ns = g_notify.ready_ns;
                } else if (what == WAIT_RELOADING && g_notify.reloading >= count) {
                        ok = true;
                        if (ret_ns)
                                *ret_ns = g_notify.reloading_ns;
                } else if (what == WAIT_IDLE && g_notify.idle && g_notify.idle_since_ns > after_ns) {
                        ok = true;
                        if (ret_ns)
                                *ret_ns = g_notify.idle_since_ns;
                }
                if (ok || pthread_cond_timedwait(&g_notify.cond, &g_notify.lock, &deadline) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&g_notify.lock);
        return ok;
}

static bool notify_wait(WaitFor what, unsigned count, int64_t timeout_ms, int64_t *ret_ns) {
        return notify_wait_after(what, count, 0, timeout_ms, ret_ns);
}

static unsigned notify_datagrams(void) {
        pthread_mutex_lock(&g_notify.lock);
        unsigned n = g_notify.datagrams;
        pthread_mutex_unlock(&g_notify.lock);
        return n;
}

/* ------------------------------------------------------------------ the daemon */

typedef struct Daemon {
        pid_t pid;
        char dir[PATH_MAX];
        int64_t start_ns; /* monotonic, just before fork() */
        int64_t ready_ns;
        double load_ms; /* start to READY=1 */
} Daemon;

/* The daemon's environment: ours without anything systemd would hand a service, plus NOTIFY_SOCKET. */
static char **daemon_environment(void) {
        size_t n = 0;
        while (environ[n])
                n++;
        char **env = calloc(n + 2, sizeof *env);
        size_t k = 0;
        if (!env)
                die("out of memory");
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 && strncmp(environ[i], "WATCHDOG_", 9) != 0 &&
                    strncmp(environ[i], "LISTEN_", 7) != 0 && strncmp(environ[i], "UDFCRON_", 8) != 0)
                        env[k++] = environ[i];
        if (asprintf(&env[k++], "NOTIFY_SOCKET=%s", g_notify_path) < 0)
                die("out of memory");
        env[k] = NULL;
        return env;
}

static void write_main_config(const char *dir, unsigned max_concurrent_runs) {
        char path[PATH_MAX], runtime[PATH_MAX];
        const char *base = strrchr(dir, '/');
        pathf(runtime, "%s/%s", g_rt, base ? base + 1 : dir);
        mkdir_or_die(dir);
        mkdir_or_die(pathf(path, "%s/schedules.d", dir));
        FILE *f = fopen_or_die(pathf(path, "%s/udfcrond.conf", dir), "we");
        fprintf(f,
                "timezone = \"UTC\";\n"
                "schedules_directory = \"schedules.d\";\n"
                "state_directory = \"state\";\n"
                "runtime_directory = \"%s\";\n"
                "max_concurrent_runs = %u;\n",
                runtime, max_concurrent_runs);
        fclose(f);
}

/* `n` schedules named PREFIX-NNNNNN into schedules.d/FILE; they run the stamp into `out`, else /bin/true. */
static void write_schedules(const char *dir, const char *file, const char *prefix, size_t first, size_t n,
                            const char *cron, const char *out) {
        char path[PATH_MAX];
        FILE *f = fopen_or_die(pathf(path, "%s/schedules.d/%s", dir, file), "we");
        fprintf(f, "schedules = (\n");
        for (size_t i = 0; i < n; i++) {
                fprintf(f, "  { name = \"%s-%06zu\"; cron = \"%s\"; ", prefix, first + i, cron);
                if (out)
                        fprintf(f, "command = [ \"%s\", \"%s\" ]; }", g_stamp, out);
                else
                        fprintf(f, "command = [ \"/bin/true\" ]; }");
                fprintf(f, "%s\n", i + 1 < n ? "," : "");
        }
        fprintf(f, ");\n");
        if (fclose(f) != 0)
                die("cannot write %s: %m", path);
}

/* Starts the daemon on DIR/udfcrond.conf and waits for READY=1. */
static void daemon_start(Daemon *d, const char *dir, rlim_t nofile) {
        char conf[PATH_MAX], log[PATH_MAX];
        _cleanup_free_ char **env = daemon_environment();
        *d = (Daemon) { .pid = -1 };
        snprintf(d->dir, sizeof d->dir, "%s", dir);
        pathf(conf, "%s/udfcrond.conf", dir);
        pathf(log, "%s/daemon.log", dir);
        char *argv[] = { (char *) "udfcrond", (char *) "--config", conf, (char *) "--log-target",
                         (char *) "stderr", NULL };

        notify_reset();
        int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (logfd < 0 || nullfd < 0)
                die("cannot open %s: %m", log);
        d->start_ns = mono_ns();
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                if (nofile > 0) {
                        struct rlimit rl = { nofile, nofile };
                        (void) setrlimit(RLIMIT_NOFILE, &rl);
                }
                if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
                        _exit(126);
                execve(g_udfcrond, argv, env);
                _exit(127);
        }
        close(logfd);
        close(nullfd);
        d->pid = pid;
        track(pid);
        if (!notify_wait(WAIT_READY, 1, 60000, &d->ready_ns)) {
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        untrack(pid);
                die("udfcrond in %s sent no READY=1 within 60 s (see %s)", dir, log);
        }
        d->load_ms = (double) (d->ready_ns - d->start_ns) / 1e6;
}

/* SIGTERM and wait; SIGKILL after 60 s. Returns how long the stop took, in ms. */
static double daemon_stop(Daemon *d) {
        int64_t t0 = mono_ns();
        int status;
        if (d->pid <= 0)
                return NAN;
        (void) kill(d->pid, SIGTERM);
        while (waitpid(d->pid, &status, WNOHANG) == 0) {
                if (mono_ns() - t0 > INT64_C(60000000000)) {
                        fprintf(stderr, "bench-daemon: udfcrond %d did not stop in 60 s; SIGKILL\n", d->pid);
                        (void) kill(d->pid, SIGKILL);
                        (void) waitpid(d->pid, &status, 0);
                        break;
                }
                sleep_ms(2);
        }
        untrack(d->pid);
        d->pid = -1;
        return (double) (mono_ns() - t0) / 1e6;
}

/* ------------------------------------------------------------------ peer: raw spawn loops */

typedef enum RawMode { RAW_POSIX_SPAWN, RAW_FORK_EXEC } RawMode;

static pid_t raw_spawn_one(RawMode mode, char *const argv[], char *const envp[]) {
        pid_t pid;
        if (mode == RAW_POSIX_SPAWN)
                return posix_spawn(&pid, g_stamp, NULL, NULL, argv, envp) == 0 ? pid : -1;
        pid = fork();
        if (pid == 0) {
                execve(g_stamp, argv, envp);
                _exit(127);
        }
        return pid;
}

/*
 * In a child process of its own, so that it reaps nothing of ours: `n` spawns as fast as possible from
 * the whole second `at_ns` on; with `spread_ms` > 0, one spawn at each of n instants spread_ms apart.
 */
static void raw_run(RawMode mode, size_t n, const char *out, int64_t at_ns, int64_t spread_ms) {
        pid_t helper = fork();
        if (helper < 0)
                die("fork: %m");
        if (helper == 0) {
                char sched[64], path_env[] = "PATH=/usr/local/bin:/usr/bin:/bin";
                char *argv[] = { g_stamp, (char *) out, NULL };
                char *envp[] = { path_env, sched, NULL };
                size_t alive = 0;
                for (size_t i = 0; i < n; i++) {
                        int64_t t = at_ns + (int64_t) i * spread_ms * 1000000;
                        if (spread_ms > 0 || i == 0) {
                                snprintf(sched, sizeof sched, "UDFCRON_SCHEDULED_USEC=%" PRId64, t / 1000);
                                sleep_until_real(t);
                        }
                        if (raw_spawn_one(mode, argv, envp) < 0)
                                _exit(3);
                        alive++;
                        while (alive > 0 && waitpid(-1, NULL, WNOHANG) > 0)
                                alive--;
                }
                while (alive > 0 && waitpid(-1, NULL, 0) > 0)
                        alive--;
                _exit(0);
        }
        int status;
        if (waitpid(helper, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("the raw spawn loop failed");
}

/* The next whole second at least `lead_ms` away. */
static int64_t next_second(int64_t lead_ms) {
        int64_t t = real_ns() + lead_ms * 1000000;
        return (t / 1000000000 + 1) * 1000000000;
}

static Stats raw_burst(RawMode mode, size_t n, const char *name) {
        char out[PATH_MAX];
        Stamp *s;
        pathf(out, "%s/raw-%s-%zu.stamps", g_tmp, name, n);
        int64_t at = next_second(200);
        raw_run(mode, n, out, at, 0);
        size_t got = wait_lines(out, n, 5000);
        got = read_stamps(out, &s);
        Stats st = stats_from_stamps(s, got, n, 0, true);
        free(s);
        return st;
}

static Stats raw_single(void) {
        char out[PATH_MAX];
        Stamp *s;
        pathf(out, "%s/raw-single.stamps", g_tmp);
        int64_t at = next_second(200);
        raw_run(RAW_POSIX_SPAWN, N_SINGLE, out, at, 100);
        size_t got = wait_lines(out, N_SINGLE, 5000);
        got = read_stamps(out, &s);
        Stats st = stats_from_stamps(s, got, N_SINGLE, 0, false);
        free(s);
        return st;
}

/* ------------------------------------------------------------------ udfcrond scenarios */

typedef struct BurstExtra {
        double ready_before_ms; /* READY=1 this long before the due second */
        double drained_ms;      /* due second until STATUS= says 0 running, 0 waiting; NAN: never */
        double cpu_ms;          /* daemon CPU from READY=1 to drained */
        unsigned datagrams;     /* sd_notify datagrams in that span */
        double load_ms;
        rlim_t nofile;          /* the daemon's RLIMIT_NOFILE */
        size_t failed;          /* runs that could not start ("cannot start" in the log) */
} BurstExtra;

static Stats udfcrond_single(double *ret_cpu_per_fire_ms) {
        char dir[PATH_MAX], out[PATH_MAX];
        Daemon d;
        Stamp *s;
        pathf(dir, "%s/single", g_tmp);
        pathf(out, "%s/stamps", dir);
        write_main_config(dir, 16);
        write_schedules(dir, "single.conf", "single", 0, 1, "* * * * * *", out);
        daemon_start(&d, dir, 0);
        double cpu0 = cpu_ms(d.pid);
        size_t got = wait_lines(out, N_SINGLE, (N_SINGLE + 10) * 1000);
        *ret_cpu_per_fire_ms = (cpu_ms(d.pid) - cpu0) / (double) MAX(got, (size_t) 1);
        daemon_stop(&d);
        got = read_stamps(out, &s);
        Stats st = stats_from_stamps(s, MIN(got, (size_t) N_SINGLE), N_SINGLE, 0, false);
        free(s);
        return st;
}

static void cron_fields_at(int64_t t_ns, char *buf, size_t size) {
        time_t t = (time_t) (t_ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(buf, size, "%d %d %d * * *", tm.tm_sec, tm.tm_min, tm.tm_hour);
}

static Stats udfcrond_burst(size_t n, BurstExtra *x) {
        char dir[PATH_MAX], out[PATH_MAX], cron[64];
        Daemon d;
        Stamp *s;
        pathf(dir, "%s/burst-%zu", g_tmp, n);
        pathf(out, "%s/stamps", dir);
        write_main_config(dir, (unsigned) MAX(n, (size_t) 16));
        /* the due second: far enough for the daemon to load (it takes well under a second for 10k) */
        int64_t due = next_second(2500);
        cron_fields_at(due, cron, sizeof cron);
        for (size_t i = 0; i < n; i += 1000) {
                char file[64];
                snprintf(file, sizeof file, "burst-%03zu.conf", i / 1000);
                write_schedules(dir, file, "burst", i, MIN((size_t) 1000, n - i), cron, out);
        }
        /* each running run holds a pidfd and 3 pipe ends: give the daemon room for all of them if we may */
        struct rlimit rl;
        rlim_t want = (rlim_t) (5 * n + 1024);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < want) {
                struct rlimit more = { want, MAX(want, rl.rlim_max) };
                if (setrlimit(RLIMIT_NOFILE, &more) == 0) /* can we? (root with CAP_SYS_RESOURCE) */
                        setrlimit(RLIMIT_NOFILE, &rl);
                else
                        want = rl.rlim_max;
        }
        x->nofile = MAX(want, rl.rlim_cur);
        daemon_start(&d, dir, x->nofile);
        x->load_ms = d.load_ms;
        int64_t ready_real = real_ns();
        x->ready_before_ms = (double) (due - ready_real) / 1e6;
        double cpu0 = cpu_ms(d.pid);
        unsigned dg0 = notify_datagrams();
        size_t got = wait_lines(out, n, 30000 + (int64_t) n * 10);
        int64_t drained_mono;
        /* "0 running, 0 waiting" since after the due second: every run has ended and been recorded */
        int64_t offset = real_ns() - mono_ns();
        bool drained = notify_wait_after(WAIT_IDLE, 0, due - offset, 120000, &drained_mono);
        x->drained_ms = drained ? (double) (drained_mono + offset - due) / 1e6 : NAN;
        x->cpu_ms = cpu_ms(d.pid) - cpu0;
        x->datagrams = notify_datagrams() - dg0;
        daemon_stop(&d);
        x->failed = count_matching(pathf(out, "%s/daemon.log", dir), "cannot start");
        got = read_stamps(pathf(out, "%s/stamps", dir), &s);
        Stats st = stats_from_stamps(s, got, n, 0, true);
        free(s);
        return st;
}

/* ------------------------------------------------------------------ peer: Debian cron */

typedef struct CronResult {
        Stats st;
        char note[256];
        bool installed_now;
} CronResult;

static const char *find_cron(void) {
        static const char *const paths[] = { "/usr/sbin/cron", "/sbin/cron" };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

static const char *ensure_cron(CronResult *c) {
        const char *cron = find_cron();
        if (cron)
                return cron;
        if (getenv("UDFCRON_BENCH_NO_INSTALL") || geteuid() != 0) {
                snprintf(c->note, sizeof c->note, "cron is not installed (apt-get install cron)");
                return NULL;
        }
        char cmd[PATH_MAX * 2];
        snprintf(cmd, sizeof cmd,
                 "{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cron || "
                 "{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                 "--no-install-recommends cron; }; } >%s/apt.log 2>&1",
                 g_tmp);
        printf("note: Debian cron is missing; installing it (apt-get install cron) for the comparison\n");
        fflush(stdout);
        if (system(cmd) != 0 || !(cron = find_cron())) {
                snprintf(c->note, sizeof c->note, "apt-get install cron failed");
                return NULL;
        }
        c->installed_now = true;
        return cron;
}

/* Reads a pid file; 0 when missing or its process is gone. */
static pid_t live_pidfile(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        int pid;
        if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0)
                return 0;
        return kill(pid, 0) == 0 || errno == EPERM ? pid : 0;
}

/* Runs only after ensure_cron(). Takes up to ~70 s: cron fires at the next minute boundary. */
static void cron_run(const char *cron, CronResult *c) {
        char out[PATH_MAX], log[PATH_MAX];
        struct stat st;
        pid_t other = live_pidfile(CRON_PIDFILE);
        if (other > 0) {
                snprintf(c->note, sizeof c->note, "another cron runs (pid %d): not measured", (int) other);
                return;
        }
        if (lstat(CRON_FILE, &st) == 0) {
                snprintf(c->note, sizeof c->note, "%s exists already: not measured", CRON_FILE);
                return;
        }
        bool pidfile_existed = access(CRON_PIDFILE, F_OK) == 0;
        pathf(out, "%s/cron.stamps", g_tmp);
        pathf(log, "%s/cron.log", g_tmp);

        /* at least 3 s between cron's start and the boundary it fires at */
        int64_t now = real_ns(), minute = INT64_C(60000000000);
        int64_t boundary = (now / minute + 1) * minute;
        if (boundary - now < INT64_C(3000000000)) {
                sleep_until_real(boundary + 200000000);
                boundary += minute;
        }

        int fd = open(CRON_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                snprintf(c->note, sizeof c->note, "cannot create %s: %s", CRON_FILE, strerror(errno));
                return;
        }
        g_cron_file_ours = true;
        FILE *f = fdopen(fd, "we");
        fprintf(f, "# udfcron bench-daemon: removed when it ends\nSHELL=/bin/sh\nMAILTO=\"\"\n");
        for (size_t i = 0; i < N_BURST; i++)
                fprintf(f, "* * * * * root %s %s\n", g_stamp, out);
        if (fclose(f) != 0)
                die("cannot write %s: %m", CRON_FILE);

        int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                if (logfd >= 0) {
                        dup2(logfd, 1);
                        dup2(logfd, 2);
                }
                execl(cron, "cron", "-f", (char *) NULL);
                _exit(127);
        }
        if (logfd >= 0)
                close(logfd);
        track(pid);
        g_cron_pidfile_ours = !pidfile_existed;

        /* cron wakes up at (or a little after) the boundary, then forks a job at a time */
        int64_t wait_ms = (boundary - real_ns()) / 1000000 + 90000;
        size_t got = wait_lines(out, N_BURST, wait_ms);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
                untrack(pid);
                snprintf(c->note, sizeof c->note, "cron exited early (see cron.log, UDFCRON_BENCH_KEEP=1)");
        } else {
                (void) kill(pid, SIGTERM);
                int64_t t0 = mono_ns();
                while (waitpid(pid, &status, WNOHANG) == 0) {
                        if (mono_ns() - t0 > INT64_C(5000000000)) {
                                (void) kill(pid, SIGKILL);
                                (void) waitpid(pid, &status, 0);
                                break;
                        }
                        sleep_ms(10);
                }
                untrack(pid);
        }
        (void) unlink(CRON_FILE);
        g_cron_file_ours = false;
        if (g_cron_pidfile_ours) {
                (void) unlink(CRON_PIDFILE);
                g_cron_pidfile_ours = false;
        }
        sleep_ms(300); /* let jobs cron had forked finish their write */
        Stamp *s;
        got = read_stamps(out, &s);
        /* only the first boundary's jobs */
        size_t keep = 0;
        for (size_t i = 0; i < got; i++)
                if (s[i].start_ns >= boundary && s[i].start_ns < boundary + minute)
                        s[keep++] = s[i];
        c->st = stats_from_stamps(s, keep, N_BURST, boundary, true);
        if (keep < N_BURST && !c->note[0])
                snprintf(c->note, sizeof c->note, "only %zu of %d jobs started within the minute", keep, N_BURST);
        free(s);
}

/* ------------------------------------------------------------------ idle wake-ups */

typedef struct IdleResult {
        double seconds;
        long long switches, voluntary; /* context switches in the window */
        long long epoll_calls;         /* from perf; -1: not measured */
        double cpu_ms;
        char note[160];
} IdleResult;

static pid_t perf_start(pid_t pid, const char *out) {
        if (access("/usr/bin/perf", X_OK) != 0)
                return -1;
        char pidarg[32];
        snprintf(pidarg, sizeof pidarg, "%d", (int) pid);
        pid_t p = fork();
        if (p == 0) {
                int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (nullfd >= 0) {
                        dup2(nullfd, 0);
                        dup2(nullfd, 1);
                        dup2(nullfd, 2);
                }
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGINT, SIG_DFL);
                execl("/usr/bin/perf", "perf", "stat", "-x", ",", "-o", out, "-e",
                      "syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,"
                      "syscalls:sys_enter_epoll_pwait2",
                      "-p", pidarg, (char *) NULL);
                _exit(127);
        }
        if (p > 0)
                track(p);
        return p;
}

/* The sum of the counts perf wrote; -1 if none could be read. */
static long long perf_finish(pid_t p, const char *out) {
        int status;
        if (p <= 0)
                return -1;
        (void) kill(p, SIGINT);
        (void) waitpid(p, &status, 0);
        untrack(p);
        _cleanup_fclose_ FILE *f = fopen(out, "re");
        char line[512];
        long long sum = -1;
        while (f && fgets(line, sizeof line, f)) {
                char *end;
                if (!strstr(line, "epoll"))
                        continue;
                /* "<not counted>": the task was never on a CPU while perf watched, so it made no call */
                if (strncmp(line, "<not counted>,", 14) == 0) {
                        sum = MAX(sum, 0LL);
                        continue;
                }
                long long v = strtoll(line, &end, 10);
                if (end != line && *end == ',')
                        sum = MAX(sum, 0LL) + v;
        }
        return sum;
}

/* ------------------------------------------------------------------ memory, load, reload */

typedef struct MemResult {
        long long rss0_kib, hwm0_kib;
        long long rss_kib, hwm_kib, rss_after_reload_kib;
        double load_ms[LOAD_RUNS], reload_ms[RELOAD_RUNS], stop_ms;
        double load_med, reload_med;
        double reload_cpu_ms;
} MemResult;

static double median3(double *v, size_t n) {
        qsort(v, n, sizeof *v, cmp_double);
        return v[n / 2];
}

static void write_rss_schedules(const char *dir) {
        for (size_t f = 0; f < N_RSS_FILES; f++) {
                char file[64];
                size_t per = N_RSS / N_RSS_FILES;
                snprintf(file, sizeof file, "rss-%03zu.conf", f);
                write_schedules(dir, file, "rss", f * per, per, "0 0 1 1 *", NULL);
        }
}

static void measure_memory(MemResult *m) {
        char dir0[PATH_MAX], dir[PATH_MAX];
        Daemon d;

        pathf(dir0, "%s/rss-0", g_tmp);
        write_main_config(dir0, 16);
        daemon_start(&d, dir0, 0);
        sleep_ms(500);
        m->rss0_kib = proc_field(d.pid, "status", "VmRSS");
        m->hwm0_kib = proc_field(d.pid, "status", "VmHWM");
        daemon_stop(&d);

        pathf(dir, "%s/rss-100k", g_tmp);
        write_main_config(dir, 16);
        write_rss_schedules(dir);
        for (size_t i = 0; i < LOAD_RUNS; i++) {
                daemon_start(&d, dir, 0);
                m->load_ms[i] = d.load_ms;
                if (i + 1 < LOAD_RUNS) {
                        daemon_stop(&d);
                        continue;
                }
                sleep_ms(500);
                m->rss_kib = proc_field(d.pid, "status", "VmRSS");
                m->hwm_kib = proc_field(d.pid, "status", "VmHWM");
                double cpu0 = cpu_ms(d.pid);
                for (size_t k = 0; k < RELOAD_RUNS; k++) {
                        int64_t t0 = mono_ns(), t_ready;
                        (void) kill(d.pid, SIGHUP);
                        if (!notify_wait(WAIT_RELOADING, (unsigned) k + 1, 30000, NULL) ||
                            !notify_wait(WAIT_READY, (unsigned) k + 2, 30000, &t_ready))
                                die("no RELOADING=1/READY=1 after SIGHUP (see %s/daemon.log)", dir);
                        m->reload_ms[k] = (double) (t_ready - t0) / 1e6;
                        sleep_ms(200);
                }
                m->reload_cpu_ms = (cpu_ms(d.pid) - cpu0) / RELOAD_RUNS;
                m->rss_after_reload_kib = proc_field(d.pid, "status", "VmRSS");
                m->stop_ms = daemon_stop(&d);
        }
        m->load_med = median3(m->load_ms, LOAD_RUNS);
        m->reload_med = median3(m->reload_ms, RELOAD_RUNS);
}

/* One `* * * * * *` schedule among 100k, with a state that has a record for each (as after a year). */
typedef struct BigTick {
        Stats st;
        double cpu_per_fire_ms;
        double written_mib_per_fire;
        long long state_bytes;
        long long rss_kib;
        double load_ms;
} BigTick;

static void measure_big_tick(BigTick *b) {
        char dir[PATH_MAX], out[PATH_MAX], path[PATH_MAX];
        Daemon d;
        Stamp *s;
        pathf(dir, "%s/big", g_tmp);
        pathf(out, "%s/stamps", dir);
        write_main_config(dir, 16);
        write_rss_schedules(dir);
        write_schedules(dir, "zz-tick.conf", "tick", 0, 1, "* * * * * *", out);

        _cleanup_(state_freep) State *state = state_new();
        if (!state)
                die("out of memory");
        for (size_t i = 0; i < N_RSS; i++) {
                char name[64];
                ScheduleState *ss;
                snprintf(name, sizeof name, "rss-%06zu", i);
                if (state_ensure_schedule(state, name, &ss) < 0)
                        die("state_ensure_schedule failed");
                ss->last_slot_usec = UINT64_C(1767225600000000); /* 2026-01-01T00:00:00Z, a `0 0 1 1 *` slot */
                ss->last_result = strdup("succeeded");
                ss->last_run_id = strdup("0123456789abcdef");
                ss->last_end_usec = UINT64_C(1767225600123456);
                if (!ss->last_result || !ss->last_run_id)
                        die("out of memory");
        }
        mkdir_or_die(pathf(path, "%s/state", dir));
        if (state_save(state, pathf(path, "%s/state/state.json", dir)) < 0)
                die("cannot write %s", path);
        struct stat st;
        b->state_bytes = stat(path, &st) == 0 ? (long long) st.st_size : -1;

        daemon_start(&d, dir, 0);
        b->load_ms = d.load_ms;
        /* skip the first pass (it writes the state once for the start) */
        sleep_ms(300);
        double cpu0 = cpu_ms(d.pid);
        long long w0 = proc_field(d.pid, "io", "wchar");
        size_t c0 = count_lines(out);
        size_t got = wait_lines(out, c0 + N_TICK_BIG, (N_TICK_BIG + 15) * 1000);
        sleep_ms(300); /* the last run's end is written too */
        size_t fires = got - c0;
        b->cpu_per_fire_ms = (cpu_ms(d.pid) - cpu0) / (double) MAX(fires, (size_t) 1);
        b->written_mib_per_fire =
                (double) (proc_field(d.pid, "io", "wchar") - w0) / (1 << 20) / (double) MAX(fires, (size_t) 1);
        b->rss_kib = proc_field(d.pid, "status", "VmRSS");
        daemon_stop(&d);
        got = read_stamps(out, &s);
        size_t from = MIN(c0, got);
        b->st = stats_from_stamps(s + from, MIN(got - from, (size_t) N_TICK_BIG), N_TICK_BIG, 0, false);
        free(s);
}

/* ------------------------------------------------------------------ output */

static void print_load(const char *when) {
        _cleanup_fclose_ FILE *f = fopen("/proc/loadavg", "re");
        double one, five;
        if (f && fscanf(f, "%lf %lf", &one, &five) == 2)
                printf("%s: load average %.2f (1 min), %.2f (5 min) on %ld CPUs%s\n", when, one, five,
                       sysconf(_SC_NPROCESSORS_ONLN),
                       one > 0.5 ? " -- something else is running: latencies suffer" : "");
}

static void print_row(const char *scenario, const char *who, const Stats *s, const char *extra) {
        char rate[32] = "-";
        if (s->valid && !isnan(s->rate))
                snprintf(rate, sizeof rate, "%.0f", s->rate);
        if (!s->valid) {
                printf("%-24s %-38s %6s %9s %9s %9s %9s  %s\n", scenario, who, "0", "-", "-", "-", "-",
                       extra ? extra : "");
                return;
        }
        char n[48];
        if (s->n < s->wanted)
                snprintf(n, sizeof n, "%zu/%zu", s->n, s->wanted);
        else
                snprintf(n, sizeof n, "%zu", s->n);
        printf("%-24s %-38s %6s %9.3f %9.3f %9.3f %9s  %s\n", scenario, who, n, s->p50, s->p99, s->max, rate,
               extra ? extra : "");
}

static void fmt_ratio(char *buf, size_t size, double ours, double peer) {
        if (isnan(ours) || isnan(peer) || peer <= 0)
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, "%.2fx", ours / peer);
}

static void print_ratio(const char *scenario, const char *peer, const Stats *ours, const Stats *p) {
        char a[16], b[16], c[16], d[16];
        if (!ours->valid || !p->valid) {
                printf("%-24s %-38s %9s %9s %9s %9s\n", scenario, peer, "-", "-", "-", "-");
                return;
        }
        fmt_ratio(a, sizeof a, ours->p50, p->p50);
        fmt_ratio(b, sizeof b, ours->p99, p->p99);
        fmt_ratio(c, sizeof c, ours->max, p->max);
        fmt_ratio(d, sizeof d, ours->rate, p->rate);
        printf("%-24s %-38s %9s %9s %9s %9s\n", scenario, peer, a, b, c, d);
}

static unsigned g_missed, g_met;

_printf_(2, 3) static void goal(bool met, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        printf("  [%s] ", met ? "met   " : "MISSED");
        vprintf(format, ap);
        printf("\n");
        va_end(ap);
        if (met)
                g_met++;
        else
                g_missed++;
}

/* ------------------------------------------------------------------ main */

static const char *find_udfcrond(void) {
        static char path[PATH_MAX];
        const char *env = getenv("UDFCROND");
        if (env && *env)
                return env;
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
        if (n <= 0)
                return NULL;
        path[n] = '\0';
        char *slash = strrchr(path, '/');
        if (!slash)
                return NULL;
        strcpy(slash, "/../udfcrond"); /* build/bench/bench-daemon -> build/udfcrond */
        return path;
}

static void compile_stamp(void) {
        static char src[PATH_MAX], cmd[PATH_MAX * 10];
        const char *cc = getenv("CC");
        if (!cc || !*cc)
                cc = "cc";
        FILE *f = fopen_or_die(pathf(src, "%s/stamp.c", g_tmp), "we");
        fputs(stamp_source, f);
        fclose(f);
        pathf(g_stamp, "%s/stamp", g_tmp);
        snprintf(cmd, sizeof cmd,
                 "%s -O2 -static -o %s %s >%s/stamp.log 2>&1 || %s -O2 -o %s %s >>%s/stamp.log 2>&1", cc, g_stamp,
                 src, g_tmp, cc, g_stamp, src, g_tmp);
        if (system(cmd) != 0 || access(g_stamp, X_OK) != 0)
                die("cannot compile the stamp program (%s; see %s/stamp.log)", cc, g_tmp);
}

int main(void) {
        int64_t t_begin = mono_ns();
        struct utsname un;

        g_keep = getenv("UDFCRON_BENCH_KEEP") && strcmp(getenv("UDFCRON_BENCH_KEEP"), "1") == 0;
        bool with_10k = getenv("UDFCRON_BENCH_10K") && strcmp(getenv("UDFCRON_BENCH_10K"), "1") == 0;
        bool with_cron = !getenv("UDFCRON_BENCH_NO_CRON");

        g_udfcrond = find_udfcrond();
        if (!g_udfcrond || access(g_udfcrond, X_OK) != 0)
                die("udfcrond not found at %s: build it first (make all), or set UDFCROND",
                    g_udfcrond ? g_udfcrond : "?");

        const char *tmpdir = getenv("TMPDIR");
        pathf(g_tmp, "%s/udfcron-bench-daemon.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
        if (!mkdtemp(g_tmp))
                die("mkdtemp %s: %m", g_tmp);
        pathf(g_rt, "/dev/shm/udfcron-bench-daemon.XXXXXX");
        if (!mkdtemp(g_rt))
                snprintf(g_rt, sizeof g_rt, "%s", g_tmp);
        atexit(cleanup_all);
        signal(SIGINT, on_fatal_signal);
        signal(SIGTERM, on_fatal_signal);
        signal(SIGHUP, on_fatal_signal);
        signal(SIGPIPE, SIG_IGN);

        uname(&un);
        printf("udfcrond end to end: %s; kernel %s\n"
               "configs, state directories: %s; runtime directories (start markers): %s\n",
               g_udfcrond, un.release, g_tmp, g_rt);
        print_load("start");
        compile_stamp();

        CronResult cron = {};
        const char *cron_path = with_cron ? ensure_cron(&cron) : NULL;
        if (!with_cron)
                snprintf(cron.note, sizeof cron.note, "skipped (UDFCRON_BENCH_NO_CRON)");
        fflush(stdout);

        /* peers first, before any thread exists: the raw loops fork */
        Stats raw1 = raw_single();
        Stats raw_k = raw_burst(RAW_POSIX_SPAWN, N_BURST, "spawn");
        Stats fork_k = raw_burst(RAW_FORK_EXEC, N_BURST, "fork");
        Stats raw_10k = {}, fork_10k = {};
        if (with_10k) {
                raw_10k = raw_burst(RAW_POSIX_SPAWN, N_BURST_BIG, "spawn");
                fork_10k = raw_burst(RAW_FORK_EXEC, N_BURST_BIG, "fork");
        }

        notify_setup();

        double single_cpu;
        Stats single = udfcrond_single(&single_cpu);
        BurstExtra bx_k = {}, bx_10k = {};
        Stats burst_k = udfcrond_burst(N_BURST, &bx_k);
        Stats burst_10k = {};
        if (with_10k)
                burst_10k = udfcrond_burst(N_BURST_BIG, &bx_10k);

        /* the idle minute, with cron's wait for its minute boundary inside it */
        IdleResult idle = { .epoll_calls = -1 };
        {
                char dir[PATH_MAX], perf_out[PATH_MAX];
                Daemon d;
                pathf(dir, "%s/idle", g_tmp);
                pathf(perf_out, "%s/perf-idle.txt", g_tmp);
                write_main_config(dir, 16);
                write_schedules(dir, "idle.conf", "idle", 0, N_IDLE, "0 0 1 1 *", NULL);
                daemon_start(&d, dir, 0);
                sleep_ms(1000); /* the first pass writes the state */
                long long vol0, sw0 = ctxt_switches(d.pid, &vol0);
                double cpu0 = cpu_ms(d.pid);
                pid_t perf = perf_start(d.pid, perf_out);
                int64_t t0 = mono_ns();
                if (cron_path)
                        cron_run(cron_path, &cron);
                int64_t end = t0 + (int64_t) IDLE_SEC * 1000000000;
                if (mono_ns() < end)
                        sleep_ms((end - mono_ns()) / 1000000);
                idle.epoll_calls = perf_finish(perf, perf_out);
                long long vol1, sw1 = ctxt_switches(d.pid, &vol1);
                idle.seconds = (double) (mono_ns() - t0) / 1e9;
                idle.switches = sw1 - sw0;
                idle.voluntary = vol1 - vol0;
                idle.cpu_ms = cpu_ms(d.pid) - cpu0;
                if (perf <= 0)
                        snprintf(idle.note, sizeof idle.note, "perf not available: context switches only");
                daemon_stop(&d);
        }

        MemResult mem = {};
        measure_memory(&mem);
        BigTick big = {};
        measure_big_tick(&big);

        /* ---------------------------------------------------------- report */
        printf("\n1. Fire latency: child start (CLOCK_REALTIME read first thing in a static program) minus its\n"
               "   scheduled time, in ms; starts/s = (n-1) / (last start - first start). Raw loops start at a\n"
               "   whole second; cron's latency counts from the minute boundary. n shows got/wanted when short.\n\n");
        printf("%-24s %-38s %6s %9s %9s %9s %9s\n", "scenario", "who", "n", "p50", "p99", "max", "starts/s");
        char extra[256];
        snprintf(extra, sizeof extra, "daemon CPU %.2f ms/fire", single_cpu);
        print_row("one schedule alone", "udfcrond, `* * * * * *`", &single, extra);
        print_row("", "raw posix_spawn at the instant", &raw1, NULL);
        snprintf(extra, sizeof extra, "daemon CPU %.1f ms/fire, %.1f MiB written/fire, RSS %lld KiB",
                 big.cpu_per_fire_ms, big.written_mib_per_fire, big.rss_kib);
        print_row("", "udfcrond among 100k, 100k-record state", &big.st, extra);

        snprintf(extra, sizeof extra, "all ended +%.0f ms; daemon CPU %.0f ms; %u sd_notify; %zu failed to start",
                 bx_k.drained_ms, bx_k.cpu_ms, bx_k.datagrams, bx_k.failed);
        print_row("1,000 due in one second", "udfcrond", &burst_k, extra);
        if (bx_k.ready_before_ms < 200)
                printf("%-24s (READY=1 came only %.0f ms before the due second)\n", "", bx_k.ready_before_ms);
        print_row("", "raw posix_spawn loop", &raw_k, NULL);
        print_row("", "raw fork+execve loop", &fork_k, NULL);
        print_row("", "cron -f, /etc/cron.d, `* * * * *`", &cron.st, cron.note[0] ? cron.note : NULL);
        if (with_10k) {
                snprintf(extra, sizeof extra,
                         "all ended +%.0f ms; daemon CPU %.0f ms; %u sd_notify; %zu failed to start "
                         "(RLIMIT_NOFILE %llu)",
                         bx_10k.drained_ms, bx_10k.cpu_ms, bx_10k.datagrams, bx_10k.failed,
                         (unsigned long long) bx_10k.nofile);
                print_row("10,000 due in one second", "udfcrond", &burst_10k, extra);
                if (bx_10k.ready_before_ms < 200)
                        printf("%-24s (READY=1 came only %.0f ms before the due second)\n", "",
                               bx_10k.ready_before_ms);
                print_row("", "raw posix_spawn loop", &raw_10k, NULL);
                print_row("", "raw fork+execve loop", &fork_10k, NULL);
        } else
                printf("%-24s (not run: set UDFCRON_BENCH_10K=1; ~3 min more)\n", "10,000 due in one second");

        printf("\n   Ratios, udfcrond / peer (latency: < 1 is better; starts/s: > 1 is better)\n\n");
        printf("%-24s %-38s %9s %9s %9s %9s\n", "scenario", "peer", "p50", "p99", "max", "starts/s");
        print_ratio("one schedule alone", "raw posix_spawn at the instant", &single, &raw1);
        print_ratio("1,000 due in one second", "raw posix_spawn loop", &burst_k, &raw_k);
        print_ratio("", "raw fork+execve loop", &burst_k, &fork_k);
        print_ratio("", "cron", &burst_k, &cron.st);
        if (with_10k) {
                print_ratio("10,000 due in one second", "raw posix_spawn loop", &burst_10k, &raw_10k);
                print_ratio("", "raw fork+execve loop", &burst_10k, &fork_10k);
        }

        double per_sched = (double) (mem.rss_kib - mem.rss0_kib) / N_RSS;
        printf("\n2. Memory and load time: %d schedules `0 0 1 1 *` running /bin/true, in %d files\n\n",
               N_RSS, N_RSS_FILES);
        printf("%-44s %14s\n", "measure", "value");
        printf("%-44s %10lld KiB (peak %lld)\n", "VmRSS, 0 schedules", mem.rss0_kib, mem.hwm0_kib);
        printf("%-44s %10lld KiB (peak %lld)\n", "VmRSS, 100k schedules, after READY=1", mem.rss_kib,
               mem.hwm_kib);
        printf("%-44s %10lld KiB\n", "VmRSS, 100k schedules, after 3 reloads", mem.rss_after_reload_kib);
        printf("%-44s %10.2f KiB (peak %.2f)\n", "per schedule (RSS difference / 100k)", per_sched,
               (double) (mem.hwm_kib - mem.hwm0_kib) / N_RSS);
        printf("%-44s %10.0f ms (runs:", "load, exec to READY=1 (median)", mem.load_med);
        for (size_t i = 0; i < LOAD_RUNS; i++)
                printf(" %.0f", mem.load_ms[i]);
        printf(")\n%-44s %10.0f ms (runs:", "reload, SIGHUP to READY=1 (median)", mem.reload_med);
        for (size_t i = 0; i < RELOAD_RUNS; i++)
                printf(" %.0f", mem.reload_ms[i]);
        printf("; CPU %.0f ms each)\n", mem.reload_cpu_ms);
        printf("%-44s %10.0f ms\n", "stop, SIGTERM to exit", mem.stop_ms);
        printf("%-44s %10.0f ms\n", "load with a 100k-record state (one run)", big.load_ms);
        printf("%-44s %10.1f MiB\n", "that state file", (double) big.state_bytes / (1 << 20));

        double wake_per_min = (double) idle.switches * 60.0 / idle.seconds;
        printf("\n3. Idle: %d schedules `0 0 1 1 *`, none due, %.0f s (cron's test runs meanwhile)\n\n", N_IDLE,
               idle.seconds);
        printf("%-44s %10.1f (voluntary %lld, all %lld)\n", "wake-ups per minute (context switches)",
               wake_per_min, idle.voluntary, idle.switches);
        if (idle.epoll_calls >= 0)
                printf("%-44s %10lld\n", "epoll_wait/epoll_pwait calls (perf)", idle.epoll_calls);
        printf("%-44s %10.1f ms\n", "CPU time", idle.cpu_ms);
        if (idle.note[0])
                printf("  %s\n", idle.note);

        printf("\nGoals:\n");
        if (single.valid)
                goal(single.p99 < GOAL_SINGLE_P99_MS, "one schedule alone: p99 %.3f ms < %.0f ms", single.p99,
                     GOAL_SINGLE_P99_MS);
        else
                goal(false, "one schedule alone: no fires recorded");
        if (burst_k.valid && raw_k.valid && !isnan(burst_k.rate) && !isnan(raw_k.rate))
                goal(burst_k.rate >= GOAL_RATE_FRACTION * raw_k.rate,
                     "1,000 burst: dispatch %.0f/s >= 90%% of raw posix_spawn %.0f/s (%.0f%%)", burst_k.rate,
                     raw_k.rate, 100.0 * burst_k.rate / raw_k.rate);
        else
                goal(false, "1,000 burst: not measured");
        if (with_10k) {
                if (burst_10k.valid && raw_10k.valid && !isnan(burst_10k.rate) && burst_10k.n == N_BURST_BIG)
                        goal(burst_10k.rate >= GOAL_RATE_FRACTION * raw_10k.rate,
                             "10,000 burst: dispatch %.0f/s >= 90%% of raw posix_spawn %.0f/s (%.0f%%)",
                             burst_10k.rate, raw_10k.rate, 100.0 * burst_10k.rate / raw_10k.rate);
                else
                        goal(false, "10,000 burst: only %zu of %d started", burst_10k.n, N_BURST_BIG);
        }
        if (burst_k.valid && cron.st.valid) {
                goal(burst_k.p50 < cron.st.p50, "1,000 burst p50 %.1f ms better than cron's %.1f ms", burst_k.p50,
                     cron.st.p50);
                goal(burst_k.p99 < cron.st.p99, "1,000 burst p99 %.1f ms better than cron's %.1f ms", burst_k.p99,
                     cron.st.p99);
                goal(burst_k.max < cron.st.max, "1,000 burst max %.1f ms better than cron's %.1f ms", burst_k.max,
                     cron.st.max);
                goal(burst_k.rate > cron.st.rate, "1,000 burst starts/s %.0f better than cron's %.0f",
                     burst_k.rate, cron.st.rate);
        } else
                printf("  [n/a   ] against cron: %s\n", cron.note[0] ? cron.note : "not measured");
        goal(per_sched < GOAL_KIB_PER_SCHED, "RSS %.2f KiB per schedule < %.0f KiB", per_sched, GOAL_KIB_PER_SCHED);
        goal(mem.load_med < GOAL_LOAD_MS, "load of 100k schedules %.0f ms < 1 s", mem.load_med);
        goal(mem.reload_med < GOAL_RELOAD_MS, "reload of 100k schedules %.0f ms < 1 s", mem.reload_med);
        goal(idle.switches == 0, "idle: %lld wake-ups in %.0f s (goal 0; no WATCHDOG_USEC)", idle.switches,
             idle.seconds);

        printf("\n%u goals met, %u missed; %.0f s in all%s\n", g_met, g_missed, (double) (mono_ns() - t_begin) / 1e9,
               cron.installed_now ? "; Debian cron was installed by this run and stays installed" : "");
        print_load("end");
        if (g_keep)
                printf("kept %s and %s\n", g_tmp, g_rt);
        return 0;
}
