/* SPDX-License-Identifier: MIT */
/*
 * How fast is cron_next()? Nanoseconds per call for a fixed set of
 * expressions in UTC and Europe/Berlin, next to two peers on the same
 * inputs: the brute-force reference of tests/support/cron-reference.c and
 * Debian's python3-croniter (tests/bench/croniter-bench.py, run once as a
 * child). Also checks that croniter's first fire times equal ours; a
 * disagreement is a finding to print, not a failure.
 *
 * Calls are chained (after = the previous fire) from START and restart there
 * once a fire passes RESET, so sparse expressions stay in the same decades.
 *
 * The script is found through $UDFCRON_CRONITER_BENCH, argv[1], the working
 * directory (make runs benches from the repository root) or the binary's
 * location, in that order; $PYTHON overrides /usr/bin/python3.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/cron-reference.h"
#include "calendar.h"
#include "cleanup.h"
#include "cron.h"
#include "macro.h"
#include "timestamp.h"
#include "tz.h"

static const char *const expressions[] = {
        "* * * * *",       "*/5 * * * *",    "0 * * * *",      "30 2 * * *",  "0 9-17 * * MON-FRI",
        "15,45 */2 * * *", "0 0 1 * *",      "0 0 * * 0",      "0 0 1 1 *",   "0 0 29 2 *",
        "0 0 31 * *",      "0 0 * * FRI#5",  "0 0 L 2 *",      "0 0 15W * *", "0 0 LW * *",
        "0 0 * * 5L",      "*/10 * * * * *", "0 0 12 ? * WED", "@every 90s",  "0 30 1 * * ?",
};
#define N_EXPR ELEMENTSOF(expressions)

static const char *const zone_names[] = { "UTC", "Europe/Berlin" };
static const double goal_ns[] = { 200, 600 };
#define N_ZONES ELEMENTSOF(zone_names)

#define START INT64_C(1709251200) /* 2024-03-01T00:00:00Z */
#define RESET INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define CALLS 20000
#define RUNS  15
/* The reference must see the next fire of every expression: 29 February is at most 8 years away. */
#define REF_WINDOW ((int64_t) 9 * 366 * SECONDS_PER_DAY)
#define REF_RUN_NS INT64_C(40000000)
#define REF_RUNS   5
#define REF_VERIFY 300

/* croniter's first fires are compared from these instants: around both Berlin DST changes of 2024. */
static const int64_t agree_starts[] = {
        1709251200, /* 2024-03-01T00:00:00Z */
        1711836000, /* 2024-03-30T22:00:00Z, 3 h before Berlin springs forward */
        1711846780, /* 2024-03-31T00:59:40Z, 20 s before */
        1729980000, /* 2024-10-26T22:00:00Z, 3 h before Berlin falls back */
        1729990780, /* 2024-10-27T00:59:40Z, 20 s before */
};
#define N_STARTS    ELEMENTSOF(agree_starts)
#define AGREE_FIRES 6

/* Results land here, so the compiler cannot drop the calls. */
static volatile int64_t sink;

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------ ours and the reference */

static double time_ours(const CronExpr *e, const TzZone *zone) {
        double per_call[RUNS];
        int64_t after = START;

        for (unsigned r = 0; r < RUNS; r++) {
                int64_t t0 = now_ns();
                for (unsigned i = 0; i < CALLS; i++) {
                        CronFire f;
                        after = cron_next(e, zone, after, &f) == 0 && f.at < RESET ? f.at : START;
                }
                per_call[r] = (double) (now_ns() - t0) / CALLS;
        }
        sink += after;
        return median(per_call, RUNS);
}

static int64_t ref_step(const CronExpr *e, const TzZone *zone, int64_t after) {
        int64_t at;
        return ref_next(e, zone, after, REF_WINDOW, &at) == 0 && at < RESET ? at : START;
}

/* The reference is slow: as many calls as fit in REF_RUN_NS, the median of REF_RUNS such runs. */
static double time_reference(const CronExpr *e, const TzZone *zone) {
        double per_call[REF_RUNS];
        int64_t after = START;

        for (unsigned r = 0; r < REF_RUNS; r++) {
                int64_t t0 = now_ns(), spent;
                unsigned n = 0;
                do {
                        for (unsigned i = 0; i < 16; i++, n++)
                                after = ref_step(e, zone, after);
                } while ((spent = now_ns() - t0) < REF_RUN_NS);
                per_call[r] = (double) spent / n;
        }
        sink += after;
        return median(per_call, REF_RUNS);
}

