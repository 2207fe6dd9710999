/* SPDX-License-Identifier: MIT */
/*
 * storage-file against the real file system, through the plugin host as
 * the daemon and udfcronctl use it: atomic private writes, reads, sorted and
 * paged listings, deletes, and no way out of the root, whether by "..", a
 * symbolic link, a look-alike prefix or a URL trick.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "fileio.h"
#include "storage.h"

#define LIST_MAX 8

typedef struct Fixture {
        Harness *h;
        char *root;    /* the storage root: dir/root */
        char *outside; /* dir/outside, next to it */
} Fixture;

typedef struct Reply {
        bool called;
        int error;
        char data[256];
        size_t size;
        size_t n;
        char urls[LIST_MAX][256];
        uint64_t sizes[LIST_MAX];
        bool dirs[LIST_MAX];
        char next[64];
        bool has_next;
        uint64_t object_size; /* get_range */
} Reply;

static void on_done(void *userdata, int error) {
        Reply *a = userdata;
        a->called = true;
        a->error = error;
}

static void on_data(void *userdata, int error, const void *data, size_t size) {
        Reply *a = userdata;
        on_done(a, error);
        if (error >= 0) {
                assert_true(size < sizeof a->data);
                memcpy(a->data, data, size);
                a->size = size;
        }
}

static void on_range(void *userdata, int error, const void *data, size_t size, uint64_t object_size) {
        Reply *a = userdata;
        on_data(a, error, data, size);
        a->object_size = object_size;
}

