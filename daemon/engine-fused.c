/* SPDX-License-Identifier: MIT */
/*
 * The fused engine (shared/api/fused.md): a run is a Fused UDF run or a
 * Fused batch job, driven through the manager's HttpClient one request at a
 * time, never blocking the loop.
 *
 *  realtime  a saved UDF (GET .../run/udf/saved/{owner}/{name}), a shared
 *            token (GET {shared}/{token}/run/file, no credentials), or the
 *            schedule's UDF file posted as code through the polling variant
 *            (POST .../run/udf/start, then GET .../run/udf/get/{id} while the
 *            service answers 202). The answer's body is the result; the
 *            x-fused-metadata header's stdout and stderr become output lines.
 *  batch     POST /run with a job config holding one UDF step, then every
 *            poll_interval the job's status (progress) and its log since the
 *            last line forwarded, until it ends; then its result files, each
 *            from a signed URL fetched without credentials. A log that stays
 *            quiet is read less often (quiet_log_interval, see on_logs()).
 *
 * Nothing is started twice. The starts (POST /run, POST .../start) are never
 * retried by the HTTP client; when their answer is lost, the engine looks for
 * what it may have started before it tries again: a batch job by its name,
 * which carries the run id and attempt (fused_job_name()), a posted-code run
 * by its Fused-Run-Id, derived from them (fused_run_uuid()). A restarted
 * daemon does the same for an attempt it recorded without an id
 * (may_have_started), and re-attaches to one with an id.
 *
 * Log lines are forwarded in timestamp order, each with its own timestamp;
 * the position reported to the run (log_position) is the timestamp of the
 * last line forwarded, and only once every line of the page has been: the
 * service answers since_ms with the lines after it, and shows the lines of
 * one millisecond together (the SDK's tail_logs relies on both), so resuming
 * from that position repeats no line and loses none.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "engine.h"
#include "fileio.h"
#include "fused-api.h"
#include "http.h"
#include "json-util.h"
#include "strv.h"

#define USEC_PER_MSEC UINT64_C(1000)
/* A UDF file posted as code: larger ones are surely not meant to be */
#define UDF_FILE_MAX (16 << 20)
/* A posted-code run that answered 202 is asked again this often */
#define CODE_POLL_USEC (1 * USEC_PER_SEC)
/* After a job's end is seen, its last log lines get this long to show up before the final read */
#define LOG_GRACE_USEC (1 * USEC_PER_SEC)
/* A log page this long may have been cut by the service: the next one is read at once */
#define LOG_PAGE_FOLLOW 200
/* Results fetched in memory at most (beyond: not kept, and said so); files are fetched one by one */
#define RESULTS_TOTAL_MAX (UINT64_C(1) << 30)
/* The search for a job the previous daemon may have started: pages of /job/self, and configs read */
#define SEARCH_PAGE 25
#define SEARCH_PAGES_MAX 40
#define SEARCH_CONFIGS_MAX 100
/* Jobs created this long before the run's slot are not the run's (clocks differ a little) */
#define SEARCH_SLACK_USEC (10 * 60 * USEC_PER_SEC)
/* A transient failure of a step that must not be skipped (results, a search) is tried this often */
#define STEP_TRIES_MAX 5

typedef struct EngineRun EngineRun;
typedef void (*ReplyHandler)(EngineRun *run, const HttpReply *reply);
typedef void (*Action)(EngineRun *run);

struct EngineRun {
        const EngineEvents *events;
        void *userdata;
        sd_event *event;
        HttpClient *http;
        HttpTransfer *transfer; /* the one request in flight, or NULL */
        ReplyHandler on_reply;
        sd_event_source *timer; /* the next step after a pause (a poll, a retry), or a deferred end */
        Action on_timer;
        sd_event_source *deadline; /* the schedule's timeout */

        /* what runs, copied at start */
        char *schedule, *run_id;
        unsigned attempt;
        uint64_t slot_usec;
        FusedMode mode;
        bool may_have_started;
        char *base_url, *shared_base_url;
        char *token; /* resolved: wiped when freed */
        char *client_id;
        char *saved_udf, *shared_token;
        char *udf_name;
        cJSON *udf;    /* the UDF object of a posted or batch run (code, entrypoint, parameters) */
        cJSON *params; /* the expanded parameters */
        cJSON *inputs; /* batch: one argument per task */
        cJSON *job_config; /* batch: a whole JobConfig given (a pipeline's step), posted as it is */
        char *format, *instance_type, *region, *image;
        unsigned disk_size_gb;
        char **additional_env;
        bool send_status_email, cache;
        uint64_t poll_interval_usec, realtime_timeout_usec, timeout_usec;
        unsigned quiet_log_polls; /* a quiet log is read at least every this many polls */
        HttpSettings realtime_settings; /* a UDF may compute for minutes before the first byte */
        char run_uuid[37];              /* posted code: its Fused-Run-Id */
        char *job_name;                 /* batch */

        /* progress */
        bool ended;
        bool stopping; /* cancel() or the timeout: stop_kind says which */
        bool start_in_flight; /* POST /run (or .../start) sent, its answer awaited */
        bool probing;         /* posted code: asking whether the run exists before starting it */
        char *pending_failure; /* fail_soon() */
        bool pending_permanent;
        OutcomeKind stop_kind;
        unsigned tries; /* of the current step, for those retried here */
        char *job_id;
        uint64_t log_since_ms;
        uint64_t next_poll_usec; /* CLOCK_MONOTONIC: polls keep their rhythm */
        unsigned log_gap_polls;  /* the log is read every this many polls: 1, doubling while it is quiet */
        unsigned log_wait_polls; /* polls left before the next read */
        bool job_ended;
        FusedRunResponse last; /* the last status read */
        bool polls_failing;    /* said so once; said again when they work again */
        bool had_udf_error;
        /* the search for a job that may have been started */
        unsigned search_page, search_configs;
        FusedJobListItem *candidates;
        size_t n_candidates, next_candidate;
        bool search_reached_old; /* the list reached jobs older than the run */
        unsigned start_tries;
        bool start_after_search;  /* nothing found: start (else: fail) */
        uint64_t retry_after_usec; /* the lost start's Retry-After, waited for before starting again */
        /* results */
        FusedResultItem *results;
        size_t n_results, next_result;
        EngineResultFile *files;
        char **file_data, **file_types;
        size_t n_files;
        uint64_t results_bytes;
};

/* ---------------------------------------------------------------- small helpers */

_printf_(3, 4) static void note(EngineRun *run, int priority, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        va_start(ap, format);
        int r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r >= 0 && run->events->note)
                run->events->note(run->userdata, priority, message);
}

/* What a decoder overlooked, at debug level. */
static void note_unexpected(EngineRun *run, const char *what, char *unexpected) {
        if (unexpected)
                note(run, LOG_DEBUG, "fused: unexpected in %s: %s", what, unexpected);
        free(unexpected);
}

/* Splits text into lines (a trailing newline ends the last one, it does not start another) and forwards
 * each as a line of output. */
static void output_lines(EngineRun *run, bool is_stderr, const char *text, size_t size, uint64_t remote_usec) {
        while (size > 0) {
                const char *nl = memchr(text, '\n', size);
                size_t len = nl ? (size_t) (nl - text) : size;
                run->events->output(run->userdata, is_stderr, text, len, false, remote_usec);
                if (!nl)
                        break;
                size -= len + 1;
                text = nl + 1;
        }
}

/* ---------------------------------------------------------------- ending, timers, requests */

