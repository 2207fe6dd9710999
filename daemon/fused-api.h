/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Fused service's replies, decoded, and what udfcron sends it, encoded
 * (shared/api/fused.md). Pure functions: no I/O, no clock, no logging.
 *
 * The contract is partly inferred, so the decoders are lenient: unknown
 * fields are ignored, optional ones may be missing or null, numbers may come
 * as strings, and items they cannot use are skipped. Whatever they had to
 * overlook is described in *ret_unexpected (may be NULL; set to NULL when
 * nothing was), for the engine to log at debug level. A reply that is not
 * what it must be at all (not JSON, a list where an object belongs) is
 * -EBADMSG.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cJSON cJSON;

/* ---------------------------------------------------------------- batch jobs */

typedef enum FusedTristate {
        FUSED_UNSET = -1, /* null or absent (older services send fewer fields) */
        FUSED_FALSE = 0,
        FUSED_TRUE = 1,
} FusedTristate;

/* RunResponse: what POST /run, GET /run/by-id/{id} and .../cancel answer. */
typedef struct FusedRunResponse {
        char *job_id;     /* required */
        char *job_name;   /* NULL when absent */
        char *status;     /* the instance's state ("pending", "running", "terminated"); NULL when absent */
        char *job_status; /* the job's ("running", "succeeded", "failed", ...); NULL when absent */
        FusedTristate finished_job_status;
        FusedTristate terminal_status;
        bool has_tasks;
        uint64_t total_tasks, finished_tasks;
} FusedRunResponse;

int fused_run_response_parse(const char *json, size_t size, FusedRunResponse *ret, char **ret_unexpected);
void fused_run_response_done(FusedRunResponse *r);

/* Whether the job is over, as the SDK's wait_for_job decides: finished_job_status, or else (null) the
 * instance's terminal_status. */
bool fused_job_ended(const FusedRunResponse *r);

typedef enum FusedJobResult {
        FUSED_JOB_SUCCEEDED,
        FUSED_JOB_FAILED,
        FUSED_JOB_CANCELLED,
        FUSED_JOB_UNKNOWN, /* a job_status nobody knows: the engine calls it a failure, and says why */
} FusedJobResult;

/*
 * How an ended job came out, from its job_status (no enum exists: the names
 * seen and plausible ones are known, then words such as "fail", "cancel" or
 * "success" inside other names). No job_status at all (an older service)
 * counts as succeeded: nothing said it failed.
 */
FusedJobResult fused_job_result(const FusedRunResponse *r);

/* One line of a job's log (GET /logs/{id}). */
typedef struct FusedLogEntry {
        char *message;
        size_t size;
        uint64_t timestamp_ms;
} FusedLogEntry;

/*
 * A page of log entries, oldest first, keeping only those after `after_ms`
 * (the since_ms asked for: a service that reads since_ms inclusively sends
 * the last one seen again, and it is not shown twice). Entries without a
 * usable message or timestamp are skipped; an out-of-order page is sorted
 * (stably: lines of one millisecond keep their order).
 */
int fused_logs_parse(const char *json, size_t size, uint64_t after_ms, FusedLogEntry **ret_entries,
                     size_t *ret_n, char **ret_unexpected);
FusedLogEntry *fused_logs_free(FusedLogEntry *entries, size_t n);

/* One result file of a job (GET /run/by-id/{id}/results). */
typedef struct FusedResultItem {
        char *name;
        char *url; /* signed: fetched without the service's credentials */
} FusedResultItem;

/* The results, in the SDK's order: by the number their name starts with ("2.json" before "10.json"),
 * then names without one, by name. Items without a name or an http(s) URL are skipped. */
int fused_results_parse(const char *json, size_t size, FusedResultItem **ret_items, size_t *ret_n,
                        char **ret_unexpected);
FusedResultItem *fused_results_free(FusedResultItem *items, size_t n);

/* One job of GET /job/self (JobResponse); job_name is not in the contract, but some services add it. */
typedef struct FusedJobListItem {
        char *id;
        char *job_name;        /* NULL when absent */
        uint64_t created_usec; /* creation_date; 0 when absent or unreadable */
} FusedJobListItem;

int fused_job_list_parse(const char *json, size_t size, FusedJobListItem **ret_items, size_t *ret_n,
                         char **ret_unexpected);
FusedJobListItem *fused_job_list_free(FusedJobListItem *items, size_t n);

/* The name of a JobConfig (GET /job/by-id/{id}/config, via its redirect): `name`, else the first step's. */
int fused_job_config_name(const char *json, size_t size, char **ret_name);

/* ---------------------------------------------------------------- UDFs and realtime runs */

/* A saved UDF record ({"udf_body": "<UDF JSON as a string>", ...}): the UDF object, owned by the caller.
 * A udf_body that is already an object is taken as it is. */
int fused_saved_udf_parse(const char *json, size_t size, cJSON **ret_udf);

/* The x-fused-metadata header of a realtime run. */
typedef struct FusedMetadata {
        char *stdout_text; /* NULL when empty */
        char *stderr_text;
        bool has_exception;
        char *exception_class;
        char *message; /* errormsg, else exception; NULL without either */
        int lineno;    /* 0 when unknown */
} FusedMetadata;

int fused_metadata_parse(const char *header, FusedMetadata *ret);
void fused_metadata_done(FusedMetadata *m);

/* GET /realtime-instance/available: the client_id with the highest preference_rank (the first of equals). */
int fused_instances_pick(const char *json, size_t size, char **ret_client_id);

/* ---------------------------------------------------------------- what udfcron sends */

/*
 * A realtime GET's query: `format` first (when given), then one pair per
 * parameter, encoded as the SDK's serialize_realtime_params does: strings as
 * they are, numbers and null as Python's str() writes them, booleans, lists
 * and objects as JSON; everything percent-encoded. Returns 0 and the query
 * (without '?'), -EINVAL when params is not an object, or -ENOMEM.
 */
int fused_query_encode(const cJSON *params, const char *format, char **ret_query);

/* Percent-encodes all but RFC 3986's unreserved characters, ':' and '@' (allowed in path segments and
 * queries alike, and kept so that an owner's email stays readable): for path segments and query values. */
char *fused_url_escape(const char *s);

/*
 * The Fused-Run-Id of an attempt's posted-code run: a UUID derived from the
 * run id (16 hex digits) and attempt, so that a restarted daemon knows the id
 * of a run it may have started, and the service (which refuses a repeated
 * id) never starts it twice; for a fan-out's task (`task`: 1 + its index, 0
 * for none) the task and its own attempt too. -EINVAL for a run id that is
 * not 16 hex digits, or numbers too large for the 44 bits they share.
 */
int fused_run_uuid(const char *run_id, unsigned attempt, size_t task, unsigned task_attempt,
                   char ret_uuid[static 37]);

/* The batch job name of an attempt, "<schedule>.<run_id>.<attempt>": how a restarted daemon finds a job it
 * may have started. malloc'd, NULL on OOM. */
char *fused_job_name(const char *schedule, const char *run_id, unsigned attempt);

/* A result file name safe as one path component: characters other than [A-Za-z0-9._-] become '_', and
 * names that are empty or all dots become "_". malloc'd, NULL on OOM. */
char *fused_result_file_name(const char *name);
