/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Table tests report every failing row and carry on, so that one broken rule
 * does not hide the others; each test asserts at its end that none was
 * reported. Include after <cmocka.h>.
 */

#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

static unsigned mismatches;

_printf_(1, 2) static inline void mismatch(const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        print_error("MISMATCH %s\n", buf);
        mismatches++;
}

/* A cmocka setup function: each test starts with a clean count. */
static inline int reset_mismatches(void **state) {
        (void) state;
        mismatches = 0;
        return 0;
}

#define assert_no_mismatches() assert_int_equal(mismatches, 0)
