/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: entries in a heap by next fire, one CLOCK_REALTIME timer for
 * the earliest, and the policies that decide what a fire becomes (overlap,
 * catch-up, pause/skip, concurrency). Zero wake-ups while nothing is due.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "clock.h"
#include "fileio.h"
#include "http.h"
#include "manager.h"
#include "timestamp.h"

/* A fire later than this after its slot is treated as missed: the catch-up policy decides. */
#define LATE_USEC (60 * USEC_PER_SEC)
/* Catch-up runs after downtime start at most this often, so a restart does not start everything at once. */
#define CATCH_UP_SPACING_USEC (100 * 1000)
/* catch_up = all keeps at most this many missed slots per schedule. */
#define CATCH_UP_ALL_MAX 1000
/*
 * An on-time slot's run is recorded this long before the slot (see prepare_slot()), so that the state file
 * is on disk when the slot comes and the run starts at once. More than a slow save of a big state takes;
 * less than a second, the shortest interval between two slots of a schedule.
 */
#define PREPARE_LEAD_USEC (500 * 1000)

/* ------------------------------------------------------------------ entries */

/* FNV-1a: a stable per-schedule jitter, the same every day and different between schedules. */
static uint64_t name_hash(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(0x100000001b3);
        return h;
}

static Entry *entry_new(Manager *m, Schedule *s) {
        Entry *e = calloc(1, sizeof *e);
        if (!e)
                return NULL;
        *e = (Entry){
                .manager = m,
                .schedule = s,
                .due = { .idx = PRIOQ_IDX_NULL },
                .jitter_usec = s->policy.jitter_usec ? name_hash(s->name) % s->policy.jitter_usec : 0,
        };
        return e;
}

static Entry *entry_free(Entry *e) {
        if (!e)
                return NULL;
        prioq_remove(&e->manager->due, &e->due);
        schedule_free(e->owned);
        free(e);
        return NULL;
}

static ScheduleState *entry_state(Entry *e) {
        ScheduleState *ss = NULL;
        (void) state_ensure_schedule(e->manager->state, e->schedule->name, &ss);
        return ss;
}

/*
 * Computes the next slot: the first after the last slot fired, so that slots
 * missed while the daemon was down (or the clock jumped) come due at once and
 * meet the catch-up policy; a schedule that never fired starts from now.
 */
/* When the entry's next slot fires: the slot plus the schedule's jitter. */
static uint64_t entry_fire_usec(const Entry *e) {
        return (uint64_t) e->next.at * USEC_PER_SEC + e->jitter_usec;
}

/* The next slot after the last one fired; a prepared slot stays the next one until it fires. */
static void entry_schedule_next(Entry *e, uint64_t now) {
        Manager *m = e->manager;
        const ScheduleState *ss =
                state_find_schedule(m->state, e->schedule->name); /* no record: never fired */
        uint64_t base = ss && ss->last_slot_usec ? ss->last_slot_usec : now;

        prioq_remove(&m->due, &e->due);
        e->has_next = e->schedule->enabled && !m->stopping &&
                      (e->prepared || cron_next(&e->schedule->cron, e->schedule->zone,
                                                (int64_t) (base / USEC_PER_SEC), &e->next) >= 0);
        if (!e->has_next)
                return;
        /* The timer wakes first to prepare the slot's run, then at the slot to start it. */
        e->due.key = entry_fire_usec(e);
        if (!e->prepared)
                e->due.key = e->due.key > PREPARE_LEAD_USEC ? e->due.key - PREPARE_LEAD_USEC : 0;
        if (prioq_push(&m->due, &e->due) < 0) {
                e->has_next = false;
                journal_log(m->journal, LOG_ERR, "%s: out of memory scheduling the next fire",
                            e->schedule->name);
        }
}

