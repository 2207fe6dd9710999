/* SPDX-License-Identifier: MIT */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fileio.h"

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

        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r = read_full_fd(fd, SECRET_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (size > 0 && buf[size - 1] == '\n')
                size--;
        buf[size] = '\0';
        *ret_value = TAKE_PTR(buf);
        return 0;
}
