/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The scheduler at the heart of udfcrond: one Entry per schedule, kept in a
 * heap by next fire time with one CLOCK_REALTIME timer armed for the
 * earliest; Runs created when entries fire, throttled by the daemon-wide
 * concurrency limit, recorded in the state file before they are dispatched.
 *
 * manager.c owns entries, timers, catch-up, reload and shutdown; run.c owns
 * one run's attempts, retries and outcome. Both log through the Journal and
 * record through the State; nothing else does.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "journal.h"
#include "pipeline.h"
#include "plugin-host.h"
#include "prioq.h"
#include "state.h"

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
typedef struct Manager Manager;
typedef struct Entry Entry;
typedef struct Run Run;
typedef struct RunSecret RunSecret;
typedef struct RunCredentials RunCredentials;
typedef struct RunStore RunStore;
typedef struct RunWatch RunWatch;

#define RUN_ID_LEN 16

/* A schedule at runtime. */
struct Entry {
        Manager *manager;
        Schedule *schedule; /* borrowed from the config, or `owned` once retired */
        Schedule *owned;
        PrioqItem due; /* key: usec of the next fire (slot + jitter) */
        CronFire next; /* the next slot */
        bool has_next;
        uint64_t jitter_usec; /* stable offset in [0, policy.jitter) */
        unsigned n_active;    /* runs not yet ended */
        bool has_queued;      /* overlap = queue: a slot waits for the active run */
        uint64_t queued_slot_usec;
        Run *backlog_head, *backlog_tail; /* catch-up runs, to run one after another, oldest first */
        unsigned n_backlog;
        bool in_catch_up_queue;
        bool removed; /* gone from the config on reload; freed once n_active is 0 */
        Entry *retired_next;
        Entry *catch_up_next;
        /* The next on-time slot's run, recorded in the state ahead of the slot (see prepare_slot()): its
         * id, and the number of successful saves after which that record is on disk. */
        bool prepared;
        char prepared_id[RUN_ID_LEN + 1];
        uint64_t prepared_save;
};

/*
 * A stream whose last piece of output was part of a long line (see run.c's forward_output()): the tail
 * of that piece, held back until the line goes on, so that a secret split between two pieces is masked.
 */
typedef struct LineCarry LineCarry;
struct LineCarry {
        bool is_stderr;
        bool has_task; /* a fan-out task's stream */
        size_t task;
        char *data;
        size_t size;
        LineCarry *next;
};

typedef enum RunStatus {
        RUN_WAITING,    /* recorded; waits for a free concurrency slot */
        RUN_RUNNING,    /* an attempt is running on the engine */
        RUN_RETRY_WAIT, /* the attempt failed; the next one waits for its backoff */
        RUN_ENDED,
} RunStatus;

