/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The fixture of the configuration tests: a tz database, and a scratch
 * directory with plugins/ (copies of built plugins) beside one directory per
 * case, each holding its udfcrond.conf and schedules.d/. Cases are loaded
 * from inside their directory, so that messages carry the short relative
 * paths a user would see. Failures abort the test, as testdir.h's do.
 */

#include <stddef.h>

#include "tz.h"

typedef struct ConfigFixture {
        TzDb *tzdb;
        char *dir; /* /tmp/<prefix>-XXXXXX */
        int cwd;   /* where the test started: entered again at the end */
} ConfigFixture;

/* A plugin of the build tree (`from`: "asan/plugins/storage-file.so") and its name in plugins/. */
typedef struct FixturePlugin {
        const char *from;
        const char *name;
} FixturePlugin;

/* A new fixture in /tmp/<prefix>-XXXXXX; plugins/ is made when there are plugins to copy into it. */
ConfigFixture *config_fixture_new(const char *prefix, const FixturePlugin *plugins, size_t n_plugins);
/* Goes back where the test started, removes the directory; accepts NULL, returns NULL. */
ConfigFixture *config_fixture_free(ConfigFixture *f);

/* Writes case `name`: udfcrond.conf, and schedules.d/ with s.conf in it when `schedules` is given (else
 * empty); enters the case's directory. */
void config_fixture_case(ConfigFixture *f, const char *name, const char *main, const char *schedules);
