/* SPDX-License-Identifier: MIT */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "calendar.h"
#include "cleanup.h"
#include "duration.h"

/* ------------------------------------------------------------------ fields */

typedef enum Field {
        FIELD_SECOND,
        FIELD_MINUTE,
        FIELD_HOUR,
        FIELD_DAY,
        FIELD_MONTH,
        FIELD_WEEKDAY,
        FIELD_YEAR,
        _FIELD_MAX,
} Field;

typedef struct FieldSpec {
        const char *name;
        unsigned min, max;
        const char *const *names; /* names[i] is value min + i */
} FieldSpec;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                           "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const weekday_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };

static const FieldSpec field_specs[_FIELD_MAX] = {
        [FIELD_SECOND] = { "second", 0, 59, NULL },
        [FIELD_MINUTE] = { "minute", 0, 59, NULL },
        [FIELD_HOUR] = { "hour", 0, 23, NULL },
        [FIELD_DAY] = { "day-of-month", 1, 31, NULL },
        [FIELD_MONTH] = { "month", 1, 12, month_names },
        /* 7 is accepted as a second name for Sunday and folded onto 0 */
        [FIELD_WEEKDAY] = { "day-of-week", 0, 7, weekday_names },
        [FIELD_YEAR] = { "year", CRON_YEAR_MIN, CRON_YEAR_MAX, NULL },
};

/* The layouts by field count; the 5-field form fires at second 0. */
static const Field layout5[] = { FIELD_MINUTE, FIELD_HOUR, FIELD_DAY, FIELD_MONTH, FIELD_WEEKDAY };
static const Field layout6[] = { FIELD_SECOND, FIELD_MINUTE, FIELD_HOUR,
                                 FIELD_DAY,    FIELD_MONTH,  FIELD_WEEKDAY };
static const Field layout7[] = { FIELD_SECOND, FIELD_MINUTE,  FIELD_HOUR, FIELD_DAY,
                                 FIELD_MONTH,  FIELD_WEEKDAY, FIELD_YEAR };

#define YEAR_WORDS ELEMENTSOF(((CronExpr *) NULL)->years)

/* Values of one field as a bit set; bit n is value n (years: n + CRON_YEAR_MIN). */
typedef struct ValueSet {
        uint64_t bits[YEAR_WORDS];
} ValueSet;

static void set_add_range(ValueSet *set, unsigned lo, unsigned hi, unsigned step) {
        for (unsigned v = lo; v <= hi; v += step)
                set->bits[v / 64] |= UINT64_C(1) << (v % 64);
}

/* ------------------------------------------------------------------ bit helpers */

/* Lowest set bit >= from, or -1. */
static inline int next_bit(uint64_t mask, int from) {
        if (from >= 64)
                return -1;
        if (from < 0)
                from = 0;
        uint64_t m = mask >> from;
        return m ? from + __builtin_ctzll(m) : -1;
}

/* Highest set bit <= from, or -1. */
static inline int prev_bit(uint64_t mask, int from) {
        if (from < 0)
                return -1;
        if (from > 63)
                from = 63;
        uint64_t m = mask & (~UINT64_C(0) >> (63 - from));
        return m ? 63 - __builtin_clzll(m) : -1;
}

static int64_t next_year(const CronExpr *e, int64_t y) {
        for (int64_t i = y < CRON_YEAR_MIN ? 0 : y - CRON_YEAR_MIN; i <= CRON_YEAR_MAX - CRON_YEAR_MIN;
             i = (i / 64 + 1) * 64) {
                int b = next_bit(e->years[i / 64], (int) (i % 64));
                if (b >= 0)
                        return CRON_YEAR_MIN + i / 64 * 64 + b;
        }
        return -1;
}

static int64_t prev_year(const CronExpr *e, int64_t y) {
        for (int64_t i = y > CRON_YEAR_MAX ? CRON_YEAR_MAX - CRON_YEAR_MIN : y - CRON_YEAR_MIN; i >= 0;
             i = i / 64 * 64 - 1) {
                int b = prev_bit(e->years[i / 64], (int) (i % 64));
                if (b >= 0)
                        return CRON_YEAR_MIN + i / 64 * 64 + b;
        }
        return -1;
}

/* ------------------------------------------------------------------ days */

