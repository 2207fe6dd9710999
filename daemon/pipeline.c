/* SPDX-License-Identifier: MIT */
#include "pipeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "clock.h"
#include "fused-steps.h"
#include "ingest.h"
#include "json-util.h"
#include "storage.h"
#include "strv.h"

/*
 * A step starts in two passes of `advance`: it is announced (step_starting: the run records it and arranges
 * a save of the state at SD_EVENT_PRIORITY_NORMAL + 1), then started at this lower priority, once that
 * save is done: the steps announced in one pass of the loop share one save.
 */
#define STEP_START_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 2)

/* A step's templates, expanded for this attempt. */
typedef struct StepPlan {
        char *output, *input;
        char *params_json; /* STEP_UDF */
        cJSON *job_config; /* STEP_FUSED_JOB: the JobConfig that runs it */
} StepPlan;

struct Pipeline {
        sd_event *event;
        const Schedule *schedule; /* borrowed: a schedule outlives its runs */
        char *run_id;
        unsigned attempt;
        uint64_t scheduled_usec;
        char *python, *working_directory;
        char *marker; /* the attempt's start marker: the steps' are named after it; NULL: none */
        char **credentials_environment; /* what the credentials instances gave the attempt, for UDF steps */
        const Engine *udf_engine;
        PluginHost *plugins;
        Journal *journal;
        HttpClient *http;
        const DaemonSettings *settings;
        ParamContext templates; /* the fused engine's token is expanded as a Fused job step starts */
        const PipelineEvents *events;
        void *userdata;

        StepPlan *plans;
        size_t current;             /* the step under way */
        bool announced;             /* ... announced, and started by the next pass of `advance` */
        uint64_t step_started_usec; /* CLOCK_REALTIME */
        const Engine *engine;       /* what runs the current UDF or Fused job step ... */
        EngineRun *engine_run;      /* ... and its work on it, */
        PluginCall *store;          /* ... or the storing of its result */
        IngestCall *ingest;         /* the current ingest step */
        char *result;               /* the last result of a step, the attempt's once it is the last step */
        size_t result_size;
        /* the first step, a Fused job step the previous daemon started (see PipelineRequest) */
        char *attach_job_id;
        uint64_t attach_log_since_ms;
        bool may_have_started;

        sd_event_source *advance;  /* starts the next step, or ends the attempt, from the loop */
        sd_event_source *deadline; /* the schedule's timeout */
        bool cancelled, timed_out;
        EngineOutcome end; /* what `advance` reports when the attempt is over */
        char *end_message;
        bool ending;
};

/* ------------------------------------------------------------------ expanding the templates */

typedef struct Expansion {
        const Pipeline *p;
        size_t step; /* the step being expanded: only those before it have outputs to name */
} Expansion;

static int resolve_output(void *userdata, const char *name, char **ret_value) {
        const Expansion *e = userdata;
        for (size_t k = 0; k < e->step; k++)
                if (strcmp(e->p->schedule->steps[k].name, name) == 0 && e->p->plans[k].output)
                        return (*ret_value = strdup(e->p->plans[k].output)) ? 0 : -ENOMEM;
        return -ENOENT;
}

/* The JobConfig of a Fused job step: named, and tagged, after the attempt and the step, so that the job
 * can be told apart (and found again) among the team's. */
static cJSON *job_config_new(const Pipeline *p, const PipelineStep *step, const cJSON *fields) {
        _cleanup_free_ char *job_name = NULL;
        _cleanup_(json_freep) cJSON *meta = cJSON_CreateObject();

        if (!meta ||
            asprintf(&job_name, "%s.%s.%u.%s", p->schedule->name, p->run_id, p->attempt, step->name) < 0 ||
            !cJSON_AddStringToObject(meta, "udfcron_schedule", p->schedule->name) ||
            !cJSON_AddStringToObject(meta, "udfcron_run_id", p->run_id) ||
            !cJSON_AddNumberToObject(meta, "udfcron_attempt", p->attempt) ||
            !cJSON_AddStringToObject(meta, "udfcron_step", step->name))
                return NULL;
        return fused_job_config_new(job_name, step->type, step->name, fields, meta);
}

