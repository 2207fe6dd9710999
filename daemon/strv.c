/* SPDX-License-Identifier: MIT */
#include "strv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **strv_free(char **l) {
        for (char **p = l; p && *p; p++)
                free(*p);
        free(l);
        return NULL;
}

int strv_push(char ***l, size_t *n, char *s) {
        char **m = s ? reallocarray(*l, *n + 2, sizeof(char *)) : NULL;
        if (!m) {
                free(s);
                return -ENOMEM;
        }
        m[(*n)++] = s;
        m[*n] = NULL;
        *l = m;
        return 0;
}

static char *vstrprintf(const char *format, va_list ap) {
        char *s;
        return vasprintf(&s, format, ap) < 0 ? NULL : s;
}

char *strprintf(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *s = vstrprintf(format, ap);
        va_end(ap);
        return s;
}

int strv_pushf(char ***l, size_t *n, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        char *s = vstrprintf(format, ap);
        va_end(ap);
        return strv_push(l, n, s);
}

int strv_copy(const char *const *l, char ***ret) {
        char **copy = NULL;
        size_t n = 0;
        for (const char *const *p = l; p && *p; p++)
                if (strv_push(&copy, &n, strdup(*p)) < 0) {
                        strv_free(copy);
                        return -ENOMEM;
                }
        *ret = copy;
        return 0;
}

bool strv_contains(char *const *l, const char *s) {
        for (char *const *p = l; p && *p; p++)
                if (strcmp(*p, s) == 0)
                        return true;
        return false;
}
