/* SPDX-License-Identifier: MIT */
/*
 * The control socket's transport: the listening socket, connections, their
 * bounded buffers and timers, peer credentials, and the streaming of a run's
 * events to `udfcronctl run --wait`. What requests do is control-commands.c.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "control-commands.h"
#include "fileio.h"
#include "unix-socket.h"

/* Connections at once; the next one is told `busy` and closed. */
#define CONNECTIONS_MAX 64
/* Event lines held for a client that reads them slower than a run writes: beyond, output lines are dropped.
 */
#define STREAM_HELD_MAX (1024 * 1024)
/* Connections accepted per wake-up, so that a flood of them does not hold the loop. */
#define ACCEPT_BATCH   16
#define LISTEN_BACKLOG 128

typedef struct Connection Connection;

struct Control {
        Manager *manager;
        sd_event_source *listener;
        char *path;
        dev_t dev; /* the socket file made here, removed at the end only if it still is that one */
        ino_t ino;
        Connection *connections;
        unsigned n_connections;
};

struct Connection {
        Control *control;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;  /* control_timeout: a request arriving too slowly, or output not read */
        sd_event_source *resume; /* requests that came in while a run was followed */
        struct ucred peer;
        char *in; /* received, not yet handled: at most CONTROL_REQUEST_MAX bytes */
        size_t in_size, in_allocated;
        char *out; /* to send: out[out_sent..out_size) */
        size_t out_size, out_sent, out_allocated;
        bool eof;     /* the client has sent all it will */
        bool closing; /* close once the output is out */
        Run *followed;
        RunWatch watch;
        uint64_t dropped; /* output lines not sent to a slow reader since the last event that was */
        Connection *prev, *next;
};

static Journal *journal_of(const Connection *c) {
        return c->control->manager->journal;
}

static const DaemonSettings *settings_of(const Connection *c) {
        return &c->control->manager->config->settings;
}

/* ------------------------------------------------------------------ lifetime of a connection */

static Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        if (c->followed)
                run_unwatch(c->followed, &c->watch);
        Control *ctl = c->control;
        if (c->prev)
                c->prev->next = c->next;
        else
                ctl->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        ctl->n_connections--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->resume);
        if (c->fd >= 0)
                close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
        return NULL;
}

/*
 * The timer runs while the connection waits for a request, or for the client
 * to read a reply; not while it follows a run: what a follower does not read
 * is bounded (STREAM_HELD_MAX), and `udfcronctl run --wait | less` may pause.
 */
