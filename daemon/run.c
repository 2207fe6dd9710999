/* SPDX-License-Identifier: MIT */
/*
 * One run: its attempts on the engine, retries with capped exponential
 * backoff, and its outcome. Every transition is logged here and recorded in
 * the state; the manager decides when an attempt may start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "clock.h"
#include "credentials.h"
#include "error-message.h"
#include "json-util.h"
#include "manager.h"
#include "params.h"
#include "secrets.h"
#include "storage.h"
#include "strv.h"

#define RESULT_PREVIEW_MAX 200

static char *memdup(const char *p, size_t size) {
        char *q = malloc(size);
        return q ? memcpy(q, p, size) : NULL;
}

/* Forgets the carry at *link, wiping what it held. */
static void carry_drop(LineCarry **link) {
        LineCarry *c = *link;
        if (!c)
                return;
        *link = c->next;
        mfree_wiped_size(c->data, c->size);
        free(c);
}

void run_fields(const Run *run, RunFields *ret_fields) {
        *ret_fields = (RunFields){
                .schedule = run->entry->schedule->name,
                .run_id = run->id,
                .engine = run->entry->schedule->engine,
                .job_id = run->job_id,
                .step = run->step,
                .attempt = run->attempt,
                .scheduled_usec = run->slot_usec,
        };
}

void run_id_new(char ret_id[static RUN_ID_LEN + 1]) {
        snprintf(ret_id, RUN_ID_LEN + 1, "%016" PRIx64, random_u64());
}

char *run_marker_path(const Run *run) {
        char *path;
        if (asprintf(&path, "%s/%s.%u", run->manager->markers_directory, run->id, run->attempt) < 0)
                return NULL;
        return path;
}

static int run_create(Manager *m, Entry *entry, uint64_t slot_usec, bool manual, const RunState *recorded,
                      const char *params, Run **ret_run) {
        _cleanup_free_ Run *run = calloc(1, sizeof *run);
        if (!run)
                return -ENOMEM;

        *run = (Run){
                .manager = m,
                .entry = entry,
                .slot_usec = slot_usec,
                .manual = manual,
                .attempt = recorded ? recorded->attempt : 1,
                .status = RUN_WAITING,
                .engine = engine_for_schedule(entry->schedule),
        };
        if (!run->engine)
                return -EOPNOTSUPP; /* config.c accepts only known engines */
        if (recorded)
                params = recorded->params;
        if (params && !(run->params = strdup(params)))
                return -ENOMEM;

        if (recorded) {
                snprintf(run->id, sizeof run->id, "%s", recorded->run_id);
                run->resumed = recorded->phase != RUN_PHASE_PREPARED;
                run->log_since_ms = recorded->log_since_ms;
                if (recorded->job_id && !(run->job_id = strdup(recorded->job_id))) {
                        free(run->params);
                        return -ENOMEM;
                }
                /* re-attached, or a pipeline going on: durations and the timeout count from its start */
                if (recorded->job_id || recorded->step)
                        run->attempt_started_usec = recorded->started_usec;
        } else {
                run_id_new(run->id);
                RunState rs = {
                        .run_id = run->id,
                        .schedule = entry->schedule->name,
                        .engine = entry->schedule->engine,
                        .slot_usec = slot_usec,
                        .attempt = 1,
                        .phase = RUN_PHASE_DISPATCHING,
                        .params = run->params,
                };
                int r = state_add_run(m->state, &rs);
                if (r < 0) {
                        free(run->params);
                        return r;
                }
                manager_state_changed(m);
                run->durable_after_save = m->saves + 1;
        }
        if (!recorded || recorded->phase == RUN_PHASE_PREPARED) {
                RunFields f;
                run_fields(run, &f);
                journal_run_event(m->journal, &f, RUN_EVENT_SCHEDULED, "%s",
                                  manual ? "run requested" : "fired");
        }

        run->next = m->runs;
        if (m->runs)
                m->runs->prev = run;
        m->runs = run;
        entry->n_active++;
        *ret_run = TAKE_PTR(run);
        return 0;
}

int run_new(Manager *m, Entry *entry, uint64_t slot_usec, bool manual, const RunState *recorded,
            Run **ret_run) {
        return run_create(m, entry, slot_usec, manual, recorded, NULL, ret_run);
}

int run_new_manual(Manager *m, Entry *entry, const char *params, Run **ret_run) {
        return run_create(m, entry, now_usec(), true, NULL, params, ret_run);
}

static void run_tell(Run *run, const RunNews *news);

/* The secrets of an attempt, looked up or being looked up. */
struct RunSecret {
        Run *run;
        char *name;
        char *value; /* once found; wiped when freed */
        int error;
        PluginCall *call; /* the lookup, until it answers */
};

/* The environment a credentials instance gives an attempt, asked for or given. */
struct RunCredentials {
        Run *run;
        const char *name; /* the schedule's */
        char **environment;
        int error;
        PluginCall *call; /* the request, until it answers */
};

/* An attempt whose work succeeded, while its output is being stored. */
struct RunStore {
        PluginCall *call;
        EngineOutcome outcome; /* the work's, reported once the output is stored */
        char *message;
        char *data; /* what is stored: the result, secrets masked */
};

/* Drops what the attempt looked up, or abandons the lookups still under way. */
static void run_lookups_free(Run *run) {
        for (size_t i = 0; i < run->n_secrets; i++) {
                RunSecret *rs = &run->secrets[i];
                plugin_call_abandon(rs->call);
                rs->value = mfree_wiped(rs->value);
                free(rs->name);
        }
        free(run->secrets);
        run->secrets = NULL;
        for (size_t i = 0; i < run->n_credentials; i++) {
                plugin_call_abandon(run->credentials[i].call);
                strv_free(run->credentials[i].environment);
        }
        free(run->credentials);
        run->credentials = NULL;
        run->n_secrets = run->n_credentials = run->n_lookups_pending = 0;
}

