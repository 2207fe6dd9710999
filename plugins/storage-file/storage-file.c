/* SPDX-License-Identifier: MIT */
/*
 * storage-file: file:// URLs under a configured root directory.
 *
 *     storage = { file = { root = "/srv/udfcron"; }; };
 *
 * Every path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * from a descriptor of the root held open for the instance's life, so that
 * neither ".." nor a symbolic link can lead out of it. Writes are atomic (a
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory): a reader sees the old object or the new one, never half of
 * one. Files are created 0600 and directories 0700: outputs are private.
 *
 * Local file operations are quick, so each operation is done at once and
 * answers before it returns, as udfcron/plugin.h allows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <udfcron/plugin.h>

#include "file-url.h"

#define TEMP_PREFIX   ".udfcron-tmp-" /* temporary files, left out of listings */
#define PAGE_SIZE_MAX 10000

struct options {
        char *root;
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        char *root;      /* the option, normalized ("/srv/a/../b/" is "/srv/b"): how URLs spell it */
        char *real_root; /* the directory it resolves to, for URLs that spell that instead */
        int root_fd;
};

/* ------------------------------------------------------------------ paths */

static int openat2_beneath(int dir_fd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOCTTY),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dir_fd, path[0] ? path : ".", &how, sizeof how);
        return fd < 0 ? -errno : (int) fd;
}

static void close_fd(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_fd_ __attribute__((cleanup(close_fd)))

static void free_ptr(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))

/* Says why a path is refused; -EPERM. */
static int outside(const struct ctx *c, const char *url) {
        return c->host->log(c->self, LOG_ERR, EPERM, "%s: outside the root %s, refusing it", url, c->root);
}

/* The path of `url` relative to the root, malloc'd ("" for the root): -EINVAL, or -EPERM when outside. */
static int relative_path(const struct ctx *c, const char *url, char **ret) {
        _cleanup_free_ char *path = NULL;
        int r = file_url_to_path(url, &path);
        if (r == -EINVAL)
                return c->host->log(c->self, LOG_ERR, EINVAL, "%s: not a file:///path URL", url);
        if (r < 0)
                return r;
        const char *below = file_path_below(c->root, path) ?: file_path_below(c->real_root, path);
        if (!below)
                return outside(c, url);
        return (*ret = strdup(below)) ? 0 : -ENOMEM;
}

/* openat2() says EXDEV for a path that leads out of the root ("..", a symbolic link). */
static int beneath_error(const struct ctx *c, const char *url, int r) {
        return r == -EXDEV ? outside(c, url) : r;
}

/*
 * Opens directory `rel` beneath the root; with `create`, makes the missing
 * ones (0700) on the way, each again resolved beneath its parent.
 */
static int open_directory(const struct ctx *c, const char *rel, bool create) {
        int fd = openat2_beneath(c->root_fd, rel, O_RDONLY | O_DIRECTORY, 0);
        if (fd != -ENOENT || !create)
                return fd;

        _cleanup_free_ char *parent = strdup(rel);
        if (!parent)
                return -ENOMEM;
        char *slash = strrchr(parent, '/'), *base = slash ? slash + 1 : parent;
        if (slash)
                *slash = '\0';
        _cleanup_fd_ int parent_fd = open_directory(c, slash ? parent : "", true);
        if (parent_fd < 0)
                return parent_fd;
        if (mkdirat(parent_fd, base, 0700) < 0 && errno != EEXIST)
                return -errno;
        return openat2_beneath(parent_fd, base, O_RDONLY | O_DIRECTORY, 0);
}

/* Splits rel into its directory (returned, malloc'd) and its last component (*ret_base, inside it). */
static char *split_path(const char *rel, const char **ret_base) {
        char *dir = strdup(rel);
        if (!dir)
                return NULL;
        char *slash = strrchr(dir, '/');
        *ret_base = slash ? rel + (slash - dir) + 1 : rel;
        if (slash)
                *slash = '\0';
        else
                dir[0] = '\0';
        return dir;
}

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

/* ------------------------------------------------------------------ operations */

/*
 * Opens the directory holding the object that `url` names (making the missing ones with `create`);
 * *ret_base is the object's name in it, inside *ret_rel (malloc'd, for the caller to free).
 */
static int open_parent(const struct ctx *c, const char *url, bool create, char **ret_rel,
                       const char **ret_base) {
        _cleanup_free_ char *rel = NULL, *dir = NULL;
        const char *base;
        int r;

        if ((r = relative_path(c, url, &rel)) < 0)
                return r;
        if (!(dir = split_path(rel, &base)))
                return -ENOMEM;
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return -EISDIR; /* a URL ending in '/' names a directory */
        int fd = open_directory(c, dir, create);
        if (fd < 0)
                return beneath_error(c, url, fd);
        *ret_base = base;
        *ret_rel = rel;
        rel = NULL;
        return fd;
}

