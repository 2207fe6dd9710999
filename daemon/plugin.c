/* SPDX-License-Identifier: MIT */
#include "plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "strv.h"

#define PLUGIN_NAME_MAX  64
#define OPTIONS_MAX      256
#define DURATION_MAX_SEC (366 * UINT64_C(86400))

/* The descriptor as ABI 1.0 defines it: a plugin's may be larger (a later minor), never smaller. */
#define DESCRIPTOR_SIZE_1_0 (offsetof(struct udfcron_plugin, description) + sizeof(const char *))

const char *const plugin_kind_names[_PLUGIN_KIND_MAX + 1] = {
        [PLUGIN_STORAGE] = "storage",
        [PLUGIN_SECRETS] = "secrets",
        [PLUGIN_CREDENTIALS] = "credentials",
        [PLUGIN_INGEST] = "ingest",
};

const char *plugin_kind_to_string(PluginKind k) {
        return k >= 0 && k < _PLUGIN_KIND_MAX ? plugin_kind_names[k] : NULL;
}

PluginKind plugin_kind_from_string(const char *s) {
        for (int k = 0; k < _PLUGIN_KIND_MAX; k++)
                if (strcmp(plugin_kind_names[k], s) == 0)
                        return (PluginKind) k;
        return _PLUGIN_KIND_INVALID;
}

/* The descriptor's kind numbers are the ABI's (from 1); PluginKind counts from 0. */
static PluginKind kind_from_abi(enum udfcron_plugin_kind k) {
        return k >= UDFCRON_PLUGIN_STORAGE && k <= UDFCRON_PLUGIN_INGEST ? (PluginKind) (k - 1)
                                                                         : _PLUGIN_KIND_INVALID;
}

static const struct udfcron_plugin *const *builtins;

void plugin_set_builtins(const struct udfcron_plugin *const *list) {
        builtins = list;
}

_printf_(2, 3) static int fail(char **ret_error, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0) {
                *ret_error = NULL;
                va_end(ap);
                return -ENOMEM;
        }
        va_end(ap);
        return -EINVAL;
}

static bool valid_name(const char *s) {
        size_t n = strlen(s);
        return n > 0 && n <= PLUGIN_NAME_MAX &&
               s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-")] == '\0';
}

/* ------------------------------------------------------------------ options */

static size_t option_size(enum udfcron_option_type t) {
        switch (t) {
        case UDFCRON_OPTION_STRING:
        case UDFCRON_OPTION_PATH:
                return sizeof(char *);
        case UDFCRON_OPTION_BOOL:
                return sizeof(bool);
        case UDFCRON_OPTION_INT:
                return sizeof(int64_t);
        case UDFCRON_OPTION_DURATION:
                return sizeof(uint64_t);
        case UDFCRON_OPTION_STRING_LIST:
                return sizeof(char **);
        }
        return 0;
}

static bool option_is_pointer(enum udfcron_option_type t) {
        return t == UDFCRON_OPTION_STRING || t == UDFCRON_OPTION_PATH || t == UDFCRON_OPTION_STRING_LIST;
}

