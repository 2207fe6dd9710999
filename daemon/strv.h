/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated lists of malloc'd strings (argv, environments, error lists). */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Frees the strings and the list; accepts NULL. */
char **strv_free(char **l);

/* Appends s to *l of *n entries, keeping it NULL-terminated. Takes s, even on failure, so callers may
 * pass strdup() results unchecked (NULL is -ENOMEM). */
int strv_push(char ***l, size_t *n, char *s);
_printf_(3, 4) int strv_pushf(char ***l, size_t *n, const char *format, ...);

/* A malloc'd string printf-formatted; NULL on OOM. */
_printf_(1, 2) char *strprintf(const char *format, ...);

/* A copy of l (may be NULL: then *ret is NULL too): 0, or -ENOMEM. */
int strv_copy(const char *const *l, char ***ret);

/* Whether l (may be NULL) holds a string equal to s. */
bool strv_contains(char *const *l, const char *s);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
