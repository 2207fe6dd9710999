/* SPDX-License-Identifier: MIT */
#include "fused-api.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json-util.h"
#include "timestamp.h"

/* Counts stop here: a log page or result list longer than this is cut (and said so). */
#define ITEMS_MAX 100000

/* ---------------------------------------------------------------- helpers */

/* What a decoder overlooked: the first few notes, joined by "; ". */
typedef struct Notes {
        char buf[256];
        size_t len;
        unsigned n;
} Notes;

_printf_(2, 3) static void note(Notes *n, const char *format, ...) {
        va_list ap;
        if (n->n++ >= 4 || n->len >= sizeof n->buf - 1)
                return;
        if (n->len > 0)
                n->len += (size_t) snprintf(n->buf + n->len, sizeof n->buf - n->len, "; ");
        va_start(ap, format);
        if (n->len < sizeof n->buf - 1)
                n->len += (size_t) vsnprintf(n->buf + n->len, sizeof n->buf - n->len, format, ap);
        va_end(ap);
        n->len = MIN(n->len, sizeof n->buf - 1);
}

static int notes_take(const Notes *n, char **ret) {
        if (!ret)
                return 0;
        *ret = NULL;
        if (n->n == 0)
                return 0;
        if (n->n > 4 ? asprintf(ret, "%s; and %u more", n->buf, n->n - 4) < 0 : !(*ret = strdup(n->buf)))
                return -ENOMEM;
        return 0;
}

static cJSON *parse(const char *json, size_t size) {
        return json && size > 0 ? cJSON_ParseWithLength(json, size) : NULL;
}

static const cJSON *member(const cJSON *object, const char *key) {
        return cJSON_GetObjectItemCaseSensitive(object, key);
}