int plugin_option_set_text(const struct udfcron_option *o, void *options, const char *text,
                           const char **ret_reason) {
        void *target = plugin_option_target(o, options);
        const char *reason = NULL;
        int r = 0;

        switch (o->type) {
        case UDFCRON_OPTION_PATH:
                if (text[0] != '/') {
                        reason = "not an absolute path";
                        break;
                }
                _fallthrough_;
        case UDFCRON_OPTION_STRING: {
                char *copy = strdup(text);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) target);
                *(char **) target = copy;
                return 0;
        }
        case UDFCRON_OPTION_BOOL:
                if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
                        *(bool *) target = text[0] == 't';
                else
                        reason = "not true or false";
                break;
        case UDFCRON_OPTION_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(text, &end, 10);
                if (errno != 0 || end == text || *end != '\0')
                        reason = "not an integer";
                else if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max))
                        return -ERANGE;
                else
                        *(int64_t *) target = v;
                break;
        }
        case UDFCRON_OPTION_DURATION: {
                uint64_t sec;
                r = duration_parse(text, DURATION_MAX_SEC, &sec);
                if (r == -ERANGE)
                        return r;
                if (r < 0)
                        reason = "not a duration such as \"30s\"";
                else
                        *(uint64_t *) target = sec * UINT64_C(1000000);
                break;
        }
        case UDFCRON_OPTION_STRING_LIST: {
                _cleanup_(strv_freep) char **list = NULL;
                size_t n = 0;
                for (const char *p = text; *p;) {
                        size_t len = strcspn(p, ",");
                        if ((r = strv_push(&list, &n, strndup(p, len))) < 0)
                                return r;
                        p += len + (p[len] == ',');
                }
                if (!list && !(list = calloc(1, sizeof(char *))))
                        return -ENOMEM;
                strv_free(*(char ***) target);
                *(char ***) target = TAKE_PTR(list);
                return 0;
        }
        default:
                reason = "an unknown option type";
        }
        if (reason) {
                if (ret_reason)
                        *ret_reason = reason;
                return -EINVAL;
        }
        return 0;
}

void *plugin_options_free(const Plugin *p, void *options) {
        if (!options)
                return NULL;
        for (size_t i = 0; i < p->n_options; i++) {
                void *target = plugin_option_target(&p->options[i], options);
                if (p->options[i].type == UDFCRON_OPTION_STRING_LIST)
                        strv_free(*(char ***) target);
                else if (option_is_pointer(p->options[i].type))
                        free(*(char **) target);
        }
        free(options);
        return NULL;
}

void *plugin_options_new(const Plugin *p) {
        void *options = calloc(1, MAX(p->descriptor->options_size, (size_t) 1));
        if (!options)
                return NULL;
        for (size_t i = 0; i < p->n_options; i++) {
                const struct udfcron_option *o = &p->options[i];
                if (o->default_value && plugin_option_set_text(o, options, o->default_value, NULL) < 0)
                        return plugin_options_free(p, options); /* checked at open: only OOM gets here */
        }
        return options;
}

/* The checks of the options table that keep the core from writing outside the plugin's structure. */
static int check_options(Plugin *p, char **ret_error) {
        const struct udfcron_plugin *d = p->descriptor;
        const struct udfcron_option *t = d->options;
        size_t n = 0;

        for (; t && t[n].name; n++) {
                const struct udfcron_option *o = &t[n];
                if (n >= OPTIONS_MAX)
                        return fail(ret_error,
                                    "%s: more than %d options (is the table's last entry { NULL }?)",
                                    p->path, OPTIONS_MAX);
                if (!valid_name(o->name) || strcmp(o->name, "plugin") == 0)
                        return fail(ret_error,
                                    "%s: option name '%s' is not allowed (use [a-z0-9_-], not 'plugin')",
                                    p->path, o->name);
                for (size_t k = 0; k < n; k++)
                        if (strcmp(t[k].name, o->name) == 0)
                                return fail(ret_error, "%s: option '%s' is declared twice", p->path,
                                            o->name);
                size_t size = option_size(o->type);
                if (size == 0)
                        return fail(ret_error, "%s: option '%s' has unknown type %d", p->path, o->name,
                                    (int) o->type);
                if (o->offset > d->options_size || d->options_size - o->offset < size ||
                    o->offset % size != 0)
                        return fail(
                                ret_error,
                                "%s: option '%s' lies outside the %zu-byte options structure (offset %zu)",
                                p->path, o->name, d->options_size, o->offset);
                if (o->type == UDFCRON_OPTION_INT && o->min > o->max)
                        return fail(ret_error, "%s: option '%s' has min > max", p->path, o->name);
        }
        p->options = t;
        p->n_options = n;

        /* Every default must parse: a plugin bug, reported now rather than at each use. */
        void *scratch = calloc(1, MAX(d->options_size, (size_t) 1));
        if (!scratch)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *reason = "out of range";
                if (t[i].default_value &&
                    (r = plugin_option_set_text(&t[i], scratch, t[i].default_value, &reason)) < 0 &&
                    r != -ENOMEM)
                        r = fail(ret_error, "%s: option '%s' has an invalid default \"%s\": %s", p->path,
                                 t[i].name, t[i].default_value, reason);
        }
        plugin_options_free(p, scratch);
        return r;
}

