/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The URLs of storage-s3, as text only (no I/O, so that tests and the
 * fuzzer reach all of it): s3://bucket/key and gs://bucket/key in, the
 * endpoint's request URL out, path-style (https://host/bucket/key) or
 * virtual-host style (https://bucket.host/key), with the key URI-encoded
 * the way Signature Version 4 canonicalizes it, so that what is sent is
 * exactly what is signed.
 */

#include <stdbool.h>
#include <stddef.h>

/* S3 allows keys of up to 1024 bytes (GCS more, but then S3 tools break). */
#define S3_KEY_MAX 1024

/*
 * Splits "<scheme>://bucket/key" (the scheme any case; "s3://bucket" and
 * "s3://bucket/" have an empty key) into its bucket and key, both
 * malloc'd. The key is taken as written, as the aws and gsutil tools take
 * it: no percent-decoding. -EINVAL for another scheme, a bucket name that
 * is not 1-222 of [a-z0-9._-] starting and ending with a letter or digit,
 * or a key that S3 or libcurl would read differently from what is meant:
 * longer than S3_KEY_MAX, with a control character or invalid UTF-8, or
 * with a "." or ".." segment (which HTTP clients and servers resolve away).
 */
int s3_url_parse(const char *url, const char *scheme, char **ret_bucket, char **ret_key);

/*
 * URI-encodes `s` as SigV4 does: A-Z a-z 0-9 - _ . ~ stay, and '/' when
 * `keep_slash`; every other byte becomes %XX (upper case). NULL on OOM.
 */
char *s3_uri_encode(const char *s, bool keep_slash);

/* Where requests go: "http(s)://host[:port]", parsed once. */
typedef struct S3Endpoint {
        bool https;
        char *host; /* lower case; an IPv6 address keeps its brackets */
        char *port; /* ":9000", or "" for the scheme's default */
} S3Endpoint;

/*
 * Parses an endpoint URL: http or https, a host, an optional port, nothing
 * after but an optional "/". Returns 0 or -EINVAL (-ENOMEM).
 */
int s3_endpoint_parse(const char *url, S3Endpoint *ret);
void s3_endpoint_done(S3Endpoint *e);

/* A request's target: the URL to send, and what SigV4 signs of it. */
typedef struct S3Target {
        char *url;  /* scheme://host[:port]/path[?query] */
        char *host; /* the Host header: host[:port] */
        char *path; /* the canonical URI, encoded: "/bucket/key" or "/key"; "/bucket" or "/" for the bucket
                     */
} S3Target;

/*
 * The target of `key` in `bucket` (an empty key: the bucket itself) on
 * `endpoint`; virtual-host style unless `path_style`, the endpoint is an IP
 * address, or the bucket has a '.' (which a wildcard TLS certificate cannot
 * cover). `query` (may be
 * NULL) is appended after '?' as given: its parameters must already be
 * encoded and sorted, as SigV4 canonicalizes them. Returns 0 or -ENOMEM.
 */
int s3_target(const S3Endpoint *endpoint, bool path_style, const char *bucket, const char *key,
              const char *query, S3Target *ret);
void s3_target_done(S3Target *t);