static void connection_update_timer(Connection *c) {
        if (c->followed) {
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(c->timer, settings_of(c)->control_timeout_usec);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* Whether the connection has nothing left to do; then it is freed. Call only where c is not used after. */
static bool connection_finish_if_done(Connection *c) {
        bool drained = c->out_sent == c->out_size;
        if (!drained || c->followed)
                return false;
        if (!c->closing && !(c->eof && c->in_size == 0))
                return false;
        connection_free(c);
        return true;
}

/* ------------------------------------------------------------------ output */

/* Reads while there is room for a request and the client may send one; writes while output waits. */
static void connection_update_events(Connection *c) {
        bool room = c->in_size <= CONTROL_REQUEST_MAX;
        (void) sd_event_source_set_io_events(c->io, (!c->eof && room ? EPOLLIN : 0) |
                                                            (c->out_sent < c->out_size ? EPOLLOUT : 0));
}

/* Sends what it can now; the rest goes when the socket is writable. Errors close the connection later. */
static void connection_flush(Connection *c) {
        size_t before = c->out_sent;
        while (c->out_sent < c->out_size) {
                ssize_t n = send(c->fd, c->out + c->out_sent, c->out_size - c->out_sent,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) { /* the client is gone: nothing more will reach it */
                        c->out_sent = c->out_size;
                        c->closing = true;
                        if (c->followed) {
                                run_unwatch(c->followed, &c->watch);
                                c->followed = NULL;
                        }
                        break;
                }
                c->out_sent += (size_t) n;
        }
        if (c->out_sent == c->out_size)
                c->out_sent = c->out_size = 0;
        connection_update_events(c);
        if (c->out_sent != before || c->out_size == 0)
                connection_update_timer(c);
}

/* Queues one message and its newline; the writer is consumed. */
static void connection_send(Connection *c, JsonWriter *w) {
        json_end_line(w);
        char *data;
        size_t size;
        if (json_writer_steal(w, &data, &size) < 0) {
                journal_log(journal_of(c), LOG_ERR, "control: out of memory writing a reply; closing");
                c->closing = true;
                return;
        }
        /* the usual case: the reply becomes the buffer, so a large list is not copied */
        if (c->out_size == 0) {
                free(c->out);
                c->out = data;
                c->out_allocated = size + 1;
                c->out_size = size;
                c->out_sent = 0;
        } else {
                if (c->out_allocated - c->out_size < size) {
                        size_t want = MAX(c->out_allocated * 2, c->out_size + size);
                        char *o = realloc(c->out, want);
                        if (!o) {
                                free(data);
                                journal_log(journal_of(c), LOG_ERR, "control: out of memory; closing");
                                c->closing = true;
                                return;
                        }
                        c->out = o;
                        c->out_allocated = want;
                }
                memcpy(c->out + c->out_size, data, size);
                c->out_size += size;
                free(data);
        }
        connection_flush(c);
}

_printf_(3, 4) static void connection_send_error(Connection *c, ControlError code, const char *format, ...) {
        JsonWriter w = {};
        char message[256];
        va_list ap;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        control_reply_error(&w, code, "%s", message);
        connection_send(c, &w);
}

/* ------------------------------------------------------------------ following a run */

static void on_run_news(RunWatch *watch, const Run *run, const RunNews *news) {
        Connection *c = (Connection *) ((char *) watch - offsetof(Connection, watch));
        bool held_full = c->out_size - c->out_sent > STREAM_HELD_MAX;
        JsonWriter w = {};

        if (news->kind == RUN_NEWS_OUTPUT && held_full) {
                c->dropped++;
                return;
        }
        if (c->dropped > 0) {
                control_write_dropped(&w, c->dropped);
                json_end_line(&w);
                c->dropped = 0;
        }
        control_write_news(&w, run, news);
        bool end = news->kind == RUN_NEWS_END;
        if (end) {
                c->followed = NULL; /* already detached */
                if (c->in_size > 0) /* requests sent meanwhile: handled once the run's end is through */
                        (void) sd_event_source_set_enabled(c->resume, SD_EVENT_ONESHOT);
        }
        connection_send(c, &w);
        if (end)
                connection_update_timer(c);
        (void) connection_finish_if_done(c);
}

/* ------------------------------------------------------------------ requests */

/* Root, the daemon's own user, and control_group's members may change things; anyone may look. */
static bool peer_may_change(const Connection *c) {
        const DaemonSettings *set = settings_of(c);
        if (c->peer.uid == 0 || c->peer.uid == geteuid())
                return true;
        if (!set->control_group)
                return false;
        if (c->peer.gid == set->control_gid)
                return true;
        /* the supplementary groups the client had when it connected, as the kernel saw them */
        gid_t groups[256];
        socklen_t size = sizeof groups;
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &size) < 0)
                return false; /* more than 256 groups, or an old kernel: the primary group decided */
        for (size_t i = 0; i < size / sizeof(gid_t); i++)
                if (groups[i] == set->control_gid)
                        return true;
        return false;
}

static void handle_request(Connection *c, const char *line, size_t size) {
        _cleanup_free_ char *error = NULL;
        ControlRequest req;
        JsonWriter w = {};

        int r = control_request_parse(line, size, &req, &error);
        if (r < 0) {
                connection_send_error(c, CONTROL_ERROR_BAD_REQUEST, "%s", error ?: "out of memory");
                return;
        }
        const char *command = control_command_to_string(req.command);
        if (control_command_changes(req.command)) {
                if (!peer_may_change(c)) {
                        journal_log(journal_of(c), LOG_NOTICE, "control: refused %s for uid %u (pid %d)",
                                    command, c->peer.uid, c->peer.pid);
                        if (settings_of(c)->control_group)
                                connection_send_error(c, CONTROL_ERROR_PERMISSION_DENIED,
                                                      "%s needs root or membership of group '%s'", command,
                                                      settings_of(c)->control_group);
                        else
                                connection_send_error(c, CONTROL_ERROR_PERMISSION_DENIED, "%s needs root",
                                                      command);
                        control_request_done(&req);
                        return;
                }
                journal_log(journal_of(c), LOG_INFO, "control: %s%s%s%s%s requested by uid %u (pid %d)",
                            command, req.schedule ? " " : "", req.schedule ?: "", req.run_id ? " " : "",
                            req.run_id ?: "", c->peer.uid, c->peer.pid);
        }

        ControlCall call = {
                .manager = c->control->manager,
                .request = &req,
                .uid = c->peer.uid,
                .pid = c->peer.pid,
                .reply = &w,
        };
        control_call(&call);
        connection_send(c, &w);
        if (call.follow && !c->closing) {
                c->followed = call.follow;
                c->watch = (RunWatch){ .notify = on_run_news };
                run_watch(c->followed, &c->watch);
                connection_update_timer(c);
        }
        control_request_done(&req);
}

