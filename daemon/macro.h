/* SPDX-License-Identifier: MIT */
#pragma once

/* Small language helpers used everywhere. */

#include <stdbool.h>
#include <stddef.h>

#define _unused_            __attribute__((unused))
#define _pure_              __attribute__((pure))
#define _printf_(fmt, args) __attribute__((format(printf, fmt, args)))
#define _fallthrough_       __attribute__((fallthrough))
#define _likely_(x)         __builtin_expect(!!(x), 1)
#define _unlikely_(x)       __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define MAX(a, b)                                                                                           \
        ({                                                                                                  \
                __typeof__(a) _a = (a);                                                                     \
                __typeof__(b) _b = (b);                                                                     \
                _a > _b ? _a : _b;                                                                          \
        })
#define MIN(a, b)                                                                                           \
        ({                                                                                                  \
                __typeof__(a) _a = (a);                                                                     \
                __typeof__(b) _b = (b);                                                                     \
                _a < _b ? _a : _b;                                                                          \
        })

/* Whether x equals one of the (constant int) values. */
#define IN_SET(x, ...)                                                                                     \
        ({                                                                                                 \
                const int _values[] = { __VA_ARGS__ };                                                     \
                bool _found = false;                                                                       \
                for (size_t _i = 0; _i < sizeof(_values) / sizeof(_values[0]); _i++)                      \
                        if ((x) == _values[_i])                                                            \
                                _found = true;                                                             \
                _found;                                                                                    \
        })
