/* SPDX-License-Identifier: MIT */
/*
 * What a fan-out costs the daemon besides its children: reading an arg_list
 * file of ITEMS argument sets (as NDJSON and as a JSON array), building one
 * task's parameters (arglist_merge), and joining ITEMS results
 * (fanout_collect). The peer is cJSON_Parse() of the same list as one array:
 * the library alone, without our item-by-item reading that keeps line numbers
 * for error messages. Medians of RUNS runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arglist.h"
#include "cleanup.h"
#include "fanout.h"
#include "json-util.h"

#define ITEMS ARGLIST_ITEMS_MAX
#define RUNS  5

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

static int64_t median(int64_t *v) {
        qsort(v, RUNS, sizeof *v, cmp_i64);
        return v[RUNS / 2];
}

/* ITEMS argument sets, one per line, optionally as "[ a,\n b,\n ... ]". */
static char *make_list(bool array, size_t *ret_size) {
        size_t cap = (size_t) ITEMS * 96 + 16, n = 0;
        char *text = malloc(cap);
        if (!text)
                abort();
        if (array)
                text[n++] = '[';
        for (int i = 0; i < ITEMS; i++)
                n += (size_t) snprintf(text + n, cap - n,
                                       "%s{\"day\": \"2024-01-%02d\", \"region\": \"r-%d\", \"n\": %d}\n",
                                       array && i > 0 ? "," : "", i % 28 + 1, i % 97, i);
        if (array)
                text[n++] = ']';
        text[n] = '\0';
        *ret_size = n;
        return text;
}

static void row(const char *what, int64_t ns, size_t units, const char *unit, size_t bytes) {
        char per[32], rate[32] = "";
        snprintf(per, sizeof per, "%.0f ns/%s", (double) ns / (double) units, unit);
        if (bytes)
                snprintf(rate, sizeof rate, "%.0f MB/s", (double) bytes / ((double) ns / 1e9) / 1e6);
        printf("| %-38s | %9.1f ms | %12s | %10s |\n", what, (double) ns / 1e6, per, rate);
}

static void bench_parse(const char *what, const char *text, size_t size, bool peer) {
        int64_t t[RUNS];
        for (int r = 0; r < RUNS; r++) {
                _cleanup_(json_freep) cJSON *list = NULL;
                _cleanup_free_ char *error = NULL;
                unsigned line;
                int64_t start = now_ns();
                int k = peer ? ((list = cJSON_ParseWithLength(text, size)) ? 0 : -1)
                             : arglist_parse(text, size, NULL, &list, &line, &error);
                t[r] = now_ns() - start;
                if (k < 0 || cJSON_GetArraySize(list) != ITEMS)
                        abort();
        }
        row(what, median(t), ITEMS, "item", size);
}

static void bench_merge(void) {
        _cleanup_(json_freep) cJSON *params =
                cJSON_Parse("{\"day\":\"${scheduled:%F}\",\"zoom\":12,\"bucket\":\"gs://tiles\","
                            "\"overwrite\":false,\"bands\":[\"r\",\"g\",\"b\"]}");
        _cleanup_(json_freep) cJSON *set = cJSON_Parse("{\"region\":\"eu\",\"zoom\":10}");
        int64_t t[RUNS];
        for (int r = 0; r < RUNS; r++) {
                int64_t start = now_ns();
                for (int i = 0; i < ITEMS; i++) {
                        char *json = NULL;
                        if (arglist_merge(params, set, &json) < 0)
                                abort();
                        free(json);
                }
                t[r] = now_ns() - start;
        }
        row("arglist_merge (one task's parameters)", median(t), ITEMS, "task", 0);
}

static void bench_collect(CollectFormat format, const char *what) {
        static const char result[] = "{\"region\": \"eu\", \"tiles\": 4096, \"bytes\": 123456789}";
        _cleanup_free_ TaskResult *results = calloc(ITEMS, sizeof(TaskResult));
        int64_t t[RUNS];
        size_t size = 0;
        if (!results)
                abort();
        for (int i = 0; i < ITEMS; i++)
                results[i] = (TaskResult){ i % 100 == 7 ? NULL : result, sizeof result - 1 };
        for (int r = 0; r < RUNS; r++) {
                _cleanup_free_ char *data = NULL;
                int64_t start = now_ns();
                if (fanout_collect(format, results, ITEMS, &data, &size) < 0)
                        abort();
                t[r] = now_ns() - start;
        }
        row(what, median(t), ITEMS, "task", size);
}

int main(void) {
        size_t ndjson_size, array_size;
        _cleanup_free_ char *ndjson = make_list(false, &ndjson_size), *array = make_list(true, &array_size);

        printf("bench-fanout: %d argument sets (%.1f MB as NDJSON), median of %d runs\n\n", ITEMS,
               (double) ndjson_size / 1e6, RUNS);
        printf("| %-38s | %12s | %12s | %10s |\n", "", "total", "per unit", "throughput");
        printf("|%s|%s|%s|%s|\n", "----------------------------------------", "--------------",
               "--------------", "------------");
        bench_parse("arglist_parse, NDJSON", ndjson, ndjson_size, false);
        bench_parse("arglist_parse, JSON array", array, array_size, false);
        bench_parse("peer: cJSON_Parse, JSON array", array, array_size, true);
        bench_merge();
        bench_collect(COLLECT_JSON, "fanout_collect, JSON array");
        bench_collect(COLLECT_NDJSON, "fanout_collect, NDJSON");
        return 0;
}