/* ------------------------------------------------------------------ descriptor */

static bool has_scheme(const char *const *schemes) {
        return schemes && schemes[0] && schemes[0][0];
}

/* What each kind needs of its vtable. */
static const char *vtable_problem(PluginKind kind, const void *vtable) {
        const struct udfcron_storage_vtable *st = vtable;
        const struct udfcron_secrets_vtable *se = vtable;
        const struct udfcron_credentials_vtable *cr = vtable;
        const struct udfcron_ingest_vtable *in = vtable;

        if (!vtable)
                return "has no vtable";
        switch (kind) {
        case PLUGIN_STORAGE:
                if (!has_scheme(st->schemes))
                        return "serves no URL scheme";
                for (const char *const *s = st->schemes; *s; s++)
                        if (!valid_name(*s) || strchr(*s, '_'))
                                return "declares an invalid URL scheme";
                return st->put && st->get && st->list && st->remove ? NULL
                                                                    : "lacks put, get, list or remove";
        case PLUGIN_SECRETS:
                return se->lookup ? NULL : "lacks lookup";
        case PLUGIN_CREDENTIALS:
                return cr->environment || cr->token ? NULL : "offers neither environment nor token";
        case PLUGIN_INGEST:
                return in->process ? NULL : "lacks process";
        default:
                return "has an unknown kind";
        }
}

static int check_descriptor(Plugin *p, PluginKind kind, const char *name, size_t symbol_size,
                            char **ret_error) {
        const struct udfcron_plugin *d = p->descriptor;

        /* the size the linker recorded, when known, tells a truncated descriptor before it is read */
        if (symbol_size > 0 && symbol_size < offsetof(struct udfcron_plugin, name))
                return fail(ret_error, "%s: its descriptor is only %zu bytes: not a udfcron plugin", p->path,
                            symbol_size);
        if (d->abi_major != UDFCRON_PLUGIN_ABI_MAJOR)
                return fail(ret_error,
                            "%s: built for plugin ABI %u.%u, this udfcron has %d.%d: rebuild it against "
                            "this version's udfcron/plugin.h",
                            p->path, d->abi_major, d->abi_minor, UDFCRON_PLUGIN_ABI_MAJOR,
                            UDFCRON_PLUGIN_ABI_MINOR);
        if (d->struct_size < DESCRIPTOR_SIZE_1_0 || (symbol_size > 0 && symbol_size < d->struct_size))
                return fail(ret_error,
                            "%s: its descriptor is %u bytes, smaller than the %zu bytes of plugin ABI %d.0",
                            p->path,
                            symbol_size > 0 ? (unsigned) MIN(symbol_size, (size_t) d->struct_size)
                                            : d->struct_size,
                            DESCRIPTOR_SIZE_1_0, UDFCRON_PLUGIN_ABI_MAJOR);
        if (d->abi_minor > UDFCRON_PLUGIN_ABI_MINOR)
                return fail(
                        ret_error,
                        "%s: built for plugin ABI %u.%u, newer than this udfcron's %d.%d: update udfcron",
                        p->path, d->abi_major, d->abi_minor, UDFCRON_PLUGIN_ABI_MAJOR,
                        UDFCRON_PLUGIN_ABI_MINOR);
        if (!d->name || strcmp(d->name, name) != 0)
                return fail(ret_error, "%s: the plugin calls itself '%s', not '%s'", p->path,
                            d->name ? d->name : "(null)", name);
        PluginKind k = kind_from_abi(d->kind);
        if (k != kind)
                return fail(ret_error, "%s: is a %s plugin, not a %s plugin", p->path,
                            k >= 0 ? plugin_kind_to_string(k) : "(unknown kind)",
                            plugin_kind_to_string(kind));
        if (!d->init || !d->destroy)
                return fail(ret_error, "%s: lacks init or destroy", p->path);
        const char *problem = vtable_problem(kind, d->vtable);
        if (problem)
                return fail(ret_error, "%s: %s", p->path, problem);
        return check_options(p, ret_error);
}

