/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client under load: N concurrent keep-alive GETs against a loopback
 * server (tests/support/http-server, threads in this process), each reply
 * submitting the next request from inside its callback, as an engine polling
 * many jobs would. Measured per row: requests per second, the client's CPU
 * time per request (the main thread's own CPU clock: the loop, libcurl and
 * our glue; the server's threads are counted apart), and the connections the
 * server saw (keep-alive: one per concurrent request, opened in the warm-up).
 *
 * Peer, in the same run against the same server: the curl command line tool
 * (`curl --parallel --parallel-max N`, the same libcurl driven by its own
 * poll loop), with its CPU time from RUSAGE_CHILDREN. It also parses its
 * config and writes each body to /dev/null, so it is a reference, not a race.
 *
 * Environment: UDFCRON_BENCH_HTTP_REQUESTS=N (default 20000 per row),
 * UDFCRON_BENCH_NO_CURL=1 to skip the peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "../support/http-server.h"
#include "http.h"
#include "macro.h"

extern char **environ;

static char big_body[64 * 1024];

static void handle(void *userdata, const TestHttpRequest *r, TestHttpConn *conn) {
        static const char small[] = "{\"job_id\":\"j-123\",\"status\":\"running\",\"finished_tasks\":3}";
        (void) userdata;
        if (strncmp(r->target, "/big", 4) == 0)
                test_http_respond(conn, 200, "Content-Type: application/octet-stream\r\n", big_body,
                                  sizeof big_body);
        else
                test_http_respond(conn, 200, "Content-Type: application/json\r\n", small, sizeof small - 1);
}

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t rusage_usec(int who) {
        struct rusage ru;
        getrusage(who, &ru);
        return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

typedef struct Load {
        HttpClient *client;
        const char *url;
        unsigned target, submitted, completed, failed;
        size_t bytes;
} Load;

static void submit_next(Load *l);

static void on_done(void *userdata, const HttpReply *reply) {
        Load *l = userdata;
        l->completed++;
        l->bytes += reply->body_size;
        if (reply->outcome != HTTP_OK) {
                if (l->failed++ == 0)
                        fprintf(stderr, "bench-http: %s\n", reply->message);
        }
        if (l->submitted < l->target)
                submit_next(l);
}

static void submit_next(Load *l) {
        l->submitted++;
        if (http_submit(l->client, &(HttpRequest){ .url = l->url }, on_done, l, NULL) < 0) {
                fprintf(stderr, "bench-http: submit failed\n");
                exit(EXIT_FAILURE);
        }
}

/* `total` requests, `concurrency` at a time, on one loop; 0 on success. */
static int drive(sd_event *e, HttpClient *c, const char *url, unsigned concurrency, unsigned total,
                 Load *ret) {
        *ret = (Load){ .client = c, .url = url, .target = total };
        for (unsigned i = 0; i < concurrency && i < total; i++)
                submit_next(ret);
        while (ret->completed < total)
                if (sd_event_run(e, UINT64_MAX) < 0)
                        return -1;
        return ret->failed > 0 ? -1 : 0;
}

typedef struct Row {
        const char *what;
        unsigned concurrency, requests, connections;
        double seconds, client_cpu_us, server_cpu_us;
        double mib_per_s;
} Row;

static void print_row(const Row *r) {
        printf("%-26s %5u %8u %10.0f %11.1f %11.1f %6u %9.1f\n", r->what, r->concurrency, r->requests,
               r->requests / r->seconds, r->client_cpu_us, r->server_cpu_us, r->connections, r->mib_per_s);
}

static int measure(TestHttpServer *server, const char *path, const char *what, unsigned concurrency,
                   unsigned requests, Row *ret) {
        HttpSettings settings = HTTP_DEFAULT_SETTINGS;
        sd_event *e = NULL;
        HttpClient *c = NULL;
        char url[128];
        Load load;
        int r = -1;

        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", test_http_server_port(server), path);
        settings.max_connections_per_host = MAX(concurrency, 1u);
        settings.retries = 0;
        if (sd_event_new(&e) < 0 || http_client_new(e, &settings, &c) < 0)
                goto finish;
        /* warm-up: the connections open here, and stay */
        unsigned before = test_http_server_connections(server);
        if (drive(e, c, url, concurrency, concurrency * 4, &load) < 0)
                goto finish;

        uint64_t wall = clock_usec(CLOCK_MONOTONIC), thread = clock_usec(CLOCK_THREAD_CPUTIME_ID),
                 process = rusage_usec(RUSAGE_SELF);
        if (drive(e, c, url, concurrency, requests, &load) < 0)
                goto finish;
        wall = clock_usec(CLOCK_MONOTONIC) - wall;
        thread = clock_usec(CLOCK_THREAD_CPUTIME_ID) - thread;
        process = rusage_usec(RUSAGE_SELF) - process;

        *ret = (Row){
                .what = what,
                .concurrency = concurrency,
                .requests = requests,
                .connections = test_http_server_connections(server) - before,
                .seconds = (double) wall / 1e6,
                .client_cpu_us = (double) thread / requests,
                .server_cpu_us = (double) (process - MIN(process, thread)) / requests,
                .mib_per_s = (double) load.bytes / (1024.0 * 1024.0) / ((double) wall / 1e6),
        };
        r = 0;
finish:
        http_client_free(c);
        sd_event_unref(e);
        return r;
}

/* The curl command line tool against the same server: -1 when it is not there or fails. */
static int measure_curl(TestHttpServer *server, unsigned concurrency, unsigned requests, Row *ret) {
        char config[] = "/tmp/bench-http-curl-XXXXXX", url[128], max[16];
        int fd = mkstemp(config), status;
        pid_t pid;

        if (fd < 0)
                return -1;
        snprintf(url, sizeof url, "http://127.0.0.1:%u/json", test_http_server_port(server));
        FILE *f = fdopen(fd, "w");
        for (unsigned i = 0; f && i < requests; i++)
                fprintf(f, "url = \"%s\"\noutput = \"/dev/null\"\n", url);
        if (!f || fclose(f) != 0) {
                unlink(config);
                return -1;
        }
        snprintf(max, sizeof max, "%u", concurrency);
        char *argv[] = { "curl",           "-sS",        "--no-progress-meter",
                         "--fail",         "--parallel", "--parallel-immediate",
                         "--parallel-max", max,          "-K",
                         config,           NULL };
        posix_spawn_file_actions_t quiet;
        posix_spawn_file_actions_init(&quiet);
        posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);

        unsigned before = test_http_server_connections(server);
        uint64_t wall = clock_usec(CLOCK_MONOTONIC), children = rusage_usec(RUSAGE_CHILDREN);
        int r = posix_spawnp(&pid, "curl", &quiet, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&quiet);
        if (r == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                wall = clock_usec(CLOCK_MONOTONIC) - wall;
                children = rusage_usec(RUSAGE_CHILDREN) - children;
                *ret = (Row){
                        .what = "curl --parallel (peer)",
                        .concurrency = concurrency,
                        .requests = requests,
                        .connections = test_http_server_connections(server) - before,
                        .seconds = (double) wall / 1e6,
                        .client_cpu_us = (double) children / requests,
                        .server_cpu_us = 0,
                };
        } else
                r = -1;
        unlink(config);
        return r == 0 ? 0 : -1;
}

int main(void) {
        static const unsigned levels[] = { 1, 8, 64, 256 };
        const char *env = getenv("UDFCRON_BENCH_HTTP_REQUESTS");
        unsigned requests = env ? (unsigned) strtoul(env, NULL, 10) : 20000;
        bool curl = !getenv("UDFCRON_BENCH_NO_CURL");
        TestHttpServer *server;
        Row row;
        int failed = 0;

        if (requests == 0 || test_http_server_start(handle, NULL, &server) < 0) {
                fprintf(stderr, "bench-http: cannot start the loopback server\n");
                return EXIT_FAILURE;
        }
        memset(big_body, 'x', sizeof big_body);

        printf("HTTP client: concurrent keep-alive GETs on one sd-event loop, loopback server in-process\n");
        printf("(client CPU = the loop's thread; server CPU = the server's threads; per request, in "
               "µs)\n\n");
        printf("%-26s %5s %8s %10s %11s %11s %6s %9s\n", "", "conc", "requests", "req/s", "client µs",
               "server µs", "conns", "MiB/s");
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                if (measure(server, "/json", "udfcron 60 B JSON", levels[i], requests, &row) < 0) {
                        failed = 1;
                        continue;
                }
                print_row(&row);
                if (curl && measure_curl(server, levels[i], requests, &row) == 0)
                        print_row(&row);
        }
        if (measure(server, "/big", "udfcron 64 KiB body", 8, requests / 4, &row) == 0)
                print_row(&row);
        else
                failed = 1;

        test_http_server_stop(server);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