static void on_list(void *userdata, int error, const struct udfcron_storage_entry *entries, size_t n,
                    const char *next) {
        Reply *a = userdata;
        on_done(a, error);
        assert_true(n <= LIST_MAX);
        for (size_t i = 0; i < n; i++) {
                snprintf(a->urls[i], sizeof a->urls[i], "%s", entries[i].url);
                a->sizes[i] = entries[i].size;
                a->dirs[i] = entries[i].is_directory;
                assert_true(entries[i].mtime_usec > 0);
        }
        a->n = n;
        a->has_next = next != NULL;
        if (next)
                snprintf(a->next, sizeof a->next, "%s", next);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        _cleanup_free_ char *body = NULL;
        assert_non_null(f);
        f->h = harness_new();
        f->root = testdir_mkdir(f->h->dir, "root", 0755);
        f->outside = testdir_mkdir(f->h->dir, "outside", 0755);
        free(testdir_write(f->outside, "secret.txt", "outside\n", 0644));
        /* written with a trailing slash: the same root */
        assert_true(asprintf(&body, "storage = { file = { root = \"%s/\"; }; };\n", f->root) > 0);
        assert_int_equal(harness_apply(f->h, body), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        harness_free(f->h);
        free(f->root);
        free(f->outside);
        free(f);
        return 0;
}

/* "file://<root>/<rel>" */
static char *url(const Fixture *f, const char *rel) {
        char *u;
        assert_true(asprintf(&u, "file://%s/%s", f->root, rel) > 0);
        return u;
}

static int put(Fixture *f, const char *u, const void *data, size_t size) {
        Reply a = {};
        int r = storage_put(f->h->host, NULL, u, data, size, NULL, on_done, &a, NULL);
        if (r < 0)
                return r;
        harness_wait(f->h, &a.called);
        return a.error;
}

static int get(Fixture *f, const char *u, size_t max, Reply *a) {
        *a = (Reply){};
        int r = storage_get(f->h->host, NULL, u, max, on_data, a, NULL);
        if (r < 0)
                return r;
        harness_wait(f->h, &a->called);
        return a->error;
}

static int get_range(Fixture *f, const char *u, uint64_t offset, size_t max, Reply *a) {
        *a = (Reply){};
        int r = storage_get_range(f->h->host, NULL, u, offset, max, on_range, a, NULL);
        if (r < 0)
                return r;
        harness_wait(f->h, &a->called);
        return a->error;
}

static int list(Fixture *f, const char *u, const char *page, size_t page_size, Reply *a) {
        *a = (Reply){};
        int r = storage_list(f->h->host, NULL, u, page, page_size, on_list, a, NULL);
        if (r < 0)
                return r;
        harness_wait(f->h, &a->called);
        return a->error;
}

static int rm(Fixture *f, const char *u) {
        Reply a = {};
        int r = storage_remove(f->h->host, NULL, u, on_done, &a, NULL);
        if (r < 0)
                return r;
        harness_wait(f->h, &a.called);
        return a.error;
}

/* The whole content of a file, or NULL when it does not exist. */
static char *slurp(const char *dir, const char *rel, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        char *data = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        assert_int_equal(read_full_fd(fd, 1 << 20, &data, ret_size), 0);
        close(fd);
        return data;
}

static mode_t mode_of(const char *dir, const char *rel) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_put_get(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *u = url(f, "runs/2024-03-10/out.json");
        _cleanup_free_ char *content = NULL;
        static const char bytes[] = "{\"a\": 1}\n\0binary\xff";
        Reply a;
        size_t size;

        assert_int_equal(put(f, u, bytes, sizeof bytes - 1), 0);
        content = slurp(f->root, "runs/2024-03-10/out.json", &size);
        assert_non_null(content);
        assert_int_equal(size, sizeof bytes - 1);
        assert_memory_equal(content, bytes, size);
        /* private: files 0600, the directories made on the way 0700 */
        assert_int_equal(mode_of(f->root, "runs/2024-03-10/out.json"), 0600);
        assert_int_equal(mode_of(f->root, "runs/2024-03-10"), 0700);
        assert_int_equal(mode_of(f->root, "runs"), 0700);

        assert_int_equal(get(f, u, 1024, &a), 0);
        assert_int_equal(a.size, sizeof bytes - 1);
        assert_memory_equal(a.data, bytes, a.size);
        assert_int_equal(get(f, u, 5, &a), -EFBIG);

        /* a piece at a time: from an offset, at most max bytes, fewer at the end, none past it */
        assert_int_equal(get_range(f, u, 0, 5, &a), 0);
        assert_int_equal(a.object_size, sizeof bytes - 1);
        assert_int_equal(a.size, 5);
        assert_memory_equal(a.data, bytes, 5);
        assert_int_equal(get_range(f, u, 10, 100, &a), 0);
        assert_int_equal(a.size, sizeof bytes - 1 - 10);
        assert_memory_equal(a.data, bytes + 10, a.size);
        assert_int_equal(get_range(f, u, sizeof bytes + 7, 100, &a), 0);
        assert_int_equal(a.size, 0);
        _cleanup_free_ char *missing = url(f, "runs/none.json");
        assert_int_equal(get_range(f, missing, 0, 100, &a), -ENOENT);

        /* replaced whole; no temporary file stays behind */
        assert_int_equal(put(f, u, "new", 3), 0);
        assert_int_equal(get(f, u, 1024, &a), 0);
        assert_string_equal(a.data, "new");
        _cleanup_free_ char *dir = url(f, "runs/2024-03-10/");
        assert_int_equal(list(f, dir, NULL, 0, &a), 0);
        assert_int_equal(a.n, 1);

        /* localhost is this host; percent escapes are decoded */
        _cleanup_free_ char *local = NULL, *spaced = url(f, "with%20space%2Bplus.txt");
        assert_true(asprintf(&local, "file://localhost%s/runs/2024-03-10/out.json", f->root) > 0);
        assert_int_equal(get(f, local, 1024, &a), 0);
        assert_string_equal(a.data, "new");
        assert_int_equal(put(f, spaced, "s", 1), 0);
        free(slurp(f->root, "with space+plus.txt", &size));
        assert_int_equal(size, 1);
}

static void test_get_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *missing = url(f, "missing.json"), *dir = url(f, "d"), *fifo = url(f, "fifo");
        _cleanup_free_ char *fifo_path = NULL;
        Reply a;

        free(testdir_mkdir(f->root, "d", 0755));
        assert_true(asprintf(&fifo_path, "%s/fifo", f->root) > 0);
        assert_int_equal(mkfifo(fifo_path, 0600), 0);
        assert_int_equal(get(f, missing, 1024, &a), -ENOENT);
        assert_int_equal(get(f, dir, 1024, &a), -EISDIR);
        assert_int_equal(get(f, fifo, 1024, &a), -EINVAL); /* refused, without blocking on it */

        /* URLs the plugin does not take */
        _cleanup_free_ char *query = url(f, "x?y=1"), *escape = url(f, "x%zz"), *nul = url(f, "x%00y");
        assert_int_equal(get(f, query, 1024, &a), -EINVAL);
        assert_int_equal(get(f, escape, 1024, &a), -EINVAL);
        assert_int_equal(get(f, nul, 1024, &a), -EINVAL);
        assert_int_equal(get(f, "file://otherhost/x", 1024, &a), -EINVAL);
        assert_int_equal(put(f, dir, "x", 1), -EISDIR); /* a directory is not replaced by a file */
        _cleanup_free_ char *slash = url(f, "d/");
        assert_int_equal(put(f, slash, "x", 1), -EISDIR);
}

