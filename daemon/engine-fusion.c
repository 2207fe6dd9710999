/* SPDX-License-Identifier: MIT */
/*
 * The fusion engine: a run is a run of a Lucidworks Fusion Spark job
 * configuration (shared/api/fusion.md). One attempt goes
 *
 *   log in (session or JWT) -> read the config's latest run -> start a run
 *   (POST /spark/jobs/{id}, or the Jobs API's start action) -> poll
 *   GET /spark/jobs/{id} until the run is over, forwarding the driver log's
 *   new lines after each poll -> the outcome.
 *
 * One request at a time. A start is sent once, without HTTP retries: when its
 * answer is lost, the config's latest run tells whether it started, so a lost
 * reply never starts a job twice. A stop (the schedule's timeout, a cancel)
 * is DELETE /spark/jobs/{id} (or the abort action), then polls until Fusion
 * confirms, for up to the schedule's kill_grace. A session or a JWT that
 * expires (401) is renewed once per request; credentials Fusion refuses fail
 * the run for good.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "config.h"
#include "engine.h"
#include "fusion-api.h"
#include "http.h"
#include "json-util.h"
#include "params.h"

#define MSEC (UINT64_C(1000))
/* A new run is polled soon, then less often: short jobs end fast, long ones cost few polls. */
#define FIRST_POLL_USEC (250 * MSEC)
/* While a stop waits for Fusion's confirmation. */
#define STOP_POLL_USEC (500 * MSEC)
/*
 * After a start that did not name its run: how often, and how many times, to look for it. A start the
 * Jobs API accepted may take a moment to show; one whose answer was lost has shown by then if it happened.
 */
#define LOOKUP_USEC          (500 * MSEC)
#define LOOKUPS_ACCEPTED_MAX 6
#define LOOKUPS_LOST_MAX     2
/* Polls in a row whose answers say nothing usable (malformed, 4xx) before the run counts as lost. */
#define BAD_POLLS_MAX 5
/* A JWT is renewed this long before it expires. */
#define JWT_MARGIN_USEC           (10 * USEC_PER_SEC)
#define JWT_DEFAULT_LIFETIME_USEC (30 * 60 * USEC_PER_SEC)

typedef void (*Step)(EngineRun *run);
typedef void (*ReplyHandler)(EngineRun *run, const HttpReply *reply);

/* The request in flight, kept whole so that it can be sent again after a new login. */
typedef struct Call {
        HttpMethod method;
        char *url;
        cJSON *body;
        bool once;            /* a start: no HTTP retries */
        bool logged_in_again; /* a 401 has renewed the login for it already */
        ReplyHandler handler;
} Call;

struct EngineRun {
        HttpClient *http;
        const EngineEvents *events;
        void *userdata;

        /* where and what */
        char *service; /* base_url: /api/session and /oauth2/token live here */
        char *api;     /* base_url + api_prefix [+ /apps/{app}] */
        char *config_id;
        bool jobs_api;
        FusionAuth auth;
        char *user, *password, *token; /* resolved secrets: wiped when freed */
        char *realm;
        char *api_key_header;
        char *comment;          /* of a Jobs API start: who started it */
        HttpCookieJar *cookies; /* auth = session */
        bool logged_in;         /* session: holds a cookie; JWT: holds `jwt` */
        char *jwt;
        uint64_t jwt_expires_usec; /* CLOCK_MONOTONIC */
        uint64_t poll_interval_usec, kill_grace_usec;

        /* where it is */
        Call call;
        HttpTransfer *transfer;
        sd_event_source *timer; /* runs `next` */
        Step next;
        sd_event_source *deadline; /* the timeout; once stopping, the end of kill_grace */
        bool start_sent, may_have_started;
        char *previous_job_id; /* the config's latest run before the start */
        char *start_error;     /* why a start's answer was lost, if no new run shows up */
        unsigned lookups, polls, bad_polls;
        char *job_id;
        bool latest; /* our run is the config's latest: the driver log is its log */
        bool log_unsupported;
        FusionLogTail tail;
        bool over; /* Fusion says the run is over: `final` holds how */
        FusionRunStatus final;

        bool stopping;
        OutcomeKind stop_kind;
        char *stop_why;
        bool grace_over; /* kill_grace passed while the cancel request was under way */

        bool ended; /* the outcome below is on its way to events->ended */
        EngineOutcome outcome;
        char *outcome_message;
};

