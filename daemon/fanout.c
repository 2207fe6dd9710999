/* SPDX-License-Identifier: MIT */
/* The fan-out engine (see fanout.h): tasks on the schedule's engine, a few at a time, joined at the end. */
#include "fanout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "arglist.h"
#include "clock.h"
#include "json-util.h"
#include "strv.h"

/* After a start failed for want of descriptors or processes, the next waits this long. */
#define START_PAUSE_USEC (USEC_PER_SEC / 2)

typedef struct Task Task;

struct Task {
        EngineRun *fanout;
        size_t index;
        const cJSON *set; /* its argument set, in fanout->arg_list */
        TaskState state;
        unsigned attempts;
        EngineRun *attempt;    /* on the inner engine, while TASK_RUNNING */
        uint64_t started_usec; /* CLOCK_MONOTONIC, of the attempt */
        sd_event_source *retry_timer;
        char *result; /* TASK_SUCCEEDED: what it returned */
        size_t result_size;
        char *error; /* why its last attempt failed */
        Task *ready_next;
};

struct EngineRun {
        sd_event *event;
        const Engine *inner;
        const EngineEvents *events;
        void *userdata;
        /* A reference: a reload may replace the run's definition, yet every task of this attempt runs
         * the one it started with. */
        Schedule *schedule;
        char *run_id, *python, *working_directory;
        char **credentials_environment; /* local tasks get it as the run would */
        unsigned attempt;
        uint64_t scheduled_usec, started_usec;
        HttpClient *http;
        const DaemonSettings *settings; /* only while fanout_start() runs; then events->current_settings() */
        /* The engine's own templates (a remote token's ${secret:NAME}): the request's context, with the
         * secrets the inner engine names looked up at the start (the run forgets them then). */
        ParamContext templates;
        bool has_templates;
        char **secret_names, **secret_values;
        size_t n_secrets;
        cJSON *params;            /* the run's parameters, expanded */
        const cJSON *arg_list;    /* the schedule's (kept alive by the reference), or ... */
        cJSON *arg_list_expanded; /* ... the request's own, copied */

        Task *tasks;
        size_t n_tasks;
        size_t counts[_TASK_STATE_MAX];
        size_t next_fresh;             /* tasks[next_fresh..] never started */
        Task *ready_head, *ready_tail; /* their retry delay is over: these go first */
        unsigned n_running;
        size_t results_size;

        bool starting;       /* inside fanout_start() */
        bool stopping;       /* cancelled or timed out: nothing starts any more */
        OutcomeKind stopped; /* ... which of the two */
        sd_event_source *timeout_timer;
        sd_event_source *pause_timer;
        sd_event_source *end_defer; /* reports the end from the loop, never from inside a call of ours */
};

const char *task_state_to_string(TaskState s) {
        static const char *const names[_TASK_STATE_MAX] = {
                [TASK_PENDING] = "pending",
                [TASK_RUNNING] = "running",
                [TASK_SUCCEEDED] = "succeeded",
                [TASK_FAILED] = "failed",
        };
        return s >= 0 && s < _TASK_STATE_MAX ? names[s] : NULL;
}

static void set_state(Task *t, TaskState state) {
        t->fanout->counts[t->state]--;
        t->fanout->counts[state]++;
        t->state = state;
}

static void report_progress(EngineRun *f) {
        if (f->events->progress)
                f->events->progress(f->userdata, f->counts[TASK_SUCCEEDED] + f->counts[TASK_FAILED],
                                    f->n_tasks);
}

static bool all_done(const EngineRun *f) {
        return f->counts[TASK_SUCCEEDED] + f->counts[TASK_FAILED] == f->n_tasks;
}

/* Ends the attempt once nothing runs and nothing more will. */
static void maybe_finish(EngineRun *f) {
        if (f->n_running == 0 && (f->stopping || all_done(f)))
                (void) sd_event_source_set_enabled(f->end_defer, SD_EVENT_ONESHOT);
}

static void ready_push(EngineRun *f, Task *t, bool front) {
        t->ready_next = NULL;
        if (!f->ready_head)
                f->ready_head = f->ready_tail = t;
        else if (front) {
                t->ready_next = f->ready_head;
                f->ready_head = t;
        } else
                f->ready_tail = f->ready_tail->ready_next = t;
}

