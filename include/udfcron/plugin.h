/* SPDX-License-Identifier: MIT */
#ifndef UDFCRON_PLUGIN_H
#define UDFCRON_PLUGIN_H

/*
 * udfcron plugin interface: the one header a udfcron plugin includes.
 *
 * A plugin is a shared object that exports exactly one symbol,
 *
 *     UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = { ... };
 *
 * and nothing else (build it with -fvisibility=hidden; `pkg-config --cflags
 * --libs udfcron-plugin` adds that and a version script). The daemon loads
 * it with dlopen(RTLD_NOW | RTLD_LOCAL) from its configured plugin
 * directories only, as <kind>-<name>.so, when the configuration names an
 * instance of it:
 *
 *     storage = { file = { root = "/srv/udfcron"; }; };      instance "storage/file"
 *     secrets = { vault = { plugin = "file"; directory = "/etc/udfcron/secrets"; }; };
 *
 * Each block is one *instance*, named kind/name, with its own options and its
 * own context; one plugin may have many instances. A plugin keeps no global
 * or static mutable state: everything lives in the context its init()
 * returns, which the daemon hands back to every call.
 *
 * Threads: there are none. Everything runs on the daemon's one event loop
 * (sd-event), and no plugin function may block it: anything slower than a
 * local file operation is started and finished later, through the callbacks
 * below and the host's timers.
 *
 * Errors: every function returning int returns >= 0 on success and a
 * negative errno (-ENOENT, -EINVAL, ...) on failure, never a bare -1.
 *
 * Ownership: every pointer a function receives is borrowed for the duration
 * of that call (or of the callback), unless its comment says otherwise; copy
 * what you keep. Strings are NUL-terminated UTF-8 unless said otherwise.
 *
 * Versions: UDFCRON_PLUGIN_ABI_MAJOR changes only when existing structures
 * change; the daemon refuses a plugin built for another major.
 * UDFCRON_PLUGIN_ABI_MINOR grows when members are appended at the end of a
 * structure (the host table, a vtable, the descriptor): structures here are
 * append-only. A plugin reads a host service added in minor N only when
 * host->abi_minor >= N; the daemon refuses a plugin built against a newer
 * minor than its own, and reads descriptor and vtable members added after
 * the plugin's minor as absent (NULL).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h> /* LOG_ERR ... LOG_DEBUG, for udfcron_host.log */