Entry *manager_find_entry(const Manager *m, const char *name) {
        size_t lo = 0, hi = m->n_entries;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(m->entries[mid]->schedule->name, name);
                if (c == 0)
                        return m->entries[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* ------------------------------------------------------------------ queues */

static void queue_append(Run **head, Run **tail, Run *run) {
        run->wait_next = NULL;
        if (*tail)
                (*tail)->wait_next = run;
        else
                *head = run;
        *tail = run;
}

static Run *queue_pop(Run **head, Run **tail) {
        Run *run = *head;
        if (run) {
                *head = run->wait_next;
                if (!*head)
                        *tail = NULL;
                run->wait_next = NULL;
        }
        return run;
}

static bool queue_remove(Run **head, Run **tail, Run *run) {
        Run *prev = NULL;
        for (Run *r = *head; r; prev = r, r = r->wait_next)
                if (r == run) {
                        if (prev)
                                prev->wait_next = r->wait_next;
                        else
                                *head = r->wait_next;
                        if (*tail == r)
                                *tail = prev;
                        r->wait_next = NULL;
                        return true;
                }
        return false;
}

bool manager_unqueue(Manager *m, Run *run) {
        Entry *e = run->entry;
        if (queue_remove(&m->dispatch_head, &m->dispatch_tail, run))
                return true;
        if (queue_remove(&m->waiting_head, &m->waiting_tail, run)) {
                m->n_waiting--;
                return true;
        }
        if (queue_remove(&e->backlog_head, &e->backlog_tail, run)) {
                e->n_backlog--;
                return true;
        }
        return false;
}

/* ------------------------------------------------------------------ state and dispatch */

/* Descriptors one local run holds: pidfd, stdout, stderr, and stdin or the result pipe, plus one spare. */
#define FDS_PER_RUN 5
#define FDS_RESERVED 64
#define REQUEUE_DELAY_USEC (100 * 1000)
#define STATUS_INTERVAL_USEC USEC_PER_SEC
#define PACED_SAVE_RUNS 64
#define START_BATCH 32
#define PACED_SAVE_USEC (10 * 1000)

/*
 * Changes that need not reach the disk before anything starts (a run's end,
 * its phase) are written by an idle-priority source: at once when the daemon
 * is quiet, and once for a whole burst of run ends when it is busy.
 */
void manager_state_changed(Manager *m) {
        m->state_dirty = true;
        (void) sd_event_source_set_enabled(m->flush_defer, SD_EVENT_ONESHOT);
}

void manager_marker_obsolete(Manager *m, char *path) {
        char **l = path ? reallocarray(m->stale_markers, m->n_stale_markers + 1, sizeof *l) : NULL;
        if (!l) { /* keeping a marker is the safe failure: at worst a later restart reports a run lost */
                free(path);
                return;
        }
        m->stale_markers = l;
        m->stale_markers[m->n_stale_markers++] = path;
        manager_state_changed(m);
}

static int manager_save_state(Manager *m) {
        if (!m->state_dirty)
                return 0;
        uint64_t started = now_monotonic_usec();
        int r = state_save(m->state, m->state_path);
        uint64_t took = now_monotonic_usec() - started;
        /*
         * In a burst (many runs in flight, a slow save) the saves that may wait leave the loop 4/5 of
         * the time: the state would otherwise be rewritten for every single run end. Otherwise a run's
         * end is saved at once, so a crash right after it does not make it look lost.
         */
        m->next_save_usec = m->state->n_runs >= PACED_SAVE_RUNS && took >= PACED_SAVE_USEC ? started + 5 * took
                                                                                         : 0;
        if (r < 0) { /* runs still start: a full disk must not stop the schedule, but say so loudly */
                journal_log(m->journal, LOG_ERR, "cannot write the state file %s: %s", m->state_path,
                            strerror(-r));
                return r;
        }
        m->state_dirty = false;
        m->saves++;
        for (size_t i = 0; i < m->n_stale_markers; i++) {
                (void) unlink(m->stale_markers[i]);
                free(m->stale_markers[i]);
        }
        m->n_stale_markers = 0;
        return 0;
}

static int on_save_defer(sd_event_source *s, void *userdata) {
        (void) s;
        (void) manager_save_state(userdata);
        return 0;
}

void manager_save_soon(Manager *m) {
        (void) sd_event_source_set_enabled(m->save_defer, SD_EVENT_ONESHOT);
}

/*
 * Whether a run's attempts hold descriptors of their own: a child's pipes and pidfd, a local fan-out's or a
 * pipeline's children. A remote engine's job holds none: it shares the HTTP client's pooled connections,
 * and tens of thousands of jobs may be followed at once.
 */
static bool holds_descriptors(const Schedule *s) {
        const Engine *e = engine_find(s->engine);
        return s->work == WORK_PIPELINE || !e || !e->remote;
}

/* Whether the next waiting run may start: max_concurrent_runs, and the descriptor limit for local ones. */
static bool may_start(const Manager *m, const Run *run) {
        return m->n_running < m->config->settings.max_concurrent_runs &&
               (!holds_descriptors(run->entry->schedule) || m->n_running_local < m->fd_run_limit);
}

static void count_started(Manager *m, Run *run) {
        run->holds_descriptors = holds_descriptors(run->entry->schedule);
        m->n_running++;
        m->n_running_local += run->holds_descriptors;
}

static void count_stopped(Manager *m, Run *run) {
        if (m->n_running > 0)
                m->n_running--;
        if (run->holds_descriptors && m->n_running_local > 0)
                m->n_running_local--;
        run->holds_descriptors = false;
}

/*
 * How many runs fit in the descriptors left: a run that cannot get its pipes
 * would fail for no fault of its own. Computed at start, with what is open then.
 */
static unsigned compute_fd_run_limit(void) {
        struct rlimit rl;
        unsigned open_now = 0;
        _cleanup_(closedirp) DIR *d = opendir("/proc/self/fd");

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return UINT_MAX;
        for (struct dirent *de; d && (de = readdir(d));)
                open_now++;
        if (rl.rlim_cur <= open_now + FDS_RESERVED + FDS_PER_RUN)
                return 1;
        return (unsigned) MIN((rl.rlim_cur - open_now - FDS_RESERVED) / FDS_PER_RUN, (rlim_t) UINT_MAX);
}

/*
 * Starts waiting runs, a batch at a time: a burst of thousands would
 * otherwise hold the loop for seconds (a spawn costs milliseconds here), and
 * signals, reloads, exits and other fires would wait for all of it. Between
 * batches the loop handles what is pending (at a higher priority) first.
 */
static void start_waiting(Manager *m) {
        unsigned budget = START_BATCH;
        while (!m->stopping && !m->starts_paused && m->waiting_head && may_start(m, m->waiting_head)) {
                if (budget-- == 0) {
                        (void) sd_event_source_set_enabled(m->start_defer, SD_EVENT_ONESHOT);
                        return;
                }
                Run *run = queue_pop(&m->waiting_head, &m->waiting_tail);
                m->n_waiting--;
                count_started(m, run);
                run_start_attempt(run);
        }
}

static int on_start_defer(sd_event_source *s, void *userdata) {
        (void) s;
        start_waiting(userdata);
        return 0;
}

/*
 * Runs only once per loop iteration: the state is written once for every run
 * that fired in that iteration (unless they are on disk already), and only
 * then are they started.
 */
static int on_dispatch(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        unsigned queued = 0;
        (void) s;

        /* Prepared runs are on disk already: then nothing stands between the slot and the start. */
        for (Run *run = m->dispatch_head; run; run = run->wait_next)
                if (run->durable_after_save > m->saves) {
                        manager_save_state(m);
                        break;
                }
        for (Run *run; (run = queue_pop(&m->dispatch_head, &m->dispatch_tail));) {
                queue_append(&m->waiting_head, &m->waiting_tail, run);
                m->n_waiting++;
                queued++;
        }
        start_waiting(m);
        if (queued > 0 && m->waiting_head && !may_start(m, m->waiting_head)) {
                if (m->n_running >= m->config->settings.max_concurrent_runs)
                        journal_log(m->journal, LOG_NOTICE, "%u runs wait for a free slot (max_concurrent_runs = %u)",
                                    m->n_waiting, m->config->settings.max_concurrent_runs);
                else
                        journal_log(m->journal, LOG_NOTICE,
                                    "%u runs wait for a free slot (the descriptor limit allows %u local runs at once)",
                                    m->n_waiting, m->fd_run_limit);
        }
        manager_update_status(m);
        return 0;
}

static int on_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_monotonic_usec();
        (void) s;
        if (now < m->next_save_usec) {
                (void) sd_event_source_set_time(m->flush_timer, m->next_save_usec);
                (void) sd_event_source_set_enabled(m->flush_timer, SD_EVENT_ONESHOT);
                return 0;
        }
        manager_save_state(m);
        return 0;
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        manager_save_state(userdata);
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s, (void) usec;
        if (m->status_dirty)
                manager_update_status(m);
        return 0;
}

static int on_requeue_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s, (void) usec;
        m->starts_paused = false;
        start_waiting(m);
        return 0;
}

