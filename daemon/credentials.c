/* SPDX-License-Identifier: MIT */
#include "credentials.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

/* One call to a credentials instance; the plugin's answer is copied in, as it is borrowed only during its
 * done. */
typedef struct CredentialsCall {
        PluginCall call;
        union {
                udfcron_environment_done environment_done;
                udfcron_token_done token_done;
        };
        void *userdata;
        int error;
        char **environment;
        char *token; /* wiped when freed */
        uint64_t expires_usec;
} CredentialsCall;

static void free_answer(PluginCall *call) {
        CredentialsCall *c = (CredentialsCall *) call;
        strv_free(c->environment);
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
}

static void deliver_environment(PluginCall *call) {
        CredentialsCall *c = (CredentialsCall *) call;
        c->environment_done(c->userdata, c->error,
                            c->error < 0 ? NULL
                                         : (const char *const *) (c->environment ?: (char *[]){ NULL }));
}

static void deliver_token(PluginCall *call) {
        CredentialsCall *c = (CredentialsCall *) call;
        c->token_done(c->userdata, c->error, c->error < 0 ? NULL : c->token,
                      c->error < 0 ? 0 : c->expires_usec);
}

static void on_environment(void *userdata, int error, const char *const *environment) {
        CredentialsCall *c = userdata;
        size_t n = 0;

        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        for (const char *const *e = environment; c->error >= 0 && e && *e; e++) {
                /* "NAME=value" with a name: anything else would be taken for another variable, or none */
                if (!strchr(*e, '=') || **e == '=')
                        c->error = -EBADMSG;
                else if (strv_push(&c->environment, &n, strdup(*e)) < 0)
                        c->error = -ENOMEM;
        }
        plugin_call_answered(&c->call);
}

static void on_token(void *userdata, int error, const char *token, uint64_t expires_usec) {
        CredentialsCall *c = userdata;

        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        if (c->error >= 0 && (!token || !*token))
                c->error = -EBADMSG;
        else if (c->error >= 0 && !(c->token = strdup(token)))
                c->error = -ENOMEM;
        c->expires_usec = expires_usec;
        plugin_call_answered(&c->call);
}

/* The current instance called `name`, its vtable, and a call to it. */
static int begin(PluginHost *h, PluginInstance *requester, const char *name, PluginCallDeliver deliver,
                 CredentialsCall **ret_call, const struct udfcron_credentials_vtable **ret_vtable) {
        PluginInstance *i = plugin_host_instance(h, PLUGIN_CREDENTIALS, name);
        if (!i)
                return -ENXIO;
        if (i == requester)
                return -ELOOP;
        CredentialsCall *c = plugin_call_new(h, i, requester, sizeof *c, deliver, free_answer);
        if (!c)
                return -ENOMEM;
        *ret_call = c;
        *ret_vtable = plugin_instance_vtable(i);
        return 0;
}

#define CTX(c) plugin_instance_context((c)->call.instance)

int credentials_environment(PluginHost *h, const char *name, const struct udfcron_run_info *run,
                            udfcron_environment_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_credentials_vtable *vt;
        CredentialsCall *c;
        int r = begin(h, NULL, name, deliver_environment, &c, &vt);
        if (r < 0)
                return r;
        c->environment_done = done;
        c->userdata = userdata;
        return plugin_call_started(
                &c->call, vt->environment ? vt->environment(CTX(c), run, on_environment, c) : -EOPNOTSUPP,
                ret_call);
}

int credentials_token(PluginHost *h, PluginInstance *requester, const char *name, const char *audience,
                      udfcron_token_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_credentials_vtable *vt;
        CredentialsCall *c;
        int r = begin(h, requester, name, deliver_token, &c, &vt);
        if (r < 0)
                return r;
        c->token_done = done;
        c->userdata = userdata;
        return plugin_call_started(
                &c->call, vt->token ? vt->token(CTX(c), audience, on_token, c) : -EOPNOTSUPP, ret_call);
}