static void send_call(EngineRun *run);
static void end(EngineRun *run, OutcomeKind kind, bool permanent, const char *format, ...) _printf_(4, 5);
static void no_run(EngineRun *run, bool permanent, const char *format, ...) _printf_(3, 4);
static void poll_failed(EngineRun *run, const HttpReply *reply, const char *why);

/* ---------------------------------------------------------------- small things */

_printf_(3, 4) static void note(EngineRun *run, int priority, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        if (!run->events->note)
                return;
        va_start(ap, format);
        int r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r >= 0)
                run->events->note(run->userdata, priority, message);
}

static const char *reply_message(const HttpReply *reply) {
        return reply->message ?: "no answer";
}

/* A 4xx other than those that may pass (408, 429 are RETRY): asking again will not help. */
static bool refused(const HttpReply *reply) {
        return reply->outcome == HTTP_FAIL && reply->status >= 400 && reply->status < 500;
}

static void call_clear(Call *c) {
        free(c->url);
        cJSON_Delete(c->body);
        *c = (Call){};
}

static void deliver(EngineRun *run);

/* Runs `step` after `delay_usec` (0: on the next loop iteration). Once the end is decided, only that. */
static void after(EngineRun *run, uint64_t delay_usec, Step step) {
        if (run->ended && step != deliver)
                return;
        run->next = step;
        if (sd_event_source_set_time_relative(run->timer, delay_usec) < 0 ||
            sd_event_source_set_enabled(run->timer, SD_EVENT_ONESHOT) < 0)
                end(run, OUTCOME_FAILED, false, "cannot arm a timer");
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        EngineRun *run = userdata;
        (void) s, (void) usec;
        run->next(run);
        return 0;
}

/* ---------------------------------------------------------------- requests */

static int submit(EngineRun *run, HttpMethod method, const char *url, const cJSON *body, bool once,
                  bool login, HttpDone done) {
        const char *headers[] = { run->api_key_header, NULL };
        HttpSettings single;
        HttpRequest request = {
                .method = method,
                .url = url,
                .headers = run->api_key_header ? headers : NULL,
                .json = body,
                .cookies = run->cookies,
        };

        if (once) {
                single = *http_client_settings(run->http);
                single.retries = 0;
                request.settings = &single;
        }
        /* (a JWT comes from user and password) */
        if (run->auth == FUSION_AUTH_BASIC || (login && run->auth == FUSION_AUTH_BEARER))
                request.auth =
                        (HttpAuth){ .type = HTTP_AUTH_BASIC, .user = run->user, .password = run->password };
        else if (run->auth == FUSION_AUTH_BEARER)
                request.auth = (HttpAuth){ .type = HTTP_AUTH_BEARER, .token = run->jwt ?: run->token };
        run->transfer = http_transfer_free(run->transfer);
        return http_submit(run->http, &request, done, run, &run->transfer);
}

/* Session cookies and JWTs are obtained by logging in; Basic, static tokens and API keys are not. */
static bool logs_in(const EngineRun *run) {
        return run->auth == FUSION_AUTH_SESSION || (run->auth == FUSION_AUTH_BEARER && !run->token);
}

/* Fusion said no to the credentials, for good: the run fails without a retry (or ends as it was stopping).
 */
static void credentials_refused(EngineRun *run, const char *what, const HttpReply *reply) {
        if (run->stopping)
                end(run, run->stop_kind, false, "%s; cannot stop it in Fusion: %s", run->stop_why,
                    reply_message(reply));
        else
                end(run, OUTCOME_FAILED, true, "Fusion refused %s: %s", what, reply_message(reply));
}

static void on_call_done(void *userdata, const HttpReply *reply) {
        EngineRun *run = userdata;
        /* ours to free, after the handler: the reply lives in it */
        _unused_ _cleanup_(http_transfer_freep) HttpTransfer *transfer = TAKE_PTR(run->transfer);

        if (reply->status == 401 && logs_in(run) && !run->call.logged_in_again) {
                /* the session or token expired: log in again, then send the same request */
                run->call.logged_in_again = true;
                run->logged_in = false;
                note(run, LOG_DEBUG, "%s: HTTP 401, logging in again", run->call.url);
                send_call(run);
                return;
        }
        if (reply->status == 401) {
                char what[64];
                snprintf(what, sizeof what, "the credentials (auth = %s)", fusion_auth_names[run->auth]);
                credentials_refused(run, what, reply);
                return;
        }
        run->call.handler(run, reply);
}

