/* SPDX-License-Identifier: MIT */
/*
 * The local engine: a run is a child process on this host. UDF files run
 * through the embedded Python runner (daemon/udf-runner.py), commands
 * directly (or through /bin/sh -c when the schedule asks for a shell). Both
 * get the parameters as JSON on stdin and in UDFCRON_* variables.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "cleanup.h"
#include "engine.h"
#include "json-util.h"
#include "strv.h"
#include "udf-runner.h" /* generated: udf_runner_source[] */

struct EngineRun {
        Child *child;
        const EngineEvents *events;
        void *userdata;
};

/* UDFCRON_PARAM_<NAME> for each scalar parameter: names upper-cased, other characters as '_'. */
static int push_param_variables(char ***env, size_t *n, const char *params_json) {
        _cleanup_(json_freep) cJSON *params = cJSON_Parse(params_json);
        if (!cJSON_IsObject(params))
                return 0;

        for (cJSON *p = params->child; p; p = p->next) {
                _cleanup_free_ char *name = strdup(p->string);
                _cleanup_free_ char *value = NULL;
                if (!name)
                        return -ENOMEM;
                for (char *c = name; *c; c++)
                        *c = isalnum((unsigned char) *c) ? (char) toupper((unsigned char) *c) : '_';
                if (cJSON_IsString(p))
                        value = strdup(p->valuestring);
                else if (cJSON_IsNumber(p) || cJSON_IsBool(p))
                        value = cJSON_PrintUnformatted(p);
                else
                        continue; /* lists and groups only in UDFCRON_PARAMS */
                if (!value)
                        return -ENOMEM;
                int r = strv_pushf(env, n, "UDFCRON_PARAM_%s=%s", name, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * Sets "NAME=value" `entry` in env, replacing an earlier value of NAME: getenv() in C takes the first of
 * two, Python and the shell the last, so a child must never see two.
 */
static int env_put(char ***env, size_t *n, const char *entry) {
        size_t name_len = strcspn(entry, "=") + 1;
        char *copy = strdup(entry);

        for (size_t i = 0; copy && i < *n; i++)
                if (strncmp((*env)[i], entry, name_len) == 0) {
                        free((*env)[i]);
                        (*env)[i] = copy;
                        return 0;
                }
        return strv_push(env, n, copy);
}

/*
 * The child's whole environment: a cron-like minimal base (PATH, HOME, LANG
 * from the daemon's), TZ set to the schedule's zone so `date` agrees with the
 * schedule, the run's UDFCRON_* variables, what its credentials instances
 * give (GOOGLE_APPLICATION_CREDENTIALS), then the schedule's own list; a
 * later value of a variable replaces an earlier one.
 */
static int build_environment(const EngineRequest *req, char ***env) {
        static const char *const inherited[] = { "PATH", "HOME", "LANG", "LC_ALL", "LANGUAGE" };
        const Schedule *s = req->schedule;
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(inherited) && r >= 0; i++) {
                const char *v = getenv(inherited[i]);
                if (v)
                        r = strv_pushf(env, &n, "%s=%s", inherited[i], v);
        }
        if (r >= 0 && !getenv("PATH"))
                r = strv_pushf(env, &n, "PATH=/usr/local/bin:/usr/bin:/bin");
        if (r >= 0)
                r = strv_pushf(env, &n, "TZ=%s", tz_zone_name(s->zone));
        if (r >= 0)
                r = strv_pushf(env, &n, "UDFCRON_SCHEDULE=%s", s->name);
        if (r >= 0)
                r = strv_pushf(env, &n, "UDFCRON_RUN_ID=%s", req->run_id);
        if (r >= 0)
                r = strv_pushf(env, &n, "UDFCRON_ATTEMPT=%u", req->attempt);
        if (r >= 0)
                r = strv_pushf(env, &n, "UDFCRON_SCHEDULED_USEC=%" PRIu64, req->scheduled_usec);
        if (r >= 0)
                r = strv_pushf(env, &n, "UDFCRON_PARAMS=%s", req->params_json);
        if (r >= 0)
                r = push_param_variables(env, &n, req->params_json);
        for (const char *const *e = req->credentials_environment; e && *e && r >= 0; e++)
                r = env_put(env, &n, *e);
        for (char **e = s->environment; e && *e && r >= 0; e++)
                r = env_put(env, &n, *e);
        return r;
}

static void on_output(void *userdata, bool is_stderr, const char *line, size_t size, bool partial) {
        EngineRun *run = userdata;
        run->events->output(run->userdata, is_stderr, line, size, partial, 0);
}

/* "SIGTERM", or "exited with status 0 after SIGTERM" style wording for a stopped child. */
static void describe_stop(const char *what, const ChildResult *result, char *buf, size_t size) {
        if (result->signal > 0)
                snprintf(buf, size, "%s, stopped with SIG%s", what, sigabbrev_np(result->signal) ?: "?");
        else
                snprintf(buf, size, "%s, exited with status %d when asked to stop", what,
                         result->exit_status);
}

static void on_ended(void *userdata, const ChildResult *result) {
        EngineRun *run = userdata;
        EngineOutcome outcome = { .result = result->result, .result_size = result->result_size };
        char message[128];

        switch (result->end) {
        case CHILD_EXITED:
                outcome.has_exit_status = true;
                outcome.exit_status = result->exit_status;
                outcome.kind = result->exit_status == 0 ? OUTCOME_SUCCEEDED : OUTCOME_FAILED;
                snprintf(message, sizeof message, "exited with status %d", result->exit_status);
                break;
        case CHILD_SIGNALED:
                outcome.kind = OUTCOME_FAILED;
                snprintf(message, sizeof message, "killed by SIG%s", sigabbrev_np(result->signal) ?: "?");
                break;
        case CHILD_TIMED_OUT:
                outcome.kind = OUTCOME_TIMED_OUT;
                describe_stop("timed out", result, message, sizeof message);
                break;
        case CHILD_CANCELLED:
        default:
                outcome.kind = OUTCOME_CANCELLED;
                describe_stop("cancelled", result, message, sizeof message);
                break;
        }
        if (outcome.kind == OUTCOME_SUCCEEDED && result->result_truncated) {
                outcome.kind = OUTCOME_FAILED;
                snprintf(message, sizeof message, "result larger than %d MiB", CHILD_RESULT_MAX >> 20);
        }
        outcome.message = message;
        run->events->ended(run->userdata, &outcome);
}

static int local_start(sd_event *event, const EngineRequest *req, const EngineEvents *events, void *userdata,
                       EngineRun **ret_run) {
        static const ChildCallbacks callbacks = { .output = on_output, .ended = on_ended };
        const Schedule *s = req->schedule;
        _cleanup_(strv_freep) char **env = NULL;
        const char *udf_argv[] = { req->python, "-c", udf_runner_source, s->udf_path, s->entrypoint, NULL };
        const char *sh_argv[] = { "/bin/sh", "-c", req->argv ? req->argv[0] : "", NULL };
        const char *const *argv = s->work == WORK_UDF ? udf_argv : s->shell ? sh_argv : req->argv;
        int r;

        r = build_environment(req, &env);
        if (r < 0)
                return r;

        _cleanup_free_ EngineRun *run = calloc(1, sizeof *run);
        if (!run)
                return -ENOMEM;
        *run = (EngineRun){ .events = events, .userdata = userdata };

        ChildSpec spec = {
                .argv = argv,
                .envp = (const char *const *) env,
                .input = req->params_json,
                .input_size = strlen(req->params_json),
                .working_directory = req->working_directory,
                .uid = s->uid,
                .gid = s->gid,
                .nice = s->nice,
                .want_result = s->work == WORK_UDF || req->stdout_is_result,
                .stdout_is_result = req->stdout_is_result,
                .timeout_usec = s->policy.timeout_usec,
                .kill_grace_usec = s->policy.kill_grace_usec,
                .start_marker = req->start_marker,
        };
        r = child_spawn(event, &spec, &callbacks, run, &run->child);
        if (r < 0)
                return r;
        *ret_run = TAKE_PTR(run);
        return 0;
}

static int local_cancel(EngineRun *run) {
        return child_cancel(run->child);
}

static EngineRun *local_free(EngineRun *run) {
        if (!run)
                return NULL;
        child_free(run->child);
        free(run);
        return NULL;
}

const Engine engine_local = {
        .name = "local",
        .start = local_start,
        .cancel = local_cancel,
        .free = local_free,
};
