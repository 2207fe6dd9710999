/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the arg_list file parser (arglist.h). Every list it accepts holds
 * objects only, and each must merge over a schedule's parameters into JSON
 * that parses back as an object with every member of the set; every refusal
 * says why and names a line of the file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arglist.h"
#include "cleanup.h"
#include "json-util.h"

static unsigned count_lines(const uint8_t *data, size_t size) {
        unsigned n = 1;
        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

static void check(const uint8_t *data, size_t size, const char *arg_name) {
        _cleanup_(json_freep) cJSON *list = NULL, *params = cJSON_Parse("{\"x\":0,\"day\":\"2024-01-01\"}");
        _cleanup_free_ char *error = NULL;
        unsigned line = 0;

        if (!params)
                return;
        int r = arglist_parse((const char *) data, size, arg_name, &list, &line, &error);
        if (r == -EINVAL && (!error || line > count_lines(data, size) || list))
                abort();
        if (r < 0)
                return;
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > ARGLIST_ITEMS_MAX)
                abort();

        for (const cJSON *set = list->child; set; set = set->next) {
                _cleanup_free_ char *merged = NULL;
                if (!cJSON_IsObject(set))
                        abort();
                if (arglist_merge(params, set, &merged) < 0)
                        return; /* out of memory */
                _cleanup_(json_freep) cJSON *back = cJSON_Parse(merged);
                if (!cJSON_IsObject(back) || !cJSON_GetObjectItemCaseSensitive(back, "day"))
                        abort();
                for (const cJSON *m = set->child; m; m = m->next)
                        if (!cJSON_GetObjectItemCaseSensitive(back, m->string))
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        check(data, size, NULL); /* plain items are errors */
        check(data, size, "x");  /* plain items set x */
        return 0;
}
