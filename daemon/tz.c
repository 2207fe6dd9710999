/* SPDX-License-Identifier: MIT */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "calendar.h"
#include "cleanup.h"
#include "fileio.h"

#define TZIF_HEADER_SIZE 44
#define TZ_FILE_MAX      (1024 * 1024)
/* RFC 8536 section 3.2 bounds UT offsets to [-25h+1s, 26h-1s]. */
#define UTC_OFFSET_MIN (-89999)
#define UTC_OFFSET_MAX 93599
/*
 * Footer rules are evaluated only for these years, which keeps every rule
 * instant far from int64 overflow; the state at the last rule change of the
 * last year simply lasts forever. Nobody schedules jobs a billion years ahead.
 */
#define RULE_YEAR_MIN (-1000000000LL)
#define RULE_YEAR_MAX 1000000000LL
#define AVERAGE_YEAR  31556952 /* seconds in an average Gregorian year */

typedef struct TzType {
        int32_t utc_offset;
        bool is_dst;
        const char *abbreviation;
} TzType;

/* One date of a POSIX TZ rule: "Jn", "n" or "Mm.w.d", plus "/time". */
typedef struct TzRuleDate {
        char kind;     /* 'J', 'n' or 'M' */
        uint16_t day;  /* J: 1-365, n: 0-365, M: weekday 0-6 (Sunday = 0) */
        uint8_t month; /* M: 1-12 */
        uint8_t week;  /* M: 1-5, 5 = last */
        int32_t time;  /* local time of day in seconds, -167h..167h */
} TzRuleDate;

/*
 * The timeline is the table's spans up to its last transition (tail_start),
 * then the "tail": one fixed type, or the footer's DST rule. Table spans whose
 * offsets are equal are merged: span_start[k] and span_end[k] are the bounds
 * of the merged span around raw span k = [transitions[k-1], transitions[k]),
 * whose own type still provides is_dst and the abbreviation.
 */
struct TzZone {
        char *name;
        char *abbreviations;
        TzType *types;
        size_t n_transitions;
        int64_t *transitions; /* ascending; the same allocation holds span_start and span_end */
        int64_t *span_start, *span_end;
        uint8_t *transition_types;
        int64_t tail_start;
        TzType tail_std, tail_dst;
        bool tail_has_rule;
        TzRuleDate dst_start, dst_end;
        int32_t max_offset, min_offset;
};

static const TzZone utc_zone = {
        .name = (char *) "UTC",
        .tail_start = INT64_MIN,
        .tail_std = { .abbreviation = "UTC" },
};

const TzZone *tz_utc(void) {
        return &utc_zone;
}

TzZone *tz_zone_free(TzZone *zone) {
        if (!zone)
                return NULL;
        free(zone->name);
        free(zone->abbreviations);
        free(zone->types);
        free(zone->transitions);
        free(zone->transition_types);
        free(zone);
        return NULL;
}

const char *tz_zone_name(const TzZone *zone) {
        return zone->name;
}

int32_t tz_max_offset(const TzZone *zone) {
        return zone->max_offset;
}

int32_t tz_min_offset(const TzZone *zone) {
        return zone->min_offset;
}