static void on_login_done(void *userdata, const HttpReply *reply) {
        EngineRun *run = userdata;
        _unused_ _cleanup_(http_transfer_freep) HttpTransfer *transfer = TAKE_PTR(run->transfer);
        uint64_t lifetime;

        if (reply->status == 401 || reply->status == 403) {
                char what[160];
                snprintf(what, sizeof what, "the login of user %s", run->user);
                credentials_refused(run, what, reply);
                return;
        }
        if (reply->outcome != HTTP_OK) {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "cannot log in: %s", reply_message(reply)) < 0)
                        why = NULL;
                if (run->job_id) /* the run goes on meanwhile: try again with the next poll */
                        poll_failed(run, reply, why ?: "cannot log in");
                else
                        no_run(run, refused(reply), "%s", why ?: "cannot log in");
                return;
        }
        if (run->auth == FUSION_AUTH_BEARER) {
                run->jwt = mfree_wiped(run->jwt);
                int r = fusion_parse_token(reply->body, reply->body_size, &run->jwt, &lifetime);
                if (r < 0) {
                        end(run, OUTCOME_FAILED, false, "POST /oauth2/token: %s",
                            r == -ENOMEM ? "out of memory" : "the answer holds no access_token");
                        return;
                }
                run->jwt_expires_usec = now_monotonic_usec() +
                                        (lifetime > 0 ? lifetime * USEC_PER_SEC : JWT_DEFAULT_LIFETIME_USEC);
        }
        run->logged_in = true;
        send_call(run);
}

static bool login_needed(const EngineRun *run) {
        if (!logs_in(run))
                return false;
        if (run->auth == FUSION_AUTH_BEARER && run->logged_in &&
            now_monotonic_usec() + JWT_MARGIN_USEC >= run->jwt_expires_usec)
                return true;
        return !run->logged_in;
}

static void send_login(EngineRun *run) {
        _cleanup_free_ char *url = NULL;
        _cleanup_(json_freep) cJSON *body = NULL;
        int r;

        if (run->auth == FUSION_AUTH_SESSION) {
                cJSON *password = NULL;
                body = cJSON_CreateObject();
                if (!body || !cJSON_AddStringToObject(body, "username", run->user) ||
                    !(password = cJSON_AddStringToObject(body, "password", run->password)) ||
                    asprintf(&url, "%s/api/session?realmName=%s", run->service, run->realm) < 0)
                        r = -ENOMEM;
                else
                        r = submit(run, HTTP_POST, url, body, false, true, on_login_done);
                if (password) /* the transfer keeps (and wipes) its own copy */
                        explicit_bzero(password->valuestring, strlen(password->valuestring));
        } else
                r = asprintf(&url, "%s/oauth2/token", run->service) < 0
                            ? -ENOMEM
                            : submit(run, HTTP_POST, url, NULL, false, true, on_login_done);
        if (r < 0)
                end(run, OUTCOME_FAILED, false, "cannot log in: %s", strerror(-r));
}

/* Sends run->call, logging in first when needed. */
static void send_call(EngineRun *run) {
        if (login_needed(run)) {
                send_login(run);
                return;
        }
        int r = submit(run, run->call.method, run->call.url, run->call.body, run->call.once, false,
                       on_call_done);
        if (r < 0)
                end(run, OUTCOME_FAILED, false, "cannot send %s %s: %s", http_method_names[run->call.method],
                    run->call.url, strerror(-r));
}

/* A request to {api}/{path...}; takes `body`. */
_printf_(6, 7) static void call(EngineRun *run, HttpMethod method, cJSON *body, bool once,
                                ReplyHandler handler, const char *path_format, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;

        if (run->ended) {
                cJSON_Delete(body);
                return;
        }
        call_clear(&run->call);
        run->call = (Call){ .method = method, .body = body, .once = once, .handler = handler };
        va_start(ap, path_format);
        int r = vasprintf(&path, path_format, ap);
        va_end(ap);
        if (r < 0 || asprintf(&run->call.url, "%s%s", run->api, path) < 0) {
                end(run, OUTCOME_FAILED, false, "out of memory");
                return;
        }
        send_call(run);
}

static void on_logout_done(void *userdata, const HttpReply *reply) {
        (void) userdata, (void) reply; /* a session that stays is harmless: it idles out */
}

/* Fire and forget: ends the session, so that Fusion does not keep one per run until it idles out. */
static void logout(EngineRun *run) {
        _cleanup_free_ char *url = NULL;
        if (run->auth != FUSION_AUTH_SESSION || !run->logged_in ||
            asprintf(&url, "%s/api/session", run->service) < 0)
                return;
        HttpRequest request = { .method = HTTP_DELETE, .url = url, .cookies = run->cookies };
        (void) http_submit(run->http, &request, on_logout_done, NULL, NULL);
}

