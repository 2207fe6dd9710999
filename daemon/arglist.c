/* SPDX-License-Identifier: MIT */
#include "arglist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

static const char *kind_of(const cJSON *v) {
        return cJSON_IsNumber(v)   ? "a number"
               : cJSON_IsString(v) ? "a string"
               : cJSON_IsBool(v)   ? "a boolean"
               : cJSON_IsNull(v)   ? "null"
               : cJSON_IsArray(v)  ? "a list"
                                   : "a value";
}

_printf_(2, 3) static int fail(char **ret_error, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = vasprintf(ret_error, format, ap);
        va_end(ap);
        return r < 0 ? -ENOMEM : -EINVAL;
}

int arglist_item(cJSON *item, const char *arg_name, cJSON **ret_set, char **ret_error) {
        _cleanup_(json_freep) cJSON *owned = item;

        if (cJSON_IsObject(item)) {
                for (const cJSON *a = item->child; a; a = a->next)
                        for (const cJSON *b = a->next; b; b = b->next)
                                if (strcmp(a->string, b->string) == 0)
                                        return fail(ret_error, "an object that sets '%s' twice", a->string);
                *ret_set = TAKE_PTR(owned);
                return 0;
        }
        if (!arg_name)
                return fail(ret_error,
                            "%s, and no arg_name names the parameter it sets: write an object of "
                            "parameters, or set arg_name",
                            kind_of(item));

        cJSON *set = cJSON_CreateObject();
        if (!set || !cJSON_AddItemToObject(set, arg_name, item)) {
                cJSON_Delete(set);
                return -ENOMEM;
        }
        TAKE_PTR(owned);
        *ret_set = set;
        return 0;
}

/* ---------------------------------------------------------------- files */

typedef struct Reader {
        const char *text;
        size_t size, pos;
        unsigned line;          /* of `pos`, 1-based */
        size_t line_counted_to; /* newlines before this offset are in `line` */
} Reader;

