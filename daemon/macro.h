/* SPDX-License-Identifier: MIT */
#pragma once

/* Small language helpers used everywhere. */

#define _unused_            __attribute__((unused))
#define _pure_              __attribute__((pure))
#define _printf_(fmt, args) __attribute__((format(printf, fmt, args)))
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
