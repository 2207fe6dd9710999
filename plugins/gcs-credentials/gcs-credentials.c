/* SPDX-License-Identifier: MIT */
/*
 * gcs-credentials: a Google service account whose key is a secret, as Fused's
 * enable_gcs() uses it.
 *
 *     credentials = { gcs = { secret = "gcs_fused"; }; };
 *     schedules = ( { ...; credentials = [ "gcs" ]; } );
 *
 * Runs that name the instance get GOOGLE_APPLICATION_CREDENTIALS: the key,
 * looked up anew for each run (so a rotated key needs no reload), is written
 * to a private file (0600) in the instance's runtime directory, atomically
 * and only when it changed. Other plugins (gs:// storage) and the daemon get
 * OAuth2 access tokens: a JWT signed with the key (RS256) is exchanged at the
 * key's token_uri (RFC 7523), and the token is kept until `refresh_before`
 * its expiry; callers that ask while a token is being minted wait for that
 * one, so one request serves them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <udfcron/plugin.h>

#include "google-auth.h"

#define KEY_FILE        "service-account.json"
#define ENV_NAME        "GOOGLE_APPLICATION_CREDENTIALS"
#define TOKEN_REPLY_MAX (64 * 1024)

struct options {
        char *secret;
        char *scopes;
        uint64_t refresh_before_usec;
};

struct waiter {
        udfcron_token_done done;
        void *userdata;
        struct waiter *next;
};

/* The access token for one scope: cached, or being minted for those waiting. */
struct token {
        struct ctx *ctx;
        char *scope;
        char *value;           /* wiped when replaced */
        uint64_t expires_usec; /* CLOCK_REALTIME; 0: unknown (then it is not kept) */
        uint64_t refresh_at;   /* CLOCK_BOOTTIME: mint a new one from then on */
        bool minting;          /* the secret is being looked up, or the endpoint asked */
        char *token_uri;       /* of the key being used, for messages */
        udfcron_http *request;
        struct waiter *waiters;
        struct token *next;
};

/* A run's environment, while the key is being looked up. */
struct environment_call {
        struct ctx *ctx;
        udfcron_environment_done done;
        void *userdata;
        struct environment_call *prev, *next;
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
        char *key_path;            /* <runtime directory>/service-account.json, once known */
        unsigned char written[32]; /* SHA-256 of the key last written there */
        bool has_written;
        struct token *tokens;
        struct environment_call *calls;
};

static void free_ptr(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))

static void close_fd(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_fd_ __attribute__((cleanup(close_fd)))

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static char *wipe_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
        return NULL;
}

/* Logs why the key could not be looked up; returns the error. */
static int secret_failed(struct ctx *c, int error) {
        return c->host->log(c->self, LOG_ERR, error, "secret '%s': %s", c->options->secret,
                            error == -ENOENT ? "no secrets provider knows it" : strerror(-error));
}

/* Checks the key and logs why it is refused (never what it holds): -EINVAL. */
static int parse_key(struct ctx *c, const char *value, ServiceAccount **ret) {
        const char *reason = NULL;
        int r = service_account_parse(value, strlen(value), ret, &reason);
        if (r == -EINVAL)
                return c->host->log(c->self, LOG_ERR, EINVAL, "secret '%s': %s", c->options->secret, reason);
        return r;
}

/* ------------------------------------------------------------------ the key file */

/* Writes `data` to `path` through a temporary file beside it, created 0600, then renamed over it. */
static int write_private_file(const char *path, const char *data, size_t size) {
        _cleanup_free_ char *temp = NULL;
        uint64_t nonce = 0;

        (void) getrandom(&nonce, sizeof nonce, GRND_NONBLOCK);
        if (asprintf(&temp, "%s.tmp-%016llx", path, (unsigned long long) nonce) < 0)
                return -ENOMEM;
        _cleanup_fd_ int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, data + done, size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        (void) unlink(temp);
                        return r;
                }
                done += (size_t) n;
        }
        if (rename(temp, path) < 0) {
                int r = -errno;
                (void) unlink(temp);
                return r;
        }
        return 0;
}

