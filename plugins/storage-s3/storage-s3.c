/* SPDX-License-Identifier: MIT */
/*
 * storage-s3: s3://bucket/key and gs://bucket/key through the S3 API (AWS S3,
 * Google Cloud Storage's XML API with HMAC keys, MinIO and the like).
 *
 *     storage = { s3 = {
 *             region = "eu-west-1";
 *             access_key_id = "${secret:aws_key_id}";
 *             secret_access_key = "${secret:aws_secret}";
 *     }; };
 *
 * Requests go through the daemon's HTTP client (host->http_submit, ABI 1.1),
 * signed by libcurl with AWS Signature Version 4. The credentials are looked
 * up through the secrets providers when first needed, kept for a few
 * minutes, and looked up again after the server refused them, so rotated
 * secrets are picked up without a reload. Presigned URLs (sign) are
 * computed here (sigv4.c). Listings are ListObjectsV2 with the delimiter
 * "/", one storage page per S3 page, the continuation token as page token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <udfcron/plugin.h>

#include "s3-url.h"
#include "s3-xml.h"
#include "sigv4.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* How long looked-up credentials are used before they are looked up again. */
#define CREDENTIALS_TTL_USEC (300 * USEC_PER_SEC)
/* Bounds of the replies that are not an object's bytes: listings, errors, acknowledgements. */
#define LIST_REPLY_MAX  (16 * 1024 * 1024)
#define SMALL_REPLY_MAX (64 * 1024)
/* ListObjectsV2 returns at most this many keys a page. */
#define MAX_KEYS_MAX 1000

struct options {
        char *endpoint;
        char *region;
        bool path_style;
        char *access_key_id;
        char *secret_access_key;
        char *gs_endpoint;
        char *gs_access_key_id;
        char *gs_secret_access_key;
};

/* An access key id or secret: written in the options, or the name of a secret to look up. */
struct credential {
        struct profile *profile;
        const char *option; /* its option's name, for messages */
        char *literal;      /* the access key id as written */
        char *secret_name;  /* NAME of "${secret:NAME}" */
        char *value;        /* what is used; wiped when replaced */
};

/* What one scheme's URLs go to. */
struct profile {
        struct ctx *ctx;
        const char *scheme; /* "s3", "gs" */
        S3Endpoint endpoint;
        char *region;
        char *sigv4; /* libcurl's provider string, "aws:amz:<region>:s3" */
        bool anonymous;
        struct credential key_id, secret;
        uint64_t resolved_usec; /* CLOCK_MONOTONIC when looked up; 0: not (or no longer) valid */
        unsigned lookups;       /* under way */
        int lookup_error;
        struct op *waiting; /* operations waiting for the lookups */
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        bool path_style;
        struct profile profiles[2];
        struct op *ops; /* every operation under way */
};

enum op_kind { OP_PUT, OP_GET, OP_LIST, OP_REMOVE_CHECK, OP_REMOVE, OP_SIGN };

static const char *const op_names[] = {
        [OP_PUT] = "put",         [OP_GET] = "get",   [OP_LIST] = "list",
        [OP_REMOVE_CHECK] = "rm", [OP_REMOVE] = "rm", [OP_SIGN] = "sign",
};

struct op {
        struct ctx *ctx;
        struct profile *profile;
        enum op_kind kind;
        char *url, *bucket, *key; /* key: the object; for list, the prefix */
        udfcron_http *request;
        union {
                udfcron_storage_done done;
                udfcron_storage_data_done data_done;
                udfcron_storage_list_done list_done;
                udfcron_storage_text_done text_done;
        };
        void *userdata;
        /* put: the body, borrowed until the operation waits for credentials, then copied */
        const void *data;
        void *data_copy;
        size_t size;
        char *content_type;
        char payload_hash[65];
        size_t max_size;      /* get */
        char *page;           /* list: the continuation token */
        size_t page_size;     /* list */
        unsigned expires_sec; /* sign */
        struct op *next, *next_waiting;
};

static uint64_t now_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static char *wipe_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
        return NULL;
}

/* ------------------------------------------------------------------ operations */

