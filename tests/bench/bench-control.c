/* SPDX-License-Identifier: MIT */
/*
 * The control socket under load: round trips per second of `list` with
 * 10,000 schedules, each a whole exchange as udfcronctl makes it (connect,
 * send the request, read the whole reply until the daemon closes), measured
 * against the real udfcrond. Next to it, the same for `status` (a reply of a
 * few hundred bytes: what an exchange costs apart from the list itself), the
 * daemon's CPU time per list, and `udfcronctl list` and `list --json` as a
 * user runs them (process start, JSON parsing and the table included).
 *
 * The schedules have different times and zones (UTC, Europe/Berlin,
 * America/New_York, Asia/Kolkata), so every reply formats real next fires.
 *
 * Environment:
 *   UDFCROND=PATH         the daemon (default: ../udfcrond next to this binary)
 *   UDFCRONCTL=PATH       the client (default: ../udfcronctl)
 *   UDFCRON_BENCH_KEEP=1  keep the temporary directory (config, daemon log)
 *
 * Exit status 0 unless the setup fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-util.h"
#include "unix-socket.h"

#define N_SCHEDULES    10000
#define MEASURE_NS     (INT64_C(3) * 1000000000)
#define CLI_RUNS       10
#define REQUEST_LIST   "{\"command\":\"list\"}\n"
#define REQUEST_STATUS "{\"command\":\"status\"}\n"

static char g_dir[PATH_MAX], g_socket[PATH_MAX + 16];
static pid_t g_daemon = -1;

_printf_(1, 2) _Noreturn static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("bench-control: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (g_daemon > 0)
                (void) kill(g_daemon, SIGKILL);
        exit(EXIT_FAILURE);
}

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A file next to this binary's directory, or $VAR. */
static const char *sibling(const char *var, const char *name, char buf[static PATH_MAX]) {
        const char *env = getenv(var);
        if (env && *env)
                return env;
        ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX - 64);
        char *slash = n > 0 ? (buf[n] = '\0', strrchr(buf, '/')) : NULL;
        if (!slash)
                die("cannot find %s: set %s", name, var);
        snprintf(slash, 64, "/../%s", name); /* build/bench/bench-control -> build/NAME */
        return buf;
}

static void write_config(void) {
        static const char *const zones[] = { "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata" };
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/schedules.d", g_dir);
        if (mkdir(path, 0755) < 0)
                die("mkdir %s: %m", path);
        snprintf(path, sizeof path, "%s/udfcrond.conf", g_dir);
        FILE *f = fopen(path, "we");
        if (!f)
                die("%s: %m", path);
        fprintf(f,
                "timezone = \"UTC\";\nstate_directory = \"state\";\nruntime_directory = \"run\";\n"
                "control_socket = \"%s\";\n",
                g_socket);
        fclose(f);

        snprintf(path, sizeof path, "%s/schedules.d/bench.conf", g_dir);
        if (!(f = fopen(path, "we")))
                die("%s: %m", path);
        fprintf(f, "schedules = (\n");
        for (unsigned i = 0; i < N_SCHEDULES; i++)
                fprintf(f,
                        "  { name = \"bench-%05u\"; cron = \"%u %u * * %u\"; timezone = \"%s\"; "
                        "command = [ \"/bin/true\" ]; }%s\n",
                        i, i % 60, (i / 60) % 24, i % 7, zones[i % ELEMENTSOF(zones)],
                        i + 1 < N_SCHEDULES ? "," : "");
        fprintf(f, ");\n");
        if (fclose(f) != 0)
                die("cannot write %s", path);
}

static void start_daemon(const char *udfcrond) {
        char conf[PATH_MAX + 32], log[PATH_MAX + 32];
        snprintf(conf, sizeof conf, "%s/udfcrond.conf", g_dir);
        snprintf(log, sizeof log, "%s/daemon.log", g_dir);
        int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd < 0)
                die("%s: %m", log);
        g_daemon = fork();
        if (g_daemon < 0)
                die("fork: %m");
        if (g_daemon == 0) {
                if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
                        _exit(126);
                (void) unsetenv("NOTIFY_SOCKET");
                execl(udfcrond, "udfcrond", "--config", conf, "--log-target", "stderr", (char *) NULL);
                _exit(127);
        }
        close(logfd);

        /* the socket listens once the schedules are loaded */
        for (int64_t t0 = mono_ns(); mono_ns() - t0 < INT64_C(60) * 1000000000;) {
                int fd = unix_socket_connect(g_socket, false);
                if (fd >= 0) {
                        close(fd);
                        return;
                }
                if (waitpid(g_daemon, NULL, WNOHANG) == g_daemon)
                        die("udfcrond exited at start (see %s)", log);
                usleep(10000);
        }
        die("udfcrond did not listen on %s within 60 s", g_socket);
}

