/* SPDX-License-Identifier: MIT */
/*
 * storage-s3's put and get throughput, 1 MiB and 64 MiB objects, next to
 * the curl command doing the same requests in the same run: the same S3
 * server on loopback (tests/support/s3-server, which checks every
 * signature), the same credentials, the same AWS SigV4 signing
 * (curl --aws-sigv4), the payload's SHA-256 in x-amz-content-sha256 on both
 * sides (computed inside the timing on both: the plugin hashes what it puts
 * over plain HTTP). The plugin runs as udfcronctl and the daemon run it:
 * storage_put()/storage_get() through the plugin host on an event loop,
 * which keeps its connection alive between requests; curl is one process
 * per request, as a script would run it.
 *
 * The two sides alternate, request by request, so that both see the same
 * server and machine; each row gives the median request. Needs the build's plugins (../plugins next to this
 * binary), the S3 server (../node/s3-server.js: make installs it), node and
 * curl. Exit status 0 unless the setup fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "../support/bench-util.h"
#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "cleanup.h"
#include "plugin-host.h"
#include "storage.h"

#define KEY_ID       "AKIDBENCH"
#define SECRET       "bench-secret-key"
#define BUCKET       "bench"
#define MIB          (1024 * 1024)
#define PROVIDER     "aws:amz:us-east-1:s3"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

extern char **environ;

typedef struct Bench {
        sd_event *event;
        PluginHost *host;
        unsigned port;
        char *dir;
        bool done;
        int error;
        size_t got;
} Bench;

static void sha256_hex(const void *data, size_t size, char out[65]) {
        unsigned char digest[32];
        unsigned n = 0;
        if (!EVP_Digest(data, size, digest, &n, EVP_sha256(), NULL))
                die("EVP_Digest failed");
        for (unsigned i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", digest[i]);
}

/* ------------------------------------------------------------------ the S3 server */

static pid_t server_pid = -1;
static int server_stdin = -1;

static void server_stop(void) {
        if (server_pid > 0) {
                close(server_stdin); /* it exits when its stdin closes */
                (void) waitpid(server_pid, NULL, 0);
        }
}

static unsigned server_start(const char *script, const char *data_dir) {
        int in[2], out[2];
        char line[32] = "", key[64];
        posix_spawn_file_actions_t fa;

        snprintf(key, sizeof key, "%s:%s", KEY_ID, SECRET);
        char *argv[] = { "node",
                         "--openssl-legacy-provider",
                         (char *) script,
                         "--directory",
                         (char *) data_dir,
                         "--bucket",
                         BUCKET,
                         "--key",
                         key,
                         NULL };
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                die("pipe: %m");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        if ((errno = posix_spawnp(&server_pid, "node", &fa, NULL, argv, environ)) != 0)
                die("cannot start node: %m");
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        server_stdin = in[1];
        atexit(server_stop);
        FILE *f = fdopen(out[0], "r");
        if (!f || !fgets(line, sizeof line, f) || atoi(line) <= 0)
                die("the S3 server did not start (is %s installed? make installs it)", script);
        fclose(f);
        return (unsigned) atoi(line);
}

/* ------------------------------------------------------------------ the two sides */

static void on_done(void *userdata, int error) {
        Bench *b = userdata;
        b->done = true;
        b->error = error;
}

static void on_data(void *userdata, int error, const void *data, size_t size) {
        Bench *b = userdata;
        (void) data;
        b->got = size;
        on_done(b, error);
}

static void wait_done(Bench *b, const char *what) {
        while (!b->done)
                if (sd_event_run(b->event, UINT64_MAX) < 0)
                        die("sd_event_run: %m");
        if (b->error < 0)
                die("%s: %s", what, strerror(-b->error));
        b->done = false;
}

static void plugin_put(Bench *b, const char *key, const void *data, size_t size) {
        char url[256];
        snprintf(url, sizeof url, "s3://%s/%s", BUCKET, key);
        if (storage_put(b->host, NULL, url, data, size, NULL, on_done, b, NULL) < 0)
                die("storage_put refused");
        wait_done(b, "plugin put");
}

static void plugin_get(Bench *b, const char *key, size_t size) {
        char url[256];
        snprintf(url, sizeof url, "s3://%s/%s", BUCKET, key);
        if (storage_get(b->host, NULL, url, size, on_data, b, NULL) < 0)
                die("storage_get refused");
        wait_done(b, "plugin get");
        if (b->got != size)
                die("plugin get: %zu bytes, not %zu", b->got, size);
}

static void run_curl(char **argv) {
        pid_t pid;
        int status;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if ((errno = posix_spawnp(&pid, "curl", &fa, NULL, argv, environ)) != 0)
                die("cannot run curl: %m");
        posix_spawn_file_actions_destroy(&fa);
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("curl failed (status %d)", WEXITSTATUS(status));
}

/* curl's PUT of the file that holds the same bytes; the payload's hash is computed here, as the plugin does
 */