/* ---------------------------------------------------------------- the end */

static void deliver(EngineRun *run) {
        run->events->ended(run->userdata, &run->outcome); /* may free run */
}

static void end(EngineRun *run, OutcomeKind kind, bool permanent, const char *format, ...) {
        va_list ap;

        if (run->ended)
                return;
        run->ended = true;
        run->transfer = http_transfer_free(run->transfer);
        (void) sd_event_source_set_enabled(run->deadline, SD_EVENT_OFF);
        logout(run);

        va_start(ap, format);
        if (vasprintf(&run->outcome_message, format, ap) < 0)
                run->outcome_message = NULL;
        va_end(ap);
        run->outcome = (EngineOutcome){
                .kind = kind,
                .permanent = permanent,
                .message = run->outcome_message ?: "out of memory",
        };
        if (kind == OUTCOME_SUCCEEDED && run->final.summary) {
                run->outcome.result = run->final.summary;
                run->outcome.result_size = strlen(run->final.summary);
        }
        /* from the loop, never from inside cancel() or a start that is still returning */
        after(run, 0, deliver);
}

/* How the run ended, from Fusion's last word on it. */
static void end_with_status(EngineRun *run) {
        const FusionRunStatus *s = &run->final;
        switch (s->state) {
        case FUSION_RUN_FINISHED:
                end(run, OUTCOME_SUCCEEDED, false, "run %s finished", run->job_id);
                break;
        case FUSION_RUN_ERROR:
                end(run, OUTCOME_FAILED, false, "run %s failed: %s", run->job_id,
                    s->error ?: "state error (Fusion gave no reason)");
                break;
        case FUSION_RUN_CANCELLED:
                if (run->stopping)
                        end(run, run->stop_kind, false, "%s; Fusion cancelled run %s", run->stop_why,
                            run->job_id);
                else
                        end(run, OUTCOME_CANCELLED, false, "run %s was cancelled in Fusion", run->job_id);
                break;
        default: /* skipped */
                end(run, OUTCOME_FAILED, false, "Fusion skipped run %s (state %s)", run->job_id,
                    s->state_text);
                break;
        }
}

/* ---------------------------------------------------------------- polling and the driver log */

static void poll_status(EngineRun *run);

static void schedule_poll(EngineRun *run) {
        uint64_t delay = run->stopping ? STOP_POLL_USEC : FIRST_POLL_USEC << MIN(run->polls, 20u);
        run->polls++;
        after(run, MIN(delay, run->poll_interval_usec), poll_status);
}

/*
 * A poll that told nothing. Errors that retrying may cure (the HTTP client retried already) never give up on
 * the run: it is still there. Answers that make no sense, BAD_POLLS_MAX times in a row, do.
 */
static void poll_failed(EngineRun *run, const HttpReply *reply, const char *why) {
        if (reply && reply->outcome == HTTP_RETRY)
                note(run, LOG_WARNING, "status of run %s: %s; trying again", run->job_id, why);
        else if (++run->bad_polls >= BAD_POLLS_MAX) {
                if (run->stopping)
                        end(run, run->stop_kind, false, "%s; then lost track of run %s: %s", run->stop_why,
                            run->job_id, why);
                else
                        end(run, OUTCOME_FAILED, false, "lost track of run %s: %s", run->job_id, why);
                return;
        } else
                note(run, LOG_WARNING, "status of run %s: %s (%u of %u in a row)", run->job_id, why,
                     run->bad_polls, BAD_POLLS_MAX);
        schedule_poll(run);
}

static void after_log(EngineRun *run) {
        if (run->over)
                end_with_status(run);
        else
                schedule_poll(run);
}

static void on_driver_log(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_log_done) FusionLog log = {};
        const char *why = NULL;
        unsigned rows = fusion_log_rows(&run->tail);
        uint64_t before = run->tail.forwarded;

        if (reply->status == 404) { /* Fusion 4 has no such endpoint (INFERRED) */
                run->log_unsupported = true;
                note(run, LOG_DEBUG, "no driver log from %s (%s); not asking again", run->call.url,
                     reply_message(reply));
        } else if (reply->outcome != HTTP_OK)
                note(run, LOG_DEBUG, "driver log of run %s: %s", run->job_id, reply_message(reply));
        else if (fusion_parse_driver_log(reply->body, reply->body_size, reply->content_type, run->over,
                                         &log) < 0)
                note(run, LOG_DEBUG, "driver log of run %s: out of memory", run->job_id);
        else {
                size_t first = fusion_log_tail_advance(&run->tail, &log, rows, &why);
                if (why)
                        note(run, LOG_DEBUG, "run %s: %s", run->job_id, why);
                for (size_t i = first; i < log.n_lines; i++)
                        run->events->output(run->userdata, false, log.lines[i].text, log.lines[i].size,
                                            false, log.lines[i].usec);
                if (run->tail.forwarded != before && run->events->log_position)
                        run->events->log_position(run->userdata, run->tail.forwarded);
        }
        after_log(run);
}