void manager_requeue(Manager *m, Run *run) {
        run->wait_next = m->waiting_head; /* first in line: it was already its turn */
        m->waiting_head = run;
        if (!m->waiting_tail)
                m->waiting_tail = run;
        m->n_waiting++;
        count_stopped(m, run);
        /* the next start would fail the same way: pause starts briefly, runs ending meanwhile free resources */
        m->starts_paused = true;
        (void) sd_event_source_set_time_relative(m->requeue_timer, REQUEUE_DELAY_USEC);
        (void) sd_event_source_set_enabled(m->requeue_timer, SD_EVENT_ONESHOT);
}

void manager_dispatch(Manager *m, Run *run) {
        queue_append(&m->dispatch_head, &m->dispatch_tail, run);
        (void) sd_event_source_set_enabled(m->dispatch_defer, SD_EVENT_ONESHOT);
}

/*
 * A freed slot is filled from the start source, at its lower priority, not from here: in a burst, one
 * run's end would otherwise start a whole batch while the ends already pending wait behind it, and the
 * exited children (zombies, with their pipes and pidfds) pile up in thousands, making each spawn's copy
 * of the descriptor table and each poll of the ready list slower.
 */
void manager_attempt_done(Manager *m, Run *run) {
        count_stopped(m, run);
        if (m->waiting_head)
                (void) sd_event_source_set_enabled(m->start_defer, SD_EVENT_ONESHOT);
}

/* ------------------------------------------------------------------ firing */

/*
 * The state file must record a run before it is dispatched, and a save costs milliseconds (two fsyncs):
 * at the slot itself that would be the largest part of the delay to the start. So the next on-time slot of
 * each schedule is recorded PREPARE_LEAD_USEC ahead, as a run in phase "prepared", and saved then. At the
 * slot the policies decide as always: the prepared run starts, or its record goes. A daemon that stops or
 * crashes in between leaves a prepared record: with a start marker it did start (its phase was not saved
 * yet); without one it never did, and the record is dropped so that the slot fires like any other (on time,
 * or through the catch-up policy).
 */
static void prepare_slot(Manager *m, Entry *e) {
        RunState rs = {
                .run_id = e->prepared_id,
                .schedule = e->schedule->name,
                .engine = (char *) e->schedule->engine,
                .slot_usec = (uint64_t) e->next.at * USEC_PER_SEC,
                .attempt = 1,
                .phase = RUN_PHASE_PREPARED,
        };
        e->prepared = true;
        run_id_new(e->prepared_id);
        e->prepared_save = m->saves + 1;
        if (state_add_run(m->state, &rs) < 0)
                e->prepared_id[0] = '\0'; /* no record (out of memory): its run saves first, as usual */
        manager_state_changed(m);
}

/*
 * What a prepared slot changes as it fires or goes (its record's phase, the last slot) is right on disk
 * either way, given the start markers: it rides along with the next save rather than causing one, which
 * with a large state would rewrite it once more per fire for nothing.
 */
static void prepared_state_changed(Manager *m) {
        m->state_dirty = true;
}

/* The slot will not start the prepared run: its record goes. */
static void drop_prepared(Manager *m, Entry *e) {
        if (!e->prepared)
                return;
        (void) state_remove_run(m->state, e->prepared_id);
        e->prepared = false;
        prepared_state_changed(m);
}

/* A fire that does not become a run still gets a record: with the prepared run's id, or one of its own. */
static void log_skipped(Manager *m, Entry *e, uint64_t slot_usec, const char *why) {
        char id[RUN_ID_LEN + 1];
        if (e->prepared && e->prepared_id[0])
                memcpy(id, e->prepared_id, sizeof id);
        else
                snprintf(id, sizeof id, "%016" PRIx64,
                         name_hash(e->schedule->name) ^ slot_usec ^ now_usec());
        drop_prepared(m, e);
        RunFields f = {
                .schedule = e->schedule->name,
                .run_id = id,
                .engine = e->schedule->engine,
                .attempt = 1,
                .scheduled_usec = slot_usec,
        };
        journal_run_event(m->journal, &f, RUN_EVENT_SKIPPED, "%s", why);
}

/* The prepared run becomes a run of the slot, recorded and on disk already. */
static int run_new_prepared(Manager *m, Entry *e, uint64_t slot_usec, Run **ret_run) {
        RunState *rs = state_find_run(m->state, e->prepared_id);
        Run *run;
        int r;

        e->prepared = false;
        if (!rs)
                return run_new(m, e, slot_usec, false, NULL, ret_run);
        r = run_new(m, e, slot_usec, false, rs, &run);
        if (r < 0) {
                (void) state_remove_run(m->state, e->prepared_id);
                return r;
        }
        rs->phase = RUN_PHASE_DISPATCHING;
        if (run->engine->remote) { /* no start marker would tell a restarted daemon that it was sent */
                run->durable_after_save = m->saves + 1;
                manager_state_changed(m);
        } else {
                run->durable_after_save = e->prepared_save;
                prepared_state_changed(m);
        }
        *ret_run = run;
        return 0;
}

static void start_run(Manager *m, Entry *e, uint64_t slot_usec, bool manual, bool backlog) {
        Run *run;
        /* (a run queued by overlap = queue is for an earlier slot than the one prepared) */
        bool prepared =
                !manual && !backlog && e->prepared && slot_usec == (uint64_t) e->next.at * USEC_PER_SEC;
        int r = prepared ? run_new_prepared(m, e, slot_usec, &run)
                         : run_new(m, e, slot_usec, manual, NULL, &run);
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "%s: cannot create a run: %s", e->schedule->name,
                            strerror(-r));
                return;
        }
        if (backlog) {
                queue_append(&e->backlog_head, &e->backlog_tail, run);
                e->n_backlog++;
        } else
                manager_dispatch(m, run);
}

/* overlap = replace: a newer run replaces e's runs under way. */
static void replace_runs_of(Manager *m, Entry *e) {
        for (Run *r = m->runs, *next; r; r = next) {
                next = r->next;
                if (r->entry == e)
                        run_cancel(r, "replace", "replaced by a newer run, overlap = replace");
        }
}

