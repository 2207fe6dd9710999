/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Credentials instances by name, for the runs (their environment) and for
 * the plugins' host services (access tokens): `name` is the instance's block
 * in the `credentials` group ("gcs" for credentials/gcs).
 *
 * Each function returns 0 and calls `done` exactly once later, from the
 * event loop (never from inside the call), with borrowed values; or a
 * negative errno, and then `done` is never called: -ENXIO (no current
 * instance of that name), -EOPNOTSUPP (the plugin gives no environment, or
 * mints no tokens), -ELOOP (`requester` would call itself), or what the
 * plugin refused with. *ret_call (may be NULL) lets the caller abandon the
 * call until `done` runs.
 */

#include "plugin-host.h"

/* The variables instance `name` adds to the environment of `run`; `requester` is NULL (the daemon). */
int credentials_environment(PluginHost *h, const char *name, const struct udfcron_run_info *run,
                            udfcron_environment_done done, void *userdata, PluginCall **ret_call);

/* An access token from instance `name` for `audience` (NULL: the instance's default). The token is
 * handed on, never logged; the caller wipes its copies. */
int credentials_token(PluginHost *h, PluginInstance *requester, const char *name, const char *audience,
                      udfcron_token_done done, void *userdata, PluginCall **ret_call);
