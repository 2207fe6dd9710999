/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Decoders of the Fused API's replies that storage-fused and secrets-fused
 * read (api/fused.md §4): JSON strings and booleans, file listings, S3
 * presigned POST forms, realtime instances. Pure: no I/O, no logging; every
 * function returns 0, -EBADMSG for a reply that is not what the API sends
 * (with a static reason in *ret_reason), or -ENOMEM. Lenient where the
 * contract is unsure: unknown members are ignored.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A JSON string ("value", a signed URL, a resolved path): malloc'd, without NULs inside. */
int fused_reply_string(const char *body, size_t size, char **ret, const char **ret_reason);

/* A JSON boolean (files/delete). */
int fused_reply_bool(const char *body, size_t size, bool *ret, const char **ret_reason);

typedef struct FusedFile {
        char *url;           /* a directory's ends in '/' */
        uint64_t size;       /* 0 when unknown, and for directories */
        uint64_t mtime_usec; /* 0 when unknown */
        bool is_directory;
} FusedFile;

/*
 * A listing: files/list-details ([{url, file_name, is_directory, size, last_modified}]) or
 * files/list (["url", ...], directories by their trailing '/'). URLs must be non-empty, without
 * control characters. last_modified is ISO 8601 ("2026-01-02T03:04:05.123456Z", an offset, or no zone
 * for UTC); one that cannot be read counts as unknown. *ret is malloc'd (NULL when empty).
 */
int fused_reply_files(const char *body, size_t size, FusedFile **ret, size_t *ret_n,
                      const char **ret_reason);
void fused_files_free(FusedFile *files, size_t n);

/* An S3 presigned POST (files/sign-upload): {"url", "fields": {name: value}}; fields in reply order. */
typedef struct FusedUploadForm {
        char *url;
        char **fields; /* name, value, name, value, ..., NULL */
        size_t n_fields;
} FusedUploadForm;

int fused_reply_upload_form(const char *body, size_t size, FusedUploadForm *ret, const char **ret_reason);
void fused_upload_form_done(FusedUploadForm *form);

/*
 * The realtime instance to use (realtime-instance/available: [{client_id, preference_rank}]): the one
 * of highest rank, as the SDK picks it; its id is a URL path segment, so only [A-Za-z0-9._-].
 */
int fused_reply_instance(const char *body, size_t size, char **ret_client_id, const char **ret_reason);

/* ISO 8601 time as above, to µs since the epoch: 0, or -EINVAL. Exposed for the tests. */
int fused_parse_time(const char *s, uint64_t *ret_usec);
