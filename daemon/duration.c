/* SPDX-License-Identifier: MIT */
#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>

#include "macro.h"

static const struct {
        char unit;
        uint64_t seconds;
} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };

int duration_parse(const char *text, uint64_t max_seconds, uint64_t *ret_seconds) {
        uint64_t total = 0;
        const char *s = text;

        if (!*s)
                return -EINVAL;
        while (*s) {
                const char *digits = s;
                uint64_t n = 0;
                for (; isdigit((unsigned char) *s); s++)
                        if (n <= max_seconds) /* saturate: anything larger is out of range anyway */
                                n = n * 10 + (uint64_t) (*s - '0');
                if (s == digits)
                        return -EINVAL;

                size_t i = 0;
                while (i < ELEMENTSOF(units) && tolower((unsigned char) *s) != units[i].unit)
                        i++;
                if (i == ELEMENTSOF(units))
                        return -EINVAL;
                s++;

                if (n > max_seconds / units[i].seconds || total + n * units[i].seconds > max_seconds)
                        return -ERANGE;
                total += n * units[i].seconds;
        }
        *ret_seconds = total;
        return 0;
}
