/* SPDX-License-Identifier: MIT */
/*
 * The control socket's commands. list and status are snapshots written
 * straight from the manager's entries and state (both sorted by name, so one
 * merge pass pairs them); the other commands go through the manager's small
 * request functions. Replies are written front to back (json-writer.h): a
 * list of 10,000 schedules never becomes a tree of objects first.
 */
#include "control-commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fanout.h"
#include "json-util.h"
#include "strv.h"
#include "timestamp.h"

#define NEXT_FIRES 5

static const char *const run_status_names[] = {
        [RUN_WAITING] = "waiting",
        [RUN_RUNNING] = "running",
        [RUN_RETRY_WAIT] = "retry_wait",
        [RUN_ENDED] = "ended",
};

void control_reply_error(JsonWriter *w, ControlError code, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        json_object_begin(w);
        json_key_bool(w, "ok", false);
        json_key(w, "error");
        json_object_begin(w);
        json_key_string(w, "code", control_error_to_string(code));
        json_key_string(w, "message", message ?: "out of memory");
        json_object_end(w);
        json_object_end(w);
}

static void reply_ok_begin(JsonWriter *w) {
        json_object_begin(w);
        json_key_bool(w, "ok", true);
}

/* An instant as ISO-8601 in a zone, or null. */
static void write_time(JsonWriter *w, const char *key, uint64_t usec, const TzZone *zone) {
        char ts[TIMESTAMP_MAX];
        int64_t t = (int64_t) (usec / USEC_PER_SEC);
        json_key(w, key);
        if (usec == 0)
                json_null(w);
        else
                json_string(w, timestamp_format(t, tz_offset_at(zone, t), ts));
}

static void write_usec_or_null(JsonWriter *w, const char *key, uint64_t usec) {
        json_key(w, key);
        if (usec == 0)
                json_null(w);
        else
                json_u64(w, usec);
}

static const char *entry_state_name(const Entry *e, const ScheduleState *ss) {
        return !e->schedule->enabled ? "disabled" : ss && ss->paused ? "paused" : "enabled";
}

static uint64_t next_slot_usec(const Entry *e) {
        return e->has_next ? (uint64_t) e->next.at * USEC_PER_SEC : 0;
}

/* The state records of the entries, in the entries' order: both lists are sorted by name. */
static void pair_states(const Manager *m, const ScheduleState **ret) {
        const State *st = m->state;
        size_t j = 0;
        for (size_t i = 0; i < m->n_entries; i++) {
                const char *name = m->entries[i]->schedule->name;
                int c = -1;
                while (j < st->n_schedules && (c = strcmp(st->schedules[j].name, name)) < 0)
                        j++;
                ret[i] = j < st->n_schedules && c == 0 ? &st->schedules[j] : NULL;
        }
}

static size_t entry_index(const Manager *m, const Entry *e) {
        size_t lo = 0, hi = m->n_entries;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(m->entries[mid]->schedule->name, e->schedule->name);
                if (c == 0)
                        return m->entries[mid] == e ? mid : SIZE_MAX;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return SIZE_MAX; /* a schedule a reload removed, whose runs finish */
}

static void write_last(JsonWriter *w, const ScheduleState *ss) {
        json_key_string(w, "last_result", ss ? ss->last_result : NULL);
        json_key_string(w, "last_run_id", ss ? ss->last_run_id : NULL);
        json_key_string(w, "last_failed_step", ss ? ss->last_failed_step : NULL);
        write_usec_or_null(w, "last_end_usec", ss ? ss->last_end_usec : 0);
}

static void write_brief(JsonWriter *w, const Entry *e, const ScheduleState *ss, unsigned running) {
        const Schedule *s = e->schedule;
        uint64_t next = next_slot_usec(e);

        json_key_string(w, "name", s->name);
        json_key_string(w, "cron", s->cron_text);
        json_key_string(w, "timezone", tz_zone_name(s->zone));
        json_key_string(w, "state", entry_state_name(e, ss));
        json_key_bool(w, "enabled", s->enabled);
        json_key_bool(w, "paused", ss && ss->paused);
        write_usec_or_null(w, "next_usec", next);
        write_time(w, "next", next, s->zone);
        json_key_bool(w, "skip_next", next != 0 && ss && ss->skip_slot_usec == next);
        write_last(w, ss);
        json_key_u64(w, "active", e->n_active);
        json_key_u64(w, "running", running);
}