static Task *next_to_start(EngineRun *f) {
        Task *t = f->ready_head;
        if (t) {
                f->ready_head = t->ready_next;
                if (!f->ready_head)
                        f->ready_tail = NULL;
                return t;
        }
        return f->next_fresh < f->n_tasks ? &f->tasks[f->next_fresh++] : NULL;
}

/* ---------------------------------------------------------------- one task */

static int on_task_retry(sd_event_source *s, uint64_t usec, void *userdata);
static void advance(EngineRun *f);
static void stop(EngineRun *f, OutcomeKind why);

/*
 * Attempt `t->attempts` of the task failed: it runs again after the backoff, unless its attempts are
 * used up or retrying cannot help. The run hears of it either way.
 */
static void task_attempt_failed(EngineRun *f, Task *t, const EngineOutcome *outcome,
                                uint64_t duration_usec) {
        const Fanout *spec = &f->schedule->fanout;
        TaskFailure report = {
                .task = t->index,
                .attempt = t->attempts,
                .attempts_max = spec->max_retry + 1,
                .duration_usec = duration_usec,
                .retrying = !outcome->permanent && t->attempts <= spec->max_retry,
                .outcome = outcome,
        };

        free(t->error);
        t->error = strdup(outcome->message ?: "failed");
        if (report.retrying) {
                report.retry_delay_usec = retry_delay_usec(&f->schedule->policy, t->attempts, random_u64());
                report.retrying =
                        sd_event_add_time_relative(f->event, &t->retry_timer, CLOCK_MONOTONIC,
                                                   report.retry_delay_usec, 0, on_task_retry, t) >= 0;
        }
        set_state(t, report.retrying ? TASK_PENDING : TASK_FAILED);
        if (f->events->task_failed)
                f->events->task_failed(f->userdata, &report);
        if (!report.retrying)
                report_progress(f);
}

/* "application/json", "application/geo+json; charset=utf-8", ... */
static bool media_type_is_json(const char *type) {
        size_t n = strcspn(type, "; ");
        return (n >= 4 && strncasecmp(type + n - 4, "json", 4) == 0 &&
                (n == 16 ? strncasecmp(type, "application/json", 16) == 0 : n > 5 && type[n - 5] == '+'));
}

/* Keeps a successful attempt's result, within FANOUT_RESULTS_MAX for all tasks together. */
static void task_succeeded(EngineRun *f, Task *t, const EngineOutcome *outcome, uint64_t duration_usec) {
        const char *why = NULL;

        if (outcome->result && outcome->result_type && !media_type_is_json(outcome->result_type))
                why = "its result is not JSON, and a fan-out joins JSON results";
        else if (outcome->result && outcome->result_size > FANOUT_RESULTS_MAX - f->results_size)
                why = "its result would make the tasks' results larger than 256 MiB together";
        else if (outcome->result && !(t->result = malloc(outcome->result_size + 1)))
                why = "out of memory keeping its result";
        if (why) {
                EngineOutcome failed = { .kind = OUTCOME_FAILED, .permanent = true, .message = why };
                return task_attempt_failed(f, t, &failed, duration_usec);
        }
        if (t->result) {
                memcpy(t->result, outcome->result, outcome->result_size);
                t->result[outcome->result_size] = '\0';
                t->result_size = outcome->result_size;
                f->results_size += outcome->result_size;
        }
        t->error = mfree(t->error);
        set_state(t, TASK_SUCCEEDED);
        report_progress(f);
}

static void on_task_output(void *userdata, bool is_stderr, const char *line, size_t size, bool partial,
                           uint64_t remote_usec) {
        Task *t = userdata;
        EngineRun *f = t->fanout;
        if (f->events->task_output)
                f->events->task_output(f->userdata, t->index, is_stderr, line, size, partial, remote_usec);
        else
                f->events->output(f->userdata, is_stderr, line, size, partial, remote_usec);
}

