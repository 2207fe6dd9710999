/* SPDX-License-Identifier: MIT */
#include "storage.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

typedef enum StorageOp {
        OP_PUT,
        OP_GET,
        OP_LIST,
        OP_REMOVE,
        OP_SIGN,
        OP_GET_RANGE,
} StorageOp;

/* One storage operation; the plugin's answer is copied in, as it is borrowed only during its done. */
typedef struct StorageCall {
        PluginCall call;
        StorageOp op;
        union {
                udfcron_storage_done done; /* put, remove */
                udfcron_storage_data_done data_done;
                udfcron_storage_list_done list_done;
                udfcron_storage_text_done text_done;
                udfcron_storage_range_done range_done;
        };
        void *userdata;
        int error;
        char *data; /* get, get_range: the bytes, with a NUL after them */
        size_t size;
        uint64_t object_size; /* get_range */
        char *text; /* sign: the URL; list: the next page's token */
        struct udfcron_storage_entry *entries;
        size_t n_entries;
} StorageCall;

static void free_answer(PluginCall *call) {
        StorageCall *c = (StorageCall *) call;
        free(c->data);
        free(c->text);
        for (size_t k = 0; k < c->n_entries; k++)
                free((char *) c->entries[k].url);
        free(c->entries);
}

static void deliver(PluginCall *call) {
        StorageCall *c = (StorageCall *) call;
        switch (c->op) {
        case OP_PUT:
        case OP_REMOVE:
                c->done(c->userdata, c->error);
                break;
        case OP_GET:
                c->data_done(c->userdata, c->error, c->error < 0 ? NULL : c->data,
                             c->error < 0 ? 0 : c->size);
                break;
        case OP_LIST:
                c->list_done(c->userdata, c->error, c->entries, c->n_entries, c->error < 0 ? NULL : c->text);
                break;
        case OP_SIGN:
                c->text_done(c->userdata, c->error, c->error < 0 ? NULL : c->text);
                break;
        case OP_GET_RANGE:
                c->range_done(c->userdata, c->error, c->error < 0 ? NULL : c->data,
                              c->error < 0 ? 0 : c->size, c->error < 0 ? 0 : c->object_size);
                break;
        }
}

static void on_done(void *userdata, int error) {
        StorageCall *c = userdata;
        if (plugin_call_first_answer(&c->call, error, &c->error))
                plugin_call_answered(&c->call);
}

/* Keeps a copy of the data: the plugin's is borrowed only during its done. */
static void keep_data(StorageCall *c, const void *data, size_t size) {
        if (c->error < 0)
                return;
        /* a remote backend's bytes are the body of its HTTP reply: taken over, not copied */
        c->data = plugin_host_take_http_body(c->call.host, data, size);
        if (!c->data && (c->data = malloc(size + 1))) {
                memcpy(c->data, data, size);
                c->data[size] = '\0';
        }
        if (c->data)
                c->size = size;
        else
                c->error = -ENOMEM;
}

static void on_range(void *userdata, int error, const void *data, size_t size, uint64_t object_size) {
        StorageCall *c = userdata;
        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        keep_data(c, data, size);
        c->object_size = object_size;
        plugin_call_answered(&c->call);
}

static void on_data(void *userdata, int error, const void *data, size_t size) {
        StorageCall *c = userdata;
        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        keep_data(c, data, size);
        plugin_call_answered(&c->call);
}

static void on_list(void *userdata, int error, const struct udfcron_storage_entry *entries, size_t n,
                    const char *next_page) {
        StorageCall *c = userdata;
        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        if (c->error >= 0) {
                c->entries = calloc(MAX(n, (size_t) 1), sizeof *c->entries);
                if (c->entries)
                        for (; c->n_entries < n; c->n_entries++) {
                                c->entries[c->n_entries] = entries[c->n_entries];
                                if (!(c->entries[c->n_entries].url = strdup(entries[c->n_entries].url)))
                                        break;
                        }
                if (!c->entries || c->n_entries < n || (next_page && !(c->text = strdup(next_page))))
                        c->error = -ENOMEM;
        }
        plugin_call_answered(&c->call);
}

