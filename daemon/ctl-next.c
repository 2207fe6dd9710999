/* SPDX-License-Identifier: MIT */
/* udfcronctl next: preview fire times, offline, with DST shifts marked. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "cleanup.h"
#include "cron.h"
#include "timestamp.h"
#include "tz.h"
#include "udfcronctl.h"

#define COUNT_MAX 100000

static void next_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl next [OPTIONS] EXPRESSION\n"
                "\n"
                "Print the next fire times of a cron expression, one per line, as ISO-8601\n"
                "local times with their UTC offset. Fires moved or repeated by a DST change\n"
                "carry a note after the time.\n"
                "\n"
                "  -z, --tz ZONE       IANA time zone (default: the system zone)\n"
                "  -n, --count N       how many fire times (default 5)\n"
                "  -f, --from TIME     start strictly after TIME, ISO-8601 with Z or an offset,\n"
                "                      or @EPOCH-SECONDS (default: now)\n"
                "      --dst POLICY    shift (default) or skip: what fixed-time expressions do\n"
                "                      with local times a DST change skips\n"
                "  -c, --check         only validate the expression\n"
                "  -h, --help          show this help\n"
                "\n"
                "Exit status: 0 ok, 1 no fire time after TIME, 2 invalid arguments, expression or zone.\n");
}

/* The expression may come as one quoted argument or as several words. */
static char *join_args(int argc, char **argv) {
        size_t len = 1;
        for (int i = 0; i < argc; i++)
                len += strlen(argv[i]) + 1;
        char *s = calloc(1, len);
        if (!s)
                return NULL;
        for (int i = 0; i < argc; i++) {
                if (i > 0)
                        strcat(s, " ");
                strcat(s, argv[i]);
        }
        return s;
}

static void print_fire(const CronFire *fire, const TzZone *zone) {
        char ts[TIMESTAMP_MAX];
        CivilTime named;

        fputs(timestamp_format(fire->at, tz_offset_at(zone, fire->at), ts), stdout);
        civil_from_seconds(fire->wall, &named);
        if (fire->flags & CRON_FIRE_DST_GAP)
                printf(" (%02u:%02u:%02u skipped by DST, fired at the end of the gap)", named.hour,
                       named.minute, named.second);
        else if (fire->flags & CRON_FIRE_DST_REPEAT)
                printf(" (%02u:%02u:%02u again: DST repeats this hour)", named.hour, named.minute,
                       named.second);
        putchar('\n');
}

int verb_next(int argc, char **argv) {
        static const struct option options[] = {
                { "tz", required_argument, NULL, 'z' },
                { "count", required_argument, NULL, 'n' },
                { "from", required_argument, NULL, 'f' },
                { "dst", required_argument, NULL, 'D' },
                { "check", no_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *zone_name = NULL, *from = NULL;
        CronDstPolicy policy = CRON_DST_SHIFT;
        long count = 5;
        bool check_only = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+z:n:f:ch", options, NULL)) >= 0)
                switch (c) {
                case 'z':
                        zone_name = optarg;
                        break;
                case 'n': {
                        char *end;
                        count = strtol(optarg, &end, 10);
                        if (*optarg == '\0' || *end != '\0' || count < 1 || count > COUNT_MAX) {
                                fprintf(stderr, "udfcronctl next: --count must be 1-%d, not '%s'\n",
                                        COUNT_MAX, optarg);
                                return EXIT_USAGE;
                        }
                        break;
                }
                case 'f':
                        from = optarg;
                        break;
                case 'D':
                        policy = cron_dst_policy_from_string(optarg);
                        if (policy < 0) {
                                fprintf(stderr, "udfcronctl next: --dst must be shift or skip, not '%s'\n",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'c':
                        check_only = true;
                        break;
                case 'h':
                        next_help(stdout);
                        return EXIT_OK;
                default:
                        next_help(stderr);
                        return EXIT_USAGE;
                }

        if (optind >= argc) {
                fprintf(stderr, "udfcronctl next: missing EXPRESSION\n");
                next_help(stderr);
                return EXIT_USAGE;
        }
        _cleanup_free_ char *text = join_args(argc - optind, argv + optind);
        if (!text) {
                fprintf(stderr, "udfcronctl next: out of memory\n");
                return EXIT_FAILED;
        }

        CronExpr expr;
        CronError error;
        if (cron_parse(text, &expr, &error) < 0) {
                fprintf(stderr, "udfcronctl next: invalid cron expression: %s\n", error.message);
                if (error.column > 0)
                        fprintf(stderr, "  %s\n  %*s^\n", text, (int) error.column - 1, "");
                return EXIT_USAGE;
        }
        expr.dst_policy = (uint8_t) policy;

        int64_t after;
        if (from && timestamp_parse(from, &after) < 0) {
                fprintf(stderr,
                        "udfcronctl next: --from: '%s' is not an ISO-8601 time with Z or an offset "
                        "(as in 2024-03-10T01:30:00-05:00) or @EPOCH-SECONDS\n",
                        from);
                return EXIT_USAGE;
        }
        if (!from)
                after = (int64_t) time(NULL);

        _cleanup_free_ char *system_zone = NULL;
        if (!zone_name) {
                if (tz_system_zone_name(&system_zone) < 0) {
                        fprintf(stderr, "udfcronctl next: out of memory\n");
                        return EXIT_FAILED;
                }
                zone_name = system_zone;
        }
        _cleanup_(tzdb_freep) TzDb *db = NULL;
        const TzZone *zone;
        int r = tzdb_new(NULL, &db);
        if (r >= 0)
                r = tzdb_get(db, zone_name, &zone);
        if (r < 0) {
                fprintf(stderr, "udfcronctl next: %s '%s'\n", tz_error_message(r), zone_name);
                return r == -ENOMEM ? EXIT_FAILED : EXIT_USAGE;
        }

        if (check_only)
                return EXIT_OK;

        for (long i = 0; i < count; i++) {
                CronFire fire;
                if (cron_next(&expr, zone, after, &fire) < 0) {
                        fprintf(stderr, "udfcronctl next: %s\n",
                                i == 0 ? "the expression never fires after the start time"
                                       : "no further fire times");
                        return i == 0 ? EXIT_FAILED : EXIT_OK;
                }
                print_fire(&fire, zone);
                after = fire.at;
        }
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}
