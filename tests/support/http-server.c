/* SPDX-License-Identifier: MIT */
#include "http-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST_MAX (16 * 1024 * 1024)

struct TestHttpServer {
        int listen_fd, stop_fd;
        uint16_t port;
        TestHttpHandler handler;
        void *userdata;
        pthread_t acceptor;
        pthread_mutex_t lock;
        pthread_cond_t gone; /* signalled when a connection thread ends */
        unsigned live;       /* connection threads running */
        int *fds;            /* their sockets, to shut down on stop */
        size_t n_fds, alloc_fds;
        atomic_uint accepted;
};

typedef struct Connection {
        TestHttpServer *server;
        int fd;
        unsigned number;
} Connection;

static void forget_fd(TestHttpServer *s, int fd) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_fds; i++)
                if (s->fds[i] == fd) {
                        s->fds[i] = s->fds[--s->n_fds];
                        break;
                }
        pthread_mutex_unlock(&s->lock);
}

/* Parses the head in buf (ending at "\r\n\r\n") into r; the Content-Length, or -1 for a bad head. */
static long parse_head(const char *buf, size_t head_len, TestHttpRequest *r) {
        const char *line_end = memchr(buf, '\r', head_len), *sp1, *sp2;
        char value[32];
        size_t n;

        if (!line_end || !(sp1 = memchr(buf, ' ', (size_t) (line_end - buf))) ||
            !(sp2 = memchr(sp1 + 1, ' ', (size_t) (line_end - sp1 - 1))))
                return -1;
        n = (size_t) (sp1 - buf);
        if (n >= sizeof r->method || (size_t) (sp2 - sp1 - 1) >= sizeof r->target)
                return -1;
        memcpy(r->method, buf, n);
        r->method[n] = '\0';
        memcpy(r->target, sp1 + 1, (size_t) (sp2 - sp1 - 1));
        r->target[sp2 - sp1 - 1] = '\0';
        n = head_len - (size_t) (line_end + 2 - buf);
        if (n >= sizeof r->headers)
                return -1;
        memcpy(r->headers, line_end + 2, n);
        r->headers[n] = '\0';
        return test_http_header(r, "Content-Length", value, sizeof value) ? atol(value) : 0;
}

static void *serve(void *arg) {
        Connection *c = arg;
        TestHttpServer *s = c->server;
        TestHttpRequest *r = calloc(1, sizeof *r);
        size_t len = 0, alloc = 65536;
        char *buf = malloc(alloc), *end;

        while (r && buf) {
                ssize_t got;
                while (!(end = memmem(buf, len, "\r\n\r\n", 4)) || len < (size_t) (end - buf) + 4) {
                        if (len + 1 >= alloc)
                                goto done;
                        if ((got = recv(c->fd, buf + len, alloc - len - 1, 0)) <= 0)
                                goto done;
                        len += (size_t) got;
                }
                size_t head = (size_t) (end - buf) + 4;
                long body = parse_head(buf, head - 2, r);
                if (body < 0 || body > REQUEST_MAX)
                        goto done;
                while (len < head + (size_t) body) {
                        if (head + (size_t) body + 1 > alloc) {
                                char *p = realloc(buf, head + (size_t) body + 1);
                                if (!p)
                                        goto done;
                                buf = p;
                                alloc = head + (size_t) body + 1;
                        }
                        if ((got = recv(c->fd, buf + len, alloc - len - 1, 0)) <= 0)
                                goto done;
                        len += (size_t) got;
                }
                char saved = buf[head + (size_t) body];
                buf[head + (size_t) body] = '\0';
                r->body = buf + head;
                r->body_size = (size_t) body;
                r->connection = c->number;

                TestHttpConn conn = { .fd = c->fd, .server = s };
                char value[32];
                if (test_http_header(r, "Connection", value, sizeof value) &&
                    strcasecmp(value, "close") == 0)
                        conn.close = true;
                s->handler(s->userdata, r, &conn);
                if (conn.close)
                        break;
                buf[head + (size_t) body] = saved;
                memmove(buf, buf + head + (size_t) body, len - head - (size_t) body);
                len -= head + (size_t) body;
        }
done:
        forget_fd(s, c->fd);
        close(c->fd);
        free(buf);
        free(r);
        pthread_mutex_lock(&s->lock);
        s->live--;
        pthread_cond_broadcast(&s->gone);
        pthread_mutex_unlock(&s->lock);
        free(c);
        return NULL;
}

