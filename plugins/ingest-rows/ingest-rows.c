/* SPDX-License-Identifier: MIT */
/*
 * ingest-rows: the `partition` step type, a local partitioner for CSV and
 * GeoJSON inputs, so that a pipeline partitions data with no account anywhere.
 *
 *     ingest = { rows = { }; };
 *     steps = ( ..., { type = "partition"; input = "file:///srv/in.csv"; output = "file:///srv/parts/";
 *                      rows_per_file = 100000; }, ... );
 *
 * A step reads its input through the host's storage, partitions the rows
 * (partition.h) and writes each file, then the index `_index.json`, through
 * the host's storage again. Each phase works in slices of `slice_rows` rows
 * on a host timer, so the daemon's loop is never held for long, and any
 * storage backend serves the input and the output. (A helper process would
 * keep the loop even freer, but it could not reach the host's storage
 * instances, and a forked copy of the daemon that does not exec is what the
 * project's rules forbid.)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udfcron/plugin.h>

#include "buf.h"
#include "csv.h"
#include "geojson.h"
#include "partition.h"
#include "rows.h"

#define INDEX_NAME "_index.json"
#define ERROR_MAX  512

struct options {
        int64_t max_input_size;
        int64_t read_size; /* the input is read this much per turn of the loop, where the storage can */
        int64_t slice_rows;
};

struct step_options {
        char *format; /* auto, csv, geojson */
        bool geospatial;
        char *lon_column, *lat_column;
        bool header;
        char *delimiter;
        int64_t rows_per_file, rows_per_chunk;
        char *partition_column;
};

struct job;

struct ctx {
        const struct udfcron_host *host;
        udfcron_instance *self;
        const struct options *options;
        struct job *jobs;
};

typedef enum Phase {
        PHASE_FETCH, /* waiting for the input */
        PHASE_PARSE,
        PHASE_SORT,
        PHASE_PLAN,
        PHASE_WRITE, /* building a file, or storing it */
        PHASE_INDEX, /* storing the index */
} Phase;

struct job {
        struct ctx *ctx;
        const struct udfcron_ingest_step *step;
        const struct step_options *o;
        udfcron_ingest_done done;
        void *userdata;
        struct job *next;

        Phase phase;
        bool cancelled;
        bool storing; /* a storage call is under way: its callback comes back here */
        udfcron_timer *timer;
        char *output; /* the output URL, ending in '/' */
        bool geojson;
        PartitionMethod method;

        char *input;
        size_t input_size, input_allocated; /* read so far, and the whole input's size */
        CsvReader csv;
        GeojsonReader gj;
        Rows rows;
        uint64_t *keys; /* PARTITION_QUADKEY */
        double bbox[4];
        Sorter sorter;
        Planner planner;

        size_t file;     /* the file being written */
        size_t position; /* the next row of it, a position in the plan */
        size_t chunk;    /* the chunk that row belongs to */
        Buf out;         /* the file */
        Buf index;
        size_t written; /* bytes of all files */
};

/* ------------------------------------------------------------------ the job's end */