/* udfcronctl pause and skip: whether the slot is skipped on request (and logged so). */
static bool skipped_on_request(Manager *m, Entry *e, ScheduleState *ss, uint64_t slot_usec) {
        if (ss->paused) {
                log_skipped(m, e, slot_usec, "the schedule is paused");
                return true;
        }
        if (ss->skip_slot_usec == slot_usec) {
                ss->skip_slot_usec = 0;
                log_skipped(m, e, slot_usec, "udfcronctl skip");
                return true;
        }
        return false;
}

/*
 * overlap = queue: whether a run of e waits already for the active one, at most one may. It is a slot
 * that fired (has_queued), or a run in the backlog: one requested with udfcronctl run, or catch-up runs.
 */
static bool run_waits(const Entry *e) {
        return e->has_queued || e->n_backlog > 0;
}

/* One slot of an entry fires, through the pause, skip and overlap policies. */
static void fire_slot(Manager *m, Entry *e, uint64_t slot_usec) {
        ScheduleState *ss = entry_state(e);
        if (!ss) {
                journal_log(m->journal, LOG_ERR, "%s: out of memory recording a fire", e->schedule->name);
                return;
        }
        ss->last_slot_usec = MAX(ss->last_slot_usec, slot_usec);
        if (e->prepared)
                prepared_state_changed(m);
        else
                manager_state_changed(m);

        if (skipped_on_request(m, e, ss, slot_usec))
                return;
        if (e->n_active > 0)
                switch (e->schedule->policy.overlap) {
                case OVERLAP_SKIP:
                        log_skipped(m, e, slot_usec, "the previous run is still active (overlap = skip)");
                        return;
                case OVERLAP_QUEUE:
                        if (run_waits(e)) {
                                log_skipped(m, e, slot_usec, "a run is already queued (overlap = queue)");
                                return;
                        }
                        e->has_queued = true;
                        e->queued_slot_usec = slot_usec;
                        drop_prepared(m, e); /* the queued run is a new one, when its turn comes */
                        return;
                case OVERLAP_REPLACE:
                        replace_runs_of(m, e);
                        break;
                case OVERLAP_ALLOW:
                default:
                        break;
                }
        start_run(m, e, slot_usec, false, false);
}

static void catch_up_queue_remove(Manager *m, Entry *e) {
        Entry *prev = NULL;
        if (!e->in_catch_up_queue)
                return;
        for (Entry *x = m->catch_up_head; x; prev = x, x = x->catch_up_next)
                if (x == e) {
                        if (prev)
                                prev->catch_up_next = x->catch_up_next;
                        else
                                m->catch_up_head = x->catch_up_next;
                        if (m->catch_up_tail == x)
                                m->catch_up_tail = prev;
                        break;
                }
        e->in_catch_up_queue = false;
}

static void enqueue_catch_up(Manager *m, Entry *e) {
        if (e->in_catch_up_queue || !e->backlog_head)
                return;
        e->in_catch_up_queue = true;
        e->catch_up_next = NULL;
        if (m->catch_up_tail)
                m->catch_up_tail->catch_up_next = e;
        else
                m->catch_up_head = e;
        m->catch_up_tail = e;
        (void) sd_event_source_set_enabled(m->catch_up_timer, SD_EVENT_ON);
}

/* Starts the next backlog run of an entry whose previous run ended. */
static void continue_backlog(Manager *m, Entry *e) {
        Run *run = queue_pop(&e->backlog_head, &e->backlog_tail);
        if (run) {
                e->n_backlog--;
                manager_dispatch(m, run);
        }
}

static int on_catch_up_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        Entry *e = m->catch_up_head;
        (void) usec;

        if (e) {
                m->catch_up_head = e->catch_up_next;
                if (!m->catch_up_head)
                        m->catch_up_tail = NULL;
                e->in_catch_up_queue = false;
                /* an entry with a run under way continues from manager_run_ended */
                if (e->n_active == e->n_backlog)
                        continue_backlog(m, e);
        }
        if (!m->catch_up_head)
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return sd_event_source_set_time_relative(s, CATCH_UP_SPACING_USEC);
}

/*
 * Slots missed by downtime, suspend or a clock jump: the catch-up policy
 * picks which of the slots in (last, now] still run; they run one after
 * another. `first` is the oldest missed slot.
 */
static void catch_up(Manager *m, Entry *e, const CronFire *first, uint64_t now) {
        const Schedule *s = e->schedule;
        const CatchUp *c = &s->policy.catch_up;
        ScheduleState *ss = entry_state(e);
        int64_t limit = (int64_t) ((now - e->jitter_usec) / USEC_PER_SEC) + 1; /* slots < limit are due */
        uint64_t kept[CATCH_UP_ALL_MAX];
        size_t n = 0;
        CronFire f = *first, latest;

        if (!ss)
                return;
        if (c->mode == CATCH_UP_ALL) {
                bool more = true;
                while (more && f.at < limit && n < CATCH_UP_ALL_MAX) {
                        kept[n++] = (uint64_t) f.at * USEC_PER_SEC;
                        more = cron_next(&s->cron, s->zone, f.at, &f) >= 0;
                }
                if (more && f.at < limit)
                        journal_log(m->journal, LOG_WARNING,
                                    "%s: more than %d slots missed; running the first %d", s->name,
                                    CATCH_UP_ALL_MAX, CATCH_UP_ALL_MAX);
        } else if (c->mode != CATCH_UP_NONE) {
                /* the latest slots, found backwards from now; at most `count` of them, none older than
                 * `within` */
                unsigned count = c->mode == CATCH_UP_LAST ? 1 : c->count;
                int64_t oldest = c->mode == CATCH_UP_BOUNDED
                                         ? limit - 1 - (int64_t) (c->within_usec / USEC_PER_SEC)
                                         : INT64_MIN;
                for (int64_t before = limit; n < count && n < CATCH_UP_ALL_MAX; n++) {
                        if (cron_prev(&s->cron, s->zone, before, &f) < 0 || f.at < first->at ||
                            f.at < oldest)
                                break;
                        kept[n] = (uint64_t) f.at * USEC_PER_SEC;
                        before = f.at;
                }
                for (size_t i = 0; i < n / 2; i++) { /* oldest first */
                        uint64_t t = kept[i];
                        kept[i] = kept[n - 1 - i];
                        kept[n - 1 - i] = t;
                }
        }

        char from[TIMESTAMP_MAX];
        timestamp_format(first->at, tz_offset_at(s->zone, first->at), from);
        journal_log(m->journal, LOG_NOTICE, "%s: slots missed since %s; catch_up = %s runs %zu of them",
                    s->name, from,
                    c->mode == CATCH_UP_NONE   ? "none"
                    : c->mode == CATCH_UP_LAST ? "last"
                    : c->mode == CATCH_UP_ALL  ? "all"
                                               : "bounded",
                    n);

        /* every missed slot counts as handled now, fired or not: the runs below are recorded in the state */
        uint64_t newest =
                (uint64_t) (cron_prev(&s->cron, s->zone, limit, &latest) >= 0 ? latest.at : first->at) *
                USEC_PER_SEC;
        ss->last_slot_usec = MAX(ss->last_slot_usec, newest);
        manager_state_changed(m);
        for (size_t i = 0; i < n; i++)
                if (!skipped_on_request(m, e, ss, kept[i]))
                        start_run(m, e, kept[i], false, true);
        enqueue_catch_up(m, e);
}

