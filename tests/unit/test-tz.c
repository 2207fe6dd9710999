/* SPDX-License-Identifier: MIT */
/*
 * tz.c against the system tz database (Debian tzdata 2025b, "fat" files whose
 * tables run to 2037) and against hand-made TZif data. glibc's localtime_r()
 * serves as an independent reference in one test, which is the only place
 * TZ is set.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "calendar.h"
#include "cleanup.h"
#include "tz.h"

static int64_t civil(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s) {
        CivilTime c = { .year = y, .month = mo, .day = d, .hour = h, .minute = mi, .second = s };
        return seconds_from_civil(&c);
}

static const TzZone *get_zone(TzDb *db, const char *name) {
        const TzZone *z = NULL;
        assert_int_equal(tzdb_get(db, name, &z), 0);
        assert_non_null(z);
        return z;
}

static int setup_db(void **state) {
        TzDb *db = NULL;
        assert_int_equal(tzdb_new(NULL, &db), 0);
        *state = db;
        return 0;
}

static int teardown_db(void **state) {
        tzdb_free(*state);
        return 0;
}

/* The span at t starts exactly at `at` with offset `after`, and the one before has offset `before`. */
static void assert_transition(const TzZone *z, int64_t at, int32_t before, int32_t after) {
        TzSpan s;

        tz_span_at(z, at, &s);
        assert_int_equal(s.start, at);
        assert_int_equal(s.utc_offset, after);
        tz_span_at(z, at - 1, &s);
        assert_int_equal(s.end, at);
        assert_int_equal(s.utc_offset, before);
        assert_int_equal(tz_offset_at(z, at - 1), before);
        assert_int_equal(tz_offset_at(z, at), after);
}

/* ---------------------------------------------------------------- hand-made TZif */

typedef struct TestType {
        int32_t offset;
        uint8_t is_dst, abbr;
} TestType;

typedef struct TestTzif {
        char version;
        size_t n_times, n_types, n_chars;
        const int64_t *times;
        const uint8_t *indices;
        const TestType *types;
        const char *chars;
        const char *footer; /* written between newlines for version 2+ */
} TestTzif;

static uint8_t *put32(uint8_t *p, uint32_t v) {
        for (int i = 3; i >= 0; i--)
                *p++ = (uint8_t) (v >> (8 * i));
        return p;
}

static uint8_t *put_header(uint8_t *p, char version, const TestTzif *t) {
        memcpy(p, "TZif", 4);
        p[4] = (uint8_t) version;
        memset(p + 5, 0, 15);
        p += 20;
        p = put32(p, 0); /* isutcnt */
        p = put32(p, 0); /* isstdcnt */
        p = put32(p, 0); /* leapcnt */
        p = put32(p, t ? (uint32_t) t->n_times : 0);
        p = put32(p, t ? (uint32_t) t->n_types : 0);
        return put32(p, t ? (uint32_t) t->n_chars : 0);
}

/* Version 2+ files get an empty version 1 block, as zic -b slim writes them. */
static size_t build_tzif(const TestTzif *t, uint8_t *buf) {
        unsigned time_size = t->version ? 8 : 4;
        uint8_t *p = buf;

        if (t->version)
                p = put_header(p, t->version, NULL);
        p = put_header(p, t->version, t);
        for (size_t i = 0; i < t->n_times; i++) {
                if (time_size == 8)
                        p = put32(p, (uint32_t) ((uint64_t) t->times[i] >> 32));
                p = put32(p, (uint32_t) t->times[i]);
        }
        for (size_t i = 0; i < t->n_times; i++)
                *p++ = t->indices[i];
        for (size_t i = 0; i < t->n_types; i++) {
                p = put32(p, (uint32_t) t->types[i].offset);
                *p++ = t->types[i].is_dst;
                *p++ = t->types[i].abbr;
        }
        memcpy(p, t->chars, t->n_chars);
        p += t->n_chars;
        if (t->version)
                p += sprintf((char *) p, "\n%s\n", t->footer ?: "");
        return (size_t) (p - buf);
}

static const TestType one_type[] = { { 0, 0, 0 } };

/* A version 2 file with no transitions, so the footer governs every instant. */
static int parse_footer(const char *footer, TzZone **ret) {
        uint8_t buf[512];
        TestTzif t = { .version = '2',
                       .n_types = 1,
                       .types = one_type,
                       .n_chars = 4,
                       .chars = "LMT",
                       .footer = footer };
        return tz_zone_parse("test", buf, build_tzif(&t, buf), ret);
}

static void assert_span(const TzZone *z, int64_t t, int64_t start, int64_t end, int32_t offset, bool is_dst,
                        const char *abbreviation) {
        TzSpan s;
        tz_span_at(z, t, &s);
        assert_int_equal(s.start, start);
        assert_int_equal(s.end, end);
        assert_int_equal(s.utc_offset, offset);
        assert_int_equal(s.is_dst, is_dst);
        assert_string_equal(s.abbreviation, abbreviation);
}

/* ---------------------------------------------------------------- real zones */

static void test_utc(void **state) {
        const TzZone *u = tz_utc();

        assert_ptr_equal(get_zone(*state, "UTC"), u);
        assert_ptr_equal(get_zone(*state, "Etc/UTC"), u);
        assert_ptr_equal(get_zone(*state, "Z"), u);
        assert_string_equal(tz_zone_name(u), "UTC");
        assert_span(u, 0, INT64_MIN, INT64_MAX, 0, false, "UTC");
        assert_span(u, INT64_MAX, INT64_MIN, INT64_MAX, 0, false, "UTC");
        assert_int_equal(tz_max_offset(u), 0);
        assert_int_equal(tz_min_offset(u), 0);
        assert_int_equal(tz_wall_high_water(u, 12345), 12345);
        assert_int_equal(tz_wall_first_instant(u, 12345, NULL), 12345);
}