static void curl_put(Bench *b, const char *key, const void *data, size_t size, const char *file) {
        char url[256], hash[65], header[128], body[PATH_MAX + 1];
        sha256_hex(data, size, hash);
        snprintf(header, sizeof header, "x-amz-content-sha256: %s", hash);
        snprintf(url, sizeof url, "http://127.0.0.1:%u/%s/%s", b->port, BUCKET, key);
        snprintf(body, sizeof body, "@%s", file);
        char *argv[] = { "curl",
                         "-sSf",
                         "--aws-sigv4",
                         PROVIDER,
                         "-u",
                         KEY_ID ":" SECRET,
                         "-H",
                         header,
                         "-H",
                         "Content-Type: application/octet-stream",
                         "-X",
                         "PUT",
                         "--data-binary",
                         body,
                         url,
                         NULL };
        run_curl(argv);
}

static void curl_get(Bench *b, const char *key) {
        char url[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/%s/%s", b->port, BUCKET, key);
        char *argv[] = { "curl",        "-sSf",
                         "--aws-sigv4", PROVIDER,
                         "-u",          KEY_ID ":" SECRET,
                         "-H",          "x-amz-content-sha256: " EMPTY_SHA256,
                         "-o",          "/dev/null",
                         url,           NULL };
        run_curl(argv);
}

/* ------------------------------------------------------------------ rows */

#define ROUNDS_MAX 32

/* The times of one side's requests; the median speaks for them (this machine is shared: outliers). */
typedef struct Side {
        int64_t ns[ROUNDS_MAX];
        unsigned n;
} Side;

static int compare_ns(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

static double median_ms(Side *s) {
        qsort(s->ns, s->n, sizeof s->ns[0], compare_ns);
        return (s->n % 2 ? (double) s->ns[s->n / 2] : (s->ns[s->n / 2 - 1] + s->ns[s->n / 2]) / 2.0) / 1e6;
}

static void report(const char *op, size_t size, Side *plugin, Side *curl) {
        double p = median_ms(plugin), c = median_ms(curl), mib = (double) size / MIB;
        printf("%-4s %6zu MiB %5u  %9.1f ms %9.1f MiB/s   %9.1f ms %9.1f MiB/s   %+7.1f%%  %s\n", op,
               size / MIB, plugin->n, p, mib / p * 1e3, c, mib / c * 1e3, (p - c) / c * 100,
               p <= c * 1.10 ? "within 10%" : "more than 10% slower");
}

static void measure(Bench *b, size_t size, unsigned rounds) {
        char key[64], file[PATH_MAX];
        Side put[2] = {}, get[2] = {};
        char *data = malloc(size);
        if (!data || rounds > ROUNDS_MAX)
                die("out of memory");
        for (size_t i = 0; i < size; i++)
                data[i] = (char) (i * 2654435761u >> 24);
        snprintf(key, sizeof key, "object-%zu", size / MIB);
        free(testdir_write(b->dir, "body", "", 0600));
        snprintf(file, sizeof file, "%s/body", b->dir);
        FILE *f = fopen(file, "we");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                die("%s: %m", file);

        plugin_put(b, key, data, size); /* warm up: connection, credentials, the server's first write */
        curl_put(b, key, data, size, file);
        for (unsigned i = 0; i < rounds; i++) {
                int64_t t0 = mono_ns();
                plugin_put(b, key, data, size);
                int64_t t1 = mono_ns();
                curl_put(b, key, data, size, file);
                int64_t t2 = mono_ns();
                plugin_get(b, key, size);
                int64_t t3 = mono_ns();
                curl_get(b, key);
                int64_t t4 = mono_ns();
                put[0].ns[i] = t1 - t0, put[1].ns[i] = t2 - t1, get[0].ns[i] = t3 - t2,
                get[1].ns[i] = t4 - t3;
                put[0].n = put[1].n = get[0].n = get[1].n = i + 1;
        }
        report("put", size, &put[0], &put[1]);
        report("get", size, &get[0], &get[1]);
        free(data);
}

int main(int argc, char **argv) {
        _cleanup_free_ char *plugins = bench_build_path("plugins");
        _cleanup_free_ char *script = bench_build_path("node/s3-server.js");
        (void) argc, (void) argv;

        Bench b = { .dir = testdir_new("bench-s3") };
        char *data_dir = testdir_mkdir(b.dir, "s3", 0700),
             *creds = testdir_mkdir(b.dir, "credentials", 0700);
        free(testdir_write(creds, "kid", KEY_ID, 0600));
        free(testdir_write(creds, "sec", SECRET, 0600));
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        b.port = server_start(script, data_dir);

        char *text;
        if (asprintf(&text,
                     "storage = { s3 = { endpoint = \"http://127.0.0.1:%u\"; path_style = true;\n"
                     "        access_key_id = \"${secret:kid}\"; secret_access_key = \"${secret:sec}\"; }; "
                     "};\n",
                     b.port) < 0)
                die("out of memory");
        Harness *h = harness_new_on(plugins);
        int r = harness_apply(h, text);
        if (r < 0)
                die("setup: %s", strerror(-r));
        b.event = h->event;
        b.host = h->host;

        printf("bench-s3: storage-s3 next to curl --aws-sigv4, the same requests to the same S3 server on "
               "loopback\n");
        printf("%-4s %10s %5s  %12s %15s   %12s %15s   %8s\n", "op", "object", "runs", "storage-s3",
               "(median)", "curl", "(median)", "vs curl");
        measure(&b, 1 * MIB, 20);
        measure(&b, 64 * MIB, 8);

        harness_free(h);
        free(text);
        free(data_dir);
        free(creds);
        server_stop();
        server_pid = -1;
        testdir_free(b.dir);
        return 0;
}
