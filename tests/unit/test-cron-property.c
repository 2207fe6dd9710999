/* SPDX-License-Identifier: MIT */
/*
 * cron_next() and cron_prev() against the brute-force reference of
 * tests/support/cron-reference.c, on thousands of random valid expressions
 * covering all the syntax, in six zones, under both DST policies, at random
 * instants from 1971 to 2060 of which half sit near DST transitions.
 *
 * The seed is fixed and printed; CRON_PROPERTY_SEED=n replays another one and
 * CRON_PROPERTY_EXPRESSIONS=n runs longer.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../support/cron-reference.h"
#include "calendar.h"
#include "cron.h"
#include "macro.h"
#include "timestamp.h"
#include "tz.h"

#define DEFAULT_SEED        UINT64_C(0x5eed0c0ffee2024)
#define DEFAULT_EXPRESSIONS 8000
#define CASES_PER_EXPR      4
/* How far the reference looks: beyond every gap between fires of 29 February in 1971-2070. */
#define WINDOW      ((int64_t) 10 * 366 * SECONDS_PER_DAY)
#define MAX_REPORTS 25

static const char *const zone_names[] = {
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe", /* a 30-minute DST shift from +10:30 */
        "America/Sao_Paulo",   /* DST changes at midnight, until 2019 */
        "Asia/Kolkata",        /* +05:30, no DST */
};

/* ------------------------------------------------------------------ randomness */

static uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant here. */
static int64_t between(uint64_t *rng, int64_t lo, int64_t hi) {
        return lo + (int64_t) (splitmix64(rng) % (uint64_t) (hi - lo + 1));
}

static bool chance(uint64_t *rng, unsigned percent) {
        return splitmix64(rng) % 100 < percent;
}

/* ------------------------------------------------------------------ expression text */

typedef struct Text {
        char s[256];
        size_t n;
} Text;

_printf_(2, 3) static void put(Text *t, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
        va_end(ap);
        assert_true(n >= 0 && (size_t) n < sizeof t->s - t->n);
        t->n += (size_t) n;
}

typedef enum Kind {
        KIND_NUMBER,
        KIND_MONTH,
        KIND_WEEKDAY,
} Kind;

typedef struct Spec {
        unsigned min, max;
        Kind kind;
} Spec;

static const Spec spec_second = { 0, 59, KIND_NUMBER }, spec_minute = { 0, 59, KIND_NUMBER },
                  spec_hour = { 0, 23, KIND_NUMBER }, spec_day = { 1, 31, KIND_NUMBER },
                  spec_month = { 1, 12, KIND_MONTH }, spec_weekday = { 0, 7, KIND_WEEKDAY },
                  spec_year = { 1971, 2075, KIND_NUMBER };

/* A name in upper, lower or title case, since names are case-insensitive. */
static void put_name(Text *t, uint64_t *rng, const char *name) {
        unsigned style = (unsigned) between(rng, 0, 2);
        for (size_t i = 0; name[i]; i++) {
                char c = name[i];
                if (style == 1 || (style == 2 && i > 0))
                        c = (char) (c - 'A' + 'a');
                put(t, "%c", c);
        }
}

