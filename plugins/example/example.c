/* SPDX-License-Identifier: MIT */
/*
 * example: the smallest complete udfcron plugin, a secrets provider that
 * answers ${secret:NAME} from its own option list, after a delay, as a
 * remote provider would. It shows every part a plugin has: the options
 * table, init/destroy with a context per instance, host->log, a host timer
 * for an answer that comes later, and destroy() dropping what is pending.
 * (Real secrets do not belong in a configuration file: this is a sample.)
 *
 *     secrets = { example = { values = [ "greeting=hello" ]; delay = "1s"; }; };
 *
 * Build it out of the tree:
 *     cc -shared -fPIC $(pkg-config --cflags --libs udfcron-plugin) example.c -o secrets-example.so
 * and install it, owned by root and 0644, into a directory of plugin_directories.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

struct options {
        char **values; /* "NAME=value" */
        uint64_t delay_usec;
        bool verbose;
};

struct lookup; /* one answer on its way */

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
        struct lookup *pending; /* answers not given yet: destroy() drops them */
};

struct lookup {
        struct ctx *ctx;
        udfcron_timer *timer;
        const char *value; /* inside options->values; NULL: not found */
        udfcron_secret_done done;
        void *userdata;
        struct lookup *next;
};

static void lookup_unlink_free(struct lookup *l) {
        for (struct lookup **p = &l->ctx->pending; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        free(l);
}

static void on_timer(void *userdata) {
        struct lookup *l = userdata;
        l->timer = NULL; /* the host frees a timer once its callback returns */
        l->done(l->userdata, l->value ? 0 : -ENOENT, l->value);
        lookup_unlink_free(l);
}

static int example_lookup(void *ctx, const char *name, udfcron_secret_done done, void *userdata) {
        struct ctx *c = ctx;
        struct lookup *l = calloc(1, sizeof *l);
        size_t n = strlen(name);

        if (!l)
                return -ENOMEM;
        *l = (struct lookup){ .ctx = c, .done = done, .userdata = userdata };
        for (char **v = c->options->values; v && *v; v++)
                if (strncmp(*v, name, n) == 0 && (*v)[n] == '=')
                        l->value = *v + n + 1;
        int r = c->host->timer_start(c->self, c->options->delay_usec, on_timer, l, &l->timer);
        if (r < 0) {
                free(l);
                return r; /* refused: done is not called */
        }
        l->next = c->pending;
        c->pending = l;
        if (c->options->verbose) /* the name, never the value */
                c->host->log(c->self, LOG_DEBUG, 0, "looking up '%s'", name);
        return 0;
}

static int example_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                        void **ret_ctx) {
        const struct options *o = options;
        for (char **v = o->values; v && *v; v++)
                if (!strchr(*v, '='))
                        return host->log(self, LOG_ERR, EINVAL, "values: '%s' is not NAME=value", *v);

        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        *c = (struct ctx){ .host = host, .self = self, .options = o };
        *ret_ctx = c;
        return 0;
}

static void example_destroy(void *ctx) {
        struct ctx *c = ctx;
        while (c->pending) { /* dropped: no callback after destroy() */
                struct lookup *l = c->pending;
                c->pending = l->next;
                c->host->timer_stop(l->timer);
                free(l);
        }
        free(c);
}

static const struct udfcron_secrets_vtable vtable = {
        .lookup = example_lookup,
};

static const struct udfcron_option example_options[] = {
        { .name = "values",
          .type = UDFCRON_OPTION_STRING_LIST,
          .offset = offsetof(struct options, values),
          .required = true,
          .doc = "the secrets, as \"NAME=value\"" },
        { .name = "delay",
          .type = UDFCRON_OPTION_DURATION,
          .default_value = "0s",
          .offset = offsetof(struct options, delay_usec),
          .doc = "how long an answer takes" },
        { .name = "verbose",
          .type = UDFCRON_OPTION_BOOL,
          .default_value = "false",
          .offset = offsetof(struct options, verbose),
          .doc = "log each lookup (at debug level)" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "example",
        .kind = UDFCRON_PLUGIN_SECRETS,
        .init = example_init,
        .destroy = example_destroy,
        .vtable = &vtable,
        .options = example_options,
        .options_size = sizeof(struct options),
        .description = "an example: secrets from its own option list, answered after a delay",
};
