/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes every decoder of the Fused service's replies (fused-api.h). The first byte picks the decoder
 * (RunResponse, log page, result list, job list, job config, saved UDF, x-fused-metadata, realtime
 * instances); the rest is the reply. Whatever the input, a decoder must return 0 or a negative errno
 * and keep its promises: a RunResponse has a job id, a log page is in timestamp order and after
 * since_ms, results have http(s) URLs, and every safe file name is one path component.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "fused-api.h"
#include "fuzz-util.h"
#include "json-util.h"

#define AFTER_MS 1000

static void check_run_response(const char *text, size_t size) {
        FusedRunResponse r;
        char *unexpected = NULL;
        if (fused_run_response_parse(text, size, &r, &unexpected) < 0)
                return;
        if (!r.job_id || !r.job_id[0] || (r.has_tasks && r.finished_tasks > r.total_tasks))
                abort();
        (void) fused_job_ended(&r);
        if ((unsigned) fused_job_result(&r) > FUSED_JOB_UNKNOWN)
                abort();
        free(unexpected);
        fused_run_response_done(&r);
}

static void check_logs(const char *text, size_t size) {
        FusedLogEntry *e = NULL;
        size_t n = 0;
        char *unexpected = NULL;
        if (fused_logs_parse(text, size, AFTER_MS, &e, &n, &unexpected) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (!e[i].message || e[i].timestamp_ms <= AFTER_MS || strlen(e[i].message) != e[i].size ||
                    (i > 0 && e[i].timestamp_ms < e[i - 1].timestamp_ms))
                        abort();
        free(unexpected);
        fused_logs_free(e, n);
}

static void check_results(const char *text, size_t size) {
        FusedResultItem *items = NULL;
        size_t n = 0;
        char *unexpected = NULL;
        if (fused_results_parse(text, size, &items, &n, &unexpected) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *safe = fused_result_file_name(items[i].name);
                if (!items[i].name[0] ||
                    (strncasecmp(items[i].url, "https://", 8) != 0 && strncasecmp(items[i].url, "http://", 7) != 0) ||
                    !safe || strchr(safe, '/') || strspn(safe, ".") == strlen(safe))
                        abort();
        }
        free(unexpected);
        fused_results_free(items, n);
}

static void check_job_list(const char *text, size_t size) {
        FusedJobListItem *items = NULL;
        size_t n = 0;
        char *unexpected = NULL;
        if (fused_job_list_parse(text, size, &items, &n, &unexpected) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (!items[i].id || !items[i].id[0])
                        abort();
        free(unexpected);
        fused_job_list_free(items, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 65536)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data + 1, size - 1);
        _cleanup_free_ char *name = NULL, *client_id = NULL;
        size_t len = size - 1;
        cJSON *udf = NULL;
        FusedMetadata meta;

        if (!text)
                return 0;
        switch (data[0] % 8) {
        case 0:
                check_run_response(text, len);
                break;
        case 1:
                check_logs(text, len);
                break;
        case 2:
                check_results(text, len);
                break;
        case 3:
                check_job_list(text, len);
                break;
        case 4:
                if (fused_job_config_name(text, len, &name) == 0 && !name)
                        abort();
                break;
        case 5:
                if (fused_saved_udf_parse(text, len, &udf) == 0 && !cJSON_IsObject(udf))
                        abort();
                cJSON_Delete(udf);
                break;
        case 6:
                if (fused_metadata_parse(text, &meta) == 0)
                        fused_metadata_done(&meta);
                break;
        case 7:
                if (fused_instances_pick(text, len, &client_id) == 0 && !client_id[0])
                        abort();
                break;
        }
        return 0;
}
