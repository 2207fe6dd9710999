/* SPDX-License-Identifier: MIT */
#include "plugin-host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "credentials.h"
#include "fileio.h"
#include "secrets.h"
#include "storage.h"

struct udfcron_timer {
        PluginInstance *instance;
        sd_event_source *source;
        udfcron_timer_fn fn;
        void *userdata;
        bool firing;  /* its callback runs: it is freed when that returns */
        bool stopped; /* ... unless timer_stop() came first, during the callback */
        udfcron_timer *prev, *next;
};

/* An HTTP request an instance submitted (host->http_submit). */
struct udfcron_http {
        PluginInstance *instance;
        HttpTransfer *transfer;
        udfcron_http_done done;
        void *userdata;
        const HttpReply *reply; /* while `done` runs: for http_reply_header() */
        udfcron_http *prev, *next;
};

struct udfcron_instance {
        PluginHost *host;
        Plugin *plugin;
        PluginKind kind;
        char *name; /* "storage/file" */
        char *file; /* where its block is */
        unsigned line;
        void *options;
        void *ctx;
        bool initialized; /* init() succeeded: destroy() is owed */
        bool retired;     /* replaced by a reload: destroyed once n_calls is 0 */
        size_t n_calls;   /* calls into it not yet freed */
        udfcron_timer *timers;
        udfcron_http *requests; /* HTTP requests it submitted that have not ended */
        char *runtime_root;     /* the daemon's runtime directory */
        char *runtime_path;     /* its own below it, once asked for (host->runtime_directory) or inherited */
        PluginInstance *retired_next;
};

struct PluginHost {
        sd_event *event;
        Journal *journal;
        HttpClient *http;
        PluginInstance **current; /* in configuration order */
        size_t n_current;
        PluginInstance *retired;
        PluginCall *calls;
        size_t n_calls;
        udfcron_http *answering; /* the HTTP request whose `done` runs */
};

static const struct udfcron_host host_services;

/* ------------------------------------------------------------------ instances */

static PluginInstance *instance_free(PluginInstance *i);

/* A current instance other than i with i's name (a reload's successor, or its predecessor), or NULL. */
static PluginInstance *namesake(const PluginInstance *i) {
        const PluginHost *h = i->host;
        for (size_t k = 0; k < h->n_current; k++)
                if (h->current[k] && h->current[k] != i && strcmp(h->current[k]->name, i->name) == 0)
                        return h->current[k];
        return NULL;
}

static void retired_remove(PluginHost *h, PluginInstance *i) {
        for (PluginInstance **p = &h->retired; *p; p = &(*p)->retired_next)
                if (*p == i) {
                        *p = i->retired_next;
                        return;
                }
}

static void timer_free(udfcron_timer *t) {
        PluginInstance *i = t->instance;
        if (t->prev)
                t->prev->next = t->next;
        else
                i->timers = t->next;
        if (t->next)
                t->next->prev = t->prev;
        sd_event_source_disable_unref(t->source);
        free(t);
}

static void request_free(udfcron_http *q) {
        PluginInstance *i = q->instance;
        if (q->prev)
                q->prev->next = q->next;
        else
                i->requests = q->next;
        if (q->next)
                q->next->prev = q->prev;
        http_transfer_free(q->transfer); /* cancels it when it has not ended */
        free(q);
}

static void call_free(PluginCall *c);

/*
 * destroy(), then whatever the plugin left: its timers and HTTP requests (stopped, so that nothing of
 * the plugin runs after the unload), the calls it made (abandoned) and the calls into it (dropped:
 * only at exit).
 */
