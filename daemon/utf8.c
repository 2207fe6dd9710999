/* SPDX-License-Identifier: MIT */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

size_t utf8_decode(const char *p, size_t n, uint32_t *ret_cp) {
        const unsigned char *u = (const unsigned char *) p;
        size_t len;
        uint32_t cp, min;

        if (u[0] < 0x80) {
                *ret_cp = u[0];
                return 1;
        }
        if (u[0] >= 0xc2 && u[0] <= 0xdf)
                len = 2, cp = u[0] & 0x1f, min = 0x80;
        else if (u[0] >= 0xe0 && u[0] <= 0xef)
                len = 3, cp = u[0] & 0x0f, min = 0x800;
        else if (u[0] >= 0xf0 && u[0] <= 0xf4)
                len = 4, cp = u[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((u[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (u[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

char *utf8_sanitize(const char *data, size_t size) {
        /* at worst every byte becomes three */
        char *s = size <= (SIZE_MAX - 1) / 3 ? malloc(size * 3 + 1) : NULL, *o = s;
        uint32_t cp;

        if (!s)
                return NULL;
        for (size_t i = 0, n; i < size; i += n) {
                n = utf8_decode(data + i, size - i, &cp);
                if (n == 0 || cp == 0) {
                        memcpy(o, REPLACEMENT, 3);
                        o += 3;
                        n = 1;
                } else {
                        memcpy(o, data + i, n);
                        o += n;
                }
        }
        *o = '\0';
        return s;
}
