/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz target over files and directories given on the command line,
 * so the committed corpora run under ASan+UBSan in `make check` without clang
 * or libFuzzer. Built with the sanitizers; any report aborts the run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                perror(path);
                return -1;
        }
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, cap = 0;
        for (;;) {
                if (size == cap) {
                        cap = cap ? cap * 2 : 4096;
                        uint8_t *n = realloc(buf, cap);
                        if (!n)
                                return -1;
                        buf = n;
                }
                size_t got = fread(buf + size, 1, cap - size, f);
                size += got;
                if (got == 0)
                        break;
        }
        (void) LLVMFuzzerTestOneInput(buf, size);
        return 0;
}

static int replay(const char *path, unsigned *count) {
        struct stat st;
        if (stat(path, &st) < 0) {
                perror(path);
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return replay_file(path);
        }
        struct dirent **names;
        int n = scandir(path, &names, NULL, alphasort), r = 0;
        if (n < 0) {
                perror(path);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                if (r == 0 && names[i]->d_name[0] != '.') {
                        char sub[4096];
                        snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
                        r = replay(sub, count);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;
        for (int i = 1; i < argc; i++)
                if (replay(argv[i], &count) < 0)
                        return EXIT_FAILURE;
        printf("%u inputs replayed, no sanitizer report\n", count);
        return EXIT_SUCCESS;
}
