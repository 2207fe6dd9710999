/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The control protocol between udfcronctl and udfcrond, without any I/O: one
 * JSON object per line each way (README "Control socket"). A request names a
 * command; the reply has "ok" and, when it is false, an "error" object with a
 * machine-readable code and a message for humans. `run` with "wait" follows
 * the reply with event lines ({"event": ...}) up to an "end" event.
 *
 * The daemon decodes requests here (control_request_parse, fuzzed); the
 * client encodes them and decodes replies and events here too, so that both
 * sides agree on one definition.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cJSON cJSON;

#define CONTROL_SOCKET_DEFAULT "/run/udfcron/control.sock"
/* One request line, newline included; longer ones get `too_large` and the connection is closed. */
#define CONTROL_REQUEST_MAX (64 * 1024)
/* The JSON text of a run's parameter overrides, as recorded in the state file. */
#define CONTROL_PARAMS_MAX 4096

typedef enum ControlCommand {
        CONTROL_LIST,   /* every schedule, briefly */
        CONTROL_STATUS, /* the daemon, or one schedule in detail */
        CONTROL_RUN,    /* fire a schedule now */
        CONTROL_SKIP,   /* skip a schedule's next fire */
        CONTROL_PAUSE,
        CONTROL_RESUME,
        CONTROL_CANCEL, /* stop a run */
        CONTROL_RELOAD, /* as SIGHUP */
        _CONTROL_COMMAND_MAX,
        _CONTROL_COMMAND_INVALID = -22,
} ControlCommand;

const char *control_command_to_string(ControlCommand c);
ControlCommand control_command_from_string(const char *s);
/* Whether the command changes anything (and so needs root or the control group). */
bool control_command_changes(ControlCommand c);

typedef struct ControlRequest {
        ControlCommand command;
        char *schedule; /* status (optional), run, skip, pause, resume */
        char *run_id;   /* cancel */
        char *params;   /* run (optional): parameter overrides, the JSON text of an object */
        bool wait;      /* run: follow the run with events until it ends */
} ControlRequest;

void control_request_done(ControlRequest *r);

/*
 * Decodes one request (data need not be NUL-terminated; a trailing newline is
 * allowed). Returns 0 and fills *ret, or -EINVAL with a malloc'd message in
 * *ret_error ("schedule: expected a string"), or -ENOMEM.
 */
int control_request_parse(const char *data, size_t size, ControlRequest *ret, char **ret_error);

/*
 * The request as one line, newline included (malloc'd). -EINVAL if it is not
 * one the daemon accepts, with the daemon's reason in *ret_error (malloc'd).
 */
int control_request_format(const ControlRequest *r, char **ret_line, size_t *ret_size, char **ret_error);

/* The codes of failed replies. */
typedef enum ControlError {
        CONTROL_ERROR_BAD_REQUEST,       /* not a request: malformed JSON, wrong or missing fields */
        CONTROL_ERROR_TOO_LARGE,         /* a request line above CONTROL_REQUEST_MAX */
        CONTROL_ERROR_TIMEOUT,           /* a request did not arrive whole within control_timeout */
        CONTROL_ERROR_BUSY,              /* too many connections */
        CONTROL_ERROR_PERMISSION_DENIED, /* a change from a peer that is neither root nor in control_group */
        CONTROL_ERROR_NOT_FOUND,         /* no such schedule or run */
        CONTROL_ERROR_CONFLICT,       /* refused by the schedule's state or policy (overlap, no next fire) */
        CONTROL_ERROR_STOPPING,       /* the daemon is shutting down */
        CONTROL_ERROR_INVALID_CONFIG, /* reload: the new configuration has errors ("errors" lists them) */
        CONTROL_ERROR_FAILED,         /* anything else: out of memory, the state file cannot be written */
        _CONTROL_ERROR_MAX,
        _CONTROL_ERROR_INVALID = -22,
} ControlError;

const char *control_error_to_string(ControlError e);

/* A decoded reply or event line (client side). */
typedef struct ControlMessage {
        cJSON *root; /* the whole object, for the command's own fields */
        bool is_event;
        const char *event;                      /* an event: its name ("log", "end", ...) */
        bool ok;                                /* a reply: whether the command succeeded */
        const char *error_code, *error_message; /* a failed reply */
} ControlMessage;

void control_message_done(ControlMessage *m);

/*
 * Decodes one line from the daemon: an object with a boolean "ok" (and, when
 * false, "error": {"code": STRING, "message": STRING}), or with a string
 * "event". -EINVAL with *ret_error for anything else.
 */
int control_message_parse(const char *data, size_t size, ControlMessage *ret, char **ret_error);

/* Type-checked member access for decoded messages: NULL / false when absent or of another type. */
const char *control_string(const cJSON *object, const char *key);
/* An integer in [0, 2^53-1]: what the daemon writes for times, counts and sizes. */
bool control_u64(const cJSON *object, const char *key, uint64_t *ret);
bool control_bool(const cJSON *object, const char *key, bool *ret);
