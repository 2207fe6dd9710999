/* SPDX-License-Identifier: MIT */
#include "suggest.h"

#include <stdint.h>
#include <string.h>

#include "macro.h"

size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), row[65];
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j], best = MIN(row[j] + 1, row[j - 1] + 1);
                        row[j] = MIN(best, diag + (a[i - 1] != b[j - 1]));
                        diag = up;
                }
        }
        return row[lb];
}

const char *suggest_name(const char *name, const char *const *known) {
        const char *best = NULL;
        size_t best_d = 3;
        for (const char *const *k = known; *k; k++) {
                size_t d = edit_distance(name, *k);
                if (d < best_d) {
                        best_d = d;
                        best = *k;
                }
        }
        return best;
}
