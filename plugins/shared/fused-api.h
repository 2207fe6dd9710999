/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Requests to the Fused API for storage-fused and secrets-fused, through the
 * host's HTTP service: each request first looks up the bearer token (a
 * secret, through the host, so it is never in the configuration and a
 * rotated one is used at once), then goes to base_url + path with it. The
 * host retries network errors, timeouts, 429 and 5xx.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udfcron/plugin.h>

#define FUSED_BASE_URL_DEFAULT "https://www.fused.io/server/v1"

typedef struct FusedRequest FusedRequest;

typedef struct FusedApi {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const char *base_url; /* borrowed (the options'): http(s), no trailing '/' needed */
        const char *token_secret;
        FusedRequest *requests; /* under way */
} FusedApi;

/*
 * The request ended: `reply` is the host's, borrowed for the call. A token that could not be looked up
 * ends it too, without a request: error -EACCES (no provider knows the secret) or the provider's error,
 * status 0, and a message that says so, for the caller to log.
 */
typedef void (*fused_api_done)(void *userdata, const struct udfcron_http_reply *reply);

typedef struct FusedCall {
        enum udfcron_http_method method;
        const char *path; /* after base_url, with its query escaped: "/files/get?path=fd%3A%2F%2Fx" */
        const void *body; /* copied; NULL: none */
        size_t body_size;
        const char *content_type;
        uint64_t max_reply_size; /* 0: the daemon's */
        bool no_retry;
} FusedCall;

/*
 * Sets up *api for an instance, whose options (borrowed) name the API and the token's secret: -ENOTSUP
 * before plugin ABI 1.1 (no HTTP), -EINVAL for a base_url that is not http(s); logged.
 */
int fused_api_init(FusedApi *api, const struct udfcron_host *host, udfcron_instance *self,
                   const char *base_url, const char *token_secret);

/* The options every Fused plugin has: entries of its options table, for an `options_type` with these
 * members. */
/* clang-format off */
#define FUSED_API_OPTIONS(options_type)                                                                     \
        { .name = "base_url",                                                                               \
          .type = UDFCRON_OPTION_STRING,                                                                    \
          .default_value = FUSED_BASE_URL_DEFAULT,                                                          \
          .offset = offsetof(options_type, base_url),                                                       \
          .doc = "the Fused API" },                                                                         \
        { .name = "token_secret",                                                                           \
          .type = UDFCRON_OPTION_STRING,                                                                    \
          .default_value = "fused_token",                                                                   \
          .offset = offsetof(options_type, token_secret),                                                   \
          .doc = "the secret that holds the Fused API's bearer token" }
/* clang-format on */

/* Looks up the token, then sends `call`; `done` is called once, later. 0, or -ENOMEM / -EINVAL. */
int fused_api_request(FusedApi *api, const FusedCall *call, fused_api_done done, void *userdata);

/* Drops every request under way without calling back (for destroy()). */
void fused_api_cancel_all(FusedApi *api);

/* `s` percent-encoded for a query value or a path segment (all but A-Z a-z 0-9 - . _ ~): malloc'd. */
char *fused_escape(const char *s);
