/* SPDX-License-Identifier: MIT */
#pragma once

/* What the benchmarks share: a monotonic clock in ns, a sleep, dying with a message, the build tree. */

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

static inline int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ms(int64_t ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* "PROGRAM: message" on stderr (%m works), then exit(1): atexit() handlers clean up. */
_printf_(1, 2) static inline _Noreturn void die(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fprintf(stderr, "%s: ", program_invocation_short_name);
        vfprintf(stderr, format, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(1);
}

/* `rel` in the build tree, found from this benchmark's own place in it (build/bench/NAME): "plugins" is
 * build/plugins. malloc'd. */
static inline char *bench_build_path(const char *rel) {
        char exe[PATH_MAX], *path;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0)
                die("/proc/self/exe: %m");
        exe[n] = '\0';
        if (asprintf(&path, "%s/../%s", dirname(exe), rel) < 0)
                die("out of memory");
        return path;
}
