/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Run history: the lifecycle records of runs (journal-read.h) folded into one
 * summary per run. Records may come in any order; udfcronctl reads them
 * newest first and stops once enough runs are whole (their first record,
 * `scheduled` or `skipped`, seen): every run not yet whole then began earlier.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal-read.h"

typedef struct RunSummary {
        char run_id[RUN_RECORD_NAME_MAX + 1];
        char schedule[RUN_RECORD_NAME_MAX + 1];
        char engine[RUN_RECORD_NAME_MAX + 1];
        char *job_id;  /* NULL when none was recorded */
        char *message; /* the text of the newest lifecycle record (see run_record_text()) */
        size_t message_size;
        RunEvent latest; /* the event of the newest record */
        RunEvent end;    /* the event that ended the run; _RUN_EVENT_INVALID while none is recorded */
        unsigned attempts;
        uint64_t begin_usec;     /* the oldest record's time */
        uint64_t latest_usec;    /* the newest record's time */
        uint64_t end_usec;       /* the end record's time */
        uint64_t scheduled_usec; /* the slot */
        uint64_t duration_usec;  /* of the newest attempt that reported one */
        bool has_exit_status;
        int exit_status;
        bool whole; /* its first record was seen */
} RunSummary;

/* "succeeded", "failed", "timed_out", "cancelled", "skipped", "lost"; "retrying", "running", "waiting". */
const char *run_summary_outcome(const RunSummary *s);

typedef struct History History;

int history_new(History **ret_history);
History *history_free(History *h);

/* Folds in a lifecycle record with a run id (others, output lines included, are ignored). 0 or -ENOMEM. */
int history_add(History *h, const RunRecord *r);

/* How many runs are whole. */
size_t history_n_whole(const History *h);

/*
 * The newest `max` runs by their oldest record, oldest first (ties by run id), borrowed from h until
 * the next history_add(). Runs not whole count as older than every whole one. Returns 0 or -ENOMEM.
 */
int history_runs(History *h, size_t max, RunSummary *const **ret_runs, size_t *ret_n);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(History *, history_free);
