/* SPDX-License-Identifier: MIT */
/*
 * TZif parsing, then the span and wall-time functions at instants taken from
 * the input and at the ends of time. Beyond the sanitizers, it checks that
 * spans tile the timeline and that the wall-time answers agree with them.
 */
#include "cleanup.h"
#include "tz.h"

#define CHECK(x)                                                                                            \
        do {                                                                                                \
                if (!(x))                                                                                   \
                        abort();                                                                            \
        } while (0)

/* Wall times this far from the ends never saturate, so exact checks hold. */
#define SAFE(t) ((t) > INT64_MIN / 2 && (t) < INT64_MAX / 2)

static int64_t load64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t) v;
}

static void check_instant(const TzZone *z, int64_t t) {
        TzSpan s, other;

        tz_span_at(z, t, &s);
        CHECK(s.start <= t && (t < s.end || s.end == INT64_MAX));
        CHECK(s.utc_offset >= tz_min_offset(z) && s.utc_offset <= tz_max_offset(z));
        CHECK(s.abbreviation);
        CHECK(tz_offset_at(z, t) == s.utc_offset);
        if (s.start != INT64_MIN) {
                tz_span_at(z, s.start - 1, &other);
                CHECK(other.end == s.start);
        }
        if (s.end != INT64_MAX) {
                tz_span_at(z, s.end, &other);
                CHECK(other.start == s.end);
        }

        int64_t high = tz_wall_high_water(z, t);
        if (SAFE(t))
                CHECK(high >= t + s.utc_offset);

        /* t read as a wall time */
        bool exists;
        int64_t first = tz_wall_first_instant(z, t, &exists);
        if (SAFE(t)) {
                tz_span_at(z, first, &other);
                if (exists)
                        CHECK(first + other.utc_offset == t);
                else
                        CHECK(other.start == first && first + other.utc_offset > t);
                CHECK(tz_wall_high_water(z, first - 1) < t);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(tz_zone_freep) TzZone *zone = NULL;

        if (tz_zone_parse("fuzz", data, size, &zone) < 0)
                return 0;

        static const int64_t fixed[] = { INT64_MIN,  INT64_MIN + 1, -4000000000000, -1,       0, 1735689600,
                                         4102444800, 4000000000000, INT64_MAX - 1,  INT64_MAX };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                check_instant(zone, fixed[i]);
        /* the input's last bytes, raw and scaled into the years people use */
        for (size_t i = 0; i + 8 <= size && i < 32; i += 8) {
                int64_t v = load64(data + size - 8 - i);
                check_instant(zone, v);
                check_instant(zone, v % 8000000000);
        }
        return 0;
}
