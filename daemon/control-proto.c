/* SPDX-License-Identifier: MIT */
#include "control-proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-message.h"
#include "json-util.h"
#include "json-writer.h"
#include "macro.h"
#include "schedule.h"

#define RUN_ID_MAX     64
#define PARAM_NAME_MAX 64
#define NAME_CHARS     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-"

static const char *const command_names[_CONTROL_COMMAND_MAX] = {
        [CONTROL_LIST] = "list",     [CONTROL_STATUS] = "status", [CONTROL_RUN] = "run",
        [CONTROL_SKIP] = "skip",     [CONTROL_PAUSE] = "pause",   [CONTROL_RESUME] = "resume",
        [CONTROL_CANCEL] = "cancel", [CONTROL_RELOAD] = "reload",
};

static const char *const error_names[_CONTROL_ERROR_MAX] = {
        [CONTROL_ERROR_BAD_REQUEST] = "bad_request",
        [CONTROL_ERROR_TOO_LARGE] = "too_large",
        [CONTROL_ERROR_TIMEOUT] = "timeout",
        [CONTROL_ERROR_BUSY] = "busy",
        [CONTROL_ERROR_PERMISSION_DENIED] = "permission_denied",
        [CONTROL_ERROR_NOT_FOUND] = "not_found",
        [CONTROL_ERROR_CONFLICT] = "conflict",
        [CONTROL_ERROR_STOPPING] = "stopping",
        [CONTROL_ERROR_INVALID_CONFIG] = "invalid_config",
        [CONTROL_ERROR_FAILED] = "failed",
};

/* The request's members, and which commands take them. */
enum {
        KEY_COMMAND,
        KEY_SCHEDULE,
        KEY_RUN_ID,
        KEY_PARAMS,
        KEY_WAIT,
        _KEY_MAX,
};
static const char *const key_names[_KEY_MAX] = { "command", "schedule", "run_id", "params", "wait" };

#define K(k) (1u << (k))
static const struct {
        unsigned allowed, required;
} command_keys[_CONTROL_COMMAND_MAX] = {
        [CONTROL_LIST] = { 0, 0 },
        [CONTROL_STATUS] = { K(KEY_SCHEDULE), 0 },
        [CONTROL_RUN] = { K(KEY_SCHEDULE) | K(KEY_PARAMS) | K(KEY_WAIT), K(KEY_SCHEDULE) },
        [CONTROL_SKIP] = { K(KEY_SCHEDULE), K(KEY_SCHEDULE) },
        [CONTROL_PAUSE] = { K(KEY_SCHEDULE), K(KEY_SCHEDULE) },
        [CONTROL_RESUME] = { K(KEY_SCHEDULE), K(KEY_SCHEDULE) },
        [CONTROL_CANCEL] = { K(KEY_RUN_ID), K(KEY_RUN_ID) },
        [CONTROL_RELOAD] = { 0, 0 },
};

const char *control_command_to_string(ControlCommand c) {
        return c >= 0 && c < _CONTROL_COMMAND_MAX ? command_names[c] : NULL;
}

ControlCommand control_command_from_string(const char *s) {
        for (ControlCommand c = 0; s && c < _CONTROL_COMMAND_MAX; c++)
                if (strcmp(s, command_names[c]) == 0)
                        return c;
        return _CONTROL_COMMAND_INVALID;
}

bool control_command_changes(ControlCommand c) {
        return c != CONTROL_LIST && c != CONTROL_STATUS;
}

const char *control_error_to_string(ControlError e) {
        return e >= 0 && e < _CONTROL_ERROR_MAX ? error_names[e] : NULL;
}

void control_request_done(ControlRequest *r) {
        free(r->schedule);
        free(r->run_id);
        free(r->params);
        *r = (ControlRequest){ .command = _CONTROL_COMMAND_INVALID };
}

/* Parses data whole: one JSON value, then nothing but whitespace. */
static cJSON *parse_whole(const char *data, size_t size, char **error, int *ret) {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(data, size, &end, false);
        while (root && end && end < data + size && strchr(" \t\r\n", *end) && *end)
                end++;
        if (!root || (end && end < data + size)) {
                cJSON_Delete(root);
                *ret = error_message(error, "invalid JSON at byte %zu", end ? (size_t) (end - data) : size);
                return NULL;
        }
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                *ret = error_message(error, "expected a JSON object");
                return NULL;
        }
        return root;
}