/* ------------------------------------------------------------------ files */

/*
 * A directory or file may be trusted with the daemon's privileges when only
 * root or the daemon's own user can change it.
 */
static const char *untrusted(const struct stat *st, char *buf, size_t size) {
        uid_t self = geteuid();
        if (st->st_uid != 0 && st->st_uid != self)
                snprintf(buf, size, "owned by uid %u, not by root or the daemon's user (uid %u)",
                         (unsigned) st->st_uid, (unsigned) self);
        else if (st->st_mode & (S_IWGRP | S_IWOTH))
                snprintf(buf, size, "writable by %s (mode %04o)",
                         (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others"
                         : st->st_mode & S_IWGRP                            ? "its group"
                                                                            : "others",
                         (unsigned) (st->st_mode & 07777));
        else
                return NULL;
        return buf;
}

/*
 * Whoever may rename an ancestor of the plugin directory may swap the whole
 * directory: every ancestor must be trusted too, except that a sticky one
 * (/tmp) is fine, as only an entry's owner may rename it there.
 */
static int check_ancestors(const char *dir, char **ret_error) {
        _cleanup_free_ char *path = strdup(dir);
        char why[128];
        struct stat st;

        if (!path)
                return -ENOMEM;
        for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
                slash[slash == path] = '\0'; /* "/a/b" -> "/a" -> "/" */
                if (stat(path, &st) < 0)
                        return fail(ret_error, "%s: %s", path, strerror(errno));
                if (!(st.st_mode & S_ISVTX) && untrusted(&st, why, sizeof why))
                        return fail(ret_error, "%s: %s: refusing to load plugins below it", path, why);
                if (slash == path)
                        break;
        }
        return 0;
}