static void finish(EngineRun *run, const EngineOutcome *outcome) {
        if (run->ended)
                return;
        run->ended = true;
        run->timer = sd_event_source_disable_unref(run->timer);
        run->deadline = sd_event_source_disable_unref(run->deadline);
        run->events->ended(run->userdata, outcome); /* may free the run: nothing after this */
}

static void fail(EngineRun *run, bool permanent, const char *message) {
        EngineOutcome outcome = { .kind = OUTCOME_FAILED, .permanent = permanent, .message = message };
        finish(run, &outcome);
}

_printf_(3, 4) static void failf(EngineRun *run, bool permanent, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        va_start(ap, format);
        int r = vasprintf(&message, format, ap);
        va_end(ap);
        fail(run, permanent, r < 0 ? "out of memory" : message);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        EngineRun *run = userdata;
        Action action = run->on_timer;
        (void) s, (void) usec;
        run->timer = sd_event_source_disable_unref(run->timer);
        run->on_timer = NULL;
        action(run);
        return 0;
}

/* Runs `action` after `delay` (monotonic), replacing any pending one. Accuracy: a twentieth of the
 * delay, so that sd-event wakes once for many runs' polls due at about the same time. */
static int arm(EngineRun *run, uint64_t delay, Action action) {
        run->timer = sd_event_source_disable_unref(run->timer);
        run->on_timer = action;
        return sd_event_add_time_relative(run->event, &run->timer, CLOCK_MONOTONIC, delay, delay / 20, on_timer,
                                          run);
}

static void later(EngineRun *run, uint64_t delay, Action action) {
        if (arm(run, delay, action) < 0)
                fail(run, false, "cannot arm a timer: out of memory");
}

static void on_http_done(void *userdata, const HttpReply *reply) {
        EngineRun *run = userdata;
        HttpTransfer *t = TAKE_PTR(run->transfer);
        ReplyHandler handler = run->on_reply;
        run->on_reply = NULL;
        handler(run, reply); /* may free the run */
        http_transfer_free(t);
}

typedef struct Call {
        HttpMethod method;
        const char *url;
        bool auth; /* the bearer token goes along (to the URL's origin only) */
        bool at_most_once; /* a start: see the top */
        const cJSON *json;
        const HttpSettings *settings;
        const char *const *headers;
        uint64_t not_before_usec; /* CLOCK_MONOTONIC: sent then (see HttpRequest); 0: at once */
} Call;

/* Sends one request; `handler` gets its reply. A request that cannot even be sent fails the run. */
static void call(EngineRun *run, const Call *c, ReplyHandler handler) {
        HttpRequest request = {
                .method = c->method,
                .url = c->url,
                .headers = c->headers,
                .json = c->json,
                .settings = c->settings,
                .at_most_once = c->at_most_once,
                .not_before_usec = c->not_before_usec,
                .auth = c->auth && run->token ? (HttpAuth){ .type = HTTP_AUTH_BEARER, .token = run->token }
                                              : (HttpAuth){ .type = HTTP_AUTH_NONE },
        };
        if (!c->url) {
                fail(run, false, "out of memory");
                return;
        }
        run->on_reply = handler;
        int r = http_submit(run->http, &request, on_http_done, run, &run->transfer);
        if (r < 0) {
                run->on_reply = NULL;
                failf(run, r == -EINVAL, "cannot send a request: %s", strerror(-r));
        }
}

/* The request's reply, or the reason it failed, for messages. */
static const char *reply_message(const HttpReply *reply) {
        return reply->message ?: "no reply";
}

/* ---------------------------------------------------------------- stopping */

static void end_stopped(EngineRun *run, const char *detail) {
        char message[512];
        if (run->stop_kind == OUTCOME_TIMED_OUT)
                snprintf(message, sizeof message, "timed out after %.0fs%s%s", (double) run->timeout_usec / 1e6,
                         detail ? "; " : "", detail ?: "");
        else
                snprintf(message, sizeof message, "cancelled%s%s", detail ? "; " : "", detail ?: "");
        EngineOutcome outcome = { .kind = run->stop_kind, .message = message };
        finish(run, &outcome);
}

static void on_cancel_reply(EngineRun *run, const HttpReply *reply) {
        char detail[512];
        if (reply->outcome == HTTP_OK)
                snprintf(detail, sizeof detail, "job %s cancelled", run->job_id);
        else
                snprintf(detail, sizeof detail, "cancelling job %s failed: %s", run->job_id, reply_message(reply));
        end_stopped(run, detail);
}

static void cancel_job(EngineRun *run) {
        _cleanup_free_ char *url = strprintf("%s/run/by-id/%s/cancel", run->base_url, run->job_id);
        call(run, &(Call){ .method = HTTP_POST, .url = url, .auth = true }, on_cancel_reply);
}

static void end_cancelled(EngineRun *run) {
        end_stopped(run, NULL);
}

/* Stops what is under way: a batch job is cancelled on the service; a batch start whose answer is
 * awaited is waited for (the job it may start is then cancelled); anything else just ends (a posted-code
 * run has no cancel). The end is never reported from inside this call. */
static void stop(EngineRun *run, OutcomeKind kind) {
        if (run->stopping || run->ended)
                return;
        run->stopping = true;
        run->stop_kind = kind;
        run->timer = sd_event_source_disable_unref(run->timer);
        if (run->start_in_flight && run->mode == FUSED_MODE_BATCH)
                return;
        run->transfer = http_transfer_free(run->transfer);
        run->on_reply = NULL;
        later(run, 0, run->job_id && run->mode == FUSED_MODE_BATCH ? cancel_job : end_cancelled);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        EngineRun *run = userdata;
        (void) s, (void) usec;
        run->deadline = sd_event_source_disable_unref(run->deadline);
        stop(run, OUTCOME_TIMED_OUT);
        return 0;
}

/* ---------------------------------------------------------------- failing asynchronously */

static void end_with_pending_failure(EngineRun *run) {
        fail(run, run->pending_permanent, run->pending_failure ?: "out of memory");
}

/* From start(): the end is reported once start() has returned. */
static int fail_soon(EngineRun *run, bool permanent, const char *message) {
        free(run->pending_failure);
        run->pending_failure = strdup(message);
        run->pending_permanent = permanent;
        return run->pending_failure ? arm(run, 0, end_with_pending_failure) : -ENOMEM;
}

/* ---------------------------------------------------------------- realtime runs */

static const char *const no_cache_headers[] = { "X-Fused-Cache-Disable: true", NULL };

static const char *const *cache_headers(const EngineRun *run) {
        return run->cache ? NULL : no_cache_headers;
}