static void on_task_ended(void *userdata, const EngineOutcome *outcome) {
        Task *t = userdata;
        EngineRun *f = t->fanout;
        EngineRun *attempt = TAKE_PTR(t->attempt); /* holds the outcome: freed only after it is used */
        uint64_t duration = now_monotonic_usec() - t->started_usec;

        f->n_running--;
        /* the inner engine applies the schedule's timeout to each task too, from no earlier than the run's
         * start: a task timed out is the run's timeout, come a moment before our own timer */
        if (outcome->kind == OUTCOME_TIMED_OUT && f->timeout_timer)
                stop(f, OUTCOME_TIMED_OUT);
        if (outcome->kind == OUTCOME_SUCCEEDED)
                task_succeeded(f, t, outcome, duration);
        else if (f->stopping) /* stopped by us: it never finished */
                set_state(t, TASK_PENDING);
        else
                task_attempt_failed(f, t, outcome, duration);
        f->inner->free(attempt);
        advance(f);
}

static void on_task_note(void *userdata, int priority, const char *message) {
        Task *t = userdata;
        EngineRun *f = t->fanout;
        _cleanup_free_ char *m = NULL;
        if (f->events->note && asprintf(&m, "task %zu: %s", t->index, message) >= 0)
                f->events->note(f->userdata, priority, m);
}

/* A remote inner engine may report these; a fan-out attempt is not re-attached after a restart. */
static void on_task_accepted(void *userdata, const char *job_id) {
        (void) userdata, (void) job_id;
}

static void on_task_log_position(void *userdata, uint64_t since_ms) {
        (void) userdata, (void) since_ms;
}

static void on_task_progress(void *userdata, uint64_t finished, uint64_t total) {
        (void) userdata, (void) finished, (void) total;
}

static int task_start(EngineRun *f, Task *t) {
        static const EngineEvents events = {
                .output = on_task_output,
                .ended = on_task_ended,
                .accepted = on_task_accepted,
                .log_position = on_task_log_position,
                .progress = on_task_progress,
                .note = on_task_note,
        };
        _cleanup_free_ char *params = NULL;
        int r = arglist_merge(f->params, t->set, &params);
        if (r < 0)
                return r;

        EngineRequest request = {
                .schedule = f->schedule,
                .run_id = f->run_id,
                .attempt = f->attempt,
                .scheduled_usec = f->scheduled_usec,
                .params_json = params,
                .python = f->python,
                .working_directory = f->working_directory,
                .credentials_environment = (const char *const *) f->credentials_environment,
                .is_task = true,
                .task = t->index,
                .task_attempt = t->attempts,
                .templates = f->has_templates ? &f->templates : NULL,
                .started_usec = f->started_usec,
                .http = f->http,
                .settings =
                        f->settings
                                ?: (f->events->current_settings ? f->events->current_settings(f->userdata)
                                                                : NULL),
        };
        r = f->inner->start(f->event, &request, &events, t, &t->attempt);
        if (r < 0)
                return r;
        t->started_usec = now_monotonic_usec();
        set_state(t, TASK_RUNNING);
        f->n_running++;
        return 0;
}

/* ---------------------------------------------------------------- the attempt */

static int on_start_pause_over(sd_event_source *s, uint64_t usec, void *userdata) {
        EngineRun *f = userdata;
        (void) s, (void) usec;
        f->pause_timer = sd_event_source_disable_unref(f->pause_timer);
        advance(f);
        return 0;
}

/*
 * Starts tasks while workers are free. A start that fails for want of descriptors or processes puts its
 * task back and pauses starts for a moment; inside fanout_start() with nothing running, it is returned
 * instead, so that the run waits in the daemon's own queue.
 */
static int start_tasks(EngineRun *f) {
        while (!f->stopping && !f->pause_timer && f->n_running < f->schedule->fanout.max_workers) {
                Task *t = next_to_start(f);
                if (!t)
                        break;

                t->attempts++;
                int r = task_start(f, t);
                if (IN_SET(r, -EMFILE, -ENFILE, -EAGAIN) &&
                    ((f->starting && f->n_running == 0) ||
                     sd_event_add_time_relative(f->event, &f->pause_timer, CLOCK_MONOTONIC, START_PAUSE_USEC,
                                                0, on_start_pause_over, f) >= 0)) {
                        t->attempts--;
                        ready_push(f, t, true);
                        if (!f->pause_timer)
                                return r;
                        break;
                }
                if (r < 0) { /* (a pause that cannot be armed included: the attempt fails like any other) */
                        char message[128];
                        snprintf(message, sizeof message, "cannot start: %s", strerror(-r));
                        EngineOutcome failed = { .kind = OUTCOME_FAILED, .message = message };
                        task_attempt_failed(f, t, &failed, 0);
                }
        }
        return 0;
}

