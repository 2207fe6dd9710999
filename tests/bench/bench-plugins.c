/* SPDX-License-Identifier: MIT */
/*
 * The plugin layer's costs, each measured next to a raw peer doing the same
 * work without it, in the same run:
 *
 *   load  plugin_open() + unref of storage-file.so (ownership and mode checks
 *         of the file and every directory above, dlopen, descriptor and
 *         options checks, dlclose)      vs  dlopen() + dlclose() alone
 *   call  a ${secret:...} lookup through the host: the systemd credentials,
 *         then secrets-env, answered from the event loop
 *                                       vs  getenv() of the same variable
 *   put   storage_put() of 1 KiB through storage-file (openat2 beneath the
 *         root, temporary file, fsync, rename, fsync of the directory)
 *                                       vs  the same system calls by hand
 *   get   storage_get() of 1 KiB        vs  open, fstat, read, close by hand
 *
 * The plugins are the build's (../plugins next to this binary); files go to
 * a temporary directory under $TMPDIR (default /tmp). Each row runs for about
 * two seconds, the two sides in alternating batches. Exit status 0 unless the setup fails.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "../support/bench-util.h"
#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "plugin-host.h"
#include "secrets.h"
#include "storage.h"

#define ROW_NSEC 1000000000LL

static char *plugins;
static char data[1024];

/*
 * Runs op and its peer in alternating batches for about 2 * ROW_NSEC, so that both see the same
 * machine (other load, the disk's mood); prints the row.
 */
static void row(const char *name, void (*op)(void *), void *arg, const char *peer, void (*peer_op)(void *),
                void *peer_arg) {
        long long spent[2] = {}, n[2] = {};
        while (spent[0] + spent[1] < 2 * ROW_NSEC)
                for (int k = 0; k < 2; k++) {
                        long long start = mono_ns();
                        for (int i = 0; i < 16; i++)
                                (k == 0 ? op : peer_op)(k == 0 ? arg : peer_arg);
                        spent[k] += mono_ns() - start;
                        n[k] += 16;
                }
        double ns = (double) spent[0] / (double) n[0], peer_ns = (double) spent[1] / (double) n[1];
        printf("%-6s %12.0f/s %10.2f µs   %-28s %10.2f µs   %+8.2f µs\n", name, 1e9 / ns, ns / 1e3, peer,
               peer_ns / 1e3, (ns - peer_ns) / 1e3);
}

/* ------------------------------------------------------------------ load */

static void op_plugin_open(void *arg) {
        char *dirs[] = { plugins, NULL }, *error = NULL;
        Plugin *p = NULL;
        (void) arg;
        int r = plugin_open(dirs, PLUGIN_STORAGE, "file", &p, &error);
        if (r < 0)
                die("%s", error ?: strerror(-r));
        plugin_unref(p);
}