static void test_new_york(void **state) {
        const TzZone *z = get_zone(*state, "America/New_York");
        TzSpan s;

        assert_string_equal(tz_zone_name(z), "America/New_York");
        assert_transition(z, civil(2024, 3, 10, 7, 0, 0), -18000, -14400);
        assert_transition(z, civil(2024, 11, 3, 6, 0, 0), -14400, -18000);
        assert_span(z, civil(2024, 7, 1, 0, 0, 0), civil(2024, 3, 10, 7, 0, 0), civil(2024, 11, 3, 6, 0, 0),
                    -14400, true, "EDT");
        assert_span(z, civil(2024, 12, 1, 0, 0, 0), civil(2024, 11, 3, 6, 0, 0), civil(2025, 3, 9, 7, 0, 0),
                    -18000, false, "EST");
        /* local mean time until 1883-11-18 12:03:58 LMT */
        assert_span(z, INT64_MIN, INT64_MIN, civil(1883, 11, 18, 17, 0, 0), -17762, false, "LMT");
        tz_span_at(z, civil(1800, 1, 1, 0, 0, 0), &s);
        assert_int_equal(s.start, INT64_MIN);
        assert_int_equal(tz_max_offset(z), -14400);
        assert_int_equal(tz_min_offset(z), -18000);
}

static void test_berlin_sydney_lord_howe(void **state) {
        const TzZone *berlin = get_zone(*state, "Europe/Berlin");
        const TzZone *sydney = get_zone(*state, "Australia/Sydney");
        const TzZone *lhi = get_zone(*state, "Australia/Lord_Howe");

        assert_transition(berlin, civil(2024, 3, 31, 1, 0, 0), 3600, 7200);
        assert_transition(berlin, civil(2024, 10, 27, 1, 0, 0), 7200, 3600);
        /* The first Sunday of April 2024 is the 7th: 03:00 AEDT is 16:00Z the day before. */
        assert_transition(sydney, civil(2024, 4, 6, 16, 0, 0), 39600, 36000);
        assert_transition(sydney, civil(2024, 10, 5, 16, 0, 0), 36000, 39600);
        /* Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 and 02:00 -> 01:30 local. */
        assert_transition(lhi, civil(2024, 4, 6, 15, 0, 0), 39600, 37800);
        assert_transition(lhi, civil(2024, 10, 5, 15, 30, 0), 37800, 39600);
        assert_int_equal(tz_max_offset(lhi), 41400); /* +1130 in 1981-1985 */
        assert_int_equal(tz_min_offset(lhi), 36000);
}

static void test_kolkata(void **state) {
        const TzZone *z = get_zone(*state, "Asia/Kolkata");

        assert_span(z, civil(2024, 1, 1, 0, 0, 0), civil(1945, 10, 14, 17, 30, 0), INT64_MAX, 19800, false,
                    "IST");
        assert_span(z, INT64_MAX, civil(1945, 10, 14, 17, 30, 0), INT64_MAX, 19800, false, "IST");
        for (int64_t t = civil(1970, 1, 1, 0, 0, 0); t < civil(2200, 1, 1, 0, 0, 0); t += 86400 * 97 + 1234)
                assert_int_equal(tz_offset_at(z, t), 19800);
        assert_int_equal(tz_max_offset(z), 23400);
        assert_int_equal(tz_min_offset(z), 19270);
}

static void test_sao_paulo(void **state) {
        const TzZone *z = get_zone(*state, "America/Sao_Paulo");

        /* DST began at local midnight: 2018-11-04 00:00 -03 became 01:00 -02. */
        assert_transition(z, civil(2018, 11, 4, 3, 0, 0), -10800, -7200);
        assert_transition(z, civil(2019, 2, 17, 2, 0, 0), -7200, -10800);
        assert_span(z, civil(2030, 1, 1, 0, 0, 0), civil(2019, 2, 17, 2, 0, 0), INT64_MAX, -10800, false,
                    "-03");

        bool exists = true;
        assert_int_equal(tz_wall_first_instant(z, civil(2018, 11, 4, 0, 30, 0), &exists),
                         civil(2018, 11, 4, 3, 0, 0));
        assert_false(exists);
}