/* A string member, or NULL (absent, null, or not a string). */
static const char *string_member(const cJSON *object, const char *key) {
        const cJSON *v = member(object, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* strdup of a string member, or NULL in *ret. -ENOMEM only. */
static int dup_member(const cJSON *object, const char *key, char **ret) {
        const char *s = string_member(object, key);
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

/* A non-negative integer: a JSON number, or a string of digits. */
static bool uint_value(const cJSON *v, uint64_t *ret) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 18446744073709551616.0 &&
            !isnan(v->valuedouble)) {
                *ret = (uint64_t) v->valuedouble;
                return true;
        }
        if (cJSON_IsString(v) && v->valuestring[0] && strspn(v->valuestring, "0123456789") ==
                                                               strlen(v->valuestring) &&
            strlen(v->valuestring) <= 19) {
                *ret = strtoull(v->valuestring, NULL, 10);
                return true;
        }
        return false;
}

static FusedTristate tristate_member(const cJSON *object, const char *key, Notes *n) {
        const cJSON *v = member(object, key);
        if (!v || cJSON_IsNull(v))
                return FUSED_UNSET;
        if (cJSON_IsBool(v))
                return cJSON_IsTrue(v) ? FUSED_TRUE : FUSED_FALSE;
        if (cJSON_IsString(v) && (strcasecmp(v->valuestring, "true") == 0 || strcmp(v->valuestring, "1") == 0))
                return FUSED_TRUE;
        if (cJSON_IsString(v) && (strcasecmp(v->valuestring, "false") == 0 || strcmp(v->valuestring, "0") == 0))
                return FUSED_FALSE;
        if (cJSON_IsNumber(v))
                return v->valuedouble != 0 ? FUSED_TRUE : FUSED_FALSE;
        note(n, "%s is neither a boolean nor null", key);
        return FUSED_UNSET;
}

/* An ISO-8601 datetime; FastAPI sends naive ones (no offset), which are UTC. */
static uint64_t datetime_usec(const char *text) {
        int64_t t;
        char buf[64];
        if (!text)
                return 0;
        if (timestamp_parse(text, &t) < 0) {
                if (strlen(text) > sizeof buf - 2)
                        return 0;
                snprintf(buf, sizeof buf, "%sZ", text);
                if (timestamp_parse(buf, &t) < 0)
                        return 0;
        }
        return t > 0 ? (uint64_t) t * UINT64_C(1000000) : 0;
}

/* ---------------------------------------------------------------- array replies */

/*
 * What the elements of an array reply become. decode() fills one item from one element and returns 1;
 * returns 0 to skip the element, having noted why; or -ENOMEM, leaving what it filled in for clear().
 * finish(), once all are read, sorts them and notes what only shows across elements (NULL: nothing to do).
 */
typedef struct ItemType {
        size_t size;
        int (*decode)(const cJSON *element, void *item, Notes *notes, void *userdata);
        int (*finish)(void *items, size_t n, Notes *notes, void *userdata);
        void (*clear)(void *item); /* frees what one item holds */
        const char *cut;           /* noted as "more than ITEMS_MAX <cut>" when elements are left out */
} ItemType;

static void *items_free(void *items, size_t n, const ItemType *type) {
        for (size_t i = 0; items && i < n; i++)
                type->clear((char *) items + i * type->size);
        free(items);
        return NULL;
}

/* The elements of the array in `json` as items of `type`, the first ITEMS_MAX of them. */
static int items_parse(const char *json, size_t size, const ItemType *type, void *userdata, void **ret_items,
                       size_t *ret_n, char **ret_unexpected) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        void *items = NULL;
        size_t n = 0;
        Notes notes = {};
        const cJSON *element;
        int r = 0;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        size_t total = (size_t) cJSON_GetArraySize(j);
        if (total > 0 && !(items = calloc(MIN(total, (size_t) ITEMS_MAX), type->size)))
                return -ENOMEM;
        cJSON_ArrayForEach(element, j) {
                if (n >= ITEMS_MAX) {
                        if (type->cut)
                                note(&notes, "more than %d %s", ITEMS_MAX, type->cut);
                        break;
                }
                r = type->decode(element, (char *) items + n * type->size, &notes, userdata);
                if (r < 0) {
                        items_free(items, n + 1, type);
                        return r;
                }
                n += (size_t) r;
        }
        r = type->finish ? type->finish(items, n, &notes, userdata) : 0;
        if (r < 0 || notes_take(&notes, ret_unexpected) < 0) {
                items_free(items, n, type);
                return -ENOMEM;
        }
        *ret_items = items;
        *ret_n = n;
        return 0;
}

/* ---------------------------------------------------------------- RunResponse */

void fused_run_response_done(FusedRunResponse *r) {
        free(r->job_id);
        free(r->job_name);
        free(r->status);
        free(r->job_status);
        *r = (FusedRunResponse){};
}

