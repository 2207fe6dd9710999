/* SPDX-License-Identifier: MIT */
/*
 * storage-fetch, a test plugin of the host's HTTP service (ABI 1.1): get, put
 * and remove of fetch:///PATH are GET, PUT and DELETE of <base>/PATH with the
 * configured auth and headers; what each reply said goes into the probe.
 * remove of a path with "cancel" in it cancels its request after 50 ms, and
 * sign cancels its request from inside `done` (which must be harmless).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

#include "fetch.h"

enum op_kind { OP_GET, OP_PUT, OP_REMOVE, OP_SIGN };

struct ctx {
        struct fetch_probe probe; /* first: the tests read it through the instance's context */
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct fetch_options *options;
        struct op *ops;
};

/* One storage operation under way. */
struct op {
        struct ctx *ctx;
        enum op_kind kind;
        udfcron_http *request;
        udfcron_timer *timer;
        union {
                udfcron_storage_done done;
                udfcron_storage_data_done data_done;
                udfcron_storage_text_done text_done;
        };
        void *userdata;
        size_t max_size;
        struct op *next;
};

static void op_free(struct op *op) {
        op->ctx->host->timer_stop(op->timer);
        for (struct op **p = &op->ctx->ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
        free(op);
}

static void record(struct fetch_probe *p, const struct ctx *c, udfcron_http *request,
                   const struct udfcron_http_reply *reply) {
        const char *header = c->options->reply_header
                                     ? c->host->http_reply_header(request, c->options->reply_header)
                                     : NULL;
        p->replies++;
        p->error = reply->error;
        p->status = reply->status;
        p->attempts = reply->attempts;
        snprintf(p->message, sizeof p->message, "%s", reply->message ? reply->message : "");
        snprintf(p->header, sizeof p->header, "%s", header ? header : "(none)");
        snprintf(p->content_type, sizeof p->content_type, "%s",
                 reply->content_type ? reply->content_type : "");
}

static void on_reply(void *userdata, udfcron_http *request, const struct udfcron_http_reply *reply) {
        struct op *op = userdata;
        struct ctx *c = op->ctx;
        int error = reply->error;

        record(&c->probe, c, request, reply);
        switch (op->kind) {
        case OP_GET:
                if (error >= 0 && reply->body_size > op->max_size)
                        error = -EFBIG;
                op->data_done(op->userdata, error, error < 0 ? NULL : reply->body,
                              error < 0 ? 0 : reply->body_size);
                break;
        case OP_PUT:
        case OP_REMOVE:
                op->done(op->userdata, error);
                break;
        case OP_SIGN:
                c->host->http_cancel(request); /* inside its own done: only returns */
                op->text_done(op->userdata, error, error < 0 ? NULL : "cancelled inside");
                break;
        }
        op_free(op);
}

static void on_cancel_timer(void *userdata) {
        struct op *op = userdata;
        op->request = op->ctx->host->http_cancel(op->request);
        op->done(op->userdata, -ECANCELED);
        op_free(op);
}

static int submit(struct ctx *c, enum udfcron_http_method method, const char *url, const void *body,
                  size_t body_size, const char *content_type, struct op *op) {
        const struct fetch_options *o = c->options;
        struct udfcron_http_request q = {
                .method = method,
                .headers = (const char *const *) o->headers,
                .body = body,
                .body_size = body_size,
                .content_type = content_type,
                .max_reply_size = (uint64_t) o->max_reply_size,
                .timeout_usec = o->timeout_usec,
                .no_retry = o->no_retry,
                .auth_user = o->user,
                .auth_secret = o->secret,
                .aws_sigv4 = o->provider,
        };
        char *full = NULL;
        int r;

        if (strncmp(url, "fetch://", 8) != 0)
                return -EINVAL;
        if (strcmp(o->auth, "bearer") == 0)
                q.auth = UDFCRON_HTTP_AUTH_BEARER;
        else if (strcmp(o->auth, "basic") == 0)
                q.auth = UDFCRON_HTTP_AUTH_BASIC;
        else if (strcmp(o->auth, "sigv4") == 0)
                q.auth = UDFCRON_HTTP_AUTH_AWS_SIGV4;
        if (asprintf(&full, "%s%s", o->base, url + 8) < 0)
                return -ENOMEM;
        q.url = full;
        op->ctx = c;
        r = c->host->http_submit(c->self, &q, on_reply, op, &op->request);
        free(full); /* copied by http_submit */
        if (r < 0)
                return r;
        op->next = c->ops;
        c->ops = op;
        return 0;
}

static struct op *op_new(enum op_kind kind, void *userdata) {
        struct op *op = calloc(1, sizeof *op);
        if (op) {
                op->kind = kind;
                op->userdata = userdata;
        }
        return op;
}

static int submit_or_free(struct ctx *c, enum udfcron_http_method method, const char *url, const void *body,
                          size_t body_size, const char *content_type, struct op *op) {
        if (!op)
                return -ENOMEM;
        int r = submit(c, method, url, body, body_size, content_type, op);
        if (r < 0)
                free(op);
        return r;
}

static int f_get(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                 void *userdata) {
        struct op *op = op_new(OP_GET, userdata);
        if (op) {
                op->data_done = done;
                op->max_size = max_size;
        }
        return submit_or_free(ctx, UDFCRON_HTTP_GET, url, NULL, 0, NULL, op);
}

static int f_put(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                 udfcron_storage_done done, void *userdata) {
        struct op *op = op_new(OP_PUT, userdata);
        if (op)
                op->done = done;
        return submit_or_free(ctx, UDFCRON_HTTP_PUT, url, data, size, content_type, op);
}

static int f_remove(void *ctx, const char *url, udfcron_storage_done done, void *userdata) {
        struct ctx *c = ctx;
        struct op *op = op_new(OP_REMOVE, userdata);
        int r;

        if (op)
                op->done = done;
        r = submit_or_free(c, UDFCRON_HTTP_DELETE, url, NULL, 0, NULL, op);
        if (r < 0 || !strstr(url, "cancel"))
                return r;
        r = c->host->timer_start(c->self, 50 * 1000, on_cancel_timer, op, &op->timer);
        if (r < 0) {
                c->host->http_cancel(op->request);
                op_free(op);
        }
        return r;
}

static int f_list(void *ctx, const char *url, const char *page, size_t page_size,
                  udfcron_storage_list_done done, void *userdata) {
        (void) ctx, (void) url, (void) page, (void) page_size;
        done(userdata, -ENOTDIR, NULL, 0, NULL); /* storage needs it; these tests do not */
        return 0;
}

static int f_sign(void *ctx, const char *url, uint64_t valid_usec, udfcron_storage_text_done done,
                  void *userdata) {
        struct op *op = op_new(OP_SIGN, userdata);
        (void) valid_usec;
        if (op)
                op->text_done = done;
        return submit_or_free(ctx, UDFCRON_HTTP_GET, url, NULL, 0, NULL, op);
}

static int f_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                  void **ret_ctx) {
        struct ctx *c;

        if (host->abi_minor < 1)
                return host->log(self, LOG_ERR, EOPNOTSUPP, "the daemon has no HTTP service (ABI 1.%u)",
                                 (unsigned) host->abi_minor);
        if (!(c = calloc(1, sizeof *c)))
                return -ENOMEM;
        *c = (struct ctx){ .host = host, .self = self, .options = options };
        *ret_ctx = c;
        return 0;
}

