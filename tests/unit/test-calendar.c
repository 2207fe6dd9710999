/* SPDX-License-Identifier: MIT */
/* calendar: proleptic Gregorian arithmetic, checked against a day-by-day walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "calendar.h"

/* Walks day by day from 1600-01-01 to 2400-12-31: every date must round-trip and count up by one. */
static void test_days_round_trip_every_date(void **state) {
        (void) state;
        int64_t expected = days_from_civil(1600, 1, 1);
        unsigned expected_weekday = weekday_from_days(expected);

        for (int64_t y = 1600; y <= 2400; y++)
                for (unsigned m = 1; m <= 12; m++)
                        for (unsigned d = 1; d <= days_in_month(y, m); d++) {
                                int64_t days = days_from_civil(y, m, d), ry;
                                unsigned rm, rd;
                                assert_int_equal(days, expected);
                                civil_from_days(days, &ry, &rm, &rd);
                                assert_int_equal(ry, y);
                                assert_int_equal(rm, m);
                                assert_int_equal(rd, d);
                                assert_int_equal(weekday_from_days(days), expected_weekday);
                                expected++;
                                expected_weekday = (expected_weekday + 1) % 7;
                        }
}

static void test_known_dates(void **state) {
        (void) state;
        assert_int_equal(days_from_civil(1970, 1, 1), 0);
        assert_int_equal(days_from_civil(1969, 12, 31), -1);
        assert_int_equal(days_from_civil(2000, 3, 1), 11017);
        assert_int_equal(weekday_from_days(0), 4);                            /* a Thursday */
        assert_int_equal(weekday_from_days(days_from_civil(2024, 3, 10)), 0); /* a Sunday */
        assert_int_equal(weekday_from_days(days_from_civil(1969, 12, 28)), 0);
}

static void test_leap_years(void **state) {
        (void) state;
        assert_true(is_leap_year(2000));
        assert_true(is_leap_year(2024));
        assert_false(is_leap_year(1900));
        assert_false(is_leap_year(2100));
        assert_false(is_leap_year(2023));
        assert_int_equal(days_in_month(2024, 2), 29);
        assert_int_equal(days_in_month(2100, 2), 28);
        assert_int_equal(days_in_month(2023, 4), 30);
        assert_int_equal(days_in_month(2023, 12), 31);
}

static void test_seconds_before_the_epoch_floor(void **state) {
        (void) state;
        CivilTime c;
        civil_from_seconds(-1, &c);
        assert_int_equal(c.year, 1969);
        assert_int_equal(c.month, 12);
        assert_int_equal(c.day, 31);
        assert_int_equal(c.hour, 23);
        assert_int_equal(c.minute, 59);
        assert_int_equal(c.second, 59);
        assert_int_equal(seconds_from_civil(&c), -1);
        assert_int_equal(floor_div(-1, 60), -1);
        assert_int_equal(floor_mod(-1, 60), 59);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_days_round_trip_every_date),
                cmocka_unit_test(test_known_dates),
                cmocka_unit_test(test_leap_years),
                cmocka_unit_test(test_seconds_before_the_epoch_floor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
