/* SPDX-License-Identifier: MIT */
#pragma once

/* AF_UNIX stream sockets by path, for the control socket's server and client. */

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/*
 * The address of `path`. A path longer than sun_path (108 bytes; test
 * directories get there) is reached through /proc/self/fd/N/NAME, N being
 * its directory opened O_PATH into *ret_dirfd, which must stay open until
 * bind() or connect() is done; otherwise *ret_dirfd is -1.
 */
int unix_socket_address(const char *path, struct sockaddr_un *ret_address, socklen_t *ret_size,
                        int *ret_dirfd);

/*
 * A stream socket connected to `path` (close-on-exec; non-blocking if asked), or -errno: -ENOENT when
 * nothing is there, -ECONNREFUSED when nobody listens, -EAGAIN (non-blocking) when the backlog is full.
 */
int unix_socket_connect(const char *path, bool nonblock);
