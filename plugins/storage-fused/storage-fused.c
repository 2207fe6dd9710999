/* SPDX-License-Identifier: MIT */
/*
 * storage-fused: fd:// URLs (a Fused user's own files) through the Fused files
 * API (api/fused.md §4), with the bearer token from a secret.
 *
 *     storage = { fused = { token_secret = "fused_token"; }; };
 *
 * put:    GET files/sign-upload (an S3 presigned POST), then the multipart POST
 *         to the object store, which gets no Fused credentials;
 * get:    GET files/get, which redirects to a signed URL (followed without
 *         the credentials);
 * list:   GET files/list-details; its URLs name the object store (s3://...),
 *         turned back into fd:// ones with what files/resolve says fd:// is;
 * remove: DELETE files/delete with max_deletion_depth, so that a URL that
 *         turns out to be a directory does not take a whole tree with it;
 * sign:   GET files/sign (the lifetime is the service's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <udfcron/plugin.h>

#include "../shared/fused-api.h"
#include "../shared/fused-reply.h"

#define SCHEME          "fd://"
#define PAGE_SIZE_MAX   10000
#define REPLY_SMALL_MAX (16 * 1024 * 1024) /* a listing or a form */

struct options {
        char *base_url;
        char *token_secret;
        int64_t max_deletion_depth;
};

enum op_kind { OP_PUT, OP_GET, OP_LIST, OP_REMOVE, OP_SIGN };

/* One storage operation, through its one or two requests. */
struct op {
        struct ctx *ctx;
        enum op_kind kind;
        char *url;
        char *escaped; /* url, percent-encoded for a query */
        void *data;    /* put: a copy of what is stored */
        size_t size;
        char *content_type;
        size_t max_size; /* get */
        char *page;      /* list: the last URL of the previous page */
        size_t page_size;
        union {
                udfcron_storage_done done;
                udfcron_storage_data_done data_done;
                udfcron_storage_list_done list_done;
                udfcron_storage_text_done text_done;
        };
        void *userdata;
        udfcron_http *upload; /* put: the POST to the object store */
        struct op *prev, *next;
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
        FusedApi api;
        char *fd_root; /* what fd:// resolves to ("s3://bucket/user/"), once asked */
        struct op *ops;
};

static void free_ptr(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))

/* ------------------------------------------------------------------ operations */

static void op_free(struct op *o) {
        struct ctx *c = o->ctx;
        if (o->prev)
                o->prev->next = o->next;
        else
                c->ops = o->next;
        if (o->next)
                o->next->prev = o->prev;
        c->host->http_cancel(o->upload);
        free(o->url);
        free(o->escaped);
        if (o->data)
                explicit_bzero(o->data, o->size); /* an output may hold what a run computed from secrets */
        free(o->data);
        free(o->content_type);
        free(o->page);
        free(o);
}

static const char *const op_names[] = {
        [OP_PUT] = "put", [OP_GET] = "get", [OP_LIST] = "list", [OP_REMOVE] = "remove", [OP_SIGN] = "sign",
};

/* Ends o with `error` (logged with `message`, unless a plain "not there"), calling back. */
static void op_fail(struct op *o, int error, const char *message) {
        struct ctx *c = o->ctx;
        if (error != -ENOENT)
                c->host->log(c->self, LOG_ERR, error, "%s %s: %s", op_names[o->kind], o->url,
                             message ?: strerror(-error));
        switch (o->kind) {
        case OP_PUT:
        case OP_REMOVE:
                o->done(o->userdata, error);
                break;
        case OP_GET:
                o->data_done(o->userdata, error, NULL, 0);
                break;
        case OP_LIST:
                o->list_done(o->userdata, error, NULL, 0, NULL);
                break;
        case OP_SIGN:
                o->text_done(o->userdata, error, NULL);
                break;
        }
        op_free(o);
}

/* Fails o when the request failed; true then. */
static bool request_failed(struct op *o, const struct udfcron_http_reply *reply) {
        if (reply->error >= 0)
                return false;
        op_fail(o, reply->error, reply->message);
        return true;
}

/* Fails o when the reply of files/<endpoint> could not be decoded (r < 0, with the decoder's reason); true
 * then. */
static bool decoding_failed(struct op *o, int r, const char *endpoint, const char *reason) {
        char message[256];
        if (r >= 0)
                return false;
        snprintf(message, sizeof message, "files/%s: a reply with %s", endpoint, reason);
        op_fail(o, r, r == -EBADMSG ? message : NULL);
        return true;
}

