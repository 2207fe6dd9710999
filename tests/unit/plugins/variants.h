/* SPDX-License-Identifier: MIT */
#pragma once

/* The options structure of the test plugins (variants.c), as the tests read it back. */

#include <stdbool.h>
#include <stdint.h>

struct variant_options {
        char *label;
        char *path;
        bool flag;
        int64_t count;
        uint64_t every_usec;
        char **tags;
        bool leak_timer;
};