int fused_run_response_parse(const char *json, size_t size, FusedRunResponse *ret, char **ret_unexpected) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        FusedRunResponse r = { .finished_job_status = FUSED_UNSET, .terminal_status = FUSED_UNSET };
        Notes n = {};
        const cJSON *id;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        id = member(j, "job_id");
        if (cJSON_IsString(id) && id->valuestring[0])
                r.job_id = strdup(id->valuestring);
        else if (cJSON_IsNumber(id))
                (void) asprintf(&r.job_id, "%.0f", id->valuedouble);
        else
                return -EBADMSG; /* without it, nothing can be followed */
        if (!r.job_id || dup_member(j, "job_name", &r.job_name) < 0 || dup_member(j, "status", &r.status) < 0 ||
            dup_member(j, "job_status", &r.job_status) < 0) {
                fused_run_response_done(&r);
                return -ENOMEM;
        }
        r.finished_job_status = tristate_member(j, "finished_job_status", &n);
        r.terminal_status = tristate_member(j, "terminal_status", &n);
        r.has_tasks = uint_value(member(j, "total_tasks"), &r.total_tasks) &&
                      uint_value(member(j, "finished_tasks"), &r.finished_tasks);
        if (!r.has_tasks && (member(j, "total_tasks") || member(j, "finished_tasks")))
                note(&n, "total_tasks/finished_tasks are not counts");
        if (r.has_tasks && r.finished_tasks > r.total_tasks) {
                note(&n, "finished_tasks %" PRIu64 " > total_tasks %" PRIu64, r.finished_tasks, r.total_tasks);
                r.total_tasks = r.finished_tasks;
        }
        if (!r.status && !member(j, "status"))
                note(&n, "no status");
        if (r.finished_job_status == FUSED_UNSET && r.terminal_status == FUSED_UNSET)
                note(&n, "neither finished_job_status nor terminal_status");
        if (notes_take(&n, ret_unexpected) < 0) {
                fused_run_response_done(&r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

bool fused_job_ended(const FusedRunResponse *r) {
        if (r->finished_job_status != FUSED_UNSET)
                return r->finished_job_status == FUSED_TRUE;
        return r->terminal_status == FUSED_TRUE;
}

static bool contains_nocase(const char *s, const char *part) {
        size_t n = strlen(part);
        for (; *s; s++)
                if (strncasecmp(s, part, n) == 0)
                        return true;
        return false;
}

FusedJobResult fused_job_result(const FusedRunResponse *r) {
        static const struct {
                const char *word;
                FusedJobResult result;
        } words[] = {
                /* the order matters: "unsuccessful" is no success, "cancel_failed" a cancellation */
                { "cancel", FUSED_JOB_CANCELLED }, { "abort", FUSED_JOB_CANCELLED },
                { "fail", FUSED_JOB_FAILED },      { "error", FUSED_JOB_FAILED },
                { "unsucc", FUSED_JOB_FAILED },    { "timeout", FUSED_JOB_FAILED },
                { "timed_out", FUSED_JOB_FAILED }, { "kill", FUSED_JOB_FAILED },
                { "succe", FUSED_JOB_SUCCEEDED },  { "complete", FUSED_JOB_SUCCEEDED },
                { "finish", FUSED_JOB_SUCCEEDED }, { "done", FUSED_JOB_SUCCEEDED },
        };
        if (!r->job_status)
                return FUSED_JOB_SUCCEEDED;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (contains_nocase(r->job_status, words[i].word))
                        return words[i].result;
        return FUSED_JOB_UNKNOWN;
}

/* ---------------------------------------------------------------- logs */

/* A timestamp in epoch milliseconds: a number, a string of digits, or (leniently) an ISO-8601 datetime. */
static bool timestamp_ms(const cJSON *v, uint64_t *ret) {
        if (uint_value(v, ret))
                return true;
        if (cJSON_IsString(v)) {
                uint64_t usec = datetime_usec(v->valuestring);
                if (usec > 0) {
                        *ret = usec / 1000;
                        return true;
                }
        }
        return false;
}

/* Orders indices into a page by timestamp, then by index: a stable sort out of qsort_r. */
static int log_index_cmp(const void *a, const void *b, void *userdata) {
        const FusedLogEntry *e = userdata;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        if (e[x].timestamp_ms != e[y].timestamp_ms)
                return e[x].timestamp_ms < e[y].timestamp_ms ? -1 : 1;
        return (x > y) - (x < y);
}

static int logs_sort(FusedLogEntry *entries, size_t n) {
        _cleanup_free_ size_t *order = malloc(n * sizeof *order);
        _cleanup_free_ FusedLogEntry *sorted = malloc(n * sizeof *sorted);
        if (!order || !sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        qsort_r(order, n, sizeof *order, log_index_cmp, entries);
        for (size_t i = 0; i < n; i++)
                sorted[i] = entries[order[i]];
        memcpy(entries, sorted, n * sizeof *entries);
        return 0;
}

/* What a page of log entries tells only as a whole. */
typedef struct LogPage {
        uint64_t after_ms, last_ms;
        size_t repeated; /* entries at or before after_ms */
        bool sorted;
} LogPage;

static int log_entry_decode(const cJSON *element, void *item, Notes *notes, void *userdata) {
        const cJSON *message = member(element, "message");
        FusedLogEntry *e = item;
        LogPage *page = userdata;
        uint64_t ts;

        if (!cJSON_IsObject(element) || !timestamp_ms(member(element, "timestamp"), &ts)) {
                note(notes, "an entry without a timestamp, skipped");
                return 0;
        }
        if (!cJSON_IsString(message)) {
                note(notes, "an entry without a message, skipped");
                return 0;
        }
        if (ts <= page->after_ms) {
                page->repeated++;
                return 0;
        }
        if (ts < page->last_ms)
                page->sorted = false;
        page->last_ms = ts;
        if (!(e->message = strdup(message->valuestring)))
                return -ENOMEM;
        e->size = strlen(message->valuestring);
        e->timestamp_ms = ts;
        return 1;
}

static int log_entries_finish(void *items, size_t n, Notes *notes, void *userdata) {
        const LogPage *page = userdata;

        if (page->repeated > 0)
                note(notes,
                     "%zu entries at or before since_ms=%" PRIu64 " (since_ms read inclusively?), skipped",
                     page->repeated, page->after_ms);
        if (page->sorted)
                return 0;
        note(notes, "entries out of timestamp order, sorted");
        return logs_sort(items, n);
}

static void log_entry_clear(void *item) {
        free(((FusedLogEntry *) item)->message);
}

static const ItemType log_entries = {
        .size = sizeof(FusedLogEntry),
        .decode = log_entry_decode,
        .finish = log_entries_finish,
        .clear = log_entry_clear,
        .cut = "entries: the rest comes with the next page",
};

FusedLogEntry *fused_logs_free(FusedLogEntry *entries, size_t n) {
        return items_free(entries, n, &log_entries);
}

int fused_logs_parse(const char *json, size_t size, uint64_t after_ms, FusedLogEntry **ret_entries,
                     size_t *ret_n, char **ret_unexpected) {
        LogPage page = { .after_ms = after_ms, .sorted = true };
        return items_parse(json, size, &log_entries, &page, (void **) ret_entries, ret_n, ret_unexpected);
}

/* ---------------------------------------------------------------- results */

/* The number a name starts with ("10.parquet": 10), or -1. */
static long long name_number(const char *name) {
        size_t digits = strspn(name, "0123456789");
        if (digits == 0 || digits > 15)
                return -1;
        return strtoll(name, NULL, 10);
}

static int result_cmp(const void *a, const void *b) {
        const FusedResultItem *x = a, *y = b;
        long long nx = name_number(x->name), ny = name_number(y->name);
        if (nx >= 0 && ny >= 0 && nx != ny)
                return nx < ny ? -1 : 1;
        if ((nx >= 0) != (ny >= 0))
                return nx >= 0 ? -1 : 1;
        return strcmp(x->name, y->name);
}

static bool http_url(const char *url) {
        return strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0;
}

static int result_decode(const cJSON *element, void *item, Notes *notes, void *userdata) {
        const char *name = string_member(element, "name"), *url = string_member(element, "url");
        FusedResultItem *result = item;

        (void) userdata;
        if (!name || !name[0] || !url || !http_url(url)) {
                note(notes, "a result without a name or an http(s) url, skipped");
                return 0;
        }
        result->name = strdup(name);
        result->url = strdup(url);
        return result->name && result->url ? 1 : -ENOMEM;
}

static void result_clear(void *item) {
        FusedResultItem *result = item;
        free(result->name);
        free(result->url);
}

static const ItemType results = {
        .size = sizeof(FusedResultItem),
        .decode = result_decode,
        .clear = result_clear,
        .cut = "result files: the rest ignored",
};

FusedResultItem *fused_results_free(FusedResultItem *items, size_t n) {
        return items_free(items, n, &results);
}

int fused_results_parse(const char *json, size_t size, FusedResultItem **ret_items, size_t *ret_n,
                        char **ret_unexpected) {
        int r = items_parse(json, size, &results, NULL, (void **) ret_items, ret_n, ret_unexpected);
        if (r >= 0 && *ret_n > 1)
                qsort(*ret_items, *ret_n, sizeof **ret_items, result_cmp);
        return r;
}

/* ---------------------------------------------------------------- job list, job config */

static int job_decode(const cJSON *element, void *item, Notes *notes, void *userdata) {
        const char *id = string_member(element, "id") ?: string_member(element, "job_id");
        FusedJobListItem *job = item;

        (void) userdata;
        if (!id || !id[0]) {
                note(notes, "a job without an id, skipped");
                return 0;
        }
        if (!(job->id = strdup(id)) || dup_member(element, "job_name", &job->job_name) < 0)
                return -ENOMEM;
        job->created_usec = datetime_usec(string_member(element, "creation_date"));
        if (job->created_usec == 0)
                note(notes, "job %.64s: no readable creation_date", id);
        return 1;
}

static void job_clear(void *item) {
        FusedJobListItem *job = item;
        free(job->id);
        free(job->job_name);
}

/* A list longer than ITEMS_MAX is cut without a note. */
static const ItemType job_list = {
        .size = sizeof(FusedJobListItem),
        .decode = job_decode,
        .clear = job_clear,
};

FusedJobListItem *fused_job_list_free(FusedJobListItem *items, size_t n) {
        return items_free(items, n, &job_list);
}

int fused_job_list_parse(const char *json, size_t size, FusedJobListItem **ret_items, size_t *ret_n,
                         char **ret_unexpected) {
        return items_parse(json, size, &job_list, NULL, (void **) ret_items, ret_n, ret_unexpected);
}

int fused_job_config_name(const char *json, size_t size, char **ret_name) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        const char *name;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        name = string_member(j, "name");
        if (!name) {
                const cJSON *steps = member(j, "steps");
                name = cJSON_IsArray(steps) ? string_member(cJSON_GetArrayItem(steps, 0), "name") : NULL;
        }
        if (!name)
                return -ENOENT;
        return (*ret_name = strdup(name)) ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- UDFs and realtime runs */

int fused_saved_udf_parse(const char *json, size_t size, cJSON **ret_udf) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        cJSON *body;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        body = cJSON_DetachItemFromObjectCaseSensitive(j, "udf_body");
        if (cJSON_IsString(body)) {
                cJSON *udf = cJSON_Parse(body->valuestring);
                cJSON_Delete(body);
                body = udf;
        }
        if (!cJSON_IsObject(body)) {
                cJSON_Delete(body);
                return -EBADMSG;
        }
        *ret_udf = body;
        return 0;
}

void fused_metadata_done(FusedMetadata *m) {
        free(m->stdout_text);
        free(m->stderr_text);
        free(m->exception_class);
        free(m->message);
        *m = (FusedMetadata){};
}

int fused_metadata_parse(const char *header, FusedMetadata *ret) {
        _cleanup_(json_freep) cJSON *j = header ? cJSON_Parse(header) : NULL;
        FusedMetadata m = {};
        const char *out, *err, *msg;
        const cJSON *lineno;
        int r = 0;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        out = string_member(j, "stdout");
        err = string_member(j, "stderr");
        msg = string_member(j, "errormsg") ?: string_member(j, "exception");
        lineno = member(j, "lineno");
        m.has_exception = cJSON_IsTrue(member(j, "has_exception")) ||
                          (!member(j, "has_exception") && string_member(j, "exception"));
        if (cJSON_IsNumber(lineno) && lineno->valuedouble >= 1 && lineno->valuedouble < 1e9)
                m.lineno = (int) lineno->valuedouble;
        if ((out && out[0] && !(m.stdout_text = strdup(out))) || (err && err[0] && !(m.stderr_text = strdup(err))) ||
            (msg && msg[0] && !(m.message = strdup(msg))) ||
            dup_member(j, "exception_class", &m.exception_class) < 0)
                r = -ENOMEM;
        if (r < 0) {
                fused_metadata_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int fused_instances_pick(const char *json, size_t size, char **ret_client_id) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        const char *best = NULL;
        double best_rank = 0;
        const cJSON *item;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        cJSON_ArrayForEach(item, j) {
                const char *id = string_member(item, "client_id");
                const cJSON *rank = member(item, "preference_rank");
                double value = cJSON_IsNumber(rank) ? rank->valuedouble : 0;
                if (!id || !id[0])
                        continue;
                if (!best || value > best_rank) {
                        best = id;
                        best_rank = value;
                }
        }
        if (!best)
                return -ENOENT;
        return (*ret_client_id = strdup(best)) ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- encoding */

char *fused_url_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        size_t len = strlen(s);
        char *out = malloc(3 * len + 1), *p = out;
        if (!out)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                    strchr("-._~:@", *c))
                        *p++ = (char) *c;
                else {
                        *p++ = '%';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 15];
                }
        }
        *p = '\0';
        return out;
}

