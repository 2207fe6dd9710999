/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Engines run one attempt of a run: `local` (child processes), later `fused`
 * and `fusion`. An engine reports what happens through EngineEvents and never
 * writes the journal or the state file itself: the run decides what events
 * mean, records them, and logs them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule.h"

typedef struct sd_event sd_event;
typedef struct EngineRun EngineRun;

typedef enum OutcomeKind {
        OUTCOME_SUCCEEDED,
        OUTCOME_FAILED,    /* the work failed (non-zero exit, exception, 4xx) */
        OUTCOME_TIMED_OUT, /* stopped because the schedule's timeout passed */
        OUTCOME_CANCELLED, /* stopped on request (cancel, replace, shutdown) */
        OUTCOME_LOST,      /* the engine lost track of it (daemon restart with a local child) */
} OutcomeKind;

typedef struct EngineOutcome {
        OutcomeKind kind;
        bool permanent; /* retrying cannot help (bad parameters, a 4xx): no retry */
        bool has_exit_status;
        int exit_status;
        const char *message; /* why, for humans: "exited with status 3", "killed by SIGSEGV" */
        const char *result;  /* the UDF's JSON result (borrowed for the callback); NULL: none */
        size_t result_size;
} EngineOutcome;

typedef struct EngineEvents {
        /*
         * A line of the run's output, or a piece of a long one (`partial`: more of
         * the line follows, see child.h); remote_usec is the line's own timestamp,
         * 0 when local.
         */
        void (*output)(void *userdata, bool is_stderr, const char *line, size_t size, bool partial,
                       uint64_t remote_usec);
        /* The attempt ended; called once. The EngineRun may be freed from inside. */
        void (*ended)(void *userdata, const EngineOutcome *outcome);

        /* Remote engines only (each may be left NULL by local ones; the run provides all three). */
        /* The service accepted the attempt as job `job_id` (borrowed): the run records it, so that a
         * restarted daemon re-attaches to that job instead of starting another. At most once, before
         * `ended`. */
        void (*accepted)(void *userdata, const char *job_id);
        /* The remote log has been forwarded up to `since_ms`, the position the next read starts from:
         * recorded, so that a re-attached run goes on tailing from there. */
        void (*log_position)(void *userdata, uint64_t since_ms);
        /* A batch job's progress: `finished` of `total` tasks (udfcronctl status, run --wait). */
        void (*progress)(void *userdata, uint64_t finished, uint64_t total);
} EngineEvents;

/* What one attempt runs; everything is borrowed for the duration of start(). */
typedef struct EngineRequest {
        const Schedule *schedule;
        const char *run_id;
        unsigned attempt;
        uint64_t scheduled_usec;
        const char *params_json;       /* the expanded parameters, a JSON object */
        const char *const *argv;       /* commands: the expanded argv */
        const char *python;            /* interpreter for UDF files */
        const char *start_marker;      /* a path the work creates the moment it starts (local), or NULL */
        const char *working_directory; /* the schedule's, else a default */
        bool stdout_is_result;         /* a command whose stdout is its output: the result, not log lines */
        /* "NAME=value" from the schedule's credentials instances (NULL-terminated; may be NULL): local
         * runs get them before the schedule's own environment, which may override them */
        const char *const *credentials_environment;

        /* Remote engines, after a daemon restart (see run.c): */
        const char *attach_job_id;    /* the job the previous daemon started: follow it, never start one */
        uint64_t attach_log_since_ms; /* ... tailing its log from here (0: from the start) */
        bool may_have_started;        /* the previous daemon may have sent the start without learning the
                                       * job's id: look for the job (its name carries run_id) first */
} EngineRequest;

typedef struct Engine {
        const char *name;
        /* The work runs elsewhere: no start marker; it is re-attached by job id after a restart, and a
         * run is on disk before its start is sent, even a prepared one (see manager.c). */
        bool remote;
        int (*start)(sd_event *event, const EngineRequest *request, const EngineEvents *events,
                     void *userdata, EngineRun **ret_run);
        int (*cancel)(EngineRun *run);
        EngineRun *(*free)(EngineRun *run);
} Engine;

extern const Engine engine_local;

/* The engine called `name`, or NULL. */
const Engine *engine_find(const char *name);