/* How many of the first REF_VERIFY chained fires the reference and cron_next() disagree on. */
static unsigned verify_reference(const CronExpr *e, const TzZone *zone) {
        int64_t after = START;
        unsigned bad = 0;

        for (unsigned i = 0; i < REF_VERIFY; i++) {
                CronFire f;
                int64_t ours = cron_next(e, zone, after, &f) == 0 && f.at < RESET ? f.at : START;
                int64_t ref = ref_step(e, zone, after);
                bad += ours != ref;
                after = ours;
        }
        return bad;
}

/* ------------------------------------------------------------------ croniter */

typedef struct Croniter {
        double ns;       /* < 0: no result */
        char reason[96]; /* why it is unsupported, when it is */
        bool have_fires[N_STARTS];
        int64_t fires[N_STARTS][AGREE_FIRES];
} Croniter;

static Croniter croniter[N_EXPR][N_ZONES];

static char *find_script(int argc, char **argv) {
        const char *env = getenv("UDFCRON_CRONITER_BENCH");
        char exe[PATH_MAX], *path = NULL;

        if (env && *env)
                return strdup(env);
        if (argc > 1)
                return strdup(argv[1]);
        if (access("tests/bench/croniter-bench.py", R_OK) == 0)
                return strdup("tests/bench/croniter-bench.py");
        /* build/bench/bench-cron -> tests/bench/ */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
                return NULL;
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        if (asprintf(&path, "%s/../../tests/bench/croniter-bench.py", exe) < 0)
                return NULL;
        if (access(path, R_OK) == 0)
                return path;
        free(path);
        return NULL;
}

static int zone_index(const char *name) {
        for (size_t z = 0; z < N_ZONES; z++)
                if (strcmp(name, zone_names[z]) == 0)
                        return (int) z;
        return -1;
}

/* One line of the script's output: "bench I ZONE NS|unsupported [WHY]" or "fires I ZONE START F,..". */
static void parse_line(char *line) {
        char *fields[6] = {};
        size_t n = 0;

        line[strcspn(line, "\n")] = '\0';
        for (char *s = line, *tok; n < ELEMENTSOF(fields) && (tok = strsep(&s, "\t"));)
                fields[n++] = tok;
        if (n < 4)
                return;
        unsigned long i = strtoul(fields[1], NULL, 10);
        int z = zone_index(fields[2]);
        if (i >= N_EXPR || z < 0)
                return;
        Croniter *c = &croniter[i][z];

        if (strcmp(fields[0], "bench") == 0) {
                if (strcmp(fields[3], "unsupported") == 0)
                        snprintf(c->reason, sizeof c->reason, "%s", n > 4 ? fields[4] : "unsupported");
                else
                        c->ns = strtod(fields[3], NULL);
        } else if (strcmp(fields[0], "fires") == 0 && n == 5) {
                int64_t start = strtoll(fields[3], NULL, 10);
                for (size_t s = 0; s < N_STARTS; s++) {
                        if (agree_starts[s] != start)
                                continue;
                        char *list = fields[4], *tok;
                        size_t k = 0;
                        while (k < AGREE_FIRES && (tok = strsep(&list, ",")))
                                c->fires[s][k++] = strtoll(tok, NULL, 10);
                        c->have_fires[s] = k == AGREE_FIRES;
                }
        }
}