static void reply_list(ControlCall *call) {
        const Manager *m = call->manager;
        JsonWriter *w = call->reply;
        _cleanup_free_ const ScheduleState **states = calloc(m->n_entries + 1, sizeof *states);
        _cleanup_free_ unsigned *running = calloc(m->n_entries + 1, sizeof *running);

        if (!states || !running)
                return control_reply_error(w, CONTROL_ERROR_FAILED, "out of memory");
        pair_states(m, states);
        for (const Run *run = m->runs; run; run = run->next) {
                size_t i = run->status == RUN_RUNNING ? entry_index(m, run->entry) : SIZE_MAX;
                if (i != SIZE_MAX)
                        running[i]++;
        }

        reply_ok_begin(w);
        json_key_u64(w, "now_usec", now_usec());
        json_key(w, "schedules");
        json_array_begin(w);
        for (size_t i = 0; i < m->n_entries; i++) {
                json_object_begin(w);
                write_brief(w, m->entries[i], states[i], running[i]);
                json_object_end(w);
        }
        json_array_end(w);
        json_object_end(w);
}

/* The current plugin instances, in configuration order; never their options (they may hold credentials). */
static void write_plugins(JsonWriter *w, const PluginHost *h) {
        const PluginInstance *i;
        json_key(w, "plugins");
        json_array_begin(w);
        for (size_t n = 0; (i = plugin_host_current(h, n)); n++) {
                const Plugin *p = plugin_instance_plugin(i);
                const char *const *schemes = plugin_storage_schemes(p);
                char abi[24];

                snprintf(abi, sizeof abi, "%" PRIu32 ".%" PRIu32, p->descriptor->abi_major,
                         p->descriptor->abi_minor);
                json_object_begin(w);
                json_key_string(w, "name", plugin_instance_name(i));
                json_key_string(w, "kind", plugin_kind_to_string(plugin_instance_kind(i)));
                json_key_string(w, "plugin", p->name);
                json_key_string(w, "path", p->path);
                json_key_string(w, "abi", abi);
                json_key_string(w, "description", p->descriptor->description);
                if (schemes) {
                        json_key(w, "schemes");
                        json_array_begin(w);
                        for (const char *const *scheme = schemes; *scheme; scheme++)
                                json_string(w, *scheme);
                        json_array_end(w);
                }
                json_object_end(w);
        }
        json_array_end(w);
}

static void reply_daemon_status(ControlCall *call) {
        const Manager *m = call->manager;
        const DaemonSettings *set = &m->config->settings;
        JsonWriter *w = call->reply;
        size_t enabled = 0, paused = 0, active = 0;
        uint64_t now = now_usec();
        _cleanup_free_ const ScheduleState **states = calloc(m->n_entries + 1, sizeof *states);

        if (!states)
                return control_reply_error(w, CONTROL_ERROR_FAILED, "out of memory");
        pair_states(m, states);
        for (size_t i = 0; i < m->n_entries; i++) {
                enabled += m->entries[i]->schedule->enabled;
                paused += states[i] && states[i]->paused;
        }
        for (const Run *run = m->runs; run; run = run->next)
                active++;

        reply_ok_begin(w);
        json_key_string(w, "version", UDFCRON_VERSION);
        json_key_u64(w, "pid", (uint64_t) getpid());
        json_key_u64(w, "now_usec", now);
        json_key_u64(w, "started_usec", m->started_usec);
        json_key_u64(w, "uptime_usec", now > m->started_usec ? now - m->started_usec : 0);
        json_key_string(w, "config", m->config->path);
        json_key(w, "config_files");
        json_array_begin(w);
        for (char **f = m->config->files; f && *f; f++)
                json_string(w, *f);
        json_array_end(w);
        json_key_string(w, "state_file", m->state_path);
        json_key_string(w, "control_socket", set->control_socket);
        write_plugins(w, m->plugins);
        json_key_u64(w, "schedules", m->n_entries);
        json_key_u64(w, "enabled", enabled);
        json_key_u64(w, "paused", paused);
        json_key_u64(w, "runs_active", active);
        json_key_u64(w, "runs_running", m->n_running);
        json_key_u64(w, "runs_waiting", m->n_waiting);
        json_key_u64(w, "max_concurrent_runs", set->max_concurrent_runs);
        json_key_bool(w, "stopping", m->stopping);

        const PrioqItem *top = prioq_peek(&m->due);
        json_key(w, "next");
        if (top && !m->stopping) {
                const Entry *e = prioq_entry(top, Entry, due);
                json_object_begin(w);
                json_key_string(w, "schedule", e->schedule->name);
                json_key_u64(w, "usec", next_slot_usec(e));
                write_time(w, "time", next_slot_usec(e), e->schedule->zone);
                json_object_end(w);
        } else
                json_null(w);
        json_object_end(w);
}