/* Past the tables (2037), the footer rule takes over; values derived by hand from the rules. */
static void test_footer_rule_far_future(void **state) {
        const TzZone *ny = get_zone(*state, "America/New_York");
        const TzZone *berlin = get_zone(*state, "Europe/Berlin");
        const TzZone *sydney = get_zone(*state, "Australia/Sydney");
        const TzZone *lhi = get_zone(*state, "Australia/Lord_Howe");

        /* 2100-03-01 is a Monday: second Sunday the 14th; 2100-11-01 a Monday: first Sunday the 7th */
        assert_span(ny, civil(2100, 7, 4, 0, 0, 0), civil(2100, 3, 14, 7, 0, 0), civil(2100, 11, 7, 6, 0, 0),
                    -14400, true, "EDT");
        /* 2199-03-01 and 2199-11-01 are Fridays: Sundays the 10th and the 3rd */
        assert_transition(ny, civil(2199, 3, 10, 7, 0, 0), -18000, -14400);
        assert_transition(ny, civil(2199, 11, 3, 6, 0, 0), -14400, -18000);
        /* last Sundays of March and October 2100: the 28th and the 31st */
        assert_span(berlin, civil(2100, 5, 1, 0, 0, 0), civil(2100, 3, 28, 1, 0, 0),
                    civil(2100, 10, 31, 1, 0, 0), 7200, true, "CEST");
        /* southern hemisphere: the DST span runs across the new year */
        assert_span(sydney, civil(2199, 1, 1, 0, 0, 0), civil(2198, 10, 6, 16, 0, 0),
                    civil(2199, 4, 6, 16, 0, 0), 39600, true, "AEDT");
        assert_transition(sydney, civil(2199, 10, 5, 16, 0, 0), 36000, 39600);
        assert_transition(lhi, civil(2100, 4, 3, 15, 0, 0), 39600, 37800);
        assert_transition(lhi, civil(2100, 10, 2, 15, 30, 0), 37800, 39600);

        /* walking the rule's spans for two centuries: contiguous and alternating */
        TzSpan s, next;
        tz_span_at(ny, civil(2030, 1, 1, 0, 0, 0), &s);
        for (int i = 0; i < 400; i++) {
                tz_span_at(ny, s.end, &next);
                assert_int_equal(next.start, s.end);
                assert_int_not_equal(next.utc_offset, s.utc_offset);
                assert_in_range(next.end - next.start, 100 * 86400, 250 * 86400);
                s = next;
        }
}

/* The last table transitions and the first rule ones meet without a seam. */
static void test_table_rule_seam(void **state) {
        const TzZone *ny = get_zone(*state, "America/New_York");
        const TzZone *berlin = get_zone(*state, "Europe/Berlin");

        /* the last transition in the 64-bit table */
        assert_span(ny, civil(2037, 11, 1, 5, 59, 59), civil(2037, 3, 8, 7, 0, 0),
                    civil(2037, 11, 1, 6, 0, 0), -14400, true, "EDT");
        assert_span(ny, civil(2037, 11, 1, 6, 0, 0), civil(2037, 11, 1, 6, 0, 0),
                    civil(2038, 3, 14, 7, 0, 0), -18000, false, "EST");
        assert_transition(berlin, civil(2037, 10, 25, 1, 0, 0), 7200, 3600);
        assert_transition(berlin, civil(2038, 3, 28, 1, 0, 0), 3600, 7200);

        /* A rule that continues the last table offset extends the table's span, both ways. */
        static const int64_t times[] = { 946684800 }; /* 2000-01-01, LMT -> CET, both +01 */
        static const uint8_t indices[] = { 1 };
        static const TestType types[] = { { 3600, 0, 0 }, { 3600, 0, 4 } };
        TestTzif t = { .version = '2',
                       .n_times = 1,
                       .times = times,
                       .indices = indices,
                       .n_types = 2,
                       .types = types,
                       .n_chars = 8,
                       .chars = "LMT\0CET",
                       .footer = "CET-1CEST,M3.5.0,M10.5.0/3" };
        uint8_t buf[512];
        _cleanup_(tz_zone_freep) TzZone *z = NULL;
        assert_int_equal(tz_zone_parse("seam", buf, build_tzif(&t, buf), &z), 0);
        assert_span(z, times[0] - 1, INT64_MIN, civil(2000, 3, 26, 1, 0, 0), 3600, false, "LMT");
        assert_span(z, times[0], INT64_MIN, civil(2000, 3, 26, 1, 0, 0), 3600, false, "CET");
        assert_span(z, civil(2000, 6, 1, 0, 0, 0), civil(2000, 3, 26, 1, 0, 0), civil(2000, 10, 29, 1, 0, 0),
                    7200, true, "CEST");
}

/* Transitions that change only the abbreviation or isdst do not end a span. */
static void test_equal_offsets_merge(void **state) {
        (void) state;
        static const int64_t times[] = { 1000, 2000, 3000, 4000 };
        static const uint8_t indices[] = { 1, 2, 0, 1 };
        static const TestType types[] = { { 0, 0, 0 }, { 0, 1, 4 }, { 3600, 1, 8 } };
        TestTzif t = { .version = '2',
                       .n_times = 4,
                       .times = times,
                       .indices = indices,
                       .n_types = 3,
                       .types = types,
                       .n_chars = 12,
                       .chars = "AAA\0BBB\0CCC" };
        uint8_t buf[512];
        _cleanup_(tz_zone_freep) TzZone *z = NULL;

        assert_int_equal(tz_zone_parse("merge", buf, build_tzif(&t, buf), &z), 0);
        assert_span(z, 999, INT64_MIN, 2000, 0, false, "AAA");
        assert_span(z, 1000, INT64_MIN, 2000, 0, true, "BBB");
        assert_span(z, 2000, 2000, 3000, 3600, true, "CCC");
        assert_span(z, 3000, 3000, INT64_MAX, 0, false, "AAA");
        assert_span(z, INT64_MAX, 3000, INT64_MAX, 0, true, "BBB"); /* no footer rule: the last type */
        assert_int_equal(tz_max_offset(z), 3600);
        assert_int_equal(tz_min_offset(z), 0);
}

/* tz_wall_first_instant(): the first instant whose wall time is `wall`, and whether that wall time is ever
 * shown. */
