/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One attempt of a schedule whose work is `steps`: the steps run one after
 * another, each once the previous one succeeded.
 *
 *  - a UDF step runs on the schedule's engine as the schedule's own `udf`
 *    would (its environment, user, working directory), and its result is
 *    stored at the step's output URL before the next step starts;
 *  - an ingest step is a call into its ingest plugin instance (ingest.h),
 *    which works on the loop without blocking it;
 *  - a Fused job step (partition_geospatial, partition_nongeospatial) is a
 *    batch job of the fused engine (engines.fused: its service and token),
 *    whose JobConfig holds that one step (fused-steps.h).
 *
 * Every template of every step is expanded when the attempt starts (its
 * secrets were looked up before, as for any run): ${output:NAME} is the
 * expanded output URL of the earlier step NAME. The fused engine expands its
 * token when a Fused job step starts: the templates' context (and the secrets
 * it resolves) must last as long as the pipeline. The first step that does not
 * succeed ends the attempt with its outcome, saying which step it was; the
 * last step's result is the attempt's. The schedule's timeout spans the whole
 * attempt. Like an engine, the pipeline reports and never logs: the run
 * writes the journal (a step_started and a step_finished or step_failed
 * record per step, all of the step's records with UDFCRON_STEP).
 *
 * An attempt may start at a later step (a retry goes on from the step that
 * failed, a restarted daemon from the step under way): the steps before it
 * are done, and only their outputs are needed, as recorded. A UDF or ingest
 * step creates a start marker of its own (pipeline_step_marker()) the moment
 * it starts, so that a restarted daemon tells a step that never started from
 * one that died with the daemon; a Fused job step is found again by its job.
 */

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "journal.h"
#include "params.h"
#include "plugin-host.h"

typedef struct Pipeline Pipeline;

typedef struct PipelineEvents {
        /* `output`: a line of the current step; `ended`: the attempt's end (called once, from the loop; the
         * pipeline may be freed from inside); `accepted` and `log_position`: a Fused job step's job, as the
         * fused engine reports them (engine.h). The other remote members stay NULL. */
        EngineEvents engine;
        /* Step `index` (0-based) is about to start; `what` says what it runs ("UDF /srv/x.py:udf"),
         * `outputs` are the output URLs of the steps before it (NAME, URL pairs, NULL-terminated, borrowed).
         * When this returns true, the step starts from the loop after the sources of priority
         * SD_EVENT_PRIORITY_NORMAL + 1 pending then (a save of what this recorded). False lets go of the
         * attempt before it (the daemon stops): the pipeline was freed from inside, and nothing more is
         * reported. */
        bool (*step_starting)(void *userdata, size_t index, const char *what, char *const *outputs);
        /* Step `index` ended, as `outcome` says (its result borrowed for the call). */
        void (*step_ended)(void *userdata, size_t index, const EngineOutcome *outcome,
                           uint64_t duration_usec);
} PipelineEvents;

typedef struct PipelineRequest {
        const EngineRequest
                *attempt;         /* as an engine would get it: the schedule, run id, python, marker... */
        const Engine *udf_engine; /* what the UDF steps run on */
        PluginHost *plugins;      /* storage for the UDF steps' outputs, and the ingest instances */
        Journal *journal;         /* masks secrets in what is stored */
        HttpClient *http;         /* the Fused job steps' (the manager's, outliving the pipeline) */
        const DaemonSettings *settings; /* ... and their service (outliving the pipeline) */
        /* Expands the steps' templates (resolve_output is the pipeline's): copied, and used for as long as
         * the pipeline lives (see above). */
        const ParamContext *templates;
        /* Where the attempt starts (see pipeline_resume_point()): the steps before it are done, their
         * outputs (NAME, URL pairs) as recorded; 0 and NULL: from the first step. */
        size_t first_step;
        char *const *done_outputs;
        /* That step, a Fused job step, was started by the previous daemon: its job is followed, as
         * EngineRequest's members of the same names say. */
        const char *attach_job_id;
        uint64_t attach_log_since_ms;
        bool may_have_started;
} PipelineRequest;

/*
 * Expands the steps of request->attempt->schedule and starts the first one
 * from the loop. Everything in `request` is borrowed for the call, but the
 * schedule, which must outlive the pipeline. Returns 0 and *ret_pipeline;
 * -EINVAL with a malloc'd *ret_error when a template cannot be expanded (a
 * secret that is missing, a time format too long: retrying cannot help);
 * another negative errno (the start marker could not be made, no memory).
 */
int pipeline_start(sd_event *event, const PipelineRequest *request, const PipelineEvents *events,
                   void *userdata, Pipeline **ret_pipeline, char **ret_error);

/* Stops the current step; `ended` follows with OUTCOME_CANCELLED. */
void pipeline_cancel(Pipeline *p);

/* Frees a pipeline, killing or cancelling what still runs without reporting. Accepts NULL; returns NULL. */
Pipeline *pipeline_free(Pipeline *p);

/*
 * Where an attempt recorded at step `step` (NULL: none), with the outputs of the steps before it (NAME,
 * URL pairs), goes on: 0 and that step's index; -ENOENT when it starts over from the first step: nothing
 * recorded, or the schedule's steps changed since (no step of that name, or an earlier step's output
 * unknown).
 */
int pipeline_resume_point(const Schedule *s, const char *step, char *const *outputs, size_t *ret_index);

/* The start marker of a UDF or ingest step: the attempt's, suffixed with the step's name (malloc'd; NULL on
 * OOM). */
char *pipeline_step_marker(const char *attempt_marker, const PipelineStep *step);

/* Whether a step of the schedule is a Fused job: the pipeline needs the HTTP client. */
bool pipeline_has_fused_jobs(const Schedule *s);

/* Adds the names of the secrets the steps' templates reference to *names (as params_collect_secrets()),
 * and those of the fused engine's token when a step is a Fused job. */
int pipeline_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names,
                             size_t *n_names);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Pipeline *, pipeline_free);
