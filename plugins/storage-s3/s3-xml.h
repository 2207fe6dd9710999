/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The XML replies of the S3 API that storage-s3 reads: ListObjectsV2's
 * ListBucketResult and the Error document of a failed request (S3, GCS's
 * XML API, MinIO and the like). Pure decoders of server input, no I/O, so
 * that the fuzzer reaches every byte: a small non-validating parser (elements,
 * attributes skipped, text, CDATA, the five predefined and numeric entities;
 * no DTD, so no entity expansion) with bounded depth.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting deeper than this is refused (S3's replies nest three deep). */
#define S3_XML_DEPTH_MAX 16

typedef struct S3ListEntry {
        char *key;           /* the object's key, or the common prefix (ending in the delimiter) */
        uint64_t size;       /* bytes; 0 for prefixes */
        uint64_t mtime_usec; /* LastModified, CLOCK_REALTIME µs; 0 when absent or unreadable */
        bool is_prefix;      /* a CommonPrefixes entry: a "directory" */
} S3ListEntry;

typedef struct S3ListResult {
        S3ListEntry *entries; /* objects and prefixes, sorted by key (bytewise) */
        size_t n_entries;
        bool truncated;   /* IsTruncated: another page follows */
        char *next_token; /* NextContinuationToken, or NULL */
} S3ListResult;

/*
 * Parses a ListBucketResult document of `size` bytes (not necessarily
 * NUL-terminated). Returns 0 and fills *ret (free with s3_list_result_done()),
 * -EBADMSG for what is not such a document (malformed XML, another root, a Key
 * missing or empty, a Size that is no number, a truncated listing without a
 * token), or -ENOMEM.
 */
int s3_list_parse(const char *xml, size_t size, S3ListResult *ret);
void s3_list_result_done(S3ListResult *result);

/*
 * Parses an Error document: 0 and its Code and Message (each may be NULL when
 * absent; owned by the caller), single-line and without control characters;
 * -EBADMSG for what is not one; -ENOMEM.
 */
int s3_error_parse(const char *xml, size_t size, char **ret_code, char **ret_message);

/*
 * An ISO 8601 UTC time as S3 writes it, "2026-11-22T17:41:40.000Z" (the
 * fraction optional): 0 and µs since the epoch, or -EINVAL.
 */
int s3_time_parse(const char *text, uint64_t *ret_usec);