/* The weekday (0 = Sunday) nearest to day n that lies in the same month (Quartz `nW`). */
static unsigned nearest_weekday(unsigned n, unsigned dim, unsigned weekday_of_first) {
        unsigned wd = (weekday_of_first + n - 1) % 7;
        if (wd == 6) /* Saturday: the Friday before, or the Monday after when n is the 1st */
                return n == 1 ? n + 2 : n - 1;
        if (wd == 0) /* Sunday: the Monday after, or the Friday before when n is the last day */
                return n == dim ? n - 2 : n + 1;
        return n;
}

/*
 * The days of month `m` of year `y` that match both day fields: bit d set for
 * day d. Days are where cron's two day fields meet: cronie ORs them unless
 * either starts with `*` (or is `?`), and then both must match.
 */
static uint32_t day_mask(const CronExpr *e, int64_t y, unsigned m) {
        unsigned dim = days_in_month(y, m);
        uint32_t in_month = (uint32_t) (((UINT64_C(1) << dim) - 1) << 1);

        uint32_t dom = e->days;
        if (e->last_day_offset >= 0 && (unsigned) e->last_day_offset < dim)
                dom |= UINT32_C(1) << (dim - (unsigned) e->last_day_offset);

        /* No weekday in the picture (the common case): no need to know what day the 1st is. */
        if (e->weekdays == 0x7f && !e->last_weekdays && !e->nth_weekdays && !e->nearest_weekdays &&
            !e->last_weekday)
                return e->day_or ? in_month : dom & in_month;

        unsigned wd1 = weekday_from_days(days_from_civil(y, m, 1));
        unsigned wd_last = (wd1 + dim - 1) % 7;
        if (e->last_weekday)
                dom |= UINT32_C(1) << (wd_last == 6 ? dim - 1 : wd_last == 0 ? dim - 2 : dim);
        for (uint32_t w = e->nearest_weekdays & in_month; w; w &= w - 1)
                dom |= UINT32_C(1) << nearest_weekday((unsigned) __builtin_ctz(w), dim, wd1);

        /* Rotate the weekday set so bit 0 is the weekday of the 1st, then repeat it weekly. */
        uint64_t r = ((e->weekdays >> wd1) | (e->weekdays << (7 - wd1))) & 0x7f;
        uint32_t dow = (uint32_t) ((r | r << 7 | r << 14 | r << 21 | r << 28) << 1);
        for (unsigned w = e->last_weekdays; w; w &= w - 1)
                dow |= UINT32_C(1) << (dim - (wd_last + 7 - (unsigned) __builtin_ctz(w)) % 7);
        for (uint64_t w = e->nth_weekdays; w; w &= w - 1) {
                unsigned bit = (unsigned) __builtin_ctzll(w), weekday = bit % 7, nth = bit / 7;
                unsigned day = 1 + (weekday + 7 - wd1) % 7 + 7 * nth;
                if (day <= dim)
                        dow |= UINT32_C(1) << day;
        }

        return (e->day_or ? dom | dow : dom & dow) & in_month;
}

/* ------------------------------------------------------------------ wall-time search */

/*
 * The smallest wall time >= w that the calendar fields match. Walks the
 * fields from the year down and only ever moves to the next candidate of the
 * coarsest field that failed, so its cost is bounded by the field structure
 * (at most a few years of months for the sparsest day patterns).
 */