static void test_wall_first_instant(void **state) {
        const struct {
                const char *zone;
                int64_t wall, instant;
                bool exists;
        } cases[] = {
                /* 02:30 on 2024-03-10 is skipped: the first instant after the gap is 03:00 EDT */
                { "America/New_York", civil(2024, 3, 10, 2, 30, 0), civil(2024, 3, 10, 7, 0, 0), false },
                { "America/New_York", civil(2024, 3, 10, 3, 0, 0), civil(2024, 3, 10, 7, 0, 0), true },
                { "America/New_York", civil(2024, 3, 10, 1, 59, 59), civil(2024, 3, 10, 6, 59, 59), true },
                /* 01:30 on 2024-11-03 happens twice; the first time is EDT */
                { "America/New_York", civil(2024, 11, 3, 1, 30, 0), civil(2024, 11, 3, 5, 30, 0), true },
                { "America/New_York", civil(2024, 11, 3, 2, 0, 0), civil(2024, 11, 3, 7, 0, 0), true },
                /* the same in the rule's years */
                { "America/New_York", civil(2100, 3, 14, 2, 30, 0), civil(2100, 3, 14, 7, 0, 0), false },
                { "America/New_York", civil(2100, 11, 7, 1, 30, 0), civil(2100, 11, 7, 5, 30, 0), true },
                { "Australia/Sydney", civil(2024, 4, 7, 2, 30, 0), civil(2024, 4, 6, 15, 30, 0), true },
                { "Australia/Sydney", civil(2024, 10, 6, 2, 30, 0), civil(2024, 10, 5, 16, 0, 0), false },
                /* Lord Howe: 02:00-02:30 does not exist on 2024-10-06; 01:30-02:00 repeats on 2024-04-07 */
                { "Australia/Lord_Howe", civil(2024, 10, 6, 2, 15, 0), civil(2024, 10, 5, 15, 30, 0),
                  false },
                { "Australia/Lord_Howe", civil(2024, 10, 6, 2, 30, 0), civil(2024, 10, 5, 15, 30, 0), true },
                { "Australia/Lord_Howe", civil(2024, 4, 7, 1, 45, 0), civil(2024, 4, 6, 14, 45, 0), true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool exists = !cases[i].exists; /* so that it must be written */
                const TzZone *z = get_zone(*state, cases[i].zone);
                assert_int_equal(tz_wall_first_instant(z, cases[i].wall, &exists), cases[i].instant);
                assert_int_equal(exists, cases[i].exists);
        }
}

/* tz_wall_high_water(): the latest wall time the clock has shown by `instant`. */
static void test_wall_high_water(void **state) {
        const struct {
                const char *zone;
                int64_t instant, wall;
        } cases[] = {
                /* during the second pass the clock has already shown 01:59:59 */
                { "America/New_York", civil(2024, 11, 3, 6, 30, 0), civil(2024, 11, 3, 1, 59, 59) },
                { "America/New_York", civil(2024, 11, 3, 5, 59, 59), civil(2024, 11, 3, 1, 59, 59) },
                { "America/New_York", civil(2024, 11, 3, 7, 0, 0), civil(2024, 11, 3, 2, 0, 0) },
                { "America/New_York", civil(2024, 7, 1, 12, 0, 0), civil(2024, 7, 1, 8, 0, 0) },
                { "America/New_York", civil(2024, 3, 10, 7, 0, 0), civil(2024, 3, 10, 3, 0, 0) },
                { "America/New_York", civil(2100, 11, 7, 6, 30, 0), civil(2100, 11, 7, 1, 59, 59) },
                { "Australia/Sydney", civil(2024, 4, 6, 16, 30, 0), civil(2024, 4, 7, 2, 59, 59) },
                { "Australia/Lord_Howe", civil(2024, 4, 6, 15, 10, 0), civil(2024, 4, 7, 1, 59, 59) },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(tz_wall_high_water(get_zone(*state, cases[i].zone), cases[i].instant),
                                 cases[i].wall);
}

static void test_wall_extremes(void **state) {
        const TzZone *zones[] = { get_zone(*state, "America/New_York"), get_zone(*state, "Asia/Kolkata"),
                                  get_zone(*state, "Australia/Lord_Howe"), tz_utc() };
        const int64_t values[] = { INT64_MIN, INT64_MIN + 1,      INT64_MIN + 100000, -1,
                                   0,         INT64_MAX - 100000, INT64_MAX - 1,      INT64_MAX };

        for (size_t i = 0; i < ELEMENTSOF(zones); i++)
                for (size_t j = 0; j < ELEMENTSOF(values); j++) {
                        TzSpan s;
                        bool exists;
                        tz_span_at(zones[i], values[j], &s);
                        assert_true(s.start <= values[j]);
                        assert_true(values[j] < s.end || s.end == INT64_MAX);
                        (void) tz_wall_first_instant(zones[i], values[j], &exists);
                        (void) tz_wall_high_water(zones[i], values[j]);
                }
}

static void check_against_glibc(const char *name, const TzZone *z, int64_t t) {
        time_t tt = (time_t) t;
        struct tm tm;
        TzSpan s;

        tz_span_at(z, t, &s);
        assert_non_null(localtime_r(&tt, &tm));
        if (tm.tm_gmtoff != s.utc_offset || tm.tm_isdst != s.is_dst ||
            strcmp(tm.tm_zone, s.abbreviation) != 0)
                fail_msg("%s at %lld: glibc %ld %d %s, tz %d %d %s", name, (long long) t, tm.tm_gmtoff,
                         tm.tm_isdst, tm.tm_zone, s.utc_offset, s.is_dst, s.abbreviation);
}

/* Both sides of every span boundary 1970-2100 and weekly instants in between agree with glibc. */
static void test_glibc_cross_check(void **state) {
        static const char *const names[] = { "America/New_York",    "Europe/Berlin", "Australia/Sydney",
                                             "Australia/Lord_Howe", "Asia/Kolkata",  "America/Sao_Paulo",
                                             "Europe/London",       "Europe/Dublin", "America/Nuuk",
                                             "Africa/Casablanca",   "Pacific/Apia",  "Antarctica/Troll" };
        _cleanup_free_ char *saved_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
        const int64_t from = civil(1970, 1, 1, 0, 0, 0), to = civil(2100, 1, 1, 0, 0, 0);
        const int64_t week = 7 * 86400 + 3607;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const TzZone *z = get_zone(*state, names[i]);
                char tz[64];

                snprintf(tz, sizeof(tz), ":%s", names[i]);
                assert_int_equal(setenv("TZ", tz, 1), 0);
                tzset();
                for (int64_t t = from; t < to;) {
                        TzSpan s;
                        tz_span_at(z, t, &s);
                        int64_t end = s.end < to ? s.end : to;
                        for (int64_t u = t; u < end; u += week)
                                check_against_glibc(names[i], z, u);
                        check_against_glibc(names[i], z, end - 1);
                        t = end;
                }
        }
        if (saved_tz)
                setenv("TZ", saved_tz, 1);
        else
                unsetenv("TZ");
        tzset();
}

/* ---------------------------------------------------------------- footers */

/* The span of a footer's rules at t. */
static void test_footer_spans(void **state) {
        const struct {
                const char *footer;
                int64_t t, start, end;
                int32_t offset;
                bool is_dst;
                const char *abbreviation;
        } cases[] = {
                { "CET-1CEST,M3.5.0,M10.5.0/3", civil(2024, 6, 1, 0, 0, 0), civil(2024, 3, 31, 1, 0, 0),
                  civil(2024, 10, 27, 1, 0, 0), 7200, true, "CEST" },
                { "CET-1CEST,M3.5.0,M10.5.0/3", civil(2024, 1, 1, 0, 0, 0), civil(2023, 10, 29, 1, 0, 0),
                  civil(2024, 3, 31, 1, 0, 0), 3600, false, "CET" },
                { "AEST-10AEDT,M10.1.0,M4.1.0/3", civil(2024, 6, 1, 0, 0, 0), civil(2024, 4, 6, 16, 0, 0),
                  civil(2024, 10, 5, 16, 0, 0), 36000, false, "AEST" },
                { "AEST-10AEDT,M10.1.0,M4.1.0/3", civil(2024, 1, 1, 0, 0, 0), civil(2023, 9, 30, 16, 0, 0),
                  civil(2024, 4, 6, 16, 0, 0), 39600, true, "AEDT" },
                { "<-03>3", 0, INT64_MIN, INT64_MAX, -10800, false, "-03" },
                { "IST-5:30", 0, INT64_MIN, INT64_MAX, 19800, false, "IST" },
                { "GMT0BST,M3.5.0/1,M10.5.0", civil(2024, 6, 1, 0, 0, 0), civil(2024, 3, 31, 1, 0, 0),
                  civil(2024, 10, 27, 1, 0, 0), 3600, true, "BST" },
                { "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3", civil(2024, 6, 1, 0, 0, 0),
                  civil(2024, 3, 31, 1, 0, 0), civil(2024, 10, 27, 1, 0, 0), 7200, true, "+02" },
                /* DST all year is one span */
                { "EST5EDT,0/0,J365/25", civil(2024, 12, 31, 23, 0, 0), INT64_MIN, INT64_MAX, -14400, true,
                  "EDT" },
                /* negative DST (Dublin): "standard" in summer, DST in winter */
                { "IST-1GMT0,M10.5.0,M3.5.0/1", civil(2024, 6, 1, 0, 0, 0), civil(2024, 3, 31, 1, 0, 0),
                  civil(2024, 10, 27, 1, 0, 0), 3600, false, "IST" },
                { "IST-1GMT0,M10.5.0,M3.5.0/1", civil(2024, 12, 1, 0, 0, 0), civil(2024, 10, 27, 1, 0, 0),
                  civil(2025, 3, 30, 1, 0, 0), 0, true, "GMT" },
                /* an empty footer: the last type lasts forever */
                { "", 0, INT64_MIN, INT64_MAX, 0, false, "LMT" },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(tz_zone_freep) TzZone *z = NULL;
                assert_int_equal(parse_footer(cases[i].footer, &z), 0);
                assert_span(z, cases[i].t, cases[i].start, cases[i].end, cases[i].offset, cases[i].is_dst,
                            cases[i].abbreviation);
        }
}

/* The transitions of a footer's rules: the offset before and after each. */
static void test_footer_transitions(void **state) {
        const struct {
                const char *footer;
                int64_t at;
                int32_t before, after;
        } cases[] = {
                { "EST5EDT,M3.2.0,M11.1.0", civil(2024, 3, 10, 7, 0, 0), -18000, -14400 },
                { "EST5EDT,M3.2.0,M11.1.0", civil(2024, 11, 3, 6, 0, 0), -14400, -18000 },
                { "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", civil(2024, 4, 6, 15, 0, 0), 39600, 37800 },
                { "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", civil(2024, 10, 5, 15, 30, 0), 37800, 39600 },
                /* version 3: negative rule times (Nuuk) */
                { "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", civil(2024, 3, 31, 1, 0, 0), -7200, -3600 },
                { "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", civil(2024, 10, 27, 1, 0, 0), -3600, -7200 },
                /* Jn never counts Feb 29; n counts it */
                { "AAA0BBB-1,J60,J300", civil(2024, 3, 1, 2, 0, 0), 0, 3600 },
                { "AAA0BBB-1,J60,J300", civil(2023, 3, 1, 2, 0, 0), 0, 3600 },
                { "AAA0BBB-1,J60,J300", civil(2024, 10, 27, 1, 0, 0), 3600, 0 },
                { "AAA0BBB-1,59,299", civil(2024, 2, 29, 2, 0, 0), 0, 3600 },
                { "AAA0BBB-1,59,299", civil(2023, 3, 1, 2, 0, 0), 0, 3600 },
                { "AAA0BBB-1,59,299", civil(2024, 10, 26, 1, 0, 0), 3600, 0 },
                { "AAA0BBB-1,59,299", civil(2023, 10, 27, 1, 0, 0), 3600, 0 },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(tz_zone_freep) TzZone *z = NULL;
                assert_int_equal(parse_footer(cases[i].footer, &z), 0);
                assert_transition(z, cases[i].at, cases[i].before, cases[i].after);
        }
}

static void test_footer_offsets_and_ends(void **state) {
        (void) state;
        TzZone *z = NULL;

        assert_int_equal(parse_footer("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", &z), 0);
        assert_int_equal(tz_max_offset(z), 39600);
        assert_int_equal(tz_min_offset(z), 37800); /* the table's unused type 0 does not count */
        z = tz_zone_free(z);

        /* DST all year: every wall time exists */
        assert_int_equal(parse_footer("EST5EDT,0/0,J365/25", &z), 0);
        assert_int_equal(tz_wall_first_instant(z, civil(2024, 1, 1, 0, 0, 0), NULL),
                         civil(2024, 1, 1, 4, 0, 0));
        z = tz_zone_free(z);

        /* explicit DST offset and seconds */
        assert_int_equal(parse_footer("<+0330>-3:30:15<+0430>-4:30:15,J1/0,J365/23", &z), 0);
        assert_int_equal(tz_offset_at(z, civil(2024, 6, 1, 0, 0, 0)), 16215);
        assert_int_equal(tz_offset_at(z, civil(2024, 12, 31, 19, 0, 0)), 12615); /* 22:30 local */
        z = tz_zone_free(z);

        /* far ends of time do not overflow */
        assert_int_equal(parse_footer("CET-1CEST,M3.5.0,M10.5.0/3", &z), 0);
        TzSpan s;
        tz_span_at(z, INT64_MAX, &s);
        assert_int_equal(s.end, INT64_MAX);
        tz_span_at(z, INT64_MIN, &s);
        assert_int_equal(s.start, INT64_MIN);
        (void) tz_wall_first_instant(z, INT64_MIN, NULL);
        (void) tz_wall_first_instant(z, INT64_MAX, NULL);
        (void) tz_wall_high_water(z, INT64_MIN);
        (void) tz_wall_high_water(z, INT64_MAX);
        z = tz_zone_free(z);
}

static void test_bad_footers(void **state) {
        (void) state;
        static const char *const bad[] = {
                "CET",                              /* no offset */
                "CET-1CEST",                        /* DST without rule */
                "CE-1",                             /* name too short */
                "<+0530-5:30",                      /* unterminated <...> */
                "<+05 30>-5:30",                    /* odd character in <...> */
                "CET-25",                           /* offset hours */
                "CET-1:60",                         /* minutes */
                "CET-1:00:60",                      /* seconds */
                "CET-0001",                         /* too many digits */
                "CET-1 ",                           /* trailing garbage */
                "1CET",                             /* no name */
                "CET-1CEST,M13.1.0,M10.5.0",        /* month */
                "CET-1CEST,M0.1.0,M10.5.0",         /* month */
                "CET-1CEST,M3.6.0,M10.5.0",         /* week */
                "CET-1CEST,M3.0.0,M10.5.0",         /* week */
                "CET-1CEST,M3.5.7,M10.5.0",         /* weekday */
                "CET-1CEST,M3.5,M10.5.0",           /* incomplete */
                "CET-1CEST,J0,J365",                /* J is 1-based */
                "CET-1CEST,J366,J1",                /* J has no Feb 29 */
                "CET-1CEST,366,1",                  /* n is 0-365 */
                "CET-1CEST,M3.5.0/168,M10.5.0",     /* rule time hours */
                "CET-1CEST,M3.5.0/1:2:3:4,M10.5.0", /* rule time */
                "CET-1CEST,M3.5.0,M10.5.0,",        /* trailing comma */
                "CET-1CEST,M3.5.0",                 /* no end */
                "CET-1CEST-25,M3.5.0,M10.5.0",      /* DST offset hours */
                "CET-1CEST,M3.5.0/,M10.5.0",        /* empty time */
                "CET-1CEST;M3.5.0,M10.5.0",         /* separator */
                "CET+",                             /* sign without number */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TzZone *z = NULL;
                int r = parse_footer(bad[i], &z);
                if (r != -EBADMSG)
                        fail_msg("footer \"%s\" gave %d", bad[i], r);
                assert_null(z);
        }
}

/* ---------------------------------------------------------------- parser */

static void test_v1_and_versions(void **state) {
        (void) state;
        static const int64_t times[] = { -100000, 0, 100000 };
        static const uint8_t indices[] = { 1, 0, 1 };
        static const TestType types[] = { { -3600, 0, 0 }, { 7200, 1, 4 } };
        TestTzif t = { .version = 0,
                       .n_times = 3,
                       .times = times,
                       .indices = indices,
                       .n_types = 2,
                       .types = types,
                       .n_chars = 8,
                       .chars = "ONE\0TWO" };
        uint8_t buf[512];
        TzZone *z = NULL;

        assert_int_equal(tz_zone_parse("v1", buf, build_tzif(&t, buf), &z), 0);
        assert_span(z, -100001, INT64_MIN, -100000, -3600, false, "ONE");
        assert_span(z, -100000, -100000, 0, 7200, true, "TWO");
        assert_span(z, 5, 0, 100000, -3600, false, "ONE");
        assert_span(z, INT64_MAX, 100000, INT64_MAX, 7200, true, "TWO");
        z = tz_zone_free(z);

        /* future versions keep the version 2 layout */
        for (char v = '2'; v <= '5'; v++) {
                t.version = v;
                assert_int_equal(tz_zone_parse("v", buf, build_tzif(&t, buf), &z), 0);
                assert_int_equal(tz_offset_at(z, 50000), -3600);
                z = tz_zone_free(z);
        }
        t.version = '1';
        assert_int_equal(tz_zone_parse("v", buf, build_tzif(&t, buf), &z), -EBADMSG);
        assert_null(z);
}

static uint8_t *read_file(const char *path, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 20);
        assert_non_null(buf);
        *ret_size = fread(buf, 1, 1 << 20, f);
        return buf;
}