/* A parameter's value as the SDK puts it in a query string. */
static char *param_text(const cJSON *v) {
        if (cJSON_IsString(v))
                return strdup(v->valuestring);
        if (cJSON_IsNull(v))
                return strdup("None"); /* str(None) */
        if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
                return strdup(isnan(v->valuedouble) ? "nan" : v->valuedouble > 0 ? "inf" : "-inf");
        return cJSON_PrintUnformatted(v); /* bools true/false, lists and dicts as JSON, numbers */
}

int fused_query_encode(const cJSON *params, const char *format, char **ret_query) {
        _cleanup_free_ char *query = NULL;
        size_t len = 0;
        const cJSON *p;

        if (params && !cJSON_IsObject(params))
                return -EINVAL;
        if (!(query = strdup("")))
                return -ENOMEM;
        for (int i = -1; i < cJSON_GetArraySize(params); i++) {
                p = i < 0 ? NULL : cJSON_GetArrayItem(params, i);
                if (i < 0 && !format)
                        continue;
                _cleanup_free_ char *text = i < 0 ? strdup(format) : param_text(p);
                _cleanup_free_ char *key = fused_url_escape(i < 0 ? "format" : p->string);
                _cleanup_free_ char *value = text ? fused_url_escape(text) : NULL;
                if (!key || !value)
                        return -ENOMEM;
                size_t add = strlen(key) + strlen(value) + 2;
                char *q = realloc(query, len + add + 1);
                if (!q)
                        return -ENOMEM;
                query = q;
                len += (size_t) sprintf(query + len, "%s%s=%s", len > 0 ? "&" : "", key, value);
        }
        *ret_query = TAKE_PTR(query);
        return 0;
}