static void op_free(struct op *op) {
        struct ctx *c = op->ctx;
        for (struct op **p = &c->ops; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        break;
                }
        for (struct op **p = &op->profile->waiting; *p; p = &(*p)->next_waiting)
                if (*p == op) {
                        *p = op->next_waiting;
                        break;
                }
        c->host->http_cancel(op->request);
        free(op->url);
        free(op->bucket);
        free(op->key);
        free(op->data_copy);
        free(op->content_type);
        free(op->page);
        free(op);
}

/* Answers the operation's caller with `error` (and nothing else: a failure) and frees it. */
static void op_fail(struct op *op, int error) {
        switch (op->kind) {
        case OP_PUT:
        case OP_REMOVE_CHECK:
        case OP_REMOVE:
                op->done(op->userdata, error);
                break;
        case OP_GET:
                op->data_done(op->userdata, error, NULL, 0);
                break;
        case OP_LIST:
                op->list_done(op->userdata, error, NULL, 0, NULL);
                break;
        case OP_SIGN:
                op->text_done(op->userdata, error, NULL);
                break;
        }
        op_free(op);
}

static struct profile *profile_of(struct ctx *c, const char *url) {
        for (size_t i = 0; i < 2; i++) {
                size_t n = strlen(c->profiles[i].scheme);
                if (strncasecmp(url, c->profiles[i].scheme, n) == 0 && strncmp(url + n, "://", 3) == 0)
                        return &c->profiles[i];
        }
        return NULL;
}

/* A new operation on `url`, or a negative errno after saying why. */
static int op_new(struct ctx *c, enum op_kind kind, const char *url, bool needs_key, void *userdata,
                  struct op **ret) {
        struct profile *p = profile_of(c, url);
        struct op *op;
        int r;

        if (!p)
                return c->host->log(c->self, LOG_ERR, EINVAL, "%s: not an s3:// or gs:// URL", url);
        if (!(op = calloc(1, sizeof *op)))
                return -ENOMEM;
        *op = (struct op){ .ctx = c, .profile = p, .kind = kind, .userdata = userdata };
        r = s3_url_parse(url, p->scheme, &op->bucket, &op->key);
        if (r == -EINVAL)
                r = c->host->log(c->self, LOG_ERR, EINVAL,
                                 "%s: not %s://BUCKET/KEY with a valid bucket name and a key of printable "
                                 "UTF-8 without \".\" or \"..\" segments",
                                 url, p->scheme);
        else if (r >= 0 && needs_key && op->key[0] == '\0')
                r = c->host->log(c->self, LOG_ERR, EISDIR, "%s: names a bucket, not an object", url);
        else if (r >= 0 && !(op->url = strdup(url)))
                r = -ENOMEM;
        if (r < 0) {
                free(op->bucket);
                free(op->key);
                free(op);
                return r;
        }
        op->next = c->ops;
        c->ops = op;
        *ret = op;
        return 0;
}

/* ------------------------------------------------------------------ credentials */

static bool credentials_ready(const struct profile *p) {
        return p->anonymous ||
               (p->resolved_usec > 0 && now_monotonic() - p->resolved_usec < CREDENTIALS_TTL_USEC);
}

static int op_send(struct op *op);

static void on_secret(void *userdata, int error, const char *value) {
        struct credential *cr = userdata;
        struct profile *p = cr->profile;
        struct ctx *c = p->ctx;

        if (error < 0) {
                c->host->log(c->self, LOG_ERR, error, "%s: cannot look up ${secret:%s}: %m", cr->option,
                             cr->secret_name);
                p->lookup_error = p->lookup_error ?: error;
        } else {
                cr->value = wipe_free(cr->value);
                if (!(cr->value = strdup(value)))
                        p->lookup_error = p->lookup_error ?: -ENOMEM;
        }
        if (--p->lookups > 0)
                return;

        int r = p->lookup_error;
        p->lookup_error = 0;
        p->resolved_usec = r < 0 ? 0 : now_monotonic();
        while (p->waiting) {
                struct op *op = p->waiting;
                p->waiting = op->next_waiting;
                op->next_waiting = NULL;
                int k = r < 0 ? r : op_send(op);
                if (k < 0)
                        op_fail(op, k);
        }
}

