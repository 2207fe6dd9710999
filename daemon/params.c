/* SPDX-License-Identifier: MIT */
#include "params.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "cleanup.h"
#include "json-util.h"
#include "strv.h"

typedef enum RefKind {
        REF_SCHEDULED,
        REF_NOW,
        REF_SCHEDULE,
        REF_RUN_ID,
        REF_ATTEMPT,
        REF_ENV,
        REF_SECRET,
        _REF_MAX,
} RefKind;

static const struct {
        const char *name;
        bool takes_argument;
} refs[_REF_MAX] = {
        [REF_SCHEDULED] = { "scheduled", true }, [REF_NOW] = { "now", true },
        [REF_SCHEDULE] = { "schedule", false },  [REF_RUN_ID] = { "run_id", false },
        [REF_ATTEMPT] = { "attempt", false },    [REF_ENV] = { "env", true },
        [REF_SECRET] = { "secret", true },
};

/* A growing output string. */
typedef struct Buffer {
        char *data;
        size_t size, capacity;
} Buffer;

static int buffer_append(Buffer *b, const char *s, size_t n) {
        if (b->size + n + 1 > b->capacity) {
                size_t capacity = MAX(b->capacity * 2, b->size + n + 1);
                char *p = realloc(b->data, MAX(capacity, (size_t) 64));
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->capacity = MAX(capacity, (size_t) 64);
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = '\0';
        return 0;
}

/* Adds a secret's name to the list unless it is there already. */
static int collect_secret(char ***secrets, size_t *n, const char *name, size_t len) {
        for (size_t i = 0; i < *n; i++)
                if (strlen((*secrets)[i]) == len && strncmp((*secrets)[i], name, len) == 0)
                        return 0;
        return strv_push(secrets, n, strndup(name, len));
}

_printf_(2, 3) static int fail(char **ret_error, const char *format, ...) {
        if (ret_error) {
                va_list ap;
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

int params_format_time(const char *format, int64_t t, const TzZone *zone, char **ret_value) {
        TzSpan span;
        CivilTime c;

        if (!zone)
                zone = tz_utc();
        tz_span_at(zone, t, &span);
        civil_from_seconds(t + span.utc_offset, &c);

        /* glibc's strftime reads only these fields (tm_gmtoff and tm_zone for %z and %Z), never TZ */
        int64_t days = floor_div(t + span.utc_offset, SECONDS_PER_DAY);
        struct tm tm = {
                .tm_year = (int) (c.year - 1900),
                .tm_mon = (int) c.month - 1,
                .tm_mday = (int) c.day,
                .tm_hour = (int) c.hour,
                .tm_min = (int) c.minute,
                .tm_sec = (int) c.second,
                .tm_wday = (int) weekday_from_days(days),
                .tm_yday = (int) (days - days_from_civil(c.year, 1, 1)),
                .tm_isdst = span.is_dst,
                .tm_gmtoff = span.utc_offset,
                .tm_zone = span.abbreviation,
        };

        /* a trailing space tells "empty result" apart from "buffer too small" */
        _cleanup_free_ char *spaced = NULL;
        if (asprintf(&spaced, "%s ", format) < 0)
                return -ENOMEM;
        for (size_t size = 64; size <= 4096; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* the user's format is the point */
                size_t n = strftime(buf, size, spaced, &tm);
#pragma GCC diagnostic pop
                if (n > 0) {
                        buf[n - 1] = '\0';
                        *ret_value = TAKE_PTR(buf);
                        return 0;
                }
        }
        return -ERANGE;
}

/*
 * Walks a template; for each reference calls the expansion (when ctx is set)
 * or only checks it, and collects the names of ${secret:NAME} references
 * into `secrets` when given. One parser for all of it, so a template that
 * passes the config check never fails to expand for a syntax reason.
 */
static int walk_collect(const char *template, const ParamContext *ctx, Buffer *out, char ***secrets,
                        size_t *n_secrets, char **ret_error) {
        const char *s = template;

        while (*s) {
                const char *dollar = strchr(s, '$');
                if (!dollar)
                        return out ? buffer_append(out, s, strlen(s)) : 0;
                if (out && buffer_append(out, s, (size_t) (dollar - s)) < 0)
                        return -ENOMEM;

                if (dollar[1] == '$') { /* $$ */
                        if (out && buffer_append(out, "$", 1) < 0)
                                return -ENOMEM;
                        s = dollar + 2;
                        continue;
                }
                if (dollar[1] != '{') { /* a lone $ stays */
                        if (out && buffer_append(out, "$", 1) < 0)
                                return -ENOMEM;
                        s = dollar + 1;
                        continue;
                }

                const char *name = dollar + 2, *close = strchr(name, '}');
                if (!close)
                        return fail(ret_error,
                                    "unterminated reference '%.20s' (missing '}'; write $$ for a literal $)",
                                    dollar);
                const char *colon = memchr(name, ':', (size_t) (close - name));
                size_t name_len = (size_t) ((colon ? colon : close) - name);

                RefKind kind = _REF_MAX;
                for (int k = 0; k < _REF_MAX; k++)
                        if (strlen(refs[k].name) == name_len && strncmp(refs[k].name, name, name_len) == 0)
                                kind = (RefKind) k;
                if (kind == _REF_MAX)
                        return fail(ret_error,
                                    "unknown reference '${%.*s}' (known: scheduled:FORMAT, now:FORMAT, "
                                    "schedule, "
                                    "run_id, attempt, env:NAME, secret:NAME)",
                                    (int) (close - name), name);
                if (refs[kind].takes_argument && (!colon || colon + 1 == close))
                        return fail(ret_error, "'${%.*s}' needs an argument, as in ${%s:%s}",
                                    (int) (close - name), name, refs[kind].name,
                                    kind == REF_SCHEDULED || kind == REF_NOW ? "%F" : "NAME");
                if (!refs[kind].takes_argument && colon)
                        return fail(ret_error, "'${%s}' takes no argument", refs[kind].name);
                s = close + 1;
                if (kind == REF_SECRET && secrets) {
                        int r = collect_secret(secrets, n_secrets, colon + 1, (size_t) (close - colon - 1));
                        if (r < 0)
                                return r;
                }
                if (!out)
                        continue;

                _cleanup_free_ char *argument =
                        colon ? strndup(colon + 1, (size_t) (close - colon - 1)) : NULL;
                _cleanup_free_ char *value = NULL;
                int r = 0;
                if (colon && !argument)
                        return -ENOMEM;
                switch (kind) {
                case REF_SCHEDULED:
                case REF_NOW:
                        r = params_format_time(argument, kind == REF_NOW ? ctx->now : ctx->scheduled,
                                               ctx->zone, &value);
                        if (r == -ERANGE)
                                return fail(ret_error, "'${%s:%s}' expands to more than 4 KiB",
                                            refs[kind].name, argument);
                        break;
                case REF_SCHEDULE:
                        value = strdup(ctx->schedule ? ctx->schedule : "");
                        break;
                case REF_RUN_ID:
                        value = strdup(ctx->run_id ? ctx->run_id : "");
                        break;
                case REF_ATTEMPT:
                        r = asprintf(&value, "%u", ctx->attempt) < 0 ? -ENOMEM : 0;
                        break;
                case REF_ENV:
                        value = strdup(secure_getenv(argument) ?: "");
                        break;
                case REF_SECRET:
                        if (!ctx->resolve_secret)
                                return fail(ret_error, "no secret provider for '${secret:%s}'", argument);
                        r = ctx->resolve_secret(ctx->userdata, argument, &value);
                        if (r < 0)
                                return fail(ret_error, "secret '%s': %s", argument, strerror(-r));
                        break;
                default:
                        abort();
                }
                if (r < 0)
                        return r;
                if (!value)
                        return -ENOMEM;
                if (buffer_append(out, value, strlen(value)) < 0)
                        return -ENOMEM;
                if (kind == REF_SECRET)
                        explicit_bzero(value, strlen(value));
        }
        return 0;
}

static int walk(const char *template, const ParamContext *ctx, Buffer *out, char **ret_error) {
        return walk_collect(template, ctx, out, NULL, NULL, ret_error);
}

int params_check(const char *template, char **ret_error) {
        return walk(template, NULL, NULL, ret_error);
}

int params_collect_secrets(const char *template, char ***secrets, size_t *n_secrets) {
        return walk_collect(template, NULL, NULL, secrets, n_secrets, NULL);
}

int params_collect_secrets_json(const cJSON *value, char ***secrets, size_t *n_secrets) {
        int r = 0;
        if (cJSON_IsString(value))
                r = params_collect_secrets(value->valuestring, secrets, n_secrets);
        for (const cJSON *child = value->child; r >= 0 && child; child = child->next)
                r = params_collect_secrets_json(child, secrets, n_secrets);
        return r;
}

int params_expand_string(const char *template, const ParamContext *ctx, char **ret_value, char **ret_error) {
        Buffer out = {};
        int r = walk(template, ctx, &out, ret_error);
        if (r >= 0 && !out.data)
                r = buffer_append(&out, "", 0);
        if (r < 0) {
                if (out.data)
                        explicit_bzero(out.data, out.size); /* it may hold a secret */
                free(out.data);
                return r;
        }
        *ret_value = out.data;
        return 0;
}

#define PARAMS_DEPTH_MAX 64

/* Replaces every string inside node, in place. */
static int expand_node(cJSON *node, unsigned depth, const ParamContext *ctx, char **ret_error) {
        if (depth > PARAMS_DEPTH_MAX)
                return fail(ret_error, "parameters nested deeper than %d levels", PARAMS_DEPTH_MAX);
        if (cJSON_IsString(node)) {
                char *expanded;
                int r = params_expand_string(node->valuestring, ctx, &expanded, ret_error);
                if (r < 0)
                        return r;
                free(node->valuestring);
                node->valuestring = expanded;
        }
        for (cJSON *child = node->child; child; child = child->next) {
                int r = expand_node(child, depth + 1, ctx, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int params_expand_json(const cJSON *value, const ParamContext *ctx, cJSON **ret_value, char **ret_error) {
        _cleanup_(json_freep) cJSON *copy = cJSON_Duplicate(value, true);
        if (!copy)
                return -ENOMEM;
        int r = expand_node(copy, 0, ctx, ret_error);
        if (r < 0)
                return r;
        *ret_value = TAKE_PTR(copy);
        return 0;
}
