/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "clock.h"
#include "http-error.h"
#include "list.h"
#include "macro.h"
#include "prioq.h"

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC  UINT64_C(1000000)
/* requests (python) follows 30, curl 50 by default; a service that needs more is broken */
#define REDIRECTS_MAX 10
/*
 * curl's timer, when not "at once", is mostly the next of its transfers' once-a-second speed checks, or a
 * timeout: firing it this much late (or, when sooner, twice as late) costs nothing. sd-event then wakes on
 * a 250 ms boundary inside the slack, with the polls due by then; while thousands of requests a second move
 * curl's deadline, the timerfd stays armed as it is. A precise deadline woke the loop and re-armed the
 * timerfd at nearly every request, the polls' own slack notwithstanding.
 */
#define CURL_TIMER_SLACK_USEC (250 * USEC_PER_MSEC)
#define RETRY_TIMER_ACCURACY_USEC (10 * USEC_PER_MSEC)
/*
 * Hops in the multi handle at once, at least (see in_multi_max()); the others wait in the client's line.
 * curl 7.88 takes time in proportion to the handles it holds to remove one: with 10,000 jobs polled,
 * thousands of handles waiting for one of the connections CURLMOPT_MAX_HOST_CONNECTIONS allows made that
 * removal two thirds of the daemon's CPU.
 */
#define IN_MULTI_MIN 256
/* Easy handles kept for the next hops (see easy_put()) */
#define SPARE_HANDLES_MAX 64
/* Requests to send later (HttpRequest.not_before_usec) go out up to this late, many in one wake-up */
#define DELAYED_SLACK_USEC (250 * USEC_PER_MSEC)
/* Ready sockets handed to curl per dispatch: more wait for the next one, after the loop's other sources */
#define SOCKETS_READY_MAX 256
/* buffers this large have their pages faulted in ahead (see prefault()), a window at a time */
#define PREFAULT_MIN    (1024 * 1024)
#define PREFAULT_WINDOW (4 * 1024 * 1024)

const char *const http_method_names[_HTTP_METHOD_MAX + 1] = {
        [HTTP_GET] = "GET",
        [HTTP_POST] = "POST",
        [HTTP_PUT] = "PUT",
        [HTTP_DELETE] = "DELETE",
};

struct HttpClient {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer; /* curl's one timer, */
        sd_event_source *soon;  /* and its "at once", which needs no timerfd; it also lets hops in line in */
        HttpSettings settings;
        int epoll_fd;                   /* the sockets curl watches (see on_sockets_ready()), */
        sd_event_source *epoll_source; /* ... one source of the loop */
        HttpTransfer *transfers; /* every transfer not yet freed */
        size_t n_active;         /* of them, those that have not ended */
        size_t n_in_multi;       /* hops in the multi handle */
        HttpTransfer *line_head, *line_tail; /* hops waiting for room there, in the order they came */
        CURL *spare[SPARE_HANDLES_MAX]; /* easy handles of ended hops, reset, for the next ones */
        size_t n_spare;
        Prioq delayed;                /* transfers to start later, by not_before_usec */
        sd_event_source *delay_timer; /* ... at the first of them */
        HttpTransfer *calling;   /* the transfer whose `done` runs, */
        bool calling_freed;      /* and whether it was freed from inside */
};

struct HttpCookieJar {
        unsigned n_ref;
        CURLSH *share;
};

typedef enum TransferState {
        TRANSFER_RUNNING, /* a hop is in the multi handle */
        TRANSFER_QUEUED,  /* a hop waits in the client's line for room in the multi handle */
        TRANSFER_WAITING, /* for the retry timer */
        TRANSFER_ENDED,   /* `done` was called, or is being called */
} TransferState;

struct HttpTransfer {
        HttpClient *client; /* NULL once the client is gone */
        HttpTransfer *prev, *next;
        HttpDone done;
        void *userdata;
        bool owned_by_client; /* submitted without ret_transfer: freed after `done` */
        TransferState state;

        /* the request, copied */
        HttpMethod method;
        char *url;
        char *origin; /* "scheme://host:port" of url: where the credentials may go */
        char **headers;
        char *auth_header; /* "Authorization: ..." for bearer tokens */
        char *user, *password;
        char *aws_sigv4; /* with user and password: sign with AWS SigV4 instead of Basic */
        char *body, *content_type;
        size_t body_size;
        bool has_body;
        HttpCookieJar *cookies;
        HttpSettings settings;
        bool at_most_once;
        PrioqItem delay; /* key: not_before_usec, while in HttpClient.delayed */

        /* the current attempt and hop (one request and reply; a redirect starts the next hop) */
        unsigned attempt; /* 1-based */
        unsigned redirects;
        char *hop_url;
        HttpMethod hop_method;
        bool hop_has_body, hop_same_origin;
        CURL *easy;
        struct curl_slist *hop_headers;
        HttpTransfer *line_prev, *line_next; /* TRANSFER_QUEUED: HttpClient.line_* */
        char *reply;
        size_t reply_size, reply_alloc;
        size_t reply_faulted; /* the first bytes of `reply` whose pages are faulted in */
        bool reply_too_large, reply_oom;
        char errbuf[CURL_ERROR_SIZE];
        sd_event_source *retry_timer;
        uint64_t retry_after_usec;
};

static struct curl_slist *slist_free_wiped(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
        return NULL;
}