static int credential_lookup(struct credential *cr) {
        struct profile *p = cr->profile;
        if (!cr->secret_name) {
                cr->value = wipe_free(cr->value);
                return (cr->value = strdup(cr->literal)) ? 0 : -ENOMEM;
        }
        int r = p->ctx->host->secret_lookup(p->ctx->self, cr->secret_name, on_secret, cr);
        if (r >= 0)
                p->lookups++;
        return r;
}

/*
 * Sends `op` now if the profile's credentials are fresh; else queues it until they are looked up.
 * Returns 0 (sent, or queued) or a negative errno (nothing sent, op untouched).
 */
static int op_start(struct op *op) {
        struct profile *p = op->profile;
        int r;

        if (credentials_ready(p))
                return op_send(op);
        if (op->kind == OP_PUT &&
            !op->data_copy) { /* the caller's buffer is borrowed only until we return */
                if (!(op->data_copy = malloc(op->size ? op->size : 1)))
                        return -ENOMEM;
                memcpy(op->data_copy, op->data, op->size);
                op->data = op->data_copy;
        }
        if (p->lookups == 0) {
                r = credential_lookup(&p->key_id);
                if (r >= 0)
                        r = credential_lookup(&p->secret);
                if (r < 0 && p->lookups == 0)
                        return r;
                if (r < 0)
                        p->lookup_error = r;
                if (p->lookups == 0) { /* nothing to look up after all */
                        p->resolved_usec = now_monotonic();
                        return op_send(op);
                }
        }
        op->next_waiting = p->waiting;
        p->waiting = op;
        return 0;
}

/* ------------------------------------------------------------------ replies */

/*
 * Logs why a request failed: the S3 error document's code and message when the server sent one, else
 * the client's one-line message. A missing object needs no words: its ENOENT says it all (a missing
 * bucket, also a 404, is logged).
 */
static void log_failure(struct op *op, const struct udfcron_http_reply *reply) {
        struct ctx *c = op->ctx;
        char *code = NULL, *message = NULL;

        if (reply->status > 0 && s3_error_parse(reply->body, reply->body_size, &code, &message) >= 0 &&
            (code || message)) {
                if (!code || strcmp(code, "NoSuchKey") != 0)
                        c->host->log(c->self, LOG_ERR, 0, "%s %s: %s%s%s (HTTP %ld)", op_names[op->kind],
                                     op->url, code ? code : "", code && message ? ": " : "",
                                     message ? message : "", reply->status);
                /* refused credentials are looked up again next time: they may have been rotated */
                if (code &&
                    (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0))
                        op->profile->resolved_usec = 0;
        } else if (reply->error != -ENOENT)
                c->host->log(c->self, LOG_ERR, 0, "%s %s: %s", op_names[op->kind], op->url,
                             reply->message ? reply->message : "failed");
        free(code);
        free(message);
}

static void answer_list(struct op *op, const struct udfcron_http_reply *reply) {
        struct ctx *c = op->ctx;
        S3ListResult list = {};
        struct udfcron_storage_entry *entries = NULL;
        size_t n = 0;
        int r = s3_list_parse(reply->body, reply->body_size, &list);

        if (r == -EBADMSG)
                c->host->log(c->self, LOG_ERR, EBADMSG, "list %s: the reply is no ListBucketResult: %m",
                             op->url);
        if (r >= 0 && !(entries = calloc(list.n_entries + 1, sizeof *entries)))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < list.n_entries; i++) {
                const S3ListEntry *e = &list.entries[i];
                /* the prefix itself, an empty "directory marker" object that consoles create, is no entry */
                if (!e->is_prefix && strcmp(e->key, op->key) == 0)
                        continue;
                if (asprintf((char **) &entries[n].url, "%s://%s/%s", op->profile->scheme, op->bucket,
                             e->key) < 0) {
                        r = -ENOMEM;
                        break;
                }
                entries[n].size = e->size;
                entries[n].mtime_usec = e->mtime_usec;
                entries[n].is_directory = e->is_prefix;
                n++;
        }
        if (r >= 0)
                op->list_done(op->userdata, 0, entries, n, list.truncated ? list.next_token : NULL);
        else
                op->list_done(op->userdata, r, NULL, 0, NULL);
        for (size_t i = 0; i < n; i++)
                free((char *) entries[i].url);
        free(entries);
        s3_list_result_done(&list);
}