static void test_truncated(void **state) {
        (void) state;
        size_t size;
        _cleanup_free_ uint8_t *data = read_file(TZ_DEFAULT_ROOT "/America/New_York", &size);
        TzZone *z = NULL;

        assert_int_equal(tz_zone_parse("full", data, size, &z), 0);
        z = tz_zone_free(z);
        for (size_t len = 0; len < size; len++) {
                /* a copy of exactly len bytes, so ASan sees any read past the end */
                _cleanup_free_ uint8_t *copy = malloc(len ?: 1);
                assert_non_null(copy);
                memcpy(copy, data, len);
                int r = tz_zone_parse("truncated", copy, len, &z);
                if (r != -EBADMSG)
                        fail_msg("length %zu gave %d", len, r);
        }
        assert_int_equal(tz_zone_parse("null", NULL, 0, &z), -EBADMSG);
}

static void test_malformed(void **state) {
        (void) state;
        static const int64_t times[] = { 1000, 2000 };
        static const uint8_t indices[] = { 1, 0 };
        static const TestType types[] = { { 3600, 0, 0 }, { 7200, 1, 4 } };
        const TestTzif good = { .version = '2',
                                .n_times = 2,
                                .times = times,
                                .indices = indices,
                                .n_types = 2,
                                .types = types,
                                .n_chars = 8,
                                .chars = "ONE\0TWO",
                                .footer = "" };
/* the 64-bit block's data, and its first type */
#define V2    (44 + 44)
#define TYPE0 (V2 + 2 * 8 + 2)
        uint8_t buf[512];
        size_t size = build_tzif(&good, buf);
        TzZone *z = NULL;

        assert_int_equal(tz_zone_parse("good", buf, size, &z), 0);
        z = tz_zone_free(z);

        static const struct {
                size_t at;
                uint8_t value;
        } corruptions[] = {
                { 0, 'X' },              /* magic */
                { 4, '1' },              /* version */
                { 44, 'X' },             /* second magic */
                { 44 + 4, '1' },         /* version */
                { 44 + 28 + 3, 1 },      /* leap seconds */
                { 44 + 39, 0 },          /* typecnt 0 */
                { 44 + 39, 9 },          /* typecnt beyond the data */
                { 44 + 43, 0 },          /* charcnt 0 */
                { 44 + 35, 200 },        /* timecnt beyond the data */
                { 44 + 23, 1 },          /* isutcnt != typecnt */
                { 44 + 27, 1 },          /* isstdcnt != typecnt */
                { V2 + 6, 0x07 },        /* 1000 -> 2024: not ascending */
                { V2 + 16, 2 },          /* type index */
                { TYPE0, 0x80 },         /* offset -2^31 */
                { TYPE0 + 1, 0x10 },     /* offset too large */
                { TYPE0 + 4, 2 },        /* isdst */
                { TYPE0 + 5, 8 },        /* abbreviation index */
                { TYPE0 + 12 + 7, 'X' }, /* abbreviation without NUL */
                { TYPE0 + 12 + 8, 'X' }, /* footer newline */
                { TYPE0 + 12 + 9, 'X' }, /* footer: missing final newline */
        };
        for (size_t i = 0; i < ELEMENTSOF(corruptions); i++) {
                uint8_t bad[512];
                memcpy(bad, buf, size);
                bad[corruptions[i].at] = corruptions[i].value;
                int r = tz_zone_parse("bad", bad, size, &z);
                if (r != -EBADMSG)
                        fail_msg("corruption %zu gave %d", i, r);
                assert_null(z);
        }

#undef V2
#undef TYPE0

        /* a NUL inside the footer */
        TestTzif t = good;
        t.footer = "CET-1";
        size = build_tzif(&t, buf);
        buf[size - 3] = '\0';
        assert_int_equal(tz_zone_parse("bad", buf, size, &z), -EBADMSG);
        /* trailing data after the footer is ignored, for future versions */
        size = build_tzif(&t, buf);
        memcpy(buf + size, "junk", 4);
        assert_int_equal(tz_zone_parse("ok", buf, size + 4, &z), 0);
        z = tz_zone_free(z);
}

