/* SPDX-License-Identifier: MIT */
/* duration: "30s", "15m", "1h30m"; units are never guessed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "duration.h"
#include "macro.h"

static void test_accepts(void **state) {
        (void) state;
        static const struct {
                const char *text;
                uint64_t seconds;
        } cases[] = {
                { "0s", 0 },     { "30s", 30 },     { "15m", 900 },    { "2h", 7200 },
                { "1d", 86400 }, { "1w", 604800 },  { "1h30m", 5400 }, { "1d2h3m4s", 93784 },
                { "90S", 90 },   { "2h2h", 14400 }, { "007m", 420 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t s = 0;
                assert_int_equal(duration_parse(cases[i].text, UINT64_MAX, &s), 0);
                assert_int_equal(s, cases[i].seconds);
        }
}

static void test_rejects(void **state) {
        (void) state;
        static const char *const bad[] = {
                "", "30", "s", "m30", "1.5h", "1h 30m", "-1s", "1y", "1hh", " 1s"
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint64_t s = 42;
                assert_int_equal(duration_parse(bad[i], UINT64_MAX, &s), -EINVAL);
                assert_int_equal(s, 42);
        }
}

static void test_range(void **state) {
        (void) state;
        uint64_t s;
        assert_int_equal(duration_parse("366d", 366 * 86400, &s), 0);
        assert_int_equal(duration_parse("366d1s", 366 * 86400, &s), -ERANGE);
        assert_int_equal(duration_parse("99999999999999999999999999s", UINT64_MAX / 2, &s), -ERANGE);
        assert_int_equal(duration_parse("18446744073709551615w", UINT64_MAX, &s), -ERANGE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accepts),
                cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_range),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
