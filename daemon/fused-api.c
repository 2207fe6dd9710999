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

FusedLogEntry *fused_logs_free(FusedLogEntry *entries, size_t n) {
        for (size_t i = 0; entries && i < n; i++)
                free(entries[i].message);
        free(entries);
        return NULL;
}

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

int fused_logs_parse(const char *json, size_t size, uint64_t after_ms, FusedLogEntry **ret_entries,
                     size_t *ret_n, char **ret_unexpected) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        FusedLogEntry *entries = NULL;
        size_t n = 0, repeated = 0;
        bool sorted = true;
        Notes notes = {};
        const cJSON *item;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        size_t total = (size_t) cJSON_GetArraySize(j);
        if (total > 0 && !(entries = calloc(MIN(total, (size_t) ITEMS_MAX), sizeof *entries)))
                return -ENOMEM;
        cJSON_ArrayForEach(item, j) {
                const cJSON *message = member(item, "message");
                uint64_t ts;
                if (n >= ITEMS_MAX) {
                        note(&notes, "more than %d entries: the rest comes with the next page", ITEMS_MAX);
                        break;
                }
                if (!cJSON_IsObject(item) || !timestamp_ms(member(item, "timestamp"), &ts)) {
                        note(&notes, "an entry without a timestamp, skipped");
                        continue;
                }
                if (!cJSON_IsString(message)) {
                        note(&notes, "an entry without a message, skipped");
                        continue;
                }
                if (ts <= after_ms) {
                        repeated++;
                        continue;
                }
                if (n > 0 && ts < entries[n - 1].timestamp_ms)
                        sorted = false;
                if (!(entries[n].message = strdup(message->valuestring))) {
                        fused_logs_free(entries, n);
                        return -ENOMEM;
                }
                entries[n].size = strlen(message->valuestring);
                entries[n].timestamp_ms = ts;
                n++;
        }
        if (repeated > 0)
                note(&notes, "%zu entries at or before since_ms=%" PRIu64 " (since_ms read inclusively?), skipped",
                     repeated, after_ms);
        if (!sorted) {
                note(&notes, "entries out of timestamp order, sorted");
                if (logs_sort(entries, n) < 0) {
                        fused_logs_free(entries, n);
                        return -ENOMEM;
                }
        }
        if (notes_take(&notes, ret_unexpected) < 0) {
                fused_logs_free(entries, n);
                return -ENOMEM;
        }
        *ret_entries = entries;
        *ret_n = n;
        return 0;
}

/* ---------------------------------------------------------------- results */

FusedResultItem *fused_results_free(FusedResultItem *items, size_t n) {
        for (size_t i = 0; items && i < n; i++) {
                free(items[i].name);
                free(items[i].url);
        }
        free(items);
        return NULL;
}

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

int fused_results_parse(const char *json, size_t size, FusedResultItem **ret_items, size_t *ret_n,
                        char **ret_unexpected) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        FusedResultItem *items = NULL;
        size_t n = 0;
        Notes notes = {};
        const cJSON *item;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        size_t total = (size_t) cJSON_GetArraySize(j);
        if (total > 0 && !(items = calloc(MIN(total, (size_t) ITEMS_MAX), sizeof *items)))
                return -ENOMEM;
        cJSON_ArrayForEach(item, j) {
                const char *name = string_member(item, "name"), *url = string_member(item, "url");
                if (n >= ITEMS_MAX) {
                        note(&notes, "more than %d result files: the rest ignored", ITEMS_MAX);
                        break;
                }
                if (!name || !name[0] || !url || !http_url(url)) {
                        note(&notes, "a result without a name or an http(s) url, skipped");
                        continue;
                }
                items[n].name = strdup(name);
                items[n].url = strdup(url);
                if (!items[n].name || !items[n].url) {
                        fused_results_free(items, n + 1);
                        return -ENOMEM;
                }
                n++;
        }
        if (n > 1)
                qsort(items, n, sizeof *items, result_cmp);
        if (notes_take(&notes, ret_unexpected) < 0) {
                fused_results_free(items, n);
                return -ENOMEM;
        }
        *ret_items = items;
        *ret_n = n;
        return 0;
}

/* ---------------------------------------------------------------- job list, job config */

FusedJobListItem *fused_job_list_free(FusedJobListItem *items, size_t n) {
        for (size_t i = 0; items && i < n; i++) {
                free(items[i].id);
                free(items[i].job_name);
        }
        free(items);
        return NULL;
}

int fused_job_list_parse(const char *json, size_t size, FusedJobListItem **ret_items, size_t *ret_n,
                         char **ret_unexpected) {
        _cleanup_(json_freep) cJSON *j = parse(json, size);
        FusedJobListItem *items = NULL;
        size_t n = 0;
        Notes notes = {};
        const cJSON *item;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        size_t total = (size_t) cJSON_GetArraySize(j);
        if (total > 0 && !(items = calloc(MIN(total, (size_t) ITEMS_MAX), sizeof *items)))
                return -ENOMEM;
        cJSON_ArrayForEach(item, j) {
                const char *id = string_member(item, "id") ?: string_member(item, "job_id");
                if (n >= ITEMS_MAX)
                        break;
                if (!id || !id[0]) {
                        note(&notes, "a job without an id, skipped");
                        continue;
                }
                if (!(items[n].id = strdup(id)) || dup_member(item, "job_name", &items[n].job_name) < 0) {
                        fused_job_list_free(items, n + 1);
                        return -ENOMEM;
                }
                items[n].created_usec = datetime_usec(string_member(item, "creation_date"));
                if (items[n].created_usec == 0)
                        note(&notes, "job %.64s: no readable creation_date", id);
                n++;
        }
        if (notes_take(&notes, ret_unexpected) < 0) {
                fused_job_list_free(items, n);
                return -ENOMEM;
        }
        *ret_items = items;
        *ret_n = n;
        return 0;
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