static void f_destroy(void *ctx) {
        struct ctx *c = ctx;
        while (c->ops) {
                struct op *op = c->ops;
                c->ops = op->next;
                if (!c->options->leak)
                        c->host->http_cancel(op->request);
                c->host->timer_stop(op->timer);
                free(op);
        }
        free(c);
}

static const char *const schemes[] = { "fetch", NULL };

static const struct udfcron_storage_vtable vtable = {
        .schemes = schemes,
        .put = f_put,
        .get = f_get,
        .list = f_list,
        .remove = f_remove,
        .sign = f_sign,
};

#define O(f) offsetof(struct fetch_options, f)
static const struct udfcron_option f_options[] = {
        { .name = "base", .type = UDFCRON_OPTION_STRING, .offset = O(base), .required = true },
        { .name = "auth", .type = UDFCRON_OPTION_STRING, .default_value = "none", .offset = O(auth) },
        { .name = "user", .type = UDFCRON_OPTION_STRING, .offset = O(user) },
        { .name = "secret", .type = UDFCRON_OPTION_STRING, .offset = O(secret) },
        { .name = "provider", .type = UDFCRON_OPTION_STRING, .offset = O(provider) },
        { .name = "headers", .type = UDFCRON_OPTION_STRING_LIST, .offset = O(headers) },
        { .name = "reply_header", .type = UDFCRON_OPTION_STRING, .offset = O(reply_header) },
        { .name = "max_reply_size", .type = UDFCRON_OPTION_INT, .offset = O(max_reply_size) },
        { .name = "timeout", .type = UDFCRON_OPTION_DURATION, .offset = O(timeout_usec) },
        { .name = "no_retry", .type = UDFCRON_OPTION_BOOL, .offset = O(no_retry) },
        { .name = "leak", .type = UDFCRON_OPTION_BOOL, .offset = O(leak) },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "fetch",
        .kind = UDFCRON_PLUGIN_STORAGE,
        .init = f_init,
        .destroy = f_destroy,
        .vtable = &vtable,
        .options = f_options,
        .options_size = sizeof(struct fetch_options),
        .description = "storage operations as HTTP requests through the host (a test plugin)",
};
