/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* The only mutable global of the core: set once at start, before the loop runs. */
static int64_t offset_usec;

uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + offset_usec);
}

uint64_t now_monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t clock_to_real(uint64_t usec) {
        return (uint64_t) ((int64_t) usec - offset_usec);
}

int clock_init_from_environment(void) {
        const char *s = getenv("UDFCRON_TEST_CLOCK_OFFSET");
        if (!s || !*s)
                return 0;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < -(1LL << 40) || v > (1LL << 40))
                return -EINVAL;
        offset_usec = (int64_t) v * 1000000;
        return 0;
}