/* Puts the key where runs find it, unless that file holds it already. */
static int store_key(struct ctx *c, const char *value) {
        size_t size = strlen(value);
        unsigned char digest[32];
        struct stat st;
        int r;

        if (!c->key_path) {
                const char *dir;
                if ((r = c->host->runtime_directory(c->self, &dir)) < 0)
                        return c->host->log(c->self, LOG_ERR, r, "cannot create its runtime directory: %m");
                if (asprintf(&c->key_path, "%s/%s", dir, KEY_FILE) < 0) {
                        c->key_path = NULL;
                        return -ENOMEM;
                }
        }
        if (EVP_Digest(value, size, digest, NULL, EVP_sha256(), NULL) != 1)
                return -EIO;
        if (c->has_written && memcmp(digest, c->written, sizeof digest) == 0 &&
            lstat(c->key_path, &st) == 0 && S_ISREG(st.st_mode) && (size_t) st.st_size == size)
                return 0;
        if ((r = write_private_file(c->key_path, value, size)) < 0)
                return c->host->log(c->self, LOG_ERR, r, "cannot write %s: %m", c->key_path);
        memcpy(c->written, digest, sizeof digest);
        c->has_written = true;
        c->host->log(c->self, LOG_INFO, 0, "wrote the key of secret '%s' to %s", c->options->secret,
                     c->key_path);
        return 0;
}

/* ------------------------------------------------------------------ environment */

static void environment_call_free(struct environment_call *e) {
        struct ctx *c = e->ctx;
        if (e->prev)
                e->prev->next = e->next;
        else
                c->calls = e->next;
        if (e->next)
                e->next->prev = e->prev;
        free(e);
}

static void on_environment_secret(void *userdata, int error, const char *value) {
        struct environment_call *e = userdata;
        struct ctx *c = e->ctx;
        ServiceAccount *sa = NULL;
        _cleanup_free_ char *variable = NULL;
        int r = error;

        if (r < 0)
                secret_failed(c, r);
        else if ((r = parse_key(c, value, &sa)) >= 0 && (r = store_key(c, value)) >= 0 &&
                 asprintf(&variable, "%s=%s", ENV_NAME, c->key_path) < 0) {
                variable = NULL;
                r = -ENOMEM;
        }
        service_account_free(sa);
        e->done(e->userdata, r, r < 0 ? NULL : (const char *const[]){ variable, NULL });
        environment_call_free(e);
}

static int gcs_environment(void *ctx, const struct udfcron_run_info *run, udfcron_environment_done done,
                           void *userdata) {
        struct ctx *c = ctx;
        struct environment_call *e = calloc(1, sizeof *e);

        (void) run; /* every run gets the same key */
        if (!e)
                return -ENOMEM;
        *e = (struct environment_call){ .ctx = c, .done = done, .userdata = userdata, .next = c->calls };
        int r = c->host->secret_lookup(c->self, c->options->secret, on_environment_secret, e);
        if (r < 0) {
                free(e);
                return r;
        }
        if (c->calls)
                c->calls->prev = e;
        c->calls = e;
        return 0;
}

/* ------------------------------------------------------------------ tokens */

/*
 * Answers everyone waiting for t, with its value or `error`. A new token that could not be minted
 * (logged already) leaves the one it was to replace, which is still good until it expires.
 */
static void answer_waiters(struct token *t, int error) {
        struct waiter *w = t->waiters;
        if (error < 0 && t->value && now_usec(CLOCK_REALTIME) < t->expires_usec)
                error = 0;
        t->waiters = NULL;
        t->minting = false;
        while (w) {
                struct waiter *next = w->next;
                w->done(w->userdata, error, error < 0 ? NULL : t->value, error < 0 ? 0 : t->expires_usec);
                free(w);
                w = next;
        }
        if (t->expires_usec == 0) /* a token of unknown lifetime serves only those who waited for it */
                t->value = wipe_free(t->value);
}

