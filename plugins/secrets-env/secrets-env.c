/* SPDX-License-Identifier: MIT */
/*
 * secrets-env: secrets from the daemon's environment, as systemd's
 * Environment= or EnvironmentFile= set it up: ${secret:NAME} is the
 * variable <prefix>NAME.
 *
 *     secrets = { env = { prefix = "UDFCRON_SECRET_"; }; };
 *
 * Runs do not inherit the daemon's environment, so the variables reach a
 * run only where its parameters name them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

struct options {
        char *prefix;
};

struct ctx {
        const struct options *options;
};

static int env_lookup(void *ctx, const char *name, udfcron_secret_done done, void *userdata) {
        const struct ctx *c = ctx;
        char *variable;

        if (asprintf(&variable, "%s%s", c->options->prefix ? c->options->prefix : "", name) < 0)
                return -ENOMEM;
        const char *value = strchr(variable, '=') ? NULL : secure_getenv(variable);
        free(variable);
        done(userdata, value ? 0 : -ENOENT, value);
        return 0;
}

static int env_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                    void **ret_ctx) {
        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        c->options = options;
        *ret_ctx = c;
        return 0;
}

static void env_destroy(void *ctx) {
        free(ctx);
}

static const struct udfcron_secrets_vtable vtable = {
        .lookup = env_lookup,
};

static const struct udfcron_option env_options[] = {
        { .name = "prefix",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "UDFCRON_SECRET_",
          .offset = offsetof(struct options, prefix),
          .doc = "${secret:NAME} is the variable <prefix>NAME" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "env",
        .kind = UDFCRON_PLUGIN_SECRETS,
        .init = env_init,
        .destroy = env_destroy,
        .vtable = &vtable,
        .options = env_options,
        .options_size = sizeof(struct options),
        .description = "secrets from the daemon's environment variables",
};
