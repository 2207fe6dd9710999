/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what the HTTP layer decodes from servers: the failed-reply explanation, Retry-After and
 * HTTP-dates, and URL redaction. The input is a reply: "STATUS\0content-type\0x-fused-error\0
 * x-fused-metadata\0" then the body (which may hold NULs); missing fields are absent headers. The
 * message must always come out as one bounded line of valid UTF-8 without control characters;
 * a redacted URL must keep no query and no user info.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fuzz-util.h"
#include "http-error.h"
#include "http-retry.h"

#define CENTURY_USEC (UINT64_C(100) * 366 * 86400 * 1000000)

static bool clean_line(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                size_t len = *p < 0x80             ? 1
                             : (*p & 0xe0) == 0xc0 ? 2
                             : (*p & 0xf0) == 0xe0 ? 3
                             : (*p & 0xf8) == 0xf0 ? 4
                                                   : 0;
                if (len == 0 || *p < 0x20 || *p == 0x7f)
                        return false;
                for (size_t i = 1; i < len; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                p += len;
        }
        return true;
}

/* The next NUL-terminated field of the input, or NULL when the input ends first. */
static const char *field(const char **p, const char *end) {
        const char *start = *p, *nul = memchr(start, '\0', (size_t) (end - start));
        if (!nul)
                return NULL;
        *p = nul + 1;
        return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 65536)
                return 0;
        _cleanup_free_ char *copy = fuzz_text(data, size), *message = NULL, *redacted = NULL;
        if (!copy)
                return 0;
        const char *p = copy, *end = copy + size;
        const char *status = field(&p, end), *content_type = field(&p, end), *fused_error = field(&p, end),
                   *fused_metadata = field(&p, end);

        HttpErrorReply reply = {
                .status = status ? strtol(status, NULL, 10) : 500,
                .content_type = content_type,
                .fused_error = fused_error,
                .fused_metadata = fused_metadata,
                .body = fused_metadata ? p : copy,
                .body_size = fused_metadata ? (size_t) (end - p) : size,
        };
        if (http_error_message(&reply, &message) < 0)
                abort();
        if (strncmp(message, "HTTP ", 5) != 0 || !clean_line(message) ||
            strlen(message) > 32 + HTTP_MESSAGE_MAX + strlen("…"))
                abort();

        /* every field as a Retry-After value and as a URL */
        const char *texts[] = { copy, content_type, fused_error, fused_metadata };
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                uint64_t delay;
                int64_t seconds;
                if (!texts[i])
                        continue;
                if (http_retry_after_parse(texts[i], UINT64_C(1700000000000000), &delay) == 0 &&
                    delay > CENTURY_USEC)
                        abort();
                if (http_date_parse(texts[i], &seconds) == 0 &&
                    (seconds < -62135596800 || seconds > 253402300800))
                        abort();
                free(redacted);
                if (!(redacted = http_url_redact(texts[i])))
                        abort();
                const char *q = strpbrk(redacted, "?#");
                if (q && strcmp(q, "?[redacted]") != 0)
                        abort();
                const char *authority = strstr(redacted, "://");
                if (authority && memchr(authority, '@', strcspn(authority + 3, "/?#") + 3))
                        abort();
        }
        return 0;
}