static void advance(EngineRun *f) {
        (void) start_tasks(f);
        maybe_finish(f);
}

static int on_task_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Task *t = userdata;
        (void) s, (void) usec;
        t->retry_timer = sd_event_source_disable_unref(t->retry_timer);
        ready_push(t->fanout, t, false);
        advance(t->fanout);
        return 0;
}

/* Cancel or timeout: every running task is stopped, no other starts; the end follows the last one. */
static void stop(EngineRun *f, OutcomeKind why) {
        if (f->stopping || all_done(f)) /* (all done: the end is on its way already) */
                return;
        f->stopping = true;
        f->stopped = why;
        f->timeout_timer = sd_event_source_disable_unref(f->timeout_timer);
        f->pause_timer = sd_event_source_disable_unref(f->pause_timer);
        f->ready_head = f->ready_tail = NULL;
        for (size_t i = 0; i < f->n_tasks; i++) {
                Task *t = &f->tasks[i];
                t->retry_timer = sd_event_source_disable_unref(t->retry_timer);
                if (t->attempt)
                        (void) f->inner->cancel(t->attempt);
        }
        maybe_finish(f);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        stop(userdata, OUTCOME_TIMED_OUT);
        return 0;
}

static const Task *first_failed(const EngineRun *f) {
        for (size_t i = 0; i < f->n_tasks; i++)
                if (f->tasks[i].state == TASK_FAILED)
                        return &f->tasks[i];
        return NULL;
}

static int collect(const EngineRun *f, char **ret_data, size_t *ret_size) {
        _cleanup_free_ TaskResult *results = calloc(MAX(f->n_tasks, (size_t) 1), sizeof(TaskResult));
        if (!results)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_tasks; i++)
                results[i] = (TaskResult){ f->tasks[i].result, f->tasks[i].result_size };
        return fanout_collect(f->schedule->fanout.collect, results, f->n_tasks, ret_data, ret_size);
}

static int on_end(sd_event_source *s, void *userdata) {
        EngineRun *f = userdata;
        size_t n = f->n_tasks, failed = f->counts[TASK_FAILED], done = failed + f->counts[TASK_SUCCEEDED];
        _cleanup_free_ char *result = NULL;
        char message[512];
        EngineOutcome outcome = { .message = message };
        (void) s;

        if (f->stopping) {
                outcome.kind = f->stopped;
                snprintf(message, sizeof message, "%s with %zu of %zu tasks unfinished",
                         f->stopped == OUTCOME_TIMED_OUT ? "timed out" : "cancelled", n - done, n);
        } else if (failed > 0 && !f->schedule->fanout.ignore_exceptions) {
                const Task *t = first_failed(f);
                outcome.kind = OUTCOME_FAILED;
                snprintf(message, sizeof message, "%zu of %zu tasks failed; task %zu: %s", failed, n,
                         t->index, t->error ?: "failed");
        } else {
                int r = collect(f, &result, &outcome.result_size);
                outcome.kind = r < 0 ? OUTCOME_FAILED : OUTCOME_SUCCEEDED;
                outcome.result = result;
                if (r < 0)
                        snprintf(message, sizeof message, "cannot join the results: %s", strerror(-r));
                else if (failed > 0)
                        snprintf(message, sizeof message, "%zu of %zu tasks succeeded, %zu failed (ignored)",
                                 n - failed, n, failed);
                else
                        snprintf(message, sizeof message, "%zu tasks succeeded", n);
        }
        f->events->ended(f->userdata, &outcome); /* may free f */
        return 0;
}

