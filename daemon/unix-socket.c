/* SPDX-License-Identifier: MIT */
#include "unix-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"

int unix_socket_address(const char *path, struct sockaddr_un *ret_address, socklen_t *ret_size,
                        int *ret_dirfd) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int dirfd = -1;

        if (len == 0)
                return -EINVAL;
        if (len >= sizeof a.sun_path) {
                const char *slash = strrchr(path, '/');
                if (!slash || slash == path || strlen(slash + 1) == 0)
                        return -ENAMETOOLONG;
                _cleanup_free_ char *dir = strndup(path, (size_t) (slash - path));
                if (!dir)
                        return -ENOMEM;
                dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dirfd < 0)
                        return -errno;
                if ((size_t) snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd,
                                      slash + 1) >= sizeof a.sun_path) {
                        close(dirfd);
                        return -ENAMETOOLONG;
                }
        } else
                memcpy(a.sun_path, path, len);
        *ret_address = a;
        *ret_size = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1);
        *ret_dirfd = dirfd;
        return 0;
}

int unix_socket_connect(const char *path, bool nonblock) {
        struct sockaddr_un a;
        socklen_t size;
        _cleanup_close_ int dirfd = -1;
        int r = unix_socket_address(path, &a, &size, &dirfd);
        if (r < 0)
                return r;
        _cleanup_close_ int fd =
                socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &a, size) < 0)
                return -errno;
        return TAKE_FD(fd);
}