static int expand_step(const Pipeline *p, const PipelineStep *step, const ParamContext *ctx, StepPlan *plan,
                       char **ret_error) {
        _cleanup_(json_freep) cJSON *params = NULL, *fields = NULL;
        int r = 0;

        if (step->output)
                r = params_expand_string(step->output, ctx, &plan->output, ret_error);
        if (r >= 0 && step->input)
                r = params_expand_string(step->input, ctx, &plan->input, ret_error);
        if (r >= 0 && step->params && (r = params_expand_json(step->params, ctx, &params, ret_error)) >= 0 &&
            !(plan->params_json = cJSON_PrintUnformatted(params)))
                r = -ENOMEM;
        if (r >= 0 && step->job_step &&
            (r = params_expand_json(step->job_step, ctx, &fields, ret_error)) >= 0 &&
            !(plan->job_config = job_config_new(p, step, fields)))
                r = -ENOMEM;
        return r;
}

/* Expands the steps from p->current on: those before it are done, and only their outputs count. */
static int expand_steps(Pipeline *p, const ParamContext *templates, char **ret_error) {
        const Schedule *s = p->schedule;
        Expansion e = { .p = p };
        ParamContext ctx = *templates;

        ctx.resolve_output = resolve_output;
        ctx.output_userdata = &e;
        for (e.step = p->current; e.step < s->n_steps; e.step++) {
                _cleanup_free_ char *error = NULL;
                int r = expand_step(p, &s->steps[e.step], &ctx, &p->plans[e.step], &error);
                if (r == -EINVAL && ret_error)
                        (void) asprintf(ret_error, "step '%s': %s", s->steps[e.step].name,
                                        error ?: "invalid");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The recorded URL of step `name` among NAME, URL pairs; NULL: none. */
static const char *recorded_output(char *const *outputs, const char *name) {
        for (char *const *o = outputs; o && o[0] && o[1]; o += 2)
                if (strcmp(o[0], name) == 0)
                        return o[1];
        return NULL;
}

int pipeline_resume_point(const Schedule *s, const char *step, char *const *outputs, size_t *ret_index) {
        for (size_t i = 0; step && i < s->n_steps; i++) {
                if (strcmp(s->steps[i].name, step) != 0)
                        continue;
                for (size_t k = 0; k < i; k++)
                        if (s->steps[k].output && !recorded_output(outputs, s->steps[k].name))
                                return -ENOENT;
                *ret_index = i;
                return 0;
        }
        return -ENOENT;
}

char *pipeline_step_marker(const char *attempt_marker, const PipelineStep *step) {
        char *path;
        return asprintf(&path, "%s.%s", attempt_marker, step->name) < 0 ? NULL : path;
}

bool pipeline_has_fused_jobs(const Schedule *s) {
        for (size_t i = 0; i < s->n_steps; i++)
                if (s->steps[i].kind == STEP_FUSED_JOB)
                        return true;
        return false;
}

int pipeline_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names,
                             size_t *n_names) {
        int r = 0;
        for (size_t i = 0; i < s->n_steps && r >= 0; i++) {
                const PipelineStep *step = &s->steps[i];
                if (step->params)
                        r = params_collect_secrets_json(step->params, names, n_names);
                if (r >= 0 && step->job_step)
                        r = params_collect_secrets_json(step->job_step, names, n_names);
                if (r >= 0 && step->input)
                        r = params_collect_secrets(step->input, names, n_names);
        }
        if (r >= 0 && pipeline_has_fused_jobs(s))
                r = engine_fused.collect_secrets(s, settings, names, n_names);
        return r; /* outputs hold none: config.c refuses them in URLs, which are logged */
}

/* ------------------------------------------------------------------ the end of a step */

/* Arms `advance`, which goes on from the loop: the next step, or the attempt's end. */
static void go_on(Pipeline *p) {
        (void) sd_event_source_set_enabled(p->advance, SD_EVENT_ONESHOT);
}

/* The attempt is over with `outcome` (about the current step: its message says which): reported from the
 * loop. */
static void finish(Pipeline *p, const EngineOutcome *outcome, bool about_step) {
        const PipelineStep *step = &p->schedule->steps[p->current];
        char *message = NULL;

        p->ending = true;
        p->end = *outcome;
        p->end.result = p->result;
        p->end.result_size = p->result_size;
        if (about_step)
                (void) asprintf(&message, "step %zu/%zu '%s': %s", p->current + 1, p->schedule->n_steps,
                                step->name, outcome->message ?: "failed");
        else
                message = strdup(outcome->message ?: "");
        free(p->end_message);
        p->end_message = message;
        p->end.message = message ?: "out of memory";
        go_on(p);
}

/* Step `p->current` ended: the next one follows, unless it failed or the attempt was stopped. A step that
 * succeeded left its result in p->result. */
static void step_ended(Pipeline *p, const EngineOutcome *outcome) {
        uint64_t now = now_usec();
        EngineOutcome o = *outcome;
        char message[256];

        if (o.kind != OUTCOME_SUCCEEDED && p->timed_out) {
                /* the engine was cancelled for it: "cancelled, stopped with SIGTERM" */
                const char *how = outcome->message ?: "";
                if (strncmp(how, "cancelled", 9) == 0)
                        how += 9;
                snprintf(message, sizeof message, "timed out%s", how);
                o.kind = OUTCOME_TIMED_OUT;
                o.message = message;
        } else if (o.kind != OUTCOME_SUCCEEDED && p->cancelled)
                o.kind = OUTCOME_CANCELLED;
        p->events->step_ended(p->userdata, p->current, &o,
                              now > p->step_started_usec ? now - p->step_started_usec : 0);

        if (o.kind != OUTCOME_SUCCEEDED) {
                finish(p, &o, true);
                return;
        }
        if (p->current + 1 == p->schedule->n_steps) {
                char done[64];
                snprintf(done, sizeof done, "%zu step%s", p->schedule->n_steps,
                         p->schedule->n_steps == 1 ? "" : "s");
                finish(p, &(EngineOutcome){ .kind = OUTCOME_SUCCEEDED, .message = done }, false);
                return;
        }
        p->current++;
        go_on(p);
}

/* A step that failed outside its work (its instance gone, its result not stored). */
_printf_(3, 4) static void step_failed(Pipeline *p, bool permanent, const char *format, ...) {
        char message[512];
        va_list ap;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        step_ended(p,
                   &(EngineOutcome){ .kind = OUTCOME_FAILED, .permanent = permanent, .message = message });
}

/* ------------------------------------------------------------------ UDF and Fused job steps: engines */

static void on_engine_output(void *userdata, bool is_stderr, const char *line, size_t size, bool partial,
                             uint64_t remote_usec) {
        Pipeline *p = userdata;
        p->events->engine.output(p->userdata, is_stderr, line, size, partial, remote_usec);
}

static void on_stored(void *userdata, int error) {
        Pipeline *p = userdata;
        char message[512];

        p->store = NULL;
        if (error < 0) {
                snprintf(message, sizeof message, "its result could not be stored at %s: %s",
                         p->plans[p->current].output, strerror(-error));
                step_ended(p, &(EngineOutcome){ .kind = OUTCOME_FAILED, .message = message });
                return;
        }
        snprintf(message, sizeof message, "%zu bytes stored at %s", p->result_size,
                 p->plans[p->current].output);
        step_ended(p, &(EngineOutcome){ .kind = OUTCOME_SUCCEEDED, .message = message });
}

/* Keeps a copy of a step's result (NULL: none), secrets masked: it is stored, shown and handed on. */
static int keep_result(Pipeline *p, const char *result, size_t size) {
        p->result = mfree(p->result);
        p->result_size = 0;
        if (result && !(p->result = journal_redact(p->journal, result, size, &p->result_size)))
                return -ENOMEM;
        return 0;
}

static void on_job_accepted(void *userdata, const char *job_id) {
        Pipeline *p = userdata;
        char line[256];
        int n = snprintf(line, sizeof line, "Fused job %s", job_id);
        p->events->engine.output(p->userdata, false, line, (size_t) MAX(n, 0), false, 0);
        if (p->events->engine.accepted)
                p->events->engine.accepted(p->userdata, job_id);
}

static void on_job_log_position(void *userdata, uint64_t since_ms) {
        Pipeline *p = userdata;
        if (p->events->engine.log_position)
                p->events->engine.log_position(p->userdata, since_ms);
}

static void on_engine_note(void *userdata, int priority, const char *message) {
        Pipeline *p = userdata;
        p->events->engine.output(p->userdata, priority <= LOG_WARNING, message, strlen(message), false, 0);
}

/* A UDF step's or a Fused job's end; a UDF's result is kept, and stored at the step's output. */
static void on_engine_ended(void *userdata, const EngineOutcome *outcome) {
        Pipeline *p = userdata;
        EngineRun *run = TAKE_PTR(p->engine_run); /* the outcome lives in it: freed at the end */
        bool udf = p->schedule->steps[p->current].kind == STEP_UDF;
        const char *url = udf ? p->plans[p->current].output : NULL; /* a Fused job writes its own */
        int r;

        if (outcome->kind != OUTCOME_SUCCEEDED)
                step_ended(p, outcome);
        else if ((r = keep_result(p, udf ? outcome->result : NULL, outcome->result_size)) < 0)
                step_failed(p, false, "out of memory");
        else if (!url || p->cancelled || p->timed_out)
                step_ended(p, outcome);
        else if ((r = storage_put(p->plugins, NULL, url, p->result ?: "", p->result_size, "application/json",
                                  on_stored, p, &p->store)) < 0)
                step_failed(p, false, "its result could not be stored at %s: %s", url, strerror(-r));
        p->engine->free(run);
}

/* Starts the current step's work on `engine`: as `view`, the schedule as if its work were the step's
 * (the engine borrows it only during start()), with `request` holding the step's own members. */
static void start_on_engine(Pipeline *p, const Engine *engine, Schedule *view, EngineRequest *request) {
        static const EngineEvents events = {
                .output = on_engine_output,
                .ended = on_engine_ended,
                .accepted = on_job_accepted,
                .log_position = on_job_log_position,
                .note = on_engine_note,
        };
        view->policy.timeout_usec = 0; /* the pipeline's deadline covers every step */
        request->schedule = view;
        request->run_id = p->run_id;
        request->attempt = p->attempt;
        request->scheduled_usec = p->scheduled_usec;
        request->templates = &p->templates;
        request->started_usec = now_usec();
        p->engine = engine;
        int r = engine->start(p->event, request, &events, p, &p->engine_run);
        if (r < 0)
                step_failed(p, false, "cannot start: %s", strerror(-r));
}

static void start_udf_step(Pipeline *p, const PipelineStep *step, const char *marker) {
        Schedule view = *p->schedule;
        view.work = WORK_UDF;
        view.udf_path = step->udf_path;
        view.entrypoint = step->entrypoint;
        EngineRequest request = {
                .params_json = p->plans[p->current].params_json,
                .python = p->python,
                .start_marker = marker,
                .working_directory = p->working_directory,
                .credentials_environment = (const char *const *) p->credentials_environment,
        };
        start_on_engine(p, p->udf_engine, &view, &request);
}

/* ------------------------------------------------------------------ ingest steps */

/* A start marker (see engine.h) made by the pipeline itself: the attempt's (its steps may run no child at
 * all), and an ingest step's, which runs in the daemon. */
static int make_marker(const char *path) {
        if (!path)
                return 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        (void) close(fd);
        return 0;
}

static void on_ingest_log(void *userdata, int priority, const char *line) {
        Pipeline *p = userdata;
        p->events->engine.output(p->userdata, priority <= LOG_WARNING, line, strlen(line), false, 0);
}

static void on_ingest_done(void *userdata, int error, const char *message, const char *result) {
        Pipeline *p = userdata;
        char text[512];

        p->ingest = NULL;
        if (error < 0) {
                snprintf(text, sizeof text, "%s", message ?: strerror(-error));
                step_ended(p, &(EngineOutcome){ .kind = error == -ECANCELED ? OUTCOME_CANCELLED
                                                                            : OUTCOME_FAILED,
                                                .message = text });
                return;
        }
        if (keep_result(p, result, result ? strlen(result) : 0) < 0) {
                step_failed(p, false, "out of memory");
                return;
        }
        step_ended(p, &(EngineOutcome){ .kind = OUTCOME_SUCCEEDED, .message = message ?: "done" });
}

static void start_ingest_step(Pipeline *p, const PipelineStep *step, const char *marker) {
        PluginInstance *i = plugin_host_instance(p->plugins, PLUGIN_INGEST, strchr(step->instance, '/') + 1);
        const StepPlan *plan = &p->plans[p->current];

        /* a reload may have replaced the instance: its options must still be laid out as the step's are */
        if (!i || plugin_instance_plugin(i)->descriptor != step->plugin->descriptor) {
                step_failed(p, false, "%s is %s since the schedule was loaded", step->instance,
                            i ? "another plugin" : "no longer configured");
                return;
        }
        const struct udfcron_run_info run = {
                .schedule = p->schedule->name,
                .run_id = p->run_id,
                .attempt = p->attempt,
                .scheduled_usec = p->scheduled_usec,
                .engine = p->udf_engine->name,
        };
        const IngestRequest request = {
                .run = &run,
                .type = step->type,
                .name = step->name,
                .input = plan->input,
                .output = plan->output,
                .options = step->options,
        };
        /* it runs in the daemon: from here on, a daemon that dies takes the step with it */
        int r = make_marker(marker);
        if (r < 0) {
                step_failed(p, false, "cannot create its start marker %s: %s", marker, strerror(-r));
                return;
        }
        r = ingest_start(p->plugins, i, &request, on_ingest_log, on_ingest_done, p, &p->ingest);
        if (r < 0) {
                if (marker) /* it did not start after all */
                        (void) unlink(marker);
                step_failed(p, r == -EINVAL, "%s refused it: %s", step->instance, strerror(-r));
        }
}

/* ------------------------------------------------------------------ Fused job steps */

/* A batch job of the fused engine, of the step's JobConfig, on the service and with the token of
 * engines.fused; its log lines are the step's, its outcome the step's (its result files are left alone). */
static void submit_fused_job(Pipeline *p, const cJSON *job_config) {
        Schedule view = *p->schedule;
        view.udf_path = NULL;
        view.fused = (FusedSchedule){ .mode = FUSED_MODE_BATCH };
        EngineRequest request = {
                .params_json = "{}",
                .job_config = job_config,
                .http = p->http,
                .settings = p->settings,
                .attach_job_id = p->attach_job_id,
                .attach_log_since_ms = p->attach_log_since_ms,
                .may_have_started = p->may_have_started,
        };
        start_on_engine(p, &engine_fused, &view, &request);
        /* the previous daemon's job was this step's: a later one starts its own */
        p->attach_job_id = mfree(p->attach_job_id);
        p->attach_log_since_ms = 0;
        p->may_have_started = false;
}

/* ------------------------------------------------------------------ the steps, one after another */

static void describe_step(const Pipeline *p, const PipelineStep *step, const StepPlan *plan, char *buf,
                          size_t size) {
        switch (step->kind) {
        case STEP_UDF:
                snprintf(buf, size, "UDF %s:%s", step->udf_path, step->entrypoint);
                break;
        case STEP_INGEST:
                snprintf(buf, size, "%s %s %s -> %s", step->instance, step->type,
                         plan->input ?: "(no input)", plan->output ?: "(no output)");
                break;
        case STEP_FUSED_JOB:
                snprintf(buf, size, "Fused batch job %s%s%s", step->type,
                         p->attach_job_id      ? ", re-attached to job "
                         : p->may_have_started ? ", looking for the job the previous daemon may have started"
                                               : "",
                         p->attach_job_id ?: "");
                break;
        }
}

/* The outputs of the steps before the current one, as NAME, URL pairs. */
static int done_outputs(const Pipeline *p, char ***ret) {
        _cleanup_(strv_freep) char **pairs = NULL;
        size_t n = 0;
        for (size_t k = 0; k < p->current; k++)
                if (p->plans[k].output && (strv_push(&pairs, &n, strdup(p->schedule->steps[k].name)) < 0 ||
                                           strv_push(&pairs, &n, strdup(p->plans[k].output)) < 0))
                        return -ENOMEM;
        *ret = TAKE_PTR(pairs);
        return 0;
}

/* The first pass of a step's start (see STEP_START_PRIORITY). */
static void announce_step(Pipeline *p) {
        _cleanup_(strv_freep) char **outputs = NULL;
        char what[512];

        describe_step(p, &p->schedule->steps[p->current], &p->plans[p->current], what, sizeof what);
        if (done_outputs(p, &outputs) < 0) {
                step_failed(p, false, "out of memory");
                return;
        }
        if (!p->events->step_starting(p->userdata, p->current, what, outputs))
                return; /* p is gone */
        p->announced = true;
        (void) sd_event_source_set_priority(p->advance, STEP_START_PRIORITY);
        go_on(p);
}

static void start_step(Pipeline *p) {
        const PipelineStep *step = &p->schedule->steps[p->current];
        const StepPlan *plan = &p->plans[p->current];
        _cleanup_free_ char *marker = NULL;

        p->announced = false;
        (void) sd_event_source_set_priority(p->advance, SD_EVENT_PRIORITY_NORMAL);
        p->step_started_usec = now_usec();
        if (step->kind != STEP_FUSED_JOB && p->marker && !(marker = pipeline_step_marker(p->marker, step))) {
                step_failed(p, false, "out of memory");
                return;
        }
        switch (step->kind) {
        case STEP_UDF:
                start_udf_step(p, step, marker);
                break;
        case STEP_INGEST:
                start_ingest_step(p, step, marker);
                break;
        case STEP_FUSED_JOB:
                submit_fused_job(p, plan->job_config);
                break;
        }
}

static int on_advance(sd_event_source *s, void *userdata) {
        Pipeline *p = userdata;
        (void) s;

        if (p->ending) {
                p->events->engine.ended(p->userdata, &p->end); /* may free p */
                return 0;
        }
        if (p->cancelled || p->timed_out) {
                const EngineOutcome stopped = { .kind = p->timed_out ? OUTCOME_TIMED_OUT : OUTCOME_CANCELLED,
                                                .message = p->timed_out ? "timed out" : "cancelled" };
                if (p->announced) /* it never started, but its start was logged: its end is too */
                        p->events->step_ended(p->userdata, p->current, &stopped, 0);
                finish(p, &stopped, true);
                return 0;
        }
        if (p->announced)
                start_step(p);
        else
                announce_step(p);
        return 0;
}

/* Stops what runs of the current step; its end comes back through step_ended(), or from `advance`. */
static void stop_step(Pipeline *p) {
        if (p->engine_run)
                (void) p->engine->cancel(p->engine_run);
        else if (p->ingest)
                ingest_cancel(p->ingest);
        else if (p->store) { /* nothing to wait for */
                p->store = plugin_call_abandon(p->store);
                step_ended(p, &(EngineOutcome){ .kind = OUTCOME_CANCELLED,
                                                .message = "stopped while its result was stored" });
        } else /* between steps: `advance` is armed, and ends the attempt */
                go_on(p);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Pipeline *p = userdata;
        (void) s, (void) usec;
        if (!p->cancelled && !p->ending) {
                p->timed_out = true;
                stop_step(p);
        }
        return 0;
}

void pipeline_cancel(Pipeline *p) {
        if (p->cancelled || p->timed_out || p->ending)
                return;
        p->cancelled = true;
        stop_step(p);
}

int pipeline_start(sd_event *event, const PipelineRequest *request, const PipelineEvents *events,
                   void *userdata, Pipeline **ret_pipeline, char **ret_error) {
        const EngineRequest *a = request->attempt;
        _cleanup_(pipeline_freep) Pipeline *p = calloc(1, sizeof *p);
        int r;

        if (!p)
                return -ENOMEM;
        *p = (Pipeline){
                .event = sd_event_ref(event),
                .schedule = a->schedule,
                .attempt = a->attempt,
                .scheduled_usec = a->scheduled_usec,
                .udf_engine = request->udf_engine,
                .plugins = request->plugins,
                .journal = request->journal,
                .http = request->http,
                .settings = request->settings,
                .templates = *request->templates,
                .events = events,
                .userdata = userdata,
                .current = MIN(request->first_step, a->schedule->n_steps - 1),
                .attach_log_since_ms = request->attach_log_since_ms,
                .may_have_started = request->may_have_started,
        };
        if (strv_copy(a->credentials_environment, &p->credentials_environment) < 0)
                return -ENOMEM;
        if (!(p->run_id = strdup(a->run_id)) || !(p->python = strdup(a->python)) ||
            !(p->working_directory = strdup(a->working_directory)) ||
            (a->start_marker && !(p->marker = strdup(a->start_marker))) ||
            (request->attach_job_id && !(p->attach_job_id = strdup(request->attach_job_id))) ||
            !(p->plans = calloc(a->schedule->n_steps, sizeof(StepPlan))))
                return -ENOMEM;
        for (size_t k = 0; k < p->current; k++) {
                const char *url = recorded_output(request->done_outputs, a->schedule->steps[k].name);
                if (url && !(p->plans[k].output = strdup(url)))
                        return -ENOMEM;
        }
        if ((r = expand_steps(p, &p->templates, ret_error)) < 0)
                return r;
        if ((r = sd_event_add_defer(event, &p->advance, on_advance, p)) < 0 ||
            (r = sd_event_source_set_enabled(p->advance, SD_EVENT_ONESHOT)) < 0)
                return r;
        /* from the attempt's start: a restarted daemon's pipeline goes on with the time it had left */
        uint64_t now = now_usec(), end = a->started_usec + a->schedule->policy.timeout_usec;
        if (a->schedule->policy.timeout_usec > 0 &&
            (r = sd_event_add_time_relative(event, &p->deadline, CLOCK_MONOTONIC, end > now ? end - now : 0,
                                            0, on_deadline, p)) < 0)
                return r;
        if ((r = make_marker(a->start_marker)) < 0)
                return r;
        *ret_pipeline = TAKE_PTR(p);
        return 0;
}

Pipeline *pipeline_free(Pipeline *p) {
        if (!p)
                return NULL;
        if (p->engine_run)
                p->engine->free(p->engine_run);
        plugin_call_abandon(p->store);
        ingest_abandon(p->ingest);
        sd_event_source_disable_unref(p->advance);
        sd_event_source_disable_unref(p->deadline);
        for (size_t i = 0; p->plans && i < p->schedule->n_steps; i++) {
                free(p->plans[i].output);
                free(p->plans[i].input);
                free(p->plans[i].params_json);
                cJSON_Delete(p->plans[i].job_config);
        }
        free(p->plans);
        free(p->result);
        free(p->end_message);
        free(p->run_id);
        free(p->python);
        free(p->working_directory);
        free(p->marker);
        free(p->attach_job_id);
        strv_free(p->credentials_environment);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}
