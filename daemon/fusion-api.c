/* SPDX-License-Identifier: MIT */
#include "fusion-api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http-error.h"
#include "json-util.h"
#include "macro.h"
#include "timestamp.h"

static const char *const run_state_names[_FUSION_RUN_STATE_MAX] = {
        [FUSION_RUN_UNKNOWN] = "unknown",     [FUSION_RUN_IDLE] = "idle",
        [FUSION_RUN_STARTING] = "starting",   [FUSION_RUN_RUNNING] = "running",
        [FUSION_RUN_FINISHING] = "finishing", [FUSION_RUN_CANCELLING] = "cancelling",
        [FUSION_RUN_FINISHED] = "finished",   [FUSION_RUN_CANCELLED] = "cancelled",
        [FUSION_RUN_ERROR] = "error",         [FUSION_RUN_SKIPPED] = "skipped",
};

const char *fusion_run_state_to_string(FusionRunState s) {
        return s >= 0 && s < _FUSION_RUN_STATE_MAX ? run_state_names[s] : NULL;
}

FusionRunState fusion_run_state_from_string(const char *s) {
        for (int i = 0; s && i < _FUSION_RUN_STATE_MAX; i++)
                if (strcasecmp(s, run_state_names[i]) == 0)
                        return (FusionRunState) i;
        return _FUSION_RUN_STATE_INVALID;
}

bool fusion_run_state_is_terminal(FusionRunState s) {
        return IN_SET(s, FUSION_RUN_FINISHED, FUSION_RUN_CANCELLED, FUSION_RUN_ERROR, FUSION_RUN_SKIPPED);
}

/* ---------------------------------------------------------------- helpers */

static const cJSON *member(const cJSON *object, const char *key) {
        return cJSON_GetObjectItemCaseSensitive(object, key);
}