/* The driver log is per config: it is our run's only while that is the config's latest. */
static void fetch_log(EngineRun *run) {
        if (run->log_unsupported || !run->latest) {
                after_log(run);
                return;
        }
        call(run, HTTP_GET, NULL, false, on_driver_log, "/spark/driver/log/%s?rows=%u", run->config_id,
             fusion_log_rows(&run->tail));
}

static void on_status(EngineRun *run, FusionRunStatus *status) {
        run->bad_polls = 0;
        if (status->note)
                note(run, LOG_DEBUG, "status of run %s: %s", run->job_id, status->note);
        if (fusion_run_state_is_terminal(status->state)) {
                fusion_run_status_done(&run->final);
                run->final = *status;
                *status = (FusionRunStatus){};
                run->over = true;
        }
        fetch_log(run);
}

static void on_run_list(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_run_status_done) FusionRunStatus status = {};
        int r;

        if (reply->outcome != HTTP_OK) {
                poll_failed(run, reply, reply_message(reply));
                return;
        }
        r = fusion_find_run(reply->body, reply->body_size, run->job_id, &status);
        if (r == -ENOENT)
                poll_failed(run, reply, "it is neither the latest run of its config nor among its runs");
        else if (r < 0)
                poll_failed(run, reply, r == -ENOMEM ? "out of memory" : "the list of runs is not JSON");
        else
                on_status(run, &status);
}

static void on_poll(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_run_status_done) FusionRunStatus status = {};

        if (reply->outcome != HTTP_OK) {
                poll_failed(run, reply, reply_message(reply));
                return;
        }
        int r = fusion_parse_run_status(reply->body, reply->body_size, &status);
        if (r < 0) {
                poll_failed(run, reply,
                            r == -ENOMEM ? "out of memory" : "the answer is not a SparkJobStatus");
                return;
        }
        run->latest = status.job_id && strcmp(status.job_id, run->job_id) == 0;
        if (run->latest)
                on_status(run, &status);
        else /* a newer run of the config, or a reply about none: find ours among all of them */
                call(run, HTTP_GET, NULL, false, on_run_list, "/spark/jobs/%s/all", run->config_id);
}

static void poll_status(EngineRun *run) {
        call(run, HTTP_GET, NULL, false, on_poll, "/spark/jobs/%s", run->config_id);
}

/* ---------------------------------------------------------------- stopping */

static void end_unconfirmed(EngineRun *run) {
        end(run, run->stop_kind, false,
            "%s; Fusion did not confirm the end of run %s within kill_grace (%.0fs)", run->stop_why,
            run->job_id, (double) run->kill_grace_usec / 1e6);
}

static void on_stop_sent(EngineRun *run, const HttpReply *reply) {
        if (reply->outcome != HTTP_OK)
                note(run, LOG_WARNING, "cancelling run %s: %s; waiting for it to end anyway", run->job_id,
                     reply_message(reply));
        if (run->grace_over) {
                end_unconfirmed(run);
                return;
        }
        run->polls = 0;
        schedule_poll(run);
}

/* The body of a Jobs API action: {"action": "start", "comment": "..."}; NULL when out of memory. */
static cJSON *action_body(const char *action, const char *comment) {
        cJSON *body = cJSON_CreateObject();
        if (!body || !cJSON_AddStringToObject(body, "action", action) ||
            (comment && !cJSON_AddStringToObject(body, "comment", comment)))
                return json_free(body);
        return body;
}

static void send_stop(EngineRun *run) {
        run->transfer = http_transfer_free(run->transfer); /* a poll in flight would only be stale */
        (void) sd_event_source_set_enabled(run->timer, SD_EVENT_OFF);
        if (!run->jobs_api) {
                call(run, HTTP_DELETE, NULL, false, on_stop_sent, "/spark/jobs/%s", run->config_id);
                return;
        }
        cJSON *body = action_body("abort", NULL);
        if (!body)
                end(run, run->stop_kind, false, "%s; cannot cancel run %s: out of memory", run->stop_why,
                    run->job_id);
        else
                call(run, HTTP_POST, body, false, on_stop_sent, "/jobs/spark:%s/actions", run->config_id);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata);

