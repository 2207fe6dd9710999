/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libconfig.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arglist.h"
#include "cleanup.h"
#include "duration.h"
#include "engine.h"
#include "fileio.h"
#include "fused-steps.h"
#include "json-util.h"
#include "macro.h"
#include "params.h"
#include "strv.h"
#include "suggest.h"
#include "url.h"

/* Timeouts, backoffs and jitters beyond a year are typos; the bound also keeps *_usec far from overflow. */
#define DURATION_MAX_SEC (366 * UINT64_C(86400))

static char *path_dirname(const char *path) {
        const char *slash = strrchr(path, '/');
        if (!slash)
                return strdup(".");
        return slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
}

/* `rel` against `dir`, without touching the file system; "." adds nothing, so that messages keep the
 * user's own spelling of relative paths. */
static char *path_join(const char *dir, const char *rel) {
        char *r;
        if (rel[0] == '/' || strcmp(dir, ".") == 0)
                return strdup(rel);
        bool slash = dir[0] != '\0' && dir[strlen(dir) - 1] == '/';
        return asprintf(&r, "%s%s%s", dir, slash ? "" : "/", rel) < 0 ? NULL : r;
}

static char *path_absolute(const char *path) {
        _cleanup_free_ char *cwd = path[0] == '/' ? NULL : get_current_dir_name();
        return path[0] == '/' ? strdup(path) : cwd ? path_join(cwd, path) : NULL;
}

/* Environment names and Python identifiers share one shape. */
static bool valid_identifier(const char *n, size_t len) {
        if (len == 0 || (n[0] >= '0' && n[0] <= '9'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(n[i] == '_' || (n[i] >= '0' && n[i] <= '9') ||
                      ((n[i] | 0x20) >= 'a' && (n[i] | 0x20) <= 'z')))
                        return false;
        return true;
}

/* ---------------------------------------------------------------- the loader and its errors */

typedef struct Entry {
        Schedule *schedule;
        size_t seq; /* definition order: of two equal names, the first defined is the original */
} Entry;

typedef struct Loader {
        TzDb *tzdb;
        Config *config;
        char **errors;
        size_t n_errors, n_files;
        bool oom;
        const TzZone *default_zone;
        const char *file;    /* the file being read, as the user named it */
        const char *dir;     /* its directory, spelled the same way: for opening and messages */
        const char *abs_dir; /* its directory, absolute: for what the Config keeps */
        Entry *entries;
        size_t n_entries, n_entries_alloc;
        bool storage_failed; /* a storage block had errors: "no storage serves x://" would only add noise */
        bool credentials_failed; /* the same for credentials blocks and "no such instance" */
} Loader;

/*
 * Records "file:line: message", or "file: message" for line 0 (the file as a whole). Returns -EINVAL,
 * so that parsers can `return error_line(...)`, or -ENOMEM, which also sets l->oom.
 */
_printf_(4, 5) static int error_line(Loader *l, const char *file, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r >= 0)
                r = line > 0 ? asprintf(&text, "%s:%u: %s", file, line, msg)
                             : asprintf(&text, "%s: %s", file, msg);
        if (r < 0 || strv_push(&l->errors, &l->n_errors, r < 0 ? NULL : text) < 0) {
                l->oom = true;
                return -ENOMEM;
        }
        return -EINVAL;
}

/* The same for setting s, in whichever file libconfig found it (an @include may have brought it). */
#define error_at(l, s, ...)                                                                                 \
        error_line(l, config_setting_source_file(s) ?: (l)->file, config_setting_source_line(s), __VA_ARGS__)

static const char *type_name(const config_setting_t *s) {
        static const char *const names[] = {
                [CONFIG_TYPE_GROUP] = "a group",    [CONFIG_TYPE_INT] = "an integer",
                [CONFIG_TYPE_INT64] = "an integer", [CONFIG_TYPE_FLOAT] = "a float",
                [CONFIG_TYPE_STRING] = "a string",  [CONFIG_TYPE_BOOL] = "a boolean",
                [CONFIG_TYPE_ARRAY] = "an array",   [CONFIG_TYPE_LIST] = "a list",
        };
        int t = config_setting_type(s);
        return t > 0 && t < (int) ELEMENTSOF(names) ? names[t] : "nothing";
}

static int type_error(Loader *l, const config_setting_t *s, const char *expected) {
        return error_at(l, s, "%s: expected %s, got %s", config_setting_name(s), expected, type_name(s));
}

static int set_string(void *target, const char *value) {
        char *c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*(char **) target);
        *(char **) target = c;
        return 0;
}

/* Puts `list` (taken) in *(char ***) target, in place of what was there. */
static int set_strv(void *target, char **list) {
        strv_free(*(char ***) target);
        *(char ***) target = list;
        return 0;
}

/* ---------------------------------------------------------------- key tables */

/* Checks and converts setting s into *target. v: its value when it is a string, else NULL. */
typedef int (*KeyParser)(Loader *l, const config_setting_t *s, const char *v, void *target);

typedef enum KeyType {
        KEY_STRING,   /* char *, copied; or, with parse, any conversion of a string */
        KEY_PATH,     /* char *, absolute: a relative path is relative to the file's directory */
        KEY_BOOL,     /* bool */
        KEY_INT,      /* int in [min, max] */
        KEY_UINT,     /* unsigned in [min, max] */
        KEY_INT64,    /* int64_t in [min, max] */
        KEY_DURATION, /* uint64_t microseconds, from "30s", "15m", "1h30m" */
        KEY_ENUM,     /* an enum, from one of `names` */
        KEY_CUSTOM,   /* parse does everything; no parse: the key is handled outside the table */
} KeyType;

typedef struct Key {
        const char *name;
        KeyType type;
        size_t offset;
        long long min, max;
        KeyParser parse;
        const char *const *names;
        const char *doc;
} Key;

typedef struct KeyTable {
        const Key *keys;
        size_t n_keys;
        void *base; /* what the offsets are relative to */
} KeyTable;

static int parse_duration(Loader *l, const config_setting_t *s, uint64_t *ret_usec) {
        const char *name = config_setting_name(s), *text;
        long long n = config_setting_get_int64(s);
        uint64_t sec;

        if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
                /* units are never guessed, but the fix is obvious */
                return error_at(l, s, "%s: %lld is not a duration: write \"%llds\"", name, n, n);
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return type_error(l, s, "a duration such as \"30s\"");
        text = config_setting_get_string(s);
        int r = duration_parse(text, DURATION_MAX_SEC, &sec);
        if (r == -ERANGE)
                return error_at(l, s, "%s: \"%s\" is too long (at most 366d)", name, text);
        if (r < 0 && text[0] != '\0' && text[strspn(text, "0123456789")] == '\0')
                return error_at(l, s, "%s: \"%s\" is not a duration: write \"%ss\"", name, text, text);
        if (r < 0)
                return error_at(l, s,
                                "%s: \"%s\" is not a duration (write e.g. \"30s\", \"15m\", \"2h\", "
                                "\"1d\" or \"1h30m\")",
                                name, text);
        *ret_usec = sec * USEC_PER_SEC;
        return 0;
}

static int apply_key(Loader *l, const Key *k, const config_setting_t *s, void *target) {
        int type = config_setting_type(s);
        const char *v = type == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
        long long n = config_setting_get_int64(s);
        char *abs;

        switch (k->type) {
        case KEY_STRING:
        case KEY_PATH:
        case KEY_ENUM:
                if (!v)
                        return type_error(l, s, "a string");
                if (k->type == KEY_STRING)
                        return k->parse ? k->parse(l, s, v, target) : set_string(target, v);
                if (k->type == KEY_ENUM) {
                        for (int i = 0; k->names[i]; i++)
                                if (strcmp(v, k->names[i]) == 0) {
                                        *(int *) target = i;
                                        return 0;
                                }
                        char list[128] = "";
                        for (int i = 0; k->names[i]; i++)
                                strcat(strcat(list, i > 0 ? ", " : ""), k->names[i]); /* short, fixed */
                        return error_at(l, s, "%s: '%s' is not one of %s", k->name, v, list);
                }
                if (v[0] == '\0')
                        return error_at(l, s, "%s: must not be empty", k->name);
                if (!(abs = path_join(l->abs_dir, v)))
                        return -ENOMEM;
                free(*(char **) target);
                *(char **) target = abs;
                return 0;
        case KEY_BOOL:
                if (type != CONFIG_TYPE_BOOL)
                        return type_error(l, s, "a boolean (true or false)");
                *(bool *) target = config_setting_get_bool(s);
                return 0;
        case KEY_INT:
        case KEY_UINT:
        case KEY_INT64:
                if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                        return type_error(l, s, "an integer");
                if (n < k->min || n > k->max)
                        return error_at(l, s, "%s: %lld is out of range %lld..%lld", k->name, n, k->min,
                                        k->max);
                if (k->type == KEY_INT)
                        *(int *) target = (int) n;
                else if (k->type == KEY_UINT)
                        *(unsigned *) target = (unsigned) n;
                else
                        *(int64_t *) target = n;
                return 0;
        case KEY_DURATION:
                return parse_duration(l, s, target);
        case KEY_CUSTOM:
                return k->parse ? k->parse(l, s, v, target) : 0;
        }
        return -EINVAL;
}

/* Applies each member of `group` through the tables. Unknown keys are errors, with the nearest known
 * key (distance <= 2) as a suggestion, else with `hint`. */
static void apply_keys(Loader *l, const config_setting_t *group, const KeyTable *tables, size_t n_tables,
                       const char *hint) {
        for (int i = 0; i < config_setting_length(group); i++) {
                const config_setting_t *s = config_setting_get_elem(group, i);
                const char *name = config_setting_name(s), *best = NULL;
                const Key *key = NULL;
                void *base = NULL;
                size_t best_d = 3;

                for (size_t t = 0; t < n_tables && !key; t++)
                        for (size_t k = 0; k < tables[t].n_keys && !key; k++) {
                                size_t d = edit_distance(name, tables[t].keys[k].name);
                                if (d == 0) {
                                        key = &tables[t].keys[k];
                                        base = tables[t].base;
                                } else if (d < best_d) {
                                        best_d = d;
                                        best = tables[t].keys[k].name;
                                }
                        }
                if (key && apply_key(l, key, s, (char *) base + key->offset) == -ENOMEM)
                        l->oom = true;
                else if (!key && best)
                        (void) error_at(l, s, "unknown key '%s' (did you mean '%s'?)", name, best);
                else if (!key)
                        (void) error_at(l, s, "unknown key '%s'%s", name, hint ?: "");
        }
}

/* For the parser of a key whose value is a group { ... } of the keys `keys`, read into target; `example`
 * shows such a group to who wrote another type. Errors in the group's members are recorded, not returned. */
static int apply_group(Loader *l, const config_setting_t *s, const Key *keys, size_t n_keys, void *target,
                       const char *example) {
        if (!config_setting_is_group(s))
                return type_error(l, s, example);
        apply_keys(l, s, &(const KeyTable){ keys, n_keys, target }, 1, NULL);
        return 0;
}

/* ---------------------------------------------------------------- policy keys (schedules and `defaults`) */

static int parse_catch_up(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (catch_up_parse(v, target) < 0)
                return error_at(l, s,
                                "catch_up: '%s' is not none, last, all or \"last N within DURATION\" "
                                "(e.g. \"last 3 within 6h\")",
                                v);
        return 0;
}

/* The enums' own name tables; the enums are int-sized, as KEY_ENUM assumes. */

#define P(f) offsetof(RunPolicy, f)
static const Key policy_keys[] = {
        { "overlap", KEY_ENUM, P(overlap), 0, 0, NULL, overlap_policy_names, "fire while a run is active" },
        { "catch_up", KEY_STRING, P(catch_up), 0, 0, parse_catch_up, NULL, "slots missed while down" },
        { "jitter", KEY_DURATION, P(jitter_usec), 0, 0, NULL, NULL, "stable delay in [0, jitter)" },
        { "timeout", KEY_DURATION, P(timeout_usec), 0, 0, NULL, NULL, "cancel a run after; 0s: never" },
        { "retries", KEY_UINT, P(retries), 0, 100, NULL, NULL, "extra attempts after a failure" },
        { "retry_backoff", KEY_DURATION, P(retry_backoff_usec), 0, 0, NULL, NULL, "first retry delay" },
        { "retry_backoff_max", KEY_DURATION, P(retry_backoff_max_usec), 0, 0, NULL, NULL, "delay cap" },
        { "kill_grace", KEY_DURATION, P(kill_grace_usec), 0, 0, NULL, NULL, "SIGTERM..SIGKILL" },
        { "dst", KEY_ENUM, P(dst), 0, 0, NULL, cron_dst_policy_names, "fixed-time fires in DST gaps" },
};
#undef P

/* ---------------------------------------------------------------- schedule keys */

/* A schedule's or (`of` "step") a pipeline step's name: the same characters for both. */
static int set_name(Loader *l, const config_setting_t *s, const char *v, void *target, const char *of) {
        if (!schedule_name_is_valid(v))
                return error_at(l, s,
                                "name: '%s' is not a valid %s name: use 1-%d characters of "
                                "A-Z a-z 0-9 _ . @ -",
                                v, of, SCHEDULE_NAME_MAX);
        return set_string(target, v);
}