static PluginInstance *instance_free(PluginInstance *i) {
        PluginHost *h = i->host;
        unsigned left = 0;

        if (i->initialized)
                i->plugin->descriptor->destroy(i->ctx);
        while (i->timers) {
                timer_free(i->timers);
                left++;
        }
        if (left > 0)
                journal_log(h->journal, LOG_WARNING, "%s: %u timer%s still set after destroy(); stopped %s",
                            i->name, left, left == 1 ? "" : "s", left == 1 ? "it" : "them");
        for (left = 0; i->requests; left++)
                request_free(i->requests);
        if (left > 0)
                journal_log(h->journal, LOG_WARNING,
                            "%s: %u HTTP request%s still under way after destroy(); cancelled %s", i->name,
                            left, left == 1 ? "" : "s", left == 1 ? "it" : "them");
        for (PluginCall *c = h->calls, *next; c; c = next) {
                next = c->next;
                if (c->requester == i) {
                        c->requester = NULL;
                        plugin_call_abandon(c);
                }
                if (c->instance == i) {
                        c->instance = NULL; /* not counted any more: i is going */
                        call_free(c);
                }
        }
        /* what it left for runs (a key file) is handed to its namesake, or goes with the last of the name */
        PluginInstance *heir = i->runtime_path ? namesake(i) : NULL;
        int r = 0;
        if (heir && !heir->runtime_path)
                heir->runtime_path = TAKE_PTR(i->runtime_path);
        else if (i->runtime_path && !heir)
                r = remove_tree(i->runtime_path);
        if (r < 0)
                journal_log(h->journal, LOG_WARNING, "%s: cannot remove %s: %s, ignoring", i->name,
                            i->runtime_path, strerror(-r));
        plugin_options_free(i->plugin, i->options);
        plugin_unref(i->plugin);
        free(i->name);
        free(i->file);
        free(i->runtime_root);
        free(i->runtime_path);
        free(i);
        return NULL;
}

static void instance_retire(PluginInstance *i) {
        PluginHost *h = i->host;
        i->retired = true;
        if (i->n_calls == 0) {
                instance_free(i);
                return;
        }
        i->retired_next = h->retired;
        h->retired = i;
}

/* Takes the options out of pc. */
static int instance_new(PluginHost *h, PluginConfig *pc, const char *runtime_root, PluginInstance **ret) {
        PluginInstance *i = calloc(1, sizeof *i);
        if (!i)
                return -ENOMEM;
        *i = (PluginInstance){
                .host = h,
                .plugin = plugin_ref(pc->plugin),
                .kind = pc->kind,
                .name = strdup(pc->instance),
                .file = strdup(pc->file),
                .line = pc->line,
                .options = TAKE_PTR(pc->options),
                .runtime_root = strdup(runtime_root),
        };
        if (!i->name || !i->file || !i->runtime_root) {
                instance_free(i);
                return -ENOMEM;
        }
        *ret = i;
        return 0;
}

const char *plugin_instance_name(const PluginInstance *i) {
        return i->name;
}

PluginKind plugin_instance_kind(const PluginInstance *i) {
        return i->kind;
}

void *plugin_instance_context(const PluginInstance *i) {
        return i->ctx;
}

const Plugin *plugin_instance_plugin(const PluginInstance *i) {
        return i->plugin;
}

const void *plugin_instance_vtable(const PluginInstance *i) {
        return i->plugin->descriptor->vtable;
}

/* ------------------------------------------------------------------ the host */

int plugin_host_new(sd_event *event, Journal *journal, PluginHost **ret_host) {
        PluginHost *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->journal = journal;
        int r = http_client_new(event, &HTTP_DEFAULT_SETTINGS, &h->http);
        if (r < 0) {
                plugin_host_free(h);
                return r;
        }
        *ret_host = h;
        return 0;
}

