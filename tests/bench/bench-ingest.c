/* SPDX-License-Identifier: MIT */
/*
 * The partition step of ingest-rows, run as the daemon runs it: the real
 * plugin (../plugins next to this binary) and storage-file on an sd-event loop
 * of our own, started through ingest_start(). For each input and slice size:
 *
 *   rows/s   the whole step: read the input through storage, parse, sort,
 *            plan, write every file and the index through storage;
 *   stall    the longest single dispatch of the loop while it ran (a slice,
 *            or one file's storage call), and the 99th percentile: how long
 *            anything else on the loop (a timer, a child's output) may wait;
 *
 * next to its peer, the same work in one blocking pass (the readers, sort and
 * plan at once, the files written with plain write(): the floor that slicing
 * and the storage layer add to, and the stall a partitioner in the loop would
 * cause without slicing). Inputs: 1,000,000 CSV points (id, name, lon, lat;
 * two clusters and a sparse world) and 200,000 GeoJSON point features, under
 * $TMPDIR (default /tmp). Exit status 0 unless the setup fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "../../plugins/ingest-rows/csv.h"
#include "../../plugins/ingest-rows/geojson.h"
#include "../../plugins/ingest-rows/partition.h"
#include "../support/bench-util.h"
#include "../support/plugin-harness.h"
#include "../support/testdir.h"
#include "fileio.h"
#include "ingest.h"
#include "plugin-host.h"

#define CSV_ROWS     1000000
#define GEOJSON_ROWS 200000
#define PER_FILE     100000
#define PER_CHUNK    10000

static char *dir, *plugins;

static void remove_dir(void) {
        dir = testdir_free(dir);
}

/* Writes the inputs: points in two dense clusters and across the world, deterministic. */
static void write_inputs(const char *csv, const char *geojson) {
        FILE *c = fopen(csv, "we"), *g = fopen(geojson, "we");
        if (!c || !g)
                die("cannot write the inputs: %m");
        srand(42);
        fputs("id,name,lon,lat\n", c);
        fputs("{\"type\": \"FeatureCollection\", \"features\": [\n", g);
        for (size_t i = 0; i < CSV_ROWS; i++) {
                double lon, lat;
                switch (i % 3) {
                case 0:
                        lon = 2.2 + rand() / (double) RAND_MAX * 0.3,
                        lat = 48.8 + rand() / (double) RAND_MAX * 0.1;
                        break;
                case 1:
                        lon = -74.1 + rand() / (double) RAND_MAX * 0.3,
                        lat = 40.6 + rand() / (double) RAND_MAX * 0.2;
                        break;
                default:
                        lon = rand() / (double) RAND_MAX * 360 - 180,
                        lat = rand() / (double) RAND_MAX * 170 - 85;
                }
                fprintf(c, "%zu,\"point %zu\",%.6f,%.6f\n", i, i, lon, lat);
                if (i < GEOJSON_ROWS)
                        fprintf(g,
                                "%s{\"type\": \"Feature\", \"properties\": {\"id\": %zu}, \"geometry\": "
                                "{\"type\": \"Point\", \"coordinates\": [%.6f, %.6f]}}",
                                i > 0 ? ",\n" : "", i, lon, lat);
        }
        fputs("\n]}\n", g);
        if (fclose(c) != 0 || fclose(g) != 0)
                die("cannot write the inputs: %m");
}

/* ------------------------------------------------------------------ through the daemon's loop */

typedef struct Outcome {
        bool done;
        int error;
        char message[512];
} Outcome;

static void on_log(void *userdata, int priority, const char *line) {
        (void) userdata, (void) priority, (void) line;
}

static void on_done(void *userdata, int error, const char *message, const char *result) {
        Outcome *s = userdata;
        (void) result;
        s->done = true;
        s->error = error;
        snprintf(s->message, sizeof s->message, "%s", message ?: "");
}

