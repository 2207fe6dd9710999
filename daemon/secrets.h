/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Secrets by name, for ${secret:NAME} and the plugins' host services. The
 * built-in provider, systemd credentials ($CREDENTIALS_DIRECTORY/NAME, as
 * LoadCredential= sets up), is asked first; then each `secrets` plugin
 * instance in configuration order, until one knows the name. Every value
 * found is registered with the journal, which masks it from then on.
 */

#include "plugin-host.h"

/*
 * The built-in provider alone: returns 0 and a malloc'd value (one trailing
 * newline stripped), -ENOENT (no such credential, or no
 * $CREDENTIALS_DIRECTORY), -EINVAL (a name with '/' or a leading '.'), -EFBIG.
 */
int secrets_resolve(const char *name, char **ret_value);

/*
 * Looks `name` up through every provider. Returns 0 and calls `done` once,
 * later, from the loop, with the value (borrowed; the caller wipes its
 * copies) or -ENOENT when no provider knows it, or another provider's
 * error; or -ENOMEM, and `done` is never called. `requester` is the plugin
 * instance asking through the host services (then only the providers
 * configured before it are asked), NULL for the daemon. *ret_call (may be
 * NULL) can be abandoned until `done` runs.
 */
int secrets_lookup(PluginHost *h, PluginInstance *requester, const char *name, udfcron_secret_done done,
                   void *userdata, PluginCall **ret_call);
