/* SPDX-License-Identifier: MIT */
#include "url.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c | 0x20) : c;
}

int url_scheme(const char *url, char buf[static URL_SCHEME_MAX]) {
        size_t n = 0;
        char c = lower(url[0]);

        if (!(c >= 'a' && c <= 'z'))
                return -EINVAL;
        for (; (c = lower(url[n])) != '\0' && c != ':'; n++) {
                bool ok =
                        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
                if (!ok || n + 1 >= URL_SCHEME_MAX)
                        return -EINVAL;
                buf[n] = c;
        }
        if (strncmp(url + n, "://", 3) != 0)
                return -EINVAL;
        buf[n] = '\0';
        return (int) n;
}
