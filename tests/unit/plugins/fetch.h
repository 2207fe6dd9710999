/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The test plugin storage-fetch (fetch.c): storage operations on fetch:///PATH
 * become HTTP requests to <base>/PATH through the host's HTTP service. Its
 * options, and what it saw of the last reply, as the tests read them back
 * (the instance's context begins with a struct fetch_probe).
 */

#include <stdbool.h>
#include <stdint.h>

struct fetch_options {
        char *base;         /* "http://127.0.0.1:PORT" */
        char *auth;         /* "none", "bearer", "basic", "sigv4" */
        char *user;         /* basic, sigv4 */
        char *secret;       /* bearer, basic, sigv4 */
        char *provider;     /* sigv4 */
        char **headers;     /* extra request headers */
        char *reply_header; /* the reply header to record */
        int64_t max_reply_size;
        uint64_t timeout_usec;
        bool no_retry;
        bool leak; /* destroy() forgets its requests: the host must cancel them */
};

struct fetch_probe {
        unsigned replies; /* `done` calls seen */
        int error;
        long status;
        unsigned attempts;
        char message[512];
        char header[256]; /* reply_header's value, "(none)" when absent */
        char content_type[128];
};
