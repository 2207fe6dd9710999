/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What storage-s3 computes of AWS Signature Version 4 itself (libcurl signs
 * the requests it sends): the payload hash of a request, and presigned GET
 * URLs, which are signed in the query string for someone else to fetch.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* SHA-256 of nothing: the payload hash of a request without a body. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* The payload hash that leaves the body unsigned (its integrity is then TLS's). */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* The longest a presigned URL may stay valid. */
#define SIGV4_EXPIRES_MAX (7 * 24 * 3600)

/* The lower-case hex SHA-256 of `size` bytes. Returns 0 or -ENOMEM. */
int sigv4_sha256_hex(const void *data, size_t size, char ret_hex[static 65]);

/*
 * The signing key: HMAC-SHA256 chained over "AWS4" + secret, the date
 * ("20130524"), region, service and "aws4_request". Returns 0 or -ENOMEM.
 */
int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                      unsigned char ret_key[static 32]);

typedef struct SigV4Presign {
        const char *host;          /* the Host header the fetcher will send: host[:port] */
        const char *path;          /* the canonical URI: the URL's path, URI-encoded once */
        const char *access_key_id; /* what X-Amz-Credential names */
        const char *secret;        /* signs; never part of the result */
        const char *region;        /* "us-east-1"; GCS: "auto" */
        const char *service;       /* "s3" */
        time_t now;                /* X-Amz-Date */
        unsigned expires_sec;      /* 1 to SIGV4_EXPIRES_MAX */
} SigV4Presign;

/*
 * The query string that makes a GET of `path` on `host` valid without
 * credentials from `now` for `expires_sec` ("X-Amz-Algorithm=...&X-Amz-
 * Signature=..."), malloc'd. Returns 0, -EINVAL (an expiry out of range, a
 * key id or region that is no plain token), or -ENOMEM.
 */
int sigv4_presign_query(const SigV4Presign *p, char **ret_query);
