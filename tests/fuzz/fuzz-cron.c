/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the cron parser and, for every expression it accepts, the fire-time
 * search: next/prev must terminate, move strictly in their direction and
 * agree with each other, in UTC and in zones with DST gaps and overlaps.
 * The first input byte picks zone, policy and start instant; the rest is the
 * expression.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cron.h"
#include "fuzz-util.h"
#include "tz.h"

static const char *const zones[] = { "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe" };

/* Loaded once per fuzzing process: re-reading zone files per input would only measure I/O. */
static const TzZone *zone_for(uint8_t selector) {
        static TzDb *db;
        const TzZone *zone = NULL;

        if (!db && tzdb_new(NULL, &db) < 0)
                abort();
        if (tzdb_get(db, zones[selector % ELEMENTSOF(zones)], &zone) < 0)
                abort();
        return zone;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 512)
                return 0;

        uint8_t selector = data[0];
        _cleanup_free_ char *text = fuzz_text(data + 1, size - 1);
        if (!text)
                return 0;

        CronExpr expr;
        CronError error;
        if (cron_parse(text, &expr, &error) < 0) {
                if (error.message[0] == '\0' || !memchr(error.message, '\0', sizeof error.message))
                        abort(); /* every rejection explains itself */
                return 0;
        }
        expr.dst_policy = (selector >> 2) & 1 ? CRON_DST_SKIP : CRON_DST_SHIFT;

        const TzZone *zone = zone_for(selector);
        /* 2024-03-09T12:00Z, the day before the US spring-forward, or far in the footer-rule future */
        int64_t t = (selector >> 3) & 1 ? INT64_C(5680281600) : INT64_C(1709985600);
        for (int i = 0; i < 8; i++) {
                CronFire next, prev;
                if (cron_next(&expr, zone, t, &next) < 0)
                        break;
                if (next.at <= t)
                        abort();
                /* no fire between t and next; none at all before the first one a year field allows */
                int r = cron_prev(&expr, zone, next.at, &prev);
                if ((r < 0 && r != -ENOENT) || (r == 0 && prev.at > t))
                        abort();
                t = next.at;
        }
        return 0;
}
