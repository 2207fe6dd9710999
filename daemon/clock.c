/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

/* The only mutable globals of the core: a test offset, changed only between loop iterations. */
static int64_t offset_usec;
static const char *test_file;

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

uint64_t random_u64(void) {
        uint64_t v = 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v ^= now_usec() * UINT64_C(0x9e3779b97f4a7c15); /* still unique enough for an id */
        return v;
}

uint64_t clock_to_real(uint64_t usec) {
        return (uint64_t) ((int64_t) usec - offset_usec);
}

static int parse_offset(const char *s, int64_t *ret_usec) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        while (*end == '\n' || *end == ' ')
                end++;
        if (errno != 0 || end == s || *end != '\0' || v < -(1LL << 40) || v > (1LL << 40))
                return -EINVAL;
        *ret_usec = (int64_t) v * 1000000;
        return 0;
}

int clock_init_from_environment(void) {
        const char *s = getenv("UDFCRON_TEST_CLOCK_OFFSET");
        test_file = getenv("UDFCRON_TEST_CLOCK_FILE");
        if (test_file && *test_file)
                return clock_reload_test_file();
        test_file = NULL;
        return s && *s ? parse_offset(s, &offset_usec) : 0;
}

bool clock_has_test_file(void) {
        return test_file;
}

int clock_reload_test_file(void) {
        char buf[64] = "";
        FILE *f = fopen(test_file, "re");
        if (!f)
                return -errno;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        return parse_offset(buf, &offset_usec);
}