static void op_dlopen(void *arg) {
        void *h = dlopen(arg, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                die("dlopen: %s", dlerror());
        dlclose(h);
}

/* ------------------------------------------------------------------ host calls */

typedef struct Ctx {
        sd_event *event;
        PluginHost *host;
        char *root;
        char url[PATH_MAX + 16];
        char path[PATH_MAX];
        bool done;
        int error;
} Ctx;

static void wait_done(Ctx *c) {
        while (!c->done)
                if (sd_event_run(c->event, UINT64_MAX) < 0)
                        die("sd_event_run failed");
        if (c->error < 0)
                die("operation: %s", strerror(-c->error));
        c->done = false;
}

static void on_secret(void *userdata, int error, const char *value) {
        Ctx *c = userdata;
        (void) value;
        c->done = true;
        c->error = error;
}

static void op_lookup(void *arg) {
        Ctx *c = arg;
        int r = secrets_lookup(c->host, NULL, "token", on_secret, c, NULL);
        if (r < 0)
                die("secrets_lookup: %s", strerror(-r));
        wait_done(c);
}

static void op_getenv(void *arg) {
        if (!getenv(arg))
                die("getenv: no %s", (const char *) arg);
}

static void on_done(void *userdata, int error) {
        Ctx *c = userdata;
        c->done = true;
        c->error = error;
}

static void on_data(void *userdata, int error, const void *d, size_t size) {
        (void) d, (void) size;
        on_done(userdata, error);
}

static void op_put(void *arg) {
        Ctx *c = arg;
        int r = storage_put(c->host, NULL, c->url, data, sizeof data, NULL, on_done, c, NULL);
        if (r < 0)
                die("storage_put: %s", strerror(-r));
        wait_done(c);
}

static void op_put_raw(void *arg) {
        Ctx *c = arg;
        char temp[PATH_MAX + 32];
        snprintf(temp, sizeof temp, "%s.tmp", c->path);
        int dir = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (dir < 0 || fd < 0 || write(fd, data, sizeof data) != sizeof data || fsync(fd) < 0 ||
            rename(temp, c->path) < 0 || fsync(dir) < 0)
                die("raw put: %m");
        close(fd);
        close(dir);
}

static void op_get(void *arg) {
        Ctx *c = arg;
        int r = storage_get(c->host, NULL, c->url, 1 << 20, on_data, c, NULL);
        if (r < 0)
                die("storage_get: %s", strerror(-r));
        wait_done(c);
}

static void op_get_raw(void *arg) {
        Ctx *c = arg;
        char buf[2048];
        struct stat st;
        int fd = open(c->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || read(fd, buf, sizeof buf) != sizeof data)
                die("raw get: %m");
        close(fd);
}

int main(int argc, char **argv) {
        char so[PATH_MAX + 32];
        (void) argc, (void) argv;

        plugins = bench_build_path("plugins");
        snprintf(so, sizeof so, "%s/storage-file.so", plugins);
        memset(data, 'x', sizeof data);

        printf("bench-plugins: the plugin layer, each row next to the same work done without it\n");
        printf("%-6s %14s %13s   %-28s %13s   %11s\n", "row", "rate", "per op", "peer", "peer per op",
               "overhead");
        /* first, while nothing holds the plugin: each load maps it, each unref unmaps it */
        row("load", op_plugin_open, NULL, "dlopen()+dlclose()", op_dlopen, so);

        const char *tmp = getenv("TMPDIR") ?: "/tmp";
        char *dir, *text = NULL;
        if (asprintf(&dir, "%s/bench-plugins-XXXXXX", tmp) < 0 || !mkdtemp(dir))
                die("mkdtemp: %m");
        Ctx c = {};
        if (asprintf(&c.root, "%s/root", dir) < 0 || mkdir(c.root, 0700) < 0)
                die("mkdir: %m");
        snprintf(c.path, sizeof c.path, "%s/object", c.root);
        snprintf(c.url, sizeof c.url, "file://%s", c.path);
        if (asprintf(&text,
                     "storage = { file = { root = \"%s\"; }; };\n"
                     "secrets = { env = { prefix = \"BENCH_\"; }; };\n",
                     c.root) < 0)
                die("out of memory");
        setenv("BENCH_token", "a-secret-value", 1);
        unsetenv("CREDENTIALS_DIRECTORY");

        Harness *h = harness_new_on(plugins);
        int r = harness_apply(h, text);
        if (r < 0)
                die("setup: %s", strerror(-r));
        c.event = h->event;
        c.host = h->host;

        row("call", op_lookup, &c, "getenv()", op_getenv, "BENCH_token");
        op_put(&c);
        row("get", op_get, &c, "open+fstat+read+close", op_get_raw, &c);
        row("put", op_put, &c, "write+fsync+rename+fsync", op_put_raw, &c);

        harness_free(h);
        free(text);
        free(c.root);
        free(plugins);
        testdir_free(dir);
        return 0;
}
