/* SPDX-License-Identifier: MIT */
/*
 * secrets-file: a directory with one file per secret, named after it, the
 * way systemd credentials are laid out (one trailing newline is not part of
 * the value).
 *
 *     secrets = { file = { directory = "/etc/udfcron/secrets"; }; };
 *
 * The directory is read at each lookup, so a rotated secret is picked up by
 * the next run without a reload. The systemd credentials of the daemon's own
 * unit ($CREDENTIALS_DIRECTORY) need no plugin: the daemon asks them first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <udfcron/plugin.h>

#define SECRET_MAX (64 * 1024)

struct options {
        char *directory;
};

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
};

static void close_fd(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_fd_ __attribute__((cleanup(close_fd)))

/* Reads secret `name` into buf (of SECRET_MAX + 1 bytes); -ENOENT when there is none. */
static int read_secret(const struct ctx *c, const char *name, char *buf, size_t *ret_size) {
        struct stat st;
        size_t size = 0;

        /* names are file names in this directory: nothing that could lead elsewhere */
        if (!*name || name[0] == '.' || strchr(name, '/'))
                return -ENOENT;
        _cleanup_fd_ int dir_fd = open(c->options->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        _cleanup_fd_ int fd =
                openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno; /* a symbolic link could point anywhere */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        for (;;) {
                ssize_t n = read(fd, buf + size, SECRET_MAX + 1 - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > SECRET_MAX)
                        return -EFBIG;
        }
        if (size > 0 && buf[size - 1] == '\n')
                size--;
        buf[size] = '\0';
        *ret_size = size;
        return 0;
}

static int file_lookup(void *ctx, const char *name, udfcron_secret_done done, void *userdata) {
        char *buf = malloc(SECRET_MAX + 2);
        size_t size = 0;
        if (!buf)
                return -ENOMEM;
        int r = read_secret(ctx, name, buf, &size);
        done(userdata, r, r < 0 ? NULL : buf);
        explicit_bzero(buf, SECRET_MAX + 2);
        free(buf);
        return 0;
}

static int file_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                     void **ret_ctx) {
        const struct options *o = options;
        struct stat st;

        if (stat(o->directory, &st) < 0)
                return host->log(self, LOG_ERR, errno, "directory %s: %m", o->directory);
        if (!S_ISDIR(st.st_mode))
                return host->log(self, LOG_ERR, ENOTDIR, "directory %s: %m", o->directory);
        if (st.st_mode & (S_IROTH | S_IWOTH))
                host->log(self, LOG_WARNING, 0,
                          "directory %s is open to everyone (mode %04o): chmod o-rwx it", o->directory,
                          (unsigned) (st.st_mode & 07777));

        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return host->log(self, LOG_ERR, ENOMEM, "cannot start: %m");
        *c = (struct ctx){ .host = host, .self = self, .options = o };
        *ret_ctx = c;
        return 0;
}

static void file_destroy(void *ctx) {
        free(ctx);
}

static const struct udfcron_secrets_vtable vtable = {
        .lookup = file_lookup,
};

static const struct udfcron_option file_options[] = {
        { .name = "directory",
          .type = UDFCRON_OPTION_PATH,
          .offset = offsetof(struct options, directory),
          .required = true,
          .doc = "one file per secret, named after it" },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "file",
        .kind = UDFCRON_PLUGIN_SECRETS,
        .init = file_init,
        .destroy = file_destroy,
        .vtable = &vtable,
        .options = file_options,
        .options_size = sizeof(struct options),
        .description = "secrets from a directory of files, one per secret",
};
