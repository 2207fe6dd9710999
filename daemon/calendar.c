/* SPDX-License-Identifier: MIT */
#include "calendar.h"

/*
 * Howard Hinnant's days_from_civil/civil_from_days: eras of 400 years make
 * every step exact integer arithmetic with no tables and no loops.
 */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;                                   /* [0, 399] */
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
        return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day) {
        days += 719468;
        int64_t era = floor_div(days, 146097);
        int64_t doe = days - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        unsigned d = (unsigned) (doy - (153 * mp + 2) / 5 + 1);
        unsigned m = (unsigned) (mp < 10 ? mp + 3 : mp - 9);

        *ret_year = yoe + era * 400 + (m <= 2);
        *ret_month = m;
        *ret_day = d;
}

void civil_from_seconds(int64_t seconds, CivilTime *ret) {
        int64_t days = floor_div(seconds, SECONDS_PER_DAY);
        unsigned sod = (unsigned) (seconds - days * SECONDS_PER_DAY);

        civil_from_days(days, &ret->year, &ret->month, &ret->day);
        ret->hour = sod / 3600;
        ret->minute = sod / 60 % 60;
        ret->second = sod % 60;
}

int64_t seconds_from_civil(const CivilTime *c) {
        return days_from_civil(c->year, c->month, c->day) * SECONDS_PER_DAY + c->hour * 3600 +
               c->minute * 60 + c->second;
}