static RunStore *run_store_free(RunStore *st) {
        if (!st)
                return NULL;
        plugin_call_abandon(st->call);
        free(st->message);
        free(st->data);
        free(st);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(RunStore *, run_store_free);

Run *run_free(Run *run) {
        if (!run)
                return NULL;
        Manager *m = run->manager;

        if (run->watches) /* freed before its end: the daemon stops, the run stays recorded */
                run_tell(run, &(const RunNews){
                                      .kind = RUN_NEWS_END,
                                      .message = "the daemon is stopping; the run stays recorded and starts "
                                                 "after the next start",
                              });

        if (run->engine_run)
                run->engine->free(run->engine_run);
        pipeline_free(run->pipeline);
        run_lookups_free(run);
        run->store = run_store_free(run->store);
        free(run->output_url);
        sd_event_source_disable_unref(run->retry_timer);
        while (run->carries)
                carry_drop(&run->carries);
        free(run->job_id);
        if (run->prev)
                run->prev->next = run->next;
        else if (m->runs == run)
                m->runs = run->next;
        if (run->next)
                run->next->prev = run->prev;
        run->entry->n_active--;
        free(run->params);
        free(run->stop_why);
        free(run);
        return NULL;
}

void run_watch(Run *run, RunWatch *w) {
        w->next = run->watches;
        run->watches = w;
}

void run_unwatch(Run *run, RunWatch *w) {
        for (RunWatch **p = &run->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        w->next = NULL;
                        return;
                }
}

/*
 * Tells the watchers, with secrets masked as in the journal (the output pieces are the journal's, so a
 * secret is never split between two). The end news detaches them all first, so they may free themselves.
 */
static void run_tell(Run *run, const RunNews *news) {
        const Journal *j = run->manager->journal;
        RunNews n = *news;
        _cleanup_free_ char *message = NULL, *data = NULL;

        if (!run->watches)
                return;
        n.attempt = run->attempt;
        if (n.message && !(n.message = message = journal_redact(j, n.message, strlen(n.message), NULL)))
                n.message = "(out of memory)";
        if (n.size > 0 && !(n.data = data = journal_redact(j, n.data, n.size, &n.size)))
                return; /* never unmasked */

        bool end = n.kind == RUN_NEWS_END;
        RunWatch *w = end ? TAKE_PTR(run->watches) : run->watches;
        for (RunWatch *next; w; w = next) {
                next = w->next;
                if (end)
                        w->next = NULL;
                w->notify(w, run, &n);
        }
}

/* A piece of output into the journal, and to the watchers. */
static void run_output(Run *run, const RunFields *f, bool is_stderr, const char *data, size_t size,
                       bool partial, uint64_t remote_usec) {
        journal_run_output(run->manager->journal, f, is_stderr, data, size, remote_usec);
        run_tell(run, &(const RunNews){ .kind = RUN_NEWS_OUTPUT,
                                        .is_stderr = is_stderr,
                                        .partial = partial,
                                        .has_task = f->has_task,
                                        .task = f->task,
                                        .data = data,
                                        .size = size });
}

/* ${secret:NAME}, from what the attempt looked up before its work started (see run_start_attempt()). */
static int resolve_secret(void *userdata, const char *name, char **ret_value) {
        Run *run = userdata;
        for (size_t i = 0; i < run->n_secrets; i++)
                if (strcmp(run->secrets[i].name, name) == 0 && run->secrets[i].value)
                        return (*ret_value = strdup(run->secrets[i].value)) ? 0 : -ENOMEM;
        return -ENOENT; /* not looked up: the template changed under us, which cannot happen */
}

static void run_end(Run *run, RunEvent event, const EngineOutcome *outcome, uint64_t duration_usec);

/* Where the carry of this stream is, or where it would go. */
static LineCarry **carry_find(Run *run, const RunFields *f, bool is_stderr) {
        LineCarry **link = &run->carries;
        while (*link && ((*link)->is_stderr != is_stderr || (*link)->has_task != f->has_task ||
                         (*link)->task != f->task))
                link = &(*link)->next;
        return link;
}

/*
 * Each piece of output becomes a record. Pieces of one long line are joined
 * end to end when read back; so that the journal sees a secret split between
 * two of them whole, the tail of a partial piece is held back and written at
 * the front of the next one. Each stream of each fan-out task has its own.
 */
static void forward_output(Run *run, const RunFields *f, bool is_stderr, const char *piece, size_t size,
                           bool partial, uint64_t remote_usec) {
        Journal *j = run->manager->journal;
        LineCarry **link = carry_find(run, f, is_stderr), *c = *link;
        bool ends_long_line = c; /* a carry exists while a long line goes on */
        size_t held = c ? c->size : 0, total = held + size;
        size_t keep = partial ? MIN(journal_secret_overlap(j), total) : 0;
        _cleanup_free_ char *joined = NULL;
        const char *line = piece;

        if (held > 0) {
                if (!(joined = malloc(total + 1))) { /* drop what was held, never write a secret unmasked */
                        carry_drop(link);
                        return;
                }
                memcpy(joined, c->data, held);
                if (size > 0) /* (memcpy from NULL is undefined even for 0 bytes) */
                        memcpy(joined + held, piece, size);
                joined[total] = '\0';
                line = joined;
        }
        /* an empty end of a long line is no line of its own */
        if (total - keep > 0 || (total == 0 && !ends_long_line))
                run_output(run, f, is_stderr, line, total - keep, partial, remote_usec);

        if (!partial)
                carry_drop(link);
        else if (c || (c = *link = calloc(1, sizeof *c))) { /* (no memory: the tail is lost, unwritten) */
                c->is_stderr = is_stderr;
                c->has_task = f->has_task;
                c->task = f->task;
                c->data = mfree_wiped_size(c->data, c->size);
                c->size = 0;
                if (keep > 0 && (c->data = memdup(line + total - keep, keep)))
                        c->size = keep;
        }
        if (joined)
                explicit_bzero(joined, total);
}

static void on_output(void *userdata, bool is_stderr, const char *piece, size_t size, bool partial,
                      uint64_t remote_usec) {
        Run *run = userdata;
        RunFields f;
        run_fields(run, &f);
        forward_output(run, &f, is_stderr, piece, size, partial, remote_usec);
}

static void on_task_output(void *userdata, size_t task, bool is_stderr, const char *piece, size_t size,
                           bool partial, uint64_t remote_usec) {
        Run *run = userdata;
        RunFields f;
        run_fields(run, &f);
        f.has_task = true;
        f.task = task;
        forward_output(run, &f, is_stderr, piece, size, partial, remote_usec);
}

static void on_task_failed(void *userdata, const TaskFailure *failure) {
        Run *run = userdata;
        const EngineOutcome *o = failure->outcome;
        const char *why = o->message ?: "failed";
        RunFields f;

        run_fields(run, &f);
        f.has_task = true;
        f.task = failure->task;
        f.duration_usec = failure->duration_usec;
        f.has_exit_status = o->has_exit_status;
        f.exit_status = o->exit_status;
        if (failure->retrying) {
                f.next_usec = now_usec() + failure->retry_delay_usec;
                journal_run_event(run->manager->journal, &f, RUN_EVENT_TASK_RETRY,
                                  "%s; attempt %u of %u in %.1fs", why, failure->attempt + 1,
                                  failure->attempts_max, (double) failure->retry_delay_usec / 1e6);
        } else
                journal_run_event(run->manager->journal, &f, RUN_EVENT_TASK_FAILED, "%s (attempt %u of %u)",
                                  why, failure->attempt, failure->attempts_max);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *run = userdata;
        Manager *m = run->manager;
        (void) s, (void) usec;

        run->retry_timer = sd_event_source_disable_unref(run->retry_timer);
        run->attempt++; /* the state says so already */
        run->status = RUN_WAITING;
        RunState *rs = state_find_run(m->state, run->id);
        if (rs) {
                rs->retry_usec = 0;
                manager_state_changed(m);
        }
        manager_dispatch(m, run);
        return 0;
}

/* Waits `delay` (monotonic, so a clock step neither shortens nor stretches it) for the next attempt. */
static int retry_wait(Run *run, uint64_t delay) {
        run->status = RUN_RETRY_WAIT;
        return sd_event_add_time_relative(run->manager->event, &run->retry_timer, CLOCK_MONOTONIC, delay, 0,
                                          on_retry_timer, run);
}

int run_resume_retry(Run *run, uint64_t retry_usec) {
        uint64_t now = now_usec();
        run->attempt--; /* the recorded attempt is the next one: on_retry_timer() counts up to it */
        return retry_wait(run, retry_usec > now ? retry_usec - now : 0);
}

static bool should_retry(const Run *run, const EngineOutcome *outcome) {
        return !run->stopped_by && !run->manager->stopping && !outcome->permanent &&
               (outcome->kind == OUTCOME_FAILED || outcome->kind == OUTCOME_TIMED_OUT ||
                outcome->kind == OUTCOME_LOST) &&
               run->attempt <= run->entry->schedule->policy.retries;
}

/* The attempt is over: its start marker (and its steps') goes once the state no longer needs it. */
static void markers_obsolete(Run *run) {
        const Schedule *s = run->entry->schedule;
        char *marker = run_marker_path(run);
        for (size_t i = 0; marker && s->work == WORK_PIPELINE && i < s->n_steps; i++)
                if (s->steps[i].kind != STEP_FUSED_JOB)
                        manager_marker_obsolete(run->manager, pipeline_step_marker(marker, &s->steps[i]));
        manager_marker_obsolete(run->manager, marker);
}

/* What stopped an attempt that ended so, for UDFCRON_STOPPED_BY; NULL: nothing did, it ended by itself. */
static const char *stopped_by(const Run *run, const EngineOutcome *outcome) {
        return outcome->kind == OUTCOME_TIMED_OUT ? "timeout" : run->stopped_by;
}

static void attempt_ended(Run *run, const EngineOutcome *outcome) {
        static const RunEvent events[] = {
                [OUTCOME_SUCCEEDED] = RUN_EVENT_FINISHED,  [OUTCOME_FAILED] = RUN_EVENT_FAILED,
                [OUTCOME_TIMED_OUT] = RUN_EVENT_TIMED_OUT, [OUTCOME_CANCELLED] = RUN_EVENT_CANCELLED,
                [OUTCOME_LOST] = RUN_EVENT_LOST,
        };
        Manager *m = run->manager;
        uint64_t duration = run->attempt_started_usec ? now_usec() - run->attempt_started_usec : 0;

        markers_obsolete(run);
        if (run->status == RUN_RUNNING)
                manager_attempt_done(m, run);

        if (!should_retry(run, outcome)) {
                run_end(run, events[outcome->kind], outcome, duration);
                return;
        }

        /* recorded at once: after a restart the next attempt runs, never this one again, and not before
         * its time; a pipeline's starts at the step recorded (the one that failed), after the same steps */
        uint64_t delay = retry_delay_usec(&run->entry->schedule->policy, run->attempt, random_u64());
        RunState *rs = state_find_run(m->state, run->id);
        if (rs) {
                rs->attempt = run->attempt + 1;
                rs->phase = RUN_PHASE_DISPATCHING;
                rs->started_usec = 0;
                rs->retry_usec = now_usec() + delay;
                rs->job_id = mfree(rs->job_id);
                rs->log_since_ms = 0;
                manager_state_changed(m);
        }
        run->job_id = mfree(run->job_id);
        run->log_since_ms = 0;
        run->resumed = false;

        RunFields f;
        run_fields(run, &f);
        f.duration_usec = duration;
        f.has_exit_status = outcome->has_exit_status;
        f.exit_status = outcome->exit_status;
        f.next_usec = now_usec() + delay;
        f.stopped_by = stopped_by(run, outcome);
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s; attempt %u of %u in %.1fs", outcome->message, run->attempt + 1,
                     run->entry->schedule->policy.retries + 1, (double) delay / 1e6) < 0)
                text = NULL;
        journal_run_event(m->journal, &f, RUN_EVENT_RETRY, "%s", text ?: outcome->message);
        run_tell(run, &(const RunNews){ .kind = RUN_NEWS_EVENT,
                                        .event = RUN_EVENT_RETRY,
                                        .message = text ?: outcome->message,
                                        .has_exit_status = outcome->has_exit_status,
                                        .exit_status = outcome->exit_status,
                                        .duration_usec = duration,
                                        .next_usec = f.next_usec });

        int r = retry_wait(run, delay);
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "%s: cannot arm the retry timer: %s", run->id,
                            strerror(-r));
                run_end(run, events[outcome->kind], outcome, duration);
        }
}