static void stop(EngineRun *run, OutcomeKind kind, const char *why) {
        if (run->ended || run->stopping || run->over) /* (over: its end is on its way already) */
                return;
        run->stopping = true;
        run->stop_kind = kind;
        if (!(run->stop_why = strdup(why))) {
                end(run, kind, false, "%s", why);
                return;
        }
        /* Fusion gets kill_grace to confirm */
        if (sd_event_source_set_time_relative(run->deadline, run->kill_grace_usec) < 0 ||
            sd_event_source_set_enabled(run->deadline, SD_EVENT_ONESHOT) < 0) {
                end(run, kind, false, "%s", why);
                return;
        }
        if (run->job_id)
                send_stop(run);
        else if (!run->start_sent) /* nothing started: nothing to cancel */
                end(run, kind, false, "%s before the run started", why);
        /* else the start's answer comes first: follow() sends the stop */
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        EngineRun *run = userdata;
        (void) s, (void) usec;

        if (!run->stopping)
                stop(run, OUTCOME_TIMED_OUT, "timed out");
        else if (!run->job_id)
                end(run, run->stop_kind, false,
                    "%s; no answer to the start of %s within kill_grace (%.0fs): a run may have started",
                    run->stop_why, run->config_id, (double) run->kill_grace_usec / 1e6);
        else if (run->transfer && run->call.handler == on_stop_sent)
                run->grace_over = true; /* the cancel itself is under way: let it reach Fusion */
        else
                end_unconfirmed(run);
        return 0;
}

/* ---------------------------------------------------------------- starting */

/* The run to follow; a new one is recorded, so that a restarted daemon re-attaches to it. */
static void follow(EngineRun *run, const char *job_id, bool is_new) {
        if (!(run->job_id = strdup(job_id))) {
                end(run, OUTCOME_FAILED, false, "out of memory");
                return;
        }
        if (is_new)
                run->events->accepted(run->userdata, job_id);
        if (run->stopping)
                send_stop(run);
        else
                schedule_poll(run);
}

/* The start made no run to follow: the attempt is over; cancelled or timed out, if a stop came meanwhile. */
static void no_run(EngineRun *run, bool permanent, const char *format, ...) {
        _cleanup_free_ char *why = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&why, format, ap) < 0)
                why = NULL;
        va_end(ap);
        if (run->stopping)
                end(run, run->stop_kind, false, "%s before the run started (%s)", run->stop_why, why ?: "");
        else
                end(run, OUTCOME_FAILED, permanent, "%s", why ?: "out of memory");
}

static void look_for_new_run(EngineRun *run);

static void on_lookup(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_run_status_done) FusionRunStatus status = {};

        if (reply->outcome == HTTP_OK &&
            fusion_parse_run_status(reply->body, reply->body_size, &status) >= 0 && status.job_id &&
            !(run->previous_job_id && strcmp(status.job_id, run->previous_job_id) == 0)) {
                follow(run, status.job_id, true);
                return;
        }
        if (run->lookups < (run->start_error ? LOOKUPS_LOST_MAX : LOOKUPS_ACCEPTED_MAX)) {
                after(run, LOOKUP_USEC, look_for_new_run);
                return;
        }
        if (run->start_error)
                no_run(run, false, "cannot start %s: %s; and no new run appeared", run->config_id,
                       run->start_error);
        else
                no_run(run, false, "Fusion accepted the start of %s, but no new run appeared",
                       run->config_id);
}

/* After a start that did not name its run: the config's first run newer than the one before the start. */
static void look_for_new_run(EngineRun *run) {
        run->lookups++;
        call(run, HTTP_GET, NULL, false, on_lookup, "/spark/jobs/%s", run->config_id);
}

/* A start that failed, refused or not: with no run to follow, this attempt is over. */
static bool start_failed(EngineRun *run, const HttpReply *reply) {
        if (reply->outcome == HTTP_OK)
                return false;
        if (refused(reply)) { /* 409: one is running already; others (404, 400, 403): a config problem */
                no_run(run, reply->status != 409, "cannot start %s: %s", run->config_id,
                       reply_message(reply));
                return true;
        }
        /* the answer was lost (5xx, reset, timeout): the start may have happened, look */
        if (!(run->start_error = strdup(reply_message(reply))))
                end(run, OUTCOME_FAILED, false, "out of memory");
        else
                look_for_new_run(run);
        return true;
}

