/* SPDX-License-Identifier: MIT */
#include "ctl-client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-util.h"
#include "udfcronctl.h"
#include "unix-socket.h"

/* A reply larger than this is no reply of udfcrond's (100,000 schedules list in about 30 MB). */
#define MESSAGE_MAX  (512 * 1024 * 1024)
#define USEC_PER_SEC UINT64_C(1000000)

const char *ctl_socket_path = CONTROL_SOCKET_DEFAULT;

void ctl_connection_done(CtlConnection *c) {
        if (c->fd >= 0)
                close(c->fd);
        free(c->buffer);
        free(c->line);
        *c = (CtlConnection){ .fd = -1 };
}

static int send_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

int ctl_open(const char *verb, const ControlRequest *request, CtlConnection *ret) {
        _cleanup_free_ char *line = NULL, *error = NULL;
        size_t size;
        int r = control_request_format(request, &line, &size, &error);
        if (r < 0) {
                fprintf(stderr, "udfcronctl %s: %s\n", verb, error ?: "out of memory");
                return r == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
        }

        int fd = unix_socket_connect(ctl_socket_path, false);
        if (fd == -ENOENT || fd == -ECONNREFUSED) {
                fprintf(stderr, "udfcronctl %s: udfcrond is not running (%s %s)\n", verb,
                        fd == -ENOENT ? "no socket at" : "nothing listens on", ctl_socket_path);
                return EXIT_NOT_RUNNING;
        }
        if (fd < 0) {
                fprintf(stderr, "udfcronctl %s: cannot connect to %s: %s\n", verb, ctl_socket_path,
                        strerror(-fd));
                return EXIT_FAILED;
        }
        *ret = (CtlConnection){ .fd = fd };
        r = send_all(fd, line, size);
        if (r < 0) {
                fprintf(stderr, "udfcronctl %s: cannot send the request: %s\n", verb, strerror(-r));
                ctl_connection_done(ret);
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

/* Waits for the next line; 0 and its length (newline included), or -errno / -ETIMEDOUT / -EPIPE (EOF). */
static int read_line(CtlConnection *c, int timeout_ms, size_t *ret_size) {
        size_t scanned = 0;
        for (;;) {
                char *newline =
                        c->size > scanned ? memchr(c->buffer + scanned, '\n', c->size - scanned) : NULL;
                if (newline) {
                        *ret_size = (size_t) (newline - c->buffer) + 1;
                        return 0;
                }
                scanned = c->size;
                if (c->size >= MESSAGE_MAX)
                        return -EMSGSIZE;
                if (c->allocated - c->size < 65536) {
                        size_t want = MAX(c->allocated * 2, (size_t) 131072);
                        char *b = realloc(c->buffer, want);
                        if (!b)
                                return -ENOMEM;
                        c->buffer = b;
                        c->allocated = want;
                }
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int k = poll(&p, 1, timeout_ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ETIMEDOUT;
                ssize_t n = recv(c->fd, c->buffer + c->size, c->allocated - c->size, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EPIPE;
                c->size += (size_t) n;
        }
}

int ctl_receive(const char *verb, CtlConnection *c, int timeout_ms, ControlMessage *ret) {
        _cleanup_free_ char *error = NULL;
        size_t size = 0;
        int r = read_line(c, timeout_ms, &size);
        if (r == -EPIPE)
                fprintf(stderr, "udfcronctl %s: udfcrond closed the connection%s\n", verb,
                        c->size > 0 ? " in the middle of a reply" : "");
        else if (r == -ETIMEDOUT)
                fprintf(stderr, "udfcronctl %s: no reply from udfcrond within %ds\n", verb,
                        timeout_ms / 1000);
        else if (r < 0)
                fprintf(stderr, "udfcronctl %s: cannot read the reply: %s\n", verb, strerror(-r));
        if (r < 0)
                return EXIT_FAILED;

        free(c->line);
        if (!(c->line = malloc(size + 1))) {
                fprintf(stderr, "udfcronctl %s: out of memory\n", verb);
                return EXIT_FAILED;
        }
        memcpy(c->line, c->buffer, size);
        c->line[size] = '\0';
        memmove(c->buffer, c->buffer + size, c->size - size);
        c->size -= size;

        r = control_message_parse(c->line, size, ret, &error);
        if (r < 0) {
                fprintf(stderr, "udfcronctl %s: not a reply of udfcrond's: %s\n", verb,
                        error ?: "out of memory");
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

int ctl_print_failure(const char *verb, const ControlMessage *reply) {
        const cJSON *e, *errors = cJSON_GetObjectItemCaseSensitive(reply->root, "errors");
        /* reload: the configuration's errors, each "file:line: message", as udfcronctl check prints them */
        cJSON_ArrayForEach(e, errors) {
                if (cJSON_IsString(e))
                        fprintf(stderr, "%s\n", e->valuestring);
        }
        fprintf(stderr, "udfcronctl %s: %s\n", verb, reply->error_message);
        return EXIT_FAILED;
}

int ctl_call(const char *verb, const ControlRequest *request, ControlMessage *ret_reply, char **ret_raw) {
        /* a reload of 100,000 schedules takes about a second; a minute means the daemon is stuck */
        static const int timeout_ms = 60 * 1000;
        CtlConnection c = { .fd = -1 };
        ControlMessage reply;

        int r = ctl_open(verb, request, &c);
        if (r == EXIT_OK)
                r = ctl_receive(verb, &c, timeout_ms, &reply);
        if (r == EXIT_OK && reply.is_event) {
                fprintf(stderr, "udfcronctl %s: udfcrond sent an event instead of a reply\n", verb);
                control_message_done(&reply);
                r = EXIT_FAILED;
        }
        if (r == EXIT_OK && !reply.ok) {
                r = ctl_print_failure(verb, &reply);
                control_message_done(&reply);
        }
        if (r == EXIT_OK) {
                *ret_reply = reply;
                if (ret_raw)
                        *ret_raw = TAKE_PTR(c.line);
        }
        ctl_connection_done(&c);
        return r;
}

/* ------------------------------------------------------------------ formatting */

bool ctl_colors(FILE *f) {
        const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
        if (no_color && *no_color)
                return false;
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return isatty(fileno(f));
}

const char *ctl_word_color(const char *word) {
        static const struct {
                const char *word, *color;
        } colors[] = {
                { "succeeded", CTL_GREEN },  { "enabled", CTL_GREEN }, { "running", CTL_GREEN },
                { "failed", CTL_RED },       { "timed_out", CTL_RED }, { "lost", CTL_RED },
                { "cancelled", CTL_YELLOW }, { "paused", CTL_YELLOW }, { "retry_wait", CTL_YELLOW },
                { "disabled", CTL_GREY },    { "waiting", CTL_GREY },
        };
        for (size_t i = 0; word && i < ELEMENTSOF(colors); i++)
                if (strcmp(word, colors[i].word) == 0)
                        return colors[i].color;
        return "";
}

/* The two largest non-zero units of a duration in seconds: "3h 12m", "2d 5h", "45s". */
static char *two_units(uint64_t sec, char *buf, size_t size) {
        static const struct {
                uint64_t seconds;
                char unit;
        } units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
        size_t i = 0;
        while (i < ELEMENTSOF(units) - 1 && sec < units[i].seconds)
                i++;
        uint64_t big = sec / units[i].seconds, rest = sec % units[i].seconds;
        if (i + 1 < ELEMENTSOF(units) && rest / units[i + 1].seconds > 0)
                snprintf(buf, size, "%" PRIu64 "%c %" PRIu64 "%c", big, units[i].unit,
                         rest / units[i + 1].seconds, units[i + 1].unit);
        else
                snprintf(buf, size, "%" PRIu64 "%c", big, units[i].unit);
        return buf;
}

char *ctl_relative(uint64_t now_usec, uint64_t t_usec, char *buf, size_t size) {
        char span[32];
        /* whole seconds, rounded up for the future, so that a fire 0.4s away is "in 1s", not "now" */
        if (t_usec > now_usec) {
                uint64_t ahead = (t_usec - now_usec + USEC_PER_SEC - 1) / USEC_PER_SEC;
                snprintf(buf, size, "in %s", two_units(ahead, span, sizeof span));
                return buf;
        }
        uint64_t ago = (now_usec - t_usec) / USEC_PER_SEC;
        if (ago == 0)
                snprintf(buf, size, "now");
        else
                snprintf(buf, size, "%s ago", two_units(ago, span, sizeof span));
        return buf;
}

char *ctl_duration(uint64_t usec, char *buf, size_t size) {
        if (usec < 60 * USEC_PER_SEC && usec % USEC_PER_SEC != 0)
                snprintf(buf, size, "%.3gs", (double) usec / 1e6);
        else
                two_units(usec / USEC_PER_SEC, buf, size);
        return buf;
}

int ctl_parse_simple(int argc, char **argv, void (*help)(FILE *), bool *json, int min_args, int max_args,
                     char **ret_args) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case 'j':
                        if (json) {
                                *json = true;
                                break;
                        }
                        __attribute__((fallthrough));
                default:
                        help(stderr);
                        return EXIT_USAGE;
                }
        int n = argc - optind;
        if (n < min_args || n > max_args) {
                if (n < min_args)
                        fprintf(stderr, "udfcronctl %s: missing argument; see 'udfcronctl %s --help'\n",
                                argv[0], argv[0]);
                else
                        fprintf(stderr, "udfcronctl %s: unexpected argument '%s'\n", argv[0],
                                argv[optind + max_args]);
                return EXIT_USAGE;
        }
        for (int i = 0; i < max_args; i++)
                ret_args[i] = i < n ? argv[optind + i] : NULL;
        return CTL_PROCEED;
}