#ifdef __cplusplus
extern "C" {
#endif

#define UDFCRON_PLUGIN_ABI_MAJOR 1
#define UDFCRON_PLUGIN_ABI_MINOR 3

/* The name of the one exported symbol. */
#define UDFCRON_PLUGIN_ENTRY_SYMBOL "udfcron_plugin_entry"

#define UDFCRON_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The first members of every descriptor: `{ UDFCRON_PLUGIN_HEADER, .name = "x", ... }`. */
#define UDFCRON_PLUGIN_HEADER                                                                               \
        .abi_major = UDFCRON_PLUGIN_ABI_MAJOR, .abi_minor = UDFCRON_PLUGIN_ABI_MINOR,                       \
        .struct_size = sizeof(struct udfcron_plugin)

typedef struct udfcron_instance udfcron_instance; /* the host's handle of one instance */
typedef struct udfcron_timer udfcron_timer;       /* a timer a plugin started */
typedef struct udfcron_http udfcron_http;         /* an HTTP request a plugin submitted (ABI 1.1) */
struct udfcron_host;

/* ------------------------------------------------------------------ options */

/*
 * A plugin declares the options of its block in a table; the daemon checks
 * the block against it (unknown keys and type errors stop the start with
 * file:line and a "did you mean"), fills a zeroed structure of config_size
 * bytes, applies defaults, and passes it to init(). The structure and the
 * strings in it belong to the daemon and stay valid until destroy() returns.
 */
enum udfcron_option_type {
        UDFCRON_OPTION_STRING = 1, /* char *                                                          */
        UDFCRON_OPTION_PATH,       /* char *, absolute: a relative path is taken from the file's dir  */
        UDFCRON_OPTION_BOOL,       /* bool                                                            */
        UDFCRON_OPTION_INT,        /* int64_t, within [min, max] (both 0: any)                        */
        UDFCRON_OPTION_DURATION,   /* uint64_t microseconds, written "30s", "15m", "1h30m"            */
        UDFCRON_OPTION_STRING_LIST /* char **, NULL-terminated; NULL when unset and no default        */
};

struct udfcron_option {
        const char *name; /* the key in the block; NULL ends the table */
        enum udfcron_option_type type;
        /* The default, written as in the configuration without quotes ("30s", "true", "/srv", "a,b" for
         * a list), or NULL for none (zero, NULL). Checked when the plugin is loaded. */
        const char *default_value;
        size_t offset;   /* of the member in the plugin's options structure: offsetof(struct x, member) */
        bool required;   /* a block without it is an error */
        const char *doc; /* one line, for error messages and the plugin's documentation */
        int64_t min, max;
};

/* ------------------------------------------------------------------ the descriptor */

enum udfcron_plugin_kind {
        UDFCRON_PLUGIN_STORAGE = 1,     /* vtable: struct udfcron_storage_vtable */
        UDFCRON_PLUGIN_SECRETS = 2,     /* vtable: struct udfcron_secrets_vtable */
        UDFCRON_PLUGIN_CREDENTIALS = 3, /* vtable: struct udfcron_credentials_vtable */
        UDFCRON_PLUGIN_INGEST = 4,      /* vtable: struct udfcron_ingest_vtable */
};

struct udfcron_plugin {
        uint32_t abi_major;   /* UDFCRON_PLUGIN_ABI_MAJOR the plugin was built with */
        uint32_t abi_minor;   /* UDFCRON_PLUGIN_ABI_MINOR the plugin was built with */
        uint32_t struct_size; /* sizeof(struct udfcron_plugin) the plugin was built with */
        const char *name;     /* [a-z0-9_-]+; the file is <kind>-<name>.so */
        enum udfcron_plugin_kind kind;

        /*
         * Creates one instance. `host` (the services, valid for the whole life of the instance),
         * `self` (this instance's handle for the host services) and `options` (the filled options
         * structure, see above) are borrowed and may be kept until destroy(). Returns 0 and the
         * instance's context in *ret_ctx (owned by the plugin; may be NULL), or a negative errno,
         * after logging why through host->log: the daemon then does not start (or refuses the
         * reload). May start timers; must not block.
         */
        int (*init)(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                    void **ret_ctx);

        /*
         * Frees an instance. Called once no operation of it is pending, or when the daemon exits;
         * then the plugin drops what is pending without calling any callback. It stops its timers
         * (the daemon stops any it left, with a warning) and calls no host service afterwards.
         * Once every instance of a plugin is destroyed, the daemon may unload it.
         */
        void (*destroy)(void *ctx);

        /* The kind's operations (see below), a static constant of the plugin. */
        const void *vtable;

        /* The options table, ended by an entry with a NULL name; NULL: the block takes no options. */
        const struct udfcron_option *options;
        size_t options_size;     /* sizeof the structure the table's offsets point into */
        const char *description; /* one line, for humans */
};

/* ------------------------------------------------------------------ asynchronous operations
 *
 * Every operation below takes a `done` callback and its `userdata`, and returns
 * an int:
 *   - a negative errno: the operation was refused at once (bad URL, no memory);
 *     `done` is never called;
 *   - 0: `done` is called exactly once with the outcome, either before the
 *     operation returns (a backend that finishes at once, like a local file)
 *     or later from the event loop (a remote backend).
 * The values `done` receives are borrowed for the duration of the callback.
 * Errors in `done` are negative errnos too. The daemon never calls into a
 * plugin from inside one of that plugin's `done` calls.
 */

/* What an operation about a run knows of it (credentials and ingest). */
struct udfcron_run_info {
        const char *schedule;
        const char *run_id;
        unsigned attempt;        /* 1-based */
        uint64_t scheduled_usec; /* CLOCK_REALTIME, µs */
        const char *engine;      /* "local", "fused", "fusion" */
};

/* ---- storage: put/get/list/remove/sign objects by URL (file://, s3://, ...) */

struct udfcron_storage_entry {
        const char *url;     /* the full URL of the object or directory */
        uint64_t size;       /* bytes; 0 for directories */
        uint64_t mtime_usec; /* CLOCK_REALTIME, µs; 0: unknown */
        bool is_directory;   /* a directory or common prefix, whose URL ends in '/' */
};

typedef void (*udfcron_storage_done)(void *userdata, int error);
/* `data`: the object's bytes (followed by a NUL not counted in `size`). */
typedef void (*udfcron_storage_data_done)(void *userdata, int error, const void *data, size_t size);
/* One page of entries; `next_page` is the token of the next page, NULL on the last one. */
typedef void (*udfcron_storage_list_done)(void *userdata, int error,
                                          const struct udfcron_storage_entry *entries, size_t n_entries,
                                          const char *next_page);
typedef void (*udfcron_storage_text_done)(void *userdata, int error, const char *text);
/* A piece of an object: `size` bytes from the offset asked for (followed by a NUL not counted), and the
 * whole object's size, `object_size` (ABI 1.3). */
typedef void (*udfcron_storage_range_done)(void *userdata, int error, const void *data, size_t size,
                                           uint64_t object_size);

struct udfcron_storage_vtable {
        /* The URL schemes this plugin serves, NULL-terminated ("file"); at least one. */
        const char *const *schemes;

        /* Stores `size` bytes at `url`, replacing what was there; readers never see half an object.
         * `content_type` may be NULL ("application/octet-stream"). */
        int (*put)(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                   udfcron_storage_done done, void *userdata);
        /* Reads the object at `url`: -ENOENT when there is none, -EFBIG when larger than `max_size`. */
        int (*get)(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                   void *userdata);
        /* Lists the entries directly under the directory or prefix `url` (not recursively), sorted by URL,
         * at most about `page_size` per page. `page` is NULL for the first page, else a `next_page`
         * token an earlier call returned. */
        int (*list)(void *ctx, const char *url, const char *page, size_t page_size,
                    udfcron_storage_list_done done, void *userdata);
        /* Deletes the object at `url`: -ENOENT when there is none. */
        int (*remove)(void *ctx, const char *url, udfcron_storage_done done, void *userdata);
        /* A URL that grants read access to `url` for `valid_usec` without credentials (a presigned URL);
         * NULL when the backend cannot sign. */
        int (*sign)(void *ctx, const char *url, uint64_t valid_usec, udfcron_storage_text_done done,
                    void *userdata);

        /* ---- added in ABI 1.3: read only from plugins built for 1.3 or later */

        /* Reads up to `max_size` bytes of the object at `url` from byte `offset` (fewer at its end, none
         * from it on): a large object a piece at a time, each call short. -ENOENT when there is none.
         * NULL when the backend cannot. */
        int (*get_range)(void *ctx, const char *url, uint64_t offset, size_t max_size,
                         udfcron_storage_range_done done, void *userdata);
};

/* ---- secrets: NAME -> value, for ${secret:NAME} and for other plugins */

/* `value`: the secret; wipe your own copies of it (explicit_bzero) once done with them. */
typedef void (*udfcron_secret_done)(void *userdata, int error, const char *value);

struct udfcron_secrets_vtable {
        /* Looks up `name`: -ENOENT when this provider does not know it (the next provider is asked). */
        int (*lookup)(void *ctx, const char *name, udfcron_secret_done done, void *userdata);
};

/* ---- credentials: environment for local runs, access tokens for HTTP */

/* `environment`: NULL-terminated "NAME=value" strings. */
typedef void (*udfcron_environment_done)(void *userdata, int error, const char *const *environment);
/* `token`: a bearer token, valid until `expires_usec` (CLOCK_REALTIME; 0: unknown). */
typedef void (*udfcron_token_done)(void *userdata, int error, const char *token, uint64_t expires_usec);

struct udfcron_credentials_vtable {
        /* Variables to add to the environment of a local run; NULL when the plugin gives none. */
        int (*environment)(void *ctx, const struct udfcron_run_info *run, udfcron_environment_done done,
                           void *userdata);
        /* An access token for `audience` (a URL or scope); NULL when the plugin mints none. */
        int (*token)(void *ctx, const char *audience, udfcron_token_done done, void *userdata);
};

/* ---- ingest: step types that a schedule's pipeline can run
 *
 *     schedules = ( { name = "nightly"; cron = "0 3 * * *";
 *                     steps = ( { type = "udf"; udf = "extract.py"; output = "file:///srv/raw.csv"; },
 *                               { type = "partition"; ingest = "rows"; input = "${output:udf}";
 *                                 output = "file:///srv/parts/"; rows_per_file = 100000; } ); } );
 *
 * An ingest plugin offers step types (here "partition"); an instance of it
 * (ingest = { rows = { ... }; }, instance "ingest/rows") runs the steps that
 * name it. A step block holds the pipeline's own keys (type, name, ingest,
 * input, output) and the options its step type declares, checked like an
 * instance's options (file:line, "did you mean") when the configuration loads.
 */

struct udfcron_ingest_step_type {
        const char *name; /* [a-z0-9_-]+: the step's `type`; NULL ends the list */
        /* The options of a step block, as struct udfcron_option describes (names other than the pipeline's
         * keys); the filled structure reaches start() as step->options. NULL: none. */
        const struct udfcron_option *options;
        size_t options_size;
        const char *description;              /* one line, for humans */
        bool input_required, output_required; /* a block without `input` (`output`) is an error */
        /* Checks what the options table cannot say alone (options that exclude each other, ranges that
         * depend on one another) when the configuration loads: returns 0, or -EINVAL with one line in
         * `message` (reported at the step's file:line). May be NULL. */
        int (*check)(const void *options, char *message, size_t size);
};

/* One step of one run, as start() receives it. It and everything it points to stay valid until `done` is
 * called, or until cancel() returns: after a cancel the plugin reads none of it, and only calls `done`. */
struct udfcron_ingest_step {
        const struct udfcron_run_info *run;
        const char *type;    /* one of the plugin's step types */
        const char *name;    /* the step's name in its pipeline */
        const char *input;   /* the step's `input` storage URL, expanded; NULL when it has none */
        const char *output;  /* the step's `output` storage URL, expanded; NULL when it has none */
        const void *options; /* the step type's options structure, filled from the block */
        /* Writes a line into the run's journal records of this step (UDFCRON_STEP=<name>), as a UDF's
         * output lines are: progress, what was skipped. Priority LOG_WARNING or more urgent marks it as
         * the step's stderr. Secrets the daemon knows are masked. */
        void (*log)(const struct udfcron_ingest_step *step, int priority, const char *format, ...)
                __attribute__((format(printf, 3, 4)));
};

/*
 * The step's end. `error` 0: it succeeded, and `result` (may be NULL) is a JSON
 * text describing what it produced (the run's result when it is the last
 * step). A negative errno: it failed (-ECANCELED: it was cancelled). `message`
 * (may be NULL) says in one line what it did ("1200 rows in 3 files") or why it
 * failed ("input line 7: latitude 95 out of range -90..90"): it goes into the
 * step's finished or failed record.
 */
typedef void (*udfcron_ingest_done)(void *userdata, int error, const char *message, const char *result);

struct udfcron_ingest_vtable {
        /* The step types the plugin offers, ended by an entry with a NULL name; at least one. */
        const struct udfcron_ingest_step_type *step_types;
        /*
         * Starts a step. Work longer than a local file operation is done in slices on the host's timers
         * (or elsewhere), never blocking the loop; storage goes through the host's storage services.
         * *ret_job is the plugin's handle of the step, for cancel().
         */
        int (*start)(void *ctx, const struct udfcron_ingest_step *step, udfcron_ingest_done done,
                     void *userdata, void **ret_job);
        /* Asks a started step to stop (timeout, cancel, shutdown): its `done` follows, later, from the
         * loop, with -ECANCELED unless it had finished. */
        void (*cancel)(void *ctx, void *job);
};

/* ------------------------------------------------------------------ HTTP (host services, ABI 1.1) */

enum udfcron_http_method {
        UDFCRON_HTTP_GET = 0,
        UDFCRON_HTTP_POST,
        UDFCRON_HTTP_PUT,
        UDFCRON_HTTP_DELETE,
};

enum udfcron_http_auth {
        UDFCRON_HTTP_AUTH_NONE = 0,
        UDFCRON_HTTP_AUTH_BEARER,    /* "Authorization: Bearer <auth_secret>" */
        UDFCRON_HTTP_AUTH_BASIC,     /* auth_user and auth_secret (the password) */
        UDFCRON_HTTP_AUTH_AWS_SIGV4, /* AWS Signature Version 4, computed by libcurl for every request:
                                        aws_sigv4 (the provider, "aws:amz:us-east-1:s3"), auth_user (the
                                        access key id) and auth_secret (the secret access key). The
                                        payload's hash is the plugin's to send, as the header
                                        "x-amz-content-sha256: <hex sha256>" (S3 requires it) */
};

/*
 * One request, for host->http_submit(), which copies all of it (the body
 * too) before it returns: nothing here need outlive that call. Fields left
 * zero take the daemon's defaults (the `http` group of udfcrond.conf).
 * Members are appended in later minors; the daemon reads only those of the
 * minor the plugin was built with.
 */
struct udfcron_http_request {
        enum udfcron_http_method method;
        const char *url; /* http:// or https://, without user info (credentials go in auth_*) */
        /* Extra headers "Name: value", NULL-terminated; may be NULL. */
        const char *const *headers;
        const void *body; /* body_size bytes of content_type; NULL: none (an empty one for PUT, POST) */
        size_t body_size;
        const char *content_type; /* NULL: "application/json" */
        enum udfcron_http_auth auth;
        const char *auth_user;
        const char *auth_secret;
        const char *aws_sigv4;
        uint64_t max_reply_size; /* bytes; a larger reply fails with -EFBIG. 0: the daemon's */
        uint64_t timeout_usec;   /* one attempt, start to last byte. 0: the daemon's */
        /* Do not retry: for a request that must not be sent twice (a POST that creates something).
         * Otherwise network errors, timeouts, 408, 429 and 5xx are retried with backoff. */
        bool no_retry;
};

/*
 * How a request ended, borrowed by `done` for the duration of the call.
 * `error`:
 *   0             a 2xx reply;
 *   -EACCES       401, 403;            -ENOENT   404, 410;
 *   -EAGAIN       408, 429, 5xx once the retries are used up (trying later may help);
 *   -EREMOTEIO    any other status (3xx not followed, 4xx);
 *   without a reply: -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EFBIG (reply larger
 *   than max_reply_size), -EPERM (TLS verification failed), -ELOOP (too many redirects), -EPROTO,
 *   -ENOMEM, ...
 * `message` is one line for humans, NULL on success: the server's own explanation ("HTTP 403:
 * SignatureDoesNotMatch: The request signature we calculated does not match ...", from a JSON, XML
 * or text body) or the network's ("Failed to connect to h port 443 after 3 ms: ..."). It never holds
 * credentials, a URL's user info or its query.
 */
struct udfcron_http_reply {
        int error;
        long status; /* the last reply's HTTP status; 0 when none came */
        const char *message;
        const char *body; /* the last reply's body (also on errors), NUL-terminated; "" when none */
        size_t body_size;
        const char *content_type; /* NULL when absent */
        unsigned attempts;        /* 1 + retries made */
};

/* The request ended. `request` is its handle, for host->http_reply_header(); it is gone after the call. */
typedef void (*udfcron_http_done)(void *userdata, udfcron_http *request,
                                  const struct udfcron_http_reply *reply);

/* ------------------------------------------------------------------ host services */

typedef void (*udfcron_timer_fn)(void *userdata);

/*
 * What the daemon offers a plugin: passed to init(), valid for the life of
 * the instance. Every service takes the calling instance's `self`. Append-only:
 * check abi_minor before using a member added after 1.0.
 */
struct udfcron_host {
        uint32_t abi_major; /* what the daemon implements */
        uint32_t abi_minor;

        /*
         * Logs a message (printf `format`; %m is strerror(error)) at `priority` (LOG_ERR ...
         * LOG_DEBUG), to the journal with PLUGIN=<name> and INSTANCE=<kind/name> fields, or to stderr
         * in the foreground. Secret values the daemon knows are masked. End the message of a problem
         * that is not fatal with ", ignoring". Returns -|error| (0 for 0), so that
         * `return host->log(self, LOG_ERR, r, "cannot open %s: %m", path);` reports and fails at once.
         */
        int (*log)(udfcron_instance *self, int priority, int error, const char *format, ...)
                __attribute__((format(printf, 4, 5)));

        /*
         * Calls fn(userdata) once, `delay_usec` from now (CLOCK_MONOTONIC; 0: on the next loop
         * iteration). *ret_timer (may be NULL) is the daemon's until the callback has returned or
         * timer_stop() was called, whichever comes first; then it is gone.
         */
        int (*timer_start)(udfcron_instance *self, uint64_t delay_usec, udfcron_timer_fn fn, void *userdata,
                           udfcron_timer **ret_timer);
        /* Stops a timer that has not fired; accepts NULL; returns NULL. */
        udfcron_timer *(*timer_stop)(udfcron_timer *timer);

        /*
         * Looks up a secret as ${secret:NAME} does: the systemd credentials, then the secrets
         * providers in their configured order (for a secrets plugin, only those before it). The
         * value is masked in everything the daemon logs from then on. `done` is always called later,
         * from the event loop; -ENOENT: no provider knows the name.
         */
        int (*secret_lookup)(udfcron_instance *self, const char *name, udfcron_secret_done done,
                             void *userdata);

        /*
         * The storage operations of the daemon's configured storage instances, chosen by the URL's
         * scheme; the same contracts as struct udfcron_storage_vtable, except that `done` is always
         * called later, from the event loop, never before the service returns. -EPROTONOSUPPORT: no instance
         * serves the scheme; -EOPNOTSUPP: it cannot do that (sign); -ELOOP: it is the caller.
         */
        int (*storage_put)(udfcron_instance *self, const char *url, const void *data, size_t size,
                           const char *content_type, udfcron_storage_done done, void *userdata);
        int (*storage_get)(udfcron_instance *self, const char *url, size_t max_size,
                           udfcron_storage_data_done done, void *userdata);
        int (*storage_list)(udfcron_instance *self, const char *url, const char *page, size_t page_size,
                            udfcron_storage_list_done done, void *userdata);
        int (*storage_remove)(udfcron_instance *self, const char *url, udfcron_storage_done done,
                              void *userdata);
        int (*storage_sign)(udfcron_instance *self, const char *url, uint64_t valid_usec,
                            udfcron_storage_text_done done, void *userdata);

        /* ---- added in ABI 1.1: check host->abi_minor >= 1 before using them */

        /*
         * Submits an HTTP request through the daemon's client, on its event loop (connections kept
         * alive and shared, HTTP/2 where offered; TLS always verified; redirects followed with the
         * credentials and extra headers sent only to the URL's own origin). `done` is called
         * exactly once, later, from the loop, never from inside this call. Returns 0, or a negative
         * errno and never calls `done`: -EINVAL (a URL that is not http(s) or has user info, a
         * header without ':' or with a line break, an auth without its fields), -ENOMEM.
         * *ret_request (may be NULL) is the daemon's, valid until `done` has returned or
         * http_cancel() was called, whichever comes first. The credentials are wiped from memory
         * once the request ends and never logged.
         */
        int (*http_submit)(udfcron_instance *self, const struct udfcron_http_request *request,
                           udfcron_http_done done, void *userdata, udfcron_http **ret_request);
        /*
         * Cancels a request that has not ended: `done` is then never called. Accepts NULL, and a
         * request whose `done` is running (then it only returns). Returns NULL. Requests an
         * instance leaves behind at destroy() are cancelled by the daemon, with a warning.
         */
        udfcron_http *(*http_cancel)(udfcron_http *request);
        /* A header of the reply (the last value when repeated), or NULL; valid only during `done`. */
        const char *(*http_reply_header)(const udfcron_http *request, const char *name);

        /* ---- added in ABI 1.2: check host->abi_minor >= 2 before using them */

        /*
         * A directory of this instance's own, for files it hands to runs (a key file): private to the
         * daemon's user (0700), <runtime_directory>/plugins/<kind>/<name>, created on the first call.
         * Instances of one name share it, also across reloads; the daemon removes it, with what it
         * holds, when the last instance of the name goes (at its stop, or when a reload drops it).
         * Returns 0 and the path in *ret_path (the daemon's, valid until destroy()), or a negative
         * errno: -ENOTDIR, -EPERM (it exists, but is not the daemon user's directory).
         */
        int (*runtime_directory)(udfcron_instance *self, const char **ret_path);
        /*
         * An access token from the credentials instance called `name` (its block's name in the
         * `credentials` group: "gcs"), for `audience` (NULL: that instance's default), as its
         * token() gives it: for a plugin that talks to a service on behalf of an account (gs://
         * storage). `done` is always called later, from the loop. -ENXIO: no such instance;
         * -EOPNOTSUPP: it mints no tokens; -ELOOP: it is the caller. The token is a secret: wipe
         * your copies, and never log it.
         */
        int (*credentials_token)(udfcron_instance *self, const char *name, const char *audience,
                                 udfcron_token_done done, void *userdata);

        /* ---- added in ABI 1.3: check host->abi_minor >= 3 before using them */

        /* A piece of an object, as struct udfcron_storage_vtable's get_range; -EOPNOTSUPP when the
         * instance serving the URL cannot read pieces (then storage_get reads it whole). */
        int (*storage_get_range)(udfcron_instance *self, const char *url, uint64_t offset, size_t max_size,
                                 udfcron_storage_range_done done, void *userdata);

        /* Services added in later minors follow here. */
};

#ifdef __cplusplus
}
#endif

#endif