/* The work succeeded, but its output did not reach the storage: the attempt fails, and may be retried. */
static void output_not_stored(Run *run, const EngineOutcome *outcome, int error) {
        EngineOutcome failed = *outcome;
        char message[512];

        snprintf(message, sizeof message, "%s, but its output could not be stored at %s: %s",
                 outcome->message, run->output_url, strerror(-error));
        failed.kind = OUTCOME_FAILED;
        failed.message = message;
        attempt_ended(run, &failed); /* may free the run */
}

static void on_stored(void *userdata, int error) {
        Run *run = userdata;
        _cleanup_(run_store_freep) RunStore *st = TAKE_PTR(run->store); /* the outcome points into it */

        st->call = NULL; /* being delivered: nothing to abandon */
        if (error < 0) {
                output_not_stored(run, &st->outcome, error);
                return;
        }
        run->output_stored = true;
        attempt_ended(run, &st->outcome); /* may free the run */
}

/* The work succeeded: its result (a UDF's) or stdout (a command's) goes to the schedule's output URL. */
static void store_output(Run *run, const EngineOutcome *outcome) {
        Manager *m = run->manager;
        const Schedule *s = run->entry->schedule;
        _cleanup_(run_store_freep) RunStore *st = calloc(1, sizeof *st);
        size_t size = 0;
        int r = -ENOMEM;

        if (st && (st->message = strdup(outcome->message ?: "")) &&
            (st->data = journal_redact(m->journal, outcome->result ?: "", outcome->result_size, &size))) {
                st->outcome = *outcome;
                st->outcome.message = st->message;
                st->outcome.result = st->data;
                st->outcome.result_size = size;
                r = storage_put(m->plugins, NULL, run->output_url, st->data, size,
                                s->work == WORK_UDF ? "application/json" : "application/octet-stream",
                                on_stored, run, &st->call);
        }
        if (r < 0)
                output_not_stored(run, outcome, r);
        else
                run->store = TAKE_PTR(st);
}

