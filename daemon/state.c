/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "json-util.h"
#include "strv.h"

/*
 * Times are written as plain JSON integers, not strings, so that jq and
 * humans read them directly. cJSON keeps numbers as doubles, so only
 * integers up to 2^53-1 are exact; parsing accepts nothing above that
 * (2^53 itself is refused because "9007199254740993" also rounds to it),
 * and formatting refuses it too, with ERANGE. Microsecond timestamps reach
 * 2^53 in the year 2255. They are printed by us (cJSON raw items), because
 * cJSON would print 1763831700000000 as "1.7638317e+15".
 */
#define USEC_MAX       ((UINT64_C(1) << 53) - 1)
#define STATE_FILE_MAX (256 * 1024 * 1024)
#define STRING_MAX     4096
#define SCHEDULES_MAX  1000000
#define RUNS_MAX        100000
#define PAIRS_MAX       256
#define PAIRS_BYTES_MAX (64 * 1024)
#define STATE_VERSION   1
#define STRINGIFY_(x)   #x
#define STRINGIFY(x)    STRINGIFY_(x)

typedef enum FieldKind {
        FIELD_NAME,    /* required, non-empty string */
        FIELD_STRING,  /* optional string; NULL or "" is not written */
        FIELD_USEC,    /* optional uint64 <= USEC_MAX; 0 is not written */
        FIELD_BOOL,    /* optional; false is not written */
        FIELD_ATTEMPT, /* required, 1..UINT_MAX */
        FIELD_PHASE,   /* required RunPhase */
        FIELD_PAIRS,   /* optional object of strings, as NAME, value pairs (strv); empty is not written */
} FieldKind;

typedef struct Field {
        const char *key;
        FieldKind kind;
        size_t offset;
} Field;

/* clang-format off */
#define S(key, kind) { #key, kind, offsetof(ScheduleState, key) }
static const Field schedule_fields[] = {
        S(name, FIELD_NAME),           S(last_slot_usec, FIELD_USEC), S(last_result, FIELD_STRING),
        S(last_run_id, FIELD_STRING),  S(last_end_usec, FIELD_USEC),  S(paused, FIELD_BOOL),
        S(skip_slot_usec, FIELD_USEC), S(last_failed_step, FIELD_STRING),
};
#undef S
#define R(key, kind) { #key, kind, offsetof(RunState, key) }
static const Field run_fields[] = {
        R(run_id, FIELD_NAME),      R(schedule, FIELD_NAME),        R(engine, FIELD_NAME),
        R(slot_usec, FIELD_USEC),   R(attempt, FIELD_ATTEMPT),      R(phase, FIELD_PHASE),
        R(started_usec, FIELD_USEC), R(job_id, FIELD_STRING),       R(log_since_ms, FIELD_USEC),
        R(retry_usec, FIELD_USEC),  R(params, FIELD_STRING),       R(step, FIELD_STRING),
        R(step_outputs, FIELD_PAIRS),
};
#undef R
/* clang-format on */

static const char *const run_phase_table[_RUN_PHASE_MAX] = {
        [RUN_PHASE_DISPATCHING] = "dispatching",
        [RUN_PHASE_RUNNING] = "running",
        [RUN_PHASE_PREPARED] = "prepared",
};

const char *run_phase_to_string(RunPhase p) {
        return p >= 0 && p < _RUN_PHASE_MAX ? run_phase_table[p] : NULL;
}

RunPhase run_phase_from_string(const char *s) {
        for (RunPhase p = 0; s && p < _RUN_PHASE_MAX; p++)
                if (strcmp(s, run_phase_table[p]) == 0)
                        return p;
        return _RUN_PHASE_INVALID;
}

/* Parse errors end up in the journal: keep names short and free of control characters. */
static const char *printable(const char *s, char buf[static 72]) {
        size_t i = 0;
        for (; s[i] && i < 64; i++)
                buf[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        strcpy(buf + i, s[i] ? "..." : "");
        return buf;
}

static void schedule_done(ScheduleState *s) {
        free(s->name);
        free(s->last_result);
        free(s->last_run_id);
        free(s->last_failed_step);
}

static void run_done(RunState *r) {
        free(r->run_id);
        free(r->schedule);
        free(r->engine);
        free(r->job_id);
        free(r->params);
        free(r->step);
        strv_free(r->step_outputs);
}

State *state_new(void) {
        return calloc(1, sizeof(State));
}

State *state_free(State *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_schedules; i++)
                schedule_done(&s->schedules[i]);
        for (size_t i = 0; i < s->n_runs; i++)
                run_done(&s->runs[i]);
        free(s->schedules);
        free(s->runs);
        free(s->run_index);
        free(s);
        return NULL;
}

