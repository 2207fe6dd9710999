/* SPDX-License-Identifier: MIT */
#include "testdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#ifndef UDFCRON_BUILD_DIR
#define UDFCRON_BUILD_DIR "build"
#endif

static void check(int ok, const char *what, const char *path) {
        if (!ok) {
                fprintf(stderr, "test setup: %s %s: %s\n", what, path, strerror(errno));
                abort();
        }
}

static char *join(const char *dir, const char *rel) {
        char *p;
        check(asprintf(&p, "%s/%s", dir, rel) >= 0, "path", rel);
        return p;
}

char *testdir_new(const char *prefix) {
        char *dir;
        check(asprintf(&dir, "/tmp/%s-XXXXXX", prefix) >= 0, "path", prefix);
        check(mkdtemp(dir) != NULL, "mkdtemp", dir);
        check(chmod(dir, 0755) == 0, "chmod", dir);
        return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        (void) chmod(path, 0700); /* a test may have left it unreadable */
        return remove(path);
}

char *testdir_free(char *dir) {
        if (dir)
                (void) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
        return NULL;
}

char *testdir_write(const char *dir, const char *rel, const char *content, mode_t mode) {
        char *path = join(dir, rel);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        size_t n = strlen(content);
        check(fd >= 0, "create", path);
        check(write(fd, content, n) == (ssize_t) n, "write", path);
        check(fchmod(fd, mode) == 0 && close(fd) == 0, "close", path);
        return path;
}

char *testdir_mkdir(const char *dir, const char *rel, mode_t mode) {
        char *path = join(dir, rel);
        check(mkdir(path, mode) == 0 || errno == EEXIST, "mkdir", path);
        check(chmod(path, mode) == 0, "chmod", path);
        return path;
}

char *testdir_copy(const char *dir, const char *rel, const char *from, mode_t mode) {
        char *path = join(dir, rel), *data = NULL;
        size_t size = 0;
        int in = open(from, O_RDONLY | O_CLOEXEC);
        check(in >= 0 && read_full_fd(in, 64 << 20, &data, &size) == 0, "read", from);
        close(in);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        check(fd >= 0 && write(fd, data, size) == (ssize_t) size, "write", path);
        check(fchmod(fd, mode) == 0 && close(fd) == 0, "close", path);
        free(data);
        return path;
}

char *build_path(const char *rel) {
        return join(UDFCRON_BUILD_DIR, rel);
}
