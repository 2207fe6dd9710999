/* SPDX-License-Identifier: MIT */
/*
 * What a pipeline's step start costs the daemon's loop: before a step starts,
 * the run's record takes the step and the outputs before it
 * (state_run_set_step()) and the state file is saved (run.c's
 * on_step_starting(); the steps that start in one pass of the loop share the
 * save), so that a restarted daemon never runs a finished step again.
 * Measured for states of 1 to 10,000 runs in flight (each a pipeline at its
 * third step, two output URLs before it) beside 1,000 schedules:
 *
 *   save     a step start alone in its pass: the record, then state_save()
 *            (format, write, two fsyncs) into $TMPDIR (default /tmp, a disk
 *            file system, as /var/lib is): p50, p99 and max;
 *   format   its peer, state_format() alone: the CPU part of the same save;
 *
 * and the file's size. Exit status 0 unless the setup fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/bench-util.h"
#include "../support/testdir.h"
#include "state.h"

#define SCHEDULES 1000
#define REPEATS   200

static char *dir;

static void remove_dir(void) {
        dir = testdir_free(dir);
}

static int compare_ns(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

/* p50, p99 and max of `n` durations (sorted in place), in ms. */
static void print_ms(const char *what, int64_t *ns, size_t n) {
        qsort(ns, n, sizeof *ns, compare_ns);
        printf("  %-7s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", what, ns[n / 2] / 1e6,
               ns[n * 99 / 100] / 1e6, ns[n - 1] / 1e6);
}

static State *state_of(size_t n_runs) {
        State *s = state_new();
        char name[64], id[32], a[128], b[128];
        if (!s)
                die("out of memory");
        for (size_t i = 0; i < SCHEDULES; i++) {
                snprintf(name, sizeof name, "schedule-%04zu", i);
                if (state_ensure_schedule(s, name, NULL) < 0)
                        die("cannot add a schedule");
        }
        for (size_t i = 0; i < n_runs; i++) {
                snprintf(name, sizeof name, "schedule-%04zu", i % SCHEDULES);
                snprintf(id, sizeof id, "%016zx", i);
                snprintf(a, sizeof a, "file:///srv/udfcron/%s/1/extract.geojson", id);
                snprintf(b, sizeof b, "file:///srv/udfcron/%s/1/parts/", id);
                char *outputs[] = { "extract", a, "partition", b, NULL };
                RunState run = { .run_id = id,
                                 .schedule = name,
                                 .engine = (char *) "local",
                                 .slot_usec = UINT64_C(1763831700000000),
                                 .attempt = 1,
                                 .phase = RUN_PHASE_RUNNING,
                                 .started_usec = UINT64_C(1763831700123456) };
                if (state_add_run(s, &run) < 0 ||
                    state_run_set_step(state_find_run(s, id), "report", outputs) < 0)
                        die("cannot add a run");
        }
        return s;
}

int main(void) {
        static const size_t sizes[] = { 1, 100, 1000, 10000 };
        static int64_t save_ns[REPEATS], format_ns[REPEATS];
        char path[4096];

        dir = testdir_new("bench-pipeline-state");
        atexit(remove_dir);
        snprintf(path, sizeof path, "%s/state.json", dir);
        printf("a pipeline step's start: its record, then the state saved (%d schedules, %d repetitions)\n",
               SCHEDULES, REPEATS);
        for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
                State *s = state_of(sizes[k]);
                RunState *rs = state_find_run(s, "0000000000000000");
                char *outputs[] = { "extract", (char *) "file:///srv/udfcron/x/1/extract.geojson", NULL };
                size_t bytes = 0;

                for (size_t i = 0; i < REPEATS; i++) {
                        int64_t t0 = mono_ns();
                        if (state_run_set_step(rs, i % 2 ? "report" : "partition", outputs) < 0 ||
                            state_save(s, path) < 0)
                                die("cannot save %s: %m", path);
                        save_ns[i] = mono_ns() - t0;
                        t0 = mono_ns();
                        char *text = state_format(s);
                        format_ns[i] = mono_ns() - t0;
                        if (!text)
                                die("cannot format the state: %m");
                        bytes = strlen(text);
                        free(text);
                }
                printf("%zu runs in flight, %zu KiB:\n", sizes[k], bytes / 1024);
                print_ms("save", save_ns, REPEATS);
                print_ms("format", format_ns, REPEATS);
                state_free(s);
        }
        return 0;
}