/*
 * Faults in the pages of bytes [from, to) of buffer p in one call, instead of one page fault per 4 KiB
 * as they are written: on a virtual machine, where each fault is a costly exit, that is the better part
 * of the time a 64 MiB object takes. Kernels before 5.14 refuse (EINVAL): then the faults come as before.
 */
static void prefault(void *p, size_t from, size_t to) {
        uintptr_t start = ((uintptr_t) p + from + 4095) & ~(uintptr_t) 4095,
                  end = ((uintptr_t) p + to) & ~(uintptr_t) 4095;
        if (end > start)
                (void) madvise((void *) start, end - start, MADV_POPULATE_WRITE);
}

/* ---------------------------------------------------------------- URLs */

/*
 * "scheme://host:port" of url, with the port spelled out, so that two URLs of one origin compare equal.
 * -EINVAL for what curl cannot parse or a URL with user info, -EPROTONOSUPPORT for other schemes.
 */
static int url_origin(const char *url, bool allow_userinfo, char **ret_origin) {
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
        int r = -EINVAL;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
                goto finish;
        if (!allow_userinfo && curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
                goto finish;
        if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
                r = -EPROTONOSUPPORT;
                goto finish;
        }
        for (char *p = host; *p; p++) /* host names are case-insensitive; curl keeps the spelling */
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        for (char *p = scheme; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        r = asprintf(ret_origin, "%s://%s:%s", scheme, host, port) < 0 ? -ENOMEM : 0;
finish:
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(user);
        curl_url_cleanup(u);
        return r;
}

static bool origin_is_https(const char *origin) {
        return strncmp(origin, "https:", 6) == 0;
}

/* ---------------------------------------------------------------- the event loop glue */

static void client_drain(HttpClient *c);

/*
 * The sockets curl watches are in the client's own epoll instance, which is one source of the loop: one
 * dispatch hands curl every socket that is ready. With a source per socket, each ready socket took an
 * iteration of the loop, and each iteration's epoll_wait polled again every socket still waiting for its
 * turn: with hundreds of connections answering at once, that polling was a fifth of the daemon's CPU.
 */
static int on_sockets_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpClient *c = userdata;
        struct epoll_event ready[SOCKETS_READY_MAX];
        int n = epoll_wait(c->epoll_fd, ready, (int) ELEMENTSOF(ready), 0);
        (void) s, (void) fd, (void) revents;

        for (int i = 0; i < n; i++) {
                uint32_t e = ready[i].events;
                int running, mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                                    (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
                /* a socket closed by an earlier one's action is unknown to curl, which ignores it; on failure
                 * (out of memory) curl fails the transfers concerned, which the drain reports */
                (void) curl_multi_socket_action(c->multi, ready[i].data.fd, mask, &running);
        }
        client_drain(c);
        return 0;
}

static void curl_timeout(HttpClient *c) {
        int running;
        (void) curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        client_drain(c);
}

static int on_curl_timer_event(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        curl_timeout(userdata);
        return 0;
}

static void client_admit(HttpClient *c);

static int on_curl_soon_event(sd_event_source *s, void *userdata) {
        (void) s;
        client_admit(userdata);
        curl_timeout(userdata);
        return 0;
}

/* Runs on_curl_soon_event() at the next iteration of the loop. */
static int client_kick(HttpClient *c) {
        if (!c->soon && sd_event_add_defer(c->event, &c->soon, on_curl_soon_event, c) < 0)
                return -ENOMEM;
        return sd_event_source_set_enabled(c->soon, SD_EVENT_ONESHOT) < 0 ? -ENOMEM : 0;
}

/*
 * CURLMOPT_SOCKETFUNCTION: watch fd for what curl waits for, or stop watching it. A socket in the epoll
 * instance is marked by curl_multi_assign() (any non-NULL pointer: the client), which curl forgets with
 * the socket.
 */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        HttpClient *c = userp;
        struct epoll_event ev = {
                .events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0),
                .data.fd = fd,
        };
        (void) easy;

        if (what == CURL_POLL_REMOVE) {
                if (socketp) /* EBADF when curl closed it first: the kernel dropped it then */
                        (void) epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
                return 0;
        }
        if (socketp)
                return epoll_ctl(c->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
        if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -1;
        if (curl_multi_assign(c->multi, fd, c) != CURLM_OK) {
                (void) epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
                return -1;
        }
        return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: curl's one timer, re-armed as curl asks; never socket_action from in here.
 * "At once" (0 ms), which curl asks after every added transfer, is a defer source: re-arming the timerfd
 * for it twice per request was a fifth of the daemon's CPU with thousands of jobs polled. The timer keeps
 * its deadline meanwhile: curl tells the next one after the socket_action that "at once" leads to.
 */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
        HttpClient *c = userp;
        uint64_t usec = (uint64_t) MAX(timeout_ms, 0L) * USEC_PER_MSEC,
                 slack = MIN(usec, CURL_TIMER_SLACK_USEC);
        (void) multi;

        if (timeout_ms < 0)
                return (c->timer && sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0) ||
                                       (c->soon && sd_event_source_set_enabled(c->soon, SD_EVENT_OFF) < 0)
                               ? -1
                               : 0;
        if (timeout_ms == 0)
                return client_kick(c) < 0 ? -1 : 0;
        if (c->timer)
                return sd_event_source_set_time_relative(c->timer, usec) < 0 ||
                                       sd_event_source_set_time_accuracy(c->timer, slack) < 0 ||
                                       sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0
                               ? -1
                               : 0;
        return sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC, usec, slack, on_curl_timer_event,
                                          c) < 0
                       ? -1
                       : 0;
}