/* The endpoint's own explanation of a failure (an OAuth error reply), else the HTTP client's. */
static int token_failed(struct token *t, const struct udfcron_http_reply *reply) {
        struct ctx *c = t->ctx;
        TokenReply decoded = {};
        const char *reason = NULL;
        int r = reply->error < 0 ? reply->error : -EBADMSG;

        if (token_reply_parse(reply->body, reply->body_size, &decoded, &reason) >= 0 && decoded.error)
                c->host->log(c->self, LOG_ERR, r, "token endpoint %s: HTTP %ld: %s", t->token_uri,
                             reply->status, decoded.error);
        else
                c->host->log(c->self, LOG_ERR, r, "token endpoint %s: %s", t->token_uri,
                             reply->message ?: "failed");
        token_reply_done(&decoded);
        return r;
}

static void on_token_reply(void *userdata, udfcron_http *request, const struct udfcron_http_reply *reply) {
        struct token *t = userdata;
        struct ctx *c = t->ctx;
        TokenReply decoded = {};
        const char *reason = NULL;
        int r;

        (void) request;
        t->request = NULL;
        if (reply->error < 0) {
                answer_waiters(t, token_failed(t, reply));
                return;
        }
        r = token_reply_parse(reply->body, reply->body_size, &decoded, &reason);
        if (r >= 0 && decoded.error) {
                answer_waiters(t, token_failed(t, reply));
                token_reply_done(&decoded);
                return;
        }
        if (r < 0) {
                c->host->log(c->self, LOG_ERR, r, "token endpoint %s: a reply with %s", t->token_uri,
                             reason);
                answer_waiters(t, r);
                return;
        }

        uint64_t lifetime = decoded.expires_in * 1000000, margin = c->options->refresh_before_usec;
        t->value = wipe_free(t->value);
        t->value = decoded.access_token;
        decoded.access_token = NULL;
        t->expires_usec = lifetime > 0 ? now_usec(CLOCK_REALTIME) + lifetime : 0;
        t->refresh_at = now_usec(CLOCK_BOOTTIME) + (lifetime > margin ? lifetime - margin : 0);
        c->host->log(c->self, LOG_DEBUG, 0, "new access token for %s, valid %llus", t->scope,
                     (unsigned long long) decoded.expires_in);
        token_reply_done(&decoded);
        answer_waiters(t, 0);
}

/* The key is known: a signed assertion goes to its token endpoint. */
static void on_token_secret(void *userdata, int error, const char *value) {
        struct token *t = userdata;
        struct ctx *c = t->ctx;
        ServiceAccount *sa = NULL;
        _cleanup_free_ char *assertion = NULL, *body = NULL;
        int r = error;

        if (r < 0) {
                answer_waiters(t, secret_failed(c, r));
                return;
        }
        if ((r = parse_key(c, value, &sa)) < 0) {
                answer_waiters(t, r);
                return;
        }
        free(t->token_uri);
        t->token_uri = strdup(sa->token_uri);
        r = google_assertion(sa, t->scope, (int64_t) (now_usec(CLOCK_REALTIME) / 1000000), &assertion);
        if (r >= 0 && (!t->token_uri || asprintf(&body, "%s%s", GOOGLE_GRANT_BODY_PREFIX, assertion) < 0)) {
                body = NULL;
                r = -ENOMEM;
        }
        if (r >= 0) {
                const struct udfcron_http_request request = {
                        .method = UDFCRON_HTTP_POST,
                        .url = sa->token_uri,
                        .headers = (const char *const[]){ "Accept: application/json", NULL },
                        .body = body,
                        .body_size = strlen(body),
                        .content_type = "application/x-www-form-urlencoded",
                        .max_reply_size = TOKEN_REPLY_MAX,
                };
                r = c->host->http_submit(c->self, &request, on_token_reply, t, &t->request);
                if (r < 0)
                        c->host->log(c->self, LOG_ERR, r, "token endpoint %s: cannot send the request: %m",
                                     sa->token_uri);
        }
        if (body)
                explicit_bzero(body, strlen(body));
        service_account_free(sa);
        if (r < 0)
                answer_waiters(t, r);
}

static struct token *token_for(struct ctx *c, const char *scope) {
        for (struct token *t = c->tokens; t; t = t->next)
                if (strcmp(t->scope, scope) == 0)
                        return t;
        struct token *t = calloc(1, sizeof *t);
        if (!t || !(t->scope = strdup(scope))) {
                free(t);
                return NULL;
        }
        t->ctx = c;
        t->next = c->tokens;
        c->tokens = t;
        return t;
}