/*
 * The run index: lookups by id are what the daemon does most with runs (every phase change, log position,
 * end), and with thousands in flight a linear search made each cost tens of microseconds. Linear probing,
 * at most half full; deletion shifts entries back (no tombstones).
 */
static size_t run_hash(const char *id) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (; *id; id++)
                h = (h ^ (unsigned char) *id) * UINT64_C(0x100000001b3);
        return (size_t) (h ^ (h >> 32));
}

/* The index slot that holds `id`, or the free slot where it would go. */
static size_t run_slot(const State *s, const char *id) {
        size_t mask = s->run_index_size - 1;
        for (size_t i = run_hash(id) & mask;; i = (i + 1) & mask)
                if (s->run_index[i] == 0 || strcmp(s->runs[s->run_index[i] - 1].run_id, id) == 0)
                        return i;
}

/* Makes room for `n` runs: a new table, every run inserted again. -EEXIST: two runs share an id. */
static int run_index_rebuild(State *s, size_t n) {
        size_t size = 16;
        while (size < 2 * n)
                size *= 2;
        size_t *table = calloc(size, sizeof *table);
        if (!table)
                return -ENOMEM;
        free(s->run_index);
        s->run_index = table;
        s->run_index_size = size;
        for (size_t i = 0; i < s->n_runs; i++) {
                size_t slot = run_slot(s, s->runs[i].run_id);
                if (s->run_index[slot] != 0)
                        return -EEXIST;
                s->run_index[slot] = i + 1;
        }
        return 0;
}

static void run_index_remove(State *s, size_t slot) {
        size_t mask = s->run_index_size - 1;
        s->run_index[slot] = 0;
        /* later entries of the same probe run move up into the hole, so that no search stops short */
        for (size_t i = (slot + 1) & mask; s->run_index[i] != 0; i = (i + 1) & mask) {
                size_t home = run_hash(s->runs[s->run_index[i] - 1].run_id) & mask;
                if (((i - home) & mask) >= ((i - slot) & mask)) {
                        s->run_index[slot] = s->run_index[i];
                        s->run_index[i] = 0;
                        slot = i;
                }
        }
}

/* What state_parse() checks of a FIELD_PAIRS: names non-empty and unique, sizes within the limits. */
static int pairs_validate(char *const *pairs) {
        size_t n = 0, bytes = 0;
        for (char *const *p = pairs; p && *p; p += 2, n++) {
                if (!p[1])
                        return -EINVAL; /* a name without its value */
                if (!*p[0] || strlen(p[0]) > STRING_MAX || strlen(p[1]) > STRING_MAX)
                        return -EINVAL;
                bytes += strlen(p[0]) + strlen(p[1]);
                for (char *const *q = pairs; q < p; q += 2)
                        if (strcmp(*q, *p) == 0)
                                return -EINVAL;
        }
        return n > PAIRS_MAX || bytes > PAIRS_BYTES_MAX ? -E2BIG : 0;
}

/* The invariants state_parse() checks per item, so that state_format() never writes what it would refuse. */
static int fields_validate(const Field *fields, size_t n, const void *item) {
        for (size_t i = 0; i < n; i++) {
                const void *p = (const char *) item + fields[i].offset;
                const char *str = fields[i].kind <= FIELD_STRING ? *(char *const *) p : NULL;
                switch (fields[i].kind) {
                case FIELD_NAME:
                        if (!str || !*str || strlen(str) > STRING_MAX)
                                return -EINVAL;
                        break;
                case FIELD_STRING:
                        if (str && strlen(str) > STRING_MAX)
                                return -EINVAL;
                        break;
                case FIELD_USEC:
                        if (*(const uint64_t *) p > USEC_MAX)
                                return -ERANGE;
                        break;
                case FIELD_ATTEMPT:
                        if (*(const unsigned *) p < 1)
                                return -EINVAL;
                        break;
                case FIELD_PHASE:
                        if (!run_phase_to_string(*(const RunPhase *) p))
                                return -EINVAL;
                        break;
                case FIELD_PAIRS: {
                        int r = pairs_validate(*(char *const *const *) p);
                        if (r < 0)
                                return r;
                        break;
                }
                case FIELD_BOOL:
                        break;
                }
        }
        return 0;
}

static int add_item(cJSON *obj, const char *key, cJSON *item) {
        if (!item || !cJSON_AddItemToObjectCS(obj, key, item)) {
                cJSON_Delete(item);
                return -ENOMEM;
        }
        return 0;
}

