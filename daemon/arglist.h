/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Argument lists of fan-out runs (a schedule's `arg_list`, like the one of
 * fused.submit): every item is one task's argument set, a JSON object whose
 * members are set over the schedule's parameters. An item that is not an
 * object (a number, a string, a list...) is the value of the one parameter
 * the schedule names with `arg_name`. Pure: no I/O, nothing logged.
 */

#include <stddef.h>

typedef struct cJSON cJSON;

#define ARGLIST_ITEMS_MAX 100000             /* more tasks than any one run should hold */
#define ARGLIST_FILE_MAX  (64 * 1024 * 1024) /* bytes of an arg_list file */

/*
 * Item `item` (taken, even on failure) as an argument set: an object as it
 * is, another value as { arg_name: value } (arg_name may be NULL: then such an
 * item is an error). Returns 0 and *ret_set, or -EINVAL with a malloc'd
 * *ret_error ("a number, and no arg_name names the parameter it sets"), or
 * -ENOMEM. An object with a repeated member name is an error too: which of
 * the two values a task would see depends on the reader.
 */
int arglist_item(cJSON *item, const char *arg_name, cJSON **ret_set, char **ret_error);

/*
 * Parses an arg_list file: a JSON array when its first non-blank character
 * is '[', else NDJSON (one JSON value per line; blank lines are skipped).
 * Each item goes through arglist_item(). Returns 0 and *ret_list (a JSON
 * array of objects), or -EINVAL with *ret_line (1-based; 0: the file as a
 * whole) and a malloc'd *ret_error, or -ENOMEM.
 */
int arglist_parse(const char *text, size_t size, const char *arg_name, cJSON **ret_list, unsigned *ret_line,
                  char **ret_error);

/*
 * One task's parameters as JSON text: `params` (an object) with every member
 * of `set` replacing or added to it. Returns 0 and a malloc'd *ret_json, or
 * -ENOMEM (-EINVAL if either is not an object).
 */
int arglist_merge(const cJSON *params, const cJSON *set, char **ret_json);
