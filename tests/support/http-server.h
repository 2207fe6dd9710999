/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for the tests
 * and benchmarks of the HTTP client: one thread accepts, one thread serves
 * each connection (keep-alive), and a handler decides every reply. The
 * handler runs on the connection's thread, so whatever it shares must be
 * atomic or locked. Requests with Content-Length bodies only (what libcurl
 * sends); no TLS.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct TestHttpServer TestHttpServer;

typedef struct TestHttpRequest {
        char method[16];
        char target[2048];  /* path and query, as sent */
        char headers[8192]; /* "Name: value\r\n" lines */
        const char *body;   /* body_size bytes, NUL-terminated */
        size_t body_size;
        unsigned connection; /* which accepted connection (1, 2, ...): keep-alive shows as repeats */
} TestHttpRequest;

typedef struct TestHttpConn {
        int fd;
        bool close; /* set to close the connection after this reply */
        TestHttpServer *server;
} TestHttpConn;

typedef void (*TestHttpHandler)(void *userdata, const TestHttpRequest *request, TestHttpConn *conn);

/* Starts serving. Returns 0 or a negative errno. */
int test_http_server_start(TestHttpHandler handler, void *userdata, TestHttpServer **ret_server);
uint16_t test_http_server_port(const TestHttpServer *server);
/* Connections accepted so far. */
unsigned test_http_server_connections(const TestHttpServer *server);
/* Closes every connection, waits for the threads, frees. */
void test_http_server_stop(TestHttpServer *server);

/* The value of header `name` (case-insensitive) copied into buf, or NULL when absent. */
const char *test_http_header(const TestHttpRequest *request, const char *name, char *buf, size_t size);
/* The value of query parameter `name` in the target, as a number, or `fallback`. */
long test_http_query_long(const TestHttpRequest *request, const char *name, long fallback);

/* A whole reply with Content-Length; extra_headers are "Name: value\r\n" lines or NULL. */
bool test_http_respond(TestHttpConn *conn, int status, const char *extra_headers, const void *body,
                       size_t size);
/* Raw bytes; false when the client is gone. */
bool test_http_write(TestHttpConn *conn, const void *data, size_t size);
/* Waits up to `ms`; false when the server is stopping (the handler should return). */
bool test_http_sleep(TestHttpConn *conn, unsigned ms);
/* Aborts the connection with a TCP reset. */
void test_http_reset(TestHttpConn *conn);
