/* SPDX-License-Identifier: MIT */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define SECRET_MAX (64 * 1024)

int secrets_resolve(const char *name, char **ret_value) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");

        if (!*name || name[0] == '.' || strchr(name, '/'))
                return -EINVAL;
        if (!dir || !*dir)
                return -ENOENT;

        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;

        _cleanup_free_ char *buf = malloc(SECRET_MAX + 1);
        if (!buf)
                return -ENOMEM;
        size_t size = 0;
        for (;;) {
                ssize_t n = read(fd, buf + size, SECRET_MAX + 1 - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > SECRET_MAX) {
                        explicit_bzero(buf, size);
                        return -EFBIG;
                }
        }
        if (size > 0 && buf[size - 1] == '\n')
                size--;
        buf[size] = '\0';
        *ret_value = TAKE_PTR(buf);
        return 0;
}
