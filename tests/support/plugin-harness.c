/* SPDX-License-Identifier: MIT */
#include "plugin-harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "testdir.h"

static void require(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "test harness: %s\n", what);
                abort();
        }
}

/* Copies of the sanitized plugins, the real ones and the test variants, in dir/plugins (returned). */
static char *copy_plugins(const char *dir) {
        static const char *const installed[][2] = {
                { "asan/plugins/storage-file.so", "storage-file.so" },
                { "asan/plugins/storage-s3.so", "storage-s3.so" },
                { "asan/plugins/secrets-file.so", "secrets-file.so" },
                { "asan/plugins/secrets-env.so", "secrets-env.so" },
                { "asan/plugins/secrets-example.so", "secrets-example.so" },
                { "asan/plugins/credentials-gcs.so", "credentials-gcs.so" },
                { "asan/test-plugins/good.so", "storage-good.so" },
                { "asan/test-plugins/slow.so", "storage-slow.so" },
                { "asan/test-plugins/fetch.so", "storage-fetch.so" },
        };
        char *plugins = testdir_mkdir(dir, "plugins", 0755);
        for (size_t i = 0; i < sizeof installed / sizeof installed[0]; i++) {
                char *from = build_path(installed[i][0]);
                free(testdir_copy(plugins, installed[i][1], from, 0644));
                free(from);
        }
        return plugins;
}

Harness *harness_new(void) {
        return harness_new_on(NULL);
}

Harness *harness_new_on(const char *plugins) {
        Harness *h = calloc(1, sizeof *h);
        require(h, "out of memory");
        h->dir = testdir_new("plugin-harness");
        h->plugins = plugins ? strdup(plugins) : copy_plugins(h->dir);
        require(h->plugins, "out of memory");
        require(tzdb_new(NULL, &h->tzdb) >= 0, "tzdb_new");
        require(journal_new(JOURNAL_STDERR, &h->journal) >= 0, "journal_new");
        require(sd_event_new(&h->event) >= 0, "sd_event_new");
        require(plugin_host_new(h->event, h->journal, &h->host) >= 0, "plugin_host_new");
        return h;
}

Harness *harness_free(Harness *h) {
        if (!h)
                return NULL;
        plugin_host_free(h->host);
        config_free(h->config);
        sd_event_unref(h->event);
        journal_free(h->journal);
        tzdb_free(h->tzdb);
        free(h->plugins);
        testdir_free(h->dir);
        free(h);
        return NULL;
}

int harness_apply(Harness *h, const char *body) {
        char *text, *path, **errors = NULL;
        Config *c = NULL;

        require(asprintf(&text, "plugin_directories = [ \"%s\" ];\nschedules = ();\n%s", h->plugins, body) >=
                        0,
                "asprintf");
        path = testdir_write(h->dir, "udfcrond.conf", text, 0644);
        free(text);
        free(testdir_mkdir(h->dir, "schedules.d", 0755));
        int r = config_load(path, h->tzdb, &c, &errors);
        free(path);
        for (char **e = errors; e && *e; e++)
                fprintf(stderr, "config error: %s\n", *e);
        strv_free(errors);
        if (r < 0)
                return r;
        r = plugin_host_apply(h->host, c);
        if (r < 0) {
                config_free(c);
                return r;
        }
        config_free(h->config);
        h->config = c;
        return 0;
}

void answer_done(void *userdata, int error) {
        Answer *a = userdata;
        a->called = true;
        a->calls++;
        a->error = error;
        a->text[0] = '\0';
}

void answer_data(void *userdata, int error, const void *data, size_t size) {
        Answer *a = userdata;
        answer_done(a, error);
        if (error >= 0)
                snprintf(a->text, sizeof a->text, "%.*s", (int) size, (const char *) data);
}

void answer_text(void *userdata, int error, const char *text) {
        Answer *a = userdata;
        answer_done(a, error);
        if (error >= 0)
                snprintf(a->text, sizeof a->text, "%s", text);
}

void harness_wait(Harness *h, const bool *flag) {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (!*flag) {
                require(sd_event_run(h->event, 100 * 1000) >= 0, "sd_event_run");
                clock_gettime(CLOCK_MONOTONIC, &now);
                require(now.tv_sec - start.tv_sec < 10, "no callback within 10 s");
        }
}

void harness_settle(Harness *h) {
        while (sd_event_run(h->event, 0) > 0)
                ;
}