/* An entry came due: one on-time slot fires; anything else is catching up. */
static void process_due(Manager *m, Entry *e, uint64_t now) {
        const CronFire first = e->next;
        CronFire second;
        uint64_t slot = (uint64_t) first.at * USEC_PER_SEC;
        bool only_one = cron_next(&e->schedule->cron, e->schedule->zone, first.at, &second) < 0 ||
                        (uint64_t) second.at * USEC_PER_SEC + e->jitter_usec > now;

        if (only_one && now - (slot + e->jitter_usec) <= LATE_USEC)
                fire_slot(m, e, slot);
        else {
                drop_prepared(m, e);
                catch_up(m, e, &first, now);
        }
}

static void arm_fire_timer(Manager *m) {
        PrioqItem *top = prioq_peek(&m->due);
        if (!top || m->stopping) {
                (void) sd_event_source_set_enabled(m->fire_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(m->fire_timer, clock_to_real(top->key));
        (void) sd_event_source_set_enabled(m->fire_timer, SD_EVENT_ONESHOT);
}

static int on_fire_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_usec();
        (void) s, (void) usec;

        bool prepared = false;

        for (PrioqItem *top; (top = prioq_peek(&m->due)) && top->key <= now;) {
                Entry *e = prioq_entry(top, Entry, due);
                prioq_remove(&m->due, top);
                if (!e->prepared && entry_fire_usec(e) > now) {
                        prepare_slot(m, e);
                        prepared = true;
                } else
                        process_due(m, e, now);
                entry_schedule_next(e, now);
        }
        if (prepared) /* now, well before the slots */
                manager_save_state(m);
        arm_fire_timer(m);
        manager_update_status(m);
        return 0;
}

/* ------------------------------------------------------------------ clock changes */

static int arm_clock_watch(int fd) {
        /* expires never; exists only to be cancelled when someone sets the clock */
        struct itimerspec spec = { .it_value = { .tv_sec = INT32_MAX } };
        return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, NULL) < 0 ? -errno
                                                                                                 : 0;
}

static void reschedule_all(Manager *m) {
        uint64_t now = now_usec();
        for (size_t i = 0; i < m->n_entries; i++)
                entry_schedule_next(m->entries[i], now);
        arm_fire_timer(m);
}

static int on_clock_changed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t expirations;
        (void) s, (void) revents;

        if (read(fd, &expirations, sizeof expirations) < 0 && errno != ECANCELED && errno != EAGAIN)
                return 0;
        (void) arm_clock_watch(fd);
        manager_clock_changed(m);
        return 0;
}

void manager_clock_changed(Manager *m) {
        char now[TIMESTAMP_MAX];
        timestamp_format((int64_t) (now_usec() / USEC_PER_SEC), 0, now);
        journal_log(m->journal, LOG_NOTICE,
                    "the clock was set (now %s); recomputing every schedule's next fire", now);
        reschedule_all(m);
}

