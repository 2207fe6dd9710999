/* SPDX-License-Identifier: MIT */
/* timestamp: ISO-8601 with explicit offsets, both ways. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "macro.h"
#include "timestamp.h"

static void test_format(void **state) {
        (void) state;
        char buf[TIMESTAMP_MAX];
        assert_string_equal(timestamp_format(0, 0, buf), "1970-01-01T00:00:00+00:00");
        assert_string_equal(timestamp_format(1710054000, -4 * 3600, buf), "2024-03-10T03:00:00-04:00");
        assert_string_equal(timestamp_format(1704047400, 19800, buf), "2024-01-01T00:00:00+05:30");
        assert_string_equal(timestamp_format(-1, 0, buf), "1969-12-31T23:59:59+00:00");
        /* old local mean time offsets have seconds: Amsterdam's +00:19:32 */
        assert_string_equal(timestamp_format(0, 1172, buf), "1970-01-01T00:19:32+00:19:32");
}

static void test_parse_accepts(void **state) {
        (void) state;
        static const struct {
                const char *text;
                int64_t utc;
        } cases[] = {
                { "2024-03-10T03:00:00-04:00", 1710054000 },
                { "2024-03-10T07:00:00Z", 1710054000 },
                { "2024-03-10t07:00:00z", 1710054000 },
                { "2024-03-10 07:00Z", 1710054000 },
                { "2024-03-10T07:00:00.999+00:00", 1710054000 },
                { "2024-03-10T12:30:00+0530", 1710054000 },
                { "2024-03-10T12:30:00+05", 1710055800 },
                { "@1710054000", 1710054000 },
                { "@-1", -1 },
                { "2024-02-29T00:00:00Z", 1709164800 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int64_t t = 0;
                assert_int_equal(timestamp_parse(cases[i].text, &t), 0);
                assert_int_equal(t, cases[i].utc);
        }
}

static void test_parse_rejects(void **state) {
        (void) state;
        static const char *const bad[] = {
                "",
                "2024",
                "2024-03-10",
                "2024-03-10T03:00", /* no offset: ambiguous */
                "2024-03-10T03:00:00",
                "2023-02-29T00:00:00Z",
                "2024-13-01T00:00:00Z",
                "2024-00-01T00:00:00Z",
                "2024-04-31T00:00:00Z",
                "2024-03-10T24:00:00Z",
                "2024-03-10T23:60:00Z",
                "2024-03-10T23:59:60Z",
                "2024-03-10T03:00:00+24:00",
                "2024-03-10T03:00:00+05:60",
                "2024-03-10T03:00:00Zjunk",
                "2024-03-10T03:00:00.Z",
                "24-03-10T03:00:00Z",
                "2024-3-10T03:00:00Z",
                "@",
                "@12x",
                "@99999999999999999999999",
                "yesterday",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t t = 42;
                assert_int_equal(timestamp_parse(bad[i], &t), -EINVAL);
                assert_int_equal(t, 42); /* ret_ untouched on failure */
        }
}

static void test_round_trip(void **state) {
        (void) state;
        static const int32_t offsets[] = { 0, 3600, -18000, 19800, 37800, -10800, 45900 };
        for (int64_t t = -86400 * 366; t < INT64_C(7258118400); t += 7919 * 3607)
                for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
                        char buf[TIMESTAMP_MAX];
                        int64_t back;
                        assert_int_equal(timestamp_parse(timestamp_format(t, offsets[i], buf), &back), 0);
                        assert_int_equal(back, t);
                }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_parse_accepts),
                cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