static int put_file(struct ctx *c, const char *url, const void *data, size_t size) {
        _cleanup_free_ char *rel = NULL;
        const char *base;
        char temp[64];
        uint64_t rnd;
        int r;

        _cleanup_fd_ int dir_fd = open_parent(c, url, true, &rel, &base);
        if (dir_fd < 0)
                return dir_fd;

        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint64_t) getpid() << 32 ^ (uint64_t) (uintptr_t) &rnd;
        snprintf(temp, sizeof temp, TEMP_PREFIX "%016llx", (unsigned long long) rnd);
        _cleanup_fd_ int fd =
                openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        /* renameat() replaces `base` itself, even a symbolic link, and never follows one */
        if (r >= 0 && renameat(dir_fd, temp, dir_fd, base) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, temp, 0);
                return r;
        }
        return fsync(dir_fd) < 0 ? -errno : 0;
}

static int file_put(void *ctx, const char *url, const void *data, size_t size, const char *content_type,
                    udfcron_storage_done done, void *userdata) {
        (void) content_type; /* a file has none */
        done(userdata, put_file(ctx, url, data, size));
        return 0;
}

static int read_file(struct ctx *c, const char *url, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *rel = NULL, *data = NULL;
        struct stat st;
        size_t size = 0;
        int r;

        if ((r = relative_path(c, url, &rel)) < 0)
                return r;
        /* O_NONBLOCK: a FIFO must not block the daemon; it is refused below anyway */
        _cleanup_fd_ int fd = openat2_beneath(c->root_fd, rel, O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0)
                return beneath_error(c, url, fd);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;
        if (!(data = malloc((size_t) st.st_size + 1)))
                return -ENOMEM;
        while (size < (size_t) st.st_size) { /* a file that grows meanwhile is read as it was */
                ssize_t n = read(fd, data + size, (size_t) st.st_size - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        data[size] = '\0';
        *ret_data = data;
        data = NULL;
        *ret_size = size;
        return 0;
}

static int file_get(void *ctx, const char *url, size_t max_size, udfcron_storage_data_done done,
                    void *userdata) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file(ctx, url, max_size, &data, &size);
        done(userdata, r, r < 0 ? NULL : data, size);
        return 0;
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in a directory after `page` (NULL: all), sorted, without ".", ".." and temporary files. */
static int read_names(int dir_fd, const char *page, char ***ret_names, size_t *ret_n) {
        int fd = dup(dir_fd); /* closedir() closes it */
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        char **names = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;

        if (!d) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (struct dirent *de; r >= 0 && (errno = 0, de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0 ||
                    (page && strcmp(de->d_name, page) <= 0))
                        continue;
                if (n == allocated) {
                        char **m =
                                reallocarray(names, allocated = allocated ? allocated * 2 : 64, sizeof *m);
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        names = m;
                }
                if (!(names[n] = strdup(de->d_name)))
                        r = -ENOMEM;
                else
                        n++;
        }
        if (r >= 0 && errno != 0)
                r = -errno;
        closedir(d);
        if (r < 0) {
                free_names(names, n);
                return r;
        }
        qsort(names, n, sizeof *names, name_cmp);
        *ret_names = names;
        *ret_n = n;
        return 0;
}

/* One page of a directory's entries, with the URLs spelled from the root. */
typedef struct Page {
        struct udfcron_storage_entry *entries;
        size_t n;
        char *next; /* the last name of this page, when more follow */
} Page;

static void page_done(Page *p) {
        for (size_t i = 0; i < p->n; i++)
                free((char *) p->entries[i].url);
        free(p->entries);
        free(p->next);
}

static int list_page(struct ctx *c, const char *url, const char *page, size_t page_size, Page *ret) {
        _cleanup_free_ char *rel = NULL, *prefix = NULL;
        char **names = NULL;
        size_t n = 0;
        int r;

        if ((r = relative_path(c, url, &rel)) < 0)
                return r;
        for (size_t len = strlen(rel); len > 0 && rel[len - 1] == '/';) /* "dir/" and "dir" are one */
                rel[--len] = '\0';
        _cleanup_fd_ int dir_fd = open_directory(c, rel, false);
        if (dir_fd < 0)
                return beneath_error(c, url, dir_fd);
        if ((r = read_names(dir_fd, page, &names, &n)) < 0)
                return r;
        if (asprintf(&prefix, "%s/%s%s", strcmp(c->root, "/") == 0 ? "" : c->root, rel, *rel ? "/" : "") <
            0) {
                prefix = NULL;
                r = -ENOMEM;
        }
        size_t keep = n < page_size ? n : page_size;
        Page p = { .entries = calloc(keep + 1, sizeof *p.entries) };
        if (!p.entries)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < keep; i++) {
                struct stat st = {};
                bool exists = fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0,
                     is_dir = exists && S_ISDIR(st.st_mode);
                _cleanup_free_ char *path = NULL;
                if (!exists) /* gone since it was read */
                        continue;
                if (asprintf(&path, "%s%s%s", prefix, names[i], is_dir ? "/" : "") < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                p.entries[p.n] = (struct udfcron_storage_entry){
                        .url = file_url_from_path(path),
                        .size = is_dir ? 0 : (uint64_t) st.st_size,
                        .mtime_usec = (uint64_t) st.st_mtim.tv_sec * 1000000 +
                                      (uint64_t) st.st_mtim.tv_nsec / 1000,
                        .is_directory = is_dir,
                };
                if (!p.entries[p.n++].url)
                        r = -ENOMEM;
        }
        if (r >= 0 && n > keep && !(p.next = strdup(names[keep - 1])))
                r = -ENOMEM;
        free_names(names, n);
        if (r < 0) {
                page_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

static int file_list(void *ctx, const char *url, const char *page, size_t page_size,
                     udfcron_storage_list_done done, void *userdata) {
        Page p = {};
        if (page_size == 0 || page_size > PAGE_SIZE_MAX)
                page_size = PAGE_SIZE_MAX;
        int r = list_page(ctx, url, page, page_size, &p);
        done(userdata, r, p.entries, p.n, p.next);
        page_done(&p);
        return 0;
}

static int remove_file(struct ctx *c, const char *url) {
        _cleanup_free_ char *rel = NULL;
        const char *base;

        _cleanup_fd_ int dir_fd = open_parent(c, url, false, &rel, &base);
        if (dir_fd < 0)
                return dir_fd;
        if (unlinkat(dir_fd, base, 0) < 0)
                return -errno;
        return fsync(dir_fd) < 0 ? -errno : 0;
}

static int file_remove(void *ctx, const char *url, udfcron_storage_done done, void *userdata) {
        done(userdata, remove_file(ctx, url));
        return 0;
}

/* ------------------------------------------------------------------ the plugin */

/* mkdir -p for a root that does not exist yet: private, like everything below it. */
static int make_root(const char *root) {
        _cleanup_free_ char *path = strdup(root);
        if (!path)
                return -ENOMEM;
        for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
                if (slash)
                        *slash = '\0';
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        return -errno;
                if (!slash)
                        return 0;
                *slash = '/';
        }
}

static void file_destroy(void *ctx) {
        struct ctx *c = ctx;
        if (!c)
                return;
        if (c->root_fd >= 0)
                close(c->root_fd);
        free(c->root);
        free(c->real_root);
        free(c);
}

static int file_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                     void **ret_ctx) {
        const struct options *o = options;
        struct ctx *c = calloc(1, sizeof *c);
        int r;

        if (!c || !(c->root = strdup(o->root))) {
                free(c);
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        }
        c->host = host;
        c->self = self;
        file_path_normalize(c->root);

        c->root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->root_fd < 0 && errno == ENOENT && (r = make_root(c->root)) >= 0) {
                host->log(self, LOG_INFO, 0, "created the root %s", c->root);
                c->root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (c->root_fd < 0)
                r = host->log(self, LOG_ERR, errno, "root %s: %m", c->root);
        else if (!(c->real_root = realpath(c->root, NULL)))
                r = host->log(self, LOG_ERR, errno, "root %s: %m", c->root);
        else if ((r = openat2_beneath(c->root_fd, ".", O_RDONLY | O_DIRECTORY, 0)) == -ENOSYS)
                r = host->log(self, LOG_ERR, ENOSYS, "needs openat2() (Linux 5.6 or later): %m");
        else if (r >= 0)
                r = close(r);
        if (r < 0) {
                file_destroy(c);
                return r;
        }
        *ret_ctx = c;
        return 0;
}

static const char *const schemes[] = { "file", NULL };

static const struct udfcron_storage_vtable vtable = {
        .schemes = schemes,
        .put = file_put,
        .get = file_get,
        .list = file_list,
        .remove = file_remove,
        .sign = NULL, /* a file:// URL grants nothing by itself */
};

static const struct udfcron_option file_options[] = {
        { .name = "root",
          .type = UDFCRON_OPTION_PATH,
          .offset = offsetof(struct options, root),
          .required = true,
          .doc = "the directory that file:// URLs must lie under" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "file",
        .kind = UDFCRON_PLUGIN_STORAGE,
        .init = file_init,
        .destroy = file_destroy,
        .vtable = &vtable,
        .options = file_options,
        .options_size = sizeof(struct options),
        .description = "file:// URLs under a root directory, written atomically",
};
