/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Plugin files: finding <kind>-<name>.so in the configured plugin
 * directories, refusing what is not safe to load (a file or directory not
 * owned by root or the daemon's user, or writable by group or others; a
 * symbolic link), dlopen(RTLD_NOW | RTLD_LOCAL), and checking the exported
 * descriptor (ABI major, descriptor size, kind, name, vtable, options
 * table). Nothing here logs: every refusal is a message that names the file.
 *
 * A Plugin is reference-counted: the configuration that names it holds one
 * reference, each live instance another; the last unref dlclose()s it, so
 * the code stays mapped while anything of it may still run.
 */

#include <stdbool.h>
#include <stddef.h>

#include "udfcron/plugin.h"

typedef enum PluginKind {
        PLUGIN_STORAGE,
        PLUGIN_SECRETS,
        PLUGIN_CREDENTIALS,
        PLUGIN_INGEST,
        _PLUGIN_KIND_MAX,
        _PLUGIN_KIND_INVALID = -22,
} PluginKind;

/* "storage", "secrets", ...; NULL-terminated, indexed by PluginKind (the config groups' names). */
extern const char *const plugin_kind_names[_PLUGIN_KIND_MAX + 1];
const char *plugin_kind_to_string(PluginKind k);
PluginKind plugin_kind_from_string(const char *s);

typedef struct Plugin {
        unsigned n_ref;
        PluginKind kind;
        char *name;
        char *path;   /* the file, for messages; "(built in)" for a linked-in plugin */
        void *handle; /* dlopen()'s; NULL for a linked-in plugin */
        const struct udfcron_plugin *descriptor;
        const struct udfcron_option *options; /* the descriptor's table */
        size_t n_options;
} Plugin;

/*
 * Opens plugin `name` of `kind` from the first of `directories` (a
 * NULL-terminated list of absolute paths, borrowed) that holds
 * <kind>-<name>.so. Returns 0 and *ret_plugin (one reference), or -EINVAL
 * with a malloc'd message in *ret_error ("/usr/lib/udfcron/plugins/storage-s3.so:
 * built for plugin ABI 2.0, this udfcrond has 1.0"), or -ENOMEM.
 */
int plugin_open(char *const *directories, PluginKind kind, const char *name, Plugin **ret_plugin,
                char **ret_error);

/*
 * Plugins linked into the program, found before any directory is searched:
 * for tests and fuzzers (the daemon has none). `list` is NULL-terminated and
 * must outlive every plugin_open().
 */
void plugin_set_builtins(const struct udfcron_plugin *const *list);

Plugin *plugin_ref(Plugin *p);
Plugin *plugin_unref(Plugin *p);

/* The schemes a storage plugin serves (NULL-terminated, the plugin's own), or NULL for other kinds. */
const char *const *plugin_storage_schemes(const Plugin *p);

/* ---- options structures (see struct udfcron_option) */

/* A zeroed options structure of the plugin with its defaults applied; NULL on OOM. */
void *plugin_options_new(const Plugin *p);
/* Frees the structure and the strings and lists in it. Accepts NULL; returns NULL. */
void *plugin_options_free(const Plugin *p, void *options);

/*
 * Sets a string option from text, as a default is written: STRING and PATH
 * (which must be absolute here) are copied, BOOL is "true"/"false", INT a
 * decimal within the range, DURATION "30s", STRING_LIST comma-separated.
 * Returns 0, -EINVAL (with a static reason in *ret_reason), -ERANGE or -ENOMEM.
 */
int plugin_option_set_text(const struct udfcron_option *o, void *options, const char *text,
                           const char **ret_reason);

/* Where option `o` lives inside `options`. */
static inline void *plugin_option_target(const struct udfcron_option *o, void *options) {
        return (char *) options + o->offset;
}

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Plugin *, plugin_unref);