/* A realtime run's answer: output from x-fused-metadata, then the result or why there is none. */
static void realtime_answered(EngineRun *run, const HttpReply *reply) {
        const char *header = http_reply_header(reply, "x-fused-metadata");
        FusedMetadata meta = {};

        if (header && fused_metadata_parse(header, &meta) < 0)
                note(run, LOG_DEBUG, "fused: x-fused-metadata is not a JSON object, ignored");
        if (meta.stdout_text)
                output_lines(run, false, meta.stdout_text, strlen(meta.stdout_text), 0);
        if (meta.stderr_text)
                output_lines(run, true, meta.stderr_text, strlen(meta.stderr_text), 0);
        if (reply->outcome == HTTP_OK && (http_reply_header(reply, "x-cache") ||
                                          http_reply_header(reply, "x-fused-cached")))
                note(run, LOG_DEBUG, "fused: the answer came from the service's cache");

        if (reply->outcome == HTTP_OK && reply->status == 202) {
                fused_metadata_done(&meta);
                fail(run, false, "the service answered 202 (still running) to a run that cannot be polled");
        } else if (reply->outcome == HTTP_OK) {
                EngineOutcome outcome = {
                        .kind = OUTCOME_SUCCEEDED,
                        .result = reply->body_size > 0 ? reply->body : NULL, /* empty: the UDF returned None */
                        .result_size = reply->body_size,
                        .result_type = reply->content_type,
                };
                fused_metadata_done(&meta);
                finish(run, &outcome);
        } else if (meta.has_exception) {
                char line[32] = "";
                if (meta.lineno > 0)
                        snprintf(line, sizeof line, " (line %d)", meta.lineno);
                _cleanup_free_ char *message = NULL;
                int r = asprintf(&message, "the UDF raised %s%s%s%s (HTTP %ld)", meta.exception_class ?: "",
                                 meta.exception_class && meta.message ? ": " : "", meta.message ?: "", line,
                                 reply->status);
                fused_metadata_done(&meta);
                /* the UDF's own failure: the schedule's retries decide, as for a local UDF that raised */
                fail(run, false, r < 0 ? "the UDF raised an exception" : message);
        } else {
                fused_metadata_done(&meta);
                /* 4xx (no such UDF, bad token, refused parameters): trying again cannot help */
                fail(run, reply->outcome == HTTP_FAIL, reply_message(reply));
        }
}

static void realtime_get(EngineRun *run) {
        _cleanup_free_ char *query = NULL, *url = NULL;
        bool shared = run->shared_token != NULL;

        if (fused_query_encode(run->params, run->format, &query) < 0) {
                fail(run, true, "parameters: not an object");
                return;
        }
        if (shared) {
                _cleanup_free_ char *token = fused_url_escape(run->shared_token);
                url = token ? strprintf("%s/%s/run/file?%s", run->shared_base_url, token, query) : NULL;
        } else {
                const char *slash = strchr(run->saved_udf, '/');
                _cleanup_free_ char *owner = strndup(run->saved_udf, (size_t) (slash - run->saved_udf));
                _cleanup_free_ char *o = owner ? fused_url_escape(owner) : NULL, *n = fused_url_escape(slash + 1);
                _cleanup_free_ char *cid = fused_url_escape(run->client_id);
                url = o && n && cid ? strprintf("%s/realtime/%s/api/v1/run/udf/saved/%s/%s?%s", run->base_url, cid,
                                                 o, n, query)
                                    : NULL;
        }
        /* a shared token is the credential itself: the service's token stays home */
        call(run,
             &(Call){ .method = HTTP_GET, .url = url, .auth = !shared, .settings = &run->realtime_settings,
                      .headers = cache_headers(run) },
             realtime_answered);
}

static void code_start(EngineRun *run);
static void code_get(EngineRun *run);

/* The body of a posted-code run: the step config travels as a JSON string. */
static cJSON *code_body(EngineRun *run) {
        _cleanup_(json_freep) cJSON *step = cJSON_CreateObject(), *body = cJSON_CreateObject();
        _cleanup_free_ char *step_text = NULL;
        if (!step || !body || !cJSON_AddStringToObject(step, "type", "udf") ||
            !cJSON_AddItemReferenceToObject(step, "udf", run->udf) || !cJSON_AddNullToObject(step, "input") ||
            !(step_text = cJSON_PrintUnformatted(step)) ||
            !cJSON_AddStringToObject(body, "step_config", step_text) ||
            !cJSON_AddStringToObject(body, "format", run->format) || !cJSON_AddFalseToObject(body, "profile"))
                return NULL;
        return TAKE_PTR(body);
}

static char *code_url(EngineRun *run, const char *what) {
        _cleanup_free_ char *cid = fused_url_escape(run->client_id);
        return cid ? strprintf("%s/realtime/%s/api/v1/run/udf/%s", run->base_url, cid, what) : NULL;
}

/* The answer to .../start, or to .../get/{id} after it. */
static void on_code_answer(EngineRun *run, const HttpReply *reply) {
        if (reply->outcome == HTTP_OK && reply->status == 202) {
                if (!run->job_id) { /* running: a restarted daemon asks for it again, by its id */
                        run->job_id = strdup(run->run_uuid);
                        if (run->events->accepted)
                                run->events->accepted(run->userdata, run->run_uuid);
                }
                later(run, CODE_POLL_USEC, code_get);
                return;
        }
        realtime_answered(run, reply);
}

static void on_code_started(EngineRun *run, const HttpReply *reply) {
        run->start_in_flight = false;
        if (reply->status == 409) { /* the service has a run of this id: this attempt's, started before */
                note(run, LOG_INFO, "fused: run %s was started already; following it", run->run_uuid);
                code_get(run);
        } else if (reply->outcome == HTTP_RETRY && reply->status != 429) {
                /* the answer is lost, not necessarily the run: ask for it before starting again */
                note(run, LOG_WARNING, "fused: starting run %s: %s; looking whether it started", run->run_uuid,
                     reply_message(reply));
                run->probing = true;
                code_get(run);
        } else if (reply->outcome == HTTP_RETRY && ++run->tries < STEP_TRIES_MAX) {
                uint64_t delay = MAX(reply->retry_after_usec, run->poll_interval_usec);
                note(run, LOG_WARNING, "fused: starting run %s: %s; trying again in %.0fs", run->run_uuid,
                     reply_message(reply), (double) delay / 1e6);
                later(run, delay, code_start);
        } else
                on_code_answer(run, reply);
}

static void code_start(EngineRun *run) {
        _cleanup_(json_freep) cJSON *body = code_body(run);
        _cleanup_free_ char *url = code_url(run, "start"), *id_header = NULL;
        if (!body || asprintf(&id_header, "Fused-Run-Id: %s", run->run_uuid) < 0) {
                fail(run, false, "out of memory");
                return;
        }
        const char *headers[] = { id_header, run->cache ? NULL : no_cache_headers[0], NULL };
        run->probing = false;
        run->start_in_flight = true;
        call(run,
             &(Call){ .method = HTTP_POST, .url = url, .auth = true, .json = body, .at_most_once = true,
                      .headers = headers },
             on_code_started);
}

static void on_code_get(EngineRun *run, const HttpReply *reply) {
        if (reply->status == 404 && run->probing) { /* it never started: now it may */
                if (run->tries++ >= STEP_TRIES_MAX) {
                        fail(run, false, "the service keeps losing the answer to starting the run");
                        return;
                }
                later(run, run->tries > 1 ? run->poll_interval_usec : 0, code_start);
                return;
        }
        if (reply->status == 404 && run->job_id) {
                failf(run, false, "run %s is gone from the service (%s)", run->run_uuid, reply_message(reply));
                return;
        }
        run->probing = false;
        on_code_answer(run, reply);
}

static void code_get(EngineRun *run) {
        _cleanup_free_ char *what = strprintf("get/%s", run->run_uuid);
        _cleanup_free_ char *url = what ? code_url(run, what) : NULL;
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true, .settings = &run->realtime_settings },
             on_code_get);
}

static void realtime_begin(EngineRun *run);

static void on_instances(EngineRun *run, const HttpReply *reply) {
        if (reply->outcome != HTTP_OK) {
                failf(run, reply->outcome == HTTP_FAIL, "finding a realtime instance: %s", reply_message(reply));
                return;
        }
        int r = fused_instances_pick(reply->body, reply->body_size, &run->client_id);
        if (r == -ENOMEM)
                fail(run, false, "out of memory");
        else if (r < 0)
                fail(run, false,
                     "finding a realtime instance: /realtime-instance/available lists none (set "
                     "engines.fused.realtime_client_id)");
        else {
                note(run, LOG_DEBUG, "fused: realtime instance %s", run->client_id);
                realtime_begin(run);
        }
}

