/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the fusion engine reads from Lucidworks Fusion (shared/api/fusion.md),
 * as pure decoders of server input: a Spark job run's status
 * (SparkJobStatus), the Jobs API's answer to an action, an OAuth2 token, and
 * the Spark driver log, with the bookkeeping that tails that log across
 * polls without repeating or losing lines. No I/O, and nothing here logs:
 * what a reply holds that the contract does not lead us to expect comes back
 * as a `note` for the engine to log at debug level.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The states of a Spark job run [S1]. */
typedef enum FusionRunState {
        FUSION_RUN_UNKNOWN,
        FUSION_RUN_IDLE, /* the config has never run */
        FUSION_RUN_STARTING,
        FUSION_RUN_RUNNING,
        FUSION_RUN_FINISHING,
        FUSION_RUN_CANCELLING,
        FUSION_RUN_FINISHED, /* success */
        FUSION_RUN_CANCELLED,
        FUSION_RUN_ERROR,
        FUSION_RUN_SKIPPED,
        _FUSION_RUN_STATE_MAX,
        _FUSION_RUN_STATE_INVALID = -22, /* a state the contract does not list */
} FusionRunState;

const char *fusion_run_state_to_string(FusionRunState s);
/* Any case ("FINISHED" too); _FUSION_RUN_STATE_INVALID for anything else. */
FusionRunState fusion_run_state_from_string(const char *s);
/* finished, cancelled, error and skipped: the run is over. Everything else, unknown states included, is
 * taken as "still going": leniency that costs at most polls until the schedule's timeout. */
bool fusion_run_state_is_terminal(FusionRunState s);

/* One SparkJobStatus. Every string is owned; free with fusion_run_status_done(). */
typedef struct FusionRunStatus {
        FusionRunState state; /* _FUSION_RUN_STATE_INVALID: see state_text */
        char *state_text;     /* as sent */
        char *job_id;         /* the run's id: `jobId`, else `result.jobRunId`; NULL when neither */
        char *error;          /* `result.exception` explained in one line; NULL: none */
        char *summary;        /* JSON: jobId, state, startTime, endTime, duration, hostname, result (without
                                 its exception): what a finished run leaves as its result */
        char *note;           /* what was unexpected, for a debug record; NULL: nothing */
} FusionRunStatus;

void fusion_run_status_done(FusionRunStatus *s);

/*
 * Decodes the body of GET or POST /spark/jobs/{id}. Returns 0, -EBADMSG when
 * it is not a JSON object with a string `state`, or -ENOMEM; *ret is set only
 * on success.
 */
int fusion_parse_run_status(const char *body, size_t size, FusionRunStatus *ret);

/*
 * Finds run `job_id` in the body of GET /spark/jobs/{id}/all (an array of
 * SparkJobStatus; entries that do not decode are skipped). Returns 0, -ENOENT
 * when it is not there, -EBADMSG when the body is not a JSON array, -ENOMEM.
 */
int fusion_find_run(const char *body, size_t size, const char *job_id, FusionRunStatus *ret);

/* The Jobs API's JobActionResponse: {resource, action, accepted, message}. */
typedef struct FusionActionReply {
        bool accepted;
        char *message; /* NULL when absent */
        char *note;
} FusionActionReply;

void fusion_action_reply_done(FusionActionReply *a);

/* Returns 0, -EBADMSG (not an object, or no boolean `accepted`), or -ENOMEM. */
int fusion_parse_action_reply(const char *body, size_t size, FusionActionReply *ret);

/*
 * The reply of POST /oauth2/token: {"access_token": ..., "expires_in": N}.
 * Returns 0 with the token (owned) and its lifetime in seconds (0 when absent),
 * -EBADMSG, or -ENOMEM.
 */
int fusion_parse_token(const char *body, size_t size, char **ret_token, uint64_t *ret_expires_in);

/* One line of the driver log; `text` points into the reply or into FusionLog.storage. */
typedef struct FusionLogLine {
        const char *text;
        size_t size;
        uint64_t usec; /* the line's own time, when the log says (JSON form); else 0 */
} FusionLogLine;

typedef struct FusionLog {
        FusionLogLine *lines;
        size_t n_lines;
        void *storage; /* the decoded JSON form, which `lines` point into */
} FusionLog;

void fusion_log_done(FusionLog *log);

/*
 * Splits the body of GET /spark/driver/log/{id} into lines: text/plain
 * (the contract), or a JSON list of {line, date} objects or of strings (the
 * job launcher's LogLineList: UNKNOWN whether the public endpoint sends it).
 * A last line without its newline may still be being written: it counts
 * only when `complete` (the run is over). The text form points into `body`,
 * which must outlive *ret. Returns 0 or -ENOMEM.
 */
int fusion_parse_driver_log(const char *body, size_t size, const char *content_type, bool complete,
                            FusionLog *ret);

/*
 * Tailing the driver log. Fusion serves only its last N lines (?rows=N), not
 * "from line K on", so the tail asks for every line it has forwarded plus
 * FUSION_LOG_ROWS_AHEAD, and finds its place in the answer by count, checked
 * against the last line it forwarded; when the two disagree (the log was
 * replaced, or grew by more than could be fetched) it finds that line again,
 * else takes the whole window as new.
 */
#define FUSION_LOG_ROWS_AHEAD 1000
#define FUSION_LOG_ROWS_MAX   100000

typedef struct FusionLogTail {
        uint64_t forwarded; /* lines forwarded so far: the position a re-attached run resumes from */
        uint64_t last_hash; /* of the last line forwarded; 0: unknown (after a re-attach) */
} FusionLogTail;

/* The ?rows= to ask for. */
unsigned fusion_log_rows(const FusionLogTail *t);

/*
 * Given the answer to ?rows=`rows`, returns the index of the first line of
 * `window` not forwarded yet (window->n_lines: none) and moves the tail past
 * the window's end. *ret_note (may be NULL) is set to a static explanation
 * when the count and the last line disagreed, else to NULL.
 */
size_t fusion_log_tail_advance(FusionLogTail *t, const FusionLog *window, unsigned rows,
                               const char **ret_note);