static EngineRun *fanout_free(EngineRun *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_tasks; i++) {
                Task *t = &f->tasks[i];
                if (t->attempt)
                        f->inner->free(t->attempt); /* a local child is killed */
                sd_event_source_disable_unref(t->retry_timer);
                free(t->result);
                free(t->error);
        }
        free(f->tasks);
        sd_event_source_disable_unref(f->timeout_timer);
        sd_event_source_disable_unref(f->pause_timer);
        sd_event_source_disable_unref(f->end_defer);
        cJSON_Delete(f->params);
        cJSON_Delete(f->arg_list_expanded);
        free(f->run_id);
        free(f->python);
        free(f->working_directory);
        strv_free(f->credentials_environment);
        for (char **v = f->secret_values; v && *v; v++)
                explicit_bzero(*v, strlen(*v));
        strv_free(f->secret_names);
        strv_free(f->secret_values);
        schedule_free(f->schedule);
        sd_event_unref(f->event);
        free(f);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(EngineRun *, fanout_free);

static char *strdup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;
        *oom = *oom || (s && !c);
        return c;
}

static int resolve_held_secret(void *userdata, const char *name, char **ret_value) {
        const EngineRun *f = userdata;
        for (size_t i = 0; i < f->n_secrets; i++)
                if (strcmp(f->secret_names[i], name) == 0)
                        return (*ret_value = strdup(f->secret_values[i])) ? 0 : -ENOMEM;
        return -ENOENT;
}

/*
 * Keeps what the inner engine's templates need for tasks started later: the request's context, and the
 * values of the secrets the engine names, looked up now through it (the run drops its own copies once
 * the start returns). A secret that is not found stays unknown: that task's start fails on it.
 */
static int hold_templates(EngineRun *f, const EngineRequest *req) {
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0, n_values = 0;
        int r;

        f->templates = *req->templates;
        f->templates.schedule = f->schedule->name;
        f->templates.run_id = f->run_id;
        f->templates.resolve_secret = resolve_held_secret;
        f->templates.userdata = f;
        f->has_templates = true;
        if (!f->inner->collect_secrets || !req->templates->resolve_secret)
                return 0;
        if ((r = f->inner->collect_secrets(f->schedule, req->settings, &names, &n)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char *value;
                r = req->templates->resolve_secret(req->templates->userdata, names[i], &value);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                if ((r = strv_push(&f->secret_values, &n_values, value)) < 0 ||
                    (r = strv_push(&f->secret_names, &f->n_secrets, strdup(names[i]))) < 0)
                        return r;
        }
        return 0;
}

/* The start marker: whatever the inner engine, it exists once the first task may have started. */
static int create_marker(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        (void) close(fd);
        return 0;
}

static int fanout_start(sd_event *event, const EngineRequest *req, const EngineEvents *events,
                        void *userdata, EngineRun **ret_run) {
        const Schedule *s = req->schedule;
        const Engine *inner = engine_find(s->engine);
        bool oom = false;
        int r;

        if (!inner || inner == &engine_fanout || !cJSON_IsArray(req->arg_list) || !req->params_json)
                return -EINVAL;
        _cleanup_(fanout_freep) EngineRun *f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        *f = (EngineRun){
                .event = sd_event_ref(event),
                .inner = inner,
                .events = events,
                .userdata = userdata,
                .schedule = schedule_ref(s),
                .attempt = req->attempt,
                .scheduled_usec = req->scheduled_usec,
                .started_usec = req->started_usec ?: now_usec(),
                .http = req->http,
                .settings = req->settings,
                .run_id = strdup_or_null(req->run_id, &oom),
                .python = strdup_or_null(req->python, &oom),
                .working_directory = strdup_or_null(req->working_directory, &oom),
                .params = cJSON_Parse(req->params_json),
                .n_tasks = (size_t) cJSON_GetArraySize(req->arg_list),
        };
        /* a file's list can be large: it is only copied when the request's is another (expanded) one */
        f->arg_list = req->arg_list == s->fanout.arg_list
                              ? req->arg_list
                              : (f->arg_list_expanded = cJSON_Duplicate(req->arg_list, true));
        if (strv_copy(req->credentials_environment, &f->credentials_environment) < 0)
                oom = true;
        if (oom || !f->params || !f->arg_list ||
            !(f->tasks = calloc(MAX(f->n_tasks, (size_t) 1), sizeof(Task))))
                return -ENOMEM;
        if (!cJSON_IsObject(f->params))
                return -EINVAL;

        size_t i = 0;
        for (const cJSON *set = f->arg_list->child; set; set = set->next, i++) {
                if (!cJSON_IsObject(set))
                        return -EINVAL;
                f->tasks[i] = (Task){ .fanout = f, .index = i, .set = set, .state = TASK_PENDING };
        }
        f->counts[TASK_PENDING] = f->n_tasks;

        if (req->templates && (r = hold_templates(f, req)) < 0)
                return r;
        if ((r = sd_event_add_defer(event, &f->end_defer, on_end, f)) < 0 ||
            (r = sd_event_source_set_enabled(f->end_defer, SD_EVENT_OFF)) < 0)
                return r;
        if (s->policy.timeout_usec > 0) {
                /* absolute: a relative time would count from the loop's iteration, a little in the past */
                uint64_t now = now_usec(), end = f->started_usec + s->policy.timeout_usec;
                r = sd_event_add_time(event, &f->timeout_timer, CLOCK_MONOTONIC,
                                      now_monotonic_usec() + (end > now ? end - now : 0), USEC_PER_SEC / 100,
                                      on_timeout, f);
                if (r < 0)
                        return r;
        }
        if (req->start_marker && f->n_tasks > 0 && (r = create_marker(req->start_marker)) < 0)
                return r;

        report_progress(f);
        f->starting = true;
        r = start_tasks(f);
        f->starting = false;
        if (r < 0) {
                if (req->start_marker) /* nothing started after all */
                        (void) unlink(req->start_marker);
                return r;
        }
        maybe_finish(f);
        f->settings = NULL; /* borrowed for this call only */
        *ret_run = TAKE_PTR(f);
        return 0;
}

static int fanout_cancel(EngineRun *f) {
        stop(f, OUTCOME_CANCELLED);
        return 0;
}

/* The inner engine's secrets are looked up with the run's, as if it ran alone. */
static int fanout_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names,
                                  size_t *n) {
        const Engine *inner = engine_find(s->engine);
        return inner && inner->collect_secrets ? inner->collect_secrets(s, settings, names, n) : 0;
}