/* Realtime: the instance first (unless shared, or configured), then the run. */
static void realtime_begin(EngineRun *run) {
        if (!run->shared_token && !run->client_id) {
                _cleanup_free_ char *url = strprintf("%s/realtime-instance/available", run->base_url);
                call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_instances);
        } else if (run->udf)
                run->probing ? code_get(run) : code_start(run);
        else
                realtime_get(run);
}

/* ---------------------------------------------------------------- batch jobs: results */

static void results_list(EngineRun *run);
static void result_fetch(EngineRun *run);

static void results_done(EngineRun *run) {
        EngineOutcome outcome = { .kind = OUTCOME_SUCCEEDED, .files = run->files, .n_files = run->n_files };
        finish(run, &outcome);
}

/* A step whose failure does not fail the job (it succeeded) but must not be skipped either: a transient
 * failure is tried again a few times, a lasting one ends the run, without a retry that would run the
 * whole job again. */
static void retry_step(EngineRun *run, const HttpReply *reply, const char *what, Action again) {
        if (reply->outcome == HTTP_RETRY && ++run->tries < STEP_TRIES_MAX) {
                note(run, LOG_WARNING, "fused: %s: %s; trying again in %.0fs", what, reply_message(reply),
                     (double) run->poll_interval_usec / 1e6);
                later(run, MAX(run->poll_interval_usec, reply->retry_after_usec), again);
                return;
        }
        failf(run, true, "job %s succeeded, but %s failed: %s", run->job_id, what, reply_message(reply));
}

static void on_result_file(EngineRun *run, const HttpReply *reply) {
        const FusedResultItem *item = &run->results[run->next_result];
        char what[256];

        snprintf(what, sizeof what, "fetching result %.128s", item->name);
        if (reply->outcome != HTTP_OK) {
                retry_step(run, reply, what, result_fetch);
                return;
        }
        run->tries = 0;
        char *name = fused_result_file_name(item->name), *data = malloc(reply->body_size + 1),
             *type = reply->content_type ? strdup(reply->content_type) : NULL;
        if (!name || !data || (reply->content_type && !type)) {
                free(name), free(data), free(type);
                fail(run, false, "out of memory for the results");
                return;
        }
        memcpy(data, reply->body, reply->body_size);
        data[reply->body_size] = '\0';
        run->files[run->n_files] = (EngineResultFile){ .name = name, .data = data, .size = reply->body_size,
                                                       .type = type };
        run->n_files++;
        run->results_bytes += reply->body_size;
        run->next_result++;
        if (run->next_result < run->n_results && run->results_bytes >= RESULTS_TOTAL_MAX) {
                note(run, LOG_WARNING, "fused: job %s: results beyond 1 GiB not fetched (%zu of %zu files kept)",
                     run->job_id, run->n_files, run->n_results);
                run->next_result = run->n_results;
        }
        result_fetch(run);
}

/* Signed URLs: fetched without the service's credentials, which the storage would refuse. */
static void result_fetch(EngineRun *run) {
        if (run->next_result >= run->n_results) {
                results_done(run);
                return;
        }
        call(run, &(Call){ .method = HTTP_GET, .url = run->results[run->next_result].url, .auth = false },
             on_result_file);
}

static void on_results(EngineRun *run, const HttpReply *reply) {
        char *unexpected = NULL;
        int r;

        if (reply->outcome != HTTP_OK) {
                retry_step(run, reply, "listing its results", results_list);
                return;
        }
        r = fused_results_parse(reply->body, reply->body_size, &run->results, &run->n_results, &unexpected);
        if (r == -EBADMSG) {
                HttpReply bad = *reply;
                bad.outcome = HTTP_RETRY;
                bad.message = "the result list is not a JSON list";
                retry_step(run, &bad, "listing its results", results_list);
                return;
        }
        if (r < 0 || (run->n_results > 0 && !(run->files = calloc(run->n_results, sizeof *run->files)))) {
                fail(run, false, "out of memory for the results");
                return;
        }
        note_unexpected(run, "the result list", unexpected);
        run->tries = 0;
        run->next_result = 0;
        result_fetch(run);
}

static void results_list(EngineRun *run) {
        _cleanup_free_ char *url = strprintf("%s/run/by-id/%s/results", run->base_url, run->job_id);
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_results);
}

/* ---------------------------------------------------------------- batch jobs: following */

static void poll_status_at(EngineRun *run, uint64_t when);
static void poll_logs(EngineRun *run);
static void drain_logs(EngineRun *run);

/* The job is over and its log read to the end: its outcome, from its job_status. */
static void job_concluded(EngineRun *run) {
        const char *js = run->last.job_status;
        switch (fused_job_result(&run->last)) {
        case FUSED_JOB_SUCCEEDED:
                run->tries = 0;
                results_list(run);
                return;
        case FUSED_JOB_CANCELLED: {
                char message[256];
                snprintf(message, sizeof message, "job %s was cancelled on the service (job_status %s)",
                         run->job_id, js);
                EngineOutcome outcome = { .kind = OUTCOME_CANCELLED, .message = message };
                finish(run, &outcome);
                return;
        }
        case FUSED_JOB_FAILED:
                failf(run, false, "job %s failed (job_status %s)", run->job_id, js);
                return;
        case FUSED_JOB_UNKNOWN:
        default:
                failf(run, false, "job %s ended with job_status '%s', which udfcron does not know: counted as a failure",
                      run->job_id, js);
                return;
        }
}

/* Fixed rhythm: the next poll is due one interval after this one was due, not after it ended. Behind (a
 * slow service), it goes at once, then on rhythm again. */
static void schedule_poll(EngineRun *run) {
        run->next_poll_usec += run->poll_interval_usec;
        poll_status_at(run, run->next_poll_usec);
}

/* Forwards a page of log lines, then records the position: only once every line of it is out. */
static size_t forward_logs(EngineRun *run, const HttpReply *reply) {
        FusedLogEntry *entries = NULL;
        char *unexpected = NULL;
        size_t n = 0;
        int r = fused_logs_parse(reply->body, reply->body_size, run->log_since_ms, &entries, &n, &unexpected);

        if (r < 0) { /* nothing forwarded, the position stays: the next read asks for the same lines */
                note(run, LOG_DEBUG, "fused: job %s: the log page is unreadable (%s), read again later",
                     run->job_id, r == -EBADMSG ? "not a JSON list" : strerror(-r));
                return 0;
        }
        note_unexpected(run, "a log page", unexpected);
        for (size_t i = 0; i < n; i++)
                output_lines(run, false, entries[i].message, entries[i].size,
                             entries[i].timestamp_ms * USEC_PER_MSEC);
        if (n > 0) {
                run->log_since_ms = entries[n - 1].timestamp_ms;
                if (run->events->log_position)
                        run->events->log_position(run->userdata, run->log_since_ms);
        }
        fused_logs_free(entries, n);
        return n;
}

static char *logs_url(EngineRun *run) {
        if (run->log_since_ms == 0)
                return strprintf("%s/logs/%s", run->base_url, run->job_id);
        return strprintf("%s/logs/%s?since_ms=%" PRIu64, run->base_url, run->job_id, run->log_since_ms);
}

