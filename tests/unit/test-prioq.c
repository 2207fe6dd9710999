/* SPDX-License-Identifier: MIT */
/* prioq: a heap checked against sorting, with removals and key changes in between. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "prioq.h"

#define N 5000

static uint64_t rng(uint64_t *s) {
        *s += UINT64_C(0x9e3779b97f4a7c15); /* splitmix64 */
        uint64_t z = *s;
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void test_pops_in_order_after_random_updates(void **state) {
        (void) state;
        static PrioqItem items[N];
        Prioq q = {};
        uint64_t seed = 42;

        for (size_t i = 0; i < N; i++) {
                items[i] = (PrioqItem){ .key = rng(&seed) % 1000, .idx = PRIOQ_IDX_NULL };
                assert_int_equal(prioq_push(&q, &items[i]), 0);
        }
        for (size_t i = 0; i < N; i += 3) { /* change a third of the keys */
                items[i].key = rng(&seed) % 1000;
                prioq_reshuffle(&q, &items[i]);
        }
        for (size_t i = 1; i < N; i += 7) { /* remove a seventh */
                prioq_remove(&q, &items[i]);
                assert_int_equal(items[i].idx, PRIOQ_IDX_NULL);
                prioq_remove(&q, &items[i]); /* twice is harmless */
        }

        size_t popped = 0;
        uint64_t last = 0;
        for (PrioqItem *it; (it = prioq_pop(&q)); popped++) {
                assert_true(it->key >= last);
                last = it->key;
        }
        assert_int_equal(popped, N - (N - 1 + 6) / 7);
        assert_null(prioq_peek(&q));
        prioq_done(&q);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pops_in_order_after_random_updates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