struct Run {
        Manager *manager;
        Entry *entry;
        char id[RUN_ID_LEN + 1];
        uint64_t slot_usec; /* the scheduled instant (now, for a manual run) */
        bool manual;
        unsigned attempt; /* 1-based */
        RunStatus status;
        const Engine *engine;
        /*
         * A running attempt is in one of three steps: its ${secret:...} and its credentials' environment
         * are looked up (secrets, credentials), its work runs on the engine (engine_run, or pipeline), or
         * its output is stored (store).
         */
        /* one per name the attempt needs, until the work starts (a pipeline's: until it ends) */
        RunSecret *secrets;
        size_t n_secrets;
        RunCredentials *credentials; /* one per instance the schedule names, until the work starts */
        size_t n_credentials;
        size_t n_lookups_pending; /* of both */
        EngineRun *engine_run;
        Pipeline *pipeline; /* a schedule of steps: in place of engine_run */
        const char *step;   /* the pipeline's step under way (or that failed), for the journal */
        RunStore *store;
        char *output_url; /* the schedule's output, expanded for this attempt */
        bool output_stored;
        sd_event_source *retry_timer;
        uint64_t attempt_started_usec; /* CLOCK_REALTIME; a re-attached attempt's is the recorded one */
        /* run_cancel()'s cause, its UDFCRON_STOPPED_BY, once it is cancelled (then never retried); and what
         * stopped it, for its end's message ("udfcronctl cancel by root, uid 0, pid 4242") */
        const char *stopped_by;
        char *stop_why;
        uint64_t durable_after_save; /* its record is on disk once Manager.saves reaches this */
        bool resumed;                /* recorded by a previous daemon (see resume_runs()) */
        char *job_id;                /* remote engines: the job of the current attempt, once accepted */
        uint64_t log_since_ms;       /* ... where its log tailing resumes */
        uint64_t tasks_finished, tasks_total; /* a batch job's or fan-out's progress, once reported */
        LineCarry *carries;                   /* streams (of each task) in the middle of a long line */
        Run *prev, *next;     /* Manager.runs */
        Run *wait_next;       /* Manager.waiting */
        char *params;         /* udfcronctl run --param: overrides of the schedule's parameters (JSON) */
        RunWatch *watches;    /* udfcronctl run --wait */
        bool holds_descriptors; /* counted in Manager.n_running_local while its attempt runs */
};

struct Manager {
        sd_event *event;
        Journal *journal;
        TzDb *tzdb;
        Config *config;
        char *config_path;
        PluginHost *plugins;
        State *state;
        char *state_path;
        char *markers_directory; /* runtime_directory/started: local runs' start markers */
        bool state_dirty;
        uint64_t saves; /* successful state saves so far */
        char **stale_markers; /* start markers to remove once the state no longer needs them */
        size_t n_stale_markers;

        Entry **entries; /* sorted by name, like config->schedules */
        size_t n_entries;
        Entry *retired; /* removed by a reload, still running */
        Prioq due;
        sd_event_source *fire_timer;
        sd_event_source *clock_watch;

        Entry *catch_up_head, *catch_up_tail; /* entries whose backlog has not started yet */
        sd_event_source *catch_up_timer;

        Run *runs; /* every live run */
        unsigned n_running;
        unsigned n_running_local; /* of them, those holding descriptors of their own (see may_start()) */
        unsigned n_waiting;
        Run *waiting_head, *waiting_tail; /* FIFO: runs waiting for a concurrency slot */
        Run *dispatch_head, *dispatch_tail;
        sd_event_source *dispatch_defer; /* saves the state once, then starts what is queued */
        sd_event_source *flush_defer;    /* saves the state once the loop has nothing more urgent */
        sd_event_source *save_defer;     /* saves it before pipelines' steps start (manager_save_soon()) */
        sd_event_source *flush_timer;    /* ... or once the pause after the last save is over */
        uint64_t next_save_usec;         /* CLOCK_MONOTONIC: saves that may wait, not before this */
        sd_event_source *status_timer;   /* sends a held-back STATUS */
        uint64_t status_sent_usec;       /* CLOCK_MONOTONIC */
        bool status_dirty;
        unsigned fd_run_limit; /* how many local runs the descriptor limit allows at once */
        sd_event_source *requeue_timer; /* retries starts that ran out of descriptors */
        sd_event_source *start_defer;   /* continues a long queue of starts after the loop breathes */
        bool starts_paused;             /* ... and until it fires, nothing else starts */

        uint64_t started_usec;
        bool stopping;
        sd_event_source *stop_timer;
};

int manager_new(sd_event *event, Journal *journal, const char *config_path, Manager **ret_manager);
Manager *manager_free(Manager *m);

/* Loads the config (errors are logged with file:line) and state, arms timers, catches up. */
int manager_start(Manager *m);
/*
 * SIGHUP and udfcronctl reload: validates the new config whole; keeps the old one when it is broken, and
 * then returns -EINVAL and, when ret_errors is not NULL, the "file:line: message" list (strv) there.
 * Tells systemd RELOADING=1 and READY=1 around it.
 */
