/* SPDX-License-Identifier: MIT */
#include "timestamp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "calendar.h"

/* v as `width` digits, then `after`; returns where the next field goes. */
static char *digits(char *p, unsigned v, unsigned width, char after) {
        for (unsigned i = width; i > 0; i--, v /= 10)
                p[i - 1] = (char) ('0' + v % 10);
        p[width] = after;
        return p + width + 1;
}

char *timestamp_format(int64_t utc, int32_t utc_offset, char buf[static TIMESTAMP_MAX]) {
        CivilTime c;
        civil_from_seconds(utc + utc_offset, &c);

        char sign = utc_offset < 0 ? '-' : '+';
        unsigned off = (unsigned) (utc_offset < 0 ? -(int64_t) utc_offset : utc_offset);
        if (c.year < 0 || c.year > 9999 || off >= 100 * 3600) { /* never for fire times; kept exact anyway */
                int n = snprintf(buf, TIMESTAMP_MAX, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u%c%02u:%02u",
                                 c.year, c.month, c.day, c.hour, c.minute, c.second, sign, off / 3600,
                                 off / 60 % 60);
                if (off % 60 != 0 && n > 0 && n < TIMESTAMP_MAX)
                        snprintf(buf + n, TIMESTAMP_MAX - (size_t) n, ":%02u", off % 60);
                return buf;
        }
        /* by hand: listing 10,000 schedules formats 10,000 of these, and snprintf was most of the cost */
        char *p = digits(buf, (unsigned) c.year, 4, '-');
        p = digits(p, c.month, 2, '-');
        p = digits(p, c.day, 2, 'T');
        p = digits(p, c.hour, 2, ':');
        p = digits(p, c.minute, 2, ':');
        p = digits(p, c.second, 2, sign);
        p = digits(p, off / 3600, 2, ':');
        p = digits(p, off / 60 % 60, 2, off % 60 ? ':' : '\0');
        if (off % 60)
                digits(p, off % 60, 2, '\0');
        return buf;
}

/* Reads exactly `width` decimal digits. */
static bool read_digits(const char **p, unsigned width, unsigned *ret) {
        unsigned v = 0;
        for (unsigned i = 0; i < width; i++) {
                char ch = (*p)[i];
                if (ch < '0' || ch > '9')
                        return false;
                v = v * 10 + (unsigned) (ch - '0');
        }
        *p += width;
        *ret = v;
        return true;
}

static bool read_char(const char **p, char want) {
        if (**p != want)
                return false;
        (*p)++;
        return true;
}

static int parse_epoch(const char *text, int64_t *ret_utc) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
                return -EINVAL;
        *ret_utc = v;
        return 0;
}

int timestamp_parse(const char *text, int64_t *ret_utc) {
        const char *p = text;
        unsigned year, month, day, hour, minute, second = 0;

        if (*p == '@')
                return parse_epoch(p + 1, ret_utc);

        if (!read_digits(&p, 4, &year) || !read_char(&p, '-') || !read_digits(&p, 2, &month) ||
            !read_char(&p, '-') || !read_digits(&p, 2, &day))
                return -EINVAL;
        if (!read_char(&p, 'T') && !read_char(&p, 't') && !read_char(&p, ' '))
                return -EINVAL;
        if (!read_digits(&p, 2, &hour) || !read_char(&p, ':') || !read_digits(&p, 2, &minute))
                return -EINVAL;
        if (read_char(&p, ':')) {
                if (!read_digits(&p, 2, &second))
                        return -EINVAL;
                if (read_char(&p, '.') || read_char(&p, ',')) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        while (*p >= '0' && *p <= '9')
                                p++;
                }
        }
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
            minute > 59 || second > 59)
                return -EINVAL;

        int32_t offset = 0;
        if (read_char(&p, 'Z') || read_char(&p, 'z'))
                ;
        else if (*p == '+' || *p == '-') {
                int sign = *p++ == '-' ? -1 : 1;
                unsigned oh, om = 0;
                if (!read_digits(&p, 2, &oh))
                        return -EINVAL;
                if (read_char(&p, ':') ? !read_digits(&p, 2, &om) : (*p != '\0' && !read_digits(&p, 2, &om)))
                        return -EINVAL;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                offset = sign * (int32_t) (oh * 3600 + om * 60);
        } else
                return -EINVAL; /* a local time without an offset would be ambiguous */
        if (*p != '\0')
                return -EINVAL;

        CivilTime c = {
                .year = year, .month = month, .day = day, .hour = hour, .minute = minute, .second = second
        };
        *ret_utc = seconds_from_civil(&c) - offset;
        return 0;
}