/* Sends files/<endpoint>?path=<target>[query] for o (target: escaped); false after failing o. */
static bool op_request_for(struct op *o, enum udfcron_http_method method, const char *endpoint,
                           const char *target, const char *query, const void *body, uint64_t max_reply_size,
                           fused_api_done done) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "/files/%s?path=%s%s", endpoint, target, query ?: "") < 0) {
                op_fail(o, -ENOMEM, NULL);
                return false;
        }
        const FusedCall call = {
                .method = method,
                .path = path,
                .body = body,
                .body_size = body ? strlen(body) : 0,
                .max_reply_size = max_reply_size,
        };
        if ((r = fused_api_request(&o->ctx->api, &call, done, o)) < 0) {
                op_fail(o, r, NULL);
                return false;
        }
        return true;
}

/* The same about o's own URL. */
static bool op_request(struct op *o, enum udfcron_http_method method, const char *endpoint,
                       const char *query, const void *body, uint64_t max_reply_size, fused_api_done done) {
        return op_request_for(o, method, endpoint, o->escaped, query, body, max_reply_size, done);
}

/* A new operation on `url`, or a negative errno for a URL that is not ours. */
static int op_new(struct ctx *c, enum op_kind kind, const char *url, void *userdata, struct op **ret) {
        if (strncmp(url, SCHEME, strlen(SCHEME)) != 0 || strpbrk(url, "\r\n"))
                return c->host->log(c->self, LOG_ERR, EINVAL, "%s: not an fd:// URL", url);
        struct op *o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        *o = (struct op){ .ctx = c, .kind = kind, .userdata = userdata, .next = c->ops };
        if (c->ops)
                c->ops->prev = o;
        c->ops = o;
        if (!(o->url = strdup(url)) || !(o->escaped = fused_escape(url))) {
                op_free(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* ------------------------------------------------------------------ put */

/* A multipart/form-data body: the form's fields, then the file. Returns its Content-Type, or NULL. */
static char *multipart(const FusedUploadForm *form, const struct op *o, char **ret_body, size_t *ret_size) {
        char boundary[48];
        uint64_t nonce[2] = {};
        const char *base = strrchr(o->url, '/') + 1;
        char *body = NULL, *content_type = NULL;
        size_t size = 0;

        /* a boundary that the data does not hold (a random one practically never does) */
        do {
                (void) getrandom(nonce, sizeof nonce, GRND_NONBLOCK);
                snprintf(boundary, sizeof boundary, "udfcron-%016llx%016llx", (unsigned long long) nonce[0],
                         (unsigned long long) nonce[1]);
        } while (memmem(o->data, o->size, boundary, strlen(boundary)));

        FILE *f = open_memstream(&body, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < form->n_fields; i++)
                fprintf(f, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary,
                        form->fields[2 * i], form->fields[2 * i + 1]);
        fprintf(f, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"", boundary);
        for (const char *p = *base ? base : "upload"; *p; p++) /* the object's name, if it is a plain one */
                fputc(strchr("\"\\\r\n", *p) ? '_' : *p, f);
        fprintf(f, "\"\r\nContent-Type: %s\r\n\r\n", o->content_type ?: "application/octet-stream");
        fwrite(o->data, 1, o->size, f);
        fprintf(f, "\r\n--%s--\r\n", boundary);
        if (fclose(f) != 0 || asprintf(&content_type, "multipart/form-data; boundary=%s", boundary) < 0) {
                free(body);
                return NULL;
        }
        *ret_body = body;
        *ret_size = size;
        return content_type;
}

static void on_uploaded(void *userdata, udfcron_http *http, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        (void) http;
        o->upload = NULL;
        if (request_failed(o, reply))
                return;
        o->done(o->userdata, 0);
        op_free(o);
}

static void on_upload_form(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        struct ctx *c = o->ctx;
        FusedUploadForm form = {};
        _cleanup_free_ char *body = NULL, *content_type = NULL;
        const char *reason = NULL;
        size_t size = 0;
        int r;

        if (request_failed(o, reply))
                return;
        r = fused_reply_upload_form(reply->body, reply->body_size, &form, &reason);
        if (decoding_failed(o, r, "sign-upload", reason))
                return;
        if (!(content_type = multipart(&form, o, &body, &size))) {
                fused_upload_form_done(&form);
                op_fail(o, -ENOMEM, NULL);
                return;
        }
        /* the object store's own URL: no Fused credentials go there */
        const struct udfcron_http_request request = {
                .method = UDFCRON_HTTP_POST,
                .url = form.url,
                .body = body,
                .body_size = size,
                .content_type = content_type,
                .max_reply_size = REPLY_SMALL_MAX,
        };
        r = c->host->http_submit(c->self, &request, on_uploaded, o, &o->upload);
        explicit_bzero(body, size);
        fused_upload_form_done(&form);
        if (r < 0)
                op_fail(o, r, "cannot send the upload");
}

static int fused_put(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                     udfcron_storage_done done, void *userdata) {
        struct op *o;
        char query[64];
        int r = op_new(ctx, OP_PUT, url, userdata, &o);
        if (r < 0)
                return r;
        o->done = done;
        if (url[strlen(url) - 1] == '/') {
                op_free(o);
                return -EISDIR;
        }
        if (!(o->data = malloc(size ?: 1)) || (content_type && !(o->content_type = strdup(content_type)))) {
                op_free(o);
                return -ENOMEM;
        }
        memcpy(o->data, data, size);
        o->size = size;
        snprintf(query, sizeof query, "&content_length=%zu", size);
        (void) op_request(o, UDFCRON_HTTP_GET, "sign-upload", query, NULL, REPLY_SMALL_MAX, on_upload_form);
        return 0;
}

/* ------------------------------------------------------------------ get, sign, remove */

static void on_get(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        if (request_failed(o, reply))
                return;
        o->data_done(o->userdata, 0, reply->body, reply->body_size);
        op_free(o);
}

static int fused_get(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                     void *userdata) {
        struct op *o;
        int r = op_new(ctx, OP_GET, url, userdata, &o);
        if (r < 0)
                return r;
        o->data_done = done;
        /* a reply past max_size ends with -EFBIG; 0 would mean the daemon's bound */
        (void) op_request(o, UDFCRON_HTTP_GET, "get", NULL, NULL, max_size ?: 1, on_get);
        return 0;
}

static void on_sign(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        _cleanup_free_ char *signed_url = NULL;
        const char *reason = NULL;
        int r;

        if (request_failed(o, reply))
                return;
        r = fused_reply_string(reply->body, reply->body_size, &signed_url, &reason);
        if (decoding_failed(o, r, "sign", reason))
                return;
        o->text_done(o->userdata, 0, signed_url);
        op_free(o);
}

static int fused_sign(void *ctx, const char *url, uint64_t valid_usec, udfcron_storage_text_done done,
                      void *userdata) {
        struct op *o;
        int r = op_new(ctx, OP_SIGN, url, userdata, &o);
        (void) valid_usec; /* files/sign takes no lifetime */
        if (r < 0)
                return r;
        o->text_done = done;
        (void) op_request(o, UDFCRON_HTTP_GET, "sign", NULL, NULL, REPLY_SMALL_MAX, on_sign);
        return 0;
}

static void on_remove(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        const char *reason = NULL;
        bool deleted = false;
        int r;

        if (request_failed(o, reply))
                return;
        r = fused_reply_bool(reply->body, reply->body_size, &deleted, &reason);
        if (decoding_failed(o, r, "delete", reason))
                return;
        o->done(o->userdata, deleted ? 0 : -ENOENT);
        op_free(o);
}

static int fused_remove(void *ctx, const char *url, udfcron_storage_done done, void *userdata) {
        struct ctx *c = ctx;
        struct op *o;
        char query[64];
        int r = op_new(c, OP_REMOVE, url, userdata, &o);
        if (r < 0)
                return r;
        o->done = done;
        snprintf(query, sizeof query, "&max_deletion_depth=%lld",
                 (long long) c->options->max_deletion_depth);
        (void) op_request(o, UDFCRON_HTTP_DELETE, "delete", query, "{}", REPLY_SMALL_MAX, on_remove);
        return 0;
}

/* ------------------------------------------------------------------ list */

static int compare_files(const void *a, const void *b) {
        return strcmp(((const FusedFile *) a)->url, ((const FusedFile *) b)->url);
}

/* The listing's URLs name the store behind fd://: spelled as fd:// again, so that they can be used. */
static int to_fd_url(const struct ctx *c, FusedFile *f) {
        size_t n = strlen(c->fd_root);
        char *url;
        if (strncmp(f->url, c->fd_root, n) != 0)
                return 0;
        if (asprintf(&url, "%s%s", SCHEME, f->url + n) < 0)
                return -ENOMEM;
        free(f->url);
        f->url = url;
        return 0;
}

static void on_list(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        FusedFile *files = NULL;
        size_t n = 0, first = 0, count;
        const char *reason = NULL;
        int r;

        if (request_failed(o, reply))
                return;
        r = fused_reply_files(reply->body, reply->body_size, &files, &n, &reason);
        if (decoding_failed(o, r, "list-details", reason))
                return;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = to_fd_url(o->ctx, &files[i]);
        if (r < 0) {
                fused_files_free(files, n);
                op_fail(o, r, NULL);
                return;
        }
        if (n > 0)
                qsort(files, n, sizeof *files, compare_files);
        /* a page goes on after the last URL of the one before (the API itself does not page) */
        while (o->page && first < n && strcmp(files[first].url, o->page) <= 0)
                first++;
        count = n - first < o->page_size ? n - first : o->page_size;

        struct udfcron_storage_entry *entries = calloc(count ?: 1, sizeof *entries);
        if (!entries) {
                fused_files_free(files, n);
                op_fail(o, -ENOMEM, NULL);
                return;
        }
        for (size_t i = 0; i < count; i++)
                entries[i] = (struct udfcron_storage_entry){
                        .url = files[first + i].url,
                        .size = files[first + i].size,
                        .mtime_usec = files[first + i].mtime_usec,
                        .is_directory = files[first + i].is_directory,
                };
        o->list_done(o->userdata, 0, entries, count, first + count < n ? entries[count - 1].url : NULL);
        free(entries);
        fused_files_free(files, n);
        op_free(o);
}

static void on_resolve(void *userdata, const struct udfcron_http_reply *reply) {
        struct op *o = userdata;
        struct ctx *c = o->ctx;
        _cleanup_free_ char *root = NULL;
        const char *reason = NULL;
        int r;

        if (request_failed(o, reply))
                return;
        r = fused_reply_string(reply->body, reply->body_size, &root, &reason);
        if (decoding_failed(o, r, "resolve", reason))
                return;
        if (!c->fd_root &&
            asprintf(&c->fd_root, "%s%s", root, root[0] && root[strlen(root) - 1] == '/' ? "" : "/") < 0) {
                c->fd_root = NULL;
                op_fail(o, -ENOMEM, NULL);
                return;
        }
        (void) op_request(o, UDFCRON_HTTP_GET, "list-details", NULL, NULL, REPLY_SMALL_MAX, on_list);
}

static int fused_list(void *ctx, const char *url, const char *page, size_t page_size,
                      udfcron_storage_list_done done, void *userdata) {
        struct ctx *c = ctx;
        struct op *o;
        int r = op_new(c, OP_LIST, url, userdata, &o);
        if (r < 0)
                return r;
        o->list_done = done;
        o->page_size = page_size == 0 ? 1 : page_size > PAGE_SIZE_MAX ? PAGE_SIZE_MAX : page_size;
        if (page && !(o->page = strdup(page))) {
                op_free(o);
                return -ENOMEM;
        }
        if (c->fd_root) {
                (void) op_request(o, UDFCRON_HTTP_GET, "list-details", NULL, NULL, REPLY_SMALL_MAX, on_list);
                return 0;
        }
        /* once per instance: where fd:// lies in the object store, to read the listing's URLs */
        (void) op_request_for(o, UDFCRON_HTTP_POST, "resolve", "fd%3A%2F%2F", NULL, NULL, REPLY_SMALL_MAX,
                              on_resolve);
        return 0;
}

/* ------------------------------------------------------------------ the instance */

static int fused_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                      void **ret_ctx) {
        const struct options *o = options;
        struct ctx *c = calloc(1, sizeof *c);

        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        *c = (struct ctx){ .host = host, .self = self, .options = o };
        int r = fused_api_init(&c->api, host, self, o->base_url, o->token_secret);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret_ctx = c;
        return 0;
}

static void fused_destroy(void *ctx) {
        struct ctx *c = ctx;
        fused_api_cancel_all(&c->api);
        while (c->ops)
                op_free(c->ops);
        free(c->fd_root);
        free(c);
}

static const char *const schemes[] = { "fd", NULL };

static const struct udfcron_storage_vtable vtable = {
        .schemes = schemes,
        .put = fused_put,
        .get = fused_get,
        .list = fused_list,
        .remove = fused_remove,
        .sign = fused_sign,
};

static const struct udfcron_option fused_options[] = {
        FUSED_API_OPTIONS(struct options),
        { .name = "max_deletion_depth",
          .type = UDFCRON_OPTION_INT,
          .default_value = "0",
          .offset = offsetof(struct options, max_deletion_depth),
          .doc = "how many levels below a deleted URL the service may delete too (0: the object alone)",
          .min = 0,
          .max = 100 },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "fused",
        .kind = UDFCRON_PLUGIN_STORAGE,
        .init = fused_init,
        .destroy = fused_destroy,
        .vtable = &vtable,
        .options = fused_options,
        .options_size = sizeof(struct options),
        .description = "fd:// URLs through the Fused files API",
};