static void on_reply(void *userdata, udfcron_http *request, const struct udfcron_http_reply *reply) {
        struct op *op = userdata;
        int error = reply->error;
        (void) request;

        op->request = NULL; /* gone once we return */
        if (op->kind == OP_REMOVE_CHECK) {
                /* it exists: whole (a server that ignores Range), in part, or empty (416 for bytes=0-0) */
                if (error >= 0 || error == -EFBIG || reply->status == 416) {
                        op->kind = OP_REMOVE;
                        int r = op_start(op);
                        if (r < 0)
                                op_fail(op, r);
                        return;
                }
        }
        if (error < 0) {
                log_failure(op, reply);
                op_fail(op, error);
                return;
        }
        switch (op->kind) {
        case OP_GET:
                if (reply->body_size > op->max_size) {
                        op_fail(op, -EFBIG);
                        return;
                }
                op->data_done(op->userdata, 0, reply->body, reply->body_size);
                break;
        case OP_LIST:
                answer_list(op, reply);
                break;
        default:
                op->done(op->userdata, 0);
                break;
        }
        op_free(op);
}

/* ------------------------------------------------------------------ requests */

/* The query of ListObjectsV2, its parameters sorted and encoded as SigV4 canonicalizes them. */
static int list_query(const struct op *op, char **ret) {
        char *prefix = s3_uri_encode(op->key, false),
             *token = op->page ? s3_uri_encode(op->page, false) : NULL;
        size_t max_keys = op->page_size < 1              ? 1
                          : op->page_size > MAX_KEYS_MAX ? MAX_KEYS_MAX
                                                         : op->page_size;
        int r = -ENOMEM;

        if (prefix && (!op->page || token) &&
            asprintf(ret, "%s%s%sdelimiter=%%2F&list-type=2&max-keys=%zu&prefix=%s",
                     token ? "continuation-token=" : "", token ? token : "", token ? "&" : "", max_keys,
                     prefix) >= 0)
                r = 0;
        free(prefix);
        free(token);
        return r;
}

/* The answer of sign: computed here, nothing sent. */
static int answer_sign(struct op *op) {
        struct profile *p = op->profile;
        S3Target t = {};
        char *query = NULL, *url = NULL;
        int r;

        if (p->anonymous)
                return op->ctx->host->log(
                        op->ctx->self, LOG_ERR, ENOKEY,
                        "sign %s: presigning needs credentials, and %s has none configured", op->url,
                        p->scheme);
        r = s3_target(&p->endpoint, op->ctx->path_style, op->bucket, op->key, NULL, &t);
        if (r >= 0)
                r = sigv4_presign_query(
                        &(SigV4Presign){
                                .host = t.host,
                                .path = t.path,
                                .access_key_id = p->key_id.value,
                                .secret = p->secret.value,
                                .region = p->region,
                                .service = "s3",
                                .now = time(NULL),
                                .expires_sec = op->expires_sec,
                        },
                        &query);
        if (r == -EINVAL)
                r = op->ctx->host->log(op->ctx->self, LOG_ERR, EINVAL,
                                       "sign %s: the access key id or region cannot be signed with",
                                       op->url);
        if (r >= 0 && asprintf(&url, "%s?%s", t.url, query) < 0)
                r = -ENOMEM;
        s3_target_done(&t);
        free(query);
        if (r < 0)
                return r;
        op->text_done(op->userdata, 0, url);
        free(url);
        op_free(op);
        return 0;
}