static int setup_clock_watch(Manager *m) {
        _cleanup_close_ int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = arm_clock_watch(fd);
        if (r < 0)
                return r;
        r = sd_event_add_io(m->event, &m->clock_watch, fd, EPOLLIN, on_clock_changed, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(m->clock_watch, true);
        TAKE_FD(fd);
        return 0;
}

/* ------------------------------------------------------------------ runs ending, status */

static void manager_finish_stop(Manager *m);

/* Takes a retired entry off the list; false when it is not on it (yet). */
static bool retired_unlink(Manager *m, Entry *e) {
        for (Entry **p = &m->retired; *p; p = &(*p)->retired_next)
                if (*p == e) {
                        *p = e->retired_next;
                        return true;
                }
        return false;
}

void manager_run_ended(Manager *m, Run *run) {
        Entry *e = run->entry;
        run_free(run);

        if (e->removed) {
                if (e->n_active == 0 && retired_unlink(m, e))
                        entry_free(e);
        } else if (!m->stopping) {
                if (e->backlog_head && !e->in_catch_up_queue && e->n_active == e->n_backlog)
                        continue_backlog(m, e);
                else if (e->has_queued && e->n_active == 0) {
                        e->has_queued = false;
                        start_run(m, e, e->queued_slot_usec, false, false);
                }
        }
        manager_update_status(m);
        if (m->stopping && !m->runs)
                manager_finish_stop(m);
}

void manager_update_status(Manager *m) {
        uint64_t now = now_monotonic_usec();
        /*
         * A burst of run ends would otherwise send a datagram each: within a second of the last
         * STATUS the new one waits for the timer, which exists only then (no idle wake-ups).
         */
        if (m->status_sent_usec && now < m->status_sent_usec + STATUS_INTERVAL_USEC && !m->stopping) {
                m->status_dirty = true;
                (void) sd_event_source_set_time(m->status_timer, m->status_sent_usec + STATUS_INTERVAL_USEC);
                (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
                return;
        }
        m->status_dirty = false;
        m->status_sent_usec = now;

        char next[96] = "nothing scheduled";
        PrioqItem *top = prioq_peek(&m->due);

        if (top && !m->stopping) {
                Entry *e = prioq_entry(top, Entry, due);
                char ts[TIMESTAMP_MAX];
                timestamp_format(e->next.at, tz_offset_at(e->schedule->zone, e->next.at), ts);
                snprintf(next, sizeof next, "next: %s at %.16s", e->schedule->name, ts);
        }
        (void) sd_notifyf(false, "STATUS=%s%zu schedules, %u running, %u waiting, %s",
                          m->stopping ? "stopping: " : "", m->n_entries, m->n_running, m->n_waiting, next);
}

/* ------------------------------------------------------------------ udfcronctl's requests */

Run *manager_find_run(const Manager *m, const char *run_id) {
        for (Run *run = m->runs; run; run = run->next)
                if (strcmp(run->id, run_id) == 0)
                        return run;
        return NULL;
}

int manager_run_now(Manager *m, Entry *e, const char *params, Run **ret_run, const char **ret_refusal) {
        bool behind = false;
        Run *run;

        if (m->stopping)
                return -ESHUTDOWN;
        if (e->n_active > 0)
                switch (e->schedule->policy.overlap) {
                case OVERLAP_SKIP:
                        *ret_refusal = "the previous run is still active (overlap = skip)";
                        return -EBUSY;
                case OVERLAP_QUEUE:
                        if (run_waits(e)) {
                                *ret_refusal = "a run is already queued (overlap = queue)";
                                return -EBUSY;
                        }
                        behind = true;
                        break;
                case OVERLAP_REPLACE:
                        replace_runs_of(m, e);
                        break;
                case OVERLAP_ALLOW:
                default:
                        break;
                }

        int r = run_new_manual(m, e, params, &run);
        if (r < 0)
                return r;
        if (behind) { /* the backlog starts once the active run is over */
                queue_append(&e->backlog_head, &e->backlog_tail, run);
                e->n_backlog++;
        } else
                manager_dispatch(m, run);
        manager_update_status(m);
        *ret_run = run;
        return behind;
}

int manager_skip_next(Manager *m, Entry *e, uint64_t *ret_slot_usec) {
        ScheduleState *ss;
        if (!e->has_next)
                return -ENOENT;
        if (!(ss = entry_state(e)))
                return -ENOMEM;
        ss->skip_slot_usec = (uint64_t) e->next.at * USEC_PER_SEC;
        manager_state_changed(m);
        *ret_slot_usec = ss->skip_slot_usec;
        return manager_save_state(m);
}

int manager_set_paused(Manager *m, Entry *e, bool paused) {
        ScheduleState *ss = entry_state(e);
        if (!ss)
                return -ENOMEM;
        if (ss->paused == paused)
                return 0;
        ss->paused = paused;
        manager_state_changed(m);
        int r = manager_save_state(m);
        return r < 0 ? r : 1;
}

/* ------------------------------------------------------------------ loading */

/* Logs every config error, each "file:line: message", as nginx -t would print them. */
static void log_config_errors(Manager *m, char **errors, const char *what) {
        size_t n = 0;
        for (char **e = errors; e && *e; e++, n++)
                journal_log(m->journal, LOG_ERR, "%s", *e);
        journal_log(m->journal, LOG_ERR, "%s: %zu error%s in the configuration", what, n, n == 1 ? "" : "s");
}

static int build_entries(Manager *m, Config *config, Entry ***ret_entries) {
        Entry **entries = calloc(config->n_schedules + 1, sizeof *entries);
        if (!entries)
                return -ENOMEM;
        for (size_t i = 0; i < config->n_schedules; i++)
                if (!(entries[i] = entry_new(m, config->schedules[i]))) {
                        for (size_t j = 0; j < i; j++)
                                entry_free(entries[j]);
                        free(entries);
                        return -ENOMEM;
                }
        *ret_entries = entries;
        return 0;
}

/*
 * A record for every schedule, added in name order: inserting them one by one
 * as each first fires would shift the sorted array for each (a burst of
 * 10,000 new schedules would move gigabytes).
 */
static void ensure_state_records(Manager *m) {
        for (size_t i = 0; i < m->n_entries; i++)
                if (state_ensure_schedule(m->state, m->entries[i]->schedule->name, NULL) > 0)
                        m->state_dirty = true;
}

/* State kept for schedules that no longer exist would only make a re-added one catch up on years. */
static void prune_state(Manager *m) {
        for (size_t i = m->state->n_schedules; i > 0; i--) {
                const char *name = m->state->schedules[i - 1].name;
                if (!manager_find_entry(m, name)) {
                        (void) state_remove_schedule(m->state, name);
                        manager_state_changed(m);
                }
        }
}

/*
 * Runs the previous daemon left in flight: one whose local child started
 * (its start marker exists) is lost and goes to the retry policy; one that
 * never started is dispatched now, with its recorded id and attempt (or at
 * its recorded time, when it was waiting for a retry); a remote one with a
 * job id is re-attached to that job at once, and a pipeline goes on at once
 * at its recorded step when it can (run_goes_on_at_step()); one only
 * prepared for a slot (see prepare_slot()) that never started is dropped.
 */
static void resume_runs(Manager *m) {
        for (size_t i = 0; i < m->state->n_runs;) {
                RunState *rs = &m->state->runs[i];
                Entry *e = manager_find_entry(m, rs->schedule);
                Run *run;

                if (!e || !e->schedule->enabled) {
                        journal_log(m->journal, LOG_WARNING,
                                    "run %s of %s schedule '%s' was in flight at the last stop; dropping it",
                                    rs->run_id, e ? "disabled" : "removed", rs->schedule);
                        (void) state_remove_run(m->state, rs->run_id);
                        manager_state_changed(m);
                        continue; /* the array shifted down */
                }
                bool prepared = rs->phase == RUN_PHASE_PREPARED;
                uint64_t slot_usec = rs->slot_usec, rs_retry_usec = rs->retry_usec;
                rs->phase = RUN_PHASE_DISPATCHING; /* resumed, not announced again */
                i++;
                if (run_new(m, e, slot_usec, slot_usec == 0, rs, &run) < 0) {
                        journal_log(m->journal, LOG_ERR, "run %s: out of memory resuming it", rs->run_id);
                        continue;
                }
                _cleanup_free_ char *marker = run_marker_path(run);
                bool started = marker && access(marker, F_OK) == 0;
                if (prepared && !started) { /* never dispatched: its slot fires like any other */
                        (void) state_remove_run(m->state, run->id);
                        run_free(run);
                        manager_state_changed(m);
                        i--;
                        continue;
                }
                if (prepared) { /* it started at its slot, before the state said so */
                        ScheduleState *ss = entry_state(e);
                        if (ss)
                                ss->last_slot_usec = MAX(ss->last_slot_usec, slot_usec);
                }
                if (started && !run_goes_on_at_step(run))
                        run_lost(run);
                else if (rs_retry_usec > now_usec() && run_resume_retry(run, rs_retry_usec) >= 0)
                        ; /* waits out the rest of its backoff */
                else if (run->job_id || started) /* a remote job, or a pipeline, goes on at once */
                        manager_dispatch(m, run);
                else {
                        queue_append(&e->backlog_head, &e->backlog_tail, run);
                        e->n_backlog++;
                        enqueue_catch_up(m, e);
                }
        }
}

int manager_start(Manager *m) {
        _cleanup_(strv_freep) char **errors = NULL;
        _cleanup_free_ char *warning = NULL;
        int r;

        r = config_load(m->config_path, m->tzdb, &m->config, &errors);
        if (r == -EINVAL) {
                log_config_errors(m, errors, m->config_path);
                return r;
        }
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "cannot load %s: %s", m->config_path, strerror(-r));
                return r;
        }
        r = plugin_host_apply(m->plugins, m->config);
        if (r < 0)
                return r; /* the failing instance said why */

        const DaemonSettings *set = &m->config->settings;
        if (asprintf(&m->state_path, "%s/state.json", set->state_directory) < 0 ||
            asprintf(&m->markers_directory, "%s/started", set->runtime_directory) < 0)
                return -ENOMEM;
        /*
         * The daemon's own files are nobody else's business (0700); the runtime directory is 0755, since it
         * holds the control socket, whose own mode decides who may connect (its started/ is private again).
         */
        const struct {
                const char *path;
                mode_t mode;
        } dirs[] = { { set->state_directory, 0700 },
                     { set->runtime_directory, 0755 },
                     { m->markers_directory, 0700 } };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if ((r = mkdir_p(dirs[i].path, dirs[i].mode)) < 0) {
                        journal_log(m->journal, LOG_ERR, "cannot create %s: %s", dirs[i].path, strerror(-r));
                        return r;
                }

        r = state_load(m->state_path, &m->state, &warning);
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "cannot read the state file %s: %s", m->state_path,
                            strerror(-r));
                return r;
        }
        if (warning)
                journal_log(m->journal, LOG_WARNING, "%s", warning);

        r = build_entries(m, m->config, &m->entries);
        if (r < 0)
                return r;
        m->n_entries = m->config->n_schedules;

        /* accuracy 1 µs: sd-event's default (0) lets it coalesce wake-ups by up to 250 ms */
        r = sd_event_add_time(m->event, &m->fire_timer, CLOCK_REALTIME, UINT64_MAX, 1, on_fire_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->catch_up_timer, CLOCK_MONOTONIC,
                                               CATCH_UP_SPACING_USEC, 0, on_catch_up_timer, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->catch_up_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = setup_clock_watch(m);
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "cannot set up timers: %s", strerror(-r));
                return r;
        }

        prune_state(m);
        ensure_state_records(m);
        resume_runs(m);
        reschedule_all(m);
        manager_state_changed(m);
        size_t files = 0;
        while (m->config->files[files])
                files++;
        journal_log(m->journal, LOG_INFO, "loaded %zu schedules from %zu files", m->n_entries, files);
        manager_update_status(m);
        return 0;
}