static int compare_ns(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

/* Runs one step with `slice_rows`; prints its row. */
static void run_step(const char *name, const char *input, size_t rows, size_t slice_rows) {
        Harness *h = harness_new_on(plugins);
        char *text = NULL, out[PATH_MAX + 16];

        if (asprintf(&text,
                     "storage = { file = { root = \"%s\"; }; };\n"
                     "ingest = { rows = { slice_rows = %zu; max_input_size = 1073741824; }; };\n",
                     dir, slice_rows) < 0)
                die("out of memory");
        int r = harness_apply(h, text);
        if (r < 0)
                die("setup: %s", strerror(-r));

        PluginInstance *instance = plugin_host_instance(h->host, PLUGIN_INGEST, "rows");
        const PluginStepType *type = plugin_step_type(plugin_instance_plugin(instance), "partition");
        void *options = plugin_step_options_new(type);
        for (size_t i = 0; i < type->n_options; i++) {
                char value[32];
                const char *o = type->options[i].name;
                snprintf(value, sizeof value, "%d", strcmp(o, "rows_per_file") == 0 ? PER_FILE : PER_CHUNK);
                if ((strcmp(o, "rows_per_file") == 0 || strcmp(o, "rows_per_chunk") == 0) &&
                    plugin_option_set_text(&type->options[i], options, value, NULL) < 0)
                        die("options");
        }
        snprintf(out, sizeof out, "file://%s/out-%s-%zu/", dir, name, slice_rows);
        const struct udfcron_run_info run = {
                .schedule = "bench", .run_id = "0", .attempt = 1, .engine = "local"
        };
        const IngestRequest request = { .run = &run,
                                        .type = "partition",
                                        .name = "partition",
                                        .input = input,
                                        .output = out,
                                        .options = options };

        Outcome step = {};
        IngestCall *call = NULL;
        size_t n = 0, allocated = 1 << 16;
        int64_t *dispatches = malloc(allocated * sizeof(int64_t)), start = mono_ns();
        if (!dispatches || ingest_start(h->host, instance, &request, on_log, on_done, &step, &call) < 0)
                die("cannot start the step");
        while (!step.done) {
                r = sd_event_prepare(h->event);
                if (r == 0)
                        r = sd_event_wait(h->event, UINT64_MAX);
                if (r < 0)
                        die("loop: %s", strerror(-r));
                int64_t t = mono_ns();
                if (r > 0 && (r = sd_event_dispatch(h->event)) < 0)
                        die("dispatch: %s", strerror(-r));
                if (n == allocated &&
                    !(dispatches = realloc(dispatches, (allocated *= 2) * sizeof(int64_t))))
                        die("out of memory");
                dispatches[n++] = mono_ns() - t;
        }
        int64_t total = mono_ns() - start;
        if (step.error < 0)
                die("the step failed: %s", step.message);
        qsort(dispatches, n, sizeof *dispatches, compare_ns);
        printf("%-8s %7zu rows  slice %6zu  %9.0f rows/s  %8.1f ms  stall max %6.2f ms  p99 %6.2f ms  (%zu "
               "turns)\n",
               name, rows, slice_rows, rows / (total / 1e9), total / 1e6, dispatches[n - 1] / 1e6,
               dispatches[n * 99 / 100] / 1e6, n);

        free(dispatches);
        plugin_step_options_free(type, options);
        harness_free(h);
        free(text);
}

/* ------------------------------------------------------------------ the peer: one blocking pass */

static const uint64_t *peer_keys;

static int compare_keys(const void *ctx, uint32_t a, uint32_t b) {
        (void) ctx;
        return (peer_keys[a] > peer_keys[b]) - (peer_keys[a] < peer_keys[b]);
}

static void peer(const char *name, const char *path, bool geojson, size_t rows) {
        int64_t start = mono_ns();
        _cleanup_free_ char *data = NULL;
        size_t size;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_full_fd(fd, SIZE_MAX, &data, &size) < 0)
                die("read %s: %m", path);
        close(fd);

        Rows rs = {};
        char error[256];
        CsvReader csv;
        GeojsonReader gj;
        int r;
        if (geojson) {
                geojson_reader_init(&gj, data, size, &(GeojsonOptions){ .geospatial = true });
                r = geojson_read(&gj, &rs, SIZE_MAX, error, sizeof error);
        } else {
                csv_reader_init(&csv, data, size,
                                &(CsvOptions){ .delimiter = ',',
                                               .header = true,
                                               .lon_column = "lon",
                                               .lat_column = "lat" });
                r = csv_read(&csv, &rs, SIZE_MAX, error, sizeof error);
        }
        if (r != 1 || rs.n != rows)
                die("peer: %s", error);
        uint64_t *keys = malloc(rs.n * sizeof *keys);
        for (size_t i = 0; i < rs.n; i++)
                keys[i] = partition_key(rs.rows[i].bbox[0], rs.rows[i].bbox[1]);
        peer_keys = keys;
        Sorter s;
        Planner p;
        if (sorter_init(&s, rs.n, compare_keys, NULL) < 0 || !sorter_run(&s, SIZE_MAX) ||
            planner_init(&p, PARTITION_QUADKEY, &rs, s.order, keys, PER_FILE, PER_CHUNK) < 0 ||
            planner_run(&p, SIZE_MAX) != 1)
                die("peer: plan");
        for (size_t f = 0; f < p.n_files; f++) {
                char file[PATH_MAX + 32];
                snprintf(file, sizeof file, "%s/peer-%s-%zu", dir, name, f);
                FILE *o = fopen(file, "we");
                if (!o)
                        die("%s: %m", file);
                for (size_t k = p.files[f].first; k < p.files[f].first + p.files[f].n; k++) {
                        const Row *row = &rs.rows[s.order[k]];
                        fwrite(data + row->offset, 1, row->size, o);
                        fputc('\n', o);
                }
                if (fflush(o) != 0 || fsync(fileno(o)) < 0 || fclose(o) != 0)
                        die("%s: %m", file);
        }
        int64_t total = mono_ns() - start;
        printf("%-8s %7zu rows  peer: one blocking pass, plain write()+fsync()  %9.0f rows/s  %8.1f ms  "
               "(stall: all of it)\n",
               name, rows, rows / (total / 1e9), total / 1e6);
        planner_done(&p);
        sorter_done(&s);
        free(keys);
        rows_done(&rs);
        if (!geojson)
                csv_reader_done(&csv);
}

