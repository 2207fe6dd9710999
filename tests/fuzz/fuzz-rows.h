/* SPDX-License-Identifier: MIT */
#pragma once

/* What the fuzzers of ingest-rows' readers share: an outcome, and what two readings must agree on. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ingest-rows/rows.h"

typedef struct Outcome {
        int result;
        Rows rows;
        char error[512];
} Outcome;

/*
 * Reading an input of `size` bytes at once and in slices found the same: the result, the error, every
 * row byte for byte. Every row lies inside the input, and every failure but -ENOMEM explains itself.
 */
static inline void outcomes_agree(const Outcome *once, const Outcome *sliced, size_t size) {
        if (once->result != sliced->result || once->rows.n != sliced->rows.n ||
            strcmp(once->error, sliced->error) != 0)
                abort();
        if (once->result < 0 && once->result != -ENOMEM && once->error[0] == '\0')
                abort();
        for (size_t i = 0; i < once->rows.n; i++) {
                const Row *row = &once->rows.rows[i];
                if (row->offset > size || row->size > size - row->offset ||
                    memcmp(row, &sliced->rows.rows[i], sizeof *row) != 0)
                        abort();
        }
}