/* ------------------------------------------------------------------ the remote engines' HTTP client */

HttpClient *manager_http_client(Manager *m) {
        /* the plugin host's: one connection pool for the engines and the plugins, with the `http` settings
         * plugin_host_apply() gives it at start and on reload */
        return plugin_host_http(m->plugins);
}

/* ------------------------------------------------------------------ reload */

static int reload_config(Manager *m, char ***ret_errors) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(strv_freep) char **errors = NULL;
        Entry **entries;
        uint64_t now = now_usec();
        int r;

        r = config_load(m->config_path, m->tzdb, &config, &errors);
        if (r == -EINVAL) {
                log_config_errors(m, errors, "reload refused, the running configuration stays");
                if (ret_errors)
                        *ret_errors = TAKE_PTR(errors);
                return r;
        }
        if (r < 0) {
                journal_log(m->journal, LOG_ERR, "reload refused: cannot load %s: %s", m->config_path,
                            strerror(-r));
                return r;
        }
        r = build_entries(m, config, &entries);
        if (r < 0)
                return r;
        /* last, as it cannot be undone: the old instances retire, and finish what they were doing */
        r = plugin_host_apply(m->plugins, config);
        if (r < 0) {
                for (size_t k = 0; k < config->n_schedules; k++)
                        entry_free(entries[k]);
                free(entries);
                journal_log(m->journal, LOG_ERR, "reload refused, the running configuration stays");
                return r;
        }

        /* A prepared slot may not be one of the new definition: each is prepared again, from scratch. */
        for (size_t k = 0; k < m->n_entries; k++)
                drop_prepared(m, m->entries[k]);

        /*
         * Entries of schedules that exist in both configs survive, with their
         * runs and queue; they only point at the new definition. Both lists
         * are sorted by name, so one merge pass pairs them.
         */
        size_t i = 0, j = 0, kept = 0, added = 0, removed = 0;
        while (i < m->n_entries || j < config->n_schedules) {
                int c = i == m->n_entries ? 1
                        : j == config->n_schedules
                                ? -1
                                : strcmp(m->entries[i]->schedule->name, config->schedules[j]->name);
                if (c == 0) {
                        Entry *old = m->entries[i++], *fresh = entries[j++];
                        bool enabled_now = !old->schedule->enabled && fresh->schedule->enabled;
                        bool changed = old->schedule->digest != fresh->schedule->digest;
                        old->schedule = fresh->schedule;
                        old->jitter_usec = fresh->jitter_usec;
                        entries[j - 1] = old;
                        entry_free(fresh);
                        if (enabled_now) { /* the time it was disabled is not "missed" */
                                ScheduleState *ss = entry_state(old);
                                if (ss)
                                        ss->last_slot_usec = now;
                        }
                        kept += !changed;
                } else if (c < 0) { /* gone: runs under way finish, catch-up runs not started are dropped */
                        Entry *old = m->entries[i++];
                        old->removed = true; /* from here on, nothing new starts for it */
                        prioq_remove(&m->due, &old->due);
                        catch_up_queue_remove(m, old);
                        old->has_queued = false;
                        while (old->backlog_head)
                                run_cancel(old->backlog_head, "reload", "a reload removed the schedule");
                        removed++;
                        if (old->n_active == 0) {
                                entry_free(old);
                                continue;
                        }
                        /* keep its definition alive: the old config is freed below */
                        for (size_t k = 0; k < m->config->n_schedules; k++)
                                if (m->config->schedules[k] == old->schedule)
                                        old->owned = TAKE_PTR(m->config->schedules[k]);
                        old->retired_next = m->retired;
                        m->retired = old;
                } else {
                        j++;
                        added++;
                }
        }

        free(m->entries);
        m->entries = entries;
        m->n_entries = config->n_schedules;
        config_free(m->config);
        m->config = TAKE_PTR(config);
        prune_state(m);
        ensure_state_records(m);
        reschedule_all(m);
        manager_state_changed(m);
        journal_log(m->journal, LOG_INFO,
                    "reloaded: %zu schedules (%zu unchanged, %zu changed, %zu added, %zu removed)",
                    m->n_entries, kept, m->n_entries - kept - added, added, removed);
        return 0;
}