static void write_policy(JsonWriter *w, const RunPolicy *p) {
        char catch_up[64];
        json_object_begin(w);
        json_key_string(w, "overlap", overlap_policy_to_string(p->overlap));
        json_key_string(w, "catch_up", catch_up_to_string(&p->catch_up, catch_up, sizeof catch_up));
        json_key_u64(w, "jitter_usec", p->jitter_usec);
        json_key_u64(w, "timeout_usec", p->timeout_usec);
        json_key_u64(w, "kill_grace_usec", p->kill_grace_usec);
        json_key_u64(w, "retries", p->retries);
        json_key_u64(w, "retry_backoff_usec", p->retry_backoff_usec);
        json_key_u64(w, "retry_backoff_max_usec", p->retry_backoff_max_usec);
        json_key_string(w, "dst", cron_dst_policy_to_string(p->dst));
        json_object_end(w);
}

/* The work, without values that may be credentials: parameter and environment values are left out. */
static void write_work(JsonWriter *w, const Schedule *s) {
        json_key_string(w, "engine", s->engine);
        json_key_string(w, "work",
                        s->work == WORK_PIPELINE ? "steps"
                        : s->work == WORK_UDF    ? "udf"
                                                 : "command");
        if (s->work == WORK_PIPELINE) {
                json_key(w, "steps");
                json_array_begin(w);
                for (size_t i = 0; i < s->n_steps; i++) {
                        json_object_begin(w);
                        json_key_string(w, "name", s->steps[i].name);
                        json_key_string(w, "type", s->steps[i].type);
                        json_object_end(w);
                }
                json_array_end(w);
        } else if (s->work == WORK_UDF) {
                json_key_string(w, "udf", s->udf_path);
                json_key_string(w, "entrypoint", s->entrypoint);
        } else {
                json_key(w, "command");
                json_array_begin(w);
                for (char **a = s->command; a && *a; a++)
                        json_string(w, *a);
                json_array_end(w);
                json_key_bool(w, "shell", s->shell);
        }
        json_key(w, "param_names");
        json_array_begin(w);
        for (const cJSON *p = s->params ? s->params->child : NULL; p; p = p->next)
                json_string(w, p->string);
        json_array_end(w);
        json_key(w, "environment_names");
        json_array_begin(w);
        for (char **e = s->environment; e && *e; e++)
                json_string_len(w, *e, strcspn(*e, "="));
        json_array_end(w);
        json_key_string(w, "working_directory", s->working_directory);
        if (s->fanout.arg_list) {
                json_key(w, "fanout");
                json_object_begin(w);
                json_key_u64(w, "argument_sets", (uint64_t) cJSON_GetArraySize(s->fanout.arg_list));
                json_key_u64(w, "max_workers", s->fanout.max_workers);
                json_key_u64(w, "max_retry", s->fanout.max_retry);
                json_key_bool(w, "ignore_exceptions", s->fanout.ignore_exceptions);
                json_key_string(w, "collect", collect_format_names[s->fanout.collect]);
                json_object_end(w);
        }
}

static void write_next_fires(JsonWriter *w, const Entry *e, const ScheduleState *ss) {
        const Schedule *s = e->schedule;
        CronFire f = e->next;
        json_key(w, "next_fires");
        json_array_begin(w);
        for (unsigned i = 0; e->has_next && i < NEXT_FIRES; i++) {
                uint64_t usec = (uint64_t) f.at * USEC_PER_SEC;
                json_object_begin(w);
                json_key_u64(w, "usec", usec);
                write_time(w, "time", usec, s->zone);
                if (f.flags & CRON_FIRE_DST_GAP)
                        json_key_string(w, "dst", "gap");
                else if (f.flags & CRON_FIRE_DST_REPEAT)
                        json_key_string(w, "dst", "repeat");
                json_key_bool(w, "skipped", ss && (ss->paused || ss->skip_slot_usec == usec));
                json_object_end(w);
                if (cron_next(&s->cron, s->zone, f.at, &f) < 0)
                        break;
        }
        json_array_end(w);
}