static bool blank(const char *s, size_t size) {
        for (size_t i = 0; i < size; i++)
                if (!strchr(" \t\r\n", s[i]) || s[i] == '\0')
                        return false;
        return true;
}

/* Handles the complete lines received, one at a time; none while a run is followed. */
static void connection_process(Connection *c) {
        while (!c->followed && !c->closing && c->in_size > 0) {
                char *newline = memchr(c->in, '\n', c->in_size);
                size_t size = newline ? (size_t) (newline - c->in) + 1 : c->in_size;
                if (!newline && !c->eof) {
                        if (c->in_size >= CONTROL_REQUEST_MAX) {
                                connection_send_error(c, CONTROL_ERROR_TOO_LARGE,
                                                      "a request is at most %d bytes, newline included",
                                                      CONTROL_REQUEST_MAX);
                                c->closing = true;
                        }
                        return;
                }
                if (size > CONTROL_REQUEST_MAX) {
                        connection_send_error(c, CONTROL_ERROR_TOO_LARGE,
                                              "a request is at most %d bytes, newline included",
                                              CONTROL_REQUEST_MAX);
                        c->closing = true;
                        return;
                }
                if (!blank(c->in, size))
                        handle_request(c, c->in, size);
                memmove(c->in, c->in + size, c->in_size - size);
                c->in_size -= size;
        }
        connection_update_events(c);
        if (c->in_size == 0)
                connection_update_timer(c);
}

/* Reads what is there, up to the request limit (and one byte beyond, to tell an overlong line). */
static void connection_read(Connection *c) {
        for (;;) {
                if (c->in_size > CONTROL_REQUEST_MAX) { /* full: reading waits until requests are handled */
                        connection_update_events(c);
                        return;
                }
                if (c->in_allocated - c->in_size < 4096 && c->in_allocated <= CONTROL_REQUEST_MAX) {
                        size_t want = MAX(c->in_allocated * 2, (size_t) 4096);
                        want = MIN(want, (size_t) CONTROL_REQUEST_MAX + 1);
                        char *in = realloc(c->in, want + 1);
                        if (!in) {
                                c->closing = true;
                                return;
                        }
                        c->in = in;
                        c->in_allocated = want;
                }
                ssize_t n = recv(c->fd, c->in + c->in_size, c->in_allocated - c->in_size, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) { /* the end of the requests (or an error, which ends them too) */
                        c->eof = true;
                        connection_update_events(c);
                        return;
                }
                c->in_size += (size_t) n;
                c->in[c->in_size] = '\0';
                if (!c->followed)
                        connection_update_timer(c);
        }
}

static int on_connection_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        (void) s, (void) fd;

        if (revents & (EPOLLHUP | EPOLLERR)) { /* gone both ways: nothing can reach it any more */
                connection_free(c);
                return 0;
        }
        if (revents & EPOLLOUT)
                connection_flush(c);
        if ((revents & EPOLLIN) && !c->eof)
                connection_read(c);
        connection_process(c);
        (void) connection_finish_if_done(c);
        return 0;
}

static int on_connection_resume(sd_event_source *s, void *userdata) {
        Connection *c = userdata;
        (void) s;
        connection_process(c);
        (void) connection_finish_if_done(c);
        return 0;
}

static int on_connection_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        (void) s, (void) usec;

        if (c->out_sent < c->out_size) { /* the client does not read its reply */
                connection_free(c);
                return 0;
        }
        if (c->in_size > 0)
                connection_send_error(c, CONTROL_ERROR_TIMEOUT,
                                      "the request did not arrive whole within %.0fs",
                                      (double) settings_of(c)->control_timeout_usec / 1e6);
        c->closing = true;
        if (!connection_finish_if_done(c)) /* a reply still on its way gets the time to go out */
                connection_update_timer(c);
        return 0;
}

/* ------------------------------------------------------------------ accepting */

static void refuse_busy(int fd) {
        static const char busy[] = "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"too many "
                                   "connections to udfcrond; try again\"}}\n";
        /* a fresh socket's buffer is empty: this short write does not block */
        (void) send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        close(fd);
}

static int connection_new(Control *ctl, int fd) {
        sd_event *event = ctl->manager->event;
        Connection *c = calloc(1, sizeof *c);
        socklen_t size = sizeof c->peer;
        int r;

        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        *c = (Connection){ .control = ctl, .fd = fd, .next = ctl->connections };
        if (ctl->connections)
                ctl->connections->prev = c;
        ctl->connections = c;
        ctl->n_connections++;

        r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &size) < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_add_io(ctl->manager->event, &c->io, fd, EPOLLIN, on_connection_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC,
                                               settings_of(c)->control_timeout_usec, 0,
                                               on_connection_timeout, c);
        if (r >= 0)
                r = sd_event_add_defer(event, &c->resume, on_connection_resume, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->resume, SD_EVENT_OFF);
        if (r < 0)
                connection_free(c);
        return r;
}