/* Schedule names and run ids share the alphabet of schedule names (README "Schedules"). */
static int take_name(const cJSON *c, size_t max, char **target, char **error) {
        size_t len = cJSON_IsString(c) ? strlen(c->valuestring) : 0;
        if (len == 0)
                return error_message(error, "%s: expected a non-empty string", c->string);
        if (len > max)
                return error_message(error, "%s: longer than %zu bytes", c->string, max);
        if (c->valuestring[strspn(c->valuestring, NAME_CHARS)] != '\0')
                return error_message(error, "%s: only A-Z a-z 0-9 _ . @ - are allowed", c->string);
        return (*target = strdup(c->valuestring)) ? 0 : -ENOMEM;
}

/* Parameter names become Python keyword arguments and parts of environment variable names. */
static bool valid_param_name(const char *n) {
        size_t len = strlen(n);
        if (len == 0 || len > PARAM_NAME_MAX || (n[0] >= '0' && n[0] <= '9'))
                return false;
        return n[strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] == '\0';
}

static int take_params(const cJSON *c, char **target, char **error) {
        const cJSON *p;
        if (!cJSON_IsObject(c))
                return error_message(error, "params: expected an object");
        /* the size first: it also bounds the quadratic duplicate check below */
        _cleanup_free_ char *text = cJSON_PrintUnformatted(c);
        if (!text)
                return -ENOMEM;
        if (strlen(text) > CONTROL_PARAMS_MAX)
                return error_message(error, "params: more than %d bytes of JSON", CONTROL_PARAMS_MAX);
        cJSON_ArrayForEach(p, c) {
                if (!valid_param_name(p->string))
                        return error_message(error,
                                             "params: '%.64s' is not a parameter name (letters, digits, _)",
                                             p->string);
                for (const cJSON *q = c->child; q != p; q = q->next)
                        if (strcmp(q->string, p->string) == 0)
                                return error_message(error, "params: '%s' given twice", p->string);
        }
        *target = TAKE_PTR(text);
        return 0;
}

static int request_parse(const cJSON *root, ControlRequest *req, char **error) {
        unsigned seen = 0;
        const cJSON *c;
        int r = 0;

        cJSON_ArrayForEach(c, root) {
                size_t k = 0;
                while (k < _KEY_MAX && strcmp(c->string, key_names[k]) != 0)
                        k++;
                if (k == _KEY_MAX)
                        return error_message(error, "unknown key '%.64s'", c->string);
                if (seen & K(k))
                        return error_message(error, "%s: given twice", key_names[k]);
                seen |= K(k);

                switch (k) {
                case KEY_COMMAND:
                        req->command = control_command_from_string(cJSON_GetStringValue(c));
                        if (req->command < 0)
                                return error_message(
                                        error,
                                        "command: expected one of list, status, run, skip, pause, resume, "
                                        "cancel, reload");
                        break;
                case KEY_SCHEDULE:
                        r = take_name(c, SCHEDULE_NAME_MAX, &req->schedule, error);
                        break;
                case KEY_RUN_ID:
                        r = take_name(c, RUN_ID_MAX, &req->run_id, error);
                        break;
                case KEY_PARAMS:
                        r = take_params(c, &req->params, error);
                        break;
                case KEY_WAIT:
                        if (!cJSON_IsBool(c))
                                return error_message(error, "wait: expected true or false");
                        req->wait = cJSON_IsTrue(c);
                        break;
                }
                if (r < 0)
                        return r;
        }
        if (!(seen & K(KEY_COMMAND)))
                return error_message(error, "command: missing");

        const char *name = command_names[req->command];
        for (size_t k = 0; k < _KEY_MAX; k++) {
                if ((seen & K(k)) && k != KEY_COMMAND && !(command_keys[req->command].allowed & K(k)))
                        return error_message(error, "%s: not an argument of %s", key_names[k], name);
                if (!(seen & K(k)) && (command_keys[req->command].required & K(k)))
                        return error_message(error, "%s: missing (%s needs it)", key_names[k], name);
        }
        return 0;
}

