/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what storage-fused and secrets-fused decode from the Fused API: every decoder sees the input
 * (a listing, an upload form, a string, a boolean, realtime instances) and a time from its first line.
 * What they accept must be usable as they promise: listing URLs non-empty without control characters,
 * directories ending in '/', no size for a directory; form fields that cannot break a multipart body;
 * an instance id that is one plain path segment; a time before the year 10000.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/shared/fused-reply.h"
#include "cleanup.h"
#include "fuzz-util.h"

static bool clean(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < ' ' || *s == 0x7f)
                        return false;
        return true;
}

static void check_files(const char *text, size_t size) {
        FusedFile *files = NULL;
        const char *reason = NULL;
        size_t n = 0;

        if (fused_reply_files(text, size, &files, &n, &reason) < 0) {
                if (!reason && n)
                        abort();
                return;
        }
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(files[i].url);
                if (len == 0 || !clean(files[i].url) ||
                    files[i].is_directory != (files[i].url[len - 1] == '/') ||
                    (files[i].is_directory && files[i].size != 0))
                        abort();
        }
        fused_files_free(files, n);
}

static void check_form(const char *text, size_t size) {
        FusedUploadForm form = {};
        const char *reason = NULL;

        if (fused_reply_upload_form(text, size, &form, &reason) < 0)
                return;
        if (!form.url[0] || !clean(form.url) || form.fields[form.n_fields * 2])
                abort();
        for (size_t i = 0; i < form.n_fields * 2; i++)
                if (strpbrk(form.fields[i], "\r\n\"") || (i % 2 == 0 && !form.fields[i][0]))
                        abort();
        fused_upload_form_done(&form);
}

static void check_scalars(const char *text, size_t size) {
        const char *reason = NULL;
        char *s = NULL, *id = NULL;
        bool b;

        if (fused_reply_string(text, size, &s, &reason) >= 0)
                free(s);
        (void) fused_reply_bool(text, size, &b, &reason);
        if (fused_reply_instance(text, size, &id, &reason) >= 0) {
                if (!id[0] ||
                    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                            strlen(id) ||
                    strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
                        abort();
                free(id);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 65536)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size);
        if (!text)
                return 0;
        check_files(text, size);
        check_form(text, size);
        check_scalars(text, size);

        char *newline = strchr(text, '\n');
        uint64_t usec;
        if (newline)
                *newline = '\0';
        /* four-digit years and offsets under a day: before 10000-01-02 */
        if (fused_parse_time(text, &usec) >= 0 && usec >= UINT64_C(253402387200) * 1000000)
                abort();
        return 0;
}