/* ---------------------------------------------------------------- database */

static void test_names(void **state) {
        static const char *const invalid[] = {
                "",          "../etc/passwd",  "/etc/passwd",    "Europe/../../x",  "..",
                "Europe/..", "Europe/Ber lin", "Europe\\Berlin", "Europe/Berlin\n", "Ünïcödé"
        };
        const TzZone *z = NULL;
        char long_name[TZ_NAME_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                assert_int_equal(tzdb_get(*state, invalid[i], &z), -EINVAL);
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_int_equal(tzdb_get(*state, long_name, &z), -EINVAL);
        assert_null(z);

        assert_int_equal(tzdb_get(*state, "Mars/Olympus", &z), -ENOENT);
        assert_int_equal(tzdb_get(*state, "Europe", &z), -ENOENT); /* a directory */
        assert_int_equal(tzdb_get(*state, "Europe/Berlin/", &z), -ENOENT);
        assert_int_equal(tzdb_get(*state, "..foo", &z), -ENOENT); /* valid name, no such file */
        assert_null(z);

        /* symlinks inside the database are fine */
        assert_int_equal(tzdb_get(*state, "US/Eastern", &z), 0);
        assert_int_equal(tz_offset_at(z, civil(2024, 7, 1, 0, 0, 0)), -14400);
        assert_int_equal(tzdb_get(*state, "posix/Europe/Berlin", &z), 0);
}

static void test_cache(void **state) {
        const TzZone *a = NULL, *b = NULL;

        assert_int_equal(tzdb_get(*state, "Europe/Berlin", &a), 0);
        assert_int_equal(tzdb_get(*state, "Europe/Berlin", &b), 0);
        assert_ptr_equal(a, b);
        /* many zones grow the cache without moving the zones */
        static const char *const names[] = { "Europe/Paris",    "Europe/Rome",         "Europe/Madrid",
                                             "Asia/Tokyo",      "Asia/Shanghai",       "America/Chicago",
                                             "America/Denver",  "America/Los_Angeles", "Africa/Cairo",
                                             "Africa/Lagos",    "Pacific/Auckland",    "Pacific/Honolulu",
                                             "Asia/Dubai",      "Asia/Singapore",      "Europe/Moscow",
                                             "America/Halifax", "America/St_Johns",    "Asia/Kathmandu",
                                             "Europe/Kyiv" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                (void) get_zone(*state, names[i]);
        assert_int_equal(tzdb_get(*state, "Europe/Berlin", &b), 0);
        assert_ptr_equal(a, b);
        assert_string_equal(tz_zone_name(b), "Europe/Berlin");
}

static void test_other_roots(void **state) {
        (void) state;
        _cleanup_(tzdb_freep) TzDb *db = NULL;
        const TzZone *z = NULL;
        char dir[] = "/tmp/test-tz-XXXXXX", path[64];

        /* no database at all: UTC still works */
        assert_int_equal(tzdb_new("/nonexistent/zoneinfo", &db), 0);
        assert_int_equal(tzdb_get(db, "Europe/Berlin", &z), -ENOENT);
        assert_int_equal(tzdb_get(db, "UTC", &z), 0);
        assert_ptr_equal(z, tz_utc());
        db = tzdb_free(db);

        assert_non_null(mkdtemp(dir));
        assert_int_equal(tzdb_new(dir, &db), 0);
        snprintf(path, sizeof(path), "%s/Corrupt", dir);
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs("TZif2 this is not a time zone", f);
        fclose(TAKE_PTR(f));
        assert_int_equal(tzdb_get(db, "Corrupt", &z), -EBADMSG);
        assert_int_equal(unlink(path), 0);

        snprintf(path, sizeof(path), "%s/Huge", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(ftruncate(fileno(f), 2 * 1024 * 1024), 0);
        fclose(TAKE_PTR(f));
        assert_int_equal(tzdb_get(db, "Huge", &z), -EBADMSG);
        assert_int_equal(unlink(path), 0);

        snprintf(path, sizeof(path), "%s/Fifo", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(tzdb_get(db, "Fifo", &z), -ENOENT);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_system_zone_name(void **state) {
        _cleanup_free_ char *name = NULL;

        assert_int_equal(tz_system_zone_name(&name), 0);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_null(strstr(name, "zoneinfo"));
        (void) get_zone(*state, name);
}

static void test_error_messages(void **state) {
        (void) state;
        assert_string_equal(tz_error_message(-ENOENT), "unknown time zone");
        assert_string_equal(tz_error_message(-EINVAL), "invalid time zone name");
        assert_string_equal(tz_error_message(-EBADMSG), "corrupt time zone data for");
        assert_string_equal(tz_error_message(-ENOMEM), "out of memory loading time zone");
        assert_string_equal(tz_error_message(-EACCES), "cannot load time zone");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utc),
                cmocka_unit_test(test_new_york),
                cmocka_unit_test(test_berlin_sydney_lord_howe),
                cmocka_unit_test(test_kolkata),
                cmocka_unit_test(test_sao_paulo),
                cmocka_unit_test(test_footer_rule_far_future),
                cmocka_unit_test(test_table_rule_seam),
                cmocka_unit_test(test_equal_offsets_merge),
                cmocka_unit_test(test_wall_first_instant),
                cmocka_unit_test(test_wall_high_water),
                cmocka_unit_test(test_wall_extremes),
                cmocka_unit_test(test_glibc_cross_check),
                cmocka_unit_test(test_footer_spans),
                cmocka_unit_test(test_footer_transitions),
                cmocka_unit_test(test_footer_offsets_and_ends),
                cmocka_unit_test(test_bad_footers),
                cmocka_unit_test(test_v1_and_versions),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_cache),
                cmocka_unit_test(test_other_roots),
                cmocka_unit_test(test_system_zone_name),
                cmocka_unit_test(test_error_messages),
        };
        return cmocka_run_group_tests(tests, setup_db, teardown_db);
}