/* Reads the log at the next status poll, and at every one after it until it goes quiet again. */
static void log_wake(EngineRun *run) {
        run->log_gap_polls = 1;
        run->log_wait_polls = 0;
}

/*
 * Most of a long job's polls find its log as it was: with thousands of jobs followed, reading it at each
 * poll would double the requests for nothing. A read that brings no line doubles the gap between reads,
 * up to quiet_log_interval; a line, a change of the job's status or progress, and its end read it at the
 * next poll again. A quiet job's lines so reach the journal later, never out of order, none lost.
 */
static void log_read_seen(EngineRun *run, size_t n_lines) {
        if (n_lines > 0)
                log_wake(run);
        else
                run->log_gap_polls = MIN(run->log_gap_polls * 2, run->quiet_log_polls);
        run->log_wait_polls = run->log_gap_polls - 1;
}

static void on_logs(EngineRun *run, const HttpReply *reply) {
        size_t n = 0;
        if (reply->outcome == HTTP_OK)
                n = forward_logs(run, reply);
        else
                note(run, LOG_DEBUG, "fused: job %s: reading the log: %s; read again later", run->job_id,
                     reply_message(reply));
        log_read_seen(run, n);
        if (n >= LOG_PAGE_FOLLOW) /* perhaps a page cut short: the rest now, not a poll later */
                poll_logs(run);
        else if (run->job_ended)
                later(run, LOG_GRACE_USEC, drain_logs);
        else
                schedule_poll(run);
}

static void poll_logs(EngineRun *run) {
        _cleanup_free_ char *url = logs_url(run);
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_logs);
}

/* After the end: read until a page brings nothing new, then conclude. */
static void on_drain(EngineRun *run, const HttpReply *reply) {
        if (reply->outcome == HTTP_OK && forward_logs(run, reply) > 0)
                drain_logs(run);
        else
                job_concluded(run);
}

static void drain_logs(EngineRun *run) {
        _cleanup_free_ char *url = logs_url(run);
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_drain);
}

static bool same_string(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* A RunResponse read: progress, the end; a job that moves has its log read at this poll. */
static void status_seen(EngineRun *run, FusedRunResponse *status, char *unexpected) {
        char what[96];
        snprintf(what, sizeof what, "the status of job %.64s", run->job_id);
        note_unexpected(run, what, unexpected);
        if (status->has_tasks && run->events->progress)
                run->events->progress(run->userdata, status->finished_tasks, status->total_tasks);
        if (!same_string(status->status, run->last.status) || !same_string(status->job_status, run->last.job_status) ||
            status->finished_tasks != run->last.finished_tasks)
                log_wake(run);
        fused_run_response_done(&run->last);
        run->last = *status;
        *status = (FusedRunResponse){};
        run->job_ended = fused_job_ended(&run->last);
}

static void on_status(EngineRun *run, const HttpReply *reply) {
        FusedRunResponse status = {};
        char *unexpected = NULL;
        int r = reply->outcome == HTTP_OK
                        ? fused_run_response_parse(reply->body, reply->body_size, &status, &unexpected)
                        : 0;

        if (reply->outcome == HTTP_FAIL) {
                /* 401/403: the token expired or was revoked; 404: the job is gone. Either way, the job is
                 * out of sight, and starting another could run it twice */
                failf(run, true, "lost track of job %s: %s", run->job_id, reply_message(reply));
                return;
        }
        if (reply->outcome == HTTP_RETRY || r < 0) {
                if (!run->polls_failing)
                        note(run, LOG_WARNING, "fused: job %s: reading its status: %s; trying again every %.0fs",
                             run->job_id, r < 0 ? "the reply is not a RunResponse" : reply_message(reply),
                             (double) run->poll_interval_usec / 1e6);
                run->polls_failing = true;
                schedule_poll(run);
                return;
        }
        if (run->polls_failing)
                note(run, LOG_NOTICE, "fused: job %s: its status reads again", run->job_id);
        run->polls_failing = false;
        status_seen(run, &status, unexpected);
        if (run->job_ended || run->log_wait_polls == 0)
                poll_logs(run);
        else {
                run->log_wait_polls--;
                schedule_poll(run);
        }
}

/* The status request waits in the client until `when` (not a timer of the run's own): the client sends the
 * polls of every job due about together in one go. */
static void poll_status_at(EngineRun *run, uint64_t when) {
        _cleanup_free_ char *url = strprintf("%s/run/by-id/%s", run->base_url, run->job_id);
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true, .not_before_usec = when }, on_status);
}

/* The job is known by its id (started, found or re-attached): follow it from the next poll (at once when
 * `now`), at a random point of the interval for a new job so that many jobs started together spread out. */
static void follow(EngineRun *run, bool now) {
        uint64_t delay = now ? 0 : run->poll_interval_usec / 2 + random_u64() % (run->poll_interval_usec / 2 + 1);
        run->tries = 0;
        run->next_poll_usec = now_monotonic_usec() + delay;
        poll_status_at(run, now ? 0 : run->next_poll_usec);
}

/* ---------------------------------------------------------------- batch jobs: starting */

static void job_start(EngineRun *run);
static void search_begin(EngineRun *run, bool start_if_absent);

static void job_known(EngineRun *run, const char *job_id, bool now) {
        free(run->job_id);
        if (!(run->job_id = strdup(job_id))) {
                fail(run, false, "out of memory");
                return;
        }
        if (run->events->accepted)
                run->events->accepted(run->userdata, job_id);
        if (run->stopping) /* asked to stop while the start was under way */
                cancel_job(run);
        else
                follow(run, now);
}

static void on_job_started(EngineRun *run, const HttpReply *reply) {
        FusedRunResponse status = {};
        char *unexpected = NULL;
        int r = -EBADMSG;

        run->start_in_flight = false;
        if (reply->outcome == HTTP_OK)
                r = fused_run_response_parse(reply->body, reply->body_size, &status, &unexpected);
        if (r >= 0) {
                if (http_reply_header(reply, "x-cache"))
                        note(run, LOG_INFO, "fused: the service answered with the cached result of an equal job");
                status_seen(run, &status, unexpected);
                job_known(run, run->last.job_id, false);
                return;
        }
        if (run->stopping) { /* whatever the answer was, it named no job to cancel */
                end_stopped(run, reply->outcome == HTTP_FAIL ? NULL : "the start's answer was lost: the job may run on");
                return;
        }
        if (reply->outcome == HTTP_FAIL) {
                failf(run, true, "the service refused the job: %s", reply_message(reply));
                return;
        }
        if (reply->status == 429) { /* clearly not started: wait as asked, then again */
                if (++run->tries >= STEP_TRIES_MAX) {
                        failf(run, false, "starting the job: %s", reply_message(reply));
                        return;
                }
                note(run, LOG_WARNING, "fused: starting job %s: %s; trying again", run->job_name, reply_message(reply));
                later(run, MAX(reply->retry_after_usec, run->poll_interval_usec), job_start);
                return;
        }
        /* a lost or unreadable answer: the job may have started, so look for it before starting another */
        note(run, LOG_WARNING, "fused: starting job %s: %s; looking whether it started", run->job_name,
             r == -EBADMSG && reply->outcome == HTTP_OK ? "the answer is not a RunResponse" : reply_message(reply));
        run->retry_after_usec = reply->retry_after_usec;
        search_begin(run, true);
}

