/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a failed HTTP reply tells a human, as pure decoders of server input:
 * the server's own explanation from the Fused headers (x-fused-metadata,
 * x-fused-error), a JSON body (message, detail, FastAPI validation lists,
 * Fusion's RESTError fields), an S3/GCS XML error, or a plain-text body;
 * else the status's reason phrase. And URLs cut down to what may be shown,
 * without credentials or query strings.
 */

#include <stdbool.h>
#include <stddef.h>

typedef struct cJSON cJSON;

/* The longest explanation kept from a server (bytes, before the "HTTP 404: " prefix). */
#define HTTP_MESSAGE_MAX 512

/* One failed reply; every field may be NULL (or 0) when the server did not send it. */
typedef struct HttpErrorReply {
        long status;
        const char *content_type;
        const char *fused_error;    /* the x-fused-error header */
        const char *fused_metadata; /* the x-fused-metadata header (JSON) */
        const char *body;           /* body_size bytes, not necessarily NUL-terminated */
        size_t body_size;
} HttpErrorReply;

/*
 * One line, valid UTF-8 without control characters: "HTTP 422: body.name:
 * field required", "HTTP 404 Not Found" when the server explained nothing.
 * Returns 0 and the message (owned by the caller), or -ENOMEM.
 */
int http_error_message(const HttpErrorReply *reply, char **ret_message);

/*
 * Whether an x-fused-metadata header (JSON, may be NULL) says the UDF itself raised: its 5xx is the
 * UDF's failure, which no retry of the request can mend (and each would run the UDF again).
 */
bool http_error_udf_raised(const char *fused_metadata);

/*
 * The explanation in a JSON error object found inside a reply rather than as one (a Fusion run's
 * `result.exception`, a RESTError): one clean line as above, without the "HTTP ..." prefix.
 * Returns 0 and the message (owned by the caller), -ENOENT when it explains nothing, or -ENOMEM.
 */
int http_error_json_message(const cJSON *error, char **ret_message);

/* The reason phrase of a status ("Not Found"), or NULL for one it does not know. */
const char *http_status_reason(long status);

/*
 * `url` with what may carry secrets removed: the user info and password, the
 * query and the fragment ("https://u:p@h/p?token=x" becomes
 * "https://h/p?[redacted]"). Returns the copy (owned by the caller), or NULL
 * on OOM.
 */
char *http_url_redact(const char *url);