static int plugin_new(PluginKind kind, const char *name, const char *path, Plugin **ret) {
        Plugin *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (Plugin){ .n_ref = 1, .kind = kind, .name = strdup(name), .path = strdup(path) };
        if (!p->name || !p->path) {
                plugin_unref(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static int open_builtin(PluginKind kind, const char *name, Plugin **ret_plugin, char **ret_error) {
        for (const struct udfcron_plugin *const *b = builtins; b && *b; b++) {
                if (!(*b)->name || strcmp((*b)->name, name) != 0 || kind_from_abi((*b)->kind) != kind)
                        continue;
                _cleanup_(plugin_unrefp) Plugin *p = NULL;
                int r = plugin_new(kind, name, "(built in)", &p);
                if (r < 0)
                        return r;
                p->descriptor = *b;
                r = check_descriptor(p, kind, name, 0, ret_error);
                if (r < 0)
                        return r;
                *ret_plugin = TAKE_PTR(p);
                return 1;
        }
        return 0;
}

/* Checks the file `path` in directory `dir` (both resolved), then loads it. */
static int load_file(const char *dir, const char *path, PluginKind kind, const char *name,
                     Plugin **ret_plugin, char **ret_error) {
        _cleanup_(plugin_unrefp) Plugin *p = NULL;
        char why[128];
        struct stat st;
        int r;

        if (lstat(path, &st) < 0)
                return fail(ret_error, "%s: %s", path, strerror(errno));
        if (S_ISLNK(st.st_mode))
                return fail(ret_error,
                            "%s: is a symbolic link: refusing to load it (install the file itself)", path);
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, "%s: not a regular file", path);
        if (untrusted(&st, why, sizeof why))
                return fail(ret_error, "%s: %s: refusing to load it", path, why);
        if (stat(dir, &st) < 0)
                return fail(ret_error, "%s: %s", dir, strerror(errno));
        if (untrusted(&st, why, sizeof why))
                return fail(ret_error, "%s: %s: refusing to load plugins from it", dir, why);
        if ((r = check_ancestors(dir, ret_error)) < 0)
                return r;
        if ((r = plugin_new(kind, name, path, &p)) < 0)
                return r;

        /*
         * By name: nobody but root and the daemon's user may change the file or any directory above it,
         * so the name still means the file checked. (Through /proc/self/fd/N instead, the loader would
         * take a later plugin opened on the same descriptor number for this one: it matches names.)
         */
        p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!p->handle)
                return fail(ret_error, "%s: cannot load it: %s", path, dlerror() ?: "unknown error");

        (void) dlerror();
        void *entry = dlsym(p->handle, UDFCRON_PLUGIN_ENTRY_SYMBOL);
        if (!entry)
                return fail(ret_error, "%s: exports no %s: not a udfcron plugin", path,
                            UDFCRON_PLUGIN_ENTRY_SYMBOL);
        Dl_info info;
        const ElfW(Sym) *sym = NULL;
        size_t symbol_size = dladdr1(entry, &info, (void **) &sym, RTLD_DL_SYMENT) && sym ? sym->st_size : 0;
        p->descriptor = entry;
        r = check_descriptor(p, kind, name, symbol_size, ret_error);
        if (r < 0)
                return r;
        *ret_plugin = TAKE_PTR(p);
        return 0;
}

int plugin_open(char *const *directories, PluginKind kind, const char *name, Plugin **ret_plugin,
                char **ret_error) {
        _cleanup_free_ char *file = NULL, *searched = NULL;

        if (!valid_name(name))
                return fail(ret_error, "'%s' is not a plugin name: use 1-%d characters of a-z 0-9 _ -", name,
                            PLUGIN_NAME_MAX);
        int r = open_builtin(kind, name, ret_plugin, ret_error);
        if (r != 0)
                return MIN(r, 0);
        if (asprintf(&file, "%s-%s.so", plugin_kind_to_string(kind), name) < 0)
                return -ENOMEM;

        for (char *const *dir = directories; dir && *dir; dir++) {
                _cleanup_free_ char *resolved = realpath(*dir, NULL), *path = NULL;
                if (!resolved && errno == ENOMEM)
                        return -ENOMEM;
                if (!resolved)
                        continue; /* a missing directory holds no plugins */
                if (asprintf(&path, "%s%s%s", resolved, strcmp(resolved, "/") == 0 ? "" : "/", file) < 0)
                        return -ENOMEM;
                struct stat st;
                if (lstat(path, &st) < 0 && errno == ENOENT)
                        continue;
                return load_file(resolved, path, kind, name, ret_plugin, ret_error);
        }

        for (char *const *dir = directories; dir && *dir; dir++) {
                char *s;
                if (asprintf(&s, "%s%s%s", searched ?: "", searched ? ", " : "", *dir) < 0)
                        return -ENOMEM;
                free(searched);
                searched = s;
        }
        return fail(ret_error, "no plugin %s in %s", file, searched ?: "(no plugin_directories)");
}

Plugin *plugin_ref(Plugin *p) {
        if (p)
                p->n_ref++;
        return p;
}

Plugin *plugin_unref(Plugin *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        if (p->handle)
                (void) dlclose(p->handle);
        free(p->name);
        free(p->path);
        free(p);
        return NULL;
}

const char *const *plugin_storage_schemes(const Plugin *p) {
        return p->kind == PLUGIN_STORAGE
                       ? ((const struct udfcron_storage_vtable *) p->descriptor->vtable)->schemes
                       : NULL;
}