const Engine engine_fanout = {
        .name = "fanout",
        .start = fanout_start,
        .cancel = fanout_cancel,
        .free = fanout_free,
        .collect_secrets = fanout_collect_secrets,
};

/* ---------------------------------------------------------------- snapshot */

size_t fanout_n_tasks(const EngineRun *run) {
        return run->n_tasks;
}

void fanout_counts(const EngineRun *run, size_t ret_counts[static _TASK_STATE_MAX]) {
        memcpy(ret_counts, run->counts, sizeof run->counts);
}

int fanout_task_info(const EngineRun *run, size_t task, TaskInfo *ret_info) {
        if (task >= run->n_tasks)
                return -ERANGE;
        const Task *t = &run->tasks[task];
        *ret_info = (TaskInfo){ .state = t->state, .attempts = t->attempts, .error = t->error };
        return 0;
}

/* ---------------------------------------------------------------- joining results */

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int fanout_collect(CollectFormat format, const TaskResult *results, size_t n, char **ret_data,
                   size_t *ret_size) {
        bool ndjson = format == COLLECT_NDJSON;
        size_t total = 3; /* "[]" and the NUL */

        for (size_t i = 0; i < n; i++)
                total += (results[i].data ? MAX(results[i].size, (size_t) 4) : 4) + 1;
        char *buf = malloc(total), *p = buf;
        if (!buf)
                return -ENOMEM;

        if (!ndjson)
                *p++ = '[';
        for (size_t i = 0; i < n; i++) {
                const char *d = results[i].data ?: "";
                size_t b = 0, e = results[i].data ? results[i].size : 0;
                while (b < e && is_blank(d[b]))
                        b++;
                while (e > b && is_blank(d[e - 1]))
                        e--;

                if (!ndjson && i > 0)
                        *p++ = ',';
                if (b == e)
                        p = mempcpy(p, "null", 4);
                for (size_t k = b; k < e; k++)
                        *p++ = ndjson && (d[k] == '\n' || d[k] == '\r') ? ' ' : d[k];
                if (ndjson)
                        *p++ = '\n';
        }
        if (!ndjson)
                *p++ = ']';
        *p = '\0';
        *ret_size = (size_t) (p - buf);
        *ret_data = buf;
        return 0;
}
