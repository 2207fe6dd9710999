/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Engines run one attempt of a run: `local` (child processes), `fused` (the
 * Fused service's UDF runs and batch jobs) and `fusion` (Lucidworks Fusion
 * Spark jobs). An engine reports what happens through EngineEvents and never
 * writes the journal or the state file itself: the run decides what events
 * mean, records them, and logs them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "params.h"
#include "schedule.h"

typedef struct sd_event sd_event;
typedef struct cJSON cJSON;
typedef struct EngineRun EngineRun;
typedef struct HttpClient HttpClient;

typedef enum OutcomeKind {
        OUTCOME_SUCCEEDED,
        OUTCOME_FAILED,    /* the work failed (non-zero exit, exception, 4xx) */
        OUTCOME_TIMED_OUT, /* stopped because the schedule's timeout passed */
        OUTCOME_CANCELLED, /* stopped on request (cancel, replace, shutdown) */
        OUTCOME_LOST,      /* the engine lost track of it (daemon restart with a local child) */
} OutcomeKind;

/* One of several named results (a batch job's files). */
typedef struct EngineResultFile {
        const char *name; /* one safe path component: "0.parquet" */
        const char *data;
        size_t size;
        const char *type; /* media type; NULL: unknown */
} EngineResultFile;

typedef struct EngineOutcome {
        OutcomeKind kind;
        bool permanent; /* retrying cannot help (bad parameters, a 4xx): no retry */
        bool has_exit_status;
        int exit_status;
        const char *message; /* why, for humans: "exited with status 3", "killed by SIGSEGV" */
        const char *result;  /* the UDF's result (borrowed for the callback); NULL: none */
        size_t result_size;
        const char *result_type; /* its media type; NULL: application/json */
        const EngineResultFile *files; /* borrowed likewise: results stored one file each */
        size_t n_files;
} EngineOutcome;

/* A fan-out task's failed attempt (see fanout.h). */
typedef struct TaskFailure {
        size_t task;                    /* its argument set's index in arg_list, from 0 */
        unsigned attempt, attempts_max; /* the task's own attempts, 1-based */
        uint64_t duration_usec;
        bool retrying; /* it runs again after retry_delay_usec; else it failed for good */
        uint64_t retry_delay_usec;
        const EngineOutcome *outcome;
} TaskFailure;

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
         * recorded, so that a re-attached run goes on tailing from there. What the position counts is
         * the engine's own business: milliseconds for fused, lines for fusion. */
        void (*log_position)(void *userdata, uint64_t since_ms);
        /* A batch job's progress: `finished` of `total` tasks (udfcronctl status, run --wait). */
        void (*progress)(void *userdata, uint64_t finished, uint64_t total);
        /* Something about the attempt that is not its output: an unexpected reply (LOG_DEBUG), a start
         * retried, a result not kept (LOG_WARNING). Logged with the run's fields. */
        void (*note)(void *userdata, int priority, const char *message);

        /* The fan-out engine only (it reports `progress` too; see fanout.h). */
        /* A line of task `task`'s output, as `output` (each task's long lines are pieced on their own). */
        void (*task_output)(void *userdata, size_t task, bool is_stderr, const char *line, size_t size,
                            bool partial, uint64_t remote_usec);
        /* A task's attempt failed: it is retried, or failed for good. The run's own end comes later. */
        void (*task_failed)(void *userdata, const TaskFailure *failure);
        /* The daemon's settings as they are now: EngineRequest.settings holds only during start(), and a
         * reload replaces them, yet the fan-out starts tasks until its end. */
        const DaemonSettings *(*current_settings)(void *userdata);
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
        const cJSON *arg_list;         /* the fan-out engine: the argument sets, ${...} expanded */
        /* A fan-out's task (fanout.h): its index in arg_list and its own attempt (1-based), so that an
         * engine naming its work after the run (a Fused-Run-Id) tells tasks and their retries apart. */
        bool is_task;
        size_t task;
        unsigned task_attempt;
        /* Expands the engine's own templates (a token's ${secret:NAME}, a job's inputs) for this attempt,
         * masking the secrets it resolves in the journal from then on. */
        const ParamContext *templates;
        uint64_t started_usec; /* CLOCK_REALTIME: when the attempt started (earlier when re-attaching):
                                * its timeout counts from here */

        /* fused: a batch job of this JobConfig ({"name", "steps", "metadata"}) rather than of the
         * schedule's UDF: a pipeline's Fused job step (pipeline.c). Its name is the job's. */
        const cJSON *job_config;

        /* Remote engines: */
        HttpClient *http;                /* the manager's client, shared by every run; outlives the run */
        const DaemonSettings *settings;  /* the daemon's (engines.NAME): copy what is needed */
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
        /* Its work takes no parameters (a Fusion Spark job run starts with no body): udfcronctl run --param
         * is refused for its schedules rather than dropped. */
        bool no_params;
        int (*start)(sd_event *event, const EngineRequest *request, const EngineEvents *events,
                     void *userdata, EngineRun **ret_run);
        int (*cancel)(EngineRun *run);
        EngineRun *(*free)(EngineRun *run);
        /* Adds the names of the secrets the engine's own templates reference (a token's ${secret:NAME})
         * to *names (see params_collect_secrets()): they are looked up with the parameters' before the
         * attempt starts, for EngineRequest.templates to resolve. NULL: none. */
        int (*collect_secrets)(const Schedule *s, const DaemonSettings *settings, char ***names, size_t *n);
} Engine;

extern const Engine engine_local;
extern const Engine engine_fanout; /* runs another engine once per argument set (fanout.h) */
extern const Engine engine_fused;
extern const Engine engine_fusion;

/* Every engine, NULL-terminated: what a schedule's `engine` may name. */
extern const Engine *const engine_table[];

/* The engine called `name`, or NULL. */
const Engine *engine_find(const char *name);
/* What runs the schedule's attempts: its engine, or the fan-out over it when it has an arg_list. */
const Engine *engine_for_schedule(const Schedule *s);