static void on_started(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_run_status_done) FusionRunStatus status = {};

        if (start_failed(run, reply))
                return;
        if (fusion_parse_run_status(reply->body, reply->body_size, &status) < 0 || !status.job_id) {
                note(run, LOG_DEBUG, "the answer to the start of %s names no run; looking for it",
                     run->config_id);
                look_for_new_run(run);
                return;
        }
        if (status.note)
                note(run, LOG_DEBUG, "start of %s: %s", run->config_id, status.note);
        follow(run, status.job_id, true);
}

static void on_start_action(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_action_reply_done) FusionActionReply action = {};

        if (start_failed(run, reply))
                return;
        int r = fusion_parse_action_reply(reply->body, reply->body_size, &action);
        if (r < 0) {
                note(run, LOG_DEBUG, "the Jobs API's answer to the start of %s is not a JobActionResponse",
                     run->config_id);
                look_for_new_run(run);
                return;
        }
        if (action.note)
                note(run, LOG_DEBUG, "start of %s: %s", run->config_id, action.note);
        if (!action.accepted) {
                no_run(run, false, "Fusion did not start %s: %s", run->config_id,
                       action.message ?: "accepted: false");
                return;
        }
        look_for_new_run(run);
}

static void send_start(EngineRun *run) {
        run->start_sent = true;
        if (!run->jobs_api) {
                call(run, HTTP_POST, NULL, true, on_started, "/spark/jobs/%s", run->config_id);
                return;
        }
        cJSON *body = action_body("start", run->comment);
        if (!body)
                end(run, OUTCOME_FAILED, false, "out of memory");
        else
                call(run, HTTP_POST, body, true, on_start_action, "/jobs/spark:%s/actions", run->config_id);
}

/* The config's latest run before the start: a start's new run is the first newer one. */
static void on_latest(EngineRun *run, const HttpReply *reply) {
        _cleanup_(fusion_run_status_done) FusionRunStatus status = {};

        if (reply->outcome != HTTP_OK) {
                end(run, OUTCOME_FAILED, refused(reply), "cannot read the state of %s: %s", run->config_id,
                    reply_message(reply));
                return;
        }
        if (fusion_parse_run_status(reply->body, reply->body_size, &status) < 0) {
                end(run, OUTCOME_FAILED, false, "the state of %s is not a SparkJobStatus", run->config_id);
                return;
        }
        if (status.note)
                note(run, LOG_DEBUG, "latest run of %s: %s", run->config_id, status.note);
        if (run->may_have_started && status.job_id && !fusion_run_state_is_terminal(status.state) &&
            status.state != FUSION_RUN_IDLE) {
                /* the previous daemon sent the start, and died before it could record the run's id */
                note(run, LOG_INFO, "run %s of %s is under way: following it rather than starting another",
                     status.job_id, run->config_id);
                run->start_sent = true;
                follow(run, status.job_id, true);
                return;
        }
        if (status.job_id && !(run->previous_job_id = strdup(status.job_id))) {
                end(run, OUTCOME_FAILED, false, "out of memory");
                return;
        }
        send_start(run);
}

/* ---------------------------------------------------------------- the engine */