/* Sends op's request (sign: answers it). Returns 0, or a negative errno with nothing sent. */
static int op_send(struct op *op) {
        struct ctx *c = op->ctx;
        struct profile *p = op->profile;
        S3Target t = {};
        char *query = NULL, sha_header[128];
        const char *headers[3] = { sha_header, NULL, NULL };
        struct udfcron_http_request q = { .headers = headers };
        int r;

        if (op->kind == OP_SIGN)
                return answer_sign(op);
        if (op->kind == OP_LIST && (r = list_query(op, &query)) < 0)
                return r;
        r = s3_target(&p->endpoint, c->path_style, op->bucket, op->kind == OP_LIST ? "" : op->key, query,
                      &t);
        free(query);
        if (r < 0)
                return r;

        snprintf(sha_header, sizeof sha_header, "x-amz-content-sha256: %s",
                 op->kind == OP_PUT ? op->payload_hash : SIGV4_EMPTY_SHA256);
        q.url = t.url;
        switch (op->kind) {
        case OP_PUT:
                q.method = UDFCRON_HTTP_PUT;
                q.body = op->data;
                q.body_size = op->size;
                q.content_type = op->content_type ? op->content_type : "application/octet-stream";
                q.max_reply_size = SMALL_REPLY_MAX;
                break;
        case OP_GET:
                q.max_reply_size = op->max_size > SMALL_REPLY_MAX ? op->max_size : SMALL_REPLY_MAX;
                break;
        case OP_LIST:
                q.max_reply_size = LIST_REPLY_MAX;
                break;
        case OP_REMOVE_CHECK:
                headers[1] = "Range: bytes=0-0";
                q.max_reply_size = SMALL_REPLY_MAX;
                break;
        default:
                q.method = UDFCRON_HTTP_DELETE;
                q.max_reply_size = SMALL_REPLY_MAX;
                break;
        }
        if (!p->anonymous) {
                q.auth = UDFCRON_HTTP_AUTH_AWS_SIGV4;
                q.aws_sigv4 = p->sigv4;
                q.auth_user = p->key_id.value;
                q.auth_secret = p->secret.value;
        }
        r = c->host->http_submit(c->self, &q, on_reply, op, &op->request);
        if (r == -EINVAL)
                r = c->host->log(c->self, LOG_ERR, EINVAL, "%s %s: the HTTP client refused the request (%s)",
                                 op_names[op->kind], op->url, t.url);
        s3_target_done(&t);
        return r;
}

/* Starts `op`; on failure it is freed and the error returned: the caller's done never comes. */
static int op_begin(struct op *op) {
        int r = op_start(op);
        if (r < 0)
                op_free(op);
        return r;
}

/* ------------------------------------------------------------------ the vtable */

static int s3_put(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                  udfcron_storage_done done, void *userdata) {
        struct ctx *c = ctx;
        struct op *op;
        int r = op_new(c, OP_PUT, url, true, userdata, &op);
        if (r < 0)
                return r;
        op->done = done;
        op->data = data;
        op->size = size;
        if (content_type && (strpbrk(content_type, "\r\n") || !(op->content_type = strdup(content_type)))) {
                op_free(op);
                return content_type && strpbrk(content_type, "\r\n") ? -EINVAL : -ENOMEM;
        }
        /* Over TLS the body's integrity is TLS's, and hashing a large one would hold up the loop for
         * nothing: UNSIGNED-PAYLOAD, as the AWS SDKs do. Over plain HTTP the signature covers it. */
        if (op->profile->endpoint.https)
                strcpy(op->payload_hash, SIGV4_UNSIGNED_PAYLOAD);
        else if ((r = sigv4_sha256_hex(data, size, op->payload_hash)) < 0) {
                op_free(op);
                return r;
        }
        return op_begin(op);
}

static int s3_get(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                  void *userdata) {
        struct op *op;
        int r = op_new(ctx, OP_GET, url, true, userdata, &op);
        if (r < 0)
                return r;
        op->data_done = done;
        op->max_size = max_size;
        return op_begin(op);
}

static int s3_list(void *ctx, const char *url, const char *page, size_t page_size,
                   udfcron_storage_list_done done, void *userdata) {
        struct op *op;
        int r = op_new(ctx, OP_LIST, url, false, userdata, &op);
        if (r < 0)
                return r;
        op->list_done = done;
        op->page_size = page_size;
        /* a directory's entries: "a/b" lists what is under "a/b/" */
        size_t n = strlen(op->key);
        if (n > 0 && op->key[n - 1] != '/') {
                char *dir;
                if (asprintf(&dir, "%s/", op->key) < 0) {
                        op_free(op);
                        return -ENOMEM;
                }
                free(op->key);
                op->key = dir;
        }
        if (page && !(op->page = strdup(page))) {
                op_free(op);
                return -ENOMEM;
        }
        return op_begin(op);
}