/* Remote engines: the job id goes into the state (the idle flush writes it; a daemon that dies first
 * restarts the attempt with may_have_started) and into every record from now on. */
static void on_accepted(void *userdata, const char *job_id) {
        Run *run = userdata;
        Manager *m = run->manager;
        RunState *rs = state_find_run(m->state, run->id);
        char *copy = strdup(job_id), *recorded = rs ? strdup(job_id) : NULL;

        if (!copy || (rs && !recorded)) {
                free(copy);
                free(recorded);
                journal_log(m->journal, LOG_ERR, "%s %s: out of memory recording job %s",
                            run->entry->schedule->name, run->id, job_id);
                return;
        }
        free(run->job_id);
        run->job_id = copy;
        if (rs) {
                free(rs->job_id);
                rs->job_id = recorded;
                manager_state_changed(m);
        }
        journal_log(m->journal, LOG_INFO, "%s %s: attempt %u is job %s", run->entry->schedule->name, run->id,
                    run->attempt, job_id);
}

static void on_log_position(void *userdata, uint64_t since_ms) {
        Run *run = userdata;
        RunState *rs = state_find_run(run->manager->state, run->id);

        run->log_since_ms = since_ms;
        if (rs && rs->log_since_ms != since_ms) {
                rs->log_since_ms = since_ms;
                manager_state_changed(run->manager);
        }
}

static void on_note(void *userdata, int priority, const char *message) {
        Run *run = userdata;
        journal_log(run->manager->journal, priority, "%s %s: %s", run->entry->schedule->name, run->id, message);
}

static const DaemonSettings *on_current_settings(void *userdata) {
        Run *run = userdata;
        return &run->manager->config->settings;
}

static void on_progress(void *userdata, uint64_t finished, uint64_t total) {
        Run *run = userdata;
        run->tasks_finished = finished;
        run->tasks_total = total;
        run_tell(run, &(const RunNews){
                              .kind = RUN_NEWS_PROGRESS, .tasks_finished = finished, .tasks_total = total });
}

static void on_ended(void *userdata, const EngineOutcome *outcome) {
        Run *run = userdata;
        /* the outcome (its result above all) lives in the engine run: free that only afterwards */
        const Engine *engine = run->engine;
        EngineRun *engine_run = TAKE_PTR(run->engine_run);
        if (outcome->kind == OUTCOME_SUCCEEDED && run->output_url)
                store_output(run, outcome);
        else
                attempt_ended(run, outcome); /* may free the run */
        engine->free(engine_run);
}

static void on_pipeline_ended(void *userdata, const EngineOutcome *outcome) {
        Run *run = userdata;
        /* the outcome lives in the pipeline: free that only afterwards */
        Pipeline *p = TAKE_PTR(run->pipeline);
        run_lookups_free(run); /* they lasted as long as its steps could start */
        if (outcome->kind == OUTCOME_SUCCEEDED)
                run->step = NULL; /* the run's end is about no step; a failure is about the step it says */
        attempt_ended(run, outcome); /* may free the run */
        pipeline_free(p);
}

/* Records the pipeline's step and the outputs before it; when they do not fit, none (a restarted daemon
 * then starts the pipeline over). */
static void record_step(Run *run, const char *step, char *const *outputs) {
        Manager *m = run->manager;
        RunState *rs = state_find_run(m->state, run->id);
        int r;

        if (!rs)
                return;
        if ((r = state_run_set_step(rs, step, outputs)) < 0) {
                journal_log(m->journal, LOG_WARNING,
                            "%s %s: cannot record step '%s' (%s); a restart would start the pipeline over",
                            run->entry->schedule->name, run->id, step, strerror(-r));
                (void) state_run_set_step(rs, NULL, NULL);
        }
        manager_state_changed(m);
}

/*
 * A step is about to start: where the pipeline is goes to disk first, so that a restarted daemon goes on
 * from this step and runs no step before it again. While the daemon stops, the step does not start: the
 * run lets go of its pipeline, whose record stays for the next start to go on from this step.
 */
static bool on_step_starting(void *userdata, size_t index, const char *what, char *const *outputs) {
        Run *run = userdata;
        Manager *m = run->manager;
        const Schedule *s = run->entry->schedule;
        RunFields f;

        run->step = s->steps[index].name;
        record_step(run, run->step, outputs);
        if (m->stopping) {
                journal_log(m->journal, LOG_NOTICE,
                            "%s %s: the daemon stops; step %zu/%zu '%s' starts after its next start",
                            s->name, run->id, index + 1, s->n_steps, run->step);
                manager_attempt_done(m, run);
                manager_run_ended(m, run); /* frees the run and its pipeline; the state keeps its record */
                return false;
        }
        manager_save_soon(m); /* before the step starts (see pipeline.h) */
        run_fields(run, &f);
        journal_run_event(m->journal, &f, RUN_EVENT_STEP_STARTED, "step %zu/%zu '%s': %s", index + 1,
                          s->n_steps, run->step, what);
        return true;
}

static void on_step_ended(void *userdata, size_t index, const EngineOutcome *outcome,
                          uint64_t duration_usec) {
        Run *run = userdata;
        const Schedule *s = run->entry->schedule;
        bool ok = outcome->kind == OUTCOME_SUCCEEDED;
        RunFields f;

        run_fields(run, &f);
        f.duration_usec = duration_usec;
        f.has_exit_status = outcome->has_exit_status;
        f.exit_status = outcome->exit_status;
        journal_run_event(run->manager->journal, &f, ok ? RUN_EVENT_STEP_FINISHED : RUN_EVENT_STEP_FAILED,
                          "step %zu/%zu '%s' %s %.3fs: %s", index + 1, s->n_steps, s->steps[index].name,
                          ok ? "finished in" : "failed after", (double) duration_usec / 1e6,
                          outcome->message);
        if (run->job_id) { /* a Fused job step's job is over: the next steps are no part of it */
                RunState *rs = state_find_run(run->manager->state, run->id);
                run->job_id = mfree(run->job_id);
                run->log_since_ms = 0;
                if (rs) {
                        rs->job_id = mfree(rs->job_id);
                        rs->log_since_ms = 0;
                        manager_state_changed(run->manager);
                }
        }
}

/* The file name extension of a result of media type `type` (NULL: JSON, as the local runner's). */
static const char *result_extension(const char *type) {
        static const struct {
                const char *type, *extension;
        } known[] = {
                { "application/json", "json" },     { "text/plain", "txt" },
                { "text/csv", "csv" },              { "text/html", "html" },
                { "application/xml", "xml" },       { "text/xml", "xml" },
                { "image/png", "png" },             { "image/tiff", "tiff" },
                { "image/jpeg", "jpg" },            { "image/gif", "gif" },
                { "image/webp", "webp" },           { "application/zip", "zip" },
                { "application/x-numpy-data", "npy" }, { "application/geo+json", "geojson" },
                /* what the Fused SDK reads as Parquet: these, and anything it does not know */
                { "application/parquet", "parquet" }, { "application/vnd.apache.parquet", "parquet" },
                { "application/octet-stream", "parquet" },
        };
        if (!type)
                return "json";
        size_t len = strcspn(type, "; ");
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strlen(known[i].type) == len && strncasecmp(type, known[i].type, len) == 0)
                        return known[i].extension;
        return "bin";
}

