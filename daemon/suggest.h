/* SPDX-License-Identifier: MIT */
#pragma once

/* "Did you mean": the nearest known name to a misspelt one. */

#include <stddef.h>

/* Levenshtein distance; SIZE_MAX when either is longer than 64 bytes (no key is, so no suggestion). */
size_t edit_distance(const char *a, const char *b);

/* The first of the NULL-terminated `known` names nearest to `name`, if at most 2 edits away; else NULL. */
const char *suggest_name(const char *name, const char *const *known);
