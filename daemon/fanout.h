/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Fan-out, like fused.submit: an engine (engine_fanout, engine.h) that runs
 * one attempt of a run as one task per argument set of the schedule's
 * arg_list, each on the schedule's own engine (`local`, or a remote one),
 * with the set's members over the run's parameters (arglist.h):
 *
 *   - at most `max_workers` tasks run at once, started in argument order;
 *   - a failed task runs again, up to `max_retry` more times, after the
 *     schedule's retry backoff (a task waiting for it holds no worker);
 *   - the schedule's `timeout` bounds the whole attempt; cancel and timeout
 *     stop every task;
 *   - results are joined in argument order into the attempt's one result (a
 *     JSON array or NDJSON); a failed task fails the attempt unless
 *     `ignore_exceptions`, and then its result is null.
 *
 * Task output reaches the run through EngineEvents.task_output, failures
 * through task_failed, the count of finished tasks through progress. The
 * work's start marker is created before the first task starts, whatever the
 * inner engine: a restarted daemon takes a fan-out run as lost, not resumed.
 */

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "schedule.h"

typedef enum TaskState {
        TASK_PENDING, /* not started yet, or waiting for its next attempt */
        TASK_RUNNING,
        TASK_SUCCEEDED,
        TASK_FAILED, /* for good: its attempts are used up, or retrying cannot help */
        _TASK_STATE_MAX,
        _TASK_STATE_INVALID = -22,
} TaskState;

const char *task_state_to_string(TaskState s); /* "pending", "running", "succeeded", "failed" */

/* One task, as `udfcronctl status` shows it. */
typedef struct TaskInfo {
        TaskState state;
        unsigned attempts; /* started so far */
        const char *error; /* why its last attempt failed (borrowed until the fan-out changes), or NULL */
} TaskInfo;

/*
 * A snapshot of a running fan-out attempt (`run` must come from engine_fanout,
 * see run_fanout() in manager.h): its number of tasks, and how many are in
 * each state.
 */
size_t fanout_n_tasks(const EngineRun *run);
void fanout_counts(const EngineRun *run, size_t ret_counts[static _TASK_STATE_MAX]);
/* Task `task` (0-based); -ERANGE past the end. */
int fanout_task_info(const EngineRun *run, size_t task, TaskInfo *ret_info);

/* ---- pure, for the engine and its tests ---- */

#define FANOUT_RESULTS_MAX (256 * 1024 * 1024) /* bytes of the tasks' results together */

typedef struct TaskResult {
        const char *data; /* a JSON value; NULL (or only blanks): null */
        size_t size;
} TaskResult;

/*
 * Joins n results in order: `[r0,r1,...]`, or `r0\nr1\n...` for NDJSON,
 * where each result's line breaks (JSON whitespace, never inside a string)
 * become spaces so that each stays on its line. Returns 0 and a malloc'd,
 * NUL-terminated *ret_data of *ret_size bytes, or -ENOMEM.
 */
int fanout_collect(CollectFormat format, const TaskResult *results, size_t n, char **ret_data,
                   size_t *ret_size);