static const char *string_member(const cJSON *object, const char *key) {
        const cJSON *v = member(object, key);
        return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

static int strdup_to(char **target, const char *s) {
        if (s && !(*target = strdup(s)))
                return -ENOMEM;
        return 0;
}

/* Adds "; what" to a note; only -ENOMEM fails. */
_printf_(2, 3) static int note_add(char **note, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        char *joined;
        va_list ap;

        va_start(ap, format);
        int r = vasprintf(&text, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (asprintf(&joined, "%s%s%s", *note ?: "", *note ? "; " : "", text) < 0)
                return -ENOMEM;
        free(*note);
        *note = joined;
        return 0;
}

/* The body as JSON; NULL when it is not (or on OOM, which then shows as a bad reply: rare enough). */
static cJSON *parse_body(const char *body, size_t size) {
        return body ? cJSON_ParseWithLength(body, size) : NULL;
}

/* ---------------------------------------------------------------- SparkJobStatus */

void fusion_run_status_done(FusionRunStatus *s) {
        free(s->state_text);
        free(s->job_id);
        free(s->error);
        free(s->summary);
        free(s->note);
        *s = (FusionRunStatus){};
}

/* What a finished run leaves as its result: the status without the echoed config (large, and it may hold
 * a script) and without an exception. */
static char *run_summary(const cJSON *status) {
        static const char *const kept[] = { "jobId",    "state",    "startTime", "endTime",
                                            "duration", "hostname", "result" };
        _cleanup_(json_freep) cJSON *summary = cJSON_CreateObject();
        if (!summary)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                const cJSON *v = member(status, kept[i]);
                cJSON *copy = v ? cJSON_Duplicate(v, true) : NULL;
                if (v && (!copy || !cJSON_AddItemToObject(summary, kept[i], copy))) {
                        cJSON_Delete(copy);
                        return NULL;
                }
        }
        cJSON *result = cJSON_GetObjectItemCaseSensitive(summary, "result");
        if (cJSON_IsObject(result))
                cJSON_DeleteItemFromObjectCaseSensitive(result, "exception");
        return cJSON_PrintUnformatted(summary);
}

static int run_status_from_json(const cJSON *j, FusionRunStatus *ret) {
        const cJSON *state = member(j, "state"), *result = member(j, "result"),
                    *exception = cJSON_IsObject(result) ? member(result, "exception") : NULL;
        const char *job_id = string_member(j, "jobId"),
                   *run_id = cJSON_IsObject(result) ? string_member(result, "jobRunId") : NULL;
        FusionRunStatus s = {};
        int r = 0;

        if (!cJSON_IsObject(j) || !cJSON_IsString(state))
                return -EBADMSG;
        s.state = fusion_run_state_from_string(state->valuestring);
        if (strdup_to(&s.state_text, state->valuestring) < 0 || strdup_to(&s.job_id, job_id ?: run_id) < 0 ||
            !(s.summary = run_summary(j)))
                r = -ENOMEM;
        if (r >= 0 && s.state < 0)
                r = note_add(&s.note, "unknown state '%s', taken as still running", state->valuestring);
        if (r >= 0 && !job_id && !run_id && !IN_SET(s.state, FUSION_RUN_IDLE, FUSION_RUN_UNKNOWN))
                r = note_add(&s.note, "a run in state '%s' without a jobId", state->valuestring);
        if (r >= 0 && job_id && run_id && strcmp(job_id, run_id) != 0)
                r = note_add(&s.note, "jobId %s and result.jobRunId %s differ; following jobId", job_id,
                             run_id);
        if (r >= 0 && exception && !cJSON_IsNull(exception)) {
                r = http_error_json_message(exception, &s.error);
                if (r == -ENOENT)
                        r = note_add(&s.note, "result.exception explains nothing");
        }
        if (r < 0) {
                fusion_run_status_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

int fusion_parse_run_status(const char *body, size_t size, FusionRunStatus *ret) {
        _cleanup_(json_freep) cJSON *j = parse_body(body, size);
        return run_status_from_json(j, ret);
}

int fusion_find_run(const char *body, size_t size, const char *job_id, FusionRunStatus *ret) {
        _cleanup_(json_freep) cJSON *j = parse_body(body, size);
        const cJSON *item;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        cJSON_ArrayForEach(item, j) {
                FusionRunStatus s;
                int r = run_status_from_json(item, &s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                if (s.job_id && strcmp(s.job_id, job_id) == 0) {
                        *ret = s;
                        return 0;
                }
                fusion_run_status_done(&s);
        }
        return -ENOENT;
}

/* ---------------------------------------------------------------- Jobs API, OAuth2 */

void fusion_action_reply_done(FusionActionReply *a) {
        free(a->message);
        free(a->note);
        *a = (FusionActionReply){};
}

int fusion_parse_action_reply(const char *body, size_t size, FusionActionReply *ret) {
        _cleanup_(json_freep) cJSON *j = parse_body(body, size);
        const cJSON *accepted = member(j, "accepted");
        const char *action = string_member(j, "action");
        FusionActionReply a = {};

        if (!cJSON_IsObject(j) || !cJSON_IsBool(accepted))
                return -EBADMSG;
        a.accepted = cJSON_IsTrue(accepted);
        if (strdup_to(&a.message, string_member(j, "message")) < 0 ||
            (action && strcasecmp(action, "start") != 0 && strcasecmp(action, "abort") != 0 &&
             note_add(&a.note, "an answer about action '%s'", action) < 0)) {
                fusion_action_reply_done(&a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

int fusion_parse_token(const char *body, size_t size, char **ret_token, uint64_t *ret_expires_in) {
        _cleanup_(json_freep) cJSON *j = parse_body(body, size);
        const char *token = string_member(j, "access_token");
        const cJSON *expires = member(j, "expires_in");

        if (!token)
                return -EBADMSG;
        char *copy = strdup(token);
        if (!copy)
                return -ENOMEM;
        *ret_token = copy;
        *ret_expires_in = cJSON_IsNumber(expires) && expires->valuedouble > 0 && expires->valuedouble < 1e9
                                  ? (uint64_t) expires->valuedouble
                                  : 0;
        return 0;
}

/* ---------------------------------------------------------------- the driver log */

void fusion_log_done(FusionLog *log) {
        free(log->lines);
        cJSON_Delete(log->storage);
        *log = (FusionLog){};
}

static int log_push(FusionLog *log, size_t *alloc, const char *text, size_t size, uint64_t usec) {
        if (log->n_lines == *alloc) {
                size_t n = MAX(*alloc * 2, (size_t) 64);
                FusionLogLine *l = reallocarray(log->lines, n, sizeof *l);
                if (!l)
                        return -ENOMEM;
                log->lines = l;
                *alloc = n;
        }
        log->lines[log->n_lines++] = (FusionLogLine){ text, size, usec };
        return 0;
}

/* The job launcher's LogLineList [{line, date}], or a list of strings. */
static int log_from_json(cJSON *list, FusionLog *log, size_t *alloc) {
        const cJSON *item;
        int r = 0;

        cJSON_ArrayForEach(item, list) {
                const char *text = cJSON_IsString(item) ? item->valuestring : string_member(item, "line");
                const char *date = string_member(item, "date");
                int64_t seconds;
                uint64_t usec = date && timestamp_parse(date, &seconds) >= 0 && seconds > 0
                                        ? (uint64_t) seconds * UINT64_C(1000000)
                                        : 0;
                if (text && (r = log_push(log, alloc, text, strlen(text), usec)) < 0)
                        break;
        }
        return r;
}

static bool looks_like_json_list(const char *body, size_t size, const char *content_type) {
        if (content_type && strncasecmp(content_type, "text/", 5) == 0)
                return false;
        for (size_t i = 0; i < size; i++)
                if (!strchr(" \t\r\n", body[i]))
                        return body[i] == '[';
        return false;
}

int fusion_parse_driver_log(const char *body, size_t size, const char *content_type, bool complete,
                            FusionLog *ret) {
        FusionLog log = {};
        size_t alloc = 0;
        int r = 0;

        if (body && looks_like_json_list(body, size, content_type)) {
                cJSON *j = cJSON_ParseWithLength(body, size);
                if (cJSON_IsArray(j)) {
                        log.storage = j;
                        r = log_from_json(j, &log, &alloc);
                        goto done;
                }
                cJSON_Delete(j); /* not JSON after all: text that starts with '[' */
        }
        for (size_t start = 0; body && start < size;) {
                const char *nl = memchr(body + start, '\n', size - start);
                size_t end = nl ? (size_t) (nl - body) : size, len = end - start;
                if (!nl && !complete)
                        break;
                if (len > 0 && body[end - 1] == '\r')
                        len--;
                if ((r = log_push(&log, &alloc, body + start, len, 0)) < 0)
                        break;
                start = end + 1;
        }
done:
        if (r < 0) {
                fusion_log_done(&log);
                return r;
        }
        *ret = log;
        return 0;
}

unsigned fusion_log_rows(const FusionLogTail *t) {
        return (unsigned) MIN(t->forwarded, (uint64_t) FUSION_LOG_ROWS_MAX - FUSION_LOG_ROWS_AHEAD) +
               FUSION_LOG_ROWS_AHEAD;
}

/* FNV-1a, never 0 (0 means "unknown"). */
static uint64_t line_hash(const FusionLogLine *l) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t i = 0; i < l->size; i++)
                h = (h ^ (unsigned char) l->text[i]) * UINT64_C(0x100000001b3);
        return h ?: 1;
}

size_t fusion_log_tail_advance(FusionLogTail *t, const FusionLog *w, unsigned rows, const char **ret_note) {
        size_t n = w->n_lines, first = 0;
        /* shorter than asked for: the whole log, so positions in it are exact */
        bool whole = n < rows;
        bool in_step = t->forwarded <= n && (t->forwarded == 0 || t->last_hash == 0 ||
                                             line_hash(&w->lines[t->forwarded - 1]) == t->last_hash);
        const char *note = NULL;

        if (n == 0) { /* nothing to go by: a log that is empty for now is not a new log */
                if (ret_note)
                        *ret_note = NULL;
                return 0;
        }
        if (in_step)
                first = (size_t) t->forwarded;
        else if (t->last_hash == 0) {
                first = n; /* shorter than the recorded position, and no line to recognise: skip it */
                note = "the driver log is shorter than the position recorded; following it from its end";
        } else {
                for (size_t i = n; i > 0 && first == 0; i--)
                        if (line_hash(&w->lines[i - 1]) == t->last_hash)
                                first = i;
                if (first == 0)
                        note = whole ? "the driver log was replaced; forwarding it from its start"
                                     : "the driver log grew by more than one fetch; lines may be missing";
        }
        t->forwarded = whole ? n : t->forwarded + MIN(n - first, UINT64_MAX - t->forwarded);
        t->last_hash = line_hash(&w->lines[n - 1]);
        if (ret_note)
                *ret_note = note;
        return first;
}
