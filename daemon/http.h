/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The HTTP client of the remote engines: libcurl's multi-socket interface
 * driven by the daemon's sd-event loop (curl's sockets as IO sources, its
 * timer as one timer source, finished transfers drained after every event),
 * so nothing ever blocks the loop. One client per loop shares one connection
 * pool (keep-alive, HTTP/2 where the server offers it) among all requests.
 *
 * A request is submitted whole and ends in one callback with the verdict
 * OK / RETRY / FAIL (http-retry.h). In between, the client retries network
 * errors, timeouts, 408, 429 and 5xx with capped exponential backoff and
 * jitter, honouring Retry-After; follows redirects itself, so that its
 * credentials (the auth, the extra headers, the cookies) only ever go to the
 * origin (scheme, host and port) of the request's URL, never to the host of
 * a signed URL it is redirected to; and refuses replies larger than a bound
 * as soon as they pass it.
 *
 * Every transfer: TLS verification on (a CA file may be named, verification
 * cannot be turned off), HTTP and HTTPS only (an https URL is never followed
 * to http), NOSIGNAL, connect and total timeouts and a low-speed limit.
 * Nothing here logs, and no message it produces contains a credential, a
 * URL's user info or its query string.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http-retry.h"

typedef struct sd_event sd_event;
typedef struct cJSON cJSON;
typedef struct HttpClient HttpClient;
typedef struct HttpTransfer HttpTransfer;
typedef struct HttpCookieJar HttpCookieJar;

/* The defaults of every request (the `http` group of udfcrond.conf), and a request's own overrides. */
typedef struct HttpSettings {
        char *ca_file;                     /* PEM bundle of trusted CAs; NULL: the system's store */
        uint64_t connect_timeout_usec;     /* default 10s (0: curl's, 300s) */
        uint64_t timeout_usec;             /* one attempt, from start to last byte; default 60s (0: none) */
        uint64_t low_speed_time_usec;      /* abort an attempt slower than low_speed_limit for this long
                                              (waiting for the first byte too); 0: never; default 30s */
        unsigned low_speed_limit;          /* bytes per second, default 1 */
        uint64_t max_reply_size;           /* bytes; a larger reply fails the request; default 64 MiB */
        unsigned retries;                  /* attempts after the first, default 4 */
        uint64_t retry_backoff_usec;       /* before the first retry, doubling; default 1s */
        uint64_t retry_backoff_max_usec;   /* cap of the delay, default 30s; a Retry-After beyond it ends
                                              the request with RETRY instead of waiting */
        unsigned max_connections_per_host; /* the whole client's (per-request values are ignored);
                                              more requests queue; default 16 */
} HttpSettings;

#define HTTP_DEFAULT_SETTINGS                                                                               \
        ((HttpSettings){                                                                                    \
                .connect_timeout_usec = 10 * UINT64_C(1000000),                                             \
                .timeout_usec = 60 * UINT64_C(1000000),                                                     \
                .low_speed_time_usec = 30 * UINT64_C(1000000),                                              \
                .low_speed_limit = 1,                                                                       \
                .max_reply_size = 64 * UINT64_C(1024) * 1024,                                               \
                .retries = 4,                                                                               \
                .retry_backoff_usec = 1 * UINT64_C(1000000),                                                \
                .retry_backoff_max_usec = 30 * UINT64_C(1000000),                                           \
                .max_connections_per_host = 16,                                                             \
        })

typedef enum HttpMethod {
        HTTP_GET,
        HTTP_POST,
        HTTP_PUT,
        HTTP_DELETE,
        _HTTP_METHOD_MAX,
} HttpMethod;

extern const char *const http_method_names[_HTTP_METHOD_MAX + 1];

typedef enum HttpAuthType {
        HTTP_AUTH_NONE,
        HTTP_AUTH_BEARER,    /* "Authorization: <scheme> <token>" */
        HTTP_AUTH_BASIC,     /* "Authorization: Basic base64(user:password)" */
        HTTP_AUTH_AWS_SIGV4, /* AWS Signature Version 4 by libcurl, signed anew for every hop and attempt:
                                user is the access key id, password the secret access key */
} HttpAuthType;

typedef struct HttpAuth {
        HttpAuthType type;
        const char *scheme; /* bearer: NULL for "Bearer"; Fused runtimes use "Fused-Env-Bearer" */
        const char *token;
        const char *user, *password;
        /* sigv4: libcurl's provider string "aws:amz:<region>:<service>". libcurl signs the extra
         * headers with the request, and uses an "x-amz-content-sha256" header's value as the payload
         * hash (S3 requires that header; the caller computes it). */
        const char *aws_sigv4;
} HttpAuth;

