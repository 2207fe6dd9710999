/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The input as a C string. Not strndup(): fuzz data is no C string, and
 * ASan's strict string checks rightly read strndup()'s source as one.
 */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (s) {
                memcpy(s, data, size);
                s[size] = '\0';
        }
        return s;
}