static int wall_next(const CronExpr *e, int64_t w, int64_t *ret_wall) {
        CivilTime c;
        civil_from_seconds(w, &c);
        int64_t y = c.year;
        int mo = (int) c.month, d = (int) c.day, h = (int) c.hour, mi = (int) c.minute, s = (int) c.second;

        for (;;) {
                int64_t yy = next_year(e, y);
                if (yy < 0)
                        return -ENOENT;
                if (yy != y) {
                        y = yy;
                        mo = 1, d = 1, h = 0, mi = 0, s = 0;
                }
                int m2 = next_bit(e->months, mo);
                if (m2 < 0) {
                        y++, mo = 1, d = 1, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (m2 != mo)
                        mo = m2, d = 1, h = 0, mi = 0, s = 0;
                int d2 = next_bit(day_mask(e, y, (unsigned) mo), d);
                if (d2 < 0) {
                        mo++, d = 1, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (d2 != d)
                        d = d2, h = 0, mi = 0, s = 0;
                int h2 = next_bit(e->hours, h);
                if (h2 < 0) {
                        d++, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (h2 != h)
                        h = h2, mi = 0, s = 0;
                int mi2 = next_bit(e->minutes, mi);
                if (mi2 < 0) {
                        h++, mi = 0, s = 0;
                        continue;
                }
                if (mi2 != mi)
                        mi = mi2, s = 0;
                int s2 = next_bit(e->seconds, s);
                if (s2 < 0) {
                        mi++, s = 0;
                        continue;
                }
                s = s2;
                break;
        }

        *ret_wall =
                days_from_civil(y, (unsigned) mo, (unsigned) d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + s;
        return 0;
}

/* The largest wall time <= w that the calendar fields match; wall_next() mirrored. */
static int wall_prev(const CronExpr *e, int64_t w, int64_t *ret_wall) {
        CivilTime c;
        civil_from_seconds(w, &c);
        int64_t y = c.year;
        int mo = (int) c.month, d = (int) c.day, h = (int) c.hour, mi = (int) c.minute, s = (int) c.second;

        for (;;) {
                int64_t yy = prev_year(e, y);
                if (yy < 0)
                        return -ENOENT;
                if (yy != y) {
                        y = yy;
                        mo = 12, d = 31, h = 23, mi = 59, s = 59;
                }
                int m2 = prev_bit(e->months, mo);
                if (m2 < 0) {
                        y--, mo = 12, d = 31, h = 23, mi = 59, s = 59;
                        continue;
                }
                if (m2 != mo)
                        mo = m2, d = 31, h = 23, mi = 59, s = 59;
                int d2 = prev_bit(day_mask(e, y, (unsigned) mo), d);
                if (d2 < 0) {
                        mo--, d = 31, h = 23, mi = 59, s = 59;
                        continue;
                }
                if (d2 != d)
                        d = d2, h = 23, mi = 59, s = 59;
                int h2 = prev_bit(e->hours, h);
                if (h2 < 0) {
                        d--, h = 23, mi = 59, s = 59;
                        continue;
                }
                if (h2 != h)
                        h = h2, mi = 59, s = 59;
                int mi2 = prev_bit(e->minutes, mi);
                if (mi2 < 0) {
                        h--, mi = 59, s = 59;
                        continue;
                }
                if (mi2 != mi)
                        mi = mi2, s = 59;
                int s2 = prev_bit(e->seconds, s);
                if (s2 < 0) {
                        mi--, s = 59;
                        continue;
                }
                s = s2;
                break;
        }

        *ret_wall =
                days_from_civil(y, (unsigned) mo, (unsigned) d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + s;
        return 0;
}

/* ------------------------------------------------------------------ instants */

/*
 * Fires lie in [1970-01-01T00:00:00Z, 2200-01-01T00:00:00Z) for @every; a
 * calendar expression's local times stay within the years 1970-2199, which
 * the field walk enforces. Instants far outside are answered without a
 * search, which also keeps every wall/instant sum far from int64_t overflow.
 */
#define EVERY_END   INT64_C(7258118400) /* 2200-01-01T00:00:00Z */
#define INSTANT_MIN (-2 * SECONDS_PER_DAY)
#define INSTANT_MAX (EVERY_END + 2 * SECONDS_PER_DAY)

static void fire_set(CronFire *ret, int64_t at, int64_t wall, unsigned flags) {
        *ret = (CronFire){ .at = at, .wall = wall, .flags = flags };
}

/* Whether `wall`, shown during span `sp`, is the clock's second showing of it. */
static bool is_repeat(const TzZone *zone, const TzSpan *sp, int64_t wall) {
        if (sp->start == INT64_MIN || wall - sp->utc_offset - sp->start >= SECONDS_PER_DAY)
                return false;
        int32_t before = tz_offset_at(zone, sp->start - 1);
        return before > sp->utc_offset && wall < sp->start + before;
}

/*
 * Wildcard expressions follow real time: every instant whose wall time
 * matches fires, so skipped local times never fire and repeated ones fire on
 * both passes. Walks the zone's spans from `t`, jumping straight to the span
 * where the next match can first occur; only a fall-back at the end of the
 * current span forces a rescan, since it shows earlier wall times again.
 */
static int next_real_time(const CronExpr *e, const TzZone *zone, int64_t t, CronFire *ret) {
        for (;;) {
                TzSpan sp;
                int64_t m;
                tz_span_at(zone, t, &sp);
                int r = wall_next(e, t + sp.utc_offset, &m);
                if (r < 0)
                        return r;
                if (sp.end == INT64_MAX || m - sp.utc_offset < sp.end) {
                        fire_set(ret, m - sp.utc_offset, m,
                                 is_repeat(zone, &sp, m) ? CRON_FIRE_DST_REPEAT : 0);
                        return 0;
                }
                if (sp.end >= INSTANT_MAX)
                        return -ENOENT;
                t = tz_offset_at(zone, sp.end) < sp.utc_offset ? sp.end
                                                               : MAX(sp.end, m - tz_max_offset(zone));
        }
}

static int prev_real_time(const CronExpr *e, const TzZone *zone, int64_t t, CronFire *ret) {
        for (;;) {
                TzSpan sp;
                int64_t m;
                tz_span_at(zone, t, &sp);
                int r = wall_prev(e, t + sp.utc_offset, &m);
                if (r < 0)
                        return r;
                if (sp.start == INT64_MIN || m - sp.utc_offset >= sp.start) {
                        fire_set(ret, m - sp.utc_offset, m,
                                 is_repeat(zone, &sp, m) ? CRON_FIRE_DST_REPEAT : 0);
                        return 0;
                }
                if (sp.start <= INSTANT_MIN)
                        return -ENOENT;
                t = tz_offset_at(zone, sp.start - 1) > sp.utc_offset
                            ? sp.start - 1
                            : MIN(sp.start - 1, m - tz_min_offset(zone));
        }
}

/*
 * Fixed-time expressions name wall times, each of which fires once: at its
 * first occurrence, or (policy "shift") at the first instant after the gap
 * that swallowed it. That instant, f(wall), never decreases as wall grows, so
 * the next fire after t belongs to the first match above the highest wall
 * time the clock has shown by t, and the previous fire before t to the last
 * match at or below the highest wall time shown before t.
 */
static int next_fixed_time(const CronExpr *e, const TzZone *zone, int64_t after, CronFire *ret) {
        int64_t w = tz_wall_high_water(zone, after) + 1;

        for (;;) {
                int64_t m;
                bool exists;
                int r = wall_next(e, w, &m);
                if (r < 0)
                        return r;
                int64_t at = tz_wall_first_instant(zone, m, &exists);
                if (exists || e->dst_policy == CRON_DST_SHIFT) {
                        fire_set(ret, at, m, exists ? 0 : CRON_FIRE_DST_GAP);
                        return 0;
                }
                w = at + tz_offset_at(zone, at); /* skip the rest of the gap */
        }
}

static int prev_fixed_time(const CronExpr *e, const TzZone *zone, int64_t before, CronFire *ret) {
        int64_t w = tz_wall_high_water(zone, before - 1);

        for (;;) {
                int64_t m;
                bool exists;
                int r = wall_prev(e, w, &m);
                if (r < 0)
                        return r;
                int64_t at = tz_wall_first_instant(zone, m, &exists);
                if (e->dst_policy == CRON_DST_SHIFT) {
                        /*
                         * Several wall times may share this instant (a gap's times and the one
                         * just after it): report the first, as cron_next() does.
                         */
                        int64_t first;
                        if (wall_next(e, tz_wall_high_water(zone, at - 1) + 1, &first) >= 0 && first < m) {
                                m = first;
                                (void) tz_wall_first_instant(zone, m, &exists);
                        }
                        fire_set(ret, at, m, exists ? 0 : CRON_FIRE_DST_GAP);
                        return 0;
                }
                if (exists) {
                        fire_set(ret, at, m, 0);
                        return 0;
                }
                w = at - 1 + tz_offset_at(zone, at - 1); /* the last wall time before the gap */
        }
}

int cron_next(const CronExpr *e, const TzZone *zone, int64_t after, CronFire *ret_fire) {
        if (!zone)
                zone = tz_utc();
        if (after >= INSTANT_MAX)
                return -ENOENT;
        if (after < INSTANT_MIN)
                after = INSTANT_MIN;

        if (e->every > 0) {
                int64_t at = after < 0 ? 0 : (floor_div(after, e->every) + 1) * e->every;
                if (at >= EVERY_END)
                        return -ENOENT;
                fire_set(ret_fire, at, at + tz_offset_at(zone, at), 0);
                return 0;
        }
        return e->fixed_time ? next_fixed_time(e, zone, after, ret_fire)
                             : next_real_time(e, zone, after + 1, ret_fire);
}

int cron_prev(const CronExpr *e, const TzZone *zone, int64_t before, CronFire *ret_fire) {
        if (!zone)
                zone = tz_utc();
        if (before <= INSTANT_MIN)
                return -ENOENT;
        if (before > INSTANT_MAX)
                before = INSTANT_MAX;

        if (e->every > 0) {
                int64_t at = floor_div(MIN(before, EVERY_END) - 1, e->every) * e->every;
                if (at < 0)
                        return -ENOENT;
                fire_set(ret_fire, at, at + tz_offset_at(zone, at), 0);
                return 0;
        }
        return e->fixed_time ? prev_fixed_time(e, zone, before, ret_fire)
                             : prev_real_time(e, zone, before - 1, ret_fire);
}

/* ------------------------------------------------------------------ DST policy names */

const char *const cron_dst_policy_names[_CRON_DST_POLICY_MAX + 1] = {
        [CRON_DST_SHIFT] = "shift",
        [CRON_DST_SKIP] = "skip",
};

const char *cron_dst_policy_to_string(CronDstPolicy p) {
        return p >= 0 && p < _CRON_DST_POLICY_MAX ? cron_dst_policy_names[p] : NULL;
}

CronDstPolicy cron_dst_policy_from_string(const char *s) {
        for (int p = 0; p < _CRON_DST_POLICY_MAX; p++)
                if (s && strcmp(s, cron_dst_policy_names[p]) == 0)
                        return (CronDstPolicy) p;
        return _CRON_DST_POLICY_INVALID;
}

/* ------------------------------------------------------------------ parser */

typedef struct Parser {
        const char *text; /* the whole expression, for columns */
        CronError *error;
} Parser;

/* Records "<field> field: <what> at column N" and returns -EINVAL. */
_printf_(4, 5) static int parse_error(Parser *p, const FieldSpec *spec, const char *at, const char *fmt,
                                      ...) {
        if (!p->error)
                return -EINVAL;

        char what[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);

        p->error->column = at ? (unsigned) (at - p->text) + 1 : 0;
        if (spec && at)
                snprintf(p->error->message, sizeof p->error->message, "%s field: %s at column %u",
                         spec->name, what, p->error->column);
        else if (at)
                snprintf(p->error->message, sizeof p->error->message, "%s at column %u", what,
                         p->error->column);
        else
                snprintf(p->error->message, sizeof p->error->message, "%s", what);
        return -EINVAL;
}

/* A token: [s, e) within the text. */
typedef struct Token {
        const char *s, *e;
} Token;

static int token_len(Token t) {
        return (int) (t.e - t.s);
}

/* Reads a number or a name at *pos (advancing it) for `spec`. */
static int parse_value(Parser *p, const FieldSpec *spec, const char **pos, const char *end, unsigned *ret) {
        const char *s = *pos;

        if (s < end && isdigit((unsigned char) *s)) {
                unsigned v = 0;
                const char *q = s;
                for (; q < end && isdigit((unsigned char) *q); q++)
                        if (v < 100000)
                                v = v * 10 + (unsigned) (*q - '0');
                if (v < spec->min || v > spec->max)
                        return parse_error(p, spec, s, "%.*s is out of range %u-%u", (int) (q - s), s,
                                           spec->min, spec->max);
                *pos = q;
                *ret = v;
                return 0;
        }

        if (s < end && isalpha((unsigned char) *s)) {
                const char *q = s;
                while (q < end && isalpha((unsigned char) *q))
                        q++;
                /* A trailing L in the day-of-week field belongs to `FRIL`, not to the name. */
                const char *name_end = q;
                if (spec->names == weekday_names && q - s == 4 && (q[-1] == 'L' || q[-1] == 'l'))
                        name_end = q - 1;
                if (spec->names && name_end - s == 3)
                        for (unsigned i = 0; spec->names[i]; i++)
                                if (strncasecmp(s, spec->names[i], 3) == 0) {
                                        *pos = name_end;
                                        *ret = spec->min + i;
                                        return 0;
                                }
                if (spec->names)
                        return parse_error(p, spec, s, "'%.*s' is not a %s name", (int) (q - s), s,
                                           spec == &field_specs[FIELD_MONTH] ? "month" : "day");
                return parse_error(p, spec, s, "'%.*s' is not a number", (int) (q - s), s);
        }

        if (s >= end)
                return parse_error(p, spec, s, "a value is missing");
        return parse_error(p, spec, s, "unexpected '%c'", *s);
}

static bool token_is(Token t, const char *word) {
        size_t n = strlen(word);
        return (size_t) token_len(t) == n && strncasecmp(t.s, word, n) == 0;
}

/* L, LW, L-n, nW, nL or n#k: a Quartz day item, by its shape (so that the name JUL is not one). */
static bool is_quartz_day_item(Token item) {
        int len = token_len(item);
        char last = (char) toupper((unsigned char) item.e[-1]);

        if (memchr(item.s, '#', (size_t) len) || token_is(item, "L") || token_is(item, "LW"))
                return true;
        if (len >= 2 && toupper((unsigned char) item.s[0]) == 'L' && item.s[1] == '-')
                return true;
        return len >= 2 && (last == 'L' || last == 'W') && isdigit((unsigned char) item.e[-2]);
}

/* Quartz day-of-month items: L, L-n, LW, nW. Returns 1 when handled, 0 when not such an item. */
static int parse_day_extension(Parser *p, Token item, CronExpr *e) {
        const FieldSpec *spec = &field_specs[FIELD_DAY];

        if (token_is(item, "L")) {
                e->last_day_offset = 0;
                return 1;
        }
        if (token_is(item, "LW")) {
                e->last_weekday = true;
                return 1;
        }
        if (token_len(item) > 2 && (item.s[0] == 'L' || item.s[0] == 'l') && item.s[1] == '-') {
                const char *q = item.s + 2;
                unsigned n = 0;
                if (!isdigit((unsigned char) *q))
                        return parse_error(p, spec, q, "L- needs a number of days, as in L-3");
                for (; q < item.e && isdigit((unsigned char) *q); q++)
                        n = n < 100 ? n * 10 + (unsigned) (*q - '0') : n;
                if (q != item.e)
                        return parse_error(p, spec, q, "unexpected '%c' after %.*s", *q, (int) (q - item.s),
                                           item.s);
                if (n > 30)
                        return parse_error(p, spec, item.s + 2, "L-%u is out of range L-0 to L-30", n);
                e->last_day_offset = (int8_t) n;
                return 1;
        }
        if (item.e[-1] == 'W' || item.e[-1] == 'w') {
                const char *q = item.s;
                unsigned v;
                int r = parse_value(p, spec, &q, item.e - 1, &v);
                if (r < 0)
                        return r;
                if (q != item.e - 1)
                        return parse_error(p, spec, item.s, "W needs a single day, as in 15W");
                e->nearest_weekdays |= UINT32_C(1) << v;
                return 1;
        }
        return 0;
}

/* Quartz day-of-week items: L (Saturday, the last day of the week), dL, d#n. 1 when handled. */
static int parse_weekday_extension(Parser *p, Token item, CronExpr *e) {
        const FieldSpec *spec = &field_specs[FIELD_WEEKDAY];
        const char *hash = memchr(item.s, '#', (size_t) token_len(item));
        bool last = item.e[-1] == 'L' || item.e[-1] == 'l';

        if (token_is(item, "L")) {
                e->weekdays |= 1u << 6;
                return 1;
        }
        if (!hash && !last)
                return 0;

        const char *q = item.s;
        unsigned weekday;
        int r = parse_value(p, spec, &q, hash ? hash : item.e - 1, &weekday);
        if (r < 0)
                return r;
        weekday %= 7;
        if (!hash) {
                if (q != item.e - 1)
                        return parse_error(p, spec, item.s, "L needs a single day, as in 5L or FRIL");
                e->last_weekdays |= (uint8_t) (1u << weekday);
                return 1;
        }
        if (q != hash)
                return parse_error(p, spec, item.s, "# needs a single day, as in 5#3 or FRI#3");
        if (token_len((Token){ hash + 1, item.e }) != 1 || hash[1] < '1' || hash[1] > '5')
                return parse_error(p, spec, hash + 1, "'%.*s' after # must be an occurrence 1-5",
                                   (int) (item.e - hash - 1), hash + 1);
        e->nth_weekdays |= UINT64_C(1) << (7 * (unsigned) (hash[1] - '1') + weekday);
        return 1;
}

/* One list item: `*`, `v`, `v-w`, each with an optional `/step`; `v/step` means v-max/step. */
static int parse_item(Parser *p, const FieldSpec *spec, Token item, ValueSet *set) {
        const char *q = item.s;
        unsigned lo, hi, step = 1;
        int r;

        if (*q == '*') {
                lo = spec->min, hi = spec->max == 7 ? 6 : spec->max;
                q++;
        } else {
                r = parse_value(p, spec, &q, item.e, &lo);
                if (r < 0)
                        return r;
                hi = lo;
                if (q < item.e && *q == '-') {
                        q++;
                        r = parse_value(p, spec, &q, item.e, &hi);
                        if (r < 0)
                                return r;
                        if (hi < lo)
                                return parse_error(p, spec, item.s, "range %.*s runs backwards",
                                                   (int) (q - item.s), item.s);
                } else if (q < item.e && *q == '/')
                        hi = spec->max == 7 ? 6 : spec->max;
        }

        if (q < item.e && *q == '/') {
                const char *at = ++q;
                unsigned v = 0;
                if (q >= item.e || !isdigit((unsigned char) *q))
                        return parse_error(p, spec, at, "a step must be a number, as in */15");
                for (; q < item.e && isdigit((unsigned char) *q); q++)
                        v = v < 100000 ? v * 10 + (unsigned) (*q - '0') : v;
                if (v == 0)
                        return parse_error(p, spec, at, "a step of 0 never advances");
                step = v;
        }
        if (q != item.e)
                return parse_error(p, spec, q, "unexpected '%c'", *q);

        unsigned base = spec == &field_specs[FIELD_YEAR] ? CRON_YEAR_MIN : 0;
        set_add_range(set, lo - base, hi - base, step);
        return 0;
}

/* Parses one whole field; *ret_star says whether its text starts with `*` or is `?`. */
static int parse_field(Parser *p, Field field, Token tok, CronExpr *e, ValueSet *set, bool *ret_star) {
        const FieldSpec *spec = &field_specs[field];
        bool day_field = field == FIELD_DAY || field == FIELD_WEEKDAY;

        *ret_star = tok.s[0] == '*' || (day_field && token_is(tok, "?"));
        if (token_is(tok, "?")) {
                if (!day_field)
                        return parse_error(p, spec, tok.s, "'?' is only allowed in the day fields");
                set_add_range(set, spec->min, spec->max == 7 ? 6 : spec->max, 1);
                return 0;
        }

        for (const char *s = tok.s; s <= tok.e;) {
                const char *comma = memchr(s, ',', (size_t) (tok.e - s));
                Token item = { s, comma ? comma : tok.e };
                int r;

                if (token_len(item) == 0)
                        return parse_error(p, spec, s, "empty list item");
                if (memchr(item.s, '?', (size_t) token_len(item)))
                        return parse_error(p, spec, item.s, "'?' must stand alone in its field");

                r = field == FIELD_DAY       ? parse_day_extension(p, item, e)
                    : field == FIELD_WEEKDAY ? parse_weekday_extension(p, item, e)
                                             : 0;
                if (r == 0) {
                        if (!day_field && is_quartz_day_item(item))
                                return parse_error(p, spec, item.s,
                                                   "L, W and # are only allowed in the day fields");
                        r = parse_item(p, spec, item, set);
                }
                if (r < 0)
                        return r;
                s = item.e + 1;
        }
        return 0;
}

/* Whether some date in the expression's years has a matching day (400 years cover every calendar). */
static bool can_fire(const CronExpr *e, bool has_year) {
        int64_t first = has_year ? next_year(e, CRON_YEAR_MIN) : 2000;
        int64_t last = has_year ? CRON_YEAR_MAX : 2399;

        for (int64_t y = first; y >= 0 && y <= last; y = has_year ? next_year(e, y + 1) : y + 1)
                for (int m = next_bit(e->months, 1); m > 0; m = next_bit(e->months, m + 1))
                        if (day_mask(e, y, (unsigned) m))
                                return true;
        return false;
}

/* "@every 90s": a fixed interval of at most 366 days. */
static int parse_every(Parser *p, const char *s, CronExpr *e) {
        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s)
                return parse_error(p, NULL, s, "@every needs a duration such as 90s, 15m, 2h or 1d");

        const char *end = s;
        while (*end && *end != ' ' && *end != '\t')
                end++;
        for (const char *rest = end; *rest; rest++)
                if (*rest != ' ' && *rest != '\t')
                        return parse_error(p, NULL, rest, "unexpected '%s' after the duration", rest);

        char duration[32];
        uint64_t seconds;
        int r = end - s < (ptrdiff_t) sizeof duration ? 0 : -EINVAL;
        if (r == 0) {
                memcpy(duration, s, (size_t) (end - s));
                duration[end - s] = '\0';
                r = duration_parse(duration, 366 * UINT64_C(86400), &seconds);
        }
        if (r == -ERANGE)
                return parse_error(p, NULL, s, "@every: '%.*s' is longer than 366d", (int) (end - s), s);
        if (r < 0)
                return parse_error(p, NULL, s, "@every: '%.*s' is not a duration such as 90s, 15m, 2h or 1d",
                                   (int) (end - s), s);
        if (seconds == 0)
                return parse_error(p, NULL, s, "@every: the interval must be at least 1s");
        e->every = (uint32_t) seconds;
        return 0;
}

static const struct {
        const char *name, *expansion;
} macros[] = {
        { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
        { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
        { "@hourly", "0 * * * *" },
};

static int parse_fields(Parser *p, const char *s, CronExpr *e);

static int parse_macro(Parser *p, const char *s, CronExpr *e) {
        const char *end = s;
        while (*end && *end != ' ' && *end != '\t')
                end++;
        Token name = { s, end };

        if (token_is(name, "@every"))
                return parse_every(p, end, e);
        for (size_t i = 0; i < ELEMENTSOF(macros); i++)
                if (token_is(name, macros[i].name)) {
                        const char *rest = end;
                        while (*rest == ' ' || *rest == '\t')
                                rest++;
                        if (*rest)
                                return parse_error(p, NULL, rest, "unexpected '%s' after %s", rest,
                                                   macros[i].name);
                        Parser inner = { .text = macros[i].expansion, .error = NULL };
                        return parse_fields(&inner, macros[i].expansion, e);
                }
        if (token_is(name, "@reboot"))
                return parse_error(p, NULL, s, "@reboot is not supported: udfcron fires on the clock");
        return parse_error(p, NULL, s,
                           "unknown macro '%.*s' (known: @yearly @annually @monthly @weekly "
                           "@daily @midnight @hourly @every)",
                           token_len(name), s);
}

static int parse_fields(Parser *p, const char *s, CronExpr *e) {
        Token tokens[8];
        size_t n = 0;

        for (;;) {
                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s)
                        break;
                const char *start = s;
                while (*s && *s != ' ' && *s != '\t')
                        s++;
                if (n == ELEMENTSOF(tokens))
                        return parse_error(p, NULL, start, "too many fields: expected 5, 6 or 7");
                tokens[n++] = (Token){ start, s };
        }

        const Field *layout = n == 5 ? layout5 : n == 6 ? layout6 : n == 7 ? layout7 : NULL;
        if (!layout)
                return parse_error(p, NULL, NULL, "expected 5, 6 or 7 fields, got %zu", n);

        ValueSet sets[_FIELD_MAX] = {};
        bool star[_FIELD_MAX] = {};
        e->last_day_offset = -1;
        set_add_range(&sets[FIELD_SECOND], 0, 0, 1);                           /* 5 fields: second 0 */
        set_add_range(&sets[FIELD_YEAR], 0, CRON_YEAR_MAX - CRON_YEAR_MIN, 1); /* no year field: any */
        for (size_t i = 0; i < n; i++) {
                sets[layout[i]] = (ValueSet){};
                int r = parse_field(p, layout[i], tokens[i], e, &sets[layout[i]], &star[layout[i]]);
                if (r < 0)
                        return r;
        }

        e->seconds = sets[FIELD_SECOND].bits[0];
        e->minutes = sets[FIELD_MINUTE].bits[0];
        e->hours = (uint32_t) sets[FIELD_HOUR].bits[0];
        e->days = (uint32_t) sets[FIELD_DAY].bits[0];
        e->months = (uint16_t) sets[FIELD_MONTH].bits[0];
        /* 7 is Sunday too */
        e->weekdays |= (uint8_t) ((sets[FIELD_WEEKDAY].bits[0] | sets[FIELD_WEEKDAY].bits[0] >> 7) & 0x7f);
        memcpy(e->years, sets[FIELD_YEAR].bits, sizeof e->years);
        e->day_or = !star[FIELD_DAY] && !star[FIELD_WEEKDAY];
        e->fixed_time = !star[FIELD_SECOND] && !star[FIELD_MINUTE] && !star[FIELD_HOUR];

        if (!can_fire(e, n == 7))
                return parse_error(p, NULL, NULL,
                                   "'%s' can never fire: no date matches its day-of-month, month%s "
                                   "and day-of-week fields",
                                   p->text, n == 7 ? ", year" : "");
        return 0;
}

int cron_parse(const char *text, CronExpr *ret_expr, CronError *ret_error) {
        Parser p = { .text = text, .error = ret_error };
        CronExpr e = { .dst_policy = CRON_DST_SHIFT };
        const char *s = text;
        int r;

        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s)
                return parse_error(&p, NULL, NULL, "empty cron expression");
        for (const char *c = s; *c; c++)
                if (((unsigned char) *c < 0x20 && *c != '\t') || *c == 0x7f)
                        return parse_error(&p, NULL, c, "control character 0x%02x", (unsigned char) *c);

        r = *s == '@' ? parse_macro(&p, s, &e) : parse_fields(&p, s, &e);
        if (r < 0)
                return r;
        *ret_expr = e;
        return 0;
}
