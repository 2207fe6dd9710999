/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes every decoder of what Lucidworks Fusion answers (fusion-api.h), each on the whole input: a run's
 * status, a list of runs, a Jobs API answer, an OAuth2 token, and the driver log (as text and as JSON,
 * before and after the run's end), followed by the log tail over the decoded lines. What comes out must
 * hold together: a state that is either known or kept as text, an id that is a string, a summary that is
 * JSON, lines inside the input, and a tail that never points past the window.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "fusion-api.h"
#include "fuzz-util.h"

static void check_status(const FusionRunStatus *s) {
        if (!s->state_text || !s->summary)
                abort();
        if (s->state >= 0 && strcasecmp(s->state_text, fusion_run_state_to_string(s->state)) != 0)
                abort();
        cJSON *summary = cJSON_Parse(s->summary);
        if (!cJSON_IsObject(summary) || cJSON_GetObjectItem(summary, "jobConfig"))
                abort();
        cJSON_Delete(summary);
        if (s->error && strpbrk(s->error, "\n\r\t"))
                abort(); /* one line */
}

static void check_log(const FusionLog *log, const char *text, size_t size) {
        for (size_t i = 0; i < log->n_lines; i++) {
                const FusionLogLine *l = &log->lines[i];
                if (!l->text || (!log->storage && (l->text < text || l->text + l->size > text + size)))
                        abort();
                if (!log->storage && memchr(l->text, '\n', l->size))
                        abort();
        }
}

static void tail(const FusionLog *log, FusionLogTail t) {
        unsigned rows = log->n_lines % 7 == 0 ? (unsigned) log->n_lines : fusion_log_rows(&t);
        size_t first = fusion_log_tail_advance(&t, log, rows, NULL);
        if (first > log->n_lines)
                abort();
        if (fusion_log_rows(&t) > FUSION_LOG_ROWS_MAX)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 256 * 1024)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size), *token = NULL;
        FusionRunStatus status;
        FusionActionReply action;
        uint64_t lifetime;
        if (!text)
                return 0;

        if (fusion_parse_run_status(text, size, &status) == 0) {
                check_status(&status);
                fusion_run_status_done(&status);
        }
        if (fusion_find_run(text, size, "c7f701edfd", &status) == 0) {
                check_status(&status);
                if (strcmp(status.job_id, "c7f701edfd") != 0)
                        abort();
                fusion_run_status_done(&status);
        }
        if (fusion_parse_action_reply(text, size, &action) == 0)
                fusion_action_reply_done(&action);
        if (fusion_parse_token(text, size, &token, &lifetime) == 0 && (!token[0] || lifetime >= 1000000000))
                abort();

        static const char *const types[] = { "text/plain", "application/json", NULL };
        for (size_t i = 0; i < 3; i++)
                for (int complete = 0; complete < 2; complete++) {
                        FusionLog log;
                        if (fusion_parse_driver_log(text, size, types[i], complete, &log) < 0)
                                abort();
                        check_log(&log, text, size);
                        tail(&log, (FusionLogTail){});
                        tail(&log, (FusionLogTail){ .forwarded = size % 5, .last_hash = size % 3 });
                        tail(&log, (FusionLogTail){ .forwarded = UINT64_MAX - 1, .last_hash = 1 });
                        fusion_log_done(&log);
                }
        return 0;
}
