/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what udfcronctl history makes of journal records, which anyone who
 * can log may forge: the input is records separated by empty lines, each a
 * list of FIELD=value lines (a record's time is its index, or the value of a
 * __REALTIME line). Every record goes through run_record_add_field() and
 * history_add(), in journal order and in reverse; how each run stands must
 * not depend on the order (udfcronctl reads newest first).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fuzz-util.h"
#include "history.h"
#include "journal-read.h"
#include "utf8.h"

#define RECORDS_MAX 64

typedef struct Input {
        RunRecord records[RECORDS_MAX];
        size_t n;
} Input;

static void input_done(Input *in) {
        for (size_t i = 0; i < in->n; i++)
                run_record_done(&in->records[i]);
}

static void parse_input(char *text, size_t size, Input *in) {
        char *p = text, *end = text + size;
        RunRecord *r = NULL;

        while (p < end && in->n <= RECORDS_MAX) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                if (len == 0 || !r) {
                        if (in->n == RECORDS_MAX)
                                break;
                        r = &in->records[in->n];
                        run_record_reset(r);
                        r->realtime_usec = in->n++;
                }
                if (len > 10 && memcmp(p, "__REALTIME=", 11) == 0)
                        r->realtime_usec = strtoull(p + 11, NULL, 10);
                else if (len > 0 && run_record_add_field(r, p, len) < 0)
                        abort(); /* only -ENOMEM, which a 4 KiB input cannot cause */
                p += len + 1;
        }
}

static void check_text(const RunRecord *r) {
        size_t size;
        const char *text = run_record_text(r, &size);
        if (r->message && (text < r->message || text + size > r->message + r->message_size))
                abort();
        _cleanup_free_ char *clean = utf8_sanitize(text, size);
        if (!clean)
                abort();
}

static History *fold(const Input *in, bool reverse) {
        History *h;
        if (history_new(&h) < 0)
                abort();
        for (size_t i = 0; i < in->n; i++)
                if (history_add(h, &in->records[reverse ? in->n - 1 - i : i]) < 0)
                        abort();
        return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 4096)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size);
        _cleanup_(input_done) Input in = {};
        if (!text)
                return 0;
        parse_input(text, size, &in);
        for (size_t i = 0; i < in.n; i++)
                check_text(&in.records[i]);

        _cleanup_(history_freep) History *forward = fold(&in, false), *backward = fold(&in, true);
        RunSummary *const *a, *const *b;
        size_t na, nb;
        if (history_runs(forward, SIZE_MAX, &a, &na) < 0 || history_runs(backward, SIZE_MAX, &b, &nb) < 0)
                abort();
        if (na != nb || history_n_whole(forward) != history_n_whole(backward) ||
            history_n_whole(forward) > na)
                abort();
        for (size_t i = 0; i < na; i++) {
                if (strcmp(a[i]->run_id, b[i]->run_id) != 0 || a[i]->whole != b[i]->whole ||
                    a[i]->attempts != b[i]->attempts || a[i]->begin_usec != b[i]->begin_usec ||
                    a[i]->latest_usec != b[i]->latest_usec || a[i]->latest != b[i]->latest ||
                    a[i]->end != b[i]->end || a[i]->end_usec != b[i]->end_usec ||
                    a[i]->scheduled_usec != b[i]->scheduled_usec || !run_summary_outcome(a[i]))
                        abort();
                if (i > 0 && a[i - 1]->whole && !a[i]->whole)
                        abort(); /* runs not whole sort first */
        }
        /* the newest n are the last n of the whole list */
        RunSummary *const *tail;
        size_t n_tail;
        if (history_runs(forward, 2, &tail, &n_tail) < 0 || n_tail != (na < 2 ? na : 2) ||
            (n_tail > 0 && tail[n_tail - 1] != a[na - 1]))
                abort();
        return 0;
}
