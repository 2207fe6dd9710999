/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_put(Buf *b, const void *data, size_t n) {
        if (b->failed)
                return;
        if (b->size + n + 1 > b->allocated) {
                size_t a = b->allocated ? b->allocated : 4096;
                while (a < b->size + n + 1)
                        a *= 2;
                char *d = realloc(b->data, a);
                if (!d) {
                        b->failed = true;
                        return;
                }
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, data, n);
        b->size += n;
        b->data[b->size] = '\0';
}

void buf_printf(Buf *b, const char *format, ...) {
        char small[256];
        va_list ap;
        va_start(ap, format);
        int n = vsnprintf(small, sizeof small, format, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof small) {
                b->failed = true; /* only numbers and short words go through here */
                return;
        }
        buf_put(b, small, (size_t) n);
}

void buf_free(Buf *b) {
        free(b->data);
        *b = (Buf){};
}

/* The length of the valid UTF-8 sequence at s (of at most n bytes), or 0. */
static size_t utf8_length(const unsigned char *s, size_t n) {
        size_t len = s[0] < 0x80                   ? 1
                     : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                     : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                     : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                                   : 0;
        if (len == 0 || len > n)
                return 0;
        for (size_t i = 1; i < len; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
            (len == 4 && s[0] == 0xf0 && s[1] < 0x90) || (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
                return 0; /* overlong, a surrogate, beyond U+10FFFF */
        return len;
}

void buf_json_string(Buf *b, const char *s) {
        buf_put(b, "\"", 1);
        for (size_t n = strlen(s), i = 0; i < n;) {
                unsigned char c = (unsigned char) s[i];
                size_t len = utf8_length((const unsigned char *) s + i, n - i);
                if (c == '"' || c == '\\')
                        buf_printf(b, "\\%c", c);
                else if (c < 0x20)
                        buf_printf(b, "\\u%04x", c);
                else if (len > 0)
                        buf_put(b, s + i, len);
                else
                        buf_put(b, "\\ufffd", 6);
                i += len > 0 ? len : 1;
        }
        buf_put(b, "\"", 1);
}

void buf_json_bbox(Buf *b, const double bbox[4]) {
        buf_printf(b, "[%.17g,%.17g,%.17g,%.17g]", bbox[0], bbox[1], bbox[2], bbox[3]);
}
