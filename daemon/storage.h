/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Storage by URL, for the daemon (run outputs), udfcronctl storage and the
 * plugins' host services: the URL's scheme picks the storage instance that
 * serves it, and the call goes to its vtable (see udfcron/plugin.h for what
 * each operation does).
 *
 * Each function returns 0 and calls `done` exactly once later, from the
 * event loop (never from inside the call), with borrowed values; or a
 * negative errno, and then `done` is never called: -EINVAL (not a URL),
 * -EPROTONOSUPPORT (no instance serves the scheme), -EOPNOTSUPP (sign on a
 * backend that cannot), -ELOOP (`requester` would call itself), or what the
 * plugin refused with. `requester` is the plugin instance asking through the
 * host services, NULL for the daemon itself. *ret_call (may be NULL) lets the
 * caller abandon the call (plugin_call_abandon()) until `done` runs.
 */

#include <stddef.h>
#include <stdint.h>

#include "plugin-host.h"

int storage_put(PluginHost *h, PluginInstance *requester, const char *url, const void *data, size_t size,
                const char *content_type, udfcron_storage_done done, void *userdata, PluginCall **ret_call);
int storage_get(PluginHost *h, PluginInstance *requester, const char *url, size_t max_size,
                udfcron_storage_data_done done, void *userdata, PluginCall **ret_call);
int storage_list(PluginHost *h, PluginInstance *requester, const char *url, const char *page,
                 size_t page_size, udfcron_storage_list_done done, void *userdata, PluginCall **ret_call);
int storage_remove(PluginHost *h, PluginInstance *requester, const char *url, udfcron_storage_done done,
                   void *userdata, PluginCall **ret_call);
int storage_sign(PluginHost *h, PluginInstance *requester, const char *url, uint64_t valid_usec,
                 udfcron_storage_text_done done, void *userdata, PluginCall **ret_call);
/* -EOPNOTSUPP also when the plugin was built before ABI 1.3, which added get_range. */
int storage_get_range(PluginHost *h, PluginInstance *requester, const char *url, uint64_t offset,
                      size_t max_size, udfcron_storage_range_done done, void *userdata,
                      PluginCall **ret_call);