static void *accept_loop(void *arg) {
        TestHttpServer *s = arg;
        pthread_attr_t attr;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (;;) {
                struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
                                       { .fd = s->stop_fd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break;
                if (!p[0].revents)
                        continue;
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC), one = 1;
                Connection *c = fd >= 0 ? malloc(sizeof *c) : NULL;
                pthread_t thread;
                /* replies go out as head and body: without this, Nagle holds the body for the client's
                 * delayed ACK, 40 ms a request */
                if (fd >= 0)
                        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (!c) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                *c = (Connection){ .server = s, .fd = fd, .number = atomic_fetch_add(&s->accepted, 1) + 1 };
                pthread_mutex_lock(&s->lock);
                if (s->n_fds == s->alloc_fds) {
                        s->alloc_fds = s->alloc_fds ? s->alloc_fds * 2 : 64;
                        s->fds = realloc(s->fds, s->alloc_fds * sizeof(int));
                }
                s->fds[s->n_fds++] = fd;
                s->live++;
                pthread_mutex_unlock(&s->lock);
                if (pthread_create(&thread, &attr, serve, c) != 0) {
                        forget_fd(s, fd);
                        close(fd);
                        free(c);
                        pthread_mutex_lock(&s->lock);
                        s->live--;
                        pthread_mutex_unlock(&s->lock);
                }
        }
        pthread_attr_destroy(&attr);
        return NULL;
}

int test_http_server_start(TestHttpHandler handler, void *userdata, TestHttpServer **ret_server) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof a;
        TestHttpServer *s = calloc(1, sizeof *s);

        if (!s)
                return -ENOMEM;
        *s = (TestHttpServer){ .handler = handler, .userdata = userdata, .listen_fd = -1, .stop_fd = -1 };
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->gone, NULL);
        if ((s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
            bind(s->listen_fd, (struct sockaddr *) &a, sizeof a) < 0 || listen(s->listen_fd, 1024) < 0 ||
            getsockname(s->listen_fd, (struct sockaddr *) &a, &alen) < 0 ||
            (s->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
            pthread_create(&s->acceptor, NULL, accept_loop, s) != 0) {
                int r = -errno;
                if (s->listen_fd >= 0)
                        close(s->listen_fd);
                if (s->stop_fd >= 0)
                        close(s->stop_fd);
                free(s);
                return r ?: -EIO;
        }
        s->port = ntohs(a.sin_port);
        *ret_server = s;
        return 0;
}

uint16_t test_http_server_port(const TestHttpServer *s) {
        return s->port;
}

unsigned test_http_server_connections(const TestHttpServer *s) {
        return atomic_load(&((TestHttpServer *) s)->accepted);
}

void test_http_server_stop(TestHttpServer *s) {
        uint64_t one = 1;

        if (!s)
                return;
        (void) !write(s->stop_fd, &one, sizeof one);
        pthread_join(s->acceptor, NULL);
        close(s->listen_fd);
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_fds; i++)
                shutdown(s->fds[i], SHUT_RDWR);
        while (s->live > 0)
                pthread_cond_wait(&s->gone, &s->lock);
        pthread_mutex_unlock(&s->lock);
        close(s->stop_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->gone);
        free(s->fds);
        free(s);
}

const char *test_http_header(const TestHttpRequest *r, const char *name, char *buf, size_t size) {
        size_t n = strlen(name);
        for (const char *line = r->headers; *line;) {
                const char *eol = strstr(line, "\r\n");
                size_t len = eol ? (size_t) (eol - line) : strlen(line);
                if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
                        const char *v = line + n + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(buf, size, "%.*s", (int) (len - (size_t) (v - line)), v);
                        return buf;
                }
                line += len + (eol ? 2 : 0);
        }
        return NULL;
}

long test_http_query_long(const TestHttpRequest *r, const char *name, long fallback) {
        const char *q = strchr(r->target, '?');
        size_t n = strlen(name);
        for (const char *p = q; p && *p; p = strchr(p + 1, '&'))
                if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=')
                        return atol(p + 2 + n);
        return fallback;
}

bool test_http_write(TestHttpConn *c, const void *data, size_t size) {
        const char *p = data;
        while (size > 0) {
                ssize_t n = send(c->fd, p, size, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        c->close = true;
                        return false;
                }
                p += n;
                size -= (size_t) n;
        }
        return true;
}

bool test_http_respond(TestHttpConn *c, int status, const char *extra_headers, const void *body,
                       size_t size) {
        char head[4096];
        int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n", status, size,
                         extra_headers ?: "", c->close ? "Connection: close\r\n" : "");
        return n > 0 && (size_t) n < sizeof head && test_http_write(c, head, (size_t) n) &&
               test_http_write(c, body, size);
}

bool test_http_sleep(TestHttpConn *c, unsigned ms) {
        struct pollfd p = { .fd = c->server->stop_fd, .events = POLLIN };
        return poll(&p, 1, (int) ms) == 0;
}

void test_http_reset(TestHttpConn *c) {
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        c->close = true; /* the close that follows sends the RST */
}
