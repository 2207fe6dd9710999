/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The configuration: udfcrond.conf (daemon settings, schedule defaults) and
 * every *.conf in its schedules directory, read with libconfig into validated
 * Schedules. Nothing here logs: every problem becomes a "file:line: message"
 * string, all of them collected in one pass, so `udfcrond --check-config`
 * can show them together and a reload can refuse a broken config whole.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"
#include "plugin.h"
#include "schedule.h"
#include "strv.h"
#include "tz.h"

#define CONFIG_DEFAULT_PATH "/etc/udfcron/udfcrond.conf"
#ifndef UDFCRON_PLUGIN_DIR
#define UDFCRON_PLUGIN_DIR "/usr/local/lib/udfcron/plugins"
#endif

/* The `fused` engine's settings: `engines = { fused = { ... } }` in udfcrond.conf. */
typedef struct FusedSettings {
        char *base_url;           /* the API, default https://www.fused.io/server/v1 */
        char *shared_base_url;    /* shared-token runs, default https://udf.ai */
        char *token;              /* bearer token, a template ("${secret:NAME}"); NULL: none */
        char *realtime_client_id; /* NULL: the best of /realtime-instance/available */
        char *instance_type, *region; /* batch defaults; NULL: the service's */
        unsigned disk_size_gb;        /* 0: the service's */
        uint64_t poll_interval_usec;  /* a batch job's status and log, default 5s */
        uint64_t quiet_log_interval_usec; /* the longest gap between two reads of a quiet job's log, 30s */
        uint64_t realtime_timeout_usec; /* one realtime run's HTTP call, default 130s (the SDK's) */
        bool send_status_email;         /* the service mails the job's end; default false */
        bool cache;                     /* let the service answer realtime runs from its cache; default false */
} FusedSettings;

#define FUSED_DEFAULT_BASE_URL        "https://www.fused.io/server/v1"
#define FUSED_DEFAULT_SHARED_BASE_URL "https://udf.ai"

/* How the fusion engine authenticates (the `auth` key of engines.fusion). */
typedef enum FusionAuth {
        FUSION_AUTH_BASIC,   /* user and password on every request */
        FUSION_AUTH_SESSION, /* POST /api/session once, then its cookie; again on a 401 */
        FUSION_AUTH_BEARER,  /* a token; or, from user and password, a JWT from POST /oauth2/token */
        FUSION_AUTH_API_KEY, /* the x-api-key header */
        _FUSION_AUTH_MAX,
        _FUSION_AUTH_INVALID = -22,
} FusionAuth;

extern const char *const fusion_auth_names[_FUSION_AUTH_MAX + 1];

/* engines.fusion in udfcrond.conf: the Lucidworks Fusion service that `engine = "fusion"` schedules use. */
typedef struct FusionSettings {
        bool configured;  /* the group is there */
        char *base_url;   /* "https://fusion.example.com:6764", no trailing slash */
        char *api_prefix; /* "/api" (default) or "/api/apollo" */
        char *app;        /* NULL, or paths go to {api_prefix}/apps/{app} */
        FusionAuth auth;
        char *user;
        char *password;              /* a template, expanded per run: "${secret:fusion-password}" */
        char *token;                 /* a bearer token or an API key (template) */
        char *realm;                 /* of session logins, default "native" */
        uint64_t poll_interval_usec; /* default 5s */
} FusionSettings;

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
        char *control_socket;           /* default: runtime_directory/control.sock */
        unsigned control_socket_mode;   /* who may connect (and so read), default 0666 */
        char *control_group;            /* its members may change things, as root may; NULL: none */
        gid_t control_gid;
        uint64_t control_timeout_usec; /* a request must arrive whole within this, default 10s */
        HttpSettings http;              /* the remote engines' HTTP defaults: the `http` group */
        FusedSettings fused;            /* engines.fused */
        FusionSettings fusion;          /* engines.fusion */
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
