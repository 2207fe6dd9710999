/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Partitioning rows into files, and each file into chunks, in slices that
 * each do a bounded amount of work:
 *
 *  - spatial (PARTITION_QUADKEY): rows are sorted by the Z-order (Morton) key
 *    of their bbox's centre on a 2^24 x 2^24 grid of the whole world, so each
 *    quadtree cell is a contiguous run of rows; a file is a cell with at most
 *    rows_per_file rows (cells are split into their four quadrants until they
 *    fit), so it covers a compact area, named by its quadkey (digits 0-3, as
 *    Bing's: 0 north-west, 1 north-east, 2 south-west, 3 south-east, here of
 *    plain longitude/latitude); its chunks are the sub-cells with at most
 *    rows_per_chunk rows. Rows in one deepest cell beyond the limits (the same
 *    place, over and over) are split by count.
 *  - by count (PARTITION_ROWS): files of rows_per_file rows in input order,
 *    chunks of rows_per_chunk rows.
 *  - by a column (PARTITION_COLUMN): rows sorted (stably) by the column's
 *    value; a file holds one value (several files when it has more than
 *    rows_per_file rows), chunks as by count.
 *
 * Pure: no I/O.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rows.h"

#define QUADKEY_LEVELS 24

/* The Morton key of a point (longitude -180..180, latitude -90..90); its quadkey digits from the top bits.
 */
uint64_t partition_key(double lon, double lat);
/* The first `level` quadkey digits of `key`, NUL-terminated. */
void partition_quadkey(uint64_t key, unsigned level, char ret[static QUADKEY_LEVELS + 1]);

/* ------------------------------------------------------------------ sorting in slices */

/* Compares rows a and b: < 0, 0, > 0. */
typedef int (*SortCompare)(const void *ctx, uint32_t a, uint32_t b);

/* A stable bottom-up merge sort of the row numbers 0..n-1 (into `order`), a bounded number of moves at a
 * time. */
typedef struct Sorter {
        uint32_t *order, *tmp;
        size_t n, width, pos;
        SortCompare compare;
        const void *ctx;
} Sorter;

int sorter_init(Sorter *s, size_t n, SortCompare compare, const void *ctx);
/* Does up to about `budget` element moves; returns true once s->order is sorted. */
bool sorter_run(Sorter *s, size_t budget);
void sorter_done(Sorter *s);

/* ------------------------------------------------------------------ the plan */

typedef enum PartitionMethod {
        PARTITION_QUADKEY,
        PARTITION_ROWS,
        PARTITION_COLUMN,
} PartitionMethod;

typedef struct Chunk {
        size_t first, n; /* positions in `order` */
        char quadkey[QUADKEY_LEVELS + 1];
        double bbox[4];
        size_t offset, size; /* where its rows lie in its file, once written (the planner leaves them 0) */
} Chunk;

typedef struct PartFile {
        size_t first, n; /* positions in `order` */
        size_t first_chunk, n_chunks;
        char quadkey[QUADKEY_LEVELS + 1];
        const char *value; /* PARTITION_COLUMN: the value its rows share */
        double bbox[4];
} PartFile;

typedef struct StackEntry StackEntry;

typedef struct Planner {
        PartitionMethod method;
        const Rows *rows;
        const uint32_t *order; /* sorted for PARTITION_QUADKEY and PARTITION_COLUMN */
        const uint64_t *keys;  /* PARTITION_QUADKEY: each row's key */
        size_t rows_per_file, rows_per_chunk;
        PartFile *files;
        size_t n_files, files_allocated;
        Chunk *chunks;
        size_t n_chunks, chunks_allocated;
        StackEntry *stack; /* cells still to look at, PARTITION_QUADKEY */
        size_t n_stack, stack_allocated;
        size_t cursor; /* the next row in `order`, PARTITION_ROWS and PARTITION_COLUMN */
} Planner;

/* All borrowed, to outlive the planner; `order` may be NULL for PARTITION_ROWS (input order). */
int planner_init(Planner *p, PartitionMethod method, const Rows *rows, const uint32_t *order,
                 const uint64_t *keys, size_t rows_per_file, size_t rows_per_chunk);
/* Plans on for about `budget` rows' worth of work: 1 once every row is in a file, 0 when more remains;
 * -ENOMEM. */
int planner_run(Planner *p, size_t budget);
void planner_done(Planner *p);

/* Row number of position i of the plan. */
static inline uint32_t planner_row(const Planner *p, size_t i) {
        return p->order ? p->order[i] : (uint32_t) i;
}