/* The tasks of a fan-out attempt listed one by one: those a reader looks for, not every one of 100000. */
#define TASKS_LISTED_MAX 100

/*
 * A fan-out attempt's tasks: how many are in each state, then those running, waiting for a retry or
 * failed (the others are pending or done, and the counts say enough of them).
 */
static void write_tasks(JsonWriter *w, const EngineRun *fanout) {
        size_t counts[_TASK_STATE_MAX], listed = 0, more = 0;

        fanout_counts(fanout, counts);
        json_key(w, "task_counts");
        json_object_begin(w);
        for (TaskState s = 0; s < _TASK_STATE_MAX; s++)
                json_key_u64(w, task_state_to_string(s), counts[s]);
        json_object_end(w);

        json_key(w, "tasks");
        json_array_begin(w);
        for (size_t i = 0; i < fanout_n_tasks(fanout); i++) {
                TaskInfo t;
                if (fanout_task_info(fanout, i, &t) < 0 || t.state == TASK_SUCCEEDED ||
                    (t.state == TASK_PENDING && t.attempts == 0))
                        continue;
                if (listed++ >= TASKS_LISTED_MAX) {
                        more++;
                        continue;
                }
                json_object_begin(w);
                json_key_u64(w, "task", i);
                json_key_string(w, "state", task_state_to_string(t.state));
                json_key_u64(w, "attempts", t.attempts);
                json_key_string(w, "error", t.error);
                json_object_end(w);
        }
        json_array_end(w);
        if (more > 0)
                json_key_u64(w, "tasks_not_listed", more);
}

static void write_runs(JsonWriter *w, const Manager *m, const Entry *e) {
        json_key(w, "runs");
        json_array_begin(w);
        for (const Run *run = m->runs; run; run = run->next) {
                if (run->entry != e)
                        continue;
                json_object_begin(w);
                json_key_string(w, "run_id", run->id);
                json_key_string(w, "status", run_status_names[run->status]);
                json_key_u64(w, "attempt", run->attempt);
                json_key_bool(w, "manual", run->manual);
                write_usec_or_null(w, "slot_usec", run->slot_usec);
                write_usec_or_null(w, "started_usec",
                                   run->status == RUN_RUNNING ? run->attempt_started_usec : 0);
                json_key_string(w, "job_id", run->job_id);
                if (run->tasks_total > 0) {
                        json_key_u64(w, "tasks_finished", run->tasks_finished);
                        json_key_u64(w, "tasks_total", run->tasks_total);
                }
                if (run_fanout(run))
                        write_tasks(w, run_fanout(run));
                json_object_end(w);
        }
        json_array_end(w);
}

static void reply_schedule_status(ControlCall *call, const Entry *e) {
        const Manager *m = call->manager;
        const Schedule *s = e->schedule;
        const ScheduleState *ss = state_find_schedule(m->state, s->name);
        JsonWriter *w = call->reply;
        unsigned running = 0;

        for (const Run *run = m->runs; run; run = run->next)
                running += run->entry == e && run->status == RUN_RUNNING;

        reply_ok_begin(w);
        json_key_u64(w, "now_usec", now_usec());
        json_key(w, "schedule");
        json_object_begin(w);
        write_brief(w, e, ss, running);
        json_key_string(w, "file", s->file);
        json_key_u64(w, "line", s->line);
        write_usec_or_null(w, "skip_slot_usec", ss ? ss->skip_slot_usec : 0);
        write_usec_or_null(w, "last_slot_usec", ss ? ss->last_slot_usec : 0);
        json_key_u64(w, "jitter_offset_usec", e->jitter_usec);
        write_work(w, s);
        json_key(w, "policy");
        write_policy(w, &s->policy);
        write_next_fires(w, e, ss);
        write_runs(w, m, e);
        json_object_end(w);
        json_object_end(w);
}

static Entry *find_entry_or_reply(ControlCall *call) {
        Entry *e = manager_find_entry(call->manager, call->request->schedule);
        if (!e)
                control_reply_error(call->reply, CONTROL_ERROR_NOT_FOUND, "no schedule '%s'",
                                    call->request->schedule);
        return e;
}

