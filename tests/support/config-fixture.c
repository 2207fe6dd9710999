/* SPDX-License-Identifier: MIT */
#include "config-fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "testdir.h"

static void check(int ok, const char *what) {
        if (!ok) {
                perror(what);
                abort();
        }
}

ConfigFixture *config_fixture_new(const char *prefix, const FixturePlugin *plugins, size_t n_plugins) {
        ConfigFixture *f = calloc(1, sizeof *f);
        check(f != NULL, "calloc");
        check(tzdb_new(NULL, &f->tzdb) == 0, "tzdb_new");
        f->dir = testdir_new(prefix);
        _cleanup_free_ char *dir = n_plugins > 0 ? testdir_mkdir(f->dir, "plugins", 0755) : NULL;
        for (size_t i = 0; i < n_plugins; i++) {
                _cleanup_free_ char *from = build_path(plugins[i].from);
                free(testdir_copy(dir, plugins[i].name, from, 0644));
        }
        f->cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        check(f->cwd >= 0, "open .");
        return f;
}

ConfigFixture *config_fixture_free(ConfigFixture *f) {
        if (!f)
                return NULL;
        check(fchdir(f->cwd) == 0, "fchdir");
        close(f->cwd);
        testdir_free(f->dir);
        tzdb_free(f->tzdb);
        free(f);
        return NULL;
}

void config_fixture_case(ConfigFixture *f, const char *name, const char *main, const char *schedules) {
        _cleanup_free_ char *dir = testdir_mkdir(f->dir, name, 0755);
        free(testdir_mkdir(dir, "schedules.d", 0755));
        free(testdir_write(dir, "udfcrond.conf", main, 0644));
        if (schedules)
                free(testdir_write(dir, "schedules.d/s.conf", schedules, 0644));
        check(chdir(dir) == 0, "chdir");
}
