/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The configuration: udfcrond.conf (daemon settings, schedule defaults) and
 * every *.conf in its schedules directory, read with libconfig into validated
 * Schedules. Nothing here logs: every problem becomes a "file:line: message"
 * string, all of them collected in one pass, so `udfcrond --check-config`
 * can show them together and a reload can refuse a broken config whole.
 */

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "plugin.h"
#include "schedule.h"
#include "strv.h"
#include "tz.h"

#define CONFIG_DEFAULT_PATH "/etc/udfcron/udfcrond.conf"
#ifndef UDFCRON_PLUGIN_DIR
#define UDFCRON_PLUGIN_DIR "/usr/local/lib/udfcron/plugins"
#endif

typedef struct DaemonSettings {
        char *timezone;            /* default zone of schedules: the `timezone` key, else the system zone */
        char *schedules_directory; /* absolute; default: "schedules.d" beside the main file */
        char *state_directory;     /* default: $STATE_DIRECTORY, else /var/lib/udfcron */
        char *runtime_directory;   /* default: $RUNTIME_DIRECTORY, else /run/udfcron */
        char *python;              /* interpreter for UDF files, default /usr/bin/python3 */
        unsigned max_concurrent_runs;   /* default 16 */
        uint64_t shutdown_timeout_usec; /* SIGTERM waits this long for runs, default 30s */
        RunPolicy defaults;             /* what schedules inherit */
        char **plugin_directories;      /* NULL-terminated, absolute; default: UDFCRON_PLUGIN_DIR */
        HttpSettings http;              /* the remote engines' HTTP defaults: the `http` group */
} DaemonSettings;

/* One plugin instance a `storage`, `secrets`, `credentials` or `ingest` group declares. */
typedef struct PluginConfig {
        PluginKind kind;
        char *instance; /* "storage/file": kind/name */
        Plugin *plugin; /* one reference */
        void *options;  /* the plugin's options structure, filled from the block; see plugin_options_new() */
        char *file;     /* where the block is, for messages */
        unsigned line;
} PluginConfig;

typedef struct Config {
        char *path; /* the main file, absolute */
        DaemonSettings settings;
        Schedule **schedules; /* sorted by name, names unique */
        size_t n_schedules;
        char **files; /* every file read, main file first; NULL-terminated */
        PluginConfig *plugins; /* in the order of the file: secrets providers are asked in this order */
        size_t n_plugins;
} Config;

/*
 * Loads `path` (borrowed) and its schedules directory. Zones are resolved
 * through `tzdb` (borrowed; Schedules point into it, so it must outlive the
 * Config). Returns 0 and *ret_config, or -EINVAL with *ret_errors set to a
 * NULL-terminated list of "file:line: message" strings (owned by the caller,
 * free with strv_free()), or another negative errno with no list.
 */
int config_load(const char *path, TzDb *tzdb, Config **ret_config, char ***ret_errors);
Config *config_free(Config *config);

/* The instance of `kind` whose block is called `name` ("gcs" for credentials/gcs), or NULL. */
const PluginConfig *config_find_instance(const Config *config, PluginKind kind, const char *name);
/* The storage instance that serves URL scheme `scheme`, or NULL. */
const PluginConfig *config_find_storage(const Config *config, const char *scheme);

/* Frees what a PluginConfig holds (not the struct itself). */
void plugin_config_done(PluginConfig *pc);

/* Finds a schedule by name, or NULL. */
Schedule *config_find_schedule(const Config *config, const char *name);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);
