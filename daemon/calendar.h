/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Proleptic Gregorian calendar arithmetic on plain integers: no time zones,
 * no libc time functions, valid for every year an int64_t day count can hold.
 * "Wall seconds" are seconds since 1970-01-01T00:00:00 of some local clock,
 * i.e. a civil date and time flattened onto a line; tz.h maps them to UTC.
 */

#include <stdbool.h>
#include <stdint.h>

#define SECONDS_PER_DAY 86400

typedef struct CivilTime {
        int64_t year;
        unsigned month;  /* 1-12 */
        unsigned day;    /* 1-31 */
        unsigned hour;   /* 0-23 */
        unsigned minute; /* 0-59 */
        unsigned second; /* 0-59 */
} CivilTime;

static inline bool is_leap_year(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline unsigned days_in_month(int64_t y, unsigned m) {
        static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Floor division, so that instants before 1970 land on the right day. */
static inline int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int64_t floor_mod(int64_t a, int64_t b) {
        return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of the given date (month 1-12, day 1-31). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) __attribute__((pure));
void civil_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day);

/* 0 = Sunday ... 6 = Saturday. */
static inline unsigned weekday_from_days(int64_t days) {
        return (unsigned) floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
}

void civil_from_seconds(int64_t seconds, CivilTime *ret);
int64_t seconds_from_civil(const CivilTime *c) __attribute__((pure));
