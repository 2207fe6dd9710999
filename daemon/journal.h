/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The only module that writes log records. Every record carries MESSAGE,
 * PRIORITY and SYSLOG_IDENTIFIER=udfcrond; records about a run carry the
 * run's UDFCRON_* fields (see DESIGN.md "Journal records"), lifecycle events
 * a fixed MESSAGE_ID each. When no journald socket exists, the same records
 * go to stderr in a readable one-line form. Every registered secret value is
 * masked as "[redacted]" in everything written, fields included.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "macro.h"

typedef struct Journal Journal;

typedef enum RunEvent {
        RUN_EVENT_SCHEDULED,
        RUN_EVENT_STARTED,
        RUN_EVENT_LOG,
        RUN_EVENT_FINISHED,
        RUN_EVENT_FAILED,
        RUN_EVENT_TIMED_OUT,
        RUN_EVENT_CANCELLED,
        RUN_EVENT_SKIPPED,
        RUN_EVENT_RETRY,
        RUN_EVENT_LOST,
        RUN_EVENT_TASK_RETRY,   /* a fan-out task's attempt failed; it runs again */
        RUN_EVENT_TASK_FAILED,  /* a fan-out task failed for good */
        RUN_EVENT_STEP_STARTED, /* a pipeline's step started; then it finished, or failed */
        RUN_EVENT_STEP_FINISHED,
        RUN_EVENT_STEP_FAILED,
        _RUN_EVENT_MAX,
        _RUN_EVENT_INVALID = -22,
} RunEvent;

const char *run_event_to_string(RunEvent e); /* "scheduled", "started", ... as in UDFCRON_EVENT */
RunEvent run_event_from_string(const char *s, size_t size); /* _RUN_EVENT_INVALID when unknown */

/* Whether a run has ended with this event (not scheduled, started, log, retry, nor a part's event). */
bool run_event_is_end(RunEvent e);
/* Whether the event is about a part of a run, not the run as a whole: a pipeline's step (step_started,
 * step_finished, step_failed) or a fan-out task (task_retry, task_failed). */
bool run_event_is_part(RunEvent e);

/* The fields of one run; NULL/0 members are left out of the record. */
typedef struct RunFields {
        const char *schedule;
        const char *run_id;
        const char *engine;
        const char *job_id; /* remote id, when known */
        const char *step;   /* the pipeline step the record is about, when it is about one */
        unsigned attempt;   /* 1-based */
        uint64_t scheduled_usec;
        uint64_t duration_usec;
        uint64_t next_usec;
        bool has_exit_status;
        int exit_status;
        bool has_task; /* about one task of a fan-out run: */
        size_t task;   /* its argument set's index in arg_list, from 0 (UDFCRON_TASK) */
        /* what stopped the attempt (UDFCRON_STOPPED_BY): "timeout", or run_cancel()'s cause (manager.h) */
        const char *stopped_by;
} RunFields;

typedef enum JournalTarget {
        JOURNAL_AUTO, /* journald when /run/systemd/journal/socket exists, else stderr */
        JOURNAL_JOURNALD,
        JOURNAL_STDERR,
} JournalTarget;

int journal_new(JournalTarget target, Journal **ret_journal);
Journal *journal_free(Journal *j);

/* Whether records go to stderr (the foreground, developer's-terminal form). */
bool journal_is_stderr(const Journal *j);

/*
 * Registers a secret value (copied) to mask from now on; values shorter than
 * 4 bytes are ignored. Returns 1 when added, 0 when ignored or known, or -ENOMEM.
 */
int journal_add_secret(Journal *j, const char *value);

/*
 * How much of a line piece a caller must hold back so that a secret split
 * between two pieces of one line is seen whole once they are joined: the
 * longest registered secret's length minus one; 0 without secrets.
 */
size_t journal_secret_overlap(const Journal *j);

/* A malloc'd, NUL-terminated copy of data with every registered secret masked; NULL on OOM. */
char *journal_redact(const Journal *j, const char *data, size_t size, size_t *ret_size);

/* A daemon message without run fields. */
_printf_(3, 4) void journal_log(Journal *j, int priority, const char *format, ...);

/*
 * A plugin instance's message: MESSAGE is "INSTANCE: message", with the
 * fields PLUGIN=<plugin> and INSTANCE=<kind/name>.
 */
void journal_log_plugin(Journal *j, int priority, const char *plugin, const char *instance, const char *message);

/*
 * A lifecycle event of a run (never RUN_EVENT_LOG). MESSAGE becomes
 * "SCHEDULE[RUN_ID] #ATTEMPT EVENT: text", so the text need not repeat those.
 */
_printf_(4, 5) void journal_run_event(Journal *j, const RunFields *run, RunEvent event, const char *format,
                                      ...);

/*
 * One line of a run's output (without its newline; may contain any bytes,
 * which are kept: non-UTF-8 data is stored as a binary MESSAGE in journald
 * and escaped on stderr). Stderr lines get LOG_WARNING, stdout LOG_INFO.
 * remote_usec, when not 0, is the line's own timestamp (UDFCRON_REMOTE_USEC).
 */
void journal_run_output(Journal *j, const RunFields *run, bool is_stderr, const char *line, size_t size,
                        uint64_t remote_usec);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Journal *, journal_free);