int manager_reload(Manager *m, char ***ret_errors) {
        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_monotonic_usec());
        int r = reload_config(m, ret_errors);
        (void) sd_notify(false, "READY=1");
        if (r < 0)
                (void) sd_notify(false,
                                 "STATUS=reload failed: the configuration has errors (see the journal); "
                                 "running the previous one");
        else
                manager_update_status(m);
        return r;
}

/* ------------------------------------------------------------------ shutdown */

static void manager_finish_stop(Manager *m) {
        manager_save_state(m);
        journal_log(m->journal, LOG_INFO, "stopped");
        (void) sd_event_exit(m->event, 0);
}

/* A remote job whose id is known (a pipeline's Fused job step's too) runs on without the daemon: the next
 * start re-attaches to it. */
static bool detachable(const Run *run) {
        return run->status == RUN_RUNNING && (run->engine->remote || run->pipeline) && run->job_id;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s, (void) usec;
        journal_log(m->journal, LOG_WARNING, "shutdown_timeout passed; cancelling the runs still going");
        for (Run *run = m->runs, *next; run; run = next) {
                next = run->next;
                if (detachable(run)) /* it learnt its job's id while the daemon waited */
                        run_detach(run);
                else
                        run_cancel(run, "shutdown", "the daemon is stopping, and shutdown_timeout passed");
        }
        if (!m->runs) /* all of them detached: no end to wait for */
                manager_finish_stop(m);
        return 0;
}

/*
 * Runs that have not started stay recorded as dispatching and start after
 * the next start; runs waiting for a retry are already recorded with their
 * next attempt. Only running attempts are waited for.
 */
void manager_stop(Manager *m) {
        if (m->stopping)
                return;
        m->stopping = true;
        (void) sd_notify(false, "STOPPING=1");
        (void) sd_event_source_set_enabled(m->fire_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->catch_up_timer, SD_EVENT_OFF);

        for (Run *run = m->runs, *next; run; run = next) {
                next = run->next;
                if (detachable(run)) {
                        run_detach(run);
                        continue;
                }
                if (run->status == RUN_RUNNING)
                        continue;
                (void) manager_unqueue(m, run);
                run_free(run);
        }
        m->n_waiting = 0;

        unsigned running = 0;
        for (Run *run = m->runs; run; run = run->next)
                running++;
        journal_log(m->journal, LOG_INFO, "stopping: waiting up to %.0fs for %u running run%s",
                    (double) m->config->settings.shutdown_timeout_usec / 1e6, running,
                    running == 1 ? "" : "s");
        manager_update_status(m);
        if (!m->runs) {
                manager_finish_stop(m);
                return;
        }
        if (sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC,
                                       m->config->settings.shutdown_timeout_usec, 0, on_stop_timeout, m) < 0)
                on_stop_timeout(NULL, 0, m);
}

/* ------------------------------------------------------------------ lifetime */

int manager_new(sd_event *event, Journal *journal, const char *config_path, Manager **ret_manager) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->journal = journal;
        m->started_usec = now_usec();
        if (!(m->config_path = strdup(config_path)))
                return -ENOMEM;
        int r = tzdb_new(NULL, &m->tzdb);
        if (r < 0)
                return r;
        r = plugin_host_new(event, journal, &m->plugins);
        if (r < 0)
                return r;
        r = sd_event_add_defer(event, &m->dispatch_defer, on_dispatch, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->dispatch_defer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &m->start_defer, on_start_defer, m);
        if (r >= 0) /* after the exits and output already pending, before idle work */
                r = sd_event_source_set_priority(m->start_defer, SD_EVENT_PRIORITY_NORMAL + 10);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->start_defer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &m->flush_defer, on_flush, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->flush_defer, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->flush_defer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &m->save_defer, on_save_defer, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->save_defer, SD_EVENT_PRIORITY_NORMAL + 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->save_defer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(event, &m->flush_timer, CLOCK_MONOTONIC, 0, 0, on_flush_timer, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->flush_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &m->status_timer, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, 0,
                                               on_status_timer, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->status_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &m->requeue_timer, CLOCK_MONOTONIC, REQUEUE_DELAY_USEC,
                                               0, on_requeue_timer, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->requeue_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        m->fd_run_limit = compute_fd_run_limit();
        *ret_manager = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        while (m->runs)
                run_free(m->runs);
        plugin_host_free(m->plugins); /* after the runs, which abandon their calls and free their transfers */
        for (size_t i = 0; i < m->n_entries; i++)
                entry_free(m->entries[i]);
        free(m->entries);
        while (m->retired) {
                Entry *e = m->retired;
                m->retired = e->retired_next;
                entry_free(e);
        }
        prioq_done(&m->due);
        sd_event_source_disable_unref(m->fire_timer);
        sd_event_source_disable_unref(m->clock_watch);
        sd_event_source_disable_unref(m->catch_up_timer);
        sd_event_source_disable_unref(m->dispatch_defer);
        sd_event_source_disable_unref(m->flush_defer);
        sd_event_source_disable_unref(m->save_defer);
        sd_event_source_disable_unref(m->start_defer);
        sd_event_source_disable_unref(m->flush_timer);
        sd_event_source_disable_unref(m->status_timer);
        sd_event_source_disable_unref(m->requeue_timer);
        sd_event_source_disable_unref(m->stop_timer);
        for (size_t i = 0; i < m->n_stale_markers; i++)
                free(m->stale_markers[i]);
        free(m->stale_markers);
        config_free(m->config);
        state_free(m->state);
        tzdb_free(m->tzdb);
        sd_event_unref(m->event);
        free(m->config_path);
        free(m->state_path);
        free(m->markers_directory);
        free(m);
        return NULL;
}
