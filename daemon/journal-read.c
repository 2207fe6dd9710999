/* SPDX-License-Identifier: MIT */
#include "journal-read.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "macro.h"

void run_record_reset(RunRecord *r) {
        free(r->message);
        *r = (RunRecord){ .event = _RUN_EVENT_INVALID, .priority = -1 };
}

void run_record_done(RunRecord *r) {
        free(r->message);
        r->message = NULL;
}

/* Decimal digits only, no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        if (n == 0 || n > 20)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

static bool parse_int(const char *s, size_t n, int *ret) {
        bool negative = n > 0 && s[0] == '-';
        uint64_t v;
        if (!parse_u64(s + negative, n - negative, &v) || v > (uint64_t) INT_MAX)
                return false;
        *ret = negative ? -(int) v : (int) v;
        return true;
}

/* Copies a value of printable ASCII without spaces that fits (so it is safe as is in a terminal or a
 * JSON string); else leaves the field empty. Names, run ids and job ids are all of that kind. */
static void copy_name(char *dst, size_t dst_size, const char *s, size_t n) {
        if (n == 0 || n >= dst_size)
                return;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
                        return;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

#define FIELD_IS(name) (len == sizeof(name) - 1 && memcmp(field, name, len) == 0)

int run_record_add_field(RunRecord *r, const void *data, size_t size) {
        const char *field = data, *eq = memchr(data, '=', size);
        if (!eq)
                return 0;
        size_t len = (size_t) (eq - field), n = size - len - 1;
        const char *v = eq + 1;
        uint64_t u;

        if (FIELD_IS("MESSAGE")) {
                char *m = malloc(n + 1);
                if (!m)
                        return -ENOMEM;
                memcpy(m, v, n);
                m[n] = '\0';
                free(r->message);
                r->message = m;
                r->message_size = n;
        } else if (FIELD_IS("PRIORITY")) {
                if (parse_u64(v, n, &u) && u <= 7)
                        r->priority = (int) u;
        } else if (FIELD_IS("UDFCRON_EVENT"))
                r->event = run_event_from_string(v, n);
        else if (FIELD_IS("UDFCRON_SCHEDULE"))
                copy_name(r->schedule, sizeof r->schedule, v, n);
        else if (FIELD_IS("UDFCRON_RUN_ID"))
                copy_name(r->run_id, sizeof r->run_id, v, n);
        else if (FIELD_IS("UDFCRON_ENGINE"))
                copy_name(r->engine, sizeof r->engine, v, n);
        else if (FIELD_IS("UDFCRON_JOB_ID"))
                copy_name(r->job_id, sizeof r->job_id, v, n);
        else if (FIELD_IS("UDFCRON_ATTEMPT")) {
                if (parse_u64(v, n, &u) && u >= 1 && u <= UINT_MAX)
                        r->attempt = (unsigned) u;
        } else if (FIELD_IS("UDFCRON_SCHEDULED_USEC"))
                (void) parse_u64(v, n, &r->scheduled_usec);
        else if (FIELD_IS("UDFCRON_DURATION_USEC"))
                (void) parse_u64(v, n, &r->duration_usec);
        else if (FIELD_IS("UDFCRON_NEXT_USEC"))
                (void) parse_u64(v, n, &r->next_usec);
        else if (FIELD_IS("UDFCRON_EXIT_STATUS"))
                r->has_exit_status = parse_int(v, n, &r->exit_status);
        else if (FIELD_IS("UDFCRON_STREAM"))
                r->is_stderr = n == 6 && memcmp(v, "stderr", 6) == 0;
        else if (FIELD_IS("UDFCRON_TASK")) {
                if ((r->has_task = parse_u64(v, n, &u)))
                        r->task = (size_t) u;
        }
        return 0;
}

int run_record_read(sd_journal *j, RunRecord *r) {
        const void *data;
        size_t size;
        int k;

        run_record_reset(r);
        /* One pass over the entry's fields: sd_journal_get_data() would walk them once per field asked. */
        SD_JOURNAL_FOREACH_DATA(j, data, size) {
                k = run_record_add_field(r, data, size);
                if (k < 0)
                        return k;
        }
        return sd_journal_get_realtime_usec(j, &r->realtime_usec);
}

const char *run_record_text(const RunRecord *r, size_t *ret_size) {
        const char *name = run_event_to_string(r->event);
        const char *m = r->message ?: "";
        size_t size = r->message ? r->message_size : 0;

        if (name && r->event != RUN_EVENT_LOG) {
                /* "nightly[r-1] #2 failed: text": the text follows the first " EVENT: " (or ends in "
                 * EVENT") */
                char marker[32];
                int n = snprintf(marker, sizeof marker, " %s", name);
                const char *at = memmem(m, size, marker, (size_t) n);
                if (at) {
                        const char *after = at + n;
                        size_t rest = size - (size_t) (after - m);
                        if (rest == 0) {
                                *ret_size = 0;
                                return after;
                        }
                        if (rest >= 2 && after[0] == ':' && after[1] == ' ') {
                                *ret_size = rest - 2;
                                return after + 2;
                        }
                }
        }
        *ret_size = size;
        return m;
}

int journal_add_field_match(sd_journal *j, const char *field, const char *value) {
        char match[256];
        int n = snprintf(match, sizeof match, "%s=%s", field, value);
        if (n < 0 || (size_t) n >= sizeof match)
                return -EINVAL;
        return sd_journal_add_match(j, match, (size_t) n);
}
