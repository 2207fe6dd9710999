/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A plugin host for tests and benchmarks, on an event loop of its own: a
 * scratch directory with the sanitized plugins (the real ones and the test
 * variants) in plugins/, or a directory of plugins as it is; configurations
 * written and applied as the daemon applies them, and a way to wait for a
 * callback. Setup failures abort.
 */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "journal.h"
#include "plugin-host.h"

typedef struct Harness {
        char *dir;     /* scratch directory */
        char *plugins; /* dir/plugins: every plugin, as <kind>-<name>.so; or the directory given */
        TzDb *tzdb;
        Journal *journal; /* to stderr */
        sd_event *event;
        PluginHost *host;
        Config *config; /* the last one applied */
} Harness;

Harness *harness_new(void);
/* A harness on the plugins in directory `plugins` (a benchmark's: the build's own), not on copies. */
Harness *harness_new_on(const char *plugins);
Harness *harness_free(Harness *h);

/*
 * Writes `body` (after a line naming the plugin directory) as udfcrond.conf,
 * loads it and applies it to the host; the previous config is freed once
 * the new one is applied. Returns what config_load() or plugin_host_apply()
 * returned; config errors are printed.
 */
int harness_apply(Harness *h, const char *body);

/* What the callback of one storage or secrets call delivered; harness_wait(h, &a.called) waits for it. */
typedef struct Answer {
        bool called;
        unsigned calls; /* a second one would be a bug */
        int error;
        char text[4096]; /* get: the bytes (cut at a NUL); sign, secrets: the text; "" on errors */
} Answer;

void answer_done(void *userdata, int error);                                /* put, remove */
void answer_data(void *userdata, int error, const void *data, size_t size); /* get */
void answer_text(void *userdata, int error, const char *text);              /* sign, secrets */

/* Runs the loop until *flag is true (at most 10 s, then the test fails). */
void harness_wait(Harness *h, const bool *flag);
/* Runs the loop until nothing is pending for now. */
void harness_settle(Harness *h);