int control_request_parse(const char *data, size_t size, ControlRequest *ret, char **ret_error) {
        _cleanup_(json_freep) cJSON *root = NULL;
        ControlRequest req = { .command = _CONTROL_COMMAND_INVALID };
        int r;

        *ret_error = NULL;
        if (size > CONTROL_REQUEST_MAX)
                return error_message(ret_error, "longer than %d bytes", CONTROL_REQUEST_MAX);
        /* cJSON would stop at the NUL and call the rest trailing garbage: say what it is */
        if (memchr(data, '\0', size))
                return error_message(ret_error, "contains a NUL byte");
        if (!(root = parse_whole(data, size, ret_error, &r)))
                return r;
        r = request_parse(root, &req, ret_error);
        if (r < 0) {
                control_request_done(&req);
                return r;
        }
        *ret = req;
        return 0;
}

int control_request_format(const ControlRequest *r, char **ret_line, size_t *ret_size, char **ret_error) {
        _cleanup_(json_freep) cJSON *params = NULL;
        JsonWriter w = {};
        const char *name = control_command_to_string(r->command);

        if (!name)
                return -EINVAL;
        json_object_begin(&w);
        json_key_string(&w, "command", name);
        if (r->schedule)
                json_key_string(&w, "schedule", r->schedule);
        if (r->run_id)
                json_key_string(&w, "run_id", r->run_id);
        *ret_error = NULL;
        if (r->params) {
                /* reprinted, so that what goes out is one line of valid JSON whatever the caller had */
                params = cJSON_Parse(r->params);
                _cleanup_free_ char *text = params ? cJSON_PrintUnformatted(params) : NULL;
                if (!text) {
                        json_writer_done(&w);
                        return params ? -ENOMEM : error_message(ret_error, "params: invalid JSON");
                }
                json_key(&w, "params");
                json_raw(&w, text, strlen(text));
        }
        if (r->wait)
                json_key_bool(&w, "wait", true);
        json_object_end(&w);
        json_end_line(&w);

        char *line;
        size_t size;
        int k = json_writer_steal(&w, &line, &size);
        if (k < 0)
                return k;

        /* what the daemon would refuse is refused here, with the daemon's own rules */
        ControlRequest check;
        k = control_request_parse(line, size, &check, ret_error);
        if (k < 0) {
                free(line);
                return k;
        }
        control_request_done(&check);
        *ret_line = line;
        *ret_size = size;
        return 0;
}

/* ---------------------------------------------------------------- replies and events */

void control_message_done(ControlMessage *m) {
        cJSON_Delete(m->root);
        *m = (ControlMessage){};
}

const char *control_string(const cJSON *object, const char *key) {
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, key));
}

bool control_u64(const cJSON *object, const char *key, uint64_t *ret) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(object, key);
        /* up to 2^53-1: exact in the double cJSON keeps (2^53 is refused, 2^53+1 reads as it) */
        if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0 && c->valuedouble <= 9007199254740991.0) ||
            c->valuedouble != (double) (uint64_t) c->valuedouble)
                return false;
        *ret = (uint64_t) c->valuedouble;
        return true;
}

bool control_bool(const cJSON *object, const char *key, bool *ret) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(object, key);
        if (!cJSON_IsBool(c))
                return false;
        *ret = cJSON_IsTrue(c);
        return true;
}

int control_message_parse(const char *data, size_t size, ControlMessage *ret, char **ret_error) {
        ControlMessage m = {};
        int r = 0;

        *ret_error = NULL;
        if (memchr(data, '\0', size))
                return error_message(ret_error, "contains a NUL byte");
        if (!(m.root = parse_whole(data, size, ret_error, &r)))
                return r;

        m.event = control_string(m.root, "event");
        m.is_event = m.event != NULL;
        if (!m.is_event && !control_bool(m.root, "ok", &m.ok))
                r = error_message(ret_error, "neither \"ok\" nor \"event\"");
        else if (!m.is_event && !m.ok) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(m.root, "error");
                m.error_code = control_string(e, "code");
                m.error_message = control_string(e, "message");
                if (!m.error_code || !m.error_message)
                        r = error_message(ret_error, "a failed reply without error.code and error.message");
        }
        if (r < 0) {
                control_message_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}
