/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the URL parsing of storage-file and the host's scheme parser: what
 * file_url_to_path() accepts is an absolute path that file_url_from_path()
 * turns back into a URL naming the same path, and file_path_below() only
 * ever answers with a part of the path it was given; file_path_normalize()
 * leaves no "//", ".", ".." or trailing slash, and changes nothing twice.
 * The input is a URL, then optionally a NUL and a root directory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/storage-file/file-url.h"
#include "cleanup.h"
#include "fuzz-util.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 4096)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size), *path = NULL, *again = NULL, *back = NULL;
        if (!text)
                return 0;
        const char *nul = memchr(data, 0, size),
                   *root = nul ? text + (nul - (const char *) data) + 1 : "/srv";

        char scheme[URL_SCHEME_MAX];
        int n = url_scheme(text, scheme);
        if (n >= 0 && ((size_t) n != strlen(scheme) || n == 0 || strncmp(text + n, "://", 3) != 0))
                abort();

        if (file_url_to_path(text, &path) < 0)
                return 0;
        if (path[0] != '/' || n < 0 || strcmp(scheme, "file") != 0)
                abort(); /* accepted: a file:// URL with an absolute path */
        if (!(back = file_url_from_path(path)) || file_url_to_path(back, &again) < 0 ||
            strcmp(again, path) != 0)
                abort(); /* encoding and decoding agree */

        const char *below = file_path_below(root, path);
        if (below && (below < path || below > path + strlen(path) || below[0] == '/'))
                abort();

        _cleanup_free_ char *normal = strdup(path), *twice = NULL;
        if (!normal)
                return 0;
        file_path_normalize(normal);
        size_t len = strlen(normal);
        if (normal[0] != '/' || strstr(normal, "//") || strstr(normal, "/./") || strstr(normal, "/../") ||
            (len > 1 && normal[len - 1] == '/') || (len >= 2 && strcmp(normal + len - 2, "/.") == 0) ||
            (len >= 3 && strcmp(normal + len - 3, "/..") == 0))
                abort();
        if (!(twice = strdup(normal)))
                return 0;
        file_path_normalize(twice);
        if (strcmp(twice, normal) != 0)
                abort();
        return 0;
}
