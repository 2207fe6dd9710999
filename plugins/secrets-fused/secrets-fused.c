/* SPDX-License-Identifier: MIT */
/*
 * secrets-fused: ${secret:NAME} from the Fused secrets store (api/fused.md
 * §4), kept per realtime instance: GET realtime/{client_id}/api/v1/secrets/
 * {NAME} answers the value as a JSON string, 404 when there is none (then the
 * next provider is asked).
 *
 *     secrets = { fused = { token_secret = "fused_token"; }; };
 *
 * The Fused API's own bearer token is a secret too: a provider hears only
 * from those configured before it, so it comes from the systemd credentials
 * or a provider above this one, never from the Fused store itself. Without a
 * client_id, the instance the SDK would pick is used: the highest
 * preference_rank of realtime-instance/available, asked once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

#include "../shared/fused-api.h"
#include "../shared/fused-reply.h"

#define REPLY_MAX (1024 * 1024)

struct options {
        char *base_url;
        char *token_secret;
        char *client_id;
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
        FusedApi api;
        char *client_id;        /* the option, or the one realtime-instance/available named */
        struct lookup *lookups; /* under way */
};

/* One lookup, through at most two requests. */
struct lookup {
        struct ctx *ctx;
        char *name;
        udfcron_secret_done done;
        void *userdata;
        struct lookup *prev, *next;
};

static void free_ptr(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))

static void lookup_free(struct lookup *l) {
        struct ctx *c = l->ctx;
        if (l->prev)
                l->prev->next = l->next;
        else
                c->lookups = l->next;
        if (l->next)
                l->next->prev = l->prev;
        free(l->name);
        free(l);
}

static void lookup_end(struct lookup *l, int error, const char *value) {
        l->done(l->userdata, error, value);
        lookup_free(l);
}

/* Logs a failure of the store (not a secret it does not have), and ends l with it. */
static void lookup_fail(struct lookup *l, const char *what, int error, const char *message) {
        struct ctx *c = l->ctx;
        c->host->log(c->self, LOG_ERR, error, "%s: %s", what, message ?: strerror(-error));
        lookup_end(l, error, NULL);
}

static void on_value(void *userdata, const struct udfcron_http_reply *reply) {
        struct lookup *l = userdata;
        char *value = NULL;
        const char *reason = NULL;
        char what[128];
        int r;

        snprintf(what, sizeof what, "secret '%s'", l->name);
        if (reply->error == -ENOENT && reply->status == 404) {
                lookup_end(l, -ENOENT, NULL); /* not in this store: the next provider is asked */
                return;
        }
        if (reply->error < 0) {
                lookup_fail(l, what, reply->error, reply->message);
                return;
        }
        if ((r = fused_reply_string(reply->body, reply->body_size, &value, &reason)) < 0) {
                char message[160];
                snprintf(message, sizeof message, "a reply with %s", reason ?: "no value");
                lookup_fail(l, what, r, r == -EBADMSG ? message : NULL);
                return;
        }
        lookup_end(l, 0, value);
        explicit_bzero(value, strlen(value));
        free(value);
}

static void fetch_value(struct lookup *l) {
        struct ctx *c = l->ctx;
        _cleanup_free_ char *id = fused_escape(c->client_id), *name = fused_escape(l->name), *path = NULL;
        int r = -ENOMEM;

        if (id && name && asprintf(&path, "/realtime/%s/api/v1/secrets/%s", id, name) >= 0) {
                const FusedCall call = { .method = UDFCRON_HTTP_GET,
                                         .path = path,
                                         .max_reply_size = REPLY_MAX };
                r = fused_api_request(&c->api, &call, on_value, l);
        } else
                path = NULL;
        if (r < 0)
                lookup_fail(l, "lookup", r, NULL);
}

static void on_instances(void *userdata, const struct udfcron_http_reply *reply) {
        struct lookup *l = userdata;
        struct ctx *c = l->ctx;
        char *client_id = NULL;
        const char *reason = NULL;
        int r;

        if (reply->error < 0) {
                lookup_fail(l, "realtime-instance/available", reply->error, reply->message);
                return;
        }
        if ((r = fused_reply_instance(reply->body, reply->body_size, &client_id, &reason)) < 0) {
                lookup_fail(l, "realtime-instance/available", r, r == -EBADMSG ? reason : NULL);
                return;
        }
        if (!c->client_id) { /* lookups that raced here agree on the first answer */
                c->client_id = client_id;
                c->host->log(c->self, LOG_INFO, 0, "using the secrets of realtime instance %s", client_id);
        } else
                free(client_id);
        fetch_value(l);
}

static int fused_lookup(void *ctx, const char *name, udfcron_secret_done done, void *userdata) {
        struct ctx *c = ctx;
        struct lookup *l;

        if (!*name || strpbrk(name, "/\r\n"))
                return -ENOENT; /* no key of the store */
        if (!(l = calloc(1, sizeof *l)))
                return -ENOMEM;
        *l = (struct lookup){
                .ctx = c, .name = strdup(name), .done = done, .userdata = userdata, .next = c->lookups
        };
        if (c->lookups)
                c->lookups->prev = l;
        c->lookups = l;
        if (!l->name) {
                lookup_free(l);
                return -ENOMEM;
        }
        if (c->client_id) {
                fetch_value(l);
                return 0;
        }
        const FusedCall call = { .method = UDFCRON_HTTP_GET,
                                 .path = "/realtime-instance/available",
                                 .max_reply_size = REPLY_MAX };
        int r = fused_api_request(&c->api, &call, on_instances, l);
        if (r < 0)
                lookup_free(l);
        return r;
}

static int fused_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                      void **ret_ctx) {
        const struct options *o = options;
        struct ctx *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        *c = (struct ctx){ .host = host, .self = self, .options = o };
        if ((r = fused_api_init(&c->api, host, self, o->base_url, o->token_secret)) < 0 ||
            (o->client_id && !(c->client_id = strdup(o->client_id)))) {
                free(c);
                return r < 0 ? r : host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        }
        *ret_ctx = c;
        return 0;
}

static void fused_destroy(void *ctx) {
        struct ctx *c = ctx;
        fused_api_cancel_all(&c->api);
        while (c->lookups)
                lookup_free(c->lookups);
        free(c->client_id);
        free(c);
}

static const struct udfcron_secrets_vtable vtable = {
        .lookup = fused_lookup,
};

static const struct udfcron_option fused_options[] = {
        FUSED_API_OPTIONS(struct options),
        { .name = "client_id",
          .type = UDFCRON_OPTION_STRING,
          .offset = offsetof(struct options, client_id),
          .doc = "the realtime instance whose secrets these are (default: the one the API prefers)" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "fused",
        .kind = UDFCRON_PLUGIN_SECRETS,
        .init = fused_init,
        .destroy = fused_destroy,
        .vtable = &vtable,
        .options = fused_options,
        .options_size = sizeof(struct options),
        .description = "secrets from the Fused secrets store of a realtime instance",
};