static void reply_run(ControlCall *call, Entry *e) {
        const Engine *engine = engine_for_schedule(e->schedule);
        const char *refusal = NULL;
        Run *run;

        if (call->request->params && engine && engine->no_params)
                return control_reply_error(call->reply, CONTROL_ERROR_CONFLICT,
                                           "%s runs on engine \"%s\", whose runs take no parameters: run it "
                                           "without --param",
                                           e->schedule->name, engine->name);
        int r = manager_run_now(call->manager, e, call->request->params, &run, &refusal);
        if (r == -EBUSY)
                return control_reply_error(call->reply, CONTROL_ERROR_CONFLICT, "%s: %s", e->schedule->name,
                                           refusal);
        if (r == -ESHUTDOWN)
                return control_reply_error(call->reply, CONTROL_ERROR_STOPPING, "the daemon is stopping");
        if (r < 0)
                return control_reply_error(call->reply, CONTROL_ERROR_FAILED, "cannot start a run of %s: %s",
                                           e->schedule->name, strerror(-r));
        reply_ok_begin(call->reply);
        json_key_string(call->reply, "schedule", e->schedule->name);
        json_key_string(call->reply, "run_id", run->id);
        json_key_bool(call->reply, "queued", r > 0);
        json_object_end(call->reply);
        if (call->request->wait)
                call->follow = run;
}

static void reply_skip(ControlCall *call, Entry *e) {
        uint64_t slot = 0;
        int r = manager_skip_next(call->manager, e, &slot);
        if (r == -ENOENT)
                return control_reply_error(call->reply, CONTROL_ERROR_CONFLICT,
                                           "%s has no next fire (it is disabled, or its expression has no "
                                           "more fire times)",
                                           e->schedule->name);
        if (r < 0 && slot == 0)
                return control_reply_error(call->reply, CONTROL_ERROR_FAILED, "cannot skip: %s",
                                           strerror(-r));
        if (r < 0)
                return control_reply_error(
                        call->reply, CONTROL_ERROR_FAILED,
                        "the skip holds, but the state file cannot be written (%s): it is "
                        "lost if the daemon stops before that fire",
                        strerror(-r));
        reply_ok_begin(call->reply);
        json_key_string(call->reply, "schedule", e->schedule->name);
        json_key_u64(call->reply, "skipped_usec", slot);
        write_time(call->reply, "skipped", slot, e->schedule->zone);
        json_object_end(call->reply);
}

static void reply_pause(ControlCall *call, Entry *e, bool pause) {
        int r = manager_set_paused(call->manager, e, pause);
        if (r == -ENOMEM)
                return control_reply_error(call->reply, CONTROL_ERROR_FAILED, "out of memory");
        if (r < 0)
                return control_reply_error(call->reply, CONTROL_ERROR_FAILED,
                                           "%s is %s, but the state file cannot be written (%s): this lasts "
                                           "only until the daemon stops",
                                           e->schedule->name, pause ? "paused" : "resumed", strerror(-r));
        reply_ok_begin(call->reply);
        json_key_string(call->reply, "schedule", e->schedule->name);
        json_key_bool(call->reply, "paused", pause);
        json_key_bool(call->reply, "changed", r > 0);
        json_object_end(call->reply);
}

/*
 * "udfcronctl cancel by uid 1000, pid 4242": who asked, for the run's end. The uid stays a number: its
 * name would need the user database, and with LDAP or sssd behind NSS that lookup may block the loop.
 */
static void describe_canceller(const ControlCall *call, char *buf, size_t size) {
        snprintf(buf, size, "udfcronctl cancel by uid %u, pid %d", (unsigned) call->uid, (int) call->pid);
}

static void reply_cancel(ControlCall *call) {
        Run *run = manager_find_run(call->manager, call->request->run_id);
        char why[128], schedule[SCHEDULE_NAME_MAX + 1];

        if (!run)
                return control_reply_error(call->reply, CONTROL_ERROR_NOT_FOUND,
                                           "no run '%s' in flight (udfcronctl status SCHEDULE lists them)",
                                           call->request->run_id);
        /* the run may end and be freed right away: what the reply needs is copied first */
        const char *was = run_status_names[run->status];
        snprintf(schedule, sizeof schedule, "%s", run->entry->schedule->name);
        describe_canceller(call, why, sizeof why);
        run_cancel(run, "udfcronctl", why);
        reply_ok_begin(call->reply);
        json_key_string(call->reply, "run_id", call->request->run_id);
        json_key_string(call->reply, "schedule", schedule);
        json_key_string(call->reply, "was", was);
        json_object_end(call->reply);
}