/* ---------------------------------------------------------------- the multi handle, and the line for it */

static size_t in_multi_max(const HttpClient *c) {
        return MAX((size_t) c->settings.max_connections_per_host * 4, (size_t) IN_MULTI_MIN);
}

static void line_append(HttpClient *c, HttpTransfer *t) {
        t->line_next = NULL;
        t->line_prev = c->line_tail;
        if (c->line_tail)
                c->line_tail->line_next = t;
        else
                c->line_head = t;
        c->line_tail = t;
}

static void line_remove(HttpClient *c, HttpTransfer *t) {
        if (t->line_prev)
                t->line_prev->line_next = t->line_next;
        else
                c->line_head = t->line_next;
        if (t->line_next)
                t->line_next->line_prev = t->line_prev;
        else
                c->line_tail = t->line_prev;
        t->line_prev = t->line_next = NULL;
}

static int multi_add(HttpTransfer *t) {
        switch (curl_multi_add_handle(t->client->multi, t->easy)) {
        case CURLM_OK:
                t->client->n_in_multi++;
                t->state = TRANSFER_RUNNING;
                return 0;
        case CURLM_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EINVAL;
        }
}

/* The hop's handle goes into the multi handle, or at the end of the line when it is full or has a line. */
static int hop_enter(HttpTransfer *t) {
        HttpClient *c = t->client;
        if (c->n_in_multi < in_multi_max(c) && !c->line_head)
                return multi_add(t);
        line_append(c, t);
        t->state = TRANSFER_QUEUED;
        return 0;
}

/* The hop's handle leaves the multi handle (or the line); the first in line takes its room, from the loop. */
static void hop_leave(HttpTransfer *t) {
        HttpClient *c = t->client;
        if (!c)
                return;
        if (t->state == TRANSFER_QUEUED) {
                line_remove(c, t);
                t->state = TRANSFER_WAITING;
        } else if (t->state == TRANSFER_RUNNING) {
                (void) curl_multi_remove_handle(c->multi, t->easy);
                c->n_in_multi--;
                t->state = TRANSFER_WAITING;
                if (c->line_head)
                        (void) client_kick(c); /* out of memory: the next hop to leave kicks again */
        }
}

static void attempt_end(HttpTransfer *t, HttpOutcome outcome, long status, int error, const char *why);

static void client_admit(HttpClient *c) {
        while (c->line_head && c->n_in_multi < in_multi_max(c)) {
                HttpTransfer *t = c->line_head;
                line_remove(c, t);
                t->state = TRANSFER_WAITING;
                int r = multi_add(t);
                if (r < 0)
                        attempt_end(t, HTTP_FAIL, 0, r, "cannot start the request: out of memory");
        }
}

/* ---------------------------------------------------------------- one hop */

static size_t on_curl_write(char *data, size_t size, size_t n, void *userdata) {
        HttpTransfer *t = userdata;
        size_t add = size * n;

        /* a short count fails the transfer with CURLE_WRITE_ERROR at once: no more is read */
        if (add > t->settings.max_reply_size - t->reply_size) {
                t->reply_too_large = true;
                return 0;
        }
        if (t->reply_size + add + 1 > t->reply_alloc) {
                size_t alloc = MAX(t->reply_alloc * 2, t->reply_size + add + 1);
                curl_off_t length = -1;
                /* room for the whole body when its length is announced: no copying as it grows (a
                 * compressed one may still grow: the length is what comes over the wire) */
                bool announced = t->reply_size == 0 &&
                                 curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) ==
                                         CURLE_OK &&
                                 length > 0 && (uint64_t) length <= t->settings.max_reply_size;
                if (announced)
                        alloc = MAX(alloc, (size_t) length + 1);
                char *p = realloc(t->reply, MAX(alloc, (size_t) 16384));
                if (!p) {
                        t->reply_oom = true;
                        return 0;
                }
                t->reply = p;
                t->reply_alloc = MAX(alloc, (size_t) 16384);
                t->reply_faulted = t->reply_size;
        }
        /* A large body's pages are faulted in a window ahead of the bytes, not all at once: one long stall
         * would fill the socket's buffer and hold the sender up. */
        if (t->reply_alloc >= PREFAULT_MIN && t->reply_size + add > t->reply_faulted) {
                size_t upto = MIN(t->reply_alloc, t->reply_size + add + PREFAULT_WINDOW);
                prefault(t->reply, t->reply_faulted, upto);
                t->reply_faulted = upto;
        }
        memcpy(t->reply + t->reply_size, data, add);
        t->reply_size += add;
        t->reply[t->reply_size] = '\0';
        return add;
}

static bool hop_signs_sigv4(const HttpTransfer *t) {
        return t->hop_same_origin && t->aws_sigv4;
}

