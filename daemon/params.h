/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parameter templates: strings in a schedule's `params` (and command
 * arguments) may hold references expanded at dispatch time:
 *
 *   ${scheduled:FORMAT}  the slot's time in the schedule's zone, strftime FORMAT
 *   ${now:FORMAT}        the dispatch time in the schedule's zone
 *   ${schedule}          the schedule's name
 *   ${run_id}            the run's id
 *   ${attempt}           the attempt number, from 1
 *   ${env:NAME}          the daemon's environment variable NAME ("" when unset)
 *   ${secret:NAME}       a secret, resolved through the secret providers
 *   $$                   a literal $
 *
 * A `$` followed by anything else is kept as is, so "$HOME" passes through.
 */

#include <stdint.h>

#include "tz.h"

typedef struct cJSON cJSON;

typedef struct ParamContext {
        const char *schedule;
        const char *run_id;
        unsigned attempt;
        int64_t scheduled; /* seconds since the epoch */
        int64_t now;
        const TzZone *zone; /* for the two times; NULL: UTC */
        /* Resolves a secret; returns 0 and a malloc'd value, or a negative errno. */
        int (*resolve_secret)(void *userdata, const char *name, char **ret_value);
        void *userdata;
} ParamContext;

/*
 * Checks a template's references without expanding it. Returns 0, or -EINVAL
 * with a malloc'd message in *ret_error ("unknown reference ${sheduled}").
 */
int params_check(const char *template, char **ret_error);

/*
 * Appends the names of the secrets that a template (or every string inside a
 * JSON value) references to the NULL-terminated list *secrets of *n_secrets
 * entries, each name once: they are looked up before an expansion. The
 * template must have passed params_check(); -ENOMEM.
 */
int params_collect_secrets(const char *template, char ***secrets, size_t *n_secrets);
int params_collect_secrets_json(const cJSON *value, char ***secrets, size_t *n_secrets);

/* Expands one template into a malloc'd string; errors as params_check(), plus secret lookups. */
int params_expand_string(const char *template, const ParamContext *ctx, char **ret_value, char **ret_error);

/* Expands every string inside a JSON value (recursively) into a new value owned by the caller. */
int params_expand_json(const cJSON *value, const ParamContext *ctx, cJSON **ret_value, char **ret_error);

/* Formats instant t in zone with a strftime FORMAT, without touching TZ. */
int params_format_time(const char *format, int64_t t, const TzZone *zone, char **ret_value);