/* The line of offset `to` (which only grows). */
static unsigned line_at(Reader *r, size_t to) {
        for (; r->line_counted_to < to && r->line_counted_to < r->size; r->line_counted_to++)
                if (r->text[r->line_counted_to] == '\n')
                        r->line++;
        return r->line;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_blanks(Reader *r) {
        while (r->pos < r->size && is_blank(r->text[r->pos]))
                r->pos++;
}

/* One JSON value at r->pos, which moves past it; NULL when there is none. */
static cJSON *read_value(Reader *r, size_t end) {
        const char *stop = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(r->text + r->pos, end - r->pos, &stop, false);
        if (v)
                r->pos = (size_t) (stop - r->text);
        return v;
}

/* Appends item number n (1-based, for messages) of the list, found at `line`. */
static int add_item(cJSON *list, cJSON *item, size_t n, const char *arg_name, unsigned line,
                    unsigned *ret_line, char **ret_error) {
        _cleanup_free_ char *why = NULL;
        cJSON *set;

        if (n > ARGLIST_ITEMS_MAX) {
                cJSON_Delete(item);
                *ret_line = line;
                return fail(ret_error, "more than %d items", ARGLIST_ITEMS_MAX);
        }
        int r = arglist_item(item, arg_name, &set, &why);
        if (r == -EINVAL) {
                *ret_line = line;
                return fail(ret_error, "item %zu: %s", n, why);
        }
        if (r < 0)
                return r;
        if (!cJSON_AddItemToArray(list, set)) {
                cJSON_Delete(set);
                return -ENOMEM;
        }
        return 0;
}

/* `[ item, item, ... ]`, item by item, so that an error names the line of the item it is about. */
static int parse_array(Reader *r, cJSON *list, const char *arg_name, unsigned *ret_line, char **ret_error) {
        size_t n = 0;

        r->pos++; /* '[' */
        for (;;) {
                skip_blanks(r);
                if (n == 0 && r->pos < r->size && r->text[r->pos] == ']')
                        break;
                unsigned line = line_at(r, r->pos);
                cJSON *item = read_value(r, r->size);
                if (!item) {
                        *ret_line = line;
                        return fail(ret_error, "item %zu is not valid JSON", n + 1);
                }
                int k = add_item(list, item, ++n, arg_name, line, ret_line, ret_error);
                if (k < 0)
                        return k;
                skip_blanks(r);
                if (r->pos < r->size && r->text[r->pos] == ',') {
                        r->pos++;
                        continue;
                }
                if (r->pos < r->size && r->text[r->pos] == ']')
                        break;
                *ret_line = line_at(r, r->pos);
                return fail(ret_error, "expected ',' or ']' after item %zu", n);
        }
        r->pos++; /* ']' */
        skip_blanks(r);
        if (r->pos < r->size) {
                *ret_line = line_at(r, r->pos);
                return fail(ret_error, "unexpected text after the list's closing ']'");
        }
        return 0;
}

/* One value per line; a line may hold surrounding blanks, nothing else. */
static int parse_lines(Reader *r, cJSON *list, const char *arg_name, unsigned *ret_line, char **ret_error) {
        size_t n = 0;

        while (r->pos < r->size) {
                const char *nl = memchr(r->text + r->pos, '\n', r->size - r->pos);
                size_t end = nl ? (size_t) (nl - r->text) : r->size;
                unsigned line = line_at(r, r->pos);

                skip_blanks(r);
                if (r->pos >= end) { /* a blank line (skip_blanks may have gone past it: go back) */
                        r->pos = end + (nl != NULL);
                        continue;
                }
                cJSON *item = read_value(r, end);
                if (!item) {
                        *ret_line = line;
                        return fail(ret_error, "not a JSON value (NDJSON holds one per line)");
                }
                int k = add_item(list, item, ++n, arg_name, line, ret_line, ret_error);
                if (k < 0)
                        return k;
                while (r->pos < end && is_blank(r->text[r->pos]))
                        r->pos++;
                if (r->pos < end) {
                        *ret_line = line;
                        return fail(ret_error, "unexpected text after the JSON value (NDJSON holds one per "
                                               "line)");
                }
                r->pos = end + (nl != NULL);
        }
        return 0;
}

int arglist_parse(const char *text, size_t size, const char *arg_name, cJSON **ret_list, unsigned *ret_line,
                  char **ret_error) {
        _cleanup_(json_freep) cJSON *list = cJSON_CreateArray();
        Reader r = { .text = text, .size = size, .line = 1 };
        unsigned line = 0;
        int k;

        if (!list)
                return -ENOMEM;
        if (memchr(text, '\0', size)) {
                *ret_line = 0;
                return fail(ret_error, "contains a NUL byte: not a text file");
        }
        skip_blanks(&r);
        if (r.pos < size && text[r.pos] == '[')
                k = parse_array(&r, list, arg_name, &line, ret_error);
        else {
                r.pos = 0; /* NDJSON counts from the first line */
                k = parse_lines(&r, list, arg_name, &line, ret_error);
        }
        if (k == -EINVAL)
                *ret_line = line;
        if (k < 0)
                return k;
        *ret_list = TAKE_PTR(list);
        return 0;
}

/* ---------------------------------------------------------------- merging */

int arglist_merge(const cJSON *params, const cJSON *set, char **ret_json) {
        if (!cJSON_IsObject(params) || !cJSON_IsObject(set))
                return -EINVAL;

        _cleanup_(json_freep) cJSON *merged = cJSON_Duplicate(params, true);
        if (!merged)
                return -ENOMEM;
        for (const cJSON *m = set->child; m; m = m->next) {
                cJSON *copy = cJSON_Duplicate(m, true);
                if (!copy)
                        return -ENOMEM;
                bool replaced = cJSON_GetObjectItemCaseSensitive(merged, m->string) &&
                                cJSON_ReplaceItemInObjectCaseSensitive(merged, m->string, copy);
                if (!replaced && !cJSON_AddItemToObject(merged, m->string, copy)) {
                        cJSON_Delete(copy);
                        return -ENOMEM;
                }
        }
        char *json = cJSON_PrintUnformatted(merged);
        if (!json)
                return -ENOMEM;
        *ret_json = json;
        return 0;
}
