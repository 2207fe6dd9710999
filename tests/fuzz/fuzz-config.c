/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the configuration loader: the input is written as the main file of
 * a tree whose schedules.d is empty, and loaded. Every load must end in a
 * Config whose schedules are sorted and unique, or in a list of errors that
 * each read "where: what"; nothing may leak, crash or exit either way.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/*
 * libconfig 1.5 leaks the string token a syntax error follows (fixed upstream after 1.7.2,
 * hyperrealm/libconfig#142): not ours to fix, and it would end every run at the first such input.
 * Matched by module, as its frames often lack unwind information; the unit tests run unsuppressed.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
        return "leak:libconfig.so\n";
}

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