PluginHost *plugin_host_free(PluginHost *h) {
        if (!h)
                return NULL;
        for (size_t k = 0; k < h->n_current; k++)
                h->current[k] = instance_free(h->current[k]);
        free(h->current);
        while (h->retired) {
                PluginInstance *i = h->retired;
                h->retired = i->retired_next;
                instance_free(i);
        }
        while (h->calls) /* built-in answers not delivered yet */
                call_free(h->calls);
        http_client_free(h->http); /* after the instances, which cancelled their requests */
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

int plugin_host_apply(PluginHost *h, Config *config) {
        _cleanup_free_ PluginInstance **fresh = calloc(config->n_plugins + 1, sizeof(PluginInstance *));
        size_t n = 0;
        int r = 0;

        if (!fresh)
                return -ENOMEM;
        for (size_t k = 0; k < config->n_plugins && r >= 0; k++) {
                PluginInstance *i;
                if ((r = instance_new(h, &config->plugins[k], config->settings.runtime_directory, &i)) < 0)
                        break;
                fresh[n++] = i;
                r = i->plugin->descriptor->init(&host_services, i, i->options, &i->ctx);
                if (r < 0)
                        journal_log(h->journal, LOG_ERR, "%s:%u: %s: cannot start: %s", i->file, i->line,
                                    i->name, strerror(-r));
                else
                        i->initialized = true;
        }
        if (r >= 0)
                r = http_client_set_settings(h->http, &config->settings.http);
        if (r < 0) {
                while (n > 0)
                        instance_free(fresh[--n]);
                return r;
        }

        /* the new set first: an old instance freed now sees its successor (see instance_free()) */
        _cleanup_free_ PluginInstance **old = TAKE_PTR(h->current);
        size_t n_old = h->n_current;
        h->current = TAKE_PTR(fresh);
        h->n_current = n;
        for (size_t k = 0; k < n_old; k++)
                instance_retire(old[k]);
        return 0;
}

size_t plugin_host_pending(const PluginHost *h) {
        return h->n_calls;
}

Journal *plugin_host_journal(const PluginHost *h) {
        return h->journal;
}

HttpClient *plugin_host_http(const PluginHost *h) {
        return h->http;
}

const PluginInstance *plugin_host_current(const PluginHost *h, size_t n) {
        return n < h->n_current ? h->current[n] : NULL;
}

PluginInstance *plugin_host_storage(const PluginHost *h, const char *scheme) {
        for (size_t k = 0; k < h->n_current; k++)
                for (const char *const *s = plugin_storage_schemes(h->current[k]->plugin); s && *s; s++)
                        if (strcmp(*s, scheme) == 0)
                                return h->current[k];
        return NULL;
}

PluginInstance *plugin_host_instance(const PluginHost *h, PluginKind kind, const char *name) {
        size_t n = strlen(plugin_kind_to_string(kind));
        for (size_t k = 0; k < h->n_current; k++)
                if (h->current[k]->kind == kind && strcmp(h->current[k]->name + n + 1, name) == 0)
                        return h->current[k];
        return NULL;
}

PluginInstance *plugin_host_secrets_provider(const PluginHost *h, size_t n) {
        for (size_t k = 0; k < h->n_current; k++)
                if (h->current[k]->kind == PLUGIN_SECRETS && n-- == 0)
                        return h->current[k];
        return NULL;
}

size_t plugin_host_secrets_position(const PluginHost *h, const PluginInstance *i) {
        for (size_t k = 0, n = 0; k < h->n_current; k++)
                if (h->current[k]->kind == PLUGIN_SECRETS) {
                        if (h->current[k] == i)
                                return n;
                        n++;
                }
        return SIZE_MAX;
}

/* ------------------------------------------------------------------ calls */

static int on_deliver(sd_event_source *s, void *userdata) {
        PluginCall *c = userdata;
        (void) s;
        c->delivering = true;
        if (!c->abandoned)
                c->deliver(c);
        call_free(c);
        return 0;
}

static void call_free(PluginCall *c) {
        PluginHost *h = c->host;
        PluginInstance *i = c->instance;

        if (c->free_answer)
                c->free_answer(c);
        if (c->prev)
                c->prev->next = c->next;
        else
                h->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        h->n_calls--;
        sd_event_source_disable_unref(c->defer);
        free(c);
        if (i && --i->n_calls == 0 && i->retired) {
                retired_remove(h, i);
                instance_free(i);
        }
}

void *plugin_call_new(PluginHost *h, PluginInstance *instance, PluginInstance *requester, size_t size,
                      PluginCallDeliver deliver, PluginCallFree free_answer) {
        PluginCall *c = calloc(1, MAX(size, sizeof(PluginCall)));
        if (!c)
                return NULL;
        /* made now, so that delivering the answer cannot fail for want of memory later */
        if (sd_event_add_defer(h->event, &c->defer, on_deliver, c) < 0 ||
            sd_event_source_set_enabled(c->defer, SD_EVENT_OFF) < 0) {
                sd_event_source_disable_unref(c->defer);
                free(c);
                return NULL;
        }
        c->host = h;
        c->instance = instance;
        c->requester = requester;
        c->deliver = deliver;
        c->free_answer = free_answer;
        c->next = h->calls;
        if (h->calls)
                h->calls->prev = c;
        h->calls = c;
        h->n_calls++;
        if (instance)
                instance->n_calls++;
        return c;
}

void plugin_call_answered(PluginCall *c) {
        if (c->answered) { /* a plugin that answers twice: the first answer stands */
                journal_log(c->host->journal, LOG_WARNING, "%s: answered an operation twice, ignoring",
                            c->instance ? c->instance->name : "(built in)");
                return;
        }
        c->answered = true;
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

void plugin_call_refused(PluginCall *c) {
        call_free(c);
}

int plugin_call_started(PluginCall *c, int r, PluginCall **ret_call) {
        if (r < 0) {
                plugin_call_refused(c);
                return r;
        }
        if (ret_call)
                *ret_call = c;
        return 0;
}

bool plugin_call_first_answer(PluginCall *c, int error, int *ret_error) {
        if (c->answered) {
                plugin_call_answered(c); /* reports it */
                return false;
        }
        *ret_error = error > 0 ? -error : error;
        return true;
}

PluginCall *plugin_call_abandon(PluginCall *c) {
        if (c && !c->delivering)
                c->abandoned = true;
        return NULL;
}

/* ------------------------------------------------------------------ services */

_printf_(4, 5) static int host_log(udfcron_instance *self, int priority, int error, const char *format,
                                   ...) {
        _cleanup_free_ char *message = NULL;
        int saved = errno, positive = error == INT_MIN ? EINVAL : abs(error);
        va_list ap;

        errno = positive; /* for %m */
        va_start(ap, format);
        int r = vasprintf(&message, format, ap);
        va_end(ap);
        errno = saved;
        journal_log_plugin(self->host->journal, priority, self->plugin->name, self->name,
                           r < 0 ? "(out of memory formatting a message)" : message);
        return -positive;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        udfcron_timer *t = userdata;
        (void) s, (void) usec;
        t->firing = true;
        t->fn(t->userdata);
        timer_free(t); /* one-shot, stopped or not during the callback */
        return 0;
}

static int host_timer_start(udfcron_instance *self, uint64_t delay_usec, udfcron_timer_fn fn, void *userdata,
                            udfcron_timer **ret_timer) {
        udfcron_timer *t;

        if (!fn)
                return -EINVAL;
        if (!(t = calloc(1, sizeof *t)))
                return -ENOMEM;
        *t = (udfcron_timer){ .instance = self, .fn = fn, .userdata = userdata };
        /* 1 ms: sd-event's default accuracy (0) would let a plugin's poll slip by up to 250 ms */
        int r = sd_event_add_time_relative(self->host->event, &t->source, CLOCK_MONOTONIC, delay_usec, 1000,
                                           on_timer, t);
        if (r < 0) {
                free(t);
                return r;
        }
        t->next = self->timers;
        if (self->timers)
                self->timers->prev = t;
        self->timers = t;
        if (ret_timer)
                *ret_timer = t;
        return 0;
}

static udfcron_timer *host_timer_stop(udfcron_timer *t) {
        if (!t)
                return NULL;
        if (t->firing) /* inside its own callback: on_timer() frees it */
                t->stopped = true;
        else
                timer_free(t);
        return NULL;
}

static int host_secret_lookup(udfcron_instance *self, const char *name, udfcron_secret_done done,
                              void *userdata) {
        return secrets_lookup(self->host, self, name, done, userdata, NULL);
}

static int host_storage_put(udfcron_instance *self, const char *url, const void *data, size_t size,
                            const char *content_type, udfcron_storage_done done, void *userdata) {
        return storage_put(self->host, self, url, data, size, content_type, done, userdata, NULL);
}

static int host_storage_get(udfcron_instance *self, const char *url, size_t max_size,
                            udfcron_storage_data_done done, void *userdata) {
        return storage_get(self->host, self, url, max_size, done, userdata, NULL);
}

static int host_storage_list(udfcron_instance *self, const char *url, const char *page, size_t page_size,
                             udfcron_storage_list_done done, void *userdata) {
        return storage_list(self->host, self, url, page, page_size, done, userdata, NULL);
}

static int host_storage_remove(udfcron_instance *self, const char *url, udfcron_storage_done done,
                               void *userdata) {
        return storage_remove(self->host, self, url, done, userdata, NULL);
}

static int host_storage_sign(udfcron_instance *self, const char *url, uint64_t valid_usec,
                             udfcron_storage_text_done done, void *userdata) {
        return storage_sign(self->host, self, url, valid_usec, done, userdata, NULL);
}

/* What a plugin's reply says for an HttpReply: see struct udfcron_http_reply. */
static int http_reply_error(const HttpReply *reply) {
        if (reply->outcome == HTTP_OK)
                return 0;
        if (reply->status <= 0)
                return reply->error < 0 ? reply->error : -EIO;
        if (IN_SET(reply->status, 401, 403))
                return -EACCES;
        if (IN_SET(reply->status, 404, 410))
                return -ENOENT;
        return reply->outcome == HTTP_RETRY ? -EAGAIN : -EREMOTEIO;
}

static void on_http_done(void *userdata, const HttpReply *reply) {
        udfcron_http *q = userdata;
        const struct udfcron_http_reply r = {
                .error = http_reply_error(reply),
                .status = reply->status,
                .message = reply->message,
                .body = reply->body,
                .body_size = reply->body_size,
                .content_type = reply->content_type,
                .attempts = reply->attempts,
        };

        /* http_cancel() from inside `done` only returns: the request is freed here, afterwards */
        PluginHost *h = q->instance->host;
        q->reply = reply;
        h->answering = q;
        q->done(q->userdata, q, &r);
        h->answering = NULL;
        request_free(q);
}

static int host_http_submit(udfcron_instance *self, const struct udfcron_http_request *request,
                            udfcron_http_done done, void *userdata, udfcron_http **ret_request) {
        static const HttpMethod methods[] = {
                [UDFCRON_HTTP_GET] = HTTP_GET,
                [UDFCRON_HTTP_POST] = HTTP_POST,
                [UDFCRON_HTTP_PUT] = HTTP_PUT,
                [UDFCRON_HTTP_DELETE] = HTTP_DELETE,
        };
        HttpClient *client = self->host->http;
        HttpSettings settings = *http_client_settings(client); /* ca_file borrowed: http_submit copies it */
        HttpAuth auth = {};
        udfcron_http *q;
        int r;

        /* Every member of struct udfcron_http_request exists since 1.1, the first minor with the
         * service; members a later minor appends are read only when self->plugin's minor has them. */
        if (!request || !done || (unsigned) request->method >= ELEMENTSOF(methods))
                return -EINVAL;
        switch (request->auth) {
        case UDFCRON_HTTP_AUTH_NONE:
                break;
        case UDFCRON_HTTP_AUTH_BEARER:
                auth = (HttpAuth){ .type = HTTP_AUTH_BEARER, .token = request->auth_secret };
                break;
        case UDFCRON_HTTP_AUTH_BASIC:
                auth = (HttpAuth){ .type = HTTP_AUTH_BASIC,
                                   .user = request->auth_user,
                                   .password = request->auth_secret };
                break;
        case UDFCRON_HTTP_AUTH_AWS_SIGV4:
                auth = (HttpAuth){ .type = HTTP_AUTH_AWS_SIGV4,
                                   .user = request->auth_user,
                                   .password = request->auth_secret,
                                   .aws_sigv4 = request->aws_sigv4 };
                break;
        default:
                return -EINVAL;
        }
        if (request->max_reply_size > 0)
                settings.max_reply_size = request->max_reply_size;
        if (request->timeout_usec > 0)
                settings.timeout_usec = request->timeout_usec;
        if (request->no_retry)
                settings.retries = 0;

        if (!(q = calloc(1, sizeof *q)))
                return -ENOMEM;
        *q = (udfcron_http){ .instance = self, .done = done, .userdata = userdata };
        r = http_submit(client,
                        &(HttpRequest){
                                .method = methods[request->method],
                                .url = request->url,
                                .headers = request->headers,
                                .auth = auth,
                                .body = request->body,
                                .body_size = request->body_size,
                                .content_type = request->content_type,
                                .settings = &settings,
                        },
                        on_http_done, q, &q->transfer);
        if (r < 0) {
                free(q);
                return r;
        }
        q->next = self->requests;
        if (self->requests)
                self->requests->prev = q;
        self->requests = q;
        if (ret_request)
                *ret_request = q;
        return 0;
}

char *plugin_host_take_http_body(PluginHost *h, const void *data, size_t size) {
        const HttpReply *r = h->answering ? h->answering->reply : NULL;
        return r && data == r->body && size == r->body_size ? http_reply_take_body(r) : NULL;
}

static udfcron_http *host_http_cancel(udfcron_http *q) {
        if (q && !q->reply) /* inside its `done`: on_http_done() frees it */
                request_free(q);
        return NULL;
}

static const char *host_http_reply_header(const udfcron_http *q, const char *name) {
        return q && q->reply ? http_reply_header(q->reply, name) : NULL;
}

/* mkdir, or an existing directory that must be the daemon user's own; made private either way. */
static int private_subdirectory(const char *path) {
        struct stat st;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != geteuid())
                return -EPERM;
        return fchmod(fd, 0700) < 0 ? -errno : 0;
}

static int host_runtime_directory(udfcron_instance *self, const char **ret_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (self->runtime_path) {
                *ret_path = self->runtime_path;
                return 0;
        }
        /* 0755, as the daemon makes it: it holds the control socket */
        if ((r = mkdir_p(self->runtime_root, 0755)) < 0)
                return r;
        /* <root>/plugins, <root>/plugins/<kind>, <root>/plugins/<kind>/<name>: each private */
        if (asprintf(&path, "%s/plugins/%s", self->runtime_root, self->name) < 0)
                return -ENOMEM;
        for (char *slash = strchr(path + strlen(self->runtime_root) + 1, '/'); slash;
             slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                r = private_subdirectory(path);
                *slash = '/';
                if (r < 0)
                        return r;
        }
        if ((r = private_subdirectory(path)) < 0)
                return r;
        *ret_path = self->runtime_path = TAKE_PTR(path);
        return 0;
}

static int host_credentials_token(udfcron_instance *self, const char *name, const char *audience,
                                  udfcron_token_done done, void *userdata) {
        return credentials_token(self->host, self, name, audience, done, userdata, NULL);
}

static int host_storage_get_range(udfcron_instance *self, const char *url, uint64_t offset, size_t max_size,
                                  udfcron_storage_range_done done, void *userdata) {
        return storage_get_range(self->host, self, url, offset, max_size, done, userdata, NULL);
}

static const struct udfcron_host host_services = {
        .abi_major = UDFCRON_PLUGIN_ABI_MAJOR,
        .abi_minor = UDFCRON_PLUGIN_ABI_MINOR,
        .log = host_log,
        .timer_start = host_timer_start,
        .timer_stop = host_timer_stop,
        .secret_lookup = host_secret_lookup,
        .storage_put = host_storage_put,
        .storage_get = host_storage_get,
        .storage_list = host_storage_list,
        .storage_remove = host_storage_remove,
        .storage_sign = host_storage_sign,
        .http_submit = host_http_submit,
        .http_cancel = host_http_cancel,
        .http_reply_header = host_http_reply_header,
        .runtime_directory = host_runtime_directory,
        .credentials_token = host_credentials_token,
        .storage_get_range = host_storage_get_range,
};