/* Whether a result is text (masked for secrets, previewed) rather than bytes (kept as they are). */
static bool result_is_text(const char *type) {
        return !type || strncasecmp(type, "text/", 5) == 0 || strncasecmp(type, "application/json", 16) == 0 ||
               strncasecmp(type, "application/geo+json", 20) == 0 || strncasecmp(type, "application/xml", 15) == 0;
}

/* A short, single-line preview of a result for the "finished" message. */
static void result_preview(const char *result, size_t size, char *buf, size_t buf_size) {
        size_t n = MIN(size, buf_size - 1);
        for (size_t i = 0; i < n; i++)
                buf[i] = result[i] == '\n' || result[i] == '\r' ? ' ' : result[i];
        buf[n] = '\0';
        if (size > n && n >= 3)
                memcpy(buf + n - 3, "...", 3);
}

/*
 * Stores a result (named: one of several) under the state directory, and writes its preview. Text has
 * every secret masked, before the preview is cut and in the stored copy; bytes are kept as they are.
 */
static void store_result(Run *run, const char *name, const char *data, size_t size, const char *type,
                         char *preview, size_t preview_size) {
        Manager *m = run->manager;
        const char *dir = m->config->settings.state_directory, *schedule = run->entry->schedule->name;
        _cleanup_free_ char *masked = NULL;
        int r;

        if (result_is_text(type)) {
                if (!(masked = journal_redact(m->journal, data, size, &size))) {
                        journal_log(m->journal, LOG_WARNING, "%s: out of memory storing the result, ignoring",
                                    run->id);
                        return;
                }
                data = masked;
                result_preview(data, size, preview, preview_size);
        } else
                snprintf(preview, preview_size, "%zu bytes of %s", size, type);
        r = name ? state_save_result_file(dir, schedule, run->id, name, data, size)
                 : state_save_result(dir, schedule, run->id, result_extension(type), data, size);
        if (r < 0)
                journal_log(m->journal, LOG_WARNING, "%s: cannot store the result%s%s: %s, ignoring", run->id,
                            name ? " " : "", name ?: "", strerror(-r));
}

static void run_end(Run *run, RunEvent event, const EngineOutcome *outcome, uint64_t duration_usec) {
        static const char *const results[_RUN_EVENT_MAX] = {
                [RUN_EVENT_FINISHED] = "succeeded",  [RUN_EVENT_FAILED] = "failed",
                [RUN_EVENT_TIMED_OUT] = "timed_out", [RUN_EVENT_CANCELLED] = "cancelled",
                [RUN_EVENT_LOST] = "lost",
        };
        Manager *m = run->manager;
        RunFields f;
        char preview[RESULT_PREVIEW_MAX + 192] = ""; /* with a batch job's files: how many, where */

        run_fields(run, &f);
        f.duration_usec = duration_usec;
        f.has_exit_status = outcome->has_exit_status;
        f.exit_status = outcome->exit_status;
        if (event != RUN_EVENT_FINISHED)
                f.stopped_by = stopped_by(run, outcome);
        /* a command's result is its stdout, stored at its output: its size says enough */
        if (outcome->result && run->entry->schedule->work == WORK_COMMAND)
                snprintf(preview, sizeof preview, "%zu bytes", outcome->result_size);
        else if (outcome->result)
                store_result(run, NULL, outcome->result, outcome->result_size, outcome->result_type, preview,
                             sizeof preview);
        for (size_t i = 0; i < outcome->n_files; i++) {
                const EngineResultFile *file = &outcome->files[i];
                char first[RESULT_PREVIEW_MAX + 1];
                store_result(run, file->name, file->data, file->size, file->type, first, sizeof first);
                if (i == 0)
                        snprintf(preview, sizeof preview, "%zu result file%s in results/%s/%s/, %.64s: %s",
                                 outcome->n_files, outcome->n_files == 1 ? "" : "s", run->entry->schedule->name,
                                 run->id, file->name, first);
        }
        _cleanup_free_ char *text = NULL; /* the record's text, for the journal and for watchers */
        int k;
        if (event == RUN_EVENT_FINISHED)
                k = asprintf(&text, "in %.3fs%s%s%s%s", (double) duration_usec / 1e6, preview[0] ? ": " : "",
                             preview, run->output_stored ? ", stored at " : "",
                             run->output_stored ? run->output_url : "");
        else {
                char after[48] = ""; /* none for a run stopped before it started */
                if (duration_usec > 0)
                        snprintf(after, sizeof after, " after %.3fs", (double) duration_usec / 1e6);
                /* and who stopped it, if someone did: the engine's message says only how */
                k = asprintf(&text, "%s%s%s%s%s", outcome->message, after, run->stop_why ? " (" : "",
                             run->stop_why ?: "", run->stop_why ? ")" : "");
        }
        if (k < 0)
                text = NULL;
        journal_run_event(m->journal, &f, event, "%s", text ?: outcome->message);

        ScheduleState *ss;
        if (state_ensure_schedule(m->state, run->entry->schedule->name, &ss) >= 0) {
                char *result = strdup(results[event]), *id = strdup(run->id);
                /* a pipeline's failure: at which step (the journal says why) */
                bool in_step = run->step && IN_SET(event, RUN_EVENT_FAILED, RUN_EVENT_TIMED_OUT);
                char *step = in_step ? strdup(run->step) : NULL;
                if (result && id && (step || !in_step)) {
                        free(ss->last_result);
                        free(ss->last_run_id);
                        free(ss->last_failed_step);
                        ss->last_result = result;
                        ss->last_run_id = id;
                        ss->last_failed_step = step;
                        ss->last_end_usec = now_usec();
                } else
                        free(result), free(id), free(step);
        }
        (void) state_remove_run(m->state, run->id);
        manager_state_changed(m);

        run_tell(run, &(const RunNews){ .kind = RUN_NEWS_END,
                                        .event = event,
                                        .result = results[event],
                                        .message = text ?: outcome->message,
                                        .has_exit_status = outcome->has_exit_status,
                                        .exit_status = outcome->exit_status,
                                        .duration_usec = duration_usec });
        run->status = RUN_ENDED;
        manager_run_ended(m, run);
}

/* Fails the attempt before it reached the engine (bad parameters, spawn errors). */
static void fail_to_start(Run *run, bool permanent, const char *message) {
        EngineOutcome outcome = { .kind = OUTCOME_FAILED, .permanent = permanent, .message = message };
        attempt_ended(run, &outcome);
}