static void put_value(Text *t, uint64_t *rng, Kind kind, unsigned v) {
        static const char *const months[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
        static const char *const weekdays[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

        if (kind == KIND_MONTH && chance(rng, 35))
                put_name(t, rng, months[v - 1]);
        else if (kind == KIND_WEEKDAY && v < 7 && chance(rng, 35)) /* 7 has no name: SUN is 0 */
                put_name(t, rng, weekdays[v]);
        else
                put(t, "%u", v);
}

/* A step that is mostly small but sometimes as wide as the whole range (or wider). */
static unsigned random_step(uint64_t *rng, unsigned width) {
        if (chance(rng, 10))
                return (unsigned) between(rng, 1, 2 * width + 2);
        return (unsigned) between(rng, 1, width < 1 ? 1 : width > 12 ? 12 : width);
}

/* One plain list item with values in [lo, hi]: v, a-b, a-b/k, a/k or * /k. */
static void put_item(Text *t, uint64_t *rng, const Spec *f, unsigned lo, unsigned hi) {
        unsigned a = (unsigned) between(rng, lo, hi), b = (unsigned) between(rng, a, hi);

        switch (between(rng, 0, 5)) {
        case 0:
        case 1:
                put_value(t, rng, f->kind, a);
                break;
        case 2:
                put_value(t, rng, f->kind, a);
                put(t, "-");
                put_value(t, rng, f->kind, b);
                break;
        case 3:
                put_value(t, rng, f->kind, a);
                put(t, "-");
                put_value(t, rng, f->kind, b);
                put(t, "/%u", random_step(rng, b - a));
                break;
        case 4:
                put_value(t, rng, f->kind, a);
                put(t, "/%u", random_step(rng, f->max - a));
                break;
        default:
                put(t, "*/%u", random_step(rng, f->max - f->min));
                break;
        }
}

static void put_list(Text *t, uint64_t *rng, const Spec *f, unsigned lo, unsigned hi) {
        unsigned n = chance(rng, 30) ? (unsigned) between(rng, 2, 4) : 1;
        for (unsigned i = 0; i < n; i++) {
                if (i > 0)
                        put(t, ",");
                put_item(t, rng, f, lo, hi);
        }
}

/* A time field: `*`, `*` /k, or a list; hours lean towards 0-3, where DST changes happen. */
static void put_time_field(Text *t, uint64_t *rng, const Spec *f, unsigned star_percent) {
        if (chance(rng, star_percent))
                put(t, "*");
        else if (chance(rng, 12))
                put(t, "*/%u", random_step(rng, f->max - f->min));
        else if (f == &spec_hour && chance(rng, 45))
                put_list(t, rng, f, 0, 3);
        else
                put_list(t, rng, f, f->min, f->max);
}

/* One item of a day-of-month list: a number, a range or a step, or one of the Quartz forms. */
static void put_day_of_month_item(Text *t, uint64_t *rng) {
        switch (between(rng, 0, 7)) {
        case 0:
                put(t, "L");
                break;
        case 1:
                put(t, "L-%u", (unsigned) (chance(rng, 70) ? between(rng, 0, 5) : between(rng, 0, 30)));
                break;
        case 2:
                put(t, "%uW", (unsigned) between(rng, 1, 31));
                break;
        case 3:
                put(t, "LW");
                break;
        default:
                put_item(t, rng, &spec_day, 1, 31);
                break;
        }
}

static void put_day_of_week_item(Text *t, uint64_t *rng) {
        switch (between(rng, 0, 6)) {
        case 0:
                put(t, "L"); /* Saturday */
                break;
        case 1:
                put_value(t, rng, KIND_WEEKDAY, (unsigned) between(rng, 0, 7));
                put(t, chance(rng, 50) ? "L" : "l");
                break;
        case 2:
                put_value(t, rng, KIND_WEEKDAY, (unsigned) between(rng, 0, 7));
                put(t, "#%u", (unsigned) between(rng, 1, 5));
                break;
        default:
                put_item(t, rng, &spec_weekday, 0, 7);
                break;
        }
}

/* A day field: `*`, `?`, or a list of one to three items that put_one writes. */
static void put_day_field(Text *t, uint64_t *rng, void (*put_one)(Text *t, uint64_t *rng)) {
        if (chance(rng, 35)) {
                put(t, "*");
                return;
        }
        if (chance(rng, 12)) {
                put(t, "?");
                return;
        }
        unsigned n = chance(rng, 25) ? (unsigned) between(rng, 2, 3) : 1;
        for (unsigned i = 0; i < n; i++) {
                if (i > 0)
                        put(t, ",");
                put_one(t, rng);
        }
}

static void put_every(Text *t, uint64_t *rng) {
        static const char units[] = "smhdw";
        put(t, "@every ");
        switch (between(rng, 0, 3)) {
        case 0:
                put(t, "%us", (unsigned) between(rng, 1, 600));
                break;
        case 1:
                put(t, "%um", (unsigned) between(rng, 1, 180));
                break;
        case 2:
                put(t, "%uh%um", (unsigned) between(rng, 0, 30), (unsigned) between(rng, 1, 59));
                break;
        default:
                put(t, "%u%c", (unsigned) between(rng, 1, 3), units[between(rng, 2, 4)]);
                break;
        }
}

/* A random valid expression; separators vary between spaces and tabs. */
static void random_expression(uint64_t *rng, Text *t) {
        static const char *const macros[] = { "YEARLY", "ANNUALLY", "MONTHLY", "WEEKLY",
                                              "DAILY",  "MIDNIGHT", "HOURLY" };
        unsigned shape = (unsigned) between(rng, 0, 99);

        *t = (Text){};
        if (chance(rng, 5))
                put(t, " ");
        if (shape < 3) {
                put(t, "@");
                put_name(t, rng, macros[between(rng, 0, ELEMENTSOF(macros) - 1)]);
                return;
        }
        if (shape < 6) {
                put_every(t, rng);
                return;
        }

        unsigned fields = shape < 62 ? 5 : shape < 87 ? 6 : 7;
        const char *sep = chance(rng, 10) ? " \t" : " ";
        if (fields >= 6) {
                if (chance(rng, 40))
                        put(t, "0");
                else
                        put_time_field(t, rng, &spec_second, 15);
                put(t, "%s", sep);
        }
        put_time_field(t, rng, &spec_minute, 20);
        put(t, "%s", sep);
        put_time_field(t, rng, &spec_hour, 30);
        put(t, "%s", sep);
        put_day_field(t, rng, put_day_of_month_item);
        put(t, "%s", sep);
        if (chance(rng, 55))
                put(t, "*");
        else
                put_list(t, rng, &spec_month, 1, 12);
        put(t, "%s", sep);
        put_day_field(t, rng, put_day_of_week_item);
        if (fields == 7) {
                put(t, "%s", sep);
                if (chance(rng, 40))
                        put(t, "*");
                else
                        put_list(t, rng, &spec_year, spec_year.min, spec_year.max);
        }
}

/* ------------------------------------------------------------------ instants */

/* 1971 to 2060, half of them within hours (or seconds) of a DST transition of `zone`. */
static int64_t random_instant(uint64_t *rng, const TzZone *zone) {
        int64_t lo = days_from_civil(1971, 1, 1) * SECONDS_PER_DAY,
                hi = days_from_civil(2060, 1, 1) * SECONDS_PER_DAY;
        int64_t t = between(rng, lo, hi - 1);

        if (chance(rng, 50)) {
                TzSpan sp;
                tz_span_at(zone, t, &sp);
                int64_t edge = sp.end != INT64_MAX ? sp.end : sp.start;
                if (edge > lo && edge < hi)
                        t = edge +
                            (chance(rng, 25) ? between(rng, -2, 2) : between(rng, -3 * 3600, 3 * 3600));
        }
        /* fires sit on whole minutes: start on one, or just before one, half of the time */
        switch (between(rng, 0, 3)) {
        case 0:
                t -= floor_mod(t, 60);
                break;
        case 1:
                t -= floor_mod(t, 60) + 1;
                break;
        default:
                break;
        }
        return t;
}

/* ------------------------------------------------------------------ checks */

typedef struct Stats {
        unsigned generated, never_fire, rejected, expressions, cases, comparisons, ref_found, beyond_window,
                failures;
} Stats;

typedef struct Case {
        const char *text;
        const CronExpr *expr;
        const TzZone *zone;
} Case;

static const char *show(const TzZone *zone, int r, int64_t t, char buf[static TIMESTAMP_MAX]) {
        if (r == -ENOENT)
                return "none";
        if (r < 0)
                return "error";
        return timestamp_format(t, tz_offset_at(zone, t), buf);
}

/* Prints one failed property: what was asked at `t`, what cron.c answered and what was expected. */
static void report(Stats *st, const Case *c, const char *what, int64_t t, int r_cron, int64_t cron_at,
                   const char *expected) {
        char a[TIMESTAMP_MAX], b[TIMESTAMP_MAX];

        if (++st->failures > MAX_REPORTS)
                return;
        fprintf(stderr, "MISMATCH %s: '%s' zone %s policy %s from %s (@%" PRId64 "): cron %s, expected %s\n",
                what, c->text, tz_zone_name(c->zone), cron_dst_policy_to_string(c->expr->dst_policy),
                show(c->zone, 0, t, a), t, show(c->zone, r_cron, cron_at, b), expected);
}

static const char *show_ref(const Case *c, const char *prefix, int r, int64_t at,
                            char buf[static 2 * TIMESTAMP_MAX]) {
        char ts[TIMESTAMP_MAX];
        snprintf(buf, 2 * TIMESTAMP_MAX, "%s %s", prefix,
                 r == 0 ? show(c->zone, 0, at, ts) : "nothing in window");
        return buf;
}

/* A fire names a matching wall time, shown at its instant unless a DST gap swallowed it ("shift"). */
static void check_fire(Stats *st, const Case *c, int64_t t, const CronFire *f) {
        const CronExpr *e = c->expr;
        int64_t shown = f->at + tz_offset_at(c->zone, f->at);
        bool ok;

        if (e->every > 0)
                ok = f->wall == shown && f->flags == 0;
        else if (f->flags & CRON_FIRE_DST_GAP)
                ok = e->fixed_time && e->dst_policy == CRON_DST_SHIFT && f->wall < shown &&
                     ref_matches(e, f->wall);
        else
                ok = f->wall == shown && ref_matches(e, f->wall);
        /* fixed-time expressions fire at first occurrences only */
        if ((f->flags & CRON_FIRE_DST_REPEAT) && e->fixed_time)
                ok = false;
        if (!ok) {
                char w[TIMESTAMP_MAX], what[2 * TIMESTAMP_MAX];
                snprintf(what, sizeof what, "wall %s flags %u", timestamp_format(f->wall, 0, w), f->flags);
                report(st, c, "fire wall/flags", t, 0, f->at, what);
        }
}

static void check_next(Stats *st, const Case *c, int64_t t) {
        const CronExpr *e = c->expr;
        CronFire next = {}, f = {};
        int64_t ref_at = 0;
        char buf[2 * TIMESTAMP_MAX];

        int r = cron_next(e, c->zone, t, &next);
        int rr = ref_next(e, c->zone, t, WINDOW, &ref_at);
        st->comparisons++;
        if (rr == 0) {
                st->ref_found++;
                if (r != 0 || next.at != ref_at)
                        report(st, c, "cron_next", t, r, next.at, show_ref(c, "reference", rr, ref_at, buf));
        } else {
                st->beyond_window++;
                if (r != -ENOENT && (r != 0 || next.at <= t + WINDOW))
                        report(st, c, "cron_next", t, r, next.at, "nothing within the reference's window");
        }
        if (r != 0)
                return;

        if (next.at <= t)
                report(st, c, "cron_next not after t", t, r, next.at, "a later instant");
        check_fire(st, c, t, &next);

        /* no fire between t and next, so the last one before next is at or before t */
        int pr = cron_prev(e, c->zone, next.at, &f);
        st->comparisons++;
        if (!(pr == -ENOENT || (pr == 0 && f.at <= t)))
                report(st, c, "cron_prev(cron_next(t))", t, pr, f.at, "at or before t");
}

static void check_prev(Stats *st, const Case *c, int64_t t) {
        const CronExpr *e = c->expr;
        CronFire prev = {}, f = {};
        int64_t ref_at = 0;
        char buf[2 * TIMESTAMP_MAX];

        int r = cron_prev(e, c->zone, t, &prev);
        if (r == -ENOENT) {
                /* nothing fires before t, as far back as the reference looks */
                int64_t from = MAX(t - WINDOW, (int64_t) 0);
                int rr = ref_next(e, c->zone, from, t - 1 - from, &ref_at);
                st->comparisons++;
                if (rr == 0)
                        report(st, c, "cron_prev", t, r, 0,
                               show_ref(c, "the reference's fire at", rr, ref_at, buf));
                return;
        }
        if (r != 0 || prev.at >= t) {
                report(st, c, "cron_prev", t, r, prev.at, "an earlier instant");
                return;
        }
        check_fire(st, c, t, &prev);

        /* the reference fires at prev.at too ... */
        int rr = ref_next(e, c->zone, prev.at - 1, 1, &ref_at);
        st->comparisons++;
        if (rr != 0)
                report(st, c, "cron_prev", t, r, prev.at,
                       "a fire of the reference (it does not fire there)");

        /* ... and not again before t */
        int64_t span = MIN(t - 1 - prev.at, WINDOW);
        if (span > 0) {
                rr = ref_next(e, c->zone, prev.at, span, &ref_at);
                st->comparisons++;
                if (rr == 0)
                        report(st, c, "cron_prev", t, r, prev.at,
                               show_ref(c, "no fire until t, but the reference fires at", rr, ref_at, buf));
        }

        int nr = cron_next(e, c->zone, prev.at, &f);
        st->comparisons++;
        if (nr == 0 ? f.at < t : nr != -ENOENT)
                report(st, c, "cron_next(cron_prev(t))", t, nr, f.at, "at or after t");
}

static void check_case(Stats *st, const Case *c, int64_t t) {
        st->cases++;
        check_next(st, c, t);
        check_prev(st, c, t);
}

/* ------------------------------------------------------------------ tests */

typedef struct Zones {
        TzDb *db;
        const TzZone *zone[ELEMENTSOF(zone_names)];
} Zones;

static int setup_zones(void **state) {
        Zones *z = calloc(1, sizeof *z);
        if (!z || tzdb_new(NULL, &z->db) < 0)
                return -1;
        for (size_t i = 0; i < ELEMENTSOF(zone_names); i++)
                if (tzdb_get(z->db, zone_names[i], &z->zone[i]) < 0) {
                        fprintf(stderr, "cannot load zone %s\n", zone_names[i]);
                        return -1;
                }
        *state = z;
        return 0;
}

static int teardown_zones(void **state) {
        Zones *z = *state;
        if (z)
                tzdb_free(z->db);
        free(z);
        return 0;
}

static uint64_t env_u64(const char *name, uint64_t fallback) {
        const char *s = getenv(name);
        return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static double seconds_since(const struct timespec *start) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - start->tv_sec) + (double) (now.tv_nsec - start->tv_nsec) / 1e9;
}

static void print_stats(const char *name, uint64_t seed, const Stats *st, const struct timespec *start) {
        print_message("%s: seed %#" PRIx64 ": %u expressions generated, %u rejected as never firing "
                      "(skipped), %u valid ones rejected, %u tested; %u instants, %u comparisons (%u next "
                      "fires found by the reference, %u beyond its window); %u failures; %.2f s\n",
                      name, seed, st->generated, st->never_fire, st->rejected, st->expressions, st->cases,
                      st->comparisons, st->ref_found, st->beyond_window, st->failures, seconds_since(start));
}

static void test_random_expressions(void **state) {
        Zones *z = *state;
        uint64_t seed = env_u64("CRON_PROPERTY_SEED", DEFAULT_SEED), rng = seed;
        uint64_t n = env_u64("CRON_PROPERTY_EXPRESSIONS", DEFAULT_EXPRESSIONS);
        struct timespec start;
        Stats st = {};

        clock_gettime(CLOCK_MONOTONIC, &start);
        while (st.expressions < n) {
                Text text;
                CronExpr e;
                CronError err = {};

                random_expression(&rng, &text);
                st.generated++;
                if (cron_parse(text.s, &e, &err) < 0) {
                        if (strstr(err.message, "can never fire")) {
                                st.never_fire++;
                                continue;
                        }
                        /* a parser bug: note it and go on, so one bug does not hide others */
                        if (++st.failures <= MAX_REPORTS)
                                fprintf(stderr, "REJECTED valid expression '%s': %s\n", text.s, err.message);
                        st.rejected++;
                        continue;
                }
                st.expressions++;

                for (unsigned k = 0; k < CASES_PER_EXPR; k++) {
                        const TzZone *zone = z->zone[between(&rng, 0, ELEMENTSOF(zone_names) - 1)];
                        e.dst_policy = chance(&rng, 50) ? CRON_DST_SHIFT : CRON_DST_SKIP;
                        check_case(&st, &(Case){ text.s, &e, zone }, random_instant(&rng, zone));
                }
        }
        print_stats("random expressions", seed, &st, &start);
        if (st.failures > 0)
                fail_msg("%u failures, %u of them valid expressions rejected: see the MISMATCH and REJECTED "
                         "lines above (first %d shown)",
                         st.failures, st.rejected, MAX_REPORTS);
}

static int64_t wall_of(int64_t y, unsigned m, unsigned d, unsigned h, unsigned mi) {
        return days_from_civil(y, m, d) * SECONDS_PER_DAY + h * 3600 + mi * 60;
}

/* Hand-checked answers, so that agreeing with the reference means something. */
static void test_reference_known_answers(void **state) {
        static const struct {
                const char *text;
                int64_t y;
                unsigned m, d;
                bool matches;
        } days[] = {
                { "0 0 15W * *", 2024, 6, 14, true }, /* the 15th is a Saturday: Friday */
                { "0 0 15W * *", 2024, 6, 15, false },
                { "0 0 1W * *", 2024, 6, 3, true },    /* the 1st is a Saturday: Monday the 3rd */
                { "0 0 31W * *", 2024, 3, 29, true },  /* the 31st is a Sunday and the last day: Friday */
                { "0 0 31W * *", 2024, 4, 30, false }, /* April has no 31st */
                { "0 0 LW * *", 2024, 8, 30, true },
                { "0 0 * * 5L", 2024, 8, 30, true },
                { "0 0 * * 5L", 2024, 8, 23, false },
                { "0 0 * * FRI#5", 2024, 8, 30, true },
                { "0 0 * * FRI#5", 2024, 9, 27, false }, /* only the 4th Friday */
                { "0 0 L-2 2 *", 2024, 2, 27, true },
                { "0 0 L 2 *", 2023, 2, 28, true },
                { "0 0 1 * MON", 2024, 7, 1, true }, /* both day fields restricted: either */
                { "0 0 1 * MON", 2024, 7, 8, true },
                { "0 0 */2 * MON", 2024, 7, 8, false }, /* one field starts with `*`: both */
                { "0 0 ? * 7", 2024, 7, 7, true },
        };
        static const struct {
                const char *text;
                const char *zone;
                CronDstPolicy policy;
                int64_t after, expected;
        } fires[] = {
                /* 2024-03-10T00:00-05:00: 02:30 does not exist, "shift" fires at 03:00-04:00 */
                { "30 2 * * *", "America/New_York", CRON_DST_SHIFT, 1710046800, 1710054000 },
                { "30 2 * * *", "America/New_York", CRON_DST_SKIP, 1710046800, 1710138600 },
                { "* 2 * * *", "America/New_York", CRON_DST_SHIFT, 1710046800, 1710136800 },
                /* 2024-11-03: 01:30 occurs at 05:30Z and 06:30Z; fixed times fire once, wildcards twice */
                { "30 1 * * *", "America/New_York", CRON_DST_SHIFT, 1730606400, 1730611800 },
                { "30 1 * * *", "America/New_York", CRON_DST_SHIFT, 1730611800, 1730701800 },
                { "30 * * * *", "America/New_York", CRON_DST_SHIFT, 1730611800, 1730615400 },
                /* a 30-minute gap: 02:15 on 2024-10-06 fires at 02:30+11:00 */
                { "15 2 * * *", "Australia/Lord_Howe", CRON_DST_SHIFT, 1728135000, 1728142200 },
                /* 2018-11-04: midnight never happened in Sao Paulo */
                { "0 0 * * *", "America/Sao_Paulo", CRON_DST_SHIFT, 1541257200, 1541300400 },
                /* 1541257200 is a multiple of 90 s itself */
                { "@every 90s", "Asia/Kolkata", CRON_DST_SHIFT, 1541257200, 1541257290 },
        };
        Zones *z = *state;
        CronExpr e;
        int64_t at;

        for (size_t i = 0; i < ELEMENTSOF(days); i++) {
                assert_int_equal(cron_parse(days[i].text, &e, NULL), 0);
                if (ref_matches(&e, wall_of(days[i].y, days[i].m, days[i].d, 0, 0)) != days[i].matches)
                        fail_msg("ref_matches('%s', %04" PRId64 "-%02u-%02u) is not %s", days[i].text,
                                 days[i].y, days[i].m, days[i].d, days[i].matches ? "true" : "false");
        }
        for (size_t i = 0; i < ELEMENTSOF(fires); i++) {
                const TzZone *zone;
                assert_int_equal(tzdb_get(z->db, fires[i].zone, &zone), 0);
                assert_int_equal(cron_parse(fires[i].text, &e, NULL), 0);
                e.dst_policy = (uint8_t) fires[i].policy;
                assert_int_equal(ref_next(&e, zone, fires[i].after, 2 * SECONDS_PER_DAY, &at), 0);
                assert_int_equal(at, fires[i].expected);
        }
        /* the window bounds the scan: the fire at after + window is found, one beyond is not */
        assert_int_equal(cron_parse("0 0 1 1 *", &e, NULL), 0);
        assert_int_equal(ref_next(&e, NULL, wall_of(2024, 1, 1, 0, 0) - 100, 100, &at), 0);
        assert_int_equal(ref_next(&e, NULL, wall_of(2024, 1, 1, 0, 0) - 100, 99, &at), -ENOENT);
}

/* Schedules whose fires DST changes move, skip or repeat, in every zone, under both policies. */
static void test_dst_hot_spots(void **state) {
        static const char *const texts[] = {
                "30 2 * * *",   "0 2 * * *",        "0 3 * * *",        "30 1 * * *", "0 0 * * *",
                "59 23 * * *",  "0,30 0-3 * * *",   "*/15 * * * *",     "30 * * * *", "* 2 * * *",
                "0 30 2 * * *", "*/20 1-3 * * * *", "0 0 * * SUN",      "0 1 L * ?",  "15 2 ? * 1#1",
                "0 */2 * * *",  "45 0 * 10 *",      "0 30 1,2 * * ? *", "@daily",     "0 0 2 LW * ?",
        };
        Zones *z = *state;
        uint64_t seed = env_u64("CRON_PROPERTY_SEED", DEFAULT_SEED) ^ 1, rng = seed;
        struct timespec start;
        Stats st = {};

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                CronExpr e;
                assert_int_equal(cron_parse(texts[i], &e, NULL), 0);
                st.generated++, st.expressions++;
                for (size_t zi = 0; zi < ELEMENTSOF(zone_names); zi++)
                        for (int policy = 0; policy < _CRON_DST_POLICY_MAX; policy++) {
                                e.dst_policy = (uint8_t) policy;
                                for (unsigned k = 0; k < 12; k++)
                                        check_case(&st, &(Case){ texts[i], &e, z->zone[zi] },
                                                   random_instant(&rng, z->zone[zi]));
                        }
        }
        print_stats("DST hot spots", seed, &st, &start);
        if (st.failures > 0)
                fail_msg("%u failures: see the MISMATCH lines above (first %d shown)", st.failures,
                         MAX_REPORTS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reference_known_answers),
                cmocka_unit_test(test_dst_hot_spots),
                cmocka_unit_test(test_random_expressions),
        };
        return cmocka_run_group_tests(tests, setup_zones, teardown_zones);
}