/* One request. Everything is borrowed for the duration of http_submit() only: it copies what it keeps. */
typedef struct HttpRequest {
        HttpMethod method;
        const char *url; /* http:// or https://, without user info (credentials go in `auth`) */
        /* Extra headers "Name: value" (NULL-terminated; may be NULL), such as "x-api-key: ..." or
         * "Accept: ...". Like `auth` and `cookies`, they go to the URL's origin only. */
        const char *const *headers;
        HttpAuth auth;
        const cJSON *json;            /* the body, serialized as application/json; or: */
        const void *body;             /* a body of body_size bytes of content_type */
        size_t body_size;             /* (a POST or PUT with neither sends an empty body) */
        const char *content_type;     /* default "application/json" */
        HttpCookieJar *cookies;       /* cookies to keep and send (a reference is taken); NULL: none */
        /* Not idempotent (a job's start): sent at most once, never retried, and on a new connection,
         * since libcurl itself re-sends a request whose kept-alive connection died before any answer
         * (the server may have acted on it). A lost answer is then the caller's to look into. */
        bool at_most_once;
        const HttpSettings *settings; /* NULL: the client's */
        /* CLOCK_MONOTONIC: not sent before then, but up to 250 ms later (0: at once). The requests due by
         * one wake-up of the loop go out together: thousands of jobs polled every few seconds cost a few
         * wake-ups a second, not one each. Until then the transfer just waits (freeing it cancels it). */
        uint64_t not_before_usec;
} HttpRequest;

/* How a request ended; borrowed by the callback, valid during the call only. */
typedef struct HttpReply {
        HttpOutcome outcome; /* OK: a 2xx. RETRY: the last attempt failed in a way that retrying may
                                help, but the retries are used up (or Retry-After asks for longer than
                                retry_backoff_max). FAIL: retrying would not help. */
        long status;         /* the last reply's HTTP status; 0 when the request failed without one */
        int error;           /* 0 with a status, else a negative errno: -ETIMEDOUT, -ECONNREFUSED,
                                -ECONNRESET, -EHOSTUNREACH, -EFBIG (reply too large), -EPROTO, -EPERM
                                (TLS verification), -ELOOP (too many redirects), ... */
        const char *message; /* NULL for OK; else one line for humans, e.g. "HTTP 422: body.name: field
                                required" or "Failed to connect to h port 443 after 3 ms: ..." */
        const char *body;    /* the last reply's body, NUL-terminated (also for FAIL and RETRY) */
        size_t body_size;
        const char *content_type;  /* NULL when absent */
        unsigned attempts;         /* 1 + retries made */
        uint64_t retry_after_usec; /* the last reply's Retry-After, 0: none */
        HttpTransfer *transfer;    /* for http_reply_header() */
} HttpReply;

/* The request ended; called once. The transfer may be freed from inside. */
typedef void (*HttpDone)(void *userdata, const HttpReply *reply);

/*
 * A client on `event` (a reference is taken) with `settings` (copied) as the
 * defaults of its requests. Returns 0 and *ret_client, or a negative errno.
 */
int http_client_new(sd_event *event, const HttpSettings *settings, HttpClient **ret_client);

/*
 * Cancels every transfer without calling back and frees the client. Transfers
 * the caller still holds become inert: freeing them stays valid. Not to be
 * called from inside one of the client's callbacks.
 */
HttpClient *http_client_free(HttpClient *client);

/* The client's defaults, for requests that change only some of them. */
const HttpSettings *http_client_settings(const HttpClient *client);

/* Replaces the defaults (e.g. on reload); requests already submitted keep theirs. */
int http_client_set_settings(HttpClient *client, const HttpSettings *settings);

/* Transfers submitted and not yet ended (running, waiting for a retry or for a connection). */
size_t http_client_transfers(const HttpClient *client);

/*
 * Submits `request`. `done` is called once when it ends, never from inside
 * this call. With ret_transfer, the caller owns the transfer and must free it
 * (after `done`, or before to cancel); with NULL, the client frees it after
 * `done`. Returns 0, or a negative errno and never calls back: -EINVAL for a
 * URL that is not http(s), has user info, or a bad request; -ENOMEM.
 */
int http_submit(HttpClient *client, const HttpRequest *request, HttpDone done, void *userdata,
                HttpTransfer **ret_transfer);

/*
 * Cancels the transfer if it has not ended (`done` is then never called) and
 * frees it. Safe at any time: while it runs, while it waits for a retry, from
 * inside any callback (its own `done` included), and after the client is gone.
 */
HttpTransfer *http_transfer_free(HttpTransfer *transfer);

/* A header of the last reply (the last value when repeated), or NULL; valid during `done`. */
const char *http_reply_header(const HttpReply *reply, const char *name);

/*
 * Takes the body's buffer over, during `done`, for a caller that would otherwise copy it (a large
 * object): returns it, owned by the caller, NUL-terminated after body_size bytes; reply->body stays
 * valid as long as the caller keeps it. NULL for an empty body, or one taken already.
 */
char *http_reply_take_body(const HttpReply *reply);

/* Parses the body as JSON: 0 and *ret_json (owned by the caller), -EBADMSG, or -ENOMEM. */
int http_reply_json(const HttpReply *reply, cJSON **ret_json);

/*
 * A cookie store for session logins (Fusion's `id` cookie): what replies set
 * is kept and sent on later requests that name the jar, following the cookie
 * rules (domain, path, expiry, Secure), but only on requests to their own
 * origin, never on a redirect to another one. Reference-counted: requests
 * hold one while they last.
 */
int http_cookie_jar_new(HttpCookieJar **ret_jar);
HttpCookieJar *http_cookie_jar_ref(HttpCookieJar *jar);
HttpCookieJar *http_cookie_jar_unref(HttpCookieJar *jar);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpClient *, http_client_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpTransfer *, http_transfer_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpCookieJar *, http_cookie_jar_unref);
