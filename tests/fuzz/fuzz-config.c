/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the configuration loader: the input is written as the main file of
 * a tree whose schedules.d is empty, and loaded. Every load must end in a
 * Config whose schedules are sorted and unique, or in a list of errors that
 * each read "where: what"; nothing may leak, crash or exit either way.
 * Plugin blocks reach built-in plugins (storage and secrets "fz", with an
 * option of every type), so that no input makes the fuzzer dlopen() files.
 */
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "url.h"

/*
 * libconfig 1.5 leaks the string token a syntax error follows (fixed upstream after 1.7.2,
 * hyperrealm/libconfig#142): not ours to fix, and it would end every run at the first such input.
 * Matched by module, as its frames often lack unwind information; the unit tests run unsuppressed.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
        return "leak:libconfig.so\n";
}

/* The plugins the inputs may name: only their descriptors matter, as loading a config starts nothing. */
struct fz_options {
        char *s, *p;
        bool b;
        int64_t i;
        uint64_t d;
        char **l;
};

static int fz_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                   void **ret) {
        (void) host, (void) self, (void) options, (void) ret;
        abort(); /* config_load() starts no instance */
}

static void fz_destroy(void *ctx) {
        (void) ctx;
}

static int fz_lookup(void *ctx, const char *name, udfcron_secret_done done, void *userdata) {
        (void) ctx, (void) name, (void) done, (void) userdata;
        return -ENOSYS;
}

#define O(f) offsetof(struct fz_options, f)
static const struct udfcron_option fz_options[] = {
        { .name = "s", .type = UDFCRON_OPTION_STRING, .default_value = "x", .offset = O(s) },
        { .name = "p", .type = UDFCRON_OPTION_PATH, .offset = O(p), .required = true },
        { .name = "b", .type = UDFCRON_OPTION_BOOL, .default_value = "true", .offset = O(b) },
        { .name = "i",
          .type = UDFCRON_OPTION_INT,
          .default_value = "2",
          .offset = O(i),
          .min = -5,
          .max = 5 },
        { .name = "d", .type = UDFCRON_OPTION_DURATION, .default_value = "1m", .offset = O(d) },
        { .name = "l", .type = UDFCRON_OPTION_STRING_LIST, .default_value = "a,b", .offset = O(l) },
        {},
};
#undef O

static const char *const fz_schemes[] = { "fz", NULL };
static const struct udfcron_storage_vtable fz_storage_vtable = {
        .schemes = fz_schemes,
        /* never called: any non-NULL function passes the loader's check */
        .put = (void *) fz_lookup,
        .get = (void *) fz_lookup,
        .list = (void *) fz_lookup,
        .remove = (void *) fz_lookup,
};
static const struct udfcron_secrets_vtable fz_secrets_vtable = { .lookup = fz_lookup };

static const struct udfcron_plugin fz_storage = {
        UDFCRON_PLUGIN_HEADER,          .name = "fz",
        .kind = UDFCRON_PLUGIN_STORAGE, .init = fz_init,
        .destroy = fz_destroy,          .vtable = &fz_storage_vtable,
        .options = fz_options,          .options_size = sizeof(struct fz_options),
};
static const struct udfcron_plugin fz_secrets = {
        UDFCRON_PLUGIN_HEADER,          .name = "fz",
        .kind = UDFCRON_PLUGIN_SECRETS, .init = fz_init,
        .destroy = fz_destroy,          .vtable = &fz_secrets_vtable,
        .options = fz_options,          .options_size = sizeof(struct fz_options),
};
static const struct udfcron_plugin *const fz_plugins[] = { &fz_storage, &fz_secrets, NULL };

/* One directory and zone cache per fuzzing process: creating them per input would only measure I/O. */
typedef struct Harness {
        TzDb *tzdb;
        char dir[64];
        char path[96];
} Harness;

static Harness harness;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path);
}

static void harness_done(void) {
        nftw(harness.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        harness.tzdb = tzdb_free(harness.tzdb);
}

static Harness *harness_get(void) {
        if (harness.tzdb)
                return &harness;
        char sub[96], inc[96];
        strcpy(harness.dir, "/tmp/fuzz-config-XXXXXX");
        if (!mkdtemp(harness.dir) || tzdb_new(NULL, &harness.tzdb) < 0)
                abort();
        plugin_set_builtins(fz_plugins);
        snprintf(sub, sizeof sub, "%s/schedules.d", harness.dir);
        snprintf(inc, sizeof inc, "%s/inc.conf", harness.dir); /* something for @include to find */
        snprintf(harness.path, sizeof harness.path, "%s/udfcrond.conf", harness.dir);
        FILE *f = fopen(inc, "we");
        if (mkdir(sub, 0755) < 0 || !f || fputs("max_concurrent_runs = 4;\n", f) < 0 || fclose(f) != 0 ||
            atexit(harness_done) != 0)
                abort();
        return &harness;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* @include stays inside the harness directory, so that it fuzzes the loader, not the disk */
        if (size > 64 * 1024 || (memmem(data, size, "@include", 8) && memmem(data, size, "..", 2)))
                return 0;
        /* plugins come from the built-in list and the default directory, never from where inputs say */
        if (memmem(data, size, "plugin_directories", 18))
                return 0;

        Harness *h = harness_get();
        FILE *f = fopen(h->path, "we");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();

        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(strv_freep) char **errors = NULL;
        int r = config_load(h->path, h->tzdb, &config, &errors);
        if (r == 0) {
                if (errors || !config || !config->files || !config->files[0])
                        abort();
                for (size_t i = 0; i < config->n_schedules; i++) {
                        const Schedule *s = config->schedules[i];
                        if (i > 0 && strcmp(config->schedules[i - 1]->name, s->name) >= 0)
                                abort(); /* sorted, and names unique */
                        if (config_find_schedule(config, s->name) != s || !s->zone || !s->engine)
                                abort();
                        if ((s->work == WORK_UDF) != (s->udf_path != NULL) ||
                            (s->command == NULL) == (s->udf_path == NULL))
                                abort();
                        /* an output always has a storage instance to go to */
                        char scheme[URL_SCHEME_MAX];
                        if (s->output &&
                            (url_scheme(s->output, scheme) < 0 || !config_find_storage(config, scheme)))
                                abort();
                }
                for (size_t i = 0; i < config->n_plugins; i++) {
                        const PluginConfig *pc = &config->plugins[i];
                        const struct fz_options *o = pc->options;
                        if (!pc->plugin || !o || !o->p || o->p[0] != '/' || o->i < -5 || o->i > 5 || !o->l ||
                            strncmp(pc->instance, plugin_kind_to_string(pc->kind),
                                    strlen(plugin_kind_to_string(pc->kind))) != 0)
                                abort();
                }
        } else if (r == -EINVAL) {
                if (config || !errors || !errors[0])
                        abort();
                for (char **e = errors; *e; e++)
                        if (!strstr(*e, ": ")) /* every message says where and what */
                                abort();
        } else if (config || errors)
                abort();
        return 0;
}