/*
 * udfcronctl run --param: the values replace the schedule's (expanded) ones as they are, with no ${...}
 * expansion of their own: what the operator typed is what the run gets.
 */
static int params_override(cJSON *params, const char *overrides_json, char **ret_error) {
        _cleanup_(json_freep) cJSON *overrides = cJSON_Parse(overrides_json);
        if (!cJSON_IsObject(overrides) || !cJSON_IsObject(params))
                return error_message(ret_error, "the parameter overrides are not a JSON object");
        while (overrides->child) {
                cJSON *item = cJSON_DetachItemViaPointer(overrides, overrides->child);
                cJSON_DeleteItemFromObjectCaseSensitive(params, item->string);
                if (!cJSON_AddItemToObject(params, item->string, item)) {
                        cJSON_Delete(item);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* "UDF /path/x.py:udf" (with its fan-out), "Spark job nightly", the command line or the steps, for the
 * "started" record. */
static void describe_work(const Schedule *s, char **argv, char *buf, size_t size) {
        const FusedSchedule *fused = &s->fused;
        bool named = s->udf_path || fused->saved_udf;
        const char *kind = s->udf_path ? "UDF file " : fused->saved_udf ? "saved UDF " : "shared UDF ";
        size_t n = 0;
        if (s->work == WORK_PIPELINE) {
                n = (size_t) snprintf(buf, size, "%zu steps:", s->n_steps);
                for (size_t i = 0; i < s->n_steps && n < size; i++)
                        n += (size_t) snprintf(buf + n, size - n, "%s %s", i > 0 ? "," : "",
                                               s->steps[i].name);
                return;
        }
        if (strcmp(s->engine, "fused") == 0)
                /* a shared token is a credential: only its first characters */
                n = (size_t) snprintf(buf, size, "%s of %s%s%s%.*s%s",
                                      fused->mode == FUSED_MODE_BATCH ? "batch job" : "UDF run", kind,
                                      s->udf_path ?: fused->saved_udf ?: "", named ? "" : "token ",
                                      named ? 0 : 8, fused->shared_token ?: "", named ? "" : "...");
        else if (s->work == WORK_UDF)
                n = (size_t) snprintf(buf, size, "UDF %s:%s", s->udf_path, s->entrypoint);
        if (n > 0 && s->fanout.arg_list && n < size) {
                int sets = cJSON_GetArraySize(s->fanout.arg_list);
                snprintf(buf + n, size - n, " for %d argument set%s, up to %u at once", sets,
                         sets == 1 ? "" : "s", s->fanout.max_workers);
        }
        if (n > 0)
                return;
        if (s->work == WORK_SPARK_JOB) {
                snprintf(buf, size, "Spark job %s%s", s->fusion.job, s->fusion.jobs_api ? " (Jobs API)" : "");
                return;
        }
        n = (size_t) snprintf(buf, size, "%s", s->shell ? "sh -c " : "");
        for (char **a = argv; a && *a && n < size; a++)
                n += (size_t) snprintf(buf + n, size - n, "%s%s", a == argv ? "" : " ", *a);
}

/* Where the run's pipeline goes on (see pipeline_resume_point()), as its state record says: the step
 * under way when the previous daemon stopped, or the one the last attempt failed at. */
static int recorded_step(const Run *run, size_t *ret_index) {
        const Schedule *s = run->entry->schedule;
        const RunState *rs = state_find_run(run->manager->state, run->id);
        if (s->work != WORK_PIPELINE || !rs)
                return -ENOENT;
        return pipeline_resume_point(s, rs->step, rs->step_outputs, ret_index);
}

/* Starts the steps of a pipeline from `first_step` (expanding their templates through `templates`). */
static int start_pipeline(Run *run, const EngineRequest *attempt, const ParamContext *templates,
                          size_t first_step, char **ret_error) {
        static const PipelineEvents events = {
                .engine = { .output = on_output,
                            .ended = on_pipeline_ended,
                            .accepted = on_accepted,
                            .log_position = on_log_position },
                .step_starting = on_step_starting,
                .step_ended = on_step_ended,
        };
        Manager *m = run->manager;
        const RunState *rs = state_find_run(m->state, run->id);
        /* the previous daemon's Fused job: followed again by its id, or found by its name */
        bool reattach = run->resumed && run->entry->schedule->steps[first_step].kind == STEP_FUSED_JOB;
        const PipelineRequest request = {
                .attempt = attempt,
                .udf_engine = run->engine,
                .plugins = m->plugins,
                .journal = m->journal,
                .http = pipeline_has_fused_jobs(run->entry->schedule) ? manager_http_client(m) : NULL,
                .settings = &m->config->settings,
                .templates = templates,
                .first_step = first_step,
                .done_outputs = first_step > 0 && rs ? rs->step_outputs : NULL,
                .attach_job_id = reattach ? run->job_id : NULL,
                .attach_log_since_ms = reattach && run->job_id ? run->log_since_ms : 0,
                .may_have_started = reattach && !run->job_id,
        };
        return pipeline_start(m->event, &request, &events, run, &run->pipeline, ret_error);
}

/* What every credentials instance gave, in the schedule's order, as one list; NULL for none. */
static int credentials_environment_join(const Run *run, char ***ret) {
        _cleanup_(strv_freep) char **joined = NULL;
        size_t n = 0;

        for (size_t i = 0; i < run->n_credentials; i++)
                for (char **e = run->credentials[i].environment; e && *e; e++)
                        if (strv_push(&joined, &n, strdup(*e)) < 0)
                                return -ENOMEM;
        *ret = TAKE_PTR(joined);
        return 0;
}

/* The attempt's secrets and credentials are known: expands the parameters and starts the work on the engine. */
static void start_work(Run *run) {
        static const EngineEvents events = {
                .output = on_output,
                .ended = on_ended,
                .accepted = on_accepted,
                .log_position = on_log_position,
                .progress = on_progress,
                .note = on_note,
                .task_output = on_task_output,
                .task_failed = on_task_failed,
                .current_settings = on_current_settings,
        };
        Manager *m = run->manager;
        const Schedule *s = run->entry->schedule;
        _cleanup_free_ char *error = NULL, *params_json = NULL, *marker = NULL;
        _cleanup_(json_freep) cJSON *params = NULL, *arg_list = NULL;
        _cleanup_(strv_freep) char **environment = NULL;
        char **argv = NULL;
        size_t argc = 0;
        int r;

        ParamContext ctx = {
                .schedule = s->name,
                .run_id = run->id,
                .attempt = run->attempt,
                .scheduled = (int64_t) (run->slot_usec / USEC_PER_SEC),
                .now = (int64_t) (run->attempt_started_usec / USEC_PER_SEC),
                .zone = s->zone,
                .resolve_secret = resolve_secret,
                .userdata = run,
        };
        r = params_expand_json(s->params, &ctx, &params, &error);
        if (r >= 0 && run->params)
                r = params_override(params, run->params, &error);
        if (r >= 0 && !(params_json = cJSON_PrintUnformatted(params)))
                r = -ENOMEM;
        if (r >= 0 && s->fanout.arg_list_templates)
                r = params_expand_json(s->fanout.arg_list, &ctx, &arg_list, &error);
        for (char **a = s->command; r >= 0 && a && *a; a++) {
                char *arg;
                r = params_expand_string(*a, &ctx, &arg, &error);
                if (r >= 0)
                        r = strv_push(&argv, &argc, arg);
        }
        free(run->output_url);
        run->output_url = NULL;
        if (r >= 0 && s->output)
                r = params_expand_string(s->output, &ctx, &run->output_url, &error);
        if (r >= 0)
                r = credentials_environment_join(run, &environment);
        if (r < 0) {
                char message[512];
                snprintf(message, sizeof message, "parameters: %s", error ?: strerror(-r));
                strv_free(argv);
                run_lookups_free(run);
                fail_to_start(run, true, message);
                return;
        }

        bool attach = run->engine->remote && run->job_id;
        marker = run->engine->remote ? NULL : run_marker_path(run);
        EngineRequest request = {
                .schedule = s,
                .run_id = run->id,
                .attempt = run->attempt,
                .scheduled_usec = run->slot_usec,
                .params_json = params_json,
                .argv = (const char *const *) argv,
                .python = m->config->settings.python,
                .start_marker = marker,
                .working_directory = s->working_directory ?: m->config->settings.state_directory,
                .credentials_environment = (const char *const *) environment,
                .stdout_is_result = s->work == WORK_COMMAND && s->output,
                .arg_list = arg_list ?: s->fanout.arg_list,
                .templates = &ctx,
                .started_usec = run->attempt_started_usec,
                /* (the schedule's own engine: a fan-out's tasks may run on a remote one) */
                .http = engine_find(s->engine)->remote ? manager_http_client(m) : NULL,
                .settings = &m->config->settings,
                .attach_job_id = attach ? run->job_id : NULL,
                .attach_log_since_ms = attach ? run->log_since_ms : 0,
                .may_have_started = run->engine->remote && run->resumed && !run->job_id,
        };
        /* a pipeline expands its steps' templates as it starts, while the secrets are at hand: one that
         * cannot be expanded fails the attempt before it started, as the schedule's own templates do */
        size_t first_step = 0; /* unless the record says where it goes on */
        (void) recorded_step(run, &first_step);
        int started = s->work == WORK_PIPELINE ? start_pipeline(run, &request, &ctx, first_step, &error) : 0;
        if (started == -EINVAL) {
                char message[512];
                snprintf(message, sizeof message, "parameters: %s", error ?: strerror(-started));
                strv_free(argv);
                run_lookups_free(run);
                fail_to_start(run, true, message);
                return;
        }

        char what[512];
        if (attach)
                snprintf(what, sizeof what, "re-attached to job %s", run->job_id);
        else
                describe_work(s, argv, what, sizeof what);
        if (first_step > 0) {
                size_t n = strlen(what);
                snprintf(what + n, sizeof what - n, "; going on at step %zu/%zu '%s'", first_step + 1,
                         s->n_steps, s->steps[first_step].name);
        }
        RunFields f;
        run_fields(run, &f);
        journal_run_event(m->journal, &f, RUN_EVENT_STARTED, "%s", what);
        run_tell(run,
                 &(const RunNews){ .kind = RUN_NEWS_EVENT, .event = RUN_EVENT_STARTED, .message = what });

        r = s->work == WORK_PIPELINE
                    ? started
                    : run->engine->start(m->event, &request, &events, run, &run->engine_run);
        /* the secrets' values live on only in the expansions (the engine's too); a pipeline's steps start
         * later */
        if (s->work != WORK_PIPELINE || r < 0)
                run_lookups_free(run);
        strv_free(argv);
        if (IN_SET(r, -EMFILE, -ENFILE, -EAGAIN)) {
                /* the machine is out of descriptors or processes, the run did nothing wrong: wait */
                journal_log(m->journal, LOG_WARNING, "%s %s: cannot start now (%s); trying again shortly",
                            s->name, run->id, strerror(-r));
                run->status = RUN_WAITING;
                manager_requeue(m, run);
                return;
        }
        if (r < 0) {
                char message[256];
                snprintf(message, sizeof message, "cannot start: %s", strerror(-r));
                fail_to_start(run, false, message);
                return;
        }

        RunState *rs = state_find_run(m->state, run->id);
        if (rs) {
                rs->phase = RUN_PHASE_RUNNING;
                rs->started_usec = run->attempt_started_usec;
                manager_state_changed(m);
        }
}

/* Every lookup answered: the work starts, or the attempt fails on the first secret or credentials
 * instance that failed. A secret no provider knows stays unknown, and an instance gone from the
 * configuration stays gone; a provider or an instance that failed otherwise may work next time. */
static void lookups_done(Run *run) {
        char message[512] = "";
        bool permanent = false;

        for (size_t i = 0; i < run->n_secrets && !message[0]; i++) {
                const RunSecret *rs = &run->secrets[i];
                if (rs->error >= 0)
                        continue;
                snprintf(message, sizeof message, "parameters: secret '%s': %s", rs->name,
                         strerror(-rs->error));
                permanent = IN_SET(rs->error, -ENOENT, -EINVAL);
        }
        for (size_t i = 0; i < run->n_credentials && !message[0]; i++) {
                const RunCredentials *rc = &run->credentials[i];
                if (rc->error >= 0)
                        continue;
                snprintf(message, sizeof message, "credentials '%s': %s", rc->name, strerror(-rc->error));
                permanent = IN_SET(rc->error, -ENOENT, -EINVAL, -ENXIO);
        }
        if (message[0]) {
                run_lookups_free(run);
                fail_to_start(run, permanent, message);
                return;
        }
        start_work(run);
}

static void lookup_answered(Run *run) {
        if (--run->n_lookups_pending == 0)
                lookups_done(run);
}

static void on_secret(void *userdata, int error, const char *value) {
        RunSecret *rs = userdata;

        rs->call = NULL;
        rs->error = error;
        if (error >= 0 && !(rs->value = strdup(value)))
                rs->error = -ENOMEM;
        lookup_answered(rs->run);
}

/* Looks up each of `names` (taken) through the secrets providers. */
static int lookup_secrets(Run *run, char **names, size_t n) {
        if (n == 0)
                return 0;
        if (!(run->secrets = calloc(n, sizeof(RunSecret))))
                return -ENOMEM;
        run->n_secrets = n;
        for (size_t i = 0; i < n; i++)
                run->secrets[i] = (RunSecret){ .run = run, .name = TAKE_PTR(names[i]) };
        for (size_t i = 0; i < n; i++) {
                RunSecret *rs = &run->secrets[i];
                int r = secrets_lookup(run->manager->plugins, NULL, rs->name, on_secret, rs, &rs->call);
                if (r < 0)
                        rs->error = r;
                else
                        run->n_lookups_pending++;
        }
        return 0;
}

static void on_credentials_environment(void *userdata, int error, const char *const *environment) {
        RunCredentials *rc = userdata;
        size_t n = 0;

        rc->call = NULL;
        rc->error = error;
        for (const char *const *e = environment; rc->error >= 0 && e && *e; e++)
                if (strv_push(&rc->environment, &n, strdup(*e)) < 0)
                        rc->error = -ENOMEM;
        lookup_answered(rc->run);
}

/* Asks each credentials instance the schedule names for the environment of this attempt. */
static int lookup_credentials(Run *run) {
        const Schedule *s = run->entry->schedule;
        size_t n = 0;

        for (char **c = s->credentials; c && *c; c++)
                n++;
        if (n == 0)
                return 0;
        if (!(run->credentials = calloc(n, sizeof(RunCredentials))))
                return -ENOMEM;
        run->n_credentials = n;
        const struct udfcron_run_info info = {
                .schedule = s->name,
                .run_id = run->id,
                .attempt = run->attempt,
                .scheduled_usec = run->slot_usec,
                .engine = run->engine->name,
        };
        for (size_t i = 0; i < n; i++) {
                RunCredentials *rc = &run->credentials[i];
                *rc = (RunCredentials){ .run = run, .name = s->credentials[i] };
                int r = credentials_environment(run->manager->plugins, rc->name, &info,
                                                on_credentials_environment, rc, &rc->call);
                if (r < 0)
                        rc->error = r;
                else
                        run->n_lookups_pending++;
        }
        return 0;
}

void run_start_attempt(Run *run) {
        const Schedule *s = run->entry->schedule;
        _cleanup_free_ char **names = NULL; /* the strings go to run->secrets */
        size_t n = 0;

        run->status = RUN_RUNNING;
        run->engine = engine_for_schedule(s); /* a reload may have added or removed a fan-out since */
        if (!run->resumed || run->attempt_started_usec == 0)
                run->attempt_started_usec = now_usec(); /* a re-attached attempt keeps its recorded start */
        run->output_stored = false;
        run->step = NULL;

        int r = params_collect_secrets_json(s->params, &names, &n);
        if (r >= 0 && s->fanout.arg_list_templates)
                r = params_collect_secrets_json(s->fanout.arg_list, &names, &n);
        for (char **a = s->command; r >= 0 && a && *a; a++)
                r = params_collect_secrets(*a, &names, &n);
        if (r >= 0)
                r = pipeline_collect_secrets(s, &run->manager->config->settings, &names, &n);
        if (r >= 0 && run->engine->collect_secrets)
                r = run->engine->collect_secrets(s, &run->manager->config->settings, &names, &n);
        if (r >= 0)
                r = lookup_secrets(run, names, n);
        if (r >= 0)
                r = lookup_credentials(run);
        if (r < 0) {
                if (!run->secrets)
                        for (size_t i = 0; i < n; i++)
                                free(names[i]);
                run_lookups_free(run);
                char message[256];
                snprintf(message, sizeof message, "cannot look up secrets and credentials: %s", strerror(-r));
                fail_to_start(run, false, message);
                return;
        }
        if (run->n_lookups_pending == 0) /* nothing to look up, or every lookup failed at once */
                lookups_done(run);
}

const EngineRun *run_fanout(const Run *run) {
        return run->engine == &engine_fanout ? run->engine_run : NULL;
}

void run_cancel(Run *run, const char *by, const char *why) {
        const char *how = "cancelled before it started";

        if (!run->stopped_by) { /* the first cause stays (a shutdown while a cancel is under way) */
                run->stopped_by = by;
                run->stop_why = strdup(why); /* (no memory: the end says less) */
        }
        switch (run->status) {
        case RUN_RUNNING:
                journal_log(run->manager->journal, LOG_NOTICE, "%s %s: stopping: %s",
                            run->entry->schedule->name, run->id, why);
                if (run->engine_run) {
                        (void) run->engine->cancel(run->engine_run);
                        return; /* the engine reports the end */
                }
                if (run->pipeline) {
                        pipeline_cancel(run->pipeline);
                        return; /* likewise */
                }
                /* looking up its secrets and credentials, or storing its output: nothing to wait for */
                run_lookups_free(run);
                run->store = run_store_free(run->store);
                EngineOutcome cancelled = { .kind = OUTCOME_CANCELLED, .message = "cancelled" };
                attempt_ended(run, &cancelled);
                return;
        case RUN_WAITING:
                (void) manager_unqueue(run->manager, run);
                break;
        case RUN_RETRY_WAIT:
                run->retry_timer = sd_event_source_disable_unref(run->retry_timer);
                how = "cancelled while it waited for a retry";
                break;
        case RUN_ENDED:
                return;
        }
        EngineOutcome outcome = { .kind = OUTCOME_CANCELLED, .message = how };
        run_end(run, RUN_EVENT_CANCELLED, &outcome, 0);
}

void run_lost(Run *run) {
        const Schedule *s = run->entry->schedule;
        const char *why = "the daemon stopped while it ran; its output and result are lost";
        char message[512];
        size_t i;

        snprintf(message, sizeof message, "%s", why);
        if (recorded_step(run, &i) >= 0) { /* a pipeline's step: the retry goes on from it */
                run->step = s->steps[i].name;
                snprintf(message, sizeof message, "step %zu/%zu '%s': %s", i + 1, s->n_steps, run->step,
                         why);
        }
        EngineOutcome outcome = { .kind = OUTCOME_LOST, .message = message };
        run->status = RUN_RETRY_WAIT; /* holds no concurrency slot */
        attempt_ended(run, &outcome);
}

bool run_goes_on_at_step(const Run *run) {
        const Schedule *s = run->entry->schedule;
        _cleanup_free_ char *marker = NULL, *step_marker = NULL;
        size_t i;

        if (recorded_step(run, &i) < 0)
                return false;
        if (s->steps[i].kind == STEP_FUSED_JOB)
                return true;
        if (!(marker = run_marker_path(run)) || !(step_marker = pipeline_step_marker(marker, &s->steps[i])))
                return false;
        return access(step_marker, F_OK) < 0 && errno == ENOENT;
}

void run_detach(Run *run) {
        Manager *m = run->manager;
        journal_log(m->journal, LOG_NOTICE,
                    "%s %s: job %s runs on without the daemon; the next start follows it again",
                    run->entry->schedule->name, run->id, run->job_id);
        if (run->status == RUN_RUNNING)
                manager_attempt_done(m, run);
        run_free(run); /* its engine run is freed, not cancelled; its record stays in the state */
}
