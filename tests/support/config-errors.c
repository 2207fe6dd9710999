/* SPDX-License-Identifier: MIT */
#include "config-errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* `text` with every "@DIR@" replaced by `dir`, malloc'd. */
static char *expand(const char *text, const char *dir) {
        char *out = calloc(1, strlen(text) * 4 + strlen(dir) * 4 + 1), *o = out;
        if (!out)
                abort();
        for (const char *p = text; *p;)
                if (strncmp(p, "@DIR@", 5) == 0) {
                        o = stpcpy(o, dir);
                        p += 5;
                } else
                        *o++ = *p++;
        return out;
}

bool config_errors_match(const char *path, TzDb *tzdb, const char *const *expected, size_t n,
                         const char *dir, const char *label) {
        static char untouched; /* config_load() must not set c when it fails */
        Config *c = (Config *) &untouched;
        _cleanup_(strv_freep) char **errors = NULL;
        int r = config_load(path, tzdb, &c, &errors);
        size_t want = 0, got = 0;
        bool match = r == -EINVAL;

        if (r >= 0) {
                fprintf(stderr, "%s: the configuration loaded\n", label);
                config_free(c);
        } else if (c != (Config *) &untouched) {
                fprintf(stderr, "%s: config_load() failed, but set the configuration\n", label);
                match = false;
        }
        while (want < n && expected[want])
                want++;
        for (char **e = errors; e && *e; e++, got++) {
                _cleanup_free_ char *text = got < want ? expand(expected[got], dir) : NULL;
                if (!text || strcmp(*e, text) != 0) {
                        fprintf(stderr, "%s: got      %s\n%s: expected %s\n", label, *e, label,
                                text ?: "(nothing)");
                        match = false;
                }
        }
        for (size_t k = got; k < want; k++) {
                _cleanup_free_ char *text = expand(expected[k], dir);
                fprintf(stderr, "%s: missing  %s\n", label, text);
                match = false;
        }
        return match;
}
