/* SPDX-License-Identifier: MIT */
#include "file-url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) (c | 0x20);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int file_url_to_path(const char *url, char **ret_path) {
        const char *p;

        if (strncasecmp(url, "file://", 7) != 0)
                return -EINVAL;
        p = url + 7;
        if (strncasecmp(p, "localhost/", 10) == 0)
                p += 9;
        if (p[0] != '/' || strpbrk(p, "?#"))
                return -EINVAL; /* another host, or a query or fragment that a file has no use for */

        char *path = malloc(strlen(p) + 1), *out = path;
        if (!path)
                return -ENOMEM;
        for (; *p; p++) {
                if (*p != '%') {
                        *out++ = *p;
                        continue;
                }
                int hi = hex_value(p[1]), lo = hi >= 0 ? hex_value(p[2]) : -1;
                if (lo < 0 || (hi == 0 && lo == 0)) { /* a broken escape, or %00 */
                        free(path);
                        return -EINVAL;
                }
                *out++ = (char) (hi << 4 | lo);
                p += 2;
        }
        *out = '\0';
        *ret_path = path;
        return 0;
}

const char *file_path_below(const char *root, const char *path) {
        size_t n = strlen(root);

        if (n == 1 && root[0] == '/')
                n = 0; /* every absolute path is below "/" */
        if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
                return NULL;
        path += n;
        return path + strspn(path, "/");
}

char *file_url_from_path(const char *path) {
        static const char hex[] = "0123456789ABCDEF";
        char *url = malloc(7 + 3 * strlen(path) + 1), *out = url;
        if (!url)
                return NULL;
        memcpy(out, "file://", 7);
        out += 7;
        for (const unsigned char *p = (const unsigned char *) path; *p; p++) {
                bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                             (*p >= '0' && *p <= '9') || strchr("/-._~!$&'()*+,;=:@", *p);
                if (plain)
                        *out++ = (char) *p;
                else {
                        *out++ = '%';
                        *out++ = hex[*p >> 4];
                        *out++ = hex[*p & 15];
                }
        }
        *out = '\0';
        return url;
}

void file_path_normalize(char *path) {
        char *out = path; /* path[0] is '/': out stays at or after it */
        for (const char *p = path; *p;) {
                while (*p == '/')
                        p++;
                size_t len = strcspn(p, "/");
                if (len == 0)
                        break;
                if (len == 1 && p[0] == '.') {
                        /* nothing */
                } else if (len == 2 && p[0] == '.' && p[1] == '.') {
                        while (out > path && *--out != '/')
                                ;
                } else {
                        *out++ = '/';
                        memmove(out, p, len);
                        out += len;
                }
                p += len;
        }
        if (out == path)
                *out++ = '/';
        *out = '\0';
}
