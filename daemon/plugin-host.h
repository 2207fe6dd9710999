/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The running plugin instances and the services the daemon offers them
 * (struct udfcron_host: logging with PLUGIN=/INSTANCE= fields, timers on the
 * event loop, secrets, storage, and HTTP through the daemon's one client,
 * which the host owns).
 *
 * Lifetime: plugin_host_apply() starts the instances a configuration
 * declares and retires the previous ones. A retired instance is destroyed
 * once no call into it is pending, and a plugin is unloaded (dlclose) once
 * no instance of it is left and the configuration no longer names it; so
 * nothing of a plugin is unmapped while it owns a callback, a timer or a
 * pending operation. Timers a plugin leaves behind at destroy() are stopped
 * here, before the unload.
 *
 * Calls: every operation on an instance is a PluginCall. Whatever the
 * plugin does (answer at once, or later from the loop), the caller's
 * callback runs later, from a defer source of its own: never inside the
 * call that started the operation, and never inside one of the plugin's
 * callbacks. A caller that no longer wants the answer abandons the call.
 */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"
#include "journal.h"
#include "plugin.h"

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
typedef struct PluginHost PluginHost;
typedef struct udfcron_instance PluginInstance;
typedef struct PluginCall PluginCall;

/* A host on `event` (a reference is taken), with an HTTP client of the default settings. */
int plugin_host_new(sd_event *event, Journal *journal, PluginHost **ret_host);
/*
 * Destroys every instance (pending operations are dropped, their callbacks never called), unloads,
 * and frees the HTTP client: whoever else submitted to it must have freed their transfers first.
 */
PluginHost *plugin_host_free(PluginHost *h);

/*
 * Starts every instance `config` declares (init()), moving their options
 * out of it, and makes them the current set; the previous set is retired,
 * and the HTTP client takes the config's `http` settings. When an init()
 * fails (it logged why; this logs which block, file:line), the new
 * instances are destroyed, the current set and settings stay, and the error
 * is returned.
 */
int plugin_host_apply(PluginHost *h, Config *config);

/* The daemon's HTTP client, for the remote engines too: one connection pool per daemon. */
HttpClient *plugin_host_http(const PluginHost *h);

/* Calls into instances not answered (or not delivered) yet. */
size_t plugin_host_pending(const PluginHost *h);

Journal *plugin_host_journal(const PluginHost *h);

/* The n-th current instance in configuration order, or NULL past the last: what `status` lists. */
const PluginInstance *plugin_host_current(const PluginHost *h, size_t n);

/* ---- for the modules that call plugins (storage.c, secrets.c) */

/* The current storage instance serving `scheme`, or NULL. */
PluginInstance *plugin_host_storage(const PluginHost *h, const char *scheme);
/* The current instance of `kind` whose block is called `name` ("gcs" for credentials/gcs), or NULL. */
PluginInstance *plugin_host_instance(const PluginHost *h, PluginKind kind, const char *name);
/* The plugin an instance runs. */
const Plugin *plugin_instance_plugin(const PluginInstance *i);
/* The n-th current secrets provider in configuration order, or NULL past the last. */
PluginInstance *plugin_host_secrets_provider(const PluginHost *h, size_t n);
/* The position of `i` among the current secrets providers, or SIZE_MAX. */
size_t plugin_host_secrets_position(const PluginHost *h, const PluginInstance *i);

/*
 * The bytes a plugin hands a storage callback are often the body of the HTTP reply it is handling at
 * that moment (host->http_submit): then this takes that buffer over, NUL-terminated after `size`
 * bytes and owned by the caller, which need not copy (a large object, and as many fresh pages).
 * NULL when `data` is anything else.
 */
char *plugin_host_take_http_body(PluginHost *h, const void *data, size_t size);

const char *plugin_instance_name(const PluginInstance *i); /* "storage/file" */
PluginKind plugin_instance_kind(const PluginInstance *i);
void *plugin_instance_context(const PluginInstance *i);
const void *plugin_instance_vtable(const PluginInstance *i);

/*
 * What a call delivers: called once from the loop, after the plugin's
 * answer was stored in the call (see plugin_call_answered()), unless the
 * call was abandoned. Then the call is freed, with `free_answer` first.
 */
typedef void (*PluginCallDeliver)(PluginCall *call);
typedef void (*PluginCallFree)(PluginCall *call);

struct PluginCall {
        PluginHost *host;
        PluginInstance *instance;  /* called; NULL for a built-in answer (the systemd credentials) */
        PluginInstance *requester; /* an instance that asked through the host services, or NULL */
        PluginCallDeliver deliver;
        PluginCallFree free_answer;
        sd_event_source *defer;
        bool answered, abandoned, delivering;
        PluginCall *prev, *next; /* PluginHost.calls */
};

/*
 * A call of `size` bytes (a struct that begins with a PluginCall) to
 * `instance` (NULL: built in), pending from now on. NULL on OOM.
 */
void *plugin_call_new(PluginHost *h, PluginInstance *instance, PluginInstance *requester, size_t size,
                      PluginCallDeliver deliver, PluginCallFree free_answer);
/* The answer is in the call: it is delivered from the loop. */
void plugin_call_answered(PluginCall *call);
/* The plugin refused the operation at once (its done will never come): frees the call, nothing delivered. */
void plugin_call_refused(PluginCall *call);
/*
 * What the plugin's operation returned, for the function that started it: a refusal (r < 0) frees the
 * call and is returned; otherwise the call is under way, *ret_call (may be NULL) is set and 0 returned.
 */
int plugin_call_started(PluginCall *call, int r, PluginCall **ret_call);
/*
 * For a plugin's done: true when this is the call's first answer, which the caller now stores in the
 * call; a second answer is only reported (false). `error` as a negative errno, whatever its sign.
 */
bool plugin_call_first_answer(PluginCall *call, int error, int *ret_error);
/* The caller no longer wants the answer: nothing is delivered; accepts NULL; returns NULL. */
PluginCall *plugin_call_abandon(PluginCall *call);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(PluginHost *, plugin_host_free);