/* References, not copies, like the other members of an item being printed. */
static cJSON *pairs_to_json(char *const *pairs) {
        _cleanup_(json_freep) cJSON *obj = cJSON_CreateObject();
        for (char *const *p = pairs; obj && *p; p += 2)
                if (add_item(obj, p[0], cJSON_CreateStringReference(p[1])) < 0)
                        return NULL;
        return TAKE_PTR(obj);
}

static int add_u64(cJSON *obj, const char *key, uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        return add_item(obj, key, cJSON_CreateRaw(buf));
}

typedef struct Buffer {
        char *data;
        size_t size, cap;
} Buffer;

static int buffer_reserve(Buffer *b, size_t n) {
        if (b->cap - b->size >= n)
                return 0;
        size_t cap = MAX(b->cap * 2, b->size + n);
        char *d = realloc(b->data, cap);
        if (!d)
                return -ENOMEM;
        b->data = d;
        b->cap = cap;
        return 0;
}

static int buffer_append(Buffer *b, const char *s) {
        size_t n = strlen(s);
        if (buffer_reserve(b, n + 1) < 0)
                return -ENOMEM;
        memcpy(b->data + b->size, s, n + 1);
        b->size += n;
        return 0;
}

/* Appends one item as a one-line JSON object; cJSON does the escaping. */
static int item_print(const Field *fields, size_t n, const void *item, Buffer *b) {
        _cleanup_(json_freep) cJSON *obj = cJSON_CreateObject();
        int r = obj ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *key = fields[i].key;
                const void *p = (const char *) item + fields[i].offset;
                const char *str = fields[i].kind <= FIELD_STRING ? *(char *const *) p : NULL;
                char *const *pairs = fields[i].kind == FIELD_PAIRS ? *(char *const *const *) p : NULL;

                if (fields[i].kind == FIELD_PHASE)
                        str = run_phase_to_string(*(const RunPhase *) p);
                /* references, not copies: obj lives only as long as this call */
                if (str && *str)
                        r = add_item(obj, key, cJSON_CreateStringReference(str));
                else if (fields[i].kind == FIELD_USEC && *(const uint64_t *) p != 0)
                        r = add_u64(obj, key, *(const uint64_t *) p);
                else if (fields[i].kind == FIELD_ATTEMPT)
                        r = add_u64(obj, key, *(const unsigned *) p);
                else if (fields[i].kind == FIELD_BOOL && *(const bool *) p)
                        r = add_item(obj, key, cJSON_CreateTrue());
                else if (pairs && *pairs)
                        r = add_item(obj, key, pairs_to_json(pairs));
        }
        /* Straight into our buffer. An item is at most ~550 KiB: six STRING_MAX strings and PAIRS_BYTES_MAX,
         * escaped (a control character takes six bytes). */
        for (size_t want = 4096; r >= 0 && want <= 1024 * 1024; want *= 2) {
                r = buffer_reserve(b, want);
                if (r >= 0 && cJSON_PrintPreallocated(obj, b->data + b->size, (int) want, false)) {
                        b->size += strlen(b->data + b->size);
                        return 0;
                }
        }
        return r < 0 ? r : -ENOBUFS;
}

static int items_print(const Field *fields, size_t n_fields, const void *items, size_t n, size_t item_size,
                       Buffer *b) {
        for (size_t i = 0; i < n; i++) {
                const void *item = (const char *) items + i * item_size;
                int r = fields_validate(fields, n_fields, item);
                if (r >= 0)
                        r = buffer_append(b, i == 0 ? "\n" : ",\n");
                if (r >= 0)
                        r = item_print(fields, n_fields, item, b);
                if (r < 0)
                        return r;
        }
        return buffer_append(b, n > 0 ? "\n]" : "]");
}

static int seq_compare(const void *a, const void *b) {
        const RunState *x = *(const RunState *const *) a, *y = *(const RunState *const *) b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* In dispatch order, which a restarted daemon keeps when it resumes them. */
static int runs_print(const State *s, Buffer *b) {
        _cleanup_free_ const RunState **order = calloc(MAX(s->n_runs, (size_t) 1), sizeof *order);
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_runs; i++)
                order[i] = &s->runs[i];
        qsort(order, s->n_runs, sizeof *order, seq_compare);
        for (size_t i = 0; i < s->n_runs; i++) {
                int r = fields_validate(run_fields, ELEMENTSOF(run_fields), order[i]);
                if (r >= 0)
                        r = buffer_append(b, i == 0 ? "\n" : ",\n");
                if (r >= 0)
                        r = item_print(run_fields, ELEMENTSOF(run_fields), order[i], b);
                if (r < 0)
                        return r;
        }
        return buffer_append(b, s->n_runs > 0 ? "\n]" : "]");
}