/* The job config of the schedule's UDF: one UDF step, named after the attempt so that it can be found. */
static cJSON *udf_job_config(EngineRun *run) {
        _cleanup_(json_freep) cJSON *config = cJSON_CreateObject();
        cJSON *steps, *step, *meta;

        if (!config || !cJSON_AddStringToObject(config, "name", run->job_name) ||
            !(steps = cJSON_AddArrayToObject(config, "steps")) || !(step = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(steps, step) || !cJSON_AddStringToObject(step, "type", "udf") ||
            !cJSON_AddStringToObject(step, "name", run->udf_name) ||
            !cJSON_AddItemReferenceToObject(step, "udf", run->udf) ||
            !cJSON_AddItemReferenceToObject(step, "input", run->inputs) ||
            !cJSON_AddFalseToObject(step, "ignore_chunk_error") ||
            !(meta = cJSON_AddObjectToObject(config, "metadata")) ||
            !cJSON_AddStringToObject(meta, "udfcron_schedule", run->schedule) ||
            !cJSON_AddStringToObject(meta, "udfcron_run_id", run->run_id) ||
            !cJSON_AddNumberToObject(meta, "udfcron_attempt", run->attempt))
                return NULL;
        return TAKE_PTR(config);
}

/* What POST /run sends: the job config (the schedule's UDF's, or the one given), and how to run it. */
static cJSON *job_body(EngineRun *run) {
        _cleanup_(json_freep) cJSON *body = cJSON_CreateObject();
        cJSON *config = run->job_config ? cJSON_CreateObjectReference(run->job_config->child)
                                        : udf_job_config(run),
              *env;

        if (!body || !config || !cJSON_AddItemToObject(body, "config", config)) {
                cJSON_Delete(config);
                return NULL;
        }
        if (!cJSON_AddBoolToObject(body, "send_status_email", run->send_status_email) ||
            !(env = cJSON_AddArrayToObject(body, "additional_env")))
                return NULL;
        /* the SDK's default environment, unless the schedule has its own */
        const char *const default_env[] = { "FUSED_CREDENTIAL_PROVIDER=ec2", NULL };
        for (const char *const *e = run->additional_env ? (const char *const *) run->additional_env : default_env;
             *e; e++)
                if (!cJSON_AddItemToArray(env, cJSON_CreateString(*e)))
                        return NULL;
        if (run->image && !cJSON_AddStringToObject(body, "image_name", run->image))
                return NULL;
        return TAKE_PTR(body);
}

static void job_start(EngineRun *run) {
        _cleanup_(json_freep) cJSON *body = job_body(run);
        _cleanup_free_ char *query = NULL, *type = NULL, *region = NULL, *url = NULL;
        char disk[32] = "";

        if (run->disk_size_gb > 0)
                snprintf(disk, sizeof disk, "&disk_size_gb=%u", run->disk_size_gb);
        if (run->instance_type && !(type = fused_url_escape(run->instance_type)))
                goto oom;
        if (run->region && !(region = fused_url_escape(run->region)))
                goto oom;
        if (!body || asprintf(&query, "%s%s%s%s%s", type ? "&instance_type=" : "", type ?: "",
                              region ? "&region=" : "", region ?: "", disk) < 0)
                goto oom;
        url = query[0] ? strprintf("%s/run?%s", run->base_url, query + 1) : strprintf("%s/run", run->base_url);
        run->start_in_flight = true;
        call(run,
             &(Call){ .method = HTTP_POST, .url = url, .auth = true, .json = body, .at_most_once = true },
             on_job_started);
        return;
oom:
        fail(run, false, "out of memory");
}

/* The step config of a saved or shared UDF, fetched for its code. */
static void on_udf_fetched(EngineRun *run, const HttpReply *reply) {
        cJSON *udf = NULL, *params;

        if (reply->outcome != HTTP_OK) {
                failf(run, reply->outcome == HTTP_FAIL, "fetching UDF %s: %s",
                      run->saved_udf ?: "of the shared token", reply_message(reply));
                return;
        }
        if (fused_saved_udf_parse(reply->body, reply->body_size, &udf) < 0) {
                failf(run, false, "fetching UDF %s: the answer holds no udf_body", run->saved_udf ?: "");
                return;
        }
        /* the schedule's parameters override the saved defaults */
        if (!cJSON_IsObject(params = cJSON_GetObjectItemCaseSensitive(udf, "parameters"))) {
                cJSON_DeleteItemFromObjectCaseSensitive(udf, "parameters");
                params = cJSON_AddObjectToObject(udf, "parameters");
        }
        for (const cJSON *p = run->params ? run->params->child : NULL; p && params; p = p->next) {
                cJSON *copy = cJSON_Duplicate(p, true);
                if (!copy || !cJSON_ReplaceItemInObjectCaseSensitive(params, p->string, copy)) {
                        if (copy && !cJSON_AddItemToObject(params, p->string, copy))
                                params = NULL, cJSON_Delete(copy);
                }
        }
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(udf, "name"));
        if (name && !run->saved_udf) { /* a shared UDF is known by its own name */
                free(run->udf_name);
                run->udf_name = strdup(name);
        }
        cJSON_Delete(run->udf);
        run->udf = udf;
        if (!params || !run->udf_name) {
                fail(run, false, "out of memory");
                return;
        }
        job_start(run);
}

static void udf_fetch(EngineRun *run) {
        _cleanup_free_ char *url = NULL;
        if (run->shared_token) {
                _cleanup_free_ char *token = fused_url_escape(run->shared_token);
                url = token ? strprintf("%s/udf/shared/by-token/%s", run->base_url, token) : NULL;
        } else {
                const char *slash = strchr(run->saved_udf, '/');
                _cleanup_free_ char *owner = strndup(run->saved_udf, (size_t) (slash - run->saved_udf));
                _cleanup_free_ char *o = owner ? fused_url_escape(owner) : NULL, *n = fused_url_escape(slash + 1);
                if (o && n)
                        url = strcmp(owner, "team") == 0 ? strprintf("%s/udf/exec-env/self/by-slug/%s", run->base_url, n)
                              : strchr(owner, '@') ? strprintf("%s/udf/by-user-email/%s/by-slug/%s", run->base_url, o, n)
                                                   : strprintf("%s/udf/by-user-handle/%s/by-slug/%s", run->base_url, o, n);
        }
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_udf_fetched);
}

/* A batch start: the UDF's code first when it lives on the service. */
static void batch_begin(EngineRun *run) {
        if (run->udf || run->job_config)
                job_start(run);
        else
                udf_fetch(run);
}

/* ---------------------------------------------------------------- batch jobs: finding a job started before */

static void search_list(EngineRun *run);
static void search_next_candidate(EngineRun *run);

/* Nothing found: start (after a pause when a start was tried and lost just now), or give up. */
static void search_found_nothing(EngineRun *run) {
        run->candidates = fused_job_list_free(run->candidates, run->n_candidates);
        run->n_candidates = 0;
        if (run->stopping) {
                end_stopped(run, NULL);
                return;
        }
        if (!run->start_after_search) {
                failf(run, false, "job %s was not found", run->job_name);
                return;
        }
        if (run->start_tries++ >= STEP_TRIES_MAX) {
                failf(run, false, "starting job %s failed %u times", run->job_name, run->start_tries);
                return;
        }
        if (run->start_tries == 1 && run->retry_after_usec == 0) {
                note(run, LOG_INFO, "fused: job %s was not started before: starting it", run->job_name);
                batch_begin(run);
                return;
        }
        const HttpSettings *h = http_client_settings(run->http);
        uint64_t delay = MAX(run->retry_after_usec, http_backoff_usec(h->retry_backoff_usec, h->retry_backoff_max_usec,
                                                                      run->start_tries, random_u64()));
        note(run, LOG_INFO, "fused: job %s did not start; starting it again in %.1fs", run->job_name,
             (double) delay / 1e6);
        run->retry_after_usec = 0;
        later(run, delay, batch_begin);
}

