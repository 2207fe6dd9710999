/* SPDX-License-Identifier: MIT */
#include "partition.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GRID (UINT32_C(1) << QUADKEY_LEVELS)

/* ------------------------------------------------------------------ keys */

/* Spreads the low 24 bits of v out to the even bits of the result. */
static uint64_t spread(uint32_t v) {
        uint64_t x = v;
        x = (x | (x << 16)) & UINT64_C(0x0000FFFF0000FFFF);
        x = (x | (x << 8)) & UINT64_C(0x00FF00FF00FF00FF);
        x = (x | (x << 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
        x = (x | (x << 2)) & UINT64_C(0x3333333333333333);
        x = (x | (x << 1)) & UINT64_C(0x5555555555555555);
        return x;
}

static uint32_t cell(double v, double min, double span) {
        double c = (v - min) / span * GRID;
        return c <= 0 ? 0 : c >= GRID ? GRID - 1 : (uint32_t) c;
}

uint64_t partition_key(double lon, double lat) {
        /* rows counted from the north, as quadkeys are: a digit is 2 * south + east */
        return spread(cell(lon, -180, 360)) | spread(cell(90 - lat, 0, 180)) << 1;
}

static unsigned digit(uint64_t key, unsigned level) {
        return (unsigned) (key >> (2 * (QUADKEY_LEVELS - level))) & 3;
}

void partition_quadkey(uint64_t key, unsigned level, char ret[static QUADKEY_LEVELS + 1]) {
        for (unsigned l = 1; l <= level; l++)
                ret[l - 1] = (char) ('0' + digit(key, l));
        ret[level] = '\0';
}

/* ------------------------------------------------------------------ sorting */

int sorter_init(Sorter *s, size_t n, SortCompare compare, const void *ctx) {
        *s = (Sorter){ .n = n, .width = 1, .compare = compare, .ctx = ctx };
        if (!(s->order = malloc((n ? n : 1) * sizeof(uint32_t))) ||
            !(s->tmp = malloc((n ? n : 1) * sizeof(uint32_t)))) {
                sorter_done(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                s->order[i] = (uint32_t) i;
        return 0;
}

bool sorter_run(Sorter *s, size_t budget) {
        size_t moved = 0;
        while (s->width < s->n) {
                /* one pass merges pairs of runs of `width` from order into tmp; a slice ends between pairs
                 */
                while (s->pos < s->n) {
                        size_t lo = s->pos, mid = lo + s->width < s->n ? lo + s->width : s->n,
                               hi = mid + s->width < s->n ? mid + s->width : s->n, i = lo, j = mid, k = lo;
                        while (i < mid && j < hi)
                                s->tmp[k++] = s->compare(s->ctx, s->order[j], s->order[i]) < 0
                                                      ? s->order[j++]
                                                      : s->order[i++];
                        while (i < mid)
                                s->tmp[k++] = s->order[i++];
                        while (j < hi)
                                s->tmp[k++] = s->order[j++];
                        s->pos = hi;
                        moved += hi - lo;
                        if (moved >= budget && s->pos < s->n)
                                return false;
                }
                uint32_t *t = s->order;
                s->order = s->tmp;
                s->tmp = t;
                s->width *= 2;
                s->pos = 0;
                if (moved >= budget && s->width < s->n)
                        return false;
        }
        return true;
}

void sorter_done(Sorter *s) {
        free(s->order);
        free(s->tmp);
        s->order = s->tmp = NULL;
}

/* ------------------------------------------------------------------ planning */

typedef enum CellKind {
        FILE_CELL,  /* rows of a quadtree cell, to be split into files */
        FILE_PIECE, /* the rows of one file */
        CHUNK_CELL, /* rows of a file's cell, to be split into chunks */
} CellKind;

struct StackEntry {
        size_t first, n;
        unsigned level;
        CellKind kind;
};

static int push(Planner *p, size_t first, size_t n, unsigned level, CellKind kind) {
        if (!rows_grow_array((void **) &p->stack, &p->stack_allocated, p->n_stack + 1, sizeof(StackEntry)))
                return -ENOMEM;
        p->stack[p->n_stack++] = (StackEntry){ first, n, level, kind };
        return 0;
}

int planner_init(Planner *p, PartitionMethod method, const Rows *rows, const uint32_t *order,
                 const uint64_t *keys, size_t rows_per_file, size_t rows_per_chunk) {
        *p = (Planner){ .method = method,
                        .rows = rows,
                        .order = order,
                        .keys = keys,
                        .rows_per_file = rows_per_file ? rows_per_file : 1,
                        .rows_per_chunk = rows_per_chunk ? rows_per_chunk : 1 };
        if (method == PARTITION_QUADKEY && rows->n > 0)
                return push(p, 0, rows->n, 0, FILE_CELL);
        return 0;
}

void planner_done(Planner *p) {
        free(p->files);
        free(p->chunks);
        free(p->stack);
        *p = (Planner){};
}

/* The bbox of positions [first, first + n). */
static void bbox_of(const Planner *p, size_t first, size_t n, double ret[4]) {
        for (size_t i = first; i < first + n; i++) {
                const double *b = p->rows->rows[planner_row(p, i)].bbox;
                if (i == first)
                        memcpy(ret, b, 4 * sizeof(double));
                ret[0] = b[0] < ret[0] ? b[0] : ret[0];
                ret[1] = b[1] < ret[1] ? b[1] : ret[1];
                ret[2] = b[2] > ret[2] ? b[2] : ret[2];
                ret[3] = b[3] > ret[3] ? b[3] : ret[3];
        }
}

static int add_file(Planner *p, size_t first, size_t n, unsigned level) {
        if (!rows_grow_array((void **) &p->files, &p->files_allocated, p->n_files + 1, sizeof(PartFile)))
                return -ENOMEM;
        PartFile *f = &p->files[p->n_files++];
        *f = (PartFile){ .first = first, .n = n, .first_chunk = p->n_chunks };
        if (p->method == PARTITION_QUADKEY) /* its bbox grows with its chunks' */
                partition_quadkey(p->keys[planner_row(p, first)], level, f->quadkey);
        if (p->method == PARTITION_COLUMN)
                f->value = rows_value(p->rows, planner_row(p, first));
        return 0;
}

static int add_chunk(Planner *p, size_t first, size_t n, unsigned level) {
        if (!rows_grow_array((void **) &p->chunks, &p->chunks_allocated, p->n_chunks + 1, sizeof(Chunk)))
                return -ENOMEM;
        Chunk *c = &p->chunks[p->n_chunks++];
        *c = (Chunk){ .first = first, .n = n };
        PartFile *f = &p->files[p->n_files - 1];
        if (p->method == PARTITION_QUADKEY) {
                partition_quadkey(p->keys[planner_row(p, first)], level, c->quadkey);
                bbox_of(p, first, n, c->bbox);
                if (f->n_chunks == 0)
                        memcpy(f->bbox, c->bbox, sizeof f->bbox);
                f->bbox[0] = c->bbox[0] < f->bbox[0] ? c->bbox[0] : f->bbox[0];
                f->bbox[1] = c->bbox[1] < f->bbox[1] ? c->bbox[1] : f->bbox[1];
                f->bbox[2] = c->bbox[2] > f->bbox[2] ? c->bbox[2] : f->bbox[2];
                f->bbox[3] = c->bbox[3] > f->bbox[3] ? c->bbox[3] : f->bbox[3];
        }
        f->n_chunks++;
        return 0;
}

/* Pushes the non-empty quadrants of cell e, north-west first on top. */
static int push_quadrants(Planner *p, const StackEntry *e) {
        size_t bounds[5] = { e->first, 0, 0, 0, e->first + e->n };
        for (unsigned d = 1; d < 4; d++) { /* the first position whose digit is >= d */
                size_t lo = bounds[d - 1], hi = e->first + e->n;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (digit(p->keys[planner_row(p, mid)], e->level + 1) < d)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                bounds[d] = lo;
        }
        for (int d = 3; d >= 0; d--)
                if (bounds[d + 1] > bounds[d]) {
                        int r = push(p, bounds[d], bounds[d + 1] - bounds[d], e->level + 1, e->kind);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int plan_cell(Planner *p, const StackEntry *e) {
        int r = 0;
        switch (e->kind) {
        case FILE_CELL:
                if (e->n > p->rows_per_file && e->level < QUADKEY_LEVELS)
                        return push_quadrants(p, e);
                /* it fits, or it is one place: files of rows_per_file rows, the first on top */
                for (size_t k = (e->n - 1) / p->rows_per_file + 1; k-- > 0 && r >= 0;) {
                        size_t first = e->first + k * p->rows_per_file;
                        r = push(p, first,
                                 e->first + e->n - first < p->rows_per_file ? e->first + e->n - first
                                                                            : p->rows_per_file,
                                 e->level, FILE_PIECE);
                }
                return r;
        case FILE_PIECE:
                if ((r = add_file(p, e->first, e->n, e->level)) < 0)
                        return r;
                return push(p, e->first, e->n, e->level, CHUNK_CELL);
        case CHUNK_CELL:
                if (e->n > p->rows_per_chunk && e->level < QUADKEY_LEVELS)
                        return push_quadrants(p, e);
                for (size_t first = e->first; first < e->first + e->n && r >= 0; first += p->rows_per_chunk)
                        r = add_chunk(p, first,
                                      e->first + e->n - first < p->rows_per_chunk ? e->first + e->n - first
                                                                                  : p->rows_per_chunk,
                                      e->level);
                return r;
        }
        return -EINVAL;
}

/* The next file of rows in order (by count, or by count within one value). */
static int plan_next_file(Planner *p) {
        size_t first = p->cursor, end = first + 1;
        const char *value =
                p->method == PARTITION_COLUMN ? rows_value(p->rows, planner_row(p, first)) : NULL;

        while (end < p->rows->n && end - first < p->rows_per_file &&
               (!value || strcmp(value, rows_value(p->rows, planner_row(p, end))) == 0))
                end++;
        int r = add_file(p, first, end - first, 0);
        for (size_t c = first; c < end && r >= 0; c += p->rows_per_chunk)
                r = add_chunk(p, c, end - c < p->rows_per_chunk ? end - c : p->rows_per_chunk, 0);
        p->cursor = end;
        return r;
}

int planner_run(Planner *p, size_t budget) {
        size_t spent = 0;
        while (spent < budget) {
                int r;
                if (p->method == PARTITION_QUADKEY) {
                        if (p->n_stack == 0)
                                return 1;
                        StackEntry e = p->stack[--p->n_stack];
                        r = plan_cell(p, &e);
                        /* a chunk costs its rows (their bbox is computed), anything else its binary searches
                         */
                        bool leaf = e.kind == CHUNK_CELL &&
                                    (e.n <= p->rows_per_chunk || e.level == QUADKEY_LEVELS);
                        spent += leaf ? e.n : 64;
                } else {
                        if (p->cursor >= p->rows->n)
                                return 1;
                        size_t before = p->cursor;
                        r = plan_next_file(p);
                        spent += p->cursor - before;
                }
                if (r < 0)
                        return r;
        }
        return p->method == PARTITION_QUADKEY ? p->n_stack == 0 : p->cursor >= p->rows->n;
}