/* One exchange; returns the size of the reply, which *reply (may be NULL) receives. */
static size_t round_trip(const char *request, char **reply) {
        static char *buf;
        static size_t allocated;
        size_t size = 0;

        int fd = unix_socket_connect(g_socket, false);
        if (fd < 0)
                die("connect: %s", strerror(-fd));
        if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t) strlen(request) ||
            shutdown(fd, SHUT_WR) < 0)
                die("send: %m");
        for (;;) {
                if (allocated - size < 65536) {
                        allocated = allocated ? allocated * 2 : 1 << 20;
                        if (!(buf = realloc(buf, allocated)))
                                die("out of memory");
                }
                ssize_t n = read(fd, buf + size, allocated - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        die("read: %m");
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        close(fd);
        if (size == 0 || buf[size - 1] != '\n')
                die("incomplete reply (%zu bytes)", size);
        if (reply)
                *reply = strndup(buf, size);
        return size;
}

static double daemon_cpu_ms(void) {
        char path[64], text[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) g_daemon);
        FILE *f = fopen(path, "re");
        if (!f || !fgets(text, sizeof text, f))
                die("%s: %m", path);
        fclose(f);
        unsigned long utime, stime;
        const char *p = strrchr(text, ')');
        /* fields 14 and 15, counted after the command name's closing parenthesis (field 2) */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                die("cannot parse %s", path);
        return (double) (utime + stime) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

typedef struct Result {
        unsigned n;
        double per_sec, p50_ms, p99_ms, cpu_ms_each;
        size_t bytes;
} Result;

/* Round trips for MEASURE_NS, one after another. */
static Result measure(const char *request) {
        static double lat[1 << 20];
        Result r = {};
        double cpu0 = daemon_cpu_ms();
        int64_t t0 = mono_ns(), t;
        while ((t = mono_ns()) - t0 < MEASURE_NS && r.n < ELEMENTSOF(lat)) {
                r.bytes = round_trip(request, NULL);
                lat[r.n++] = (double) (mono_ns() - t) / 1e6;
        }
        double elapsed_s = (double) (mono_ns() - t0) / 1e9;
        r.cpu_ms_each = (daemon_cpu_ms() - cpu0) / r.n;
        qsort(lat, r.n, sizeof lat[0], cmp_double);
        r.per_sec = r.n / elapsed_s;
        r.p50_ms = lat[r.n / 2];
        r.p99_ms = lat[(size_t) floor((r.n - 1) * 0.99)];
        return r;
}

/* udfcronctl as a user runs it, its output to /dev/null; the mean wall time in ms. */
static double cli_ms(const char *udfcronctl, bool json) {
        int64_t t0 = mono_ns();
        for (int i = 0; i < CLI_RUNS; i++) {
                pid_t pid = fork();
                if (pid < 0)
                        die("fork: %m");
                if (pid == 0) {
                        int null = open("/dev/null", O_WRONLY);
                        if (null < 0 || dup2(null, 1) < 0)
                                _exit(126);
                        execl(udfcronctl, "udfcronctl", "--socket", g_socket, "list", json ? "--json" : NULL,
                              (char *) NULL);
                        _exit(127);
                }
                int status;
                if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        die("%s list failed", udfcronctl);
        }
        return (double) (mono_ns() - t0) / 1e6 / CLI_RUNS;
}

static void remove_tree(void) {
        char command[PATH_MAX + 16];
        if (getenv("UDFCRON_BENCH_KEEP")) {
                printf("kept %s\n", g_dir);
                return;
        }
        snprintf(command, sizeof command, "rm -rf '%s'", g_dir);
        (void) system(command);
}

int main(void) {
        char udfcrond_buf[PATH_MAX], udfcronctl_buf[PATH_MAX];
        const char *udfcrond = sibling("UDFCROND", "udfcrond", udfcrond_buf);
        const char *udfcronctl = sibling("UDFCRONCTL", "udfcronctl", udfcronctl_buf);
        const char *tmp = getenv("TMPDIR");

        snprintf(g_dir, sizeof g_dir, "%s/udfcron-bench-control.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(g_dir))
                die("mkdtemp %s: %m", g_dir);
        snprintf(g_socket, sizeof g_socket, "%s/control.sock", g_dir);
        write_config();
        start_daemon(udfcrond);

        /* the reply is checked once, whole: every schedule is there */
        _cleanup_free_ char *reply = NULL;
        round_trip(REQUEST_LIST, &reply);
        _cleanup_(json_freep) cJSON *root = cJSON_Parse(reply);
        if (!cJSON_IsTrue(cJSON_GetObjectItem(root, "ok")) ||
            cJSON_GetArraySize(cJSON_GetObjectItem(root, "schedules")) != N_SCHEDULES)
                die("list did not return %d schedules: %.200s", N_SCHEDULES, reply);
        for (int i = 0; i < 20; i++) /* warm-up */
                round_trip(REQUEST_LIST, NULL);

        Result list = measure(REQUEST_LIST), status = measure(REQUEST_STATUS);
        double table_ms = cli_ms(udfcronctl, false), json_ms = cli_ms(udfcronctl, true);

        printf("\ncontrol socket, %d schedules (one exchange = connect, request, whole reply, close)\n\n",
               N_SCHEDULES);
        printf("| request | round trips/s | p50 ms | p99 ms | reply bytes | daemon CPU ms each |\n");
        printf("|---|---:|---:|---:|---:|---:|\n");
        printf("| list | %.0f | %.2f | %.2f | %zu | %.2f |\n", list.per_sec, list.p50_ms, list.p99_ms,
               list.bytes, list.cpu_ms_each);
        printf("| status | %.0f | %.3f | %.3f | %zu | %.3f |\n", status.per_sec, status.p50_ms,
               status.p99_ms, status.bytes, status.cpu_ms_each);
        printf("\n| udfcronctl (process start included) | ms each |\n|---|---:|\n");
        printf("| list --json | %.1f |\n| list (table) | %.1f |\n", json_ms, table_ms);

        (void) kill(g_daemon, SIGTERM);
        int st;
        if (waitpid(g_daemon, &st, 0) != g_daemon || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "bench-control: udfcrond did not exit cleanly (see %s/daemon.log)\n", g_dir);
        g_daemon = -1;
        remove_tree();
        return EXIT_SUCCESS;
}