static int parse_name(Loader *l, const config_setting_t *s, const char *v, void *target) {
        return set_name(l, s, v, target, "schedule");
}

static int parse_cron(Loader *l, const config_setting_t *s, const char *v, void *target) {
        Schedule *sch = target;
        CronError e = {};
        if (cron_parse(v, &sch->cron, &e) < 0)
                return error_at(l, s, "cron: %s", e.message);
        return set_string(&sch->cron_text, v);
}

static int parse_zone(Loader *l, const config_setting_t *s, const char *v, void *target) {
        int r = tzdb_get(l->tzdb, v, target);
        if (r < 0 && r != -ENOMEM)
                return error_at(l, s, "timezone: %s '%s'", tz_error_message(r), v);
        return r;
}

static int parse_engine(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (!engine_find(v)) {
                char known[128] = "";
                for (const Engine *const *e = engine_table; *e; e++)
                        strcat(strcat(known, e == engine_table ? "" : ", "), (*e)->name); /* short, fixed */
                return error_at(l, s, "engine: unknown engine '%s' (known: %s)", v, known);
        }
        return set_string(target, v);
}

/* What goes into a URL path as one segment as is: Fusion's ids (a job configuration, an app, a realm). */
static int parse_path_segment(Loader *l, const config_setting_t *s, const char *v, void *target) {
        size_t len = strlen(v);
        if (len < 1 || len > 128 ||
            v[strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")] != '\0' ||
            strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
                return error_at(l, s,
                                "%s: '%s' is not a valid id: use 1-128 characters of A-Z a-z 0-9 _ . -",
                                config_setting_name(s), v);
        return set_string(target, v);
}

/* A file that must exist (`udf`, `ca_file`), relative to the directory of the file that names it. */
static int parse_existing_file(Loader *l, const config_setting_t *s, const char *v, void *target) {
        /* checked as the user spells it, so that the message names a path they recognise */
        _cleanup_free_ char *shown = path_join(l->dir, v);
        const char *name = config_setting_name(s);
        struct stat st;
        if (!shown)
                return -ENOMEM;
        if (v[0] == '\0')
                return error_at(l, s, "%s: must not be empty", name);
        if (stat(shown, &st) < 0)
                return error_at(l, s, "%s: cannot access '%s': %s", name, shown, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return error_at(l, s, "%s: '%s' is not a regular file", name, shown);
        char *abs = path_join(l->abs_dir, v);
        if (!abs)
                return -ENOMEM;
        free(*(char **) target);
        *(char **) target = abs;
        return 0;
}

static int parse_entrypoint(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (!valid_identifier(v, strlen(v)))
                return error_at(l, s, "entrypoint: '%s' is not a Python function name", v);
        return set_string(target, v);
}

static int parse_working_directory(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (v[0] != '/')
                return error_at(l, s, "working_directory: '%s' is not an absolute path", v);
        return set_string(target, v);
}

/* Records what is wrong with the ${...} references of template v, if anything. The template module
 * expands them at dispatch, with the same parser: a typo must fail the load, not every run. */
static int check_template(Loader *l, const config_setting_t *s, const char *what, const char *v) {
        _cleanup_free_ char *error = NULL;
        int r = params_check(v, &error);
        if (r == -EINVAL)
                return error_at(l, s, "%s: %s", what, error ?: "invalid reference");
        return r;
}

/* A shell line or a list/array of strings (argv), each a template like a parameter; whether that fits
 * `shell` is checked per schedule. */
static int parse_command(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **argv = NULL;
        size_t n = 0;
        int r;

        if (v) {
                if ((r = check_template(l, s, "command", v)) < 0 ||
                    (r = strv_push(&argv, &n, strdup(v))) < 0)
                        return r;
        } else if (config_setting_is_array(s) || config_setting_is_list(s)) {
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        const char *arg = config_setting_get_string(e);
                        char what[32];
                        snprintf(what, sizeof what, "command: element %d", i + 1);
                        if (!arg)
                                return error_at(l, e, "%s: expected a string, got %s", what, type_name(e));
                        if ((r = check_template(l, e, what, arg)) < 0 ||
                            (r = strv_push(&argv, &n, strdup(arg))) < 0)
                                return r;
                }
        } else
                return type_error(l, s, "a list of strings [\"/path/prog\", \"arg\"] or a shell line");
        if (n == 0 || argv[0][0] == '\0')
                return error_at(l, s, "command: names no program");
        return set_strv(target, TAKE_PTR(argv));
}

static int parse_environment(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **env = NULL;
        size_t n = 0;
        int r = 0;

        (void) v;
        if (!config_setting_is_group(s))
                return type_error(l, s, "a group { NAME = \"value\"; }");
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                const char *name = config_setting_name(e);
                char *entry;
                /* libconfig names may hold '-' and '*', which no shell accepts in a variable name */
                if (!valid_identifier(name, strlen(name)))
                        r = error_at(l, e, "environment: '%s' is not a valid variable name", name);
                else if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        r = error_at(l, e, "environment: %s: expected a string, got %s", name, type_name(e));
                else if (asprintf(&entry, "%s=%s", name, config_setting_get_string(e)) < 0 ||
                         strv_push(&env, &n, entry) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        return set_strv(target, TAKE_PTR(env));
}

/* getpwnam_r()/getgrnam_r() need a buffer of unknown size: grow it until the entry fits. */
static int lookup_account(const char *name, bool is_group, uid_t *ret_uid, gid_t *ret_gid) {
        for (size_t size = 1024; size <= 1024 * 1024; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                struct passwd pw, *p = NULL;
                struct group gr, *g = NULL;
                if (!buf)
                        return -ENOMEM;
                int r = is_group ? getgrnam_r(name, &gr, buf, size, &g)
                                 : getpwnam_r(name, &pw, buf, size, &p);
                if (r == ERANGE)
                        continue;
                if (!p && !g)
                        return r > 0 ? -r : -ENOENT;
                if (p && ret_uid)
                        *ret_uid = p->pw_uid;
                *ret_gid = p ? p->pw_gid : g->gr_gid;
                return 0;
        }
        return -ERANGE;
}

/* `user` sets uid, and the primary group unless `group` set one: keys may come in either order. */
static int parse_account(Loader *l, const config_setting_t *s, const char *v, void *target) {
        Schedule *sch = target;
        bool is_group = strcmp(config_setting_name(s), "group") == 0;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;

        int r = lookup_account(v, is_group, &uid, &gid);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_at(l, s, "%s: unknown %s '%s'", config_setting_name(s),
                                is_group ? "group" : "user", v);
        if (!is_group)
                sch->uid = uid;
        if (is_group || sch->gid == (gid_t) -1)
                sch->gid = gid;
        return 0;
}

/* Converts a libconfig value to JSON; `path` ("params.a[2]") names it in messages. Reports every bad
 * reference, not only the first. */
static int params_to_json(Loader *l, const config_setting_t *s, const char *path, cJSON **ret) {
        const char *str = config_setting_get_string(s);
        bool group = config_setting_is_group(s);
        cJSON *j = NULL;
        int r = 0;

        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING:
                if ((r = check_template(l, s, path, str)) < 0)
                        return r;
                j = cJSON_CreateString(str);
                break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: /* JSON numbers are doubles: integers beyond 2^53 lose precision */
                j = cJSON_CreateNumber((double) config_setting_get_int64(s));
                break;
        case CONFIG_TYPE_FLOAT:
                j = cJSON_CreateNumber(config_setting_get_float(s));
                break;
        case CONFIG_TYPE_BOOL:
                j = cJSON_CreateBool(config_setting_get_bool(s));
                break;
        default: /* group, array, list */
                if (!(j = group ? cJSON_CreateObject() : cJSON_CreateArray()))
                        return -ENOMEM;
                for (int i = 0; i < config_setting_length(s) && r != -ENOMEM; i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        _cleanup_free_ char *sub = NULL;
                        cJSON *v = NULL;
                        int k = group ? asprintf(&sub, "%s.%s", path, config_setting_name(e))
                                      : asprintf(&sub, "%s[%d]", path, i);
                        if (k >= 0)
                                k = params_to_json(l, e, sub, &v);
                        else
                                k = -ENOMEM;
                        if (k >= 0 && !(group ? cJSON_AddItemToObject(j, config_setting_name(e), v)
                                              : cJSON_AddItemToArray(j, v))) {
                                cJSON_Delete(v);
                                k = -ENOMEM;
                        }
                        if (k < 0 && r != -ENOMEM)
                                r = k;
                }
        }
        if (r < 0 || !j) {
                cJSON_Delete(j);
                return r < 0 ? r : -ENOMEM;
        }
        *ret = j;
        return 0;
}

/* s as JSON (params_to_json()) in *(cJSON **) target, in place of what was there. */
static int set_json(Loader *l, const config_setting_t *s, void *target) {
        cJSON *j;
        int r = params_to_json(l, s, config_setting_name(s), &j);
        if (r < 0)
                return r;
        cJSON_Delete(*(cJSON **) target);
        *(cJSON **) target = j;
        return 0;
}

static int parse_params(Loader *l, const config_setting_t *s, const char *v, void *target) {
        (void) v;
        if (!config_setting_is_group(s))
                return type_error(l, s, "a group { key = value; ... }");
        return set_json(l, s, target);
}

static int parse_arg_name(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (!valid_identifier(v, strlen(v)))
                return error_at(l, s, "arg_name: '%s' is not a Python parameter name", v);
        return set_string(target, v);
}

/* An arg_list file, named relative to the schedule file: a JSON array or NDJSON (arglist.h). */
static int load_arg_list_file(Loader *l, const config_setting_t *s, const char *name, Fanout *fanout) {
        _cleanup_free_ char *shown = path_join(l->dir, name), *text = NULL, *why = NULL;
        struct stat st;
        unsigned line = 0;
        size_t size;

        if (!shown)
                return -ENOMEM;
        if (name[0] == '\0')
                return error_at(l, s, "arg_list: must not be empty");
        _cleanup_close_ int fd = open(shown, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return error_at(l, s, "arg_list: cannot read '%s': %s", shown, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return error_at(l, s, "arg_list: '%s' is not a regular file", shown);
        int r = read_full_fd(fd, ARGLIST_FILE_MAX, &text, &size);
        if (r == -EFBIG)
                return error_at(l, s, "arg_list: '%s' is larger than %d MiB", shown, ARGLIST_FILE_MAX >> 20);
        if (r < 0 && r != -ENOMEM)
                return error_at(l, s, "arg_list: cannot read '%s': %s", shown, strerror(-r));
        if (r >= 0)
                r = arglist_parse(text, size, fanout->arg_name, &fanout->arg_list, &line, &why);
        if (r == -EINVAL)
                return error_line(l, shown, line, "arg_list: %s", why);
        return r;
}

/*
 * arg_list: a file, or written inline as a list of groups (argument sets) or of values (each the value
 * of arg_name); inline strings are templates, like those in params. Read once the other keys are (it
 * needs arg_name).
 */
static int load_arg_list(Loader *l, const config_setting_t *s, Fanout *fanout) {
        const char *file = config_setting_get_string(s);
        _cleanup_(json_freep) cJSON *list = NULL;
        int r = 0;

        if (file)
                return load_arg_list_file(l, s, file, fanout);
        if (!config_setting_is_list(s) && !config_setting_is_array(s))
                return type_error(l, s, "a list ( { ... }, { ... } ), an array [ ... ] or a file name");
        if (config_setting_length(s) > ARGLIST_ITEMS_MAX)
                return error_at(l, s, "arg_list: more than %d items", ARGLIST_ITEMS_MAX);
        if (!(list = cJSON_CreateArray()))
                return -ENOMEM;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                _cleanup_free_ char *why = NULL;
                char what[32];
                cJSON *item, *set;

                snprintf(what, sizeof what, "arg_list[%d]", i);
                int k = params_to_json(l, e, what, &item);
                if (k >= 0 && (k = arglist_item(item, fanout->arg_name, &set, &why)) == -EINVAL)
                        k = error_at(l, e, "%s: %s", what, why);
                if (k >= 0 && !cJSON_AddItemToArray(list, set)) {
                        cJSON_Delete(set);
                        k = -ENOMEM;
                }
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        r = k;
        }
        if (r < 0)
                return r;
        fanout->arg_list = TAKE_PTR(list);
        fanout->arg_list_templates = true;
        return 0;
}

/* ---------------------------------------------------------------- the `fused` group of a schedule */

/* An http(s) URL without a trailing slash (paths are appended to it). */
static int parse_url(Loader *l, const config_setting_t *s, const char *v, void *target) {
        const char *name = config_setting_name(s);
        size_t len = strlen(v);
        if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
                return error_at(l, s, "%s: '%s' is not an http:// or https:// URL", name, v);
        if (strpbrk(v, "?#@ "))
                return error_at(l, s, "%s: '%s': no query, fragment, user info or blanks, please", name, v);
        int r = set_string(target, v);
        if (r >= 0 && len > 0 && (*(char **) target)[len - 1] == '/')
                (*(char **) target)[len - 1] = '\0';
        return r;
}

/* A string template such as "${secret:fused-token}": checked now, expanded at dispatch. */
static int parse_template(Loader *l, const config_setting_t *s, const char *v, void *target) {
        int r = check_template(l, s, config_setting_name(s), v);
        return r < 0 ? r : set_string(target, v);
}

/* "owner/name" of a saved UDF: two non-empty parts. */
static int parse_saved_udf(Loader *l, const config_setting_t *s, const char *v, void *target) {
        const char *slash = strchr(v, '/');
        if (!slash || slash == v || !slash[1] || strchr(slash + 1, '/'))
                return error_at(l, s, "udf: '%s' is not owner/name (e.g. \"user@example.com/rollup\" or "
                                      "\"team/rollup\")",
                                v);
        return set_string(target, v);
}

static int parse_shared_token(Loader *l, const config_setting_t *s, const char *v, void *target) {
        if (!v[0] || strpbrk(v, "/?#% "))
                return error_at(l, s, "shared_token: '%s' is not a token such as \"fsh_...\"", v);
        return set_string(target, v);
}

/* A group { NAME = "value"; } or a list [ "NAME=value" ]: a job's additional environment. */
static int parse_additional_env(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **env = NULL;
        size_t n = 0;

        if (config_setting_is_group(s))
                return parse_environment(l, s, v, target);
        if (!config_setting_is_array(s) && !config_setting_is_list(s))
                return type_error(l, s, "a group { NAME = \"value\"; } or a list [ \"NAME=value\" ]");
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                const char *item = config_setting_get_string(e), *eq = item ? strchr(item, '=') : NULL;
                if (!eq || !valid_identifier(item, (size_t) (eq - item)))
                        return error_at(l, e, "additional_env: element %d: expected \"NAME=value\"", i + 1);
                if (strv_push(&env, &n, strdup(item)) < 0)
                        return -ENOMEM;
        }
        return set_strv(target, TAKE_PTR(env));
}

/* A batch job's inputs: a list of values (groups, strings, numbers), one per task. */
static int parse_inputs(Loader *l, const config_setting_t *s, const char *v, void *target) {
        (void) v;
        if (!config_setting_is_list(s) && !config_setting_is_array(s))
                return type_error(l, s, "a list ( { day = \"...\"; }, ... ), one element per task");
        if (config_setting_length(s) == 0)
                return error_at(l, s, "inputs: empty: a job needs at least one task");
        return set_json(l, s, target);
}

#define F(f) offsetof(FusedSchedule, f)
static const Key fused_schedule_keys[] = {
        { "udf", KEY_STRING, F(saved_udf), 0, 0, parse_saved_udf, NULL, "a saved UDF, owner/name" },
        { "shared_token", KEY_STRING, F(shared_token), 0, 0, parse_shared_token, NULL, "a shared UDF" },
        { "mode", KEY_ENUM, F(mode), 0, 0, NULL, fused_mode_names, "realtime or batch" },
        { "instance_type", KEY_STRING, F(instance_type), 0, 0, NULL, NULL, "batch instance" },
        { "region", KEY_STRING, F(region), 0, 0, NULL, NULL, "batch region" },
        { "disk_size_gb", KEY_UINT, F(disk_size_gb), 1, 65536, NULL, NULL, "batch disk" },
        { "additional_env", KEY_CUSTOM, F(additional_env), 0, 0, parse_additional_env, NULL, "batch env" },
        { "image", KEY_STRING, F(image), 0, 0, NULL, NULL, "batch image_name" },
        { "format", KEY_STRING, F(format), 0, 0, NULL, NULL, "result formats" },
        { "inputs", KEY_CUSTOM, F(inputs), 0, 0, parse_inputs, NULL, "batch: one per task" },
        { "base_url", KEY_STRING, F(base_url), 0, 0, parse_url, NULL, "another Fused environment" },
        { "token", KEY_STRING, F(token), 0, 0, parse_template, NULL, "its token" },
};
#undef F

static int parse_fused_schedule(Loader *l, const config_setting_t *s, const char *v, void *target) {
        (void) v;
        return apply_group(l, s, fused_schedule_keys, ELEMENTSOF(fused_schedule_keys), target,
                           "a group { udf = \"owner/name\"; mode = \"batch\"; ... }");
}

/* ---------------------------------------------------------------- the `fusion` group of a schedule */

#define F(f) offsetof(FusionSchedule, f)
static const Key fusion_schedule_keys[] = {
        { "job", KEY_STRING, F(job), 0, 0, parse_path_segment, NULL, "a Spark job configuration's id" },
        { "jobs_api", KEY_BOOL, F(jobs_api), 0, 0, NULL, NULL, "start and stop via the Jobs API" },
};
#undef F

static int parse_fusion_schedule(Loader *l, const config_setting_t *s, const char *v, void *target) {
        (void) v;
        return apply_group(l, s, fusion_schedule_keys, ELEMENTSOF(fusion_schedule_keys), target,
                           "a group { job = \"daily-rollup\"; }");
}

/*
 * A storage URL template (`output`, or a step's `input`): checked like a parameter, with a literal scheme
 * that a configured storage instance serves. No secrets: the URL is logged.
 */
static int parse_storage_url(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **secrets = NULL;
        const char *key = config_setting_name(s);
        char scheme[URL_SCHEME_MAX];
        size_t n_secrets = 0;
        int r;

        /* "${output:extract}" is the URL of an earlier step: its scheme was checked there */
        bool step_output = strncmp(v, "${output:", 9) == 0;

        if ((r = check_template(l, s, key, v)) < 0)
                return r;
        if ((r = params_collect_secrets(v, &secrets, &n_secrets)) < 0)
                return r;
        if (n_secrets > 0)
                return error_at(l, s, "%s: ${secret:%s} has no place in a URL, which is logged", key,
                                secrets[0]);
        if (!step_output && url_scheme(v, scheme) < 0)
                return error_at(l, s, "%s: '%s' is not a URL such as \"file:///srv/out/${run_id}.json\"",
                                key, v);
        if (!step_output && !config_find_storage(l->config, scheme) && !l->storage_failed)
                return error_at(l, s,
                                "%s: no storage instance serves %s:// URLs (configure one in %s, e.g. "
                                "storage = { file = { root = \"/srv/udfcron\"; }; };)",
                                key, scheme, l->config->path);
        return set_string(target, v);
}

static int parse_steps(Loader *l, const config_setting_t *s, const char *v, void *target);
static int check_no_step_references(Loader *l, const config_setting_t *g, const Schedule *s);

/* One name or a list of names of instances of the `credentials` group, whose environment runs get. */
static int parse_credentials(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (!v && !config_setting_is_array(s) && !config_setting_is_list(s))
                return type_error(l, s, "a list of credentials instances such as [\"gcs\"]");
        for (int i = 0; v ? i < 1 : i < config_setting_length(s); i++) {
                const config_setting_t *e = v ? s : config_setting_get_elem(s, i);
                const char *name = config_setting_get_string(e);
                if (!name) {
                        r = error_at(l, e, "credentials: element %d: expected a string, got %s", i + 1,
                                     type_name(e));
                        continue;
                }
                if (strv_contains(names, name)) {
                        r = error_at(l, e, "credentials: '%s' is named twice", name);
                        continue;
                }
                if (!config_find_instance(l->config, PLUGIN_CREDENTIALS, name) && !l->credentials_failed) {
                        r = error_at(l, e,
                                     "credentials: no instance '%s' in the credentials group of %s (e.g. "
                                     "credentials = { %s = { plugin = \"gcs\"; }; };)",
                                     name, l->config->path, name);
                        continue;
                }
                if (strv_push(&names, &n, strdup(name)) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        return set_strv(target, TAKE_PTR(names));
}

#define S(f) offsetof(Schedule, f)
static const Key schedule_keys[] = {
        { "name", KEY_STRING, S(name), 0, 0, parse_name, NULL, "unique, 1-64 of [A-Za-z0-9_.@-]" },
        { "cron", KEY_STRING, 0, 0, 0, parse_cron, NULL, "when it fires" },
        { "timezone", KEY_STRING, S(zone), 0, 0, parse_zone, NULL, "IANA zone name" },
        { "enabled", KEY_BOOL, S(enabled), 0, 0, NULL, NULL, "false: loaded, never fired" },
        { "engine", KEY_STRING, S(engine), 0, 0, parse_engine, NULL, "where it runs" },
        { "udf", KEY_STRING, S(udf_path), 0, 0, parse_existing_file, NULL, "Python file" },
        { "entrypoint", KEY_STRING, S(entrypoint), 0, 0, parse_entrypoint, NULL, "function in udf" },
        { "command", KEY_CUSTOM, S(command), 0, 0, parse_command, NULL, "argv, or a line with shell" },
        { "shell", KEY_BOOL, S(shell), 0, 0, NULL, NULL, "run command with /bin/sh -c" },
        { "params", KEY_CUSTOM, S(params), 0, 0, parse_params, NULL, "passed to the run as JSON" },
        { "working_directory", KEY_STRING, S(working_directory), 0, 0, parse_working_directory, NULL,
          "cwd" },
        { "environment", KEY_CUSTOM, S(environment), 0, 0, parse_environment, NULL, "added variables" },
        { "user", KEY_STRING, 0, 0, 0, parse_account, NULL, "run as this user" },
        { "group", KEY_STRING, 0, 0, 0, parse_account, NULL, "run with this group" },
        { "nice", KEY_INT, S(nice), -20, 19, NULL, NULL, "added niceness" },
        { "arg_list", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "fan-out: argument sets, or their file" },
        { "arg_name", KEY_STRING, S(fanout.arg_name), 0, 0, parse_arg_name, NULL, "what plain items set" },
        { "max_workers", KEY_UINT, S(fanout.max_workers), 1, 1000, NULL, NULL, "tasks at once" },
        { "max_retry", KEY_UINT, S(fanout.max_retry), 0, 100, NULL, NULL, "extra attempts of a task" },
        { "ignore_exceptions", KEY_BOOL, S(fanout.ignore_exceptions), 0, 0, NULL, NULL, "failures: null" },
        { "collect", KEY_ENUM, S(fanout.collect), 0, 0, NULL, collect_format_names, "joined results" },
        { "output", KEY_STRING, S(output), 0, 0, parse_storage_url, NULL, "storage URL of the result" },
        { "credentials", KEY_CUSTOM, S(credentials), 0, 0, parse_credentials, NULL, "their environment" },
        { "fused", KEY_CUSTOM, S(fused), 0, 0, parse_fused_schedule, NULL, "engine fused: what, how" },
        { "fusion", KEY_CUSTOM, S(fusion), 0, 0, parse_fusion_schedule, NULL, "engine fusion: which job" },
        { "steps", KEY_CUSTOM, 0, 0, 0, parse_steps, NULL, "a pipeline: steps run one after another" },
};
#undef S

/* ---------------------------------------------------------------- schedules */

/* Reports each of `keys` that group g sets as one that "only applies `condition`". */
static void check_only_applies(Loader *l, const config_setting_t *g, const char *const *keys, size_t n_keys,
                               const char *condition) {
        for (size_t i = 0; i < n_keys; i++) {
                const config_setting_t *k = config_setting_get_member(g, keys[i]);
                if (k)
                        (void) error_at(l, k, "%s: only applies %s", keys[i], condition);
        }
}

/* A schedule of the fused engine runs one UDF, remotely: what only makes sense for a local child, or for a
 * batch job, is an error rather than silently ignored. */
static void finish_fused(Loader *l, const config_setting_t *g, const Schedule *s, const char *what) {
        static const char *const local_only[] = { "command", "shell", "working_directory", "environment",
                                                  "user", "group", "nice" };
        static const char *const batch_only[] = { "instance_type", "region", "disk_size_gb", "additional_env",
                                                  "image", "inputs" };
        const config_setting_t *fused = config_setting_get_member(g, "fused");
        const FusedSchedule *f = &s->fused;
        unsigned udfs = !!config_setting_get_member(g, "udf") + !!f->saved_udf + !!f->shared_token;

        check_only_applies(l, g, local_only, ELEMENTSOF(local_only), "to engine \"local\"");
        if (fused && f->mode != FUSED_MODE_BATCH)
                check_only_applies(l, fused, batch_only, ELEMENTSOF(batch_only), "with mode = \"batch\"");
        if (udfs == 0)
                (void) error_at(l, g,
                                "%s has nothing to run: set udf (a file, posted as code), fused.udf "
                                "(\"owner/name\") or fused.shared_token",
                                what);
        else if (udfs > 1)
                (void) error_at(l, fused ?: g, "%s: set only one of udf, fused.udf and fused.shared_token", what);
        /* a shared token's realtime run is the one call that needs no credentials */
        if (!f->token && !l->config->settings.fused.token && (f->mode == FUSED_MODE_BATCH || !f->shared_token))
                (void) error_at(l, g,
                                "%s needs a Fused token: set token = \"${secret:NAME}\" in the engines.fused "
                                "group of udfcrond.conf (or in the schedule's fused group)",
                                what);
}

/* A schedule of the fusion engine runs a Spark job configuration, and none of what a local child has. */
static void finish_fusion(Loader *l, const config_setting_t *g, const Schedule *s, const char *what) {
        static const char *const local_only[] = { "udf",         "entrypoint",        "command", "shell",
                                                  "params",      "working_directory", "user",    "group",
                                                  "environment", "nice" };

        check_only_applies(l, g, local_only, ELEMENTSOF(local_only), "to engine \"local\"");
        if (!s->fusion.job)
                (void) error_at(l, config_setting_get_member(g, "fusion") ?: g,
                                "%s has nothing to run: set fusion = { job = \"...\"; } (the id of a Spark job "
                                "configuration)",
                                what);
        if (!l->config->settings.fusion.configured)
                (void) error_at(l, config_setting_get_member(g, "engine"),
                                "engine: \"fusion\" needs the engines.fusion group in udfcrond.conf (base_url, "
                                "auth, ...)");
}

/* Checks what spans several keys of schedule group g, and fills in defaults. */
static int finish_schedule(Loader *l, const config_setting_t *g, Schedule *s) {
        const config_setting_t *udf = config_setting_get_member(g, "udf"),
                               *cmd = config_setting_get_member(g, "command"),
                               *shell = config_setting_get_member(g, "shell"),
                               *entrypoint = config_setting_get_member(g, "entrypoint"),
                               *name = config_setting_get_member(g, "name"),
                               *arg_list = config_setting_get_member(g, "arg_list"),
                               *steps = config_setting_get_member(g, "steps"), *p;
        static const char *const fanout_keys[] = { "arg_name", "max_workers", "max_retry",
                                                   "ignore_exceptions", "collect" };
        bool fusion = s->engine && strcmp(s->engine, "fusion") == 0;
        char what[SCHEDULE_NAME_MAX + 16] = "schedule";

        if (s->name)
                snprintf(what, sizeof what, "schedule '%s'", s->name);
        if (!name)
                (void) error_at(l, g, "schedule has no name: add name = \"...\"");
        if (!config_setting_get_member(g, "cron"))
                (void) error_at(l, g, "%s has no cron expression: add cron = \"...\"", what);
        if (!fusion && config_setting_get_member(g, "fusion"))
                (void) error_at(l, config_setting_get_member(g, "fusion"),
                                "fusion: only applies with engine = \"fusion\"");
        if (steps && s->engine && strcmp(s->engine, "local") != 0)
                (void) error_at(l, steps,
                                "steps: a pipeline runs on engine \"local\" (its Fused job steps as Fused "
                                "batch jobs)");
        else if (s->engine && strcmp(s->engine, "fused") == 0)
                finish_fused(l, g, s, what);
        else if (config_setting_get_member(g, "fused"))
                (void) error_at(l, config_setting_get_member(g, "fused"),
                                "fused: only applies with engine = \"fused\"");
        else if (fusion)
                finish_fusion(l, g, s, what);
        else if ((udf || cmd) && steps)
                (void) error_at(l, steps, "%s has steps and %s: set only one", what,
                                udf ? "udf" : "command");
        else if (udf && cmd)
                (void) error_at(l, cmd, "%s has both udf and command: set only one", what);
        else if (!udf && !cmd && !steps)
                (void) error_at(l, g, "%s has nothing to run: set udf, command or steps", what);
        if (steps && (p = config_setting_get_member(g, "params")))
                (void) error_at(l, p, "params: a pipeline's parameters belong to its steps");
        if (steps && (p = config_setting_get_member(g, "output")))
                (void) error_at(l, p, "output: a pipeline's outputs belong to its steps");
        if (entrypoint && !udf && !fusion)
                (void) error_at(l, entrypoint, "entrypoint: only applies with udf");
        if (shell && !cmd && !fusion)
                (void) error_at(l, shell, "shell: only applies with command");
        if (config_setting_get_member(g, "credentials") && s->engine && strcmp(s->engine, "local") != 0)
                /* the variables name files on this host: a remote job could not use them */
                (void) error_at(l, config_setting_get_member(g, "credentials"),
                                "credentials: only applies with engine = \"local\"");
        if (!arg_list)
                check_only_applies(l, g, fanout_keys, ELEMENTSOF(fanout_keys), "with arg_list");
        if (arg_list && (cmd || fusion || steps))
                (void) error_at(l, arg_list, "arg_list: only UDF schedules fan out (%s)",
                                cmd     ? "a command has no result"
                                : steps ? "a pipeline's steps run once each"
                                        : "a Spark job takes no parameters");
        else if (arg_list && s->engine && strcmp(s->engine, "fused") == 0 &&
                 s->fused.mode == FUSED_MODE_BATCH)
                (void) error_at(l, arg_list,
                                "arg_list: a batch job fans out by itself, one task per element of "
                                "fused.inputs: use that");
        else if (arg_list && load_arg_list(l, arg_list, &s->fanout) == -ENOMEM)
                return -ENOMEM;
        if (cmd && s->command && (config_setting_type(cmd) == CONFIG_TYPE_STRING) != s->shell)
                (void) error_at(l, cmd,
                                s->shell ? "command: with shell = true, write one string for /bin/sh -c"
                                         : "command: a single string needs shell = true; otherwise write "
                                           "a list such as [\"/bin/echo\", \"hello\"]");

        /* on the fused engine, a UDF by any of its three references */
        s->work = steps                                                   ? WORK_PIPELINE
                  : fusion                                                ? WORK_SPARK_JOB
                  : udf || (s->engine && strcmp(s->engine, "fused") == 0) ? WORK_UDF
                                                                          : WORK_COMMAND;
        (void) check_no_step_references(l, g, s);
        s->cron.dst_policy = (uint8_t) s->policy.dst;
        s->zone = s->zone ?: l->default_zone;
        if (name) /* "where it was defined" is where its name is: what duplicate errors point at */
                s->line = config_setting_source_line(name);
        if ((!s->engine && !(s->engine = strdup("local"))) ||
            (udf && !s->entrypoint && !(s->entrypoint = strdup("udf"))) ||
            (!s->params && !(s->params = cJSON_CreateObject())))
                return -ENOMEM;
        return 0;
}

static int load_schedule(Loader *l, const config_setting_t *g) {
        _cleanup_(schedule_freep) Schedule *s = calloc(1, sizeof(Schedule));
        if (!s || !(s->file = strdup(config_setting_source_file(g) ?: l->file)))
                return -ENOMEM;
        s->line = config_setting_source_line(g);
        s->enabled = true;
        s->uid = (uid_t) -1;
        s->gid = (gid_t) -1;
        s->policy = l->config->settings.defaults;
        s->fanout.max_workers = 32; /* as fused.submit */
        s->fanout.max_retry = 2;

        const KeyTable tables[] = {
                { schedule_keys, ELEMENTSOF(schedule_keys), s },
                { policy_keys, ELEMENTSOF(policy_keys), &s->policy },
        };
        apply_keys(l, g, tables, ELEMENTSOF(tables), NULL);
        if (l->oom || finish_schedule(l, g, s) < 0)
                return -ENOMEM;
        if (!s->name) /* nothing to report duplicates against */
                return 0;
        /* kept even when broken, so that a duplicate name is still reported */
        if (l->n_entries == l->n_entries_alloc) {
                size_t n = MAX(l->n_entries_alloc * 2, (size_t) 16);
                Entry *e = reallocarray(l->entries, n, sizeof(Entry));
                if (!e)
                        return -ENOMEM;
                l->entries = e;
                l->n_entries_alloc = n;
        }
        l->entries[l->n_entries] = (Entry){ TAKE_PTR(s), l->n_entries };
        l->n_entries++;
        return 0;
}

static int load_schedule_list(Loader *l, const config_setting_t *list) {
        /* an empty `[]` is an array, and harmless */
        if (!config_setting_is_list(list) &&
            !(config_setting_is_array(list) && config_setting_length(list) == 0))
                return type_error(l, list, "a list of groups: schedules = ( { ... }, { ... } );");
        for (int i = 0; i < config_setting_length(list); i++) {
                const config_setting_t *g = config_setting_get_elem(list, i);
                if (!config_setting_is_group(g))
                        (void) error_at(l, g, "schedules: element %d: expected a group { ... }, got %s",
                                        i + 1, type_name(g));
                else if (load_schedule(l, g) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ---------------------------------------------------------------- files */

/* libconfig's own limit: deeper chains fail to parse anyway */
#define INCLUDE_DEPTH_MAX 10

/*
 * libconfig 1.5 calls exit() when an @include names a directory, and blocks on a FIFO; so every
 * @include line (as its scanner matches them: at the start of a line) is checked first, down the
 * includes, in libconfig's order. Returns 0, 1 to stop where libconfig will fail on its own (a missing
 * file, too deep), or -EINVAL after reporting one. Lines inside comments count too: the safe side.
 */
static int check_includes(Loader *l, const char *file, const char *shown, unsigned depth) {
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        ssize_t len;
        struct stat st;
        int r = 0;

        if (!f)
                return 1;
        for (unsigned n = 1; r == 0 && (len = getline(&line, &size, f)) > 0; n++) {
                char *p = line + strspn(line, " \t"), *name, *out;
                /* text has none; and libconfig would read an include name only up to it */
                if (memchr(line, '\0', (size_t) len))
                        return error_line(l, shown, n, "contains a NUL byte: not a text file");
                if (strncmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
                        continue;
                p += 8 + strspn(p + 8, " \t");
                if (*p++ != '"')
                        continue;
                for (name = out = p; *p && *p != '"'; p++) /* the scanner's escapes: \\ and \" */
                        *out++ = p[0] == '\\' && (p[1] == '\\' || p[1] == '"') ? *++p : *p;
                if (*p != '"')
                        continue;
                *out = '\0';
                _cleanup_free_ char *path = NULL; /* libconfig 1.5 prefixes even absolute names */
                if (asprintf(&path, "%s/%s", l->dir, name) < 0)
                        return -ENOMEM;
                if (stat(path, &st) < 0 || depth >= INCLUDE_DEPTH_MAX)
                        return 1;
                if (!S_ISREG(st.st_mode))
                        return error_line(l, shown, n, "@include '%s': not a regular file", name);
                /* libconfig names an included file as it was written: so do its messages */
                r = check_includes(l, path, name, depth + 1);
        }
        return r;
}

/*
 * Reads `file` into c, and sets l's current file. Syntax errors go into the list, and so do errors
 * opening it, unless `fatal`: then they are returned (the main file: no config is not a config error).
 */
static int read_file(Loader *l, const char *file, bool fatal, config_t *c, char **ret_dir,
                     char **ret_abs_dir) {
        _cleanup_free_ char *dir = path_dirname(file), *abs = path_absolute(file), *abs_dir = NULL;
        struct stat st;

        if (!dir || !abs || !(abs_dir = path_dirname(abs)))
                return -ENOMEM;
        l->file = file;
        l->dir = *ret_dir = TAKE_PTR(dir);
        l->abs_dir = *ret_abs_dir = TAKE_PTR(abs_dir);

        /* libconfig only says "file I/O error" (or worse, see above): find out why first */
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return fatal ? -errno : error_line(l, file, 0, "cannot read: %s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return error_line(l, file, 0, "not a regular file");
        int r = check_includes(l, file, file, 0);
        if (r < 0)
                return r;

        config_set_include_dir(c, l->dir);
        if (!config_read_file(c, file))
                return error_line(l, config_error_file(c) ?: file, (unsigned) MAX(config_error_line(c), 0),
                                  "%s", config_error_text(c));
        return strv_push(&l->config->files, &l->n_files, TAKE_PTR(abs));
}

static int load_schedule_file(Loader *l, const char *file) {
        static const Key file_keys[] = { { "schedules", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "the schedules" } };
        const KeyTable t = { file_keys, 1, NULL };
        const char *saved[] = { l->file, l->dir, l->abs_dir }; /* the main file's, back after this one */
        _cleanup_free_ char *dir = NULL, *abs_dir = NULL;
        config_t c;

        config_init(&c);
        int r = read_file(l, file, false, &c, &dir, &abs_dir);
        if (r >= 0) {
                const config_setting_t *root = config_root_setting(&c);
                apply_keys(l, root, &t, 1, " (a schedule file holds only schedules = ( ... );)");
                if (config_setting_get_member(root, "schedules"))
                        r = load_schedule_list(l, config_setting_get_member(root, "schedules"));
        }
        config_destroy(&c);
        l->file = saved[0], l->dir = saved[1], l->abs_dir = saved[2];
        return r == -ENOMEM || l->oom ? -ENOMEM : 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name); /* byte order: the same in every locale */
}

static int conf_filter(const struct dirent *d) {
        size_t len = strlen(d->d_name);
        return d->d_name[0] != '.' && len > 5 && strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* `dir` as the user spells it; `setting` (may be NULL) is where they named it. */
static int load_schedules_directory(Loader *l, const char *dir, const config_setting_t *setting) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, conf_filter, name_cmp), r = 0;

        if (n < 0 && setting)
                return error_at(l, setting, "schedules_directory: cannot open '%s': %s", dir,
                                strerror(errno));
        if (n < 0)
                return error_line(l, l->file, 0, "cannot open schedules directory '%s': %s", dir,
                                  strerror(errno));
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *file = path_join(dir, names[i]->d_name);
                if (r >= 0)
                        r = file ? load_schedule_file(l, file) : -ENOMEM;
                free(names[i]);
        }
        free(names);
        return r;
}

/* ---------------------------------------------------------------- daemon settings */

static int parse_default_zone(Loader *l, const config_setting_t *s, const char *v, void *target) {
        int r = parse_zone(l, s, v, &l->default_zone);
        return r < 0 ? r : set_string(target, v);
}

static int parse_defaults(Loader *l, const config_setting_t *s, const char *v, void *target) {
        (void) v;
        return apply_group(l, s, policy_keys, ELEMENTSOF(policy_keys), target,
                           "a group { overlap = ...; timeout = ...; }");
}

static int parse_socket_mode(Loader *l, const config_setting_t *s, const char *v, void *target) {
        size_t len = strlen(v);
        char *end;
        unsigned long mode = strtoul(v, &end, 8);
        if (len == 0 || len > 4 || *end != '\0' || v[strspn(v, "01234567")] != '\0' || mode > 0777)
                return error_at(l, s, "control_socket_mode: '%s' is not an octal mode such as \"0660\"", v);
        *(unsigned *) target = (unsigned) mode;
        return 0;
}

static int parse_control_group(Loader *l, const config_setting_t *s, const char *v, void *target) {
        DaemonSettings *d = target;
        int r = lookup_account(v, true, NULL, &d->control_gid);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_at(l, s, "control_group: unknown group '%s'", v);
        return set_string(&d->control_group, v);
}

static int parse_control_timeout(Loader *l, const config_setting_t *s, const char *v, void *target) {
        uint64_t usec;
        int r = parse_duration(l, s, &usec);
        (void) v;
        if (r < 0)
                return r;
        if (usec == 0)
                return error_at(l, s, "control_timeout: must be at least 1s");
        *(uint64_t *) target = usec;
        return 0;
}

/* Duration `key` of group g (its value: `usec`), when set, is a period or a timeout that 0s would break.
 * Checked once the group is read, after the errors of its keys. */
static void check_at_least_1s(Loader *l, const config_setting_t *g, const char *key, uint64_t usec) {
        const config_setting_t *m = config_setting_get_member(g, key);
        if (m && usec < USEC_PER_SEC)
                (void) error_at(l, m, "%s: must be at least 1s", key);
}

/* ---------------------------------------------------------------- the `http` group */

/* The largest reply kept in memory: a result bigger than this belongs in storage, not in a reply. */
#define REPLY_SIZE_MAX (UINT64_C(1) << 30)

/* A byte count: an integer, or a string of digits with an optional binary unit: "512K", "64M", "1G". */
static int parse_size(Loader *l, const config_setting_t *s, const char *v, void *target) {
        const char *name = config_setting_name(s);
        uint64_t n, unit = 1;

        if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
                long long bytes = config_setting_get_int64(s);
                n = bytes < 1 ? 0 : (uint64_t) bytes;
        } else if (v) {
                size_t digits = strspn(v, "0123456789");
                const char *suffix = v + digits;
                if (digits == 0 || digits > 10 || (suffix[0] && (suffix[1] || !strchr("KMG", suffix[0]))))
                        return error_at(l, s,
                                        "%s: \"%s\" is not a size (write e.g. \"512K\", \"64M\" or \"1G\")",
                                        name, v);
                unit = suffix[0] == 'K'   ? 1 << 10
                       : suffix[0] == 'M' ? 1 << 20
                       : suffix[0] == 'G' ? 1 << 30
                                          : 1;
                n = strtoull(v, NULL, 10);
        } else
                return type_error(l, s, "a size such as \"64M\"");
        if (n == 0 || n > REPLY_SIZE_MAX / unit)
                return error_at(l, s, "%s: out of range 1..1G", name);
        *(uint64_t *) target = n * unit;
        return 0;
}

#define H(f) offsetof(HttpSettings, f)
static const Key http_keys[] = {
        { "ca_file", KEY_STRING, H(ca_file), 0, 0, parse_existing_file, NULL, "PEM bundle of trusted CAs" },
        { "connect_timeout", KEY_DURATION, H(connect_timeout_usec), 0, 0, NULL, NULL, "TCP and TLS setup" },
        { "timeout", KEY_DURATION, H(timeout_usec), 0, 0, NULL, NULL, "one attempt, whole" },
        { "low_speed_limit", KEY_UINT, H(low_speed_limit), 0, 1 << 30, NULL, NULL, "bytes per second" },
        { "low_speed_time", KEY_DURATION, H(low_speed_time_usec), 0, 0, NULL, NULL,
          "below the limit this long" },
        { "max_reply_size", KEY_CUSTOM, H(max_reply_size), 0, 0, parse_size, NULL, "larger replies fail" },
        { "retries", KEY_UINT, H(retries), 0, 100, NULL, NULL, "attempts after the first" },
        { "retry_backoff", KEY_DURATION, H(retry_backoff_usec), 0, 0, NULL, NULL, "first retry delay" },
        { "retry_backoff_max", KEY_DURATION, H(retry_backoff_max_usec), 0, 0, NULL, NULL, "delay cap" },
        { "max_connections_per_host", KEY_UINT, H(max_connections_per_host), 1, 10000, NULL, NULL, "pool" },
};
#undef H

static int parse_http(Loader *l, const config_setting_t *s, const char *v, void *target) {
        const HttpSettings *h = target;
        int r = apply_group(l, s, http_keys, ELEMENTSOF(http_keys), target,
                            "a group { timeout = ...; retries = ...; }");
        (void) v;

        if (r < 0)
                return r;
        check_at_least_1s(l, s, "connect_timeout", h->connect_timeout_usec);
        check_at_least_1s(l, s, "timeout", h->timeout_usec);
        /* either may be the one left at its default */
        if (h->retry_backoff_max_usec < h->retry_backoff_usec)
                (void) error_at(l,
                                config_setting_get_member(s, "retry_backoff_max")
                                        ?: config_setting_get_member(s, "retry_backoff"),
                                "retry_backoff_max: shorter than retry_backoff");
        return 0;
}

/* ---------------------------------------------------------------- the `engines` group */

#define U(f) offsetof(FusedSettings, f)
static const Key fused_settings_keys[] = {
        { "base_url", KEY_STRING, U(base_url), 0, 0, parse_url, NULL, "the API" },
        { "shared_base_url", KEY_STRING, U(shared_base_url), 0, 0, parse_url, NULL, "shared-token runs" },
        { "token", KEY_STRING, U(token), 0, 0, parse_template, NULL, "\"${secret:NAME}\"" },
        { "realtime_client_id", KEY_STRING, U(realtime_client_id), 0, 0, NULL, NULL, "realtime instance" },
        { "instance_type", KEY_STRING, U(instance_type), 0, 0, NULL, NULL, "batch default" },
        { "region", KEY_STRING, U(region), 0, 0, NULL, NULL, "batch default" },
        { "disk_size_gb", KEY_UINT, U(disk_size_gb), 1, 65536, NULL, NULL, "batch default" },
        { "poll_interval", KEY_DURATION, U(poll_interval_usec), 0, 0, NULL, NULL, "batch status and log" },
        { "quiet_log_interval", KEY_DURATION, U(quiet_log_interval_usec), 0, 0, NULL, NULL, "a quiet log" },
        { "realtime_timeout", KEY_DURATION, U(realtime_timeout_usec), 0, 0, NULL, NULL, "one realtime call" },
        { "send_status_email", KEY_BOOL, U(send_status_email), 0, 0, NULL, NULL, "mail the job's end" },
        { "cache", KEY_BOOL, U(cache), 0, 0, NULL, NULL, "cached realtime answers" },
};
#undef U

static int parse_fused_settings(Loader *l, const config_setting_t *s, const char *v, void *target) {
        const FusedSettings *f = target;
        int r = apply_group(l, s, fused_settings_keys, ELEMENTSOF(fused_settings_keys), target,
                            "a group { token = \"${secret:NAME}\"; ... }");
        (void) v;

        if (r < 0)
                return r;
        check_at_least_1s(l, s, "poll_interval", f->poll_interval_usec);
        const config_setting_t *m = config_setting_get_member(s, "quiet_log_interval");
        if (m && f->quiet_log_interval_usec < f->poll_interval_usec)
                (void) error_at(l, m, "quiet_log_interval: shorter than poll_interval");
        check_at_least_1s(l, s, "realtime_timeout", f->realtime_timeout_usec);
        return 0;
}

const char *const fusion_auth_names[_FUSION_AUTH_MAX + 1] = {
        [FUSION_AUTH_BASIC] = "basic",
        [FUSION_AUTH_SESSION] = "session",
        [FUSION_AUTH_BEARER] = "bearer",
        [FUSION_AUTH_API_KEY] = "api_key",
};

/* A path such as "/api" or "/api/apollo", kept without a trailing slash ("/" becomes ""). */
static int parse_api_prefix(Loader *l, const config_setting_t *s, const char *v, void *target) {
        size_t len = strlen(v);
        if (v[0] != '/' || strstr(v, "//") ||
            v[strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")] != '\0')
                return error_at(l, s, "api_prefix: '%s' is not a path such as \"/api\" or \"/api/apollo\"",
                                v);
        int r = set_string(target, v);
        if (r >= 0 && v[len - 1] == '/')
                (*(char **) target)[len - 1] = '\0';
        return r;
}

#define N(f) offsetof(FusionSettings, f)
static const Key fusion_settings_keys[] = {
        { "base_url", KEY_STRING, N(base_url), 0, 0, parse_url, NULL, "https://host:port" },
        { "api_prefix", KEY_STRING, N(api_prefix), 0, 0, parse_api_prefix, NULL, "/api or /api/apollo" },
        { "app", KEY_STRING, N(app), 0, 0, parse_path_segment, NULL, "app-scoped paths" },
        { "auth", KEY_ENUM, N(auth), 0, 0, NULL, fusion_auth_names, "how requests authenticate" },
        { "user", KEY_STRING, N(user), 0, 0, NULL, NULL, "basic, session, bearer" },
        { "password", KEY_STRING, N(password), 0, 0, parse_template, NULL, "\"${secret:NAME}\"" },
        { "token", KEY_STRING, N(token), 0, 0, parse_template, NULL, "bearer token or API key" },
        { "realm", KEY_STRING, N(realm), 0, 0, parse_path_segment, NULL, "of session logins" },
        { "poll_interval", KEY_DURATION, N(poll_interval_usec), 0, 0, NULL, NULL, "status polls" },
};
#undef N

/* Which credentials each `auth` needs, checked once all keys are read. */
static void check_fusion_auth(Loader *l, const config_setting_t *g, const FusionSettings *f) {
        const config_setting_t *user = config_setting_get_member(g, "user"),
                               *password = config_setting_get_member(g, "password"),
                               *token = config_setting_get_member(g, "token"),
                               *realm = config_setting_get_member(g, "realm");
        const char *name = fusion_auth_names[f->auth];

        switch (f->auth) {
        case FUSION_AUTH_BASIC:
        case FUSION_AUTH_SESSION:
                if (!user || !password)
                        (void) error_at(l, g, "engines.fusion: auth = \"%s\" needs user and password", name);
                if (token)
                        (void) error_at(l, token,
                                        "token: only applies with auth = \"bearer\" or \"api_key\"");
                break;
        case FUSION_AUTH_BEARER:
                if (token && (user || password))
                        (void) error_at(l, token,
                                        "token: set either token, or user and password (for a token from "
                                        "/oauth2/token), not both");
                else if (!token && (!user || !password))
                        (void) error_at(l, g, "engines.fusion: auth = \"bearer\" needs token, or user and "
                                              "password");
                break;
        case FUSION_AUTH_API_KEY:
        default:
                if (!token)
                        (void) error_at(l, g, "engines.fusion: auth = \"api_key\" needs token");
                if (user || password)
                        (void) error_at(l, user ?: password,
                                        "%s: only applies with auth = \"basic\", \"session\" or \"bearer\"",
                                        config_setting_name(user ?: password));
                break;
        }
        if (realm && f->auth != FUSION_AUTH_SESSION)
                (void) error_at(l, realm, "realm: only applies with auth = \"session\"");
}

static int parse_fusion_settings(Loader *l, const config_setting_t *s, const char *v, void *target) {
        FusionSettings *f = target;
        int r = apply_group(l, s, fusion_settings_keys, ELEMENTSOF(fusion_settings_keys), target,
                            "a group { base_url = \"https://...\"; auth = \"session\"; ... }");
        (void) v;

        if (r < 0)
                return r;
        f->configured = true;
        if (!config_setting_get_member(s, "base_url"))
                (void) error_at(l, s, "engines.fusion: base_url is required");
        check_fusion_auth(l, s, f);
        check_at_least_1s(l, s, "poll_interval", f->poll_interval_usec);
        if ((!f->api_prefix && !(f->api_prefix = strdup("/api"))) ||
            (!f->realm && !(f->realm = strdup("native"))))
                return -ENOMEM;
        return 0;
}

/* One group per engine that has settings. */
static int parse_engines(Loader *l, const config_setting_t *s, const char *v, void *target) {
        static const Key keys[] = {
                { "fused", KEY_CUSTOM, offsetof(DaemonSettings, fused), 0, 0, parse_fused_settings, NULL,
                  "the fused engine" },
                { "fusion", KEY_CUSTOM, offsetof(DaemonSettings, fusion), 0, 0, parse_fusion_settings, NULL,
                  "the fusion engine" },
        };
        (void) v;
        return apply_group(l, s, keys, ELEMENTSOF(keys), target,
                           "a group { fused = { ... }; fusion = { ... }; }");
}

/* A list of directories; relative ones are relative to the file's directory. */
static int parse_directories(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **dirs = NULL;
        size_t n = 0;
        int r = 0;

        (void) v;
        if (!config_setting_is_array(s) && !config_setting_is_list(s))
                return type_error(l, s, "a list of directories [\"/usr/lib/udfcron/plugins\"]");
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                const char *dir = config_setting_get_string(e);
                if (!dir || !*dir)
                        r = error_at(l, e, "%s: element %d: expected a directory, got %s",
                                     config_setting_name(s), i + 1, dir ? "an empty string" : type_name(e));
                else if ((r = strv_push(&dirs, &n, path_join(l->abs_dir, dir))) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!dirs && !(dirs = calloc(1, sizeof(char *))))
                return -ENOMEM;
        return set_strv(target, TAKE_PTR(dirs));
}

#define D(f) offsetof(DaemonSettings, f)
static const Key settings_keys[] = {
        { "timezone", KEY_STRING, D(timezone), 0, 0, parse_default_zone, NULL, "zone of schedules" },
        { "schedules_directory", KEY_PATH, D(schedules_directory), 0, 0, NULL, NULL, "*.conf files" },
        { "state_directory", KEY_PATH, D(state_directory), 0, 0, NULL, NULL, "state.json" },
        { "runtime_directory", KEY_PATH, D(runtime_directory), 0, 0, NULL, NULL, "control socket" },
        { "python", KEY_PATH, D(python), 0, 0, NULL, NULL, "runs udf files" },
        { "max_concurrent_runs", KEY_UINT, D(max_concurrent_runs), 1, 100000, NULL, NULL, "more wait" },
        { "shutdown_timeout", KEY_DURATION, D(shutdown_timeout_usec), 0, 0, NULL, NULL, "wait on stop" },
        { "defaults", KEY_CUSTOM, D(defaults), 0, 0, parse_defaults, NULL, "policies of schedules" },
        { "control_socket", KEY_PATH, D(control_socket), 0, 0, NULL, NULL, "for udfcronctl" },
        { "control_socket_mode", KEY_STRING, D(control_socket_mode), 0, 0, parse_socket_mode, NULL,
          "connect" },
        { "control_group", KEY_STRING, 0, 0, 0, parse_control_group, NULL, "who may change" },
        { "control_timeout", KEY_CUSTOM, D(control_timeout_usec), 0, 0, parse_control_timeout, NULL,
          "slow" },
        { "http", KEY_CUSTOM, D(http), 0, 0, parse_http, NULL, "the remote engines' HTTP client" },
        { "engines", KEY_CUSTOM, 0, 0, 0, parse_engines, NULL, "settings of the remote engines" },
        { "schedules", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "read after the settings" },
        { "plugin_directories", KEY_CUSTOM, D(plugin_directories), 0, 0, parse_directories, NULL, "*.so" },
        /* plugin instances, read once plugin_directories is known */
        { "storage", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "storage instances" },
        { "secrets", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "secrets providers" },
        { "credentials", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "credentials instances" },
        { "ingest", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "ingest steps" },
};
#undef D

/* ---------------------------------------------------------------- plugin instances */

void plugin_config_done(PluginConfig *pc) {
        if (pc->plugin)
                plugin_options_free(pc->plugin, pc->options);
        plugin_unref(pc->plugin);
        free(pc->instance);
        free(pc->file);
}

const PluginConfig *config_find_instance(const Config *config, PluginKind kind, const char *name) {
        const char *kind_name = plugin_kind_to_string(kind);
        size_t n = strlen(kind_name);
        for (size_t i = 0; i < config->n_plugins; i++) {
                const char *instance = config->plugins[i].instance;
                if (config->plugins[i].kind == kind && strncmp(instance, kind_name, n) == 0 &&
                    instance[n] == '/' && strcmp(instance + n + 1, name) == 0)
                        return &config->plugins[i];
        }
        return NULL;
}

const PluginConfig *config_find_storage(const Config *config, const char *scheme) {
        for (size_t i = 0; i < config->n_plugins; i++) {
                const char *const *schemes = plugin_storage_schemes(config->plugins[i].plugin);
                for (const char *const *sc = schemes; sc && *sc; sc++)
                        if (strcmp(*sc, scheme) == 0)
                                return &config->plugins[i];
        }
        return NULL;
}

static int parse_string_list(Loader *l, const config_setting_t *s, const char *v, void *target) {
        _cleanup_(strv_freep) char **list = NULL;
        size_t n = 0;
        int r = 0;

        if (v) { /* one string is a list of one */
                if ((r = strv_push(&list, &n, strdup(v))) < 0)
                        return r;
        } else if (!config_setting_is_array(s) && !config_setting_is_list(s))
                return type_error(l, s, "a list of strings");
        for (int i = 0; !v && i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        r = error_at(l, e, "%s: element %d: expected a string, got %s",
                                     config_setting_name(s), i + 1, type_name(e));
                else if ((r = strv_push(&list, &n, strdup(config_setting_get_string(e)))) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!list && !(list = calloc(1, sizeof(char *))))
                return -ENOMEM;
        return set_strv(target, TAKE_PTR(list));
}

/* The core's view of a plugin's options table: the same checks, messages and suggestions as ours. One
 * more Key than options is allocated, zeroed, for the caller's own key. */
static Key *option_keys(const struct udfcron_option *options, size_t n) {
        Key *keys = calloc(n + 1, sizeof(Key));
        if (!keys)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const struct udfcron_option *o = &options[i];
                Key *k = &keys[i];
                *k = (Key){ .name = o->name, .offset = o->offset, .doc = o->doc };
                switch (o->type) {
                case UDFCRON_OPTION_STRING:
                        k->type = KEY_STRING;
                        break;
                case UDFCRON_OPTION_PATH:
                        k->type = KEY_PATH;
                        break;
                case UDFCRON_OPTION_BOOL:
                        k->type = KEY_BOOL;
                        break;
                case UDFCRON_OPTION_INT:
                        k->type = KEY_INT64;
                        k->min = o->min == 0 && o->max == 0 ? INT64_MIN : o->min;
                        k->max = o->min == 0 && o->max == 0 ? INT64_MAX : o->max;
                        break;
                case UDFCRON_OPTION_DURATION:
                        k->type = KEY_DURATION;
                        break;
                case UDFCRON_OPTION_STRING_LIST:
                        k->type = KEY_CUSTOM;
                        k->parse = parse_string_list;
                        break;
                }
        }
        return keys;
}

/* Reports each required option of table `options` that block `g` lacks, as "`what`: missing option". */
static void check_required(Loader *l, const config_setting_t *g, const char *what,
                           const struct udfcron_option *options, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const struct udfcron_option *o = &options[i];
                if (o->required && !config_setting_get_member(g, o->name))
                        (void) error_at(l, g, "%s: missing option '%s'%s%s%s", what, o->name,
                                        o->doc ? " (" : "", o->doc ?: "", o->doc ? ")" : "");
        }
}

/* Whether an earlier storage instance already serves one of p's schemes; reports it at `block`. */
static int check_schemes(Loader *l, const config_setting_t *block, const char *instance, const Plugin *p) {
        for (const char *const *sc = plugin_storage_schemes(p); sc && *sc; sc++) {
                const PluginConfig *other = config_find_storage(l->config, *sc);
                if (other)
                        return error_at(l, block, "%s: %s:// URLs are served by %s already (%s:%u)",
                                        instance, *sc, other->instance, other->file, other->line);
        }
        return 0;
}

/* One instance block: `name = { plugin = "..."; option = value; ... };` in the group of its kind. */
static int load_plugin_block(Loader *l, PluginKind kind, const config_setting_t *block) {
        const char *name = config_setting_name(block);
        const config_setting_t *which = config_setting_get_member(block, "plugin");
        const char *plugin_name = name;
        _cleanup_free_ char *instance = NULL, *error = NULL;
        _cleanup_(plugin_unrefp) Plugin *p = NULL;
        int r;

        if (asprintf(&instance, "%s/%s", plugin_kind_to_string(kind), name) < 0)
                return -ENOMEM;
        if (!config_setting_is_group(block))
                return type_error(l, block, "a group { plugin = \"...\"; option = value; }");
        if (name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-")] != '\0')
                return error_at(l, block, "%s: instance names use a-z 0-9 _ -", instance);
        if (which && !(plugin_name = config_setting_get_string(which)))
                return type_error(l, which, "a plugin name");

        r = plugin_open(l->config->settings.plugin_directories, kind, plugin_name, &p, &error);
        if (r == -EINVAL)
                return error_at(l, which ?: block, "%s: %s", instance, error);
        if (r < 0)
                return r;

        _cleanup_free_ Key *keys = option_keys(p->options, p->n_options);
        void *options = plugin_options_new(p);
        PluginConfig pc = {
                .kind = kind,
                .instance = TAKE_PTR(instance),
                .plugin = TAKE_PTR(p),
                .options = options,
                .file = strdup(config_setting_source_file(block) ?: l->file),
                .line = config_setting_source_line(block),
        };
        if (!keys || !options || !pc.instance || !pc.file) {
                plugin_config_done(&pc);
                return -ENOMEM;
        }
        /* the core's own key in every block, after the plugin's (which may not be called so) */
        keys[pc.plugin->n_options] = (Key){ .name = "plugin", .type = KEY_CUSTOM, .doc = "which plugin" };

        size_t errors_before = l->n_errors;
        const KeyTable t = { keys, pc.plugin->n_options + 1, options };
        apply_keys(l, block, &t, 1, NULL);
        check_required(l, block, pc.instance, pc.plugin->options, pc.plugin->n_options);
        if (kind == PLUGIN_STORAGE)
                (void) check_schemes(l, block, pc.instance, pc.plugin);
        if (l->oom || l->n_errors > errors_before) {
                plugin_config_done(&pc);
                return l->oom ? -ENOMEM : -EINVAL;
        }

        PluginConfig *a = reallocarray(l->config->plugins, l->config->n_plugins + 1, sizeof *a);
        if (!a) {
                plugin_config_done(&pc);
                return -ENOMEM;
        }
        l->config->plugins = a;
        a[l->config->n_plugins++] = pc;
        return 0;
}

/* The storage, secrets, credentials and ingest groups of the main file, in the file's order. */
static int load_plugins(Loader *l, const config_setting_t *root) {
        for (int i = 0; i < config_setting_length(root); i++) {
                const config_setting_t *group = config_setting_get_elem(root, i);
                PluginKind kind = plugin_kind_from_string(config_setting_name(group));
                if (kind < 0)
                        continue;
                if (!config_setting_is_group(group)) {
                        (void) type_error(l, group, "a group of instances { name = { ... }; }");
                        l->storage_failed |= kind == PLUGIN_STORAGE;
                        l->credentials_failed |= kind == PLUGIN_CREDENTIALS;
                        continue;
                }
                for (int k = 0; k < config_setting_length(group); k++) {
                        int r = load_plugin_block(l, kind, config_setting_get_elem(group, k));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                l->storage_failed |= kind == PLUGIN_STORAGE;
                                l->credentials_failed |= kind == PLUGIN_CREDENTIALS;
                        }
                }
        }
        return 0;
}

/* ---------------------------------------------------------------- pipeline steps */

/* The step types udfcron knows itself; other types come from the ingest instances. */
static const char *const builtin_step_types[] = { "udf", "partition_geospatial", "partition_nongeospatial",
                                                  NULL };

static int parse_step_name(Loader *l, const config_setting_t *s, const char *v, void *target) {
        return set_name(l, s, v, target, "step");
}

#define T(f) offsetof(PipelineStep, f)
static const Key udf_step_keys[] = {
        { "type", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "what the step is" },
        { "name", KEY_STRING, T(name), 0, 0, parse_step_name, NULL, "for ${output:NAME} and the journal" },
        { "udf", KEY_STRING, T(udf_path), 0, 0, parse_existing_file, NULL, "Python file" },
        { "entrypoint", KEY_STRING, T(entrypoint), 0, 0, parse_entrypoint, NULL, "function in udf" },
        { "params", KEY_CUSTOM, T(params), 0, 0, parse_params, NULL, "passed to the UDF as JSON" },
        { "output", KEY_STRING, T(output), 0, 0, parse_storage_url, NULL, "storage URL of the result" },
};

static const Key ingest_step_keys[] = {
        { "type", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "what the step is" },
        { "name", KEY_STRING, T(name), 0, 0, parse_step_name, NULL, "for ${output:NAME} and the journal" },
        { "ingest", KEY_CUSTOM, 0, 0, 0, NULL, NULL, "the ingest instance that runs it" },
        { "input", KEY_STRING, T(input), 0, 0, parse_storage_url, NULL, "storage URL it reads" },
        { "output", KEY_STRING, T(output), 0, 0, parse_storage_url, NULL, "storage URL it writes" },
};
#undef T

/* Reports a step type that neither udfcron nor an ingest instance knows, with the nearest known one. */
static int unknown_step_type(Loader *l, const config_setting_t *s, const char *what, const char *type) {
        _cleanup_free_ const char **known = NULL;
        size_t n = ELEMENTSOF(builtin_step_types);

        for (size_t i = 0; i < l->config->n_plugins; i++)
                n += l->config->plugins[i].plugin->n_step_types;
        if (!(known = calloc(n, sizeof(char *))))
                return -ENOMEM;
        n = 0;
        for (const char *const *b = builtin_step_types; *b; b++)
                known[n++] = *b;
        for (size_t i = 0; i < l->config->n_plugins; i++)
                for (size_t k = 0; k < l->config->plugins[i].plugin->n_step_types; k++)
                        known[n++] = l->config->plugins[i].plugin->step_types[k].type->name;
        const char *near = suggest_name(type, known);
        return error_at(l, s,
                        "%s: unknown step type '%s'%s%s%s (known: udf, partition_geospatial, "
                        "partition_nongeospatial, and the step types of the ingest instances)",
                        what, type, near ? " (did you mean '" : "", near ?: "", near ? "'?)" : "");
}

/* The ingest instance that runs a step of `type`: the one `ingest` names, else the only one offering it. */
static const PluginConfig *find_ingest_instance(Loader *l, const config_setting_t *g, const char *what,
                                                const char *type) {
        const config_setting_t *which = config_setting_get_member(g, "ingest");
        const PluginConfig *found = NULL;

        if (which) {
                const char *name = config_setting_get_string(which);
                if (!name) {
                        (void) type_error(l, which, "an ingest instance name");
                        return NULL;
                }
                for (size_t i = 0; i < l->config->n_plugins && !found; i++) {
                        const PluginConfig *pc = &l->config->plugins[i];
                        if (pc->kind == PLUGIN_INGEST && strcmp(pc->instance + strlen("ingest/"), name) == 0)
                                found = pc;
                }
                if (!found)
                        (void) error_at(
                                l, which,
                                "%s: ingest: no instance ingest/%s in %s (ingest = { %s = { ... }; };)",
                                what, name, l->config->path, name);
                else if (!plugin_step_type(found->plugin, type))
                        (void) error_at(l, which, "%s: %s (plugin %s) has no step type '%s'", what,
                                        found->instance, found->plugin->name, type);
                return found && plugin_step_type(found->plugin, type) ? found : NULL;
        }

        size_t n = 0;
        for (size_t i = 0; i < l->config->n_plugins; i++) {
                const PluginConfig *pc = &l->config->plugins[i];
                if (pc->kind == PLUGIN_INGEST && plugin_step_type(pc->plugin, type) && n++ == 0)
                        found = pc;
        }
        if (n > 1)
                (void) error_at(
                        l, g,
                        "%s: several ingest instances offer step type '%s': name one with ingest = \"...\"",
                        what, type);
        if (n == 0)
                (void) unknown_step_type(l, config_setting_get_member(g, "type"), what, type);
        return n == 1 ? found : NULL;
}

static int load_ingest_step(Loader *l, const config_setting_t *g, const char *what, PipelineStep *step) {
        const PluginConfig *pc = find_ingest_instance(l, g, what, step->type);
        if (!pc)
                return l->oom ? -ENOMEM : 0;

        step->kind = STEP_INGEST;
        step->plugin = plugin_ref(pc->plugin);
        step->step_type = plugin_step_type(pc->plugin, step->type);
        if (!(step->instance = strdup(pc->instance)) ||
            !(step->options = plugin_step_options_new(step->step_type)))
                return -ENOMEM;
        _cleanup_free_ Key *keys = option_keys(step->step_type->options, step->step_type->n_options);
        if (!keys)
                return -ENOMEM;
        const KeyTable tables[] = {
                { ingest_step_keys, ELEMENTSOF(ingest_step_keys), step },
                { keys, step->step_type->n_options, step->options },
        };
        const struct udfcron_ingest_step_type *type = step->step_type->type;
        size_t errors_before = l->n_errors;
        apply_keys(l, g, tables, ELEMENTSOF(tables), NULL);
        check_required(l, g, what, step->step_type->options, step->step_type->n_options);
        if (type->input_required && !config_setting_get_member(g, "input"))
                (void) error_at(l, g, "%s: missing key 'input' (the storage URL that %s reads)", what,
                                type->name);
        if (type->output_required && !config_setting_get_member(g, "output"))
                (void) error_at(l, g, "%s: missing key 'output' (the storage URL that %s writes)", what,
                                type->name);
        char message[256] = "";
        if (l->n_errors == errors_before && type->check &&
            type->check(step->options, message, sizeof message) < 0)
                (void) error_at(l, g, "%s: %s", what, message[0] ? message : "invalid options");
        return l->oom ? -ENOMEM : 0;
}

typedef struct FusedProblems {
        Loader *l;
        const config_setting_t *step;
        const char *what;
} FusedProblems;

static void on_fused_problem(void *userdata, const char *key, const char *message) {
        FusedProblems *p = userdata;
        const config_setting_t *at = key ? config_setting_lookup((config_setting_t *) p->step, key) : NULL;
        (void) error_at(p->l, at ?: p->step, "%s: %s", p->what, message);
}

/* A Fused job step config: every member but type and name, as JSON (strings are templates), checked. */
static int load_fused_step(Loader *l, const config_setting_t *g, const char *what, PipelineStep *step) {
        _cleanup_(json_freep) cJSON *fields = cJSON_CreateObject();
        FusedProblems problems = { l, g, what };
        int r = 0;

        if (!fields)
                return -ENOMEM;
        step->kind = STEP_FUSED_JOB;
        for (int i = 0; i < config_setting_length(g); i++) {
                const config_setting_t *m = config_setting_get_elem(g, i);
                const char *key = config_setting_name(m);
                cJSON *v;
                if (strcmp(key, "type") == 0)
                        continue;
                if (strcmp(key, "name") == 0) {
                        const char *name = config_setting_get_string(m);
                        r = name ? parse_step_name(l, m, name, &step->name) : type_error(l, m, "a string");
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                if ((r = params_to_json(l, m, key, &v)) == -ENOMEM)
                        return r;
                if (r < 0)
                        continue; /* reported */
                if (!cJSON_AddItemToObject(fields, key, v)) {
                        cJSON_Delete(v);
                        return -ENOMEM;
                }
        }
        r = fused_step_check(step->type, fields, on_fused_problem, &problems);
        if (r == -ENOMEM)
                return r;
        if (!l->config->settings.fused.token)
                (void) error_at(l, g,
                                "%s: %s runs as a Fused batch job, which needs a Fused token: set token = "
                                "\"${secret:NAME}\" in the engines.fused group of udfcrond.conf",
                                what, step->type);
        const char *output = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fields, "output"));
        if (output && !(step->output = strdup(output)))
                return -ENOMEM;
        step->job_step = TAKE_PTR(fields);
        return 0;
}

static int load_step(Loader *l, const config_setting_t *g, size_t index, PipelineStep *step) {
        const config_setting_t *type = config_setting_get_member(g, "type");
        char what[32];

        snprintf(what, sizeof what, "step %zu", index + 1);
        step->line = config_setting_source_line(g);
        if (!type)
                return error_at(l, g, "%s has no type: add type = \"udf\" (or partition_geospatial, ...)",
                                what);
        if (!config_setting_get_string(type))
                return type_error(l, type, "a step type such as \"udf\"");
        if (!(step->type = strdup(config_setting_get_string(type))))
                return -ENOMEM;

        if (strcmp(step->type, "udf") == 0) {
                const KeyTable t = { udf_step_keys, ELEMENTSOF(udf_step_keys), step };
                step->kind = STEP_UDF;
                apply_keys(l, g, &t, 1, NULL);
                if (!config_setting_get_member(g, "udf"))
                        (void) error_at(l, g, "%s has no udf: add udf = \"file.py\"", what);
                if ((!step->entrypoint && !(step->entrypoint = strdup("udf"))) ||
                    (!step->params && !(step->params = cJSON_CreateObject())))
                        return -ENOMEM;
                return l->oom ? -ENOMEM : 0;
        }
        if (fused_step_type_is_known(step->type))
                return load_fused_step(l, g, what, step);
        return load_ingest_step(l, g, what, step);
}

/* The templates of a step: where ${output:NAME} may appear. */
static int step_references(const PipelineStep *step, char ***names, size_t *n) {
        int r = 0;
        if (step->params)
                r = params_collect_outputs_json(step->params, names, n);
        if (r >= 0 && step->job_step)
                r = params_collect_outputs_json(step->job_step, names, n);
        if (r >= 0 && step->input)
                r = params_collect_outputs(step->input, names, n);
        if (r >= 0 && step->output)
                r = params_collect_outputs(step->output, names, n);
        return r;
}

/* Names the steps without one (their type, numbered when several share it); names must be unique, and
 * ${output:NAME} must name an earlier step that has an output (unless that step had errors already). */
static int finish_steps(Loader *l, const config_setting_t *list, PipelineStep *steps, const bool *broken,
                        size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t same = 0;
                for (size_t k = 0; k < n; k++)
                        same += steps[k].type && steps[i].type && strcmp(steps[k].type, steps[i].type) == 0;
                if (!steps[i].name && steps[i].type &&
                    (same > 1 ? asprintf(&steps[i].name, "%s-%zu", steps[i].type, i + 1) < 0
                              : !(steps[i].name = strdup(steps[i].type))))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *g = config_setting_get_elem(list, (unsigned) i);
                _cleanup_(strv_freep) char **refs = NULL;
                size_t n_refs = 0;
                int r;

                for (size_t k = 0; k < i && steps[i].name; k++)
                        if (steps[k].name && strcmp(steps[k].name, steps[i].name) == 0)
                                (void) error_at(l, g,
                                                "step %zu: the name '%s' is taken by step %zu (line %u)",
                                                i + 1, steps[i].name, k + 1, steps[k].line);
                if ((r = step_references(&steps[i], &refs, &n_refs)) < 0)
                        return r;
                for (size_t j = 0; j < n_refs; j++) {
                        size_t k = 0;
                        while (k < i && strcmp(steps[k].name ?: "", refs[j]) != 0)
                                k++;
                        if (k == i)
                                (void) error_at(l, g,
                                                "step %zu: ${output:%s}: no earlier step is called '%s'",
                                                i + 1, refs[j], refs[j]);
                        else if (!steps[k].output && !broken[k])
                                (void) error_at(l, g, "step %zu: ${output:%s}: step '%s' has no output",
                                                i + 1, refs[j], refs[j]);
                }
        }
        return 0;
}

static int parse_steps(Loader *l, const config_setting_t *s, const char *v, void *target) {
        Schedule *sch = target;
        int n = config_setting_length(s), r = 0;

        (void) v;
        if (!config_setting_is_list(s) || n == 0)
                return type_error(l, s, "a list of steps: steps = ( { type = \"udf\"; ... }, { ... } );");
        _cleanup_free_ bool *broken = calloc((size_t) n, sizeof(bool));
        if (!broken || !(sch->steps = calloc((size_t) n, sizeof(PipelineStep))))
                return -ENOMEM;
        sch->n_steps = (size_t) n;
        for (int i = 0; i < n && r != -ENOMEM; i++) {
                const config_setting_t *g = config_setting_get_elem(s, (unsigned) i);
                size_t errors_before = l->n_errors;
                if (!config_setting_is_group(g))
                        r = error_at(l, g, "steps: element %d: expected a group { type = ...; }, got %s",
                                     i + 1, type_name(g));
                else
                        r = load_step(l, g, (size_t) i, &sch->steps[i]);
                broken[i] = l->n_errors > errors_before;
        }
        return r == -ENOMEM ? r : finish_steps(l, s, sch->steps, broken, sch->n_steps);
}

/* ${output:NAME} outside a pipeline's steps names nothing: reported where it is. */
static int check_no_step_references(Loader *l, const config_setting_t *g, const Schedule *s) {
        static const char *const keys[] = { "params", "command", "output", "arg_list" };
        _cleanup_(strv_freep) char **refs = NULL;
        size_t n = 0;
        int r = 0;

        if (s->work == WORK_PIPELINE)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(keys) && r >= 0 && n == 0; i++) {
                if (i == 0 && s->params)
                        r = params_collect_outputs_json(s->params, &refs, &n);
                for (char **a = s->command; i == 1 && r >= 0 && a && *a; a++)
                        r = params_collect_outputs(*a, &refs, &n);
                if (i == 2 && s->output)
                        r = params_collect_outputs(s->output, &refs, &n);
                if (i == 3 && s->fanout.arg_list_templates)
                        r = params_collect_outputs_json(s->fanout.arg_list, &refs, &n);
                if (r >= 0 && n > 0)
                        r = error_at(l, config_setting_get_member(g, keys[i]) ?: g,
                                     "%s: ${output:%s} names a step: only a pipeline's steps have outputs "
                                     "to name",
                                     keys[i], refs[0]);
        }
        return r;
}

/* $STATE_DIRECTORY and $RUNTIME_DIRECTORY as systemd sets them (colon-separated: take the first). */
static char *env_directory(const char *name, const char *fallback) {
        const char *e = getenv(name);
        return e && e[0] == '/' ? strndup(e, strcspn(e, ":")) : strdup(fallback);
}

static int load_main(Loader *l, const config_setting_t *root) {
        DaemonSettings *d = &l->config->settings;
        const KeyTable t = { settings_keys, ELEMENTSOF(settings_keys), d };
        const config_setting_t *dir = config_setting_get_member(root, "schedules_directory"),
                               *list = config_setting_get_member(root, "schedules");
        const char *main_file = l->file;
        int r;

        apply_keys(l, root, &t, 1, NULL);
        if (l->oom)
                return -ENOMEM;
        if (!d->plugin_directories &&
            (r = strv_push(&d->plugin_directories, &(size_t){ 0 }, strdup(UDFCRON_PLUGIN_DIR))) < 0)
                return r;
        if ((r = load_plugins(l, root)) < 0)
                return r;
        if (!d->timezone) {
                if ((r = tz_system_zone_name(&d->timezone)) < 0)
                        return r;
                if ((r = tzdb_get(l->tzdb, d->timezone, &l->default_zone)) == -ENOMEM)
                        return r;
                if (r < 0)
                        (void) error_line(l, main_file, 0,
                                          "system time zone: %s '%s': set timezone = \"...\"",
                                          tz_error_message(r), d->timezone);
        }
        if (!l->default_zone) /* only after an error: go on with UTC to find the other errors */
                l->default_zone = tz_utc();
        if ((!d->schedules_directory && !(d->schedules_directory = path_join(l->abs_dir, "schedules.d"))) ||
            (!d->state_directory &&
             !(d->state_directory = env_directory("STATE_DIRECTORY", "/var/lib/udfcron"))) ||
            (!d->runtime_directory &&
             !(d->runtime_directory = env_directory("RUNTIME_DIRECTORY", "/run/udfcron"))) ||
            (!d->python && !(d->python = strdup("/usr/bin/python3"))) ||
            (!d->control_socket && !(d->control_socket = path_join(d->runtime_directory, "control.sock"))) ||
            (!d->fused.base_url && !(d->fused.base_url = strdup(FUSED_DEFAULT_BASE_URL))) ||
            (!d->fused.shared_base_url && !(d->fused.shared_base_url = strdup(FUSED_DEFAULT_SHARED_BASE_URL))))
                return -ENOMEM;

        /* the main file's own schedules, now that the defaults they inherit are known */
        if (list && load_schedule_list(l, list) == -ENOMEM)
                return -ENOMEM;
        if (dir && (config_setting_type(dir) != CONFIG_TYPE_STRING || !*config_setting_get_string(dir)))
                return 0; /* already reported; guessing another directory would only add noise */

        /* opened as the user spells it, relative to their spelling of the main file */
        _cleanup_free_ char *spelled =
                path_join(l->dir, dir ? config_setting_get_string(dir) : "schedules.d");
        return spelled ? load_schedules_directory(l, spelled, dir) : -ENOMEM;
}

/* ---------------------------------------------------------------- digest and entry points */

/* FNV-1a over length-prefixed fields, so that ("ab", "c") and ("a", "bc") differ. */
static void digest_bytes(uint64_t *h, const void *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                *h = (*h ^ ((const unsigned char *) p)[i]) * UINT64_C(0x100000001b3);
}

static void digest_str(uint64_t *h, const char *s) {
        uint64_t len = s ? strlen(s) : UINT64_MAX;
        digest_bytes(h, &len, sizeof len);
        digest_bytes(h, s, s ? len : 0);
}

static void digest_strv(uint64_t *h, char **l) {
        for (char **p = l; p && *p; p++)
                digest_str(h, *p);
        digest_str(h, NULL); /* the end of the list */
}

/* An options structure, member by member as its table describes it. */
static void digest_options(uint64_t *h, const struct udfcron_option *t, size_t n, void *options) {
        for (size_t i = 0; i < n; i++) {
                const void *v = plugin_option_target(&t[i], options);
                switch (t[i].type) {
                case UDFCRON_OPTION_STRING:
                case UDFCRON_OPTION_PATH:
                        digest_str(h, *(char *const *) v);
                        break;
                case UDFCRON_OPTION_BOOL:
                        digest_bytes(h, v, sizeof(bool));
                        break;
                case UDFCRON_OPTION_INT:
                case UDFCRON_OPTION_DURATION:
                        digest_bytes(h, v, sizeof(int64_t));
                        break;
                case UDFCRON_OPTION_STRING_LIST:
                        digest_strv(h, *(char **const *) v);
                        break;
                }
        }
}

static int digest_steps(uint64_t *h, const Schedule *s) {
        for (size_t i = 0; i < s->n_steps; i++) {
                const PipelineStep *st = &s->steps[i];
                _cleanup_free_ char *params = st->params ? cJSON_PrintUnformatted(st->params) : NULL;
                _cleanup_free_ char *job = st->job_step ? cJSON_PrintUnformatted(st->job_step) : NULL;
                if ((st->params && !params) || (st->job_step && !job))
                        return -ENOMEM;
                digest_str(h, st->name);
                digest_str(h, st->type);
                digest_str(h, st->output);
                digest_str(h, st->udf_path);
                digest_str(h, st->entrypoint);
                digest_str(h, params);
                digest_str(h, st->instance);
                digest_str(h, st->input);
                digest_str(h, job);
                if (st->step_type)
                        digest_options(h, st->step_type->options, st->step_type->n_options, st->options);
        }
        digest_str(h, NULL); /* the end of the list */
        return 0;
}

static int schedule_digest(Schedule *s) {
        const RunPolicy *p = &s->policy;
        const Fanout *f = &s->fanout;
        _cleanup_free_ char *params = cJSON_PrintUnformatted(s->params),
                            *arg_list = f->arg_list ? cJSON_PrintUnformatted(f->arg_list) : NULL;
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        if (!params || (f->arg_list && !arg_list))
                return -ENOMEM;
        /* the file and line are left out: moving a schedule to another file does not change it */
        digest_str(&h, s->name);
        digest_str(&h, s->cron_text);
        digest_str(&h, tz_zone_name(s->zone));
        digest_str(&h, s->engine);
        digest_str(&h, s->udf_path);
        digest_str(&h, s->entrypoint);
        digest_strv(&h, s->command);
        digest_str(&h, params);
        digest_str(&h, s->working_directory);
        digest_str(&h, s->output);
        digest_strv(&h, s->environment);
        digest_strv(&h, s->credentials);
        digest_str(&h, arg_list);
        _cleanup_free_ char *inputs = s->fused.inputs ? cJSON_PrintUnformatted(s->fused.inputs) : NULL;
        if (s->fused.inputs && !inputs)
                return -ENOMEM;
        digest_str(&h, s->fused.saved_udf);
        digest_str(&h, s->fused.shared_token);
        digest_str(&h, s->fused.instance_type);
        digest_str(&h, s->fused.region);
        digest_strv(&h, s->fused.additional_env);
        digest_str(&h, s->fused.image);
        digest_str(&h, s->fused.format);
        digest_str(&h, inputs);
        digest_str(&h, s->fused.base_url);
        digest_str(&h, s->fused.token);
        digest_str(&h, s->fusion.job);
        if (digest_steps(&h, s) < 0)
                return -ENOMEM;
        /* clang-format off */
        const uint64_t v[] = { s->enabled, s->work, s->shell, s->uid, s->gid, (uint64_t) s->nice, p->overlap,
                               p->catch_up.mode, p->catch_up.count, p->catch_up.within_usec, p->jitter_usec,
                               p->timeout_usec, p->kill_grace_usec, p->retries, p->retry_backoff_usec,
                               p->retry_backoff_max_usec, p->dst, s->fused.mode, s->fused.disk_size_gb,
                               f->arg_list_templates, f->max_workers, f->max_retry, f->ignore_exceptions,
                               f->collect, s->fusion.jobs_api };
        /* clang-format on */
        digest_bytes(&h, v, sizeof v);
        s->digest = h;
        return 0;
}

static int entry_cmp(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        int c = strcmp(x->schedule->name, y->schedule->name);
        return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

Config *config_free(Config *config) {
        if (!config)
                return NULL;
        for (size_t i = 0; i < config->n_schedules; i++)
                schedule_free(config->schedules[i]);
        free(config->schedules);
        free(config->path);
        free(config->settings.timezone);
        free(config->settings.schedules_directory);
        free(config->settings.state_directory);
        free(config->settings.runtime_directory);
        free(config->settings.python);
        free(config->settings.control_socket);
        free(config->settings.control_group);
        free(config->settings.http.ca_file);
        free(config->settings.fused.base_url);
        free(config->settings.fused.shared_base_url);
        free(config->settings.fused.token);
        free(config->settings.fused.realtime_client_id);
        free(config->settings.fused.instance_type);
        free(config->settings.fused.region);
        free(config->settings.fusion.base_url);
        free(config->settings.fusion.api_prefix);
        free(config->settings.fusion.app);
        free(config->settings.fusion.user);
        free(config->settings.fusion.password);
        free(config->settings.fusion.token);
        free(config->settings.fusion.realm);
        strv_free(config->files);
        strv_free(config->settings.plugin_directories);
        for (size_t i = 0; i < config->n_plugins; i++)
                plugin_config_done(&config->plugins[i]);
        free(config->plugins);
        free(config);
        return NULL;
}

static int load(Loader *l, const char *path) {
        _cleanup_free_ char *dir = NULL, *abs_dir = NULL;
        Config *c = l->config;
        config_t main_cfg;

        c->settings.max_concurrent_runs = 16;
        c->settings.shutdown_timeout_usec = 30 * USEC_PER_SEC;
        c->settings.control_socket_mode = 0666;
        c->settings.control_timeout_usec = 10 * USEC_PER_SEC;
        c->settings.defaults = (RunPolicy){
                .overlap = OVERLAP_SKIP,
                .catch_up = { .mode = CATCH_UP_LAST },
                .kill_grace_usec = 10 * USEC_PER_SEC,
                .retry_backoff_usec = 30 * USEC_PER_SEC,
                .retry_backoff_max_usec = 600 * USEC_PER_SEC,
                .dst = CRON_DST_SHIFT,
        };
        c->settings.http = HTTP_DEFAULT_SETTINGS;
        c->settings.fused = (FusedSettings){
                .poll_interval_usec = 5 * USEC_PER_SEC,
                .quiet_log_interval_usec = 30 * USEC_PER_SEC,
                .realtime_timeout_usec = 130 * USEC_PER_SEC,
        };
        c->settings.fusion.poll_interval_usec = 5 * USEC_PER_SEC;
        if (!(c->path = path_absolute(path)))
                return -ENOMEM;

        config_init(&main_cfg);
        int r = read_file(l, path, true, &main_cfg, &dir, &abs_dir);
        if (r >= 0) /* after a syntax error, even the schedules directory is unknown */
                r = load_main(l, config_root_setting(&main_cfg));
        config_destroy(&main_cfg);
        if (r == -ENOMEM || l->oom)
                return -ENOMEM;
        if (r < 0 && l->n_errors == 0)
                return r;

        /* sorted by name, then by definition: each run of equal names starts with the original */
        if (l->n_entries > 1)
                qsort(l->entries, l->n_entries, sizeof(Entry), entry_cmp);
        for (size_t i = 1, first = 0; i < l->n_entries; i++) {
                const Schedule *f = l->entries[first].schedule, *s = l->entries[i].schedule;
                if (strcmp(f->name, s->name) != 0)
                        first = i;
                else
                        (void) error_line(l, s->file, s->line,
                                          "duplicate schedule name '%s' (first defined at %s:%u)", s->name,
                                          f->file, f->line);
        }
        if (l->oom)
                return -ENOMEM;
        return l->n_errors > 0 ? -EINVAL : 0;
}

int config_load(const char *path, TzDb *tzdb, Config **ret_config, char ***ret_errors) {
        Loader l = { .tzdb = tzdb };
        int r;

        if (!path || !tzdb || !ret_config)
                return -EINVAL;
        if (!(l.config = calloc(1, sizeof(Config))))
                return -ENOMEM;

        r = load(&l, path);
        if (r >= 0 && !(l.config->schedules = calloc(l.n_entries + 1, sizeof(Schedule *))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < l.n_entries; i++)
                r = schedule_digest(l.entries[i].schedule);
        if (r >= 0) {
                for (size_t i = 0; i < l.n_entries; i++)
                        l.config->schedules[i] = TAKE_PTR(l.entries[i].schedule);
                l.config->n_schedules = l.n_entries;
                *ret_config = TAKE_PTR(l.config);
        } else if (r == -EINVAL && ret_errors)
                *ret_errors = TAKE_PTR(l.errors);

        for (size_t i = 0; i < l.n_entries; i++)
                schedule_free(l.entries[i].schedule);
        free(l.entries);
        strv_free(l.errors);
        config_free(l.config);
        return r < 0 ? r : 0;
}

Schedule *config_find_schedule(const Config *config, const char *name) {
        size_t lo = 0, hi = config && name ? config->n_schedules : 0;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, config->schedules[mid]->name);
                if (c == 0)
                        return config->schedules[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}