static void search_found(EngineRun *run, const char *candidate_id) {
        _cleanup_free_ char *job_id = strdup(candidate_id); /* the candidates go first */
        run->candidates = fused_job_list_free(run->candidates, run->n_candidates);
        run->n_candidates = 0;
        if (!job_id) {
                fail(run, false, "out of memory");
                return;
        }
        note(run, LOG_NOTICE, "fused: found job %s (%s), started before: following it", job_id, run->job_name);
        job_known(run, job_id, true);
}

/* The search itself failed: whether the job started cannot be told, and starting it could run it twice. */
static void search_failed(EngineRun *run, const HttpReply *reply, Action again) {
        if (reply->outcome == HTTP_RETRY && ++run->tries < STEP_TRIES_MAX) {
                later(run, MAX(run->poll_interval_usec, reply->retry_after_usec), again);
                return;
        }
        failf(run, true, "cannot tell whether job %s was started (%s); not starting it again", run->job_name,
              reply_message(reply));
}

static void on_search_config(EngineRun *run, const HttpReply *reply) {
        const FusedJobListItem *c = &run->candidates[run->next_candidate];
        _cleanup_free_ char *name = NULL;

        if (reply->outcome == HTTP_OK && fused_job_config_name(reply->body, reply->body_size, &name) == 0 &&
            strcmp(name, run->job_name) == 0) {
                search_found(run, c->id);
                return;
        }
        if (reply->outcome == HTTP_RETRY) {
                search_failed(run, reply, search_next_candidate);
                return;
        }
        /* another job's config, or none to read (a job without one is not ours: ours has one) */
        run->tries = 0;
        run->next_candidate++;
        search_next_candidate(run);
}

static void search_next_candidate(EngineRun *run) {
        while (run->next_candidate < run->n_candidates) {
                const FusedJobListItem *c = &run->candidates[run->next_candidate];
                if (c->job_name && strcmp(c->job_name, run->job_name) == 0) {
                        search_found(run, c->id);
                        return;
                }
                /* a list that names its jobs needs no config read; nor does a job older than the run */
                bool old = c->created_usec > 0 && run->slot_usec > SEARCH_SLACK_USEC &&
                           c->created_usec < run->slot_usec - SEARCH_SLACK_USEC;
                if (c->job_name || old || run->search_configs >= SEARCH_CONFIGS_MAX) {
                        run->search_reached_old |= old;
                        run->next_candidate++;
                        continue;
                }
                run->search_configs++;
                _cleanup_free_ char *url = strprintf("%s/job/by-id/%s/config", run->base_url, c->id);
                /* it answers with a redirect to a signed URL, which the client follows without credentials */
                call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_search_config);
                return;
        }
        /* this page is done: the next, unless the list reached jobs older than the run (newest come first) */
        bool more = run->n_candidates == SEARCH_PAGE && !run->search_reached_old &&
                    ++run->search_page < SEARCH_PAGES_MAX && run->search_configs < SEARCH_CONFIGS_MAX;
        run->candidates = fused_job_list_free(run->candidates, run->n_candidates);
        run->n_candidates = 0;
        if (more)
                search_list(run);
        else
                search_found_nothing(run);
}

static void on_search_list(EngineRun *run, const HttpReply *reply) {
        char *unexpected = NULL;
        int r;

        if (reply->outcome != HTTP_OK) {
                search_failed(run, reply, search_list);
                return;
        }
        r = fused_job_list_parse(reply->body, reply->body_size, &run->candidates, &run->n_candidates, &unexpected);
        if (r < 0) {
                HttpReply bad = *reply;
                bad.outcome = HTTP_RETRY;
                bad.message = r == -EBADMSG ? "the job list is not a JSON list" : "out of memory";
                search_failed(run, &bad, search_list);
                return;
        }
        note_unexpected(run, "the job list", unexpected);
        run->tries = 0;
        run->next_candidate = 0;
        search_next_candidate(run);
}

static void search_list(EngineRun *run) {
        _cleanup_free_ char *url = strprintf("%s/job/self?skip=%u&limit=%d", run->base_url,
                                              run->search_page * SEARCH_PAGE, SEARCH_PAGE);
        call(run, &(Call){ .method = HTTP_GET, .url = url, .auth = true }, on_search_list);
}

/* Looks for the job named after this attempt in the service's list of jobs, newest first. */
static void search_begin(EngineRun *run, bool start_if_absent) {
        run->start_after_search = start_if_absent;
        run->search_page = run->search_configs = 0;
        run->search_reached_old = false;
        run->tries = 0;
        search_list(run);
}

/* ---------------------------------------------------------------- the engine */

static void begin(EngineRun *run) {
        if (run->mode == FUSED_MODE_BATCH && run->job_id)
                follow(run, true); /* re-attached: its status at once, its log from where it was */
        else if (run->mode == FUSED_MODE_BATCH && run->may_have_started)
                search_begin(run, true);
        else if (run->mode == FUSED_MODE_BATCH)
                batch_begin(run);
        else
                realtime_begin(run);
}

static EngineRun *fused_free(EngineRun *run) {
        if (!run)
                return NULL;
        http_transfer_free(run->transfer);
        sd_event_source_disable_unref(run->timer);
        sd_event_source_disable_unref(run->deadline);
        sd_event_unref(run->event);
        free(run->schedule);
        free(run->run_id);
        free(run->base_url);
        free(run->shared_base_url);
        mfree_wiped(run->token);
        free(run->client_id);
        free(run->saved_udf);
        free(run->shared_token);
        free(run->udf_name);
        cJSON_Delete(run->udf);
        cJSON_Delete(run->params);
        cJSON_Delete(run->inputs);
        cJSON_Delete(run->job_config);
        free(run->format);
        free(run->instance_type);
        free(run->region);
        free(run->image);
        strv_free(run->additional_env);
        free(run->realtime_settings.ca_file);
        free(run->job_name);
        free(run->job_id);
        free(run->pending_failure);
        fused_run_response_done(&run->last);
        fused_job_list_free(run->candidates, run->n_candidates);
        fused_results_free(run->results, run->n_results);
        for (size_t i = 0; i < run->n_files; i++) {
                free((char *) run->files[i].name);
                free((char *) run->files[i].data);
                free((char *) run->files[i].type);
        }
        free(run->files);
        free(run);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EngineRun *, fused_free);

static char *strdup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;
        *oom |= s && !c;
        return c;
}

