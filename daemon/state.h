/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The durable record (/var/lib/udfcron/state.json): per schedule the last
 * slot fired and its result, and every run in flight. The daemon writes it
 * before it dispatches, so a crash never fires a slot twice and never loses
 * one. The only module that writes the state directory.
 *
 * Writes are atomic: a temporary file in the same directory, fsync, rename,
 * fsync of the directory; mode 0600. A file that cannot be parsed is moved
 * aside (state.json.corrupt-<UTC timestamp>) and reported, never silently
 * overwritten.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ScheduleState {
        char *name;
        uint64_t last_slot_usec; /* the latest slot fired (dispatched); 0: never */
        char *last_result;       /* "succeeded", "failed", ... of the latest finished run; NULL: none */
        char *last_run_id;
        char *last_failed_step; /* the pipeline step at which the latest run failed; NULL: none */
        uint64_t last_end_usec;
        bool paused;             /* udfcronctl pause */
        uint64_t skip_slot_usec; /* udfcronctl skip: this slot is not fired; 0: none */
} ScheduleState;

typedef enum RunPhase {
        RUN_PHASE_DISPATCHING, /* recorded, the engine may or may not have started it */
        RUN_PHASE_RUNNING,     /* the engine started it (local pid, remote job id known) */
        RUN_PHASE_PREPARED,    /* recorded ahead of its slot, not dispatched yet (see manager.c) */
        _RUN_PHASE_MAX,
        _RUN_PHASE_INVALID = -22,
} RunPhase;

typedef struct RunState {
        char *run_id;
        char *schedule;
        char *engine;
        uint64_t slot_usec; /* the slot it runs for; 0 for a manual run */
        unsigned attempt;   /* 1-based */
        RunPhase phase;
        uint64_t started_usec; /* 0 while dispatching */
        char *job_id;          /* remote engines: the job/run id; NULL: none yet */
        uint64_t log_since_ms; /* remote engines: log position to resume tailing from */
        uint64_t retry_usec;   /* waiting for a retry: when its next attempt starts; 0: not waiting */
        uint64_t seq;          /* dispatch order (not in the file, where it is the order of the records) */
        char *params;          /* udfcronctl run --param: the overrides, a JSON object; NULL: none */
        /* A pipeline's (see run.c): the step under way, or the one a retry starts at; NULL: none recorded,
         * the pipeline starts from its first step. A Fused job step's job is job_id, at log_since_ms. */
        char *step;
        char **step_outputs; /* ... the output URLs of the steps before it: NAME, URL pairs; NULL: none */
} RunState;

typedef struct State {
        ScheduleState *schedules; /* sorted by name */
        size_t n_schedules;
        RunState *runs; /* in flight; in no particular order (the file has them in dispatch order) */
        size_t n_runs;
        uint64_t next_seq;
        size_t *run_index; /* open addressing by run_id: position in `runs` + 1, 0 for a free slot */
        size_t run_index_size; /* a power of two, at least twice n_runs */
} State;

State *state_new(void);
State *state_free(State *s);

/*
 * Reads `path`. A missing file gives an empty State. A corrupt one is
 * renamed aside; then an empty State is returned and *ret_warning (may be
 * NULL) says what happened and where the file went. -errno on I/O errors.
 */
int state_load(const char *path, State **ret_state, char **ret_warning);

/*
 * Writes atomically (see above). On failure the old file stays untouched. Fails like state_format()
 * when `s` holds something state_load() would refuse, so a saved state always loads.
 */
int state_save(const State *s, const char *path);

/*
 * Parses/serialises the JSON form; exposed for the fuzzer and tests. On -EINVAL, *ret_error (may be
 * NULL) names the item and the problem: "runs[3].attempt: expected a positive integer".
 * state_format() returns NULL with errno ENOMEM, or EINVAL/ERANGE/E2BIG if `s` holds what
 * state_parse() refuses (an empty name, attempt 0, a time above 2^53-1, ...).
 */
int state_parse(const char *json, size_t size, State **ret_state, char **ret_error);
char *state_format(const State *s);

/* Lookups and updates. Pointers returned stay valid until the next call that adds or removes. */
ScheduleState *state_find_schedule(State *s, const char *name);
int state_ensure_schedule(State *s, const char *name, ScheduleState **ret); /* finds (0) or adds (1) */
int state_remove_schedule(State *s, const char *name);                      /* -ENOENT if absent */
RunState *state_find_run(State *s, const char *run_id);
/* Adds a copy of `run` (deep copy of its strings). -EEXIST if its run_id is there; -EINVAL/-ERANGE. */
int state_add_run(State *s, const RunState *run);
int state_remove_run(State *s, const char *run_id);
/*
 * Records `step` (NULL: none) as a run's pipeline step, and `outputs` (NAME, URL pairs, NULL-terminated;
 * may be NULL) as the outputs of the steps before it; copies both. -EINVAL or -E2BIG (and nothing
 * changed) for what state_parse() would refuse: more than 256 outputs, or more than 64 KiB of them.
 */
int state_run_set_step(RunState *r, const char *step, char *const *outputs);

/*
 * Stores a run's result as <state_directory>/results/<schedule>/<run_id>.<extension>
 * ("json", "parquet", ...; atomically, mode 0600), creating the directories as needed.
 * -EINVAL for names that would leave that directory.
 */
int state_save_result(const char *state_directory, const char *schedule, const char *run_id,
                      const char *extension, const void *data, size_t size);
/* The same for one of a run's several named results (a batch job's files): .../<run_id>/<name>. */
int state_save_result_file(const char *state_directory, const char *schedule, const char *run_id,
                           const char *name, const void *data, size_t size);

const char *run_phase_to_string(RunPhase p);
RunPhase run_phase_from_string(const char *s);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(State *, state_free);