int main(void) {
        char csv[PATH_MAX + 16], geojson[PATH_MAX + 16], url[PATH_MAX + 32];
        plugins = bench_build_path("plugins");
        const char *tmp = getenv("TMPDIR") ?: "/tmp";
        if (asprintf(&dir, "%s/bench-ingest-XXXXXX", tmp) < 0 || !mkdtemp(dir))
                die("mkdtemp: %m");
        atexit(remove_dir);
        snprintf(csv, sizeof csv, "%s/points.csv", dir);
        snprintf(geojson, sizeof geojson, "%s/points.geojson", dir);
        write_inputs(csv, geojson);

        printf("bench-ingest: the partition step (%d rows per file, %d per chunk) through the daemon's "
               "loop, "
               "next to one blocking pass\n",
               PER_FILE, PER_CHUNK);
        static const size_t slices[] = { 4096, 8192, 16384 };
        for (size_t i = 0; i < ELEMENTSOF(slices); i++) {
                snprintf(url, sizeof url, "file://%s", csv);
                run_step("csv", url, CSV_ROWS, slices[i]);
        }
        peer("csv", csv, false, CSV_ROWS);
        for (size_t i = 0; i < ELEMENTSOF(slices); i++) {
                snprintf(url, sizeof url, "file://%s", geojson);
                run_step("geojson", url, GEOJSON_ROWS, slices[i]);
        }
        peer("geojson", geojson, true, GEOJSON_ROWS);
        free(plugins);
        return 0;
}