static int s3_remove(void *ctx, const char *url, udfcron_storage_done done, void *userdata) {
        struct op *op;
        /* S3 deletes a missing key without complaint: a ranged GET first finds out whether it exists */
        int r = op_new(ctx, OP_REMOVE_CHECK, url, true, userdata, &op);
        if (r < 0)
                return r;
        op->done = done;
        return op_begin(op);
}

static int s3_sign(void *ctx, const char *url, uint64_t valid_usec, udfcron_storage_text_done done,
                   void *userdata) {
        struct ctx *c = ctx;
        struct op *op;
        uint64_t seconds = (valid_usec + USEC_PER_SEC - 1) / USEC_PER_SEC;

        if (seconds < 1 || seconds > SIGV4_EXPIRES_MAX)
                return c->host->log(c->self, LOG_ERR, EINVAL,
                                    "sign %s: a presigned URL is valid for 1 second to 7 days", url);
        int r = op_new(c, OP_SIGN, url, true, userdata, &op);
        if (r < 0)
                return r;
        op->text_done = done;
        op->expires_sec = (unsigned) seconds;
        return op_begin(op);
}

/* ------------------------------------------------------------------ instances */

static void credential_done(struct credential *cr) {
        free(cr->literal);
        free(cr->secret_name);
        cr->value = wipe_free(cr->value);
}

static void profile_done(struct profile *p) {
        s3_endpoint_done(&p->endpoint);
        free(p->region);
        free(p->sigv4);
        credential_done(&p->key_id);
        credential_done(&p->secret);
}

/* An option's value as a credential: "${secret:NAME}", or (where `literal_ok`) the value itself. */
static int credential_init(struct ctx *c, struct profile *p, struct credential *cr, const char *option,
                           const char *value, bool literal_ok) {
        size_t n = value ? strlen(value) : 0;

        *cr = (struct credential){ .profile = p, .option = option };
        if (!value)
                return 0;
        if (n > 10 && strncmp(value, "${secret:", 9) == 0 && value[n - 1] == '}') {
                if (!(cr->secret_name = strndup(value + 9, n - 10)))
                        return -ENOMEM;
                if (strpbrk(cr->secret_name, "${}"))
                        return c->host->log(c->self, LOG_ERR, EINVAL, "%s: \"%s\" is no ${secret:NAME}",
                                            option, value);
                return 0;
        }
        if (!literal_ok)
                return c->host->log(
                        c->self, LOG_ERR, EINVAL,
                        "%s: write \"${secret:NAME}\" and keep the secret with a secrets provider "
                        "(systemd credentials, secrets-file): it does not belong in the configuration",
                        option);
        return (cr->literal = strdup(value)) ? 0 : -ENOMEM;
}

/* The options of one scheme: for gs://, each name has the prefix "gs_". */
struct profile_options {
        const char *endpoint, *access_key_id, *secret_access_key;
};

static int profile_init(struct ctx *c, struct profile *p, const char *scheme, const char *region,
                        const struct profile_options *values, const struct profile_options *names) {
        int r;

        *p = (struct profile){ .ctx = c,
                               .scheme = scheme,
                               .anonymous = !values->access_key_id && !values->secret_access_key };
        if (!(p->region = strdup(region)) || asprintf(&p->sigv4, "aws:amz:%s:s3", region) < 0) {
                p->sigv4 = NULL;
                return -ENOMEM;
        }
        if ((r = s3_endpoint_parse(values->endpoint, &p->endpoint)) == -EINVAL)
                return c->host->log(c->self, LOG_ERR, EINVAL, "%s: \"%s\" is not http(s)://HOST[:PORT]",
                                    names->endpoint, values->endpoint);
        if (r < 0)
                return r;
        if (!values->access_key_id != !values->secret_access_key)
                return c->host->log(c->self, LOG_ERR, EINVAL,
                                    "%s and %s go together: set both, or neither for anonymous requests",
                                    names->access_key_id, names->secret_access_key);
        r = credential_init(c, p, &p->key_id, names->access_key_id, values->access_key_id, true);
        if (r >= 0)
                r = credential_init(c, p, &p->secret, names->secret_access_key, values->secret_access_key,
                                    false);
        return r;
}