/* Runs the script once for every expression and zone; returns 0 or a negative errno-style code. */
static int run_croniter(const char *script) {
        const char *python = getenv("PYTHON") && *getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
        char zones[64] = "", starts[256] = "", fires[16], bench_start[32], reset[32];
        const char *argv[16 + N_EXPR];
        size_t n = 0;

        for (size_t z = 0; z < N_ZONES; z++)
                snprintf(zones + strlen(zones), sizeof zones - strlen(zones), "%s%s", z ? "," : "",
                         zone_names[z]);
        for (size_t s = 0; s < N_STARTS; s++)
                snprintf(starts + strlen(starts), sizeof starts - strlen(starts), "%s%" PRId64, s ? "," : "",
                         agree_starts[s]);
        snprintf(fires, sizeof fires, "%d", AGREE_FIRES);
        snprintf(bench_start, sizeof bench_start, "%" PRId64, START);
        snprintf(reset, sizeof reset, "%" PRId64, RESET);

        argv[n++] = python;
        argv[n++] = script;
        argv[n++] = "--zones";
        argv[n++] = zones;
        argv[n++] = "--starts";
        argv[n++] = starts;
        argv[n++] = "--fires";
        argv[n++] = fires;
        argv[n++] = "--bench-start";
        argv[n++] = bench_start;
        argv[n++] = "--reset";
        argv[n++] = reset;
        for (size_t i = 0; i < N_EXPR; i++)
                argv[n++] = expressions[i];
        argv[n] = NULL;

        int pipefd[2];
        if (pipe(pipefd) < 0)
                return -errno;

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, pipefd[0]);
        posix_spawn_file_actions_addclose(&actions, pipefd[1]);
        pid_t pid;
        int r = posix_spawn(&pid, python, &actions, NULL, (char *const *) argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        close(pipefd[1]);
        if (r != 0) {
                close(pipefd[0]);
                return -r;
        }

        _cleanup_fclose_ FILE *out = fdopen(pipefd[0], "r");
        if (!out) {
                close(pipefd[0]);
                (void) waitpid(pid, NULL, 0);
                return -ENOMEM;
        }
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        while (getline(&line, &size, out) > 0)
                parse_line(line);

        int status;
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

/* "yes" when croniter's first fires from every start equal ours; "no" puts the first difference in note. */
static const char *agreement(const CronExpr *e, const TzZone *zone, size_t i, size_t z, char *note,
                             size_t size) {
        const Croniter *c = &croniter[i][z];

        for (size_t s = 0; s < N_STARTS; s++) {
                if (!c->have_fires[s])
                        return "n/a";
                int64_t after = agree_starts[s];
                for (size_t k = 0; k < AGREE_FIRES; k++) {
                        CronFire f;
                        if (cron_next(e, zone, after, &f) < 0)
                                f.at = -1;
                        if (f.at != c->fires[s][k]) {
                                char a[TIMESTAMP_MAX], b[TIMESTAMP_MAX], from[TIMESTAMP_MAX];
                                snprintf(note, size, "'%s' %s: fire %zu after %s: ours %s, croniter %s",
                                         expressions[i], zone_names[z], k + 1,
                                         timestamp_format(agree_starts[s],
                                                          tz_offset_at(zone, agree_starts[s]), from),
                                         f.at < 0 ? "none"
                                                  : timestamp_format(f.at, tz_offset_at(zone, f.at), a),
                                         timestamp_format(c->fires[s][k], tz_offset_at(zone, c->fires[s][k]),
                                                          b));
                                return "no";
                        }
                        after = f.at;
                }
        }
        return "yes";
}

/* ------------------------------------------------------------------ main */

/* Timings mean little on a busy machine: say how busy it was. */
static void print_load(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/loadavg", "re");
        double one, five;
        if (f && fscanf(f, "%lf %lf", &one, &five) == 2)
                printf("load average %.2f (1 min), %.2f (5 min) on %ld CPUs\n", one, five,
                       sysconf(_SC_NPROCESSORS_ONLN));
}

int main(int argc, char **argv) {
        _cleanup_(tzdb_freep) TzDb *db = NULL;
        const TzZone *zones[N_ZONES];
        CronExpr exprs[N_EXPR];
        char notes[2 * N_EXPR * N_ZONES][320]; /* at most two per row */
        size_t n_notes = 0;
        int64_t t0 = now_ns();
        int r;

        if (tzdb_new(NULL, &db) < 0) {
                fprintf(stderr, "bench-cron: cannot open the tz database\n");
                return 1;
        }
        for (size_t z = 0; z < N_ZONES; z++)
                if ((r = tzdb_get(db, zone_names[z], &zones[z])) < 0) {
                        fprintf(stderr, "bench-cron: %s '%s'\n", tz_error_message(r), zone_names[z]);
                        return 1;
                }
        for (size_t i = 0; i < N_EXPR; i++) {
                CronError err;
                if (cron_parse(expressions[i], &exprs[i], &err) < 0) {
                        fprintf(stderr, "bench-cron: '%s': %s\n", expressions[i], err.message);
                        return 1;
                }
        }

        /* croniter first, alone, so that it does not share the CPU with our timings */
        for (size_t i = 0; i < N_EXPR; i++)
                for (size_t z = 0; z < N_ZONES; z++)
                        croniter[i][z].ns = -1;
        _cleanup_free_ char *script = find_script(argc, argv);
        const char *croniter_status = "ok";
        if (!script)
                croniter_status = "croniter-bench.py not found (set UDFCRON_CRONITER_BENCH)";
        else if ((r = run_croniter(script)) < 0)
                croniter_status = r == -EPROTO ? "croniter-bench.py failed (is python3-croniter installed?)"
                                               : "cannot run python3";

        printf("cron_next(): ns per call, median of %d runs of %d chained calls from 2024-03-01T00:00Z "
               "(restarting past 2100);\n"
               "reference: tests/support/cron-reference.c, median of %d runs of %.0f ms; "
               "croniter: python3-croniter via %s (%s);\n"
               "agree: croniter's first %d fires after %zu instants around Berlin's 2024 DST changes "
               "equal ours; goal: < 200 ns in UTC, < 600 ns in Berlin.\n",
               RUNS, CALLS, REF_RUNS, REF_RUN_NS / 1e6, script ? script : "-", croniter_status, AGREE_FIRES,
               N_STARTS);
        print_load();
        printf("\n%-20s %-14s %9s %12s %8s %12s %8s %6s  %s\n", "expression", "zone", "ours ns",
               "reference ns", "ratio", "croniter ns", "ratio", "agree", "goal");

        unsigned missed = 0;
        for (size_t i = 0; i < N_EXPR; i++)
                for (size_t z = 0; z < N_ZONES; z++) {
                        const Croniter *c = &croniter[i][z];
                        char ref_col[32], ratio_col[16], cr_col[32], cr_ratio_col[16];
                        double ours = time_ours(&exprs[i], zones[z]);
                        double ref = time_reference(&exprs[i], zones[z]);
                        unsigned bad = verify_reference(&exprs[i], zones[z]);

                        snprintf(ref_col, sizeof ref_col, "%.0f", ref);
                        snprintf(ratio_col, sizeof ratio_col, "%.0fx", ref / ours);
                        if (c->ns >= 0) {
                                snprintf(cr_col, sizeof cr_col, "%.0f", c->ns);
                                snprintf(cr_ratio_col, sizeof cr_ratio_col, "%.0fx", c->ns / ours);
                        } else {
                                snprintf(cr_col, sizeof cr_col, "%s", c->reason[0] ? "unsupported" : "n/a");
                                snprintf(cr_ratio_col, sizeof cr_ratio_col, "-");
                        }
                        const char *agree = "n/a";
                        if (c->ns >= 0) {
                                agree = agreement(&exprs[i], zones[z], i, z, notes[n_notes],
                                                  sizeof notes[0]);
                                n_notes += strcmp(agree, "no") == 0;
                        } else if (c->reason[0])
                                snprintf(notes[n_notes++], sizeof notes[0], "'%s' %s: croniter: %s",
                                         expressions[i], zone_names[z], c->reason);
                        if (bad)
                                snprintf(notes[n_notes++], sizeof notes[0],
                                         "'%s' %s: the reference and cron_next() disagree on %u of %d fires",
                                         expressions[i], zone_names[z], bad, REF_VERIFY);
                        bool met = ours < goal_ns[z];
                        missed += !met;
                        printf("%-20s %-14s %9.1f %12s %8s %12s %8s %6s  %s\n", expressions[i],
                               zone_names[z], ours, ref_col, ratio_col, cr_col, cr_ratio_col, agree,
                               met ? "goal met" : "goal MISSED");
                        fflush(stdout);
                }

        printf("\n%u of %zu rows missed the goal; %.1f s in all; ", missed, N_EXPR * N_ZONES,
               (double) (now_ns() - t0) / 1e9);
        print_load();
        if (n_notes > 0)
                printf("Notes:\n");
        for (size_t k = 0; k < n_notes; k++)
                printf("  %s\n", notes[k]);
        return 0;
}