static void on_text(void *userdata, int error, const char *text) {
        StorageCall *c = userdata;
        if (!plugin_call_first_answer(&c->call, error, &c->error))
                return;
        if (c->error >= 0 && !(c->text = strdup(text ?: "")))
                c->error = -ENOMEM;
        plugin_call_answered(&c->call);
}

/* The instance that serves url's scheme, and a call to it. */
static int begin(PluginHost *h, PluginInstance *requester, const char *url, StorageOp op,
                 StorageCall **ret_call, const struct udfcron_storage_vtable **ret_vtable) {
        char scheme[URL_SCHEME_MAX];

        if (!url || url_scheme(url, scheme) < 0)
                return -EINVAL;
        PluginInstance *i = plugin_host_storage(h, scheme);
        if (!i)
                return -EPROTONOSUPPORT;
        if (i == requester)
                return -ELOOP;
        const struct udfcron_storage_vtable *vt = plugin_instance_vtable(i);
        if (op == OP_SIGN && !vt->sign)
                return -EOPNOTSUPP;
        /* a plugin built before 1.3 has a vtable without get_range: not a member to read */
        if (op == OP_GET_RANGE && (plugin_instance_plugin(i)->descriptor->abi_minor < 3 || !vt->get_range))
                return -EOPNOTSUPP;
        StorageCall *c = plugin_call_new(h, i, requester, sizeof *c, deliver, free_answer);
        if (!c)
                return -ENOMEM;
        c->op = op;
        *ret_call = c;
        *ret_vtable = vt;
        return 0;
}

#define CTX(c) plugin_instance_context((c)->call.instance)

int storage_put(PluginHost *h, PluginInstance *requester, const char *url, const void *data, size_t size,
                const char *content_type, udfcron_storage_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_PUT, &c, &vt);
        if (r < 0)
                return r;
        c->done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->put(CTX(c), url, data, size, content_type, on_done, c),
                                   ret_call);
}

int storage_get(PluginHost *h, PluginInstance *requester, const char *url, size_t max_size,
                udfcron_storage_data_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_GET, &c, &vt);
        if (r < 0)
                return r;
        c->data_done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->get(CTX(c), url, max_size, on_data, c), ret_call);
}

int storage_list(PluginHost *h, PluginInstance *requester, const char *url, const char *page,
                 size_t page_size, udfcron_storage_list_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_LIST, &c, &vt);
        if (r < 0)
                return r;
        c->list_done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->list(CTX(c), url, page, page_size, on_list, c), ret_call);
}

int storage_remove(PluginHost *h, PluginInstance *requester, const char *url, udfcron_storage_done done,
                   void *userdata, PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_REMOVE, &c, &vt);
        if (r < 0)
                return r;
        c->done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->remove(CTX(c), url, on_done, c), ret_call);
}

int storage_sign(PluginHost *h, PluginInstance *requester, const char *url, uint64_t valid_usec,
                 udfcron_storage_text_done done, void *userdata, PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_SIGN, &c, &vt);
        if (r < 0)
                return r;
        c->text_done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->sign(CTX(c), url, valid_usec, on_text, c), ret_call);
}

int storage_get_range(PluginHost *h, PluginInstance *requester, const char *url, uint64_t offset,
                      size_t max_size, udfcron_storage_range_done done, void *userdata,
                      PluginCall **ret_call) {
        const struct udfcron_storage_vtable *vt;
        StorageCall *c;
        int r = begin(h, requester, url, OP_GET_RANGE, &c, &vt);
        if (r < 0)
                return r;
        c->range_done = done;
        c->userdata = userdata;
        return plugin_call_started(&c->call, vt->get_range(CTX(c), url, offset, max_size, on_range, c),
                                   ret_call);
}