/* Scopes are URLs or names separated by single spaces: nothing that could bend the JWT or a log line. */
static bool valid_scope(const char *s) {
        if (!*s || *s == ' ')
                return false;
        for (; *s; s++)
                if (*s < ' ' || *s > '~' || (s[0] == ' ' && (s[1] == ' ' || !s[1])))
                        return false;
        return true;
}

static int gcs_token(void *ctx, const char *audience, udfcron_token_done done, void *userdata) {
        struct ctx *c = ctx;
        const char *scope = audience && *audience ? audience : c->options->scopes;
        struct token *t;
        struct waiter *w;

        if (!valid_scope(scope))
                return c->host->log(c->self, LOG_ERR, EINVAL, "'%s' is not a list of OAuth2 scopes", scope);
        if (!(t = token_for(c, scope)))
                return -ENOMEM;
        if (t->value && !t->minting && now_usec(CLOCK_BOOTTIME) < t->refresh_at) {
                done(userdata, 0, t->value, t->expires_usec);
                return 0;
        }
        if (!(w = calloc(1, sizeof *w)))
                return -ENOMEM;
        *w = (struct waiter){ .done = done, .userdata = userdata, .next = t->waiters };
        t->waiters = w;
        if (t->minting)
                return 0;
        int r = c->host->secret_lookup(c->self, c->options->secret, on_token_secret, t);
        if (r < 0) {
                t->waiters = w->next;
                free(w);
                return r;
        }
        t->minting = true;
        return 0;
}

/* ------------------------------------------------------------------ the instance */

static int gcs_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                    void **ret_ctx) {
        const struct options *o = options;

        if (host->abi_minor < 2)
                return host->log(
                        self, LOG_ERR, ENOTSUP,
                        "needs plugin ABI 1.2 (a runtime directory and HTTP), this udfcrond has 1.%u",
                        host->abi_minor);
        if (!valid_scope(o->scopes))
                return host->log(self, LOG_ERR, EINVAL, "scopes: '%s' is not a list of OAuth2 scopes",
                                 o->scopes);
        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        *c = (struct ctx){ .host = host, .self = self, .options = o };
        *ret_ctx = c;
        return 0;
}

/* Drops what is under way without calling back: the daemon abandons our secret lookups itself. */
static void gcs_destroy(void *ctx) {
        struct ctx *c = ctx;

        while (c->calls)
                environment_call_free(c->calls);
        while (c->tokens) {
                struct token *t = c->tokens;
                c->tokens = t->next;
                c->host->http_cancel(t->request);
                for (struct waiter *w = t->waiters, *next; w; w = next) {
                        next = w->next;
                        free(w);
                }
                wipe_free(t->value);
                free(t->scope);
                free(t->token_uri);
                free(t);
        }
        free(c->key_path);
        free(c);
}

static const struct udfcron_credentials_vtable vtable = {
        .environment = gcs_environment,
        .token = gcs_token,
};

static const struct udfcron_option gcs_options[] = {
        { .name = "secret",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "gcs_fused",
          .offset = offsetof(struct options, secret),
          .doc = "the secret that holds the service account's JSON key" },
        { .name = "scopes",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "https://www.googleapis.com/auth/devstorage.read_write",
          .offset = offsetof(struct options, scopes),
          .doc = "OAuth2 scopes of tokens asked for without an audience, space separated" },
        { .name = "refresh_before",
          .type = UDFCRON_OPTION_DURATION,
          .default_value = "5m",
          .offset = offsetof(struct options, refresh_before_usec),
          .doc = "a token is replaced this long before it expires" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "gcs",
        .kind = UDFCRON_PLUGIN_CREDENTIALS,
        .init = gcs_init,
        .destroy = gcs_destroy,
        .vtable = &vtable,
        .options = gcs_options,
        .options_size = sizeof(struct options),
        .description = "a Google service account: GOOGLE_APPLICATION_CREDENTIALS for runs, OAuth2 tokens",
};
