/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Scope-bound cleanup, the systemd way: a local marked _cleanup_free_ or
 * _cleanup_close_ is released when it goes out of scope, and TAKE_PTR/TAKE_FD
 * hand ownership on so error paths need no hand-written frees.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
static inline void freep(void *p) {
        free(*(void **) p);
}

/* `p = mfree(p);` frees and clears in one step; `fd = safe_close(fd);` likewise for descriptors. */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* mfree() for what may hold a secret: its `size` bytes are wiped first; mfree_wiped() for a string. */
static inline void *mfree_wiped_size(void *p, size_t size) {
        if (p)
                explicit_bzero(p, size);
        free(p);
        return NULL;
}

static inline char *mfree_wiped(char *p) {
        return mfree_wiped_size(p, p ? strlen(p) : 0);
}

static inline int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -1;
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* Generates foo_freep() for _cleanup_(foo_freep) from a NULL-accepting foo_free(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                             \
        static inline void func##p(type *p) {                                                               \
                if (*p)                                                                                     \
                        *p = func(*p);                                                                      \
        }

/* Returns the pointer and clears the variable, so its cleanup no longer frees it. */
#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                __typeof__(p) _taken = (p);                                                                 \
                (p) = NULL;                                                                                 \
                _taken;                                                                                     \
        })

#define TAKE_FD(fd)                                                                                         \
        ({                                                                                                  \
                int _taken = (fd);                                                                          \
                (fd) = -1;                                                                                  \
                _taken;                                                                                     \
        })