int fused_run_uuid(const char *run_id, unsigned attempt, size_t task, unsigned task_attempt,
                   char ret_uuid[static 37]) {
        if (strlen(run_id) != 16 || strspn(run_id, "0123456789abcdef") != 16 || attempt > 0xff ||
            task > 0xfffff || task_attempt > 0xff)
                return -EINVAL;
        /* 8-4-4-4-12: the run id's 16 digits, the version nibble 4 and variant 8 (RFC 9562 v4 layout),
         * then the attempt (and a fan-out's task and its attempt), so that each is a run of its own */
        uint64_t n = attempt | (uint64_t) task << 8 | (uint64_t) task_attempt << 28;
        snprintf(ret_uuid, 37, "%.8s-%.4s-4%.3s-8%.3s-%c%011" PRIx64, run_id, run_id + 8, run_id + 12, "dfc",
                 run_id[15], n);
        return 0;
}

char *fused_job_name(const char *schedule, const char *run_id, unsigned attempt) {
        char *name;
        return asprintf(&name, "%s.%s.%u", schedule, run_id, attempt) < 0 ? NULL : name;
}

char *fused_result_file_name(const char *name) {
        char *out = strdup(name && name[0] ? name : "_");
        if (!out)
                return NULL;
        for (char *c = out; *c; c++)
                if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                      strchr("._-", *c)))
                        *c = '_';
        if (strspn(out, ".") == strlen(out)) {
                free(out);
                return strdup("_");
        }
        return out;
}