/* Wall times of instants near the int64 ends saturate instead of overflowing. */
static int64_t add_sat(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

static int64_t max64(int64_t a, int64_t b) {
        return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b) {
        return a < b ? a : b;
}

/* ---------------------------------------------------------------- footer rules */

/* The day number of rule date d in `year`, which begins on day jan1. */
static int64_t rule_day(const TzRuleDate *d, int64_t year, int64_t jan1) {
        static const uint16_t month_start[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
        bool leap = is_leap_year(year);

        switch (d->kind) {
        case 'J': /* Feb 29 is never counted, so J60 is always March 1 */
                return jan1 + d->day - 1 + (leap && d->day >= 60);
        case 'n':
                return jan1 + d->day;
        default: {
                int64_t first = jan1 + month_start[d->month - 1] + (leap && d->month > 2);
                int64_t day = first + (d->day + 7 - weekday_from_days(first)) % 7 + 7 * (d->week - 1);
                return day < first + days_in_month(year, d->month) ? day : day - 7;
        }
        }
}

static int64_t rule_instant(const TzRuleDate *d, int64_t year, int64_t jan1, int32_t utc_offset) {
        return rule_day(d, year, jan1) * SECONDS_PER_DAY + d->time - utc_offset;
}

/*
 * The last instant <= t at which rule date d takes effect, and the first one
 * after t; INT64_MIN/INT64_MAX beyond the rule's years. The search starts in
 * `year` (which begins on day jan1), an estimate off by at most one: a rule
 * instant lies within 9 days of its year and moves by at least 358 days from
 * one year to the next, so either loop runs at most a few times.
 */
static void rule_neighbours(const TzRuleDate *d, int32_t utc_offset, int64_t t, int64_t year, int64_t jan1,
                            int64_t *ret_prev, int64_t *ret_next) {
        int64_t at = rule_instant(d, year, jan1, utc_offset), prev, next;

        if (at > t) {
                do {
                        next = at;
                        if (year == RULE_YEAR_MIN) {
                                at = INT64_MIN;
                                break;
                        }
                        year--;
                        jan1 -= 365 + is_leap_year(year);
                        at = rule_instant(d, year, jan1, utc_offset);
                } while (at > t);
                prev = at;
        } else
                for (;;) {
                        prev = at;
                        if (year == RULE_YEAR_MAX) {
                                next = INT64_MAX;
                                break;
                        }
                        jan1 += 365 + is_leap_year(year);
                        year++;
                        at = rule_instant(d, year, jan1, utc_offset);
                        if (at > t) {
                                next = at;
                                break;
                        }
                }
        *ret_prev = prev;
        *ret_next = next;
}

static void span_from_type(int64_t start, int64_t end, const TzType *type, TzSpan *ret) {
        *ret = (TzSpan){
                .start = start,
                .end = end,
                .utc_offset = type->utc_offset,
                .is_dst = type->is_dst,
                .abbreviation = type->abbreviation,
        };
}

/*
 * The span at t >= tail_start, not merged with the table. Consecutive rule
 * spans alternate between the two offsets, except for nonsensical rules whose
 * start and end swap order from one year to the next; those may yield two
 * adjacent spans with one offset, which the wall-time functions tolerate.
 */
static void tail_span_at(const TzZone *z, int64_t t, TzSpan *ret) {
        int64_t start_prev, start_next, end_prev, end_next;

        if (!z->tail_has_rule) {
                span_from_type(z->tail_start, INT64_MAX, &z->tail_std, ret);
                return;
        }

        int64_t year = floor_div(t, AVERAGE_YEAR) + 1970;
        year = year < RULE_YEAR_MIN ? RULE_YEAR_MIN : year > RULE_YEAR_MAX ? RULE_YEAR_MAX : year;
        int64_t jan1 = days_from_civil(year, 1, 1);

        /* DST starts at a standard-time wall clock and ends at a DST one. */
        rule_neighbours(&z->dst_start, z->tail_std.utc_offset, t, year, jan1, &start_prev, &start_next);
        rule_neighbours(&z->dst_end, z->tail_dst.utc_offset, t, year, jan1, &end_prev, &end_next);
        span_from_type(max64(max64(start_prev, end_prev), z->tail_start), min64(start_next, end_next),
                       start_prev > end_prev ? &z->tail_dst : &z->tail_std, ret);
}

/* ---------------------------------------------------------------- spans */

static const TzType *table_type(const TzZone *z, size_t k) {
        return &z->types[k == 0 ? 0 : z->transition_types[k - 1]];
}

/* Index of the first transition after t: a plain binary search, no allocation. */
static size_t upper_bound(const int64_t *a, size_t n, int64_t t) {
        size_t lo = 0;

        while (n > 0) {
                size_t half = n / 2;
                if (a[lo + half] <= t) {
                        lo += half + 1;
                        n -= half + 1;
                } else
                        n = half;
        }
        return lo;
}

void tz_span_at(const TzZone *zone, int64_t t, TzSpan *ret_span) {
        size_t n = zone->n_transitions;

        if (n == 0 || t >= zone->tail_start) {
                tail_span_at(zone, t, ret_span);
                if (n > 0 && ret_span->start == zone->tail_start &&
                    table_type(zone, n - 1)->utc_offset == ret_span->utc_offset)
                        ret_span->start = zone->span_start[n - 1];
                return;
        }

        size_t k = upper_bound(zone->transitions, n, t);
        const TzType *type = table_type(zone, k);
        int64_t end = zone->span_end[k];
        if (end == zone->tail_start) {
                TzSpan tail;
                tail_span_at(zone, end, &tail);
                if (tail.utc_offset == type->utc_offset)
                        end = tail.end;
        }
        span_from_type(zone->span_start[k], end, type, ret_span);
}

int32_t tz_offset_at(const TzZone *zone, int64_t t) {
        TzSpan span;
        tz_span_at(zone, t, &span);
        return span.utc_offset;
}

int64_t tz_wall_high_water(const TzZone *zone, int64_t t) {
        TzSpan span, prev;

        tz_span_at(zone, t, &span);
        int64_t wall = add_sat(t, span.utc_offset);
        /* Far enough into the span, no earlier offset can have shown a later time. */
        if (span.start == INT64_MIN || wall >= add_sat(span.start - 1, zone->max_offset))
                return wall;

        /*
         * Only the span just before can be ahead: real zones never fall back by more than the
         * previous span lasted, so spans further back have been overtaken.
         */
        tz_span_at(zone, span.start - 1, &prev);
        return max64(wall, add_sat(span.start - 1, prev.utc_offset));
}

int64_t tz_wall_first_instant(const TzZone *zone, int64_t wall, bool *ret_exists) {
        /* No instant before this one can show `wall` or later. */
        int64_t t = add_sat(wall, -(int64_t) zone->max_offset);

        for (;;) {
                TzSpan span;
                tz_span_at(zone, t, &span);

                /* Every earlier span showed only times before `wall`, so it fell into a gap. */
                if (span.start != INT64_MIN && wall < add_sat(span.start, span.utc_offset)) {
                        if (ret_exists)
                                *ret_exists = false;
                        return span.start;
                }

                int64_t candidate = add_sat(wall, -(int64_t) span.utc_offset);
                if (span.end == INT64_MAX || candidate < span.end) {
                        if (ret_exists)
                                *ret_exists = true;
                        return candidate;
                }
                t = span.end;
        }
}

/* ---------------------------------------------------------------- POSIX TZ footer */

static bool ascii_isdigit(char c) {
        return c >= '0' && c <= '9';
}

static bool ascii_isalpha(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1 to max_digits decimal digits; the digit limit rules out overflow. */
static int parse_number(const char **p, unsigned max_digits, unsigned *ret) {
        const char *s = *p;
        unsigned v = 0;

        while (ascii_isdigit(*s) && s - *p < (ptrdiff_t) max_digits)
                v = v * 10 + (unsigned) (*s++ - '0');
        if (s == *p || ascii_isdigit(*s))
                return -EBADMSG;
        *p = s;
        *ret = v;
        return 0;
}

/* [+-]hh[:mm[:ss]], returned with its sign as written. */
static int parse_hms(const char **p, unsigned max_hours, int32_t *ret) {
        const char *s = *p;
        unsigned h, m = 0, sec = 0;
        bool negative = *s == '-';

        if (*s == '+' || *s == '-')
                s++;
        if (parse_number(&s, 3, &h) < 0 || h > max_hours)
                return -EBADMSG;
        if (*s == ':') {
                s++;
                if (parse_number(&s, 2, &m) < 0 || m > 59)
                        return -EBADMSG;
                if (*s == ':') {
                        s++;
                        if (parse_number(&s, 2, &sec) < 0 || sec > 59)
                                return -EBADMSG;
                }
        }
        int32_t v = (int32_t) (h * 3600 + m * 60 + sec);
        *ret = negative ? -v : v;
        *p = s;
        return 0;
}

/* An alphabetic name or a quoted <...> one, copied NUL-terminated to *names, which advances. */
static int parse_name(const char **p, char **names, const char **ret_name) {
        const char *s = *p, *begin, *end;

        if (*s == '<') {
                begin = ++s;
                while (ascii_isalpha(*s) || ascii_isdigit(*s) || *s == '+' || *s == '-')
                        s++;
                if (*s != '>')
                        return -EBADMSG;
                end = s++;
        } else {
                begin = s;
                while (ascii_isalpha(*s))
                        s++;
                end = s;
        }
        if (end - begin < 3) /* POSIX minimum, which zic honours */
                return -EBADMSG;

        size_t len = (size_t) (end - begin);
        memcpy(*names, begin, len);
        (*names)[len] = '\0';
        *ret_name = *names;
        *names += len + 1;
        *p = s;
        return 0;
}

static int parse_rule_date(const char **p, TzRuleDate *ret) {
        const char *s = *p;
        TzRuleDate d = { .kind = *s, .time = 2 * 3600 };
        unsigned day, month, week;

        if (*s == 'J') {
                s++;
                if (parse_number(&s, 3, &day) < 0 || day < 1 || day > 365)
                        return -EBADMSG;
        } else if (*s == 'M') {
                s++;
                if (parse_number(&s, 2, &month) < 0 || month < 1 || month > 12 || *s++ != '.' ||
                    parse_number(&s, 1, &week) < 0 || week < 1 || week > 5 || *s++ != '.' ||
                    parse_number(&s, 1, &day) < 0 || day > 6)
                        return -EBADMSG;
                d.month = (uint8_t) month;
                d.week = (uint8_t) week;
        } else {
                d.kind = 'n';
                if (parse_number(&s, 3, &day) < 0 || day > 365)
                        return -EBADMSG;
        }
        d.day = (uint16_t) day;
        if (*s == '/') {
                s++;
                /* RFC 8536 (version 3) widens the hours to -167..167 */
                if (parse_hms(&s, 167, &d.time) < 0)
                        return -EBADMSG;
        }
        *ret = d;
        *p = s;
        return 0;
}

/* zic writes permanent DST as "0/0,J365/25": each DST period ends when the next one begins. */
static bool rule_is_permanent_dst(const TzZone *z) {
        for (int64_t year = 2023; year <= 2024; year++) { /* a common and a leap year */
                int64_t jan1 = days_from_civil(year, 1, 1), next_jan1 = days_from_civil(year + 1, 1, 1);
                if (rule_instant(&z->dst_end, year, jan1, z->tail_dst.utc_offset) <
                    rule_instant(&z->dst_start, year + 1, next_jan1, z->tail_std.utc_offset))
                        return false;
        }
        return true;
}

/*
 * Parses "std offset [dst [offset] ,start[/time],end[/time]]" into the zone's
 * tail. POSIX leaves a DST name without a rule to the implementation; zic
 * never writes one, so it is rejected.
 */
static int parse_footer(const char *s, char *names, TzZone *z) {
        int32_t std, dst;

        if (parse_name(&s, &names, &z->tail_std.abbreviation) < 0 || parse_hms(&s, 24, &std) < 0)
                return -EBADMSG;
        z->tail_std.utc_offset = -std; /* POSIX counts west of Greenwich as positive */
        if (*s == '\0')
                return 0;

        if (parse_name(&s, &names, &z->tail_dst.abbreviation) < 0)
                return -EBADMSG;
        dst = std - 3600;
        if (*s != ',' && parse_hms(&s, 24, &dst) < 0)
                return -EBADMSG;
        z->tail_dst.utc_offset = -dst;
        z->tail_dst.is_dst = true;
        if (*s++ != ',' || parse_rule_date(&s, &z->dst_start) < 0 || *s++ != ',' ||
            parse_rule_date(&s, &z->dst_end) < 0 || *s != '\0')
                return -EBADMSG;

        /* Either way the offset never changes: a fixed tail keeps spans maximal. */
        if (rule_is_permanent_dst(z))
                z->tail_std = z->tail_dst;
        else if (z->tail_dst.utc_offset != z->tail_std.utc_offset)
                z->tail_has_rule = true;
        return 0;
}

/* ---------------------------------------------------------------- TZif */

typedef struct TzifHeader {
        uint8_t version;
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} TzifHeader;

static uint32_t read_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t read_time(const uint8_t *p, unsigned size) {
        if (size == 4)
                return (int32_t) read_be32(p);
        return (int64_t) ((uint64_t) read_be32(p) << 32 | read_be32(p + 4));
}

static int parse_header(const uint8_t *p, size_t size, TzifHeader *ret) {
        if (size < TZIF_HEADER_SIZE || memcmp(p, "TZif", 4) != 0 || (p[4] != '\0' && p[4] < '2'))
                return -EBADMSG;
        *ret = (TzifHeader){
                .version = p[4],
                .isutcnt = read_be32(p + 20),
                .isstdcnt = read_be32(p + 24),
                .leapcnt = read_be32(p + 28),
                .timecnt = read_be32(p + 32),
                .typecnt = read_be32(p + 36),
                .charcnt = read_be32(p + 40),
        };
        return 0;
}

/* Sizes from 32-bit counts cannot overflow 64 bits. */
static uint64_t data_block_size(const TzifHeader *h, unsigned time_size) {
        return (uint64_t) h->timecnt * (time_size + 1) + (uint64_t) h->typecnt * 6 + h->charcnt +
               (uint64_t) h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_types(TzZone *z, const TzifHeader *h, const uint8_t *p) {
        const char *chars = (const char *) p + 6 * h->typecnt;

        memcpy(z->abbreviations, chars, h->charcnt);
        for (uint32_t i = 0; i < h->typecnt; i++, p += 6) {
                int32_t offset = (int32_t) read_be32(p);
                if (offset < UTC_OFFSET_MIN || offset > UTC_OFFSET_MAX || p[4] > 1 || p[5] >= h->charcnt ||
                    !memchr(chars + p[5], '\0', h->charcnt - p[5]))
                        return -EBADMSG;
                z->types[i] = (TzType){
                        .utc_offset = offset,
                        .is_dst = p[4],
                        .abbreviation = z->abbreviations + p[5],
                };
        }
        /* isstd and isut indicators only matter to POSIX-TZ emulation; just validate them */
        for (const uint8_t *i = p + h->charcnt; i < p + h->charcnt + h->isstdcnt + h->isutcnt; i++)
                if (*i > 1)
                        return -EBADMSG;
        return 0;
}

static int parse_transitions(TzZone *z, const TzifHeader *h, const uint8_t *p, unsigned time_size) {
        const uint8_t *indices = p + (size_t) h->timecnt * time_size;

        for (size_t i = 0; i < h->timecnt; i++) {
                z->transitions[i] = read_time(p + i * time_size, time_size);
                if ((i > 0 && z->transitions[i] <= z->transitions[i - 1]) || indices[i] >= h->typecnt)
                        return -EBADMSG;
                z->transition_types[i] = indices[i];
        }
        return 0;
}

static void finish_zone(TzZone *z) {
        size_t n = z->n_transitions;

        z->tail_start = n > 0 ? z->transitions[n - 1] : INT64_MIN;
        for (size_t k = 0; k < n; k++) {
                bool same = k > 0 && table_type(z, k)->utc_offset == table_type(z, k - 1)->utc_offset;
                z->span_start[k] = k == 0 ? INT64_MIN : same ? z->span_start[k - 1] : z->transitions[k - 1];
        }
        for (size_t k = n; k-- > 0;) {
                bool same = k + 1 < n && table_type(z, k)->utc_offset == table_type(z, k + 1)->utc_offset;
                z->span_end[k] = same ? z->span_end[k + 1] : z->transitions[k];
        }

        /* Bounds over the types in use: the table spans' and the tail's. */
        z->max_offset = z->min_offset = z->tail_std.utc_offset;
        for (size_t k = 0; k <= n; k++) {
                if (k == n && !z->tail_has_rule)
                        break;
                int32_t o = k < n ? table_type(z, k)->utc_offset : z->tail_dst.utc_offset;
                z->max_offset = o > z->max_offset ? o : z->max_offset;
                z->min_offset = o < z->min_offset ? o : z->min_offset;
        }
}

/*
 * Leap-second records ("right/" zones) are rejected: their instants count leap
 * seconds, unlike everything else here, and no system uses them as local time.
 */
int tz_zone_parse(const char *name, const void *data, size_t size, TzZone **ret_zone) {
        const uint8_t *p = data;
        unsigned time_size = 4;
        TzifHeader h;
        int r;

        r = parse_header(p, size, &h);
        if (r < 0)
                return r;
        if (h.version != '\0') {
                /* Version 2+ repeats everything with 64-bit times after the version 1 block. */
                uint64_t skip = TZIF_HEADER_SIZE + data_block_size(&h, 4);
                if (skip > size)
                        return -EBADMSG;
                p += skip;
                size -= skip;
                r = parse_header(p, size, &h);
                if (r < 0)
                        return r;
                time_size = 8;
        }
        p += TZIF_HEADER_SIZE;
        size -= TZIF_HEADER_SIZE;

        uint64_t block = data_block_size(&h, time_size);
        if (block > size || h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 || h.leapcnt > 0 ||
            (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt))
                return -EBADMSG;

        /* Version 2+ ends with "\n<POSIX TZ string>\n". */
        _cleanup_free_ char *footer = NULL;
        if (h.version != '\0') {
                const uint8_t *f = p + block, *nl;
                size_t left = size - block;
                if (left < 2 || f[0] != '\n' || !(nl = memchr(f + 1, '\n', left - 1)) ||
                    memchr(f + 1, '\0', (size_t) (nl - f - 1)))
                        return -EBADMSG;
                /* not strndup(): the data is no C string, and ASan's strict string checks know it */
                size_t len = (size_t) (nl - f - 1);
                footer = malloc(len + 1);
                if (!footer)
                        return -ENOMEM;
                memcpy(footer, f + 1, len);
                footer[len] = '\0';
        }

        _cleanup_(tz_zone_freep) TzZone *z = calloc(1, sizeof(TzZone));
        if (!z)
                return -ENOMEM;
        z->n_transitions = h.timecnt;
        z->name = strdup(name);
        /* Room for the footer's names after the table's, so no pointer into it ever moves. */
        z->abbreviations = malloc(h.charcnt + (footer ? strlen(footer) : 0) + 2);
        z->types = calloc(h.typecnt, sizeof(TzType));
        z->transitions = calloc(3 * (size_t) h.timecnt + 1, sizeof(int64_t));
        z->transition_types = malloc((size_t) h.timecnt + 1);
        if (!z->name || !z->abbreviations || !z->types || !z->transitions || !z->transition_types)
                return -ENOMEM;
        z->span_start = z->transitions + h.timecnt;
        z->span_end = z->span_start + h.timecnt;

        r = parse_types(z, &h, p + (size_t) h.timecnt * (time_size + 1));
        if (r < 0)
                return r;
        r = parse_transitions(z, &h, p, time_size);
        if (r < 0)
                return r;

        if (footer && footer[0] != '\0') {
                r = parse_footer(footer, z->abbreviations + h.charcnt, z);
                if (r < 0)
                        return r;
        } else /* no rule: the last type lasts forever */
                z->tail_std = *table_type(z, h.timecnt);

        finish_zone(z);
        *ret_zone = TAKE_PTR(z);
        return 0;
}

/* ---------------------------------------------------------------- database */

struct TzDb {
        char *root;
        TzZone **zones;
        size_t n_zones, n_allocated;
};

int tzdb_new(const char *root, TzDb **ret_db) {
        _cleanup_(tzdb_freep) TzDb *db = calloc(1, sizeof(TzDb));
        if (!db)
                return -ENOMEM;
        db->root = strdup(root ?: TZ_DEFAULT_ROOT);
        if (!db->root)
                return -ENOMEM;
        *ret_db = TAKE_PTR(db);
        return 0;
}

TzDb *tzdb_free(TzDb *db) {
        if (!db)
                return NULL;
        for (size_t i = 0; i < db->n_zones; i++)
                tz_zone_free(db->zones[i]);
        free(db->zones);
        free(db->root);
        free(db);
        return NULL;
}

/* Names stay inside the database: relative, no ".." component, no odd characters. */
static bool tz_name_is_valid(const char *name) {
        size_t len = strnlen(name, TZ_NAME_MAX + 1);

        if (len == 0 || len > TZ_NAME_MAX || name[0] == '/')
                return false;
        for (const char *c = name; *c; c++)
                if (!ascii_isalpha(*c) && !ascii_isdigit(*c) && !strchr("/_+-.", *c))
                        return false;
        for (const char *c = name;; c++) {
                size_t l = strcspn(c, "/");
                if (l == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                c += l;
                if (*c == '\0')
                        return true;
        }
}

static bool errno_is_missing(int error) {
        return error == ENOENT || error == ENOTDIR || error == ELOOP;
}

static int read_zone_file(const char *root, const char *name, uint8_t **ret_data, size_t *ret_size) {
        struct stat st;

        _cleanup_close_ int dir_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return errno_is_missing(errno) ? -ENOENT : -errno;
        /* Zones are symlinks within the database, so they are followed; a FIFO must not block us. */
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno_is_missing(errno) ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if (st.st_size > TZ_FILE_MAX)
                return -EBADMSG;

        int r = read_full_fd(fd, TZ_FILE_MAX, (char **) ret_data, ret_size);
        return r == -EFBIG ? -EBADMSG : r;
}

int tzdb_get(TzDb *db, const char *name, const TzZone **ret_zone) {
        _cleanup_(tz_zone_freep) TzZone *zone = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        if (!name || !tz_name_is_valid(name))
                return -EINVAL;
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0) {
                *ret_zone = tz_utc();
                return 0;
        }
        for (size_t i = 0; i < db->n_zones; i++)
                if (strcmp(db->zones[i]->name, name) == 0) {
                        *ret_zone = db->zones[i];
                        return 0;
                }

        /* Grow first, so that a loaded zone always finds its slot. */
        if (db->n_zones == db->n_allocated) {
                size_t n = db->n_allocated ? db->n_allocated * 2 : 16;
                TzZone **zones = reallocarray(db->zones, n, sizeof(TzZone *));
                if (!zones)
                        return -ENOMEM;
                db->zones = zones;
                db->n_allocated = n;
        }

        r = read_zone_file(db->root, name, &data, &size);
        if (r < 0)
                return r;
        r = tz_zone_parse(name, data, size, &zone);
        if (r < 0)
                return r;
        *ret_zone = db->zones[db->n_zones++] = TAKE_PTR(zone);
        return 0;
}

/* ---------------------------------------------------------------- system zone */

static int strdup_to(char **ret, const char *s) {
        char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int tz_system_zone_name(char **ret_name) {
        char target[PATH_MAX], line[TZ_NAME_MAX + 2];

        ssize_t n = readlink("/etc/localtime", target, sizeof(target) - 1);
        if (n > 0) {
                target[n] = '\0';
                const char *z = strstr(target, "zoneinfo/");
                if (z) {
                        z += strlen("zoneinfo/");
                        /* posix/ and right/ hold the same zones (right/ with leap seconds) */
                        if (strncmp(z, "posix/", 6) == 0 || strncmp(z, "right/", 6) == 0)
                                z += 6;
                        if (*z != '\0')
                                return strdup_to(ret_name, z);
                }
        }

        _cleanup_fclose_ FILE *f = fopen("/etc/timezone", "re");
        if (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, " \t\r\n")] = '\0';
                if (line[0] != '\0')
                        return strdup_to(ret_name, line);
        }
        return strdup_to(ret_name, "UTC");
}

const char *tz_error_message(int error) {
        switch (error) {
        case -ENOENT:
                return "unknown time zone";
        case -EINVAL:
                return "invalid time zone name";
        case -EBADMSG:
                return "corrupt time zone data for";
        case -ENOMEM:
                return "out of memory loading time zone";
        default:
                return "cannot load time zone";
        }
}