static void reply_reload(ControlCall *call) {
        Manager *m = call->manager;
        _cleanup_(strv_freep) char **errors = NULL;
        JsonWriter *w = call->reply;
        int r = manager_reload(m, &errors);

        if (r == -EINVAL) {
                size_t n = 0;
                while (errors && errors[n])
                        n++;
                json_object_begin(w);
                json_key_bool(w, "ok", false);
                json_key(w, "error");
                json_object_begin(w);
                json_key_string(w, "code", control_error_to_string(CONTROL_ERROR_INVALID_CONFIG));
                json_key_string(w, "message", "the new configuration has errors; the running one stays");
                json_object_end(w);
                json_key(w, "errors");
                json_array_begin(w);
                for (size_t i = 0; i < n; i++)
                        json_string(w, errors[i]);
                json_array_end(w);
                json_object_end(w);
                return;
        }
        if (r < 0)
                return control_reply_error(w, CONTROL_ERROR_FAILED, "cannot load %s: %s", m->config_path,
                                           strerror(-r));
        reply_ok_begin(w);
        json_key_u64(w, "schedules", m->n_entries);
        json_object_end(w);
}

void control_call(ControlCall *call) {
        const ControlRequest *req = call->request;
        Entry *e = NULL;

        if (req->schedule && !(e = find_entry_or_reply(call)))
                return;
        switch (req->command) {
        case CONTROL_LIST:
                return reply_list(call);
        case CONTROL_STATUS:
                return e ? reply_schedule_status(call, e) : reply_daemon_status(call);
        case CONTROL_RUN:
                return reply_run(call, e);
        case CONTROL_SKIP:
                return reply_skip(call, e);
        case CONTROL_PAUSE:
        case CONTROL_RESUME:
                return reply_pause(call, e, req->command == CONTROL_PAUSE);
        case CONTROL_CANCEL:
                return reply_cancel(call);
        case CONTROL_RELOAD:
                return reply_reload(call);
        default:
                return control_reply_error(call->reply, CONTROL_ERROR_BAD_REQUEST, "unknown command");
        }
}

/* ------------------------------------------------------------------ events */

void control_write_news(JsonWriter *w, const Run *run, const RunNews *n) {
        json_object_begin(w);
        switch (n->kind) {
        case RUN_NEWS_OUTPUT:
                json_key_string(w, "event", "log");
                json_key_string(w, "stream", n->is_stderr ? "stderr" : "stdout");
                if (n->has_task)
                        json_key_u64(w, "task", n->task);
                json_key(w, "line");
                json_string_len(w, n->data, n->size);
                if (n->partial)
                        json_key_bool(w, "partial", true);
                json_object_end(w);
                return;
        case RUN_NEWS_PROGRESS:
                json_key_string(w, "event", "progress");
                json_key_string(w, "run_id", run->id);
                json_key_u64(w, "attempt", n->attempt);
                json_key_u64(w, "finished", n->tasks_finished);
                json_key_u64(w, "total", n->tasks_total);
                json_object_end(w);
                return;
        case RUN_NEWS_EVENT:
                json_key_string(w, "event", run_event_to_string(n->event));
                break;
        case RUN_NEWS_END:
                json_key_string(w, "event", n->result ? "end" : "detached");
                break;
        }
        json_key_string(w, "run_id", run->id);
        json_key_u64(w, "attempt", n->attempt);
        if (n->result)
                json_key_string(w, "result", n->result);
        json_key_string(w, "message", n->message);
        if (n->has_exit_status) {
                json_key(w, "exit_status");
                json_i64(w, n->exit_status);
        }
        if (n->duration_usec)
                json_key_u64(w, "duration_usec", n->duration_usec);
        if (n->next_usec)
                json_key_u64(w, "next_usec", n->next_usec);
        json_object_end(w);
}

void control_write_dropped(JsonWriter *w, uint64_t lines) {
        json_object_begin(w);
        json_key_string(w, "event", "dropped");
        json_key_u64(w, "lines", lines);
        json_object_end(w);
}
