/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The reading side of journal.c: one journal entry about a run, its
 * UDFCRON_* fields parsed back. Anyone who can log can write such fields, so
 * every value is checked; a field that does not parse counts as absent, and
 * nothing in an entry can make reading fail but running out of memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

typedef struct sd_journal sd_journal;

#define RUN_RECORD_NAME_MAX 64  /* schedule names and run ids */
#define RUN_RECORD_ID_MAX   128 /* remote job ids */

typedef struct RunRecord {
        uint64_t realtime_usec; /* when journald received it */
        RunEvent event;         /* UDFCRON_EVENT; _RUN_EVENT_INVALID when absent or unknown */
        int priority;           /* PRIORITY; -1 when absent */
        char schedule[RUN_RECORD_NAME_MAX + 1]; /* "" when absent; these four are printable ASCII */
        char run_id[RUN_RECORD_NAME_MAX + 1];
        char engine[RUN_RECORD_NAME_MAX + 1];
        char job_id[RUN_RECORD_ID_MAX + 1];
        unsigned attempt; /* 0 when absent */
        uint64_t scheduled_usec, duration_usec, next_usec;
        bool has_exit_status;
        int exit_status;
        bool is_stderr; /* UDFCRON_STREAM=stderr */
        bool has_task;  /* UDFCRON_TASK: the fan-out task it is about */
        size_t task;
        char *message;  /* MESSAGE, NUL-terminated (it may hold NULs: see message_size); NULL when absent */
        size_t message_size;
} RunRecord;

/* Empties r for the next entry (keeping its message buffer's memory is not worth the aliasing). */
void run_record_reset(RunRecord *r);
void run_record_done(RunRecord *r);

/* Takes one "FIELD=value" of an entry. Returns 0, or -ENOMEM. */
int run_record_add_field(RunRecord *r, const void *data, size_t size);

/* Reads the entry at j's read pointer into r (reset first). Returns 0 or a negative errno. */
int run_record_read(sd_journal *j, RunRecord *r);

/* A lifecycle MESSAGE without its "SCHEDULE[RUN_ID] #N EVENT: " prefix, or the whole MESSAGE. */
const char *run_record_text(const RunRecord *r, size_t *ret_size);

/* Adds the match FIELD=value to j; -EINVAL when it is longer than 255 bytes. */
int journal_add_field_match(sd_journal *j, const char *field, const char *value);