static int on_listener(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *ctl = userdata;
        (void) s, (void) revents;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                journal_log(ctl->manager->journal, LOG_WARNING,
                                            "control: cannot accept a connection: %s", strerror(errno));
                        return 0;
                }
                if (ctl->n_connections >= CONNECTIONS_MAX) {
                        refuse_busy(cfd);
                        continue;
                }
                int r = connection_new(ctl, cfd);
                if (r < 0)
                        journal_log(ctl->manager->journal, LOG_WARNING,
                                    "control: cannot serve a connection: %s", strerror(-r));
        }
        return 0;
}

/* ------------------------------------------------------------------ the socket */

/* A socket file left by a daemon that died goes; a live daemon's, or any other file, stays. */
static int remove_stale_socket(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        int fd = unix_socket_connect(path, true);
        if (fd >= 0 || fd == -EAGAIN) {
                if (fd >= 0)
                        close(fd);
                return -EADDRINUSE;
        }
        if (fd != -ECONNREFUSED)
                return fd;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/*
 * Bound with every permission masked, so that nobody can connect before the
 * socket has its group and mode.
 */
static int listen_on(const DaemonSettings *set, struct stat *ret_st) {
        struct sockaddr_un a;
        socklen_t size;
        _cleanup_close_ int dirfd = -1;
        int r = unix_socket_address(set->control_socket, &a, &size, &dirfd);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        mode_t saved = umask(0777);
        r = bind(fd, (const struct sockaddr *) &a, size) < 0 ? -errno : 0;
        umask(saved);
        if (r < 0)
                return r;
        if ((set->control_group && chown(set->control_socket, (uid_t) -1, set->control_gid) < 0) ||
            chmod(set->control_socket, set->control_socket_mode) < 0 ||
            stat(set->control_socket, ret_st) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
                r = -errno;
                (void) unlink(set->control_socket);
                return r;
        }
        return TAKE_FD(fd);
}

int control_new(Manager *manager, Control **ret_control) {
        const DaemonSettings *set = &manager->config->settings;
        const char *path = set->control_socket;
        struct stat st;
        int r;

        _cleanup_(control_freep) Control *ctl = calloc(1, sizeof *ctl);
        if (!ctl || !(ctl->path = strdup(path)))
                return -ENOMEM;
        ctl->manager = manager;

        _cleanup_free_ char *dir = strndup(path, (size_t) (strrchr(path, '/') - path));
        if (!dir)
                return -ENOMEM;
        r = *dir ? mkdir_p(dir, 0755) : 0;
        if (r >= 0)
                r = remove_stale_socket(path);
        if (r == -EADDRINUSE)
                journal_log(manager->journal, LOG_ERR, "control socket %s: another udfcrond listens there",
                            path);
        else if (r == -EEXIST)
                journal_log(manager->journal, LOG_ERR, "control socket %s: exists and is not a socket",
                            path);
        else if (r < 0)
                journal_log(manager->journal, LOG_ERR, "control socket %s: %s", path, strerror(-r));
        if (r < 0)
                return r;

        int fd = listen_on(set, &st);
        if (fd < 0) {
                journal_log(manager->journal, LOG_ERR, "cannot listen on the control socket %s: %s", path,
                            strerror(-fd));
                return fd;
        }
        ctl->dev = st.st_dev;
        ctl->ino = st.st_ino;
        r = sd_event_add_io(manager->event, &ctl->listener, fd, EPOLLIN, on_listener, ctl);
        if (r < 0) {
                close(fd);
                journal_log(manager->journal, LOG_ERR, "cannot watch the control socket: %s", strerror(-r));
                return r;
        }
        (void) sd_event_source_set_io_fd_own(ctl->listener, true);
        *ret_control = TAKE_PTR(ctl);
        return 0;
}

Control *control_free(Control *ctl) {
        struct stat st;
        if (!ctl)
                return NULL;
        while (ctl->connections)
                connection_free(ctl->connections);
        if (ctl->listener) {
                sd_event_source_disable_unref(ctl->listener);
                /* a newer daemon may have replaced it already: leave that one alone */
                if (lstat(ctl->path, &st) >= 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
                        (void) unlink(ctl->path);
        }
        free(ctl->path);
        free(ctl);
        return NULL;
}