int manager_reload(Manager *m, char ***ret_errors);
/* SIGTERM: stops firing, lets runs finish up to shutdown_timeout, then cancels them and exits. */
void manager_stop(Manager *m);

/* The wall clock moved (set by someone, or a test's clock offset): recompute every next fire. */
void manager_clock_changed(Manager *m);

/* "12 schedules, 2 running, next: nightly at 03:00": sent within a second, not once per change. */
void manager_update_status(Manager *m);

/*
 * The HTTP client every remote engine's runs share: the plugin host's, which the plugins use too,
 * with the `http` group's settings (a reload updates them).
 */
HttpClient *manager_http_client(Manager *m);

/* ---- used by the control socket ---- */

Entry *manager_find_entry(const Manager *m, const char *name);
Run *manager_find_run(const Manager *m, const char *run_id);
/*
 * Fires `e` now, outside its slots, through its overlap policy; `params` (a JSON object, may be NULL)
 * override the schedule's parameters for this run. Returns 0 when the run was dispatched, 1 when it waits
 * for the active run to end (overlap = queue), -EBUSY with a reason in *ret_refusal when the overlap policy
 * refuses it, -ESHUTDOWN while stopping.
 */
int manager_run_now(Manager *m, Entry *e, const char *params, Run **ret_run, const char **ret_refusal);
/* Skips e's next fire (returned in *ret_slot_usec); -ENOENT when it has none. Saved before it returns. */
int manager_skip_next(Manager *m, Entry *e, uint64_t *ret_slot_usec);
/* Pauses or resumes e's fires; 1 when that changed something, 0 when it was so already. Saved before it
 * returns; a failed save is returned, and the change holds until the daemon stops. */
int manager_set_paused(Manager *m, Entry *e, bool paused);

/* ---- used by run.c ---- */

/* Records the state change; the state is written before the next dispatch. */
void manager_state_changed(Manager *m);
/*
 * Writes the state from the loop, at priority SD_EVENT_PRIORITY_NORMAL + 1: once for every change of a loop
 * pass that must be on disk before what follows it at a lower priority (a pipeline's step start, see
 * pipeline.h). A failed write is logged, and what follows goes on anyway, as a dispatch does.
 */
void manager_save_soon(Manager *m);
/*
 * A start marker (taken over) that the state on disk may still need: it is
 * removed once a state without the attempt it marks has been written, so a
 * crash in between never makes a started attempt look unstarted.
 */
void manager_marker_obsolete(Manager *m, char *path);
/* Queues a run's next attempt: it starts once the state is saved and a concurrency slot is free. */
void manager_dispatch(Manager *m, Run *run);
/* An attempt is over (whatever comes next): its concurrency slot is free. */
void manager_attempt_done(Manager *m, Run *run);
/*
 * A start that failed for want of resources (descriptors, processes): the
 * run goes back to the head of the waiting queue and is tried again shortly.
 */
void manager_requeue(Manager *m, Run *run);
/* Takes a run that never started out of the waiting queue; false if it was not there. */
bool manager_unqueue(Manager *m, Run *run);
/* A run ended for good: frees it and starts what waits behind it. */
void manager_run_ended(Manager *m, Run *run);

/* ---- run.c ---- */

/*
 * A new run of `entry` for `slot_usec`, recorded in the state and logged as
 * scheduled; or, with `recorded`, the run a previous daemon left in flight
 * (same id and attempt, nothing recorded or logged again), or a run prepared
 * ahead of its slot (RUN_PHASE_PREPARED: logged as scheduled, not recorded again).
 */
int run_new(Manager *m, Entry *entry, uint64_t slot_usec, bool manual, const RunState *recorded,
            Run **ret_run);