/* The schedule's UDF file as the UDF object the service runs: its code, entrypoint and parameters. */
static int udf_from_file(EngineRun *run, const Schedule *s, char **ret_error) {
        _cleanup_close_ int fd = open(s->udf_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *code = NULL;
        size_t size;
        int r = fd < 0 ? -errno : read_full_fd(fd, UDF_FILE_MAX, &code, &size);

        if (r < 0)
                return asprintf(ret_error, "cannot read %s: %s", s->udf_path, strerror(-r)) < 0 ? -ENOMEM : -EIO;
        const char *base = strrchr(s->udf_path, '/');
        base = base ? base + 1 : s->udf_path;
        size_t stem = strlen(base) > 3 && strcmp(base + strlen(base) - 3, ".py") == 0 ? strlen(base) - 3
                                                                                       : strlen(base);
        if (!(run->udf_name = strndup(base, stem)) || !(run->udf = cJSON_CreateObject()) ||
            !cJSON_AddStringToObject(run->udf, "type", "geopandas_v2") ||
            !cJSON_AddStringToObject(run->udf, "name", run->udf_name) ||
            !cJSON_AddStringToObject(run->udf, "code", code) ||
            !cJSON_AddStringToObject(run->udf, "entrypoint", s->entrypoint ?: "udf") ||
            !cJSON_AddItemToObject(run->udf, "parameters", cJSON_Duplicate(run->params, true)) ||
            !cJSON_AddArrayToObject(run->udf, "headers") || !cJSON_AddObjectToObject(run->udf, "metadata"))
                return -ENOMEM;
        return 0;
}

static int fused_start(sd_event *event, const EngineRequest *req, const EngineEvents *events, void *userdata,
                       EngineRun **ret_run) {
        const Schedule *s = req->schedule;
        const FusedSettings *fs = &req->settings->fused;
        const FusedSchedule *f = &s->fused;
        _cleanup_(fused_freep) EngineRun *run = NULL;
        _cleanup_free_ char *error = NULL;
        bool oom = false;
        int r;

        if (!req->http || !req->settings)
                return -EINVAL;
        if (!(run = calloc(1, sizeof *run)))
                return -ENOMEM;
        *run = (EngineRun){
                .events = events,
                .userdata = userdata,
                .event = sd_event_ref(event),
                .http = req->http,
                .attempt = req->attempt,
                .slot_usec = req->scheduled_usec,
                .mode = req->job_config ? FUSED_MODE_BATCH : f->mode,
                .disk_size_gb = f->disk_size_gb ?: fs->disk_size_gb,
                .send_status_email = fs->send_status_email,
                .cache = fs->cache,
                .poll_interval_usec = fs->poll_interval_usec ?: 5 * USEC_PER_SEC,
                .log_gap_polls = 1,
                .timeout_usec = s->policy.timeout_usec,
                .may_have_started = req->may_have_started,
                .log_since_ms = req->attach_log_since_ms,
        };
        uint64_t quiet_log_polls = MIN(fs->quiet_log_interval_usec / run->poll_interval_usec, UINT64_C(1) << 20);
        run->quiet_log_polls = (unsigned) MAX(quiet_log_polls, UINT64_C(1));
        run->schedule = strdup_or_null(s->name, &oom);
        run->run_id = strdup_or_null(req->run_id, &oom);
        run->base_url = strdup_or_null(f->base_url ?: fs->base_url, &oom);
        run->shared_base_url = strdup_or_null(fs->shared_base_url, &oom);
        run->client_id = strdup_or_null(fs->realtime_client_id, &oom);
        run->saved_udf = strdup_or_null(f->saved_udf, &oom);
        run->shared_token = strdup_or_null(f->shared_token, &oom);
        run->format = strdup_or_null(f->format ?: "npy,tiff,parquet,json", &oom);
        run->instance_type = strdup_or_null(f->instance_type ?: fs->instance_type, &oom);
        run->region = strdup_or_null(f->region ?: fs->region, &oom);
        run->image = strdup_or_null(f->image, &oom);
        run->job_id = strdup_or_null(req->attach_job_id, &oom);
        const char *config_name =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req->job_config, "name"));
        run->job_name =
                config_name ? strdup(config_name) : fused_job_name(s->name, req->run_id, req->attempt);
        for (char **e = f->additional_env; e && *e && !oom; e++) {
                size_t n = (size_t) (e - f->additional_env);
                oom = strv_push(&run->additional_env, &n, strdup(*e)) < 0;
        }
        if (oom || !run->job_name || !run->base_url || !run->shared_base_url)
                return -ENOMEM;

        /* no low-speed abort for realtime calls, whose first byte comes when the UDF is done */
        const HttpSettings *defaults = http_client_settings(req->http);
        run->realtime_settings = *defaults;
        run->realtime_settings.ca_file = NULL;
        run->realtime_settings.timeout_usec = fs->realtime_timeout_usec ?: 130 * USEC_PER_SEC;
        run->realtime_settings.low_speed_time_usec = 0;
        if (defaults->ca_file && !(run->realtime_settings.ca_file = strdup(defaults->ca_file)))
                return -ENOMEM;

        /* everything that can fail for a reason a human must read fails from here on through `ended` */
        const char *token = f->token ?: fs->token;
        if (!(run->params = cJSON_Parse(req->params_json)))
                return -ENOMEM;
        if (token && (r = params_expand_string(token, req->templates, &run->token, &error)) < 0) {
                if (r == -ENOMEM)
                        return r;
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "token: %s", error ?: strerror(-r)) < 0)
                        return -ENOMEM;
                r = fail_soon(run, true, m);
        } else if (req->job_config) {
                if (!(run->job_config = cJSON_Duplicate(req->job_config, true)))
                        return -ENOMEM;
                r = arm(run, 0, begin);
        } else if (run->mode == FUSED_MODE_BATCH && f->inputs &&
                   (r = params_expand_json(f->inputs, req->templates, &run->inputs, &error)) < 0) {
                if (r == -ENOMEM)
                        return r;
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "inputs: %s", error ?: strerror(-r)) < 0)
                        return -ENOMEM;
                r = fail_soon(run, true, m);
        } else if (s->udf_path && (r = udf_from_file(run, s, &error)) < 0) {
                if (r == -ENOMEM)
                        return r;
                r = fail_soon(run, false, error);
        } else {
                if (run->mode == FUSED_MODE_BATCH && !run->inputs) {
                        /* one task, whose argument is the parameters */
                        if (!(run->inputs = cJSON_CreateArray()) ||
                            !cJSON_AddItemToArray(run->inputs, cJSON_Duplicate(run->params, true)))
                                return -ENOMEM;
                }
                if (!run->udf_name && !(run->udf_name = strdup(run->saved_udf ? strchr(run->saved_udf, '/') + 1
                                                                              : "shared")))
                        return -ENOMEM;
                if (run->udf && run->mode == FUSED_MODE_REALTIME &&
                    fused_run_uuid(req->run_id, req->attempt, req->is_task ? req->task + 1 : 0,
                                   req->task_attempt, run->run_uuid) < 0)
                        return -EINVAL;
                /* a posted-code run that may exist is asked for before it is started */
                run->probing = run->udf && run->mode == FUSED_MODE_REALTIME && (run->job_id || run->may_have_started);
                r = arm(run, 0, begin);
        }
        if (r < 0)
                return r;

        if (run->timeout_usec > 0) {
                /* absolute: a relative time would count from the loop's iteration, a little in the past */
                uint64_t now = now_usec(), end = req->started_usec + run->timeout_usec;
                r = sd_event_add_time(event, &run->deadline, CLOCK_MONOTONIC,
                                      now_monotonic_usec() + (end > now ? end - now : 0), USEC_PER_SEC / 100,
                                      on_deadline, run);
                if (r < 0)
                        return r;
        }
        *ret_run = TAKE_PTR(run);
        return 0;
}

static int fused_cancel(EngineRun *run) {
        stop(run, OUTCOME_CANCELLED);
        return 0;
}

static int fused_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names, size_t *n) {
        const char *token = s->fused.token ?: settings->fused.token;
        int r = token ? params_collect_secrets(token, names, n) : 0;
        if (r >= 0 && s->fused.inputs)
                r = params_collect_secrets_json(s->fused.inputs, names, n);
        return r;
}

const Engine engine_fused = {
        .name = "fused",
        .remote = true,
        .start = fused_start,
        .cancel = fused_cancel,
        .free = fused_free,
        .collect_secrets = fused_collect_secrets,
};
