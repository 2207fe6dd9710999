/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes storage-s3's reply parser with what an S3 server (or anything in
 * its place) may send: s3_list_parse() accepts only a ListBucketResult whose
 * entries have keys, come sorted, and whose truncated listings name their
 * next page; s3_error_parse() only gives one-line texts; neither leaks nor
 * reads out of bounds, however deep or broken the document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/storage-s3/s3-xml.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        S3ListResult list;
        char *code = NULL, *message = NULL;

        if (size > 65536)
                return 0;
        if (s3_list_parse((const char *) data, size, &list) >= 0) {
                for (size_t i = 0; i < list.n_entries; i++) {
                        if (!list.entries[i].key[0] || (list.entries[i].is_prefix && list.entries[i].size != 0))
                                abort();
                        if (i > 0 && strcmp(list.entries[i - 1].key, list.entries[i].key) > 0)
                                abort();
                }
                if (list.truncated != (list.next_token != NULL) || (list.next_token && !list.next_token[0]))
                        abort();
                s3_list_result_done(&list);
        }
        if (s3_error_parse((const char *) data, size, &code, &message) >= 0) {
                for (const char *s = code; s && *s; s++)
                        if ((unsigned char) *s < 0x20 || *s == 0x7f)
                                abort();
                for (const char *s = message; s && *s; s++)
                        if ((unsigned char) *s < 0x20 || *s == 0x7f)
                                abort();
                free(code);
                free(message);
        }
        /* the same bytes as a C string, for the time parser */
        char *text = fuzz_text(data, size < 64 ? size : 64);
        uint64_t usec;
        if (text && s3_time_parse(text, &usec) >= 0 && strlen(text) < 20)
                abort();
        free(text);
        return 0;
}