static void s3_destroy(void *ctx) {
        struct ctx *c = ctx;
        if (!c)
                return;
        while (c->ops) /* dropped without an answer, as destroy() does */
                op_free(c->ops);
        for (size_t i = 0; i < 2; i++)
                profile_done(&c->profiles[i]);
        free(c);
}

static int s3_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                   void **ret_ctx) {
        const struct options *o = options;
        char *endpoint = NULL;
        struct ctx *c;
        int r;

        if (host->abi_minor < 1)
                return host->log(self, LOG_ERR, EOPNOTSUPP,
                                 "needs the daemon's HTTP service (plugin ABI 1.1), this udfcron has 1.%u",
                                 (unsigned) host->abi_minor);
        if (!(c = calloc(1, sizeof *c)))
                return -ENOMEM;
        *c = (struct ctx){ .host = host, .self = self, .path_style = o->path_style };
        if (!o->endpoint && asprintf(&endpoint, "https://s3.%s.amazonaws.com", o->region) < 0) {
                free(c);
                return -ENOMEM;
        }
        r = profile_init(c, &c->profiles[0], "s3", o->region,
                         &(struct profile_options){ o->endpoint ? o->endpoint : endpoint, o->access_key_id,
                                                    o->secret_access_key },
                         &(struct profile_options){ "endpoint", "access_key_id", "secret_access_key" });
        if (r >= 0) /* GCS's XML API signs with the region "auto" */
                r = profile_init(c, &c->profiles[1], "gs", "auto",
                                 &(struct profile_options){ o->gs_endpoint, o->gs_access_key_id,
                                                            o->gs_secret_access_key },
                                 &(struct profile_options){ "gs_endpoint", "gs_access_key_id",
                                                            "gs_secret_access_key" });
        free(endpoint);
        if (r < 0) {
                s3_destroy(c);
                return r;
        }
        *ret_ctx = c;
        return 0;
}

static const char *const schemes[] = { "s3", "gs", NULL };

static const struct udfcron_storage_vtable vtable = {
        .schemes = schemes,
        .put = s3_put,
        .get = s3_get,
        .list = s3_list,
        .remove = s3_remove,
        .sign = s3_sign,
};

#define O(f) offsetof(struct options, f)
static const struct udfcron_option s3_options[] = {
        { .name = "endpoint",
          .type = UDFCRON_OPTION_STRING,
          .offset = O(endpoint),
          .doc = "where s3:// requests go, http(s)://HOST[:PORT]; default "
                 "https://s3.<region>.amazonaws.com" },
        { .name = "region",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "us-east-1",
          .offset = O(region),
          .doc = "the region s3:// requests are signed for" },
        { .name = "path_style",
          .type = UDFCRON_OPTION_BOOL,
          .default_value = "false",
          .offset = O(path_style),
          .doc = "address buckets as ENDPOINT/BUCKET/KEY instead of BUCKET.ENDPOINT/KEY" },
        { .name = "access_key_id",
          .type = UDFCRON_OPTION_STRING,
          .offset = O(access_key_id),
          .doc = "the access key id for s3://, or \"${secret:NAME}\"; unset: anonymous" },
        { .name = "secret_access_key",
          .type = UDFCRON_OPTION_STRING,
          .offset = O(secret_access_key),
          .doc = "\"${secret:NAME}\": the secret access key for s3://, from the secrets providers" },
        { .name = "gs_endpoint",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "https://storage.googleapis.com",
          .offset = O(gs_endpoint),
          .doc = "where gs:// requests go (GCS's XML API)" },
        { .name = "gs_access_key_id",
          .type = UDFCRON_OPTION_STRING,
          .offset = O(gs_access_key_id),
          .doc = "the HMAC key's access id for gs://, or \"${secret:NAME}\"; unset: anonymous" },
        { .name = "gs_secret_access_key",
          .type = UDFCRON_OPTION_STRING,
          .offset = O(gs_secret_access_key),
          .doc = "\"${secret:NAME}\": the HMAC key's secret for gs://" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "s3",
        .kind = UDFCRON_PLUGIN_STORAGE,
        .init = s3_init,
        .destroy = s3_destroy,
        .vtable = &vtable,
        .options = s3_options,
        .options_size = sizeof(struct options),
        .description = "s3:// and gs:// objects through the S3 API, signed with AWS Signature Version 4",
};
