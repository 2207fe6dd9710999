/* SPDX-License-Identifier: MIT */
#include "fused-api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct FusedRequest {
        FusedApi *api;
        enum udfcron_http_method method;
        char *url;
        void *body;
        size_t body_size;
        char *content_type;
        uint64_t max_reply_size;
        bool no_retry;
        fused_api_done done;
        void *userdata;
        udfcron_http *http; /* once sent */
        FusedRequest *prev, *next;
};

static void request_free(FusedRequest *q) {
        FusedApi *api = q->api;
        if (q->prev)
                q->prev->next = q->next;
        else
                api->requests = q->next;
        if (q->next)
                q->next->prev = q->prev;
        api->host->http_cancel(q->http);
        free(q->url);
        free(q->body);
        free(q->content_type);
        free(q);
}

int fused_api_init(FusedApi *api, const struct udfcron_host *host, udfcron_instance *self,
                   const char *base_url, const char *token_secret) {
        if (host->abi_minor < 1)
                return host->log(self, LOG_ERR, ENOTSUP,
                                 "needs plugin ABI 1.1 (HTTP), this udfcrond has 1.%u", host->abi_minor);
        if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0)
                return host->log(self, LOG_ERR, EINVAL, "base_url: '%s' is not an http(s) URL", base_url);
        *api = (FusedApi){ .host = host, .self = self, .base_url = base_url, .token_secret = token_secret };
        return 0;
}

char *fused_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *o = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    strchr("-._~", ch))
                        *o++ = (char) ch;
                else {
                        *o++ = '%';
                        *o++ = hex[ch >> 4];
                        *o++ = hex[ch & 15];
                }
        }
        *o = '\0';
        return out;
}

static void on_reply(void *userdata, udfcron_http *http, const struct udfcron_http_reply *reply) {
        FusedRequest *q = userdata;
        (void) http;
        q->http = NULL; /* ending: nothing to cancel */
        q->done(q->userdata, reply);
        request_free(q);
}

/* Ends q without a request, as if the host had answered `error` with `message`. */
static void fail(FusedRequest *q, int error, const char *message) {
        const struct udfcron_http_reply reply = { .error = error, .message = message, .body = "" };
        q->done(q->userdata, &reply);
        request_free(q);
}

static void on_token(void *userdata, int error, const char *token) {
        FusedRequest *q = userdata;
        FusedApi *api = q->api;
        char message[256];

        if (error < 0) {
                /* no token is no authorization: "not found" would read as "the object is not there" */
                snprintf(message, sizeof message, "the API token's secret '%s': %s", api->token_secret,
                         error == -ENOENT ? "no secrets provider knows it" : strerror(-error));
                fail(q, error == -ENOENT ? -EACCES : error, message);
                return;
        }
        const struct udfcron_http_request request = {
                .method = q->method,
                .url = q->url,
                .headers = (const char *const[]){ "Accept: application/json", NULL },
                .body = q->body,
                .body_size = q->body_size,
                .content_type = q->content_type,
                .auth = UDFCRON_HTTP_AUTH_BEARER,
                .auth_secret = token,
                .max_reply_size = q->max_reply_size,
                .no_retry = q->no_retry,
        };
        int r = api->host->http_submit(api->self, &request, on_reply, q, &q->http);
        if (r < 0) {
                snprintf(message, sizeof message, "cannot send the request: %s", strerror(-r));
                fail(q, r, message);
        }
}

int fused_api_request(FusedApi *api, const FusedCall *call, fused_api_done done, void *userdata) {
        FusedRequest *q = calloc(1, sizeof *q);
        size_t base_len = strlen(api->base_url);
        int r = -ENOMEM;

        if (!q)
                return -ENOMEM;
        *q = (FusedRequest){
                .api = api,
                .method = call->method,
                .body_size = call->body_size,
                .max_reply_size = call->max_reply_size,
                .no_retry = call->no_retry,
                .done = done,
                .userdata = userdata,
        };
        while (base_len > 0 && api->base_url[base_len - 1] == '/')
                base_len--;
        if (asprintf(&q->url, "%.*s%s", (int) base_len, api->base_url, call->path) < 0)
                q->url = NULL;
        else if ((!call->body || (q->body = malloc(call->body_size ?: 1))) &&
                 (!call->content_type || (q->content_type = strdup(call->content_type)))) {
                if (call->body)
                        memcpy(q->body, call->body, call->body_size);
                r = api->host->secret_lookup(api->self, api->token_secret, on_token, q);
        }
        q->next = api->requests;
        if (api->requests)
                api->requests->prev = q;
        api->requests = q;
        if (r < 0) {
                request_free(q);
                return r;
        }
        return 0;
}

void fused_api_cancel_all(FusedApi *api) {
        while (api->requests)
                request_free(api->requests);
}
