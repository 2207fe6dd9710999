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
         * pipeline may be freed from inside). The remote engines' members stay NULL. */
        EngineEvents engine;
        /* Step `index` (0-based) starts; `what` says what it runs ("UDF /srv/x.py:udf"). */
        void (*step_started)(void *userdata, size_t index, const char *what);
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

/* Whether a step of the schedule is a Fused job: the pipeline needs the HTTP client. */
bool pipeline_has_fused_jobs(const Schedule *s);

/* Adds the names of the secrets the steps' templates reference to *names (as params_collect_secrets()),
 * and those of the fused engine's token when a step is a Fused job. */
int pipeline_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names,
                             size_t *n_names);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Pipeline *, pipeline_free);