static void test_list(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *top = url(f, ""), *sub = url(f, "c"), *missing = url(f, "nope/");
        _cleanup_free_ char *file = url(f, "a"), *expected = NULL;
        Reply a;

        free(testdir_write(f->root, "b", "bb", 0600));
        free(testdir_write(f->root, "a", "a", 0600));
        free(testdir_mkdir(f->root, "c", 0700));
        free(testdir_write(f->root, "c/inner", "", 0600));
        free(testdir_write(f->root, ".udfcron-tmp-0123", "half written", 0600)); /* never listed */
        free(testdir_write(f->root, "with space", "", 0600));

        assert_int_equal(list(f, top, NULL, 0, &a), 0);
        assert_int_equal(a.n, 4);
        assert_false(a.has_next);
        assert_true(asprintf(&expected, "file://%s/a", f->root) > 0);
        assert_string_equal(a.urls[0], expected);
        assert_int_equal(a.sizes[1], 2);
        free(expected);
        assert_true(asprintf(&expected, "file://%s/c/", f->root) > 0);
        assert_string_equal(a.urls[2], expected);
        assert_true(a.dirs[2]);
        assert_false(a.dirs[0]);
        free(expected);
        assert_true(asprintf(&expected, "file://%s/with%%20space", f->root) > 0);
        assert_string_equal(a.urls[3], expected);

        /* pages of two: the token goes on after the last name */
        assert_int_equal(list(f, top, NULL, 2, &a), 0);
        assert_int_equal(a.n, 2);
        assert_true(a.has_next);
        assert_string_equal(a.next, "b");
        _cleanup_free_ char *next = strdup(a.next);
        assert_int_equal(list(f, top, next, 2, &a), 0);
        assert_int_equal(a.n, 2);
        assert_false(a.has_next);
        assert_non_null(strstr(a.urls[0], "/c/"));

        assert_int_equal(list(f, sub, NULL, 0, &a), 0); /* with or without the trailing slash */
        assert_int_equal(a.n, 1);
        assert_int_equal(list(f, missing, NULL, 0, &a), -ENOENT);
        assert_int_equal(list(f, file, NULL, 0, &a), -ENOTDIR);
}

static void test_remove(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *u = url(f, "x/y"), *dir = url(f, "x"), *missing = url(f, "x/z");
        size_t size;

        assert_int_equal(put(f, u, "1", 1), 0);
        assert_int_equal(rm(f, u), 0);
        assert_null(slurp(f->root, "x/y", &size));
        assert_int_equal(rm(f, u), -ENOENT);
        assert_int_equal(rm(f, missing), -ENOENT);
        assert_int_equal(rm(f, dir), -EISDIR);
}

static void test_no_way_out(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *dotdot = url(f, "../outside/secret.txt"),
                            *dotdot_put = url(f, "a/../../outside/new");
        _cleanup_free_ char *absolute = NULL, *lookalike = NULL, *link_dir = NULL, *link_file = NULL;
        _cleanup_free_ char *via_link = url(f, "escape/secret.txt"), *into_link = url(f, "escape/planted");
        _cleanup_free_ char *file_link = url(f, "leak"), *inner = url(f, "alias/ok.txt");
        Reply a;
        size_t size;

        assert_true(asprintf(&absolute, "file://%s/secret.txt", f->outside) > 0);
        assert_true(asprintf(&lookalike, "file://%s-evil/x", f->root) >
                    0); /* "/root-evil" is not below "/root" */
        assert_true(asprintf(&link_dir, "%s/escape", f->root) > 0);
        assert_true(asprintf(&link_file, "%s/leak", f->root) > 0);
        assert_int_equal(symlink(f->outside, link_dir), 0);
        assert_int_equal(symlink("../outside/secret.txt", link_file), 0);

        assert_int_equal(get(f, dotdot, 1024, &a), -EPERM);
        assert_int_equal(put(f, dotdot_put, "x", 1), -EPERM);
        assert_int_equal(get(f, absolute, 1024, &a), -EPERM);
        assert_int_equal(put(f, lookalike, "x", 1), -EPERM);
        assert_int_equal(get(f, via_link, 1024, &a), -EPERM);
        assert_int_equal(put(f, into_link, "x", 1), -EPERM);
        assert_int_equal(get(f, file_link, 1024, &a), -EPERM);
        _cleanup_free_ char *link_list = url(f, "escape/");
        assert_int_equal(list(f, link_list, NULL, 0, &a), -EPERM);
        assert_int_equal(rm(f, via_link), -EPERM);
        assert_null(slurp(f->outside, "new", &size));
        assert_null(slurp(f->outside, "planted", &size));
        _cleanup_free_ char *kept = slurp(f->outside, "secret.txt", &size);
        assert_string_equal(kept, "outside\n");

        /* writing over a link replaces the link, never what it points to */
        assert_int_equal(put(f, file_link, "replaced", 8), 0);
        _cleanup_free_ char *still = slurp(f->outside, "secret.txt", &size);
        assert_string_equal(still, "outside\n");
        struct stat st;
        assert_int_equal(lstat(link_file, &st), 0);
        assert_true(S_ISREG(st.st_mode));

        /* a link that stays inside the root is followed */
        free(testdir_mkdir(f->root, "real", 0700));
        free(testdir_write(f->root, "real/ok.txt", "inside", 0600));
        _cleanup_free_ char *alias = NULL;
        assert_true(asprintf(&alias, "%s/alias", f->root) > 0);
        assert_int_equal(symlink("real", alias), 0);
        assert_int_equal(get(f, inner, 1024, &a), 0);
        assert_string_equal(a.data, "inside");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
                cmocka_unit_test_setup_teardown(test_get_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_way_out, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
