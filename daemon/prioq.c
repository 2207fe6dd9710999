/* SPDX-License-Identifier: MIT */
#include "prioq.h"

#include <errno.h>
#include <stdlib.h>

static void place(Prioq *q, size_t i, PrioqItem *item) {
        q->items[i] = item;
        item->idx = (unsigned) i;
}

static void sift_up(Prioq *q, size_t i) {
        PrioqItem *item = q->items[i];
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (q->items[parent]->key <= item->key)
                        break;
                place(q, i, q->items[parent]);
                i = parent;
        }
        place(q, i, item);
}

static void sift_down(Prioq *q, size_t i) {
        PrioqItem *item = q->items[i];
        for (;;) {
                size_t child = 2 * i + 1;
                if (child >= q->n)
                        break;
                if (child + 1 < q->n && q->items[child + 1]->key < q->items[child]->key)
                        child++;
                if (item->key <= q->items[child]->key)
                        break;
                place(q, i, q->items[child]);
                i = child;
        }
        place(q, i, item);
}

int prioq_push(Prioq *q, PrioqItem *item) {
        if (q->n == q->capacity) {
                size_t capacity = q->capacity ? q->capacity * 2 : 64;
                PrioqItem **items = reallocarray(q->items, capacity, sizeof *items);
                if (!items)
                        return -ENOMEM;
                q->items = items;
                q->capacity = capacity;
        }
        place(q, q->n++, item);
        sift_up(q, q->n - 1);
        return 0;
}

void prioq_remove(Prioq *q, PrioqItem *item) {
        size_t i = item->idx;
        if (i == PRIOQ_IDX_NULL || i >= q->n || q->items[i] != item)
                return;
        item->idx = PRIOQ_IDX_NULL;
        PrioqItem *last = q->items[--q->n];
        if (i == q->n)
                return;
        place(q, i, last);
        prioq_reshuffle(q, last);
}

void prioq_reshuffle(Prioq *q, PrioqItem *item) {
        size_t i = item->idx;
        if (i == PRIOQ_IDX_NULL)
                return;
        if (i > 0 && q->items[(i - 1) / 2]->key > item->key)
                sift_up(q, i);
        else
                sift_down(q, i);
}

PrioqItem *prioq_peek(const Prioq *q) {
        return q->n > 0 ? q->items[0] : NULL;
}

PrioqItem *prioq_pop(Prioq *q) {
        PrioqItem *top = prioq_peek(q);
        if (top)
                prioq_remove(q, top);
        return top;
}

void prioq_done(Prioq *q) {
        free(q->items);
        *q = (Prioq){};
}
