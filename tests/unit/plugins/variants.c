/* SPDX-License-Identifier: MIT */
/*
 * Storage plugins for the loader's and the host's unit tests, one per
 * -DVARIANT_<NAME>: `good` and `slow` work (slow answers through a host
 * timer); the others each break one rule the loader must enforce.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

#include "variants.h"

/* some variants override the header's fields, or leave the vtable out */
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct variant_options *options;
        udfcron_timer *leaked;
        struct pending *pending;
};

/* slow: an answer on its way */
struct pending {
        struct ctx *ctx;
        udfcron_timer *timer;
        udfcron_storage_done done;
        void *userdata;
        int error;
        struct pending *next;
};

static void on_timer(void *userdata) {
        struct pending *p = userdata;
        for (struct pending **q = &p->ctx->pending; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        break;
                }
        p->done(p->userdata, p->error);
        free(p);
}

/* good answers at once; slow after `every`; both fail a URL with "fail" in it */
static int answer(struct ctx *c, const char *url, udfcron_storage_done done, void *userdata) {
        int error = strstr(url, "fail") ? -EIO : 0;
#ifdef VARIANT_SLOW
        struct pending *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (struct pending){ .ctx = c, .done = done, .userdata = userdata, .error = error };
        int r = c->host->timer_start(c->self, c->options->every_usec, on_timer, p, &p->timer);
        if (r < 0) {
                free(p);
                return r;
        }
        p->next = c->pending;
        c->pending = p;
#else
        (void) c, (void) on_timer;
        done(userdata, error);
#endif
        return 0;
}

static int t_put(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                 udfcron_storage_done done, void *userdata) {
        (void) data, (void) size, (void) content_type;
        if (strstr(url, "refuse"))
                return -EACCES;
        return answer(ctx, url, done, userdata);
}

static int t_get(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                 void *userdata) {
        const struct ctx *c = ctx;
        (void) url, (void) max_size;
        done(userdata, 0, c->options->label, c->options->label ? strlen(c->options->label) : 0);
        return 0;
}

static int t_list(void *ctx, const char *url, const char *page, size_t page_size,
                  udfcron_storage_list_done done, void *userdata) {
        (void) ctx, (void) url, (void) page, (void) page_size;
        done(userdata, -ENOTDIR, NULL, 0, NULL);
        return 0;
}

static int t_remove(void *ctx, const char *url, udfcron_storage_done done, void *userdata) {
        return answer(ctx, url, done, userdata);
}

static void on_leaked(void *userdata) {
        (void) userdata;
        abort(); /* stopped by the host at destroy(): must never run */
}

static int t_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                  void **ret_ctx) {
        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *c = (struct ctx){ .host = host, .self = self, .options = options };
        if (c->options->label && strcmp(c->options->label, "fail-init") == 0) {
                free(c);
                return host->log(self, LOG_ERR, EADDRINUSE, "cannot start: %m");
        }
        if (c->options->leak_timer)
                (void) host->timer_start(self, 3600 * UINT64_C(1000000), on_leaked, NULL, &c->leaked);
        host->log(self, LOG_INFO, 0, "started with label %s",
                  c->options->label ? c->options->label : "(none)");
        *ret_ctx = c;
        return 0;
}

static void t_destroy(void *ctx) {
        struct ctx *c = ctx;
        while (c->pending) {
                struct pending *p = c->pending;
                c->pending = p->next;
                c->host->timer_stop(p->timer);
                free(p);
        }
        free(c); /* a leak_timer instance "forgets" its timer: the host must stop it */
}

#if defined(VARIANT_SLOW)
#define NAME   "slow"
#define SCHEME "slow"
#elif defined(VARIANT_GOOD)
#define NAME   "good"
#define SCHEME "good"
#elif defined(VARIANT_MAJOR)
#define NAME "major"
#elif defined(VARIANT_MINOR)
#define NAME "minor"
#elif defined(VARIANT_KIND)
#define NAME "kind"
#elif defined(VARIANT_NAME)
#define NAME "other" /* installed as storage-name.so */
#elif defined(VARIANT_OPTIONS)
#define NAME "options"
#elif defined(VARIANT_DEFAULT)
#define NAME "default"
#else
#define NAME "x"
#endif
#ifndef SCHEME
#define SCHEME "test"
#endif

static const char *const schemes[] = { SCHEME, NULL };

static const struct udfcron_storage_vtable vtable = {
        .schemes = schemes,
        .put = t_put,
        .get = t_get,
        .list = t_list,
        .remove = t_remove,
};

#define O(f) offsetof(struct variant_options, f)
static const struct udfcron_option t_options[] = {
        { .name = "label",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "plain",
          .offset = O(label),
          .doc = "what get returns" },
        { .name = "path", .type = UDFCRON_OPTION_PATH, .offset = O(path), .doc = "a path" },
        { .name = "flag",
          .type = UDFCRON_OPTION_BOOL,
          .default_value = "true",
          .offset = O(flag),
          .doc = "a flag" },
#ifdef VARIANT_DEFAULT
        { .name = "count", .type = UDFCRON_OPTION_INT, .default_value = "ten", .offset = O(count) },
#else
        { .name = "count",
          .type = UDFCRON_OPTION_INT,
          .default_value = "3",
          .offset = O(count),
          .min = 1,
          .max = 10,
          .required = true,
          .doc = "how many" },
#endif
        { .name = "every", .type = UDFCRON_OPTION_DURATION, .default_value = "0s", .offset = O(every_usec) },
        { .name = "tags", .type = UDFCRON_OPTION_STRING_LIST, .default_value = "a,b", .offset = O(tags) },
        { .name = "leak_timer", .type = UDFCRON_OPTION_BOOL, .offset = O(leak_timer) },
#ifdef VARIANT_OPTIONS
        { .name = "outside", .type = UDFCRON_OPTION_INT, .offset = sizeof(struct variant_options) },
#endif
        {},
};

#ifdef VARIANT_NOSYM
/* the descriptor under another name: not a plugin */
UDFCRON_PLUGIN_EXPORT const int udfcron_plugin_entry_v2 = 1;
#elif defined(VARIANT_SMALL)
/* a descriptor from a header older than any ABI: only the first fields */
UDFCRON_PLUGIN_EXPORT const struct {
        uint32_t abi_major, abi_minor, struct_size;
        const char *name;
} udfcron_plugin_entry = { 1, 0, sizeof udfcron_plugin_entry, "small" };
#else
UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
#ifdef VARIANT_MAJOR
        .abi_major = UDFCRON_PLUGIN_ABI_MAJOR + 1,
#endif
#ifdef VARIANT_MINOR
        .abi_minor = UDFCRON_PLUGIN_ABI_MINOR + 1,
#endif
        .name = NAME,
#ifdef VARIANT_KIND
        .kind = UDFCRON_PLUGIN_SECRETS,
#else
        .kind = UDFCRON_PLUGIN_STORAGE,
#endif
        .init = t_init,
        .destroy = t_destroy,
        .vtable = &vtable,
        .options = t_options,
        .options_size = sizeof(struct variant_options),
        .description = "a test plugin",
};
#endif
