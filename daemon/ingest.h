/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Ingest steps through the ingest plugin instances: how a pipeline runs a
 * step type a plugin offers (see udfcron/plugin.h). A step is a PluginCall:
 * the plugin's end of it is copied into the call and delivered later, from
 * the loop, never inside the plugin; the lines the step logs reach the caller
 * at once (they become the step's journal records).
 */

#include "plugin-host.h"

typedef struct IngestCall IngestCall;

/* What one step is; the strings are copied, `options` (the step type's structure) is borrowed until the
 * step's `done` runs or ingest_cancel() returns. */
typedef struct IngestRequest {
        const struct udfcron_run_info *run;
        const char *type, *name, *input, *output;
        const void *options;
} IngestRequest;

typedef void (*IngestLog)(void *userdata, int priority, const char *line);
typedef void (*IngestDone)(void *userdata, int error, const char *message, const char *result);

/*
 * Starts `request` on `instance`, an ingest instance. Returns 0 and calls `done` once, later, from the
 * loop (with borrowed values), `log` for each line the step logs until then; or a negative errno (what
 * the plugin refused with, -ENOMEM), and then neither is ever called.
 */
int ingest_start(PluginHost *h, PluginInstance *instance, const IngestRequest *request, IngestLog log,
                 IngestDone done, void *userdata, IngestCall **ret_call);

/* Asks the plugin to stop the step: `done` follows, later (with -ECANCELED unless it had finished). */
void ingest_cancel(IngestCall *c);

/* The caller no longer listens: cancels the step if it runs, then neither `log` nor `done` is called.
 * Accepts NULL; returns NULL. */
IngestCall *ingest_abandon(IngestCall *c);