static EngineRun *fusion_free(EngineRun *run) {
        if (!run)
                return NULL;
        http_transfer_free(run->transfer);
        call_clear(&run->call);
        sd_event_source_disable_unref(run->timer);
        sd_event_source_disable_unref(run->deadline);
        http_cookie_jar_unref(run->cookies);
        free(run->service);
        free(run->api);
        free(run->config_id);
        mfree_wiped(run->user);
        mfree_wiped(run->password);
        mfree_wiped(run->token);
        mfree_wiped(run->api_key_header);
        mfree_wiped(run->jwt);
        free(run->realm);
        free(run->comment);
        free(run->previous_job_id);
        free(run->start_error);
        free(run->job_id);
        fusion_run_status_done(&run->final);
        free(run->stop_why);
        free(run->outcome_message);
        free(run);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(EngineRun *, fusion_free);

/* Expands a credential's template (${secret:NAME}) into *ret; NULL stays NULL. */
static int expand_credential(const char *template, const ParamContext *ctx, const char *what, char **ret,
                             char **ret_error) {
        _cleanup_free_ char *error = NULL;
        if (!template)
                return 0;
        int r = params_expand_string(template, ctx, ret, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && asprintf(ret_error, "engines.fusion.%s: %s", what, error ?: strerror(-r)) < 0)
                return -ENOMEM;
        return r;
}

static int fusion_start(sd_event *event, const EngineRequest *req, const EngineEvents *events,
                        void *userdata, EngineRun **ret_run) {
        const FusionSettings *f = &req->settings->fusion;
        const RunPolicy *policy = &req->schedule->policy;
        _cleanup_(fusion_freep) EngineRun *run = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!f->configured)
                return -EINVAL; /* the config refuses fusion schedules without engines.fusion */
        if (!req->http)
                return -ENOMEM; /* the only reason the daemon has no client */
        if (!(run = calloc(1, sizeof *run)))
                return -ENOMEM;
        *run = (EngineRun){
                .http = req->http,
                .events = events,
                .userdata = userdata,
                .jobs_api = req->schedule->fusion.jobs_api,
                .auth = f->auth,
                .poll_interval_usec = f->poll_interval_usec,
                .kill_grace_usec = policy->kill_grace_usec,
                .may_have_started = req->may_have_started,
                .tail = { .forwarded = req->attach_log_since_ms },
        };
        if (!(run->service = strdup(f->base_url)) || !(run->config_id = strdup(req->schedule->fusion.job)) ||
            !(run->realm = strdup(f->realm)) ||
            (f->app ? asprintf(&run->api, "%s%s/apps/%s", f->base_url, f->api_prefix, f->app)
                    : asprintf(&run->api, "%s%s", f->base_url, f->api_prefix)) < 0 ||
            (f->user && !(run->user = strdup(f->user))) ||
            asprintf(&run->comment, "udfcron: schedule %s, run %s, attempt %u", req->schedule->name,
                     req->run_id, req->attempt) < 0)
                return -ENOMEM;

        r = sd_event_add_time_relative(event, &run->timer, CLOCK_MONOTONIC, 0, 0, on_timer, run);
        if (r >= 0)
                r = sd_event_source_set_enabled(run->timer, SD_EVENT_OFF);
        if (r >= 0) { /* the schedule's timeout, counted from the attempt's start (before a re-attach too) */
                uint64_t now = now_usec(), end = req->started_usec + policy->timeout_usec;
                r = sd_event_add_time(event, &run->deadline, CLOCK_MONOTONIC,
                                      now_monotonic_usec() + (end > now ? end - now : 0), 0, on_deadline,
                                      run);
        }
        if (r >= 0 && !policy->timeout_usec) /* none: the source waits for a stop's kill_grace */
                r = sd_event_source_set_enabled(run->deadline, SD_EVENT_OFF);
        if (r < 0)
                return r;

        /* secrets are read at every run: a rotated credential needs no reload */
        r = expand_credential(f->password, req->templates, "password", &run->password, &error);
        if (r >= 0)
                r = expand_credential(f->token, req->templates, "token", &run->token, &error);
        if (r >= 0 && run->auth == FUSION_AUTH_API_KEY &&
            asprintf(&run->api_key_header, "x-api-key: %s", run->token) < 0)
                r = -ENOMEM;
        if (r >= 0 && run->auth == FUSION_AUTH_SESSION)
                r = http_cookie_jar_new(&run->cookies);
        if (r == -ENOMEM)
                return r;
        if (r < 0) /* a missing secret: the run fails (retrying cannot conjure it), the message says which */
                end(run, OUTCOME_FAILED, true, "%s", error ?: strerror(-r));
        else if (req->attach_job_id)
                follow(run, req->attach_job_id, false);
        else
                call(run, HTTP_GET, NULL, false, on_latest, "/spark/jobs/%s", run->config_id);
        *ret_run = TAKE_PTR(run);
        return 0;
}

static int fusion_cancel(EngineRun *run) {
        stop(run, OUTCOME_CANCELLED, "cancelled");
        return 0;
}

/* The credentials' secrets, looked up before the attempt starts (see Engine.collect_secrets). */
static int fusion_collect_secrets(const Schedule *s, const DaemonSettings *settings, char ***names,
                                  size_t *n) {
        const FusionSettings *f = &settings->fusion;
        int r = f->password ? params_collect_secrets(f->password, names, n) : 0;
        (void) s;
        if (r >= 0 && f->token)
                r = params_collect_secrets(f->token, names, n);
        return r;
}

const Engine engine_fusion = {
        .name = "fusion",
        .remote = true,
        .no_params = true, /* neither start (POST /spark/jobs/{id}, the start action) carries any */
        .start = fusion_start,
        .cancel = fusion_cancel,
        .free = fusion_free,
        .collect_secrets = fusion_collect_secrets,
};
