/* SPDX-License-Identifier: MIT */
#include "history.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Runs, and an open-addressing index of them by run id (a power-of-two table, at most half full). */
struct History {
        RunSummary **runs;
        size_t n_runs, allocated;
        size_t *slots; /* index + 1 into runs; 0 is empty */
        size_t n_slots;
        size_t n_whole;
};

const char *run_summary_outcome(const RunSummary *s) {
        switch (s->end) {
        case RUN_EVENT_FINISHED:
                return "succeeded";
        case RUN_EVENT_FAILED:
        case RUN_EVENT_TIMED_OUT:
        case RUN_EVENT_CANCELLED:
        case RUN_EVENT_SKIPPED:
        case RUN_EVENT_LOST:
                return run_event_to_string(s->end);
        default:
                break;
        }
        switch (s->latest) {
        case RUN_EVENT_RETRY:
                return "retrying";
        case RUN_EVENT_SCHEDULED:
                return "waiting";
        default:
                return "running";
        }
}

static uint64_t hash_id(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

int history_new(History **ret_history) {
        History *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        *ret_history = h;
        return 0;
}

History *history_free(History *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_runs; i++) {
                free(h->runs[i]->job_id);
                free(h->runs[i]->message);
                free(h->runs[i]);
        }
        free(h->runs);
        free(h->slots);
        free(h);
        return NULL;
}

/* The slot of run_id: where it is, or the empty one where it would go. */
static size_t find_slot(const History *h, const char *run_id) {
        size_t mask = h->n_slots - 1, i = (size_t) hash_id(run_id) & mask;
        while (h->slots[i] != 0 && strcmp(h->runs[h->slots[i] - 1]->run_id, run_id) != 0)
                i = (i + 1) & mask;
        return i;
}

/* (Re)builds the index with n_slots slots. */
static int build_index(History *h, size_t n_slots) {
        size_t *slots = calloc(n_slots, sizeof *slots);
        if (!slots)
                return -ENOMEM;
        free(h->slots);
        h->slots = slots;
        h->n_slots = n_slots;
        for (size_t i = 0; i < h->n_runs; i++)
                h->slots[find_slot(h, h->runs[i]->run_id)] = i + 1;
        return 0;
}

static int summary_get(History *h, const RunRecord *r, RunSummary **ret) {
        size_t slot;
        int k;

        if ((h->n_runs + 1) * 2 > h->n_slots && (k = build_index(h, MAX(h->n_slots * 2, (size_t) 64))) < 0)
                return k;
        slot = find_slot(h, r->run_id);
        if (h->slots[slot] != 0) {
                *ret = h->runs[h->slots[slot] - 1];
                return 0;
        }
        if (h->n_runs == h->allocated) {
                size_t n = h->allocated ? h->allocated * 2 : 64;
                RunSummary **runs = reallocarray(h->runs, n, sizeof *runs);
                if (!runs)
                        return -ENOMEM;
                h->runs = runs;
                h->allocated = n;
        }
        RunSummary *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        memcpy(s->run_id, r->run_id, sizeof s->run_id);
        s->latest = s->end = _RUN_EVENT_INVALID;
        s->begin_usec = UINT64_MAX;
        h->runs[h->n_runs++] = s;
        h->slots[slot] = h->n_runs;
        *ret = s;
        return 0;
}

static int set_string(char **dst, size_t *ret_size, const char *s, size_t size) {
        char *copy = malloc(size + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, s, size);
        copy[size] = '\0';
        free(*dst);
        *dst = copy;
        if (ret_size)
                *ret_size = size;
        return 0;
}

/*
 * Whether r says more about how the run stands than the newest record so far: later, or as late and an
 * end, or (only forged records tie so) the higher event. A total order, so the outcome does not depend
 * on the order records come in.
 */
static bool is_newer(const RunSummary *s, const RunRecord *r) {
        if (s->latest == _RUN_EVENT_INVALID || r->realtime_usec != s->latest_usec)
                return s->latest == _RUN_EVENT_INVALID || r->realtime_usec > s->latest_usec;
        if (run_event_is_end(r->event) != run_event_is_end(s->latest))
                return run_event_is_end(r->event);
        return r->event > s->latest;
}

/* A run ends once; should forged records add more ends, the earliest counts. */
static bool is_first_end(const RunSummary *s, const RunRecord *r) {
        if (!run_event_is_end(r->event))
                return false;
        if (s->end == _RUN_EVENT_INVALID || r->realtime_usec != s->end_usec)
                return s->end == _RUN_EVENT_INVALID || r->realtime_usec < s->end_usec;
        return r->event < s->end;
}

int history_add(History *h, const RunRecord *r) {
        RunSummary *s;
        int k;

        assert(h);
        /* a task's records, like output lines, say nothing of how the run as a whole stands */
        if (r->event < 0 || r->event == RUN_EVENT_LOG || run_event_is_task(r->event) ||
            r->run_id[0] == '\0')
                return 0;
        k = summary_get(h, r, &s);
        if (k < 0)
                return k;

        if (!s->schedule[0])
                memcpy(s->schedule, r->schedule, sizeof s->schedule);
        if (!s->engine[0])
                memcpy(s->engine, r->engine, sizeof s->engine);
        if (r->job_id[0] && !s->job_id &&
            (k = set_string(&s->job_id, NULL, r->job_id, strlen(r->job_id))) < 0)
                return k;
        s->attempts = MAX(s->attempts, r->attempt);
        s->begin_usec = MIN(s->begin_usec, r->realtime_usec);
        if (r->scheduled_usec > 0 && (s->scheduled_usec == 0 || r->scheduled_usec < s->scheduled_usec))
                s->scheduled_usec = r->scheduled_usec; /* all the same, unless forged: then the earliest */
        if (!s->whole && IN_SET(r->event, RUN_EVENT_SCHEDULED, RUN_EVENT_SKIPPED)) {
                s->whole = true;
                h->n_whole++;
        }
        if (is_first_end(s, r)) {
                s->end = r->event;
                s->end_usec = r->realtime_usec;
        }

        if (is_newer(s, r)) {
                size_t size;
                const char *text = run_record_text(r, &size);
                if ((k = set_string(&s->message, &s->message_size, text, size)) < 0)
                        return k;
                s->latest = r->event;
                s->latest_usec = r->realtime_usec;
                s->duration_usec = r->duration_usec;
                s->has_exit_status = r->has_exit_status;
                s->exit_status = r->exit_status;
        }
        return 0;
}

size_t history_n_whole(const History *h) {
        return h->n_whole;
}

static int compare_runs(const void *a, const void *b) {
        const RunSummary *x = *(RunSummary *const *) a, *y = *(RunSummary *const *) b;
        if (x->whole != y->whole)
                return x->whole ? 1 : -1;
        if (x->begin_usec != y->begin_usec)
                return x->begin_usec < y->begin_usec ? -1 : 1;
        return strcmp(x->run_id, y->run_id);
}

int history_runs(History *h, size_t max, RunSummary *const **ret_runs, size_t *ret_n) {
        size_t n = MIN(max, h->n_runs);

        if (h->n_runs == 0) {
                *ret_runs = NULL;
                *ret_n = 0;
                return 0;
        }
        qsort(h->runs, h->n_runs, sizeof *h->runs, compare_runs);
        int k = build_index(h, h->n_slots); /* it points at positions in runs */
        if (k < 0)
                return k;
        *ret_runs = h->runs + (h->n_runs - n);
        *ret_n = n;
        return 0;
}