static void job_free(struct job *j) {
        struct ctx *c = j->ctx;
        for (struct job **p = &c->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        c->host->timer_stop(j->timer);
        free(j->output);
        free(j->input);
        csv_reader_done(&j->csv);
        rows_done(&j->rows);
        free(j->keys);
        sorter_done(&j->sorter);
        planner_done(&j->planner);
        buf_free(&j->out);
        buf_free(&j->index);
        free(j);
}

static void finish(struct job *j, int error, const char *message, const char *result) {
        udfcron_ingest_done done = j->done;
        void *userdata = j->userdata;
        job_free(j);
        done(userdata, error, message, result);
}

/* Fails the step: `error`, and the input's URL before the reason (the readers' "line 7: ..."). */
__attribute__((format(printf, 3, 4))) static void fail(struct job *j, int error, const char *format, ...) {
        char message[ERROR_MAX + 256];
        int n = snprintf(message, sizeof message, "%s: ", j->step->input);
        va_list ap;
        va_start(ap, format);
        if (n >= 0 && (size_t) n < sizeof message)
                (void) vsnprintf(message + n, sizeof message - (size_t) n, format, ap);
        va_end(ap);
        finish(j, error, message, NULL);
}

static void on_slice(void *userdata);

/* The next slice, on the next loop iteration: whatever else is due runs first. */
static void next_slice(struct job *j) {
        int r = j->ctx->host->timer_start(j->ctx->self, 0, on_slice, j, &j->timer);
        if (r < 0)
                fail(j, r, "cannot arm a timer: %s", strerror(-r));
}

/* ------------------------------------------------------------------ writing */

static const char *file_name(const struct job *j, size_t i, char buf[static 64]) {
        snprintf(buf, 64, "part-%05zu.%s", i, j->geojson ? "geojson" : "csv");
        return buf;
}

static void index_begin(struct job *j) {
        Buf *b = &j->index;
        static const char *const methods[] = {
                [PARTITION_QUADKEY] = "quadkey", [PARTITION_ROWS] = "rows", [PARTITION_COLUMN] = "column"
        };
        buf_printf(b, "{\"version\":1,\"input\":");
        buf_json_string(b, j->step->input);
        buf_printf(b,
                   ",\"format\":\"%s\",\"partitioning\":\"%s\",\"rows\":%zu,\"rows_per_file\":%lld,"
                   "\"rows_per_chunk\":%lld",
                   j->geojson ? "geojson" : "csv", methods[j->method], j->rows.n,
                   (long long) j->o->rows_per_file, (long long) j->o->rows_per_chunk);
        if (!j->geojson) {
                size_t n;
                char *const *columns = csv_columns(&j->csv, &n);
                buf_put(b, ",\"columns\":[", 12);
                for (size_t i = 0; i < n; i++) {
                        buf_put(b, ",", i > 0);
                        buf_json_string(b, columns[i]);
                }
                buf_put(b, "]", 1);
        }
        if (j->method == PARTITION_QUADKEY && !j->geojson) {
                buf_put(b, ",\"lon_column\":", 14);
                buf_json_string(b, j->o->lon_column);
                buf_put(b, ",\"lat_column\":", 14);
                buf_json_string(b, j->o->lat_column);
        }
        if (j->method == PARTITION_COLUMN) {
                buf_put(b, ",\"partition_column\":", 20);
                buf_json_string(b, j->o->partition_column);
        }
        if (j->method == PARTITION_QUADKEY && j->rows.n > 0) {
                buf_put(b, ",\"bbox\":", 8);
                buf_json_bbox(b, j->bbox);
        }
        buf_put(b, ",\"files\":[", 10);
}

/* Adds file i, as written, to the index. */
static void index_file(struct job *j, size_t i) {
        const PartFile *f = &j->planner.files[i];
        Buf *b = &j->index;
        char name[64], *url = NULL;

        if (asprintf(&url, "%s%s", j->output, file_name(j, i, name)) < 0) {
                b->failed = true;
                return;
        }
        buf_put(b, ",", i > 0);
        buf_put(b, "{\"path\":", 8);
        buf_json_string(b, name);
        buf_put(b, ",\"url\":", 7);
        buf_json_string(b, url);
        free(url);
        buf_printf(b, ",\"rows\":%zu,\"bytes\":%zu", f->n, j->out.size);
        if (j->method == PARTITION_QUADKEY) {
                buf_printf(b, ",\"quadkey\":\"%s\",\"bbox\":", f->quadkey);
                buf_json_bbox(b, f->bbox);
        }
        if (j->method == PARTITION_COLUMN) {
                buf_put(b, ",\"value\":", 9);
                buf_json_string(b, f->value);
        }
        buf_put(b, ",\"chunks\":[", 11);
        for (size_t k = 0; k < f->n_chunks; k++) {
                const Chunk *c = &j->planner.chunks[f->first_chunk + k];
                buf_printf(b, "%s{\"id\":\"%zu.%zu\",\"rows\":%zu,\"offset\":%zu,\"size\":%zu",
                           k > 0 ? "," : "", i, k, c->n, c->offset, c->size);
                if (j->method == PARTITION_QUADKEY) {
                        buf_printf(b, ",\"quadkey\":\"%s\",\"bbox\":", c->quadkey);
                        buf_json_bbox(b, c->bbox);
                }
                buf_put(b, "}", 1);
        }
        buf_put(b, "]}", 2);
}

static void on_stored(void *userdata, int error);

static void store(struct job *j, const char *name, const Buf *b, const char *type) {
        char *url = NULL;
        if (asprintf(&url, "%s%s", j->output, name) < 0) {
                fail(j, -ENOMEM, "out of memory");
                return;
        }
        int r = j->ctx->host->storage_put(j->ctx->self, url, b->data, b->size, type, on_stored, j);
        if (r < 0)
                fail(j, r, "cannot store %s: %s", url, strerror(-r));
        else
                j->storing = true;
        free(url);
}

/*
 * Appends up to `budget` rows of the current file, noting where each chunk's rows lie (CSV records with
 * their line ends; GeoJSON features joined by ",\n", so that "[" span "]" is a JSON list of them);
 * stores the file once it is whole.
 */
static void write_slice(struct job *j, size_t budget) {
        static const char head[] = "{\"type\":\"FeatureCollection\",\"features\":[\n", tail[] = "\n]}\n";
        const PartFile *f = &j->planner.files[j->file];
        Buf *out = &j->out;

        if (j->position == f->first) {
                out->size = 0;
                if (j->geojson)
                        buf_put(out, head, sizeof head - 1);
                else if (j->csv.header_size > 0) {
                        buf_put(out, j->input + j->csv.header_offset, j->csv.header_size);
                        buf_put(out, "\n", 1);
                }
                j->chunk = f->first_chunk;
        }
        for (size_t end = f->first + f->n; j->position < end && budget > 0; j->position++, budget--) {
                Chunk *c = &j->planner.chunks[j->chunk];
                if (j->position == c->first + c->n)
                        c = &j->planner.chunks[++j->chunk];
                if (j->geojson && j->position > f->first)
                        buf_put(out, ",\n", 2);
                if (j->position == c->first)
                        c->offset = out->size;
                const Row *row = &j->rows.rows[planner_row(&j->planner, j->position)];
                buf_put(out, j->input + row->offset, row->size);
                if (!j->geojson)
                        buf_put(out, "\n", 1);
                c->size = out->size - c->offset;
        }
        if (j->position < f->first + f->n) {
                if (out->failed)
                        fail(j, -ENOMEM, "out of memory");
                else
                        next_slice(j);
                return;
        }
        if (j->geojson)
                buf_put(out, tail, sizeof tail - 1);
        index_file(j, j->file);
        if (out->failed || j->index.failed) {
                fail(j, -ENOMEM, "out of memory");
                return;
        }
        char name[64];
        store(j, file_name(j, j->file, name), out, j->geojson ? "application/geo+json" : "text/csv");
}

/* ------------------------------------------------------------------ the phases */

static void succeed(struct job *j) {
        char message[ERROR_MAX], *index = NULL;
        Buf result = {};

        if (asprintf(&index, "%s%s", j->output, INDEX_NAME) < 0) {
                fail(j, -ENOMEM, "out of memory");
                return;
        }
        snprintf(message, sizeof message, "%zu rows in %zu file%s (%zu chunk%s), index at %s", j->rows.n,
                 j->planner.n_files, j->planner.n_files == 1 ? "" : "s", j->planner.n_chunks,
                 j->planner.n_chunks == 1 ? "" : "s", index);
        buf_put(&result, "{\"index\":", 9);
        buf_json_string(&result, index);
        free(index);
        buf_printf(&result, ",\"rows\":%zu,\"files\":%zu,\"chunks\":%zu,\"bytes\":%zu}", j->rows.n,
                   j->planner.n_files, j->planner.n_chunks, j->written);
        if (result.failed)
                fail(j, -ENOMEM, "out of memory");
        else
                finish(j, 0, message, result.data);
        buf_free(&result);
}

static void on_stored(void *userdata, int error) {
        struct job *j = userdata;
        char message[ERROR_MAX], name[64];

        j->storing = false;
        if (j->cancelled) {
                finish(j, -ECANCELED, "cancelled", NULL);
                return;
        }
        if (error >= 0 && j->phase == PHASE_INDEX) {
                succeed(j);
                return;
        }
        if (error >= 0) {
                j->written += j->out.size;
                if (++j->file < j->planner.n_files) {
                        j->position = j->planner.files[j->file].first;
                        next_slice(j);
                        return;
                }
                /* every file is there: the index goes last, so that its presence means the output is whole
                 */
                buf_put(&j->index, "]}\n", 3);
                if (!j->index.failed) {
                        j->phase = PHASE_INDEX;
                        j->step->log(j->step, LOG_INFO, "wrote %zu files, %zu bytes; storing the index",
                                     j->planner.n_files, j->written);
                        store(j, INDEX_NAME, &j->index, "application/json");
                        return;
                }
                error = -ENOMEM;
        }
        snprintf(message, sizeof message, "cannot store %s%s: %s", j->output,
                 j->phase == PHASE_INDEX ? INDEX_NAME : file_name(j, j->file, name), strerror(-error));
        finish(j, error, message, NULL);
}

static int compare_keys(const void *ctx, uint32_t a, uint32_t b) {
        const struct job *j = ctx;
        return (j->keys[a] > j->keys[b]) - (j->keys[a] < j->keys[b]);
}

static int compare_values(const void *ctx, uint32_t a, uint32_t b) {
        const struct job *j = ctx;
        return strcmp(rows_value(&j->rows, a), rows_value(&j->rows, b));
}

/* Reads on; once every row is in, the rows are sorted (or planned at once, by count). */
static void parse_slice(struct job *j, size_t budget) {
        char error[ERROR_MAX] = "";
        size_t before = j->rows.n;
        int r = j->geojson ? geojson_read(&j->gj, &j->rows, budget, error, sizeof error)
                           : csv_read(&j->csv, &j->rows, budget, error, sizeof error);
        if (r == -E2BIG) {
                fail(j, r, "more than %u rows", ROWS_MAX);
                return;
        }
        if (r < 0) {
                fail(j, r, "%s", r == -EINVAL ? error : strerror(-r));
                return;
        }
        if (j->method == PARTITION_QUADKEY) {
                uint64_t *keys = reallocarray(j->keys, j->rows.n ? j->rows.n : 1, sizeof(uint64_t));
                if (!keys) {
                        fail(j, -ENOMEM, "out of memory");
                        return;
                }
                j->keys = keys;
                for (size_t i = before; i < j->rows.n; i++) {
                        const double *b = j->rows.rows[i].bbox;
                        keys[i] = partition_key((b[0] + b[2]) / 2, (b[1] + b[3]) / 2);
                        for (int k = 0; k < 4; k++)
                                if (i == 0 || (k < 2 ? b[k] < j->bbox[k] : b[k] > j->bbox[k]))
                                        j->bbox[k] = b[k];
                }
        }
        if (r == 0) {
                next_slice(j);
                return;
        }
        j->step->log(j->step, LOG_INFO, "read %zu rows (%zu bytes)", j->rows.n, j->input_size);
        j->phase = j->method == PARTITION_ROWS ? PHASE_PLAN : PHASE_SORT;
        if (j->method != PARTITION_ROWS &&
            sorter_init(&j->sorter, j->rows.n,
                        j->method == PARTITION_QUADKEY ? compare_keys : compare_values, j) < 0) {
                fail(j, -ENOMEM, "out of memory");
                return;
        }
        next_slice(j);
}

static void sort_slice(struct job *j, size_t budget) {
        /* a merge pass moves every row once: a slice is worth a few passes over a slice's rows */
        if (!sorter_run(&j->sorter, 4 * budget)) {
                next_slice(j);
                return;
        }
        j->phase = PHASE_PLAN;
        next_slice(j);
}

static void plan_slice(struct job *j, size_t budget) {
        int r;
        if (!j->planner.rows) {
                const uint32_t *order = j->method == PARTITION_ROWS ? NULL : j->sorter.order;
                r = planner_init(&j->planner, j->method, &j->rows, order, j->keys,
                                 (size_t) j->o->rows_per_file, (size_t) j->o->rows_per_chunk);
                if (r < 0) {
                        fail(j, r, "out of memory");
                        return;
                }
        }
        if ((r = planner_run(&j->planner, budget)) <= 0) {
                if (r < 0)
                        fail(j, r, "out of memory");
                else
                        next_slice(j);
                return;
        }
        index_begin(j);
        j->phase = PHASE_WRITE;
        j->file = 0;
        if (j->planner.n_files > 0) {
                j->position = j->planner.files[0].first;
                next_slice(j);
                return;
        }
        j->storing = true; /* no rows, no files: the index alone */
        on_stored(j, 0);
}

static void on_slice(void *userdata) {
        struct job *j = userdata;
        size_t budget = (size_t) j->ctx->options->slice_rows;

        j->timer = NULL;
        if (j->cancelled) {
                finish(j, -ECANCELED, "cancelled", NULL);
                return;
        }
        switch (j->phase) {
        case PHASE_PARSE:
                parse_slice(j, budget);
                break;
        case PHASE_SORT:
                sort_slice(j, budget);
                break;
        case PHASE_PLAN:
                plan_slice(j, budget);
                break;
        case PHASE_WRITE:
                write_slice(j, budget);
                break;
        case PHASE_FETCH:
        case PHASE_INDEX:
                break; /* a storage call is under way: its callback goes on */
        }
}

/* Whether the input is GeoJSON: its format, else its URL's extension, else its first character. */
static bool is_geojson(const struct job *j) {
        const char *url = j->step->input, *dot = strrchr(url, '.');
        if (strcmp(j->o->format, "auto") != 0)
                return strcmp(j->o->format, "geojson") == 0;
        if (dot && !strchr(dot, '/'))
                return strcasecmp(dot, ".geojson") == 0 || strcasecmp(dot, ".json") == 0;
        size_t p = j->input_size >= 3 && memcmp(j->input, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
        while (p < j->input_size && strchr(" \t\r\n", j->input[p]) && j->input[p])
                p++;
        return p < j->input_size && j->input[p] == '{';
}

/* The whole input is there: the reader for its format, and the rows in slices from the next turn. */
static void input_read(struct job *j) {
        j->input[j->input_size] = '\0';
        j->geojson = is_geojson(j);
        if (j->geojson) {
                const GeojsonOptions go = { .geospatial = j->o->geospatial,
                                            .value_property = j->o->partition_column };
                geojson_reader_init(&j->gj, j->input, j->input_size, &go);
        } else {
                const CsvOptions co = {
                        .delimiter = j->o->delimiter[0],
                        .header = j->o->header,
                        .lon_column = j->o->geospatial ? j->o->lon_column : NULL,
                        .lat_column = j->o->geospatial ? j->o->lat_column : NULL,
                        .value_column = j->o->partition_column,
                };
                csv_reader_init(&j->csv, j->input, j->input_size, &co);
        }
        j->phase = PHASE_PARSE;
        next_slice(j);
}

/* The failures of reading the input, and a cancel meanwhile: true when the step ended. */
static bool input_failed(struct job *j, int error) {
        j->storing = false;
        if (j->cancelled)
                finish(j, -ECANCELED, "cancelled", NULL);
        else if (error == -EFBIG)
                fail(j, error, "larger than max_input_size (%lld bytes)",
                     (long long) j->ctx->options->max_input_size);
        else if (error < 0)
                fail(j, error, "cannot read it: %s", strerror(-error));
        return j->cancelled || error < 0;
}

/* The input read whole, from a storage that cannot read pieces. */
static void on_input(void *userdata, int error, const void *data, size_t size) {
        struct job *j = userdata;
        if (input_failed(j, error))
                return;
        /* the data is the host's only during this call */
        if (!(j->input = malloc(size + 1))) {
                fail(j, -ENOMEM, "out of memory");
                return;
        }
        memcpy(j->input, data, size);
        j->input_size = size;
        input_read(j);
}

static void read_piece(struct job *j);

/* A piece of the input: put in its place; the next one is asked for, on the next turn. */
static void on_piece(void *userdata, int error, const void *data, size_t size, uint64_t object_size) {
        struct job *j = userdata;
        if (input_failed(j, error))
                return;
        if (!j->input) { /* the first piece says how large the input is */
                if (object_size > (uint64_t) j->ctx->options->max_input_size) {
                        (void) input_failed(j, -EFBIG);
                        return;
                }
                if (!(j->input = malloc((size_t) object_size + 1))) {
                        fail(j, -ENOMEM, "out of memory");
                        return;
                }
                j->input_allocated = (size_t) object_size;
        }
        if (object_size != j->input_allocated || size > j->input_allocated - j->input_size ||
            (size == 0 && j->input_size < j->input_allocated)) {
                fail(j, -ESTALE, "it changed while it was read: run the step again");
                return;
        }
        memcpy(j->input + j->input_size, data, size);
        j->input_size += size;
        if (j->input_size < j->input_allocated)
                read_piece(j);
        else
                input_read(j);
}

static void read_piece(struct job *j) {
        const struct ctx *c = j->ctx;
        int r = c->host->storage_get_range(c->self, j->step->input, j->input_size,
                                           (size_t) c->options->read_size, on_piece, j);
        if (r < 0)
                fail(j, r, "cannot read it: %s", strerror(-r));
        else
                j->storing = true;
}

/* ------------------------------------------------------------------ the step type */

static int rows_start(void *ctxp, const struct udfcron_ingest_step *step, udfcron_ingest_done done,
                      void *userdata, void **ret_job) {
        struct ctx *c = ctxp;
        const struct step_options *o = step->options;

        if (!step->input || !step->output) /* the configuration has both: a daemon that did not check */
                return -EINVAL;
        struct job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (struct job){ .ctx = c,
                           .step = step,
                           .o = o,
                           .done = done,
                           .userdata = userdata,
                           .method = o->geospatial         ? PARTITION_QUADKEY
                                     : o->partition_column ? PARTITION_COLUMN
                                                           : PARTITION_ROWS };
        size_t n = strlen(step->output);
        if (asprintf(&j->output, "%s%s", step->output, n > 0 && step->output[n - 1] == '/' ? "" : "/") < 0) {
                free(j);
                return -ENOMEM;
        }
        /* a piece at a time where the storage can (ABI 1.3), else whole */
        int r = c->host->abi_minor >= 3
                        ? c->host->storage_get_range(c->self, step->input, 0, (size_t) c->options->read_size,
                                                     on_piece, j)
                        : -EOPNOTSUPP;
        if (r == -EOPNOTSUPP)
                r = c->host->storage_get(c->self, step->input, (size_t) c->options->max_input_size, on_input,
                                         j);
        if (r < 0) {
                free(j->output);
                free(j);
                return c->host->log(c->self, LOG_ERR, r, "%s: cannot read %s: %m", step->name, step->input);
        }
        j->storing = true;
        j->next = c->jobs;
        c->jobs = j;
        *ret_job = j;
        return 0;
}

static void on_cancelled(void *userdata) {
        struct job *j = userdata;
        j->timer = NULL;
        finish(j, -ECANCELED, "cancelled", NULL);
}

static void rows_cancel(void *ctxp, void *job) {
        struct ctx *c = ctxp;
        struct job *j = job;

        if (j->cancelled)
                return;
        j->cancelled = true;
        j->timer = c->host->timer_stop(j->timer);
        /* a storage call under way ends it from its callback; otherwise it ends from the loop */
        if (!j->storing && c->host->timer_start(c->self, 0, on_cancelled, j, &j->timer) < 0)
                finish(j, -ECANCELED, "cancelled", NULL);
}

static int rows_check(const void *options, char *message, size_t size) {
        const struct step_options *o = options;

        if (strcmp(o->format, "auto") != 0 && strcmp(o->format, "csv") != 0 &&
            strcmp(o->format, "geojson") != 0)
                snprintf(message, size, "format: '%s' is not auto, csv or geojson", o->format);
        else if (strlen(o->delimiter) != 1 || strchr("\"\r\n", o->delimiter[0]))
                snprintf(message, size,
                         "delimiter: '%s' is not one character (other than a quote or a line end)",
                         o->delimiter);
        else if (o->geospatial && o->partition_column)
                snprintf(message, size,
                         "partition_column partitions by a column's value: set geospatial = false with it");
        else
                return 0;
        return -EINVAL;
}

/* ------------------------------------------------------------------ instances */

static void rows_destroy(void *ctxp) {
        struct ctx *c = ctxp;
        if (!c)
                return;
        while (c->jobs) /* dropped without an answer: the daemon exits, or no longer listens */
                job_free(c->jobs);
        free(c);
}

static int rows_init(const struct udfcron_host *host, udfcron_instance *self, const void *options,
                     void **ret_ctx) {
        struct ctx *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *c = (struct ctx){ .host = host, .self = self, .options = options };
        *ret_ctx = c;
        return 0;
}

#define STEP(f) offsetof(struct step_options, f)
static const struct udfcron_option partition_options[] = {
        { .name = "format",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "auto",
          .offset = STEP(format),
          .doc = "csv, geojson, or auto: by the input's extension, else its first character" },
        { .name = "geospatial",
          .type = UDFCRON_OPTION_BOOL,
          .default_value = "true",
          .offset = STEP(geospatial),
          .doc = "files by area (quadkeys of the points); false: by row count, or by partition_column" },
        { .name = "lon_column",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "lon",
          .offset = STEP(lon_column),
          .doc = "CSV: the longitude column" },
        { .name = "lat_column",
          .type = UDFCRON_OPTION_STRING,
          .default_value = "lat",
          .offset = STEP(lat_column),
          .doc = "CSV: the latitude column" },
        { .name = "header",
          .type = UDFCRON_OPTION_BOOL,
          .default_value = "true",
          .offset = STEP(header),
          .doc = "CSV: the first record names the columns; false: they are called 1, 2, ..." },
        { .name = "delimiter",
          .type = UDFCRON_OPTION_STRING,
          .default_value = ",",
          .offset = STEP(delimiter),
          .doc = "CSV: the field separator, one character" },
        { .name = "rows_per_file",
          .type = UDFCRON_OPTION_INT,
          .default_value = "100000",
          .offset = STEP(rows_per_file),
          .doc = "at most this many rows per file",
          .min = 1,
          .max = UINT32_MAX },
        { .name = "rows_per_chunk",
          .type = UDFCRON_OPTION_INT,
          .default_value = "10000",
          .offset = STEP(rows_per_chunk),
          .doc = "at most this many rows per chunk (and per file)",
          .min = 1,
          .max = UINT32_MAX },
        { .name = "partition_column",
          .type = UDFCRON_OPTION_STRING,
          .offset = STEP(partition_column),
          .doc = "with geospatial = false: one value per file (a CSV column, or a GeoJSON property)" },
        {},
};
#undef STEP

static const struct udfcron_ingest_step_type step_types[] = {
        { .name = "partition",
          .options = partition_options,
          .options_size = sizeof(struct step_options),
          .description = "CSV or GeoJSON rows into files and chunks, with a metadata index",
          .input_required = true,
          .output_required = true,
          .check = rows_check },
        {},
};

static const struct udfcron_ingest_vtable vtable = {
        .step_types = step_types,
        .start = rows_start,
        .cancel = rows_cancel,
};

static const struct udfcron_option rows_options[] = {
        { .name = "max_input_size",
          .type = UDFCRON_OPTION_INT,
          .default_value = "268435456",
          .offset = offsetof(struct options, max_input_size),
          .doc = "bytes: a larger input fails its step",
          .min = 1,
          .max = INT64_C(1) << 34 },
        { .name = "read_size",
          .type = UDFCRON_OPTION_INT,
          .default_value = "1048576",
          .offset = offsetof(struct options, read_size),
          .doc = "bytes of the input read per turn of the daemon's loop",
          .min = 1,
          .max = INT64_C(1) << 30 },
        { .name = "slice_rows",
          .type = UDFCRON_OPTION_INT,
          .default_value = "8192",
          .offset = offsetof(struct options, slice_rows),
          .doc = "rows handled per turn of the daemon's loop",
          .min = 1,
          .max = 10000000 },
        {},
};

UDFCRON_PLUGIN_EXPORT const struct udfcron_plugin udfcron_plugin_entry = {
        UDFCRON_PLUGIN_HEADER,
        .name = "rows",
        .kind = UDFCRON_PLUGIN_INGEST,
        .init = rows_init,
        .destroy = rows_destroy,
        .vtable = &vtable,
        .options = rows_options,
        .options_size = sizeof(struct options),
        .description = "the partition step: CSV and GeoJSON into files and chunks, locally",
};
