/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A binary min-heap of items keyed by a uint64_t, with O(log n) push, pop,
 * remove and reposition. Each item stores its own heap position (an unsigned
 * the caller embeds and never touches), so removal needs no search.
 */

#include <stddef.h>
#include <stdint.h>

#define PRIOQ_IDX_NULL ((unsigned) -1)

typedef struct PrioqItem {
        uint64_t key;
        unsigned idx; /* position in the heap; PRIOQ_IDX_NULL when not queued */
} PrioqItem;

typedef struct Prioq {
        PrioqItem **items;
        size_t n, capacity;
} Prioq;

/* The item is borrowed: the caller keeps it alive while queued. */
int prioq_push(Prioq *q, PrioqItem *item);
void prioq_remove(Prioq *q, PrioqItem *item);    /* no-op when not queued */
void prioq_reshuffle(Prioq *q, PrioqItem *item); /* after item->key changed */
PrioqItem *prioq_peek(const Prioq *q);           /* NULL when empty */
PrioqItem *prioq_pop(Prioq *q);
void prioq_done(Prioq *q); /* frees the array, not the items */

/* The struct containing a PrioqItem member. */
#define prioq_entry(ptr, type, member) ((type *) ((char *) (ptr) -offsetof(type, member)))