/*
 * One schedule or run per line: people read state files during incidents, and grep then shows whole
 * records. Items are printed one at a time, so 100,000 schedules never become a cJSON tree of a million
 * nodes.
 */
char *state_format(const State *s) {
        _cleanup_free_ char *data = NULL;
        Buffer b = {};
        int r = 0;

        if (s->n_schedules > SCHEDULES_MAX || s->n_runs > RUNS_MAX)
                r = -E2BIG;
        /* Records are 100-250 bytes. Sizing up front saves copying 20 MB several times over. */
        if (r >= 0)
                r = buffer_reserve(&b, 256 * (s->n_schedules + s->n_runs) + 64);
        if (r >= 0)
                r = buffer_append(&b, "{\"version\":" STRINGIFY(STATE_VERSION) ",\"schedules\":[");
        if (r >= 0)
                r = items_print(schedule_fields, ELEMENTSOF(schedule_fields), s->schedules, s->n_schedules,
                                sizeof(ScheduleState), &b);
        if (r >= 0)
                r = buffer_append(&b, ",\"runs\":[");
        if (r >= 0)
                r = runs_print(s, &b);
        if (r >= 0)
                r = buffer_append(&b, "}\n");
        data = b.data;
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return TAKE_PTR(data);
}

/* Sets *error; -EINVAL, or -ENOMEM when even the message cannot be allocated. */
_printf_(2, 3) static int fail(char **error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

/* A JSON number that is an integer in [min, max] (both exactly representable as double). */
static bool json_integer(const cJSON *j, double min, double max, uint64_t *ret) {
        if (!cJSON_IsNumber(j) || !(j->valuedouble >= min && j->valuedouble <= max) ||
            j->valuedouble != (double) (uint64_t) j->valuedouble)
                return false;
        *ret = (uint64_t) j->valuedouble;
        return true;
}

static bool field_required(FieldKind k) {
        return k == FIELD_NAME || k == FIELD_ATTEMPT || k == FIELD_PHASE;
}

/* A JSON object of strings into NAME, value pairs: NULL for an empty one. */
static int pairs_parse(const cJSON *obj, const char *where, const char *key, char ***ret, char **error) {
        _cleanup_(strv_freep) char **pairs = NULL;
        size_t n = 0, bytes = 0;
        const cJSON *c;
        char buf[72];

        if (!cJSON_IsObject(obj))
                return fail(error, "%s.%s: expected an object of strings", where, key);
        cJSON_ArrayForEach(c, obj) {
                if (!c->string || !c->string[0] || !cJSON_IsString(c))
                        return fail(error, "%s.%s: expected an object of strings", where, key);
                if (strlen(c->string) > STRING_MAX || strlen(c->valuestring) > STRING_MAX)
                        return fail(error, "%s.%s: a name or value longer than %d bytes", where, key,
                                    STRING_MAX);
                for (size_t i = 0; i < n; i += 2)
                        if (strcmp(pairs[i], c->string) == 0)
                                return fail(error, "%s.%s: duplicate name \"%s\"", where, key,
                                            printable(c->string, buf));
                bytes += strlen(c->string) + strlen(c->valuestring);
                if (n / 2 >= PAIRS_MAX || bytes > PAIRS_BYTES_MAX)
                        return fail(error, "%s.%s: more than %d entries or %d bytes", where, key, PAIRS_MAX,
                                    PAIRS_BYTES_MAX);
                if (strv_push(&pairs, &n, strdup(c->string)) < 0 ||
                    strv_push(&pairs, &n, strdup(c->valuestring)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(pairs);
        return 0;
}

static int fields_parse(const Field *fields, size_t n, const cJSON *obj, void *item, const char *where,
                        char **error) {
        uint32_t seen = 0;
        const cJSON *c;

        if (!cJSON_IsObject(obj))
                return fail(error, "%s: expected an object", where);
        cJSON_ArrayForEach(c, obj) {
                size_t i = 0;
                while (i < n && (!c->string || strcmp(c->string, fields[i].key) != 0))
                        i++;
                if (i == n) /* a later version 1 may add fields; an incompatible change bumps the version */
                        continue;
                const char *key = fields[i].key;
                if (seen & (UINT32_C(1) << i))
                        return fail(error, "%s: duplicate key \"%s\"", where, key);
                seen |= UINT32_C(1) << i;

                void *p = (char *) item + fields[i].offset;
                uint64_t v;
                switch (fields[i].kind) {
                case FIELD_NAME:
                case FIELD_STRING:
                        if (!cJSON_IsString(c) || !c->valuestring[0])
                                return fail(error, "%s.%s: expected a non-empty string", where, key);
                        if (strlen(c->valuestring) > STRING_MAX)
                                return fail(error, "%s.%s: longer than %d bytes", where, key, STRING_MAX);
                        if (!(*(char **) p = strdup(c->valuestring)))
                                return -ENOMEM;
                        break;
                case FIELD_USEC:
                        if (!json_integer(c, 0, (double) USEC_MAX, &v))
                                return fail(error, "%s.%s: expected an integer between 0 and %" PRIu64,
                                            where, key, USEC_MAX);
                        *(uint64_t *) p = v;
                        break;
                case FIELD_BOOL:
                        if (!cJSON_IsBool(c))
                                return fail(error, "%s.%s: expected true or false", where, key);
                        *(bool *) p = cJSON_IsTrue(c);
                        break;
                case FIELD_ATTEMPT:
                        if (!json_integer(c, 1, UINT_MAX, &v))
                                return fail(error, "%s.%s: expected a positive integer", where, key);
                        *(unsigned *) p = (unsigned) v;
                        break;
                case FIELD_PHASE:
                        *(RunPhase *) p = run_phase_from_string(cJSON_IsString(c) ? c->valuestring : NULL);
                        if (*(RunPhase *) p < 0)
                                return fail(error, "%s.%s: expected \"prepared\", \"dispatching\" or \"running\"",
                                            where, key);
                        break;
                case FIELD_PAIRS: {
                        int r = pairs_parse(c, where, key, (char ***) p, error);
                        if (r < 0)
                                return r;
                        break;
                }
                }
        }
        for (size_t i = 0; i < n; i++)
                if (!(seen & (UINT32_C(1) << i)) && field_required(fields[i].kind))
                        return fail(error, "%s.%s: missing", where, fields[i].key);
        return 0;
}

static int schedule_compare(const void *a, const void *b) {
        return strcmp(((const ScheduleState *) a)->name, ((const ScheduleState *) b)->name);
}

/* Fills the array `key` of the document into *ret_items; the items are zeroed, so state_free() copes. */
static int items_parse(const cJSON *array, const char *key, const Field *fields, size_t n_fields,
                       size_t item_size, size_t max, void **ret_items, size_t *ret_n, char **error) {
        const cJSON *c;
        size_t n = 0;
        int r;

        if (!cJSON_IsArray(array))
                return fail(error, "%s: expected an array", key);
        cJSON_ArrayForEach(c, array) {
                if (++n > max)
                        return fail(error, "%s: more than %zu entries", key, max);
        }
        if (n == 0)
                return 0;
        if (!(*ret_items = calloc(n, item_size)))
                return -ENOMEM;
        n = 0;
        cJSON_ArrayForEach(c, array) {
                char where[32];
                snprintf(where, sizeof where, "%s[%zu]", key, n);
                /* counted before parsing, so that a half-parsed item is freed with the rest */
                r = fields_parse(fields, n_fields, c, (char *) *ret_items + n++ * item_size, where, error);
                *ret_n = n;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int document_parse(const char *json, size_t size, State *s, char **error) {
        _cleanup_(json_freep) cJSON *root = NULL;
        const char *end = NULL;
        uint32_t seen = 0;
        const cJSON *c;
        char buf[72];
        int r;

        if (size > STATE_FILE_MAX)
                return fail(error, "larger than %d MiB", STATE_FILE_MAX / 1024 / 1024);
        root = cJSON_ParseWithLengthOpts(json, size, &end, false);
        /* whitespace may follow the document, nothing else */
        while (root && end && end < json + size && strchr(" \t\r\n", *end) && *end)
                end++;
        if (!root || (end && end < json + size))
                return fail(error, "invalid JSON at byte %zu", end ? (size_t) (end - json) : size);
        if (!cJSON_IsObject(root))
                return fail(error, "expected a JSON object");

        cJSON_ArrayForEach(c, root) {
                static const char *const keys[] = { "version", "schedules", "runs" };
                size_t i = 0;
                while (i < ELEMENTSOF(keys) && (!c->string || strcmp(c->string, keys[i]) != 0))
                        i++;
                if (i == ELEMENTSOF(keys))
                        continue;
                if (seen & (UINT32_C(1) << i))
                        return fail(error, "duplicate key \"%s\"", keys[i]);
                seen |= UINT32_C(1) << i;

                if (i == 0) {
                        uint64_t v;
                        if (!json_integer(c, 0, (double) USEC_MAX, &v))
                                return fail(error, "version: expected an integer");
                        if (v != STATE_VERSION)
                                return fail(error, "version: unsupported version %" PRIu64 ", expected %d",
                                            v, STATE_VERSION);
                        continue;
                }
                if (i == 1)
                        r = items_parse(c, "schedules", schedule_fields, ELEMENTSOF(schedule_fields),
                                        sizeof(ScheduleState), SCHEDULES_MAX, (void **) &s->schedules,
                                        &s->n_schedules, error);
                else
                        r = items_parse(c, "runs", run_fields, ELEMENTSOF(run_fields), sizeof(RunState),
                                        RUNS_MAX, (void **) &s->runs, &s->n_runs, error);
                if (r < 0)
                        return r;
        }
        if (!(seen & 1))
                return fail(error, "version: missing");

        /* We write schedules sorted, so the check is usually all it costs; hand-edited files get sorted. */
        for (size_t i = 1; i < s->n_schedules; i++)
                if (strcmp(s->schedules[i - 1].name, s->schedules[i].name) >= 0) {
                        qsort(s->schedules, s->n_schedules, sizeof(ScheduleState), schedule_compare);
                        break;
                }
        for (size_t i = 1; i < s->n_schedules; i++)
                if (strcmp(s->schedules[i - 1].name, s->schedules[i].name) == 0)
                        return fail(error, "schedules: duplicate name \"%s\"",
                                    printable(s->schedules[i].name, buf));

        /* The file lists runs in dispatch order. */
        for (size_t i = 0; i < s->n_runs; i++)
                s->runs[i].seq = i;
        s->next_seq = s->n_runs;
        r = run_index_rebuild(s, s->n_runs);
        if (r == -EEXIST)
                for (size_t i = 0; i < s->n_runs; i++) /* which one, for the message */
                        if (s->run_index[run_slot(s, s->runs[i].run_id)] != i + 1)
                                return fail(error, "runs: duplicate run_id \"%s\"",
                                            printable(s->runs[i].run_id, buf));
        return r;
}

int state_parse(const char *json, size_t size, State **ret_state, char **ret_error) {
        _cleanup_(state_freep) State *s = state_new();
        _cleanup_free_ char *error = NULL;

        if (!s)
                return -ENOMEM;
        int r = document_parse(json, size, s, &error);
        if (r < 0) {
                if (r == -EINVAL && ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }
        *ret_state = TAKE_PTR(s);
        return 0;
}

/* Reads a regular file whole; -EFBIG beyond STATE_FILE_MAX. */
static int read_all(int fd, char **ret, size_t *ret_size) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
        return read_full_fd(fd, STATE_FILE_MAX, ret, ret_size);
}

/* Renames a corrupt file to <path>.corrupt-<UTC time>; never over an earlier one from the same second. */
static int move_aside(const char *path, char **ret_aside) {
        time_t now = time(NULL);
        char stamp[32];
        struct tm tm;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EOVERFLOW;
        for (unsigned i = 0; i < 100; i++) {
                _cleanup_free_ char *aside = i == 0 ? strprintf("%s.corrupt-%s", path, stamp)
                                                    : strprintf("%s.corrupt-%s.%u", path, stamp, i);
                if (!aside)
                        return -ENOMEM;
                /* EINVAL: the file system cannot do RENAME_NOREPLACE; then a plain rename must do. */
                if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) >= 0 ||
                    (errno == EINVAL && rename(path, aside) >= 0)) {
                        *ret_aside = TAKE_PTR(aside);
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int state_load(const char *path, State **ret_state, char **ret_warning) {
        _cleanup_free_ char *text = NULL, *error = NULL, *aside = NULL, *warning = NULL;
        _cleanup_(state_freep) State *s = NULL;
        size_t size = 0;
        int r;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        if (fd >= 0) {
                r = read_all(fd, &text, &size);
                if (r == -EFBIG)
                        r = fail(&error, "larger than %d MiB", STATE_FILE_MAX / 1024 / 1024);
                if (r >= 0)
                        r = state_parse(text, size, &s, &error);
                /* Only bad content is moved aside: I/O errors and OOM must not cost us the state. */
                if (r < 0 && r != -EINVAL)
                        return r;
                if (r == -EINVAL) {
                        r = move_aside(path, &aside);
                        if (r < 0) /* starting anyway would overwrite the file with the next save */
                                return r;
                        warning = strprintf("state file %s is corrupt (%s); moved aside to %s, starting with an "
                                       "empty state",
                                       path, error ?: "unknown error", aside);
                        if (!warning)
                                return -ENOMEM;
                }
        }
        if (!s && !(s = state_new()))
                return -ENOMEM;
        *ret_state = TAKE_PTR(s);
        if (ret_warning)
                *ret_warning = TAKE_PTR(warning);
        return 0;
}

static void unlink_and_freep(char **p) {
        if (*p) {
                (void) unlink(*p);
                free(*p);
        }
}

static int write_all(int fd, const char *buf, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, buf, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Replaces `path` with `data`: temp file in the same directory, fsync, rename, fsync of the directory. */
static int write_atomic(const char *path, const void *data, size_t size) {
        _cleanup_free_ char *dir = NULL, *template = NULL;
        _cleanup_(unlink_and_freep) char *tmp = NULL;
        _cleanup_close_ int dir_fd = -1, fd = -1;
        int r;

        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
        dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
        if (!dir)
                return -ENOMEM;
        if (!*base)
                return -EISDIR;
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;

        /* Same directory, so that rename() is atomic; hidden, so that nothing globbing *.json sees it. */
        template = strprintf("%s/.%s.XXXXXX", dir, base);
        if (!template)
                return -ENOMEM;
        fd = mkostemp(template, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        tmp = TAKE_PTR(template);
        /* mkostemp() already uses 0600; fchmod says so explicitly and does not depend on glibc's choice. */
        if (fchmod(fd, 0600) < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        if (rename(tmp, path) < 0)
                return -errno;
        free(TAKE_PTR(tmp));
        /* The rename itself is durable only once the directory is synced. */
        if (fsync(dir_fd) < 0)
                return -errno;
        return 0;
}

int state_save(const State *s, const char *path) {
        _cleanup_free_ char *text = state_format(s);
        if (!text)
                return -errno;
        size_t size = strlen(text);
        if (size > STATE_FILE_MAX) /* state_load() would refuse it */
                return -EFBIG;
        return write_atomic(path, text, size);
}

/* Schedule names may be "." or ".." (config allows dots) and run ids come from the state file. */
static bool path_component_ok(const char *s) {
        return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strlen(s) <= 200;
}

/* mkdir of each of `dirs` in turn (private); existing ones are fine. */
static int make_directories(char *const *dirs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST)
                        return -errno;
        return 0;
}

int state_save_result(const char *state_directory, const char *schedule, const char *run_id,
                      const char *extension, const void *data, size_t size) {
        _cleanup_free_ char *results = NULL, *dir = NULL, *path = NULL;
        int r;

        if (!path_component_ok(schedule) || !path_component_ok(run_id) || !path_component_ok(extension))
                return -EINVAL;
        results = strprintf("%s/results", state_directory);
        dir = strprintf("%s/results/%s", state_directory, schedule);
        path = strprintf("%s/results/%s/%s.%s", state_directory, schedule, run_id, extension);
        if (!results || !dir || !path)
                return -ENOMEM;
        char *const dirs[] = { results, dir };
        if ((r = make_directories(dirs, ELEMENTSOF(dirs))) < 0)
                return r;
        return write_atomic(path, data, size);
}

int state_save_result_file(const char *state_directory, const char *schedule, const char *run_id,
                           const char *name, const void *data, size_t size) {
        _cleanup_free_ char *results = NULL, *dir = NULL, *run_dir = NULL, *path = NULL;
        int r;

        if (!path_component_ok(schedule) || !path_component_ok(run_id) || !path_component_ok(name))
                return -EINVAL;
        results = strprintf("%s/results", state_directory);
        dir = strprintf("%s/results/%s", state_directory, schedule);
        run_dir = strprintf("%s/results/%s/%s", state_directory, schedule, run_id);
        path = strprintf("%s/results/%s/%s/%s", state_directory, schedule, run_id, name);
        if (!results || !dir || !run_dir || !path)
                return -ENOMEM;
        char *const dirs[] = { results, dir, run_dir };
        if ((r = make_directories(dirs, ELEMENTSOF(dirs))) < 0)
                return r;
        return write_atomic(path, data, size);
}

/* Index of `name`, or where it would go; *found says which. */
static size_t schedule_lower_bound(const State *s, const char *name, bool *found) {
        size_t lo = 0, hi = s->n_schedules;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(s->schedules[mid].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < s->n_schedules && strcmp(s->schedules[lo].name, name) == 0;
        return lo;
}

ScheduleState *state_find_schedule(State *s, const char *name) {
        bool found;
        size_t i = schedule_lower_bound(s, name, &found);
        return found ? &s->schedules[i] : NULL;
}

/*
 * Makes room for item n+1. The capacity is not stored in State, so ask malloc; doubling keeps adding
 * 100,000 schedules from copying the array 100,000 times.
 */
static int grow(void **array, size_t n, size_t size) {
        if (*array && malloc_usable_size(*array) >= (n + 1) * size)
                return 0;
        void *a = realloc(*array, MAX(2 * n, (size_t) 8) * size);
        if (!a)
                return -ENOMEM;
        *array = a;
        return 0;
}

int state_ensure_schedule(State *s, const char *name, ScheduleState **ret) {
        bool found;
        int r;
        size_t i = schedule_lower_bound(s, name, &found);

        if (!found) {
                /* the limits state_parse() enforces, so that what we hold can always be saved and loaded */
                if (!*name || strlen(name) > STRING_MAX)
                        return -EINVAL;
                if (s->n_schedules >= SCHEDULES_MAX)
                        return -E2BIG;
                _cleanup_free_ char *copy = strdup(name);
                if (!copy)
                        return -ENOMEM;
                r = grow((void **) &s->schedules, s->n_schedules, sizeof(ScheduleState));
                if (r < 0)
                        return r;
                ScheduleState *a = s->schedules;
                memmove(a + i + 1, a + i, (s->n_schedules - i) * sizeof(ScheduleState));
                a[i] = (ScheduleState){ .name = TAKE_PTR(copy) };
                s->n_schedules++;
        }
        if (ret)
                *ret = &s->schedules[i];
        return found ? 0 : 1;
}

int state_remove_schedule(State *s, const char *name) {
        bool found;
        size_t i = schedule_lower_bound(s, name, &found);

        if (!found)
                return -ENOENT;
        schedule_done(&s->schedules[i]);
        memmove(s->schedules + i, s->schedules + i + 1, (s->n_schedules - i - 1) * sizeof(ScheduleState));
        s->n_schedules--;
        return 0;
}

RunState *state_find_run(State *s, const char *run_id) {
        if (!s->run_index)
                return NULL;
        size_t i = s->run_index[run_slot(s, run_id)];
        return i > 0 ? &s->runs[i - 1] : NULL;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                *oom = true;
        return c;
}

int state_add_run(State *s, const RunState *run) {
        bool oom = false;
        int r;

        r = fields_validate(run_fields, ELEMENTSOF(run_fields), run);
        if (r < 0)
                return r;
        if (state_find_run(s, run->run_id))
                return -EEXIST;
        if (s->n_runs >= RUNS_MAX)
                return -E2BIG;

        RunState copy = *run;
        copy.run_id = strdup_or_null(run->run_id, &oom);
        copy.schedule = strdup_or_null(run->schedule, &oom);
        copy.engine = strdup_or_null(run->engine, &oom);
        copy.job_id = strdup_or_null(run->job_id, &oom);
        copy.params = strdup_or_null(run->params, &oom);
        copy.step = strdup_or_null(run->step, &oom);
        copy.step_outputs = NULL;
        if (strv_copy((const char *const *) run->step_outputs, &copy.step_outputs) < 0)
                oom = true;
        if (oom || grow((void **) &s->runs, s->n_runs, sizeof(RunState)) < 0 ||
            (2 * (s->n_runs + 1) > s->run_index_size && run_index_rebuild(s, s->n_runs + 1) < 0)) {
                run_done(&copy);
                return -ENOMEM;
        }
        copy.seq = s->next_seq++;
        s->runs[s->n_runs++] = copy;
        s->run_index[run_slot(s, copy.run_id)] = s->n_runs;
        return 0;
}

int state_run_set_step(RunState *r, const char *step, char *const *outputs) {
        _cleanup_free_ char *copy = NULL;
        _cleanup_(strv_freep) char **pairs = NULL;
        int k = pairs_validate(outputs);

        if (k < 0)
                return k;
        if (step && (!*step || strlen(step) > STRING_MAX))
                return -EINVAL;
        if ((step && !(copy = strdup(step))) || strv_copy((const char *const *) outputs, &pairs) < 0)
                return -ENOMEM;
        free(r->step);
        strv_free(r->step_outputs);
        r->step = TAKE_PTR(copy);
        r->step_outputs = pairs && *pairs ? TAKE_PTR(pairs) : NULL;
        return 0;
}

/* The last run takes the place of the removed one: O(1), and the order is kept by `seq`. */
int state_remove_run(State *s, const char *run_id) {
        RunState *r = state_find_run(s, run_id);
        if (!r)
                return -ENOENT;
        size_t i = (size_t) (r - s->runs), last = s->n_runs - 1;
        run_index_remove(s, run_slot(s, run_id));
        run_done(r);
        if (i != last) {
                s->runs[i] = s->runs[last];
                s->run_index[run_slot(s, s->runs[i].run_id)] = i + 1;
        }
        s->n_runs--;
        return 0;
}
