/* SPDX-License-Identifier: MIT */
#include "fileio.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int read_full_fd(int fd, size_t max, char **ret_data, size_t *ret_size) {
        struct stat st;
        /* the size fstat() reports is a first guess: the file may grow, and /proc files say 0 */
        size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? MIN((size_t) st.st_size, max) + 2 : 4096;
        size_t size = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                if (size + 1 == cap) { /* keep one byte for the NUL */
                        size_t bigger = MIN(cap * 2, max + 2);
                        char *p = bigger > cap ? realloc(buf, bigger) : NULL;
                        if (!p) {
                                explicit_bzero(buf, size);
                                return bigger > cap ? -ENOMEM : -EFBIG;
                        }
                        buf = p;
                        cap = bigger;
                }
                ssize_t n = read(fd, buf + size, cap - 1 - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max) {
                        explicit_bzero(buf, size);
                        return -EFBIG;
                }
        }
        buf[size] = '\0';
        *ret_data = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int remove_tree(const char *path) {
        /* depth first: what a directory holds goes before it; FTW_PHYS: links are removed, not followed */
        if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
