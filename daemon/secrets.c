/* SPDX-License-Identifier: MIT */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fileio.h"

#define SECRET_MAX (64 * 1024)

int secrets_resolve(const char *name, char **ret_value) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");

        if (!*name || name[0] == '.' || strchr(name, '/'))
                return -EINVAL;
        if (!dir || !*dir)
                return -ENOENT;

        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;

        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r = read_full_fd(fd, SECRET_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (size > 0 && buf[size - 1] == '\n')
                size--;
        buf[size] = '\0';
        *ret_value = TAKE_PTR(buf);
        return 0;
}

static char *wipe_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
        return NULL;
}

/* A whole lookup: its answer goes to the requester once a provider knew the name or none is left. */
typedef struct SecretLookup {
        PluginCall call;
        char *name;
        size_t next;  /* the next provider to ask */
        size_t limit; /* providers from here on are not asked: the requester and those after it */
        udfcron_secret_done done;
        void *userdata;
        int error;
        char *value;
} SecretLookup;

/* One provider asked, within a lookup. */
typedef struct SecretStep {
        PluginCall call;
        SecretLookup *lookup;
        int error;
        char *value;
} SecretStep;

static void lookup_free_answer(PluginCall *call) {
        SecretLookup *l = (SecretLookup *) call;
        free(l->name);
        l->value = wipe_free(l->value);
}

static void lookup_deliver(PluginCall *call) {
        SecretLookup *l = (SecretLookup *) call;
        l->done(l->userdata, l->error, l->error < 0 ? NULL : l->value);
}

static void lookup_finish(SecretLookup *l, int error, char *value) {
        l->error = error;
        l->value = value;
        if (value)
                (void) journal_add_secret(plugin_host_journal(l->call.host), value);
        plugin_call_answered(&l->call);
}

static void ask_next(SecretLookup *l);

static void step_free_answer(PluginCall *call) {
        SecretStep *s = (SecretStep *) call;
        s->value = wipe_free(s->value);
}

static void step_deliver(PluginCall *call) {
        SecretStep *s = (SecretStep *) call;
        SecretLookup *l = s->lookup;

        if (l->call.abandoned) /* nobody waits: end it, so that it is freed */
                lookup_finish(l, -ECANCELED, NULL);
        else if (s->error == -ENOENT)
                ask_next(l);
        else
                lookup_finish(l, s->error, TAKE_PTR(s->value));
}

static void on_step_done(void *userdata, int error, const char *value) {
        SecretStep *s = userdata;
        if (!plugin_call_first_answer(&s->call, error, &s->error))
                return;
        if (s->error >= 0 && !(s->value = strdup(value ?: "")))
                s->error = -ENOMEM;
        plugin_call_answered(&s->call);
}

/* Asks the next provider, or ends the lookup with -ENOENT when none is left. */
static void ask_next(SecretLookup *l) {
        PluginHost *h = l->call.host;

        while (l->next < l->limit) {
                PluginInstance *i = plugin_host_secrets_provider(h, l->next++);
                if (!i)
                        break;
                SecretStep *s = plugin_call_new(h, i, NULL, sizeof *s, step_deliver, step_free_answer);
                if (!s) {
                        lookup_finish(l, -ENOMEM, NULL);
                        return;
                }
                s->lookup = l;
                const struct udfcron_secrets_vtable *vt = plugin_instance_vtable(i);
                int r = vt->lookup(plugin_instance_context(i), l->name, on_step_done, s);
                if (r >= 0)
                        return; /* step_deliver() goes on */
                plugin_call_refused(&s->call);
                if (r != -ENOENT) {
                        lookup_finish(l, r, NULL);
                        return;
                }
        }
        lookup_finish(l, -ENOENT, NULL);
}

int secrets_lookup(PluginHost *h, PluginInstance *requester, const char *name, udfcron_secret_done done,
                   void *userdata, PluginCall **ret_call) {
        SecretLookup *l = plugin_call_new(h, NULL, requester, sizeof *l, lookup_deliver, lookup_free_answer);
        if (!l)
                return -ENOMEM;
        l->done = done;
        l->userdata = userdata;
        l->limit = SIZE_MAX; /* the daemon and plugins of other kinds ask every provider */
        if (requester && plugin_instance_kind(requester) == PLUGIN_SECRETS) {
                l->limit = plugin_host_secrets_position(h, requester);
                if (l->limit == SIZE_MAX)
                        l->limit = 0; /* a provider retired by a reload: only the built-in one answers */
        }
        if (!(l->name = strdup(name))) {
                plugin_call_refused(&l->call);
                return -ENOMEM;
        }
        if (ret_call)
                *ret_call = &l->call;

        char *value = NULL;
        int r = secrets_resolve(name, &value);
        if (r >= 0 || !IN_SET(r, -ENOENT, -EINVAL)) /* a name it cannot hold may suit another provider */
                lookup_finish(l, r, value);
        else
                ask_next(l);
        return 0;
}