/* A run requested now (udfcronctl run), with parameter overrides (JSON object text, may be NULL). */
int run_new_manual(Manager *m, Entry *entry, const char *params, Run **ret_run);
Run *run_free(Run *run);
/* Starts the current attempt on the engine (called by the manager when it may). */
void run_start_attempt(Run *run);
/*
 * Stops a run: cancels a running attempt, a pending retry or a waiting start. `by` (static) is the cause
 * as UDFCRON_STOPPED_BY has it: "udfcronctl", "replace", "reload" or "shutdown"; `why` (copied) says who
 * or what, and ends up in the message of the run's end.
 */
void run_cancel(Run *run, const char *by, const char *why);
/* A recorded attempt whose local child was started by the previous daemon: it is lost. */
void run_lost(Run *run);
/*
 * A recorded pipeline attempt that the previous daemon started: whether it goes on at the step its record
 * names rather than being lost. A Fused job step goes on (its job is followed again, or looked for); a UDF
 * or ingest step only if it had not started (its own start marker is missing): one that had died with the
 * daemon, and the attempt is lost.
 */
bool run_goes_on_at_step(const Run *run);
/* Shutdown: lets a remote job run on without the daemon; its record stays, for the next start to
 * re-attach. Frees the run. */
void run_detach(Run *run);
/* A resumed run that was waiting for a retry: its recorded attempt starts at `retry_usec` (realtime). */
int run_resume_retry(Run *run, uint64_t retry_usec);
void run_fields(const Run *run, RunFields *ret_fields);
/*
 * A fan-out run's attempt under way, for fanout_n_tasks(), fanout_counts() and fanout_task_info()
 * (fanout.h: each task's state, attempts and last error); NULL when the run does not fan out or no
 * attempt runs (it waits to start, or for a retry). Valid until the loop runs again.
 */
const EngineRun *run_fanout(const Run *run);
/* A fresh run id: 16 random hex digits. */
void run_id_new(char ret_id[static RUN_ID_LEN + 1]);
/* The start marker of the run's current attempt (see engine.h), malloc'd. */
char *run_marker_path(const Run *run);

/* What a watcher of a run hears: its lifecycle events, its output, a batch job's progress, and its end. */
typedef enum RunNewsKind {
        RUN_NEWS_EVENT,    /* STARTED or RETRY (`event`) */
        RUN_NEWS_OUTPUT,   /* a line of output, or a piece of a long one */
        RUN_NEWS_PROGRESS, /* a remote batch job's tasks, finished of total */
        RUN_NEWS_END,      /* the last news: the watch is over, and the watcher may free it */
} RunNewsKind;

typedef struct RunNews {
        RunNewsKind kind;
        RunEvent event; /* EVENT: STARTED, RETRY; END: FINISHED, FAILED, TIMED_OUT, CANCELLED, LOST */
        /* END: "succeeded", "failed", "timed_out", "cancelled", "lost"; NULL: the daemon stops before the run
         * started (it stays recorded, and starts after the next start) */
        const char *result;
        unsigned attempt;
        const char *message; /* as in the journal record, secrets masked */
        bool has_exit_status;
        int exit_status;
        uint64_t duration_usec;
        uint64_t next_usec; /* RETRY: when the next attempt starts */
        /* OUTPUT: a line, or a piece of a long one (partial: more of it follows), secrets masked */
        bool is_stderr, partial;
        bool has_task; /* OUTPUT: written by this task of a fan-out */
        size_t task;
        const char *data;
        size_t size;
        uint64_t tasks_finished, tasks_total; /* PROGRESS */
} RunNews;

/* A watcher: udfcronctl run --wait following a run over the control socket. */
struct RunWatch {
        void (*notify)(RunWatch *w, const Run *run, const RunNews *news);
        RunWatch *next;
};

/* Adds a watcher (borrowed until the end news, or run_unwatch()). */
void run_watch(Run *run, RunWatch *w);
void run_unwatch(Run *run, RunWatch *w);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