static int slist_add(struct curl_slist **l, const char *header) {
        struct curl_slist *n = curl_slist_append(*l, header);
        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

/* The headers of this hop: to the origin everything, elsewhere only what describes the body. */
static int hop_headers(HttpTransfer *t, struct curl_slist **ret) {
        struct curl_slist *l = NULL;
        char content_type[256];
        int r = 0;

        /*
         * A POST over 1 MiB would otherwise wait a second for "100 Continue", and without a body, an empty
         * Content-Type keeps curl from sending its form-data default. But libcurl's SigV4 signs every
         * header of the list, those that only remove one of curl's too, which are then not sent: the
         * server's signature would not match. So a signed hop sends those (unsigned, which servers
         * accept) and does not wait for "100 Continue" (hop_start).
         */
        if (!hop_signs_sigv4(t))
                r = slist_add(&l, "Expect:");
        snprintf(content_type, sizeof content_type, "Content-Type:%s%s", t->hop_has_body ? " " : "",
                 t->hop_has_body ? t->content_type ?: "application/json" : "");
        if (r >= 0 && (t->hop_has_body || !hop_signs_sigv4(t)))
                r = slist_add(&l, content_type);
        for (char **h = t->headers; r >= 0 && t->hop_same_origin && h && *h; h++)
                r = slist_add(&l, *h);
        if (r >= 0 && t->hop_same_origin && t->auth_header)
                r = slist_add(&l, t->auth_header);
        if (r < 0) {
                slist_free_wiped(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* An easy handle for a hop: a spare one, else a new one. */
static CURL *easy_get(HttpClient *c) {
        return c->n_spare > 0 ? c->spare[--c->n_spare] : curl_easy_init();
}

/*
 * The handle of an ended hop, kept for another: a new one costs curl a few kilobytes of state and its
 * 16 KiB buffer, allocated and freed at every request. curl_easy_reset() puts every option back, but a
 * handle keeps its cookies and its share (curl_easy_reset(3)): one that ever had them is never reused.
 */
static void easy_put(HttpClient *c, CURL *e, bool had_cookies) {
        if (!c || had_cookies || c->n_spare >= ELEMENTSOF(c->spare)) {
                curl_easy_cleanup(e);
                return;
        }
        curl_easy_reset(e);
        c->spare[c->n_spare++] = e;
}

static void hop_free(HttpTransfer *t) {
        if (t->easy) {
                hop_leave(t);
                easy_put(t->client, TAKE_PTR(t->easy), t->cookies);
        }
        t->hop_headers = slist_free_wiped(t->hop_headers);
}

/* For curl's timeouts, where 0 means none: a sub-millisecond one must not become none. */
static long msec(uint64_t usec) {
        return usec == 0 ? 0 : (long) MAX(usec / USEC_PER_MSEC, (uint64_t) 1);
}

static int hop_start(HttpTransfer *t) {
        const HttpSettings *s = &t->settings;
        CURL *e;
        CURLcode k = CURLE_OK;
        int r;

        hop_free(t);
        t->reply_size = 0;
        t->reply_too_large = t->reply_oom = false;
        t->errbuf[0] = '\0';
        if ((r = hop_headers(t, &t->hop_headers)) < 0)
                return r;
        if (!(t->easy = e = easy_get(t->client)))
                return -ENOMEM;

#define SET(option, value) (k = k != CURLE_OK ? k : curl_easy_setopt(e, option, value))
        SET(CURLOPT_URL, t->hop_url);
        SET(CURLOPT_PRIVATE, t);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        /* We follow redirects ourselves. libcurl 7.88 does drop a custom Authorization header, a
         * XOAUTH2 bearer and USERPWD when a redirect leaves the host or port, but sends every other
         * custom header (x-api-key) and its cookies on: credentials would leak to signed-URL hosts. */
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        if (s->ca_file)
                SET(CURLOPT_CAINFO, s->ca_file);
        SET(CURLOPT_CONNECTTIMEOUT_MS, msec(s->connect_timeout_usec));
        SET(CURLOPT_TIMEOUT_MS, msec(s->timeout_usec));
        if (s->low_speed_time_usec > 0) {
                SET(CURLOPT_LOW_SPEED_LIMIT, (long) s->low_speed_limit);
                SET(CURLOPT_LOW_SPEED_TIME,
                    (long) ((s->low_speed_time_usec + USEC_PER_SEC - 1) / USEC_PER_SEC));
        }
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MIN(s->max_reply_size, (uint64_t) INT64_MAX));
        SET(CURLOPT_WRITEFUNCTION, on_curl_write);
        SET(CURLOPT_WRITEDATA, t);
        SET(CURLOPT_ERRORBUFFER, t->errbuf);
        SET(CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode; the size bound counts decoded bytes */
        SET(CURLOPT_USERAGENT, "udfcron/" UDFCRON_VERSION);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_PIPEWAIT, 1L); /* rather share an HTTP/2 connection than open another */
        /* libcurl sends a request again, by itself, when the kept-alive connection it went out on turns
         * out dead before any answer: a start the server acted on would run twice. */
        if (t->at_most_once)
                SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_HTTPHEADER, t->hop_headers);
        switch (t->hop_method) {
        case HTTP_GET:
                SET(CURLOPT_HTTPGET, 1L);
                break;
        case HTTP_POST:
                SET(CURLOPT_POST, 1L);
                break;
        case HTTP_PUT:
        case HTTP_DELETE:
                SET(CURLOPT_CUSTOMREQUEST, http_method_names[t->hop_method]);
                break;
        default:
                return -EINVAL;
        }
        if (t->hop_has_body || t->hop_method == HTTP_POST || t->hop_method == HTTP_PUT) {
                SET(CURLOPT_POSTFIELDS, t->hop_has_body ? t->body : "");
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (t->hop_has_body ? t->body_size : 0));
        }
        if (t->hop_same_origin && t->user) {
                if (t->aws_sigv4) {
                        SET(CURLOPT_AWS_SIGV4, t->aws_sigv4); /* implies CURLAUTH_AWS_SIGV4 */
                        SET(CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
                } else
                        SET(CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                SET(CURLOPT_USERNAME, t->user);
                SET(CURLOPT_PASSWORD, t->password);
        }
        if (t->hop_same_origin && t->cookies) {
                SET(CURLOPT_SHARE, t->cookies->share);
                SET(CURLOPT_COOKIEFILE, ""); /* the cookie engine on, reading no file */
        }
#undef SET
        if (k != CURLE_OK)
                return k == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;

        return hop_enter(t);
}

/* ---------------------------------------------------------------- ends of hops, attempts, transfers */

static const char *easy_header(CURL *easy, const char *name) {
        struct curl_header *h;
        size_t last;

        if (!easy || curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
                return NULL;
        last = h->amount - 1;
        if (last > 0 && curl_easy_header(easy, name, last, CURLH_HEADER, -1, &h) != CURLHE_OK)
                return NULL;
        return h->value;
}

/* Calls `done` with what the last hop left, then frees what only the callback needed. */
static void transfer_end(HttpTransfer *t, HttpOutcome outcome, long status, int error, const char *why) {
        HttpClient *c = t->client;
        _cleanup_free_ char *message = NULL;
        char *content_type = NULL;
        bool owned_by_client = t->owned_by_client;
        int r = 0;

        if (t->easy && status > 0)
                (void) curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &content_type);
        if (outcome != HTTP_OK && why)
                r = (message = strdup(why)) ? 0 : -ENOMEM;
        else if (outcome != HTTP_OK && status > 0) {
                HttpErrorReply e = {
                        .status = status,
                        .content_type = content_type,
                        .fused_error = easy_header(t->easy, "x-fused-error"),
                        .fused_metadata = easy_header(t->easy, "x-fused-metadata"),
                        .body = t->reply,
                        .body_size = t->reply_size,
                };
                r = http_error_message(&e, &message);
        }
        if (r >= 0 && message && outcome == HTTP_RETRY &&
            t->retry_after_usec > t->settings.retry_backoff_max_usec) {
                char *m;
                r = asprintf(&m, "%s (Retry-After: %" PRIu64 "s is beyond retry_backoff_max)", message,
                             t->retry_after_usec / USEC_PER_SEC);
                free(message);
                message = r < 0 ? NULL : m;
        } else if (r >= 0 && message && outcome == HTTP_RETRY && t->attempt > 1) {
                char *m;
                r = asprintf(&m, "%s (gave up after %u attempts)", message, t->attempt);
                free(message);
                message = r < 0 ? NULL : m;
        }

        HttpReply reply = {
                .outcome = outcome,
                .status = status,
                .error = error,
                .message = outcome == HTTP_OK ? NULL : message ?: "out of memory",
                .body = t->reply ?: "",
                .body_size = t->reply_size,
                .content_type = content_type,
                .attempts = t->attempt,
                .retry_after_usec = t->retry_after_usec,
                .transfer = t,
        };
        t->state = TRANSFER_ENDED;
        c->n_active--;
        c->calling = t;
        c->calling_freed = false;
        t->done(t->userdata, &reply);
        c->calling = NULL;
        if (c->calling_freed)
                return;
        if (owned_by_client) {
                http_transfer_free(t);
                return;
        }
        /* the caller keeps the transfer, not the reply */
        hop_free(t);
        t->reply = mfree_wiped(t->reply);
        t->reply_size = t->reply_alloc = t->reply_faulted = 0;
}

static int attempt_start(HttpTransfer *t) {
        free(t->hop_url);
        if (!(t->hop_url = strdup(t->url)))
                return -ENOMEM;
        t->hop_method = t->method;
        t->hop_has_body = t->has_body;
        t->hop_same_origin = true;
        t->redirects = 0;
        t->retry_after_usec = 0;
        return hop_start(t);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HttpTransfer *t = userdata;
        (void) s, (void) usec;

        t->retry_timer = sd_event_source_disable_unref(t->retry_timer);
        t->attempt++;
        int r = attempt_start(t);
        if (r < 0)
                transfer_end(t, HTTP_FAIL, 0, r, "cannot start the retry: out of memory");
        return 0;
}

/* An attempt ended with `outcome`: retry it after a backoff, or end the transfer. */
static void attempt_end(HttpTransfer *t, HttpOutcome outcome, long status, int error, const char *why) {
        const HttpSettings *s = &t->settings;
        const char *retry_after = status > 0 ? easy_header(t->easy, "Retry-After") : NULL;
        uint64_t delay;

        t->retry_after_usec = 0;
        if (retry_after && http_retry_after_parse(retry_after, now_usec(), &t->retry_after_usec) < 0)
                t->retry_after_usec = 0; /* unreadable: the backoff decides */
        if (outcome != HTTP_RETRY || t->attempt > s->retries ||
            t->retry_after_usec > s->retry_backoff_max_usec) {
                transfer_end(t, outcome, status, error, why);
                return;
        }

        delay = MAX(http_backoff_usec(s->retry_backoff_usec, s->retry_backoff_max_usec, t->attempt,
                                      random_u64()),
                    t->retry_after_usec);
        hop_free(t);
        t->state = TRANSFER_WAITING;
        if (sd_event_add_time_relative(t->client->event, &t->retry_timer, CLOCK_BOOTTIME, delay,
                                       RETRY_TIMER_ACCURACY_USEC, on_retry_timer, t) < 0)
                transfer_end(t, outcome, status, error, why);
}

/* Follows a 3xx reply to its Location, deciding what the next hop may carry. */
static void hop_redirect(HttpTransfer *t, long status) {
        char *location = NULL, *origin = NULL;
        int r;

        (void) curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &location); /* absolute, resolved by curl */
        if (!location) {
                char why[64];
                snprintf(why, sizeof why, "HTTP %ld without a Location to follow", status);
                attempt_end(t, HTTP_FAIL, status, 0, why);
                return;
        }
        if (t->redirects >= REDIRECTS_MAX) {
                attempt_end(t, HTTP_FAIL, 0, -ELOOP, "more than 10 redirects");
                return;
        }
        r = url_origin(location, true, &origin);
        if (r < 0) {
                attempt_end(t, HTTP_FAIL, 0, r == -ENOMEM ? r : -EPROTONOSUPPORT,
                            r == -ENOMEM ? "out of memory"
                                         : "redirected to a URL that is not http(s), refused");
                return;
        }
        if (origin_is_https(t->origin) && !origin_is_https(origin)) {
                free(origin);
                attempt_end(t, HTTP_FAIL, 0, -EPROTO, "redirected from https to plain http, refused");
                return;
        }

        t->hop_same_origin = strcmp(origin, t->origin) == 0;
        free(origin);
        /* what browsers and curl do: 303 always, and 301/302 after a POST, continue as a GET */
        if (status == 303 || (t->hop_method == HTTP_POST && (status == 301 || status == 302))) {
                t->hop_method = HTTP_GET;
                t->hop_has_body = false;
        }
        free(t->hop_url);
        if (!(t->hop_url = strdup(location))) {
                attempt_end(t, HTTP_FAIL, 0, -ENOMEM, "out of memory");
                return;
        }
        t->redirects++;
        if ((r = hop_start(t)) < 0)
                attempt_end(t, HTTP_FAIL, 0, r, "cannot follow the redirect: out of memory");
}

static void hop_end(HttpTransfer *t, CURLcode result) {
        char why[CURL_ERROR_SIZE + 64];
        long status = 0;
        int error;

        /* the hop is done in curl's eyes; `easy` stays for its headers until the next one starts */
        hop_leave(t);
        (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);

        if (t->reply_too_large || result == CURLE_FILESIZE_EXCEEDED) {
                snprintf(why, sizeof why, "reply larger than max_reply_size (%" PRIu64 " bytes), refused",
                         t->settings.max_reply_size);
                attempt_end(t, HTTP_FAIL, 0, -EFBIG, why);
        } else if (t->reply_oom)
                attempt_end(t, HTTP_FAIL, 0, -ENOMEM, "out of memory for the reply");
        else if (result != CURLE_OK) {
                HttpOutcome outcome = http_curl_outcome(result, &error);
                snprintf(why, sizeof why, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(result));
                attempt_end(t, outcome, 0, error, why);
        } else if (IN_SET(status, 301, 302, 303, 307, 308))
                hop_redirect(t, status);
        else if (status >= 500 && http_error_udf_raised(easy_header(t->easy, "x-fused-metadata")))
                attempt_end(t, HTTP_FAIL, status, 0, NULL); /* a UDF's exception: run again, it raises again */
        else
                attempt_end(t, http_status_outcome(status), status, 0, NULL);
}

/* Ends every finished hop: the multi handle's message queue, until it is empty. */
static void client_drain(HttpClient *c) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                char *t = NULL;
                if (msg->msg != CURLMSG_DONE)
                        continue;
                CURLcode result = msg->data.result; /* msg is gone once the handle is removed */
                (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
                if (t)
                        hop_end((HttpTransfer *) t, result);
        }
}

/* ---------------------------------------------------------------- transfers */

HttpTransfer *http_transfer_free(HttpTransfer *t) {
        if (!t)
                return NULL;
        hop_free(t); /* out of the multi handle first, while the client is there */
        if (t->client) {
                prioq_remove(&t->client->delayed, &t->delay);
                if (t->client->calling == t)
                        t->client->calling_freed = true;
                if (t->state != TRANSFER_ENDED)
                        t->client->n_active--;
                LIST_REMOVE(t->client->transfers, t);
        }
        t->retry_timer = sd_event_source_disable_unref(t->retry_timer);
        http_cookie_jar_unref(t->cookies);
        free(t->url);
        free(t->origin);
        free(t->hop_url);
        for (char **h = t->headers; h && *h; h++)
                mfree_wiped(*h);
        free(t->headers);
        mfree_wiped(t->auth_header);
        mfree_wiped(t->user);
        mfree_wiped(t->password);
        free(t->aws_sigv4);
        if (t->body)
                explicit_bzero(t->body, t->body_size);
        free(t->body);
        free(t->content_type);
        free(t->settings.ca_file);
        if (t->reply)
                explicit_bzero(t->reply, t->reply_size);
        free(t->reply);
        free(t);
        return NULL;
}

/* Copies what `request` says into t; -EINVAL for what is not a valid request. */
static int transfer_copy_request(HttpTransfer *t, const HttpRequest *q, const HttpSettings *s) {
        size_t n = 0;
        int r;

        if ((unsigned) q->method >= _HTTP_METHOD_MAX || !q->url || (q->json && q->body))
                return -EINVAL;
        if ((r = url_origin(q->url, false, &t->origin)) < 0)
                return r == -ENOMEM ? r : -EINVAL;
        t->method = q->method;
        t->settings = *s;
        t->settings.ca_file = NULL;
        t->at_most_once = q->at_most_once;
        if (q->at_most_once)
                t->settings.retries = 0;
        if ((s->ca_file && !(t->settings.ca_file = strdup(s->ca_file))) || !(t->url = strdup(q->url)))
                return -ENOMEM;

        for (const char *const *h = q->headers; h && *h; h++, n++)
                if (!strchr(*h, ':') || strpbrk(*h, "\r\n"))
                        return -EINVAL; /* no header smuggling */
        if (n > 0 && !(t->headers = calloc(n + 1, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(t->headers[i] = strdup(q->headers[i])))
                        return -ENOMEM;

        switch (q->auth.type) {
        case HTTP_AUTH_NONE:
                break;
        case HTTP_AUTH_BEARER:
                if (!q->auth.token || strpbrk(q->auth.token, "\r\n") ||
                    (q->auth.scheme && strpbrk(q->auth.scheme, "\r\n: ")))
                        return -EINVAL;
                if (asprintf(&t->auth_header, "Authorization: %s %s", q->auth.scheme ?: "Bearer",
                             q->auth.token) < 0)
                        return -ENOMEM;
                break;
        case HTTP_AUTH_AWS_SIGV4:
                /* "provider1[:provider2[:region[:service]]]", as libcurl parses it */
                if (!q->auth.aws_sigv4 || q->auth.aws_sigv4[0] == '\0' ||
                    strspn(q->auth.aws_sigv4,
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.") !=
                            strlen(q->auth.aws_sigv4))
                        return -EINVAL;
                if (!(t->aws_sigv4 = strdup(q->auth.aws_sigv4)))
                        return -ENOMEM;
                _fallthrough_;
        case HTTP_AUTH_BASIC:
                if (!q->auth.user || !q->auth.password)
                        return -EINVAL;
                if (!(t->user = strdup(q->auth.user)) || !(t->password = strdup(q->auth.password)))
                        return -ENOMEM;
                break;
        default:
                return -EINVAL;
        }

        if (q->json) {
                if (!(t->body = cJSON_PrintUnformatted(q->json)))
                        return -ENOMEM;
                t->body_size = strlen(t->body);
                t->has_body = true;
        } else if (q->body) {
                if (!(t->body = malloc(MAX(q->body_size, (size_t) 1))))
                        return -ENOMEM;
                if (q->body_size >= PREFAULT_MIN)
                        prefault(t->body, 0, q->body_size);
                memcpy(t->body, q->body, q->body_size);
                t->body_size = q->body_size;
                t->has_body = true;
        }
        if (q->content_type && strpbrk(q->content_type, "\r\n"))
                return -EINVAL;
        if (q->content_type && !(t->content_type = strdup(q->content_type)))
                return -ENOMEM;
        t->cookies = http_cookie_jar_ref(q->cookies);
        return 0;
}

/* Starts every delayed transfer that is due, then waits for the next. */
static int on_delay_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        HttpClient *c = userdata;
        uint64_t now = now_monotonic_usec();
        PrioqItem *top;
        (void) s, (void) usec;

        while ((top = prioq_peek(&c->delayed)) && top->key <= now) {
                HttpTransfer *t = prioq_entry(prioq_pop(&c->delayed), HttpTransfer, delay);
                int r = attempt_start(t);
                if (r < 0)
                        transfer_end(t, HTTP_FAIL, 0, r, "cannot start the request: out of memory");
        }
        if (top) { /* neither can fail on a source of ours: no allocation, valid arguments */
                (void) sd_event_source_set_time(c->delay_timer, top->key);
                (void) sd_event_source_set_enabled(c->delay_timer, SD_EVENT_ONESHOT);
        }
        return 0;
}

/* Puts the transfer in line to start at `when`, waking the loop for it if it is the first. */
static int transfer_delay(HttpTransfer *t, uint64_t when) {
        HttpClient *c = t->client;
        int r;

        t->delay.key = when;
        if ((r = prioq_push(&c->delayed, &t->delay)) < 0)
                return r;
        if (prioq_peek(&c->delayed) != &t->delay)
                return 0; /* the timer wakes for an earlier one, and then for the next */
        if (!c->delay_timer)
                r = sd_event_add_time(c->event, &c->delay_timer, CLOCK_MONOTONIC, when, DELAYED_SLACK_USEC,
                                      on_delay_timer, c);
        else if ((r = sd_event_source_set_time(c->delay_timer, when)) >= 0)
                r = sd_event_source_set_enabled(c->delay_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                prioq_remove(&c->delayed, &t->delay);
        return r;
}

int http_submit(HttpClient *c, const HttpRequest *request, HttpDone done, void *userdata,
                HttpTransfer **ret_transfer) {
        HttpTransfer *t;
        int r;

        if (!c || !request || !done)
                return -EINVAL;
        if (!(t = calloc(1, sizeof *t)))
                return -ENOMEM;
        *t = (HttpTransfer){
                .client = c,
                .done = done,
                .userdata = userdata,
                .owned_by_client = !ret_transfer,
                .state = TRANSFER_WAITING,
                .attempt = 1,
                .delay.idx = PRIOQ_IDX_NULL,
        };
        LIST_PREPEND(c->transfers, t);
        c->n_active++;

        r = transfer_copy_request(t, request, request->settings ?: &c->settings);
        if (r >= 0)
                r = request->not_before_usec > now_monotonic_usec() ? transfer_delay(t, request->not_before_usec)
                                                                    : attempt_start(t);
        if (r < 0) {
                http_transfer_free(t);
                return r;
        }
        if (ret_transfer)
                *ret_transfer = t;
        return 0;
}

const char *http_reply_header(const HttpReply *reply, const char *name) {
        return reply && reply->transfer && name ? easy_header(reply->transfer->easy, name) : NULL;
}

char *http_reply_take_body(const HttpReply *reply) {
        HttpTransfer *t = reply && reply->transfer ? reply->transfer : NULL;
        char *body = t ? t->reply : NULL;
        if (!body || body != reply->body)
                return NULL;
        t->reply = NULL;
        t->reply_size = t->reply_alloc = t->reply_faulted = 0;
        return body;
}

int http_reply_json(const HttpReply *reply, cJSON **ret_json) {
        cJSON *j = cJSON_ParseWithLength(reply->body, reply->body_size);
        if (!j)
                return -EBADMSG;
        *ret_json = j;
        return 0;
}

/* ---------------------------------------------------------------- the client */

static int settings_copy(HttpSettings *to, const HttpSettings *from) {
        char *ca_file = NULL;
        if (from->ca_file && !(ca_file = strdup(from->ca_file)))
                return -ENOMEM;
        free(to->ca_file);
        *to = *from;
        to->ca_file = ca_file;
        return 0;
}

int http_client_set_settings(HttpClient *c, const HttpSettings *settings) {
        long per_host = (long) settings->max_connections_per_host;
        int r = settings_copy(&c->settings, settings);
        if (r < 0)
                return r;
        /* Idle connections kept for reuse: curl's default, four per transfer in the multi handle, shrinks
         * to nothing whenever a burst of requests ends, and the next burst reconnects. A few hosts' worth
         * (the service, the storage its signed URLs point to) stay open instead. */
        if (curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, MAX(per_host, 1L) * 4) != CURLM_OK)
                return -EINVAL;
        return 0;
}

int http_client_new(sd_event *event, const HttpSettings *settings, HttpClient **ret_client) {
        _cleanup_(http_client_freep) HttpClient *c = NULL;
        CURLMcode k = CURLM_OK;
        int r;

        if (!event || !settings || !ret_client)
                return -EINVAL;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        if (!(c = calloc(1, sizeof *c))) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        c->epoll_fd = -1;
        c->event = sd_event_ref(event);
        if ((c->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
                return -errno;
        if ((r = sd_event_add_io(event, &c->epoll_source, c->epoll_fd, EPOLLIN, on_sockets_ready, c)) < 0)
                return r;
        if (!(c->multi = curl_multi_init()))
                return -ENOMEM;
        k = curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
        if (k == CURLM_OK)
                k = curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        if (k == CURLM_OK)
                k = curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        if (k == CURLM_OK)
                k = curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
        if (k != CURLM_OK)
                return -ENOMEM;
        if ((r = http_client_set_settings(c, settings)) < 0)
                return r;
        *ret_client = TAKE_PTR(c);
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;
        while (c->transfers) {
                HttpTransfer *t = c->transfers;
                if (t->owned_by_client) {
                        http_transfer_free(t);
                        continue;
                }
                /* the caller still holds it: make it inert */
                hop_free(t);
                prioq_remove(&c->delayed, &t->delay);
                t->retry_timer = sd_event_source_disable_unref(t->retry_timer);
                LIST_REMOVE(c->transfers, t);
                t->client = NULL;
                t->state = TRANSFER_ENDED;
        }
        while (c->n_spare > 0)
                curl_easy_cleanup(c->spare[--c->n_spare]);
        if (c->multi)
                (void) curl_multi_cleanup(c->multi); /* closes the pooled connections */
        sd_event_source_disable_unref(c->epoll_source);
        if (c->epoll_fd >= 0)
                close(c->epoll_fd);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->soon);
        sd_event_source_disable_unref(c->delay_timer);
        prioq_done(&c->delayed);
        sd_event_unref(c->event);
        free(c->settings.ca_file);
        free(c);
        curl_global_cleanup();
        return NULL;
}

const HttpSettings *http_client_settings(const HttpClient *c) {
        return &c->settings;
}

size_t http_client_transfers(const HttpClient *c) {
        return c ? c->n_active : 0;
}

/* ---------------------------------------------------------------- cookies */

int http_cookie_jar_new(HttpCookieJar **ret_jar) {
        HttpCookieJar *jar;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        if (!(jar = calloc(1, sizeof *jar)) || !(jar->share = curl_share_init()) ||
            curl_share_setopt(jar->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK) {
                if (jar)
                        curl_share_cleanup(jar->share);
                free(jar);
                curl_global_cleanup();
                return -ENOMEM;
        }
        jar->n_ref = 1;
        *ret_jar = jar;
        return 0;
}

HttpCookieJar *http_cookie_jar_ref(HttpCookieJar *jar) {
        if (jar)
                jar->n_ref++;
        return jar;
}

HttpCookieJar *http_cookie_jar_unref(HttpCookieJar *jar) {
        if (!jar || --jar->n_ref > 0)
                return NULL;
        /* every transfer holding a reference let go of its handle first, so the share is not in use */
        curl_share_cleanup(jar->share);
        free(jar);
        curl_global_cleanup();
        return NULL;
}
