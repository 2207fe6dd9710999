/* SPDX-License-Identifier: MIT */
#include "schedule.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "macro.h"
#include "strv.h"

void step_done(PipelineStep *step) {
        free(step->name);
        free(step->type);
        free(step->output);
        free(step->udf_path);
        free(step->entrypoint);
        cJSON_Delete(step->params);
        free(step->instance);
        free(step->input);
        if (step->step_type)
                plugin_step_options_free(step->step_type, step->options);
        plugin_unref(step->plugin);
        cJSON_Delete(step->job_step);
}

Schedule *schedule_ref(const Schedule *s) {
        Schedule *mutable = (Schedule *) s; /* the count is bookkeeping, not part of the definition */
        if (mutable)
                mutable->n_refs++;
        return mutable;
}

Schedule *schedule_free(Schedule *s) {
        if (!s)
                return NULL;
        if (s->n_refs > 0) {
                s->n_refs--;
                return NULL;
        }
        free(s->name);
        free(s->file);
        free(s->cron_text);
        free(s->engine);
        free(s->udf_path);
        free(s->entrypoint);
        strv_free(s->command);
        cJSON_Delete(s->params);
        free(s->output);
        for (size_t i = 0; i < s->n_steps; i++)
                step_done(&s->steps[i]);
        free(s->steps);
        free(s->working_directory);
        strv_free(s->environment);
        strv_free(s->credentials);
        cJSON_Delete(s->fanout.arg_list);
        free(s->fanout.arg_name);
        free(s->fused.saved_udf);
        free(s->fused.shared_token);
        free(s->fused.instance_type);
        free(s->fused.region);
        strv_free(s->fused.additional_env);
        free(s->fused.image);
        free(s->fused.format);
        cJSON_Delete(s->fused.inputs);
        free(s->fused.base_url);
        free(s->fused.token);
        free(s->fusion.job);
        free(s);
        return NULL;
}

uint64_t retry_delay_usec(const RunPolicy *p, unsigned retry, uint64_t random) {
        uint64_t delay = p->retry_backoff_usec;
        for (unsigned i = 1; i < retry && delay < p->retry_backoff_max_usec; i++)
                delay *= 2;
        delay = MIN(delay, p->retry_backoff_max_usec);
        return delay / 2 + (delay > 1 ? random % (delay / 2 + 1) : 0);
}

const char *const collect_format_names[_COLLECT_FORMAT_MAX + 1] = {
        [COLLECT_JSON] = "json",
        [COLLECT_NDJSON] = "ndjson",
};

const char *const fused_mode_names[_FUSED_MODE_MAX + 1] = {
        [FUSED_MODE_REALTIME] = "realtime",
        [FUSED_MODE_BATCH] = "batch",
};

const char *const overlap_policy_names[_OVERLAP_POLICY_MAX + 1] = {
        [OVERLAP_SKIP] = "skip",
        [OVERLAP_ALLOW] = "allow",
        [OVERLAP_REPLACE] = "replace",
        [OVERLAP_QUEUE] = "queue",
};

bool schedule_name_is_valid(const char *name) {
        size_t len = strlen(name);
        return len >= 1 && len <= SCHEDULE_NAME_MAX &&
               name[strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-")] == '\0';
}

const char *overlap_policy_to_string(OverlapPolicy p) {
        return p >= 0 && p < _OVERLAP_POLICY_MAX ? overlap_policy_names[p] : NULL;
}

OverlapPolicy overlap_policy_from_string(const char *s) {
        for (int i = 0; s && i < _OVERLAP_POLICY_MAX; i++)
                if (strcmp(s, overlap_policy_names[i]) == 0)
                        return (OverlapPolicy) i;
        return _OVERLAP_POLICY_INVALID;
}

/* The bound's window must survive the conversion to microseconds. */
#define CATCH_UP_WITHIN_MAX_SEC (UINT64_MAX / USEC_PER_SEC)
#define CATCH_UP_COUNT_MAX      1000000u

int catch_up_parse(const char *s, CatchUp *ret) {
        static const char *const simple[] = {
                [CATCH_UP_NONE] = "none", [CATCH_UP_LAST] = "last", [CATCH_UP_ALL] = "all"
        };
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(simple); i++)
                if (strcmp(s, simple[i]) == 0) {
                        *ret = (CatchUp){ .mode = (CatchUpMode) i };
                        return 0;
                }

        /* "last N within DURATION": words separated by runs of blanks, nothing else around them */
        char word[4][32];
        int n = 0;
        for (const char *p = s; *p;) {
                if (*p == ' ' || *p == '\t') {
                        p++;
                        continue;
                }
                size_t len = strcspn(p, " \t");
                if (n == ELEMENTSOF(word) || len >= sizeof word[0])
                        return -EINVAL;
                memcpy(word[n], p, len);
                word[n++][len] = '\0';
                p += len;
        }
        if (n != 4 || strcmp(word[0], "last") != 0 || strcmp(word[2], "within") != 0)
                return -EINVAL;

        unsigned long count = 0;
        for (const char *d = word[1]; *d; d++) {
                if (!isdigit((unsigned char) *d))
                        return -EINVAL;
                count = count * 10 + (unsigned long) (*d - '0');
                if (count > CATCH_UP_COUNT_MAX)
                        return -EINVAL;
        }
        if (count < 1)
                return -EINVAL;

        uint64_t within;
        if (duration_parse(word[3], CATCH_UP_WITHIN_MAX_SEC, &within) < 0 || within == 0)
                return -EINVAL;

        *ret = (CatchUp){ .mode = CATCH_UP_BOUNDED,
                          .count = (unsigned) count,
                          .within_usec = within * USEC_PER_SEC };
        return 0;
}

const char *catch_up_to_string(const CatchUp *c, char *buf, size_t size) {
        static const struct {
                char unit;
                uint64_t seconds;
        } units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };

        if (!c || !buf || size == 0)
                return NULL;
        switch (c->mode) {
        case CATCH_UP_NONE:
                snprintf(buf, size, "none");
                return buf;
        case CATCH_UP_LAST:
                snprintf(buf, size, "last");
                return buf;
        case CATCH_UP_ALL:
                snprintf(buf, size, "all");
                return buf;
        case CATCH_UP_BOUNDED:
                break;
        default:
                return NULL;
        }

        /* The window in the largest units that divide it, so the text parses back to the same value;
         * sub-second remainders cannot come from catch_up_parse() and are dropped. */
        char dur[64] = "";
        size_t len = 0;
        uint64_t left = c->within_usec / USEC_PER_SEC;
        for (size_t i = 0; i < ELEMENTSOF(units) && left > 0; i++)
                if (left >= units[i].seconds) {
                        len += (size_t) snprintf(dur + len, sizeof dur - len, "%" PRIu64 "%c",
                                                 left / units[i].seconds, units[i].unit);
                        left %= units[i].seconds;
                }
        snprintf(buf, size, "last %u within %s", c->count, len > 0 ? dur : "0s");
        return buf;
}
